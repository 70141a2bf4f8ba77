//! The audit trail: who changed what in a partner's integrations, when, and from which request.
//! "Who unlinked Contoso last Tuesday?" has an answer, also after a revoke.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::OffsetDateTime;
use ulid::Ulid;

use super::Provider;

/// One change a partner made.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AuditRecord {
    /// Unique and time-ordered.
    pub id: Ulid,
    /// When.
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// Who: the token's `sub`, or `"unknown"` when the token had none.
    pub actor: String,
    /// The integration it concerns; `None` for the platform's plans and organizations.
    pub provider: Option<Provider>,
    /// What was done.
    pub action: AuditAction,
    /// What it was done to (a plan or organization id), if one thing.
    pub target: Option<String>,
    /// The fields that changed, with their old and new values.
    pub changes: Vec<Change>,
    /// The request it came from, as the logs carry it.
    pub request_id: Option<String>,
}

/// What a partner did.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuditAction {
    /// Connected a provider for the first time.
    Connect,
    /// Connected again (new credentials for the same instance).
    Reconnect,
    /// Saved the configuration.
    Configure,
    /// Reset the configuration.
    ResetConfiguration,
    /// Mapped a plan.
    MapPlan,
    /// Unlinked a plan.
    UnlinkPlan,
    /// Mapped an organization.
    MapOrganization,
    /// Unlinked an organization.
    UnlinkOrganization,
    /// Ran auto-match (the links it made are the changes).
    AutoMatch,
    /// Started a sync by hand.
    Sync,
    /// Revoked the connection.
    Revoke,
    /// Created or changed a plan.
    PutPlan,
    /// Created or changed an organization.
    PutOrganization,
}

/// One field's change.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Change {
    /// The field, dotted for nested ones (`target.contract_id`).
    pub field: String,
    /// Before (`null` when it did not exist).
    pub old: Value,
    /// After (`null` when it was removed).
    pub new: Value,
}

/// Fields never worth recording: bookkeeping, and anything that could name or hold a secret
/// (none of the diffed records holds one; this keeps it so if one ever does).
fn recorded(field: &str) -> bool {
    let leaf = field.rsplit('.').next().unwrap_or(field);
    !matches!(leaf, "version" | "updated_at" | "connected_at")
        && !["secret", "token", "password", "code_verifier"]
            .iter()
            .any(|s| leaf.contains(s))
}

/// The changes from `old` to `new` (JSON objects, compared field by field, nested objects
/// flattened to dotted fields; anything else compared whole under `field`).
pub fn diff(old: &Value, new: &Value) -> Vec<Change> {
    let mut changes = Vec::new();
    walk("", old, new, &mut changes);
    changes.retain(|c| recorded(&c.field));
    changes
}

fn walk(prefix: &str, old: &Value, new: &Value, out: &mut Vec<Change>) {
    match (old, new) {
        (Value::Object(a), Value::Object(b)) => {
            let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
            keys.sort();
            keys.dedup();
            for key in keys {
                let field = if prefix.is_empty() {
                    key.clone()
                } else {
                    format!("{prefix}.{key}")
                };
                let (x, y) = (
                    a.get(key).unwrap_or(&Value::Null),
                    b.get(key).unwrap_or(&Value::Null),
                );
                walk(&field, x, y, out);
            }
        }
        (Value::Null, Value::Object(_)) => {
            walk(prefix, &Value::Object(Default::default()), new, out)
        }
        (Value::Object(_), Value::Null) => {
            walk(prefix, old, &Value::Object(Default::default()), out)
        }
        (a, b) if a != b => out.push(Change {
            field: if prefix.is_empty() {
                "value".into()
            } else {
                prefix.into()
            },
            old: a.clone(),
            new: b.clone(),
        }),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn nested_fields_are_dotted_and_only_changes_count() {
        let old = json!({"target": {"company_id": 1, "contract_id": 2}, "version": 3, "name": "a"});
        let new = json!({"target": {"company_id": 1, "contract_id": 5}, "version": 4, "name": "a"});
        assert_eq!(
            diff(&old, &new),
            [Change {
                field: "target.contract_id".into(),
                old: json!(2),
                new: json!(5)
            }]
        );
    }

    #[test]
    fn creation_and_removal_show_every_field() {
        let record = json!({"plan_id": "backup", "target": {"service_id": 1001}});
        let created = diff(&Value::Null, &record);
        assert_eq!(
            created
                .iter()
                .map(|c| (c.field.as_str(), c.old.clone(), c.new.clone()))
                .collect::<Vec<_>>(),
            [
                ("plan_id", Value::Null, json!("backup")),
                ("target.service_id", Value::Null, json!(1001))
            ]
        );
        let removed = diff(&record, &Value::Null);
        assert!(removed.iter().all(|c| c.new.is_null()));
        assert_eq!(removed.len(), 2);
    }

    #[test]
    fn nothing_that_could_be_a_secret_is_recorded() {
        let old = json!({"secret_name": "x", "client_secret": "a", "access_token": "b", "site_url": "https://a"});
        let new = json!({"secret_name": "y", "client_secret": "c", "access_token": "d", "site_url": "https://b"});
        let fields: Vec<String> = diff(&old, &new).into_iter().map(|c| c.field).collect();
        assert_eq!(fields, ["site_url"]);
    }
}
