//! Seat sync at scale against the sandbox Autotask with per-call latency: how close the engine
//! sits to the lower bound of calls, and to the wall time that bound allows at 3 calls at once.
//!
//! `cargo bench -p integration-tests --bench seat_sync` (env: `ORGS`, default 10000;
//! `CHANGED_PERCENT`, default 10; `LATENCY_MS`, default 20).

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use bytes::Bytes;
use sandbox::autotask::{DEMO_INTEGRATION_CODE, DEMO_SECRET, DEMO_USERNAME, Sandbox, State};
use secrecy::SecretString;
use serde_json::json;
use shared::{
    api::{self, App, Claims, Scope},
    config::Settings,
    domain::{
        OrgId, OrgMapping, OrgTarget, Organization, Provider, SyncKind, SyncTrigger, TenantId,
    },
    jobs::runs,
    ports::{Expect, SystemClock},
    providers::{self, autotask::IntegrationCode},
    store::{TableStore, local_secrets::LocalSecrets, sqlite::SqliteTable},
};

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .map(str::to_owned)
        })
        .and_then(|l| {
            l.split_whitespace()
                .nth(1)
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

async fn call(
    app: &App,
    claims: &Claims,
    method: &str,
    path: &str,
    body: serde_json::Value,
) -> http::StatusCode {
    let req = http::Request::builder()
        .method(method)
        .uri(path)
        .header("content-type", "application/json")
        .body(Bytes::from(body.to_string()))
        .expect("valid request");
    api::handle(app, Scope::All, req, Some(claims))
        .await
        .status()
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let orgs = env("ORGS", 10_000) as usize;
    let changed_percent = env("CHANGED_PERCENT", 10) as usize;
    let latency = Duration::from_millis(env("LATENCY_MS", 20));

    let mut state = State::empty();
    let service = state.add_service("Managed Backup - Per Seat", true);
    let fixtures: Vec<_> = (0..orgs)
        .map(|i| state.add_recurring_org(&format!("Customer {i}"), service, 10))
        .collect();
    let sandbox = Sandbox::start(state).await;

    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("store.db");
    let mut settings = Settings::default();
    settings.vendors.autotask_zone_lookup_url = sandbox.zone_lookup_url();
    settings.vendors.allow_loopback = true;
    let clock = Arc::new(SystemClock);
    let app = App {
        store: Arc::new(TableStore::new(
            SqliteTable::open(&db).expect("sqlite"),
            clock.clone(),
        )),
        secrets: Arc::new(LocalSecrets::open(&db, &dir.path().join("k")).expect("secrets")),
        clock,
        integrations: providers::integrations(
            &settings,
            IntegrationCode::Value(SecretString::from(DEMO_INTEGRATION_CODE)),
        )
        .expect("integrations"),
        settings: Arc::new(settings),
        queue: None,
    };
    let tenant = TenantId::new("bench").expect("tenant");
    let claims: Claims = [("tenant_id", "bench"), ("role", "admin")]
        .into_iter()
        .map(|(k, v)| (k.into(), v.into()))
        .collect();
    assert!(
        call(
            &app,
            &claims,
            "POST",
            "/v1/integrations/autotask/connect",
            json!({"username": DEMO_USERNAME, "secret": DEMO_SECRET})
        )
        .await
        .is_success()
    );
    assert!(call(&app, &claims, "PUT", "/v1/integrations/autotask/configuration", json!({"sync_seat_quantity": true, "ticket_type": 5, "sla": 1, "priority": 1, "queue": 29683482, "status": 1})).await.is_success());

    let setup = Instant::now();
    let every = 100usize.checked_div(changed_percent).unwrap_or(usize::MAX);
    let mut changed = 0;
    for (i, f) in fixtures.iter().enumerate() {
        let id = OrgId::new(format!("org-{i:05}")).expect("org id");
        let seats = if i % every == 0 {
            changed += 1;
            11
        } else {
            10
        };
        let now = app.clock.now();
        app.store
            .put_organization(
                &tenant,
                &Organization {
                    id: id.clone(),
                    name: format!("Customer {i}"),
                    plan_id: None,
                    seats,
                    updated_at: now,
                },
            )
            .await
            .expect("org");
        let target = OrgTarget::Autotask {
            company_id: f.company_id,
            contract_id: f.contract_id,
            contract_service_id: f.contract_service_id,
        };
        app.store
            .put_org_mapping(
                &tenant,
                &OrgMapping {
                    org_id: id,
                    target,
                    updated_at: now,
                    version: 0,
                },
                Expect::Absent,
            )
            .await
            .expect("mapping");
    }
    let setup = setup.elapsed();

    sandbox.with(|s| s.latency = latency);
    let (calls_before, service_before) = sandbox.with(|s| (s.calls(), s.service_time));
    let started = Instant::now();
    let run = runs::new_run(
        &app,
        Provider::Autotask,
        vec![SyncKind::Seats],
        SyncTrigger::Manual,
    );
    let run = runs::start(&app, &tenant, run, None).await.expect("run");
    let wall = started.elapsed();
    let (calls, service) =
        sandbox.with(|s| (s.calls() - calls_before, s.service_time - service_before));
    let served_bound = service / 3;
    let (max_in_flight, rejections) = sandbox.with(|s| {
        (
            s.max_in_flight.values().copied().max().unwrap_or(0),
            s.thread_rejections,
        )
    });

    assert_eq!(run.counts.changed as usize, changed, "{run:?}");
    let lower_bound = orgs.div_ceil(500) + changed;
    let wall_bound = Duration::from_secs_f64(calls as f64 * latency.as_secs_f64() / 3.0);
    println!(
        "seat sync benchmark: {orgs} mapped organizations, {changed} changed, {} ms per call, 3 calls at once",
        latency.as_millis()
    );
    println!("| measure | value | bound | ratio | target |");
    println!("|---|---|---|---|---|");
    println!(
        "| vendor calls | {calls} | {lower_bound} (ceil(N/500) reads + changed writes) | {:.3} | <= 1.1 |",
        calls as f64 / lower_bound as f64
    );
    println!(
        "| wall time | {:.2} s | {:.2} s (calls x latency / 3) | {:.3} | <= 1.3 |",
        wall.as_secs_f64(),
        wall_bound.as_secs_f64(),
        wall.as_secs_f64() / wall_bound.as_secs_f64()
    );
    println!(
        "| wall time vs the sandbox's measured service time | {:.2} s | {:.2} s (sum of call times / 3) | {:.3} | |",
        wall.as_secs_f64(),
        served_bound.as_secs_f64(),
        wall.as_secs_f64() / served_bound.as_secs_f64()
    );
    println!(
        "| mean call time at the sandbox | {:.2} ms | {} ms | | |",
        service.as_secs_f64() * 1000.0 / calls as f64,
        latency.as_millis()
    );
    println!("| run status | {:?} | | | succeeded |", run.status);
    println!("| max concurrent calls per endpoint | {max_in_flight} | 3 | | <= 3 |");
    println!("| thread-limit rejections | {rejections} | 0 | | 0 |");
    println!("| peak RSS | {:.1} MiB | | | |", peak_rss_mib());
    println!(
        "| setup (not measured) | {:.1} s | | | |",
        setup.as_secs_f64()
    );
}
