//! A sandbox ConnectWise PSA: `login/companyinfo` (a `null` for unknown companies), Basic auth
//! over `company+public:private` with a required, approved `clientId`, the `Accept` version
//! header, security-role modules (403), companies, agreements and their additions (some
//! cancelled, several per agreement), the procurement catalog (some inactive), service boards
//! with statuses, types, priorities and sources, tickets and notes with ConnectWise's
//! required-field errors, the conditions grammar, `fields`, navigable and forward-only paging,
//! the 2,000-character URL limit, a per-minute rate limit with 429 + `Retry-After`, codebase
//! upgrades, latency and injectable faults.

mod conditions;
mod data;
mod routes;

use std::{
    collections::{BTreeMap, HashSet, VecDeque},
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
use tokio::task::JoinHandle;

pub use data::{DEMO_CLIENT_ID, DEMO_COMPANY, DEMO_PRIVATE_KEY, DEMO_PUBLIC_KEY, SeatVolumes};

use crate::server::{Fault, FaultKind, serve, take_fault};

/// The security-role modules the API member's role may allow.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Module {
    /// Companies > Company Maintenance.
    Companies,
    /// Finance > Agreements (inquire).
    Agreements,
    /// Finance > Agreements (edit: addition quantities).
    AgreementEdits,
    /// Procurement > Product Catalog.
    Catalog,
    /// System > Table Setup (boards, statuses, types, priorities, sources).
    TableSetup,
    /// Service Desk > Service Tickets.
    Tickets,
}

/// Everything the sandbox instance holds; tests may read and change it.
pub struct State {
    /// The login company id.
    pub company_id: String,
    /// The API member's public key.
    pub public_key: String,
    /// Its private key.
    pub private_key: String,
    /// Whether the API member is active (an inactive one is refused like wrong keys).
    pub member_active: bool,
    /// The clientIds ConnectWise accepts.
    pub client_ids: Vec<String>,
    /// The current codebase, `v2025_1/`; requests on another one answer 404.
    pub codebase: String,
    /// API model versions the `Accept` header may ask for.
    pub versions: Vec<String>,
    /// What the API member's role allows.
    pub modules: HashSet<Module>,
    /// Companies by id.
    pub companies: BTreeMap<i64, Value>,
    /// Agreements by id.
    pub agreements: BTreeMap<i64, Value>,
    /// Agreement additions by id (each names its `agreementId`).
    pub additions: BTreeMap<i64, Value>,
    /// Procurement catalog items by id.
    pub catalog: BTreeMap<i64, Value>,
    /// Service boards.
    pub boards: Vec<Value>,
    /// Statuses per board.
    pub statuses: BTreeMap<i64, Vec<Value>>,
    /// Ticket types per board.
    pub types: BTreeMap<i64, Vec<Value>>,
    /// Priorities.
    pub priorities: Vec<Value>,
    /// Ticket sources.
    pub sources: Vec<Value>,
    /// Tickets by id.
    pub tickets: BTreeMap<i64, Value>,
    /// Notes of tickets (each names its `ticketId`).
    pub notes: Vec<Value>,
    /// Requests allowed per rolling window (ConnectWise: about 1,000 per minute).
    pub rate_limit: usize,
    /// The rolling window.
    pub rate_window: Duration,
    /// Requests refused with 429.
    pub rate_limited: u64,
    /// Requests that reached the API (companyinfo included).
    pub calls: u64,
    /// Writes that changed data.
    pub writes: u64,
    /// The response time of every request.
    pub latency: Duration,
    /// Time spent serving requests (latency included), summed.
    pub service_time: Duration,
    /// Most requests in flight at once.
    pub max_in_flight: usize,
    /// Faults to inject.
    pub faults: Vec<Fault>,
    /// Where `Link` headers point instead of this sandbox (a misbehaving proxy, say).
    pub link_origin: Option<String>,
    window: VecDeque<Instant>,
    in_flight: usize,
    next_id: i64,
}

impl State {
    /// An instance with the demo member, boards and lists, and no companies.
    pub fn empty() -> Self {
        Self {
            company_id: DEMO_COMPANY.into(),
            public_key: DEMO_PUBLIC_KEY.into(),
            private_key: DEMO_PRIVATE_KEY.into(),
            member_active: true,
            client_ids: vec![DEMO_CLIENT_ID.into()],
            codebase: "v2025_1/".into(),
            versions: vec!["2024.1".into(), "2025.1".into()],
            modules: [
                Module::Companies,
                Module::Agreements,
                Module::AgreementEdits,
                Module::Catalog,
                Module::TableSetup,
                Module::Tickets,
            ]
            .into(),
            companies: BTreeMap::new(),
            agreements: BTreeMap::new(),
            additions: BTreeMap::new(),
            catalog: BTreeMap::new(),
            boards: data::boards(),
            statuses: data::statuses(),
            types: data::types(),
            priorities: data::priorities(),
            sources: data::sources(),
            tickets: BTreeMap::new(),
            notes: Vec::new(),
            rate_limit: 1000,
            rate_window: Duration::from_secs(60),
            rate_limited: 0,
            calls: 0,
            writes: 0,
            latency: Duration::ZERO,
            service_time: Duration::ZERO,
            max_in_flight: 0,
            faults: Vec::new(),
            link_origin: None,
            window: VecDeque::new(),
            in_flight: 0,
            next_id: 1000,
        }
    }

    /// The demo instance of the walk-through.
    pub fn demo() -> Self {
        data::demo()
    }

    fn next_id(&mut self) -> i64 {
        self.next_id += 1;
        self.next_id
    }

    /// Adds a company; returns its id.
    pub fn add_company(&mut self, name: &str) -> i64 {
        let id = self.next_id();
        let identifier: String = name
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .take(30)
            .collect();
        self.companies.insert(
            id,
            json!({"id": id, "identifier": identifier, "name": name, "deletedFlag": false,
                   "status": {"id": 1, "name": "Active"}, "types": [{"id": 1, "name": "Client"}]}),
        );
        id
    }

    /// Adds an agreement of a company with a status (`Active`, `Cancelled`, `Expired`).
    pub fn add_agreement(&mut self, company: i64, name: &str, status: &str) -> i64 {
        let id = self.next_id();
        let identifier = self.companies[&company]["identifier"].clone();
        self.agreements.insert(
            id,
            json!({"id": id, "name": name, "type": {"id": 1, "name": "Managed Services"},
                   "company": {"id": company, "identifier": identifier},
                   "agreementStatus": status, "cancelledFlag": status == "Cancelled",
                   "startDate": "2025-01-01T00:00:00Z", "noEndingDateFlag": true,
                   "billingCycle": {"id": 1, "name": "Monthly"}}),
        );
        id
    }

    /// Adds a catalog product; returns its id.
    pub fn add_product(&mut self, identifier: &str, description: &str, active: bool) -> i64 {
        let id = self.next_id();
        self.catalog.insert(
            id,
            json!({"id": id, "identifier": identifier, "description": description,
                   "inactiveFlag": !active, "productClass": "Service", "price": 12.5,
                   "recurringFlag": true}),
        );
        id
    }

    /// Adds an addition of `product` to an agreement; a cancelled one has a `cancelledDate`.
    pub fn add_addition(
        &mut self,
        agreement: i64,
        product: i64,
        quantity: i64,
        cancelled: bool,
    ) -> i64 {
        let id = self.next_id();
        let identifier = self.catalog[&product]["identifier"].clone();
        self.additions.insert(
            id,
            json!({"id": id, "agreementId": agreement,
                   "product": {"id": product, "identifier": identifier},
                   "billCustomer": "Billable", "quantity": quantity as f64, "lessIncluded": 0.0,
                   "unitPrice": 12.5, "effectiveDate": "2025-01-01T00:00:00Z",
                   "cancelledDate": if cancelled { json!("2026-01-31T00:00:00Z") } else { Value::Null },
                   "agreementStatus": if cancelled { "Cancelled" } else { "Active" }}),
        );
        id
    }

    /// An addition's quantity.
    pub fn quantity_of(&self, addition: i64) -> Option<f64> {
        self.additions.get(&addition)?["quantity"].as_f64()
    }

    /// Closes a ticket as a technician would: a closing status of its board, `closedFlag` set.
    pub fn close_ticket(&mut self, id: i64) {
        self.set_closing_status(id);
        if let Some(t) = self.tickets.get_mut(&id) {
            t["closedFlag"] = json!(true);
        }
    }

    /// Moves a ticket to a closing status of its board without `closedFlag` (older versions
    /// and some workflows leave it unset).
    pub fn set_closing_status(&mut self, id: i64) {
        let Some(board) = self
            .tickets
            .get(&id)
            .and_then(|t| t["board"]["id"].as_i64())
        else {
            return;
        };
        let closing = self
            .statuses
            .get(&board)
            .and_then(|s| s.iter().find(|s| s["closedStatus"] == json!(true)).cloned());
        if let (Some(t), Some(status)) = (self.tickets.get_mut(&id), closing) {
            t["status"] = json!({"id": status["id"], "name": status["name"]});
        }
    }

    /// Notes of a ticket.
    pub fn notes_of(&self, ticket: i64) -> Vec<Value> {
        self.notes
            .iter()
            .filter(|n| n["ticketId"] == json!(ticket))
            .cloned()
            .collect()
    }

    /// Upgrades the cloud instance: the API moves to another codebase path.
    pub fn upgrade(&mut self, codebase: &str) {
        self.codebase = codebase.into();
    }

    /// Counts a request against the rolling window; the seconds to wait when it is over.
    fn admit(&mut self) -> Result<(), u64> {
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
            let oldest = *self.window.front().expect("a full window has a front");
            let wait = (oldest + self.rate_window).saturating_duration_since(now);
            return Err(wait.as_secs().max(1));
        }
        self.window.push_back(now);
        Ok(())
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

    /// The site a partner types into the Connect form (`http://` on loopback).
    pub fn site(&self) -> String {
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

pub(crate) fn json_response(status: StatusCode, body: Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json; charset=utf-8")],
        body.to_string(),
    )
        .into_response()
}

/// ConnectWise's error body.
pub(crate) fn error(status: StatusCode, code: &str, message: &str) -> Response {
    json_response(
        status,
        json!({"code": code, "message": message, "errors": null}),
    )
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

/// Why a request's credentials are refused, or `None` when they are good.
fn refuse(s: &State, headers: &HeaderMap) -> Option<Response> {
    let client_id = headers
        .get("clientid")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !s.client_ids.iter().any(|c| c == client_id) {
        return Some(error(
            StatusCode::BAD_REQUEST,
            "ConnectWiseApi",
            "The clientId header is missing or is not an approved clientId.",
        ));
    }
    if let Some(accept) = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok())
        && accept.starts_with("application/vnd.connectwise.com+json")
        && let Some(version) = accept
            .split(';')
            .find_map(|p| p.trim().strip_prefix("version="))
        && !s.versions.iter().any(|v| v == version.trim())
    {
        return Some(error(
            StatusCode::BAD_REQUEST,
            "ConnectWiseApi",
            &format!(
                "The API does not support the API version '{}'.",
                version.trim()
            ),
        ));
    }
    let basic = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
        .and_then(|b| String::from_utf8(b).ok())
        .unwrap_or_default();
    let expected = format!("{}+{}:{}", s.company_id, s.public_key, s.private_key);
    let (user, rest) = basic.split_once('+').unwrap_or(("", ""));
    let good = user.eq_ignore_ascii_case(&s.company_id)
        && rest == &expected[s.company_id.len() + 1..]
        && s.member_active;
    (!good).then(|| {
        error(
            StatusCode::UNAUTHORIZED,
            "Unauthorized",
            "The supplied authentication is incorrect.",
        )
    })
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
        if let Err(wait) = s.admit() {
            let mut response = json_response(
                StatusCode::TOO_MANY_REQUESTS,
                json!({"error": "ConnectWiseAPI", "message": format!("Too many requests. Please try again in {wait} seconds.")}),
            );
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, wait.into());
            return response;
        }
        s.in_flight += 1;
        s.max_in_flight = s.max_in_flight.max(s.in_flight);
        InFlight {
            state: shared.state.clone(),
            since: Instant::now(),
        }
    };
    let response = {
        let mut s = shared.state.lock().expect("sandbox lock");
        let api_prefix = format!("/{}apis/3.0/", s.codebase);
        if let Some(company) = path.strip_prefix("/login/companyinfo/") {
            let company = url::form_urlencoded::parse(company.as_bytes())
                .map(|(k, _)| k.into_owned())
                .next()
                .unwrap_or_default();
            if method != Method::GET {
                error(
                    StatusCode::METHOD_NOT_ALLOWED,
                    "ConnectWiseApi",
                    "Method not allowed.",
                )
            } else if company.eq_ignore_ascii_case(&s.company_id) {
                json_response(
                    StatusCode::OK,
                    json!({"CompanyName": "Sandbox MSP", "Codebase": s.codebase,
                           "VersionCode": "v2025.1", "VersionNumber": "v4.6.2025.1",
                           "CompanyID": s.company_id, "IsCloud": "True"}),
                )
            } else {
                json_response(StatusCode::OK, Value::Null)
            }
        } else if let Some(route) = path.strip_prefix(&api_prefix) {
            // ConnectWise documents about 2,000 characters for a URL.
            let full = format!("{origin}{uri}");
            if full.len() > 2000 {
                error(
                    StatusCode::BAD_REQUEST,
                    "InvalidRequest",
                    "The request URL is too long; use fewer conditions or POST .../search.",
                )
            } else if let Some(refused) = refuse(&s, &headers) {
                refused
            } else {
                let forward_only = headers
                    .get("pagination-type")
                    .and_then(|v| v.to_str().ok())
                    .is_some_and(|v| v.eq_ignore_ascii_case("forward-only"));
                let link_origin = s.link_origin.clone().unwrap_or(origin);
                routes::dispatch(
                    &mut s,
                    routes::Request {
                        method: &method,
                        route,
                        uri: &uri,
                        origin: &link_origin,
                        forward_only,
                        body: &body,
                    },
                )
            }
        } else {
            // An old codebase after an upgrade, or no API at all: the web server's bare 404.
            (StatusCode::NOT_FOUND, "").into_response()
        }
    };
    let latency = shared.state.lock().expect("sandbox lock").latency;
    if !latency.is_zero() {
        tokio::time::sleep_until((arrived + latency).into()).await;
    }
    if let Some(d) = delay_after {
        tokio::time::sleep(d).await;
    }
    response
}
