//! "Revoke": forget a connection and everything it brought, idempotently.

use bytes::Bytes;
use http::Response;

use super::{
    ApiError, App,
    audit::{self, NOTHING},
    body,
};
use crate::{
    domain::{AuditAction, Connection, Provider, TenantId},
    jobs::consent,
    ports::{SecretName, Session},
};

/// Deletes the connection first (a running sync sees it gone and stops writing), then the
/// secret, then configuration, mappings and runs. Every step tolerates what is already gone,
/// so a retry after any failure finishes the job.
pub(super) async fn revoke(
    app: &App,
    tenant: &TenantId,
    provider: Provider,
) -> Result<Response<Bytes>, ApiError> {
    let connection = app.store.get_connection(tenant, provider).await?;
    let connection_before = connection.clone();
    if let Some(c) = &connection {
        revoke_at_vendor(app, tenant, c).await;
    }
    app.store.delete_connection(tenant, provider).await?;
    let canonical = SecretName::for_connection(&app.settings.secrets_prefix, tenant, provider);
    if let Some(stored) = connection.map(|c| SecretName::from_stored(c.secret_name))
        && stored != canonical
    {
        app.secrets.delete(&stored).await?;
    }
    app.secrets.delete(&canonical).await?;
    app.secrets
        .delete(&consent::pending_secret(app, tenant, provider))
        .await?;
    app.store.purge_provider(tenant, provider).await?;
    if connection_before.is_some() {
        let action = AuditAction::Revoke;
        audit::record(
            app,
            tenant,
            Some(provider),
            action,
            None,
            &connection_before,
            &NOTHING,
        )
        .await;
    }
    tracing::info!(tenant = %tenant, provider = %provider, "connection revoked");
    Ok(body::no_content())
}

/// Tells the vendor to forget our refresh token (NinjaOne). Best effort: the partner's revoke
/// must not fail because the vendor is down or the token is already dead.
async fn revoke_at_vendor(app: &App, tenant: &TenantId, connection: &Connection) {
    let provider = connection.provider();
    let Some(consent) = app.integrations.get(provider).and_then(|i| i.consent()) else {
        return;
    };
    let name = SecretName::from_stored(connection.secret_name.clone());
    let Ok(Some(credentials)) = app.secrets.get(&name).await else {
        return;
    };
    let session = Session {
        tenant: tenant.clone(),
        connection: connection.clone(),
        credentials,
    };
    match consent.revoke(&session).await {
        Ok(()) => {
            tracing::info!(tenant = %tenant, provider = %provider, "refresh token revoked at the vendor")
        }
        Err(e) => {
            tracing::warn!(tenant = %tenant, provider = %provider, error = %e, "could not revoke the refresh token at the vendor; continuing")
        }
    }
}
