//! Our own vendor credentials, the deployment's and not a partner's: Autotask's integration
//! code, ConnectWise's `clientId`. On Lambda they live in Secrets Manager and are read once, on
//! first use; the local runner takes them as values.

use std::sync::Arc;

use secrecy::SecretString;

use crate::ports::{SecretName, Secrets, VendorError};

/// Where one of our vendor credentials comes from.
pub enum DeploymentSecret {
    /// Given directly (local runner, development accounts).
    Value(SecretString),
    /// Read once, on first use, from a deployment secret (Lambda).
    Secret {
        /// The secret's name.
        name: SecretName,
        /// Where to read it.
        secrets: Arc<dyn Secrets>,
    },
    /// Not configured: connecting is refused with a clear error.
    Missing,
}

impl DeploymentSecret {
    /// The value; `what` names it in the error when it is missing or unreadable.
    pub async fn resolve(&self, what: &str) -> Result<SecretString, VendorError> {
        match self {
            DeploymentSecret::Value(v) => Ok(v.clone()),
            DeploymentSecret::Secret { name, secrets } => {
                secrets.get(name).await.ok().flatten().ok_or_else(|| {
                    VendorError::IntegrationRefused {
                        detail: format!("this deployment's {what} could not be read"),
                        vendor_message: None,
                    }
                })
            }
            DeploymentSecret::Missing => Err(VendorError::IntegrationRefused {
                detail: format!("this deployment has no {what} configured"),
                vendor_message: None,
            }),
        }
    }
}

/// Every deployment secret the integrations use.
pub struct DeploymentSecrets {
    /// Autotask's `ApiIntegrationCode`.
    pub autotask_integration_code: DeploymentSecret,
    /// ConnectWise's `clientId` (a Public one: it is used against every partner's instance).
    pub connectwise_client_id: DeploymentSecret,
}

impl Default for DeploymentSecrets {
    fn default() -> Self {
        Self {
            autotask_integration_code: DeploymentSecret::Missing,
            connectwise_client_id: DeploymentSecret::Missing,
        }
    }
}

impl From<DeploymentSecret> for DeploymentSecrets {
    /// Autotask's integration code alone.
    fn from(autotask_integration_code: DeploymentSecret) -> Self {
        Self {
            autotask_integration_code,
            ..Self::default()
        }
    }
}
