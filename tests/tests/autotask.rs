//! Autotask end to end through the HTTP API (the local runner's router) against the sandbox
//! Autotask: connect, configure, map, seat sync, tickets, revoke, and the faults a real
//! Autotask produces.

use std::time::Duration;

use http::StatusCode;
use integration_tests::portal::{Portal, Reply};
use sandbox::{
    Fault, FaultKind,
    autotask::{DEMO_INTEGRATION_CODE, DEMO_SECRET, DEMO_USERNAME, Sandbox, State},
};
use secrecy::SecretString;
use serde_json::{Value, json};
use shared::{
    config::Settings,
    domain::{OrgId, Provider, SeatIntent, TenantId},
    providers::DeploymentSecret,
};

const TENANT: &str = "acme-msp";

struct World {
    sandbox: Sandbox,
    portal: Portal,
    admin: String,
}

async fn world_with(state: State, code: &str) -> World {
    let sandbox = Sandbox::start(state).await;
    let mut settings = integration_tests::sandbox_settings(&sandbox, "msp-integrations");
    // Every repeat is posted, so these tests see notes and reopened tickets at once; the storm
    // window is tested in ticket_guard.rs.
    settings.ticket_storm_window_secs = 0;
    let portal = Portal::with_settings(
        settings,
        DeploymentSecret::Value(SecretString::from(code.to_owned())),
    );
    let admin = portal.admin(TENANT);
    World {
        sandbox,
        portal,
        admin,
    }
}

async fn world() -> World {
    world_with(sandbox::autotask::State::demo(), DEMO_INTEGRATION_CODE).await
}

fn id_of(w: &World, entity: &'static str, field: &str, value: &str) -> i64 {
    w.sandbox.with(|s| {
        s.entities[entity]
            .values()
            .find(|r| r[field].as_str() == Some(value))
            .and_then(|r| r["id"].as_i64())
            .unwrap_or_else(|| panic!("no {entity} with {field} {value}"))
    })
}

fn contract_service_of(w: &World, company: &str) -> (i64, i64, i64) {
    let company_id = id_of(w, "Companies", "companyName", company);
    w.sandbox.with(|s| {
        let contract = s.entities["Contracts"]
            .values()
            .find(|c| c["companyID"].as_i64() == Some(company_id) && c["contractType"] == 7)
            .unwrap()["id"]
            .as_i64()
            .unwrap();
        let cs = s.entities["ContractServices"]
            .values()
            .find(|c| c["contractID"].as_i64() == Some(contract))
            .unwrap()["id"]
            .as_i64()
            .unwrap();
        (company_id, contract, cs)
    })
}

fn units(w: &World, company: &str) -> i64 {
    let (_, _, cs) = contract_service_of(w, company);
    let today = time::OffsetDateTime::now_utc().date().to_string();
    w.sandbox.with(|s| s.units_on(cs, &today)).unwrap()
}

fn connect_body() -> Value {
    json!({"username": DEMO_USERNAME, "secret": DEMO_SECRET})
}

async fn connect(w: &World) -> Reply {
    w.portal
        .post(
            "/v1/integrations/autotask/connect",
            &w.admin,
            connect_body(),
        )
        .await
}

fn valid_configuration() -> Value {
    json!({"sync_seat_quantity": true, "ticket_type": 5, "sla": 1, "priority": 1, "queue": 29683482, "status": 1})
}

/// Connected, configured, plan "backup" mapped to the per-seat Service, and these
/// organizations (demo companies) mapped with these platform seat counts.
async fn mapped(w: &World, orgs: &[(&str, &str, u32)]) {
    assert_eq!(connect(w).await.status, StatusCode::CREATED);
    let put = w
        .portal
        .put(
            "/v1/integrations/autotask/configuration",
            &w.admin,
            valid_configuration(),
        )
        .await;
    assert_eq!(put.status, StatusCode::OK, "{}", put.body);
    w.portal
        .put(
            "/v1/plans/backup",
            &w.admin,
            json!({"name": "Backup per seat"}),
        )
        .await;
    let service = id_of(w, "Services", "name", "Managed Backup - Per Seat");
    let plan = w
        .portal
        .put(
            "/v1/integrations/autotask/plan-mappings/backup",
            &w.admin,
            json!({"service_id": service}),
        )
        .await;
    assert_eq!(plan.status, StatusCode::OK, "{}", plan.body);
    for (org, company, seats) in orgs {
        w.portal
            .put(
                &format!("/v1/organizations/{org}"),
                &w.admin,
                json!({"name": company, "plan_id": "backup", "seats": seats}),
            )
            .await;
        let (company_id, contract_id, contract_service_id) = contract_service_of(w, company);
        let reply = w
            .portal
            .put(
                &format!("/v1/integrations/autotask/org-mappings/{org}"),
                &w.admin,
                json!({"company_id": company_id, "contract_id": contract_id, "contract_service_id": contract_service_id}),
            )
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    }
}

async fn sync(w: &World) -> Value {
    let started = w
        .portal
        .post(
            "/v1/integrations/autotask/sync",
            &w.admin,
            json!({"kinds": ["seats"]}),
        )
        .await;
    assert_eq!(started.status, StatusCode::ACCEPTED, "{}", started.body);
    wait_run(w, started.body["id"].as_str().unwrap()).await
}

async fn wait_run(w: &World, id: &str) -> Value {
    w.portal
        .finished_run(Provider::Autotask, id, &w.admin)
        .await
}

fn card(reply: &Reply) -> &Value {
    reply.body["integrations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["provider"] == "autotask")
        .unwrap()
}

#[tokio::test]
async fn connect_records_zone_and_database_and_never_returns_the_secret() {
    let w = world().await;
    let reply = connect(&w).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    assert_eq!(reply.body["instance"]["database_id"], 29_683_121);
    assert!(
        reply.body["instance"]["zone_url"]
            .as_str()
            .unwrap()
            .contains("/zone-a/atservicesrest/")
    );
    assert!(!reply.body.to_string().contains(DEMO_SECRET));
    let cards = w.portal.get("/v1/integrations", &w.admin).await;
    assert_eq!(card(&cards)["status"], "connected");
    assert!(!cards.body.to_string().contains(DEMO_SECRET));
    let stored = w
        .portal
        .secret_of(TENANT, Provider::Autotask)
        .await
        .unwrap();
    assert!(
        stored.contains(DEMO_SECRET),
        "the secret is stored for later calls"
    );
}

#[tokio::test]
async fn connect_errors_name_what_the_partner_must_fix_and_store_nothing() {
    let w = world().await;
    let post = |body: Value| {
        w.portal
            .post("/v1/integrations/autotask/connect", &w.admin, body)
    };

    let unknown = post(json!({"username": "nobody@example.com", "secret": "x"})).await;
    unknown.problem(StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(unknown.field_errors(), ["username"]);
    assert_eq!(
        unknown.body["vendor_message"],
        "Zone information could not be determined"
    );

    let wrong_secret = post(json!({"username": DEMO_USERNAME, "secret": "wrong"})).await;
    wrong_secret.problem(StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(wrong_secret.field_errors(), ["secret"]);

    w.sandbox.with(|s| s.users[0].locked = true);
    let locked = post(connect_body()).await;
    locked.problem(StatusCode::UNPROCESSABLE_ENTITY);
    assert!(locked.body["detail"].as_str().unwrap().contains("locked"));
    assert_eq!(locked.body["vendor_message"], "The user account is locked.");
    w.sandbox.with(|s| {
        s.users[0].locked = false;
        s.users[0].active = false;
    });
    let inactive = post(connect_body()).await;
    assert!(
        inactive.problem(StatusCode::UNPROCESSABLE_ENTITY)["detail"]
            .as_str()
            .unwrap()
            .contains("inactive")
    );
    w.sandbox.with(|s| s.users[0].active = true);

    w.sandbox.inject(Fault::once(
        "GET /ThresholdInformation",
        FaultKind::Respond {
            status: 429,
            body: json!({"errors": ["The request threshold for this database has been exceeded."]}),
            retry_after: Some(900),
        },
    ));
    let throttled = post(connect_body()).await;
    throttled.problem(StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(throttled.headers["retry-after"], "900");

    post(json!({"username": DEMO_USERNAME}))
        .await
        .problem(StatusCode::BAD_REQUEST);
    let extra =
        post(json!({"username": DEMO_USERNAME, "secret": "x", "integration_code": "mine"})).await;
    assert_eq!(
        extra.field_errors(),
        ["integration_code"],
        "the integration code is ours, never the partner's"
    );

    let cards = w.portal.get("/v1/integrations", &w.admin).await;
    assert_eq!(card(&cards)["status"], "not_connected");
    assert_eq!(w.portal.secret_of(TENANT, Provider::Autotask).await, None);
}

#[tokio::test]
async fn our_integration_code_refused_and_autotask_unreachable_are_502() {
    let w = world_with(State::demo(), "NOT-OUR-CODE").await;
    let refused = connect(&w).await;
    refused.problem(StatusCode::BAD_GATEWAY);
    assert!(
        refused.body["vendor_message"]
            .as_str()
            .unwrap()
            .contains("integration code")
    );

    let mut settings = Settings::default();
    settings.vendors.autotask_zone_lookup_url = "http://127.0.0.1:9/atservicesrest/".into();
    settings.vendors.allow_loopback = true;
    let portal = Portal::with_settings(
        settings,
        DeploymentSecret::Value(SecretString::from(DEMO_INTEGRATION_CODE)),
    );
    let unreachable = portal
        .post(
            "/v1/integrations/autotask/connect",
            &portal.admin(TENANT),
            connect_body(),
        )
        .await;
    unreachable.problem(StatusCode::BAD_GATEWAY);
}

#[tokio::test]
async fn reconnecting_after_a_secret_reset_keeps_configuration_and_mappings() {
    let w = world().await;
    mapped(&w, &[("acme", "Acme Dental", 10)]).await;
    w.sandbox
        .with(|s| s.users[0].secret = "reset-secret".into());
    let failed = sync(&w).await;
    assert_eq!(failed["status"], "failed");
    let cards = w.portal.get("/v1/integrations", &w.admin).await;
    assert_eq!(
        card(&cards)["status"],
        "needs_reconnect",
        "a refused secret shows on the card"
    );

    let again = w
        .portal
        .post(
            "/v1/integrations/autotask/connect",
            &w.admin,
            json!({"username": DEMO_USERNAME, "secret": "reset-secret"}),
        )
        .await;
    assert_eq!(again.status, StatusCode::OK, "{}", again.body);
    assert_eq!(again.body["reconnected"], true);
    let cards = w.portal.get("/v1/integrations", &w.admin).await;
    assert_eq!(
        (
            card(&cards)["status"].as_str(),
            card(&cards)["configured"].as_bool(),
            card(&cards)["org_mappings"].as_u64()
        ),
        (Some("connected"), Some(true), Some(1))
    );

    w.sandbox.with(|s| s.ci = 1);
    let other = w
        .portal
        .post(
            "/v1/integrations/autotask/connect",
            &w.admin,
            json!({"username": DEMO_USERNAME, "secret": "reset-secret"}),
        )
        .await;
    other.problem(StatusCode::CONFLICT);
    assert!(other.body["detail"].as_str().unwrap().contains("revoke"));
}

#[tokio::test]
async fn configuration_comes_from_live_picklists_and_is_checked_against_them() {
    let w = world().await;
    w.portal
        .get("/v1/integrations/autotask/options/queues", &w.admin)
        .await
        .problem(StatusCode::CONFLICT);
    connect(&w).await;
    let queues = w
        .portal
        .get("/v1/integrations/autotask/options/queues", &w.admin)
        .await;
    assert_eq!(queues.status, StatusCode::OK);
    let labels: Vec<_> = queues.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|q| q["label"].as_str().unwrap())
        .collect();
    assert_eq!(labels, ["Client Portal", "Post Sale", "Monitoring Alert"]);
    for list in ["ticket_types", "slas", "priorities", "statuses"] {
        let reply = w
            .portal
            .get(
                &format!("/v1/integrations/autotask/options/{list}"),
                &w.admin,
            )
            .await;
        assert!(
            !reply.body["items"].as_array().unwrap().is_empty(),
            "{list}"
        );
    }
    w.portal
        .get("/v1/integrations/autotask/options/colours", &w.admin)
        .await
        .problem(StatusCode::NOT_FOUND);
    let calls = w.sandbox.with(|s| s.calls());
    w.portal
        .get("/v1/integrations/autotask/options/queues", &w.admin)
        .await;
    assert_eq!(w.sandbox.with(|s| s.calls()), calls, "picklists are cached");

    let mut bad = valid_configuration();
    bad["queue"] = json!(12345);
    let reply = w
        .portal
        .put("/v1/integrations/autotask/configuration", &w.admin, bad)
        .await;
    reply.problem(StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(reply.field_errors(), ["queue"]);
    let mut missing = valid_configuration();
    missing.as_object_mut().unwrap().remove("priority");
    assert_eq!(
        w.portal
            .put("/v1/integrations/autotask/configuration", &w.admin, missing)
            .await
            .field_errors(),
        ["priority"]
    );
    w.portal
        .get("/v1/integrations/autotask/configuration", &w.admin)
        .await
        .problem(StatusCode::NOT_FOUND);

    let saved = w
        .portal
        .put(
            "/v1/integrations/autotask/configuration",
            &w.admin,
            valid_configuration(),
        )
        .await;
    assert_eq!(saved.status, StatusCode::OK);
    assert_eq!(saved.headers["etag"], "\"1\"");
    let stale = w
        .portal
        .raw(
            http::Method::PUT,
            "/v1/integrations/autotask/configuration",
            Some(&w.admin),
            Some("application/json"),
            valid_configuration().to_string().into_bytes(),
        )
        .await;
    assert_eq!(
        stale.status,
        StatusCode::OK,
        "no If-Match: last writer wins"
    );
    let mut req_body = valid_configuration();
    req_body["sync_seat_quantity"] = json!(false);
    let conflict = {
        let portal = &w.portal;
        let response = portal.raw_with_headers(
            http::Method::PUT,
            "/v1/integrations/autotask/configuration",
            &w.admin,
            &[("content-type", "application/json"), ("if-match", "\"1\"")],
            req_body.to_string().into_bytes(),
        );
        response.await
    };
    conflict.problem(StatusCode::PRECONDITION_FAILED);

    assert_eq!(
        w.portal
            .delete("/v1/integrations/autotask/configuration", &w.admin)
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    let cards = w.portal.get("/v1/integrations", &w.admin).await;
    assert_eq!(
        (
            card(&cards)["status"].as_str(),
            card(&cards)["configured"].as_bool()
        ),
        (Some("connected"), Some(false))
    );

    // A partner who only syncs seats or imports saves no ticket defaults at all.
    let seats_only = w
        .portal
        .put(
            "/v1/integrations/autotask/configuration",
            &w.admin,
            json!({"sync_seat_quantity": true}),
        )
        .await;
    assert_eq!(seats_only.status, StatusCode::OK, "{}", seats_only.body);
    assert_eq!(seats_only.body["settings"]["sync_seat_quantity"], true);
}

#[tokio::test]
async fn catalogs_list_what_partners_pick_from() {
    let w = world().await;
    connect(&w).await;
    let services = w
        .portal
        .get("/v1/integrations/autotask/catalog/services", &w.admin)
        .await;
    let names: Vec<_> = services.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["Managed Backup - Per Seat", "Managed Backup - Server"],
        "inactive services are not offered"
    );

    let companies = w
        .portal
        .get(
            "/v1/integrations/autotask/catalog/companies?search=acme",
            &w.admin,
        )
        .await;
    assert_eq!(companies.body["items"][0]["name"], "Acme Dental");
    assert_eq!(companies.body["items"].as_array().unwrap().len(), 1);
    let first = w
        .portal
        .get(
            "/v1/integrations/autotask/catalog/companies?limit=2",
            &w.admin,
        )
        .await;
    let next = first.body["next"].as_str().unwrap();
    let second = w
        .portal
        .get(
            &format!("/v1/integrations/autotask/catalog/companies?limit=2&after={next}"),
            &w.admin,
        )
        .await;
    assert_eq!(second.body["items"][0]["name"], "Initech LLC");

    let (company, contract, cs) = contract_service_of(&w, "Acme Dental");
    let contracts = w
        .portal
        .get(
            &format!("/v1/integrations/autotask/catalog/contracts?company_id={company}"),
            &w.admin,
        )
        .await;
    assert_eq!(contracts.body["items"][0]["id"], contract);
    assert_eq!(
        contracts.body["items"].as_array().unwrap().len(),
        1,
        "only Recurring Service contracts"
    );
    let css = w
        .portal
        .get(
            &format!("/v1/integrations/autotask/catalog/contract-services?contract_id={contract}"),
            &w.admin,
        )
        .await;
    assert_eq!(css.body["items"][0]["id"], cs);
    assert_eq!(css.body["items"][0]["name"], "Managed Backup - Per Seat");

    let no_parent = w
        .portal
        .get("/v1/integrations/autotask/catalog/contracts", &w.admin)
        .await;
    assert_eq!(no_parent.field_errors(), ["company_id"]);
    w.portal
        .get("/v1/integrations/autotask/catalog/tickets", &w.admin)
        .await
        .problem(StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn mappings_are_refused_unless_complete_and_consistent() {
    let w = world().await;
    connect(&w).await;
    w.portal
        .put(
            "/v1/integrations/autotask/configuration",
            &w.admin,
            valid_configuration(),
        )
        .await;
    w.portal
        .put("/v1/plans/backup", &w.admin, json!({"name": "Backup"}))
        .await;
    let legacy = id_of(&w, "Services", "name", "Legacy Backup (retired)");
    let per_seat = id_of(&w, "Services", "name", "Managed Backup - Per Seat");
    let server = id_of(&w, "Services", "name", "Managed Backup - Server");
    let inactive = w
        .portal
        .put(
            "/v1/integrations/autotask/plan-mappings/backup",
            &w.admin,
            json!({"service_id": legacy}),
        )
        .await;
    assert_eq!(inactive.field_errors(), ["service_id"]);
    w.portal
        .put(
            "/v1/integrations/autotask/plan-mappings/nope",
            &w.admin,
            json!({"service_id": per_seat}),
        )
        .await
        .problem(StatusCode::NOT_FOUND);

    w.portal
        .put(
            "/v1/organizations/acme",
            &w.admin,
            json!({"name": "Acme Dental", "seats": 4}),
        )
        .await;
    let (acme, acme_contract, acme_cs) = contract_service_of(&w, "Acme Dental");
    let (globex, globex_contract, globex_cs) = contract_service_of(&w, "Globex Corporation");
    let put = |body: Value| {
        w.portal.put(
            "/v1/integrations/autotask/org-mappings/acme",
            &w.admin,
            body,
        )
    };

    // A contract without its contract service: refused (a company alone would be a link).
    let partial = put(json!({"company_id": acme, "contract_id": acme_contract})).await;
    partial.problem(StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(partial.field_errors(), ["contract_service_id"]);
    let complete =
        json!({"company_id": acme, "contract_id": acme_contract, "contract_service_id": acme_cs});
    let no_plan = put(complete.clone()).await;
    assert_eq!(no_plan.field_errors(), ["plan_id"], "the org has no plan");
    w.portal
        .put(
            "/v1/organizations/acme",
            &w.admin,
            json!({"name": "Acme Dental", "plan_id": "backup", "seats": 4}),
        )
        .await;
    assert_eq!(
        put(complete.clone()).await.field_errors(),
        ["plan_id"],
        "the plan is not mapped yet"
    );
    w.portal
        .put(
            "/v1/integrations/autotask/plan-mappings/backup",
            &w.admin,
            json!({"service_id": per_seat}),
        )
        .await;

    let other_company = put(json!({"company_id": acme, "contract_id": globex_contract, "contract_service_id": globex_cs})).await;
    assert_eq!(other_company.field_errors(), ["contract_id"]);
    let umbrella = id_of(&w, "Companies", "companyName", "Umbrella Corp");
    let break_fix = id_of(&w, "Contracts", "contractName", "Umbrella Break/Fix");
    let not_recurring = put(
        json!({"company_id": umbrella, "contract_id": break_fix, "contract_service_id": acme_cs}),
    )
    .await;
    assert_eq!(
        not_recurring.field_errors(),
        ["company_id", "contract_id", "contract_service_id"]
    );
    let cs_elsewhere = put(json!({"company_id": globex, "contract_id": globex_contract, "contract_service_id": acme_cs})).await;
    assert_eq!(cs_elsewhere.field_errors(), ["contract_service_id"]);
    let server_cs = w
        .sandbox
        .with(|s| s.add_contract_service(acme_contract, server, 1));
    let wrong_service = put(
        json!({"company_id": acme, "contract_id": acme_contract, "contract_service_id": server_cs}),
    )
    .await;
    assert_eq!(wrong_service.field_errors(), ["contract_service_id"]);
    assert!(
        wrong_service.body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("plan maps to")
    );
    let listed = w
        .portal
        .get("/v1/integrations/autotask/org-mappings", &w.admin)
        .await;
    assert_eq!(
        listed.body["items"],
        json!([]),
        "refused mappings stored nothing"
    );

    let ok = put(complete).await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.body);
    let listed = w
        .portal
        .get("/v1/integrations/autotask/org-mappings", &w.admin)
        .await;
    assert_eq!(
        (
            listed.body["items"][0]["state"].as_str(),
            listed.body["items"][0]["name"].as_str()
        ),
        (Some("linked"), Some("Acme Dental"))
    );
    let plans = w
        .portal
        .get("/v1/integrations/autotask/plan-mappings", &w.admin)
        .await;
    assert_eq!(plans.body["items"][0]["state"], "linked");

    let calls = w.sandbox.with(|s| s.calls());
    w.sandbox.with(|s| {
        s.entities
            .get_mut("Companies")
            .unwrap()
            .get_mut(&acme)
            .unwrap()["isActive"] = json!(false)
    });
    let listed = w
        .portal
        .get("/v1/integrations/autotask/org-mappings", &w.admin)
        .await;
    assert_eq!(listed.body["items"][0]["state"], "broken");
    assert!(
        w.sandbox.with(|s| s.calls()) - calls <= 3,
        "states are checked in bulk, not per row"
    );

    assert_eq!(
        w.portal
            .delete("/v1/integrations/autotask/org-mappings/acme", &w.admin)
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        w.portal
            .get("/v1/integrations/autotask/org-mappings", &w.admin)
            .await
            .body["items"],
        json!([])
    );
    assert_eq!(
        w.portal
            .delete("/v1/integrations/autotask/plan-mappings/backup", &w.admin)
            .await
            .status,
        StatusCode::NO_CONTENT
    );
}

#[tokio::test]
async fn seat_sync_writes_only_differences_and_is_idempotent() {
    let w = world().await;
    mapped(
        &w,
        &[
            ("acme", "Acme Dental", 12),
            ("globex", "Globex Corporation", 5),
            ("initech", "Initech LLC", 3),
        ],
    )
    .await;
    let run = sync(&w).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    assert_eq!(
        run["counts"],
        json!({"total": 3, "done": 3, "changed": 2, "unchanged": 1, "failed": 0, "skipped": 0})
    );
    assert_eq!(
        (
            units(&w, "Acme Dental"),
            units(&w, "Globex Corporation"),
            units(&w, "Initech LLC")
        ),
        (12, 5, 3)
    );
    let writes = w.sandbox.with(|s| s.writes);
    assert_eq!(writes, 2);

    let again = sync(&w).await;
    assert_eq!(again["counts"]["unchanged"], 3);
    assert_eq!(
        w.sandbox.with(|s| s.writes),
        writes,
        "a second run writes nothing"
    );

    w.portal
        .put(
            "/v1/organizations/globex",
            &w.admin,
            json!({"name": "Globex Corporation", "plan_id": "backup", "seats": 2}),
        )
        .await;
    sync(&w).await;
    assert_eq!(
        units(&w, "Globex Corporation"),
        2,
        "seats go down as well as up"
    );

    let runs = w
        .portal
        .get("/v1/integrations/autotask/sync-runs", &w.admin)
        .await;
    assert_eq!(runs.body["items"].as_array().unwrap().len(), 3);
    let cards = w.portal.get("/v1/integrations", &w.admin).await;
    assert_eq!(card(&cards)["last_sync"]["status"], "succeeded");
}

#[tokio::test]
async fn seat_sync_is_refused_while_turned_off() {
    let w = world().await;
    mapped(&w, &[("acme", "Acme Dental", 12)]).await;
    let mut off = valid_configuration();
    off["sync_seat_quantity"] = json!(false);
    w.portal
        .put("/v1/integrations/autotask/configuration", &w.admin, off)
        .await;
    let reply = w
        .portal
        .post(
            "/v1/integrations/autotask/sync",
            &w.admin,
            json!({"kinds": ["seats"]}),
        )
        .await;
    assert!(
        reply.problem(StatusCode::CONFLICT)["detail"]
            .as_str()
            .unwrap()
            .contains("sync seat quantity")
    );
}

#[tokio::test]
async fn an_adjustment_that_times_out_after_autotask_applied_it_is_not_sent_twice() {
    let w = world().await;
    mapped(&w, &[("acme", "Acme Dental", 17)]).await;
    w.sandbox.inject(Fault::once(
        "/ServiceAdjustments",
        FaultKind::DelayAfter(Duration::from_secs(4)),
    ));
    let run = sync(&w).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    assert_eq!(run["counts"]["changed"], 1);
    assert_eq!(
        units(&w, "Acme Dental"),
        17,
        "exactly the seat count, not 10 + 2 x 7"
    );
    assert_eq!(w.sandbox.with(|s| s.writes), 1);
    let t = TenantId::new(TENANT).unwrap();
    assert!(
        w.portal
            .runner
            .app
            .store
            .list_intents(&t, Provider::Autotask)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn a_crash_between_journal_and_post_is_reconciled_by_the_next_run() {
    let w = world().await;
    mapped(
        &w,
        &[
            ("acme", "Acme Dental", 14),
            ("globex", "Globex Corporation", 9),
        ],
    )
    .await;
    let app = &w.portal.runner.app;
    let t = TenantId::new(TENANT).unwrap();
    let intent = |org: &str, observed| SeatIntent {
        org_id: OrgId::new(org).unwrap(),
        wanted: if org == "acme" { 14 } else { 9 },
        observed,
        run_id: ulid::Ulid::new(),
        created_at: app.clock.now(),
    };
    // Acme: crashed after journalling, before posting. Globex: crashed after Autotask applied it.
    app.store
        .put_intent(&t, Provider::Autotask, &intent("acme", 10))
        .await
        .unwrap();
    app.store
        .put_intent(&t, Provider::Autotask, &intent("globex", 5))
        .await
        .unwrap();
    let (_, _, globex_cs) = contract_service_of(&w, "Globex Corporation");
    w.sandbox.with(|s| {
        let row = s.entities["ContractServiceUnits"]
            .values()
            .find(|r| r["contractServiceID"].as_i64() == Some(globex_cs))
            .unwrap()["id"]
            .as_i64()
            .unwrap();
        s.entities
            .get_mut("ContractServiceUnits")
            .unwrap()
            .get_mut(&row)
            .unwrap()["units"] = json!(9.0);
    });
    let run = sync(&w).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    assert_eq!(
        (units(&w, "Acme Dental"), units(&w, "Globex Corporation")),
        (14, 9)
    );
    assert_eq!(
        w.sandbox.with(|s| s.writes),
        1,
        "only Acme's change was still missing"
    );
    assert!(
        app.store
            .list_intents(&t, Provider::Autotask)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn autotask_refusals_are_recorded_with_autotasks_own_words() {
    let w = world().await;
    mapped(
        &w,
        &[
            ("acme", "Acme Dental", 12),
            ("globex", "Globex Corporation", 8),
        ],
    )
    .await;
    let (_, acme_contract, _) = contract_service_of(&w, "Acme Dental");
    w.sandbox.inject(Fault::once(format!("POST /Contracts/{acme_contract}/ServiceAdjustments"), FaultKind::Respond {
        status: 500,
        body: json!({"errors": ["The effective date cannot be before the last posted billing period."]}),
        retry_after: None,
    }));
    let run = sync(&w).await;
    assert_eq!(run["status"], "partial");
    assert_eq!(
        (
            run["counts"]["changed"].as_u64(),
            run["counts"]["failed"].as_u64()
        ),
        (Some(1), Some(1))
    );
    assert_eq!(run["errors"][0]["item"], "org:acme");
    assert_eq!(
        run["errors"][0]["vendor_message"],
        "The effective date cannot be before the last posted billing period."
    );
    assert_eq!(
        units(&w, "Acme Dental"),
        10,
        "a validation error is not retried"
    );
}

#[tokio::test]
async fn throttling_thread_limits_and_zone_moves_are_ridden_out() {
    let w = world().await;
    mapped(
        &w,
        &[
            ("acme", "Acme Dental", 12),
            ("globex", "Globex Corporation", 8),
        ],
    )
    .await;
    w.sandbox.inject(Fault::once(
        "POST /ContractServiceUnits/query",
        FaultKind::Respond {
            status: 429,
            body: json!({"errors": ["The request threshold for this database has been exceeded."]}),
            retry_after: Some(1),
        },
    ));
    w.sandbox.inject(Fault::once("/ServiceAdjustments", FaultKind::Respond {
        status: 500,
        body: json!({"errors": ["Thread Threshold Exceeded - The Autotask API thread threshold of 3 threads has been exceeded (Itgenatr005)"]}),
        retry_after: None,
    }));
    let started = std::time::Instant::now();
    let run = sync(&w).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "Retry-After was honoured"
    );
    assert_eq!(
        (units(&w, "Acme Dental"), units(&w, "Globex Corporation")),
        (12, 8)
    );

    w.sandbox.move_zone();
    w.portal
        .put(
            "/v1/organizations/acme",
            &w.admin,
            json!({"name": "Acme Dental", "plan_id": "backup", "seats": 13}),
        )
        .await;
    let run = sync(&w).await;
    assert_eq!(
        run["status"], "succeeded",
        "a 401 from the old zone looks the zone up again: {run}"
    );
    assert_eq!(units(&w, "Acme Dental"), 13);
}

#[tokio::test]
async fn credentials_go_only_to_the_zones_own_origin() {
    let w = world().await;
    connect(&w).await;
    let seen = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = seen.clone();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let elsewhere = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let app = axum::Router::new().fallback(move || {
            counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            async { "{}" }
        });
        let _ = axum::serve(listener, app).await;
    });
    w.sandbox.inject(Fault::once("POST /Companies/query", FaultKind::Respond {
        status: 200,
        body: json!({"items": [{"id": 1, "companyName": "A", "isActive": true}], "pageDetails": {
            "count": 1, "requestCount": 500, "prevPageUrl": null,
            "nextPageUrl": format!("http://{elsewhere}/zone-a/atservicesrest/V1.0/Companies/query/next?paging=1"),
        }}),
        retry_after: None,
    }));
    let (_, contract, cs) = contract_service_of(&w, "Acme Dental");
    w.portal
        .put(
            "/v1/organizations/o",
            &w.admin,
            json!({"name": "O", "seats": 1}),
        )
        .await;
    // Listing mapping states reads Companies in bulk; the injected page points elsewhere.
    let t = TenantId::new(TENANT).unwrap();
    let app = &w.portal.runner.app;
    app.store
        .put_org_mapping(
            &t,
            &shared::domain::OrgMapping {
                org_id: OrgId::new("o").unwrap(),
                target: shared::domain::OrgTarget::Autotask {
                    company_id: 1,
                    contract_id: Some(contract),
                    contract_service_id: Some(cs),
                },
                updated_at: app.clock.now(),
                version: 0,
            },
            shared::ports::Expect::Absent,
        )
        .await
        .unwrap();
    let listed = w
        .portal
        .get("/v1/integrations/autotask/org-mappings", &w.admin)
        .await;
    assert_eq!(listed.body["items"][0]["state"], "unknown");
    assert!(
        listed.body["state_error"]
            .as_str()
            .unwrap()
            .contains("another host")
    );
    assert_eq!(
        seen.load(std::sync::atomic::Ordering::SeqCst),
        0,
        "nothing was sent to the other host"
    );
}

#[tokio::test]
async fn alerts_open_one_ticket_then_notes_then_a_new_ticket_once_complete() {
    let w = world().await;
    mapped(&w, &[("acme", "Acme Dental", 10)]).await;
    let alert = json!({"org_id": "acme", "dedupe_key": "backup-failed:acme:srv1", "title": "Backup failed on SRV1", "description": "3 consecutive failures"});
    let opened = w
        .portal
        .post("/v1/integrations/autotask/tickets", &w.admin, alert.clone())
        .await;
    assert_eq!(opened.status, StatusCode::CREATED, "{}", opened.body);
    let ticket_id = opened.body["ticket_id"].as_i64().unwrap();
    let ticket = w
        .sandbox
        .with(|s| s.entities["Tickets"][&ticket_id].clone());
    let (company, contract, _) = contract_service_of(&w, "Acme Dental");
    assert_eq!(
        (ticket["companyID"].as_i64(), ticket["contractID"].as_i64()),
        (Some(company), Some(contract))
    );
    assert_eq!(
        (
            ticket["queueID"].as_i64(),
            ticket["priority"].as_i64(),
            ticket["ticketType"].as_i64(),
            ticket["serviceLevelAgreementID"].as_i64()
        ),
        (Some(29683482), Some(1), Some(5), Some(1))
    );
    assert!(ticket["dueDateTime"].is_string());

    let noted = w
        .portal
        .post("/v1/integrations/autotask/tickets", &w.admin, alert.clone())
        .await;
    assert_eq!(
        (
            noted.status,
            noted.body["action"].as_str(),
            noted.body["ticket_id"].as_i64()
        ),
        (StatusCode::OK, Some("noted"), Some(ticket_id))
    );
    assert_eq!(w.sandbox.with(|s| s.entities["TicketNotes"].len()), 1);

    w.sandbox.with(|s| {
        s.entities
            .get_mut("Tickets")
            .unwrap()
            .get_mut(&ticket_id)
            .unwrap()["status"] = json!(5)
    });
    let reopened = w
        .portal
        .post("/v1/integrations/autotask/tickets", &w.admin, alert)
        .await;
    assert_eq!(reopened.status, StatusCode::CREATED);
    assert_ne!(reopened.body["ticket_id"].as_i64(), Some(ticket_id));

    let unmapped = w
        .portal
        .post(
            "/v1/integrations/autotask/tickets",
            &w.admin,
            json!({"org_id": "nobody", "dedupe_key": "k", "title": "t", "description": ""}),
        )
        .await;
    assert_eq!(unmapped.field_errors(), ["org_id"]);
    let bad_key = w
        .portal
        .post(
            "/v1/integrations/autotask/tickets",
            &w.admin,
            json!({"org_id": "acme", "dedupe_key": "a#b", "title": "t", "description": ""}),
        )
        .await;
    assert_eq!(bad_key.field_errors(), ["dedupe_key"]);
    w.portal
        .delete("/v1/integrations/autotask/configuration", &w.admin)
        .await;
    let unconfigured = w
        .portal
        .post(
            "/v1/integrations/autotask/tickets",
            &w.admin,
            json!({"org_id": "acme", "dedupe_key": "k2", "title": "t", "description": ""}),
        )
        .await;
    unconfigured.problem(StatusCode::CONFLICT);
}

#[tokio::test]
async fn a_ticket_create_whose_answer_was_lost_is_adopted_not_duplicated() {
    let w = world().await;
    mapped(&w, &[("acme", "Acme Dental", 10)]).await;
    let alert = json!({"org_id": "acme", "dedupe_key": "disk-full:acme", "title": "Disk full", "description": "C: at 99%"});
    w.sandbox.inject(Fault::once(
        "POST /Tickets",
        FaultKind::DelayAfter(Duration::from_secs(4)),
    ));
    let lost = w
        .portal
        .post("/v1/integrations/autotask/tickets", &w.admin, alert.clone())
        .await;
    lost.problem(StatusCode::GATEWAY_TIMEOUT);
    let retried = w
        .portal
        .post("/v1/integrations/autotask/tickets", &w.admin, alert)
        .await;
    assert_eq!(retried.status, StatusCode::CREATED, "{}", retried.body);
    assert_eq!(
        w.sandbox.with(|s| s.raised_tickets()),
        1,
        "the retry found the ticket the lost answer created"
    );
}

#[tokio::test]
async fn revoke_forgets_the_connection_and_stops_a_running_sync() {
    let w = world().await;
    mapped(&w, &[("acme", "Acme Dental", 11)]).await;
    let big: Vec<(String, String)> = (0..30)
        .map(|i| (format!("org-{i}"), format!("Customer {i}")))
        .collect();
    let service = id_of(&w, "Services", "name", "Managed Backup - Per Seat");
    for (org, name) in &big {
        let f = w.sandbox.with(|s| s.add_recurring_org(name, service, 1));
        w.portal
            .put(
                &format!("/v1/organizations/{org}"),
                &w.admin,
                json!({"name": name, "plan_id": "backup", "seats": 5}),
            )
            .await;
        let r = w.portal.put(&format!("/v1/integrations/autotask/org-mappings/{org}"), &w.admin, json!({"company_id": f.company_id, "contract_id": f.contract_id, "contract_service_id": f.contract_service_id})).await;
        assert_eq!(r.status, StatusCode::OK);
    }
    w.sandbox.with(|s| s.latency = Duration::from_millis(60));
    let started = w
        .portal
        .post("/v1/integrations/autotask/sync", &w.admin, json!({}))
        .await;
    assert_eq!(started.status, StatusCode::ACCEPTED);
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(
        w.portal
            .delete("/v1/integrations/autotask", &w.admin)
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    let writes_at_revoke = w.sandbox.with(|s| s.writes);
    tokio::time::sleep(Duration::from_millis(600)).await;
    let writes_after = w.sandbox.with(|s| s.writes);
    assert!(
        writes_after <= writes_at_revoke + 3,
        "at most the writes already in flight landed: {writes_at_revoke} -> {writes_after}"
    );
    assert!(writes_after < 31, "the run stopped writing");

    let cards = w.portal.get("/v1/integrations", &w.admin).await;
    assert_eq!(
        (
            card(&cards)["status"].as_str(),
            card(&cards)["configured"].as_bool(),
            card(&cards)["org_mappings"].as_u64()
        ),
        (Some("not_connected"), Some(false), Some(0))
    );
    assert_eq!(w.portal.secret_of(TENANT, Provider::Autotask).await, None);
    let t = TenantId::new(TENANT).unwrap();
    let store = &w.portal.runner.app.store;
    assert!(
        store
            .list_intents(&t, Provider::Autotask)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        store
            .list_runs(&t, Provider::Autotask, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        w.portal
            .delete("/v1/integrations/autotask", &w.admin)
            .await
            .status,
        StatusCode::NO_CONTENT,
        "idempotent"
    );
    w.portal
        .get("/v1/integrations/autotask/options/queues", &w.admin)
        .await
        .problem(StatusCode::CONFLICT);
}

#[tokio::test]
async fn a_large_sync_stays_within_three_calls_per_endpoint_and_pages_in_bulk() {
    let w = world_with(State::empty(), DEMO_INTEGRATION_CODE).await;
    let service = w
        .sandbox
        .with(|s| s.add_service("Managed Backup - Per Seat", true));
    assert_eq!(connect(&w).await.status, StatusCode::CREATED);
    w.portal
        .put(
            "/v1/integrations/autotask/configuration",
            &w.admin,
            valid_configuration(),
        )
        .await;
    w.portal
        .put("/v1/plans/backup", &w.admin, json!({"name": "Backup"}))
        .await;
    w.portal
        .put(
            "/v1/integrations/autotask/plan-mappings/backup",
            &w.admin,
            json!({"service_id": service}),
        )
        .await;
    let t = TenantId::new(TENANT).unwrap();
    let app = &w.portal.runner.app;
    for i in 0..1_100u32 {
        let f = w
            .sandbox
            .with(|s| s.add_recurring_org(&format!("Customer {i}"), service, 10));
        let org = OrgId::new(format!("org-{i:04}")).unwrap();
        app.store
            .put_organization(
                &t,
                &shared::domain::Organization {
                    id: org.clone(),
                    name: format!("Customer {i}"),
                    plan_id: None,
                    seats: if i % 10 == 0 { 11 } else { 10 },
                    updated_at: app.clock.now(),
                },
            )
            .await
            .unwrap();
        app.store
            .put_org_mapping(
                &t,
                &shared::domain::OrgMapping {
                    org_id: org,
                    target: shared::domain::OrgTarget::Autotask {
                        company_id: f.company_id,
                        contract_id: Some(f.contract_id),
                        contract_service_id: Some(f.contract_service_id),
                    },
                    updated_at: app.clock.now(),
                    version: 0,
                },
                shared::ports::Expect::Absent,
            )
            .await
            .unwrap();
    }
    w.sandbox.with(|s| s.latency = Duration::from_millis(5));
    let before = w.sandbox.with(|s| s.calls());
    let run = sync(&w).await;
    assert_eq!(
        run["counts"],
        json!({"total": 1100, "done": 1100, "changed": 110, "unchanged": 990, "failed": 0, "skipped": 0}),
        "{run}"
    );
    let calls = w.sandbox.with(|s| s.calls()) - before;
    // ceil(1100 / 500) = 3 reads, 110 writes, and one threshold check before the writes.
    assert_eq!(calls, 3 + 110 + 1);
    let (max, rejected) = w.sandbox.with(|s| {
        (
            s.max_in_flight.values().copied().max().unwrap_or(0),
            s.thread_rejections,
        )
    });
    assert!(
        max <= 3,
        "at most 3 concurrent calls per endpoint, saw {max}"
    );
    assert_eq!(rejected, 0);
}

#[tokio::test]
async fn multi_page_results_are_followed_through_next_page_url() {
    let w = world().await;
    mapped(
        &w,
        &[
            ("acme", "Acme Dental", 12),
            ("globex", "Globex Corporation", 6),
            ("initech", "Initech LLC", 2),
        ],
    )
    .await;
    w.sandbox.with(|s| s.page_size = 1);
    let listed = w
        .portal
        .get("/v1/integrations/autotask/org-mappings", &w.admin)
        .await;
    let states: Vec<_> = listed.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["state"].as_str().unwrap())
        .collect();
    assert_eq!(states, ["linked", "linked", "linked"], "{}", listed.body);
    let run = sync(&w).await;
    assert_eq!(run["counts"]["changed"], 3, "{run}");
    assert_eq!(
        (
            units(&w, "Acme Dental"),
            units(&w, "Globex Corporation"),
            units(&w, "Initech LLC")
        ),
        (12, 6, 2)
    );
}
