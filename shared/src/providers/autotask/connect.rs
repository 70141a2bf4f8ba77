//! Connecting: check the API user's credentials in their zone and prove it may read what the
//! integration needs; Autotask's worded failures become something the partner can act on.

use async_trait::async_trait;
use secrecy::{ExposeSecret, SecretString};

use super::{
    AutotaskIntegration, StoredCredentials,
    client::{Client, Credentials},
    not_autotask,
};
use crate::{
    domain::{ConnectRequest, FieldError, TenantId, VendorInstance},
    ports::{Connected, Connector, VendorError},
};

#[async_trait]
impl Connector for AutotaskIntegration {
    async fn connect(
        &self,
        tenant: &TenantId,
        request: ConnectRequest,
    ) -> Result<Connected, VendorError> {
        let ConnectRequest::Autotask(creds) = request else {
            return Err(not_autotask());
        };
        let username = creds.username.trim().to_owned();
        let mut errors = Vec::new();
        if username.is_empty() || username.chars().count() > 320 {
            errors.push(FieldError::new(
                "username",
                "must be the API user's username (key)",
            ));
        }
        if creds.secret.expose_secret().is_empty() {
            errors.push(FieldError::new("secret", "must not be empty"));
        }
        if !errors.is_empty() {
            return Err(VendorError::Invalid {
                detail: "the Autotask credentials are incomplete".into(),
                errors,
                vendor_message: None,
            });
        }
        let zone = self
            .zones
            .lookup(self.http(), &self.lookup_base, &username, true)
            .await?;
        let code = self.integration_code().await?;
        let client = Client::new(
            self.http(),
            &self.zones,
            &self.lookup_base,
            self.options.allow_loopback,
            self.limits_for(tenant),
            Credentials {
                username: username.clone(),
                secret: creds.secret.clone(),
                integration_code: code.clone(),
            },
            &zone.url,
        )?;
        // One authenticated call proves user, secret and integration code together.
        client.threshold().await.map_err(connect_error)?;
        let stored = StoredCredentials {
            username,
            secret: creds.secret.expose_secret().to_owned(),
        };
        Ok(Connected {
            instance: VendorInstance::Autotask {
                zone_url: client.zone_url(),
                web_url: zone.web_url,
                database_id: zone.ci,
            },
            secret: SecretString::from(
                serde_json::to_string(&stored).expect("credentials serialize"),
            ),
        })
    }

    fn same_instance(&self, old: &VendorInstance, new: &VendorInstance) -> bool {
        matches!(
            (old, new),
            (
                VendorInstance::Autotask { database_id: a, .. },
                VendorInstance::Autotask { database_id: b, .. }
            ) if a == b
        )
    }

    fn forget(&self, tenant: &TenantId) {
        self.limits.lock().expect("limits lock").remove(tenant);
        self.forget_cached(tenant);
    }
}

/// Autotask words connect failures in 500s; turn them into something the partner can act on.
fn connect_error(e: VendorError) -> VendorError {
    let VendorError::Refused { vendor_message } = e else {
        return e;
    };
    let m = vendor_message.to_ascii_lowercase();
    let user = |detail: &str| VendorError::CredentialsRejected {
        detail: detail.into(),
        field: "username",
        vendor_message: Some(vendor_message.clone()),
    };
    if m.contains("integration code")
        || m.contains("tracking identifier")
        || m.contains("apiintegrationcode")
    {
        VendorError::IntegrationRefused {
            detail: "Autotask refused this platform's integration code; the API user must have this platform selected as its integration vendor".into(),
            vendor_message: Some(vendor_message),
        }
    } else if m.contains("locked") {
        user("the Autotask API user is locked: unlock it in Autotask (Admin > Resources/Users)")
    } else if m.contains("inactive") || m.contains("not active") {
        user("the Autotask API user is inactive: activate it in Autotask")
    } else if m.contains("user") {
        user("Autotask does not know this API user")
    } else {
        VendorError::Refused { vendor_message }
    }
}
