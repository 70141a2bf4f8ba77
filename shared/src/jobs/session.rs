//! Opening a connection's session (stored record + secret) and recording vendor refusals.

use crate::{
    app::App,
    domain::{Connection, ConnectionStatus, Provider, TenantId},
    ports::{Expect, SecretName, Session, VendorError},
};

use super::JobError;

/// The tenant's connection to `provider` with its credentials.
pub async fn open(app: &App, tenant: &TenantId, provider: Provider) -> Result<Session, JobError> {
    let connection = app
        .store
        .get_connection(tenant, provider)
        .await?
        .ok_or(JobError::NotConnected(provider))?;
    if connection.status == ConnectionStatus::NeedsReconnect {
        return Err(JobError::NeedsReconnect(
            provider,
            connection
                .last_error
                .clone()
                .unwrap_or_else(|| "the vendor refused the stored credentials".into()),
        ));
    }
    let name = SecretName::from_stored(connection.secret_name.clone());
    let credentials = app.secrets.get(&name).await?.ok_or_else(|| {
        JobError::NeedsReconnect(provider, "the stored credentials are gone".into())
    })?;
    Ok(Session {
        tenant: tenant.clone(),
        connection,
        credentials,
    })
}

/// Turns a vendor failure into a job error, marking the connection `needs_reconnect` when the
/// vendor refused the stored credentials (the card shows it; syncs stop until re-connect).
pub async fn vendor_failed(app: &App, session: &Session, error: VendorError) -> JobError {
    let VendorError::CredentialsRejected {
        detail,
        vendor_message,
        ..
    } = &error
    else {
        return JobError::Vendor(error);
    };
    let message = match vendor_message {
        Some(v) => format!("{detail} ({v})"),
        None => detail.clone(),
    };
    let updated = Connection {
        status: ConnectionStatus::NeedsReconnect,
        last_error: Some(message.clone()),
        updated_at: app.clock.now(),
        ..session.connection.clone()
    };
    // A concurrent re-connect wins: its fresh credentials must not be marked broken.
    let _ = app
        .store
        .put_connection(
            &session.tenant,
            &updated,
            Expect::Version(session.connection.version),
        )
        .await;
    JobError::NeedsReconnect(session.connection.provider(), message)
}
