//! The embedded back end: the single table in one SQLite file, for the local runner and for
//! partners without AWS.

use std::{
    path::Path,
    sync::{Arc, Mutex},
};

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, Row, TransactionBehavior, params};

use super::table::{Condition, Item, ItemPage, Query, Table};
use crate::ports::StoreError;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS items (
    pk         TEXT    NOT NULL,
    sk         TEXT    NOT NULL,
    version    INTEGER NOT NULL,
    expires_at INTEGER,
    owner      TEXT,
    active     TEXT,
    body       TEXT    NOT NULL,
    PRIMARY KEY (pk, sk)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS items_active ON items (active, pk, sk) WHERE active IS NOT NULL;
";

const COLUMNS: &str = "pk, sk, version, expires_at, owner, active, body";

/// The single table in SQLite. Calls run on the blocking pool; one connection, serialized.
#[derive(Clone)]
pub struct SqliteTable {
    conn: Arc<Mutex<Connection>>,
}

impl SqliteTable {
    /// Opens (creating if needed) the database file at `path`.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let conn = Connection::open(path).map_err(unavailable)?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(unavailable)?;
        // With WAL, NORMAL never corrupts the file; a power cut may lose the last commits,
        // which the embedded store (local runner, small installs) can afford.
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(unavailable)?;
        Self::init(conn)
    }

    /// A private in-memory database, for tests.
    pub fn in_memory() -> Result<Self, StoreError> {
        Self::init(Connection::open_in_memory().map_err(unavailable)?)
    }

    fn init(conn: Connection) -> Result<Self, StoreError> {
        conn.busy_timeout(std::time::Duration::from_secs(5))
            .map_err(unavailable)?;
        conn.execute_batch(SCHEMA).map_err(unavailable)?;
        Ok(Self {
            conn: Arc::new(Mutex::new(conn)),
        })
    }

    async fn run<R, F>(&self, f: F) -> Result<R, StoreError>
    where
        R: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<R, StoreError> + Send + 'static,
    {
        let conn = Arc::clone(&self.conn);
        tokio::task::spawn_blocking(move || {
            let mut conn = conn
                .lock()
                .map_err(|_| StoreError::Unavailable("sqlite connection poisoned".into()))?;
            f(&mut conn)
        })
        .await
        .map_err(|e| StoreError::Unavailable(format!("sqlite task failed: {e}")))?
    }
}

fn unavailable(e: rusqlite::Error) -> StoreError {
    StoreError::Unavailable(format!("sqlite: {e}"))
}

fn read_item(row: &Row<'_>) -> rusqlite::Result<Item> {
    Ok(Item {
        pk: row.get(0)?,
        sk: row.get(1)?,
        version: row.get::<_, i64>(2)? as u64,
        expires_at: row.get(3)?,
        owner: row.get(4)?,
        active: row.get(5)?,
        body: row.get(6)?,
    })
}

fn select_one(conn: &Connection, pk: &str, sk: &str) -> Result<Option<Item>, StoreError> {
    conn.query_row(
        &format!("SELECT {COLUMNS} FROM items WHERE pk = ?1 AND sk = ?2"),
        params![pk, sk],
        read_item,
    )
    .optional()
    .map_err(unavailable)
}

/// Fetches one more row than asked, to know whether the page is the last.
fn finish_page(mut items: Vec<Item>, limit: usize) -> ItemPage {
    let last_key = (items.len() > limit).then(|| {
        items.truncate(limit);
        let last = items.last().expect("limit is at least 1");
        (last.pk.clone(), last.sk.clone())
    });
    ItemPage { items, last_key }
}

#[async_trait]
impl Table for SqliteTable {
    async fn get(&self, pk: &str, sk: &str, now: i64) -> Result<Option<Item>, StoreError> {
        let (pk, sk) = (pk.to_owned(), sk.to_owned());
        self.run(move |conn| Ok(select_one(conn, &pk, &sk)?.filter(|i| !i.is_expired(now))))
            .await
    }

    async fn put(&self, item: Item, condition: Condition, now: i64) -> Result<(), StoreError> {
        self.run(move |conn| {
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(unavailable)?;
            let existing = select_one(&tx, &item.pk, &item.sk)?;
            if !condition.holds(existing.as_ref(), now) {
                return Err(StoreError::Conflict(format!(
                    "condition failed on {}",
                    item.sk
                )));
            }
            tx.execute(
                &format!(
                    "INSERT OR REPLACE INTO items ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"
                ),
                params![
                    item.pk,
                    item.sk,
                    item.version as i64,
                    item.expires_at,
                    item.owner,
                    item.active,
                    item.body
                ],
            )
            .map_err(unavailable)?;
            tx.commit().map_err(unavailable)
        })
        .await
    }

    async fn delete(
        &self,
        pk: &str,
        sk: &str,
        condition: Condition,
        now: i64,
    ) -> Result<Option<Item>, StoreError> {
        let (pk, sk) = (pk.to_owned(), sk.to_owned());
        self.run(move |conn| {
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(unavailable)?;
            let existing = select_one(&tx, &pk, &sk)?;
            if !condition.holds(existing.as_ref(), now) {
                return Err(StoreError::Conflict(format!("condition failed on {sk}")));
            }
            tx.execute(
                "DELETE FROM items WHERE pk = ?1 AND sk = ?2",
                params![pk, sk],
            )
            .map_err(unavailable)?;
            tx.commit().map_err(unavailable)?;
            Ok(existing.filter(|i| !i.is_expired(now)))
        })
        .await
    }

    async fn add(
        &self,
        pk: &str,
        sk: &str,
        delta: i64,
        body: Option<String>,
        expires_at: Option<i64>,
    ) -> Result<i64, StoreError> {
        let (pk, sk) = (pk.to_owned(), sk.to_owned());
        self.run(move |conn| {
            conn.query_row(
                "INSERT INTO items (pk, sk, version, expires_at, body)
                 VALUES (?1, ?2, ?3, ?5, COALESCE(?4, '{}'))
                 ON CONFLICT (pk, sk) DO UPDATE
                 SET version = version + excluded.version, body = COALESCE(?4, body),
                     expires_at = COALESCE(?5, expires_at)
                 RETURNING version",
                params![pk, sk, delta, body, expires_at],
                |row| row.get(0),
            )
            .map_err(unavailable)
        })
        .await
    }

    async fn write_batch(
        &self,
        puts: Vec<Item>,
        deletes: Vec<(String, String)>,
    ) -> Result<(), StoreError> {
        // One transaction: a page of records lands whole or not at all.
        self.run(move |conn| {
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(unavailable)?;
            {
                let mut put = tx
                    .prepare_cached(&format!(
                        "INSERT OR REPLACE INTO items ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"
                    ))
                    .map_err(unavailable)?;
                for item in &puts {
                    put.execute(params![
                        item.pk,
                        item.sk,
                        item.version as i64,
                        item.expires_at,
                        item.owner,
                        item.active,
                        item.body
                    ])
                    .map_err(unavailable)?;
                }
                let mut delete = tx
                    .prepare_cached("DELETE FROM items WHERE pk = ?1 AND sk = ?2")
                    .map_err(unavailable)?;
                for (pk, sk) in &deletes {
                    delete.execute(params![pk, sk]).map_err(unavailable)?;
                }
            }
            tx.commit().map_err(unavailable)
        })
        .await
    }

    async fn query(&self, query: Query<'_>, now: i64) -> Result<ItemPage, StoreError> {
        let pk = query.pk.to_owned();
        let low = query.sk_prefix.to_owned();
        // Every sort key with the prefix sorts below prefix + the highest code point.
        let high = format!("{}\u{10FFFF}", query.sk_prefix);
        let after = query.after.map(str::to_owned);
        let (limit, descending) = (query.limit, query.descending);
        self.run(move |conn| {
            let (after_op, order) = if descending {
                ("<", "DESC")
            } else {
                (">", "ASC")
            };
            let sql = format!(
                "SELECT {COLUMNS} FROM items
                 WHERE pk = ?1 AND sk >= ?2 AND sk < ?3
                   AND (?4 IS NULL OR sk {after_op} ?4)
                   AND (expires_at IS NULL OR expires_at > ?5)
                 ORDER BY sk {order} LIMIT ?6"
            );
            let mut stmt = conn.prepare_cached(&sql).map_err(unavailable)?;
            let items = stmt
                .query_map(
                    params![pk, low, high, after, now, (limit + 1) as i64],
                    read_item,
                )
                .map_err(unavailable)?
                .collect::<rusqlite::Result<Vec<_>>>()
                .map_err(unavailable)?;
            Ok(finish_page(items, limit))
        })
        .await
    }

    async fn query_active(
        &self,
        active: &str,
        after: Option<(&str, &str)>,
        limit: usize,
        now: i64,
    ) -> Result<ItemPage, StoreError> {
        let active = active.to_owned();
        let (after_pk, after_sk) = after
            .map(|(p, s)| (Some(p.to_owned()), Some(s.to_owned())))
            .unwrap_or_default();
        self.run(move |conn| {
            let mut stmt = conn
                .prepare_cached(&format!(
                    "SELECT {COLUMNS} FROM items
                     WHERE active = ?1
                       AND (?2 IS NULL OR (pk, sk) > (?2, ?3))
                       AND (expires_at IS NULL OR expires_at > ?4)
                     ORDER BY pk, sk LIMIT ?5"
                ))
                .map_err(unavailable)?;
            let items = stmt
                .query_map(
                    params![active, after_pk, after_sk, now, (limit + 1) as i64],
                    read_item,
                )
                .map_err(unavailable)?
                .collect::<rusqlite::Result<Vec<_>>>()
                .map_err(unavailable)?;
            Ok(finish_page(items, limit))
        })
        .await
    }
}
