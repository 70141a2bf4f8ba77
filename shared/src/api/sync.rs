//! "Sync now", run progress, platform alerts as tickets, and opportunities from the platform.

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use serde::{Deserialize, Serialize};
use ulid::Ulid;

use super::{
    ApiError,
    audit::{self, NOTHING},
    body, capabilities,
    routes::Params,
    vendor,
};
use crate::{
    app::App,
    domain::{
        Alert, AuditAction, FieldError, OpportunityAction, OpportunityRequest, Provider,
        ProviderKind, SyncKind, SyncRun, SyncTrigger, TenantId,
    },
    jobs::{opportunities, runs, tickets},
};

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct SyncBody {
    #[serde(default)]
    kinds: Option<Vec<SyncKind>>,
}

fn default_kinds(provider: Provider) -> Vec<SyncKind> {
    match provider.kind() {
        ProviderKind::Psa => vec![SyncKind::Seats],
        ProviderKind::Rmm => vec![SyncKind::Assets],
    }
}

/// Starts a run now: 202 with the run (queued, or already finished when there is no queue).
pub(super) async fn start(
    app: &App,
    tenant: &TenantId,
    provider: Provider,
    req: &Request<Bytes>,
) -> Result<Response<Bytes>, ApiError> {
    let body: SyncBody = if req.body().is_empty() {
        SyncBody::default()
    } else {
        body::json(req)?
    };
    let kinds = body.kinds.unwrap_or_else(|| default_kinds(provider));
    if kinds.is_empty() {
        return Err(ApiError::bad_field("kinds", "must name at least one kind"));
    }
    let syncs = app
        .integrations
        .get(provider)
        .map(capabilities::syncable_kinds)
        .unwrap_or_default();
    if let Some(other) = kinds.iter().find(|k| !syncs.contains(k)) {
        let names: Vec<&str> = syncs.iter().map(|k| k.as_str()).collect();
        return Err(ApiError::Validation(vec![FieldError::new(
            "kinds",
            format!(
                "{} does not sync {}; it syncs {}",
                provider.display_name(),
                other.as_str(),
                names.join(", ")
            ),
        )]));
    }
    vendor::open(app, tenant, provider).await?;
    if kinds.contains(&SyncKind::Seats) && !runs::seat_sync_on(app, tenant, provider).await? {
        return Err(ApiError::Conflict(format!(
            "seat sync is off: turn on \"sync seat quantity\" in the {} configuration first",
            provider.display_name()
        )));
    }
    let run = runs::new_run(app, provider, kinds, SyncTrigger::Manual);
    let run = runs::start(app, tenant, run, None).await?;
    let asked = serde_json::json!({"kinds": run.kinds});
    let (action, target) = (AuditAction::Sync, Some(run.id.to_string()));
    audit::record(
        app,
        tenant,
        Some(provider),
        action,
        target.as_deref(),
        &NOTHING,
        &asked,
    )
    .await;
    Ok(body::respond(StatusCode::ACCEPTED, &run))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RunsQuery {
    limit: Option<usize>,
}

#[derive(Serialize)]
struct Runs {
    items: Vec<SyncRun>,
}

pub(super) async fn list(
    app: &App,
    tenant: &TenantId,
    provider: Provider,
    req: &Request<Bytes>,
) -> Result<Response<Bytes>, ApiError> {
    let q: RunsQuery = body::query(req)?;
    let limit = q.limit.unwrap_or(20);
    if !(1..=100).contains(&limit) {
        return Err(ApiError::bad_field("limit", "must be between 1 and 100"));
    }
    let items = app.store.list_runs(tenant, provider, limit).await?;
    Ok(body::respond(StatusCode::OK, &Runs { items }))
}

pub(super) async fn get(
    app: &App,
    tenant: &TenantId,
    provider: Provider,
    params: &Params,
) -> Result<Response<Bytes>, ApiError> {
    let id = body::path_param(params, "run_id", |s| s.parse::<Ulid>())?;
    match app.store.get_run(tenant, provider, id).await? {
        Some(run) => Ok(body::respond(StatusCode::OK, &run)),
        None => Err(ApiError::NotFound(format!("no run {id}"))),
    }
}

/// A platform alert: 201 when it opened a ticket, 200 when it added a note to the open one.
pub(super) async fn ticket(
    app: &App,
    tenant: &TenantId,
    provider: Provider,
    req: &Request<Bytes>,
) -> Result<Response<Bytes>, ApiError> {
    vendor::capability(app, provider, "tickets", |i| i.ticket_desk())?;
    let alert: Alert = body::json(req)?;
    let outcome = tickets::raise(app, tenant, provider, &alert).await?;
    let status = match outcome.action {
        tickets::TicketAction::Opened => StatusCode::CREATED,
        tickets::TicketAction::Noted | tickets::TicketAction::Coalesced => StatusCode::OK,
    };
    Ok(body::respond(status, &outcome))
}

/// `POST /v1/integrations/{provider}/opportunities`: 201 with a new opportunity, 200 with the
/// open one an earlier raise of the same dedupe key created.
pub(super) async fn opportunity(
    app: &App,
    tenant: &TenantId,
    provider: Provider,
    req: &Request<Bytes>,
) -> Result<Response<Bytes>, ApiError> {
    vendor::capability(app, provider, "opportunities", |i| i.opportunity_desk())?;
    let request: OpportunityRequest = body::json(req)?;
    let outcome = opportunities::raise(app, tenant, provider, &request).await?;
    let status = match outcome.action {
        OpportunityAction::Created => StatusCode::CREATED,
        OpportunityAction::Existing => StatusCode::OK,
    };
    Ok(body::respond(status, &outcome))
}
