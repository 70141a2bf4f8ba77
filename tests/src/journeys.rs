//! The partner journeys many tests start from, through the portal's view of the API: seed
//! 000's Autotask mapping of one organization, and NinjaOne's consent as a browser goes
//! through it.

use http::{Method, StatusCode};
use serde_json::json;
use shared::{config::Settings, providers::DeploymentSecret};

use crate::portal::Portal;

/// The API's public base the NinjaOne redirect URI is registered under, in tests.
pub const API: &str = "https://integrations-api.example";
/// The portal page the OAuth callback sends the browser back to, in tests.
pub const PORTAL: &str = "https://portal.example/integrations";

/// Connects the sandbox Autotask (seed 000), saves the ticket defaults, maps plan "backup" to
/// the per-seat Service and organization `org` (as "Acme Dental", `seats`) to Acme Dental's
/// company, recurring contract and contract service.
pub async fn autotask_acme_mapped(portal: &Portal, admin: &str, org: &str, seats: u32) {
    let connected = portal
        .post(
            "/v1/integrations/autotask/connect",
            admin,
            json!({"username": sandbox::autotask::DEMO_USERNAME, "secret": sandbox::autotask::DEMO_SECRET}),
        )
        .await;
    assert!(connected.status.is_success(), "{}", connected.body);
    for (path, body) in [
        (
            "/v1/integrations/autotask/configuration".to_owned(),
            json!({"sync_seat_quantity": true, "ticket_type": 5, "sla": 1, "priority": 1, "queue": 29683482, "status": 1}),
        ),
        ("/v1/plans/backup".to_owned(), json!({"name": "Backup"})),
        (
            "/v1/integrations/autotask/plan-mappings/backup".to_owned(),
            json!({"service_id": 1001}),
        ),
        (
            format!("/v1/organizations/{org}"),
            json!({"name": "Acme Dental", "plan_id": "backup", "seats": seats}),
        ),
        (
            format!("/v1/integrations/autotask/org-mappings/{org}"),
            json!({"company_id": 1004, "contract_id": 1005, "contract_service_id": 1006}),
        ),
    ] {
        let reply = portal.put(&path, admin, body).await;
        assert!(reply.status.is_success(), "{path}: {}", reply.body);
    }
}

/// A runner for the sandbox NinjaOne, whose app accepts our redirect URI under [`API`].
pub fn ninjaone_portal(sandbox: &sandbox::ninjaone::Sandbox) -> Portal {
    sandbox.with(|s| {
        s.redirect_uris
            .push(format!("{API}/v1/oauth/ninjaone/callback"))
    });
    let mut settings = Settings::with_prefix("msp-integrations");
    settings.vendors.allow_loopback = true;
    settings.vendors.ninjaone_base_url = Some(sandbox.base_url());
    settings.public_api_url = Some(API.into());
    settings.portal_url = Some(PORTAL.into());
    Portal::with_settings(settings, DeploymentSecret::Missing)
}

/// Connect with `client_secret`, approve on the sandbox's consent page, and arrive at our
/// callback: returns where the callback sent the browser.
pub async fn ninjaone_consent(portal: &Portal, admin: &str, client_secret: &str) -> url::Url {
    let started = portal
        .post(
            "/v1/integrations/ninjaone/connect",
            admin,
            json!({"region": "us", "client_id": sandbox::ninjaone::DEMO_CLIENT_ID, "client_secret": client_secret}),
        )
        .await;
    assert_eq!(started.status, StatusCode::ACCEPTED, "{}", started.body);
    let browser = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let consent = browser
        .get(started.body["authorize_url"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    let back = url::Url::parse(consent.headers()["location"].to_str().unwrap()).unwrap();
    let landed = portal
        .raw(Method::GET, &back.as_str()[API.len()..], None, None, vec![])
        .await;
    assert_eq!(landed.status, StatusCode::SEE_OTHER, "{}", landed.body);
    url::Url::parse(landed.headers["location"].to_str().unwrap()).unwrap()
}

/// NinjaOne connected and organization "acme-ninja" auto-matched to the demo's ACME Dental.
pub async fn ninjaone_acme_linked(portal: &Portal, admin: &str) {
    let landed = ninjaone_consent(portal, admin, sandbox::ninjaone::DEMO_CLIENT_SECRET).await;
    assert!(landed.as_str().contains("connected=ninjaone"), "{landed}");
    let org = portal
        .put(
            "/v1/organizations/acme-ninja",
            admin,
            json!({"name": "ACME Dental, Inc.", "seats": 3}),
        )
        .await;
    assert!(org.status.is_success(), "{}", org.body);
    let matched = portal
        .post(
            "/v1/integrations/ninjaone/org-mappings/auto-match",
            admin,
            json!({}),
        )
        .await;
    assert_eq!(
        matched.body["matched"].as_array().map(Vec::len),
        Some(1),
        "{}",
        matched.body
    );
}
