//! What an import removes: the records the vendor's deletion log names, and after a full
//! pass the ones it no longer found (unless that is nearly all of them); and the reads of the
//! stored records both need.

use std::collections::HashSet;

use super::super::{JobError, session};
use crate::{
    app::App,
    domain::{ImportFilter, ImportKind, ImportedRecord, ItemError, SyncRun},
    ports::{Importer, Session},
};

/// A full pass leaves records it did not see alone when they are this share of the stored
/// ones or more (and more than one): a permission taken from the API user looks like mass
/// deletion, and stale records are better than lost ones.
const MASS_REMOVAL_SHARE: f64 = 0.9;

/// Removes the records the vendor's deletion log names since `position`; returns the new
/// position.
pub(super) async fn apply_deletions(
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
pub(super) async fn remove_unseen(
    app: &App,
    session: &Session,
    kind: ImportKind,
    started_at: time::OffsetDateTime,
    run: &mut SyncRun,
) -> Result<(), JobError> {
    let mut all = 0;
    let unseen = stored(app, session, kind, |r| {
        all += 1;
        r.imported_at < started_at
    })
    .await?;
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
    let n = u32::try_from(records.len()).unwrap_or(u32::MAX);
    run.counts.changed += n;
    run.by_kind.entry(kind.sync_kind()).or_default().changed += n;
    Ok(())
}

/// The (company, id) of every stored record of `kind` that `keep` keeps.
async fn stored(
    app: &App,
    session: &Session,
    kind: ImportKind,
    mut keep: impl FnMut(&ImportedRecord) -> bool + Send,
) -> Result<Vec<(i64, i64)>, JobError> {
    let (tenant, provider) = (&session.tenant, session.connection.provider());
    let mut out = Vec::new();
    app.store
        .each_imported(tenant, provider, kind, &ImportFilter::default(), &mut |r| {
            if keep(&r) {
                out.push((r.company_id, r.id));
            }
        })
        .await?;
    Ok(out)
}

/// The company ids of every imported customer, in order: the companies whose records the
/// other kinds import.
pub(super) async fn customer_ids(app: &App, session: &Session) -> Result<Vec<i64>, JobError> {
    let mut ids: Vec<i64> = stored(app, session, ImportKind::Customers, |_| true)
        .await?
        .into_iter()
        .map(|(_, id)| id)
        .collect();
    ids.sort_unstable();
    Ok(ids)
}
