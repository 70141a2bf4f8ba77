//! What the browser portal relies on beyond the routes: CORS for its origin, and
//! `Idempotency-Key` on every POST (a retried request answers the first answer and does the
//! work once).

use std::time::Duration;

use axum::body::Body;
use http::{Method, Request, StatusCode, header};
use integration_tests::{
    journeys,
    portal::{Portal, Reply},
};
use sandbox::autotask::{DEMO_INTEGRATION_CODE, DEMO_SECRET, DEMO_USERNAME, Sandbox};
use serde_json::{Value, json};
use shared::providers::DeploymentSecret;

const TENANT: &str = "portal-msp";
const PORTAL_ORIGIN: &str = "https://portal.msp-platform.example";

fn portal(sandbox: &Sandbox) -> Portal {
    let mut settings = integration_tests::sandbox_settings(sandbox, "msp-integrations");
    // Every repeat posts a note, so a second ticket request is visible work.
    settings.ticket_storm_window_secs = 0;
    Portal::with_settings(
        settings,
        DeploymentSecret::Value(DEMO_INTEGRATION_CODE.to_owned().into()),
    )
    .with_cors_origins(&[PORTAL_ORIGIN])
}

async fn preflight(portal: &Portal, origin: &str) -> Reply {
    portal
        .send(
            Request::builder()
                .method(Method::OPTIONS)
                .uri("/v1/integrations/autotask/connect")
                .header(header::ORIGIN, origin)
                .header(header::ACCESS_CONTROL_REQUEST_METHOD, "POST")
                .header(
                    header::ACCESS_CONTROL_REQUEST_HEADERS,
                    "authorization,content-type,idempotency-key",
                )
                .body(Body::empty())
                .unwrap(),
        )
        .await
}

fn header_of(reply: &Reply, name: header::HeaderName) -> Option<&str> {
    reply.headers.get(name).and_then(|v| v.to_str().ok())
}

#[tokio::test]
async fn a_preflight_from_the_portal_is_allowed() {
    let sandbox = Sandbox::demo().await;
    let portal = portal(&sandbox);
    let reply = preflight(&portal, PORTAL_ORIGIN).await;
    assert!(reply.status.is_success(), "{}", reply.status);
    assert_eq!(
        header_of(&reply, header::ACCESS_CONTROL_ALLOW_ORIGIN),
        Some(PORTAL_ORIGIN)
    );
    let methods = header_of(&reply, header::ACCESS_CONTROL_ALLOW_METHODS).unwrap();
    for method in ["GET", "PUT", "POST", "DELETE"] {
        assert!(methods.contains(method), "{methods}");
    }
    let allowed = header_of(&reply, header::ACCESS_CONTROL_ALLOW_HEADERS)
        .unwrap()
        .to_ascii_lowercase();
    for name in [
        "authorization",
        "content-type",
        "if-match",
        "idempotency-key",
    ] {
        assert!(allowed.contains(name), "{allowed}");
    }
    assert_eq!(
        header_of(&reply, header::ACCESS_CONTROL_MAX_AGE),
        Some("600")
    );
}

#[tokio::test]
async fn a_preflight_from_another_origin_gets_no_allow_header() {
    let sandbox = Sandbox::demo().await;
    let portal = portal(&sandbox);
    let reply = preflight(&portal, "https://evil.example").await;
    assert_eq!(header_of(&reply, header::ACCESS_CONTROL_ALLOW_ORIGIN), None);
}

#[tokio::test]
async fn a_request_from_the_portal_exposes_the_headers_it_reads() {
    let sandbox = Sandbox::demo().await;
    let portal = portal(&sandbox);
    let admin = portal.admin(TENANT);
    let reply = portal
        .send(
            Request::builder()
                .method(Method::GET)
                .uri("/v1/integrations")
                .header(header::ORIGIN, PORTAL_ORIGIN)
                .header(header::AUTHORIZATION, format!("Bearer {admin}"))
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(
        header_of(&reply, header::ACCESS_CONTROL_ALLOW_ORIGIN),
        Some(PORTAL_ORIGIN)
    );
    let exposed = header_of(&reply, header::ACCESS_CONTROL_EXPOSE_HEADERS)
        .unwrap()
        .to_ascii_lowercase();
    for name in ["etag", "location", "retry-after"] {
        assert!(exposed.contains(name), "{exposed}");
    }
}

async fn post_with_key(portal: &Portal, path: &str, admin: &str, key: &str, body: &Value) -> Reply {
    portal
        .raw_with_headers(
            Method::POST,
            path,
            admin,
            &[
                ("content-type", "application/json"),
                ("idempotency-key", key),
            ],
            body.to_string().into_bytes(),
        )
        .await
}

#[tokio::test]
async fn a_retried_ticket_answers_the_first_answer_and_posts_once() {
    let sandbox = Sandbox::demo().await;
    let portal = portal(&sandbox);
    let admin = portal.admin(TENANT);
    journeys::autotask_acme_mapped(&portal, &admin, "acme", 12).await;
    let path = "/v1/integrations/autotask/tickets";
    let alert = json!({"org_id": "acme", "dedupe_key": "disk-full:acme", "title": "Disk full", "description": "C: at 99%"});
    let first = post_with_key(&portal, path, &admin, "alert-7f3a", &alert).await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.body);
    let writes = sandbox.with(|s| s.writes);
    let retried = post_with_key(&portal, path, &admin, "alert-7f3a", &alert).await;
    assert_eq!((retried.status, &retried.body), (first.status, &first.body));
    assert_eq!(
        header_of(
            &retried,
            header::HeaderName::from_static("idempotent-replayed")
        ),
        Some("true")
    );
    assert_eq!(
        sandbox.with(|s| s.writes),
        writes,
        "no note, no ticket: the work ran once"
    );

    // Without the key (or with a new one) the same alert is a repeat: a note.
    let again = post_with_key(&portal, path, &admin, "alert-8c1d", &alert).await;
    assert_eq!(again.body["action"], "noted");

    // The same key with another body is refused, naming the header.
    let other = json!({"org_id": "acme", "dedupe_key": "disk-full:acme", "title": "Disk full", "description": "C: at 100%"});
    let mismatch = post_with_key(&portal, path, &admin, "alert-7f3a", &other).await;
    mismatch.problem(StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(mismatch.field_errors(), ["Idempotency-Key"]);

    // Keys are per tenant: another partner's request with the same key is its own.
    let other_admin = portal.admin("other-msp");
    let theirs = post_with_key(&portal, path, &other_admin, "alert-7f3a", &alert).await;
    theirs.problem(StatusCode::CONFLICT);
    assert!(
        theirs.body["detail"]
            .as_str()
            .unwrap()
            .contains("not connected")
    );

    let bad = post_with_key(&portal, path, &admin, "", &alert).await;
    bad.problem(StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn a_retried_connect_logs_in_once_and_a_retry_in_flight_is_a_conflict() {
    let sandbox = Sandbox::demo().await;
    let portal = portal(&sandbox);
    let admin = portal.admin(TENANT);
    let path = "/v1/integrations/autotask/connect";
    let body = json!({"username": DEMO_USERNAME, "secret": DEMO_SECRET});
    // The first connect is slow at Autotask; its retry arrives while it is still in flight.
    sandbox.with(|s| s.latency = Duration::from_millis(300));
    let (first, during) = tokio::join!(
        post_with_key(&portal, path, &admin, "connect-1", &body),
        async {
            tokio::time::sleep(Duration::from_millis(100)).await;
            post_with_key(&portal, path, &admin, "connect-1", &body).await
        }
    );
    sandbox.with(|s| s.latency = Duration::ZERO);
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.body);
    during.problem(StatusCode::CONFLICT);
    assert!(
        during.body["detail"]
            .as_str()
            .unwrap()
            .contains("in progress")
    );
    let calls = sandbox.with(|s| s.calls());
    let retried = post_with_key(&portal, path, &admin, "connect-1", &body).await;
    assert_eq!(
        (retried.status, &retried.body),
        (StatusCode::CREATED, &first.body)
    );
    assert_eq!(
        sandbox.with(|s| s.calls()),
        calls,
        "Autotask was not asked again"
    );

    // A failed answer is not kept: the same key runs again once the cause is fixed.
    let wrong = json!({"username": DEMO_USERNAME, "secret": "wrong"});
    let refused = post_with_key(&portal, path, &admin, "connect-2", &wrong).await;
    refused.problem(StatusCode::UNPROCESSABLE_ENTITY);
    let refused_again = post_with_key(&portal, path, &admin, "connect-2", &wrong).await;
    refused_again.problem(StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(sandbox.with(|s| s.refused_logins), 2);
}

#[tokio::test]
async fn a_retried_consent_start_is_not_kept_its_state_lives_only_hashed() {
    let sandbox = sandbox::ninjaone::Sandbox::start(sandbox::ninjaone::State::demo()).await;
    let portal = journeys::ninjaone_portal(&sandbox);
    let admin = portal.admin(TENANT);
    let form = json!({"region": "us", "client_id": sandbox::ninjaone::DEMO_CLIENT_ID, "client_secret": sandbox::ninjaone::DEMO_CLIENT_SECRET});
    let path = "/v1/integrations/ninjaone/connect";
    let first = post_with_key(&portal, path, &admin, "consent-1", &form).await;
    assert_eq!(first.status, StatusCode::ACCEPTED, "{}", first.body);
    assert_eq!(header_of(&first, header::CACHE_CONTROL), Some("no-store"));
    let retried = post_with_key(&portal, path, &admin, "consent-1", &form).await;
    assert_eq!(retried.status, StatusCode::ACCEPTED);
    assert_eq!(
        header_of(
            &retried,
            header::HeaderName::from_static("idempotent-replayed")
        ),
        None,
        "a new consent, not the stored one"
    );
    assert_ne!(first.body["authorize_url"], retried.body["authorize_url"]);
}
