//! One run of the sync engine for one connection: what it was asked to do, how far it got.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use ulid::Ulid;

use super::Provider;

/// What a run moves.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SyncKind {
    /// Seat quantities to the PSA.
    Seats,
    /// Vendor tickets.
    Tickets,
    /// Devices and configuration items from the vendor.
    Assets,
    /// Vendor customers/companies.
    Customers,
    /// Vendor contacts.
    Contacts,
    /// Vendor locations.
    Locations,
    /// Vendor opportunities.
    Opportunities,
    /// Vendor contracts/agreements.
    #[serde(alias = "contracts")]
    Agreements,
}

impl SyncKind {
    /// The kind as the API and the metrics name it.
    pub fn as_str(self) -> &'static str {
        match self {
            SyncKind::Seats => "seats",
            SyncKind::Tickets => "tickets",
            SyncKind::Assets => "assets",
            SyncKind::Customers => "customers",
            SyncKind::Contacts => "contacts",
            SyncKind::Locations => "locations",
            SyncKind::Opportunities => "opportunities",
            SyncKind::Agreements => "agreements",
        }
    }
}

/// Who started a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SyncTrigger {
    /// The partner pressed "sync now".
    Manual,
    /// The hourly schedule.
    Schedule,
    /// A platform event (seat change, alert).
    Event,
}

/// Where a run stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SyncStatus {
    /// Accepted, waiting for a worker.
    Queued,
    /// A worker holds the connection's lease and is working.
    Running,
    /// Every item done.
    Succeeded,
    /// Finished with some items failed.
    Partial,
    /// Could not run or finish (see errors).
    Failed,
}

impl SyncStatus {
    /// The status as the API and the metrics name it.
    pub fn as_str(self) -> &'static str {
        match self {
            SyncStatus::Queued => "queued",
            SyncStatus::Running => "running",
            SyncStatus::Succeeded => "succeeded",
            SyncStatus::Partial => "partial",
            SyncStatus::Failed => "failed",
        }
    }

    /// Whether the run has ended.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            SyncStatus::Succeeded | SyncStatus::Partial | SyncStatus::Failed
        )
    }
}

/// Progress counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncCounts {
    /// Items the run will look at.
    pub total: u32,
    /// Items looked at so far.
    pub done: u32,
    /// Items the run changed at the vendor or here.
    pub changed: u32,
    /// Items already right.
    pub unchanged: u32,
    /// Items that failed.
    pub failed: u32,
    /// Items the run leaves alone by design (an Autotask company-only link in a seat sync).
    #[serde(default)]
    pub skipped: u32,
}

impl SyncCounts {
    /// What was counted since `before` (these counts then).
    pub fn since(&self, before: &SyncCounts) -> SyncCounts {
        SyncCounts {
            total: self.total.saturating_sub(before.total),
            done: self.done.saturating_sub(before.done),
            changed: self.changed.saturating_sub(before.changed),
            unchanged: self.unchanged.saturating_sub(before.unchanged),
            failed: self.failed.saturating_sub(before.failed),
            skipped: self.skipped.saturating_sub(before.skipped),
        }
    }
}

/// One item that failed, with the vendor's own words where it gave any.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ItemError {
    /// What the item was, e.g. `org:acme`.
    pub item: String,
    /// What went wrong.
    pub message: String,
    /// The vendor's message, verbatim.
    pub vendor_message: Option<String>,
}

/// A sync run.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncRun {
    /// Sortable id: newest runs list first.
    pub id: Ulid,
    /// The connection's provider.
    pub provider: Provider,
    /// What to move.
    pub kinds: Vec<SyncKind>,
    /// Who asked.
    pub trigger: SyncTrigger,
    /// Where it stands (`queued` again while a long import waits to go on).
    pub status: SyncStatus,
    /// The kinds finished so far: a run that goes on after a pause starts with the others.
    #[serde(default)]
    pub kinds_done: Vec<SyncKind>,
    /// How often the run saved its place and went on in a queued run (a long import).
    #[serde(default)]
    pub continued: u32,
    /// Progress.
    pub counts: SyncCounts,
    /// Progress per kind, as it goes.
    #[serde(default)]
    pub by_kind: std::collections::BTreeMap<SyncKind, SyncCounts>,
    /// Failed items.
    pub errors: Vec<ItemError>,
    /// When it was asked for.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// When a worker started it.
    #[serde(with = "time::serde::rfc3339::option")]
    pub started_at: Option<OffsetDateTime>,
    /// When it ended.
    #[serde(with = "time::serde::rfc3339::option")]
    pub finished_at: Option<OffsetDateTime>,
    /// When the record may be forgotten.
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
    /// Optimistic-concurrency version, set by the store.
    #[serde(default)]
    pub version: u64,
}

/// A seat change about to be sent to the vendor, written before the call so that a retry or the
/// next run re-reads the vendor instead of sending a delta twice.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeatIntent {
    /// The organization.
    pub org_id: super::OrgId,
    /// Seats the vendor should end up with.
    pub wanted: u32,
    /// Seats the vendor had when the change was planned.
    pub observed: u32,
    /// The run that planned it.
    pub run_id: Ulid,
    /// When.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}
