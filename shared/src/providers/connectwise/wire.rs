//! ConnectWise PSA's JSON and query grammar. Every field is optional on the way in (a model
//! version may drop or blank fields the API member cannot see); unknown fields are ignored.

use serde::Deserialize;

/// `GET /login/companyinfo/{company}`: where the company's API lives. An unknown company is a
/// successful `null`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CompanyInfo {
    /// `v4_6_release/` on premise, a versioned path (`v2025_1/`) in the cloud.
    #[serde(default)]
    pub codebase: Option<String>,
    /// The company id as ConnectWise spells it.
    #[serde(default, rename = "CompanyID")]
    pub company_id: Option<String>,
}

/// ConnectWise's error body: `{code, message, errors: [{code, message, field}]}`; the rate
/// limiter answers `{error, message}` instead, and its message is what counts.
#[derive(Debug, Default, Deserialize)]
pub struct ErrorBody {
    /// `InvalidObject`, `Unauthorized`, `NotFound`, `ConnectWiseApi`, ...
    #[serde(default)]
    pub code: Option<String>,
    /// What went wrong.
    #[serde(default)]
    pub message: Option<String>,
    /// Per-field problems.
    #[serde(default)]
    pub errors: Option<Vec<FieldProblem>>,
}

/// One entry of an error body's `errors`.
#[derive(Debug, Deserialize)]
pub struct FieldProblem {
    /// What is wrong with it.
    #[serde(default)]
    pub message: Option<String>,
    /// The field.
    #[serde(default)]
    pub field: Option<String>,
}

impl ErrorBody {
    /// The vendor's words: the message and each field's, joined.
    pub fn text(&self) -> Option<String> {
        let mut parts: Vec<String> = self.message.iter().cloned().collect();
        for p in self.errors.iter().flatten() {
            match (&p.field, &p.message) {
                (Some(f), Some(m)) => parts.push(format!("{f}: {m}")),
                (None, Some(m)) => parts.push(m.clone()),
                _ => {}
            }
        }
        (!parts.is_empty()).then(|| parts.join("; "))
    }
}

/// A reference to another record: `{id, name}` or `{id, identifier}` (names are not read).
#[derive(Clone, Debug, Default, Deserialize)]
pub struct Reference {
    /// Its id.
    #[serde(default)]
    pub id: Option<i64>,
    /// Its identifier, for catalog items and companies.
    #[serde(default)]
    pub identifier: Option<String>,
}

/// A service board, status, type, priority or source: the option lists.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListEntry {
    /// Its id.
    pub id: i64,
    /// What the partner sees.
    #[serde(default)]
    pub name: Option<String>,
    /// Boards and types.
    #[serde(default)]
    pub inactive_flag: Option<bool>,
    /// Statuses say `inactive` instead.
    #[serde(default)]
    pub inactive: Option<bool>,
    /// Project boards do not take service tickets.
    #[serde(default)]
    pub project_flag: Option<bool>,
    /// A status that closes the ticket.
    #[serde(default)]
    pub closed_status: Option<bool>,
    /// The board's (or ConnectWise's) default.
    #[serde(default)]
    pub default_flag: Option<bool>,
}

impl ListEntry {
    /// Neither flag marks it inactive.
    pub fn active(&self) -> bool {
        !self.inactive_flag.unwrap_or(false) && !self.inactive.unwrap_or(false)
    }
}

/// `company/companies`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Company {
    /// Its id.
    pub id: i64,
    /// Display name.
    #[serde(default)]
    pub name: Option<String>,
    /// Short identifier.
    #[serde(default)]
    pub identifier: Option<String>,
    /// Deleted companies stay readable.
    #[serde(default)]
    pub deleted_flag: Option<bool>,
}

/// `finance/agreements`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Agreement {
    /// Its id.
    pub id: i64,
    /// Its name.
    #[serde(default)]
    pub name: Option<String>,
    /// The company it bills.
    #[serde(default)]
    pub company: Option<Reference>,
    /// `Active`, `Cancelled`, `Expired` or `Inactive`.
    #[serde(default)]
    pub agreement_status: Option<String>,
    /// Cancelled agreements bill nothing.
    #[serde(default)]
    pub cancelled_flag: Option<bool>,
}

impl Agreement {
    /// Whether it still bills: not cancelled, expired or inactive.
    pub fn usable(&self) -> bool {
        !self.cancelled_flag.unwrap_or(false)
            && self
                .agreement_status
                .as_deref()
                .is_none_or(|s| s.eq_ignore_ascii_case("active"))
    }

    /// The company's id.
    pub fn company_id(&self) -> Option<i64> {
        self.company.as_ref().and_then(|c| c.id)
    }
}

/// `finance/agreements/{id}/additions`: the billed quantity of a product on an agreement.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Addition {
    /// Its id.
    pub id: i64,
    /// The catalog product.
    #[serde(default)]
    pub product: Option<Reference>,
    /// Absolute quantity (a decimal in ConnectWise's model).
    #[serde(default)]
    pub quantity: Option<f64>,
    /// `Active`, `Cancelled`, `Expired` or `Inactive`.
    #[serde(default)]
    pub agreement_status: Option<String>,
    /// Set once it stops billing.
    #[serde(default)]
    pub cancelled_date: Option<String>,
    /// The agreement it belongs to.
    #[serde(default)]
    pub agreement_id: Option<i64>,
}

impl Addition {
    /// Whether it still bills: not cancelled (by date or status).
    pub fn usable(&self) -> bool {
        self.cancelled_date.is_none()
            && self
                .agreement_status
                .as_deref()
                .is_none_or(|s| !s.eq_ignore_ascii_case("cancelled"))
    }

    /// The product's id.
    pub fn product_id(&self) -> Option<i64> {
        self.product.as_ref().and_then(|p| p.id)
    }

    /// What it says its quantity is, in whole seats.
    pub fn seats(&self) -> u32 {
        self.quantity
            .unwrap_or(0.0)
            .round()
            .clamp(0.0, f64::from(u32::MAX)) as u32
    }
}

/// `procurement/catalog`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CatalogItem {
    /// Its id.
    pub id: i64,
    /// Product identifier (SKU-like).
    #[serde(default)]
    pub identifier: Option<String>,
    /// Description.
    #[serde(default)]
    pub description: Option<String>,
    /// Retired products stay readable.
    #[serde(default)]
    pub inactive_flag: Option<bool>,
}

impl CatalogItem {
    /// `identifier: description`, or whichever exists.
    pub fn label(&self) -> String {
        match (&self.identifier, &self.description) {
            (Some(i), Some(d)) if !d.is_empty() => format!("{i}: {d}"),
            (Some(i), _) => i.clone(),
            (None, Some(d)) => d.clone(),
            (None, None) => format!("product {}", self.id),
        }
    }
}

/// `service/tickets`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Ticket {
    /// Its id.
    pub id: i64,
    /// Closed (any closing status, or closed by hand).
    #[serde(default)]
    pub closed_flag: Option<bool>,
    /// Its status.
    #[serde(default)]
    pub status: Option<Reference>,
    /// Its board.
    #[serde(default)]
    pub board: Option<Reference>,
    /// Our reference.
    #[serde(default, rename = "externalXRef")]
    pub external_x_ref: Option<String>,
}

/// A condition's string value in double quotes. ConnectWise documents no escape for a quote
/// inside a value, so such values are refused rather than guessed at.
pub fn quoted(value: &str) -> Option<String> {
    (!value.contains('"') && !value.contains('\\') && !value.chars().any(char::is_control))
        .then(|| format!("\"{value}\""))
}

/// `field in (a, b, ...)` conditions, split so each stays within `max_chars` once URL-encoded
/// (ConnectWise documents about 2,000 characters for a whole URL).
pub fn in_lists(field: &str, ids: &[i64], max_chars: usize) -> Vec<String> {
    let mut out = Vec::new();
    let mut current: Vec<String> = Vec::new();
    // `field in (` ... `)`, encoded: spaces and brackets take three characters each.
    let overhead = field.len() + 4 * 3 + 2;
    let mut length = overhead;
    for id in ids {
        let item = id.to_string();
        // A comma and a space, encoded.
        let cost = item.len() + 6;
        if !current.is_empty() && length + cost > max_chars {
            out.push(format!("{field} in ({})", current.join(", ")));
            current.clear();
            length = overhead;
        }
        length += cost;
        current.push(item);
    }
    if !current.is_empty() {
        out.push(format!("{field} in ({})", current.join(", ")));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_refuses_what_it_cannot_escape() {
        assert_eq!(quoted("Acme Corp").as_deref(), Some("\"Acme Corp\""));
        assert_eq!(quoted("a\"b"), None);
        assert_eq!(quoted("a\\b"), None);
        assert_eq!(quoted("a\nb"), None);
    }

    #[test]
    fn in_lists_split_under_the_limit() {
        let ids: Vec<i64> = (100_000..101_000).collect();
        let lists = in_lists("product/id", &ids, 600);
        assert!(lists.len() > 1);
        let mut seen = Vec::new();
        for l in &lists {
            let encoded: String =
                url::form_urlencoded::byte_serialize(l.as_bytes()).collect::<String>();
            assert!(encoded.len() <= 600, "{}", encoded.len());
            let inner = l
                .trim_start_matches("product/id in (")
                .trim_end_matches(')');
            seen.extend(inner.split(", ").map(|s| s.parse::<i64>().unwrap()));
        }
        assert_eq!(seen, ids);
        assert!(in_lists("id", &[], 600).is_empty());
    }

    fn error_text(bytes: &[u8]) -> Option<String> {
        serde_json::from_slice::<ErrorBody>(bytes)
            .ok()
            .and_then(|b| b.text())
    }

    #[test]
    fn errors_read_with_their_fields() {
        let body = br#"{"code":"InvalidObject","message":"ticket object is invalid","errors":[{"code":"MissingRequiredField","message":"The summary field is required.","resource":"ticket","field":"summary"}]}"#;
        assert_eq!(
            error_text(body).as_deref(),
            Some("ticket object is invalid; summary: The summary field is required.")
        );
        let limiter = br#"{"error":"ConnectWiseAPI","message":"Too many requests. Please try again in 30 seconds."}"#;
        assert!(error_text(limiter).unwrap().contains("Too many"));
        assert_eq!(error_text(b"<html>"), None);
    }
}
