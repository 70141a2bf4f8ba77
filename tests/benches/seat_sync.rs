//! Seat sync at scale against the sandbox vendors with per-call latency: how close the engine
//! sits to the lower bound of calls, and to the wall time the vendor's limits allow (Autotask:
//! 3 calls at once; HaloPSA: the rolling-window budget, scaled down so the run takes seconds;
//! ConnectWise: 4 calls at once, organizations sharing agreements).
//!
//! `cargo bench -p integration-tests --bench seat_sync` (env: `ORGS`, default 10000;
//! `CHANGED_PERCENT`, default 10; `LATENCY_MS`, default 20; `PROVIDERS`, default
//! `autotask,halopsa,connectwise`; `HALO_WINDOW_SECS`, default 3: Halo's 5-minute window
//! scaled 100x down; `CW_AGREEMENTS`, default 2000).

use std::{
    path::Path,
    time::{Duration, Instant},
};

use sandbox::{autotask, connectwise, halopsa};
use secrecy::SecretString;
use serde_json::{Value, json};
use shared::{
    api::App,
    config::Settings,
    domain::{
        OrgId, OrgMapping, OrgTarget, Organization, Provider, SyncKind, SyncRun, SyncTrigger,
        TenantId,
    },
    jobs::runs,
    ports::Expect,
    providers::{DeploymentSecret, DeploymentSecrets},
};

/// Records per page both vendors are read with.
const PAGE: usize = 500;

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

fn app(dir: &Path, settings: Settings) -> App {
    integration_tests::sqlite_app(
        dir,
        settings,
        DeploymentSecrets {
            autotask_integration_code: DeploymentSecret::Value(SecretString::from(
                autotask::DEMO_INTEGRATION_CODE,
            )),
            connectwise_client_id: DeploymentSecret::Value(SecretString::from(
                connectwise::DEMO_CLIENT_ID,
            )),
        },
    )
}

/// A portal call as the bench tenant's admin; panics unless it succeeds.
async fn call(app: &App, method: &str, path: &str, body: Value) {
    let (status, answer) = integration_tests::as_admin(app, "bench", method, path, body).await;
    assert!(status.is_success(), "{method} {path}: {status} {answer}");
}

fn tenant() -> TenantId {
    TenantId::new("bench").expect("tenant")
}

/// Stores the organizations and their mappings directly (the API path is tested elsewhere);
/// every `100 / changed_percent`-th organization gets one seat more than the vendor has.
/// Returns how many differ.
async fn map_orgs(
    app: &App,
    targets: Vec<OrgTarget>,
    vendor_seats: u32,
    changed_percent: usize,
) -> usize {
    let every = 100usize.checked_div(changed_percent).unwrap_or(usize::MAX);
    let mut changed = 0;
    for (i, target) in targets.into_iter().enumerate() {
        let id = OrgId::new(format!("org-{i:05}")).expect("org id");
        let seats = if i % every == 0 {
            changed += 1;
            vendor_seats + 1
        } else {
            vendor_seats
        };
        let now = app.clock.now();
        app.store
            .put_organization(
                &tenant(),
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
        app.store
            .put_org_mapping(
                &tenant(),
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
    changed
}

async fn run_seats(app: &App, provider: Provider) -> (SyncRun, Duration) {
    let started = Instant::now();
    let run = runs::new_run(app, provider, vec![SyncKind::Seats], SyncTrigger::Manual);
    let run = runs::start(app, &tenant(), run, None).await.expect("run");
    (run, started.elapsed())
}

fn header(title: String) {
    println!();
    println!("{title}");
    println!("| measure | value | bound | ratio | target |");
    println!("|---|---|---|---|---|");
}

async fn autotask(orgs: usize, changed_percent: usize, latency: Duration) {
    let mut state = autotask::State::empty();
    let service = state.add_service("Managed Backup - Per Seat", true);
    let fixtures: Vec<_> = (0..orgs)
        .map(|i| state.add_recurring_org(&format!("Customer {i}"), service, 10))
        .collect();
    let sandbox = autotask::Sandbox::start(state).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let mut settings = Settings::default();
    settings.vendors.autotask_zone_lookup_url = sandbox.zone_lookup_url();
    settings.vendors.allow_loopback = true;
    let app = app(dir.path(), settings);
    call(
        &app,
        "POST",
        "/v1/integrations/autotask/connect",
        json!({"username": autotask::DEMO_USERNAME, "secret": autotask::DEMO_SECRET}),
    )
    .await;
    call(&app, "PUT", "/v1/integrations/autotask/configuration", json!({"sync_seat_quantity": true, "ticket_type": 5, "sla": 1, "priority": 1, "queue": 29683482, "status": 1})).await;
    let targets = fixtures
        .iter()
        .map(|f| OrgTarget::Autotask {
            company_id: f.company_id,
            contract_id: Some(f.contract_id),
            contract_service_id: Some(f.contract_service_id),
        })
        .collect();
    let changed = map_orgs(&app, targets, 10, changed_percent).await;

    sandbox.with(|s| s.latency = latency);
    let (calls_before, service_before) = sandbox.with(|s| (s.calls(), s.service_time));
    let (run, wall) = run_seats(&app, Provider::Autotask).await;
    let (calls, service) =
        sandbox.with(|s| (s.calls() - calls_before, s.service_time - service_before));
    let (max_in_flight, rejections) = sandbox.with(|s| {
        (
            s.max_in_flight.values().copied().max().unwrap_or(0),
            s.thread_rejections,
        )
    });
    assert_eq!(run.counts.changed as usize, changed, "{run:?}");

    let lower_bound = orgs.div_ceil(PAGE) + changed;
    let wall_bound = Duration::from_secs_f64(calls as f64 * latency.as_secs_f64() / 3.0);
    let served_bound = service / 3;
    header(format!(
        "Autotask seat sync: {orgs} mapped organizations, {changed} changed, {} ms per call, 3 calls at once",
        latency.as_millis()
    ));
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
}

async fn halopsa(orgs: usize, changed_percent: usize, latency: Duration, window: Duration) {
    // Hosted Halo: 300 calls per rolling window; we budget 200 of them, 2 at once.
    let (vendor_limit, budget, concurrency) = (300usize, 200u32, 2usize);
    let mut state = halopsa::State::empty();
    state.rate_limit = vendor_limit;
    state.rate_window = window;
    let customer = state.add_customer("Bench Holdings", true);
    let licences: Vec<i64> = (0..orgs)
        .map(|i| state.add_licence(customer, &format!("Backup {i}"), 10))
        .collect();
    let sandbox = halopsa::Sandbox::start(state).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let mut settings = Settings::default();
    settings.vendors.allow_loopback = true;
    settings.vendors.halopsa_window_budget = budget;
    settings.vendors.halopsa_window_secs = window.as_secs();
    settings.vendors.halopsa_concurrency = concurrency;
    let app = app(dir.path(), settings);
    call(
        &app,
        "POST",
        "/v1/integrations/halopsa/connect",
        json!({"site_url": sandbox.site_url(), "client_id": halopsa::DEMO_CLIENT_ID, "client_secret": halopsa::DEMO_CLIENT_SECRET}),
    )
    .await;
    call(
        &app,
        "PUT",
        "/v1/integrations/halopsa/configuration",
        json!({"sync_seat_quantity": true, "ticket_type_id": 3, "sla_id": 2, "priority_id": 1}),
    )
    .await;
    let targets = licences
        .iter()
        .map(|l| OrgTarget::Halopsa {
            customer_id: customer,
            licence_id: *l,
        })
        .collect();
    let changed = map_orgs(&app, targets, 10, changed_percent).await;
    // A fresh window for the run, as after a quiet hour.
    tokio::time::sleep(window).await;

    sandbox.with(|s| s.latency = latency);
    let (calls_before, service_before, tokens_before) =
        sandbox.with(|s| (s.calls, s.service_time, s.tokens_issued));
    let (run, wall) = run_seats(&app, Provider::Halopsa).await;
    let (calls, service, tokens, rejected, max_in_flight) = sandbox.with(|s| {
        (
            (s.calls - calls_before) as usize,
            s.service_time - service_before,
            (s.tokens_issued - tokens_before) as usize,
            s.rate_limited,
            s.max_in_flight,
        )
    });
    assert_eq!(run.counts.changed as usize, changed, "{run:?}");

    // Reads: every licence in pages of 500; writes: one per change; tokens the run needed
    // (none while the one cached at configuration time is valid).
    let lower_bound = orgs.div_ceil(PAGE) + changed + tokens;
    // No client can beat the budget: after the first window's share, each further share needs
    // a window to roll. Nor the latency at 2 calls at once.
    let budget_bound = window.mul_f64(((calls - 1) / budget as usize) as f64);
    let latency_bound = latency.mul_f64(calls as f64 / concurrency as f64);
    let wall_bound = budget_bound.max(latency_bound);
    header(format!(
        "HaloPSA seat sync: {orgs} mapped organizations, {changed} changed, {} ms per call, {concurrency} at once, budget {budget} of the vendor's {vendor_limit} per {} s window (5 minutes scaled down {}x)",
        latency.as_millis(),
        window.as_secs(),
        300 / window.as_secs().max(1)
    ));
    println!(
        "| vendor calls | {calls} | {lower_bound} (ceil(N/500) reads + changed writes + {tokens} token requests) | {:.3} | <= 1.1 |",
        calls as f64 / lower_bound as f64
    );
    println!(
        "| wall time | {:.2} s | {:.2} s (max of budget: floor((calls-1)/{budget}) windows, latency: calls x latency / {concurrency}) | {:.3} | <= 1.3 |",
        wall.as_secs_f64(),
        wall_bound.as_secs_f64(),
        wall.as_secs_f64() / wall_bound.as_secs_f64()
    );
    println!(
        "| mean call time at the sandbox | {:.2} ms | {} ms | | |",
        service.as_secs_f64() * 1000.0 / calls as f64,
        latency.as_millis()
    );
    println!("| run status | {:?} | | | succeeded |", run.status);
    println!("| max calls in flight | {max_in_flight} | {concurrency} | | <= {concurrency} |");
    println!("| 429s from the vendor | {rejected} | 0 | | 0 |");
}

async fn connectwise(orgs: usize, agreements: usize, changed_percent: usize, latency: Duration) {
    let concurrency = 4usize;
    let (state, _, links) = connectwise::State::seats(connectwise::SeatVolumes {
        agreements,
        additions_per_agreement: orgs.div_ceil(agreements.max(1)),
    });
    let orgs = links.len();
    let sandbox = connectwise::Sandbox::start(state).await;
    // ConnectWise throttles past about 1,000 calls a minute; the bench measures the client
    // against latency, so neither the sandbox's limit nor our budget paces it.
    sandbox.with(|s| s.rate_limit = 1_000_000);
    let dir = tempfile::tempdir().expect("temp dir");
    let mut settings = Settings::default();
    settings.vendors.allow_loopback = true;
    settings.vendors.connectwise_concurrency = concurrency;
    settings.vendors.connectwise_minute_budget = 100_000;
    let app = app(dir.path(), settings);
    call(
        &app,
        "POST",
        "/v1/integrations/connectwise/connect",
        json!({"site": sandbox.site(), "company_id": connectwise::DEMO_COMPANY, "public_key": connectwise::DEMO_PUBLIC_KEY, "private_key": connectwise::DEMO_PRIVATE_KEY}),
    )
    .await;
    call(
        &app,
        "PUT",
        "/v1/integrations/connectwise/configuration",
        json!({"sync_seat_quantity": true}),
    )
    .await;
    let targets = links
        .iter()
        .map(
            |&(company_id, agreement_id, addition_id)| OrgTarget::Connectwise {
                company_id,
                agreement_id,
                addition_id,
            },
        )
        .collect();
    let changed = map_orgs(&app, targets, 10, changed_percent).await;

    sandbox.with(|s| s.latency = latency);
    let (calls_before, service_before) = sandbox.with(|s| (s.calls, s.service_time));
    let (run, wall) = run_seats(&app, Provider::Connectwise).await;
    let (calls, service, rejected, max_in_flight) = sandbox.with(|s| {
        (
            (s.calls - calls_before) as usize,
            s.service_time - service_before,
            s.rate_limited,
            s.max_in_flight,
        )
    });
    assert_eq!(run.counts.changed as usize, changed, "{run:?}");

    let lower_bound = agreements + changed;
    let wall_bound = latency.mul_f64(calls as f64 / concurrency as f64);
    header(format!(
        "ConnectWise seat sync: {orgs} mapped organizations over {agreements} agreements, {changed} changed, {} ms per call, {concurrency} at once",
        latency.as_millis()
    ));
    println!(
        "| vendor calls | {calls} | {lower_bound} (distinct agreements + changed additions) | {:.3} | <= 1.05 |",
        calls as f64 / lower_bound as f64
    );
    println!(
        "| wall time | {:.2} s | {:.2} s (calls x latency / {concurrency}) | {:.3} | <= 1.3 |",
        wall.as_secs_f64(),
        wall_bound.as_secs_f64(),
        wall.as_secs_f64() / wall_bound.as_secs_f64()
    );
    println!(
        "| mean call time at the sandbox | {:.2} ms | {} ms | | |",
        service.as_secs_f64() * 1000.0 / calls as f64,
        latency.as_millis()
    );
    println!("| run status | {:?} | | | succeeded |", run.status);
    println!("| max calls in flight | {max_in_flight} | {concurrency} | | <= {concurrency} |");
    println!("| 429s from the vendor | {rejected} | 0 | | 0 |");
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let orgs = env("ORGS", 10_000) as usize;
    let changed_percent = env("CHANGED_PERCENT", 10) as usize;
    let latency = Duration::from_millis(env("LATENCY_MS", 20));
    let window = Duration::from_secs(env("HALO_WINDOW_SECS", 3).max(1));
    let agreements = env("CW_AGREEMENTS", 2_000) as usize;
    let providers =
        std::env::var("PROVIDERS").unwrap_or_else(|_| "autotask,halopsa,connectwise".into());
    let started = Instant::now();
    for provider in providers.split(',').map(str::trim) {
        match provider {
            "autotask" => autotask(orgs, changed_percent, latency).await,
            "halopsa" => halopsa(orgs, changed_percent, latency, window).await,
            "connectwise" => connectwise(orgs, agreements, changed_percent, latency).await,
            other => panic!("unknown provider {other:?} in PROVIDERS"),
        }
    }
    println!();
    println!(
        "peak RSS {:.1} MiB; whole benchmark (setup included) {:.1} s",
        peak_rss_mib(),
        started.elapsed().as_secs_f64()
    );
}
