//! Autotask's query filters, evaluated over JSON records as Autotask does: top-level items
//! are ANDed, field names are case-insensitive, strings compare case-insensitively.

use std::{cmp::Ordering, collections::HashSet};

use serde_json::Value;

/// Finds a field case-insensitively.
pub fn field<'a>(record: &'a Value, name: &str) -> Option<&'a Value> {
    let object = record.as_object()?;
    object.get(name).or_else(|| {
        object
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    })
}

fn compare(a: &Value, b: &Value) -> Option<Ordering> {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64()?.partial_cmp(&y.as_f64()?),
        (Value::Number(x), Value::String(y)) => x.as_f64()?.partial_cmp(&y.parse::<f64>().ok()?),
        (Value::String(x), Value::Number(y)) => x.parse::<f64>().ok()?.partial_cmp(&y.as_f64()?),
        (Value::String(x), Value::String(y)) => Some(x.to_lowercase().cmp(&y.to_lowercase())),
        (Value::Bool(x), Value::Bool(y)) => Some(x.cmp(y)),
        _ => None,
    }
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.to_lowercase(),
        other => other.to_string().to_lowercase(),
    }
}

/// Why a filter is not one Autotask accepts.
pub type FilterError = String;

/// A filter prepared once per query: `in` lists become sets, so a query over many records
/// does not compare every record with every listed value.
pub struct Prepared {
    items: Vec<Node>,
}

enum Node {
    Group {
        all: bool,
        items: Vec<Node>,
    },
    Set {
        field: String,
        values: HashSet<String>,
        /// The whole numbers among the values, compared without text.
        ints: HashSet<i64>,
        negate: bool,
    },
    Other(Value),
}

fn key(v: &Value) -> String {
    match v {
        Value::Number(n) => n.as_f64().map_or_else(|| n.to_string(), |f| format!("{f}")),
        other => text(other),
    }
}

fn prepare_one(item: &Value) -> Result<Node, FilterError> {
    let op = item
        .get("op")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_ascii_lowercase();
    match op.as_str() {
        "and" | "or" => Ok(Node::Group {
            all: op == "and",
            items: item
                .get("items")
                .and_then(Value::as_array)
                .ok_or("and/or need items")?
                .iter()
                .map(prepare_one)
                .collect::<Result<_, _>>()?,
        }),
        "in" | "notin" => {
            let list = item
                .get("value")
                .and_then(Value::as_array)
                .ok_or("in needs a list")?;
            if list.len() > 500 {
                return Err("Queries are limited to 500 or fewer 'OR' conditions.".into());
            }
            Ok(Node::Set {
                field: item
                    .get("field")
                    .and_then(Value::as_str)
                    .ok_or("every filter item needs a field")?
                    .to_owned(),
                values: list.iter().map(key).collect(),
                ints: list
                    .iter()
                    .filter_map(|v| {
                        v.as_i64()
                            .or_else(|| v.as_f64().filter(|f| f.fract() == 0.0).map(|f| f as i64))
                            .or_else(|| v.as_str()?.trim().parse().ok())
                    })
                    .collect(),
                negate: op == "notin",
            })
        }
        _ => Ok(Node::Other(item.clone())),
    }
}

impl Prepared {
    /// Prepares top-level filter items (ANDed).
    pub fn new(items: &[Value]) -> Result<Self, FilterError> {
        Ok(Self {
            items: items.iter().map(prepare_one).collect::<Result<_, _>>()?,
        })
    }

    /// Whether `record` matches every item.
    pub fn matches(&self, record: &Value) -> Result<bool, FilterError> {
        fn eval(node: &Node, record: &Value) -> Result<bool, FilterError> {
            match node {
                // Stops at the first item that decides, as a database would.
                Node::Group { all, items } => {
                    for item in items {
                        if eval(item, record)? != *all {
                            return Ok(!*all);
                        }
                    }
                    Ok(*all)
                }
                Node::Set {
                    field: name,
                    values,
                    ints,
                    negate,
                } => {
                    let found =
                        field(record, name)
                            .filter(|v| !v.is_null())
                            .is_some_and(|v| match v.as_i64() {
                                Some(n) => ints.contains(&n),
                                None => values.contains(&key(v)),
                            });
                    Ok(found != *negate)
                }
                Node::Other(item) => matches(record, item),
            }
        }
        for item in &self.items {
            if !eval(item, record)? {
                return Ok(false);
            }
        }
        Ok(true)
    }
}

/// Whether `record` matches one filter item.
pub fn matches(record: &Value, item: &Value) -> Result<bool, FilterError> {
    let op = item
        .get("op")
        .and_then(Value::as_str)
        .ok_or("every filter item needs an op")?
        .to_ascii_lowercase();
    if op == "and" || op == "or" {
        let items = item
            .get("items")
            .and_then(Value::as_array)
            .ok_or("and/or need items")?;
        let mut results = items.iter().map(|i| matches(record, i));
        return if op == "and" {
            results.try_fold(true, |acc, r| r.map(|r| acc && r))
        } else {
            results.try_fold(false, |acc, r| r.map(|r| acc || r))
        };
    }
    let name = item
        .get("field")
        .and_then(Value::as_str)
        .ok_or("every filter item needs a field")?;
    let actual = field(record, name).filter(|v| !v.is_null());
    let value = item.get("value").unwrap_or(&Value::Null);
    let ordering = || actual.and_then(|a| compare(a, value));
    Ok(match op.as_str() {
        "eq" => ordering() == Some(Ordering::Equal),
        "noteq" => ordering() != Some(Ordering::Equal),
        "gt" => ordering() == Some(Ordering::Greater),
        "gte" => matches!(ordering(), Some(Ordering::Greater | Ordering::Equal)),
        "lt" => ordering() == Some(Ordering::Less),
        "lte" => matches!(ordering(), Some(Ordering::Less | Ordering::Equal)),
        "exist" => actual.is_some(),
        "notexist" => actual.is_none(),
        "contains" => actual.is_some_and(|a| text(a).contains(&text(value))),
        "beginswith" => actual.is_some_and(|a| text(a).starts_with(&text(value))),
        "endswith" => actual.is_some_and(|a| text(a).ends_with(&text(value))),
        "in" | "notin" => {
            let list = value.as_array().ok_or("in needs a list")?;
            if list.len() > 500 {
                return Err("Queries are limited to 500 or fewer 'OR' conditions.".into());
            }
            let found =
                actual.is_some_and(|a| list.iter().any(|v| compare(a, v) == Some(Ordering::Equal)));
            if op == "in" { found } else { !found }
        }
        other => return Err(format!("unknown operator {other}")),
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn evaluates_like_autotask() {
        let r = json!({"id": 5, "companyName": "Acme Dental", "isActive": true, "startDate": "2026-11-01T00:00:00"});
        assert!(matches(&r, &json!({"op": "eq", "field": "ISACTIVE", "value": true})).unwrap());
        assert!(
            matches(
                &r,
                &json!({"op": "contains", "field": "companyname", "value": "dent"})
            )
            .unwrap()
        );
        assert!(matches(&r, &json!({"op": "in", "field": "id", "value": [1, 5]})).unwrap());
        assert!(
            matches(
                &r,
                &json!({"op": "lte", "field": "startDate", "value": "2026-11-22T23:59:59"})
            )
            .unwrap()
        );
        assert!(
            matches(
                &r,
                &json!({"op": "or", "items": [
                    {"op": "eq", "field": "id", "value": 1},
                    {"op": "gt", "field": "id", "value": 4}
                ]})
            )
            .unwrap()
        );
        assert!(!matches(&r, &json!({"op": "noteq", "field": "id", "value": 5})).unwrap());
        assert!(matches(&r, &json!({"op": "bogus", "field": "id", "value": 5})).is_err());
        let prepared = Prepared::new(&[
            json!({"op": "in", "field": "id", "value": [4, 5.0]}),
            json!({"op": "eq", "field": "isActive", "value": true}),
        ])
        .unwrap();
        assert!(prepared.matches(&r).unwrap());
        let prepared =
            Prepared::new(&[json!({"op": "notIn", "field": "id", "value": [5]})]).unwrap();
        assert!(!prepared.matches(&r).unwrap());
    }
}
