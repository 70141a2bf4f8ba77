//! The client credentials a NinjaOne consent keeps until its callback: where they wait, how
//! they are tagged with their consent, and the hourly sweep that deletes those of consents the
//! partner abandoned (never came back from the vendor's page).

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use super::JobError;
use crate::{
    app::App,
    domain::{PendingConsent, Provider, TenantId},
    ports::SecretName,
};

/// Consents read per page by the sweep.
const PAGE: usize = 200;

/// Where pending client credentials wait for the callback (one per tenant and provider).
pub fn pending_secret(app: &App, tenant: &TenantId, provider: Provider) -> SecretName {
    SecretName::from_stored(format!(
        "{}/pending",
        SecretName::for_connection(&app.settings.secrets_prefix, tenant, provider)
    ))
}

/// The pending secret as stored: the provider's client credentials, tagged with the hash of the
/// consent's state. A later Connect replaces the secret, so a callback uses and deletes it
/// only when the tag is its own.
#[derive(Deserialize)]
pub struct PendingClient {
    /// The state hash of the consent the credentials wait for.
    pub consent: String,
    /// The provider's client credentials.
    pub client: SecretString,
}

impl PendingClient {
    /// The secret to store for `client` waiting on consent `consent`.
    pub fn seal(consent: &str, client: &SecretString) -> SecretString {
        SecretString::from(
            serde_json::json!({"consent": consent, "client": client.expose_secret()}).to_string(),
        )
    }

    /// Reads a stored pending secret; `None` when it is not one.
    pub fn open(stored: &SecretString) -> Option<Self> {
        serde_json::from_str(stored.expose_secret()).ok()
    }
}

/// Deletes the pending secret if it still waits for this consent (or is unreadable, so no
/// current Connect wrote it). A Connect landing between the read and the delete loses its
/// credentials; its callback then asks the partner to connect again.
pub async fn discard_pending(app: &App, pending: &PendingConsent, consent_hash: &str) -> bool {
    let name = pending_secret(app, &pending.tenant, pending.provider);
    let ours = match app.secrets.get(&name).await {
        Ok(Some(stored)) => PendingClient::open(&stored).is_none_or(|p| p.consent == consent_hash),
        Ok(None) => false,
        Err(e) => {
            tracing::warn!(error = %e, "could not read the pending client secret");
            false
        }
    };
    if !ours {
        return false;
    }
    match app.secrets.delete(&name).await {
        Ok(()) => true,
        Err(e) => {
            tracing::warn!(error = %e, "could not delete the pending client secret");
            false
        }
    }
}

/// Removes every consent past its expiry and deletes the client credentials that waited for
/// it; returns how many credentials were deleted. A consent the partner is finishing right now
/// is not expired, and of a callback and the sweep only one takes a consent.
pub async fn sweep_abandoned(app: &App) -> Result<usize, JobError> {
    let now = app.clock.now();
    let mut deleted = 0;
    let mut after = None;
    loop {
        let page = app.store.list_consents(after.as_ref(), PAGE).await?;
        for (hash, consent) in page.items {
            if consent.expires_at > now {
                continue;
            }
            app.store.take_consent(&hash).await?;
            if discard_pending(app, &consent, &hash).await {
                tracing::info!(
                    tenant = %consent.tenant, provider = %consent.provider,
                    "deleted the client credentials of an abandoned consent"
                );
                deleted += 1;
            }
        }
        match page.next {
            Some(next) => after = Some(next),
            None => return Ok(deleted),
        }
    }
}
