//! A sandbox HaloPSA: `/api/authinfo`, a client-credentials token endpoint (`invalid_client`
//! for wrong secrets, `?tenant=` for hosted instances), bearer tokens that expire, agent
//! permissions (403), customers, software licences, ticket types, SLAs with their priorities,
//! statuses, tickets and actions, `pageinate`/`page_size`/`page_no` paging, Halo's loose JSON
//! (ids as `21.0` or strings, bare arrays next to `{record_count, ...}` wrappers), the hosted
//! rate limit over a rolling window, and injectable faults.

mod data;

use std::{
    collections::{BTreeMap, HashMap, HashSet, VecDeque},
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
use serde_json::{Value, json};
use tokio::task::JoinHandle;

pub use data::{DEMO_CLIENT_ID, DEMO_CLIENT_SECRET};

use crate::server::{Fault, FaultKind, serve, take_fault};

/// What the agent's role allows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Permission {
    /// Customers access level.
    Customers,
    /// Software Licensing access level.
    Licences,
    /// Tickets access level.
    Tickets,
}

/// Everything the sandbox instance holds; tests may read and change it.
pub struct State {
    /// The API application's client id.
    pub client_id: String,
    /// Its secret.
    pub client_secret: String,
    /// Hosted instances require `?tenant=` on the token URL.
    pub hosted_tenant: Option<String>,
    /// What `/api/authinfo` names as the authorisation server; `None`: `{origin}/auth`.
    pub auth_url_override: Option<String>,
    /// Token lifetime.
    pub token_ttl: Duration,
    /// Token requests answered with a token.
    pub tokens_issued: u64,
    /// What the agent may do.
    pub permissions: HashSet<Permission>,
    /// Customers by id.
    pub clients: BTreeMap<i64, Value>,
    /// Software licences by id.
    pub licences: BTreeMap<i64, Value>,
    /// Ticket types.
    pub ticket_types: Vec<Value>,
    /// SLAs.
    pub slas: Vec<Value>,
    /// Priorities, one row per (SLA, priority).
    pub priorities: Vec<Value>,
    /// Ticket statuses.
    pub statuses: Vec<Value>,
    /// Tickets by id.
    pub tickets: BTreeMap<i64, Value>,
    /// Actions (notes) added to tickets.
    pub actions: Vec<Value>,
    /// Requests allowed per rolling window (hosted Halo: 300 per 5 minutes).
    pub rate_limit: usize,
    /// The rolling window.
    pub rate_window: Duration,
    /// Requests refused with 429.
    pub rate_limited: u64,
    /// Requests counted against the rate limit (API, authinfo and token calls).
    pub calls: u64,
    /// Writes that changed data.
    pub writes: u64,
    /// Added to every request.
    pub latency: Duration,
    /// Time spent serving requests (latency included), summed.
    pub service_time: Duration,
    /// Most requests in flight at once.
    pub max_in_flight: usize,
    /// Faults to inject.
    pub faults: Vec<Fault>,
    tokens: HashMap<String, Instant>,
    window: VecDeque<Instant>,
    in_flight: usize,
    next_id: i64,
}

impl State {
    /// An instance with the demo application and lists, and no customers.
    pub fn empty() -> Self {
        Self {
            client_id: DEMO_CLIENT_ID.into(),
            client_secret: DEMO_CLIENT_SECRET.into(),
            hosted_tenant: None,
            auth_url_override: None,
            token_ttl: Duration::from_secs(3600),
            tokens_issued: 0,
            permissions: [
                Permission::Customers,
                Permission::Licences,
                Permission::Tickets,
            ]
            .into(),
            clients: BTreeMap::new(),
            licences: BTreeMap::new(),
            ticket_types: data::ticket_types(),
            slas: data::slas(),
            priorities: data::priorities(),
            statuses: data::statuses(),
            tickets: BTreeMap::new(),
            actions: Vec::new(),
            rate_limit: 300,
            rate_window: Duration::from_secs(300),
            rate_limited: 0,
            calls: 0,
            writes: 0,
            latency: Duration::ZERO,
            service_time: Duration::ZERO,
            max_in_flight: 0,
            faults: Vec::new(),
            tokens: HashMap::new(),
            window: VecDeque::new(),
            in_flight: 0,
            next_id: 100,
        }
    }

    /// The demo instance of the walk-through (seed 001).
    pub fn demo() -> Self {
        data::demo()
    }

    fn next_id(&mut self) -> i64 {
        self.next_id += 1;
        self.next_id
    }

    /// Adds a customer; returns its id.
    pub fn add_customer(&mut self, name: &str, active: bool) -> i64 {
        let id = self.next_id();
        self.clients.insert(
            id,
            json!({"id": id, "name": name, "inactive": !active, "toplevel_id": 1, "main_site_id": id * 10}),
        );
        id
    }

    /// Adds a software licence of a customer; returns its id.
    pub fn add_licence(&mut self, customer: i64, name: &str, count: i64) -> i64 {
        let id = self.next_id();
        // Halo sends some ids as decimals; the sandbox does too.
        self.licences.insert(
            id,
            json!({"id": id, "name": name, "client_id": customer as f64, "count": count,
                   "type": 1, "status": "Active", "is_active": true, "deleted": false,
                   "billing_cycle": "Monthly", "licences_in_use": 0}),
        );
        id
    }

    /// A licence's `count`.
    pub fn count_of(&self, licence: i64) -> Option<i64> {
        self.licences.get(&licence)?["count"].as_i64()
    }

    /// Closes a ticket as an agent would.
    pub fn close_ticket(&mut self, id: i64) {
        if let Some(t) = self.tickets.get_mut(&id) {
            t["status_id"] = json!(9);
            t["hasbeenclosed"] = json!(true);
        }
    }

    /// Expires every issued token (as if an hour passed).
    pub fn expire_tokens(&mut self) {
        self.tokens.clear();
    }

    /// Counts a request against the rolling window; false when it is over the limit.
    fn admit(&mut self) -> bool {
        let now = Instant::now();
        while self
            .window
            .front()
            .is_some_and(|t| now.duration_since(*t) >= self.rate_window)
        {
            self.window.pop_front();
        }
        self.calls += 1;
        if self.window.len() >= self.rate_limit {
            self.rate_limited += 1;
            return false;
        }
        self.window.push_back(now);
        true
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
        let origin_cell: Arc<Mutex<String>> = Arc::default();
        let router = Router::new().fallback(handle).with_state(Shared {
            state: state.clone(),
            origin: origin_cell.clone(),
        });
        let (origin, task) = serve(router).await;
        *origin_cell.lock().expect("origin lock") = origin.clone();
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

    /// The site URL a partner types into the Connect form.
    pub fn site_url(&self) -> String {
        self.origin.clone()
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

#[derive(Clone)]
struct Shared {
    state: Arc<Mutex<State>>,
    origin: Arc<Mutex<String>>,
}

fn json_response(status: StatusCode, body: Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

fn ok(body: Value) -> Response {
    json_response(StatusCode::OK, body)
}

fn bad_request(message: &str) -> Response {
    json_response(StatusCode::BAD_REQUEST, json!({ "message": message }))
}

fn not_found() -> Response {
    (StatusCode::NOT_FOUND, "").into_response()
}

/// Releases the in-flight slot when the request ends and adds its time to the service time.
struct InFlight {
    state: Arc<Mutex<State>>,
    since: Instant,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        if let Ok(mut s) = self.state.lock() {
            s.service_time += self.since.elapsed();
            s.in_flight = s.in_flight.saturating_sub(1);
        }
    }
}

fn query_map(uri: &Uri) -> HashMap<String, String> {
    uri.query()
        .map(|q| {
            url::form_urlencoded::parse(q.as_bytes())
                .map(|(k, v)| (k.to_ascii_lowercase(), v.into_owned()))
                .collect()
        })
        .unwrap_or_default()
}

async fn handle(
    AxumState(shared): AxumState<Shared>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let arrived = Instant::now();
    let path = uri.path().to_owned();
    let key = format!("{method} {path}");
    let fault = take_fault(&mut shared.state.lock().expect("sandbox lock").faults, &key);
    let mut delay_after = None;
    match fault {
        Some(FaultKind::Respond {
            status,
            body,
            retry_after,
        }) => {
            let mut response =
                json_response(StatusCode::from_u16(status).expect("valid status"), body);
            if let Some(secs) = retry_after {
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, secs.into());
            }
            return response;
        }
        Some(FaultKind::DelayBefore(d)) => tokio::time::sleep(d).await,
        Some(FaultKind::DelayAfter(d)) => delay_after = Some(d),
        None => {}
    }
    let origin = shared.origin.lock().expect("origin lock").clone();
    let _in_flight = {
        let mut s = shared.state.lock().expect("sandbox lock");
        if !s.admit() {
            return (
                StatusCode::TOO_MANY_REQUESTS,
                "Rate Limit Reached - 300 Requests per rolling 5 minute window",
            )
                .into_response();
        }
        s.in_flight += 1;
        s.max_in_flight = s.max_in_flight.max(s.in_flight);
        InFlight {
            state: shared.state.clone(),
            since: Instant::now(),
        }
    };
    let latency = shared.state.lock().expect("sandbox lock").latency;
    if !latency.is_zero() {
        tokio::time::sleep_until((arrived + latency).into()).await;
    }
    let query = query_map(&uri);
    let lower = path.to_ascii_lowercase();
    let response = if lower == "/api/authinfo" && method == Method::GET {
        let s = shared.state.lock().expect("sandbox lock");
        ok(json!({
            "auth_url": s.auth_url_override.clone().unwrap_or_else(|| format!("{origin}/auth")),
            "tenant_id": s.hosted_tenant,
        }))
    } else if lower == "/auth/token" && method == Method::POST {
        token(
            &mut shared.state.lock().expect("sandbox lock"),
            &query,
            &body,
        )
    } else if let Some(route) = lower.strip_prefix("/api/") {
        let bearer = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or("")
            .to_owned();
        let mut s = shared.state.lock().expect("sandbox lock");
        if s.tokens
            .get(&bearer)
            .is_none_or(|exp| *exp <= Instant::now())
        {
            (StatusCode::UNAUTHORIZED, "").into_response()
        } else {
            let body: Value = if body.is_empty() {
                Value::Null
            } else {
                match serde_json::from_slice(&body) {
                    Ok(v) => v,
                    Err(_) => return bad_request("The request body is not valid JSON"),
                }
            };
            let segments: Vec<&str> = route.trim_end_matches('/').split('/').collect();
            data::dispatch(&mut s, &method, &segments, &query, &body)
        }
    } else {
        not_found()
    };
    if let Some(d) = delay_after {
        tokio::time::sleep(d).await;
    }
    response
}

fn token(s: &mut State, query: &HashMap<String, String>, body: &[u8]) -> Response {
    let form: HashMap<String, String> = url::form_urlencoded::parse(body).into_owned().collect();
    let invalid_client = || {
        json_response(
            StatusCode::UNAUTHORIZED,
            json!({"error": "invalid_client", "error_description": "Client authentication failed"}),
        )
    };
    if form.get("grant_type").map(String::as_str) != Some("client_credentials") {
        return json_response(
            StatusCode::BAD_REQUEST,
            json!({"error": "unsupported_grant_type"}),
        );
    }
    if let Some(tenant) = &s.hosted_tenant
        && query.get("tenant") != Some(tenant)
    {
        return invalid_client();
    }
    if form.get("client_id") != Some(&s.client_id)
        || form.get("client_secret") != Some(&s.client_secret)
    {
        return invalid_client();
    }
    let serial = s.next_id();
    let token = format!("halo-sandbox-token-{}-{serial}", s.tokens_issued);
    s.tokens_issued += 1;
    s.tokens.insert(token.clone(), Instant::now() + s.token_ttl);
    ok(json!({
        "access_token": token,
        "token_type": "Bearer",
        "expires_in": s.token_ttl.as_secs(),
        "scope": "all",
    }))
}
