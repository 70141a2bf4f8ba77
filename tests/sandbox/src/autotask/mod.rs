//! A sandbox Autotask: zone lookup, the three authentication headers, queries with filters and
//! 500-record pages, picklists, recurring-service units that move when an adjustment is posted,
//! tickets and notes, what the imports read (company types, contacts, locations, configuration
//! items and their types, tickets with history and a deletion log, opportunities, contracts,
//! resources) with change stamps that move, opportunity creation with required fields, the 3-threads-per-endpoint limit (Itgenatr005), the hourly threshold, a
//! zone move, and injectable faults. Errors come as Autotask sends them: `{"errors": [...]}`,
//! validation failures as HTTP 500.

mod data;
pub mod filter;

use std::{
    collections::{BTreeMap, HashMap},
    sync::{Arc, Mutex},
    time::Duration,
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

pub use data::{DEMO_INTEGRATION_CODE, DEMO_SECRET, DEMO_USERNAME, OrgFixture, Volumes};

use crate::server::{Fault, FaultKind, serve, take_fault};

/// An API user of the sandbox database.
#[derive(Clone, Debug)]
pub struct User {
    /// Username (key).
    pub username: String,
    /// Secret.
    pub secret: String,
    /// Active.
    pub active: bool,
    /// Locked after failed logins.
    pub locked: bool,
    /// Consecutive refused logins; a good one resets it.
    pub failed_logins: u32,
}

/// Everything the sandbox database holds; tests may read and change it.
pub struct State {
    /// The only integration code accepted.
    pub integration_code: String,
    /// API users.
    pub users: Vec<User>,
    /// Consecutive refused logins that lock an API user (a system setting of the database).
    pub lockout_after: u32,
    /// Logins refused for a wrong secret, all users.
    pub refused_logins: u64,
    /// Database id.
    pub ci: i64,
    /// The zone currently serving the database (`zone-a` or `zone-b`); the other answers 401.
    pub active_zone: &'static str,
    /// Records by entity, by id.
    pub entities: HashMap<&'static str, BTreeMap<i64, Value>>,
    /// `{Entity}/entityInformation/fields`, by entity (others answer no fields).
    pub entity_fields: HashMap<&'static str, Value>,
    /// Requests allowed per hour.
    pub threshold: u64,
    /// Authenticated requests so far.
    pub requests: u64,
    /// Concurrent requests allowed per endpoint.
    pub thread_limit: usize,
    /// Most concurrent requests seen per endpoint.
    pub max_in_flight: HashMap<String, usize>,
    /// Requests refused with Itgenatr005.
    pub thread_rejections: u64,
    /// Authenticated requests by `"METHOD /Entity/..."` (ids left out).
    pub requests_by: BTreeMap<String, u64>,
    /// Faults to inject.
    pub faults: Vec<Fault>,
    /// Added to every authenticated request.
    pub latency: Duration,
    /// Records per page (Autotask: 500); tests lower it to force `nextPageUrl` paging.
    pub page_size: i64,
    /// Write calls that changed data (adjustments, tickets, notes).
    pub writes: u64,
    /// Time spent serving authenticated calls (latency included), summed: the vendor-side
    /// lower bound of a run's wall time at N concurrent calls is this divided by N.
    pub service_time: Duration,
    in_flight: HashMap<String, usize>,
    next_id: i64,
    /// Units row ids by contract service, so adjustments need not scan every row.
    unit_rows: HashMap<i64, Vec<i64>>,
}

const ENTITIES: [&str; 16] = [
    "Companies",
    "Contacts",
    "CompanyLocations",
    "Contracts",
    "Services",
    "ContractServices",
    "ContractServiceUnits",
    "ContractServiceAdjustments",
    "Tickets",
    "TicketNotes",
    "Resources",
    "ConfigurationItems",
    "ConfigurationItemTypes",
    "Opportunities",
    "DeletedTicketLogs",
    "CompanyNotes",
];

/// The change stamps an entity carries, as Autotask names them per entity. A ticket's
/// `createDate` is set with them when a record arrives without one.
fn stamps_of(entity: &str) -> &'static [&'static str] {
    match entity {
        "Companies" => &["lastTrackedModifiedDateTime", "lastActivityDate"],
        "Contacts" => &["lastModifiedDate", "lastActivityDate"],
        "ConfigurationItems" => &["lastModifiedTime"],
        "Tickets" => &["lastTrackedModificationDateTime", "lastActivityDate"],
        "Opportunities" => &["lastActivity"],
        "Contracts" => &["lastModifiedDateTime"],
        _ => &[],
    }
}

/// Autotask's stamp form: UTC without a zone, with milliseconds.
fn stamp_text(at: time::OffsetDateTime) -> String {
    at.format(time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]"
    ))
    .expect("a stamp formats")
}

fn canonical(entity: &str) -> Option<&'static str> {
    ENTITIES
        .iter()
        .copied()
        .find(|e| e.eq_ignore_ascii_case(entity))
}

impl State {
    /// A database with one API user and nothing else.
    pub fn empty() -> Self {
        Self {
            integration_code: DEMO_INTEGRATION_CODE.into(),
            users: vec![User {
                username: DEMO_USERNAME.into(),
                secret: DEMO_SECRET.into(),
                active: true,
                locked: false,
                failed_logins: 0,
            }],
            lockout_after: 10,
            refused_logins: 0,
            ci: 29_683_121,
            active_zone: "zone-a",
            entities: ENTITIES.iter().map(|e| (*e, BTreeMap::new())).collect(),
            entity_fields: data::entity_fields(),
            threshold: 10_000,
            requests: 0,
            thread_limit: 3,
            max_in_flight: HashMap::new(),
            thread_rejections: 0,
            requests_by: BTreeMap::new(),
            faults: Vec::new(),
            latency: Duration::ZERO,
            page_size: 500,
            writes: 0,
            service_time: Duration::ZERO,
            in_flight: HashMap::new(),
            next_id: 1_000,
            unit_rows: HashMap::new(),
        }
    }

    /// The demo database of the walk-through: three customers on recurring contracts.
    pub fn demo() -> Self {
        data::demo()
    }

    /// A database of `volumes` for imports: customers (and a lead per ten) with their
    /// contacts, locations, configuration items, tickets, opportunities and contracts.
    pub fn imports(volumes: Volumes) -> Self {
        let mut s = Self::empty();
        s.add_import_data(&volumes);
        s
    }

    /// A new id.
    pub fn next_id(&mut self) -> i64 {
        self.next_id += 1;
        self.next_id
    }

    /// Inserts a record (its `id` field decides its key). Companies and contacts get change
    /// stamps if they have none: ten minutes apart by id, in the past, as an old database has.
    pub fn insert(&mut self, entity: &'static str, mut record: Value) -> i64 {
        let id = record["id"].as_i64().expect("records have integer ids");
        let at = time::macros::datetime!(2020-01-01 00:00 UTC) + time::Duration::minutes(10 * id);
        for stamp in stamps_of(entity) {
            if record.get(*stamp).is_none() {
                record[*stamp] = json!(stamp_text(at));
            }
        }
        if entity == "Tickets" && record.get("createDate").is_none() {
            record["createDate"] = json!(stamp_text(at));
        }
        self.next_id = self.next_id.max(id);
        if entity == "ContractServiceUnits"
            && let Some(cs) = record["contractServiceID"].as_i64()
        {
            self.unit_rows.entry(cs).or_default().push(id);
        }
        self.entities.entry(entity).or_default().insert(id, record);
        id
    }

    /// Changes a record as a user in Autotask would: `change` edits it and its change stamps
    /// move to now.
    pub fn change(&mut self, entity: &'static str, id: i64, change: impl FnOnce(&mut Value)) {
        let record = self
            .entities
            .get_mut(entity)
            .and_then(|e| e.get_mut(&id))
            .unwrap_or_else(|| panic!("no {entity} {id}"));
        change(record);
        for stamp in stamps_of(entity) {
            record[*stamp] = json!(stamp_text(time::OffsetDateTime::now_utc()));
        }
    }

    /// Tickets opened through the API with an external id (ours, for platform alerts), apart
    /// from the database's own tickets.
    pub fn raised_tickets(&self) -> usize {
        self.entities["Tickets"]
            .values()
            .filter(|t| t.get("externalID").is_some_and(|v| !v.is_null()))
            .count()
    }

    /// Deletes a ticket as a user in Autotask would: it goes, and the deletion log says so.
    pub fn delete_ticket(&mut self, id: i64) {
        let ticket = self
            .entities
            .get_mut("Tickets")
            .and_then(|e| e.remove(&id))
            .unwrap_or_else(|| panic!("no ticket {id}"));
        let log = self.next_id();
        self.insert(
            "DeletedTicketLogs",
            json!({"id": log, "ticketID": id, "ticketNumber": ticket["ticketNumber"],
                "ticketTitle": ticket["title"], "deletedByResourceID": null,
                "deletedDateTime": stamp_text(time::OffsetDateTime::now_utc())}),
        );
    }

    /// Units of a contract service in the period covering `day` (`YYYY-MM-DD`).
    pub fn units_on(&self, contract_service_id: i64, day: &str) -> Option<i64> {
        self.unit_row(contract_service_id, day)
            .and_then(|id| self.entities["ContractServiceUnits"][&id]["units"].as_f64())
            .map(|u| u as i64)
    }

    /// The units row of a contract service whose period covers `day`.
    pub(crate) fn unit_row(&self, contract_service_id: i64, day: &str) -> Option<i64> {
        let rows = &self.entities["ContractServiceUnits"];
        self.unit_rows
            .get(&contract_service_id)?
            .iter()
            .copied()
            .find(|id| {
                rows.get(id)
                    .is_some_and(|r| date(&r["startDate"]) <= day && day <= date(&r["endDate"]))
            })
    }

    /// Total requests the sandbox answered for the database (threshold counter).
    pub fn calls(&self) -> u64 {
        self.requests
    }
}

fn date(v: &Value) -> &str {
    v.as_str().map_or("", |s| &s[..s.len().min(10)])
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

    /// The sandbox with the demo database (seed 000's walk-through).
    pub async fn demo() -> Self {
        Self::start(State::demo()).await
    }

    /// What to set `AUTOTASK_ZONE_LOOKUP_URL` to.
    pub fn zone_lookup_url(&self) -> String {
        format!("{}/zone-a/atservicesrest/", self.origin)
    }

    /// Reads or changes the database.
    pub fn with<R>(&self, f: impl FnOnce(&mut State) -> R) -> R {
        f(&mut self.state.lock().expect("sandbox lock"))
    }

    /// Queues a fault.
    pub fn inject(&self, fault: Fault) {
        self.with(|s| s.faults.push(fault));
    }

    /// Moves the database to the other zone: the old one answers 401 from now on.
    pub fn move_zone(&self) {
        self.with(|s| {
            s.active_zone = if s.active_zone == "zone-a" {
                "zone-b"
            } else {
                "zone-a"
            }
        });
    }
}

#[derive(Clone)]
struct Shared {
    state: Arc<Mutex<State>>,
    origin: Arc<Mutex<String>>,
}

fn errors(status: StatusCode, messages: &[&str]) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        json!({ "errors": messages }).to_string(),
    )
        .into_response()
}

fn ok(body: Value) -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

/// Releases an endpoint's thread when the request ends, even if the client hung up, and
/// adds the time it was held to the service time.
struct Thread {
    state: Arc<Mutex<State>>,
    endpoint: String,
    since: std::time::Instant,
}

impl Drop for Thread {
    fn drop(&mut self) {
        if let Ok(mut s) = self.state.lock() {
            s.service_time += self.since.elapsed();
            if let Some(n) = s.in_flight.get_mut(&self.endpoint) {
                *n = n.saturating_sub(1);
            }
        }
    }
}

async fn handle(
    AxumState(shared): AxumState<Shared>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let arrived = std::time::Instant::now();
    let path = uri.path().to_owned();
    let mut parts = path.trim_start_matches('/').splitn(3, '/');
    let (zone, root, rest) = (
        parts.next().unwrap_or(""),
        parts.next().unwrap_or(""),
        parts.next().unwrap_or(""),
    );
    if !root.eq_ignore_ascii_case("atservicesrest") || !["zone-a", "zone-b"].contains(&zone) {
        return errors(
            StatusCode::NOT_FOUND,
            &["No HTTP resource was found that matches the request URI."],
        );
    }
    let Some(route) = rest
        .strip_prefix("V1.0/")
        .or_else(|| rest.strip_prefix("v1.0/"))
    else {
        return errors(
            StatusCode::NOT_FOUND,
            &["No HTTP resource was found that matches the request URI."],
        );
    };
    let route = route.to_owned();
    let key = format!("{method} /{route}");
    let fault = take_fault(&mut shared.state.lock().expect("sandbox lock").faults, &key);
    let mut delay_after = None;
    match fault {
        Some(FaultKind::Respond {
            status,
            body,
            retry_after,
        }) => {
            let mut response = (
                StatusCode::from_u16(status).expect("valid status"),
                [(header::CONTENT_TYPE, "application/json")],
                body.to_string(),
            )
                .into_response();
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
    if route.eq_ignore_ascii_case("zoneInformation") {
        // Exempt from authentication and thread limits, like the real one.
        let user = uri.query().and_then(|q| {
            url::form_urlencoded::parse(q.as_bytes())
                .find(|(k, _)| k == "user")
                .map(|(_, v)| v.into_owned())
        });
        let s = shared.state.lock().expect("sandbox lock");
        return match user.filter(|u| s.users.iter().any(|x| x.username.eq_ignore_ascii_case(u))) {
            Some(_) => ok(json!({
                "zoneName": format!("Sandbox {}", s.active_zone),
                "url": format!("{origin}/{}/atservicesrest/", s.active_zone),
                "webUrl": format!("{origin}/web/"),
                "ci": s.ci,
            })),
            None => errors(
                StatusCode::INTERNAL_SERVER_ERROR,
                &["Zone information could not be determined"],
            ),
        };
    }
    let header_value = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned()
    };
    let (code, username, secret) = (
        header_value("ApiIntegrationCode"),
        header_value("UserName"),
        header_value("Secret"),
    );
    let endpoint = route.split('/').next().unwrap_or("").to_ascii_lowercase();
    let _thread = {
        let mut s = shared.state.lock().expect("sandbox lock");
        let Some(user) = s
            .users
            .iter()
            .find(|u| u.username.eq_ignore_ascii_case(&username))
            .cloned()
        else {
            return errors(
                StatusCode::INTERNAL_SERVER_ERROR,
                &[&format!("Unable to find user '{username}'.")],
            );
        };
        if code != s.integration_code {
            return errors(
                StatusCode::INTERNAL_SERVER_ERROR,
                &["The integration code (ApiIntegrationCode) is invalid."],
            );
        }
        if user.locked {
            return errors(
                StatusCode::INTERNAL_SERVER_ERROR,
                &["The user account is locked."],
            );
        }
        if !user.active {
            return errors(
                StatusCode::INTERNAL_SERVER_ERROR,
                &["The user account is inactive."],
            );
        }
        if zone != s.active_zone {
            return (StatusCode::UNAUTHORIZED, "").into_response();
        }
        let lockout_after = s.lockout_after;
        let stored = s
            .users
            .iter_mut()
            .find(|u| u.username.eq_ignore_ascii_case(&username))
            .expect("found above");
        if user.secret != secret {
            stored.failed_logins += 1;
            stored.locked = stored.failed_logins >= lockout_after;
            s.refused_logins += 1;
            return (StatusCode::UNAUTHORIZED, "").into_response();
        }
        stored.failed_logins = 0;
        s.requests += 1;
        let shape: Vec<&str> = route
            .split('/')
            .map(|p| if p.parse::<i64>().is_ok() { "{id}" } else { p })
            .collect();
        *s.requests_by
            .entry(format!("{method} /{}", shape.join("/")))
            .or_default() += 1;
        if s.requests > s.threshold {
            let mut r = errors(
                StatusCode::TOO_MANY_REQUESTS,
                &["The request threshold for this database has been exceeded."],
            );
            r.headers_mut().insert(header::RETRY_AFTER, 60.into());
            return r;
        }
        let limit = s.thread_limit;
        let n = s.in_flight.entry(endpoint.clone()).or_default();
        if *n >= limit {
            s.thread_rejections += 1;
            return errors(
                StatusCode::INTERNAL_SERVER_ERROR,
                &[
                    "Thread Threshold Exceeded - The Autotask API thread threshold of 3 threads has been exceeded (Itgenatr005)",
                ],
            );
        }
        *n += 1;
        let now = *n;
        let max = s.max_in_flight.entry(endpoint.clone()).or_default();
        *max = (*max).max(now);
        Thread {
            state: shared.state.clone(),
            endpoint,
            since: std::time::Instant::now(),
        }
    };
    let body: Value = if body.is_empty() {
        Value::Null
    } else {
        match serde_json::from_slice(&body) {
            Ok(v) => v,
            Err(_) => {
                return errors(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    &["The request body is not valid JSON."],
                );
            }
        }
    };
    let (response, latency) = {
        let mut s = shared.state.lock().expect("sandbox lock");
        let base = format!("{origin}/{}/atservicesrest/V1.0/", s.active_zone);
        let response = dispatch(&mut s, &method, &route, uri.query(), &body, &base);
        (response, s.latency)
    };
    // Latency is the response time from arrival, like a real vendor's: the work is part of
    // it, not added to it.
    if !latency.is_zero() {
        tokio::time::sleep_until((arrived + latency).into()).await;
    }
    if let Some(d) = delay_after {
        tokio::time::sleep(d).await;
    }
    response
}

fn dispatch(
    s: &mut State,
    method: &Method,
    route: &str,
    query: Option<&str>,
    body: &Value,
    base: &str,
) -> Response {
    let segments: Vec<&str> = route.split('/').collect();
    match (method.as_str(), segments.as_slice()) {
        ("GET", [t]) if t.eq_ignore_ascii_case("ThresholdInformation") => ok(json!({
            "externalRequestThreshold": s.threshold,
            "requestThresholdTimeframe": 60,
            "currentTimeframeRequestCount": s.requests,
        })),
        ("GET", [e, info, fields])
            if info.eq_ignore_ascii_case("entityInformation")
                && fields.eq_ignore_ascii_case("fields") =>
        {
            match canonical(e).and_then(|e| s.entity_fields.get(e)) {
                Some(fields) => ok(fields.clone()),
                None => ok(json!({ "fields": [] })),
            }
        }
        ("POST", [e, q]) if q.eq_ignore_ascii_case("query") => query_entity(s, e, body, None, base),
        ("POST", [e, q, next])
            if q.eq_ignore_ascii_case("query") && next.eq_ignore_ascii_case("next") =>
        {
            let after = query
                .and_then(|q| {
                    url::form_urlencoded::parse(q.as_bytes())
                        .find(|(k, _)| k == "paging")
                        .map(|(_, v)| v.into_owned())
                })
                .and_then(|v| v.parse::<i64>().ok());
            query_entity(s, e, body, after, base)
        }
        ("GET", [e, id]) => match (canonical(e), id.parse::<i64>()) {
            (Some(entity), Ok(id)) => ok(json!({ "item": s.entities[entity].get(&id).cloned() })),
            _ => errors(
                StatusCode::NOT_FOUND,
                &["No HTTP resource was found that matches the request URI."],
            ),
        },
        ("POST", [c, id, adj])
            if c.eq_ignore_ascii_case("Contracts")
                && adj.eq_ignore_ascii_case("ServiceAdjustments") =>
        {
            match id.parse() {
                Ok(id) => data::adjust(s, id, body),
                Err(_) => errors(
                    StatusCode::NOT_FOUND,
                    &["No HTTP resource was found that matches the request URI."],
                ),
            }
        }
        ("POST", [t]) if t.eq_ignore_ascii_case("Tickets") => data::create_ticket(s, body),
        ("POST", [o]) if o.eq_ignore_ascii_case("Opportunities") => {
            data::create_opportunity(s, body)
        }
        ("POST", [t, id, notes])
            if t.eq_ignore_ascii_case("Tickets") && notes.eq_ignore_ascii_case("Notes") =>
        {
            match id.parse() {
                Ok(id) => data::create_note(s, id, body),
                Err(_) => errors(
                    StatusCode::NOT_FOUND,
                    &["No HTTP resource was found that matches the request URI."],
                ),
            }
        }
        _ => errors(
            StatusCode::NOT_FOUND,
            &["No HTTP resource was found that matches the request URI."],
        ),
    }
}

/// The record with only the `IncludeFields` asked for (and its id), as Autotask answers.
fn included(record: &Value, body: &Value) -> Value {
    let Some(fields) = filter::field(body, "IncludeFields").and_then(Value::as_array) else {
        return record.clone();
    };
    let mut out = serde_json::Map::new();
    let names = std::iter::once("id").chain(fields.iter().filter_map(Value::as_str));
    for name in names {
        if let Some(obj) = record.as_object()
            && let Some((k, v)) = obj
                .get_key_value(name)
                .or_else(|| obj.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)))
        {
            out.insert(k.clone(), v.clone());
        }
    }
    Value::Object(out)
}

fn query_entity(s: &State, entity: &str, body: &Value, after: Option<i64>, base: &str) -> Response {
    let Some(entity) = canonical(entity).filter(|e| *e != "ContractServiceAdjustments") else {
        return errors(
            StatusCode::NOT_FOUND,
            &["No HTTP resource was found that matches the request URI."],
        );
    };
    let filter = filter::field(body, "filter")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if filter.is_empty() {
        return errors(
            StatusCode::INTERNAL_SERVER_ERROR,
            &["A query must have at least one filter."],
        );
    }
    let max = filter::field(body, "MaxRecords")
        .and_then(Value::as_i64)
        .unwrap_or(500);
    if !(1..=500).contains(&max) {
        return errors(
            StatusCode::INTERNAL_SERVER_ERROR,
            &["MaxRecords must be between 1 and 500."],
        );
    }
    let mut items = Vec::new();
    let mut more = false;
    let prepared = match filter::Prepared::new(&filter) {
        Ok(p) => p,
        Err(e) => return errors(StatusCode::INTERNAL_SERVER_ERROR, &[&e]),
    };
    // A top-level `id gt`/`gte` starts the scan there, as the database's index would.
    let from_filter = filter
        .iter()
        .filter(|f| {
            filter::field(f, "field")
                .and_then(Value::as_str)
                .is_some_and(|n| n.eq_ignore_ascii_case("id"))
        })
        .filter_map(|f| {
            let value = f.get("value")?.as_i64()?;
            match f.get("op")?.as_str()?.to_ascii_lowercase().as_str() {
                "gt" => value.checked_add(1),
                "gte" => Some(value),
                _ => None,
            }
        })
        .max()
        .unwrap_or(i64::MIN);
    let start = after.map_or(i64::MIN, |a| a + 1).max(from_filter);
    for (id, record) in s.entities[entity].range(start..) {
        match prepared.matches(record) {
            Err(e) => return errors(StatusCode::INTERNAL_SERVER_ERROR, &[&e]),
            Ok(false) => continue,
            Ok(true) => {}
        }
        if items.len() as i64 == max.min(s.page_size) {
            more = true;
            break;
        }
        let _ = id;
        items.push(included(record, body));
    }
    let next = more.then(|| {
        let last = items
            .last()
            .and_then(|r| r["id"].as_i64())
            .unwrap_or_default();
        format!("{base}{entity}/query/next?paging={last}")
    });
    ok(json!({
        "items": items,
        "pageDetails": { "count": items.len(), "requestCount": 500, "prevPageUrl": null, "nextPageUrl": next },
    }))
}
