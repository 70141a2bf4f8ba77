//! ConnectWise PSA end to end through the HTTP API (the local runner's router) against the
//! sandbox ConnectWise: connect, ticket defaults from live board lists, plans to catalog
//! products, organizations to company + agreement + addition, seat sync, tickets and notes,
//! revoke; every listed connect error; codebase moves; 429s; lost ticket answers; and
//! tenant isolation.

use std::time::Duration;

use http::StatusCode;
use integration_tests::portal::{Portal, Reply};
use sandbox::{
    Fault, FaultKind,
    connectwise::{
        DEMO_CLIENT_ID, DEMO_COMPANY, DEMO_PRIVATE_KEY, DEMO_PUBLIC_KEY, Module, Sandbox, State,
    },
};
use secrecy::SecretString;
use serde_json::{Value, json};
use shared::{
    config::Settings,
    domain::{OrgId, OrgMapping, OrgTarget, Organization, Provider, TenantId},
    ports::Expect,
    providers::{DeploymentSecret, DeploymentSecrets},
};

const TENANT: &str = "dropsuite-msp";

struct World {
    sandbox: Sandbox,
    portal: Portal,
    admin: String,
}

fn settings() -> Settings {
    let mut settings = Settings::with_prefix("msp-integrations");
    settings.vendors.allow_loopback = true;
    settings.vendors.timeout_secs = 2;
    // Every repeat is posted, so these tests see notes and new tickets at once; the storm
    // window is tested in ticket_guard.rs.
    settings.ticket_storm_window_secs = 0;
    settings
}

fn secrets(client_id: &str) -> DeploymentSecrets {
    DeploymentSecrets {
        connectwise_client_id: DeploymentSecret::Value(SecretString::from(client_id)),
        ..DeploymentSecrets::default()
    }
}

async fn world_with(state: State) -> World {
    let sandbox = Sandbox::start(state).await;
    let portal = Portal::with_settings(settings(), secrets(DEMO_CLIENT_ID));
    let admin = portal.admin(TENANT);
    World {
        sandbox,
        portal,
        admin,
    }
}

async fn world() -> World {
    world_with(State::demo()).await
}

fn connect_body(w: &World) -> Value {
    json!({"site": w.sandbox.site(), "company_id": DEMO_COMPANY, "public_key": DEMO_PUBLIC_KEY, "private_key": DEMO_PRIVATE_KEY})
}

async fn connect(w: &World) -> Reply {
    w.portal
        .post(
            "/v1/integrations/connectwise/connect",
            &w.admin,
            connect_body(w),
        )
        .await
}

fn company(w: &World, name: &str) -> i64 {
    w.sandbox.with(|s| {
        s.companies
            .values()
            .find(|c| c["name"] == name)
            .and_then(|c| c["id"].as_i64())
            .unwrap_or_else(|| panic!("no company {name}"))
    })
}

fn agreement(w: &World, company: i64, name: &str) -> i64 {
    w.sandbox.with(|s| {
        s.agreements
            .values()
            .find(|a| a["company"]["id"] == json!(company) && a["name"] == name)
            .and_then(|a| a["id"].as_i64())
            .unwrap_or_else(|| panic!("no agreement {name}"))
    })
}

fn product(w: &World, identifier: &str) -> i64 {
    w.sandbox.with(|s| {
        s.catalog
            .values()
            .find(|p| p["identifier"] == identifier)
            .and_then(|p| p["id"].as_i64())
            .unwrap()
    })
}

/// The active addition of `product` on an agreement (or the cancelled one).
fn addition(w: &World, agreement: i64, product: i64, cancelled: bool) -> i64 {
    w.sandbox.with(|s| {
        s.additions
            .values()
            .find(|a| {
                a["agreementId"] == json!(agreement)
                    && a["product"]["id"] == json!(product)
                    && a["cancelledDate"].is_null() != cancelled
            })
            .and_then(|a| a["id"].as_i64())
            .unwrap()
    })
}

/// Acme's managed-services agreement and its backup addition.
fn acme_backup(w: &World) -> (i64, i64, i64) {
    let acme = company(w, "Acme Corporation");
    let ms = agreement(w, acme, "Acme - Managed Services");
    (acme, ms, addition(w, ms, product(w, "BACKUP-SEAT"), false))
}

/// Plans `backup` and `mail`, mapped to their catalog products.
async fn plans(w: &World) {
    for (plan, identifier) in [("backup", "BACKUP-SEAT"), ("mail", "EMAIL-SEC")] {
        w.portal
            .put(
                &format!("/v1/plans/{plan}"),
                &w.admin,
                json!({"name": plan}),
            )
            .await;
        let reply = w
            .portal
            .put(
                &format!("/v1/integrations/connectwise/plan-mappings/{plan}"),
                &w.admin,
                json!({"product_id": product(w, identifier)}),
            )
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    }
}

fn configuration() -> Value {
    json!({"sync_seat_quantity": true, "board_id": 1, "status_id": 1, "type_id": 101, "priority_id": 3, "source_id": 6})
}

async fn org(w: &World, id: &str, name: &str, seats: u32, plan: Option<&str>) {
    let reply = w
        .portal
        .put(
            &format!("/v1/organizations/{id}"),
            &w.admin,
            json!({"name": name, "seats": seats, "plan_id": plan}),
        )
        .await;
    assert!(reply.status.is_success(), "{}", reply.body);
}

async fn link(w: &World, org_id: &str, target: (i64, i64, i64)) -> Reply {
    let reply = try_link(w, org_id, target).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    reply
}

async fn try_link(
    w: &World,
    org_id: &str,
    (company, agreement, addition): (i64, i64, i64),
) -> Reply {
    w.portal
        .put(
            &format!("/v1/integrations/connectwise/org-mappings/{org_id}"),
            &w.admin,
            json!({"company_id": company, "agreement_id": agreement, "addition_id": addition}),
        )
        .await
}

/// Connected, configured, and plan `backup` mapped to the backup product and `mail` to the
/// email product.
async fn configured(w: &World) {
    assert_eq!(connect(w).await.status, StatusCode::CREATED);
    plans(w).await;
    let put = w
        .portal
        .put(
            "/v1/integrations/connectwise/configuration",
            &w.admin,
            configuration(),
        )
        .await;
    assert_eq!(put.status, StatusCode::OK, "{}", put.body);
}

async fn sync(w: &World) -> Value {
    let started = w
        .portal
        .post(
            "/v1/integrations/connectwise/sync",
            &w.admin,
            json!({"kinds": ["seats"]}),
        )
        .await;
    assert_eq!(started.status, StatusCode::ACCEPTED, "{}", started.body);
    w.portal
        .finished_run(
            Provider::Connectwise,
            started.body["id"].as_str().unwrap(),
            &w.admin,
        )
        .await
}

fn card(reply: &Reply) -> &Value {
    reply.body["integrations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["provider"] == "connectwise")
        .unwrap()
}

fn ids(reply: &Reply) -> Vec<i64> {
    reply.body["items"]
        .as_array()
        .unwrap_or_else(|| panic!("{}", reply.body))
        .iter()
        .map(|i| i["id"].as_i64().unwrap())
        .collect()
}

fn alert(key: &str) -> Value {
    json!({"org_id": "acme", "dedupe_key": key, "title": "Backup failed for 3 mailboxes", "description": "Exchange Online backup failed twice\nsee the job log"})
}

#[tokio::test]
async fn connect_configure_map_sync_ticket_and_revoke() {
    let w = world().await;

    // Connect: site, company id, keys. The card shows Connected; the keys stay ours.
    let connected = connect(&w).await;
    assert_eq!(connected.status, StatusCode::CREATED, "{}", connected.body);
    assert_eq!(connected.body["instance"]["company_id"], DEMO_COMPANY);
    assert_eq!(connected.body["instance"]["codebase"], "v2025_1/");
    assert_eq!(connected.body["instance"]["site"], w.sandbox.site());
    assert!(!connected.body.to_string().contains(DEMO_PRIVATE_KEY));
    let cards = w.portal.get("/v1/integrations", &w.admin).await;
    assert_eq!(card(&cards)["status"], "connected");
    assert_eq!(card(&cards)["configured"], false);

    // Configure from live lists: service boards only (no project or inactive ones), a board's
    // open statuses and active types, priorities and sources.
    let options = |list: &str| {
        let path = format!("/v1/integrations/connectwise/options/{list}");
        let w = &w;
        async move { w.portal.get(&path, &w.admin).await }
    };
    assert_eq!(ids(&options("boards").await), [1, 3]);
    assert_eq!(ids(&options("statuses?parent=1").await), [1, 2, 3]);
    assert_eq!(ids(&options("statuses?parent=3").await), [31]);
    assert_eq!(ids(&options("types?parent=1").await), [101, 102]);
    assert_eq!(ids(&options("priorities").await), [1, 2, 3]);
    assert_eq!(ids(&options("sources").await), [1, 2, 6]);
    let no_board = options("statuses").await;
    no_board.problem(StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(no_board.field_errors(), ["parent"]);
    let put = w
        .portal
        .put(
            "/v1/integrations/connectwise/configuration",
            &w.admin,
            configuration(),
        )
        .await;
    assert_eq!(put.status, StatusCode::OK, "{}", put.body);
    let read = w
        .portal
        .get("/v1/integrations/connectwise/configuration", &w.admin)
        .await;
    assert_eq!(read.body["settings"]["status_id"], 1);

    // Reset clears the form and keeps the connection.
    let reset = w
        .portal
        .delete("/v1/integrations/connectwise/configuration", &w.admin)
        .await;
    assert_eq!(reset.status, StatusCode::NO_CONTENT);
    let cards = w.portal.get("/v1/integrations", &w.admin).await;
    assert_eq!(
        (
            card(&cards)["status"].as_str(),
            card(&cards)["configured"].as_bool()
        ),
        (Some("connected"), Some(false))
    );
    w.portal
        .put(
            "/v1/integrations/connectwise/configuration",
            &w.admin,
            configuration(),
        )
        .await;

    // The catalogs: active products, companies (paged, deleted ones left out), a company's
    // agreements and an agreement's additions.
    let catalog = |path: &str| {
        let path = format!("/v1/integrations/connectwise/catalog/{path}");
        let w = &w;
        async move { w.portal.get(&path, &w.admin).await }
    };
    let products = catalog("products").await;
    assert_eq!(products.status, StatusCode::OK, "{}", products.body);
    let names: Vec<&str> = products.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "BACKUP-SEAT: Managed Backup - per seat",
            "EMAIL-SEC: Email Security - per mailbox"
        ]
    );
    let page1 = catalog("companies?limit=2").await;
    assert_eq!(page1.body["items"].as_array().unwrap().len(), 2);
    let next = page1.body["next"].as_str().unwrap().to_owned();
    let page2 = catalog(&format!("companies?limit=2&after={next}")).await;
    assert_eq!(
        page2.body["items"].as_array().unwrap().len(),
        1,
        "{}",
        page2.body
    );
    assert!(page2.body["next"].is_null());
    let search = catalog("companies?search=glob").await;
    assert_eq!(search.body["items"][0]["name"], "Globex Inc.");
    let (acme, acme_ms, acme_backup) = acme_backup(&w);
    let agreements = catalog(&format!("agreements?company_id={acme}")).await;
    let states: Vec<(Value, Value)> = agreements.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| (a["name"].clone(), a["active"].clone()))
        .collect();
    assert_eq!(
        states,
        [
            (json!("Acme - Break/Fix 2024"), json!(false)),
            (json!("Acme - Managed Services"), json!(true))
        ]
    );
    let additions = catalog(&format!("additions?agreement_id={acme_ms}")).await;
    assert_eq!(additions.body["items"].as_array().unwrap().len(), 3);
    assert_eq!(additions.body["items"][0]["name"], "BACKUP-SEAT × 10");
    catalog("agreements")
        .await
        .problem(StatusCode::UNPROCESSABLE_ENTITY);

    // Map the plan to its catalog product and the organization to its addition.
    w.portal
        .put(
            "/v1/plans/backup",
            &w.admin,
            json!({"name": "Managed Backup"}),
        )
        .await;
    let backup = product(&w, "BACKUP-SEAT");
    let plan = w
        .portal
        .put(
            "/v1/integrations/connectwise/plan-mappings/backup",
            &w.admin,
            json!({"product_id": backup}),
        )
        .await;
    assert_eq!(plan.status, StatusCode::OK, "{}", plan.body);
    org(&w, "acme", "Acme Corporation", 12, Some("backup")).await;
    let linked = link(&w, "acme", (acme, acme_ms, acme_backup)).await;
    assert_eq!(linked.status, StatusCode::OK, "{}", linked.body);
    let rows = w
        .portal
        .get("/v1/integrations/connectwise/org-mappings", &w.admin)
        .await;
    assert_eq!(rows.body["items"][0]["state"], "linked", "{}", rows.body);
    let plans = w
        .portal
        .get("/v1/integrations/connectwise/plan-mappings", &w.admin)
        .await;
    assert_eq!(plans.body["items"][0]["state"], "linked");

    // Seat sync replaces the addition's quantity; a second run writes nothing.
    let run = sync(&w).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    assert_eq!(run["counts"]["changed"], 1);
    assert_eq!(w.sandbox.with(|s| s.quantity_of(acme_backup)), Some(12.0));
    let writes = w.sandbox.with(|s| s.writes);
    let again = sync(&w).await;
    assert_eq!(
        (
            again["counts"]["changed"].as_u64(),
            again["counts"]["unchanged"].as_u64()
        ),
        (Some(0), Some(1))
    );
    assert_eq!(
        w.sandbox.with(|s| s.writes),
        writes,
        "nothing written twice"
    );

    // An alert opens one ticket with the configured defaults and our reference; a repeat is
    // an internal note; once the ticket is closed, the next repeat opens a new one.
    let opened = w
        .portal
        .post(
            "/v1/integrations/connectwise/tickets",
            &w.admin,
            alert("backup-failed:acme"),
        )
        .await;
    assert_eq!(opened.status, StatusCode::CREATED, "{}", opened.body);
    let ticket_id = opened.body["ticket_id"].as_i64().unwrap();
    let ticket = w.sandbox.with(|s| s.tickets[&ticket_id].clone());
    assert_eq!(
        [
            &ticket["company"]["id"],
            &ticket["board"]["id"],
            &ticket["status"]["id"],
            &ticket["type"]["id"],
            &ticket["priority"]["id"],
            &ticket["source"]["id"],
        ],
        [
            &json!(acme),
            &json!(1),
            &json!(1),
            &json!(101),
            &json!(3),
            &json!(6)
        ]
    );
    assert!(ticket["externalXRef"].as_str().unwrap().starts_with("msp-"));
    let noted = w
        .portal
        .post(
            "/v1/integrations/connectwise/tickets",
            &w.admin,
            alert("backup-failed:acme"),
        )
        .await;
    assert_eq!(
        (
            noted.status,
            noted.body["action"].as_str(),
            noted.body["ticket_id"].as_i64()
        ),
        (StatusCode::OK, Some("noted"), Some(ticket_id))
    );
    let notes = w.sandbox.with(|s| s.notes_of(ticket_id));
    let internal: Vec<&Value> = notes
        .iter()
        .filter(|n| n["internalAnalysisFlag"] == json!(true))
        .collect();
    assert_eq!(internal.len(), 1, "{notes:?}");
    assert!(!internal[0]["text"].as_str().unwrap().contains('\n'));
    w.sandbox.with(|s| s.close_ticket(ticket_id));
    let reopened = w
        .portal
        .post(
            "/v1/integrations/connectwise/tickets",
            &w.admin,
            alert("backup-failed:acme"),
        )
        .await;
    assert_eq!(reopened.status, StatusCode::CREATED, "{}", reopened.body);
    let second = reopened.body["ticket_id"].as_i64().unwrap();
    assert_ne!(second, ticket_id);
    // A closing status without `closedFlag` closes the ticket too.
    w.sandbox.with(|s| s.set_closing_status(second));
    let third = w
        .portal
        .post(
            "/v1/integrations/connectwise/tickets",
            &w.admin,
            alert("backup-failed:acme"),
        )
        .await;
    assert_eq!(third.status, StatusCode::CREATED, "{}", third.body);
    assert_eq!(w.sandbox.with(|s| s.tickets.len()), 3);

    // Revoke: the keys, configuration, mappings and ticket records go; again is fine.
    let revoked = w
        .portal
        .delete("/v1/integrations/connectwise", &w.admin)
        .await;
    assert_eq!(revoked.status, StatusCode::NO_CONTENT);
    let again = w
        .portal
        .delete("/v1/integrations/connectwise", &w.admin)
        .await;
    assert_eq!(again.status, StatusCode::NO_CONTENT);
    let cards = w.portal.get("/v1/integrations", &w.admin).await;
    assert_eq!(card(&cards)["status"], "not_connected");
    assert_eq!(
        w.portal.secret_of(TENANT, Provider::Connectwise).await,
        None
    );
    assert_eq!(connect(&w).await.status, StatusCode::CREATED);
    let rows = w
        .portal
        .get("/v1/integrations/connectwise/org-mappings", &w.admin)
        .await;
    assert!(
        rows.body["items"].as_array().unwrap().is_empty(),
        "{}",
        rows.body
    );
    w.portal
        .get("/v1/integrations/connectwise/configuration", &w.admin)
        .await
        .problem(StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn connect_errors_say_what_to_fix_and_store_nothing() {
    let w = world().await;
    let post = |body: Value| {
        w.portal
            .post("/v1/integrations/connectwise/connect", &w.admin, body)
    };
    let site = w.sandbox.site();
    let with = |field: &str, value: &str| {
        let mut body = connect_body(&w);
        body[field] = json!(value);
        body
    };

    // Unknown company: ConnectWise's companyinfo answers null.
    let unknown = post(with("company_id", "not_our_company")).await;
    unknown.problem(StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(unknown.field_errors(), ["company_id"]);

    // Keys refused.
    let wrong = post(with("private_key", "wrong-private-key")).await;
    let problem = wrong.problem(StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(wrong.field_errors(), ["private_key"]);
    assert!(
        problem["vendor_message"]
            .as_str()
            .unwrap()
            .contains("authentication"),
        "{problem}"
    );

    // Shapes, before anything is sent.
    let before = w.sandbox.with(|s| s.calls);
    let missing =
        post(json!({"site": "", "company_id": "a b", "public_key": "", "private_key": ""})).await;
    missing.problem(StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        missing.field_errors(),
        ["company_id", "public_key", "private_key", "site"]
    );
    post(json!({"site": site, "company_id": DEMO_COMPANY}))
        .await
        .problem(StatusCode::BAD_REQUEST);
    assert_eq!(w.sandbox.with(|s| s.calls), before);

    // The API member's role lacks the product catalog: the module is named.
    w.sandbox.with(|s| {
        s.modules.remove(&Module::Catalog);
    });
    let forbidden = post(connect_body(&w)).await;
    let problem = forbidden.problem(StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("Procurement > Product Catalog"),
        "{problem}"
    );
    w.sandbox.with(|s| {
        s.modules.insert(Module::Catalog);
    });

    // Our clientId refused: the operators' problem, not the partner's.
    let other = Portal::with_settings(settings(), secrets("retired-client-id"));
    let refused = other
        .post(
            "/v1/integrations/connectwise/connect",
            &other.admin(TENANT),
            connect_body(&w),
        )
        .await;
    let problem = refused.problem(StatusCode::BAD_GATEWAY);
    assert!(
        problem["detail"].as_str().unwrap().contains("clientId"),
        "{problem}"
    );
    let unset = Portal::with_settings(settings(), DeploymentSecrets::default());
    unset
        .post(
            "/v1/integrations/connectwise/connect",
            &unset.admin(TENANT),
            connect_body(&w),
        )
        .await
        .problem(StatusCode::BAD_GATEWAY);

    // Not ConnectWise; unreachable; throttled.
    let halo = sandbox::halopsa::Sandbox::demo().await;
    let not_cw = post(with("site", &halo.site_url())).await;
    not_cw.problem(StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(not_cw.field_errors(), ["site"]);
    post(with("site", "http://127.0.0.1:9"))
        .await
        .problem(StatusCode::BAD_GATEWAY);
    w.sandbox.inject(Fault::once(
        format!("GET /login/companyinfo/{DEMO_COMPANY}"),
        FaultKind::Respond {
            status: 429,
            body: json!({"error": "ConnectWiseAPI", "message": "Too many requests. Please try again in 120 seconds."}),
            retry_after: Some(120),
        },
    ));
    let throttled = post(connect_body(&w)).await;
    throttled.problem(StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(throttled.headers["retry-after"], "120");

    let cards = w.portal.get("/v1/integrations", &w.admin).await;
    assert_eq!(card(&cards)["status"], "not_connected");
    assert_eq!(
        w.portal.secret_of(TENANT, Provider::Connectwise).await,
        None
    );
}

#[tokio::test]
async fn reconnecting_with_new_keys_keeps_configuration_and_mappings() {
    let w = world().await;
    configured(&w).await;
    org(&w, "acme", "Acme Corporation", 12, Some("backup")).await;
    assert_eq!(
        link(&w, "acme", acme_backup(&w)).await.status,
        StatusCode::OK
    );
    w.sandbox.with(|s| {
        s.public_key = "rotatedPublic".into();
        s.private_key = "rotated-private".into();
    });
    // The old keys no longer work; the card says so after a sync.
    let run = sync(&w).await;
    assert_eq!(run["status"], "failed", "{run}");
    let reconnected = w
        .portal
        .post(
            "/v1/integrations/connectwise/connect",
            &w.admin,
            json!({"site": w.sandbox.site(), "company_id": DEMO_COMPANY.to_uppercase(), "public_key": "rotatedPublic", "private_key": "rotated-private"}),
        )
        .await;
    assert_eq!(reconnected.status, StatusCode::OK, "{}", reconnected.body);
    assert_eq!(reconnected.body["reconnected"], true);
    assert_eq!(
        reconnected.body["instance"]["company_id"], DEMO_COMPANY,
        "ConnectWise's own spelling of the company is kept"
    );
    let config = w
        .portal
        .get("/v1/integrations/connectwise/configuration", &w.admin)
        .await;
    assert_eq!(config.body["settings"]["board_id"], 1);
    let rows = w
        .portal
        .get("/v1/integrations/connectwise/org-mappings", &w.admin)
        .await;
    assert_eq!(rows.body["items"][0]["state"], "linked", "{}", rows.body);
    assert_eq!(sync(&w).await["status"], "succeeded");
}

#[tokio::test]
async fn configuration_is_checked_against_the_boards_lists() {
    let w = world().await;
    assert_eq!(connect(&w).await.status, StatusCode::CREATED);
    let put = |body: Value| {
        w.portal
            .put("/v1/integrations/connectwise/configuration", &w.admin, body)
    };
    let mut other_board = configuration();
    other_board["status_id"] = json!(31);
    other_board["type_id"] = json!(301);
    let refused = put(other_board).await;
    refused.problem(StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(refused.field_errors(), ["status_id", "type_id"]);
    let mut closing = configuration();
    closing["status_id"] = json!(4);
    closing["priority_id"] = json!(99);
    closing["source_id"] = json!(98);
    let refused = put(closing).await;
    assert_eq!(
        refused.field_errors(),
        ["status_id", "priority_id", "source_id"]
    );
    let mut project = configuration();
    project["board_id"] = json!(2);
    project["status_id"] = json!(21);
    assert_eq!(put(project).await.field_errors(), ["board_id"]);
    // Shapes first: a board without its status and priority.
    let before = w.sandbox.with(|s| s.calls);
    let half = put(json!({"board_id": 1})).await;
    assert_eq!(half.field_errors(), ["status_id", "priority_id"]);
    assert_eq!(w.sandbox.with(|s| s.calls), before);
    // Seat sync alone needs no ticket defaults, and raising a ticket then says so.
    assert_eq!(
        put(json!({"sync_seat_quantity": true})).await.status,
        StatusCode::OK
    );
    plans(&w).await;
    org(&w, "acme", "Acme Corporation", 1, Some("backup")).await;
    link(&w, "acme", acme_backup(&w)).await;
    w.portal
        .post("/v1/integrations/connectwise/tickets", &w.admin, alert("x"))
        .await
        .problem(StatusCode::CONFLICT);
    // Lists are cached: checking again reads nothing new.
    put(configuration()).await;
    let calls = w.sandbox.with(|s| s.calls);
    assert_eq!(put(configuration()).await.status, StatusCode::OK);
    assert_eq!(w.sandbox.with(|s| s.calls), calls);
}

#[tokio::test]
async fn mappings_are_refused_naming_the_field_and_rows_turn_broken() {
    let w = world().await;
    configured(&w).await;
    let (acme, acme_ms, acme_backup) = acme_backup(&w);
    let backup = product(&w, "BACKUP-SEAT");
    let email = product(&w, "EMAIL-SEC");
    let globex = company(&w, "Globex Inc.");
    let globex_ms = agreement(&w, globex, "Globex - Managed Services");
    let acme_old = agreement(&w, acme, "Acme - Break/Fix 2024");
    let initech = company(&w, "Initech LLC");
    let initech_old = agreement(&w, initech, "Initech - 2023 Plan");
    w.portal
        .put("/v1/plans/backup", &w.admin, json!({"name": "Backup"}))
        .await;
    let plan = |body: Value| {
        w.portal.put(
            "/v1/integrations/connectwise/plan-mappings/backup",
            &w.admin,
            body,
        )
    };
    let retired = product(&w, "AV-LEGACY");
    assert_eq!(
        plan(json!({"product_id": retired})).await.field_errors(),
        ["product_id"]
    );
    assert_eq!(
        plan(json!({"product_id": 999_999})).await.field_errors(),
        ["product_id"]
    );
    assert_eq!(
        plan(json!({"product_id": backup})).await.status,
        StatusCode::OK
    );
    org(&w, "acme", "Acme Corporation", 5, Some("backup")).await;

    let refused = |target, field: &'static str| {
        let w = &w;
        async move {
            let reply = try_link(w, "acme", target).await;
            reply.problem(StatusCode::UNPROCESSABLE_ENTITY);
            assert_eq!(reply.field_errors(), [field], "{}", reply.body);
        }
    };
    // Another company's agreement; a cancelled one; an expired one.
    refused(
        (acme, globex_ms, addition(&w, globex_ms, backup, false)),
        "agreement_id",
    )
    .await;
    refused(
        (acme, acme_old, addition(&w, acme_old, backup, false)),
        "agreement_id",
    )
    .await;
    refused(
        (
            initech,
            initech_old,
            addition(&w, initech_old, backup, false),
        ),
        "agreement_id",
    )
    .await;
    // Another agreement's addition; a cancelled one; one selling another product.
    refused(
        (acme, acme_ms, addition(&w, globex_ms, backup, false)),
        "addition_id",
    )
    .await;
    refused(
        (acme, acme_ms, addition(&w, acme_ms, backup, true)),
        "addition_id",
    )
    .await;
    refused(
        (acme, acme_ms, addition(&w, acme_ms, email, false)),
        "addition_id",
    )
    .await;
    let (status, fields) = {
        let reply = try_link(&w, "acme", (999_998, acme_ms, acme_backup)).await;
        (reply.status, reply.field_errors())
    };
    assert_eq!(
        (status, fields),
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            vec!["company_id".to_owned(), "agreement_id".to_owned()]
        )
    );
    assert_eq!(
        link(&w, "acme", (acme, acme_ms, acme_backup)).await.status,
        StatusCode::OK
    );

    // Cancelled at ConnectWise later: the row turns broken (checked in bulk).
    w.sandbox.with(|s| {
        let a = s.agreements.get_mut(&acme_ms).unwrap();
        a["agreementStatus"] = json!("Cancelled");
        a["cancelledFlag"] = json!(true);
    });
    let rows = w
        .portal
        .get("/v1/integrations/connectwise/org-mappings", &w.admin)
        .await;
    assert_eq!(rows.body["items"][0]["state"], "broken", "{}", rows.body);
}

/// Organizations sharing an agreement: seat sync reads that agreement's additions once and
/// writes only the additions whose quantity differs.
#[tokio::test]
async fn seats_are_read_once_per_agreement_and_only_differences_written() {
    let w = world().await;
    configured(&w).await;
    let (acme, acme_ms, acme_backup) = acme_backup(&w);
    let acme_mail = addition(&w, acme_ms, product(&w, "EMAIL-SEC"), false);
    let globex = company(&w, "Globex Inc.");
    let globex_ms = agreement(&w, globex, "Globex - Managed Services");
    let globex_backup = addition(&w, globex_ms, product(&w, "BACKUP-SEAT"), false);
    org(&w, "acme", "Acme Corporation", 14, Some("backup")).await;
    org(&w, "acme-mail", "Acme mailboxes", 3, Some("mail")).await;
    org(&w, "globex", "Globex Inc.", 9, Some("backup")).await;
    link(&w, "acme", (acme, acme_ms, acme_backup)).await;
    link(&w, "acme-mail", (acme, acme_ms, acme_mail)).await;
    link(&w, "globex", (globex, globex_ms, globex_backup)).await;
    let calls = w.sandbox.with(|s| s.calls);
    let run = sync(&w).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    assert_eq!(
        (
            run["counts"]["changed"].as_u64(),
            run["counts"]["unchanged"].as_u64()
        ),
        (Some(2), Some(1))
    );
    // 2 distinct agreements + 2 changed additions.
    assert_eq!(w.sandbox.with(|s| s.calls) - calls, 4);
    assert_eq!(w.sandbox.with(|s| s.quantity_of(acme_backup)), Some(14.0));
    assert_eq!(w.sandbox.with(|s| s.quantity_of(globex_backup)), Some(9.0));
}

#[tokio::test]
async fn a_429_is_waited_out_and_connectwises_words_reach_the_run() {
    let w = world().await;
    configured(&w).await;
    let (acme, acme_ms, acme_backup) = acme_backup(&w);
    org(&w, "acme", "Acme Corporation", 11, Some("backup")).await;
    link(&w, "acme", (acme, acme_ms, acme_backup)).await;
    w.sandbox.inject(Fault::once(
        "/additions",
        FaultKind::Respond {
            status: 429,
            body: json!({"error": "ConnectWiseAPI", "message": "Too many requests. Please try again in 1 seconds."}),
            retry_after: Some(1),
        },
    ));
    w.sandbox.inject(Fault::once(
        format!("PATCH /v2025_1/apis/3.0/finance/agreements/{acme_ms}/additions/{acme_backup}"),
        FaultKind::Respond {
            status: 400,
            body: json!({"code": "InvalidObject", "message": "addition object is invalid", "errors": [{"code": "InvalidField", "message": "The addition is locked by an invoice run.", "field": "quantity"}]}),
            retry_after: None,
        },
    ));
    let run = sync(&w).await;
    assert_eq!(run["status"], "failed", "{run}");
    assert_eq!(
        run["errors"][0]["vendor_message"],
        "addition object is invalid; quantity: The addition is locked by an invoice run."
    );
    assert_eq!(
        w.sandbox.with(|s| s.rate_limited),
        0,
        "the 429 was the fault's"
    );
    let again = sync(&w).await;
    assert_eq!(again["status"], "succeeded", "{again}");
    assert_eq!(w.sandbox.with(|s| s.quantity_of(acme_backup)), Some(11.0));
}

#[tokio::test]
async fn a_cloud_upgrade_moving_the_codebase_is_followed() {
    let w = world().await;
    configured(&w).await;
    let (acme, acme_ms, acme_backup) = acme_backup(&w);
    org(&w, "acme", "Acme Corporation", 13, Some("backup")).await;
    link(&w, "acme", (acme, acme_ms, acme_backup)).await;
    w.sandbox.with(|s| s.upgrade("v2026_1/"));
    let run = sync(&w).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    assert_eq!(w.sandbox.with(|s| s.quantity_of(acme_backup)), Some(13.0));
    // Missing records do not send us looking for a new codebase.
    let calls = w.sandbox.with(|s| s.calls);
    let missing = try_link(&w, "acme", (acme, acme_ms, 999_999)).await;
    assert_eq!(missing.field_errors(), ["addition_id"]);
    assert_eq!(w.sandbox.with(|s| s.calls) - calls, 3);
}

#[tokio::test]
async fn tickets_survive_lost_answers_repeats_at_once_and_connectwises_refusals() {
    let w = world().await;
    configured(&w).await;
    org(&w, "acme", "Acme Corporation", 1, Some("backup")).await;
    link(&w, "acme", acme_backup(&w)).await;

    // The create's answer is lost; the retry finds the ticket by externalXRef.
    w.sandbox.inject(Fault::once(
        "POST /v2025_1/apis/3.0/service/tickets",
        FaultKind::DelayAfter(Duration::from_secs(4)),
    ));
    let lost = w
        .portal
        .post(
            "/v1/integrations/connectwise/tickets",
            &w.admin,
            alert("disk-full:acme"),
        )
        .await;
    lost.problem(StatusCode::GATEWAY_TIMEOUT);
    let retried = w
        .portal
        .post(
            "/v1/integrations/connectwise/tickets",
            &w.admin,
            alert("disk-full:acme"),
        )
        .await;
    assert!(retried.status.is_success(), "{}", retried.body);
    assert_eq!(
        w.sandbox.with(|s| s.tickets.len()),
        1,
        "found, not duplicated"
    );

    // Eight identical alerts at once: one ticket.
    let replies = futures::future::join_all((0..8).map(|_| {
        w.portal.post(
            "/v1/integrations/connectwise/tickets",
            &w.admin,
            alert("cpu:acme"),
        )
    }))
    .await;
    for r in &replies {
        assert!(
            r.status.is_success() || r.status == StatusCode::SERVICE_UNAVAILABLE,
            "{}",
            r.body
        );
    }
    assert_eq!(w.sandbox.with(|s| s.tickets.len()), 2);

    // A status retired after saving: ConnectWise's own words, and nothing stored half-way.
    w.sandbox.with(|s| {
        for st in s.statuses.get_mut(&1).unwrap() {
            if st["id"] == json!(1) {
                st["inactive"] = json!(true);
            }
        }
    });
    let refused = w
        .portal
        .post(
            "/v1/integrations/connectwise/tickets",
            &w.admin,
            alert("new-key"),
        )
        .await;
    let problem = refused.problem(StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        problem["vendor_message"]
            .as_str()
            .unwrap()
            .contains("status: Status is not valid"),
        "{problem}"
    );
    assert_eq!(w.sandbox.with(|s| s.tickets.len()), 2);
}

#[tokio::test]
async fn two_partners_never_share_connections_or_data() {
    let w = world().await;
    configured(&w).await;
    org(&w, "acme", "Acme Corporation", 2, Some("backup")).await;
    link(&w, "acme", acme_backup(&w)).await;
    let mut theirs = State::demo();
    theirs.company_id = "other_msp".into();
    theirs.public_key = "otherPublic".into();
    theirs.private_key = "other-private".into();
    let other = Sandbox::start(theirs).await;
    let other_admin = w.portal.admin("other-msp");
    let connected = w
        .portal
        .post(
            "/v1/integrations/connectwise/connect",
            &other_admin,
            json!({"site": other.site(), "company_id": "other_msp", "public_key": "otherPublic", "private_key": "other-private"}),
        )
        .await;
    assert_eq!(connected.status, StatusCode::CREATED, "{}", connected.body);
    let rows = w
        .portal
        .get("/v1/integrations/connectwise/org-mappings", &other_admin)
        .await;
    assert!(rows.body["items"].as_array().unwrap().is_empty());
    w.portal
        .get("/v1/integrations/connectwise/configuration", &other_admin)
        .await
        .problem(StatusCode::NOT_FOUND);
    let before = w.sandbox.with(|s| s.calls);
    let listed = w
        .portal
        .get(
            "/v1/integrations/connectwise/catalog/companies",
            &other_admin,
        )
        .await;
    assert_eq!(listed.status, StatusCode::OK);
    let boards = w
        .portal
        .get("/v1/integrations/connectwise/options/boards", &other_admin)
        .await;
    assert_eq!(boards.status, StatusCode::OK);
    assert_eq!(
        w.sandbox.with(|s| s.calls),
        before,
        "their calls go to their ConnectWise"
    );
    // Revoking theirs leaves ours.
    w.portal
        .delete("/v1/integrations/connectwise", &other_admin)
        .await;
    let ours = w
        .portal
        .get("/v1/integrations/connectwise/org-mappings", &w.admin)
        .await;
    assert_eq!(ours.body["items"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn revoke_forgets_everything_and_stops_a_running_sync() {
    let w = world().await;
    configured(&w).await;
    let backup = product(&w, "BACKUP-SEAT");
    for i in 0..30 {
        let link_ids = w.sandbox.with(|s| {
            let company = s.add_company(&format!("Customer {i}"));
            let agreement = s.add_agreement(company, "Managed Services", "Active");
            (
                company,
                agreement,
                s.add_addition(agreement, backup, 1, false),
            )
        });
        let org_id = format!("org-{i}");
        org(&w, &org_id, &format!("Customer {i}"), 5, Some("backup")).await;
        link(&w, &org_id, link_ids).await;
    }
    // 30 agreement reads and 30 writes, 4 at once, take at least 1.2 s: the revoke lands
    // inside the run.
    w.sandbox.with(|s| s.latency = Duration::from_millis(80));
    let writes_before = w.sandbox.with(|s| s.writes);
    let started = w
        .portal
        .post("/v1/integrations/connectwise/sync", &w.admin, json!({}))
        .await;
    assert_eq!(started.status, StatusCode::ACCEPTED, "{}", started.body);
    tokio::time::sleep(Duration::from_millis(700)).await;
    let revoked = w
        .portal
        .delete("/v1/integrations/connectwise", &w.admin)
        .await;
    assert_eq!(revoked.status, StatusCode::NO_CONTENT);
    let writes_at_revoke = w.sandbox.with(|s| s.writes);
    tokio::time::sleep(Duration::from_millis(900)).await;
    let writes_after = w.sandbox.with(|s| s.writes);
    assert!(
        writes_after <= writes_at_revoke + 4,
        "at most the writes already in flight landed: {writes_at_revoke} -> {writes_after}"
    );
    assert!(writes_after - writes_before < 30, "the run stopped writing");
    let cards = w.portal.get("/v1/integrations", &w.admin).await;
    assert_eq!(
        (
            card(&cards)["status"].as_str(),
            card(&cards)["configured"].as_bool(),
            card(&cards)["org_mappings"].as_u64()
        ),
        (Some("not_connected"), Some(false), Some(0))
    );
    assert_eq!(
        w.portal.secret_of(TENANT, Provider::Connectwise).await,
        None
    );
}

/// 300 organizations on 300 agreements: the mapping rows are checked in bulk, with `id in (...)`
/// lists split so no URL passes ConnectWise's 2,000 characters (the sandbox refuses longer
/// ones), and additions read once per agreement.
#[tokio::test]
async fn many_rows_are_checked_in_bulk_within_the_url_limit() {
    let w = world().await;
    configured(&w).await;
    let backup = product(&w, "BACKUP-SEAT");
    let tenant = TenantId::new(TENANT).unwrap();
    let app = &w.portal.runner.app;
    for i in 0..300 {
        let (company_id, agreement_id, addition_id) = w.sandbox.with(|s| {
            let company = s.add_company(&format!("Customer {i}"));
            let agreement = s.add_agreement(company, "Managed Services", "Active");
            (
                company,
                agreement,
                s.add_addition(agreement, backup, 1, false),
            )
        });
        let org = OrgId::new(format!("org-{i:03}")).unwrap();
        let now = app.clock.now();
        app.store
            .put_organization(
                &tenant,
                &Organization {
                    id: org.clone(),
                    name: format!("Customer {i}"),
                    plan_id: None,
                    seats: 1,
                    updated_at: now,
                },
            )
            .await
            .unwrap();
        app.store
            .put_org_mapping(
                &tenant,
                &OrgMapping {
                    org_id: org,
                    target: OrgTarget::Connectwise {
                        company_id,
                        agreement_id,
                        addition_id,
                    },
                    updated_at: now,
                    version: 0,
                },
                Expect::Absent,
            )
            .await
            .unwrap();
    }
    let calls = w.sandbox.with(|s| s.calls);
    let rows = w
        .portal
        .get("/v1/integrations/connectwise/org-mappings", &w.admin)
        .await;
    assert!(rows.body["state_error"].is_null(), "{}", rows.body);
    let items = rows.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 300);
    assert!(items.iter().all(|r| r["state"] == "linked"));
    let used = w.sandbox.with(|s| s.calls) - calls;
    // 300 additions reads, and a few split lists each of companies and agreements.
    assert!((302..=320).contains(&used), "{used} calls");
}

/// An agreement with more additions than a page holds: seat sync pages forward-only by
/// `pageId`, keeping its conditions; a `Link` to another host is not followed, so the keys
/// never go there.
#[tokio::test]
async fn forward_only_pages_follow_links_only_on_the_connections_own_host() {
    let w = world().await;
    configured(&w).await;
    let (acme, acme_ms, acme_backup) = acme_backup(&w);
    let backup = product(&w, "BACKUP-SEAT");
    w.sandbox.with(|s| {
        for _ in 0..1100 {
            s.add_addition(acme_ms, backup, 1, false);
        }
    });
    org(&w, "acme", "Acme Corporation", 17, Some("backup")).await;
    link(&w, "acme", (acme, acme_ms, acme_backup)).await;
    let elsewhere = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let elsewhere_origin = format!("http://{}", elsewhere.local_addr().unwrap());
    w.sandbox
        .with(|s| s.link_origin = Some(elsewhere_origin.clone()));
    let refused = sync(&w).await;
    assert_eq!(refused["status"], "failed", "{refused}");
    assert!(
        refused["errors"][0]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("not followed"),
        "{refused}"
    );
    let accepted = tokio::time::timeout(Duration::from_millis(100), elsewhere.accept()).await;
    assert!(accepted.is_err(), "nothing was sent to the other host");

    w.sandbox.with(|s| s.link_origin = None);
    let calls = w.sandbox.with(|s| s.calls);
    let run = sync(&w).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    assert_eq!(w.sandbox.with(|s| s.quantity_of(acme_backup)), Some(17.0));
    // Two pages of additions (1,103 of them), one write.
    assert_eq!(w.sandbox.with(|s| s.calls) - calls, 3);
}
