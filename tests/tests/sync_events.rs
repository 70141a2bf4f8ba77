//! The `sync` function's non-HTTP life, through real event payloads: the EventBridge schedule
//! fans out to SQS (moto), SQS batches run syncs with partial failures, platform events become
//! seat syncs and tickets. DynamoDB and SQS are moto's; Autotask is the sandbox.

use std::time::Duration;

use sandbox::autotask::{DEMO_INTEGRATION_CODE, DEMO_SECRET, DEMO_USERNAME, Sandbox};
use secrecy::SecretString;
use serde_json::{Value, json};
use shared::{
    api::App,
    aws::SecretSource,
    domain::{
        Connection, ConnectionStatus, OrgId, Provider, SyncKind, SyncStatus, SyncTrigger, TenantId,
        VendorInstance,
    },
    lambda::sync::handle,
    ports::{Expect, LeaseKind, RunQueue, RunRequest},
    queue::SqsQueue,
};

const TENANT: &str = "acme-msp";

fn fixture(path: &str) -> Value {
    let file = format!("{}/fixtures/{path}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap()
}

struct Env {
    app: App,
    sdk: aws_config::SdkConfig,
    sqs: aws_sdk_sqs::Client,
    queue_url: String,
    sandbox: Sandbox,
}

async fn env() -> Env {
    env_with(|_| {}).await
}

async fn env_with(change: impl FnOnce(&mut shared::config::Settings)) -> Env {
    let sdk = integration_tests::moto().await;
    let table = integration_tests::moto_table(&sdk).await;
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let queue_url = integration_tests::moto_queue(&sdk).await;
    let sandbox = Sandbox::demo().await;
    let mut settings =
        integration_tests::sandbox_settings(&sandbox, &format!("test-{}", ulid::Ulid::new()));
    change(&mut settings);
    let app = shared::aws::app(
        &sdk,
        &table,
        settings,
        SecretSource::Value(SecretString::from(DEMO_INTEGRATION_CODE)).into(),
        Some(queue_url.clone()),
    )
    .unwrap();
    Env {
        app,
        sdk,
        sqs,
        queue_url,
        sandbox,
    }
}

async fn call(app: &App, method: &str, path: &str, body: Value) -> Value {
    let (status, answer) = integration_tests::as_admin(app, TENANT, method, path, body).await;
    assert!(status.is_success(), "{method} {path}: {status} {answer}");
    answer
}

/// Connects the sandbox Autotask and maps "acme" (10 units at Autotask) with `seats` seats.
async fn mapped(env: &Env, seats: u32) {
    let app = &env.app;
    call(
        app,
        "POST",
        "/v1/integrations/autotask/connect",
        json!({"username": DEMO_USERNAME, "secret": DEMO_SECRET}),
    )
    .await;
    call(app, "PUT", "/v1/integrations/autotask/configuration", json!({"sync_seat_quantity": true, "ticket_type": 5, "sla": 1, "priority": 1, "queue": 29683482, "status": 1})).await;
    call(app, "PUT", "/v1/plans/backup", json!({"name": "Backup"})).await;
    call(
        app,
        "PUT",
        "/v1/integrations/autotask/plan-mappings/backup",
        json!({"service_id": 1001}),
    )
    .await;
    call(
        app,
        "PUT",
        "/v1/organizations/acme",
        json!({"name": "Acme Dental", "plan_id": "backup", "seats": seats}),
    )
    .await;
    call(
        app,
        "PUT",
        "/v1/integrations/autotask/org-mappings/acme",
        json!({"company_id": 1004, "contract_id": 1005, "contract_service_id": 1006}),
    )
    .await;
}

fn acme_units(env: &Env) -> i64 {
    let today = time::OffsetDateTime::now_utc().date().to_string();
    env.sandbox.with(|s| s.units_on(1006, &today)).unwrap()
}

async fn queue_depth(env: &Env) -> u64 {
    let attrs = env
        .sqs
        .get_queue_attributes()
        .queue_url(&env.queue_url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::All)
        .send()
        .await
        .unwrap();
    let get = |name: aws_sdk_sqs::types::QueueAttributeName| {
        attrs
            .attributes()
            .and_then(|a| a.get(&name))
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    get(aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages)
        + get(aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessagesDelayed)
}

fn batch(bodies: &[(&str, String)]) -> Value {
    let template = fixture("sqs/batch.json")["Records"][0].clone();
    let records: Vec<Value> = bodies
        .iter()
        .map(|(id, body)| {
            let mut r = template.clone();
            r["messageId"] = json!(id);
            r["body"] = json!(body);
            r
        })
        .collect();
    json!({ "Records": records })
}

fn scheduled_request(tenant: &str) -> String {
    serde_json::to_string(&RunRequest {
        tenant: TenantId::new(tenant).unwrap(),
        provider: Provider::Autotask,
        run_id: None,
        trigger: SyncTrigger::Schedule,
        org: None,
    })
    .unwrap()
}

#[tokio::test]
async fn the_schedule_fans_out_one_message_per_active_connection() {
    let env = env().await;
    let now = env.app.clock.now();
    for i in 0..23 {
        let status = match i % 8 {
            0 => ConnectionStatus::NeedsReconnect,
            1 => ConnectionStatus::Error,
            _ => ConnectionStatus::Connected,
        };
        let connection = Connection {
            status,
            instance: VendorInstance::Autotask {
                zone_url: "https://webservices5.autotask.net/atservicesrest/".into(),
                web_url: String::new(),
                database_id: i,
            },
            secret_name: format!("x/t{i}/autotask"),
            connected_at: now,
            updated_at: now,
            last_error: None,
            version: 0,
        };
        env.app
            .store
            .put_connection(
                &TenantId::new(format!("t{i:02}")).unwrap(),
                &connection,
                Expect::Absent,
            )
            .await
            .unwrap();
    }
    let summary = handle(&env.app, fixture("eventbridge/scheduled.json"))
        .await
        .unwrap();
    // 3 of 23 need a re-connect and are not in the sparse index.
    assert_eq!(
        (
            summary["connections"].as_u64(),
            summary["messages"].as_u64()
        ),
        (Some(20), Some(20)),
        "{summary}"
    );
    assert_eq!(queue_depth(&env).await, 20);
}

#[tokio::test]
async fn a_queued_run_travels_through_sqs_and_syncs() {
    let env = env().await;
    mapped(&env, 17).await;
    let queue = SqsQueue::new(&env.sdk, &env.queue_url);
    let request = RunRequest {
        tenant: TenantId::new(TENANT).unwrap(),
        provider: Provider::Autotask,
        run_id: None,
        trigger: SyncTrigger::Schedule,
        org: None,
    };
    queue.enqueue(&request, Duration::ZERO).await.unwrap();
    let received = env
        .sqs
        .receive_message()
        .queue_url(&env.queue_url)
        .max_number_of_messages(10)
        .send()
        .await
        .unwrap();
    let message = &received.messages()[0];
    let sent: RunRequest = serde_json::from_str(message.body().unwrap()).unwrap();
    assert_eq!(sent, request);

    let event = batch(&[(
        message.message_id().unwrap(),
        message.body().unwrap().to_owned(),
    )]);
    let response = handle(&env.app, event).await.unwrap();
    assert_eq!(response["batchItemFailures"], json!([]));
    assert_eq!(acme_units(&env), 17);
    let runs = env
        .app
        .store
        .list_runs(&TenantId::new(TENANT).unwrap(), Provider::Autotask, 5)
        .await
        .unwrap();
    assert_eq!(
        (runs.len(), runs[0].trigger, runs[0].counts.changed),
        (1, SyncTrigger::Schedule, 1)
    );
}

#[tokio::test]
async fn a_scheduled_import_that_runs_out_of_time_goes_on_through_sqs() {
    // No time to work: a run reads one page of an import, then goes on in a queued run.
    let env = env_with(|s| s.import_work_secs = 0).await;
    mapped(&env, 10).await;
    call(
        &env.app,
        "PUT",
        "/v1/integrations/autotask/configuration",
        json!({"sync_seat_quantity": true, "ticket_type": 5, "sla": 1, "priority": 1,
            "queue": 29683482, "status": 1, "scheduled_imports": ["customers"]}),
    )
    .await;
    env.sandbox.with(|s| s.page_size = 1);
    let tenant = TenantId::new(TENANT).unwrap();
    let response = handle(&env.app, batch(&[("hourly", scheduled_request(TENANT))]))
        .await
        .unwrap();
    assert_eq!(response["batchItemFailures"], json!([]));
    let run = env
        .app
        .store
        .list_runs(&tenant, Provider::Autotask, 1)
        .await
        .unwrap()
        .remove(0);
    assert_eq!(
        run.kinds,
        [SyncKind::Seats, SyncKind::Customers],
        "the scheduled import rides along"
    );
    assert_eq!(
        (run.status, run.continued, run.counts.total),
        (SyncStatus::Queued, 1, 3),
        "the seat and 2 of the 4 customers (a page, and the one on its way): {run:?}"
    );
    // The continuation is on the queue, naming the run; delivered, it finishes the import.
    let received = env
        .sqs
        .receive_message()
        .queue_url(&env.queue_url)
        .max_number_of_messages(10)
        .send()
        .await
        .unwrap();
    let message = &received.messages()[0];
    let next: RunRequest = serde_json::from_str(message.body().unwrap()).unwrap();
    assert_eq!(next.run_id, Some(run.id));
    let event = batch(&[(
        message.message_id().unwrap(),
        message.body().unwrap().to_owned(),
    )]);
    let response = handle(&env.app, event).await.unwrap();
    assert_eq!(response["batchItemFailures"], json!([]));
    let done = env
        .app
        .store
        .get_run(&tenant, Provider::Autotask, run.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (done.status, done.continued, done.counts.total),
        (SyncStatus::Succeeded, 1, 5),
        "{done:?}"
    );
    assert_eq!(done.kinds_done, [SyncKind::Seats, SyncKind::Customers]);
}

#[tokio::test]
async fn a_batch_reports_only_its_failing_message() {
    let env = env().await;
    mapped(&env, 12).await;
    let event = batch(&[
        ("good", scheduled_request(TENANT)),
        ("poison", "{not json".into()),
        ("gone", scheduled_request("never-connected")),
    ]);
    let response = handle(&env.app, event).await.unwrap();
    assert_eq!(
        response["batchItemFailures"],
        json!([{"itemIdentifier": "poison"}]),
        "{response}"
    );
    assert_eq!(acme_units(&env), 12, "the good message ran");
}

#[tokio::test]
async fn a_connection_whose_run_holds_the_lease_is_skipped_not_doubled() {
    let env = env().await;
    mapped(&env, 14).await;
    let tenant = TenantId::new(TENANT).unwrap();
    let lease = env
        .app
        .store
        .acquire_lease(
            &tenant,
            Provider::Autotask,
            LeaseKind::Run,
            time::Duration::minutes(5),
        )
        .await
        .unwrap();
    let response = handle(&env.app, batch(&[("busy", scheduled_request(TENANT))]))
        .await
        .unwrap();
    assert_eq!(
        response["batchItemFailures"],
        json!([]),
        "skipped, not retried"
    );
    assert!(
        env.app
            .store
            .list_runs(&tenant, Provider::Autotask, 5)
            .await
            .unwrap()
            .is_empty(),
        "no run was recorded"
    );
    assert_eq!(acme_units(&env), 10, "nothing was written");
    env.app.store.release_lease(&lease).await.unwrap();
}

#[tokio::test]
async fn platform_events_become_seat_syncs_and_tickets() {
    let env = env().await;
    mapped(&env, 10).await;
    let outcome = handle(&env.app, fixture("eventbridge/seats-changed.json"))
        .await
        .unwrap();
    assert_eq!(outcome["acted"][0][0], "autotask", "{outcome}");
    let org = env
        .app
        .store
        .get_organization(
            &TenantId::new(TENANT).unwrap(),
            &OrgId::new("acme").unwrap(),
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(org.seats, 31, "the new seat count is recorded");
    assert_eq!(
        queue_depth(&env).await,
        1,
        "one seat sync for that organization was queued"
    );

    let ticket = handle(&env.app, fixture("eventbridge/alert-raised.json"))
        .await
        .unwrap();
    assert!(
        ticket["acted"][0][1].as_str().unwrap().contains("Opened"),
        "{ticket}"
    );
    assert_eq!(env.sandbox.with(|s| s.raised_tickets()), 1);

    let mut unmapped = fixture("eventbridge/alert-raised.json");
    unmapped["detail"]["org_id"] = json!("nobody");
    let skipped = handle(&env.app, unmapped).await.unwrap();
    assert!(
        skipped["skipped"].is_string(),
        "acknowledged and recorded as skipped: {skipped}"
    );
    let mut other_tenant = fixture("eventbridge/seats-changed.json");
    other_tenant["detail"]["tenant_id"] = json!("someone-else");
    assert!(handle(&env.app, other_tenant).await.unwrap()["skipped"].is_string());

    let mut unknown = fixture("eventbridge/scheduled.json");
    unknown["detail-type"] = json!("Something Else");
    assert!(matches!(
        handle(&env.app, unknown).await,
        Err(shared::lambda::sync::SyncFailure::NonRetryable(_))
    ));
}

#[tokio::test]
async fn opportunity_raised_events_create_one_opportunity_per_key() {
    let env = env().await;
    mapped(&env, 10).await;
    // No owner or stage chosen yet: acknowledged as skipped, nothing to retry.
    let skipped = handle(&env.app, fixture("eventbridge/opportunity-raised.json"))
        .await
        .unwrap();
    assert!(
        skipped["acted"][0][1]
            .as_str()
            .unwrap()
            .contains("skipped: choose the opportunity owner and stage"),
        "{skipped}"
    );
    let owner = env.sandbox.with(|s| {
        s.entities["Resources"]
            .values()
            .find(|r| r["userName"] == "pamela.pierce")
            .unwrap()["id"]
            .as_i64()
            .unwrap()
    });
    call(
        &env.app,
        "PUT",
        "/v1/integrations/autotask/configuration",
        json!({"sync_seat_quantity": true, "ticket_type": 5, "sla": 1, "priority": 1,
            "queue": 29683482, "status": 1, "opportunity_owner": owner,
            "opportunity_stage": 29_682_770}),
    )
    .await;
    let created = handle(&env.app, fixture("eventbridge/opportunity-raised.json"))
        .await
        .unwrap();
    assert!(
        created["acted"][0][1].as_str().unwrap().contains("Created"),
        "{created}"
    );
    // Delivered again: the same opportunity, nothing new at Autotask.
    let before = env.sandbox.with(|s| s.entities["Opportunities"].len());
    let again = handle(&env.app, fixture("eventbridge/opportunity-raised.json"))
        .await
        .unwrap();
    assert!(
        again["acted"][0][1].as_str().unwrap().contains("Existing"),
        "{again}"
    );
    assert_eq!(
        env.sandbox.with(|s| s.entities["Opportunities"].len()),
        before
    );
    // A malformed one is the platform's bug: skipped, not retried.
    let mut bad = fixture("eventbridge/opportunity-raised.json");
    bad["detail"]["dedupe_key"] = json!("a#b");
    let skipped = handle(&env.app, bad).await.unwrap();
    assert!(
        skipped["skipped"]
            .as_str()
            .unwrap()
            .contains("invalid opportunity: dedupe_key"),
        "{skipped}"
    );
}

#[tokio::test]
async fn http_requests_reach_sync_through_the_same_function() {
    let env = env().await;
    let path = format!(
        "{}/fixtures/apigw-v2/sync-start.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let payload: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let response = handle(&env.app, payload).await.unwrap();
    assert_eq!(response["statusCode"], 409, "{response}");
    assert!(response["body"].as_str().unwrap().contains("not connected"));
}

/// An organization mapped at Autotask and at ConnectWise: an "Alert Raised" event opens a
/// ticket at both, and "Organization Seats Changed" queues a seat sync for each.
#[tokio::test]
async fn platform_events_reach_every_psa_that_maps_the_organization() {
    use sandbox::connectwise;
    use shared::aws::DeploymentSources;

    let sdk = integration_tests::moto().await;
    let table = integration_tests::moto_table(&sdk).await;
    let queue_url = integration_tests::moto_queue(&sdk).await;
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let sandbox = Sandbox::demo().await;
    let cw = connectwise::Sandbox::demo().await;
    let settings =
        integration_tests::sandbox_settings(&sandbox, &format!("test-{}", ulid::Ulid::new()));
    let app = shared::aws::app(
        &sdk,
        &table,
        settings,
        DeploymentSources {
            autotask_integration_code: SecretSource::Value(SecretString::from(
                DEMO_INTEGRATION_CODE,
            )),
            connectwise_client_id: SecretSource::Value(SecretString::from(
                connectwise::DEMO_CLIENT_ID,
            )),
        },
        Some(queue_url.clone()),
    )
    .unwrap();
    let env = Env {
        app,
        sdk,
        sqs,
        queue_url,
        sandbox,
    };
    mapped(&env, 10).await;
    let app = &env.app;
    call(
        app,
        "POST",
        "/v1/integrations/connectwise/connect",
        json!({"site": cw.site(), "company_id": connectwise::DEMO_COMPANY, "public_key": connectwise::DEMO_PUBLIC_KEY, "private_key": connectwise::DEMO_PRIVATE_KEY}),
    )
    .await;
    call(
        app,
        "PUT",
        "/v1/integrations/connectwise/configuration",
        json!({"sync_seat_quantity": true, "board_id": 1, "status_id": 1, "priority_id": 3}),
    )
    .await;
    call(
        app,
        "PUT",
        "/v1/integrations/connectwise/plan-mappings/backup",
        json!({"product_id": 1001}),
    )
    .await;
    call(
        app,
        "PUT",
        "/v1/integrations/connectwise/org-mappings/acme",
        json!({"company_id": 1004, "agreement_id": 1008, "addition_id": 1012}),
    )
    .await;

    let ticket = handle(app, fixture("eventbridge/alert-raised.json"))
        .await
        .unwrap();
    let acted: Vec<&str> = ticket["acted"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a[0].as_str().unwrap())
        .collect();
    assert_eq!(acted, ["autotask", "connectwise"], "{ticket}");
    assert_eq!(env.sandbox.with(|s| s.raised_tickets()), 1);
    assert_eq!(cw.with(|s| s.tickets.len()), 1);
    let seats = handle(app, fixture("eventbridge/seats-changed.json"))
        .await
        .unwrap();
    assert_eq!(seats["acted"].as_array().unwrap().len(), 2, "{seats}");
    assert_eq!(queue_depth(&env).await, 2, "one seat sync per PSA");
}
