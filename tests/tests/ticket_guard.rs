//! One ticket per alert whatever the concurrency: raises of one dedupe key from two "processes"
//! (two apps, each with its own store client, over one SQLite file or one DynamoDB table on
//! moto) at each PSA sandbox, and an alert storm whose repeats are counted, not each posted.

use std::{sync::Arc, time::Duration as StdDuration};

use futures::{StreamExt, stream};
use http::StatusCode;
use integration_tests::ManualClock;
use secrecy::SecretString;
use serde_json::{Value, json};
use shared::{
    api::App,
    aws::SecretSource,
    config::Settings,
    providers::DeploymentSecret,
    store::{TableStore, local_secrets::LocalSecrets, sqlite::SqliteTable},
};
use tempfile::TempDir;
use time::Duration;

const TENANT: &str = "storm-msp";
const ORG: &str = "acme";

/// The PSA sandbox a test raises alerts at.
enum Psa {
    Autotask(sandbox::autotask::Sandbox),
    Halo(sandbox::halopsa::Sandbox),
}

impl Psa {
    async fn start(name: &str) -> Self {
        match name {
            "autotask" => Psa::Autotask(sandbox::autotask::Sandbox::demo().await),
            _ => Psa::Halo(sandbox::halopsa::Sandbox::demo().await),
        }
    }

    fn provider(&self) -> &'static str {
        match self {
            Psa::Autotask(_) => "autotask",
            Psa::Halo(_) => "halopsa",
        }
    }

    fn settings(&self, prefix: &str) -> Settings {
        let mut settings = match self {
            Psa::Autotask(s) => integration_tests::sandbox_settings(s, prefix),
            Psa::Halo(_) => Settings::with_prefix(prefix),
        };
        settings.vendors.allow_loopback = true;
        settings
    }

    /// Tickets the vendor holds.
    fn tickets(&self) -> usize {
        match self {
            Psa::Autotask(s) => s.with(|s| s.raised_tickets()),
            Psa::Halo(s) => s.with(|s| s.tickets.len()),
        }
    }

    /// The text of every note on tickets.
    fn notes(&self) -> Vec<String> {
        match self {
            Psa::Autotask(s) => s.with(|s| {
                s.entities["TicketNotes"]
                    .values()
                    .map(|n| n["description"].as_str().unwrap_or_default().to_owned())
                    .collect()
            }),
            Psa::Halo(s) => s.with(|s| {
                s.actions
                    .iter()
                    .map(|a| a["note"].as_str().unwrap_or_default().to_owned())
                    .collect()
            }),
        }
    }

    /// Requests the vendor answered.
    fn calls(&self) -> u64 {
        match self {
            Psa::Autotask(s) => s.with(|s| s.calls()),
            Psa::Halo(s) => s.with(|s| s.calls),
        }
    }

    /// Connect, ticket defaults, and the org mapped (through the API, as the portal does).
    async fn set_up(&self, app: &App) {
        match self {
            Psa::Autotask(_) => {
                let steps = [
                    (
                        "POST",
                        "/v1/integrations/autotask/connect",
                        json!({"username": sandbox::autotask::DEMO_USERNAME, "secret": sandbox::autotask::DEMO_SECRET}),
                    ),
                    (
                        "PUT",
                        "/v1/integrations/autotask/configuration",
                        json!({"sync_seat_quantity": true, "ticket_type": 5, "sla": 1, "priority": 1, "queue": 29683482, "status": 1}),
                    ),
                    ("PUT", "/v1/plans/backup", json!({"name": "Backup"})),
                    (
                        "PUT",
                        "/v1/integrations/autotask/plan-mappings/backup",
                        json!({"service_id": 1001}),
                    ),
                    (
                        "PUT",
                        "/v1/organizations/acme",
                        json!({"name": "Acme Dental", "plan_id": "backup", "seats": 10}),
                    ),
                    (
                        "PUT",
                        "/v1/integrations/autotask/org-mappings/acme",
                        json!({"company_id": 1004, "contract_id": 1005, "contract_service_id": 1006}),
                    ),
                ];
                for (method, path, body) in steps {
                    let (status, reply) = call(app, method, path, body).await;
                    assert!(status.is_success(), "{method} {path}: {reply}");
                }
            }
            Psa::Halo(s) => {
                let steps = [
                    (
                        "POST",
                        "/v1/integrations/halopsa/connect",
                        json!({"site_url": s.site_url(), "client_id": sandbox::halopsa::DEMO_CLIENT_ID, "client_secret": sandbox::halopsa::DEMO_CLIENT_SECRET}),
                    ),
                    (
                        "PUT",
                        "/v1/integrations/halopsa/configuration",
                        json!({"sync_seat_quantity": true, "ticket_type_id": 3, "sla_id": 2, "priority_id": 1}),
                    ),
                    (
                        "PUT",
                        "/v1/organizations/acme",
                        json!({"name": "Acme Corporation", "seats": 12}),
                    ),
                    (
                        "PUT",
                        "/v1/integrations/halopsa/org-mappings/acme",
                        json!({"customer_id": 101, "licence_id": 105}),
                    ),
                ];
                for (method, path, body) in steps {
                    let (status, reply) = call(app, method, path, body).await;
                    assert!(status.is_success(), "{method} {path}: {reply}");
                }
            }
        }
    }
}

/// Two apps over one store, as two Lambdas would be, judging time by one manual clock.
struct Pair {
    apps: [App; 2],
    clock: Arc<ManualClock>,
    _dir: Option<TempDir>,
}

async fn pair(backend: &str, psa: &Psa) -> Pair {
    let clock = ManualClock::new();
    let prefix = format!("test-{}", ulid::Ulid::new());
    let settings = psa.settings(&prefix);
    let code = || SecretString::from(sandbox::autotask::DEMO_INTEGRATION_CODE);
    match backend {
        "sqlite" => {
            let dir = tempfile::tempdir().unwrap();
            let app = || {
                let table = SqliteTable::open(&dir.path().join("store.db")).unwrap();
                let secrets = LocalSecrets::open(
                    &dir.path().join("secrets.db"),
                    &dir.path().join("secrets.key"),
                )
                .unwrap();
                App {
                    store: Arc::new(TableStore::new(table, clock.clone())),
                    secrets: Arc::new(secrets),
                    clock: clock.clone(),
                    integrations: shared::providers::integrations(
                        &settings,
                        DeploymentSecret::Value(code()).into(),
                    )
                    .unwrap(),
                    settings: Arc::new(settings.clone()),
                    queue: None,
                }
            };
            Pair {
                apps: [app(), app()],
                clock: clock.clone(),
                _dir: Some(dir),
            }
        }
        _ => {
            let sdk = integration_tests::moto().await;
            let table = integration_tests::moto_table(&sdk).await;
            let app = || {
                let mut app = shared::aws::app(
                    &sdk,
                    &table,
                    settings.clone(),
                    SecretSource::Value(code()).into(),
                    None,
                )
                .unwrap();
                // Expiry of stored items stays on the system clock; the ticket rules (claims,
                // the storm window) follow the app's clock, which the test moves.
                app.clock = clock.clone();
                app
            };
            Pair {
                apps: [app(), app()],
                clock: clock.clone(),
                _dir: None,
            }
        }
    }
}

async fn call(app: &App, method: &str, path: &str, body: Value) -> (StatusCode, Value) {
    integration_tests::as_admin(app, TENANT, method, path, body).await
}

fn alert() -> Value {
    json!({"org_id": ORG, "dedupe_key": "backup-failed:acme:srv1", "title": "Backup failed on SRV1", "description": "The nightly job failed"})
}

/// Raises the alert `n` times, at most `at_once` in flight, alternating between the two apps
/// on the runtime's worker threads; returns each answer's action and ticket id.
async fn raise(pair: &Pair, provider: &str, n: usize, at_once: usize) -> Vec<(String, i64)> {
    let path = format!("/v1/integrations/{provider}/tickets");
    stream::iter(0..n)
        .map(|i| {
            let app = pair.apps[i % 2].clone();
            let path = path.clone();
            tokio::spawn(async move {
                let (status, body) = call(&app, "POST", &path, alert()).await;
                assert!(status.is_success(), "raise {i}: {status} {body}");
                (
                    body["action"].as_str().unwrap().to_owned(),
                    body["ticket_id"].as_i64().unwrap(),
                )
            })
        })
        .buffer_unordered(at_once)
        .map(|joined| joined.unwrap())
        .collect()
        .await
}

fn count(outcomes: &[(String, i64)], action: &str) -> usize {
    outcomes.iter().filter(|(a, _)| a == action).count()
}

async fn one_ticket_whatever_the_concurrency(backend: &str, psa_name: &str) {
    let psa = Psa::start(psa_name).await;
    let pair = pair(backend, &psa).await;
    psa.set_up(&pair.apps[0]).await;
    let provider = psa.provider();
    let context = format!("{psa_name} on {backend}");

    // 16 identical alerts at the same moment: one ticket, the others counted on it.
    let first = raise(&pair, provider, 16, 16).await;
    assert_eq!(psa.tickets(), 1, "{context}: one ticket for 16 raises");
    assert_eq!(count(&first, "opened"), 1, "{context}: {first:?}");
    assert_eq!(count(&first, "coalesced"), 15, "{context}: {first:?}");
    let ticket_id = first[0].1;
    assert!(first.iter().all(|(_, id)| *id == ticket_id), "{first:?}");
    assert!(
        psa.notes().is_empty(),
        "{context}: repeats are not each posted"
    );

    // A storm: 1,000 more in the next minute cost the vendor nothing while the window lasts.
    let before = psa.calls();
    let storm = raise(&pair, provider, 500, 32).await;
    pair.clock.advance(Duration::seconds(30));
    let storm2 = raise(&pair, provider, 500, 32).await;
    assert_eq!(
        count(&storm, "coalesced") + count(&storm2, "coalesced"),
        1000
    );
    assert_eq!(
        psa.calls(),
        before,
        "{context}: no vendor call inside the window"
    );

    // After the window, the next repeat adds one note telling every counted repeat: none lost
    // to the races between the raises and the two processes.
    pair.clock.advance(Duration::minutes(10));
    let after = raise(&pair, provider, 1, 1).await;
    assert_eq!(after, [("noted".to_owned(), ticket_id)], "{context}");
    let notes = psa.notes();
    assert_eq!(notes.len(), 1, "{context}: {notes:?}");
    assert!(
        notes[0].contains("This alert occurred 1015 more times since 2027-01-15T08:00:00Z"),
        "{context}: {}",
        notes[0]
    );
    let storm_calls = psa.calls() - before;
    assert!(
        storm_calls <= 4,
        "{context}: 1,016 repeats cost {storm_calls} vendor calls"
    );
    println!("{context}: 1,000-alert storm and its closing note: {storm_calls} vendor calls");

    // Concurrent repeats once the window has passed again: one note, the others counted.
    pair.clock.advance(Duration::minutes(11));
    let again = raise(&pair, provider, 16, 16).await;
    assert_eq!(
        (count(&again, "noted"), count(&again, "coalesced")),
        (1, 15),
        "{context}: {again:?}"
    );
    assert_eq!(psa.notes().len(), 2);
    assert_eq!(psa.tickets(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixteen_concurrent_raises_open_one_autotask_ticket_on_sqlite() {
    one_ticket_whatever_the_concurrency("sqlite", "autotask").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixteen_concurrent_raises_open_one_autotask_ticket_on_dynamodb() {
    one_ticket_whatever_the_concurrency("dynamodb", "autotask").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixteen_concurrent_raises_open_one_halopsa_ticket_on_sqlite() {
    one_ticket_whatever_the_concurrency("sqlite", "halopsa").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixteen_concurrent_raises_open_one_halopsa_ticket_on_dynamodb() {
    one_ticket_whatever_the_concurrency("dynamodb", "halopsa").await;
}

/// A raise that dies holding the claim on a new key blocks others only until the claim lapses;
/// the next raise then adopts what the dead one may have opened.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_claim_whose_raise_died_lapses() {
    let psa = Psa::start("autotask").await;
    let pair = pair("sqlite", &psa).await;
    psa.set_up(&pair.apps[0]).await;
    let app = &pair.apps[0];
    let key = alert()["dedupe_key"].as_str().unwrap().to_owned();
    let tenant = shared::domain::TenantId::new(TENANT).unwrap();
    let provider = shared::domain::Provider::Autotask;
    let dead = shared::domain::TicketRecord::claimed_new(
        &key,
        "a-raise-that-died",
        app.clock.now(),
        Duration::minutes(3),
    );
    app.store
        .put_ticket(&tenant, provider, &dead, shared::ports::Expect::Absent)
        .await
        .unwrap();
    pair.clock.advance(Duration::minutes(4));
    let outcome = tokio::time::timeout(StdDuration::from_secs(10), raise(&pair, "autotask", 1, 1))
        .await
        .expect("the lapsed claim does not block");
    assert_eq!(outcome[0].0, "opened");
    assert_eq!(psa.tickets(), 1);
}
