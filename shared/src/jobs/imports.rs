//! Imports (seed 004): a run reads each kind a page at a time and writes every page to the
//! store as it comes (never a whole kind in memory). The first pass reads everything; later
//! ones only what changed since the last (less an overlap); a weekly pass reads everything
//! again and removes what it no longer finds. Deletions the vendor logs are applied on every
//! pass. A pass that runs out of time or of the connection's hourly budget saves its place
//! and goes on in a queued run.

use std::{collections::HashSet, time::Duration};

use super::{JobError, runs, session};
use crate::{
    app::App,
    domain::{
        Configuration, ImportFilter, ImportKind, ImportResume, ImportState, ImportedRecord,
        ItemError, ProviderSettings, SyncRun,
    },
    ports::{COMPANIES_PER_QUERY, Expect, ImportQuery, Importer, Session, StoreError, VendorError},
};

/// How a kind's import ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Progress {
    /// The pass is complete.
    Done,
    /// The pass saved its place; a run queued after this delay goes on.
    Paused(Duration),
}

/// A full pass leaves records it did not see alone when they are this share of the stored
/// ones or more (and more than one): a permission taken from the API user looks like mass
/// deletion, and stale records are better than lost ones.
const MASS_REMOVAL_SHARE: f64 = 0.9;

/// Imports `kind` for the session's connection, counting on `run`, until the pass is done or
/// `until` passes (the first page is always read, so every run moves on).
pub async fn import(
    app: &App,
    session: &Session,
    run: &mut SyncRun,
    kind: ImportKind,
    until: std::time::Instant,
) -> Result<Progress, JobError> {
    let (tenant, provider) = (&session.tenant, session.connection.provider());
    let importer = app
        .integrations
        .get(provider)
        .and_then(|i| i.importer())
        .filter(|i| i.import_kinds().contains(&kind))
        .ok_or_else(|| {
            JobError::Unsupported(format!(
                "{} does not import {}",
                provider.display_name(),
                kind.as_str()
            ))
        })?;
    let now = app.clock.now();
    let settings = app
        .store
        .get_configuration(tenant, provider)
        .await?
        .map_or_else(
            || ProviderSettings::defaults(provider),
            |c: Configuration| c.settings,
        );
    let mut state = app.store.get_import_state(tenant, provider, kind).await?;
    let mut place = state.resume.clone().unwrap_or_else(|| ImportResume {
        since: state.changed_since(now),
        started_at: now,
        chunk: 0,
        after: None,
        newest: state.high_water,
    });
    let companies: Vec<Vec<i64>> = match kind {
        ImportKind::Customers => vec![Vec::new()],
        _ => customer_ids(app, session)
            .await?
            .chunks(COMPANIES_PER_QUERY)
            .map(<[i64]>::to_vec)
            .collect(),
    };
    let mut first = true;
    while let Some(chunk) = companies.get(place.chunk as usize) {
        if !first && std::time::Instant::now() >= until {
            return pause(app, session, kind, &mut state, place, Duration::ZERO).await;
        }
        first = false;
        let query = ImportQuery {
            kind,
            since: place.since,
            after: place.after,
            companies: chunk,
            settings: &settings,
            now,
        };
        let page = match importer.import_page(session, &query).await {
            Ok(page) => page,
            Err(VendorError::Throttled {
                retry_after_secs, ..
            }) => {
                let wait = Duration::from_secs(retry_after_secs);
                return pause(app, session, kind, &mut state, place, wait).await;
            }
            Err(e) => return Err(session::vendor_failed(app, session, e).await),
        };
        let records: Vec<ImportedRecord> = page
            .records
            .iter()
            .map(|r| ImportedRecord {
                kind,
                id: r.id,
                company_id: r.company_id,
                // Links are resolved when listed, so a later link shows at once.
                org_id: None,
                active: r.active,
                modified_at: r.modified_at,
                fields: r.fields.clone(),
                imported_at: now,
            })
            .collect();
        app.store.put_imported(tenant, provider, &records).await?;
        let n = u32::try_from(records.len()).unwrap_or(u32::MAX);
        run.counts.total += n;
        run.counts.done += n;
        run.counts.changed += n;
        place.newest = place
            .newest
            .max(records.iter().filter_map(|r| r.modified_at).max());
        runs::save(app, tenant, run).await?;
        match (page.more, page.records.last()) {
            (true, Some(last)) => place.after = Some(last.id),
            _ => {
                place.chunk += 1;
                place.after = None;
            }
        }
    }
    if place.since.is_none() {
        remove_unseen(app, session, kind, place.started_at, run).await?;
    }
    state.deletion_log =
        apply_deletions(app, session, importer, kind, state.deletion_log, run).await?;
    let finished = ImportState {
        high_water: place.newest,
        full_pass_at: if place.since.is_none() {
            Some(place.started_at)
        } else {
            state.full_pass_at
        },
        resume: None,
        ..state.clone()
    };
    save_state(app, session, kind, &state, finished).await?;
    Ok(Progress::Done)
}

/// Saves the pass's place for the run that goes on after `wait`.
async fn pause(
    app: &App,
    session: &Session,
    kind: ImportKind,
    state: &mut ImportState,
    place: ImportResume,
    wait: Duration,
) -> Result<Progress, JobError> {
    let paused = ImportState {
        resume: Some(place),
        ..state.clone()
    };
    save_state(app, session, kind, state, paused).await?;
    Ok(Progress::Paused(wait))
}

async fn save_state(
    app: &App,
    session: &Session,
    kind: ImportKind,
    before: &ImportState,
    after: ImportState,
) -> Result<(), JobError> {
    let (tenant, provider) = (&session.tenant, session.connection.provider());
    let expect = if before.version == 0 {
        Expect::Absent
    } else {
        Expect::Version(before.version)
    };
    match app
        .store
        .put_import_state(tenant, provider, kind, &after, expect)
        .await
    {
        // Another run of this connection saved the same pass meanwhile (the lease makes it
        // rare): its state stands, ours was the same reading.
        Ok(_) | Err(StoreError::Conflict(_)) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// Removes the records the vendor's deletion log names since `position`; returns the new
/// position.
async fn apply_deletions(
    app: &App,
    session: &Session,
    importer: &dyn Importer,
    kind: ImportKind,
    mut position: Option<i64>,
    run: &mut SyncRun,
) -> Result<Option<i64>, JobError> {
    loop {
        let page = match importer.deletions(session, kind, position).await {
            Ok(Some(page)) => page,
            Ok(None) => return Ok(position),
            Err(e) => return Err(session::vendor_failed(app, session, e).await),
        };
        if !page.ids.is_empty() {
            let gone: HashSet<i64> = page.ids.iter().copied().collect();
            let removed = stored(app, session, kind, |r| gone.contains(&r.id)).await?;
            remove(app, session, kind, &removed, run).await?;
        }
        position = page.position.or(position);
        if !page.more {
            return Ok(position);
        }
    }
}

/// After a full pass: removes the records the pass did not see (deleted at the vendor, or
/// no longer what the partner imports), unless that is nearly all of them.
async fn remove_unseen(
    app: &App,
    session: &Session,
    kind: ImportKind,
    started_at: time::OffsetDateTime,
    run: &mut SyncRun,
) -> Result<(), JobError> {
    let all = stored(app, session, kind, |_| true).await?.len();
    let unseen = stored(app, session, kind, |r| r.imported_at < started_at).await?;
    if unseen.len() > 1 && unseen.len() as f64 >= all as f64 * MASS_REMOVAL_SHARE {
        tracing::warn!(
            kind = kind.as_str(),
            unseen = unseen.len(),
            stored = all,
            "a full pass did not see nearly all stored records; kept them"
        );
        run.errors.push(ItemError {
            item: format!("import:{}", kind.as_str()),
            message: format!(
                "a full pass did not find {} of the {all} stored records; they are kept, as a permission taken from the API user looks the same as their deletion",
                unseen.len()
            ),
            vendor_message: None,
        });
        return Ok(());
    }
    remove(app, session, kind, &unseen, run).await
}

async fn remove(
    app: &App,
    session: &Session,
    kind: ImportKind,
    records: &[(i64, i64)],
    run: &mut SyncRun,
) -> Result<(), JobError> {
    if records.is_empty() {
        return Ok(());
    }
    let (tenant, provider) = (&session.tenant, session.connection.provider());
    app.store
        .delete_imported(tenant, provider, kind, records)
        .await?;
    run.counts.changed += u32::try_from(records.len()).unwrap_or(u32::MAX);
    Ok(())
}

/// The (company, id) of every stored record of `kind` that `keep` keeps.
async fn stored(
    app: &App,
    session: &Session,
    kind: ImportKind,
    keep: impl Fn(&ImportedRecord) -> bool,
) -> Result<Vec<(i64, i64)>, JobError> {
    let (tenant, provider) = (&session.tenant, session.connection.provider());
    let mut out = Vec::new();
    let mut after = None;
    let filter = ImportFilter::default();
    loop {
        let page = app
            .store
            .list_imported(tenant, provider, kind, &filter, after.as_ref(), 500)
            .await?;
        out.extend(
            page.items
                .iter()
                .filter(|r| keep(r))
                .map(|r| (r.company_id, r.id)),
        );
        match page.next {
            Some(next) => after = Some(next),
            None => return Ok(out),
        }
    }
}

/// The company ids of every imported customer: the companies whose records the dependent
/// kinds import.
async fn customer_ids(app: &App, session: &Session) -> Result<Vec<i64>, JobError> {
    Ok(stored(app, session, ImportKind::Customers, |_| true)
        .await?
        .into_iter()
        .map(|(_, id)| id)
        .collect())
}
