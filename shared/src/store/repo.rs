//! The domain mapped onto the single-table model, once for every back end.

use std::sync::Arc;

use async_trait::async_trait;
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use serde::{Serialize, de::DeserializeOwned};
use time::{Duration, OffsetDateTime};
use ulid::Ulid;

use super::{
    keys,
    table::{Condition, Item, ItemPage, Query, Table},
};
use crate::{
    domain::{
        Asset, AuditRecord, Configuration, Connection, IdempotencyRecord, ImportFilter, ImportKind,
        ImportState, ImportedRecord, OrgId, OrgMapping, Organization, PendingConsent, Plan, PlanId,
        PlanMapping, Provider, ProviderSettings, Repeats, SeatIntent, SyncRun, TenantId,
        TicketRecord,
    },
    ports::{
        AssetStore, AttemptStore, AuditStore, Clock, ConfigurationStore, ConnectionStore,
        ConsentStore, Cursor, Expect, IdempotencyStore, ImportStore, JournalStore, Lease,
        LeaseKind, LeaseStore, MappingStore, Page, PlatformStore, StoreError, SyncRunStore,
        TicketStore,
    },
};

/// Page size used when a port method returns a whole (small) collection.
const FULL_LIST_PAGE: usize = 500;

/// A stored record. Versioned records get their version from the item, not from their body.
trait Record: Serialize + DeserializeOwned {
    fn set_version(&mut self, _version: u64) {}
}

macro_rules! versioned {
    ($($t:ty),*) => {$(
        impl Record for $t {
            fn set_version(&mut self, version: u64) {
                self.version = version;
            }
        }
    )*};
}
versioned!(
    Connection,
    Configuration,
    PlanMapping,
    OrgMapping,
    SyncRun,
    TicketRecord,
    IdempotencyRecord,
    ImportState
);
impl Record for Plan {}
impl Record for Organization {}
impl Record for SeatIntent {}
impl Record for PendingConsent {}
impl Record for Asset {}
impl Record for AuditRecord {}
impl Record for ImportedRecord {}

/// Where a record goes and what rides along with it.
struct Placement {
    pk: String,
    sk: String,
    expires_at: Option<i64>,
    active: Option<String>,
}

impl Placement {
    fn at(pk: String, sk: String) -> Self {
        Self {
            pk,
            sk,
            expires_at: None,
            active: None,
        }
    }
}

/// Every storage port over one [`Table`].
pub struct TableStore<T> {
    table: T,
    clock: Arc<dyn Clock>,
}

impl<T: Table> TableStore<T> {
    /// Wraps a table; `clock` decides what has expired.
    pub fn new(table: T, clock: Arc<dyn Clock>) -> Self {
        Self { table, clock }
    }

    /// The underlying table.
    pub fn table(&self) -> &T {
        &self.table
    }

    fn now(&self) -> i64 {
        self.clock.now().unix_timestamp()
    }

    async fn get_record<R: Record>(&self, pk: &str, sk: &str) -> Result<Option<R>, StoreError> {
        match self.table.get(pk, sk, self.now()).await? {
            Some(item) => decode(&item).map(Some),
            None => Ok(None),
        }
    }

    /// Writes `record` under `expect` and returns the version it was stored with.
    async fn put_record<R: Record>(
        &self,
        place: Placement,
        record: &R,
        expect: Expect,
    ) -> Result<u64, StoreError> {
        let now = self.now();
        let (condition, version) = match expect {
            Expect::Absent => (Condition::AbsentOrExpired, 1),
            Expect::Version(v) => (Condition::Version(v), v + 1),
            // Last writer wins; the version still moves on so readers can tell it changed.
            Expect::Any => {
                let current = self.table.get(&place.pk, &place.sk, now).await?;
                (Condition::Always, current.map_or(1, |i| i.version + 1))
            }
        };
        let body = serde_json::to_string(record)
            .map_err(|e| StoreError::Corrupt(format!("cannot encode {}: {e}", place.sk)))?;
        let item = Item {
            pk: place.pk,
            sk: place.sk,
            version,
            expires_at: place.expires_at,
            owner: None,
            active: place.active,
            body,
        };
        self.table
            .put(item, condition, now)
            .await
            .map_err(|e| match e {
                StoreError::Conflict(_) => StoreError::Conflict(match expect {
                    Expect::Absent => "the item already exists".into(),
                    Expect::Version(v) => format!("the item is no longer at version {v}"),
                    Expect::Any => "the item changed while writing".into(),
                }),
                other => other,
            })?;
        Ok(version)
    }

    /// Writes a record whose version nobody checks (journal entries, assets): one
    /// write, no read.
    async fn put_unversioned<R: Record>(
        &self,
        place: Placement,
        record: &R,
    ) -> Result<(), StoreError> {
        let body = serde_json::to_string(record)
            .map_err(|e| StoreError::Corrupt(format!("cannot encode {}: {e}", place.sk)))?;
        let item = Item {
            pk: place.pk,
            sk: place.sk,
            version: 1,
            expires_at: place.expires_at,
            owner: None,
            active: place.active,
            body,
        };
        self.table.put(item, Condition::Always, self.now()).await
    }

    async fn page_of<R: Record>(
        &self,
        pk: &str,
        prefix: &str,
        after: Option<&Cursor>,
        limit: usize,
        descending: bool,
    ) -> Result<Page<R>, StoreError> {
        let after = after.map(|c| position(prefix, c));
        let page = self
            .table
            .query(
                Query {
                    pk,
                    sk_prefix: prefix,
                    after: after.as_deref(),
                    limit: limit.max(1),
                    descending,
                },
                self.now(),
            )
            .await?;
        decode_page(page, |(_, sk)| listing_cursor(prefix, &sk))
    }

    async fn list_all<R: Record>(&self, pk: &str, prefix: &str) -> Result<Vec<R>, StoreError> {
        let mut all = Vec::new();
        let mut after = None;
        loop {
            let page: Page<R> = self
                .page_of(pk, prefix, after.as_ref(), FULL_LIST_PAGE, false)
                .await?;
            all.extend(page.items);
            match page.next {
                Some(next) => after = Some(next),
                None => return Ok(all),
            }
        }
    }

    async fn delete_item(&self, pk: &str, sk: &str) -> Result<(), StoreError> {
        self.table
            .delete(pk, sk, Condition::Always, self.now())
            .await
            .map(|_| ())
    }

    /// A page of the records under `prefix` that `keep` keeps: reads on until the page is full
    /// or the partition ends, so a filter that skips records still fills pages.
    async fn filtered_page<R: Record>(
        &self,
        pk: &str,
        prefix: &str,
        after: Option<&Cursor>,
        limit: usize,
        descending: bool,
        keep: impl Fn(&R) -> bool + Send,
    ) -> Result<Page<R>, StoreError> {
        let limit = limit.max(1);
        let mut after = after.map(|c| position(prefix, c));
        let mut items = Vec::new();
        loop {
            let page = self
                .table
                .query(
                    Query {
                        pk,
                        sk_prefix: prefix,
                        after: after.as_deref(),
                        limit: FULL_LIST_PAGE.min(limit * 4),
                        descending,
                    },
                    self.now(),
                )
                .await?;
            for item in &page.items {
                let record: R = decode(item)?;
                if keep(&record) {
                    items.push(record);
                    if items.len() == limit {
                        return Ok(Page {
                            items,
                            next: Some(Cursor(listing_cursor(prefix, &item.sk))),
                        });
                    }
                }
            }
            match page.last_key {
                Some((_, sk)) => after = Some(sk),
                None => return Ok(Page { items, next: None }),
            }
        }
    }

    /// Deletes every item of a partition, a page of deletes per batch.
    async fn delete_partition(&self, pk: &str) -> Result<(), StoreError> {
        loop {
            let page = self
                .table
                .query(
                    Query {
                        pk,
                        sk_prefix: "",
                        after: None,
                        limit: FULL_LIST_PAGE,
                        descending: false,
                    },
                    i64::MIN,
                )
                .await?;
            let done = page.last_key.is_none();
            let keys = page.items.into_iter().map(|i| (i.pk, i.sk)).collect();
            self.table.write_batch(Vec::new(), keys).await?;
            if done {
                return Ok(());
            }
        }
    }

    async fn delete_prefix(&self, pk: &str, prefix: &str) -> Result<(), StoreError> {
        loop {
            let page = self
                .table
                .query(
                    Query {
                        pk,
                        sk_prefix: prefix,
                        after: None,
                        limit: FULL_LIST_PAGE,
                        descending: false,
                    },
                    // Expired items go too: revoke leaves nothing behind.
                    i64::MIN,
                )
                .await?;
            for item in &page.items {
                self.delete_item(pk, &item.sk).await?;
            }
            if page.last_key.is_none() {
                return Ok(());
            }
        }
    }
}

fn decode<R: Record>(item: &Item) -> Result<R, StoreError> {
    let mut record: R = serde_json::from_str(&item.body)
        .map_err(|e| StoreError::Corrupt(format!("{} {}: {e}", item.pk, item.sk)))?;
    record.set_version(item.version);
    Ok(record)
}

fn decode_page<R: Record>(
    page: ItemPage,
    cursor: impl Fn((String, String)) -> String,
) -> Result<Page<R>, StoreError> {
    Ok(Page {
        items: page.items.iter().map(decode).collect::<Result<_, _>>()?,
        next: page.last_key.map(|k| Cursor(cursor(k))),
    })
}

/// A listing's cursor: the last key it returned, without the prefix every key of the listing
/// shares (a plan's id, an audit record's ULID). Any text is a position in the listing, so a
/// cursor cannot be refused, and the query stays within the prefix DynamoDB was asked for.
fn listing_cursor(prefix: &str, sk: &str) -> String {
    sk.strip_prefix(prefix).unwrap_or(sk).to_owned()
}

/// The key a listing cursor stands for.
fn position(prefix: &str, cursor: &Cursor) -> String {
    format!("{prefix}{}", cursor.0)
}

/// Cursors of internal listings (across tenants, consents): opaque.
fn encode_cursor(key: &str) -> String {
    URL_SAFE_NO_PAD.encode(key)
}

fn decode_cursor(cursor: &Cursor) -> Result<String, StoreError> {
    URL_SAFE_NO_PAD
        .decode(&cursor.0)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or(StoreError::BadCursor)
}

fn expiry(at: OffsetDateTime) -> i64 {
    at.unix_timestamp()
}

#[async_trait]
impl<T: Table> ConnectionStore for TableStore<T> {
    async fn get_connection(
        &self,
        tenant: &TenantId,
        provider: Provider,
    ) -> Result<Option<Connection>, StoreError> {
        self.get_record(&keys::tenant_pk(tenant), &keys::connection_sk(provider))
            .await
    }

    async fn list_connections(&self, tenant: &TenantId) -> Result<Vec<Connection>, StoreError> {
        self.list_all(&keys::tenant_pk(tenant), keys::CONNECTION_PREFIX)
            .await
    }

    async fn put_connection(
        &self,
        tenant: &TenantId,
        connection: &Connection,
        expect: Expect,
    ) -> Result<Connection, StoreError> {
        let mut place = Placement::at(
            keys::tenant_pk(tenant),
            keys::connection_sk(connection.provider()),
        );
        place.active = connection
            .status
            .is_active()
            .then(|| keys::ACTIVE_CONNECTIONS.to_owned());
        let version = self.put_record(place, connection, expect).await?;
        Ok(Connection {
            version,
            ..connection.clone()
        })
    }

    async fn delete_connection(
        &self,
        tenant: &TenantId,
        provider: Provider,
    ) -> Result<(), StoreError> {
        self.delete_item(&keys::tenant_pk(tenant), &keys::connection_sk(provider))
            .await
    }

    async fn list_active_connections(
        &self,
        after: Option<&Cursor>,
        limit: usize,
    ) -> Result<Page<(TenantId, Connection)>, StoreError> {
        let after = after.map(decode_cursor).transpose()?;
        let after = after
            .as_deref()
            .map(|c| c.split_once('\n').ok_or(StoreError::BadCursor))
            .transpose()?;
        let page = self
            .table
            .query_active(keys::ACTIVE_CONNECTIONS, after, limit.max(1), self.now())
            .await?;
        let mut items = Vec::with_capacity(page.items.len());
        for item in &page.items {
            let tenant = keys::tenant_of_pk(&item.pk)
                .and_then(|t| TenantId::new(t).ok())
                .ok_or_else(|| StoreError::Corrupt(format!("bad connection key {}", item.pk)))?;
            items.push((tenant, decode(item)?));
        }
        Ok(Page {
            items,
            next: page
                .last_key
                .map(|(pk, sk)| Cursor(encode_cursor(&format!("{pk}\n{sk}")))),
        })
    }

    async fn purge_provider(
        &self,
        tenant: &TenantId,
        provider: Provider,
    ) -> Result<(), StoreError> {
        let pk = keys::tenant_pk(tenant);
        self.delete_item(&pk, &keys::connection_sk(provider))
            .await?;
        for prefix in keys::provider_data_prefixes(provider) {
            self.delete_prefix(&pk, &prefix).await?;
        }
        for kind in [LeaseKind::Run, LeaseKind::TokenRefresh] {
            self.delete_item(&keys::lease_pk(tenant, provider), keys::lease_sk(kind))
                .await?;
        }
        // Imported records are the partner's customers' data (contacts are personal data): a
        // revoke leaves none, and a new connect starts from nothing.
        for kind in ImportKind::ALL {
            self.delete_partition(&keys::import_pk(tenant, provider, kind))
                .await?;
        }
        Ok(())
    }
}

#[async_trait]
impl<T: Table> ConfigurationStore for TableStore<T> {
    async fn get_configuration(
        &self,
        tenant: &TenantId,
        provider: Provider,
    ) -> Result<Option<Configuration>, StoreError> {
        self.get_record(&keys::tenant_pk(tenant), &keys::configuration_sk(provider))
            .await
    }

    async fn put_configuration(
        &self,
        tenant: &TenantId,
        settings: &ProviderSettings,
        expect: Expect,
    ) -> Result<Configuration, StoreError> {
        let mut config = Configuration {
            settings: settings.clone(),
            updated_at: self.clock.now(),
            version: 0,
        };
        let place = Placement::at(
            keys::tenant_pk(tenant),
            keys::configuration_sk(settings.provider()),
        );
        config.version = self.put_record(place, &config, expect).await?;
        Ok(config)
    }

    async fn delete_configuration(
        &self,
        tenant: &TenantId,
        provider: Provider,
    ) -> Result<(), StoreError> {
        self.delete_item(&keys::tenant_pk(tenant), &keys::configuration_sk(provider))
            .await
    }
}

#[async_trait]
impl<T: Table> PlatformStore for TableStore<T> {
    async fn put_plan(&self, tenant: &TenantId, plan: &Plan) -> Result<(), StoreError> {
        let place = Placement::at(keys::tenant_pk(tenant), keys::plan_sk(&plan.id));
        self.put_record(place, plan, Expect::Any).await.map(|_| ())
    }

    async fn get_plan(&self, tenant: &TenantId, id: &PlanId) -> Result<Option<Plan>, StoreError> {
        self.get_record(&keys::tenant_pk(tenant), &keys::plan_sk(id))
            .await
    }

    async fn list_plans(
        &self,
        tenant: &TenantId,
        after: Option<&Cursor>,
        limit: usize,
    ) -> Result<Page<Plan>, StoreError> {
        self.page_of(
            &keys::tenant_pk(tenant),
            keys::PLAN_PREFIX,
            after,
            limit,
            false,
        )
        .await
    }

    async fn put_organization(
        &self,
        tenant: &TenantId,
        org: &Organization,
    ) -> Result<(), StoreError> {
        let place = Placement::at(keys::tenant_pk(tenant), keys::org_sk(&org.id));
        self.put_record(place, org, Expect::Any).await.map(|_| ())
    }

    async fn get_organization(
        &self,
        tenant: &TenantId,
        id: &OrgId,
    ) -> Result<Option<Organization>, StoreError> {
        self.get_record(&keys::tenant_pk(tenant), &keys::org_sk(id))
            .await
    }

    async fn list_organizations(
        &self,
        tenant: &TenantId,
        after: Option<&Cursor>,
        limit: usize,
    ) -> Result<Page<Organization>, StoreError> {
        self.page_of(
            &keys::tenant_pk(tenant),
            keys::ORG_PREFIX,
            after,
            limit,
            false,
        )
        .await
    }
}

#[async_trait]
impl<T: Table> MappingStore for TableStore<T> {
    async fn put_plan_mapping(
        &self,
        tenant: &TenantId,
        mapping: &PlanMapping,
        expect: Expect,
    ) -> Result<PlanMapping, StoreError> {
        let sk = keys::plan_mapping_sk(mapping.target.provider(), &mapping.plan_id);
        let version = self
            .put_record(Placement::at(keys::tenant_pk(tenant), sk), mapping, expect)
            .await?;
        Ok(PlanMapping {
            version,
            ..mapping.clone()
        })
    }

    async fn get_plan_mapping(
        &self,
        tenant: &TenantId,
        provider: Provider,
        plan: &PlanId,
    ) -> Result<Option<PlanMapping>, StoreError> {
        self.get_record(
            &keys::tenant_pk(tenant),
            &keys::plan_mapping_sk(provider, plan),
        )
        .await
    }

    async fn list_plan_mappings(
        &self,
        tenant: &TenantId,
        provider: Provider,
    ) -> Result<Vec<PlanMapping>, StoreError> {
        self.list_all(
            &keys::tenant_pk(tenant),
            &keys::plan_mapping_prefix(provider),
        )
        .await
    }

    async fn delete_plan_mapping(
        &self,
        tenant: &TenantId,
        provider: Provider,
        plan: &PlanId,
    ) -> Result<(), StoreError> {
        self.delete_item(
            &keys::tenant_pk(tenant),
            &keys::plan_mapping_sk(provider, plan),
        )
        .await
    }

    async fn put_org_mapping(
        &self,
        tenant: &TenantId,
        mapping: &OrgMapping,
        expect: Expect,
    ) -> Result<OrgMapping, StoreError> {
        let sk = keys::org_mapping_sk(mapping.target.provider(), &mapping.org_id);
        let version = self
            .put_record(Placement::at(keys::tenant_pk(tenant), sk), mapping, expect)
            .await?;
        Ok(OrgMapping {
            version,
            ..mapping.clone()
        })
    }

    async fn get_org_mapping(
        &self,
        tenant: &TenantId,
        provider: Provider,
        org: &OrgId,
    ) -> Result<Option<OrgMapping>, StoreError> {
        self.get_record(
            &keys::tenant_pk(tenant),
            &keys::org_mapping_sk(provider, org),
        )
        .await
    }

    async fn list_org_mappings(
        &self,
        tenant: &TenantId,
        provider: Provider,
    ) -> Result<Vec<OrgMapping>, StoreError> {
        self.list_all(
            &keys::tenant_pk(tenant),
            &keys::org_mapping_prefix(provider),
        )
        .await
    }

    async fn delete_org_mapping(
        &self,
        tenant: &TenantId,
        provider: Provider,
        org: &OrgId,
    ) -> Result<(), StoreError> {
        self.delete_item(
            &keys::tenant_pk(tenant),
            &keys::org_mapping_sk(provider, org),
        )
        .await
    }
}

#[async_trait]
impl<T: Table> SyncRunStore for TableStore<T> {
    async fn put_run(
        &self,
        tenant: &TenantId,
        run: &SyncRun,
        expect: Expect,
    ) -> Result<SyncRun, StoreError> {
        let mut place = Placement::at(keys::tenant_pk(tenant), keys::run_sk(run.provider, run.id));
        place.expires_at = Some(expiry(run.expires_at));
        let version = self.put_record(place, run, expect).await?;
        Ok(SyncRun {
            version,
            ..run.clone()
        })
    }

    async fn get_run(
        &self,
        tenant: &TenantId,
        provider: Provider,
        id: Ulid,
    ) -> Result<Option<SyncRun>, StoreError> {
        self.get_record(&keys::tenant_pk(tenant), &keys::run_sk(provider, id))
            .await
    }

    async fn list_runs(
        &self,
        tenant: &TenantId,
        provider: Provider,
        limit: usize,
    ) -> Result<Vec<SyncRun>, StoreError> {
        let page: Page<SyncRun> = self
            .page_of(
                &keys::tenant_pk(tenant),
                &keys::run_prefix(provider),
                None,
                limit,
                true,
            )
            .await?;
        Ok(page.items)
    }
}

#[async_trait]
impl<T: Table> LeaseStore for TableStore<T> {
    async fn acquire_lease(
        &self,
        tenant: &TenantId,
        provider: Provider,
        kind: LeaseKind,
        ttl: Duration,
    ) -> Result<Lease, StoreError> {
        let lease = Lease {
            kind,
            tenant: tenant.clone(),
            provider,
            holder: Ulid::new().to_string(),
            expires_at: self.clock.now() + ttl,
        };
        self.write_lease(&lease, Condition::AbsentOrExpired)
            .await
            .map_err(|e| match e {
                StoreError::Conflict(_) => StoreError::Conflict(match kind {
                    LeaseKind::Run => format!("{provider} is busy: another run holds its lease"),
                    LeaseKind::TokenRefresh => {
                        format!("{provider}: another worker is renewing the tokens")
                    }
                }),
                other => other,
            })?;
        Ok(lease)
    }

    async fn renew_lease(&self, lease: &Lease, ttl: Duration) -> Result<Lease, StoreError> {
        let renewed = Lease {
            expires_at: self.clock.now() + ttl,
            ..lease.clone()
        };
        self.write_lease(&renewed, Condition::Owner(lease.holder.clone()))
            .await?;
        Ok(renewed)
    }

    async fn release_lease(&self, lease: &Lease) -> Result<(), StoreError> {
        let pk = keys::lease_pk(&lease.tenant, lease.provider);
        match self
            .table
            .delete(
                &pk,
                keys::lease_sk(lease.kind),
                Condition::Owner(lease.holder.clone()),
                self.now(),
            )
            .await
        {
            Ok(_) | Err(StoreError::Conflict(_)) => Ok(()),
            Err(e) => Err(e),
        }
    }
}

impl<T: Table> TableStore<T> {
    async fn write_lease(&self, lease: &Lease, condition: Condition) -> Result<(), StoreError> {
        let item = Item {
            pk: keys::lease_pk(&lease.tenant, lease.provider),
            sk: keys::lease_sk(lease.kind).to_owned(),
            version: 1,
            expires_at: Some(expiry(lease.expires_at)),
            owner: Some(lease.holder.clone()),
            active: None,
            body: "{}".to_owned(),
        };
        self.table.put(item, condition, self.now()).await
    }
}

#[async_trait]
impl<T: Table> JournalStore for TableStore<T> {
    async fn put_intent(
        &self,
        tenant: &TenantId,
        provider: Provider,
        intent: &SeatIntent,
    ) -> Result<(), StoreError> {
        let place = Placement::at(
            keys::tenant_pk(tenant),
            keys::intent_sk(provider, &intent.org_id),
        );
        self.put_unversioned(place, intent).await.map(|_| ())
    }

    async fn list_intents(
        &self,
        tenant: &TenantId,
        provider: Provider,
    ) -> Result<Vec<SeatIntent>, StoreError> {
        self.list_all(&keys::tenant_pk(tenant), &keys::intent_prefix(provider))
            .await
    }

    async fn delete_intent(
        &self,
        tenant: &TenantId,
        provider: Provider,
        org: &OrgId,
    ) -> Result<(), StoreError> {
        self.delete_item(&keys::tenant_pk(tenant), &keys::intent_sk(provider, org))
            .await
    }
}

#[async_trait]
impl<T: Table> TicketStore for TableStore<T> {
    async fn get_ticket(
        &self,
        tenant: &TenantId,
        provider: Provider,
        dedupe_key: &str,
    ) -> Result<Option<TicketRecord>, StoreError> {
        self.get_record(
            &keys::tenant_pk(tenant),
            &keys::ticket_sk(provider, dedupe_key),
        )
        .await
    }

    async fn put_ticket(
        &self,
        tenant: &TenantId,
        provider: Provider,
        record: &TicketRecord,
        expect: Expect,
    ) -> Result<TicketRecord, StoreError> {
        let place = Placement::at(
            keys::tenant_pk(tenant),
            keys::ticket_sk(provider, &record.dedupe_key),
        );
        let version = self.put_record(place, record, expect).await?;
        Ok(TicketRecord {
            version,
            ..record.clone()
        })
    }

    async fn count_repeat(
        &self,
        tenant: &TenantId,
        provider: Provider,
        dedupe_key: &str,
        at: OffsetDateTime,
    ) -> Result<Repeats, StoreError> {
        let mut repeats = Repeats {
            count: 0,
            last_at: Some(at),
        };
        let body = serde_json::to_string(&repeats)
            .map_err(|e| StoreError::Corrupt(format!("cannot encode repeats: {e}")))?;
        let count = self
            .table
            .add(
                &keys::tenant_pk(tenant),
                &keys::ticket_repeats_sk(provider, dedupe_key),
                1,
                Some(body),
                None,
            )
            .await?;
        repeats.count = u32::try_from(count.max(0)).unwrap_or(u32::MAX);
        Ok(repeats)
    }

    async fn get_repeats(
        &self,
        tenant: &TenantId,
        provider: Provider,
        dedupe_key: &str,
    ) -> Result<Repeats, StoreError> {
        let sk = keys::ticket_repeats_sk(provider, dedupe_key);
        let Some(item) = self
            .table
            .get(&keys::tenant_pk(tenant), &sk, self.now())
            .await?
        else {
            return Ok(Repeats::default());
        };
        let mut repeats: Repeats = serde_json::from_str(&item.body)
            .map_err(|e| StoreError::Corrupt(format!("{sk}: {e}")))?;
        repeats.count = u32::try_from(item.version).unwrap_or(u32::MAX);
        Ok(repeats)
    }

    async fn forget_repeats(
        &self,
        tenant: &TenantId,
        provider: Provider,
        dedupe_key: &str,
        told: u32,
    ) -> Result<(), StoreError> {
        if told == 0 {
            return Ok(());
        }
        self.table
            .add(
                &keys::tenant_pk(tenant),
                &keys::ticket_repeats_sk(provider, dedupe_key),
                -i64::from(told),
                None,
                None,
            )
            .await
            .map(|_| ())
    }
}

#[async_trait]
impl<T: Table> ConsentStore for TableStore<T> {
    async fn put_consent(
        &self,
        state_hash: &str,
        consent: &PendingConsent,
    ) -> Result<(), StoreError> {
        // Kept a day past its expiry, in the index, so the hourly sweep finds an abandoned
        // consent before DynamoDB's TTL removes it and deletes the credentials it held.
        let place = Placement {
            pk: keys::consent_pk(state_hash),
            sk: keys::CONSENT_SK.to_owned(),
            expires_at: Some(expiry(consent.expires_at + CONSENT_SWEEP_GRACE)),
            active: Some(keys::PENDING_CONSENTS.to_owned()),
        };
        self.put_record(place, consent, Expect::Absent)
            .await
            .map(|_| ())
    }

    async fn take_consent(&self, state_hash: &str) -> Result<Option<PendingConsent>, StoreError> {
        // One atomic delete returning the old item: a second take finds nothing.
        let taken = self
            .table
            .delete(
                &keys::consent_pk(state_hash),
                keys::CONSENT_SK,
                Condition::Always,
                self.now(),
            )
            .await?;
        let now = self.clock.now();
        Ok(taken
            .as_ref()
            .map(decode::<PendingConsent>)
            .transpose()?
            .filter(|c| c.expires_at > now))
    }

    async fn list_consents(
        &self,
        after: Option<&Cursor>,
        limit: usize,
    ) -> Result<Page<(String, PendingConsent)>, StoreError> {
        let after = after.map(decode_cursor).transpose()?;
        let page = self
            .table
            .query_active(
                keys::PENDING_CONSENTS,
                after.as_deref().map(|pk| (pk, keys::CONSENT_SK)),
                limit.max(1),
                self.now(),
            )
            .await?;
        let mut items = Vec::with_capacity(page.items.len());
        for item in &page.items {
            let hash = keys::state_hash_of_pk(&item.pk)
                .ok_or_else(|| StoreError::Corrupt(format!("bad consent key {}", item.pk)))?;
            items.push((hash.to_owned(), decode(item)?));
        }
        Ok(Page {
            items,
            next: page.last_key.map(|(pk, _)| Cursor(encode_cursor(&pk))),
        })
    }
}

/// How long a consent item outlives its `expires_at`.
const CONSENT_SWEEP_GRACE: time::Duration = time::Duration::days(1);

#[async_trait]
impl<T: Table> AssetStore for TableStore<T> {
    async fn put_asset(&self, tenant: &TenantId, asset: &Asset) -> Result<(), StoreError> {
        let place = Placement::at(
            keys::tenant_pk(tenant),
            keys::asset_sk(asset.source, &asset.org_id, asset.device_id),
        );
        self.put_unversioned(place, asset).await
    }

    async fn list_assets(
        &self,
        tenant: &TenantId,
        source: Provider,
        org: &OrgId,
    ) -> Result<Vec<Asset>, StoreError> {
        self.list_all(&keys::tenant_pk(tenant), &keys::asset_prefix(source, org))
            .await
    }
}

#[async_trait]
impl<T: Table> AttemptStore for TableStore<T> {
    async fn add_connect_attempts(
        &self,
        tenant: &TenantId,
        provider: Provider,
        hour: OffsetDateTime,
        delta: i64,
    ) -> Result<i64, StoreError> {
        let start = hour.unix_timestamp();
        self.table
            .add(
                &keys::tenant_pk(tenant),
                &keys::connect_attempts_sk(provider, start),
                delta,
                None,
                // An hour past the hour's end: the count matters only while its hour lasts.
                Some(start + 2 * 3600),
            )
            .await
    }
}

#[async_trait]
impl<T: Table> AuditStore for TableStore<T> {
    async fn put_audit(
        &self,
        tenant: &TenantId,
        record: &AuditRecord,
        expires_at: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let mut place = Placement::at(keys::tenant_pk(tenant), keys::audit_sk(record.id));
        place.expires_at = Some(expiry(expires_at));
        self.put_unversioned(place, record).await
    }

    async fn list_audit(
        &self,
        tenant: &TenantId,
        provider: Option<Provider>,
        after: Option<&Cursor>,
        limit: usize,
    ) -> Result<Page<AuditRecord>, StoreError> {
        let keep = |r: &AuditRecord| provider.is_none_or(|p| r.provider == Some(p));
        let pk = keys::tenant_pk(tenant);
        self.filtered_page(&pk, keys::AUDIT_PREFIX, after, limit, true, keep)
            .await
    }
}

#[async_trait]
impl<T: Table> IdempotencyStore for TableStore<T> {
    async fn get_idempotency(
        &self,
        tenant: &TenantId,
        key_hash: &str,
    ) -> Result<Option<IdempotencyRecord>, StoreError> {
        self.get_record(&keys::tenant_pk(tenant), &keys::idempotency_sk(key_hash))
            .await
    }

    async fn put_idempotency(
        &self,
        tenant: &TenantId,
        key_hash: &str,
        record: &IdempotencyRecord,
        expect: Expect,
        expires_at: OffsetDateTime,
    ) -> Result<IdempotencyRecord, StoreError> {
        let mut place = Placement::at(keys::tenant_pk(tenant), keys::idempotency_sk(key_hash));
        place.expires_at = Some(expiry(expires_at));
        let version = self.put_record(place, record, expect).await?;
        Ok(IdempotencyRecord {
            version,
            ..record.clone()
        })
    }

    async fn delete_idempotency(
        &self,
        tenant: &TenantId,
        key_hash: &str,
    ) -> Result<(), StoreError> {
        self.delete_item(&keys::tenant_pk(tenant), &keys::idempotency_sk(key_hash))
            .await
    }
}

#[async_trait]
impl<T: Table> ImportStore for TableStore<T> {
    async fn put_imported(
        &self,
        tenant: &TenantId,
        provider: Provider,
        records: &[ImportedRecord],
    ) -> Result<(), StoreError> {
        let items = records
            .iter()
            .map(|record| {
                let body = serde_json::to_string(record).map_err(|e| {
                    StoreError::Corrupt(format!("cannot encode an imported record: {e}"))
                })?;
                Ok(Item {
                    pk: keys::import_pk(tenant, provider, record.kind),
                    sk: keys::imported_sk(record.company_id, record.id),
                    version: 1,
                    expires_at: None,
                    owner: None,
                    active: None,
                    body,
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        self.table.write_batch(items, Vec::new()).await
    }

    async fn delete_imported(
        &self,
        tenant: &TenantId,
        provider: Provider,
        kind: ImportKind,
        records: &[(i64, i64)],
    ) -> Result<(), StoreError> {
        let pk = keys::import_pk(tenant, provider, kind);
        let deletes = records
            .iter()
            .map(|(company, id)| (pk.clone(), keys::imported_sk(*company, *id)))
            .collect();
        self.table.write_batch(Vec::new(), deletes).await
    }

    async fn list_imported(
        &self,
        tenant: &TenantId,
        provider: Provider,
        kind: ImportKind,
        filter: &ImportFilter,
        after: Option<&Cursor>,
        limit: usize,
    ) -> Result<Page<ImportedRecord>, StoreError> {
        let pk = keys::import_pk(tenant, provider, kind);
        let prefix = filter
            .company_id
            .map(keys::imported_company_prefix)
            .unwrap_or_default();
        let keep = |r: &ImportedRecord| filter.keeps(r);
        self.filtered_page(&pk, &prefix, after, limit, false, keep)
            .await
    }

    async fn get_import_state(
        &self,
        tenant: &TenantId,
        provider: Provider,
        kind: ImportKind,
    ) -> Result<ImportState, StoreError> {
        Ok(self
            .get_record(
                &keys::tenant_pk(tenant),
                &keys::import_state_sk(provider, kind),
            )
            .await?
            .unwrap_or_default())
    }

    async fn put_import_state(
        &self,
        tenant: &TenantId,
        provider: Provider,
        kind: ImportKind,
        state: &ImportState,
        expect: Expect,
    ) -> Result<ImportState, StoreError> {
        let place = Placement::at(
            keys::tenant_pk(tenant),
            keys::import_state_sk(provider, kind),
        );
        let version = self.put_record(place, state, expect).await?;
        Ok(ImportState {
            version,
            ..state.clone()
        })
    }
}
