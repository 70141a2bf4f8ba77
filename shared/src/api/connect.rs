//! `POST /v1/integrations/{provider}/connect`: the Connect button of an integration card.

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use serde::Serialize;
use time::OffsetDateTime;

use super::{ApiError, attempts::Attempt, audit, body, oauth, vendor};
use crate::{
    app::App,
    domain::{
        AuditAction, ConnectRequest, Connection, ConnectionStatus, Provider, TenantId,
        VendorInstance,
    },
    ports::{Expect, SecretName},
};

#[derive(Serialize)]
struct Connected {
    provider: Provider,
    status: ConnectionStatus,
    instance: VendorInstance,
    #[serde(with = "time::serde::rfc3339")]
    connected_at: OffsetDateTime,
    /// A re-connect that kept configuration and mappings.
    reconnected: bool,
}

/// Checks the credentials with the vendor, then stores the secret and the connection. A
/// re-connect to the same vendor instance (a reset secret) keeps configuration and mappings; a
/// different instance is refused until the partner revokes.
pub(super) async fn connect(
    app: &App,
    tenant: &TenantId,
    provider: Provider,
    req: &Request<Bytes>,
) -> Result<Response<Bytes>, ApiError> {
    if let Some(consent) = app.integrations.get(provider).and_then(|i| i.consent()) {
        let request = connect_request(provider, req)?;
        Attempt::check(app, tenant, provider).await?;
        return oauth::start(app, tenant, provider, consent, request).await;
    }
    let connector = vendor::capability(app, provider, "connecting", |i| i.connector())?;
    let request = connect_request(provider, req)?;
    let attempt = Attempt::reserve(app, tenant, provider).await?;
    let outcome = connector.connect(tenant, request).await;
    attempt.settle(&outcome).await?;
    let connected = outcome?;
    let existing = app.store.get_connection(tenant, provider).await?;
    if let Some(old) = &existing
        && !connector.same_instance(&old.instance, &connected.instance)
    {
        return Err(ApiError::Conflict(format!(
            "this partner is connected to another {} instance; revoke that connection before connecting a different one",
            provider.display_name()
        )));
    }
    let name = SecretName::for_connection(&app.settings.secrets_prefix, tenant, provider);
    app.secrets.put(&name, &connected.secret).await?;
    let now = app.clock.now();
    let connection = Connection {
        status: ConnectionStatus::Connected,
        instance: connected.instance,
        secret_name: name.to_string(),
        connected_at: existing.as_ref().map_or(now, |c| c.connected_at),
        updated_at: now,
        last_error: None,
        version: 0,
    };
    let expect = existing
        .as_ref()
        .map_or(Expect::Absent, |c| Expect::Version(c.version));
    let stored = app
        .store
        .put_connection(tenant, &connection, expect)
        .await?;
    connector.forget(tenant);
    let action = if existing.is_some() {
        AuditAction::Reconnect
    } else {
        AuditAction::Connect
    };
    audit::record(
        app,
        tenant,
        Some(provider),
        action,
        None,
        &existing,
        &stored,
    )
    .await;
    tracing::info!(tenant = %tenant, provider = %provider, reconnect = existing.is_some(), "connected");
    Ok(body::respond(
        if existing.is_some() {
            StatusCode::OK
        } else {
            StatusCode::CREATED
        },
        &Connected {
            provider,
            status: stored.status,
            instance: stored.instance,
            connected_at: stored.connected_at,
            reconnected: existing.is_some(),
        },
    ))
}

/// The provider's Connect form.
fn connect_request(provider: Provider, req: &Request<Bytes>) -> Result<ConnectRequest, ApiError> {
    Ok(match provider {
        Provider::Autotask => ConnectRequest::Autotask(body::json(req)?),
        Provider::Halopsa => ConnectRequest::Halopsa(body::json(req)?),
        Provider::Ninjaone => ConnectRequest::Ninjaone(body::json(req)?),
        Provider::Connectwise => ConnectRequest::Connectwise(body::json(req)?),
    })
}
