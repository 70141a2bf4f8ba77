//! A platform alert that should become a ticket in the partner's PSA.

use serde::Deserialize;

use super::{FieldError, OrgId, validation::check_dedupe_key};

/// What the platform raised, as the portal and the "Alert Raised" event send it.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Alert {
    /// The organization the alert is about.
    pub org_id: OrgId,
    /// Stable key: repeats with the same key while the ticket is open become notes.
    pub dedupe_key: String,
    /// Ticket title.
    pub title: String,
    /// Ticket description or note text.
    pub description: String,
}

/// The reference stored with a vendor's ticket for an alert's dedupe key (Autotask
/// `externalID`, Halo ticket details), so a retry can find a ticket whose create answer was
/// lost: short, stable, and free of whatever the key holds.
pub fn ticket_reference(dedupe_key: &str) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(dedupe_key.as_bytes());
    format!("msp-{}", &hex::encode(digest)[..32])
}

impl Alert {
    /// Checks what the platform sent.
    pub fn validate(&self) -> Result<(), Vec<FieldError>> {
        let mut errors = Vec::new();
        check_dedupe_key(&self.dedupe_key, &mut errors);
        if self.title.trim().is_empty() {
            errors.push(FieldError::new("title", "must not be empty"));
        } else if self.title.chars().count() > 255 {
            errors.push(FieldError::new("title", "must be at most 255 characters"));
        }
        if self.description.chars().count() > 8000 {
            errors.push(FieldError::new(
                "description",
                "must be at most 8000 characters",
            ));
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }
}
