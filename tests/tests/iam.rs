//! The template's permissions on the partners' secrets (`{prefix}/*`) and on the table are
//! exactly what each function's code does with them: a missing action fails in AWS only (the
//! local runner and moto check no IAM), an extra one is privilege nobody needs. Our own vendor
//! credentials (the deployment secrets) are readable by exactly the functions that call
//! vendors. And the committed `samconfig.toml` gives every parameter of the template a value.

use std::collections::{BTreeMap, BTreeSet};

use serde_yaml_ng::Value;

/// What each function does with the partners' secrets, and where in the code.
const NEEDS: &[(&str, &[&str])] = &[
    // api/connect.rs stores verified credentials; api/oauth.rs `start` stores the pending
    // client credentials. A first connect creates the secret, with tenant and provider tags.
    (
        "ConnectFunction",
        &["CreateSecret", "PutSecretValue", "TagResource"],
    ),
    // api/oauth.rs `finish`: reads the pending credentials, stores the tokens, deletes the
    // pending secret (on success and on a denied, expired or failed consent).
    (
        "OauthCallbackFunction",
        &[
            "CreateSecret",
            "DeleteSecret",
            "GetSecretValue",
            "PutSecretValue",
            "TagResource",
        ],
    ),
    // Configuration reads the PSA credentials; no configurable provider renews tokens.
    ("ConfigureFunction", &["GetSecretValue"]),
    // Catalogs and auto-match open sessions, which renew NinjaOne tokens (jobs/session.rs).
    ("MapFunction", &["GetSecretValue", "PutSecretValue"]),
    // Runs and tickets open sessions too, and renew tokens the same way; the hourly sweep
    // deletes the pending credentials of abandoned consents (jobs/consent.rs).
    (
        "SyncFunction",
        &["DeleteSecret", "GetSecretValue", "PutSecretValue"],
    ),
    // api/revoke.rs reads the tokens to revoke them at the vendor, then deletes every secret.
    ("RevokeFunction", &["DeleteSecret", "GetSecretValue"]),
];

/// What each function does with the table. Every function reads items (GetItem); the rest:
const TABLE_NEEDS: &[(&str, &[&str])] = &[
    // Connections and consents written, the audit record; refused connect attempts are
    // counted by atomic adds (api/attempts.rs); a failed connect forgets its Idempotency-Key
    // (api/idempotency.rs, as every POST does).
    (
        "ConnectFunction",
        &["DeleteItem", "GetItem", "PutItem", "UpdateItem"],
    ),
    // The consent taken once (a conditional delete), the connection and its audit record, a
    // refused code exchange counted.
    (
        "OauthCallbackFunction",
        &["DeleteItem", "GetItem", "PutItem", "UpdateItem"],
    ),
    // Cards list connections, configuration is saved and reset, the audit trail is read.
    (
        "ConfigureFunction",
        &["DeleteItem", "GetItem", "PutItem", "Query"],
    ),
    // Mappings, plans and organizations; token refresh leases.
    (
        "MapFunction",
        &["DeleteItem", "GetItem", "PutItem", "Query"],
    ),
    // Runs, leases, the journal, tickets (repeats are counted by atomic adds), the index,
    // imported records written a page at a time.
    (
        "SyncFunction",
        &[
            "BatchWriteItem",
            "DeleteItem",
            "GetItem",
            "PutItem",
            "Query",
            "UpdateItem",
        ],
    ),
    // Everything of a provider deleted (imported records a page at a time); the audit record
    // of the revoke written.
    (
        "RevokeFunction",
        &[
            "BatchWriteItem",
            "DeleteItem",
            "GetItem",
            "PutItem",
            "Query",
        ],
    ),
];

fn template() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../infra/template.yaml");
    serde_yaml_ng::from_str(&std::fs::read_to_string(path).expect("the template reads"))
        .expect("the template parses")
}

/// A CloudFormation value as text, looking through tags such as `!Sub`.
fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Tagged(t) => text(&t.value),
        Value::Sequence(items) => items.iter().map(text).collect::<Vec<_>>().join(" "),
        other => format!("{other:?}"),
    }
}

fn list(v: &Value) -> Vec<&Value> {
    match v {
        Value::Sequence(items) => items.iter().collect(),
        other => vec![other],
    }
}

/// The actions with `service`'s prefix each function may take on a resource whose text
/// contains `target`.
fn granted(template: &Value, service: &str, target: &str) -> BTreeMap<String, BTreeSet<String>> {
    let mut out = BTreeMap::new();
    let resources = template["Resources"].as_mapping().expect("Resources");
    for (name, resource) in resources {
        if resource["Type"].as_str() != Some("AWS::Serverless::Function") {
            continue;
        }
        let mut actions = BTreeSet::new();
        for policy in list(&resource["Properties"]["Policies"]) {
            for statement in list(&policy["Statement"]) {
                if !list(&statement["Resource"])
                    .iter()
                    .any(|r| text(r).contains(target))
                {
                    continue;
                }
                for action in list(&statement["Action"]) {
                    if let Some(a) = text(action).strip_prefix(service) {
                        actions.insert(a.to_owned());
                    }
                }
            }
        }
        out.insert(name.as_str().unwrap().to_owned(), actions);
    }
    out
}

#[test]
fn each_function_may_do_with_partner_secrets_exactly_what_its_code_does() {
    let granted = granted(&template(), "secretsmanager:", ":secret:${SecretsPrefix}/*");
    assert_grants(&granted, NEEDS);
}

/// Functions that build vendor clients which send our own credentials: Autotask's integration
/// code and ConnectWise's clientId go with every call to those vendors. The OAuth callback
/// talks to NinjaOne only, and revoking calls no vendor that needs them.
const DEPLOYMENT_SECRET_READERS: &[(&str, &[&str])] = &[
    ("ConnectFunction", &["GetSecretValue"]),
    ("OauthCallbackFunction", &[]),
    ("ConfigureFunction", &["GetSecretValue"]),
    ("MapFunction", &["GetSecretValue"]),
    ("SyncFunction", &["GetSecretValue"]),
    ("RevokeFunction", &[]),
];

#[test]
fn our_vendor_credentials_are_readable_where_vendors_are_called() {
    for secret in [
        ":secret:${AutotaskIntegrationCodeSecret}-*",
        ":secret:${ConnectwiseClientIdSecret}-*",
    ] {
        let granted = granted(&template(), "secretsmanager:", secret);
        assert_grants(&granted, DEPLOYMENT_SECRET_READERS);
    }
    let template = template();
    let env = &template["Globals"]["Function"]["Environment"]["Variables"];
    for var in [
        "AUTOTASK_INTEGRATION_CODE_SECRET",
        "CONNECTWISE_CLIENT_ID_SECRET",
    ] {
        assert!(env.get(var).is_some(), "{var} is given to the functions");
    }
}

#[test]
fn each_function_may_do_with_the_table_exactly_what_its_code_does() {
    let granted = granted(&template(), "dynamodb:", "Table.Arn");
    assert_grants(&granted, TABLE_NEEDS);
}

fn assert_grants(granted: &BTreeMap<String, BTreeSet<String>>, needs: &[(&str, &[&str])]) {
    let needed: BTreeMap<String, BTreeSet<String>> = needs
        .iter()
        .map(|(f, actions)| {
            (
                (*f).to_owned(),
                actions.iter().map(|a| (*a).to_owned()).collect(),
            )
        })
        .collect();
    assert_eq!(
        granted.keys().collect::<Vec<_>>(),
        needed.keys().collect::<Vec<_>>(),
        "the six functions"
    );
    for (function, actions) in &needed {
        assert_eq!(&granted[function], actions, "{function}");
    }
}

#[test]
fn the_committed_samconfig_gives_every_template_parameter_a_value() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../infra/samconfig.toml");
    let config = std::fs::read_to_string(path).expect("infra/samconfig.toml reads");
    let given: BTreeSet<String> = config
        .lines()
        .filter_map(|l| l.trim().strip_prefix('"'))
        .filter_map(|l| l.split_once('='))
        .map(|(name, _)| name.to_owned())
        .collect();
    let template = template();
    let declared: BTreeSet<String> = template["Parameters"]
        .as_mapping()
        .expect("Parameters")
        .keys()
        .map(|k| k.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(given, declared);
}
