//! `GET /v1/integrations`: one card per provider, as the portal's integrations page shows them.

use bytes::Bytes;
use http::{Response, StatusCode};
use serde::Serialize;
use time::OffsetDateTime;
use ulid::Ulid;

use super::{ApiError, App, body};
use crate::domain::{
    Connection, ConnectionStatus, Provider, ProviderKind, SyncStatus, TenantId, VendorInstance,
};

#[derive(Serialize)]
struct Card {
    provider: Provider,
    name: &'static str,
    kind: ProviderKind,
    status: ConnectionStatus,
    /// Where the partner's vendor instance is (never credentials).
    instance: Option<VendorInstance>,
    #[serde(with = "time::serde::rfc3339::option")]
    connected_at: Option<OffsetDateTime>,
    last_error: Option<String>,
    /// The partner saved a configuration.
    configured: bool,
    /// Everything a ticket needs has been chosen.
    tickets_ready: bool,
    plan_mappings: usize,
    org_mappings: usize,
    last_sync: Option<LastSync>,
}

#[derive(Serialize)]
struct LastSync {
    id: Ulid,
    status: SyncStatus,
    #[serde(with = "time::serde::rfc3339::option")]
    finished_at: Option<OffsetDateTime>,
}

#[derive(Serialize)]
struct Cards {
    integrations: Vec<Card>,
}

pub(super) async fn list(app: &App, tenant: &TenantId) -> Result<Response<Bytes>, ApiError> {
    let connections = app.store.list_connections(tenant).await?;
    let mut cards = Vec::with_capacity(Provider::ALL.len());
    for provider in Provider::ALL {
        let connection = connections.iter().find(|c| c.provider() == provider);
        cards.push(match connection {
            Some(c) => connected_card(app, tenant, c).await?,
            None => Card {
                provider,
                name: provider.display_name(),
                kind: provider.kind(),
                status: ConnectionStatus::NotConnected,
                instance: None,
                connected_at: None,
                last_error: None,
                configured: false,
                tickets_ready: false,
                plan_mappings: 0,
                org_mappings: 0,
                last_sync: None,
            },
        });
    }
    Ok(body::respond(
        StatusCode::OK,
        &Cards {
            integrations: cards,
        },
    ))
}

/// Configuration, mappings and runs exist only while connected (revoke removes them), so only
/// connected providers cost the extra reads.
async fn connected_card(
    app: &App,
    tenant: &TenantId,
    connection: &Connection,
) -> Result<Card, ApiError> {
    let provider = connection.provider();
    let config = app.store.get_configuration(tenant, provider).await?;
    let plan_mappings = app.store.list_plan_mappings(tenant, provider).await?.len();
    let org_mappings = app.store.list_org_mappings(tenant, provider).await?.len();
    let last_sync = app
        .store
        .list_runs(tenant, provider, 1)
        .await?
        .into_iter()
        .next()
        .map(|run| LastSync {
            id: run.id,
            status: run.status,
            finished_at: run.finished_at,
        });
    Ok(Card {
        provider,
        name: provider.display_name(),
        kind: provider.kind(),
        status: connection.status,
        instance: Some(connection.instance.clone()),
        connected_at: Some(connection.connected_at),
        last_error: connection.last_error.clone(),
        configured: config.is_some(),
        tickets_ready: config.is_some_and(|c| c.settings.tickets_ready()),
        plan_mappings,
        org_mappings,
        last_sync,
    })
}
