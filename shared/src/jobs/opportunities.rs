//! The platform raises a sales opportunity on an organization's linked company (seed 004):
//! one per dedupe key while it is open. Identical raises arrive side by side (a portal
//! double-click, an event delivered twice), so the dedupe key's record is claimed with the
//! same conditional write as an alert's ticket before the vendor is asked; the claim holder
//! answers the open opportunity it finds or creates one, and the others wait their turn and
//! find it (never answering from the record alone: the one it names may have closed).

use super::{
    JobError, session,
    tickets::{Claimed, Key, PATIENCE, retry_pause},
};
use crate::{
    app::App,
    domain::{
        OpportunityAction, OpportunityOutcome, OpportunityRequest, Provider, TenantId, TicketRecord,
    },
    metrics::{self, Metric},
};

/// Raises `request` at `provider`.
pub async fn raise(
    app: &App,
    tenant: &TenantId,
    provider: Provider,
    request: &OpportunityRequest,
) -> Result<OpportunityOutcome, JobError> {
    let outcome = raise_for_tenant(app, tenant, provider, request);
    let outcome = crate::context::for_tenant(tenant, outcome).await?;
    let action = match outcome.action {
        OpportunityAction::Created => "created",
        OpportunityAction::Existing => "existing",
    };
    metrics::count(
        Metric::Opportunities,
        &[("vendor", provider.as_str()), ("outcome", action)],
        1,
    );
    Ok(outcome)
}

async fn raise_for_tenant(
    app: &App,
    tenant: &TenantId,
    provider: Provider,
    request: &OpportunityRequest,
) -> Result<OpportunityOutcome, JobError> {
    request.validate().map_err(JobError::Invalid)?;
    let desk = app
        .integrations
        .get(provider)
        .and_then(|i| i.opportunity_desk())
        .ok_or_else(|| {
            JobError::Unsupported(format!("{} has no opportunities", provider.display_name()))
        })?;
    let connection = session::usable_connection(app, tenant, provider).await?;
    let mapping = session::org_mapping(app, tenant, provider, &request.org_id).await?;
    let config = app
        .store
        .get_configuration(tenant, provider)
        .await?
        .filter(|c| c.settings.opportunities_ready())
        .ok_or_else(|| {
            JobError::Precondition(format!(
                "choose the opportunity owner and stage in the {} configuration first",
                provider.display_name()
            ))
        })?;
    // Apart from alerts' keys: theirs cannot contain '#'.
    let stored_key = format!("opportunity#{}", request.dedupe_key);
    let key = Key {
        app,
        tenant,
        provider,
        dedupe_key: &stored_key,
        // Every raise asks the vendor whether the opportunity is still open.
        window: time::Duration::ZERO,
        counts_repeats: false,
    };
    // Another raise holding the claim may be finding the known opportunity closed and
    // creating the next one: wait for it, then ask again.
    let started = std::time::Instant::now();
    let mut attempt = 0;
    let claimed = loop {
        match key.claim_or_coalesce().await? {
            Claimed::Held(record) => break record,
            Claimed::Coalesced(_) if started.elapsed() < PATIENCE => {
                tokio::time::sleep(retry_pause(attempt)).await;
                attempt += 1;
            }
            Claimed::Coalesced(_) => return Err(JobError::KeyInFlight),
        }
    };
    let holder = claimed
        .claim
        .as_ref()
        .map(|c| c.holder.clone())
        .unwrap_or_default();
    let work = async {
        let session = session::with_credentials(app, tenant, connection).await?;
        let vendor = |e| async { session::vendor_failed(app, &session, e).await };
        // The record's vendor id is the opportunity's.
        if let Some(id) = claimed.ticket_id {
            match desk.is_open(&session, id).await {
                Ok(true) => {
                    return Ok(OpportunityOutcome {
                        opportunity_id: id,
                        action: OpportunityAction::Existing,
                    });
                }
                Ok(false) => {}
                Err(e) => return Err(vendor(e).await),
            }
        }
        // A create whose answer was lost left an open opportunity: adopt it, not a twin.
        let id = match desk.find_open(&session, &mapping.target, request).await {
            Ok(Some(id)) => id,
            Ok(None) => match desk
                .create(&session, &mapping.target, &config.settings, request)
                .await
            {
                Ok(id) => id,
                Err(e) => return Err(vendor(e).await),
            },
            Err(e) => return Err(vendor(e).await),
        };
        Ok(OpportunityOutcome {
            opportunity_id: id,
            action: OpportunityAction::Created,
        })
    }
    .await;
    let now = app.clock.now();
    match work {
        Ok(outcome) => {
            key.settle(&holder, |fresh| match outcome.action {
                OpportunityAction::Created => fresh.opened(outcome.opportunity_id, now),
                OpportunityAction::Existing => fresh.released(),
            })
            .await?;
            Ok(outcome)
        }
        Err(e) => {
            if let Err(release) = key.settle(&holder, TicketRecord::released).await {
                tracing::warn!(error = %release, "could not release an opportunity claim; it lapses by itself");
            }
            Err(e)
        }
    }
}
