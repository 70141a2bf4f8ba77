//! Test support: the two storage back ends made fresh for each test, a clock tests can move,
//! the moto connection, log capture, and the portal's view of the API.

pub mod journeys;
pub mod portal;
pub mod runtime_api;

use std::{
    io,
    path::Path,
    sync::{Arc, Mutex},
};

use aws_config::{BehaviorVersion, SdkConfig};
use aws_sdk_dynamodb::config::{Credentials, Region};
use shared::{
    api::{self, App, Claims, Scope},
    config::Settings,
    ports::{Clock, Secrets, Store, SystemClock},
    providers::DeploymentSecrets,
    store::{
        TableStore, dynamodb::DynamoTable, local_secrets::LocalSecrets,
        secrets_manager::SecretsManager, sqlite::SqliteTable,
    },
};
use time::{Duration, OffsetDateTime};
use ulid::Ulid;

/// A clock that moves only when told.
#[derive(Debug)]
pub struct ManualClock(Mutex<OffsetDateTime>);

impl ManualClock {
    /// Starts at a fixed, whole-second instant.
    pub fn new() -> Arc<Self> {
        Arc::new(Self(Mutex::new(
            OffsetDateTime::from_unix_timestamp(1_800_000_000).expect("valid time"),
        )))
    }

    /// Moves time forward.
    pub fn advance(&self, by: Duration) {
        *self.0.lock().expect("clock lock") += by;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> OffsetDateTime {
        *self.0.lock().expect("clock lock")
    }
}

/// The moto server `tests/run.sh` started. Tests that need it fail loudly without it.
pub async fn moto() -> SdkConfig {
    let endpoint = std::env::var("MOTO_ENDPOINT").expect(
        "MOTO_ENDPOINT is not set: run ./tests/run.sh, which installs and starts moto for the AWS tests",
    );
    aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .credentials_provider(Credentials::new("testing", "testing", None, None, "moto"))
        .http_client(shared::sdk_http::client())
        .load()
        .await
}

/// A new DynamoDB table on moto, shaped as the template declares it; returns its name.
pub async fn moto_table(sdk: &SdkConfig) -> String {
    let name = format!("test-{}", Ulid::new());
    DynamoTable::new(aws_sdk_dynamodb::Client::new(sdk), &name)
        .create_table()
        .await
        .expect("moto creates the table");
    name
}

/// A new SQS queue on moto; returns its URL.
pub async fn moto_queue(sdk: &SdkConfig) -> String {
    aws_sdk_sqs::Client::new(sdk)
        .create_queue()
        .queue_name(format!("test-{}", Ulid::new()))
        .send()
        .await
        .expect("moto creates the queue")
        .queue_url
        .expect("a queue URL")
}

/// One storage back end, fresh and private to the test that made it.
pub struct Backend {
    /// Which back end, for messages.
    pub name: &'static str,
    /// Storage ports.
    pub store: Arc<dyn Store>,
    /// Secret port.
    pub secrets: Arc<dyn Secrets>,
    /// The clock the store judges expiry by.
    pub clock: Arc<ManualClock>,
    /// A secret-name prefix no other test uses.
    pub prefix: String,
}

impl Backend {
    /// SQLite in memory and encrypted local secrets.
    pub fn sqlite() -> Self {
        let clock = ManualClock::new();
        Self {
            name: "sqlite",
            store: Arc::new(TableStore::new(
                SqliteTable::in_memory().expect("sqlite opens"),
                clock.clone(),
            )),
            secrets: Arc::new(LocalSecrets::in_memory().expect("local secrets open")),
            clock,
            prefix: format!("test-{}", Ulid::new()),
        }
    }

    /// DynamoDB (a new table) and Secrets Manager on moto.
    pub async fn dynamodb() -> Self {
        let sdk = moto().await;
        let clock = ManualClock::new();
        let table = DynamoTable::new(aws_sdk_dynamodb::Client::new(&sdk), moto_table(&sdk).await);
        Self {
            name: "dynamodb",
            store: Arc::new(TableStore::new(table, clock.clone())),
            secrets: Arc::new(SecretsManager::new(&sdk)),
            clock,
            prefix: format!("test-{}", Ulid::new()),
        }
    }

    /// An [`App`] over this back end, with the integrations the functions build (no Autotask
    /// integration code: connects are refused) and no queue (runs execute in the request).
    pub fn app(&self) -> App {
        let settings = Settings::with_prefix(self.prefix.clone());
        App {
            store: self.store.clone(),
            secrets: self.secrets.clone(),
            clock: self.clock.clone(),
            integrations: shared::providers::integrations(&settings, DeploymentSecrets::default())
                .expect("default settings are valid"),
            settings: Arc::new(settings),
            queue: None,
        }
    }
}

/// A portal call as `tenant`'s admin, straight through the API handler the functions run:
/// the status and the JSON answer (`null` when there is none).
pub async fn as_admin(
    app: &App,
    tenant: &str,
    method: &str,
    path: &str,
    body: serde_json::Value,
) -> (http::StatusCode, serde_json::Value) {
    let claims: Claims = [("tenant_id", tenant), ("role", "admin")]
        .into_iter()
        .map(|(k, v)| (k.into(), v.into()))
        .collect();
    let req = http::Request::builder()
        .method(method)
        .uri(path)
        .header("content-type", "application/json")
        .body(bytes::Bytes::from(body.to_string()))
        .expect("a valid request");
    let response = api::handle(app, Scope::All, req, Some(&claims)).await;
    (
        response.status(),
        serde_json::from_slice(response.body()).unwrap_or(serde_json::Value::Null),
    )
}

/// An [`App`] over SQLite and local secrets in `dir`, the system clock, the integrations the
/// functions build and no queue (runs execute where they start): the benchmarks' worker.
pub fn sqlite_app(dir: &Path, settings: Settings, code: impl Into<DeploymentSecrets>) -> App {
    let db = dir.join("store.db");
    let clock = Arc::new(SystemClock);
    App {
        store: Arc::new(TableStore::new(
            SqliteTable::open(&db).expect("sqlite"),
            clock.clone(),
        )),
        secrets: Arc::new(LocalSecrets::open(&db, &dir.join("k")).expect("secrets")),
        clock,
        integrations: shared::providers::integrations(&settings, code.into())
            .expect("integrations"),
        settings: Arc::new(settings),
        queue: None,
    }
}

/// Settings pointed at a sandbox Autotask (loopback allowed, a short vendor timeout so fault
/// tests run quickly).
pub fn sandbox_settings(sandbox: &sandbox::autotask::Sandbox, secrets_prefix: &str) -> Settings {
    let mut settings = Settings::with_prefix(secrets_prefix);
    settings.vendors.autotask_zone_lookup_url = sandbox.zone_lookup_url();
    settings.vendors.allow_loopback = true;
    settings.vendors.timeout_secs = 2;
    settings
}

/// Everything logged while the guard lives, on this thread, as the functions format it.
#[derive(Clone, Default)]
pub struct LogCapture(Arc<Mutex<Vec<u8>>>);

impl LogCapture {
    /// Captures every level as JSON lines until the guard drops.
    pub fn start(&self) -> tracing::subscriber::DefaultGuard {
        let writer = self.clone();
        let subscriber = tracing_subscriber::fmt()
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .with_max_level(tracing::Level::TRACE)
            .with_writer(move || writer.clone())
            .finish();
        tracing::subscriber::set_default(subscriber)
    }

    /// What was logged so far.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().expect("log lock")).into_owned()
    }
}

impl io::Write for LogCapture {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.lock().expect("log lock").extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
