//! A platform alert that should become a ticket in the partner's PSA.

use serde::Deserialize;

use super::{
    FieldError, OrgId,
    validation::{MAX_DESCRIPTION, check_dedupe_key, check_length, check_text},
};

/// Longest ticket title.
const MAX_TITLE: usize = 255;

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
        check_text("title", &self.title, MAX_TITLE, &mut errors);
        check_length(
            "description",
            &self.description,
            MAX_DESCRIPTION,
            &mut errors,
        );
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }
}
