//! "Revoke": forget a connection and everything it brought, idempotently.

use bytes::Bytes;
use http::Response;

use super::{ApiError, App, body};
use crate::{
    domain::{Provider, TenantId},
    ports::SecretName,
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
    app.store.delete_connection(tenant, provider).await?;
    let canonical = SecretName::for_connection(&app.settings.secrets_prefix, tenant, provider);
    if let Some(stored) = connection.map(|c| SecretName::from_stored(c.secret_name))
        && stored != canonical
    {
        app.secrets.delete(&stored).await?;
    }
    app.secrets.delete(&canonical).await?;
    app.store.purge_provider(tenant, provider).await?;
    tracing::info!(tenant = %tenant, provider = %provider, "connection revoked");
    Ok(body::no_content())
}
