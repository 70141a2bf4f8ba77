//! Seed 004's settings page through the HTTP API against the sandbox Autotask: the import and
//! opportunity defaults come from live lists, each refused value is named, and a partner who
//! only imports saves a configuration without ticket defaults.

use http::StatusCode;
use integration_tests::portal::Portal;
use sandbox::autotask::{DEMO_INTEGRATION_CODE, DEMO_SECRET, DEMO_USERNAME, Sandbox};
use serde_json::{Value, json};
use shared::providers::DeploymentSecret;

const TENANT: &str = "vcio-msp";
const CONFIG: &str = "/v1/integrations/autotask/configuration";

async fn connected(sandbox: &Sandbox) -> (Portal, String) {
    let portal = Portal::with_settings(
        integration_tests::sandbox_settings(sandbox, "msp-integrations"),
        DeploymentSecret::Value(DEMO_INTEGRATION_CODE.to_owned().into()),
    );
    let admin = portal.admin(TENANT);
    let reply = portal
        .post(
            "/v1/integrations/autotask/connect",
            &admin,
            json!({"username": DEMO_USERNAME, "secret": DEMO_SECRET}),
        )
        .await;
    assert!(reply.status.is_success(), "{}", reply.body);
    (portal, admin)
}

async fn options(portal: &Portal, admin: &str, list: &str) -> Vec<(i64, String)> {
    let reply = portal
        .get(&format!("/v1/integrations/autotask/options/{list}"), admin)
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{list}: {}", reply.body);
    reply.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["id"].as_i64().unwrap(),
                c["label"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn labels(choices: &[(i64, String)]) -> Vec<&str> {
    choices.iter().map(|(_, l)| l.as_str()).collect()
}

#[tokio::test]
async fn the_defaults_come_from_live_lists_and_each_refused_value_is_named() {
    let sandbox = Sandbox::demo().await;
    let (portal, admin) = connected(&sandbox).await;

    // What the form offers: active resources that are not API users (ours nor another
    // integration's), active stages, every company type, active asset types.
    let owners = options(&portal, &admin, "resources").await;
    assert_eq!(labels(&owners), ["Pamela Pierce", "Sam Lee"]);
    let stages = options(&portal, &admin, "opportunity_stages").await;
    assert_eq!(
        stages.len(),
        3,
        "the retired stage is not offered: {stages:?}"
    );
    let types = options(&portal, &admin, "company_types").await;
    assert_eq!(types[0], (1, "Customer".to_owned()));
    assert!(labels(&types).contains(&"Lead"));
    let statuses = options(&portal, &admin, "opportunity_statuses").await;
    assert!(statuses.contains(&(0, "Not Ready To Buy".to_owned())));
    let contract_types = options(&portal, &admin, "contract_types").await;
    assert!(contract_types.contains(&(7, "Recurring Service".to_owned())));
    let categories = options(&portal, &admin, "contract_categories").await;
    assert!(!labels(&categories).contains(&"Legacy (retired)"));
    let asset_types = options(&portal, &admin, "asset_types").await;
    assert_eq!(
        labels(&asset_types),
        ["Workstation", "Server", "Network Device"]
    );

    // A partner who only imports saves defaults without ticket defaults.
    let owner = owners[0].0;
    let good = json!({
        "opportunity_owner": owner, "opportunity_stage": 29_682_770,
        "customer_types": [1, 3], "opportunity_statuses": [0, 1],
        "contract_types": [7], "contract_categories": [7, 16], "asset_types": [1, 2],
        "ticket_history_days": 30, "scheduled_imports": ["customers", "tickets"],
    });
    let saved = portal.put(CONFIG, &admin, good.clone()).await;
    assert_eq!(saved.status, StatusCode::OK, "{}", saved.body);
    let read = portal.get(CONFIG, &admin).await;
    let settings = &read.body["settings"];
    for (field, value) in good.as_object().unwrap() {
        assert_eq!(&settings[field], value, "{field}");
    }
    assert_eq!(settings["primary_asset_source"], "autotask");
    assert!(settings["ticket_type"].is_null());

    // Each value not in the live lists is refused naming the field; nothing is stored.
    let inactive_owner = sandbox.with(|s| {
        s.entities["Resources"]
            .values()
            .find(|r| r["isActive"] == json!(false))
            .unwrap()["id"]
            .as_i64()
            .unwrap()
    });
    let api_user = sandbox.with(|s| {
        s.entities["Resources"]
            .values()
            .find(|r| r["userName"] == json!(DEMO_USERNAME))
            .unwrap()["id"]
            .as_i64()
            .unwrap()
    });
    let refused: [(Value, &[&str]); 8] = [
        (
            json!({"opportunity_owner": inactive_owner}),
            &["opportunity_owner"],
        ),
        (
            json!({"opportunity_owner": api_user}),
            &["opportunity_owner"],
        ),
        (
            json!({"opportunity_stage": 29_682_773}),
            &["opportunity_stage"],
        ),
        (json!({"customer_types": [1, 99]}), &["customer_types[1]"]),
        (
            json!({"opportunity_statuses": [1, 12]}),
            &["opportunity_statuses[1]"],
        ),
        (
            json!({"contract_types": [2], "contract_categories": [20]}),
            &["contract_types[0]", "contract_categories[0]"],
        ),
        (json!({"asset_types": [4]}), &["asset_types[0]"]),
        (
            json!({"primary_asset_source": "ninjaone"}),
            &["primary_asset_source"],
        ),
    ];
    for (body, fields) in refused {
        let reply = portal.put(CONFIG, &admin, body.clone()).await;
        assert_eq!(
            reply.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{body}: {}",
            reply.body
        );
        assert_eq!(reply.field_errors(), fields, "{body}");
    }
    // Shapes are refused before Autotask is asked.
    let calls = sandbox.with(|s| s.calls());
    for (body, field) in [
        (json!({"customer_types": []}), "customer_types"),
        (json!({"asset_types": [2, 2]}), "asset_types[1]"),
        (json!({"ticket_history_days": 3651}), "ticket_history_days"),
        (
            json!({"scheduled_imports": ["tickets", "tickets"]}),
            "scheduled_imports",
        ),
    ] {
        let reply = portal.put(CONFIG, &admin, body.clone()).await;
        assert_eq!(reply.field_errors(), [field], "{body}: {}", reply.body);
    }
    let unknown = portal
        .put(CONFIG, &admin, json!({"scheduled_imports": ["devices"]}))
        .await;
    assert_eq!(unknown.status, StatusCode::BAD_REQUEST, "{}", unknown.body);
    assert_eq!(sandbox.with(|s| s.calls()), calls);
    let still = portal.get(CONFIG, &admin).await;
    assert_eq!(still.body["settings"]["asset_types"], json!([1, 2]));
}

#[tokio::test]
async fn a_configuration_saved_before_the_import_defaults_reads_with_their_defaults() {
    let sandbox = Sandbox::demo().await;
    let (portal, admin) = connected(&sandbox).await;
    let ticket_defaults = json!({"sync_seat_quantity": true, "ticket_type": 5, "sla": 1, "priority": 1, "queue": 29683482, "status": 1});
    let saved = portal.put(CONFIG, &admin, ticket_defaults).await;
    assert_eq!(saved.status, StatusCode::OK, "{}", saved.body);
    let settings = &saved.body["settings"];
    assert_eq!(settings["customer_types"], json!([1]));
    assert_eq!(settings["opportunity_statuses"], json!([1]));
    assert_eq!(settings["ticket_history_days"], 90);
    assert_eq!(settings["scheduled_imports"], json!([]));
    // The form's ticket fields are still all-or-none.
    let half = portal
        .put(
            CONFIG,
            &admin,
            json!({"queue": 29683482, "customer_types": [1]}),
        )
        .await;
    assert_eq!(
        half.field_errors(),
        ["ticket_type", "sla", "priority", "status"]
    );
}
