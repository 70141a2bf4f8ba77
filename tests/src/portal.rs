//! The portal's view of the API: requests through the local runner's router, as the portal
//! would send them, with tokens the runner accepts.

use axum::{Router, body::Body};
use http::{HeaderMap, Method, Request, StatusCode, header};
use local::Runner;
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;
use shared::{
    config::Settings,
    domain::{
        AutotaskSettings, Connection, ConnectionStatus, OrgId, OrgMapping, OrgTarget, Provider,
        ProviderSettings, TenantId, VendorInstance,
    },
    ports::{Expect, SecretName},
    providers::{DeploymentSecret, DeploymentSecrets},
};
use tempfile::TempDir;
use tower::ServiceExt;

/// The runner's router over a fresh data directory.
pub struct Portal {
    /// The runner (its app and token key).
    pub runner: Runner,
    router: Router,
    _dir: TempDir,
}

/// A response, its body parsed as JSON.
pub struct Reply {
    /// Status.
    pub status: StatusCode,
    /// Headers.
    pub headers: HeaderMap,
    /// Body (`null` when empty).
    pub body: Value,
}

impl Reply {
    /// The content type.
    pub fn content_type(&self) -> &str {
        self.headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }

    /// Asserts a problem response with `status`, and returns its body.
    pub fn problem(&self, status: StatusCode) -> &Value {
        assert_eq!(self.status, status, "body: {}", self.body);
        assert_eq!(self.content_type(), "application/problem+json");
        assert_eq!(self.body["status"], status.as_u16());
        assert!(
            self.body["type"]
                .as_str()
                .unwrap()
                .starts_with("/problems/")
        );
        assert!(!self.body["detail"].as_str().unwrap().is_empty());
        &self.body
    }

    /// The `field`s of a problem's `errors`.
    pub fn field_errors(&self) -> Vec<String> {
        self.body["errors"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|e| e["field"].as_str().unwrap().to_owned())
                    .collect()
            })
            .unwrap_or_default()
    }
}

impl Default for Portal {
    fn default() -> Self {
        Self::new()
    }
}

impl Portal {
    /// A runner without vendors.
    pub fn new() -> Self {
        Self::with_settings(Settings::default(), DeploymentSecret::Missing)
    }

    /// A runner with these settings and deployment secrets (or Autotask's integration code
    /// alone).
    pub fn with_settings(settings: Settings, code: impl Into<DeploymentSecrets>) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let runner = Runner::open(dir.path(), settings, code).unwrap();
        Self {
            router: runner.clone().router(),
            runner,
            _dir: dir,
        }
    }

    /// The same runner with its vendor integrations changed (a provider built with a test
    /// resolver, say). Queued sync runs keep the integrations the runner started with.
    pub fn with_integrations(
        mut self,
        change: impl FnOnce(shared::app::Integrations) -> shared::app::Integrations,
    ) -> Self {
        self.runner.app.integrations = change(self.runner.app.integrations.clone());
        self.router = self.runner.clone().router();
        self
    }

    /// The same runner, letting browsers on `origins` call it (CORS).
    pub fn with_cors_origins(mut self, origins: &[&str]) -> Self {
        let origins: Vec<String> = origins.iter().map(|o| (*o).to_owned()).collect();
        self.runner = self
            .runner
            .clone()
            .with_cors_origins(&origins)
            .expect("valid origins");
        self.router = self.runner.clone().router();
        self
    }

    /// Polls a sync run until it is final (succeeded, partial or failed) and returns it.
    pub async fn finished_run(&self, provider: Provider, id: &str, token: &str) -> Value {
        for _ in 0..800 {
            let run = self
                .get(
                    &format!("/v1/integrations/{provider}/sync-runs/{id}"),
                    token,
                )
                .await
                .body;
            if ["succeeded", "partial", "failed"]
                .contains(&run["status"].as_str().unwrap_or_default())
            {
                return run;
            }
            tokio::time::sleep(std::time::Duration::from_millis(25)).await;
        }
        panic!("run {id} did not finish");
    }

    /// An admin token of `tenant`.
    pub fn admin(&self, tenant: &str) -> String {
        self.runner.tokens.mint(tenant, "admin")
    }

    /// A read-only token of `tenant`.
    pub fn viewer(&self, tenant: &str) -> String {
        self.runner.tokens.mint(tenant, "viewer")
    }

    /// Any request.
    pub async fn raw(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        content_type: Option<&str>,
        body: Vec<u8>,
    ) -> Reply {
        let mut req = Request::builder().method(method).uri(path);
        if let Some(token) = token {
            req = req.header(header::AUTHORIZATION, format!("Bearer {token}"));
        }
        if let Some(ct) = content_type {
            req = req.header(header::CONTENT_TYPE, ct);
        }
        self.send(req.body(Body::from(body)).unwrap()).await
    }

    /// Any request, as built (a browser's preflight, say).
    pub async fn send(&self, req: Request<Body>) -> Reply {
        let response = self.router.clone().oneshot(req).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).expect("every response body is JSON")
        };
        Reply {
            status,
            headers,
            body,
        }
    }

    /// GET.
    pub async fn get(&self, path: &str, token: &str) -> Reply {
        self.raw(Method::GET, path, Some(token), None, vec![]).await
    }

    /// PUT with a JSON body.
    pub async fn put(&self, path: &str, token: &str, body: Value) -> Reply {
        self.raw(
            Method::PUT,
            path,
            Some(token),
            Some("application/json"),
            body.to_string().into_bytes(),
        )
        .await
    }

    /// DELETE.
    pub async fn delete(&self, path: &str, token: &str) -> Reply {
        self.raw(Method::DELETE, path, Some(token), None, vec![])
            .await
    }

    /// Stores a connection the way a provider's connect will, for revoke and card tests.
    pub async fn seed_connection(&self, tenant: &str, provider: Provider, secret: &str) {
        let app = &self.runner.app;
        let t = TenantId::new(tenant).unwrap();
        let name = SecretName::for_connection(&app.settings.secrets_prefix, &t, provider);
        app.secrets
            .put(&name, &SecretString::from(secret.to_owned()))
            .await
            .unwrap();
        let now = app.clock.now();
        let connection = Connection {
            status: ConnectionStatus::Connected,
            instance: VendorInstance::Autotask {
                zone_url: "https://webservices5.autotask.net/ATServicesRest/".into(),
                web_url: "https://ww5.autotask.net/".into(),
                database_id: 1,
            },
            secret_name: name.to_string(),
            connected_at: now,
            updated_at: now,
            last_error: None,
            version: 0,
        };
        app.store
            .put_connection(&t, &connection, Expect::Absent)
            .await
            .unwrap();
        app.store
            .put_configuration(
                &t,
                &ProviderSettings::Autotask(AutotaskSettings {
                    sync_seat_quantity: true,
                    ..Default::default()
                }),
                Expect::Absent,
            )
            .await
            .unwrap();
        app.store
            .put_org_mapping(
                &t,
                &OrgMapping {
                    org_id: OrgId::new("acme").unwrap(),
                    target: OrgTarget::Autotask {
                        company_id: 1,
                        contract_id: Some(2),
                        contract_service_id: Some(3),
                    },
                    updated_at: now,
                    version: 0,
                },
                Expect::Absent,
            )
            .await
            .unwrap();
    }

    /// The stored secret of a tenant's provider.
    pub async fn secret_of(&self, tenant: &str, provider: Provider) -> Option<String> {
        self.stored_secret(tenant, provider, "").await
    }

    /// The client credentials a tenant's consent flow keeps until the callback.
    pub async fn pending_secret_of(&self, tenant: &str, provider: Provider) -> Option<String> {
        self.stored_secret(tenant, provider, "/pending").await
    }

    async fn stored_secret(
        &self,
        tenant: &str,
        provider: Provider,
        suffix: &str,
    ) -> Option<String> {
        let app = &self.runner.app;
        let name = SecretName::for_connection(
            &app.settings.secrets_prefix,
            &TenantId::new(tenant).unwrap(),
            provider,
        );
        app.secrets
            .get(&SecretName::from_stored(format!("{name}{suffix}")))
            .await
            .unwrap()
            .map(|s| s.expose_secret().to_owned())
    }

    /// Any request with extra headers.
    pub async fn raw_with_headers(
        &self,
        method: Method,
        path: &str,
        token: &str,
        headers: &[(&str, &str)],
        body: Vec<u8>,
    ) -> Reply {
        let mut req = Request::builder()
            .method(method)
            .uri(path)
            .header(header::AUTHORIZATION, format!("Bearer {token}"));
        for (name, value) in headers {
            req = req.header(*name, *value);
        }
        self.send(req.body(Body::from(body)).unwrap()).await
    }

    /// POST with a JSON body.
    pub async fn post(&self, path: &str, token: &str, body: Value) -> Reply {
        self.raw(
            Method::POST,
            path,
            Some(token),
            Some("application/json"),
            body.to_string().into_bytes(),
        )
        .await
    }
}
