//! A sales opportunity the platform raises in the partner's PSA (seed 004): one per dedupe
//! key while it is open, whatever number of identical requests arrive.

use serde::{Deserialize, Serialize};
use time::{Date, macros::format_description};

use super::{
    FieldError, OrgId,
    validation::{MAX_DESCRIPTION, check_dedupe_key, check_length, check_text},
};

/// Longest opportunity title (Autotask's `title` holds 128 characters).
pub const MAX_OPPORTUNITY_TITLE: usize = 128;
/// Largest amount accepted (a typo guard well above any MSP deal).
pub const MAX_OPPORTUNITY_AMOUNT: f64 = 1_000_000_000.0;

/// What the platform raises, as the portal and the "Opportunity Raised" event send it.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpportunityRequest {
    /// The organization it is for (its link names the vendor company).
    pub org_id: OrgId,
    /// Stable key: a repeat while the opportunity is open answers the same one.
    pub dedupe_key: String,
    /// Opportunity title.
    pub title: String,
    /// Expected revenue; 0 when not given.
    #[serde(default)]
    pub amount: Option<f64>,
    /// Expected close (`YYYY-MM-DD`); 30 days on when not given.
    #[serde(default)]
    pub projected_close_date: Option<String>,
    /// Longer text.
    #[serde(default)]
    pub description: Option<String>,
}

impl OpportunityRequest {
    /// Checks what the platform sent.
    pub fn validate(&self) -> Result<(), Vec<FieldError>> {
        let mut errors = Vec::new();
        check_dedupe_key(&self.dedupe_key, &mut errors);
        check_text("title", &self.title, MAX_OPPORTUNITY_TITLE, &mut errors);
        if let Some(amount) = self.amount
            && !(0.0..=MAX_OPPORTUNITY_AMOUNT).contains(&amount)
        {
            errors.push(FieldError::new(
                "amount",
                format!("must be from 0 to {MAX_OPPORTUNITY_AMOUNT}"),
            ));
        }
        if self.projected_close_date.is_some() && self.close_date().is_none() {
            errors.push(FieldError::new(
                "projected_close_date",
                "must be a date, YYYY-MM-DD",
            ));
        }
        if let Some(description) = &self.description {
            check_length("description", description, MAX_DESCRIPTION, &mut errors);
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }

    /// The projected close date, when given and valid.
    pub fn close_date(&self) -> Option<Date> {
        let text = self.projected_close_date.as_deref()?;
        Date::parse(text, format_description!("[year]-[month]-[day]")).ok()
    }
}

/// What a raise of an opportunity did.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum OpportunityAction {
    /// A new opportunity.
    Created,
    /// The open one raised earlier with the same dedupe key.
    Existing,
}

/// The opportunity a raise landed on.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct OpportunityOutcome {
    /// The vendor's opportunity id.
    pub opportunity_id: i64,
    /// Created or existing.
    pub action: OpportunityAction,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request() -> OpportunityRequest {
        OpportunityRequest {
            org_id: OrgId::new("acme").unwrap(),
            dedupe_key: "renewal-2027".into(),
            title: "Firewall refresh".into(),
            amount: Some(12_000.0),
            projected_close_date: Some("2027-01-15".into()),
            description: None,
        }
    }

    #[test]
    fn a_good_request_passes_and_each_bad_field_is_named() {
        assert_eq!(request().validate(), Ok(()));
        let bad = OpportunityRequest {
            dedupe_key: "a#b".into(),
            title: " ".into(),
            amount: Some(-1.0),
            projected_close_date: Some("2027-02-30".into()),
            ..request()
        };
        let fields: Vec<String> = bad
            .validate()
            .unwrap_err()
            .into_iter()
            .map(|e| e.field)
            .collect();
        assert_eq!(
            fields,
            ["dedupe_key", "title", "amount", "projected_close_date"]
        );
    }
}
