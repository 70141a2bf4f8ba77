//! Operating it: connect attempts whose credentials a vendor refused are throttled per tenant
//! and provider (we must never be the tool that locks a partner's API user, nor a free oracle
//! for guessing credentials), and a connection whose secret was refused is never tried again
//! with that secret by the hourly schedule.

use http::StatusCode;
use integration_tests::{
    journeys,
    portal::{Portal, Reply},
};
use serde_json::{Value, json};
use shared::{
    config::Settings,
    domain::{Provider, SyncStatus, SyncTrigger, TenantId},
    jobs::{JobError, dispatch, runs},
    ports::RunRequest,
    providers::DeploymentSecret,
};

const TENANT: &str = "ops-msp";

/// Asserts a 429 problem whose `Retry-After` ends with the clock hour.
fn assert_throttled(reply: &Reply) {
    let problem = reply.problem(StatusCode::TOO_MANY_REQUESTS);
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("5 connect attempts this hour"),
        "{problem}"
    );
    let wait: u64 = reply.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=3600).contains(&wait), "Retry-After {wait}");
}

fn autotask_world(sandbox: &sandbox::autotask::Sandbox) -> Portal {
    Portal::with_settings(
        integration_tests::sandbox_settings(sandbox, "msp-integrations"),
        DeploymentSecret::Value(sandbox::autotask::DEMO_INTEGRATION_CODE.to_owned().into()),
    )
}

fn halo_settings() -> Settings {
    let mut settings = Settings::with_prefix("msp-integrations");
    settings.vendors.allow_loopback = true;
    settings
}

#[tokio::test]
async fn autotask_refusals_are_throttled_before_the_api_user_locks() {
    let sandbox = sandbox::autotask::Sandbox::demo().await;
    let portal = autotask_world(&sandbox);
    let admin = portal.admin(TENANT);
    let attempt =
        |secret: &str| json!({"username": sandbox::autotask::DEMO_USERNAME, "secret": secret});
    for _ in 0..5 {
        let refused = portal
            .post(
                "/v1/integrations/autotask/connect",
                &admin,
                attempt("guess"),
            )
            .await;
        refused.problem(StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(refused.field_errors(), ["secret"]);
    }
    let sixth = portal
        .post(
            "/v1/integrations/autotask/connect",
            &admin,
            attempt("guess"),
        )
        .await;
    assert_throttled(&sixth);
    // Even the right secret waits for the hour: the count is of refusals, and Autotask is not
    // asked again.
    let right = portal
        .post(
            "/v1/integrations/autotask/connect",
            &admin,
            attempt(sandbox::autotask::DEMO_SECRET),
        )
        .await;
    assert_throttled(&right);
    let (refused, locked) = sandbox.with(|s| (s.refused_logins, s.users[0].locked));
    assert_eq!(
        (refused, locked),
        (5, false),
        "Autotask saw 5 refusals and kept the user"
    );

    // Another partner is not affected.
    let other = portal.admin("other-msp");
    let connected = portal
        .post(
            "/v1/integrations/autotask/connect",
            &other,
            attempt(sandbox::autotask::DEMO_SECRET),
        )
        .await;
    assert_eq!(connected.status, StatusCode::CREATED, "{}", connected.body);
}

#[tokio::test]
async fn successful_and_unreachable_attempts_are_not_counted() {
    let sandbox = sandbox::autotask::Sandbox::demo().await;
    let portal = autotask_world(&sandbox);
    let admin = portal.admin(TENANT);
    let body = json!({"username": sandbox::autotask::DEMO_USERNAME, "secret": sandbox::autotask::DEMO_SECRET});
    for _ in 0..8 {
        let ok = portal
            .post("/v1/integrations/autotask/connect", &admin, body.clone())
            .await;
        assert!(ok.status.is_success(), "{}", ok.body);
    }
    // Concurrent refusals never overshoot the limit: places are reserved before Autotask is
    // asked.
    let guess = json!({"username": sandbox::autotask::DEMO_USERNAME, "secret": "guess"});
    let replies = futures::future::join_all(
        (0..12).map(|_| portal.post("/v1/integrations/autotask/connect", &admin, guess.clone())),
    )
    .await;
    let throttled = replies
        .iter()
        .filter(|r| r.status == StatusCode::TOO_MANY_REQUESTS)
        .count();
    assert_eq!(throttled, 7, "5 asked Autotask, 7 were refused here");
    assert_eq!(sandbox.with(|s| s.refused_logins), 5);
}

#[tokio::test]
async fn halopsa_refusals_are_throttled() {
    let sandbox = sandbox::halopsa::Sandbox::demo().await;
    let portal = Portal::with_settings(halo_settings(), DeploymentSecret::Missing);
    let admin = portal.admin(TENANT);
    let attempt = |secret: &str| json!({"site_url": sandbox.site_url(), "client_id": sandbox::halopsa::DEMO_CLIENT_ID, "client_secret": secret});
    for _ in 0..5 {
        let refused = portal
            .post("/v1/integrations/halopsa/connect", &admin, attempt("guess"))
            .await;
        refused.problem(StatusCode::UNPROCESSABLE_ENTITY);
    }
    let calls = sandbox.with(|s| s.calls);
    let sixth = portal
        .post(
            "/v1/integrations/halopsa/connect",
            &admin,
            attempt(sandbox::halopsa::DEMO_CLIENT_SECRET),
        )
        .await;
    assert_throttled(&sixth);
    assert_eq!(sandbox.with(|s| s.calls), calls, "HaloPSA was not asked");
}

#[tokio::test]
async fn ninjaone_refused_consents_are_throttled() {
    let sandbox = sandbox::ninjaone::Sandbox::start(sandbox::ninjaone::State::demo()).await;
    let portal = journeys::ninjaone_portal(&sandbox);
    let admin = portal.admin(TENANT);
    for _ in 0..5 {
        let landed = journeys::ninjaone_consent(&portal, &admin, "guess").await;
        assert!(
            landed.as_str().contains("error=exchange_failed"),
            "{landed}"
        );
    }
    let exchanges = sandbox.with(|s| s.code_exchanges);
    let sixth = portal
        .post(
            "/v1/integrations/ninjaone/connect",
            &admin,
            json!({"region": "us", "client_id": sandbox::ninjaone::DEMO_CLIENT_ID, "client_secret": sandbox::ninjaone::DEMO_CLIENT_SECRET}),
        )
        .await;
    assert_throttled(&sixth);
    assert_eq!(sandbox.with(|s| s.code_exchanges), exchanges);
}

/// Runs the hourly fan-out and a scheduled run of `provider` as the queue would deliver one
/// sent before the refusal: neither reaches the vendor.
async fn schedule_leaves_it_alone(
    portal: &Portal,
    provider: Provider,
    vendor_calls: impl Fn() -> u64,
) {
    let app = &portal.runner.app;
    let before = vendor_calls();
    let summary = dispatch::scheduled(app).await.unwrap();
    assert_eq!(
        (summary.connections, summary.messages),
        (0, 0),
        "{provider}: a connection that needs reconnecting is not in the fan-out"
    );
    let queued_earlier = RunRequest {
        tenant: TenantId::new(TENANT).unwrap(),
        provider,
        run_id: None,
        trigger: SyncTrigger::Schedule,
        org: None,
    };
    match runs::execute(app, &queued_earlier).await {
        Err(JobError::NeedsReconnect(..)) => {}
        Ok(run) => assert_eq!(run.status, SyncStatus::Failed, "{provider}: {run:?}"),
        Err(other) => panic!("{provider}: {other}"),
    }
    assert_eq!(
        vendor_calls(),
        before,
        "{provider}: the refused secret was not sent again"
    );
}

async fn sync_refused(portal: &Portal, admin: &str, provider: Provider, kinds: Value) {
    let reply = portal
        .post(
            &format!("/v1/integrations/{provider}/sync"),
            admin,
            json!({"kinds": kinds}),
        )
        .await;
    if reply.status == StatusCode::ACCEPTED {
        let run = portal
            .finished_run(provider, reply.body["id"].as_str().unwrap(), admin)
            .await;
        assert_eq!(run["status"], "failed", "{run}");
    }
    let provider = provider.as_str();
    let cards = portal.get("/v1/integrations", admin).await;
    let card = cards.body["integrations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["provider"] == provider)
        .unwrap()
        .clone();
    assert_eq!(
        card["status"], "needs_reconnect",
        "{provider}: {} {card}",
        reply.body
    );
}

#[tokio::test]
async fn the_schedule_never_retries_a_refused_autotask_secret() {
    let sandbox = sandbox::autotask::Sandbox::demo().await;
    let portal = autotask_world(&sandbox);
    let admin = portal.admin(TENANT);
    journeys::autotask_acme_mapped(&portal, &admin, "acme", 12).await;
    // The partner resets the API user's secret in Autotask (seed 002).
    sandbox.with(|s| s.users[0].secret = "reset-by-the-partner".into());
    sync_refused(&portal, &admin, Provider::Autotask, json!(["seats"])).await;
    let refusals = sandbox.with(|s| s.refused_logins);
    assert!(refusals >= 1);
    schedule_leaves_it_alone(&portal, Provider::Autotask, || {
        sandbox.with(|s| s.refused_logins)
    })
    .await;
}

#[tokio::test]
async fn the_schedule_never_retries_a_refused_halopsa_secret() {
    let sandbox = sandbox::halopsa::Sandbox::demo().await;
    let portal = Portal::with_settings(halo_settings(), DeploymentSecret::Missing);
    let admin = portal.admin(TENANT);
    let connected = portal
        .post(
            "/v1/integrations/halopsa/connect",
            &admin,
            json!({"site_url": sandbox.site_url(), "client_id": sandbox::halopsa::DEMO_CLIENT_ID, "client_secret": sandbox::halopsa::DEMO_CLIENT_SECRET}),
        )
        .await;
    assert_eq!(connected.status, StatusCode::CREATED, "{}", connected.body);
    for (path, body) in [
        (
            "/v1/integrations/halopsa/configuration",
            json!({"sync_seat_quantity": true, "ticket_type_id": 3, "sla_id": 2, "priority_id": 1}),
        ),
        (
            "/v1/organizations/acme",
            json!({"name": "Acme Corporation", "seats": 12}),
        ),
        (
            "/v1/integrations/halopsa/org-mappings/acme",
            json!({"customer_id": 101, "licence_id": 105}),
        ),
    ] {
        let reply = portal.put(path, &admin, body).await;
        assert!(reply.status.is_success(), "{path}: {}", reply.body);
    }
    sandbox.with(|s| {
        s.client_secret = "rotated-by-the-partner".into();
        s.expire_tokens();
    });
    sync_refused(&portal, &admin, Provider::Halopsa, json!(["seats"])).await;
    schedule_leaves_it_alone(&portal, Provider::Halopsa, || sandbox.with(|s| s.calls)).await;
}

#[tokio::test]
async fn the_schedule_never_retries_a_refused_ninjaone_refresh_token() {
    let sandbox = sandbox::ninjaone::Sandbox::start(sandbox::ninjaone::State::demo()).await;
    let portal = journeys::ninjaone_portal(&sandbox);
    let admin = portal.admin(TENANT);
    journeys::ninjaone_acme_linked(&portal, &admin).await;
    // The partner removes the application's access: the refresh token is refused.
    sandbox.with(|s| {
        s.spend_refresh_tokens();
        s.expire_access_tokens();
    });
    sync_refused(&portal, &admin, Provider::Ninjaone, json!(["assets"])).await;
    schedule_leaves_it_alone(&portal, Provider::Ninjaone, || {
        sandbox.with(|s| s.calls + s.refreshes)
    })
    .await;
}

/// Seed 000 walked through the API, then the trail read back: every change with its actor,
/// request and fields, no secret anywhere, and all of it still there after the revoke.
#[tokio::test]
async fn the_audit_trail_answers_who_changed_what_also_after_a_revoke() {
    let sandbox = sandbox::autotask::Sandbox::demo().await;
    let portal = autotask_world(&sandbox);
    let admin = portal.admin(TENANT);
    journeys::autotask_acme_mapped(&portal, &admin, "contoso", 12).await;
    let sync = portal
        .post(
            "/v1/integrations/autotask/sync",
            &admin,
            json!({"kinds": ["seats"]}),
        )
        .await;
    portal
        .finished_run(
            Provider::Autotask,
            sync.body["id"].as_str().unwrap(),
            &admin,
        )
        .await;
    portal
        .delete("/v1/integrations/autotask/org-mappings/contoso", &admin)
        .await;
    portal.delete("/v1/integrations/autotask", &admin).await;

    // A read-only user may read the trail.
    let viewer = portal.viewer(TENANT);
    let trail = portal.get("/v1/audit", &viewer).await;
    assert_eq!(trail.status, StatusCode::OK, "{}", trail.body);
    let items = trail.body["items"].as_array().unwrap();
    let actions: Vec<&str> = items
        .iter()
        .map(|i| i["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        [
            "revoke",
            "unlink_organization",
            "sync",
            "map_organization",
            "put_organization",
            "map_plan",
            "put_plan",
            "configure",
            "connect"
        ],
        "newest first"
    );
    for item in items {
        assert_eq!(item["actor"], format!("local-user@{TENANT}"), "{item}");
        assert!(item["request_id"].as_str().is_some_and(|r| !r.is_empty()));
        assert!(item["at"].is_string());
    }
    // Who unlinked Contoso, and what did the link point at?
    let unlink = &items[1];
    assert_eq!(
        (unlink["provider"].as_str(), unlink["target"].as_str()),
        (Some("autotask"), Some("contoso"))
    );
    let change = |item: &Value, field: &str| {
        item["changes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["field"] == field)
            .cloned()
            .unwrap_or_else(|| panic!("no change of {field} in {item}"))
    };
    assert_eq!(
        change(unlink, "target.contract_id"),
        json!({"field": "target.contract_id", "old": 1005, "new": null})
    );
    assert_eq!(change(&items[7], "settings.queue")["new"], 29683482);
    assert_eq!(change(&items[2], "kinds")["new"], json!(["seats"]));
    let text = trail.body.to_string();
    for secret in [sandbox::autotask::DEMO_SECRET, "secret_name"] {
        assert!(!text.contains(secret), "{secret} in the trail");
    }

    // One provider's, a page at a time; another tenant sees none of it.
    let first = portal
        .get("/v1/audit?provider=autotask&limit=3", &viewer)
        .await;
    assert_eq!(first.body["items"].as_array().unwrap().len(), 3);
    let next = first.body["next"].as_str().unwrap();
    let rest = portal
        .get(
            &format!("/v1/audit?provider=autotask&after={next}"),
            &viewer,
        )
        .await;
    let rest_actions: Vec<&str> = rest.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        rest_actions,
        ["map_organization", "map_plan", "configure", "connect"]
    );
    let other = portal.get("/v1/audit", &portal.viewer("other-msp")).await;
    assert_eq!(other.body["items"], json!([]));
    let bad = portal.get("/v1/audit?provider=nobody", &viewer).await;
    bad.problem(StatusCode::BAD_REQUEST);
}

/// The EMF lines of a seat sync and an asset import hold the counts the sandboxes saw.
#[tokio::test]
async fn metrics_of_a_seat_sync_and_an_import_match_the_vendors_counters() {
    use shared::{
        api::{Claims, Scope, handle},
        context::with_request_id,
        metrics::recorded,
    };
    let sandbox = sandbox::autotask::Sandbox::demo().await;
    let portal = autotask_world(&sandbox);
    let admin = portal.admin(TENANT);
    journeys::autotask_acme_mapped(&portal, &admin, "acme", 25).await;
    // The run executes in the request (no queue), so its counts land on this request's lines.
    let mut app = portal.runner.app.clone();
    app.queue = None;
    let claims: Claims = [("tenant_id", TENANT), ("role", "admin"), ("sub", "user-1")]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    let sync = |provider: &str, kinds: Value| {
        http::Request::builder()
            .method("POST")
            .uri(format!("/v1/integrations/{provider}/sync"))
            .header("content-type", "application/json")
            .body(bytes::Bytes::from(json!({"kinds": kinds}).to_string()))
            .unwrap()
    };
    let (calls, writes) = sandbox.with(|s| (s.calls(), s.writes));
    // As an entry point runs it: under a request id, with a fresh recorder.
    let request = sync("autotask", json!(["seats"]));
    let work = recorded(handle(&app, Scope::All, request, Some(&claims)));
    let (response, lines) = with_request_id("req-seats".into(), work).await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let sum = |metric: &str, dims: &[(&str, &str)]| -> u64 {
        lines
            .iter()
            .filter(|l| l.get(metric).is_some())
            .filter(|l| dims.iter().all(|(k, v)| l[*k] == *v))
            .map(|l| l[metric].as_u64().unwrap())
            .sum()
    };
    let (calls_after, writes_after) = sandbox.with(|s| (s.calls(), s.writes));
    assert_eq!(
        sum("VendorCalls", &[("vendor", "autotask")]),
        calls_after - calls,
        "{lines:#?}"
    );
    assert_eq!(
        sum("SeatChanges", &[("vendor", "autotask")]),
        writes_after - writes
    );
    assert_eq!(sum("SeatChanges", &[]), 1);
    assert_eq!(
        sum(
            "Runs",
            &[
                ("vendor", "autotask"),
                ("kind", "seats"),
                ("outcome", "succeeded")
            ]
        ),
        1
    );
    for line in &lines {
        assert_eq!(line["tenant"], TENANT, "the tenant is a property");
        let dims = &line["_aws"]["CloudWatchMetrics"][0]["Dimensions"][0];
        assert!(
            !dims.as_array().unwrap().iter().any(|d| d == "tenant"),
            "never a dimension: {line}"
        );
        assert_eq!(line["request_id"], "req-seats");
    }

    // An import: NinjaOne's assets.
    let ninja = sandbox::ninjaone::Sandbox::start(sandbox::ninjaone::State::demo()).await;
    let portal = journeys::ninjaone_portal(&ninja);
    journeys::ninjaone_acme_linked(&portal, &portal.admin(TENANT)).await;
    let mut app = portal.runner.app.clone();
    app.queue = None;
    let calls = ninja.with(|s| s.calls);
    // As an entry point runs it: under a request id, with a fresh recorder.
    let request = sync("ninjaone", json!(["assets"]));
    let work = recorded(handle(&app, Scope::All, request, Some(&claims)));
    let (response, lines) = with_request_id("req-assets".into(), work).await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let run: Value = serde_json::from_slice(response.body()).unwrap();
    let imported = run["counts"]["changed"].as_u64().unwrap();
    assert!(imported > 0, "{run}");
    let sum = |metric: &str, dims: &[(&str, &str)]| -> u64 {
        lines
            .iter()
            .filter(|l| l.get(metric).is_some())
            .filter(|l| dims.iter().all(|(k, v)| l[*k] == *v))
            .map(|l| l[metric].as_u64().unwrap())
            .sum()
    };
    assert_eq!(
        sum(
            "RecordsImported",
            &[("vendor", "ninjaone"), ("kind", "assets")]
        ),
        imported
    );
    assert_eq!(
        sum("VendorCalls", &[("vendor", "ninjaone")]),
        ninja.with(|s| s.calls) - calls,
        "{lines:#?}"
    );
}

/// A request id from API Gateway is on every log line of the request and in its problem.
#[tokio::test]
async fn every_log_line_and_problem_carries_the_request_id() {
    let backend = integration_tests::Backend::sqlite();
    let app = backend.app();
    let path = format!(
        "{}/fixtures/apigw-v2/connect-halopsa.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let request = lambda_http::request::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let logs = integration_tests::LogCapture::default();
    let guard = logs.start();
    let response = shared::lambda::handle(
        &app,
        shared::api::Scope::Only(shared::api::Function::Connect),
        request,
    )
    .await;
    drop(guard);
    let body: Value = match response.body() {
        lambda_http::Body::Text(t) => serde_json::from_str(t).unwrap(),
        other => panic!("{other:?}"),
    };
    assert_eq!(body["request_id"], "Bf3kLhY5joEEMkQ=", "{body}");
    let lines: Vec<Value> = logs
        .text()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(!lines.is_empty());
    for line in &lines {
        assert_eq!(line["span"]["request_id"], "Bf3kLhY5joEEMkQ=", "{line}");
    }
}
