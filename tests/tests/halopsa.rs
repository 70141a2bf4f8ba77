//! HaloPSA end to end through the HTTP API (the local runner's router) against the sandbox
//! HaloPSA: seed 001's connect, configure, map, seat sync, tickets and revoke, the address
//! policy on partner-given site URLs, tokens, the rolling rate limit, and Halo's faults.

use std::{
    collections::HashMap,
    io,
    net::{IpAddr, SocketAddr},
    sync::Arc,
    time::Duration,
};

use async_trait::async_trait;
use http::StatusCode;
use integration_tests::portal::{Portal, Reply};
use sandbox::{
    Fault, FaultKind,
    halopsa::{DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, Permission, Sandbox, State},
};
use serde_json::{Value, json};
use shared::{
    config::Settings,
    domain::{OrgId, OrgMapping, OrgTarget, Organization, Provider, TenantId},
    ports::Expect,
    providers::{
        DeploymentSecret,
        address::{AddressPolicy, Lookup},
        halopsa::{HaloIntegration, HaloOptions},
    },
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
    // Every repeat is posted, so these tests see notes and reopened tickets at once; the storm
    // window is tested in ticket_guard.rs.
    settings.ticket_storm_window_secs = 0;
    settings
}

async fn world_with(state: State, settings: Settings) -> World {
    let sandbox = Sandbox::start(state).await;
    let portal = Portal::with_settings(settings, DeploymentSecret::Missing);
    let admin = portal.admin(TENANT);
    World {
        sandbox,
        portal,
        admin,
    }
}

async fn world() -> World {
    world_with(State::demo(), settings()).await
}

fn connect_body(w: &World) -> Value {
    json!({"site_url": w.sandbox.site_url(), "client_id": DEMO_CLIENT_ID, "client_secret": DEMO_CLIENT_SECRET})
}

async fn connect(w: &World) -> Reply {
    w.portal
        .post(
            "/v1/integrations/halopsa/connect",
            &w.admin,
            connect_body(w),
        )
        .await
}

fn customer(w: &World, name: &str) -> i64 {
    w.sandbox.with(|s| {
        s.clients
            .values()
            .find(|c| c["name"] == name)
            .and_then(|c| c["id"].as_i64())
            .unwrap_or_else(|| panic!("no customer {name}"))
    })
}

fn licence(w: &World, customer_id: i64, name: &str) -> i64 {
    w.sandbox.with(|s| {
        s.licences
            .values()
            .find(|l| l["client_id"].as_f64() == Some(customer_id as f64) && l["name"] == name)
            .and_then(|l| l["id"].as_i64())
            .unwrap_or_else(|| panic!("no licence {name} of {customer_id}"))
    })
}

fn backup_licence(w: &World, customer_name: &str) -> (i64, i64) {
    let c = customer(w, customer_name);
    (c, licence(w, c, "Managed Backup - Per Seat"))
}

fn configuration() -> Value {
    json!({"sync_seat_quantity": true, "ticket_type_id": 3, "sla_id": 2, "priority_id": 1})
}

/// Connected, configured, and these organizations mapped to their customers' backup licences.
async fn mapped(w: &World, orgs: &[(&str, &str, u32)]) {
    assert_eq!(connect(w).await.status, StatusCode::CREATED);
    let put = w
        .portal
        .put(
            "/v1/integrations/halopsa/configuration",
            &w.admin,
            configuration(),
        )
        .await;
    assert_eq!(put.status, StatusCode::OK, "{}", put.body);
    for (org, name, seats) in orgs {
        w.portal
            .put(
                &format!("/v1/organizations/{org}"),
                &w.admin,
                json!({"name": name, "seats": seats}),
            )
            .await;
        let (customer_id, licence_id) = backup_licence(w, name);
        let reply = w
            .portal
            .put(
                &format!("/v1/integrations/halopsa/org-mappings/{org}"),
                &w.admin,
                json!({"customer_id": customer_id, "licence_id": licence_id}),
            )
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    }
}

async fn sync(w: &World) -> Value {
    let started = w
        .portal
        .post(
            "/v1/integrations/halopsa/sync",
            &w.admin,
            json!({"kinds": ["seats"]}),
        )
        .await;
    assert_eq!(started.status, StatusCode::ACCEPTED, "{}", started.body);
    w.portal
        .finished_run(
            Provider::Halopsa,
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
        .find(|c| c["provider"] == "halopsa")
        .unwrap()
}

fn ids(reply: &Reply) -> Vec<i64> {
    reply.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_i64().unwrap())
        .collect()
}

#[tokio::test]
async fn seed_001_connect_configure_map_sync_ticket_and_revoke() {
    let w = world().await;

    // Connect: site URL, client ID and secret; the card shows Connected.
    let connected = connect(&w).await;
    assert_eq!(connected.status, StatusCode::CREATED, "{}", connected.body);
    let site = w.sandbox.site_url();
    assert_eq!(connected.body["instance"]["site_url"], site);
    assert_eq!(
        connected.body["instance"]["auth_url"],
        format!("{site}/auth")
    );
    assert!(!connected.body.to_string().contains(DEMO_CLIENT_SECRET));
    let cards = w.portal.get("/v1/integrations", &w.admin).await;
    assert_eq!(card(&cards)["status"], "connected");
    assert_eq!(card(&cards)["configured"], false);

    // Configure from live lists: a ticket type names its default SLA, whose priorities follow.
    let types = w
        .portal
        .get("/v1/integrations/halopsa/options/ticket_types", &w.admin)
        .await;
    assert_eq!(types.status, StatusCode::OK, "{}", types.body);
    assert_eq!(ids(&types), [1, 3], "hidden ticket types are not offered");
    assert_eq!(types.body["items"][1]["parent"], 2);
    let priorities = w
        .portal
        .get(
            "/v1/integrations/halopsa/options/priorities?parent=2",
            &w.admin,
        )
        .await;
    assert_eq!(ids(&priorities), [1, 2]);
    assert_eq!(priorities.body["items"][0]["label"], "Urgent");
    let statuses = w
        .portal
        .get("/v1/integrations/halopsa/options/statuses", &w.admin)
        .await;
    assert_eq!(ids(&statuses), [1, 2], "closed statuses are not offered");
    let put = w
        .portal
        .put(
            "/v1/integrations/halopsa/configuration",
            &w.admin,
            configuration(),
        )
        .await;
    assert_eq!(put.status, StatusCode::OK, "{}", put.body);

    // "Reset Integration Configuration" clears the form and keeps the connection.
    let reset = w
        .portal
        .delete("/v1/integrations/halopsa/configuration", &w.admin)
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
            "/v1/integrations/halopsa/configuration",
            &w.admin,
            configuration(),
        )
        .await;

    // Map: search customers (paged), pick the customer's software licence.
    let page1 = w
        .portal
        .get(
            "/v1/integrations/halopsa/catalog/customers?limit=2",
            &w.admin,
        )
        .await;
    assert_eq!(page1.status, StatusCode::OK, "{}", page1.body);
    assert_eq!(page1.body["items"].as_array().unwrap().len(), 2);
    let next = page1.body["next"].as_str().unwrap();
    let page2 = w
        .portal
        .get(
            &format!("/v1/integrations/halopsa/catalog/customers?limit=2&after={next}"),
            &w.admin,
        )
        .await;
    assert_eq!(
        page2.body["items"].as_array().unwrap().len(),
        1,
        "inactive customers are not offered"
    );
    assert!(page2.body["next"].is_null());
    let search = w
        .portal
        .get(
            "/v1/integrations/halopsa/catalog/customers?search=glob",
            &w.admin,
        )
        .await;
    assert_eq!(search.body["items"][0]["name"], "Globex Inc.");
    let acme = customer(&w, "Acme Corporation");
    let licences = w
        .portal
        .get(
            &format!("/v1/integrations/halopsa/catalog/licences?customer_id={acme}"),
            &w.admin,
        )
        .await;
    let names: Vec<&str> = licences.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Managed Backup - Per Seat", "Email Security"]);
    assert_eq!(licences.body["items"][0]["parent_id"], acme);

    w.portal
        .put(
            "/v1/organizations/acme",
            &w.admin,
            json!({"name": "Acme Corporation", "seats": 12}),
        )
        .await;
    let (_, acme_backup) = backup_licence(&w, "Acme Corporation");
    let linked = w
        .portal
        .put(
            "/v1/integrations/halopsa/org-mappings/acme",
            &w.admin,
            json!({"customer_id": acme, "licence_id": acme_backup}),
        )
        .await;
    assert_eq!(linked.status, StatusCode::OK, "{}", linked.body);
    let rows = w
        .portal
        .get("/v1/integrations/halopsa/org-mappings", &w.admin)
        .await;
    assert_eq!(rows.body["items"][0]["state"], "linked");
    assert_eq!(rows.body["items"][0]["name"], "Acme Corporation");

    // Seat sync sets the licence count, and a second run changes nothing.
    let run = sync(&w).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    assert_eq!(run["counts"]["changed"], 1);
    assert_eq!(w.sandbox.with(|s| s.count_of(acme_backup)), Some(12));
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

    // An alert opens one ticket with the configured type, SLA and priority; a repeat adds
    // an action; once closed, a new ticket.
    let alert = json!({"org_id": "acme", "dedupe_key": "backup-failed:acme:mailbox", "title": "Backup failed for 3 mailboxes", "description": "Exchange Online backup failed twice"});
    let opened = w
        .portal
        .post("/v1/integrations/halopsa/tickets", &w.admin, alert.clone())
        .await;
    assert_eq!(opened.status, StatusCode::CREATED, "{}", opened.body);
    let ticket_id = opened.body["ticket_id"].as_i64().unwrap();
    let ticket = w.sandbox.with(|s| s.tickets[&ticket_id].clone());
    assert_eq!(
        (
            ticket["client_id"].as_i64(),
            ticket["tickettype_id"].as_i64(),
            ticket["sla_id"].as_i64(),
            ticket["priority_id"].as_i64()
        ),
        (Some(acme), Some(3), Some(2), Some(1))
    );
    let noted = w
        .portal
        .post("/v1/integrations/halopsa/tickets", &w.admin, alert.clone())
        .await;
    assert_eq!(
        (
            noted.status,
            noted.body["action"].as_str(),
            noted.body["ticket_id"].as_i64()
        ),
        (StatusCode::OK, Some("noted"), Some(ticket_id))
    );
    let action = w.sandbox.with(|s| s.actions[0].clone());
    assert_eq!(
        (
            action["ticket_id"].as_i64(),
            action["hiddenfromuser"].as_bool()
        ),
        (Some(ticket_id), Some(true))
    );
    w.sandbox.with(|s| s.close_ticket(ticket_id));
    let reopened = w
        .portal
        .post("/v1/integrations/halopsa/tickets", &w.admin, alert)
        .await;
    assert_eq!(reopened.status, StatusCode::CREATED);
    assert_ne!(reopened.body["ticket_id"].as_i64(), Some(ticket_id));

    // Unlink, then revoke: the card is back to Connect, the secret is gone.
    let unlink = w
        .portal
        .delete("/v1/integrations/halopsa/org-mappings/acme", &w.admin)
        .await;
    assert_eq!(unlink.status, StatusCode::NO_CONTENT);
    let revoked = w.portal.delete("/v1/integrations/halopsa", &w.admin).await;
    assert_eq!(revoked.status, StatusCode::NO_CONTENT);
    let cards = w.portal.get("/v1/integrations", &w.admin).await;
    assert_eq!(card(&cards)["status"], "not_connected");
    assert_eq!(w.portal.secret_of(TENANT, Provider::Halopsa).await, None);
    w.portal
        .get("/v1/integrations/halopsa/options/slas", &w.admin)
        .await
        .problem(StatusCode::CONFLICT);
}

#[tokio::test]
async fn connect_errors_say_what_to_fix_and_store_nothing() {
    let w = world().await;
    let post = |body: Value| {
        w.portal
            .post("/v1/integrations/halopsa/connect", &w.admin, body)
    };
    let site = w.sandbox.site_url();

    let wrong =
        post(json!({"site_url": site, "client_id": DEMO_CLIENT_ID, "client_secret": "wrong"}))
            .await;
    wrong.problem(StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(wrong.field_errors(), ["client_secret"]);
    assert!(
        wrong.body["vendor_message"]
            .as_str()
            .unwrap()
            .starts_with("invalid_client")
    );

    let missing = post(json!({"site_url": site, "client_id": " ", "client_secret": ""})).await;
    missing.problem(StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(missing.field_errors(), ["client_id", "client_secret"]);
    post(json!({"site_url": site, "client_id": DEMO_CLIENT_ID}))
        .await
        .problem(StatusCode::BAD_REQUEST);

    // The agent's role lacks Software Licensing access.
    w.sandbox.with(|s| {
        s.permissions.remove(&Permission::Licences);
    });
    let forbidden = post(connect_body(&w)).await;
    let problem = forbidden.problem(StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("Software Licensing"),
        "{problem}"
    );
    w.sandbox.with(|s| {
        s.permissions.insert(Permission::Licences);
    });

    // A site that is not Halo: no authinfo, no token endpoint.
    let autotask = sandbox::autotask::Sandbox::demo().await;
    let elsewhere = autotask
        .zone_lookup_url()
        .trim_end_matches("/zone-a/atservicesrest/")
        .to_owned();
    let not_halo =
        post(json!({"site_url": elsewhere, "client_id": "a", "client_secret": "b"})).await;
    not_halo.problem(StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(not_halo.field_errors(), ["site_url"]);

    let unreachable =
        post(json!({"site_url": "http://127.0.0.1:9", "client_id": "a", "client_secret": "b"}))
            .await;
    unreachable.problem(StatusCode::BAD_GATEWAY);

    w.sandbox.inject(Fault::once(
        "GET /api/authinfo",
        FaultKind::Respond {
            status: 429,
            body: json!("Rate Limit Reached - 300 Requests per rolling 5 minute window"),
            retry_after: Some(120),
        },
    ));
    let throttled = post(connect_body(&w)).await;
    throttled.problem(StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(throttled.headers["retry-after"], "120");

    let cards = w.portal.get("/v1/integrations", &w.admin).await;
    assert_eq!(card(&cards)["status"], "not_connected");
    assert_eq!(w.portal.secret_of(TENANT, Provider::Halopsa).await, None);
}

#[tokio::test]
async fn hosted_instances_get_their_tenant_from_authinfo() {
    let mut state = State::demo();
    state.hosted_tenant = Some("dropsuite".into());
    let w = world_with(state, settings()).await;
    let connected = connect(&w).await;
    assert_eq!(connected.status, StatusCode::CREATED, "{}", connected.body);
    assert_eq!(connected.body["instance"]["tenant"], "dropsuite");
    let lists = w
        .portal
        .get("/v1/integrations/halopsa/options/slas", &w.admin)
        .await;
    assert_eq!(lists.status, StatusCode::OK, "{}", lists.body);

    let wrong_tenant = w
        .portal
        .post(
            "/v1/integrations/halopsa/connect",
            &w.admin,
            json!({"site_url": w.sandbox.site_url(), "client_id": DEMO_CLIENT_ID, "client_secret": DEMO_CLIENT_SECRET, "tenant": "someone-else"}),
        )
        .await;
    assert_eq!(wrong_tenant.field_errors(), ["client_secret"]);
}

/// Names resolve from a table, as a partner's DNS might answer.
struct Table(HashMap<&'static str, IpAddr>);

#[async_trait]
impl Lookup for Table {
    async fn lookup(&self, host: &str, port: u16) -> io::Result<Vec<SocketAddr>> {
        self.0
            .get(host)
            .map(|ip| vec![SocketAddr::new(*ip, port)])
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "unknown host"))
    }
}

#[tokio::test]
async fn partner_site_urls_that_reach_private_networks_are_refused_before_any_request() {
    let sandbox = Sandbox::demo().await;
    let port = sandbox.site_url().rsplit(':').next().unwrap().to_owned();
    // Production settings: no loopback vendors.
    let mut settings = Settings::with_prefix("msp-integrations");
    settings.vendors.timeout_secs = 2;
    let portal =
        Portal::with_settings(settings, DeploymentSecret::Missing).with_integrations(|i| {
            let lookup = Table(HashMap::from([
                ("intranet.partner.example", "10.20.30.40".parse().unwrap()),
                (
                    "metadata.partner.example",
                    "169.254.169.254".parse().unwrap(),
                ),
                ("sandbox.partner.example", "127.0.0.1".parse().unwrap()),
            ]));
            i.with(Arc::new(HaloIntegration::new(HaloOptions {
                policy: AddressPolicy {
                    allow_loopback: false,
                    lookup: Arc::new(lookup),
                },
                window_budget: 200,
                window: Duration::from_secs(300),
                concurrency: 2,
                timeout: Duration::from_secs(2),
            })))
        });
    let admin = portal.admin(TENANT);
    let cases = [
        format!("http://127.0.0.1:{port}"),
        format!("https://127.0.0.1:{port}"),
        "https://127.0.0.1".to_owned(),
        "https://10.0.0.5".to_owned(),
        "https://169.254.169.254".to_owned(),
        "https://[::1]".to_owned(),
        "https://[fd00:ec2::254]".to_owned(),
        "https://localhost".to_owned(),
        "https://intranet.partner.example".to_owned(),
        "https://metadata.partner.example".to_owned(),
        format!("https://sandbox.partner.example:{port}"),
        "https://sandbox.partner.example".to_owned(),
        "https://admin:hunter2@intranet.partner.example".to_owned(),
        "https://acme.halopsa.com:8443".to_owned(),
        "https://acme.halopsa.com:22".to_owned(),
        "https://acme.halopsa.com/some/path".to_owned(),
        "https://acme.halopsa.com/#x".to_owned(),
        "file:///etc/passwd".to_owned(),
        "gopher://acme.halopsa.com".to_owned(),
    ];
    for site in &cases {
        let reply = portal
            .post(
                "/v1/integrations/halopsa/connect",
                &admin,
                json!({"site_url": site, "client_id": DEMO_CLIENT_ID, "client_secret": DEMO_CLIENT_SECRET}),
            )
            .await;
        assert_eq!(
            reply.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{site}: {}",
            reply.body
        );
        assert_eq!(reply.field_errors(), ["site_url"], "{site}: {}", reply.body);
        assert!(!reply.body.to_string().contains(DEMO_CLIENT_SECRET));
    }
    assert_eq!(
        sandbox.with(|s| s.calls),
        0,
        "no request reached the loopback sandbox"
    );
    assert_eq!(portal.secret_of(TENANT, Provider::Halopsa).await, None);
}

#[tokio::test]
async fn the_secret_goes_only_to_the_sites_own_authorisation_server() {
    let w = world().await;
    let elsewhere = Sandbox::demo().await;
    let foreign = format!("{}/auth", elsewhere.site_url());
    w.sandbox.with(|s| s.auth_url_override = Some(foreign));
    let connected = connect(&w).await;
    assert_eq!(connected.status, StatusCode::CREATED, "{}", connected.body);
    assert_eq!(
        connected.body["instance"]["auth_url"],
        format!("{}/auth", w.sandbox.site_url()),
        "an authorisation server outside the site and Halo's domains is not trusted"
    );
    assert_eq!(elsewhere.with(|s| s.calls), 0);
}

#[tokio::test]
async fn configuration_is_checked_against_live_lists_and_cached() {
    let w = world().await;
    assert_eq!(connect(&w).await.status, StatusCode::CREATED);
    let put = |body: Value| {
        w.portal
            .put("/v1/integrations/halopsa/configuration", &w.admin, body)
    };
    let wrong_priority = put(json!({"ticket_type_id": 3, "sla_id": 2, "priority_id": 4})).await;
    wrong_priority.problem(StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(wrong_priority.field_errors(), ["priority_id"]);
    let errors = wrong_priority.body["errors"].to_string();
    assert!(errors.contains("1 (Urgent), 2 (Normal)"), "{errors}");

    let unknown =
        put(json!({"ticket_type_id": 77, "sla_id": 9, "priority_id": 1, "status_id": 9})).await;
    assert_eq!(
        unknown.field_errors(),
        ["ticket_type_id", "sla_id", "status_id"]
    );
    let shape = put(json!({"priority_id": 1})).await;
    assert_eq!(shape.field_errors(), ["sla_id"]);
    let incomplete = put(json!({"sync_seat_quantity": true})).await;
    assert_eq!(
        incomplete.field_errors(),
        ["ticket_type_id", "sla_id", "priority_id"]
    );
    let calls = w.sandbox.with(|s| s.calls);
    w.portal
        .get("/v1/integrations/halopsa/options/priorities", &w.admin)
        .await;
    assert_eq!(
        w.sandbox.with(|s| s.calls),
        calls,
        "lists come from the cache"
    );
    let config = w
        .portal
        .get("/v1/integrations/halopsa/configuration", &w.admin)
        .await;
    config.problem(StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn mappings_are_refused_unless_complete_and_the_licence_is_the_customers() {
    let w = world().await;
    mapped(&w, &[]).await;
    w.portal
        .put(
            "/v1/organizations/acme",
            &w.admin,
            json!({"name": "Acme Corporation", "seats": 4}),
        )
        .await;
    let put = |body: Value| {
        w.portal
            .put("/v1/integrations/halopsa/org-mappings/acme", &w.admin, body)
    };
    let (acme, acme_backup) = backup_licence(&w, "Acme Corporation");
    let (globex, globex_backup) = backup_licence(&w, "Globex Inc.");
    let (umbrella, umbrella_backup) = backup_licence(&w, "Umbrella Holdings");

    let missing = put(json!({"customer_id": acme})).await;
    missing.problem(StatusCode::BAD_REQUEST);
    assert_eq!(missing.field_errors(), ["licence_id"]);
    let empty = put(json!({"customer_id": 0, "licence_id": 0})).await;
    assert_eq!(empty.field_errors(), ["customer_id", "licence_id"]);
    let not_theirs = put(json!({"customer_id": acme, "licence_id": globex_backup})).await;
    not_theirs.problem(StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(not_theirs.field_errors(), ["licence_id"]);
    assert!(
        not_theirs.body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains(&format!("customer {globex}"))
    );
    let inactive = put(json!({"customer_id": umbrella, "licence_id": umbrella_backup})).await;
    assert_eq!(inactive.field_errors(), ["customer_id"]);
    let gone = put(json!({"customer_id": acme, "licence_id": 999_999})).await;
    assert_eq!(gone.field_errors(), ["licence_id"]);
    assert!(
        w.portal
            .get("/v1/integrations/halopsa/org-mappings", &w.admin)
            .await
            .body["items"]
            .as_array()
            .unwrap()
            .is_empty(),
        "nothing stored"
    );
    w.portal
        .put(
            "/v1/integrations/halopsa/plan-mappings/backup",
            &w.admin,
            json!({"service_id": 1}),
        )
        .await
        .problem(StatusCode::NOT_FOUND);

    // Linked, then broken once the licence is deleted in Halo; editing it again works.
    assert_eq!(
        put(json!({"customer_id": acme, "licence_id": acme_backup}))
            .await
            .status,
        StatusCode::OK
    );
    w.sandbox.with(|s| {
        s.licences.get_mut(&acme_backup).unwrap()["deleted"] = json!(true);
    });
    let rows = w
        .portal
        .get("/v1/integrations/halopsa/org-mappings", &w.admin)
        .await;
    assert_eq!(rows.body["items"][0]["state"], "broken");
    let email = licence(&w, acme, "Email Security");
    assert_eq!(
        put(json!({"customer_id": acme, "licence_id": email}))
            .await
            .status,
        StatusCode::OK
    );
    let rows = w
        .portal
        .get("/v1/integrations/halopsa/org-mappings", &w.admin)
        .await;
    assert_eq!(rows.body["items"][0]["state"], "linked");
}

#[tokio::test]
async fn tokens_are_cached_and_renewed_once_when_halo_expires_them() {
    let w = world().await;
    mapped(&w, &[("acme", "Acme Corporation", 10)]).await;
    let issued = w.sandbox.with(|s| s.tokens_issued);
    for _ in 0..3 {
        let rows = w
            .portal
            .get("/v1/integrations/halopsa/org-mappings", &w.admin)
            .await;
        assert_eq!(rows.body["items"][0]["state"], "linked");
    }
    assert_eq!(
        w.sandbox.with(|s| s.tokens_issued),
        issued,
        "one token serves many calls"
    );
    w.sandbox.with(|s| s.expire_tokens());
    let rows = w
        .portal
        .get("/v1/integrations/halopsa/org-mappings", &w.admin)
        .await;
    assert_eq!(rows.body["items"][0]["state"], "linked");
    assert_eq!(w.sandbox.with(|s| s.tokens_issued), issued + 1);

    // The application's secret is rotated in Halo: the sync fails and the card says reconnect.
    w.sandbox.with(|s| {
        s.client_secret = "rotated".into();
        s.expire_tokens();
    });
    w.portal
        .put(
            "/v1/organizations/acme",
            &w.admin,
            json!({"name": "Acme Corporation", "seats": 11}),
        )
        .await;
    let run = sync(&w).await;
    assert_eq!(run["status"], "failed", "{run}");
    let cards = w.portal.get("/v1/integrations", &w.admin).await;
    assert_eq!(card(&cards)["status"], "needs_reconnect");
}

/// Maps `orgs` organizations to licences at the end of a long licence list, directly in the
/// store (the API path is covered above).
async fn many_mapped(w: &World, orgs: usize, filler: usize) -> Vec<i64> {
    assert_eq!(connect(w).await.status, StatusCode::CREATED);
    w.portal
        .put(
            "/v1/integrations/halopsa/configuration",
            &w.admin,
            configuration(),
        )
        .await;
    let customer = w.sandbox.with(|s| {
        let c = s.add_customer("Filler Holdings", true);
        for i in 0..filler {
            s.add_licence(c, &format!("Filler {i}"), 1);
        }
        c
    });
    let tenant = TenantId::new(TENANT).unwrap();
    let app = &w.portal.runner.app;
    let mut licences = Vec::new();
    for i in 0..orgs {
        let l = w
            .sandbox
            .with(|s| s.add_licence(customer, &format!("Backup {i}"), 3));
        licences.push(l);
        let org = OrgId::new(format!("org-{i:03}")).unwrap();
        let now = app.clock.now();
        app.store
            .put_organization(
                &tenant,
                &Organization {
                    id: org.clone(),
                    name: format!("Customer {i}"),
                    plan_id: None,
                    seats: 5,
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
                    target: OrgTarget::Halopsa {
                        customer_id: customer,
                        licence_id: l,
                    },
                    updated_at: now,
                    version: 0,
                },
                Expect::Absent,
            )
            .await
            .unwrap();
    }
    licences
}

#[tokio::test]
async fn syncs_page_in_bulk_and_stay_inside_the_rolling_rate_limit() {
    let mut state = State::empty();
    // A scaled-down hosted limit: 30 requests per rolling second.
    state.rate_limit = 30;
    state.rate_window = Duration::from_secs(1);
    let mut s = settings();
    s.vendors.halopsa_window_budget = 24;
    s.vendors.halopsa_window_secs = 1;
    let w = world_with(state, s).await;
    let licences = many_mapped(&w, 40, 1_100).await;
    let before = w.sandbox.with(|s| s.calls);
    let run = sync(&w).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    assert_eq!(run["counts"]["changed"], 40);
    let calls = w.sandbox.with(|s| s.calls) - before;
    // 1,140 licences read in 3 pages of 500, then 40 writes (and at most one token).
    assert!(calls <= 3 + 40 + 1, "{calls} calls");
    assert_eq!(
        w.sandbox.with(|s| s.rate_limited),
        0,
        "never over Halo's limit"
    );
    assert!(
        licences
            .iter()
            .all(|l| w.sandbox.with(|s| s.count_of(*l)) == Some(5))
    );
}

#[tokio::test]
async fn a_429_is_waited_out_and_halos_validation_words_reach_the_run() {
    let w = world().await;
    mapped(
        &w,
        &[
            ("acme", "Acme Corporation", 10),
            ("globex", "Globex Inc.", 6),
        ],
    )
    .await;
    w.sandbox.inject(Fault::once(
        "GET /api/SoftwareLicence",
        FaultKind::Respond {
            status: 429,
            body: json!("Rate Limit Reached - 300 Requests per rolling 5 minute window"),
            retry_after: Some(1),
        },
    ));
    w.sandbox.inject(Fault::once(
        "POST /api/SoftwareLicence",
        FaultKind::Respond {
            status: 400,
            body: json!({"[0].count": "The licence is locked by a Microsoft CSP sync."}),
            retry_after: None,
        },
    ));
    let run = sync(&w).await;
    assert_eq!(run["status"], "partial", "{run}");
    assert_eq!(run["counts"]["failed"], 1);
    assert_eq!(
        run["errors"][0]["vendor_message"],
        "[0].count: The licence is locked by a Microsoft CSP sync."
    );
    let again = sync(&w).await;
    assert_eq!(again["status"], "succeeded", "{again}");
    let (_, globex) = backup_licence(&w, "Globex Inc.");
    assert_eq!(w.sandbox.with(|s| s.count_of(globex)), Some(6));
}

#[tokio::test]
async fn a_ticket_whose_create_answer_was_lost_is_found_not_duplicated() {
    let w = world().await;
    mapped(&w, &[("acme", "Acme Corporation", 10)]).await;
    let alert = json!({"org_id": "acme", "dedupe_key": "disk-full:acme", "title": "Disk full", "description": "C: at 99%"});
    w.sandbox.inject(Fault::once(
        "POST /api/Tickets",
        FaultKind::DelayAfter(Duration::from_secs(4)),
    ));
    let lost = w
        .portal
        .post("/v1/integrations/halopsa/tickets", &w.admin, alert.clone())
        .await;
    lost.problem(StatusCode::GATEWAY_TIMEOUT);
    let retried = w
        .portal
        .post("/v1/integrations/halopsa/tickets", &w.admin, alert)
        .await;
    assert_eq!(retried.status, StatusCode::CREATED, "{}", retried.body);
    assert_eq!(
        w.sandbox.with(|s| s.tickets.len()),
        1,
        "the retry found the ticket the lost answer created"
    );
}

#[tokio::test]
async fn two_partners_never_share_tokens_or_data() {
    let w = world().await;
    mapped(&w, &[("acme", "Acme Corporation", 10)]).await;
    let mut other_state = State::demo();
    other_state.client_id = "other-msp-app".into();
    other_state.client_secret = "other-msp-secret".into();
    let other = Sandbox::start(other_state).await;
    let other_admin = w.portal.admin("other-msp");
    let connected = w
        .portal
        .post(
            "/v1/integrations/halopsa/connect",
            &other_admin,
            json!({"site_url": other.site_url(), "client_id": "other-msp-app", "client_secret": "other-msp-secret"}),
        )
        .await;
    assert_eq!(connected.status, StatusCode::CREATED, "{}", connected.body);
    let theirs = w
        .portal
        .get("/v1/integrations/halopsa/org-mappings", &other_admin)
        .await;
    assert!(theirs.body["items"].as_array().unwrap().is_empty());
    let before = w.sandbox.with(|s| s.calls);
    let listed = w
        .portal
        .get("/v1/integrations/halopsa/catalog/customers", &other_admin)
        .await;
    assert_eq!(listed.status, StatusCode::OK);
    assert_eq!(
        w.sandbox.with(|s| s.calls),
        before,
        "the other partner's calls go to their Halo"
    );
    assert_eq!(
        w.sandbox.with(|s| s.tokens_issued),
        2,
        "connect + one session token"
    );
    assert_eq!(other.with(|s| s.tokens_issued), 2);
}
