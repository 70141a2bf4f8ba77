//! Imports (seed 004): a run reads each kind a page at a time and writes every page to the
//! store as it comes (never a whole kind in memory), each record linked to the platform
//! organization its company is mapped to. The first pass reads everything; later ones only
//! what changed since the last (less an overlap); a weekly pass reads everything again.

use super::{JobError, runs, session};
use crate::{
    app::App,
    domain::{
        DEFAULT_CUSTOMER_TYPES, ImportFilter, ImportKind, ImportState, ImportedRecord, SyncRun,
    },
    ports::{COMPANIES_PER_QUERY, Expect, ImportQuery, Session, StoreError},
};

/// Imports `kind` for the session's connection, counting on `run`.
pub async fn import(
    app: &App,
    session: &Session,
    run: &mut SyncRun,
    kind: ImportKind,
) -> Result<(), JobError> {
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
    let state = app.store.get_import_state(tenant, provider, kind).await?;
    let since = state.changed_since(now);
    let customer_types = DEFAULT_CUSTOMER_TYPES;
    let companies = match kind {
        ImportKind::Customers => vec![Vec::new()],
        _ => customer_ids(app, session)
            .await?
            .chunks(COMPANIES_PER_QUERY)
            .map(<[i64]>::to_vec)
            .collect(),
    };
    let mut newest = state.high_water;
    for chunk in &companies {
        let mut after = None;
        loop {
            let query = ImportQuery {
                kind,
                since,
                after,
                companies: chunk,
                customer_types: &customer_types,
            };
            let page = match importer.import_page(session, &query).await {
                Ok(page) => page,
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
            newest = newest.max(records.iter().filter_map(|r| r.modified_at).max());
            runs::save(app, tenant, run).await?;
            match (page.more, page.records.last()) {
                (true, Some(last)) => after = Some(last.id),
                _ => break,
            }
        }
    }
    let finished = ImportState {
        high_water: newest,
        full_pass_at: if since.is_none() {
            Some(now)
        } else {
            state.full_pass_at
        },
        version: state.version,
    };
    let expect = if state.version == 0 {
        Expect::Absent
    } else {
        Expect::Version(state.version)
    };
    match app
        .store
        .put_import_state(tenant, provider, kind, &finished, expect)
        .await
    {
        // Another run of this connection finished the same pass meanwhile (the lease makes it
        // rare): its state stands, ours was the same reading.
        Ok(_) | Err(StoreError::Conflict(_)) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// The company ids of every imported customer: the companies whose records the dependent
/// kinds import.
async fn customer_ids(app: &App, session: &Session) -> Result<Vec<i64>, JobError> {
    let (tenant, provider) = (&session.tenant, session.connection.provider());
    let mut ids = Vec::new();
    let mut after = None;
    let filter = ImportFilter::default();
    loop {
        let page = app
            .store
            .list_imported(
                tenant,
                provider,
                ImportKind::Customers,
                &filter,
                after.as_ref(),
                500,
            )
            .await?;
        ids.extend(page.items.iter().map(|r| r.id));
        match page.next {
            Some(next) => after = Some(next),
            None => return Ok(ids),
        }
    }
}
