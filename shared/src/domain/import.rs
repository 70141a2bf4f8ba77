//! Imports (seed 004): records a PSA holds about the partner's customers, brought in and kept
//! current (customers, contacts, ...), each linked to the platform organization its company is
//! mapped to.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use time::{Duration, OffsetDateTime};

use super::{OrgId, SyncKind};

/// What an import brings in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ImportKind {
    /// The partner's customers (companies of the chosen types).
    Customers,
    /// People at imported customers.
    Contacts,
    /// Sites of imported customers.
    Locations,
    /// Configuration items (devices, software, ...) of imported customers.
    Assets,
    /// Tickets of imported customers: the open ones and a window of history.
    Tickets,
    /// Sales opportunities of imported customers.
    Opportunities,
    /// Contracts of imported customers.
    Agreements,
}

impl ImportKind {
    /// Every kind, in the order a run imports them (customers first: the others are theirs).
    pub const ALL: [ImportKind; 7] = [
        ImportKind::Customers,
        ImportKind::Contacts,
        ImportKind::Locations,
        ImportKind::Assets,
        ImportKind::Tickets,
        ImportKind::Opportunities,
        ImportKind::Agreements,
    ];

    /// The kind as the API names it.
    pub fn as_str(self) -> &'static str {
        match self {
            ImportKind::Customers => "customers",
            ImportKind::Contacts => "contacts",
            ImportKind::Locations => "locations",
            ImportKind::Assets => "assets",
            ImportKind::Tickets => "tickets",
            ImportKind::Opportunities => "opportunities",
            ImportKind::Agreements => "agreements",
        }
    }

    /// The sync kind that runs this import.
    pub fn sync_kind(self) -> SyncKind {
        match self {
            ImportKind::Customers => SyncKind::Customers,
            ImportKind::Contacts => SyncKind::Contacts,
            ImportKind::Locations => SyncKind::Locations,
            ImportKind::Assets => SyncKind::Assets,
            ImportKind::Tickets => SyncKind::Tickets,
            ImportKind::Opportunities => SyncKind::Opportunities,
            ImportKind::Agreements => SyncKind::Agreements,
        }
    }

    /// The import a sync kind asks for, if it is one.
    pub fn of(kind: SyncKind) -> Option<Self> {
        match kind {
            SyncKind::Customers => Some(ImportKind::Customers),
            SyncKind::Contacts => Some(ImportKind::Contacts),
            SyncKind::Locations => Some(ImportKind::Locations),
            SyncKind::Assets => Some(ImportKind::Assets),
            SyncKind::Tickets => Some(ImportKind::Tickets),
            SyncKind::Opportunities => Some(ImportKind::Opportunities),
            SyncKind::Agreements => Some(ImportKind::Agreements),
            SyncKind::Seats => None,
        }
    }
}

impl std::str::FromStr for ImportKind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ImportKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| {
                format!(
                    "no import {s:?}; imports: {}",
                    ImportKind::ALL.map(ImportKind::as_str).join(", ")
                )
            })
    }
}

/// One imported record, as stored and listed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ImportedRecord {
    /// What it is.
    pub kind: ImportKind,
    /// The vendor's id.
    pub id: i64,
    /// The vendor company it belongs to (its own id for a customer).
    pub company_id: i64,
    /// The platform organization that company is linked to, if any: derived from the links
    /// when listed (a link made or removed after the import shows at once), not kept.
    pub org_id: Option<OrgId>,
    /// Whether the vendor still has it active.
    pub active: bool,
    /// The vendor's last change to it, when the vendor says.
    #[serde(with = "time::serde::rfc3339::option")]
    pub modified_at: Option<OffsetDateTime>,
    /// The fields a partner reads, picklist values with their labels.
    pub fields: Map<String, Value>,
    /// When this import last wrote it.
    #[serde(with = "time::serde::rfc3339")]
    pub imported_at: OffsetDateTime,
}

impl ImportedRecord {
    /// The record's display name, where it has one (a company's `companyName`, a location's
    /// `name`): what auto-match compares with the platform's organization names.
    pub fn name(&self) -> Option<&str> {
        ["companyName", "name"]
            .iter()
            .find_map(|k| self.fields.get(*k).and_then(|v| v.as_str()))
    }
}

/// Which imported records a listing keeps.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ImportFilter {
    /// Only this vendor company's (an organization's, through its link).
    pub company_id: Option<i64>,
    /// Only active (or inactive) ones.
    pub active: Option<bool>,
}

impl ImportFilter {
    /// Whether `record` passes.
    pub fn keeps(&self, record: &ImportedRecord) -> bool {
        self.company_id.is_none_or(|c| record.company_id == c)
            && self.active.is_none_or(|a| record.active == a)
    }
}

/// How far an import of one kind has come.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportState {
    /// The newest vendor change stamp seen by the last finished pass: later runs ask only for
    /// what changed since (less an overlap for stamps that land out of order).
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub high_water: Option<OffsetDateTime>,
    /// When the last full pass finished.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub full_pass_at: Option<OffsetDateTime>,
    /// When the last pass of this kind (full or not) began.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub last_pass_at: Option<OffsetDateTime>,
    /// Customers only: the customers that arrived since the other kinds' last passes, whose
    /// records those passes read in full (their records did not change, they are new to us).
    #[serde(default)]
    pub new_customers: Vec<NewCustomer>,
    /// Where reading the vendor's deletion log of this kind goes on from.
    #[serde(default)]
    pub deletion_log: Option<i64>,
    /// A pass that stopped part-way (the hourly budget, the run's time): the next run goes on
    /// from here.
    #[serde(default)]
    pub resume: Option<ImportResume>,
    /// Optimistic-concurrency version (from the store).
    #[serde(skip)]
    pub version: u64,
}

/// A customer first imported by the pass that began at `at`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewCustomer {
    /// Its company id.
    pub id: i64,
    /// When that pass began.
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
}

impl ImportState {
    /// The customers new since `since` (when a kind's last pass began; a customers pass in
    /// the same run began at the same instant, before it), from the customers' state.
    pub fn customers_new_since(&self, since: Option<OffsetDateTime>) -> Vec<i64> {
        let Some(since) = since else {
            return Vec::new();
        };
        let mut ids: Vec<i64> = self
            .new_customers
            .iter()
            .filter(|c| c.at > since)
            .map(|c| c.id)
            .collect();
        ids.sort_unstable();
        ids.dedup();
        ids
    }

    /// Adds customers first imported by the pass that began at `at`, forgetting those a
    /// weekly full pass of every kind has covered since.
    pub fn add_new_customers(&mut self, ids: &[i64], at: OffsetDateTime) {
        self.new_customers
            .retain(|c| at - c.at < FULL_PASS_EVERY && !ids.contains(&c.id));
        self.new_customers
            .extend(ids.iter().map(|id| NewCustomer { id: *id, at }));
    }
}

/// Where a pass that stopped part-way goes on from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportResume {
    /// The pass reads changes since this stamp (everything when `None`).
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub since: Option<OffsetDateTime>,
    /// When the pass began: a full pass removes what it did not see since.
    #[serde(with = "time::serde::rfc3339")]
    pub started_at: OffsetDateTime,
    /// The pass's slices, each read on its own (several at once).
    pub chunks: Vec<ChunkPlace>,
    /// The newest change stamp seen so far.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub newest: Option<OffsetDateTime>,
}

/// One slice of a pass: the records of the imported customers whose company ids lie in
/// `first..=last` (for customers themselves, the whole kind), read in id order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChunkPlace {
    /// Lowest company id of the slice.
    pub first: i64,
    /// Highest company id of the slice.
    pub last: i64,
    /// The last record id read.
    pub after: Option<i64>,
    /// Whether the slice is read to its end.
    pub done: bool,
    /// Exactly these customers' records, all of them whatever the pass reads (customers new
    /// since the kind's last pass).
    #[serde(default)]
    pub companies: Option<Vec<i64>>,
}

impl ImportResume {
    /// A pass starting at `now`, reading changes `since` (everything when `None`): over the
    /// customers `companies` in slices of `per_chunk`, or in one slice over every company
    /// (`None`); and the records of the `new` customers in full.
    pub fn start(
        since: Option<OffsetDateTime>,
        now: OffsetDateTime,
        newest: Option<OffsetDateTime>,
        companies: Option<&[i64]>,
        new: &[i64],
        per_chunk: usize,
    ) -> Self {
        let per_chunk = per_chunk.max(1);
        let mut chunks = match companies {
            None => vec![ChunkPlace {
                first: i64::MIN,
                last: i64::MAX,
                after: None,
                done: false,
                companies: None,
            }],
            Some(ids) => ids
                .chunks(per_chunk)
                .map(|c| ChunkPlace {
                    first: c[0],
                    last: c[c.len() - 1],
                    after: None,
                    done: false,
                    companies: None,
                })
                .collect(),
        };
        chunks.extend(new.chunks(per_chunk).map(|c| ChunkPlace {
            first: c[0],
            last: c[c.len() - 1],
            after: None,
            done: false,
            companies: Some(c.to_vec()),
        }));
        Self {
            since,
            started_at: now,
            chunks,
            newest,
        }
    }

    /// Whether every slice is read.
    pub fn is_done(&self) -> bool {
        self.chunks.iter().all(|c| c.done)
    }
}

/// The company types imported as customers until the partner chooses (Autotask's 1,
/// "Customer"; the seed's "Default Account Filter").
pub const DEFAULT_CUSTOMER_TYPES: [i64; 1] = [1];

/// How far behind the high-water mark an incremental pass starts: vendor stamps can land
/// slightly out of order.
pub const IMPORT_OVERLAP: Duration = Duration::minutes(2);

/// How often a pass reads everything again, catching what change stamps miss.
pub const FULL_PASS_EVERY: Duration = Duration::days(7);

impl ImportState {
    /// What the next pass at `now` asks for: changes since this stamp, or everything (`None`).
    pub fn changed_since(&self, now: OffsetDateTime) -> Option<OffsetDateTime> {
        let full_due = self
            .full_pass_at
            .is_none_or(|at| now - at >= FULL_PASS_EVERY);
        if full_due {
            return None;
        }
        self.high_water.map(|t| t - IMPORT_OVERLAP)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: i64) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(1_800_000_000 + secs).unwrap()
    }

    #[test]
    fn the_first_pass_and_a_weekly_one_read_everything_the_others_what_changed() {
        let fresh = ImportState::default();
        assert_eq!(fresh.changed_since(at(0)), None);
        let after_full = ImportState {
            high_water: Some(at(100)),
            full_pass_at: Some(at(200)),
            version: 1,
            ..Default::default()
        };
        assert_eq!(
            after_full.changed_since(at(300)),
            Some(at(100) - IMPORT_OVERLAP)
        );
        let week_later = at(200) + FULL_PASS_EVERY;
        assert_eq!(after_full.changed_since(week_later), None);
    }

    #[test]
    fn a_pass_slices_the_customers_and_ends_when_every_slice_does() {
        let ids: Vec<i64> = (1..=1200).collect();
        let mut pass = ImportResume::start(None, at(0), None, Some(&ids), &[], 500);
        let ranges: Vec<(i64, i64)> = pass.chunks.iter().map(|c| (c.first, c.last)).collect();
        assert_eq!(ranges, [(1, 500), (501, 1000), (1001, 1200)]);
        assert!(!pass.is_done());
        pass.chunks.iter_mut().for_each(|c| c.done = true);
        assert!(pass.is_done());
        let changed = ImportResume::start(Some(at(0)), at(0), None, None, &[7, 9], 500);
        assert_eq!(
            changed.chunks.len(),
            2,
            "every company's changes, and the new ones"
        );
        assert_eq!(changed.chunks[1].companies, Some(vec![7, 9]));
        let nobody = ImportResume::start(None, at(0), None, Some(&[]), &[], 500);
        assert!(nobody.is_done(), "no customers: nothing to read");
    }

    #[test]
    fn new_customers_are_read_in_full_by_the_kinds_that_had_not_seen_them() {
        let mut customers = ImportState::default();
        customers.add_new_customers(&[5, 6], at(100));
        customers.add_new_customers(&[7], at(200));
        assert_eq!(customers.customers_new_since(Some(at(150))), [7]);
        assert!(
            customers.customers_new_since(Some(at(200))).is_empty(),
            "a kind's pass in the run that found them read them"
        );
        assert_eq!(customers.customers_new_since(Some(at(50))), [5, 6, 7]);
        assert!(
            customers.customers_new_since(None).is_empty(),
            "a first pass reads all"
        );
        customers.add_new_customers(&[8], at(100) + FULL_PASS_EVERY);
        assert_eq!(
            customers.customers_new_since(Some(at(0))),
            [7, 8],
            "a week on, every kind has read them"
        );
    }

    #[test]
    fn filters_keep_what_they_name() {
        let record = ImportedRecord {
            kind: ImportKind::Contacts,
            id: 7,
            company_id: 1004,
            org_id: Some(OrgId::new("acme").unwrap()),
            active: false,
            modified_at: None,
            fields: Map::new(),
            imported_at: at(0),
        };
        assert!(ImportFilter::default().keeps(&record));
        assert!(
            ImportFilter {
                company_id: Some(1004),
                active: Some(false),
            }
            .keeps(&record)
        );
        assert!(
            !ImportFilter {
                active: Some(true),
                ..Default::default()
            }
            .keeps(&record)
        );
        assert!(
            !ImportFilter {
                company_id: Some(1005),
                ..Default::default()
            }
            .keeps(&record)
        );
        assert_eq!("contacts".parse::<ImportKind>(), Ok(ImportKind::Contacts));
        assert!("devices".parse::<ImportKind>().is_err());
    }
}
