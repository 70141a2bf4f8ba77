//! Asset import at scale against the sandbox NinjaOne with per-call latency: 50 linked
//! organizations x 200 devices. Calls against the lower bound (roles + location pages +
//! device pages of 1000) and wall time against the time those calls take back to back.
//!
//! `cargo bench -p integration-tests --bench asset_import` (env: `ORGS`, default 50;
//! `DEVICES`, default 200 per organization; `LATENCY_MS`, default 20).

use std::time::{Duration, Instant};

use integration_tests::portal::Portal;
use sandbox::ninjaone::{DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, Sandbox, State};
use serde_json::json;
use shared::{
    config::Settings,
    domain::{
        OrgId, OrgMapping, OrgTarget, Organization, Provider, SyncKind, SyncTrigger, TenantId,
    },
    jobs::runs,
    ports::Expect,
    providers::DeploymentSecret,
};

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let orgs = env("ORGS", 50) as usize;
    let per_org = env("DEVICES", 200) as usize;
    let latency = Duration::from_millis(env("LATENCY_MS", 20));
    const API: &str = "http://api.bench.example";

    let mut state = State::empty();
    let mut vendor_orgs = Vec::new();
    for i in 0..orgs {
        let org = state.add_organization(&format!("Customer {i}"));
        let location = state.add_location(org, "Main office");
        for d in 0..per_org {
            state.add_device(org, Some(location), &format!("PC-{i}-{d}"));
        }
        vendor_orgs.push(org);
    }
    state
        .redirect_uris
        .push(format!("{API}/v1/oauth/ninjaone/callback"));
    let sandbox = Sandbox::start(state).await;
    let mut settings = Settings::with_prefix("bench");
    settings.vendors.allow_loopback = true;
    settings.vendors.ninjaone_base_url = Some(sandbox.base_url());
    settings.public_api_url = Some(API.into());
    settings.portal_url = Some("https://portal.bench.example/integrations".into());
    let portal = Portal::with_settings(settings, DeploymentSecret::Missing);
    let admin = portal.admin("bench");

    // Consent, as the partner's browser would go through it.
    let started = portal
        .post(
            "/v1/integrations/ninjaone/connect",
            &admin,
            json!({"region": "us", "client_id": DEMO_CLIENT_ID, "client_secret": DEMO_CLIENT_SECRET}),
        )
        .await;
    let browser = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let back = browser
        .get(started.body["authorize_url"].as_str().expect("consent URL"))
        .send()
        .await
        .expect("consent page");
    let location = back.headers()["location"]
        .to_str()
        .expect("redirect")
        .to_owned();
    let landed = portal
        .raw(
            http::Method::GET,
            &location[API.len()..],
            None,
            None,
            vec![],
        )
        .await;
    assert_eq!(landed.status, http::StatusCode::SEE_OTHER);

    let app = portal.runner.app.clone();
    let tenant = TenantId::new("bench").expect("tenant");
    for (i, vendor) in vendor_orgs.iter().enumerate() {
        let id = OrgId::new(format!("org-{i:03}")).expect("org id");
        let now = app.clock.now();
        app.store
            .put_organization(
                &tenant,
                &Organization {
                    id: id.clone(),
                    name: format!("Customer {i}"),
                    plan_id: None,
                    seats: 1,
                    updated_at: now,
                },
            )
            .await
            .expect("org");
        app.store
            .put_org_mapping(
                &tenant,
                &OrgMapping {
                    org_id: id,
                    target: OrgTarget::Ninjaone {
                        organization_id: *vendor,
                    },
                    updated_at: now,
                    version: 0,
                },
                Expect::Absent,
            )
            .await
            .expect("mapping");
    }

    sandbox.with(|s| s.latency = latency);
    let before = sandbox.with(|s| s.calls);
    let started = Instant::now();
    let mut app_direct = app.clone();
    app_direct.queue = None;
    let run = runs::new_run(
        &app_direct,
        Provider::Ninjaone,
        vec![SyncKind::Assets],
        SyncTrigger::Manual,
    );
    let run = runs::start(&app_direct, &tenant, run, None)
        .await
        .expect("run");
    let wall = started.elapsed();
    let calls = (sandbox.with(|s| s.calls) - before) as usize;
    let devices = orgs * per_org;
    assert_eq!(run.counts.changed as usize, devices, "{run:?}");

    // Roles once, locations and devices in pages of 1000 (a full last page costs one more).
    let pages = |n: usize| n / 1000 + 1;
    let lower_bound = 1 + pages(orgs) + orgs.div_ceil(100).max(1) - 1 + pages(devices);
    let bound = latency.mul_f64(calls as f64);
    println!(
        "asset import benchmark: {orgs} linked organizations x {per_org} devices, {} ms per call",
        latency.as_millis()
    );
    println!("| measure | value | bound | ratio | target |");
    println!("|---|---|---|---|---|");
    println!(
        "| vendor calls | {calls} | {lower_bound} (roles + location pages + device pages of 1000) | {:.3} | <= 1.1 |",
        calls as f64 / lower_bound as f64
    );
    println!(
        "| wall time | {:.2} s | {:.2} s (calls x latency) | {:.3} | |",
        wall.as_secs_f64(),
        bound.as_secs_f64(),
        wall.as_secs_f64() / bound.as_secs_f64()
    );
    println!(
        "| assets written per second | {:.0} | | | |",
        devices as f64 / wall.as_secs_f64()
    );
    println!("| run status | {:?} | | | succeeded |", run.status);
}
