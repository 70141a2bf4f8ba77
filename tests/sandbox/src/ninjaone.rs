//! A sandbox NinjaOne: a real authorization server for the consent flow (codes bound to the
//! client, the redirect URI and the PKCE challenge; rotating refresh tokens, a spent one
//! refused with `invalid_grant`; revocation), and the v2 API the import uses: organizations,
//! locations and `devices-detailed` paged by `after` (bare arrays), `expand=warranty`, roles,
//! bearer tokens that expire, and injectable faults.

use std::{
    collections::{BTreeMap, HashMap},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use axum::{
    Router,
    body::Bytes,
    extract::State as AxumState,
    http::{HeaderMap, Method, StatusCode, Uri, header},
    response::{IntoResponse, Response},
};
use base64::Engine;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tokio::task::JoinHandle;

use crate::server::{Fault, FaultKind, serve, take_fault};

/// The demo API app's client id.
pub const DEMO_CLIENT_ID: &str = "sandbox-ninja-app-6e1f";
/// The demo API app's client secret.
pub const DEMO_CLIENT_SECRET: &str = "sandbox-ninja-secret-Qm8r";

struct CodeGrant {
    client_id: String,
    redirect_uri: String,
    challenge: String,
    refreshable: bool,
    issued: Instant,
    used: bool,
}

/// Everything the sandbox instance holds; tests may read and change it.
pub struct State {
    /// The partner's API app.
    pub client_id: String,
    /// Its secret.
    pub client_secret: String,
    /// Redirect URIs registered on the app (exact match).
    pub redirect_uris: Vec<String>,
    /// The next consent is denied by the user.
    pub deny_consent: bool,
    /// Access token lifetime.
    pub token_ttl: Duration,
    /// Refresh grants answered with new tokens.
    pub refreshes: u64,
    /// Authorization codes exchanged.
    pub code_exchanges: u64,
    /// Refresh tokens revoked through `/ws/oauth/revoke`.
    pub revoked: u64,
    /// Organizations by id.
    pub organizations: BTreeMap<i64, Value>,
    /// Locations by id.
    pub locations: BTreeMap<i64, Value>,
    /// Device roles.
    pub roles: Vec<Value>,
    /// Devices (detailed) by id; warranty under `warranty` (served through `expand`).
    pub devices: BTreeMap<i64, Value>,
    /// API calls answered (after authentication).
    pub calls: u64,
    /// Added to every API call.
    pub latency: Duration,
    /// Most API calls in flight at once.
    pub max_in_flight: usize,
    /// Faults to inject.
    pub faults: Vec<Fault>,
    codes: HashMap<String, CodeGrant>,
    /// Refresh token -> spent.
    refresh_tokens: HashMap<String, bool>,
    access_tokens: HashMap<String, Instant>,
    in_flight: usize,
    next_id: i64,
}

impl State {
    /// The demo app and no organizations.
    pub fn empty() -> Self {
        Self {
            client_id: DEMO_CLIENT_ID.into(),
            client_secret: DEMO_CLIENT_SECRET.into(),
            redirect_uris: Vec::new(),
            deny_consent: false,
            token_ttl: Duration::from_secs(3600),
            refreshes: 0,
            code_exchanges: 0,
            revoked: 0,
            organizations: BTreeMap::new(),
            locations: BTreeMap::new(),
            roles: vec![
                json!({"id": 100, "name": "Windows Server", "nodeClass": "WINDOWS_SERVER"}),
                json!({"id": 101, "name": "Windows Desktop", "nodeClass": "WINDOWS_WORKSTATION"}),
                json!({"id": 102, "name": "Mac", "nodeClass": "MAC"}),
            ],
            devices: BTreeMap::new(),
            calls: 0,
            latency: Duration::ZERO,
            max_in_flight: 0,
            faults: Vec::new(),
            codes: HashMap::new(),
            refresh_tokens: HashMap::new(),
            access_tokens: HashMap::new(),
            in_flight: 0,
            next_id: 1000,
        }
    }

    /// The demo instance (seed 003): organizations with near-duplicate names, locations and
    /// devices with and without warranty, volumes and processors.
    pub fn demo() -> Self {
        let mut s = Self::empty();
        let acme = s.add_organization("Acme Dental Inc");
        s.add_organization("Globex Corporation");
        s.add_organization("Initech LLC");
        s.add_organization("Northwind Traders");
        s.add_organization("Northwind Traders Ltd.");
        let hq = s.add_location(acme, "Head Office");
        let id = s.next();
        s.devices.insert(
            id,
            json!({
                "id": id, "organizationId": acme, "locationId": hq, "nodeClass": "WINDOWS_SERVER",
                "nodeRoleId": 100, "systemName": "ACME-DC01", "dnsName": "acme-dc01.acme.local",
                "system": {"serialNumber": "5CD1234XYZ", "manufacturer": "Dell Inc.", "model": "PowerEdge T350"},
                "os": {"name": "Windows Server 2022 Standard"},
                "processors": [{"name": "Intel(R) Xeon(R) E-2334"}],
                "volumes": [{"name": "C:", "capacity": 479_554_568_192.0_f64}],
                "warranty": {"startDate": 1_672_531_200.0_f64, "endDate": 1_767_225_600.0_f64}
            }),
        );
        let id = s.next();
        s.devices.insert(
            id,
            json!({
                "id": id, "organizationId": acme, "locationId": hq, "nodeClass": "WINDOWS_WORKSTATION",
                "nodeRoleId": 101, "systemName": "ACME-FRONTDESK",
                "system": {"serialNumber": "PF3ABCD", "manufacturer": "LENOVO", "model": "ThinkCentre M70q"},
                "os": {"name": "Windows 11 Pro"},
                "processors": [{"name": "Intel(R) Core(TM) i5-12400T"}],
                "volumes": [{"name": "C:", "capacity": 255_465_615_360.0_f64}]
            }),
        );
        let id = s.next();
        s.devices.insert(
            id,
            json!({"id": id, "organizationId": acme, "nodeClass": "UNMANAGED_DEVICE", "dnsName": "printer-1.acme.local"}),
        );
        s
    }

    fn next(&mut self) -> i64 {
        self.next_id += 1;
        self.next_id
    }

    /// Adds an organization; returns its id.
    pub fn add_organization(&mut self, name: &str) -> i64 {
        let id = self.next();
        self.organizations.insert(
            id,
            json!({"id": id, "name": name, "description": "", "nodeApprovalMode": "AUTOMATIC"}),
        );
        id
    }

    /// Adds a location of an organization; returns its id.
    pub fn add_location(&mut self, organization: i64, name: &str) -> i64 {
        let id = self.next();
        self.locations.insert(
            id,
            json!({"id": id, "name": name, "organizationId": organization}),
        );
        id
    }

    /// Adds an agent device with every field the import maps; returns its id.
    pub fn add_device(&mut self, organization: i64, location: Option<i64>, name: &str) -> i64 {
        let id = self.next();
        self.devices.insert(
            id,
            json!({
                "id": id, "organizationId": organization, "locationId": location,
                "nodeClass": "WINDOWS_WORKSTATION", "nodeRoleId": 101, "systemName": name,
                "system": {"serialNumber": format!("SN{id:08}"), "manufacturer": "HP", "model": "EliteBook 840 G9"},
                "os": {"name": "Windows 11 Pro"},
                "processors": [{"name": "Intel(R) Core(TM) i7-1265U"}],
                "volumes": [{"name": "C:", "capacity": 512_110_190_592.0_f64}],
                "warranty": {"startDate": 1_700_000_000.0_f64, "endDate": 1_794_000_000.0_f64}
            }),
        );
        id
    }

    /// Spends every refresh token (as if another tool used them, or NinjaOne expired them).
    pub fn spend_refresh_tokens(&mut self) {
        for spent in self.refresh_tokens.values_mut() {
            *spent = true;
        }
    }

    /// Expires every access token (as if an hour passed).
    pub fn expire_access_tokens(&mut self) {
        self.access_tokens.clear();
    }

    fn issue(&mut self, refreshable: bool) -> Value {
        let access = format!("ninja-sandbox-access-{}", self.next());
        self.access_tokens
            .insert(access.clone(), Instant::now() + self.token_ttl);
        let mut body = json!({
            "access_token": access,
            "token_type": "Bearer",
            "expires_in": self.token_ttl.as_secs(),
            "scope": "monitoring offline_access",
        });
        if refreshable {
            let refresh = format!("ninja-sandbox-refresh-{}", self.next());
            self.refresh_tokens.insert(refresh.clone(), false);
            body["refresh_token"] = json!(refresh);
        }
        body
    }
}

/// A running sandbox.
pub struct Sandbox {
    origin: String,
    state: Arc<Mutex<State>>,
    task: JoinHandle<()>,
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Sandbox {
    /// Starts a sandbox over `state` on a free loopback port.
    pub async fn start(state: State) -> Self {
        let state = Arc::new(Mutex::new(state));
        let router = Router::new().fallback(handle).with_state(state.clone());
        let (origin, task) = serve(router).await;
        Self {
            origin,
            state,
            task,
        }
    }

    /// The sandbox with the demo instance.
    pub async fn demo() -> Self {
        Self::start(State::demo()).await
    }

    /// What to set `NINJAONE_BASE_URL` to (every region is this instance).
    pub fn base_url(&self) -> String {
        format!("{}/", self.origin)
    }

    /// Reads or changes the instance.
    pub fn with<R>(&self, f: impl FnOnce(&mut State) -> R) -> R {
        f(&mut self.state.lock().expect("sandbox lock"))
    }

    /// Queues a fault.
    pub fn inject(&self, fault: Fault) {
        self.with(|s| s.faults.push(fault));
    }
}

fn json_response(status: StatusCode, body: Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

fn oauth_error(status: StatusCode, error: &str) -> Response {
    json_response(status, json!({ "error": error }))
}

fn params(raw: &[u8]) -> HashMap<String, String> {
    url::form_urlencoded::parse(raw).into_owned().collect()
}

struct InFlight(Arc<Mutex<State>>);

impl Drop for InFlight {
    fn drop(&mut self) {
        if let Ok(mut s) = self.0.lock() {
            s.in_flight = s.in_flight.saturating_sub(1);
        }
    }
}

async fn handle(
    AxumState(state): AxumState<Arc<Mutex<State>>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let arrived = Instant::now();
    let path = uri.path().to_owned();
    let query = params(uri.query().unwrap_or_default().as_bytes());
    let key = format!("{method} {path}");
    let fault = take_fault(&mut state.lock().expect("sandbox lock").faults, &key);
    match fault {
        Some(FaultKind::Respond {
            status,
            body,
            retry_after,
        }) => {
            let mut r = json_response(StatusCode::from_u16(status).expect("valid status"), body);
            if let Some(secs) = retry_after {
                r.headers_mut().insert(header::RETRY_AFTER, secs.into());
            }
            return r;
        }
        Some(FaultKind::DelayBefore(d) | FaultKind::DelayAfter(d)) => tokio::time::sleep(d).await,
        None => {}
    }
    match (method.as_str(), path.as_str()) {
        ("GET", "/ws/oauth/authorize") => {
            return authorize(&mut state.lock().expect("sandbox lock"), &query);
        }
        ("POST", "/ws/oauth/token") => {
            return token(&mut state.lock().expect("sandbox lock"), &params(&body));
        }
        ("POST", "/ws/oauth/revoke") => {
            let form = params(&body);
            let mut s = state.lock().expect("sandbox lock");
            if let Some(t) = form.get("token")
                && let Some(spent) = s.refresh_tokens.get_mut(t)
            {
                *spent = true;
                s.revoked += 1;
            }
            return StatusCode::OK.into_response();
        }
        _ => {}
    }
    let Some(route) = path.strip_prefix("/v2/").map(str::to_owned) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("")
        .to_owned();
    let _in_flight = {
        let mut s = state.lock().expect("sandbox lock");
        if s.access_tokens
            .get(&bearer)
            .is_none_or(|exp| *exp <= Instant::now())
        {
            return json_response(
                StatusCode::UNAUTHORIZED,
                json!({"resultCode": "FAILURE", "errorMessage": "Invalid or expired token"}),
            );
        }
        s.calls += 1;
        s.in_flight += 1;
        s.max_in_flight = s.max_in_flight.max(s.in_flight);
        InFlight(state.clone())
    };
    let latency = state.lock().expect("sandbox lock").latency;
    if !latency.is_zero() {
        tokio::time::sleep_until((arrived + latency).into()).await;
    }
    if method != Method::GET {
        return StatusCode::METHOD_NOT_ALLOWED.into_response();
    }
    let s = state.lock().expect("sandbox lock");
    api(&s, &route, &query)
}

fn authorize(s: &mut State, q: &HashMap<String, String>) -> Response {
    let get = |k: &str| q.get(k).cloned().unwrap_or_default();
    if get("client_id") != s.client_id {
        return (StatusCode::BAD_REQUEST, "Unknown client").into_response();
    }
    let redirect = get("redirect_uri");
    // Never redirect to an address the app did not register.
    if !s.redirect_uris.contains(&redirect) {
        return (
            StatusCode::BAD_REQUEST,
            "redirect_uri is not registered for this app",
        )
            .into_response();
    }
    let state = get("state");
    let mut target = url::Url::parse(&redirect).expect("registered URIs are URLs");
    let scopes: Vec<String> = get("scope").split(' ').map(str::to_owned).collect();
    if get("response_type") != "code"
        || get("code_challenge_method") != "S256"
        || get("code_challenge").is_empty()
        || !scopes.iter().any(|s| s == "monitoring")
    {
        target
            .query_pairs_mut()
            .append_pair("error", "invalid_request")
            .append_pair("state", &state);
    } else if std::mem::take(&mut s.deny_consent) {
        target
            .query_pairs_mut()
            .append_pair("error", "access_denied")
            .append_pair("state", &state);
    } else {
        let code = format!("ninja-sandbox-code-{}", s.next());
        s.codes.insert(
            code.clone(),
            CodeGrant {
                client_id: get("client_id"),
                redirect_uri: redirect.clone(),
                challenge: get("code_challenge"),
                refreshable: scopes.iter().any(|s| s == "offline_access"),
                issued: Instant::now(),
                used: false,
            },
        );
        target
            .query_pairs_mut()
            .append_pair("code", &code)
            .append_pair("state", &state);
    }
    (StatusCode::FOUND, [(header::LOCATION, target.to_string())]).into_response()
}

fn token(s: &mut State, form: &HashMap<String, String>) -> Response {
    let get = |k: &str| form.get(k).cloned().unwrap_or_default();
    if get("client_id") != s.client_id || get("client_secret") != s.client_secret {
        return oauth_error(StatusCode::UNAUTHORIZED, "invalid_client");
    }
    match get("grant_type").as_str() {
        "authorization_code" => {
            let verifier = get("code_verifier");
            let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD
                .encode(Sha256::digest(verifier.as_bytes()));
            let Some(grant) = s.codes.get_mut(&get("code")) else {
                return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant");
            };
            let valid = !grant.used
                && grant.issued.elapsed() < Duration::from_secs(600)
                && grant.client_id == get("client_id")
                && grant.redirect_uri == get("redirect_uri")
                && grant.challenge == challenge;
            // A code is spent by its first exchange, good or bad.
            grant.used = true;
            if !valid {
                return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant");
            }
            let refreshable = grant.refreshable;
            s.code_exchanges += 1;
            json_response(StatusCode::OK, s.issue(refreshable))
        }
        "refresh_token" => {
            let presented = get("refresh_token");
            match s.refresh_tokens.get_mut(&presented) {
                Some(spent) if !*spent => {
                    *spent = true;
                    s.refreshes += 1;
                    json_response(StatusCode::OK, s.issue(true))
                }
                _ => oauth_error(StatusCode::BAD_REQUEST, "invalid_grant"),
            }
        }
        _ => oauth_error(StatusCode::BAD_REQUEST, "unsupported_grant_type"),
    }
}

/// One `after` page of `records` (ascending ids), as NinjaOne pages.
fn after_page<'a>(
    records: impl Iterator<Item = &'a Value>,
    q: &HashMap<String, String>,
) -> Vec<Value> {
    let size = q
        .get("pagesize")
        .or_else(|| q.get("pageSize"))
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(1000)
        .clamp(1, 1000);
    let after = q
        .get("after")
        .and_then(|v| v.parse::<i64>().ok())
        .unwrap_or(i64::MIN);
    records
        .filter(|r| r["id"].as_i64().is_some_and(|id| id > after))
        .take(size)
        .cloned()
        .collect()
}

/// `organization in (1,2)` or `org = 3`: the organization ids a device filter names.
fn df_organizations(df: &str) -> Option<Vec<i64>> {
    let df = df.trim();
    if let Some(list) = df
        .strip_prefix("organization in (")
        .and_then(|r| r.strip_suffix(')'))
    {
        return list.split(',').map(|v| v.trim().parse().ok()).collect();
    }
    df.strip_prefix("org = ")
        .and_then(|v| v.trim().parse().ok())
        .map(|id| vec![id])
}

fn api(s: &State, route: &str, q: &HashMap<String, String>) -> Response {
    let segments: Vec<&str> = route.trim_end_matches('/').split('/').collect();
    match segments.as_slice() {
        ["organizations"] => json_response(
            StatusCode::OK,
            Value::Array(after_page(s.organizations.values(), q)),
        ),
        ["organization", id] => match id
            .parse::<i64>()
            .ok()
            .and_then(|id| s.organizations.get(&id))
        {
            Some(o) => json_response(StatusCode::OK, o.clone()),
            None => StatusCode::NOT_FOUND.into_response(),
        },
        ["roles"] => json_response(StatusCode::OK, Value::Array(s.roles.clone())),
        ["locations"] => json_response(
            StatusCode::OK,
            Value::Array(after_page(s.locations.values(), q)),
        ),
        ["devices-detailed"] => {
            let orgs = match q.get("df").map(|df| df_organizations(df)) {
                None => None,
                Some(Some(orgs)) => Some(orgs),
                Some(None) => {
                    return json_response(
                        StatusCode::BAD_REQUEST,
                        json!({"resultCode": "FAILURE", "errorMessage": "Invalid device filter"}),
                    );
                }
            };
            let warranty = q
                .get("expand")
                .is_some_and(|e| e.split(',').any(|x| x.trim() == "warranty"));
            let matching = s.devices.values().filter(|d| {
                orgs.as_ref()
                    .is_none_or(|o| o.contains(&d["organizationId"].as_i64().unwrap_or(0)))
            });
            let page: Vec<Value> = after_page(matching, q)
                .into_iter()
                .map(|mut d| {
                    let w = d.as_object_mut().and_then(|m| m.remove("warranty"));
                    if warranty && let Some(w) = w {
                        d["references"] = json!({ "warranty": w });
                    }
                    d
                })
                .collect();
            json_response(StatusCode::OK, Value::Array(page))
        }
        _ => StatusCode::NOT_FOUND.into_response(),
    }
}
