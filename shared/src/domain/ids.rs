//! Identifiers that become part of storage keys, validated once at the edge.

use std::fmt;

use serde::{Deserialize, Serialize};

/// An identifier was empty, too long, or held a character that storage keys reserve.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{kind} must be 1 to 128 characters of letters, digits, '-', '_', '.' or ':'")]
pub struct InvalidId {
    /// Which kind of identifier, e.g. "tenant id".
    pub kind: &'static str,
}

/// `#` and `/` separate the parts of storage keys and secret names, so they may never appear
/// inside an identifier; the allowed set is what the platform's ids (ULIDs, UUIDs, slugs) use.
fn is_valid(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 128
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
}

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident, $kind:literal) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// Validates and wraps an identifier.
            pub fn new(value: impl Into<String>) -> Result<Self, InvalidId> {
                let value = value.into();
                if is_valid(&value) {
                    Ok(Self(value))
                } else {
                    Err(InvalidId { kind: $kind })
                }
            }

            /// The identifier as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = InvalidId;
            fn try_from(value: String) -> Result<Self, Self::Error> {
                Self::new(value)
            }
        }

        impl From<$name> for String {
            fn from(value: $name) -> String {
                value.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

id_type!(
    /// A partner (MSP) of the platform; every stored item belongs to exactly one.
    TenantId,
    "tenant id"
);
id_type!(
    /// A plan the platform sells (mapped onto an Autotask Service).
    PlanId,
    "plan id"
);
id_type!(
    /// One of the partner's customer organizations on the platform.
    OrgId,
    "organization id"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_platform_style_ids() {
        for ok in ["acme", "01JD3Z8Y4X", "5f0c-11aa", "org_1.2:3"] {
            assert!(TenantId::new(ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn refuses_key_separators_and_extremes() {
        let long = "a".repeat(129);
        for bad in ["", "a#b", "a/b", "a b", "ü", long.as_str()] {
            assert_eq!(
                OrgId::new(bad),
                Err(InvalidId {
                    kind: "organization id"
                }),
                "{bad}"
            );
        }
    }

    #[test]
    fn deserializing_validates() {
        assert!(serde_json::from_str::<PlanId>("\"x#y\"").is_err());
        assert_eq!(
            serde_json::from_str::<PlanId>("\"gold\"").unwrap().as_str(),
            "gold"
        );
    }
}
