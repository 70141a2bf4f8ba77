//! Field-level validation results, shared by every domain type that checks its own input.

use serde::Serialize;

/// One field that failed validation, named as the partner's request names it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FieldError {
    /// JSON path of the field, e.g. `seats` or `target.contract_id`.
    pub field: String,
    /// What is wrong, in a sentence a partner can act on.
    pub message: String,
}

impl FieldError {
    /// A field error for `field` with `message`.
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// Longest display name we accept for plans and organizations.
pub const MAX_NAME_CHARS: usize = 200;

/// Checks a display name: present after trimming and not absurdly long.
pub(crate) fn check_name(field: &str, name: &str, errors: &mut Vec<FieldError>) {
    check_text(field, name, MAX_NAME_CHARS, errors);
}

/// Checks a required text: present after trimming and at most `max` characters.
pub(crate) fn check_text(field: &str, text: &str, max: usize, errors: &mut Vec<FieldError>) {
    if text.trim().is_empty() {
        errors.push(FieldError::new(field, "must not be empty"));
    } else {
        check_length(field, text, max, errors);
    }
}

/// Checks that a text has at most `max` characters.
pub(crate) fn check_length(field: &str, text: &str, max: usize, errors: &mut Vec<FieldError>) {
    if text.chars().count() > max {
        errors.push(FieldError::new(
            field,
            format!("must be at most {max} characters"),
        ));
    }
}

/// Longest description of a ticket or an opportunity from the platform.
pub const MAX_DESCRIPTION: usize = 8000;

/// Longest dedupe key we accept; it names a stored item.
pub const MAX_DEDUPE_KEY: usize = 200;

/// Checks a platform dedupe key (of an alert or an opportunity): it names a stored item, so
/// no `#` (the store's separator) and no control characters.
pub(crate) fn check_dedupe_key(key: &str, errors: &mut Vec<FieldError>) {
    if key.is_empty()
        || key.chars().count() > MAX_DEDUPE_KEY
        || key.chars().any(|c| c == '#' || c.is_control())
    {
        errors.push(FieldError::new(
            "dedupe_key",
            format!("must be 1 to {MAX_DEDUPE_KEY} characters, without '#' or control characters"),
        ));
    }
}

/// Checks an optional vendor id: vendors number their entities from 1.
pub(crate) fn check_vendor_id(field: &str, id: Option<i64>, errors: &mut Vec<FieldError>) {
    if let Some(id) = id {
        check_required_vendor_id(field, id, errors);
    }
}

/// Checks a required vendor id.
pub(crate) fn check_required_vendor_id(field: &str, id: i64, errors: &mut Vec<FieldError>) {
    if id <= 0 {
        errors.push(FieldError::new(field, "must be a positive vendor id"));
    }
}
