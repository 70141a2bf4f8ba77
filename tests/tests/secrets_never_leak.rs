//! A partner secret written through `Secrets` never shows up in a log line, an error, a
//! response or `Debug` output, on either back end.

use integration_tests::{Backend, LogCapture};
use secrecy::SecretString;
use shared::{
    api::{Scope, handle},
    domain::{Connection, ConnectionStatus, NinjaRegion, Provider, TenantId, VendorInstance},
    ports::{Expect, SecretError, SecretName},
};

const SECRET: &str = "S3cr3t-Value-That-Must-Never-Leak-8c1f";

async fn exercise(backend: Backend) {
    let logs = LogCapture::default();
    let _guard = logs.start();
    let app = backend.app();
    let tenant = TenantId::new("acme").unwrap();
    let name = SecretName::for_connection(&backend.prefix, &tenant, Provider::Ninjaone);
    let value = SecretString::from(SECRET);
    let mut seen = Vec::new();

    seen.push(format!("{value:?}"));
    backend.secrets.put(&name, &value).await.unwrap();
    let read = backend.secrets.get(&name).await.unwrap().unwrap();
    seen.push(format!("{read:?}"));
    let now = app.clock.now();
    backend
        .store
        .put_connection(
            &tenant,
            &Connection {
                status: ConnectionStatus::Connected,
                instance: VendorInstance::Ninjaone {
                    region: NinjaRegion::Us,
                },
                secret_name: name.to_string(),
                connected_at: now,
                updated_at: now,
                last_error: None,
                version: 0,
            },
            Expect::Absent,
        )
        .await
        .unwrap();

    let claims = [("tenant_id", "acme"), ("role", "admin")]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    for (method, path, body) in [
        ("GET", "/v1/integrations", ""),
        ("PUT", "/v1/plans/pro", r#"{"name": 7}"#),
        ("POST", "/v1/integrations/ninjaone/connect", "{}"),
        ("DELETE", "/v1/integrations/ninjaone", ""),
        ("GET", "/v1/integrations", ""),
    ] {
        let req = http::Request::builder()
            .method(method)
            .uri(path)
            .header("content-type", "application/json")
            .body(bytes::Bytes::from(body))
            .unwrap();
        let response = handle(&app, Scope::All, req, Some(&claims)).await;
        seen.push(format!("{response:?}"));
        seen.push(String::from_utf8_lossy(response.body()).into_owned());
    }
    assert!(
        backend.secrets.get(&name).await.unwrap().is_none(),
        "revoke deleted it"
    );

    // Errors name the secret, never its value.
    let err = SecretError::Corrupt {
        name: name.to_string(),
        reason: "test".into(),
    };
    seen.push(format!("{err} {err:?}"));

    seen.push(logs.text());
    assert!(
        logs.text().contains("connection revoked"),
        "logs were captured"
    );
    for text in &seen {
        assert!(
            !text.contains(SECRET),
            "{} leaked the secret: {text}",
            backend.name
        );
    }
}

#[tokio::test]
async fn sqlite_back_end_never_leaks_secrets() {
    exercise(Backend::sqlite()).await;
}

#[tokio::test]
async fn aws_back_end_never_leaks_secrets() {
    exercise(Backend::dynamodb().await).await;
}

/// The Autotask connect path, succeeding and failing, with the partner secret and our
/// integration code in play: neither reaches a log line or a response.
#[tokio::test]
async fn autotask_credentials_never_leak() {
    use integration_tests::portal::Portal;
    use sandbox::autotask::{DEMO_INTEGRATION_CODE, DEMO_SECRET, DEMO_USERNAME, Sandbox};
    use shared::providers::DeploymentSecret;

    let sandbox = Sandbox::demo().await;
    let portal = Portal::with_settings(
        integration_tests::sandbox_settings(&sandbox, "msp-integrations"),
        DeploymentSecret::Value(SecretString::from(DEMO_INTEGRATION_CODE)),
    );
    let logs = LogCapture::default();
    let _guard = logs.start();
    let admin = portal.admin("acme");
    let mut seen = Vec::new();
    for secret in ["wrong-secret-value-1234", DEMO_SECRET] {
        let reply = portal
            .post(
                "/v1/integrations/autotask/connect",
                &admin,
                serde_json::json!({"username": DEMO_USERNAME, "secret": secret}),
            )
            .await;
        seen.push(format!("{:?} {}", reply.headers, reply.body));
    }
    sandbox.with(|s| s.users[0].secret = "rotated-and-unknown-to-us".into());
    let options = portal
        .get("/v1/integrations/autotask/options/queues", &admin)
        .await;
    seen.push(options.body.to_string());
    seen.push(
        portal
            .get("/v1/integrations", &admin)
            .await
            .body
            .to_string(),
    );
    seen.push(logs.text());
    assert!(logs.text().contains("connected"), "logs were captured");
    for text in &seen {
        for secret in [
            DEMO_SECRET,
            "wrong-secret-value-1234",
            DEMO_INTEGRATION_CODE,
        ] {
            assert!(!text.contains(secret), "leaked {secret}: {text}");
        }
    }
}

/// The HaloPSA paths, succeeding and failing, with the client secret and bearer tokens in
/// play: connect, lists, a renewed token after Halo expires one, a sync, and a rotated secret.
#[tokio::test]
async fn halopsa_credentials_and_tokens_never_leak() {
    use integration_tests::portal::Portal;
    use sandbox::halopsa::{DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, Sandbox};
    use shared::{config::Settings, providers::DeploymentSecret};

    let sandbox = Sandbox::demo().await;
    let mut settings = Settings::with_prefix("msp-integrations");
    settings.vendors.allow_loopback = true;
    let portal = Portal::with_settings(settings, DeploymentSecret::Missing);
    let logs = LogCapture::default();
    let _guard = logs.start();
    let admin = portal.admin("acme");
    let mut seen = Vec::new();
    for secret in ["wrong-halo-secret-5678", DEMO_CLIENT_SECRET] {
        let reply = portal
            .post(
                "/v1/integrations/halopsa/connect",
                &admin,
                serde_json::json!({"site_url": sandbox.site_url(), "client_id": DEMO_CLIENT_ID, "client_secret": secret}),
            )
            .await;
        seen.push(format!("{:?} {}", reply.headers, reply.body));
    }
    for _ in 0..2 {
        let slas = portal
            .get("/v1/integrations/halopsa/options/slas", &admin)
            .await;
        seen.push(slas.body.to_string());
        sandbox.with(|s| s.expire_tokens());
    }
    let put = portal
        .put(
            "/v1/organizations/acme",
            &admin,
            serde_json::json!({"name": "Acme", "seats": 3}),
        )
        .await;
    seen.push(put.body.to_string());
    let mapped = portal
        .put(
            "/v1/integrations/halopsa/org-mappings/acme",
            &admin,
            serde_json::json!({"customer_id": 101, "licence_id": 105}),
        )
        .await;
    seen.push(mapped.body.to_string());
    sandbox.with(|s| {
        s.client_secret = "rotated-halo-secret-unknown".into();
        s.expire_tokens();
    });
    let sync = portal
        .post(
            "/v1/integrations/halopsa/sync",
            &admin,
            serde_json::json!({}),
        )
        .await;
    seen.push(sync.body.to_string());
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    seen.push(
        portal
            .get("/v1/integrations", &admin)
            .await
            .body
            .to_string(),
    );
    seen.push(logs.text());
    assert!(
        sandbox.with(|s| s.tokens_issued) >= 2,
        "tokens were in play"
    );
    assert!(logs.text().contains("connected"), "logs were captured");
    for text in &seen {
        for secret in [
            DEMO_CLIENT_SECRET,
            "wrong-halo-secret-5678",
            "halo-sandbox-token",
        ] {
            assert!(!text.contains(secret), "leaked {secret}: {text}");
        }
    }
}

/// The ConnectWise paths, succeeding and failing, with the private key, our clientId and the
/// Basic credentials built from them in play: connect with a wrong key and the right one,
/// lists, a mapping, a sync after the partner rotated the key, and the card.
#[tokio::test]
async fn connectwise_keys_and_client_id_never_leak() {
    use base64::Engine;
    use integration_tests::portal::Portal;
    use sandbox::connectwise::{
        DEMO_CLIENT_ID, DEMO_COMPANY, DEMO_PRIVATE_KEY, DEMO_PUBLIC_KEY, Sandbox,
    };
    use secrecy::SecretString;
    use shared::{
        config::Settings,
        providers::{DeploymentSecret, DeploymentSecrets},
    };

    let sandbox = Sandbox::demo().await;
    let mut settings = Settings::with_prefix("msp-integrations");
    settings.vendors.allow_loopback = true;
    let portal = Portal::with_settings(
        settings,
        DeploymentSecrets {
            connectwise_client_id: DeploymentSecret::Value(SecretString::from(DEMO_CLIENT_ID)),
            ..DeploymentSecrets::default()
        },
    );
    let logs = LogCapture::default();
    let _guard = logs.start();
    let admin = portal.admin("acme");
    let mut seen = Vec::new();
    for key in ["wrong-cw-private-5678", DEMO_PRIVATE_KEY] {
        let reply = portal
            .post(
                "/v1/integrations/connectwise/connect",
                &admin,
                serde_json::json!({"site": sandbox.site(), "company_id": DEMO_COMPANY, "public_key": DEMO_PUBLIC_KEY, "private_key": key}),
            )
            .await;
        seen.push(format!("{:?} {}", reply.headers, reply.body));
    }
    let boards = portal
        .get("/v1/integrations/connectwise/options/boards", &admin)
        .await;
    assert_eq!(boards.status, http::StatusCode::OK, "{}", boards.body);
    seen.push(boards.body.to_string());
    portal
        .put(
            "/v1/organizations/acme",
            &admin,
            serde_json::json!({"name": "Acme", "seats": 3}),
        )
        .await;
    let mapped = portal
        .put(
            "/v1/integrations/connectwise/org-mappings/acme",
            &admin,
            serde_json::json!({"company_id": 1, "agreement_id": 2, "addition_id": 3}),
        )
        .await;
    seen.push(mapped.body.to_string());
    sandbox.with(|s| s.private_key = "rotated-cw-private-key".into());
    let sync = portal
        .post(
            "/v1/integrations/connectwise/sync",
            &admin,
            serde_json::json!({}),
        )
        .await;
    seen.push(sync.body.to_string());
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    seen.push(
        portal
            .get("/v1/integrations", &admin)
            .await
            .body
            .to_string(),
    );
    seen.push(logs.text());
    assert!(logs.text().contains("connected"), "logs were captured");
    let basic = base64::engine::general_purpose::STANDARD.encode(format!(
        "{DEMO_COMPANY}+{DEMO_PUBLIC_KEY}:{DEMO_PRIVATE_KEY}"
    ));
    for text in &seen {
        for secret in [
            DEMO_PRIVATE_KEY,
            "wrong-cw-private-5678",
            DEMO_CLIENT_ID,
            basic.as_str(),
        ] {
            assert!(!text.contains(secret), "leaked {secret}: {text}");
        }
    }
}
