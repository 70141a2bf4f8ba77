//! The HTTP API as the portal calls it, through the local runner's router: auth, tenant
//! isolation, bad input, and what exists before the provider work lands.

use http::{Method, StatusCode, header};
use integration_tests::portal::{Portal, Reply};
use local::Runner;
use serde_json::{Value, json};
use shared::{
    config::Settings,
    domain::{Provider, TenantId},
    providers::DeploymentSecret,
};

fn card<'a>(reply: &'a Reply, provider: &str) -> &'a Value {
    reply.body["integrations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["provider"] == provider)
        .unwrap()
}

#[tokio::test]
async fn integrations_page_shows_one_card_per_provider() {
    let portal = Portal::new();
    let reply = portal.get("/v1/integrations", &portal.viewer("acme")).await;
    assert_eq!(reply.status, StatusCode::OK);
    let cards = reply.body["integrations"].as_array().unwrap();
    let names: Vec<_> = cards.iter().map(|c| c["name"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        ["Autotask", "HaloPSA", "NinjaOne", "ConnectWise PSA"]
    );
    for c in cards {
        assert_eq!(c["status"], "not_connected");
        assert_eq!(c["configured"], false);
    }
    assert_eq!(card(&reply, "ninjaone")["kind"], "rmm");
    assert_eq!(card(&reply, "connectwise")["kind"], "psa");
}

#[tokio::test]
async fn plans_and_organizations_round_trip() {
    let portal = Portal::new();
    let admin = portal.admin("acme");
    let created = portal
        .put("/v1/plans/pro", &admin, json!({"name": " Pro "}))
        .await;
    assert_eq!(created.status, StatusCode::CREATED);
    assert_eq!(created.body["name"], "Pro", "names are trimmed");
    let replaced = portal
        .put("/v1/plans/pro", &admin, json!({"name": "Pro 2"}))
        .await;
    assert_eq!(replaced.status, StatusCode::OK);
    assert_eq!(
        portal.get("/v1/plans/pro", &admin).await.body["name"],
        "Pro 2"
    );

    for (id, seats) in [("acme", 25), ("globex", 3), ("initech", 0)] {
        let reply = portal
            .put(
                &format!("/v1/organizations/{id}"),
                &admin,
                json!({"name": format!("{id} Ltd"), "plan_id": "pro", "seats": seats}),
            )
            .await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    }
    let org = portal
        .get("/v1/organizations/acme", &portal.viewer("acme"))
        .await;
    assert_eq!(org.status, StatusCode::OK);
    assert_eq!(
        (org.body["seats"].as_u64(), org.body["plan_id"].as_str()),
        (Some(25), Some("pro"))
    );

    let first = portal.get("/v1/organizations?limit=2", &admin).await;
    assert_eq!(first.body["items"].as_array().unwrap().len(), 2);
    let next = first.body["next"].as_str().expect("a second page");
    let second = portal
        .get(&format!("/v1/organizations?limit=2&after={next}"), &admin)
        .await;
    let ids: Vec<_> = second.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["id"].clone())
        .collect();
    assert_eq!(ids, [json!("initech")]);
    assert_eq!(second.body["next"], Value::Null);

    let plans = portal.get("/v1/plans", &admin).await;
    assert_eq!(plans.body["items"][0]["id"], "pro");
}

#[tokio::test]
async fn one_tenant_cannot_read_or_change_another_tenants_data() {
    let portal = Portal::new();
    let (a, b) = (portal.admin("tenant-a"), portal.admin("tenant-b"));
    portal
        .put("/v1/plans/pro", &a, json!({"name": "A's plan"}))
        .await;
    portal
        .put(
            "/v1/organizations/acme",
            &a,
            json!({"name": "A's customer", "plan_id": "pro", "seats": 10}),
        )
        .await;
    portal
        .seed_connection("tenant-a", Provider::Autotask, "tenant-a-secret")
        .await;

    portal
        .get("/v1/plans/pro", &b)
        .await
        .problem(StatusCode::NOT_FOUND);
    portal
        .get("/v1/organizations/acme", &b)
        .await
        .problem(StatusCode::NOT_FOUND);
    assert_eq!(
        portal.get("/v1/organizations", &b).await.body["items"],
        json!([])
    );
    assert_eq!(portal.get("/v1/plans", &b).await.body["items"], json!([]));
    assert_eq!(
        card(&portal.get("/v1/integrations", &b).await, "autotask")["status"],
        "not_connected"
    );

    // B's plan "pro" does not exist, so B cannot hang an organization on A's plan.
    let reply = portal
        .put(
            "/v1/organizations/acme",
            &b,
            json!({"name": "B's", "plan_id": "pro", "seats": 1}),
        )
        .await;
    assert_eq!(reply.field_errors(), ["plan_id"]);

    // B writing the same ids and revoking the same provider leaves A untouched.
    portal
        .put("/v1/plans/pro", &b, json!({"name": "B's plan"}))
        .await;
    portal
        .put(
            "/v1/organizations/acme",
            &b,
            json!({"name": "B's customer", "seats": 99}),
        )
        .await;
    assert_eq!(
        portal.delete("/v1/integrations/autotask", &b).await.status,
        StatusCode::NO_CONTENT
    );

    assert_eq!(
        portal.get("/v1/plans/pro", &a).await.body["name"],
        "A's plan"
    );
    assert_eq!(
        portal.get("/v1/organizations/acme", &a).await.body["seats"],
        10
    );
    let a_card = portal.get("/v1/integrations", &a).await;
    assert_eq!(card(&a_card, "autotask")["status"], "connected");
    assert_eq!(card(&a_card, "autotask")["org_mappings"], 1);
    assert_eq!(
        portal
            .secret_of("tenant-a", Provider::Autotask)
            .await
            .as_deref(),
        Some("tenant-a-secret")
    );
}

#[tokio::test]
async fn bad_requests_get_problems_and_store_nothing() {
    let portal = Portal::new();
    let admin = portal.admin("acme");
    let path = "/v1/organizations/acme";
    let json_ct = Some("application/json");
    let send = |method, token: Option<String>, ct: Option<&'static str>, body: Vec<u8>| {
        let portal = &portal;
        async move { portal.raw(method, path, token.as_deref(), ct, body).await }
    };

    let malformed = send(
        Method::PUT,
        Some(admin.clone()),
        json_ct,
        b"{\"name\": ".to_vec(),
    )
    .await;
    malformed.problem(StatusCode::BAD_REQUEST);

    let unknown = send(
        Method::PUT,
        Some(admin.clone()),
        json_ct,
        br#"{"name":"Acme","seats":3,"tenant_id":"other"}"#.to_vec(),
    )
    .await;
    unknown.problem(StatusCode::BAD_REQUEST);
    assert_eq!(unknown.field_errors(), ["tenant_id"]);

    let wrong_type = send(
        Method::PUT,
        Some(admin.clone()),
        json_ct,
        br#"{"name":"Acme","seats":-1}"#.to_vec(),
    )
    .await;
    wrong_type.problem(StatusCode::BAD_REQUEST);
    assert_eq!(wrong_type.field_errors(), ["seats"]);

    let missing = send(
        Method::PUT,
        Some(admin.clone()),
        json_ct,
        br#"{"name":"Acme"}"#.to_vec(),
    )
    .await;
    missing.problem(StatusCode::BAD_REQUEST);

    let invalid = send(
        Method::PUT,
        Some(admin.clone()),
        json_ct,
        br#"{"name":"  ","seats":2000000}"#.to_vec(),
    )
    .await;
    invalid.problem(StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(invalid.field_errors(), ["name", "seats"]);

    let no_token = send(
        Method::PUT,
        None,
        json_ct,
        br#"{"name":"Acme","seats":3}"#.to_vec(),
    )
    .await;
    no_token.problem(StatusCode::UNAUTHORIZED);
    assert_eq!(no_token.headers[header::WWW_AUTHENTICATE], "Bearer");

    let forged = send(
        Method::PUT,
        Some(format!("{admin}x")),
        json_ct,
        br#"{"name":"Acme","seats":3}"#.to_vec(),
    )
    .await;
    forged.problem(StatusCode::UNAUTHORIZED);

    let other_key = Runner::open(
        tempfile::tempdir().unwrap().path(),
        Settings::default(),
        DeploymentSecret::Missing,
    )
    .unwrap()
    .tokens
    .mint("acme", "admin");
    send(
        Method::PUT,
        Some(other_key),
        json_ct,
        br#"{"name":"Acme","seats":3}"#.to_vec(),
    )
    .await
    .problem(StatusCode::UNAUTHORIZED);

    let viewer = send(
        Method::PUT,
        Some(portal.viewer("acme")),
        json_ct,
        br#"{"name":"Acme","seats":3}"#.to_vec(),
    )
    .await;
    viewer.problem(StatusCode::FORBIDDEN);

    let mut big = br#"{"name":""#.to_vec();
    big.extend(std::iter::repeat_n(b'a', 70 * 1024));
    big.extend(br#"","seats":1}"#);
    send(Method::PUT, Some(admin.clone()), json_ct, big)
        .await
        .problem(StatusCode::PAYLOAD_TOO_LARGE);

    send(
        Method::PUT,
        Some(admin.clone()),
        Some("text/plain"),
        br#"{"name":"Acme","seats":3}"#.to_vec(),
    )
    .await
    .problem(StatusCode::UNSUPPORTED_MEDIA_TYPE);

    send(
        Method::PUT,
        Some(admin.clone()),
        json_ct,
        br#"{"name":"Acme","seats":3} trailing"#.to_vec(),
    )
    .await
    .problem(StatusCode::BAD_REQUEST);

    // Nothing above was stored.
    portal
        .get(path, &admin)
        .await
        .problem(StatusCode::NOT_FOUND);
    assert_eq!(
        portal.get("/v1/organizations", &admin).await.body["items"],
        json!([])
    );

    let not_allowed = send(Method::POST, Some(admin.clone()), json_ct, b"{}".to_vec()).await;
    not_allowed.problem(StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(not_allowed.headers[header::ALLOW], "GET, PUT");

    portal
        .get("/v1/nowhere", &admin)
        .await
        .problem(StatusCode::NOT_FOUND);
    let bad_id = portal.get("/v1/organizations/a%23b", &admin).await;
    bad_id.problem(StatusCode::BAD_REQUEST);
    assert_eq!(bad_id.field_errors(), ["org_id"]);
    let bad_provider = portal
        .get("/v1/integrations/kaseyabms/configuration", &admin)
        .await;
    assert_eq!(bad_provider.field_errors(), ["provider"]);
    let bad_limit = portal.get("/v1/organizations?limit=0", &admin).await;
    assert_eq!(bad_limit.field_errors(), ["limit"]);
    let bad_query = portal.get("/v1/organizations?tenant=other", &admin).await;
    assert_eq!(bad_query.field_errors(), ["tenant"]);
}

#[tokio::test]
async fn what_a_provider_lacks_is_a_404_and_a_missing_setting_a_503() {
    let portal = Portal::new();
    let admin = portal.admin("acme");
    // A kind that does not sync is a bad value of `kinds`.
    let reply = portal
        .post(
            "/v1/integrations/halopsa/sync",
            &admin,
            serde_json::json!({"kinds": ["opportunities"]}),
        )
        .await;
    reply.problem(StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(reply.field_errors(), ["kinds"]);
    assert!(
        reply.body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("HaloPSA does not sync opportunities; it syncs seats"),
        "{}",
        reply.body
    );
    // HaloPSA maps organizations only; NinjaOne has no configuration; HaloPSA links need more
    // than a name.
    for (method, path, says) in [
        (
            Method::GET,
            "/v1/integrations/halopsa/plan-mappings",
            "HaloPSA maps organizations only",
        ),
        (
            Method::GET,
            "/v1/integrations/ninjaone/configuration",
            "NinjaOne has no configuration",
        ),
        (
            Method::POST,
            "/v1/integrations/halopsa/org-mappings/auto-match",
            "HaloPSA has no organization auto-match",
        ),
    ] {
        let reply = portal.raw(method, path, Some(&admin), None, vec![]).await;
        let body = reply.problem(StatusCode::NOT_FOUND);
        let detail = body["detail"].as_str().unwrap();
        assert!(detail.contains(says), "{path}: {detail}");
        assert!(!detail.contains("in this build"), "{detail}");
    }
    // Access rules still apply first.
    portal
        .raw(
            Method::POST,
            "/v1/integrations/autotask/sync",
            Some(&portal.viewer("acme")),
            None,
            vec![],
        )
        .await
        .problem(StatusCode::FORBIDDEN);
    // The OAuth callback is public; HaloPSA has no consent flow.
    let callback = portal
        .raw(
            Method::GET,
            "/v1/oauth/halopsa/callback?code=x&state=y",
            None,
            None,
            vec![],
        )
        .await;
    let body = callback.problem(StatusCode::NOT_FOUND);
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("HaloPSA has no OAuth consent"),
        "{body}"
    );
    // Without PORTAL_URL the NinjaOne callback cannot send anyone anywhere: a problem, not a
    // redirect.
    portal
        .raw(
            Method::GET,
            "/v1/oauth/ninjaone/callback?code=x&state=y",
            None,
            None,
            vec![],
        )
        .await
        .problem(StatusCode::SERVICE_UNAVAILABLE);
}

#[tokio::test]
async fn revoke_forgets_everything_and_is_idempotent() {
    let portal = Portal::new();
    let admin = portal.admin("acme");
    portal
        .seed_connection("acme", Provider::Autotask, "autotask-secret")
        .await;
    let before = portal.get("/v1/integrations", &admin).await;
    let c = card(&before, "autotask");
    assert_eq!(
        (
            c["status"].as_str(),
            c["configured"].as_bool(),
            c["org_mappings"].as_u64()
        ),
        (Some("connected"), Some(true), Some(1))
    );
    assert!(!before.body.to_string().contains("autotask-secret"));

    portal
        .delete("/v1/integrations/autotask", &portal.viewer("acme"))
        .await
        .problem(StatusCode::FORBIDDEN);
    assert_eq!(
        portal
            .delete("/v1/integrations/autotask", &admin)
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    let after = portal.get("/v1/integrations", &admin).await;
    let c = card(&after, "autotask");
    assert_eq!(
        (
            c["status"].as_str(),
            c["configured"].as_bool(),
            c["org_mappings"].as_u64()
        ),
        (Some("not_connected"), Some(false), Some(0))
    );
    assert_eq!(portal.secret_of("acme", Provider::Autotask).await, None);
    let t = TenantId::new("acme").unwrap();
    let store = &portal.runner.app.store;
    assert!(
        store
            .get_configuration(&t, Provider::Autotask)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        store
            .list_org_mappings(&t, Provider::Autotask)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        portal
            .delete("/v1/integrations/autotask", &admin)
            .await
            .status,
        StatusCode::NO_CONTENT
    );
}
