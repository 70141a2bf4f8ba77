//! Imports (seed 004): a run reads each kind a page at a time and writes every page to the
//! store as it comes (never a whole kind in memory). The first pass reads everything; later
//! ones only what changed since the last (less an overlap); a weekly pass reads everything
//! again and removes what it no longer finds. Deletions the vendor logs are applied on every
//! pass.
//!
//! Customers come first (the other kinds are theirs). The other kinds are read in slices of
//! customers, several slices at once (as many pages in flight as the vendor allows), longest
//! kinds first. A pass that runs out of time or of the connection's hourly budget saves where
//! each slice stands and goes on in a queued run.

use std::{
    collections::{HashMap, HashSet},
    sync::{
        Mutex,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use futures::{StreamExt, stream};

mod removal;

use removal::{apply_deletions, customer_ids, remove_unseen};

use super::{JobError, runs, session};
use crate::{
    app::App,
    domain::{
        ImportKind, ImportResume, ImportState, ImportedRecord, ItemError, ProviderSettings, SyncRun,
    },
    metrics::{self, Metric},
    ports::{COMPANIES_PER_QUERY, Expect, ImportQuery, Importer, Session, StoreError, VendorError},
};

/// How the imports of a run ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Progress {
    /// Every pass is complete.
    Done,
    /// A pass saved its place; a run queued after this delay goes on.
    Paused(Duration),
}

/// The kinds after customers, in the order their slices start: the ones with the most
/// records first, so the short ones fill in at the end.
const LONGEST_FIRST: [ImportKind; 6] = [
    ImportKind::Tickets,
    ImportKind::Assets,
    ImportKind::Contacts,
    ImportKind::Opportunities,
    ImportKind::Agreements,
    ImportKind::Locations,
];

/// One slice being read: what each of its pages asks for.
struct Slice<'a> {
    kind: ImportKind,
    chunk: usize,
    since: Option<time::OffsetDateTime>,
    companies: Option<&'a [i64]>,
    /// Any company's records were asked for: only these customers' are kept.
    keep: Option<&'a HashSet<i64>>,
}

/// What the slices of one run share.
struct Shared<'a> {
    app: &'a App,
    session: &'a Session,
    importer: &'a dyn Importer,
    settings: ProviderSettings,
    now: time::OffsetDateTime,
    until: Instant,
    /// The run, saved after every page (one save at a time).
    run: tokio::sync::Mutex<&'a mut SyncRun>,
    /// Each kind's pass.
    places: Mutex<HashMap<ImportKind, ImportResume>>,
    /// Set once a page is read: from then on the time limit applies (every run moves on).
    moved: AtomicBool,
    /// Why the slices stop: the wait before the run goes on.
    pause: Mutex<Option<Duration>>,
    /// Kinds that failed at the vendor, with the error.
    failed: Mutex<HashMap<ImportKind, VendorError>>,
    /// The customers stored before this customers pass (to tell the new ones), and the new
    /// ones it read.
    known: Mutex<Option<HashSet<i64>>>,
    arrived: Mutex<Vec<i64>>,
}

/// Imports `kinds` for the session's connection, counting on `run` and adding each finished
/// kind to `run.kinds_done`, until every pass is done or `until` passes.
pub async fn import(
    app: &App,
    session: &Session,
    run: &mut SyncRun,
    kinds: &[ImportKind],
    until: Instant,
) -> Result<Progress, JobError> {
    let (tenant, provider) = (&session.tenant, session.connection.provider());
    let importer = app.integrations.get(provider).and_then(|i| i.importer());
    let missing = kinds
        .iter()
        .find(|k| importer.is_none_or(|i| !i.import_kinds().contains(k)));
    if let Some(kind) = missing {
        return Err(JobError::Unsupported(format!(
            "{} does not import {}",
            provider.display_name(),
            kind.as_str()
        )));
    }
    let Some(importer) = importer else {
        return Ok(Progress::Done);
    };
    let settings = app
        .store
        .get_configuration(tenant, provider)
        .await?
        .map_or_else(|| ProviderSettings::defaults(provider), |c| c.settings);
    let shared = Shared {
        app,
        session,
        importer,
        settings,
        now: app.clock.now(),
        until,
        run: tokio::sync::Mutex::new(run),
        places: Mutex::default(),
        moved: AtomicBool::new(false),
        pause: Mutex::default(),
        failed: Mutex::default(),
        known: Mutex::default(),
        arrived: Mutex::default(),
    };
    if kinds.contains(&ImportKind::Customers) {
        shared.passes(&[ImportKind::Customers]).await?;
        if let Some(wait) = shared.paused() {
            return Ok(Progress::Paused(wait));
        }
    }
    let others: Vec<ImportKind> = LONGEST_FIRST
        .into_iter()
        .filter(|k| kinds.contains(k))
        .collect();
    if !others.is_empty() {
        shared.passes(&others).await?;
    }
    Ok(shared.paused().map_or(Progress::Done, Progress::Paused))
}

impl Shared<'_> {
    fn paused(&self) -> Option<Duration> {
        *self.pause.lock().expect("pause lock")
    }

    /// Runs the passes of `kinds` together: their slices side by side, as many at once as
    /// the vendor allows; then finishes (or saves the place of) each kind.
    async fn passes(&self, kinds: &[ImportKind]) -> Result<(), JobError> {
        let (tenant, provider) = (&self.session.tenant, self.session.connection.provider());
        let mut states = HashMap::new();
        let customers_pass = kinds == [ImportKind::Customers];
        let customers_state = self
            .app
            .store
            .get_import_state(tenant, provider, ImportKind::Customers)
            .await?;
        // Before a first customers pass every customer is new, and every kind's first pass
        // reads them all anyway: the stored ones are read only when they tell something.
        let stored_customers = if customers_pass && customers_state.last_pass_at.is_none() {
            Vec::new()
        } else {
            customer_ids(self.app, self.session).await?
        };
        if customers_pass && customers_state.last_pass_at.is_some() {
            *self.known.lock().expect("known lock") =
                Some(stored_customers.iter().copied().collect());
        }
        let customers = (!customers_pass).then_some(stored_customers);
        let mut slices = Vec::new();
        for kind in kinds {
            let state = self
                .app
                .store
                .get_import_state(tenant, provider, *kind)
                .await?;
            let place = state.resume.clone().unwrap_or_else(|| {
                let since = state.changed_since(self.now);
                // A full pass asks for each slice of customers' records; a pass over what
                // changed asks for any company's, a page or two, and keeps the customers',
                // and reads the customers new since the kind's last pass in full.
                let slices = customers.as_deref().filter(|_| since.is_none());
                let new = match (since, &customers) {
                    (Some(_), Some(_)) => customers_state.customers_new_since(state.last_pass_at),
                    _ => Vec::new(),
                };
                ImportResume::start(
                    since,
                    self.now,
                    state.high_water,
                    slices,
                    &new,
                    COMPANIES_PER_QUERY,
                )
            });
            slices.extend(
                place
                    .chunks
                    .iter()
                    .enumerate()
                    .filter(|(_, c)| !c.done)
                    .map(|(i, _)| (*kind, i)),
            );
            self.places
                .lock()
                .expect("places lock")
                .insert(*kind, place);
            states.insert(*kind, state);
        }
        let customers = customers.unwrap_or_default();
        let results: Vec<Result<(), JobError>> = stream::iter(slices)
            .map(|(kind, chunk)| self.slice(kind, chunk, &customers))
            .buffer_unordered(self.importer.pages_in_flight().max(1))
            .collect()
            .await;
        results.into_iter().collect::<Result<(), JobError>>()?;
        for kind in kinds {
            self.settle(*kind, &states[kind]).await?;
        }
        Ok(())
    }

    /// Reads one slice of `kind`'s pass page by page, writing each page while the next one
    /// is on its way.
    async fn slice(
        &self,
        kind: ImportKind,
        chunk: usize,
        customers: &[i64],
    ) -> Result<(), JobError> {
        let (since, first, last, mut after, listed) = {
            let places = self.places.lock().expect("places lock");
            let c = &places[&kind].chunks[chunk];
            (
                places[&kind].since,
                c.first,
                c.last,
                c.after,
                c.companies.clone(),
            )
        };
        // Customers new to the kind: all their records, whatever the pass reads.
        let since = if listed.is_some() { None } else { since };
        let companies: Vec<i64> = listed.unwrap_or_else(|| {
            customers
                .iter()
                .copied()
                .filter(|id| (first..=last).contains(id))
                .collect()
        });
        // The whole range: any company's records, the customers' kept.
        let any_company = kind != ImportKind::Customers && (first, last) == (i64::MIN, i64::MAX);
        let keep: HashSet<i64> = if any_company {
            customers.iter().copied().collect()
        } else {
            HashSet::new()
        };
        let slice = Slice {
            kind,
            chunk,
            since,
            companies: (!any_company).then_some(companies.as_slice()),
            keep: any_company.then_some(&keep),
        };
        if !self.may_go_on(kind) {
            return Ok(());
        }
        let mut fetched = self.fetch(&slice, after).await;
        loop {
            let page = match fetched {
                Ok(page) => page,
                Err(e) => return self.failed_at_vendor(kind, e).await,
            };
            let more = page.more && !page.records.is_empty();
            after = page.records.last().map(|r| r.id).or(after);
            let stored = self.store(&slice, page, after, more);
            if !(more && self.may_go_on(kind)) {
                return stored.await;
            }
            let (stored, next) = tokio::join!(stored, self.fetch(&slice, after));
            stored?;
            fetched = next;
        }
    }

    /// Whether a slice of `kind` reads another page: not once the run pauses or the kind
    /// failed; not past the run's time once something was read (which pauses the run).
    fn may_go_on(&self, kind: ImportKind) -> bool {
        if self.paused().is_some() || self.failed.lock().expect("failed lock").contains_key(&kind) {
            return false;
        }
        if self.moved.load(Ordering::Relaxed) && Instant::now() >= self.until {
            self.pause_for(Duration::ZERO);
            return false;
        }
        true
    }

    async fn fetch(
        &self,
        slice: &Slice<'_>,
        after: Option<i64>,
    ) -> Result<crate::ports::ImportPage, VendorError> {
        let query = ImportQuery {
            kind: slice.kind,
            since: slice.since,
            after,
            companies: slice.companies,
            settings: &self.settings,
            now: self.now,
        };
        self.importer.import_page(self.session, &query).await
    }

    /// A page the vendor would not give: throttled for long, the run goes on later; refused,
    /// the kind fails (the others go on); credentials refused, the run stops.
    async fn failed_at_vendor(&self, kind: ImportKind, e: VendorError) -> Result<(), JobError> {
        if let VendorError::Throttled {
            retry_after_secs, ..
        } = e
        {
            self.pause_for(Duration::from_secs(retry_after_secs));
            return Ok(());
        }
        match session::vendor_failed(self.app, self.session, e).await {
            JobError::Vendor(e) => {
                self.failed.lock().expect("failed lock").insert(kind, e);
                Ok(())
            }
            other => Err(other),
        }
    }

    /// Writes a page and moves the slice's place past it.
    async fn store(
        &self,
        slice: &Slice<'_>,
        page: crate::ports::ImportPage,
        after: Option<i64>,
        more: bool,
    ) -> Result<(), JobError> {
        let (tenant, provider) = (&self.session.tenant, self.session.connection.provider());
        let kind = slice.kind;
        let records: Vec<ImportedRecord> = page
            .records
            .into_iter()
            .filter(|r| slice.keep.is_none_or(|keep| keep.contains(&r.company_id)))
            .map(|r| ImportedRecord {
                kind,
                id: r.id,
                company_id: r.company_id,
                // Links are resolved when listed, so a later link shows at once.
                org_id: None,
                active: r.active,
                modified_at: r.modified_at,
                fields: r.fields,
                imported_at: self.now,
            })
            .collect();
        self.app
            .store
            .put_imported(tenant, provider, &records)
            .await?;
        self.moved.store(true, Ordering::Relaxed);
        if let Some(known) = self.known.lock().expect("known lock").as_ref()
            && kind == ImportKind::Customers
        {
            self.arrived.lock().expect("arrived lock").extend(
                records
                    .iter()
                    .map(|r| r.id)
                    .filter(|id| !known.contains(id)),
            );
        }
        {
            let mut places = self.places.lock().expect("places lock");
            let place = places.get_mut(&kind).expect("a place per kind");
            place.newest = place
                .newest
                .max(records.iter().filter_map(|r| r.modified_at).max());
            let c = &mut place.chunks[slice.chunk];
            c.after = after;
            c.done = !more;
        }
        let n = u32::try_from(records.len()).unwrap_or(u32::MAX);
        metrics::count(
            Metric::RecordsImported,
            &[("vendor", provider.as_str()), ("kind", kind.as_str())],
            u64::from(n),
        );
        let mut guard = self.run.lock().await;
        let run: &mut SyncRun = &mut guard;
        for counts in [
            &mut run.counts,
            run.by_kind.entry(kind.sync_kind()).or_default(),
        ] {
            counts.total += n;
            counts.done += n;
            counts.changed += n;
        }
        runs::save(self.app, tenant, run).await?;
        Ok(())
    }

    fn pause_for(&self, wait: Duration) {
        let mut pause = self.pause.lock().expect("pause lock");
        *pause = Some(pause.map_or(wait, |w| w.max(wait)));
    }

    /// After the slices: a kind that failed is reported; one whose slices are all read is
    /// finished (what a full pass did not see goes, the deletion log is applied, the next
    /// pass starts from the newest stamp); one that paused keeps its place.
    async fn settle(&self, kind: ImportKind, before: &ImportState) -> Result<(), JobError> {
        let failed = self.failed.lock().expect("failed lock").remove(&kind);
        if let Some(e) = failed {
            let mut run = self.run.lock().await;
            run.counts.failed += 1;
            run.by_kind.entry(kind.sync_kind()).or_default().failed += 1;
            run.errors.push(ItemError {
                item: format!("import:{}", kind.as_str()),
                message: e.to_string(),
                vendor_message: e.vendor_message().map(str::to_owned),
            });
            run.kinds_done.push(kind.sync_kind());
            return Ok(());
        }
        let place = self.places.lock().expect("places lock")[&kind].clone();
        let mut new_customers = before.clone();
        if kind == ImportKind::Customers {
            let arrived = std::mem::take(&mut *self.arrived.lock().expect("arrived lock"));
            new_customers.add_new_customers(&arrived, place.started_at);
        }
        if !place.is_done() {
            let paused = ImportState {
                resume: Some(place),
                ..new_customers
            };
            return save_state(self.app, self.session, kind, before, paused).await;
        }
        let mut run = self.run.lock().await;
        // Before a kind's first pass nothing was stored: nothing can be unseen.
        if place.since.is_none() && before.last_pass_at.is_some() {
            remove_unseen(self.app, self.session, kind, place.started_at, &mut run).await?;
        }
        let deletion_log = apply_deletions(
            self.app,
            self.session,
            self.importer,
            kind,
            before.deletion_log,
            &mut run,
        )
        .await?;
        let finished = ImportState {
            high_water: place.newest,
            full_pass_at: if place.since.is_none() {
                Some(place.started_at)
            } else {
                before.full_pass_at
            },
            last_pass_at: Some(place.started_at),
            new_customers: new_customers.new_customers,
            deletion_log,
            resume: None,
            version: before.version,
        };
        save_state(self.app, self.session, kind, before, finished).await?;
        run.kinds_done.push(kind.sync_kind());
        runs::save(self.app, &self.session.tenant, &mut run).await?;
        Ok(())
    }
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
