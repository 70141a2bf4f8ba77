//! The local runner: the whole API on one HTTP server, over the embedded store, with tokens it
//! signs and verifies itself (HS256, key in the data directory).

pub mod queue;
pub mod sandbox_mode;
pub mod token;

use std::{os::unix::fs::PermissionsExt, path::Path, sync::Arc};

use axum::{Router, body::Body, extract::State, response::IntoResponse, routing::get};
use bytes::Bytes;
use http::{HeaderValue, Request, Response, header};
use shared::{
    api::{self, ApiError, App, MAX_BODY_BYTES, Scope},
    config::Settings,
    context, metrics,
    ports::{Clock, SystemClock},
    providers::{self, DeploymentSecrets},
    store::{TableStore, local_secrets::LocalSecrets, sqlite::SqliteTable},
};
use tower_http::cors::{AllowOrigin, CorsLayer};

pub use token::TokenKey;

/// What the runner's server holds.
#[derive(Clone)]
pub struct Runner {
    /// The API's dependencies.
    pub app: App,
    /// Signs and verifies development tokens.
    pub tokens: Arc<TokenKey>,
    /// What `GET /sandbox` answers, in sandbox mode.
    sandbox: Option<Arc<serde_json::Value>>,
    /// Browser origins allowed to call the API (CORS), like the template's `PortalOrigins`.
    cors_origins: Vec<HeaderValue>,
}

/// Failure to set the runner up (data directory, keys, storage).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct SetupError(pub String);

impl Runner {
    /// Opens (creating if needed) the data directory: `store.db` (items and encrypted
    /// secrets), `secrets.key` and `token.key` (both mode 0600). Sync runs execute in a task
    /// of this process, so this needs a Tokio runtime.
    pub fn open(
        data_dir: &Path,
        settings: Settings,
        deployment: impl Into<DeploymentSecrets>,
    ) -> Result<Self, SetupError> {
        std::fs::create_dir_all(data_dir)
            .and_then(|()| {
                // Partner data lives here; the secrets in it are encrypted, the rest is not.
                std::fs::set_permissions(data_dir, std::fs::Permissions::from_mode(0o700))
            })
            .map_err(|e| SetupError(format!("cannot create {}: {e}", data_dir.display())))?;
        let db = data_dir.join("store.db");
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let table = SqliteTable::open(&db).map_err(|e| SetupError(e.to_string()))?;
        let secrets = LocalSecrets::open(&db, &data_dir.join("secrets.key"))
            .map_err(|e| SetupError(e.to_string()))?;
        let tokens = TokenKey::open(data_dir, &settings.claims)?;
        let integrations = providers::integrations(&settings, deployment.into())
            .map_err(|e| SetupError(e.to_string()))?;
        let (queue, jobs) = queue::channel();
        let app = App {
            store: Arc::new(TableStore::new(table, clock.clone())),
            secrets: Arc::new(secrets),
            clock,
            settings: Arc::new(settings),
            integrations,
            queue: Some(Arc::new(queue)),
        };
        queue::spawn_worker(app.clone(), jobs);
        Ok(Self {
            app,
            tokens: Arc::new(tokens),
            sandbox: None,
            cors_origins: Vec::new(),
        })
    }

    /// Serves `info` at `GET /sandbox` (sandbox mode only).
    pub fn with_sandbox_info(mut self, info: serde_json::Value) -> Self {
        self.sandbox = Some(Arc::new(info));
        self
    }

    /// Lets browsers on `origins` (`scheme://host[:port]`) call the API, as API Gateway's CORS
    /// configuration does for the portal's origins; preflights from others get no allow header.
    pub fn with_cors_origins(mut self, origins: &[String]) -> Result<Self, SetupError> {
        self.cors_origins = origins
            .iter()
            .map(|o| {
                let origin = o.trim().trim_end_matches('/');
                url::Url::parse(origin)
                    .ok()
                    .filter(|u| {
                        matches!(u.scheme(), "http" | "https")
                            && u.path() == "/"
                            && u.query().is_none()
                    })
                    .and_then(|_| HeaderValue::from_str(origin).ok())
                    .ok_or_else(|| {
                        SetupError(format!("CORS origin {o:?} is not scheme://host[:port]"))
                    })
            })
            .collect::<Result<_, _>>()?;
        Ok(self)
    }

    /// The HTTP router serving every route of the API (and `/sandbox` in sandbox mode).
    pub fn router(self) -> Router {
        let mut router = Router::new().route(PORTAL_PAGE, get(portal_page));
        if let Some(info) = self.sandbox.clone() {
            router = router.route(
                "/sandbox",
                get(move || async move {
                    Response::builder()
                        .header(header::CONTENT_TYPE, "application/json")
                        .body(Body::from(info.to_string()))
                        .expect("valid response")
                }),
            );
        }
        let cors = cors(&self.cors_origins);
        router.fallback(serve).with_state(self).layer(cors)
    }
}

/// What the template's `CorsConfiguration` allows: the methods the API uses, the request
/// headers the portal sends, the response headers it reads.
fn cors(origins: &[HeaderValue]) -> CorsLayer {
    use http::{HeaderName, Method};
    CorsLayer::new()
        .allow_origin(AllowOrigin::list(origins.iter().cloned()))
        .allow_methods([Method::GET, Method::PUT, Method::POST, Method::DELETE])
        .allow_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            header::IF_MATCH,
            HeaderName::from_static("idempotency-key"),
        ])
        .expose_headers([header::ETAG, header::LOCATION, header::RETRY_AFTER])
        .max_age(std::time::Duration::from_secs(CORS_MAX_AGE_SECS))
}

/// How long browsers may cache a preflight; the template's `MaxAge` is the same.
pub const CORS_MAX_AGE_SECS: u64 = 600;

/// The runner's stand-in for the portal's integrations page, where the OAuth callback sends
/// the browser (`PORTAL_URL` by default).
pub const PORTAL_PAGE: &str = "/portal/integrations";

/// Shows what the portal page would: the outcome the callback put in the query.
async fn portal_page(uri: http::Uri) -> Response<Body> {
    let outcome: std::collections::BTreeMap<String, String> =
        url::form_urlencoded::parse(uri.query().unwrap_or_default().as_bytes())
            .into_owned()
            .collect();
    Response::builder()
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(
            serde_json::json!({ "page": "integrations", "outcome": outcome }).to_string(),
        ))
        .expect("valid response")
}

/// Fans out scheduled syncs every `every`, like the hourly EventBridge schedule on AWS (the
/// same code: active connections from the index, one queued request each, with the same
/// per-tenant delay).
pub fn schedule(app: App, every: std::time::Duration) {
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(every);
        ticks.tick().await;
        loop {
            ticks.tick().await;
            let dispatch = metrics::published(shared::jobs::dispatch::scheduled(&app));
            match context::with_request_id(context::new_request_id(), dispatch).await {
                Ok(s) => tracing::info!(
                    connections = s.connections,
                    messages = s.messages,
                    "scheduled syncs dispatched"
                ),
                Err(e) => tracing::warn!(error = %e, "scheduled dispatch failed"),
            }
        }
    });
}

async fn serve(State(runner): State<Runner>, req: Request<Body>) -> Response<Body> {
    let (parts, body) = req.into_parts();
    // Read one byte past the limit so the API can tell "too large" from "exactly at it".
    let body = match axum::body::to_bytes(body, MAX_BODY_BYTES + 1).await {
        Ok(bytes) => bytes,
        Err(_) => return into_axum(ApiError::PayloadTooLarge.into_response()),
    };
    let claims = match parts.headers.get(header::AUTHORIZATION) {
        None => None,
        Some(value) => match runner.tokens.verify_header(value) {
            Ok(claims) => Some(claims),
            Err(_) => return into_axum(ApiError::Unauthenticated.into_response()),
        },
    };
    // As on Lambda: a request id in every log line and problem, EMF lines on stdout.
    let answer = api::handle(
        &runner.app,
        Scope::All,
        Request::from_parts(parts, body),
        claims.as_ref(),
    );
    let response =
        context::with_request_id(context::new_request_id(), metrics::published(answer)).await;
    into_axum(response)
}

fn into_axum(response: Response<Bytes>) -> Response<Body> {
    response.map(Body::from).into_response()
}
