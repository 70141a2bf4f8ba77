//! HaloPSA's JSON, read leniently: ids arrive as `21`, `21.0` or `"21"`, `-1` means unset,
//! objects carry hundreds of fields we ignore, and lists come bare or wrapped in
//! `{record_count, <plural>: [...]}`.

use serde::{Deserialize, Deserializer, de::DeserializeOwned};
use serde_json::Value;

/// An id as Halo sends it; `None` for null, `-1`, `0`, or something that is not a number.
pub fn lenient_id<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    Ok(id_of(&Value::deserialize(d)?))
}

/// A required id: a record without one is unreadable.
pub fn required_id<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    id_of(&Value::deserialize(d)?).ok_or_else(|| serde::de::Error::custom("a record has no id"))
}

/// A count: a number in any of Halo's forms, `None` when absent.
pub fn lenient_count<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    let v = Value::deserialize(d)?;
    Ok(number(&v).map(|n| n.round() as i64))
}

/// A flag: `true`, `1` or `"true"`; anything else is false.
pub fn lenient_bool<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::Bool(b) => b,
        Value::Number(n) => n.as_f64().is_some_and(|n| n != 0.0),
        Value::String(s) => s.eq_ignore_ascii_case("true") || s == "1",
        _ => false,
    })
}

fn number(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn id_of(v: &Value) -> Option<i64> {
    number(v)
        .filter(|n| n.fract() == 0.0 && *n > 0.0 && *n < 9.0e15)
        .map(|n| n as i64)
}

/// The records of a list answer, bare (`[...]`) or wrapped (`{record_count, clients: [...]}`),
/// and the total the wrapper announced.
pub fn records<T: DeserializeOwned>(body: Value) -> Result<(Vec<T>, Option<u64>), String> {
    let (array, total) = match body {
        Value::Array(items) => (items, None),
        Value::Object(mut map) => {
            let total = map.get("record_count").and_then(number).map(|n| n as u64);
            let key = map
                .iter()
                .find(|(_, v)| v.is_array())
                .map(|(k, _)| k.clone())
                .ok_or("a list answer without a list")?;
            match map.remove(&key) {
                Some(Value::Array(items)) => (items, total),
                _ => return Err("a list answer without a list".into()),
            }
        }
        _ => return Err("a list answer that is neither a list nor an object".into()),
    };
    let items = array
        .into_iter()
        .map(serde_json::from_value)
        .collect::<Result<Vec<T>, _>>()
        .map_err(|e| e.to_string())?;
    Ok((items, total))
}

/// `GET /api/authinfo`: where the authorisation server is.
#[derive(Debug, Default, Deserialize)]
pub struct AuthInfo {
    /// Authorisation server base, e.g. `https://acme.halopsa.com/auth`.
    #[serde(default)]
    pub auth_url: Option<String>,
    /// Hosted tenant name.
    #[serde(default)]
    pub tenant_id: Option<Value>,
}

/// The token endpoint's answer.
#[derive(Deserialize)]
pub struct Token {
    /// Bearer token.
    pub access_token: String,
    /// Lifetime in seconds.
    #[serde(default, deserialize_with = "lenient_count")]
    pub expires_in: Option<i64>,
}

/// An OAuth error answer (`{"error": "invalid_client", ...}`).
#[derive(Deserialize)]
pub struct OAuthError {
    /// Error code.
    pub error: String,
    /// Words, when given.
    #[serde(default)]
    pub error_description: Option<String>,
}

/// A customer (`Client`, schema `Area`).
#[derive(Debug, Deserialize)]
pub struct Client {
    /// Id.
    #[serde(deserialize_with = "required_id")]
    pub id: i64,
    /// Name.
    #[serde(default)]
    pub name: String,
    /// Inactive customers cannot be mapped.
    #[serde(default, deserialize_with = "lenient_bool")]
    pub inactive: bool,
}

/// A software licence (schema `Licence_List`).
#[derive(Debug, Deserialize)]
pub struct Licence {
    /// Id.
    #[serde(deserialize_with = "required_id")]
    pub id: i64,
    /// Name.
    #[serde(default)]
    pub name: String,
    /// The customer it belongs to.
    #[serde(default, deserialize_with = "lenient_id")]
    pub client_id: Option<i64>,
    /// Licensed quantity: the seats we sync.
    #[serde(default, deserialize_with = "lenient_count")]
    pub count: Option<i64>,
    /// Deleted licences are gone for mapping purposes.
    #[serde(default, deserialize_with = "lenient_bool")]
    pub deleted: bool,
    /// Halo may send `is_active: false`; absent means active.
    #[serde(default)]
    pub is_active: Option<bool>,
}

impl Licence {
    /// Usable for mapping and seat sync.
    pub fn usable(&self) -> bool {
        !self.deleted && self.is_active != Some(false)
    }
}

/// A ticket type (schema `RequestType`).
#[derive(Debug, Deserialize)]
pub struct TicketType {
    /// Id.
    #[serde(deserialize_with = "required_id")]
    pub id: i64,
    /// Name.
    #[serde(default)]
    pub name: String,
    /// The SLA tickets of this type get unless told otherwise.
    #[serde(default, deserialize_with = "lenient_id")]
    pub default_sla: Option<i64>,
    /// Hidden types cannot be chosen.
    #[serde(default)]
    pub visible: Option<bool>,
}

/// An SLA (schema `SlaHead`).
#[derive(Debug, Deserialize)]
pub struct Sla {
    /// Id.
    #[serde(deserialize_with = "required_id")]
    pub id: i64,
    /// Name.
    #[serde(default)]
    pub name: String,
}

/// A priority of one SLA (schema `Policy`). Its `id` is a GUID of the (SLA, priority) pair;
/// `priorityid` is what a ticket's `priority_id` takes.
#[derive(Debug, Deserialize)]
pub struct Priority {
    /// The priority number tickets use.
    #[serde(deserialize_with = "required_id")]
    pub priorityid: i64,
    /// The SLA it belongs to.
    #[serde(default, deserialize_with = "lenient_id")]
    pub slaid: Option<i64>,
    /// Name.
    #[serde(default)]
    pub name: String,
    /// Hidden priorities cannot be chosen.
    #[serde(default, deserialize_with = "lenient_bool")]
    pub ishidden: bool,
}

/// A ticket status.
#[derive(Debug, Deserialize)]
pub struct Status {
    /// Id.
    #[serde(deserialize_with = "required_id")]
    pub id: i64,
    /// Name.
    #[serde(default)]
    pub name: String,
}

/// A ticket (schema `Faults`), as far as we read it.
#[derive(Debug, Deserialize)]
pub struct Ticket {
    /// Id.
    #[serde(deserialize_with = "required_id")]
    pub id: i64,
    /// Status id.
    #[serde(default, deserialize_with = "lenient_id")]
    pub status_id: Option<i64>,
    /// Halo's own flag for a closed ticket.
    #[serde(default, deserialize_with = "lenient_bool")]
    pub hasbeenclosed: bool,
    /// The plain-text details; list rows may leave them out.
    #[serde(default)]
    pub details: Option<String>,
}

/// Halo's stock "Closed" status, used when a ticket does not say `hasbeenclosed`.
pub const CLOSED_STATUS: i64 = 9;

impl Ticket {
    /// Whether the ticket is still open.
    pub fn is_open(&self) -> bool {
        !self.hasbeenclosed && self.status_id != Some(CLOSED_STATUS)
    }
}

/// Words from an error body: Halo sends plain text, `{"message": ...}`, `{"errors": [...]}` or
/// an object keyed by field path (`{"[0].count": "..."}`).
pub fn error_message(bytes: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(bytes).ok()?.trim();
    if text.is_empty() {
        return None;
    }
    let Ok(value) = serde_json::from_str::<Value>(text) else {
        return Some(text.chars().take(500).collect());
    };
    let words = match &value {
        Value::String(s) => Some(s.clone()),
        Value::Object(map) => map
            .get("message")
            .or_else(|| map.get("error_description"))
            .or_else(|| map.get("error"))
            .and_then(Value::as_str)
            .map(str::to_owned)
            .or_else(|| {
                map.get("errors").and_then(Value::as_array).map(|errors| {
                    errors
                        .iter()
                        .filter_map(|e| e.as_str().or_else(|| e.get("message")?.as_str()))
                        .collect::<Vec<_>>()
                        .join("; ")
                })
            })
            .or_else(|| {
                let fields: Vec<String> = map
                    .iter()
                    .filter_map(|(k, v)| Some(format!("{k}: {}", v.as_str()?)))
                    .collect();
                (!fields.is_empty()).then(|| fields.join("; "))
            }),
        _ => None,
    };
    words.filter(|w| !w.is_empty())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn ids_in_every_form() {
        let l: Licence = serde_json::from_value(
            json!({"id": "12", "client_id": 21.0, "count": "7", "deleted": 0, "junk": {"a": 1}}),
        )
        .unwrap();
        assert_eq!((l.id, l.client_id, l.count), (12, Some(21), Some(7)));
        assert!(l.usable());
        let unset: Licence = serde_json::from_value(json!({"id": 3, "client_id": -1})).unwrap();
        assert_eq!(unset.client_id, None);
        assert!(serde_json::from_value::<Licence>(json!({"id": -1})).is_err());
    }

    #[test]
    fn bare_and_wrapped_lists() {
        let (bare, total) = records::<Status>(json!([{"id": 1, "name": "New"}])).unwrap();
        assert_eq!((bare.len(), total), (1, None));
        let (wrapped, total) = records::<Client>(
            json!({"record_count": 41.0, "clients": [{"id": 5.0, "name": "Acme", "inactive": false}]}),
        )
        .unwrap();
        assert_eq!((wrapped[0].id, total), (5, Some(41)));
        assert!(records::<Client>(json!({"record_count": 0})).is_err());
    }

    #[test]
    fn error_shapes() {
        assert_eq!(
            error_message(br#"{"[0].count": "must be a number"}"#).as_deref(),
            Some("[0].count: must be a number")
        );
        assert_eq!(
            error_message(b"Rate Limit Reached").as_deref(),
            Some("Rate Limit Reached")
        );
        assert_eq!(
            error_message(br#"{"errors": ["a", {"message": "b"}]}"#).as_deref(),
            Some("a; b")
        );
        assert_eq!(error_message(b""), None);
    }
}
