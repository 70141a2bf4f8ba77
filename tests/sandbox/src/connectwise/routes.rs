//! The API routes behind valid credentials: reads with conditions, fields and paging, ticket
//! and note creation with ConnectWise's errors, and addition PATCHes.

use axum::{
    http::{Method, StatusCode, Uri},
    response::Response,
};
use serde_json::{Map, Value, json};

use super::{Module, State, conditions, error, json_response};

/// One request, as the dispatcher needs it.
pub(super) struct Request<'a> {
    pub method: &'a Method,
    /// The path after `/{codebase}apis/3.0/`.
    pub route: &'a str,
    pub uri: &'a Uri,
    pub origin: &'a str,
    pub forward_only: bool,
    pub body: &'a [u8],
}

fn query(uri: &Uri) -> Vec<(String, String)> {
    uri.query()
        .map(|q| {
            url::form_urlencoded::parse(q.as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect()
        })
        .unwrap_or_default()
}

fn param<'a>(q: &'a [(String, String)], name: &str) -> Option<&'a str> {
    q.iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

fn forbidden() -> Response {
    error(
        StatusCode::FORBIDDEN,
        "Forbidden",
        "You do not have access to this resource. Improper security role settings.",
    )
}

fn not_found(what: &str, id: &str) -> Response {
    error(
        StatusCode::NOT_FOUND,
        "NotFound",
        &format!("{what} recId {id} not found"),
    )
}

fn invalid(object: &str, field: &str, code: &str, message: &str) -> Response {
    json_response(
        StatusCode::BAD_REQUEST,
        json!({"code": "InvalidObject", "message": format!("{object} object is invalid"),
               "errors": [{"code": code, "message": message, "resource": object, "field": field}]}),
    )
}

/// Keeps only the `fields` (paths like `company/id`) of a record.
fn project(record: &Value, fields: Option<&str>) -> Value {
    let Some(fields) = fields.filter(|f| !f.trim().is_empty()) else {
        return record.clone();
    };
    let mut out = Value::Object(Map::new());
    for field in fields.split(',').map(str::trim) {
        let Some(value) = conditions::at(record, field) else {
            continue;
        };
        insert(
            &mut out,
            &field.split('/').collect::<Vec<_>>(),
            value.clone(),
        );
    }
    out
}

fn insert(into: &mut Value, path: &[&str], value: Value) {
    let obj = into.as_object_mut().expect("built as objects");
    match path {
        [last] => {
            obj.insert((*last).to_owned(), value);
        }
        [first, rest @ ..] => {
            let inner = obj
                .entry((*first).to_owned())
                .or_insert_with(|| Value::Object(Map::new()));
            insert(inner, rest, value);
        }
        [] => {}
    }
}

/// A list answer: conditions, order, fields, and navigable or forward-only paging with a
/// `Link` header.
fn list(records: Vec<Value>, req: &Request<'_>) -> Response {
    let q = query(req.uri);
    let mut records = records;
    if let Some(c) = param(&q, "conditions").filter(|c| !c.trim().is_empty()) {
        match conditions::parse(c) {
            Ok(condition) => records.retain(|r| condition.matches(r)),
            Err(e) => {
                return error(
                    StatusCode::BAD_REQUEST,
                    "InvalidObject",
                    &format!("conditions: {e}"),
                );
            }
        }
    }
    let page_size = match param(&q, "pageSize").map(str::parse::<usize>) {
        None => 25,
        Some(Ok(n)) if (1..=1000).contains(&n) => n,
        _ => {
            return error(
                StatusCode::BAD_REQUEST,
                "OutOfRange",
                "The field pageSize must be between 1 and 1000.",
            );
        }
    };
    let fields = param(&q, "fields");
    let base = format!("{}{}", req.origin, req.uri.path());
    let link_with = |name: &str, value: String| {
        let mut next: Vec<(String, String)> = q
            .iter()
            .filter(|(k, _)| !k.eq_ignore_ascii_case(name))
            .cloned()
            .collect();
        next.push((name.to_owned(), value));
        let encoded: String = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(next)
            .finish();
        format!("<{base}?{encoded}>; rel=\"next\"")
    };
    let (rows, next) = if req.forward_only {
        if param(&q, "orderBy").is_some() {
            return error(
                StatusCode::BAD_REQUEST,
                "InvalidRequest",
                "orderBy is not supported with forward-only pagination.",
            );
        }
        let after = param(&q, "pageId")
            .and_then(|p| p.parse::<i64>().ok())
            .unwrap_or(0);
        records.sort_by_key(|r| r["id"].as_i64().unwrap_or(0));
        let rest: Vec<Value> = records
            .into_iter()
            .filter(|r| r["id"].as_i64().unwrap_or(0) > after)
            .collect();
        let more = rest.len() > page_size;
        let rows: Vec<Value> = rest.into_iter().take(page_size).collect();
        let next = more.then(|| {
            let last = rows.last().and_then(|r| r["id"].as_i64()).unwrap_or(after);
            link_with("pageId", last.to_string())
        });
        (rows, next)
    } else {
        if let Some(order) = param(&q, "orderBy") {
            let mut parts = order.split_whitespace();
            let field = parts.next().unwrap_or("id").to_owned();
            let desc = parts.next().is_some_and(|d| d.eq_ignore_ascii_case("desc"));
            records.sort_by(|a, b| {
                let (x, y) = (conditions::at(a, &field), conditions::at(b, &field));
                let o = match (x, y) {
                    (Some(Value::Number(x)), Some(Value::Number(y))) => x
                        .as_f64()
                        .partial_cmp(&y.as_f64())
                        .unwrap_or(std::cmp::Ordering::Equal),
                    _ => x
                        .map(|v| v.to_string().to_lowercase())
                        .cmp(&y.map(|v| v.to_string().to_lowercase())),
                };
                if desc { o.reverse() } else { o }
            });
        }
        let page = param(&q, "page")
            .and_then(|p| p.parse::<usize>().ok())
            .unwrap_or(1)
            .max(1);
        let total = records.len();
        let rows: Vec<Value> = records
            .into_iter()
            .skip((page - 1) * page_size)
            .take(page_size)
            .collect();
        let next = (page * page_size < total).then(|| link_with("page", (page + 1).to_string()));
        (rows, next)
    };
    let body = Value::Array(rows.iter().map(|r| project(r, fields)).collect());
    let mut response = json_response(StatusCode::OK, body);
    if let Some(link) = next {
        response
            .headers_mut()
            .insert("link", link.parse().expect("a valid header"));
    }
    response
}

fn one(record: Option<&Value>, what: &str, id: &str, req: &Request<'_>) -> Response {
    match record {
        Some(r) => json_response(StatusCode::OK, project(r, param(&query(req.uri), "fields"))),
        None => not_found(what, id),
    }
}

fn needs(s: &State, module: Module) -> Option<Response> {
    (!s.modules.contains(&module)).then(forbidden)
}

pub(super) fn dispatch(s: &mut State, req: Request<'_>) -> Response {
    let segments: Vec<&str> = req.route.trim_end_matches('/').split('/').collect();
    let lower: Vec<String> = segments.iter().map(|p| p.to_ascii_lowercase()).collect();
    let lower: Vec<&str> = lower.iter().map(String::as_str).collect();
    let get = *req.method == Method::GET;
    match (req.method.clone(), lower.as_slice()) {
        (Method::GET, ["system", "info"]) => json_response(
            StatusCode::OK,
            json!({"version": "v2025.1.12345", "isCloud": true, "serverTimeZone": "Eastern Standard Time", "cloudRegion": "NA"}),
        ),
        (_, ["company", "companies", rest @ ..]) if get => {
            if let Some(f) = needs(s, Module::Companies) {
                return f;
            }
            match rest {
                [] => list(s.companies.values().cloned().collect(), &req),
                [id] => one(
                    id.parse().ok().and_then(|i: i64| s.companies.get(&i)),
                    "Company",
                    id,
                    &req,
                ),
                _ => not_found("Route", req.route),
            }
        }
        (m, ["finance", "agreements", rest @ ..]) => {
            if let Some(f) = needs(s, Module::Agreements) {
                return f;
            }
            match (m, rest) {
                (Method::GET, []) => list(s.agreements.values().cloned().collect(), &req),
                (Method::GET, [id]) => one(
                    id.parse().ok().and_then(|i: i64| s.agreements.get(&i)),
                    "Agreement",
                    id,
                    &req,
                ),
                (m, [agreement, "additions", rest @ ..]) => {
                    let Some(agreement) = agreement
                        .parse::<i64>()
                        .ok()
                        .filter(|a| s.agreements.contains_key(a))
                    else {
                        return not_found("Agreement", agreement);
                    };
                    let of = |a: &&Value| a["agreementId"].as_i64() == Some(agreement);
                    match (m, rest) {
                        (Method::GET, []) => {
                            list(s.additions.values().filter(of).cloned().collect(), &req)
                        }
                        (Method::GET, [id]) => one(
                            id.parse()
                                .ok()
                                .and_then(|i: i64| s.additions.get(&i))
                                .filter(|a| of(a)),
                            "Addition",
                            id,
                            &req,
                        ),
                        (Method::PATCH, [id]) => {
                            if let Some(f) = needs(s, Module::AgreementEdits) {
                                return f;
                            }
                            let Some(id) = id
                                .parse::<i64>()
                                .ok()
                                .filter(|i| s.additions.get(i).is_some_and(|a| of(&a)))
                            else {
                                return not_found("Addition", id);
                            };
                            patch_addition(s, id, req.body)
                        }
                        _ => error(
                            StatusCode::METHOD_NOT_ALLOWED,
                            "ConnectWiseApi",
                            "Method not allowed.",
                        ),
                    }
                }
                _ => error(
                    StatusCode::METHOD_NOT_ALLOWED,
                    "ConnectWiseApi",
                    "Method not allowed.",
                ),
            }
        }
        (Method::GET, ["procurement", "catalog", rest @ ..]) => {
            if let Some(f) = needs(s, Module::Catalog) {
                return f;
            }
            match rest {
                [] => list(s.catalog.values().cloned().collect(), &req),
                [id] => one(
                    id.parse().ok().and_then(|i: i64| s.catalog.get(&i)),
                    "CatalogItem",
                    id,
                    &req,
                ),
                _ => not_found("Route", req.route),
            }
        }
        (Method::GET, ["service", "boards", rest @ ..]) => {
            if let Some(f) = needs(s, Module::TableSetup) {
                return f;
            }
            match rest {
                [] => list(s.boards.clone(), &req),
                [board, list_name @ ("statuses" | "types")] => {
                    let Some(board) = board
                        .parse::<i64>()
                        .ok()
                        .filter(|b| s.boards.iter().any(|x| x["id"] == json!(b)))
                    else {
                        return not_found("Board", board);
                    };
                    let source = if *list_name == "statuses" {
                        &s.statuses
                    } else {
                        &s.types
                    };
                    list(source.get(&board).cloned().unwrap_or_default(), &req)
                }
                _ => not_found("Route", req.route),
            }
        }
        (Method::GET, ["service", "priorities"]) => {
            needs(s, Module::TableSetup).unwrap_or_else(|| list(s.priorities.clone(), &req))
        }
        (Method::GET, ["service", "sources"]) => {
            needs(s, Module::TableSetup).unwrap_or_else(|| list(s.sources.clone(), &req))
        }
        (m, ["service", "tickets", rest @ ..]) => {
            if let Some(f) = needs(s, Module::Tickets) {
                return f;
            }
            match (m, rest) {
                (Method::GET, []) => list(s.tickets.values().cloned().collect(), &req),
                (Method::POST, []) => create_ticket(s, req.body),
                (Method::GET, [id]) => one(
                    id.parse().ok().and_then(|i: i64| s.tickets.get(&i)),
                    "Ticket",
                    id,
                    &req,
                ),
                (m, [id, "notes"]) => {
                    let Some(ticket) = id.parse::<i64>().ok().filter(|t| s.tickets.contains_key(t))
                    else {
                        return not_found("Ticket", id);
                    };
                    match m {
                        Method::GET => list(s.notes_of(ticket), &req),
                        Method::POST => create_note(s, ticket, req.body),
                        _ => error(
                            StatusCode::METHOD_NOT_ALLOWED,
                            "ConnectWiseApi",
                            "Method not allowed.",
                        ),
                    }
                }
                _ => error(
                    StatusCode::METHOD_NOT_ALLOWED,
                    "ConnectWiseApi",
                    "Method not allowed.",
                ),
            }
        }
        _ => error(
            StatusCode::NOT_FOUND,
            "ConnectWiseApi",
            "The endpoint does not exist.",
        ),
    }
}

/// A JSON object body, or `None` (answered with ConnectWise's `InvalidObject`).
fn body_object(body: &[u8]) -> Option<Map<String, Value>> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(m)) => Some(m),
        _ => None,
    }
}

fn not_an_object(object: &str) -> Response {
    error(
        StatusCode::BAD_REQUEST,
        "InvalidObject",
        &format!("{object} object is invalid"),
    )
}

fn reference_id(body: &Map<String, Value>, field: &str) -> Option<Option<i64>> {
    match body.get(field) {
        None | Some(Value::Null) => Some(None),
        Some(v) => v["id"].as_i64().map(Some),
    }
}

fn create_ticket(s: &mut State, raw: &[u8]) -> Response {
    let Some(body) = body_object(raw) else {
        return not_an_object("ticket");
    };
    let summary = body
        .get("summary")
        .and_then(Value::as_str)
        .unwrap_or("")
        .trim()
        .to_owned();
    if summary.is_empty() {
        return invalid(
            "ticket",
            "summary",
            "MissingRequiredField",
            "The summary field is required.",
        );
    }
    if summary.chars().count() > 100 {
        return invalid(
            "ticket",
            "summary",
            "InvalidField",
            "summary must be 100 characters or fewer.",
        );
    }
    let Some(Some(company)) = reference_id(&body, "company") else {
        return invalid(
            "ticket",
            "company",
            "MissingRequiredField",
            "The company field is required.",
        );
    };
    let Some(company_record) = s
        .companies
        .get(&company)
        .filter(|c| c["deletedFlag"] != json!(true))
        .cloned()
    else {
        return invalid("ticket", "company", "InvalidField", "Company not found.");
    };
    let Some(board) = reference_id(&body, "board") else {
        return invalid(
            "ticket",
            "board",
            "InvalidField",
            "board must be a reference with an id.",
        );
    };
    let board = board.unwrap_or(1);
    let Some(board_record) = s
        .boards
        .iter()
        .find(|b| {
            b["id"] == json!(board)
                && b["inactiveFlag"] != json!(true)
                && b["projectFlag"] != json!(true)
        })
        .cloned()
    else {
        return invalid(
            "ticket",
            "board",
            "InvalidField",
            "Board not found or not a service board.",
        );
    };
    let statuses = s.statuses.get(&board).cloned().unwrap_or_default();
    let status = match reference_id(&body, "status") {
        Some(Some(id)) => statuses
            .iter()
            .find(|x| x["id"] == json!(id) && x["inactive"] != json!(true))
            .cloned(),
        Some(None) => statuses
            .iter()
            .find(|x| x["defaultFlag"] == json!(true))
            .cloned(),
        None => None,
    };
    let Some(status) = status else {
        return invalid(
            "ticket",
            "status",
            "InvalidField",
            "Status is not valid for the selected board.",
        );
    };
    let ticket_type = match reference_id(&body, "type") {
        Some(Some(id)) => match s.types.get(&board).and_then(|t| {
            t.iter()
                .find(|x| x["id"] == json!(id) && x["inactiveFlag"] != json!(true))
        }) {
            Some(t) => json!({"id": t["id"], "name": t["name"]}),
            None => {
                return invalid(
                    "ticket",
                    "type",
                    "InvalidField",
                    "Type is not valid for the selected board.",
                );
            }
        },
        Some(None) => Value::Null,
        None => {
            return invalid(
                "ticket",
                "type",
                "InvalidField",
                "type must be a reference with an id.",
            );
        }
    };
    let priority = match reference_id(&body, "priority") {
        Some(Some(id)) => match s.priorities.iter().find(|x| x["id"] == json!(id)) {
            Some(p) => json!({"id": p["id"], "name": p["name"]}),
            None => return invalid("ticket", "priority", "InvalidField", "Priority not found."),
        },
        _ => json!({"id": 3, "name": "Priority 3 - Normal Response"}),
    };
    let source = match reference_id(&body, "source") {
        Some(Some(id)) => match s.sources.iter().find(|x| x["id"] == json!(id)) {
            Some(p) => json!({"id": p["id"], "name": p["name"]}),
            None => return invalid("ticket", "source", "InvalidField", "Source not found."),
        },
        _ => Value::Null,
    };
    let external = body
        .get("externalXRef")
        .and_then(Value::as_str)
        .map(str::to_owned);
    if external.as_ref().is_some_and(|x| x.chars().count() > 100) {
        return invalid(
            "ticket",
            "externalXRef",
            "InvalidField",
            "externalXRef must be 100 characters or fewer.",
        );
    }
    let id = s.next_id();
    let ticket = json!({
        "id": id, "summary": summary,
        "company": {"id": company, "identifier": company_record["identifier"], "name": company_record["name"]},
        "board": {"id": board, "name": board_record["name"]},
        "status": {"id": status["id"], "name": status["name"]},
        "type": ticket_type, "priority": priority, "source": source,
        "externalXRef": external, "closedFlag": false, "recordType": "ServiceTicket",
    });
    s.tickets.insert(id, ticket.clone());
    if let Some(text) = body.get("initialDescription").and_then(Value::as_str) {
        let note_id = s.next_id();
        s.notes.push(
            json!({"id": note_id, "ticketId": id, "text": text, "detailDescriptionFlag": true,
                             "internalAnalysisFlag": false, "resolutionFlag": false}),
        );
    }
    s.writes += 1;
    json_response(StatusCode::CREATED, ticket)
}

fn create_note(s: &mut State, ticket: i64, raw: &[u8]) -> Response {
    let Some(body) = body_object(raw) else {
        return not_an_object("serviceNote");
    };
    let text = body
        .get("text")
        .and_then(Value::as_str)
        .unwrap_or("")
        .trim()
        .to_owned();
    if text.is_empty() {
        return invalid(
            "serviceNote",
            "text",
            "MissingRequiredField",
            "The text field is required.",
        );
    }
    let flag = |f: &str| body.get(f) == Some(&json!(true));
    if !(flag("detailDescriptionFlag") || flag("internalAnalysisFlag") || flag("resolutionFlag")) {
        return error(
            StatusCode::BAD_REQUEST,
            "InvalidObject",
            "Please choose where to display the notes in order to save this record.",
        );
    }
    let id = s.next_id();
    let note = json!({"id": id, "ticketId": ticket, "text": text,
                      "detailDescriptionFlag": flag("detailDescriptionFlag"),
                      "internalAnalysisFlag": flag("internalAnalysisFlag"),
                      "resolutionFlag": flag("resolutionFlag")});
    s.notes.push(note.clone());
    s.writes += 1;
    json_response(StatusCode::CREATED, note)
}

fn patch_addition(s: &mut State, id: i64, raw: &[u8]) -> Response {
    let Ok(Value::Array(ops)) = serde_json::from_slice::<Value>(raw) else {
        return error(
            StatusCode::BAD_REQUEST,
            "InvalidObject",
            "A PATCH body must be an array of operations.",
        );
    };
    let mut quantity = None;
    for op in &ops {
        let kind = op["op"].as_str().unwrap_or("");
        let path = op["path"].as_str().unwrap_or("").trim_start_matches('/');
        if !matches!(kind, "replace" | "add") {
            return invalid(
                "addition",
                path,
                "InvalidField",
                &format!("Unsupported operation {kind:?}."),
            );
        }
        // Paths are case-sensitive.
        if path != "quantity" {
            return invalid(
                "addition",
                path,
                "InvalidField",
                &format!("{path} is not a field that can be patched."),
            );
        }
        match op["value"].as_f64() {
            Some(q) if q >= 0.0 => quantity = Some(q),
            _ => {
                return invalid(
                    "addition",
                    "quantity",
                    "InvalidField",
                    "quantity must be a number of at least 0.",
                );
            }
        }
    }
    let addition = s.additions.get_mut(&id).expect("checked by the caller");
    if let Some(q) = quantity
        && addition["quantity"].as_f64() != Some(q)
    {
        addition["quantity"] = json!(q);
        s.writes += 1;
    }
    json_response(StatusCode::OK, s.additions[&id].clone())
}
