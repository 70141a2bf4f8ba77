//! The life of a sync run: queued, running under the connection's lease, finished.

use time::Duration;
use ulid::Ulid;

use super::{JobError, assets, imports, seats, session};
use crate::{
    app::App,
    domain::{
        ImportKind, ItemError, OrgId, Provider, SyncCounts, SyncKind, SyncRun, SyncStatus,
        SyncTrigger, TenantId,
    },
    metrics::{self, Metric},
    ports::{Expect, LeaseKind, RunRequest, Session, StoreError},
};

/// How long a run may hold its connection's lease without finishing.
pub const LEASE_TTL: Duration = Duration::minutes(15);
/// How long a run that goes on waits when another holds the lease.
const BUSY_RETRY: std::time::Duration = std::time::Duration::from_secs(60);
/// How long run records are kept.
pub const RETENTION: Duration = Duration::days(30);

/// A new queued run.
pub fn new_run(
    app: &App,
    provider: Provider,
    kinds: Vec<SyncKind>,
    trigger: SyncTrigger,
) -> SyncRun {
    let now = app.clock.now();
    SyncRun {
        id: Ulid::new(),
        provider,
        kinds,
        trigger,
        status: SyncStatus::Queued,
        kinds_done: Vec::new(),
        continued: 0,
        counts: SyncCounts::default(),
        by_kind: Default::default(),
        errors: Vec::new(),
        created_at: now,
        started_at: None,
        finished_at: None,
        expires_at: now + RETENTION,
        version: 0,
    }
}

/// Saves progress of a run this worker owns. Fails with a conflict once the run record is
/// gone (a revoke purged it), which stops the run.
pub async fn save(app: &App, tenant: &TenantId, run: &mut SyncRun) -> Result<(), StoreError> {
    *run = app
        .store
        .put_run(tenant, run, Expect::Version(run.version))
        .await?;
    Ok(())
}

/// Records a run and hands it to the queue (or, without one, runs it here and now).
pub async fn start(
    app: &App,
    tenant: &TenantId,
    run: SyncRun,
    org: Option<OrgId>,
) -> Result<SyncRun, JobError> {
    let run = app.store.put_run(tenant, &run, Expect::Absent).await?;
    let request = RunRequest {
        tenant: tenant.clone(),
        provider: run.provider,
        run_id: Some(run.id),
        trigger: run.trigger,
        org,
    };
    match &app.queue {
        Some(queue) => {
            if let Err(e) = queue.enqueue(&request, std::time::Duration::ZERO).await {
                let failed = finish(run, SyncStatus::Failed, Some(e.to_string()), app);
                app.store.put_run(tenant, &failed, Expect::Any).await?;
                return Err(e.into());
            }
            Ok(run)
        }
        None => match execute(app, &request).await {
            Ok(run) => Ok(run),
            Err(JobError::Busy) => fail_busy(app, &request).await.map(|r| r.unwrap_or(run)),
            Err(e) => Err(e),
        },
    }
}

/// Marks a queued run as not run because another held the lease; returns it. Requests
/// without a run record (scheduled) have nothing to mark.
pub async fn fail_busy(app: &App, request: &RunRequest) -> Result<Option<SyncRun>, JobError> {
    let Some(id) = request.run_id else {
        return Ok(None);
    };
    let run = app
        .store
        .get_run(&request.tenant, request.provider, id)
        .await?
        .ok_or(JobError::RunNotFound)?;
    // A long import that goes on waits its turn: the run holding the lease ends soon.
    if run.continued > 0
        && !run.status.is_final()
        && let Some(queue) = &app.queue
    {
        queue.enqueue(request, BUSY_RETRY).await?;
        return Ok(Some(run));
    }
    let run = finish(
        run,
        SyncStatus::Failed,
        Some(JobError::Busy.to_string()),
        app,
    );
    Ok(Some(
        app.store
            .put_run(&request.tenant, &run, Expect::Any)
            .await?,
    ))
}

fn finish(mut run: SyncRun, status: SyncStatus, error: Option<String>, app: &App) -> SyncRun {
    run.status = status;
    run.finished_at = Some(app.clock.now());
    if let Some(message) = error {
        run.errors.push(ItemError {
            item: "run".into(),
            message,
            vendor_message: None,
        });
    }
    run
}

/// Whether seat sync applies to the tenant's `provider`: it can sync seats and the partner
/// turned "sync seat quantity" on.
pub async fn seat_sync_on(
    app: &App,
    tenant: &TenantId,
    provider: Provider,
) -> Result<bool, JobError> {
    if app
        .integrations
        .get(provider)
        .and_then(|i| i.seat_sync())
        .is_none()
    {
        return Ok(false);
    }
    Ok(app
        .store
        .get_configuration(tenant, provider)
        .await?
        .is_some_and(|c| c.settings.sync_seats()))
}

/// What a scheduled or event run of `provider` syncs; empty when there is nothing to do.
async fn automatic_kinds(
    app: &App,
    tenant: &TenantId,
    provider: Provider,
) -> Result<Vec<SyncKind>, JobError> {
    let mut kinds = Vec::new();
    if seat_sync_on(app, tenant, provider).await? {
        kinds.push(SyncKind::Seats);
    }
    let integration = app.integrations.get(provider);
    let settings = app
        .store
        .get_configuration(tenant, provider)
        .await?
        .map(|c| c.settings);
    // NinjaOne imports assets on every scheduled run unless the partner turned it off.
    let turned_off = settings.as_ref().is_some_and(
        |s| matches!(s, crate::domain::ProviderSettings::Ninjaone(n) if !n.import_assets),
    );
    if integration.and_then(|i| i.asset_source()).is_some() && !turned_off {
        kinds.push(SyncKind::Assets);
    }
    // The imports the partner chose to repeat, customers first (the others are theirs).
    if let Some(importer) = integration.and_then(|i| i.importer()) {
        let chosen = settings.as_ref().map_or(&[][..], |s| s.scheduled_imports());
        kinds.extend(
            ImportKind::ALL
                .into_iter()
                .filter(|k| chosen.contains(k) && importer.import_kinds().contains(k))
                .map(ImportKind::sync_kind),
        );
    }
    Ok(kinds)
}

/// Executes a run under the connection's lease. A run already finished is returned as it is
/// (queues deliver at least once); [`JobError::Busy`] when another run holds the lease, in
/// which case a scheduled request creates no run record at all; [`JobError::Precondition`]
/// when a scheduled or event request finds nothing to sync.
pub async fn execute(app: &App, request: &RunRequest) -> Result<SyncRun, JobError> {
    // Boxed: a run's future (every kind's) is large for a worker thread's stack.
    let work = Box::pin(execute_for_tenant(app, request));
    crate::context::for_tenant(&request.tenant, work).await
}

async fn execute_for_tenant(app: &App, request: &RunRequest) -> Result<SyncRun, JobError> {
    let (tenant, provider) = (&request.tenant, request.provider);
    let existing = match request.run_id {
        Some(id) => {
            let run = app
                .store
                .get_run(tenant, provider, id)
                .await?
                .ok_or(JobError::RunNotFound)?;
            if run.status.is_final() {
                return Ok(run);
            }
            Some(run)
        }
        None => None,
    };
    let lease = match app
        .store
        .acquire_lease(tenant, provider, LeaseKind::Run, LEASE_TTL)
        .await
    {
        Ok(lease) => lease,
        Err(StoreError::Conflict(_)) => return Err(JobError::Busy),
        Err(e) => return Err(e.into()),
    };
    let result = async {
        let run = match existing {
            Some(run) => run,
            None => {
                let kinds = automatic_kinds(app, tenant, provider).await?;
                if kinds.is_empty() {
                    return Err(JobError::Precondition(format!(
                        "nothing to sync for {}: seat sync is off or not configured, and no import is scheduled",
                        provider.display_name()
                    )));
                }
                let run = new_run(app, provider, kinds, request.trigger);
                app.store.put_run(tenant, &run, Expect::Absent).await?
            }
        };
        execute_leased(app, request, run).await
    }
    .await;
    if let Err(e) = app.store.release_lease(&lease).await {
        tracing::warn!(error = %e, "could not release a lease; it expires by itself");
    }
    let (run, goes_on) = result?;
    // Queued once the lease is free, so the run that goes on does not find it held.
    if let Some(wait) = goes_on {
        let next = RunRequest {
            run_id: Some(run.id),
            ..request.clone()
        };
        match &app.queue {
            Some(queue) => queue.enqueue(&next, wait).await?,
            None => {
                tokio::time::sleep(wait).await;
                return Box::pin(execute_for_tenant(app, &next)).await;
            }
        }
    }
    Ok(run)
}

/// Executes the run's kinds not done yet; with the pause after which a queued run goes on,
/// when an import saved its place.
async fn execute_leased(
    app: &App,
    request: &RunRequest,
    mut run: SyncRun,
) -> Result<(SyncRun, Option<std::time::Duration>), JobError> {
    let (tenant, provider) = (&request.tenant, request.provider);
    mark_dead_runs(app, tenant, provider, run.id).await?;
    let mut session = match session::open(app, tenant, provider).await {
        Ok(s) => s,
        Err(e) => {
            let run = finish(run, SyncStatus::Failed, Some(e.to_string()), app);
            count_finished(provider, &run);
            return Ok((app.store.put_run(tenant, &run, Expect::Any).await?, None));
        }
    };
    run.status = SyncStatus::Running;
    run.started_at = run.started_at.or(Some(app.clock.now()));
    save(app, tenant, &mut run).await?;
    let until =
        std::time::Instant::now() + std::time::Duration::from_secs(app.settings.import_work_secs);
    let mut fatal = None;
    for step in steps(app, request.provider, &run) {
        let (counts, errors, done) = (run.counts, run.errors.len(), run.kinds_done.len());
        let mut outcome = sync_step(app, request, &session, &mut run, &step, until).await;
        // Once per step, from the counts as they were: a second refusal right after a renewal
        // ends the step (the run records it) rather than renewing in a loop.
        if let Err(JobError::TokenRenewed(_)) = outcome {
            run.counts = counts;
            run.errors.truncate(errors);
            run.kinds_done.truncate(done);
            session = match session::open(app, tenant, provider).await {
                Ok(s) => s,
                Err(e) => {
                    fatal = Some(e.to_string());
                    break;
                }
            };
            outcome = sync_step(app, request, &session, &mut run, &step, until).await;
        }
        match outcome {
            Ok(imports::Progress::Done) => {
                if let Step::Kind(kind) = step {
                    run.kinds_done.push(kind);
                }
            }
            Ok(imports::Progress::Paused(wait)) => {
                run.status = SyncStatus::Queued;
                run.continued += 1;
                tracing::info!(tenant = %tenant, provider = %provider, wait_secs = wait.as_secs(), "import paused; a queued run goes on");
                return match save(app, tenant, &mut run).await {
                    // Revoked while running: nothing goes on.
                    Err(StoreError::Conflict(_)) => Ok((run, None)),
                    other => other.map(|()| (run, Some(wait))).map_err(Into::into),
                };
            }
            Err(e) => {
                tracing::warn!(tenant = %tenant, provider = %provider, error = %e, "sync kind failed");
                for kind in step.kinds() {
                    if !run.kinds_done.contains(&kind) {
                        run.kinds_done.push(kind);
                    }
                }
                fatal = Some(e.to_string());
            }
        }
    }
    let c = run.counts;
    let status = if fatal.is_some() && c.changed + c.unchanged == 0 {
        SyncStatus::Failed
    } else if fatal.is_some() || c.failed > 0 {
        if c.failed == c.total && c.total > 0 {
            SyncStatus::Failed
        } else {
            SyncStatus::Partial
        }
    } else {
        SyncStatus::Succeeded
    };
    let mut run = finish(run, status, fatal, app);
    count_finished(provider, &run);
    tracing::info!(
        tenant = %tenant, provider = %provider, run = %run.id, status = ?run.status,
        total = c.total, changed = c.changed, unchanged = c.unchanged, failed = c.failed,
        "sync run finished"
    );
    match save(app, tenant, &mut run).await {
        // Revoked while running: the record is gone and stays gone.
        Err(StoreError::Conflict(_)) => Ok((run, None)),
        other => other.map(|()| (run, None)).map_err(Into::into),
    }
}

/// A finished run in the metrics: one per kind it covered, by outcome.
fn count_finished(provider: Provider, run: &SyncRun) {
    for kind in &run.kinds {
        let dims = [
            ("vendor", provider.as_str()),
            ("kind", kind.as_str()),
            ("outcome", run.status.as_str()),
        ];
        metrics::count(Metric::Runs, &dims, 1);
    }
}

/// What a run does in one step: a kind on its own, or its imports together (their pages
/// interleave, as many in flight as the vendor allows).
enum Step {
    Kind(SyncKind),
    Imports(Vec<ImportKind>),
}

impl Step {
    fn kinds(&self) -> Vec<SyncKind> {
        match self {
            Step::Kind(kind) => vec![*kind],
            Step::Imports(kinds) => kinds.iter().map(|k| k.sync_kind()).collect(),
        }
    }
}

/// The steps of the run's kinds not done yet, in the run's order; the imports are one step,
/// where the first of them stands.
fn steps(app: &App, provider: Provider, run: &SyncRun) -> Vec<Step> {
    // NinjaOne's devices are a kind of their own; Autotask's configuration items an import.
    let devices = app
        .integrations
        .get(provider)
        .and_then(|i| i.asset_source())
        .is_some();
    let mut steps = Vec::new();
    let mut imports = Vec::new();
    for kind in run.kinds.iter().filter(|k| !run.kinds_done.contains(k)) {
        match ImportKind::of(*kind).filter(|_| !(devices && *kind == SyncKind::Assets)) {
            Some(import) => {
                if imports.is_empty() {
                    steps.push(Step::Imports(Vec::new()));
                }
                imports.push(import);
            }
            None => steps.push(Step::Kind(*kind)),
        }
    }
    for step in &mut steps {
        if let Step::Imports(kinds) = step {
            *kinds = std::mem::take(&mut imports);
        }
    }
    steps
}

async fn sync_step(
    app: &App,
    request: &RunRequest,
    session: &Session,
    run: &mut SyncRun,
    step: &Step,
    until: std::time::Instant,
) -> Result<imports::Progress, JobError> {
    let kind = match step {
        // Imports count what they store per kind, as they go.
        Step::Imports(kinds) => return imports::import(app, session, run, kinds, until).await,
        Step::Kind(kind) => *kind,
    };
    let (changed, before) = (run.counts.changed, run.counts);
    let outcome = match kind {
        SyncKind::Seats => seats::sync(app, session, run, request.org.as_ref()).await,
        SyncKind::Assets => assets::import(app, session, run).await,
        other => Err(JobError::Unsupported(format!(
            "{} does not sync {}",
            request.provider.display_name(),
            other.as_str()
        ))),
    };
    run.by_kind.insert(kind, run.counts.since(&before));
    // What the kind wrote: seat counts changed at the vendor, or devices stored from it.
    let written = u64::from(run.counts.changed.saturating_sub(changed));
    let vendor = ("vendor", request.provider.as_str());
    match kind {
        SyncKind::Seats => metrics::count(Metric::SeatChanges, &[vendor], written),
        _ => metrics::count(
            Metric::RecordsImported,
            &[vendor, ("kind", kind.as_str())],
            written,
        ),
    }
    outcome.map(|()| imports::Progress::Done)
}

/// Runs still marked running while we hold the lease died with their worker: say so.
async fn mark_dead_runs(
    app: &App,
    tenant: &TenantId,
    provider: Provider,
    current: Ulid,
) -> Result<(), JobError> {
    for run in app.store.list_runs(tenant, provider, 20).await? {
        if run.id != current && run.status == SyncStatus::Running {
            let dead = finish(
                run,
                SyncStatus::Failed,
                Some("the worker stopped before the run finished; the next run picked up".into()),
                app,
            );
            app.store.put_run(tenant, &dead, Expect::Any).await?;
        }
    }
    Ok(())
}
