//! Where partner credentials live: one secret per tenant and provider.

use std::fmt;

use async_trait::async_trait;
use secrecy::SecretString;

use crate::domain::{Provider, TenantId};

/// The name of a partner's secret for one provider: `{prefix}/{tenant}/{provider}`, so IAM can
/// scope each function to the prefix and nothing else.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct SecretName(String);

impl SecretName {
    /// The secret of `tenant` for `provider` under the deployment's `prefix`.
    pub fn for_connection(prefix: &str, tenant: &TenantId, provider: Provider) -> Self {
        Self(format!("{prefix}/{tenant}/{provider}"))
    }

    /// Wraps a name read back from a stored connection.
    pub fn from_stored(name: impl Into<String>) -> Self {
        Self(name.into())
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for SecretName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A secret back end failed. Messages name the secret, never its value.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    /// The back end could not be reached or refused us; worth retrying.
    #[error("secret store unavailable for {name}: {reason}")]
    Unavailable {
        /// Which secret.
        name: String,
        /// What the back end said (never the value).
        reason: String,
    },
    /// The stored value could not be decrypted or read; retrying will not help.
    #[error("secret {name} is unreadable: {reason}")]
    Corrupt {
        /// Which secret.
        name: String,
        /// Why.
        reason: String,
    },
}

/// Create, read, replace and delete partner secrets. Values are opaque text (a provider stores
/// JSON in it) wrapped so that `Debug` and logs show `[REDACTED]`.
#[async_trait]
pub trait Secrets: Send + Sync {
    /// Creates or replaces the secret's value.
    async fn put(&self, name: &SecretName, value: &SecretString) -> Result<(), SecretError>;
    /// Reads the value, `None` if there is no such secret.
    async fn get(&self, name: &SecretName) -> Result<Option<SecretString>, SecretError>;
    /// Deletes the secret at once, with no recovery window; deleting a missing secret is fine.
    async fn delete(&self, name: &SecretName) -> Result<(), SecretError>;
}
