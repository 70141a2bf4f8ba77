//! Autotask imports at scale (seed 004) against the sandbox Autotask with per-call latency:
//! 2,000 customers with 20 contacts, 2 locations, 30 configuration items, 50 tickets, 2
//! opportunities and 2 contracts each (and a lead per ten customers, which stays out). A
//! full run of the seven kinds, then a run after 1% of each kind changed.
//!
//! The worker (the store and the import engine) runs in a child process of this benchmark,
//! so its peak memory is its own, not the sandbox's.
//!
//! `./tests/bench.sh --bench imports` (env: `CUSTOMERS`, default 2000; `LATENCY_MS`,
//! default 20).

use std::{
    io::{BufRead, BufReader, Write},
    path::Path,
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use sandbox::autotask::{self, Sandbox, State, Volumes};
use secrecy::SecretString;
use serde_json::{Value, json};
use shared::{
    api::App,
    config::Settings,
    domain::{ImportKind, Provider, SyncTrigger, TenantId},
    jobs::runs,
    providers::DeploymentSecret,
};

/// Set in the child process: the sandbox's zone lookup URL.
const WORKER: &str = "IMPORTS_BENCH_ZONE_LOOKUP_URL";
/// Records per page.
const PAGE: usize = 500;
/// Pages Autotask lets one connection have in flight per endpoint.
const IN_FLIGHT: f64 = 3.0;
/// Entity metadata reads the imports need: the picklists of Companies, Tickets,
/// Opportunities, Contracts and ConfigurationItems, and the ConfigurationItemTypes entity.
const PICKLIST_READS: usize = 6;

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
                .and_then(|l| l.split_whitespace().nth(1).map(str::to_owned))
        })
        .and_then(|kb| kb.parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

/// CPU time this process has used (user + system), from `/proc/self/stat`.
fn cpu_secs() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // The fields after the command name, which ends with ')'.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or("", |(_, rest)| rest)
        .split_whitespace()
        .collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name; 100 Hz.
    (ticks(11) + ticks(12)) / 100.0
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    match std::env::var(WORKER) {
        Ok(zone) => worker(&zone).await,
        Err(_) => bench().await,
    }
}

fn app(dir: &Path, zone: &str) -> App {
    let mut settings = Settings::with_prefix("bench");
    settings.vendors.autotask_zone_lookup_url = zone.to_owned();
    settings.vendors.allow_loopback = true;
    integration_tests::sqlite_app(
        dir,
        settings,
        DeploymentSecret::Value(SecretString::from(autotask::DEMO_INTEGRATION_CODE)),
    )
}

async fn call(app: &App, method: &str, path: &str, body: Value) {
    let (status, answer) = integration_tests::as_admin(app, "bench", method, path, body).await;
    assert!(status.is_success(), "{method} {path}: {status} {answer}");
}

/// The child: connects and configures, then runs the seven imports each time it is told,
/// answering with the run and its own peak memory.
async fn worker(zone: &str) {
    let dir = tempfile::tempdir().expect("temp dir");
    let app = app(dir.path(), zone);
    call(
        &app,
        "POST",
        "/v1/integrations/autotask/connect",
        json!({"username": autotask::DEMO_USERNAME, "secret": autotask::DEMO_SECRET}),
    )
    .await;
    call(
        &app,
        "PUT",
        "/v1/integrations/autotask/configuration",
        json!({"customer_types": [1], "opportunity_statuses": [1]}),
    )
    .await;
    let tenant = TenantId::new("bench").expect("tenant");
    let kinds = ImportKind::ALL.map(ImportKind::sync_kind).to_vec();
    let mut out = std::io::stdout();
    writeln!(out, "ready").expect("stdout");
    for line in std::io::stdin().lock().lines() {
        if line.expect("stdin") != "run" {
            break;
        }
        let started = Instant::now();
        let cpu = cpu_secs();
        let run = runs::new_run(&app, Provider::Autotask, kinds.clone(), SyncTrigger::Manual);
        let run = runs::start(&app, &tenant, run, None).await.expect("run");
        let report = json!({
            "wall_secs": started.elapsed().as_secs_f64(),
            "status": run.status.as_str(),
            "records": run.counts.total,
            "continued": run.continued,
            "peak_rss_mib": peak_rss_mib(),
            "cpu_secs": cpu_secs() - cpu,
        });
        writeln!(out, "{report}").expect("stdout");
    }
}

/// Changes every hundredth record of each kind, as users in Autotask would.
fn change_one_percent(state: &mut State) {
    let edits: [(&'static str, &str); 7] = [
        ("Companies", "phone"),
        ("Contacts", "lastName"),
        ("CompanyLocations", "name"),
        ("ConfigurationItems", "referenceTitle"),
        ("Tickets", "title"),
        ("Opportunities", "title"),
        ("Contracts", "contractName"),
    ];
    for (entity, field) in edits {
        let ids: Vec<i64> = state.entities[entity]
            .iter()
            .filter(|(_, r)| entity != "Companies" || r["companyType"] == 1)
            .map(|(id, _)| *id)
            .step_by(100)
            .collect();
        for id in ids {
            state.change(entity, id, |r| r[field] = json!("changed"));
        }
    }
}

async fn bench() {
    let customers = env("CUSTOMERS", 2000) as usize;
    let latency = Duration::from_millis(env("LATENCY_MS", 20));
    let volumes = Volumes {
        customers,
        contacts: 20,
        locations: 2,
        assets: 30,
        tickets: 50,
        opportunities: 2,
        agreements: 2,
    };
    let sandbox = Sandbox::start(State::imports(volumes)).await;
    let mut child = Command::new(std::env::current_exe().expect("this benchmark"))
        .env(WORKER, sandbox.zone_lookup_url())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("the worker starts");
    let mut to_worker = child.stdin.take().expect("stdin");
    let mut from_worker = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let mut read_line = move || from_worker.next().expect("a line").expect("utf-8");
    assert_eq!(tokio::task::block_in_place(&mut read_line), "ready");
    sandbox.with(|s| s.latency = latency);

    let mut run = |label: &str| {
        let (calls, service) = sandbox.with(|s| {
            s.requests_by.clear();
            (s.calls(), s.service_time)
        });
        let sandbox_cpu = cpu_secs();
        writeln!(to_worker, "run").expect("stdin");
        let report: Value =
            serde_json::from_str(&tokio::task::block_in_place(&mut read_line)).expect("a report");
        let (calls_after, in_flight, rejections, served, by) = sandbox.with(|s| {
            (
                s.calls(),
                s.max_in_flight.values().copied().max().unwrap_or(0),
                s.thread_rejections,
                s.service_time - service,
                s.requests_by.clone(),
            )
        });
        assert_eq!(report["status"], "succeeded", "{label}: {report}");
        println!(
            "\n{label} run, calls by endpoint: {by:?}; sandbox service time {:.2} s; CPU: worker {:.2} s, sandbox {:.2} s",
            served.as_secs_f64(),
            report["cpu_secs"].as_f64().unwrap_or(f64::NAN),
            cpu_secs() - sandbox_cpu
        );
        (calls_after - calls, in_flight, rejections, report)
    };

    let (calls, in_flight, rejections, full) = run("full");
    let per_customer = [
        1,
        volumes.contacts,
        volumes.locations,
        volumes.assets,
        volumes.tickets,
        volumes.opportunities,
        volumes.agreements,
    ];
    let pages: usize = per_customer
        .iter()
        .map(|n| (customers * n).div_ceil(PAGE))
        .sum();
    let lower = pages + PICKLIST_READS;
    let wall = full["wall_secs"].as_f64().unwrap();
    let wall_bound = calls as f64 * latency.as_secs_f64() / IN_FLIGHT;
    let records: usize = per_customer.iter().map(|n| customers * n).sum();
    println!();
    println!(
        "Autotask imports, full run: {customers} customers, {records} records of 7 kinds, {} ms per call, {} pages in flight",
        latency.as_millis(),
        IN_FLIGHT
    );
    println!("| measure | value | bound | ratio | target |");
    println!("|---|---|---|---|---|");
    println!(
        "| vendor calls | {calls} | {lower} (sum over kinds of ceil(records/500) = {pages}, + {PICKLIST_READS} picklist reads) | {:.3} | <= 1.05 |",
        calls as f64 / lower as f64
    );
    println!(
        "| wall time | {wall:.2} s | {wall_bound:.2} s (calls x latency / 3) | {:.3} | <= 1.3 |",
        wall / wall_bound
    );
    println!(
        "| worker peak RSS | {:.1} MiB | 64 MiB | | <= 64 MiB |",
        full["peak_rss_mib"].as_f64().unwrap()
    );
    println!(
        "| records stored | {} | {records} | | all |",
        full["records"]
    );
    println!("| max concurrent calls per endpoint | {in_flight} | 3 | | <= 3 |");
    println!("| thread-limit rejections | {rejections} | 0 | | 0 |");

    sandbox.with(change_one_percent);
    let (calls, _, _, incremental) = run("incremental");
    let changed_pages: usize = per_customer
        .iter()
        .map(|n| (customers * n).div_ceil(100).div_ceil(PAGE))
        .sum();
    let bound = 7 + changed_pages;
    println!();
    println!("Autotask imports, the next run after 1% of each kind changed");
    println!("| measure | value | bound | ratio | target |");
    println!("|---|---|---|---|---|");
    println!(
        "| vendor calls | {calls} | {bound} (7 kinds + {changed_pages} pages of changed records) | {:.3} | <= 1.2 |",
        calls as f64 / bound as f64
    );
    println!(
        "| wall time | {:.2} s | | | |",
        incremental["wall_secs"].as_f64().unwrap()
    );
    println!("| records read | {} | | | |", incremental["records"]);
    drop(to_worker);
    let _ = child.wait();
}
