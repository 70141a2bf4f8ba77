//! API Gateway HTTP API (v2) events, as recorded JSON, through the handler each function binary
//! runs (`shared::lambda::handle`), over DynamoDB and Secrets Manager on moto.

use http::StatusCode;
use integration_tests::Backend;
use lambda_http::Body;
use serde_json::Value;
use shared::api::{App, Function, Scope};

fn fixture(name: &str) -> lambda_http::Request {
    let path = format!(
        "{}/fixtures/apigw-v2/{name}.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    lambda_http::request::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"))
}

struct Answer {
    status: StatusCode,
    content_type: String,
    body: Value,
}

async fn invoke(app: &App, function: Function, name: &str) -> Answer {
    let response = shared::lambda::handle(app, Scope::Only(function), fixture(name)).await;
    let status = response.status();
    let content_type = response
        .headers()
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let body = match response.body() {
        Body::Empty => Value::Null,
        Body::Text(text) => serde_json::from_str(text).expect("JSON body"),
        Body::Binary(bytes) => serde_json::from_slice(bytes).expect("JSON body"),
        _ => Value::Null,
    };
    Answer {
        status,
        content_type,
        body,
    }
}

#[tokio::test]
async fn each_function_answers_its_routes_from_real_events() {
    let backend = Backend::dynamodb().await;
    let app = backend.app();

    let list = invoke(&app, Function::Configure, "configure-list-integrations").await;
    assert_eq!(list.status, StatusCode::OK, "{}", list.body);
    assert_eq!(list.body["integrations"].as_array().unwrap().len(), 4);

    let doc = invoke(&app, Function::Configure, "configure-openapi").await;
    assert_eq!(
        (doc.status, doc.body["openapi"].as_str()),
        (StatusCode::OK, Some("3.1.0"))
    );

    let plan = invoke(&app, Function::Map, "map-put-plan").await;
    assert_eq!(plan.status, StatusCode::CREATED, "{}", plan.body);
    let org = invoke(&app, Function::Map, "map-put-organization-base64").await;
    assert_eq!(org.status, StatusCode::CREATED, "{}", org.body);
    assert_eq!(org.body["seats"], 25);
    let orgs = invoke(&app, Function::Map, "map-list-organizations").await;
    assert_eq!(orgs.body["items"][0]["id"], "acme-dental");

    let revoke = invoke(&app, Function::Revoke, "revoke-autotask").await;
    assert_eq!(revoke.status, StatusCode::NO_CONTENT);
    assert_eq!(revoke.body, Value::Null);

    for (function, name, status) in [
        // A private site address is refused before any request leaves.
        (
            Function::Connect,
            "connect-halopsa",
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            Function::OauthCallback,
            "oauth-callback-ninjaone",
            StatusCode::SERVICE_UNAVAILABLE,
        ),
        (Function::Sync, "sync-start", StatusCode::CONFLICT),
    ] {
        let answer = invoke(&app, function, name).await;
        assert_eq!(answer.status, status, "{name}: {}", answer.body);
        assert_eq!(answer.content_type, "application/problem+json");
    }
    let not_connected = invoke(&app, Function::Sync, "sync-start").await;
    assert_eq!(not_connected.body["detail"], "Autotask is not connected");
}

#[tokio::test]
async fn claims_come_only_from_the_authorizer() {
    let backend = Backend::dynamodb().await;
    let app = backend.app();

    let viewer = invoke(&app, Function::Map, "map-put-plan-viewer").await;
    assert_eq!(viewer.status, StatusCode::FORBIDDEN);
    assert_eq!(viewer.content_type, "application/problem+json");

    // A route deployed without the authorizer carries a bearer header but no verified claims.
    let unverified = invoke(&app, Function::Configure, "configure-no-authorizer").await;
    assert_eq!(unverified.status, StatusCode::UNAUTHORIZED);

    // The viewer's refused write stored nothing.
    let plans = backend
        .store
        .list_plans(&shared::domain::TenantId::new("acme").unwrap(), None, 10)
        .await
        .unwrap();
    assert!(plans.items.is_empty());
}

#[tokio::test]
async fn a_function_does_not_serve_another_functions_routes() {
    let backend = Backend::dynamodb().await;
    let app = backend.app();
    for (function, name) in [
        (Function::Connect, "map-put-plan"),
        (Function::Map, "revoke-autotask"),
        (Function::Revoke, "configure-list-integrations"),
        (Function::Configure, "oauth-callback-ninjaone"),
    ] {
        let answer = invoke(&app, function, name).await;
        assert_eq!(answer.status, StatusCode::NOT_FOUND, "{function:?} {name}");
    }
}

/// On AWS our Autotask integration code comes from a Secrets Manager secret, read on first use.
#[tokio::test]
async fn the_autotask_integration_code_is_read_from_secrets_manager() {
    use sandbox::autotask::{DEMO_INTEGRATION_CODE, DEMO_SECRET, DEMO_USERNAME, Sandbox};
    use secrecy::SecretString;
    use shared::{
        aws::SecretSource,
        ports::{SecretName, Secrets},
        store::secrets_manager::SecretsManager,
    };

    let sdk = integration_tests::moto().await;
    let table = integration_tests::moto_table(&sdk).await;
    let code_secret = format!("deploy-{}/autotask-integration-code", ulid::Ulid::new());
    SecretsManager::new(&sdk)
        .put(
            &SecretName::from_stored(code_secret.clone()),
            &SecretString::from(DEMO_INTEGRATION_CODE),
        )
        .await
        .unwrap();
    let sandbox = Sandbox::demo().await;
    let settings =
        integration_tests::sandbox_settings(&sandbox, &format!("test-{}", ulid::Ulid::new()));
    let app = shared::aws::app(
        &sdk,
        &table,
        settings,
        SecretSource::Secret(code_secret).into(),
        None,
    )
    .unwrap();
    let claims = [("tenant_id", "acme"), ("role", "admin")]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    let req = http::Request::builder()
        .method("POST")
        .uri("/v1/integrations/autotask/connect")
        .header("content-type", "application/json")
        .body(bytes::Bytes::from(
            serde_json::json!({"username": DEMO_USERNAME, "secret": DEMO_SECRET}).to_string(),
        ))
        .unwrap();
    let response =
        shared::api::handle(&app, Scope::Only(Function::Connect), req, Some(&claims)).await;
    assert_eq!(
        response.status(),
        StatusCode::CREATED,
        "{:?}",
        response.body()
    );
}
