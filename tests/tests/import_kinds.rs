//! Seed 004's seven imports through the HTTP API against the sandbox Autotask: what the
//! partner's defaults keep and drop, picklist labels, the org's assets, an incremental run
//! after changes, deletions (the ticket log, a location gone at the next full pass), and a
//! long import that saves its place and goes on in queued runs.

use http::StatusCode;
use integration_tests::{journeys, portal::Portal};
use sandbox::{
    Fault, FaultKind,
    autotask::{DEMO_INTEGRATION_CODE, Sandbox},
};
use serde_json::{Value, json};
use shared::{config::Settings, domain::Provider, providers::DeploymentSecret};

const TENANT: &str = "vcio-msp";

fn portal_with(sandbox: &Sandbox, change: impl FnOnce(&mut Settings)) -> Portal {
    let mut settings = integration_tests::sandbox_settings(sandbox, "msp-integrations");
    change(&mut settings);
    Portal::with_settings(
        settings,
        DeploymentSecret::Value(DEMO_INTEGRATION_CODE.to_owned().into()),
    )
}

async fn start(portal: &Portal, admin: &str, kinds: &[&str]) -> Value {
    let started = portal
        .post(
            "/v1/integrations/autotask/sync",
            admin,
            json!({ "kinds": kinds }),
        )
        .await;
    assert_eq!(started.status, StatusCode::ACCEPTED, "{}", started.body);
    portal
        .finished_run(
            Provider::Autotask,
            started.body["id"].as_str().unwrap(),
            admin,
        )
        .await
}

async fn sync(portal: &Portal, admin: &str, kinds: &[&str]) -> Value {
    let run = start(portal, admin, kinds).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    run
}

async fn imported(portal: &Portal, admin: &str, query: &str) -> Vec<Value> {
    let reply = portal
        .get(&format!("/v1/integrations/autotask/imports/{query}"), admin)
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert!(reply.body["next"].is_null(), "one page: {}", reply.body);
    reply.body["items"].as_array().unwrap().clone()
}

fn field(records: &[Value], name: &str) -> Vec<String> {
    let mut out: Vec<String> = records
        .iter()
        .map(|r| r["fields"][name].as_str().unwrap_or_default().to_owned())
        .collect();
    out.sort();
    out
}

/// Acme Dental linked and configured with the seed's defaults: workstations and servers,
/// managed-services contracts, active opportunities, 30 days of ticket history.
async fn configured(portal: &Portal, admin: &str) {
    journeys::autotask_acme_mapped(portal, admin, "acme", 10).await;
    let reply = portal
        .put(
            "/v1/integrations/autotask/configuration",
            admin,
            json!({"sync_seat_quantity": true, "ticket_type": 5, "sla": 1, "priority": 1,
                "queue": 29683482, "status": 1, "asset_types": [1, 2],
                "contract_categories": [7], "opportunity_statuses": [1],
                "ticket_history_days": 30}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
}

#[tokio::test]
async fn each_kind_imports_what_the_defaults_choose_with_labels_then_only_changes() {
    let sandbox = Sandbox::demo().await;
    let portal = portal_with(&sandbox, |_| {});
    let admin = portal.admin(TENANT);
    configured(&portal, &admin).await;

    let kinds = [
        "customers",
        "contacts",
        "locations",
        "assets",
        "tickets",
        "opportunities",
        "agreements",
    ];
    let run = sync(&portal, &admin, &kinds).await;
    let mut done: Vec<&str> = run["kinds_done"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k.as_str().unwrap())
        .collect();
    done.sort_unstable();
    let mut all = kinds.to_vec();
    all.sort_unstable();
    assert_eq!(done, all, "{run}");
    assert_eq!(run["by_kind"]["assets"]["total"], 12, "{run}");
    assert_eq!(run["by_kind"]["customers"]["total"], 4, "{run}");
    assert_eq!(run["continued"], 0);

    // Configuration items of the chosen types only (no switch, no retired printer type), with
    // their type's label; the org's assets are Acme's.
    let assets = imported(&portal, &admin, "assets?org_id=acme").await;
    assert_eq!(
        field(&assets, "referenceTitle"),
        ["Acme SRV-01", "Acme WS-01", "Acme WS-02"]
    );
    assert_eq!(
        field(&assets, "configurationItemTypeLabel"),
        ["Server", "Workstation", "Workstation"]
    );
    assert_eq!(
        imported(&portal, &admin, "assets?").await.len(),
        12,
        "3 at each of the 4 customers, none at the Lead"
    );
    let org_assets = portal.get("/v1/organizations/acme/assets", &admin).await;
    let items = org_assets.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 3, "{}", org_assets.body);
    assert!(items.iter().all(|a| a["source"] == "autotask"));
    let ws = items.iter().find(|a| a["name"] == "Acme WS-01").unwrap();
    assert_eq!(ws["warrantyExpire"], "2028-06-30");
    assert_eq!(ws["TypeId"], 1);

    // Tickets: the open one, and the completed one within the 30 days; not the old one.
    let tickets = imported(&portal, &admin, "tickets?org_id=acme").await;
    assert_eq!(
        field(&tickets, "title"),
        ["Acme Dental: VPN drops", "Acme Dental: printer jam"]
    );
    let vpn = tickets
        .iter()
        .find(|t| t["fields"]["title"] == "Acme Dental: VPN drops")
        .unwrap();
    assert_eq!(vpn["fields"]["status"], 8);
    assert_eq!(vpn["fields"]["statusLabel"], "In Progress");
    assert_eq!(vpn["fields"]["queueIDLabel"], "Client Portal");
    assert_eq!(vpn["active"], true);
    let jam = tickets
        .iter()
        .find(|t| t["fields"]["title"] == "Acme Dental: printer jam")
        .unwrap();
    assert_eq!(jam["active"], false, "complete");

    // Opportunities of the chosen statuses (not the lost one), with stage and status labels.
    let opportunities = imported(&portal, &admin, "opportunities?org_id=acme").await;
    assert_eq!(
        field(&opportunities, "title"),
        ["Acme Dental: Backup expansion"]
    );
    assert_eq!(
        opportunities[0]["fields"]["stageLabel"],
        "Stage 1 First Contact"
    );
    assert_eq!(opportunities[0]["fields"]["statusLabel"], "Active");
    assert_eq!(
        imported(&portal, &admin, "opportunities?").await.len(),
        4,
        "one per customer; the Lead's is not imported"
    );

    // Agreements of the chosen categories: not the block hours, not Umbrella's break/fix.
    let agreements = imported(&portal, &admin, "agreements?").await;
    assert_eq!(
        field(&agreements, "contractName"),
        [
            "Acme Dental Managed Services",
            "Globex Corporation Managed Services",
            "Initech LLC Managed Services"
        ]
    );
    assert_eq!(
        agreements[0]["fields"]["contractTypeLabel"],
        "Recurring Service"
    );
    assert_eq!(
        agreements[0]["fields"]["contractCategoryLabel"],
        "IT:Managed Services"
    );

    // Changes in Autotask: the VPN ticket completed, a workstation inactivated. The next run
    // reads only what changed, a call or two per kind.
    let vpn_id = vpn["id"].as_i64().unwrap();
    let ws_id = ws["device_id"].as_i64().unwrap();
    sandbox.with(|s| {
        s.change("Tickets", vpn_id, |t| t["status"] = json!(5));
        s.change("ConfigurationItems", ws_id, |c| {
            c["isActive"] = json!(false)
        });
    });
    let calls = sandbox.with(|s| s.calls());
    let again = sync(&portal, &admin, &["tickets", "assets"]).await;
    assert!(
        again["counts"]["changed"].as_u64().unwrap() <= 4,
        "the two changed records (and what sits in the overlap): {again}"
    );
    let spent = sandbox.with(|s| s.calls()) - calls;
    assert!(
        spent <= 4,
        "{spent} calls for two kinds with one change each"
    );
    let vpn_now = imported(&portal, &admin, "tickets?org_id=acme&active=false").await;
    assert!(
        vpn_now
            .iter()
            .any(|t| t["id"] == vpn_id && t["fields"]["statusLabel"] == "Complete"),
        "{vpn_now:?}"
    );
    let org_assets = portal.get("/v1/organizations/acme/assets", &admin).await;
    let ws_now = org_assets.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["device_id"] == ws_id)
        .unwrap()
        .clone();
    assert_eq!(ws_now["removed"], true, "an inactive configuration item");

    // The Lead becomes a customer: its records did not change, yet the next runs over what
    // changed bring them all, as they are new to us.
    let hooli = sandbox.with(|s| {
        let id = *s.entities["Companies"]
            .iter()
            .find(|(_, c)| c["companyName"] == "Hooli Prospects")
            .unwrap()
            .0;
        s.change("Companies", id, |c| c["companyType"] = json!(1));
        id
    });
    sync(&portal, &admin, &["customers", "contacts", "opportunities"]).await;
    let contacts = imported(&portal, &admin, &format!("contacts?company_id={hooli}")).await;
    assert_eq!(field(&contacts, "firstName"), ["Ana"]);
    let opportunities = imported(
        &portal,
        &admin,
        &format!("opportunities?company_id={hooli}"),
    )
    .await;
    assert_eq!(opportunities.len(), 1);
    // Once read, they are not read in full again: a page per kind, holding only what sits
    // within the overlap of each kind's newest stamp.
    let calls = sandbox.with(|s| s.calls());
    let quiet = sync(&portal, &admin, &["customers", "contacts", "opportunities"]).await;
    assert!(quiet["counts"]["total"].as_u64().unwrap() <= 6, "{quiet}");
    assert_eq!(sandbox.with(|s| s.calls()) - calls, 3);
}

#[tokio::test]
async fn deleted_records_go_from_the_imports() {
    let sandbox = Sandbox::demo().await;
    let portal = portal_with(&sandbox, |_| {});
    let admin = portal.admin(TENANT);
    configured(&portal, &admin).await;
    sync(&portal, &admin, &["customers", "tickets", "locations"]).await;
    let tickets = imported(&portal, &admin, "tickets?org_id=acme").await;
    assert_eq!(tickets.len(), 2);

    // A ticket deleted in Autotask: its deletion log says so and the next run removes it.
    let gone = tickets[0]["id"].as_i64().unwrap();
    sandbox.with(|s| s.delete_ticket(gone));
    sync(&portal, &admin, &["tickets"]).await;
    let left = imported(&portal, &admin, "tickets?org_id=acme").await;
    assert_eq!(left.len(), 1);
    assert_ne!(left[0]["id"], gone);

    // Locations have no change stamp: every pass reads them all, and one no longer there
    // goes (no deletion log exists for them).
    let lab = imported(&portal, &admin, "locations?org_id=acme")
        .await
        .into_iter()
        .find(|l| l["fields"]["name"] == "Lab")
        .unwrap()["id"]
        .as_i64()
        .unwrap();
    sandbox.with(|s| {
        s.entities.get_mut("CompanyLocations").unwrap().remove(&lab);
    });
    sync(&portal, &admin, &["locations"]).await;
    let sites = imported(&portal, &admin, "locations?org_id=acme").await;
    assert_eq!(field(&sites, "name"), ["Main Office"]);

    // Were nearly all of them missing (a permission taken away looks the same), they stay.
    let ids: Vec<i64> = sandbox.with(|s| s.entities["CompanyLocations"].keys().copied().collect());
    let kept = sandbox.with(|s| {
        let all = s.entities.get_mut("CompanyLocations").unwrap();
        ids.iter()
            .filter_map(|id| all.remove(id))
            .collect::<Vec<_>>()
    });
    assert_eq!(
        kept.len(),
        5,
        "Lab is gone already; the Lead's site was never imported"
    );
    let run = sync(&portal, &admin, &["locations"]).await;
    assert_eq!(imported(&portal, &admin, "locations?").await.len(), 4);
    assert!(
        run["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("did not find 4 of the 4 stored records"),
        "{run}"
    );
}

#[tokio::test]
async fn a_long_import_saves_its_place_and_goes_on_in_queued_runs() {
    let sandbox = Sandbox::demo().await;
    // No time to work: every run reads one page, then goes on in a queued run.
    let portal = portal_with(&sandbox, |s| s.import_work_secs = 0);
    let admin = portal.admin(TENANT);
    configured(&portal, &admin).await;
    sandbox.with(|s| s.page_size = 2);
    let run = sync(&portal, &admin, &["customers", "contacts"]).await;
    // A run reads a page and the one already on its way.
    assert!(
        run["continued"].as_u64().unwrap() >= 2,
        "4 customers and 6 contacts at 2 a page: {run}"
    );
    assert_eq!(run["counts"]["total"], 10, "{run}");
    assert_eq!(run["kinds_done"], json!(["customers", "contacts"]));
    assert_eq!(imported(&portal, &admin, "customers?").await.len(), 4);
    assert_eq!(imported(&portal, &admin, "contacts?").await.len(), 6);
}

#[tokio::test]
async fn a_run_autotask_throttles_for_long_waits_with_its_place_saved() {
    let sandbox = Sandbox::demo().await;
    let portal = portal_with(&sandbox, |_| {});
    let admin = portal.admin(TENANT);
    configured(&portal, &admin).await;
    sandbox.with(|s| s.page_size = 1);
    // Autotask throttles the import for an hour: longer than a call waits.
    sandbox.with(|s| {
        s.faults.push(Fault {
            matches: "POST /Companies/query".into(),
            kind: FaultKind::Respond {
                status: 429,
                body: json!({"errors": ["The request threshold for this database has been exceeded."]}),
                retry_after: Some(3600),
            },
            times: 1,
        });
    });
    let started = portal
        .post(
            "/v1/integrations/autotask/sync",
            &admin,
            json!({"kinds": ["customers"]}),
        )
        .await;
    let id = started.body["id"].as_str().unwrap().to_owned();
    let mut run = Value::Null;
    for _ in 0..200 {
        run = portal
            .get(&format!("/v1/integrations/autotask/sync-runs/{id}"), &admin)
            .await
            .body;
        if run["continued"] == 1 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    assert_eq!(run["status"], "queued", "waiting out the hour: {run}");
    assert_eq!(run["continued"], 1, "{run}");
    assert!(run["errors"].as_array().unwrap().is_empty(), "{run}");
}

#[tokio::test]
async fn the_primary_asset_source_decides_whose_assets_an_organization_shows() {
    let autotask = Sandbox::demo().await;
    let ninja = sandbox::ninjaone::Sandbox::demo().await;
    ninja.with(|s| {
        s.redirect_uris
            .push(format!("{}/v1/oauth/ninjaone/callback", journeys::API))
    });
    let portal = portal_with(&autotask, |s| {
        s.vendors.ninjaone_base_url = Some(ninja.base_url());
        s.public_api_url = Some(journeys::API.into());
        s.portal_url = Some(journeys::PORTAL.into());
    });
    let admin = portal.admin(TENANT);
    // "acme-ninja" is NinjaOne's ACME Dental and Autotask's Acme Dental (a company link).
    journeys::ninjaone_acme_linked(&portal, &admin).await;
    configured(&portal, &admin).await;
    let link = portal
        .put(
            "/v1/integrations/autotask/org-mappings/acme-ninja",
            &admin,
            json!({"company_id": 1004}),
        )
        .await;
    assert!(link.status.is_success(), "{}", link.body);
    let devices = portal
        .post(
            "/v1/integrations/ninjaone/sync",
            &admin,
            json!({"kinds": ["assets"]}),
        )
        .await;
    portal
        .finished_run(
            Provider::Ninjaone,
            devices.body["id"].as_str().unwrap(),
            &admin,
        )
        .await;
    sync(&portal, &admin, &["customers", "assets"]).await;
    let sources = |body: &Value| -> Vec<String> {
        let mut s: Vec<String> = body["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["source"].as_str().unwrap().to_owned())
            .collect();
        s.dedup();
        s
    };

    // Autotask's configuration items by default.
    let assets = portal
        .get("/v1/organizations/acme-ninja/assets", &admin)
        .await;
    assert_eq!(sources(&assets.body), ["autotask"], "{}", assets.body);
    // NinjaOne's devices once the partner says so.
    let mut settings = portal
        .get("/v1/integrations/autotask/configuration", &admin)
        .await
        .body["settings"]
        .clone();
    settings.as_object_mut().unwrap().remove("provider");
    settings["primary_asset_source"] = json!("ninjaone");
    let saved = portal
        .put("/v1/integrations/autotask/configuration", &admin, settings)
        .await;
    assert_eq!(saved.status, StatusCode::OK, "{}", saved.body);
    let assets = portal
        .get("/v1/organizations/acme-ninja/assets", &admin)
        .await;
    assert_eq!(sources(&assets.body), ["ninjaone"], "{}", assets.body);
}
