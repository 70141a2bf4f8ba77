//! Storage of everything that is not a secret, as narrow traits per concept.

use async_trait::async_trait;
use time::{Duration, OffsetDateTime};
use ulid::Ulid;

use crate::domain::{
    Asset, AuditRecord, Configuration, Connection, IdempotencyRecord, ImportFilter, ImportKind,
    ImportState, ImportedRecord, OrgId, OrgMapping, Organization, PendingConsent, Plan, PlanId,
    PlanMapping, Provider, ProviderSettings, Repeats, SeatIntent, SyncRun, TenantId, TicketRecord,
};

/// A storage back end failed or refused a conditional write.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A conditional write lost: the item changed, already exists, or the lease is held.
    #[error("conflict: {0}")]
    Conflict(String),
    /// The back end could not be reached or throttled us; worth retrying.
    #[error("storage unavailable: {0}")]
    Unavailable(String),
    /// A listing cursor was not one we handed out.
    #[error("the cursor is not valid for this listing")]
    BadCursor,
    /// A stored item could not be read back; retrying will not help.
    #[error("stored item is unreadable: {0}")]
    Corrupt(String),
}

/// What a versioned write expects to find.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expect {
    /// Write whatever is there (last writer wins).
    Any,
    /// Create only: nothing may be stored yet.
    Absent,
    /// Replace only the version the caller read.
    Version(u64),
}

/// An opaque position in a listing, handed back to continue it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cursor(pub String);

/// One page of a listing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Page<T> {
    /// The items, in key order.
    pub items: Vec<T>,
    /// Where to continue, `None` at the end.
    pub next: Option<Cursor>,
}

/// Connections, one per tenant and provider.
#[async_trait]
pub trait ConnectionStore: Send + Sync {
    /// The tenant's connection to `provider`, if any.
    async fn get_connection(
        &self,
        tenant: &TenantId,
        provider: Provider,
    ) -> Result<Option<Connection>, StoreError>;
    /// Every connection of the tenant.
    async fn list_connections(&self, tenant: &TenantId) -> Result<Vec<Connection>, StoreError>;
    /// Writes a connection; returns it with its new version.
    async fn put_connection(
        &self,
        tenant: &TenantId,
        connection: &Connection,
        expect: Expect,
    ) -> Result<Connection, StoreError>;
    /// Deletes the connection; a missing one is fine.
    async fn delete_connection(
        &self,
        tenant: &TenantId,
        provider: Provider,
    ) -> Result<(), StoreError>;
    /// Active connections of every tenant (the scheduler's sparse index), a page at a time.
    async fn list_active_connections(
        &self,
        after: Option<&Cursor>,
        limit: usize,
    ) -> Result<Page<(TenantId, Connection)>, StoreError>;
    /// Deletes everything stored for the tenant's provider except secrets (revoke). The
    /// connection goes first so that a sync still running sees it gone and stops writing.
    async fn purge_provider(&self, tenant: &TenantId, provider: Provider)
    -> Result<(), StoreError>;
}

/// Provider configuration, versioned.
#[async_trait]
pub trait ConfigurationStore: Send + Sync {
    /// The stored configuration, if the partner saved one.
    async fn get_configuration(
        &self,
        tenant: &TenantId,
        provider: Provider,
    ) -> Result<Option<Configuration>, StoreError>;
    /// Saves settings if `expect` holds; returns the stored configuration.
    async fn put_configuration(
        &self,
        tenant: &TenantId,
        settings: &ProviderSettings,
        expect: Expect,
    ) -> Result<Configuration, StoreError>;
    /// Resets the configuration; the connection stays.
    async fn delete_configuration(
        &self,
        tenant: &TenantId,
        provider: Provider,
    ) -> Result<(), StoreError>;
}

/// The platform's plans and organizations.
#[async_trait]
pub trait PlatformStore: Send + Sync {
    /// Creates or replaces a plan.
    async fn put_plan(&self, tenant: &TenantId, plan: &Plan) -> Result<(), StoreError>;
    /// One plan.
    async fn get_plan(&self, tenant: &TenantId, id: &PlanId) -> Result<Option<Plan>, StoreError>;
    /// The tenant's plans, a page at a time.
    async fn list_plans(
        &self,
        tenant: &TenantId,
        after: Option<&Cursor>,
        limit: usize,
    ) -> Result<Page<Plan>, StoreError>;
    /// Creates or replaces an organization.
    async fn put_organization(
        &self,
        tenant: &TenantId,
        org: &Organization,
    ) -> Result<(), StoreError>;
    /// One organization.
    async fn get_organization(
        &self,
        tenant: &TenantId,
        id: &OrgId,
    ) -> Result<Option<Organization>, StoreError>;
    /// The tenant's organizations, a page at a time.
    async fn list_organizations(
        &self,
        tenant: &TenantId,
        after: Option<&Cursor>,
        limit: usize,
    ) -> Result<Page<Organization>, StoreError>;
}

/// Plan and organization mappings, one item per link (never replace-all).
#[async_trait]
pub trait MappingStore: Send + Sync {
    /// Writes a plan mapping if `expect` holds; returns it with its new version.
    async fn put_plan_mapping(
        &self,
        tenant: &TenantId,
        mapping: &PlanMapping,
        expect: Expect,
    ) -> Result<PlanMapping, StoreError>;
    /// One plan's mapping at `provider`.
    async fn get_plan_mapping(
        &self,
        tenant: &TenantId,
        provider: Provider,
        plan: &PlanId,
    ) -> Result<Option<PlanMapping>, StoreError>;
    /// Every plan mapping at `provider`.
    async fn list_plan_mappings(
        &self,
        tenant: &TenantId,
        provider: Provider,
    ) -> Result<Vec<PlanMapping>, StoreError>;
    /// Unlinks a plan; a missing link is fine.
    async fn delete_plan_mapping(
        &self,
        tenant: &TenantId,
        provider: Provider,
        plan: &PlanId,
    ) -> Result<(), StoreError>;
    /// Writes an organization mapping if `expect` holds; returns it with its new version.
    async fn put_org_mapping(
        &self,
        tenant: &TenantId,
        mapping: &OrgMapping,
        expect: Expect,
    ) -> Result<OrgMapping, StoreError>;
    /// One organization's mapping at `provider`.
    async fn get_org_mapping(
        &self,
        tenant: &TenantId,
        provider: Provider,
        org: &OrgId,
    ) -> Result<Option<OrgMapping>, StoreError>;
    /// Every organization mapping at `provider`.
    async fn list_org_mappings(
        &self,
        tenant: &TenantId,
        provider: Provider,
    ) -> Result<Vec<OrgMapping>, StoreError>;
    /// Unlinks an organization; a missing link is fine.
    async fn delete_org_mapping(
        &self,
        tenant: &TenantId,
        provider: Provider,
        org: &OrgId,
    ) -> Result<(), StoreError>;
}

/// Sync runs, newest first; they expire.
#[async_trait]
pub trait SyncRunStore: Send + Sync {
    /// Writes a run if `expect` holds; returns it with its new version.
    async fn put_run(
        &self,
        tenant: &TenantId,
        run: &SyncRun,
        expect: Expect,
    ) -> Result<SyncRun, StoreError>;
    /// One run, unless it expired.
    async fn get_run(
        &self,
        tenant: &TenantId,
        provider: Provider,
        id: Ulid,
    ) -> Result<Option<SyncRun>, StoreError>;
    /// The most recent runs, newest first.
    async fn list_runs(
        &self,
        tenant: &TenantId,
        provider: Provider,
        limit: usize,
    ) -> Result<Vec<SyncRun>, StoreError>;
}

/// A held lease: proof that this worker, and no other, works on the connection until `expires_at`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lease {
    /// What it serializes.
    pub kind: LeaseKind,
    /// The tenant.
    pub tenant: TenantId,
    /// The connection's provider.
    pub provider: Provider,
    /// Who holds it (random per acquisition).
    pub holder: String,
    /// When it lapses if not renewed.
    pub expires_at: OffsetDateTime,
}

/// What a lease serializes on one connection; each kind is its own lease.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LeaseKind {
    /// A sync run.
    Run,
    /// Spending a rotating refresh token.
    TokenRefresh,
}

/// One sync, and one token refresh, at a time per connection.
#[async_trait]
pub trait LeaseStore: Send + Sync {
    /// Takes the lease for `ttl`, or fails with [`StoreError::Conflict`] while another holds it.
    async fn acquire_lease(
        &self,
        tenant: &TenantId,
        provider: Provider,
        kind: LeaseKind,
        ttl: Duration,
    ) -> Result<Lease, StoreError>;
    /// Extends a lease this worker holds; fails with a conflict if it was lost.
    async fn renew_lease(&self, lease: &Lease, ttl: Duration) -> Result<Lease, StoreError>;
    /// Gives a lease back; releasing one already lost is fine.
    async fn release_lease(&self, lease: &Lease) -> Result<(), StoreError>;
}

/// Seat changes in flight (the journal), one item per organization.
#[async_trait]
pub trait JournalStore: Send + Sync {
    /// Records an intent before the vendor call.
    async fn put_intent(
        &self,
        tenant: &TenantId,
        provider: Provider,
        intent: &SeatIntent,
    ) -> Result<(), StoreError>;
    /// Intents still open for `provider` (left by a crash or an unknown outcome).
    async fn list_intents(
        &self,
        tenant: &TenantId,
        provider: Provider,
    ) -> Result<Vec<SeatIntent>, StoreError>;
    /// Closes an intent once the vendor is known to hold the wanted seats.
    async fn delete_intent(
        &self,
        tenant: &TenantId,
        provider: Provider,
        org: &OrgId,
    ) -> Result<(), StoreError>;
}

/// Tickets opened for platform alerts, by dedupe key.
#[async_trait]
pub trait TicketStore: Send + Sync {
    /// The ticket opened for `dedupe_key`, if any.
    async fn get_ticket(
        &self,
        tenant: &TenantId,
        provider: Provider,
        dedupe_key: &str,
    ) -> Result<Option<TicketRecord>, StoreError>;
    /// Writes the record of a dedupe key if `expect` holds (raises of one key race: every
    /// change is conditional); returns it with its new version.
    async fn put_ticket(
        &self,
        tenant: &TenantId,
        provider: Provider,
        record: &TicketRecord,
        expect: Expect,
    ) -> Result<TicketRecord, StoreError>;
    /// Counts one repeat of the alert at `at` (an atomic add: concurrent counts never conflict
    /// and none is lost); returns the repeats now counted.
    async fn count_repeat(
        &self,
        tenant: &TenantId,
        provider: Provider,
        dedupe_key: &str,
        at: OffsetDateTime,
    ) -> Result<Repeats, StoreError>;
    /// The repeats counted and not yet told to the vendor.
    async fn get_repeats(
        &self,
        tenant: &TenantId,
        provider: Provider,
        dedupe_key: &str,
    ) -> Result<Repeats, StoreError>;
    /// Takes `told` repeats off the count once a note told them; those counted meanwhile stay.
    async fn forget_repeats(
        &self,
        tenant: &TenantId,
        provider: Provider,
        dedupe_key: &str,
        told: u32,
    ) -> Result<(), StoreError>;
}

/// Pending OAuth consents, keyed by the hash of their `state`.
#[async_trait]
pub trait ConsentStore: Send + Sync {
    /// Records a consent until its `expires_at`.
    async fn put_consent(
        &self,
        state_hash: &str,
        consent: &PendingConsent,
    ) -> Result<(), StoreError>;
    /// Removes and returns the consent: of two concurrent takes, one gets it. Expired or
    /// unknown states give `None` (an expired consent is removed all the same).
    async fn take_consent(&self, state_hash: &str) -> Result<Option<PendingConsent>, StoreError>;
    /// Pending consents with their state hashes, expired ones included for a day after their
    /// `expires_at`, a page at a time: what the sweep of abandoned consents reads.
    async fn list_consents(
        &self,
        after: Option<&Cursor>,
        limit: usize,
    ) -> Result<Page<(String, PendingConsent)>, StoreError>;
}

/// Assets imported for platform organizations.
#[async_trait]
pub trait AssetStore: Send + Sync {
    /// Writes (inserts or replaces) an asset.
    async fn put_asset(&self, tenant: &TenantId, asset: &Asset) -> Result<(), StoreError>;
    /// One organization's assets from one source, by device id.
    async fn list_assets(
        &self,
        tenant: &TenantId,
        source: Provider,
        org: &OrgId,
    ) -> Result<Vec<Asset>, StoreError>;
}

/// Connect attempts whose credentials the vendor refused, per tenant, provider and clock hour.
#[async_trait]
pub trait AttemptStore: Send + Sync {
    /// Adds `delta` to the attempts counted in the hour that starts at `hour` (an atomic add);
    /// returns the count. Counts outlive a revoke and expire after their hour.
    async fn add_connect_attempts(
        &self,
        tenant: &TenantId,
        provider: Provider,
        hour: OffsetDateTime,
        delta: i64,
    ) -> Result<i64, StoreError>;
}

/// The audit trail of each tenant: kept after a revoke, expiring after the retention.
#[async_trait]
pub trait AuditStore: Send + Sync {
    /// Records a change until `expires_at`.
    async fn put_audit(
        &self,
        tenant: &TenantId,
        record: &AuditRecord,
        expires_at: OffsetDateTime,
    ) -> Result<(), StoreError>;
    /// The tenant's records, newest first, only `provider`'s when given, a page at a time.
    async fn list_audit(
        &self,
        tenant: &TenantId,
        provider: Option<Provider>,
        after: Option<&Cursor>,
        limit: usize,
    ) -> Result<Page<AuditRecord>, StoreError>;
}

/// `Idempotency-Key` records of each tenant, kept for [`crate::domain::IDEMPOTENCY_TTL`].
#[async_trait]
pub trait IdempotencyStore: Send + Sync {
    /// The record of a key (by its hash), unless it expired.
    async fn get_idempotency(
        &self,
        tenant: &TenantId,
        key_hash: &str,
    ) -> Result<Option<IdempotencyRecord>, StoreError>;
    /// Writes a key's record if `expect` holds (create-only for a new key, the version read
    /// to take over from a request that died or to store the answer); it expires at
    /// `expires_at`.
    async fn put_idempotency(
        &self,
        tenant: &TenantId,
        key_hash: &str,
        record: &IdempotencyRecord,
        expect: Expect,
        expires_at: OffsetDateTime,
    ) -> Result<IdempotencyRecord, StoreError>;
    /// Forgets a key (its request failed: a retry runs it again).
    async fn delete_idempotency(&self, tenant: &TenantId, key_hash: &str)
    -> Result<(), StoreError>;
}

/// Records imported from a vendor, a partition per tenant, provider and kind (one partition
/// key takes at most 1,000 writes per second; a full import writes faster).
#[async_trait]
pub trait ImportStore: Send + Sync {
    /// Writes (inserts or replaces) a page of records in as few round trips as the back end
    /// allows.
    async fn put_imported(
        &self,
        tenant: &TenantId,
        provider: Provider,
        records: &[ImportedRecord],
    ) -> Result<(), StoreError>;
    /// Removes records of `kind` (by company and id): deleted at the vendor, or gone from what
    /// the import keeps.
    async fn delete_imported(
        &self,
        tenant: &TenantId,
        provider: Provider,
        kind: ImportKind,
        records: &[(i64, i64)],
    ) -> Result<(), StoreError>;
    /// Records of `kind` that `filter` keeps, by company then id, a page at a time.
    async fn list_imported(
        &self,
        tenant: &TenantId,
        provider: Provider,
        kind: ImportKind,
        filter: &ImportFilter,
        after: Option<&Cursor>,
        limit: usize,
    ) -> Result<Page<ImportedRecord>, StoreError>;
    /// Hands every record of `kind` that `filter` keeps to `each`, a page at a time (never
    /// the whole kind in memory).
    async fn each_imported(
        &self,
        tenant: &TenantId,
        provider: Provider,
        kind: ImportKind,
        filter: &ImportFilter,
        each: &mut (dyn FnMut(ImportedRecord) + Send),
    ) -> Result<(), StoreError> {
        let mut after = None;
        loop {
            let page = self
                .list_imported(tenant, provider, kind, filter, after.as_ref(), 500)
                .await?;
            page.items.into_iter().for_each(&mut *each);
            match page.next {
                Some(next) => after = Some(next),
                None => return Ok(()),
            }
        }
    }
    /// Where the import of `kind` stands (the default before its first pass).
    async fn get_import_state(
        &self,
        tenant: &TenantId,
        provider: Provider,
        kind: ImportKind,
    ) -> Result<ImportState, StoreError>;
    /// Records where the import of `kind` stands if `expect` holds.
    async fn put_import_state(
        &self,
        tenant: &TenantId,
        provider: Provider,
        kind: ImportKind,
        state: &ImportState,
        expect: Expect,
    ) -> Result<ImportState, StoreError>;
}

/// Every storage capability, for wiring.
pub trait Store:
    ConnectionStore
    + ConfigurationStore
    + PlatformStore
    + MappingStore
    + SyncRunStore
    + LeaseStore
    + JournalStore
    + TicketStore
    + ConsentStore
    + AssetStore
    + AttemptStore
    + AuditStore
    + IdempotencyStore
    + ImportStore
{
}

impl<T> Store for T where
    T: ConnectionStore
        + ConfigurationStore
        + PlatformStore
        + MappingStore
        + SyncRunStore
        + LeaseStore
        + JournalStore
        + TicketStore
        + ConsentStore
        + AssetStore
        + AttemptStore
        + AuditStore
        + IdempotencyStore
        + ImportStore
{
}
