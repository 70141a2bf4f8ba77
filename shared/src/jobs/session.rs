//! Opening a connection's session (stored record + secret) and recording vendor refusals.

use std::time::{Duration, Instant};

use secrecy::{ExposeSecret, SecretString};

use crate::{
    app::App,
    domain::{Connection, ConnectionStatus, FieldError, OrgId, OrgMapping, Provider, TenantId},
    metrics::{self, Metric},
    ports::{Expect, LeaseKind, SecretName, Session, StoreError, TokenRefresh, VendorError},
};

use super::JobError;

/// The tenant's connection to `provider` with its credentials.
pub async fn open(app: &App, tenant: &TenantId, provider: Provider) -> Result<Session, JobError> {
    let connection = usable_connection(app, tenant, provider).await?;
    with_credentials(app, tenant, connection).await
}

/// The tenant's connection to `provider`, if it is connected and its credentials were not
/// refused: what a job checks before any work, without reading the secret.
pub async fn usable_connection(
    app: &App,
    tenant: &TenantId,
    provider: Provider,
) -> Result<Connection, JobError> {
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
    Ok(connection)
}

/// The organization's link at `provider`; without one, an invalid `org_id`.
pub async fn org_mapping(
    app: &App,
    tenant: &TenantId,
    provider: Provider,
    org_id: &OrgId,
) -> Result<OrgMapping, JobError> {
    app.store
        .get_org_mapping(tenant, provider, org_id)
        .await?
        .ok_or_else(|| {
            JobError::Invalid(vec![FieldError::new(
                "org_id",
                format!(
                    "organization {org_id} is not linked to {}",
                    provider.display_name()
                ),
            )])
        })
}

/// A session on `connection`: its secret read, its access token renewed when due.
pub async fn with_credentials(
    app: &App,
    tenant: &TenantId,
    connection: Connection,
) -> Result<Session, JobError> {
    let provider = connection.provider();
    let name = SecretName::from_stored(connection.secret_name.clone());
    let credentials = app.secrets.get(&name).await?.ok_or_else(|| {
        JobError::NeedsReconnect(provider, "the stored credentials are gone".into())
    })?;
    let mut session = Session {
        tenant: tenant.clone(),
        connection,
        credentials,
    };
    if let Some(refresher) = token_refresh(app, provider)
        && refresher.needs_refresh(&session.credentials, app.clock.now())
    {
        session.credentials = refresh(app, &session, refresher, Renew::WhenDue).await?;
    }
    Ok(session)
}

fn token_refresh(app: &App, provider: Provider) -> Option<&dyn TokenRefresh> {
    app.integrations
        .get(provider)
        .and_then(|i| i.token_refresh())
}

/// When [`refresh`] spends the refresh token, judged on the secret as stored now.
#[derive(Clone, Copy)]
enum Renew {
    /// The access token expires within minutes.
    WhenDue,
    /// The vendor refused the access token the session holds: renew unless another worker
    /// already replaced it.
    Refused,
}

/// How long a worker may take to spend a refresh token and store the result.
const REFRESH_LEASE: time::Duration = time::Duration::seconds(30);
/// How long a worker waits for another to finish refreshing.
const REFRESH_WAIT: Duration = Duration::from_secs(20);

/// Renews the access token. Refresh tokens rotate, so one worker at a time spends one: under
/// the connection's refresh lease, re-read the secret (another worker may have renewed it
/// already), spend the refresh token, and store the new tokens before anything uses them.
async fn refresh(
    app: &App,
    session: &Session,
    refresher: &dyn TokenRefresh,
    when: Renew,
) -> Result<SecretString, JobError> {
    let (tenant, provider) = (&session.tenant, session.connection.provider());
    let started = Instant::now();
    let lease = loop {
        match app
            .store
            .acquire_lease(tenant, provider, LeaseKind::TokenRefresh, REFRESH_LEASE)
            .await
        {
            Ok(lease) => break lease,
            Err(StoreError::Conflict(_)) if started.elapsed() < REFRESH_WAIT => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(e) => return Err(e.into()),
        }
    };
    let name = SecretName::from_stored(session.connection.secret_name.clone());
    let result = async {
        let current = app.secrets.get(&name).await?.ok_or_else(|| {
            JobError::NeedsReconnect(provider, "the stored credentials are gone".into())
        })?;
        let due = match when {
            Renew::WhenDue => refresher.needs_refresh(&current, app.clock.now()),
            Renew::Refused => current.expose_secret() == session.credentials.expose_secret(),
        };
        if !due {
            return Ok(current);
        }
        match refresher
            .refresh(&session.connection.instance, &current)
            .await
        {
            Ok(renewed) => {
                app.secrets.put(&name, &renewed).await?;
                metrics::count(Metric::TokenRefreshes, &[("vendor", provider.as_str())], 1);
                tracing::info!(tenant = %tenant, provider = %provider, "access token renewed");
                Ok(renewed)
            }
            Err(e) => {
                if matches!(e, VendorError::CredentialsRejected { .. }) {
                    metrics::count(Metric::RefusedRenewals, &[("vendor", provider.as_str())], 1);
                }
                Err(credentials_failed(app, session, e).await)
            }
        }
    }
    .await;
    if let Err(e) = app.store.release_lease(&lease).await {
        tracing::warn!(error = %e, "could not release the refresh lease; it expires by itself");
    }
    result
}

/// Turns a vendor failure into a job error.
///
/// When the vendor refused an access token that a refresh token can renew (NinjaOne may drop
/// one before the expiry it announced), the token is renewed and the answer is
/// [`JobError::TokenRenewed`]: the caller tries again with a new session. When the vendor
/// refused the stored credentials themselves, or the renewal, the connection is marked
/// `needs_reconnect` (the card shows it; syncs stop until re-connect).
pub async fn vendor_failed(app: &App, session: &Session, error: VendorError) -> JobError {
    let provider = session.connection.provider();
    if matches!(error, VendorError::CredentialsRejected { .. })
        && let Some(refresher) = token_refresh(app, provider)
    {
        return match refresh(app, session, refresher, Renew::Refused).await {
            Ok(_) => {
                tracing::info!(
                    tenant = %session.tenant, provider = %provider,
                    "the vendor refused an access token before its expiry; renewed it"
                );
                JobError::TokenRenewed(provider)
            }
            Err(e) => e,
        };
    }
    credentials_failed(app, session, error).await
}

/// Marks the connection `needs_reconnect` when the vendor refused the stored credentials.
async fn credentials_failed(app: &App, session: &Session, error: VendorError) -> JobError {
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
