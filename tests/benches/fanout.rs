//! The hourly fan-out at scale: 10,000 active connections in DynamoDB, one SQS message each.
//! Reports messages sent, index pages read and SQS calls against their lower bounds, and wall
//! time, against the same pages and batches sent with the bare SDK in the same run. Needs moto:
//! run through `./tests/bench.sh`.

use std::time::Instant;

use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_sqs::types::SendMessageBatchRequestEntry;

use futures::{StreamExt, stream};
use shared::{
    aws::SecretSource,
    config::Settings,
    domain::{Connection, ConnectionStatus, TenantId, VendorInstance},
    jobs::dispatch,
    ports::Expect,
    store::{dynamodb, keys},
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
    let queue_url = integration_tests::moto_queue(&sdk).await;
    let app = shared::aws::app(
        &sdk,
        &table,
        Settings::default(),
        SecretSource::Missing.into(),
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
    let raw = raw_fanout(&sdk, &table).await;
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
    println!(
        "| wall time | {:.2} s | {:.2} s (bare SDK: {} pages, {} messages) | {:.2} |",
        wall.as_secs_f64(),
        raw.wall.as_secs_f64(),
        raw.pages,
        raw.messages,
        wall.as_secs_f64() / raw.wall.as_secs_f64()
    );
    println!(
        "| per connection | {:.3} ms | {:.3} ms | |",
        wall.as_secs_f64() * 1000.0 / connections as f64,
        raw.wall.as_secs_f64() * 1000.0 / connections as f64
    );
    println!(
        "| setup (not measured) | {:.1} s | | |",
        setup.as_secs_f64()
    );
    assert_eq!(summary.messages, connections);
}

/// Every baseline message is delayed too: moto's SQS slows down with the number of delayed
/// messages it holds, so the baseline must hold as many as dispatch does.
const RAW_DELAY_SECS: i32 = 450;

/// What the bare-SDK fan-out did.
struct RawFanout {
    pages: usize,
    messages: usize,
    wall: std::time::Duration,
}

/// The baseline measured in the same run: the same index pages read and the same batches of 10
/// sent, one after another as dispatch sends them, with the bare SDK into a second queue. It
/// decodes nothing and sends each item's key as the body with a fixed delay, so the difference
/// to dispatch is our own work (decoding connections, offsets, run requests).
async fn raw_fanout(sdk: &aws_config::SdkConfig, table: &str) -> RawFanout {
    let ddb = aws_sdk_dynamodb::Client::new(sdk);
    let sqs = aws_sdk_sqs::Client::new(sdk);
    let queue_url = integration_tests::moto_queue(sdk).await;
    let started = Instant::now();
    let (mut pages, mut messages) = (0, 0);
    let mut start = None;
    loop {
        let out = ddb
            .query()
            .table_name(table)
            .index_name(dynamodb::ACTIVE_INDEX)
            .key_condition_expression("#active = :active")
            .expression_attribute_names("#active", dynamodb::attr::ACTIVE)
            .expression_attribute_values(
                ":active",
                AttributeValue::S(keys::ACTIVE_CONNECTIONS.into()),
            )
            .limit(dispatch::PAGE as i32)
            .set_exclusive_start_key(start)
            .send()
            .await
            .expect("query");
        pages += 1;
        for chunk in out.items().chunks(10) {
            let entries = chunk
                .iter()
                .enumerate()
                .map(|(i, item)| {
                    let key = item
                        .get(dynamodb::attr::PK)
                        .and_then(|v| v.as_s().ok())
                        .expect("key");
                    SendMessageBatchRequestEntry::builder()
                        .id(i.to_string())
                        .message_body(key)
                        .delay_seconds(RAW_DELAY_SECS)
                        .build()
                        .expect("entry")
                })
                .collect::<Vec<_>>();
            sqs.send_message_batch()
                .queue_url(&queue_url)
                .set_entries(Some(entries))
                .send()
                .await
                .expect("send");
            messages += chunk.len();
        }
        start = out.last_evaluated_key().cloned();
        if start.is_none() {
            break;
        }
    }
    RawFanout {
        pages,
        messages,
        wall: started.elapsed(),
    }
}
