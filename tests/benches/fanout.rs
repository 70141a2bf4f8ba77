//! The hourly fan-out at scale: 10,000 active connections in DynamoDB, one SQS message each.
//! Reports messages sent, index pages read and SQS calls against their lower bounds, and wall
//! time. Needs moto: run through `./tests/bench.sh`.

use std::time::Instant;

use futures::{StreamExt, stream};
use shared::{
    aws::AutotaskCodeSource,
    config::Settings,
    domain::{Connection, ConnectionStatus, TenantId, VendorInstance},
    jobs::dispatch,
    ports::Expect,
};

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let connections: usize = std::env::var("CONNECTIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let sdk = integration_tests::moto().await;
    let table = integration_tests::moto_table(&sdk).await;
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let queue_url = sqs
        .create_queue()
        .queue_name(format!("bench-{}", ulid::Ulid::new()))
        .send()
        .await
        .expect("queue")
        .queue_url
        .expect("url");
    let app = shared::aws::app(
        &sdk,
        &table,
        Settings::default(),
        AutotaskCodeSource::Missing,
        Some(queue_url.clone()),
    )
    .expect("app");

    let setup = Instant::now();
    let now = app.clock.now();
    let inactive = connections / 10;
    stream::iter(0..connections + inactive)
        .for_each_concurrent(16, |i| {
            let app = &app;
            async move {
                let connection = Connection {
                    status: if i < connections {
                        ConnectionStatus::Connected
                    } else {
                        ConnectionStatus::NeedsReconnect
                    },
                    instance: VendorInstance::Autotask {
                        zone_url: "https://webservices5.autotask.net/atservicesrest/".into(),
                        web_url: String::new(),
                        database_id: i as i64,
                    },
                    secret_name: format!("msp-integrations/t{i}/autotask"),
                    connected_at: now,
                    updated_at: now,
                    last_error: None,
                    version: 0,
                };
                app.store
                    .put_connection(
                        &TenantId::new(format!("tenant-{i:05}")).expect("tenant"),
                        &connection,
                        Expect::Absent,
                    )
                    .await
                    .expect("put");
            }
        })
        .await;
    let setup = setup.elapsed();

    let started = Instant::now();
    let summary = dispatch::scheduled(&app).await.expect("dispatch");
    let wall = started.elapsed();
    let pages_bound = connections.div_ceil(dispatch::PAGE);
    println!(
        "fan-out benchmark: {connections} active connections (+{inactive} needing a re-connect) on moto DynamoDB and SQS"
    );
    println!("| measure | value | lower bound | ratio |");
    println!("|---|---|---|---|");
    println!(
        "| connections found | {} | {connections} | {:.3} |",
        summary.connections,
        summary.connections as f64 / connections as f64
    );
    println!(
        "| messages sent | {} | {connections} | {:.3} |",
        summary.messages,
        summary.messages as f64 / connections as f64
    );
    println!(
        "| index pages read | {} | {pages_bound} (ceil(N/{})) | {:.3} |",
        summary.pages,
        dispatch::PAGE,
        summary.pages as f64 / pages_bound as f64
    );
    let attrs = sqs
        .get_queue_attributes()
        .queue_url(&queue_url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::All)
        .send()
        .await
        .expect("attributes");
    let count = |name| {
        attrs
            .attributes()
            .and_then(|a| a.get(&name))
            .and_then(|v| v.parse::<usize>().ok())
            .unwrap_or(0)
    };
    let queued = count(aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages)
        + count(aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessagesDelayed);
    println!(
        "| messages in the queue (read back from SQS) | {queued} | {connections} | {:.3} |",
        queued as f64 / connections as f64
    );
    println!("| wall time | {:.2} s | | |", wall.as_secs_f64());
    println!(
        "| per connection | {:.3} ms | | |",
        wall.as_secs_f64() * 1000.0 / connections as f64
    );
    println!(
        "| setup (not measured) | {:.1} s | | |",
        setup.as_secs_f64()
    );
    assert_eq!(summary.messages, connections);
}
