//! The single-table model both back ends implement.

use async_trait::async_trait;

use crate::ports::StoreError;

/// One stored item. The body is the domain record as JSON; the other fields are what the table
/// itself must understand (keys, version, expiry, lease holder, index membership).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Item {
    /// Partition key, always tenant-first for tenant data.
    pub pk: String,
    /// Sort key.
    pub sk: String,
    /// Optimistic-concurrency version; 1 for a new item.
    pub version: u64,
    /// Unix seconds after which the item counts as gone (DynamoDB TTL deletes it later).
    pub expires_at: Option<i64>,
    /// Lease holder, for items that are leases.
    pub owner: Option<String>,
    /// Partition of the sparse active-connections index; `None` keeps the item out of it.
    pub active: Option<String>,
    /// The record, as JSON.
    pub body: String,
}

impl Item {
    /// Whether the item has expired at `now` (unix seconds).
    pub fn is_expired(&self, now: i64) -> bool {
        self.expires_at.is_some_and(|t| t <= now)
    }
}

/// What must hold for a write or delete to go through.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Condition {
    /// Always.
    Always,
    /// Nothing stored, or only an expired item (TTL deletion lags).
    AbsentOrExpired,
    /// The stored item has exactly this version.
    Version(u64),
    /// The stored item is a lease held by this owner.
    Owner(String),
}

impl Condition {
    /// Evaluates the condition against what is stored, for back ends that check in code.
    pub fn holds(&self, existing: Option<&Item>, now: i64) -> bool {
        match self {
            Condition::Always => true,
            Condition::AbsentOrExpired => existing.is_none_or(|i| i.is_expired(now)),
            Condition::Version(v) => existing.is_some_and(|i| i.version == *v),
            Condition::Owner(o) => existing.is_some_and(|i| i.owner.as_deref() == Some(o)),
        }
    }
}

/// A range read within one partition.
#[derive(Clone, Debug)]
pub struct Query<'a> {
    /// The partition.
    pub pk: &'a str,
    /// Sort keys starting with this.
    pub sk_prefix: &'a str,
    /// Continue after this sort key (exclusive).
    pub after: Option<&'a str>,
    /// Most items to return.
    pub limit: usize,
    /// Newest (highest sort key) first.
    pub descending: bool,
}

/// A page of items and, if there may be more, the sort key to continue after.
#[derive(Clone, Debug, Default)]
pub struct ItemPage {
    /// Items that have not expired.
    pub items: Vec<Item>,
    /// The last key read, when the back end stopped before the end.
    pub last_key: Option<(String, String)>,
}

/// A single table with conditional writes and a sparse index of active connections.
#[async_trait]
pub trait Table: Send + Sync {
    /// Reads one item; expired items read as absent.
    async fn get(&self, pk: &str, sk: &str, now: i64) -> Result<Option<Item>, StoreError>;
    /// Writes an item if `condition` holds, else [`StoreError::Conflict`].
    async fn put(&self, item: Item, condition: Condition, now: i64) -> Result<(), StoreError>;
    /// Deletes an item if `condition` holds and returns what was there (expired items as `None`).
    async fn delete(
        &self,
        pk: &str,
        sk: &str,
        condition: Condition,
        now: i64,
    ) -> Result<Option<Item>, StoreError>;
    /// Adds `delta` to the counter item at (`pk`, `sk`), creating it at zero, replaces its body
    /// with `body` and its expiry with `expires_at` when given; returns the new count. One
    /// atomic update, no condition: concurrent adds never conflict and none is lost. A counter
    /// keeps its count in the version attribute.
    async fn add(
        &self,
        pk: &str,
        sk: &str,
        delta: i64,
        body: Option<String>,
        expires_at: Option<i64>,
    ) -> Result<i64, StoreError>;
    /// Writes `puts` and deletes `deletes` (pk, sk) without conditions, in as few round trips
    /// as the back end allows: bulk data (imports) that no other writer races.
    async fn write_batch(
        &self,
        puts: Vec<Item>,
        deletes: Vec<(String, String)>,
    ) -> Result<(), StoreError>;
    /// Reads a range of one partition, skipping expired items.
    async fn query(&self, query: Query<'_>, now: i64) -> Result<ItemPage, StoreError>;
    /// Reads the sparse index partition `active`, ordered by (pk, sk), continuing after `after`.
    async fn query_active(
        &self,
        active: &str,
        after: Option<(&str, &str)>,
        limit: usize,
        now: i64,
    ) -> Result<ItemPage, StoreError>;
}
