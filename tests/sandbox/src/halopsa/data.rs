//! The demo instance, the lists, and the API routes behind a valid token.

use std::collections::{BTreeMap, HashMap};

use axum::{
    http::{Method, StatusCode},
    response::Response,
};
use serde_json::{Value, json};

use super::{Permission, State, bad_request, json_response, not_found, ok};

/// The demo API application's client id.
pub const DEMO_CLIENT_ID: &str = "3f0c9a52-sandbox-halo-client";
/// The demo API application's client secret.
pub const DEMO_CLIENT_SECRET: &str = "sandbox-halo-secret-7Yq2v";

pub(super) fn ticket_types() -> Vec<Value> {
    vec![
        json!({"id": 1, "name": "Incident", "default_sla": 1, "visible": true}),
        json!({"id": 3, "name": "Backup Alert", "default_sla": 2, "visible": true}),
        json!({"id": 4, "name": "Internal (hidden)", "default_sla": 1, "visible": false}),
    ]
}

pub(super) fn slas() -> Vec<Value> {
    vec![
        json!({"id": 1, "name": "Standard Support"}),
        json!({"id": 2, "name": "Managed Backup SLA"}),
    ]
}

/// Halo's priorities: one row per (SLA, priority), a GUID id, and `priorityid` as a string.
pub(super) fn priorities() -> Vec<Value> {
    let row = |sla: i64, priority: i64, name: &str| {
        json!({"id": format!("0000000{sla}-0000-0000-0000-00000000000{priority}"),
               "slaid": sla, "priorityid": priority.to_string(), "name": name, "ishidden": false})
    };
    vec![
        row(1, 1, "Critical"),
        row(1, 2, "High"),
        row(1, 3, "Medium"),
        row(1, 4, "Low"),
        row(2, 1, "Urgent"),
        row(2, 2, "Normal"),
    ]
}

pub(super) fn statuses() -> Vec<Value> {
    vec![
        json!({"id": 1, "name": "New"}),
        json!({"id": 2, "name": "In Progress"}),
        json!({"id": 9, "name": "Closed"}),
    ]
}

/// The demo instance: four customers (one inactive), their backup licences.
pub(super) fn demo() -> State {
    let mut s = State::empty();
    let acme = s.add_customer("Acme Corporation", true);
    let globex = s.add_customer("Globex Inc.", true);
    let initech = s.add_customer("Initech LLC", true);
    let umbrella = s.add_customer("Umbrella Holdings", false);
    s.add_licence(acme, "Managed Backup - Per Seat", 10);
    s.add_licence(acme, "Email Security", 3);
    s.add_licence(globex, "Managed Backup - Per Seat", 5);
    s.add_licence(initech, "Managed Backup - Per Seat", 0);
    s.add_licence(umbrella, "Managed Backup - Per Seat", 7);
    s
}

fn page(records: Vec<Value>, plural: &str, query: &HashMap<String, String>) -> Response {
    let total = records.len();
    if let Some(count) = query.get("count").and_then(|c| c.parse::<usize>().ok()) {
        let items: Vec<Value> = records.into_iter().take(count).collect();
        return ok(json!({ "record_count": total, plural: items }));
    }
    if query.get("pageinate").map(String::as_str) != Some("true") {
        return ok(json!({ "record_count": total, plural: records }));
    }
    let size = query
        .get("page_size")
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(50)
        .clamp(1, 1000);
    let no = query
        .get("page_no")
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(1)
        .max(1);
    let items: Vec<Value> = records
        .into_iter()
        .skip((no - 1) * size)
        .take(size)
        .collect();
    // Halo sends the total as a decimal now and then.
    ok(json!({ "record_count": total as f64, plural: items }))
}

/// Whether one of `fields` contains the `search` text; every record does when none is asked.
fn matches_search(record: &Value, fields: &[&str], query: &HashMap<String, String>) -> bool {
    let search = query.get("search");
    search.is_none() || fields.iter().any(|f| field_contains(record, f, search))
}

/// Whether `record[field]` contains `text` (any case); true when no text is asked for.
fn field_contains(record: &Value, field: &str, text: Option<&String>) -> bool {
    text.is_none_or(|text| {
        record[field]
            .as_str()
            .is_some_and(|v| v.to_ascii_lowercase().contains(&text.to_ascii_lowercase()))
    })
}

fn include_inactive(query: &HashMap<String, String>) -> bool {
    query.get("includeinactive").map(String::as_str) == Some("true")
}

fn id_of(v: &Value) -> Option<i64> {
    v.as_i64()
        .or_else(|| v.as_f64().filter(|f| f.fract() == 0.0).map(|f| f as i64))
        .or_else(|| v.as_str()?.parse().ok())
}

fn forbidden() -> Response {
    json_response(
        StatusCode::FORBIDDEN,
        json!("You do not have permission to access this resource"),
    )
}

fn one(records: &BTreeMap<i64, Value>, id: &str) -> Response {
    match id.parse::<i64>().ok().and_then(|id| records.get(&id)) {
        Some(r) => ok(r.clone()),
        None => not_found(),
    }
}

/// The first (only) record of a POST body: Halo takes arrays.
fn posted(body: &Value) -> Result<&Value, Box<Response>> {
    match body.as_array().map(Vec::as_slice) {
        Some([record]) => Ok(record),
        _ => Err(Box::new(bad_request(
            "The body must be an array with one record",
        ))),
    }
}

pub(super) fn dispatch(
    s: &mut State,
    method: &Method,
    segments: &[&str],
    query: &HashMap<String, String>,
    body: &Value,
) -> Response {
    let needs = match segments.first().copied().unwrap_or("") {
        "client" => Some(Permission::Customers),
        "softwarelicence" => Some(Permission::Licences),
        "tickets" | "actions" => Some(Permission::Tickets),
        _ => None,
    };
    if needs.is_some_and(|p| !s.permissions.contains(&p)) {
        return forbidden();
    }
    match (method.as_str(), segments) {
        ("GET", ["client"]) => {
            let all = include_inactive(query);
            let rows = s
                .clients
                .values()
                .filter(|c| all || !c["inactive"].as_bool().unwrap_or(false))
                .filter(|c| matches_search(c, &["name"], query))
                .cloned()
                .collect();
            page(rows, "clients", query)
        }
        ("GET", ["client", id]) => one(&s.clients, id),
        ("GET", ["softwarelicence"]) => {
            let all = include_inactive(query);
            let client = query.get("client_id").and_then(|c| c.parse::<i64>().ok());
            let rows = s
                .licences
                .values()
                .filter(|l| all || l["is_active"].as_bool().unwrap_or(true))
                .filter(|l| !l["deleted"].as_bool().unwrap_or(false))
                .filter(|l| client.is_none_or(|c| id_of(&l["client_id"]) == Some(c)))
                .filter(|l| matches_search(l, &["name"], query))
                .cloned()
                .collect();
            page(rows, "licences", query)
        }
        ("GET", ["softwarelicence", id]) => one(&s.licences, id),
        ("POST", ["softwarelicence"]) => update_licence(s, body),
        ("GET", ["tickettype"]) => {
            let all = query.get("showall").map(String::as_str) == Some("true");
            ok(Value::Array(
                s.ticket_types
                    .iter()
                    .filter(|t| all || t["visible"].as_bool().unwrap_or(true))
                    .cloned()
                    .collect(),
            ))
        }
        ("GET", ["sla"]) => ok(Value::Array(s.slas.clone())),
        ("GET", ["priority"]) => {
            let sla = query.get("slaid").and_then(|v| v.parse::<i64>().ok());
            ok(Value::Array(
                s.priorities
                    .iter()
                    .filter(|p| sla.is_none_or(|id| id_of(&p["slaid"]) == Some(id)))
                    .cloned()
                    .collect(),
            ))
        }
        ("GET", ["status"]) => {
            let open_only = query.get("excludeclosed").map(String::as_str) == Some("true");
            ok(Value::Array(
                s.statuses
                    .iter()
                    .filter(|st| !open_only || st["id"] != json!(9))
                    .cloned()
                    .collect(),
            ))
        }
        ("GET", ["tickets"]) => {
            let open_only = query.get("open_only").map(String::as_str) == Some("true");
            // `search` is the general search (the summary here); each `search_<field>` carries
            // its own text for that one field, as the spec describes them. List rows leave out
            // `details`, so a client cannot rely on them without reading the ticket.
            let rows = s
                .tickets
                .values()
                .filter(|t| !open_only || !t["hasbeenclosed"].as_bool().unwrap_or(false))
                .filter(|t| matches_search(t, &["summary"], query))
                .filter(|t| field_contains(t, "details", query.get("search_details")))
                .filter(|t| field_contains(t, "summary", query.get("search_summary")))
                .map(|t| {
                    let mut row = t.clone();
                    if let Some(row) = row.as_object_mut() {
                        row.remove("details");
                    }
                    row
                })
                .collect();
            page(rows, "tickets", query)
        }
        ("GET", ["tickets", id]) => one(&s.tickets, id),
        ("POST", ["tickets"]) => create_ticket(s, body),
        ("POST", ["actions"]) => create_action(s, body),
        _ => not_found(),
    }
}

fn update_licence(s: &mut State, body: &Value) -> Response {
    let record = match posted(body) {
        Ok(r) => r,
        Err(e) => return *e,
    };
    let Some(id) = id_of(&record["id"]) else {
        return bad_request("Creating software licences is not supported by the sandbox");
    };
    let Some(existing) = s.licences.get(&id).cloned() else {
        return bad_request(&format!("Software Licence {id} does not exist"));
    };
    let mut updated = existing;
    if let Some(count) = record.get("count") {
        match count.as_i64().filter(|c| *c >= 0) {
            Some(c) => updated["count"] = json!(c),
            None => {
                return json_response(
                    StatusCode::BAD_REQUEST,
                    json!({"[0].count": "The field count must be a whole number of 0 or more."}),
                );
            }
        }
    }
    if let Some(client) = record.get("client_id")
        && id_of(client) != id_of(&updated["client_id"])
    {
        return bad_request("A software licence cannot be moved to another customer here");
    }
    s.writes += 1;
    s.licences.insert(id, updated.clone());
    ok(updated)
}

fn create_ticket(s: &mut State, body: &Value) -> Response {
    let record = match posted(body) {
        Ok(r) => r,
        Err(e) => return *e,
    };
    let client = id_of(&record["client_id"]);
    if !client.is_some_and(|c| s.clients.contains_key(&c)) {
        return bad_request("Please select a valid Customer");
    }
    let ticket_type = id_of(&record["tickettype_id"]);
    if !s
        .ticket_types
        .iter()
        .any(|t| id_of(&t["id"]) == ticket_type)
    {
        return bad_request("Please select a valid Ticket Type");
    }
    let sla = id_of(&record["sla_id"]);
    let priority = id_of(&record["priority_id"]);
    if priority.is_some()
        && !s
            .priorities
            .iter()
            .any(|p| id_of(&p["slaid"]) == sla && id_of(&p["priorityid"]) == priority)
    {
        return bad_request("The Priority is not valid for the selected SLA");
    }
    if record["summary"].as_str().is_none_or(str::is_empty) {
        return bad_request("Please enter a Summary");
    }
    let id = s.next_id();
    let ticket = json!({
        "id": id,
        "client_id": client,
        "tickettype_id": ticket_type,
        "sla_id": sla,
        "priority_id": priority,
        "status_id": id_of(&record["status_id"]).unwrap_or(1),
        "summary": record["summary"],
        "details": record["details"],
        "hasbeenclosed": false,
    });
    s.writes += 1;
    s.tickets.insert(id, ticket.clone());
    ok(ticket)
}

fn create_action(s: &mut State, body: &Value) -> Response {
    let record = match posted(body) {
        Ok(r) => r,
        Err(e) => return *e,
    };
    let Some(ticket) = id_of(&record["ticket_id"]).filter(|t| s.tickets.contains_key(t)) else {
        return bad_request("Ticket not found");
    };
    let id = s.next_id();
    let action = json!({
        "id": id,
        "ticket_id": ticket,
        "outcome": record["outcome"],
        "note": record["note"],
        "hiddenfromuser": record["hiddenfromuser"],
    });
    s.writes += 1;
    s.actions.push(action.clone());
    ok(action)
}
