//! The configuration form's live lists (service boards, each board's statuses and types,
//! priorities, sources), cached per connection, and checking a saved configuration against
//! them: a status or type must be the chosen board's.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use async_trait::async_trait;

use super::{ConnectwiseIntegration, client::Client, wire::ListEntry};
use crate::{
    domain::{ConnectwiseSettings, FieldError, ProviderSettings, TenantId},
    ports::{Choice, Configurator, Session, VendorError},
};

/// How long lists are trusted before they are read again.
const LIST_TTL: Duration = Duration::from_secs(15 * 60);

const LISTS: [&str; 5] = ["boards", "statuses", "types", "priorities", "sources"];

/// One entry of a list, and whether it is a status that closes tickets.
#[derive(Clone, Debug)]
pub struct Entry {
    /// What the form offers.
    pub choice: Choice,
    /// A closing status (never offered for new tickets; a ticket in it is closed).
    pub closed: bool,
}

/// A list's entries and when they were read.
type Cached = (Instant, Arc<Vec<Entry>>);

/// A connection's list, and the board for the board's own lists.
type ListKey = (TenantId, &'static str, Option<i64>);

/// Lists per connection, and per board for the board's own lists.
#[derive(Default)]
pub struct ListCache(Mutex<HashMap<ListKey, Cached>>);

impl ListCache {
    fn get(&self, key: &ListKey) -> Option<Arc<Vec<Entry>>> {
        let cache = self.0.lock().expect("list cache lock");
        let (at, entries) = cache.get(key)?;
        (at.elapsed() < LIST_TTL).then(|| entries.clone())
    }

    fn put(&self, key: ListKey, entries: Arc<Vec<Entry>>) {
        self.0
            .lock()
            .expect("list cache lock")
            .insert(key, (Instant::now(), entries));
    }

    /// Drops a connection's lists (after revoke or re-connect).
    pub fn forget(&self, tenant: &TenantId) {
        self.0
            .lock()
            .expect("list cache lock")
            .retain(|(t, _, _), _| t != tenant);
    }
}

/// Whether a list belongs to a board.
fn per_board(list: &str) -> bool {
    matches!(list, "statuses" | "types")
}

async fn read(
    client: &Client<'_>,
    list: &str,
    board: Option<i64>,
) -> Result<Vec<Entry>, VendorError> {
    let (path, conditions, fields) = match (list, board) {
        ("boards", _) => (
            "service/boards".to_owned(),
            "inactiveFlag=false and projectFlag=false",
            "id,name,inactiveFlag,projectFlag",
        ),
        ("statuses", Some(b)) => (
            format!("service/boards/{b}/statuses"),
            "inactive=false",
            "id,name,inactive,closedStatus,defaultFlag",
        ),
        ("types", Some(b)) => (
            format!("service/boards/{b}/types"),
            "inactiveFlag=false",
            "id,name,inactiveFlag,defaultFlag",
        ),
        ("priorities", _) => ("service/priorities".to_owned(), "", "id,name,defaultFlag"),
        _ => ("service/sources".to_owned(), "", "id,name,defaultFlag"),
    };
    let conditions = (!conditions.is_empty()).then_some(conditions);
    let rows: Vec<ListEntry> = client.list_all(&path, conditions, fields).await?;
    Ok(rows
        .into_iter()
        .filter(|e| e.active() && !e.project_flag.unwrap_or(false))
        .map(|e| Entry {
            closed: e.closed_status.unwrap_or(false),
            choice: Choice {
                id: e.id,
                label: e.name.unwrap_or_else(|| e.id.to_string()),
                is_default: e.default_flag.unwrap_or(false),
                parent: board,
            },
        })
        .collect())
}

impl ConnectwiseIntegration {
    /// One list, from the cache or from ConnectWise. A board's own lists need the board.
    pub(super) async fn entries(
        &self,
        session: &Session,
        list: &str,
        board: Option<i64>,
    ) -> Result<Arc<Vec<Entry>>, VendorError> {
        let list: &'static str = LISTS
            .into_iter()
            .find(|l| *l == list)
            .ok_or_else(|| VendorError::invalid("list", format!("unknown list {list:?}")))?;
        let board = if per_board(list) {
            Some(board.ok_or_else(|| {
                VendorError::invalid(
                    "parent",
                    format!("is required: {list} belong to a service board (?parent=board id)"),
                )
            })?)
        } else {
            None
        };
        let key = (session.tenant.clone(), list, board);
        if let Some(cached) = self.lists.get(&key) {
            return Ok(cached);
        }
        let client = self.client(session).await?;
        let entries = Arc::new(read(&client, list, board).await?);
        self.lists.put(key, entries.clone());
        Ok(entries)
    }
}

#[async_trait]
impl Configurator for ConnectwiseIntegration {
    fn lists(&self) -> &'static [&'static str] {
        &LISTS
    }

    async fn options(
        &self,
        session: &Session,
        list: &str,
        parent: Option<i64>,
    ) -> Result<Vec<Choice>, VendorError> {
        Ok(self
            .entries(session, list, parent)
            .await?
            .iter()
            // A new ticket cannot start closed.
            .filter(|e| !e.closed)
            .map(|e| e.choice.clone())
            .collect())
    }

    async fn check(
        &self,
        session: &Session,
        settings: &ProviderSettings,
    ) -> Result<(), VendorError> {
        let ProviderSettings::Connectwise(s) = settings else {
            return Err(super::not_connectwise_target());
        };
        let ConnectwiseSettings {
            board_id,
            status_id,
            type_id,
            priority_id,
            source_id,
            ..
        } = *s;
        // Seat sync alone needs no ticket defaults (the shape check requires them together).
        let Some(board) = board_id else {
            return Ok(());
        };
        let (boards, statuses, types, priorities, sources) = tokio::try_join!(
            self.entries(session, "boards", None),
            self.entries(session, "statuses", Some(board)),
            async {
                match type_id {
                    Some(_) => self.entries(session, "types", Some(board)).await,
                    None => Ok(Arc::default()),
                }
            },
            self.entries(session, "priorities", None),
            async {
                match source_id {
                    Some(_) => self.entries(session, "sources", None).await,
                    None => Ok(Arc::default()),
                }
            },
        )?;
        let mut errors = Vec::new();
        let find = |list: &[Entry], id: i64| list.iter().find(|e| e.choice.id == id).cloned();
        if find(&boards, board).is_none() {
            errors.push(FieldError::new(
                "board_id",
                format!("{board} is not an active service board in ConnectWise"),
            ));
        } else {
            if let Some(status) = status_id {
                match find(&statuses, status) {
                    None => errors.push(FieldError::new(
                        "status_id",
                        format!("{status} is not an active status of board {board}"),
                    )),
                    Some(e) if e.closed => errors.push(FieldError::new(
                        "status_id",
                        format!(
                            "{status} ({}) closes tickets; choose an open status of board {board}",
                            e.choice.label
                        ),
                    )),
                    Some(_) => {}
                }
            }
            if let Some(t) = type_id
                && find(&types, t).is_none()
            {
                errors.push(FieldError::new(
                    "type_id",
                    format!("{t} is not an active ticket type of board {board}"),
                ));
            }
        }
        if let Some(p) = priority_id
            && find(&priorities, p).is_none()
        {
            errors.push(FieldError::new(
                "priority_id",
                format!("{p} is not a ConnectWise priority"),
            ));
        }
        if let Some(src) = source_id
            && find(&sources, src).is_none()
        {
            errors.push(FieldError::new(
                "source_id",
                format!("{src} is not a ConnectWise ticket source"),
            ));
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(VendorError::Invalid {
                detail: "the configuration does not match ConnectWise's lists".into(),
                errors,
                vendor_message: None,
            })
        }
    }
}
