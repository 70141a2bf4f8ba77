//! The template's Secrets Manager permissions on the partners' secrets (`{prefix}/*`) are
//! exactly what each function's code does with them: a missing action fails in AWS only (the
//! local runner and moto check no IAM), an extra one is privilege nobody needs.

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

/// Secrets Manager actions each function may take on `${SecretsPrefix}/*`.
fn granted(template: &Value) -> BTreeMap<String, BTreeSet<String>> {
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
                    .any(|r| text(r).contains(":secret:${SecretsPrefix}/*"))
                {
                    continue;
                }
                for action in list(&statement["Action"]) {
                    if let Some(a) = text(action).strip_prefix("secretsmanager:") {
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
    let granted = granted(&template());
    let needed: BTreeMap<String, BTreeSet<String>> = NEEDS
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
