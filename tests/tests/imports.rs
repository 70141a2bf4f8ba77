//! Seed 004's imports through the HTTP API against the sandbox Autotask: customers (the chosen
//! company types only) and their contacts, linked to the organizations their companies map
//! to; later runs read only what changed; inactivations flagged; revoke forgets everything.

use http::StatusCode;
use integration_tests::{journeys, portal::Portal};
use sandbox::autotask::{DEMO_INTEGRATION_CODE, Sandbox};
use serde_json::{Value, json};
use shared::domain::Provider;
use shared::providers::DeploymentSecret;

const TENANT: &str = "vcio-msp";

fn portal(sandbox: &Sandbox) -> Portal {
    Portal::with_settings(
        integration_tests::sandbox_settings(sandbox, "msp-integrations"),
        DeploymentSecret::Value(DEMO_INTEGRATION_CODE.to_owned().into()),
    )
}

async fn sync(portal: &Portal, admin: &str, kind: &str) -> Value {
    let started = portal
        .post(
            "/v1/integrations/autotask/sync",
            admin,
            json!({"kinds": [kind]}),
        )
        .await;
    assert_eq!(started.status, StatusCode::ACCEPTED, "{}", started.body);
    let run = portal
        .finished_run(
            Provider::Autotask,
            started.body["id"].as_str().unwrap(),
            admin,
        )
        .await;
    assert_eq!(run["status"], "succeeded", "{run}");
    run
}

async fn imported(portal: &Portal, admin: &str, query: &str) -> Vec<Value> {
    let mut all = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let path = match &after {
            Some(a) => format!("/v1/integrations/autotask/imports/{query}&limit=2&after={a}"),
            None => format!("/v1/integrations/autotask/imports/{query}&limit=2"),
        };
        let page = portal.get(&path, admin).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        all.extend(page.body["items"].as_array().unwrap().iter().cloned());
        match page.body["next"].as_str() {
            Some(next) => after = Some(next.to_owned()),
            None => return all,
        }
    }
}

fn names(records: &[Value], field: &str) -> Vec<String> {
    let mut names: Vec<String> = records
        .iter()
        .map(|r| r["fields"][field].as_str().unwrap_or_default().to_owned())
        .collect();
    names.sort();
    names
}

#[tokio::test]
async fn customers_and_their_contacts_import_then_stay_current_cheaply() {
    let sandbox = Sandbox::demo().await;
    let portal = portal(&sandbox);
    let admin = portal.admin(TENANT);
    // Acme Dental's company is linked to the platform's "acme" (seed 000's mapping).
    journeys::autotask_acme_mapped(&portal, &admin, "acme", 10).await;

    let run = sync(&portal, &admin, "customers").await;
    let customers = imported(&portal, &admin, "customers?active=true").await;
    assert_eq!(
        names(&customers, "companyName"),
        ["Acme Dental", "Globex Corporation", "Initech LLC"],
        "customers only (no Lead), active ones"
    );
    let all_customers = imported(&portal, &admin, "customers?").await;
    let umbrella = all_customers
        .iter()
        .find(|c| c["fields"]["companyName"] == "Umbrella Corp")
        .expect("an inactive customer is imported, flagged");
    assert_eq!(umbrella["active"], false);
    assert_eq!(run["counts"]["changed"], all_customers.len());
    let acme = customers
        .iter()
        .find(|c| c["fields"]["companyName"] == "Acme Dental")
        .unwrap();
    assert_eq!(acme["org_id"], "acme");
    let acme_company = acme["company_id"].as_i64().unwrap();
    assert!(acme["modified_at"].is_string());
    assert!(
        acme["fields"].get("lastTrackedModifiedDateTime").is_none(),
        "only the fields kept"
    );

    sync(&portal, &admin, "contacts").await;
    let contacts = imported(&portal, &admin, "contacts?active=true").await;
    assert_eq!(
        contacts.len(),
        6,
        "3 at Acme, 1 each at Globex and Initech and Umbrella, none at the Lead"
    );
    let at_acme = imported(&portal, &admin, "contacts?org_id=acme").await;
    assert_eq!(names(&at_acme, "firstName"), ["Ana", "Ben", "Chen"]);
    assert!(at_acme.iter().all(|c| c["company_id"] == acme_company));
    let by_company = imported(
        &portal,
        &admin,
        &format!("contacts?company_id={acme_company}"),
    )
    .await;
    assert_eq!(by_company.len(), 3);

    // A change in Autotask: one contact renamed, one inactivated. The next run reads only what
    // changed (and what sits within the overlap of the last stamp seen).
    let ben = at_acme
        .iter()
        .find(|c| c["fields"]["firstName"] == "Ben")
        .unwrap()["id"]
        .as_i64()
        .unwrap();
    let chen = at_acme
        .iter()
        .find(|c| c["fields"]["firstName"] == "Chen")
        .unwrap()["id"]
        .as_i64()
        .unwrap();
    sandbox.with(|s| {
        s.change("Contacts", ben, |c| c["lastName"] = json!("Okafor-Smith"));
        s.change("Contacts", chen, |c| c["isActive"] = json!(0));
    });
    let calls = sandbox.with(|s| s.calls());
    let again = sync(&portal, &admin, "contacts").await;
    let read = again["counts"]["changed"].as_u64().unwrap();
    assert!(
        (2..=3).contains(&read),
        "the two changed contacts (and at most one within the overlap): {again}"
    );
    assert!(
        sandbox.with(|s| s.calls()) - calls <= 2,
        "one page for one chunk of customers"
    );
    let at_acme = imported(&portal, &admin, "contacts?org_id=acme").await;
    let ben_now = at_acme.iter().find(|c| c["id"] == ben).unwrap();
    assert_eq!(ben_now["fields"]["lastName"], "Okafor-Smith");
    let chen_now = at_acme.iter().find(|c| c["id"] == chen).unwrap();
    assert_eq!(chen_now["active"], false);
    assert_eq!(
        imported(&portal, &admin, "contacts?active=true")
            .await
            .len(),
        5
    );

    // Locations carry no change stamp: every pass reads them all (a few per customer).
    let first = sync(&portal, &admin, "locations").await;
    let sites = imported(&portal, &admin, "locations?org_id=acme").await;
    assert_eq!(names(&sites, "name"), ["Lab", "Main Office"]);
    let all_sites = imported(&portal, &admin, "locations?").await;
    assert_eq!(
        all_sites.len(),
        5,
        "2 at Acme, 1 at each other customer, none at the Lead"
    );
    let again = sync(&portal, &admin, "locations").await;
    assert_eq!(again["counts"]["changed"], first["counts"]["changed"]);

    // Kinds and filters the API does not know are refused clearly.
    let unknown = portal
        .get("/v1/integrations/autotask/imports/devices", &admin)
        .await;
    unknown.problem(StatusCode::BAD_REQUEST);
    let halo = portal
        .get("/v1/integrations/halopsa/imports/customers", &admin)
        .await;
    halo.problem(StatusCode::NOT_FOUND);
    let wrong_kind = portal
        .post(
            "/v1/integrations/halopsa/sync",
            &admin,
            json!({"kinds": ["contacts"]}),
        )
        .await;
    assert_eq!(wrong_kind.field_errors(), ["kinds"]);

    // Revoke: contacts are the partner's customers' personal data; none stay.
    portal.delete("/v1/integrations/autotask", &admin).await;
    assert!(imported(&portal, &admin, "contacts?").await.is_empty());
    assert!(imported(&portal, &admin, "customers?").await.is_empty());
}

#[tokio::test]
async fn auto_match_links_imported_customers_by_name_and_seat_sync_skips_company_only_links() {
    let sandbox = Sandbox::demo().await;
    let portal = portal(&sandbox);
    let admin = portal.admin(TENANT);
    journeys::autotask_acme_mapped(&portal, &admin, "acme", 25).await;
    for (org, name) in [("globex", "Globex Corp."), ("hooli", "Hooli Prospects")] {
        let reply = portal
            .put(
                &format!("/v1/organizations/{org}"),
                &admin,
                json!({"name": name, "seats": 7}),
            )
            .await;
        assert!(reply.status.is_success(), "{}", reply.body);
    }
    sync(&portal, &admin, "customers").await;
    let globex_company = imported(&portal, &admin, "customers?active=true")
        .await
        .into_iter()
        .find(|c| c["fields"]["companyName"] == "Globex Corporation")
        .unwrap()["id"]
        .as_i64()
        .unwrap();

    // Candidates are the imported customers: Globex matches; Hooli is a Lead, never imported.
    let report = portal
        .post(
            "/v1/integrations/autotask/org-mappings/auto-match",
            &admin,
            json!({}),
        )
        .await;
    assert_eq!(report.status, StatusCode::OK, "{}", report.body);
    assert_eq!(
        report.body["matched"][0]["org_id"], "globex",
        "{}",
        report.body
    );
    assert_eq!(report.body["matched"][0]["organization_id"], globex_company);
    assert_eq!(report.body["already_linked"][0]["org_id"], "acme");
    assert_eq!(report.body["unmatched"][0]["org_id"], "hooli");
    let mappings = portal
        .get("/v1/integrations/autotask/org-mappings", &admin)
        .await;
    let globex = mappings.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["org_id"] == "globex")
        .unwrap();
    assert_eq!(
        globex["target"],
        json!({"provider": "autotask", "company_id": globex_company})
    );
    assert_eq!(globex["state"], "linked");

    // The link shows on what was imported before it, without another import.
    let linked = imported(&portal, &admin, "customers?org_id=globex").await;
    assert_eq!(names(&linked, "companyName"), ["Globex Corporation"]);
    assert_eq!(linked[0]["org_id"], "globex");
    assert!(
        imported(&portal, &admin, "customers?org_id=hooli")
            .await
            .is_empty()
    );

    // A contract without its contract service links nothing seat sync could write.
    let half = portal
        .put(
            "/v1/integrations/autotask/org-mappings/hooli",
            &admin,
            json!({"company_id": globex_company, "contract_id": 1005}),
        )
        .await;
    assert_eq!(
        half.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        half.body
    );
    assert_eq!(half.field_errors(), ["contract_service_id"]);

    // Seat sync writes Acme's seats and counts Globex's company-only link as skipped.
    let run = sync(&portal, &admin, "seats").await;
    assert_eq!(run["counts"]["total"], 2, "{run}");
    assert_eq!(run["counts"]["skipped"], 1, "{run}");
    assert_eq!(run["counts"]["changed"], 1, "{run}");
    let units = sandbox.with(|s| s.units_on(1006, &today())).unwrap();
    assert_eq!(units, 25);
}

fn today() -> String {
    time::OffsetDateTime::now_utc().date().to_string()
}
