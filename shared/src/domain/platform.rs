//! The platform's side of every mapping: its plans and the partner's customer organizations.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::{FieldError, OrgId, PlanId, validation::check_name};

/// Most seats one organization may report; anything above is a platform bug, not a customer.
pub const MAX_SEATS: u32 = 1_000_000;

/// A plan the platform sells.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    /// The platform's plan id.
    pub id: PlanId,
    /// Display name.
    pub name: String,
    /// Last change.
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

impl Plan {
    /// Checks what the partner or platform sent.
    pub fn validate(&self) -> Result<(), Vec<FieldError>> {
        let mut errors = Vec::new();
        check_name("name", &self.name, &mut errors);
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }
}

/// One of the partner's customer organizations on the platform.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Organization {
    /// The platform's organization id.
    pub id: OrgId,
    /// Display name (what auto-match compares with vendor names).
    pub name: String,
    /// The plan the organization is on, if any.
    pub plan_id: Option<PlanId>,
    /// Seats in use: what seat sync pushes to the PSA.
    pub seats: u32,
    /// Last change.
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

impl Organization {
    /// Checks what the partner or platform sent.
    pub fn validate(&self) -> Result<(), Vec<FieldError>> {
        let mut errors = Vec::new();
        check_name("name", &self.name, &mut errors);
        if self.seats > MAX_SEATS {
            errors.push(FieldError::new(
                "seats",
                format!("must be at most {MAX_SEATS}"),
            ));
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }
}
