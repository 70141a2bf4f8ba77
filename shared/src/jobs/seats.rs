//! Seat sync: bring each mapped organization's seat quantity at the vendor to the platform's
//! seat count, reading in bulk and writing only where they differ.
//!
//! Autotask changes seats only by signed deltas that cannot be read back, so every write is
//! journalled first. A write whose outcome is unknown (timeout) is never repeated blindly: the
//! seats are read again and only the remaining difference is sent. An intent left by a crash
//! is settled the same way on the next run, because every run starts from a fresh read.

use std::collections::{HashMap, HashSet};

use futures::{StreamExt, stream};

use super::{JobError, session};
use crate::{
    app::App,
    domain::{ItemError, OrgId, OrgMapping, Organization, SeatIntent, SyncRun},
    ports::{SeatSync, Session, VendorError},
};

/// Writes in flight at once (Autotask allows 3 concurrent calls per endpoint).
const CONCURRENCY: usize = 3;
/// Progress is saved every this many organizations.
const PROGRESS_EVERY: u32 = 100;

enum Outcome {
    Changed,
    Unchanged,
    Failed(ItemError),
    /// Stop the run: nothing after this can succeed (revoked, credentials refused, throttled).
    Stop(ItemError, Option<VendorError>),
}

fn item_error(org: &OrgId, message: impl Into<String>, vendor: Option<&VendorError>) -> ItemError {
    ItemError {
        item: format!("org:{org}"),
        message: message.into(),
        vendor_message: vendor.and_then(|v| v.vendor_message()).map(str::to_owned),
    }
}

async fn organizations(
    app: &App,
    session: &Session,
    only: Option<&OrgId>,
) -> Result<HashMap<OrgId, Organization>, JobError> {
    let tenant = &session.tenant;
    if let Some(org) = only {
        return Ok(app
            .store
            .get_organization(tenant, org)
            .await?
            .map(|o| (o.id.clone(), o))
            .into_iter()
            .collect());
    }
    let mut all = HashMap::new();
    let mut after = None;
    loop {
        let page = app
            .store
            .list_organizations(tenant, after.as_ref(), 500)
            .await?;
        all.extend(page.items.into_iter().map(|o| (o.id.clone(), o)));
        match page.next {
            Some(next) => after = Some(next),
            None => return Ok(all),
        }
    }
}

/// Runs seat sync for the session's connection, recording progress on `run`.
/// Returns a job error only when the run could not start; item failures go on the run.
pub async fn sync(
    app: &App,
    session: &Session,
    run: &mut SyncRun,
    only: Option<&OrgId>,
) -> Result<(), JobError> {
    let provider = session.connection.provider();
    let tenant = &session.tenant;
    let seat_sync = app
        .integrations
        .get(provider)
        .and_then(|i| i.seat_sync())
        .ok_or_else(|| {
            JobError::Unsupported(format!("{} has no seat sync", provider.display_name()))
        })?;

    let mappings: Vec<OrgMapping> = match only {
        Some(org) => app
            .store
            .get_org_mapping(tenant, provider, org)
            .await?
            .into_iter()
            .collect(),
        None => app.store.list_org_mappings(tenant, provider).await?,
    };
    let orgs = organizations(app, session, only).await?;
    run.counts.total += mappings.len() as u32;
    // Company-only links (imports, tickets) have no contract service to write seats to.
    let (mappings, links_only): (Vec<OrgMapping>, Vec<OrgMapping>) =
        mappings.into_iter().partition(|m| m.target.syncs_seats());
    run.counts.done += links_only.len() as u32;
    run.counts.skipped += links_only.len() as u32;
    let mut work = Vec::with_capacity(mappings.len());
    for mapping in mappings {
        match orgs.get(&mapping.org_id) {
            Some(org) => work.push((mapping, org.seats)),
            None => record(
                run,
                Outcome::Failed(item_error(
                    &mapping.org_id,
                    "the organization no longer exists on the platform",
                    None,
                )),
            ),
        }
    }
    super::runs::save(app, tenant, run).await?;
    if work.is_empty() {
        return Ok(());
    }

    let targets: Vec<_> = work.iter().map(|(m, _)| m.target.clone()).collect();
    let current = match seat_sync.current_seats(session, &targets).await {
        Ok(current) => current,
        Err(e) => return Err(session::vendor_failed(app, session, e).await),
    };
    let pending: HashSet<OrgId> = app
        .store
        .list_intents(tenant, provider)
        .await?
        .into_iter()
        .map(|i| i.org_id)
        .collect();

    let differing = work
        .iter()
        .zip(&current)
        .filter(|((_, wanted), current)| **current != Some(*wanted))
        .count();
    let concurrency = match seat_sync.preflight(session, differing).await {
        Ok(n) => n.clamp(1, CONCURRENCY),
        Err(e) => return Err(session::vendor_failed(app, session, e).await),
    };
    let run_id = run.id;
    let pending = &pending;
    let mut outcomes = stream::iter(work.into_iter().zip(current))
        .map(|((mapping, wanted), current)| async move {
            let had_intent = pending.contains(&mapping.org_id);
            one(
                app, session, seat_sync, &mapping, wanted, current, had_intent, run_id,
            )
            .await
        })
        .buffer_unordered(concurrency);
    while let Some(outcome) = outcomes.next().await {
        if let Outcome::Stop(item, vendor) = outcome {
            record(run, Outcome::Failed(item));
            if let Some(e) = vendor {
                // Marks the connection `needs_reconnect` when the credentials were refused.
                session::vendor_failed(app, session, e).await;
            }
            // In-flight writes are dropped; their journal entries make the next run re-read.
            return Ok(());
        }
        record(run, outcome);
        if run.counts.done.is_multiple_of(PROGRESS_EVERY) {
            super::runs::save(app, tenant, run).await?;
        }
    }
    Ok(())
}

fn record(run: &mut SyncRun, outcome: Outcome) {
    run.counts.done += 1;
    match outcome {
        Outcome::Changed => run.counts.changed += 1,
        Outcome::Unchanged => run.counts.unchanged += 1,
        Outcome::Failed(e) | Outcome::Stop(e, _) => {
            run.counts.failed += 1;
            run.errors.push(e);
        }
    }
}

#[allow(clippy::too_many_arguments)]
async fn one(
    app: &App,
    session: &Session,
    seat_sync: &dyn SeatSync,
    mapping: &OrgMapping,
    wanted: u32,
    current: Option<u32>,
    had_intent: bool,
    run_id: ulid::Ulid,
) -> Outcome {
    let (tenant, provider, org) = (
        &session.tenant,
        session.connection.provider(),
        &mapping.org_id,
    );
    let forget_intent = || async {
        let _ = app.store.delete_intent(tenant, provider, org).await;
    };
    let Some(current) = current else {
        return Outcome::Failed(item_error(
            org,
            format!(
                "{} has no seat quantity for this mapping in the current period",
                provider.display_name()
            ),
            None,
        ));
    };
    if current == wanted {
        if had_intent {
            forget_intent().await;
        }
        return Outcome::Unchanged;
    }
    // A revoke deletes the connection first; a run that sees it gone writes nothing more.
    match app.store.get_connection(tenant, provider).await {
        Ok(Some(_)) => {}
        Ok(None) => {
            return Outcome::Stop(
                item_error(
                    org,
                    "the connection was revoked during the run; nothing more was written",
                    None,
                ),
                None,
            );
        }
        Err(e) => return Outcome::Failed(item_error(org, e.to_string(), None)),
    }
    let intent = SeatIntent {
        org_id: org.clone(),
        wanted,
        observed: current,
        run_id,
        created_at: app.clock.now(),
    };
    if let Err(e) = app.store.put_intent(tenant, provider, &intent).await {
        return Outcome::Failed(item_error(
            org,
            format!("could not journal the change: {e}"),
            None,
        ));
    }
    let mut from = current;
    for attempt in 0..2 {
        match seat_sync
            .set_seats(session, &mapping.target, from, wanted)
            .await
        {
            Ok(()) => {
                forget_intent().await;
                return Outcome::Changed;
            }
            Err(VendorError::OutcomeUnknown { detail }) => {
                // Read again: the change may have landed.
                match seat_sync
                    .current_seats(session, std::slice::from_ref(&mapping.target))
                    .await
                {
                    Ok(now) if now.first().copied().flatten() == Some(wanted) => {
                        forget_intent().await;
                        return Outcome::Changed;
                    }
                    Ok(now) => match now.first().copied().flatten() {
                        Some(now) if attempt == 0 => from = now,
                        _ => return Outcome::Failed(item_error(org, detail, None)),
                    },
                    Err(_) => {
                        // Leave the intent: the next run reads again before writing.
                        return Outcome::Failed(item_error(
                            org,
                            format!("{detail}; it will be checked on the next run"),
                            None,
                        ));
                    }
                }
            }
            Err(e @ VendorError::CredentialsRejected { .. }) => {
                forget_intent().await;
                return Outcome::Stop(item_error(org, e.to_string(), Some(&e)), Some(e));
            }
            Err(e @ VendorError::Throttled { .. }) => {
                forget_intent().await;
                return Outcome::Stop(item_error(org, e.to_string(), Some(&e)), Some(e));
            }
            Err(e) => {
                // Refused or unreachable before sending: nothing was applied.
                forget_intent().await;
                return Outcome::Failed(item_error(org, e.to_string(), Some(&e)));
            }
        }
    }
    Outcome::Failed(item_error(
        org,
        "the seat change could not be confirmed",
        None,
    ))
}
