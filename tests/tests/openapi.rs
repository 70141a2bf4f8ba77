//! `infra/openapi.yaml` against the code: every documented path is a route, each provider
//! lists exactly what it offers, and no request the document allows is refused for its shape.

use std::collections::BTreeSet;

use http::{Method, StatusCode};
use integration_tests::portal::Portal;
use serde_json::{Value, json};
use shared::{
    api::{ROUTES, Route, openapi_document, provider_routes},
    domain::Provider,
};

/// Whether the concrete or templated `path` is served by `template`: literal segments must be
/// equal; a `{name}` of the template takes any segment of the path.
fn served_by(template: &str, path: &str) -> bool {
    let (t, p): (Vec<&str>, Vec<&str>) = (template.split('/').collect(), path.split('/').collect());
    t.len() == p.len()
        && t.iter()
            .zip(&p)
            .all(|(t, p)| t == p || (t.starts_with('{') && !p.starts_with('{')))
}

/// The route serving a documented operation: the one with the fewest captures, as routing picks.
fn route_of(method: &str, path: &str) -> Option<&'static Route> {
    ROUTES
        .iter()
        .filter(|r| r.method.as_str().eq_ignore_ascii_case(method) && served_by(r.path, path))
        .min_by_key(|r| r.path.matches('{').count())
}

fn operations(doc: &Value) -> Vec<(String, String, &Value)> {
    let mut ops = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            if method != "parameters" {
                ops.push((method.clone(), path.clone(), op));
            }
        }
    }
    ops
}

#[tokio::test]
async fn the_document_is_served_and_lists_exactly_what_each_provider_offers() {
    let portal = Portal::new();
    let reply = portal
        .raw(Method::GET, "/v1/openapi.json", None, None, vec![])
        .await;
    assert_eq!(reply.status, StatusCode::OK);
    let doc = openapi_document();
    assert_eq!(reply.body, *doc);

    let mut ids = BTreeSet::new();
    let mut covered: BTreeSet<(String, String)> = BTreeSet::new();
    for (method, path, op) in operations(doc) {
        let route = route_of(&method, &path)
            .unwrap_or_else(|| panic!("{method} {path} is documented but no route serves it"));
        assert!(
            ids.insert(op["operationId"].as_str().unwrap().to_owned()),
            "{method} {path}: operationId repeated"
        );
        // A provider's path names the provider; nothing is documented as `{provider}`.
        assert!(!path.contains("{provider}"), "{path}: name the provider");
        let concrete = match Provider::ALL.iter().find(|p| {
            path.starts_with(&format!("/v1/integrations/{}", p.as_str()))
                || path.starts_with(&format!("/v1/oauth/{}/", p.as_str()))
        }) {
            Some(p) => route.path.replace("{provider}", p.as_str()),
            None => route.path.to_owned(),
        };
        covered.insert((method.to_ascii_uppercase(), concrete));
    }
    for route in ROUTES.iter().filter(|r| !r.path.contains("{provider}")) {
        assert!(
            covered.contains(&(route.method.to_string(), route.path.to_owned())),
            "infra/openapi.yaml lacks {} {}",
            route.method,
            route.path
        );
    }
    for provider in Provider::ALL {
        let offered: BTreeSet<(String, String)> = provider_routes(&portal.runner.app, provider)
            .into_iter()
            .map(|(m, p)| (m.to_string(), p))
            .collect();
        let documented: BTreeSet<(String, String)> = covered
            .iter()
            .filter(|(_, p)| p.contains(&format!("/{}", provider.as_str())))
            .cloned()
            .collect();
        assert_eq!(documented, offered, "{provider:?}: documented vs offered");
    }
}

/// The `{name}` values a provider's document lists under `prefix` (its option lists, catalogs
/// or imports).
fn listed(doc: &Value, provider: Provider, prefix: &str) -> BTreeSet<String> {
    let prefix = format!("/v1/integrations/{}/{prefix}/", provider.as_str());
    doc["paths"]
        .as_object()
        .unwrap()
        .keys()
        .filter_map(|p| p.strip_prefix(&prefix).map(str::to_owned))
        .collect()
}

#[tokio::test]
async fn lists_catalogs_imports_and_sync_kinds_are_the_providers_own() {
    let portal = Portal::new();
    let doc = openapi_document();
    for provider in Provider::ALL {
        let integration = portal.runner.app.integrations.get(provider).unwrap();
        let own = |names: &[&str]| {
            names
                .iter()
                .map(|s| (*s).to_owned())
                .collect::<BTreeSet<_>>()
        };
        let lists = integration.configurator().map(|c| own(c.lists()));
        assert_eq!(listed(doc, provider, "options"), lists.unwrap_or_default());
        let kinds = integration.mapper().map(|m| own(m.kinds()));
        assert_eq!(listed(doc, provider, "catalog"), kinds.unwrap_or_default());
        let imports: BTreeSet<String> = integration
            .importer()
            .map(|i| {
                i.import_kinds()
                    .iter()
                    .map(|k| k.as_str().to_owned())
                    .collect()
            })
            .unwrap_or_default();
        assert_eq!(listed(doc, provider, "imports"), imports);

        // Every kind the document offers to sync is taken, and one it does not is refused.
        let sync = &doc["paths"][format!("/v1/integrations/{}/sync", provider.as_str())]["post"];
        let body = resolve(
            doc,
            &sync["requestBody"]["content"]["application/json"]["schema"],
        );
        let enumerated = body["properties"]["kinds"]["items"]["enum"]
            .as_array()
            .unwrap();
        let admin = portal.admin("kinds");
        for kind in enumerated {
            let path = format!("/v1/integrations/{}/sync", provider.as_str());
            let reply = portal.post(&path, &admin, json!({ "kinds": [kind] })).await;
            assert!(
                !reply.field_errors().contains(&"kinds".to_owned()),
                "{provider:?} refuses {kind}: {}",
                reply.body
            );
        }
    }
}

fn resolve<'a>(doc: &'a Value, schema: &'a Value) -> &'a Value {
    match schema["$ref"].as_str() {
        Some(r) => resolve(doc, doc.pointer(r.trim_start_matches('#')).unwrap()),
        None => schema,
    }
}

/// A value the schema allows, at its smallest.
fn smallest(doc: &Value, schema: &Value) -> Value {
    let schema = resolve(doc, schema);
    if let Some(first) = schema["enum"].as_array().and_then(|e| e.first()) {
        return first.clone();
    }
    if let Some(first) = schema["oneOf"].as_array().and_then(|e| e.first()) {
        return smallest(doc, first);
    }
    let ty = match &schema["type"] {
        Value::Array(types) => types[0].as_str().unwrap(),
        t => t.as_str().unwrap_or("object"),
    };
    match ty {
        "string" => json!(text(
            schema,
            schema["minLength"].as_u64().unwrap_or(1).max(1)
        )),
        "integer" => json!(schema["minimum"].as_i64().unwrap_or(1)),
        "boolean" => json!(false),
        "array" => json!([smallest(doc, &schema["items"])]),
        "null" => Value::Null,
        _ => {
            let mut object = serde_json::Map::new();
            for name in schema["required"].as_array().into_iter().flatten() {
                let name = name.as_str().unwrap();
                object.insert(name.into(), smallest(doc, &schema["properties"][name]));
            }
            Value::Object(object)
        }
    }
}

/// A string of `chars` characters the schema's pattern takes: two-byte characters where the
/// pattern admits them, so a limit counted in bytes shows.
fn text(schema: &Value, chars: u64) -> String {
    let ascii_only = schema["pattern"]
        .as_str()
        .is_some_and(|p| p.contains("A-Za-z0-9"))
        || schema["format"].is_string();
    let c = if ascii_only { 'a' } else { 'é' };
    (0..chars).map(|_| c).collect()
}

/// Values at the edges of what the schema allows for one property.
fn edges(doc: &Value, schema: &Value) -> Vec<Value> {
    let schema = resolve(doc, schema);
    if let Some(values) = schema["enum"].as_array() {
        return values.clone();
    }
    let mut out = Vec::new();
    match schema["type"].as_str() {
        Some("string") if !schema["format"].is_string() => {
            if let Some(max) = schema["maxLength"].as_u64() {
                out.push(json!(text(schema, max)));
            }
            out.push(json!(text(
                schema,
                schema["minLength"].as_u64().unwrap_or(1).max(1)
            )));
        }
        Some("integer") if schema["minimum"] == json!(0) => {
            out.push(json!(0));
            out.extend(schema.get("maximum").cloned());
        }
        Some("boolean") => out.extend([json!(true), json!(false)]),
        Some("array") => {
            for item in edges(doc, &schema["items"]) {
                out.push(json!([item]));
            }
        }
        _ => {}
    }
    out
}

fn concrete(path: &str) -> String {
    path.replace("{org_id}", "acme")
        .replace("{plan_id}", "gold")
        .replace("{run_id}", "01JD00000000000000000000AA")
}

#[tokio::test]
async fn no_request_the_document_allows_is_refused_for_its_shape() {
    let portal = Portal::new();
    let admin = portal.admin("shapes");
    let doc = openapi_document();
    let mut tried = 0;
    for (method, path, op) in operations(doc) {
        let Some(schema) = op["requestBody"]["content"]["application/json"].get("schema") else {
            continue;
        };
        let schema = resolve(doc, schema);
        let base = smallest(doc, schema);
        let method = Method::from_bytes(method.to_ascii_uppercase().as_bytes()).unwrap();
        let mut cases = vec![(String::from("(smallest)"), base.clone())];
        for (name, property) in schema["properties"].as_object().into_iter().flatten() {
            for value in edges(doc, property) {
                let mut body = base.clone();
                body[name] = value;
                cases.push((name.clone(), body));
            }
        }
        for (field, body) in cases {
            tried += 1;
            let reply = portal
                .raw(
                    method.clone(),
                    &concrete(&path),
                    Some(&admin),
                    Some("application/json"),
                    body.to_string().into_bytes(),
                )
                .await;
            // Fields marked `x-checked-live` are checked against live data (a vendor's, or the
            // platform's plans): a refusal of one says nothing about the document.
            let live = |f: &str| resolve(doc, &schema["properties"][f])["x-checked-live"] == true;
            let refused_shape = reply.status == StatusCode::BAD_REQUEST
                || (reply.status == StatusCode::UNPROCESSABLE_ENTITY
                    && reply.field_errors().iter().any(|f| {
                        // `customer_types[0]` is a fault of `customer_types`.
                        let named = f.split(['[', '.']).next().unwrap_or(f);
                        !live(named) && (named == field || named == "body" || field == "(smallest)")
                    }));
            assert!(
                !refused_shape,
                "{method} {path}: the document allows {body} ({field}), the server refused it: {}",
                reply.body
            );
        }
    }
    assert!(tried > 50, "only {tried} requests tried");
}
