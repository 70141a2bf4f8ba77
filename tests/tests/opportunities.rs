//! Seed 004's opportunities from the platform, through the HTTP API against the sandbox
//! Autotask: one per dedupe key while it is open (also when identical requests arrive at
//! once), a lost create answer adopted rather than duplicated, and every refusal clear.

use http::StatusCode;
use integration_tests::{journeys, portal::Portal};
use sandbox::{
    Fault, FaultKind,
    autotask::{DEMO_INTEGRATION_CODE, Sandbox},
};
use serde_json::{Value, json};
use shared::providers::DeploymentSecret;

const TENANT: &str = "vcio-msp";
const RAISE: &str = "/v1/integrations/autotask/opportunities";

async fn linked(sandbox: &Sandbox) -> (Portal, String, i64) {
    let portal = Portal::with_settings(
        integration_tests::sandbox_settings(sandbox, "msp-integrations"),
        DeploymentSecret::Value(DEMO_INTEGRATION_CODE.to_owned().into()),
    );
    let admin = portal.admin(TENANT);
    journeys::autotask_acme_mapped(&portal, &admin, "acme", 10).await;
    let owner = portal
        .get("/v1/integrations/autotask/options/resources", &admin)
        .await
        .body["items"][0]["id"]
        .as_i64()
        .unwrap();
    (portal, admin, owner)
}

async fn choose_owner_and_stage(portal: &Portal, admin: &str, owner: i64) {
    let reply = portal
        .put(
            "/v1/integrations/autotask/configuration",
            admin,
            json!({"opportunity_owner": owner, "opportunity_stage": 29_682_770}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
}

fn request(key: &str) -> Value {
    json!({"org_id": "acme", "dedupe_key": key, "title": "Firewall refresh", "amount": 12000,
        "projected_close_date": "2027-01-15", "description": "Two firewalls reach end of support"})
}

fn raised(sandbox: &Sandbox, title: &str) -> Vec<Value> {
    sandbox.with(|s| {
        s.entities["Opportunities"]
            .values()
            .filter(|o| o["title"] == title)
            .cloned()
            .collect()
    })
}

#[tokio::test]
async fn one_opportunity_per_key_while_it_is_open() {
    let sandbox = Sandbox::demo().await;
    let (portal, admin, owner) = linked(&sandbox).await;

    // Before an owner and a stage are chosen, nothing can be created.
    let early = portal.post(RAISE, &admin, request("fw:acme")).await;
    early.problem(StatusCode::CONFLICT);
    choose_owner_and_stage(&portal, &admin, owner).await;

    let created = portal.post(RAISE, &admin, request("fw:acme")).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    assert_eq!(created.body["action"], "created");
    let id = created.body["opportunity_id"].as_i64().unwrap();
    let at_vendor = sandbox.with(|s| s.entities["Opportunities"][&id].clone());
    assert_eq!(at_vendor["companyID"], 1004);
    assert_eq!(at_vendor["ownerResourceID"], owner);
    assert_eq!(at_vendor["stage"], 29_682_770);
    assert_eq!(at_vendor["status"], 1);
    assert_eq!(at_vendor["amount"], 12000.0);
    assert_eq!(at_vendor["projectedCloseDate"], "2027-01-15T00:00:00");
    assert!(
        at_vendor["description"].as_str().unwrap().starts_with(
            "Two firewalls reach end of support\n\nRaised by the platform, reference msp-"
        ),
        "{at_vendor}"
    );

    // A repeat while it is open: the same one, nothing created.
    let again = portal.post(RAISE, &admin, request("fw:acme")).await;
    assert_eq!(again.status, StatusCode::OK, "{}", again.body);
    assert_eq!(
        again.body,
        json!({"opportunity_id": id, "action": "existing"})
    );
    assert_eq!(raised(&sandbox, "Firewall refresh").len(), 1);

    // Once it is lost, the next raise creates a new one.
    sandbox.with(|s| s.change("Opportunities", id, |o| o["status"] = json!(2)));
    let next = portal.post(RAISE, &admin, request("fw:acme")).await;
    assert_eq!(next.status, StatusCode::CREATED, "{}", next.body);
    assert_ne!(next.body["opportunity_id"], id);

    // Without the optional fields: amount 0, closing in 30 days.
    let bare = portal
        .post(
            RAISE,
            &admin,
            json!({"org_id": "acme", "dedupe_key": "bare", "title": "Bare"}),
        )
        .await;
    assert_eq!(bare.status, StatusCode::CREATED, "{}", bare.body);
    let bare = raised(&sandbox, "Bare").remove(0);
    assert_eq!(bare["amount"], 0.0);
    let in_30_days = (time::OffsetDateTime::now_utc() + time::Duration::days(30))
        .date()
        .to_string();
    assert_eq!(bare["projectedCloseDate"], format!("{in_30_days}T00:00:00"));
}

#[tokio::test]
async fn sixteen_identical_raises_at_once_create_one_opportunity() {
    let sandbox = Sandbox::demo().await;
    let (portal, admin, owner) = linked(&sandbox).await;
    choose_owner_and_stage(&portal, &admin, owner).await;
    // Autotask is slow to answer the create: the others arrive meanwhile.
    sandbox.with(|s| s.latency = std::time::Duration::from_millis(40));
    let replies = futures::future::join_all(
        (0..16).map(|_| portal.post(RAISE, &admin, request("burst:acme"))),
    )
    .await;
    let ids: Vec<Value> = replies
        .iter()
        .map(|r| {
            assert!(r.status.is_success(), "{}", r.body);
            r.body["opportunity_id"].clone()
        })
        .collect();
    assert!(ids.iter().all(|i| *i == ids[0]), "{ids:?}");
    let created = replies
        .iter()
        .filter(|r| r.body["action"] == "created")
        .count();
    assert_eq!(created, 1);
    assert_eq!(raised(&sandbox, "Firewall refresh").len(), 1);
}

#[tokio::test]
async fn a_create_whose_answer_was_lost_is_adopted_and_refusals_are_clear() {
    let sandbox = Sandbox::demo().await;
    let (portal, admin, owner) = linked(&sandbox).await;
    choose_owner_and_stage(&portal, &admin, owner).await;

    // Autotask creates it, but the answer comes after our timeout.
    sandbox.inject(Fault::once(
        "POST /Opportunities",
        FaultKind::DelayAfter(std::time::Duration::from_secs(4)),
    ));
    let lost = portal.post(RAISE, &admin, request("lost:acme")).await;
    lost.problem(StatusCode::GATEWAY_TIMEOUT);
    let retried = portal.post(RAISE, &admin, request("lost:acme")).await;
    assert_eq!(retried.status, StatusCode::CREATED, "{}", retried.body);
    assert_eq!(
        raised(&sandbox, "Firewall refresh").len(),
        1,
        "the retry found the one the lost answer created"
    );

    // An organization without a link, and bad fields, are named.
    let unlinked = portal
        .post(
            RAISE,
            &admin,
            json!({"org_id": "nobody", "dedupe_key": "x", "title": "X"}),
        )
        .await;
    assert_eq!(unlinked.field_errors(), ["org_id"], "{}", unlinked.body);
    let bad = portal
        .post(
            RAISE,
            &admin,
            json!({"org_id": "acme", "dedupe_key": "x", "title": "X", "amount": -5,
                "projected_close_date": "2027-13-01"}),
        )
        .await;
    assert_eq!(bad.field_errors(), ["amount", "projected_close_date"]);

    // Autotask's own refusal comes back in its words: the stage was retired after saving.
    sandbox.with(|s| {
        let stages = &mut s.entity_fields.get_mut("Opportunities").unwrap()["fields"][0]
            ["picklistValues"][0];
        stages["isActive"] = json!(false);
    });
    let refused = portal.post(RAISE, &admin, request("retired:acme")).await;
    let problem = refused.problem(StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("stage: Value does not exist or is inactive in the picklist."),
        "{problem}"
    );
    // Nothing half-done: the key is free for the next try.
    sandbox.with(|s| {
        s.entity_fields.get_mut("Opportunities").unwrap()["fields"][0]["picklistValues"][0]
            ["isActive"] = json!(true);
    });
    let ok = portal.post(RAISE, &admin, request("retired:acme")).await;
    assert_eq!(ok.status, StatusCode::CREATED, "{}", ok.body);

    // HaloPSA takes no opportunities.
    let halo = portal
        .post(
            "/v1/integrations/halopsa/opportunities",
            &admin,
            request("x"),
        )
        .await;
    halo.problem(StatusCode::NOT_FOUND);
}
