//! NinjaOne end to end through the HTTP API and the OAuth callback against the sandbox
//! NinjaOne: seed 003's consent, organization linking with auto-match, asset import and
//! revoke; the attacks the callback must refuse; and refresh-token rotation under concurrency.

use std::time::Duration;

use http::{Method, StatusCode};
use integration_tests::portal::{Portal, Reply};
use sandbox::ninjaone::{DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, Sandbox, State};
use serde_json::{Value, json};
use shared::{
    config::Settings,
    domain::{NinjaRegion, PendingConsent, Provider, TenantId, state_hash},
    jobs::{dispatch, session},
    providers::{self, DeploymentSecret, DeploymentSecrets},
};

const TENANT: &str = "humanize-msp";
const API: &str = "https://api.msp-platform.example";
const PORTAL: &str = "https://portal.msp-platform.example/integrations";

struct World {
    sandbox: Sandbox,
    portal: Portal,
    admin: String,
}

fn settings(sandbox: &Sandbox) -> Settings {
    let mut settings = Settings::with_prefix("msp-integrations");
    settings.vendors.allow_loopback = true;
    settings.vendors.timeout_secs = 2;
    settings.vendors.ninjaone_base_url = Some(sandbox.base_url());
    settings.public_api_url = Some(API.into());
    settings.portal_url = Some(PORTAL.into());
    settings
}

async fn world_with(state: State) -> World {
    let sandbox = Sandbox::start(state).await;
    sandbox.with(|s| {
        s.redirect_uris
            .push(format!("{API}/v1/oauth/ninjaone/callback"))
    });
    let portal = Portal::with_settings(settings(&sandbox), DeploymentSecret::Missing);
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

async fn start_consent(w: &World, admin: &str) -> Reply {
    w.portal
        .post(
            "/v1/integrations/ninjaone/connect",
            admin,
            json!({"region": "us", "client_id": DEMO_CLIENT_ID, "client_secret": DEMO_CLIENT_SECRET}),
        )
        .await
}

/// The partner's browser on NinjaOne's consent page: where NinjaOne sends it back to.
async fn approve(authorize_url: &str) -> url::Url {
    let browser = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let answer = browser.get(authorize_url).send().await.unwrap();
    assert_eq!(answer.status(), 302, "{:?}", answer.text().await);
    url::Url::parse(answer.headers()["location"].to_str().unwrap()).unwrap()
}

/// The browser arriving at our callback; returns where we sent it.
async fn arrive(w: &World, callback: &url::Url) -> url::Url {
    assert!(callback.as_str().starts_with(API), "{callback}");
    let path = &callback.as_str()[API.len()..];
    let reply = w.portal.raw(Method::GET, path, None, None, vec![]).await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.body);
    url::Url::parse(reply.headers["location"].to_str().unwrap()).unwrap()
}

fn outcome(location: &url::Url) -> Vec<(String, String)> {
    assert!(
        location.as_str().starts_with(PORTAL),
        "always the configured portal page: {location}"
    );
    location.query_pairs().into_owned().collect()
}

async fn connect(w: &World) {
    let started = start_consent(w, &w.admin).await;
    assert_eq!(started.status, StatusCode::ACCEPTED, "{}", started.body);
    let back = approve(started.body["authorize_url"].as_str().unwrap()).await;
    let landed = arrive(w, &back).await;
    assert_eq!(
        outcome(&landed),
        [("connected".to_owned(), "ninjaone".to_owned())]
    );
}

fn card(reply: &Reply) -> &Value {
    reply.body["integrations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["provider"] == "ninjaone")
        .unwrap()
}

async fn card_status(w: &World, admin: &str) -> String {
    let cards = w.portal.get("/v1/integrations", admin).await;
    card(&cards)["status"].as_str().unwrap().to_owned()
}

/// The card asks the partner to connect again, and says NinjaOne refused the refresh token.
async fn assert_needs_reconnect_after_invalid_grant(w: &World) {
    let cards = w.portal.get("/v1/integrations", &w.admin).await;
    assert_eq!(card(&cards)["status"], "needs_reconnect");
    assert!(
        card(&cards)["last_error"]
            .as_str()
            .unwrap()
            .contains("invalid_grant"),
        "{}",
        cards.body
    );
}

async fn put_org(w: &World, id: &str, name: &str) {
    let reply = w
        .portal
        .put(
            &format!("/v1/organizations/{id}"),
            &w.admin,
            json!({"name": name, "seats": 5}),
        )
        .await;
    assert!(reply.status.is_success(), "{}", reply.body);
}

fn org_id(w: &World, name: &str) -> i64 {
    w.sandbox.with(|s| {
        s.organizations
            .values()
            .find(|o| o["name"] == name)
            .and_then(|o| o["id"].as_i64())
            .unwrap()
    })
}

/// Connects, then links the platform's "acme" to NinjaOne's Acme Dental; its NinjaOne id.
async fn connect_and_link_acme(w: &World) -> i64 {
    connect(w).await;
    put_org(w, "acme", "Acme Dental").await;
    let acme = org_id(w, "Acme Dental Inc");
    w.portal
        .put(
            "/v1/integrations/ninjaone/org-mappings/acme",
            &w.admin,
            json!({"organization_id": acme}),
        )
        .await;
    acme
}

async fn sync_assets(w: &World) -> Value {
    let started = w
        .portal
        .post(
            "/v1/integrations/ninjaone/sync",
            &w.admin,
            json!({"kinds": ["assets"]}),
        )
        .await;
    assert_eq!(started.status, StatusCode::ACCEPTED, "{}", started.body);
    w.portal
        .finished_run(
            Provider::Ninjaone,
            started.body["id"].as_str().unwrap(),
            &w.admin,
        )
        .await
}

#[tokio::test]
async fn seed_003_consent_link_import_and_revoke() {
    let w = world().await;

    // Connect: the consent URL, with PKCE and our fixed redirect URI; nothing connected yet.
    let started = start_consent(&w, &w.admin).await;
    assert_eq!(started.status, StatusCode::ACCEPTED, "{}", started.body);
    let consent = url::Url::parse(started.body["authorize_url"].as_str().unwrap()).unwrap();
    let q: std::collections::HashMap<String, String> = consent.query_pairs().into_owned().collect();
    assert_eq!(consent.path(), "/ws/oauth/authorize");
    assert_eq!(q["code_challenge_method"], "S256");
    assert_eq!(q["scope"], "monitoring offline_access");
    assert_eq!(
        q["redirect_uri"],
        format!("{API}/v1/oauth/ninjaone/callback")
    );
    assert_eq!(started.body["redirect_uri"], q["redirect_uri"].as_str());
    assert!(q["state"].len() >= 43);
    assert!(!started.body.to_string().contains(DEMO_CLIENT_SECRET));
    assert_eq!(card_status(&w, &w.admin).await, "not_connected");

    // The partner approves; the callback stores the tokens and sends the browser back.
    let back = approve(consent.as_str()).await;
    let landed = arrive(&w, &back).await;
    assert_eq!(
        outcome(&landed),
        [("connected".to_owned(), "ninjaone".to_owned())]
    );
    assert_eq!(card_status(&w, &w.admin).await, "connected");
    let stored = w
        .portal
        .secret_of(TENANT, Provider::Ninjaone)
        .await
        .unwrap();
    assert!(
        stored.contains("refresh_token"),
        "the refresh token is in the secret"
    );

    // Link organizations: the pencil icon's list, then auto-match by name.
    put_org(&w, "acme", "ACME Dental, Inc.").await;
    put_org(&w, "globex", "Globex Corp").await;
    put_org(&w, "northwind", "Northwind Traders").await;
    put_org(&w, "umbrella", "Umbrella Pharmaceuticals").await;
    let listed = w
        .portal
        .get(
            "/v1/integrations/ninjaone/catalog/organizations?limit=2",
            &w.admin,
        )
        .await;
    assert_eq!(listed.body["items"].as_array().unwrap().len(), 2);
    let next = listed.body["next"].as_str().unwrap();
    let rest = w
        .portal
        .get(
            &format!("/v1/integrations/ninjaone/catalog/organizations?limit=10&after={next}"),
            &w.admin,
        )
        .await;
    assert_eq!(rest.body["items"].as_array().unwrap().len(), 3);
    let search = w
        .portal
        .get(
            "/v1/integrations/ninjaone/catalog/organizations?search=initech",
            &w.admin,
        )
        .await;
    assert_eq!(search.body["items"][0]["name"], "Initech LLC");

    let dry = w
        .portal
        .post(
            "/v1/integrations/ninjaone/org-mappings/auto-match",
            &w.admin,
            json!({"dry_run": true}),
        )
        .await;
    assert_eq!(dry.status, StatusCode::OK, "{}", dry.body);
    let names = |list: &str| -> Vec<String> {
        let mut v: Vec<String> = dry.body[list]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["org_id"].as_str().unwrap().to_owned())
            .collect();
        v.sort();
        v
    };
    assert_eq!(names("matched"), ["acme", "globex"]);
    assert_eq!(names("ambiguous"), ["northwind"]);
    assert_eq!(names("unmatched"), ["umbrella"]);
    assert_eq!(
        dry.body["ambiguous"][0]["candidates"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    let mappings = w
        .portal
        .get("/v1/integrations/ninjaone/org-mappings", &w.admin)
        .await;
    assert!(
        mappings.body["items"].as_array().unwrap().is_empty(),
        "a dry run writes nothing"
    );

    let applied = w
        .portal
        .post(
            "/v1/integrations/ninjaone/org-mappings/auto-match",
            &w.admin,
            json!({}),
        )
        .await;
    assert_eq!(applied.body["matched"].as_array().unwrap().len(), 2);
    // Manual link for the ambiguous one (the partner picks), then auto-match again.
    let northwind = org_id(&w, "Northwind Traders");
    let manual = w
        .portal
        .put(
            "/v1/integrations/ninjaone/org-mappings/northwind",
            &w.admin,
            json!({"organization_id": northwind}),
        )
        .await;
    assert_eq!(manual.status, StatusCode::OK, "{}", manual.body);
    let again = w
        .portal
        .post(
            "/v1/integrations/ninjaone/org-mappings/auto-match",
            &w.admin,
            json!({}),
        )
        .await;
    assert_eq!(again.body["matched"].as_array().unwrap().len(), 0);
    assert_eq!(
        again.body["already_linked"].as_array().unwrap().len(),
        3,
        "never overwritten"
    );
    let gone = w
        .portal
        .put(
            "/v1/integrations/ninjaone/org-mappings/umbrella",
            &w.admin,
            json!({"organization_id": 999_999}),
        )
        .await;
    assert_eq!(gone.field_errors(), ["organization_id"]);

    // Asset import: seed 003's field mapping; missing parts are fine.
    let run = sync_assets(&w).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    assert_eq!(run["counts"]["changed"], 3);
    let assets = w
        .portal
        .get("/v1/organizations/acme/assets", &w.admin)
        .await;
    assert_eq!(assets.status, StatusCode::OK, "{}", assets.body);
    let items = assets.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 3);
    let server = items.iter().find(|a| a["name"] == "ACME-DC01").unwrap();
    assert_eq!(server["serialNumber"], "5CD1234XYZ");
    assert_eq!(server["warrantyExpire"], "2026-01-01");
    assert_eq!(server["purchaseDate"], "2023-01-01");
    assert_eq!(server["TypeId"], 100);
    assert_eq!(server["storage"], 479_554_568_192_u64);
    assert_eq!(server["locationName"], "Head Office");
    assert_eq!(server["manufacturer"], "Dell Inc.");
    assert_eq!(server["modelNumber"], "PowerEdge T350");
    assert_eq!(server["os"], "Windows Server 2022 Standard");
    assert_eq!(server["processorModel"], "Intel(R) Xeon(R) E-2334");
    assert_eq!(server["replaceDate"], Value::Null);
    assert_eq!(server["details"], "");
    assert_eq!(server["source"], "ninjaone");
    let printer = items
        .iter()
        .find(|a| a["name"] == "printer-1.acme.local")
        .unwrap();
    assert_eq!(
        (
            printer["storage"].clone(),
            printer["warrantyExpire"].clone()
        ),
        (Value::Null, Value::Null)
    );

    // A device leaves NinjaOne and another changes: one removed, one updated, one unchanged.
    let (server_id, laptop_id) = w.sandbox.with(|s| {
        let ids: Vec<i64> = s.devices.keys().copied().collect();
        (ids[0], ids[1])
    });
    w.sandbox.with(|s| {
        s.devices.remove(&laptop_id);
        s.devices.get_mut(&server_id).unwrap()["os"]["name"] = json!("Windows Server 2025");
    });
    let again = sync_assets(&w).await;
    assert_eq!(
        (
            again["counts"]["changed"].as_u64(),
            again["counts"]["unchanged"].as_u64()
        ),
        (Some(2), Some(1))
    );
    let assets = w
        .portal
        .get("/v1/organizations/acme/assets", &w.admin)
        .await;
    let removed: Vec<&Value> = assets.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["removed"] == true)
        .collect();
    assert_eq!(removed.len(), 1);
    assert_eq!(removed[0]["device_id"], laptop_id);

    // Revoke: the refresh token is revoked at NinjaOne; links, assets and secrets go.
    let revoked = w.portal.delete("/v1/integrations/ninjaone", &w.admin).await;
    assert_eq!(revoked.status, StatusCode::NO_CONTENT);
    assert_eq!(w.sandbox.with(|s| s.revoked), 1);
    assert_eq!(card_status(&w, &w.admin).await, "not_connected");
    assert_eq!(w.portal.secret_of(TENANT, Provider::Ninjaone).await, None);
    let assets = w
        .portal
        .get("/v1/organizations/acme/assets", &w.admin)
        .await;
    assert!(assets.body["items"].as_array().unwrap().is_empty());
}

#[tokio::test]
async fn callback_attacks_end_at_the_portal_with_an_error_and_store_nothing() {
    let w = world().await;
    let callback = |query: String| format!("/v1/oauth/ninjaone/callback?{query}");

    let error = |pairs: Vec<(String, String)>| {
        pairs
            .into_iter()
            .find(|(k, _)| k == "error")
            .map(|(_, v)| v)
            .unwrap_or_default()
    };

    // Forged state.
    assert_eq!(
        error(land(&w, callback("code=abc&state=forged-state-value".into())).await),
        "invalid_state"
    );
    // No state at all.
    assert_eq!(
        error(land(&w, callback("code=abc".into())).await),
        "invalid_state"
    );

    // Replayed state: a good flow works once; the same redirect again is refused.
    let started = start_consent(&w, &w.admin).await;
    let back = approve(started.body["authorize_url"].as_str().unwrap()).await;
    let path = back.as_str()[API.len()..].to_owned();
    assert_eq!(
        outcome(&arrive(&w, &back).await),
        [("connected".to_owned(), "ninjaone".to_owned())]
    );
    assert_eq!(error(land(&w, path).await), "invalid_state");
    w.portal.delete("/v1/integrations/ninjaone", &w.admin).await;

    // Expired state: stored eleven minutes ago.
    let app = &w.portal.runner.app;
    let old = app.clock.now() - time::Duration::minutes(11);
    app.store
        .put_consent(
            &state_hash("stale-state"),
            &PendingConsent {
                tenant: TenantId::new(TENANT).unwrap(),
                provider: Provider::Ninjaone,
                region: NinjaRegion::Us,
                code_verifier: "v".repeat(43),
                created_at: old,
                expires_at: old + time::Duration::minutes(10),
                actor: None,
            },
        )
        .await
        .unwrap();
    assert_eq!(
        error(land(&w, callback("code=abc&state=stale-state".into())).await),
        "invalid_state"
    );

    // The partner clicks Deny on NinjaOne's page: the client credentials that waited for the
    // consent go with it.
    let started = start_consent(&w, &w.admin).await;
    assert!(
        w.portal
            .pending_secret_of(TENANT, Provider::Ninjaone)
            .await
            .is_some()
    );
    w.sandbox.with(|s| s.deny_consent = true);
    let denied = approve(started.body["authorize_url"].as_str().unwrap()).await;
    assert_eq!(error(outcome(&arrive(&w, &denied).await)), "access_denied");
    assert_eq!(
        w.portal.pending_secret_of(TENANT, Provider::Ninjaone).await,
        None
    );
    w.sandbox.with(|s| s.deny_consent = false);

    // Connect twice (two tabs): the second replaces the pending credentials. The first tab's
    // approval is refused and leaves the second's credentials in place; the second connects.
    let first = start_consent(&w, &w.admin).await;
    let second = start_consent(&w, &w.admin).await;
    let first_back = approve(first.body["authorize_url"].as_str().unwrap()).await;
    let second_back = approve(second.body["authorize_url"].as_str().unwrap()).await;
    assert_eq!(
        error(outcome(&arrive(&w, &first_back).await)),
        "invalid_state"
    );
    assert!(
        w.portal
            .pending_secret_of(TENANT, Provider::Ninjaone)
            .await
            .is_some()
    );
    assert_eq!(
        outcome(&arrive(&w, &second_back).await),
        [("connected".to_owned(), "ninjaone".to_owned())]
    );
    assert_eq!(
        w.portal.pending_secret_of(TENANT, Provider::Ninjaone).await,
        None
    );
    w.portal.delete("/v1/integrations/ninjaone", &w.admin).await;

    // State from another tenant: tenant B starts a consent, tenant A's code arrives with
    // B's state. The code is bound to A's PKCE challenge, so the exchange fails.
    let other_admin = w.portal.admin("other-msp");
    let a = start_consent(&w, &w.admin).await;
    let b = start_consent(&w, &other_admin).await;
    let a_back = approve(a.body["authorize_url"].as_str().unwrap()).await;
    let a_code = a_back
        .query_pairs()
        .find(|(k, _)| k == "code")
        .unwrap()
        .1
        .into_owned();
    let b_state = url::Url::parse(b.body["authorize_url"].as_str().unwrap())
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "state")
        .unwrap()
        .1
        .into_owned();
    let mixed = format!("code={}&state={}", urlencode(&a_code), urlencode(&b_state));
    assert_eq!(error(land(&w, callback(mixed)).await), "exchange_failed");
    assert_eq!(card_status(&w, &other_admin).await, "not_connected");

    // A redirect-target injection changes nothing: the browser goes to the portal page.
    let injected = land(&w, callback(
        "code=x&state=y&redirect_uri=https%3A%2F%2Fevil.example%2F&return_to=https%3A%2F%2Fevil.example%2F".into(),
    ))
    .await;
    assert_eq!(error(injected), "invalid_state");

    // Nothing stored for either tenant; the sandbox exchanged exactly the two good codes.
    assert_eq!(card_status(&w, &w.admin).await, "not_connected");
    assert_eq!(w.portal.secret_of(TENANT, Provider::Ninjaone).await, None);
    assert_eq!(
        w.portal.secret_of("other-msp", Provider::Ninjaone).await,
        None
    );
    assert_eq!(w.sandbox.with(|s| s.code_exchanges), 2);
}

/// The browser arriving at the callback with `path`; the outcome the portal page gets.
async fn land(w: &World, path: String) -> Vec<(String, String)> {
    let reply = w.portal.raw(Method::GET, &path, None, None, vec![]).await;
    assert_eq!(
        reply.status,
        StatusCode::SEE_OTHER,
        "{path}: {}",
        reply.body
    );
    outcome(&url::Url::parse(reply.headers["location"].to_str().unwrap()).unwrap())
}

fn urlencode(v: &str) -> String {
    url::form_urlencoded::byte_serialize(v.as_bytes()).collect()
}

#[tokio::test]
async fn two_workers_with_an_expired_token_spend_the_refresh_token_once() {
    let mut state = State::demo();
    // Tokens live 301 s: seconds after connecting they are inside the 5-minute renewal
    // window, so the next use refreshes.
    state.token_ttl = Duration::from_secs(301);
    let w = world_with(state).await;
    let acme = connect_and_link_acme(&w).await;
    // Expiry is kept in whole seconds: two of them put the token inside the window.
    tokio::time::sleep(Duration::from_millis(2200)).await;

    // Two Lambdas: the same store and secrets, each with its own NinjaOne client and memory.
    let first = w.portal.runner.app.clone();
    let mut second = first.clone();
    second.integrations =
        providers::integrations(&first.settings, DeploymentSecrets::default()).unwrap();
    let tenant = TenantId::new(TENANT).unwrap();
    let refreshes = w.sandbox.with(|s| s.refreshes);
    let work = |app: shared::app::App| {
        let tenant = tenant.clone();
        async move {
            let session = session::open(&app, &tenant, Provider::Ninjaone)
                .await
                .expect("a session");
            app.integrations
                .get(Provider::Ninjaone)
                .unwrap()
                .asset_source()
                .unwrap()
                .devices(&session, &[acme])
                .await
                .expect("devices")
                .len()
        }
    };
    let (a, b) = tokio::join!(work(first), work(second));
    assert_eq!((a, b), (3, 3), "both succeed");
    assert_eq!(
        w.sandbox.with(|s| s.refreshes) - refreshes,
        1,
        "exactly one refresh reached NinjaOne"
    );
}

#[tokio::test]
async fn a_refused_refresh_token_asks_the_partner_to_reconnect() {
    let mut state = State::demo();
    state.token_ttl = Duration::from_secs(30);
    let w = world_with(state).await;
    connect_and_link_acme(&w).await;
    w.sandbox.with(|s| s.spend_refresh_tokens());
    let refused = w
        .portal
        .post(
            "/v1/integrations/ninjaone/sync",
            &w.admin,
            json!({"kinds": ["assets"]}),
        )
        .await;
    let problem = refused.problem(StatusCode::CONFLICT);
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("connect again"),
        "{problem}"
    );
    assert_needs_reconnect_after_invalid_grant(&w).await;
    // Connecting again through the consent page heals it.
    connect(&w).await;
    assert_eq!(card_status(&w, &w.admin).await, "connected");
    assert_eq!(sync_assets(&w).await["status"], "succeeded");
}

#[tokio::test]
async fn an_access_token_refused_before_its_expiry_is_renewed_not_a_reconnect() {
    let w = world().await;
    connect_and_link_acme(&w).await;
    let refreshes = || w.sandbox.with(|s| s.refreshes);
    let before = refreshes();

    // NinjaOne drops the access token long before the hour it announced: the run renews it
    // and imports with the new one.
    w.sandbox.with(|s| s.expire_access_tokens());
    let run = sync_assets(&w).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    assert_eq!(run["counts"]["changed"], 3, "{run}");
    assert_eq!(refreshes() - before, 1, "one renewal");
    assert_eq!(card_status(&w, &w.admin).await, "connected");

    // The portal's catalog: the refused call asks to try again, and the retry lists.
    w.sandbox.with(|s| s.expire_access_tokens());
    let path = "/v1/integrations/ninjaone/catalog/organizations";
    let refused = w.portal.get(path, &w.admin).await;
    let problem = refused.problem(StatusCode::SERVICE_UNAVAILABLE);
    assert!(
        problem["detail"].as_str().unwrap().contains("try again"),
        "{problem}"
    );
    assert_eq!(refused.headers["retry-after"], "1");
    let listed = w.portal.get(path, &w.admin).await;
    assert_eq!(listed.status, StatusCode::OK, "{}", listed.body);
    assert_eq!(refreshes() - before, 2);
    assert_eq!(card_status(&w, &w.admin).await, "connected");

    // Refused again, and the refresh token is spent too: now the partner must reconnect.
    w.sandbox.with(|s| {
        s.expire_access_tokens();
        s.spend_refresh_tokens();
    });
    let run = sync_assets(&w).await;
    assert_eq!(run["status"], "failed", "{run}");
    assert_needs_reconnect_after_invalid_grant(&w).await;
}

#[tokio::test]
async fn the_hourly_sweep_deletes_the_credentials_of_an_abandoned_consent() {
    let w = world().await;
    let app = &w.portal.runner.app;
    let pending = || w.portal.pending_secret_of(TENANT, Provider::Ninjaone);
    let started = start_consent(&w, &w.admin).await;
    let authorize_url = started.body["authorize_url"].as_str().unwrap();
    let state = url::Url::parse(authorize_url)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "state")
        .unwrap()
        .1
        .into_owned();

    // While the partner is on NinjaOne's page, the sweep leaves the consent alone.
    let summary = dispatch::scheduled(app).await.unwrap();
    assert_eq!(summary.abandoned_consents, 0);
    assert!(pending().await.is_some());

    // The partner never came back: the consent is eleven minutes old.
    let hash = state_hash(&state);
    let mut consent = app.store.take_consent(&hash).await.unwrap().unwrap();
    consent.created_at -= time::Duration::minutes(11);
    consent.expires_at -= time::Duration::minutes(11);
    app.store.put_consent(&hash, &consent).await.unwrap();
    let summary = dispatch::scheduled(app).await.unwrap();
    assert_eq!(summary.abandoned_consents, 1);
    assert_eq!(pending().await, None, "the client secret is gone");

    // A late return from NinjaOne's page finds nothing to finish, and nothing is left to sweep.
    let back = approve(authorize_url).await;
    let error = outcome(&arrive(&w, &back).await)
        .into_iter()
        .find(|(k, _)| k == "error")
        .map(|(_, v)| v);
    assert_eq!(error.as_deref(), Some("invalid_state"));
    assert_eq!(
        dispatch::scheduled(app).await.unwrap().abandoned_consents,
        0
    );
    assert_eq!(card_status(&w, &w.admin).await, "not_connected");
}

#[tokio::test]
async fn connect_form_errors_and_missing_deployment_settings() {
    let w = world().await;
    let bad = w
        .portal
        .post(
            "/v1/integrations/ninjaone/connect",
            &w.admin,
            json!({"region": "mars", "client_id": "x", "client_secret": "y"}),
        )
        .await;
    assert_eq!(bad.field_errors(), ["region"]);
    let empty = w
        .portal
        .post(
            "/v1/integrations/ninjaone/connect",
            &w.admin,
            json!({"region": "eu", "client_id": "", "client_secret": ""}),
        )
        .await;
    assert_eq!(empty.field_errors(), ["client_id", "client_secret"]);

    let mut unconfigured = settings(&w.sandbox);
    unconfigured.public_api_url = None;
    let portal = Portal::with_settings(unconfigured, DeploymentSecret::Missing);
    let refused = portal
        .post(
            "/v1/integrations/ninjaone/connect",
            &portal.admin(TENANT),
            json!({"region": "us", "client_id": DEMO_CLIENT_ID, "client_secret": DEMO_CLIENT_SECRET}),
        )
        .await;
    let problem = refused.problem(StatusCode::SERVICE_UNAVAILABLE);
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("PUBLIC_API_URL")
    );
}

/// NinjaOne's secrets appear in no response, redirect or log line (TRACE included): the client
/// secret, the authorization code, the state, and every access and refresh token, through
/// consent, a replayed callback, a match, imports that renew and rotate the tokens, a refused
/// renewal, and revoke.
#[tokio::test]
async fn secrets_codes_and_tokens_never_leak() {
    let logs = integration_tests::LogCapture::default();
    let _guard = logs.start();
    // Tokens that live 30 s are inside the renewal window at once: every use rotates them.
    let mut state = State::demo();
    state.token_ttl = Duration::from_secs(30);
    let w = world_with(state).await;
    let mut seen = Vec::new();

    // The consent URL carries the state to NinjaOne and back, by design; nothing else may.
    let started = start_consent(&w, &w.admin).await;
    assert!(!started.body.to_string().contains(DEMO_CLIENT_SECRET));
    let consent = url::Url::parse(started.body["authorize_url"].as_str().unwrap()).unwrap();
    let param = |url: &url::Url, name: &str| {
        url.query_pairs()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
            .unwrap()
    };
    let state = param(&consent, "state");
    let back = approve(consent.as_str()).await;
    let code = param(&back, "code");
    seen.push(arrive(&w, &back).await.to_string());
    let replay = w
        .portal
        .raw(Method::GET, &back.as_str()[API.len()..], None, None, vec![])
        .await;
    seen.push(format!("{:?} {}", replay.headers, replay.body));

    put_org(&w, "acme", "ACME Dental, Inc.").await;
    let matched = w
        .portal
        .post(
            "/v1/integrations/ninjaone/org-mappings/auto-match",
            &w.admin,
            json!({"dry_run": false}),
        )
        .await;
    seen.push(matched.body.to_string());
    seen.push(sync_assets(&w).await.to_string());
    seen.push(sync_assets(&w).await.to_string());
    w.sandbox.with(|s| s.spend_refresh_tokens());
    let refused = w
        .portal
        .get("/v1/integrations/ninjaone/catalog/organizations", &w.admin)
        .await;
    seen.push(format!("{:?} {}", refused.headers, refused.body));
    seen.push(
        w.portal
            .get("/v1/integrations", &w.admin)
            .await
            .body
            .to_string(),
    );
    let revoked = w.portal.delete("/v1/integrations/ninjaone", &w.admin).await;
    seen.push(format!("{:?} {}", revoked.headers, revoked.body));
    seen.push(logs.text());

    assert!(
        w.sandbox.with(|s| s.refreshes) >= 2,
        "refresh tokens were used and rotated"
    );
    assert_eq!(card_status(&w, &w.admin).await, "not_connected");
    assert!(
        logs.text().contains("access token renewed"),
        "logs were captured"
    );
    for text in &seen {
        for secret in [
            DEMO_CLIENT_SECRET,
            code.as_str(),
            state.as_str(),
            "ninja-sandbox-access-",
            "ninja-sandbox-refresh-",
        ] {
            assert!(!text.contains(secret), "leaked {secret}: {text}");
        }
    }
}
