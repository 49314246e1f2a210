//! SQLite storage: one file, WAL mode, schema migrations versioned in [`schema`]; every write of one
//! request runs in one transaction.
//!
//! The store is synchronous (rusqlite); the HTTP layer calls it through `spawn_blocking` so the async
//! executor never waits on the disk.

pub mod annotations;
pub mod datasets;
mod error;
pub mod guard;
pub mod prompts;
pub mod receipts;
mod retention;
pub mod schema;
pub mod traces;
pub mod ui;

pub use error::{StoreError, StoreResult};
pub use retention::ReceiptRetention;

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use rusqlite::{Connection, OptionalExtension, Transaction, TransactionBehavior};

/// The database: one connection for writes, one for reads (WAL lets them run side by side).
#[derive(Debug)]
pub struct Store {
    path: PathBuf,
    writer: Mutex<Connection>,
    reader: Mutex<Connection>,
    receipt_retention: ReceiptRetention,
}

fn open_conn(path: &Path) -> StoreResult<Connection> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    Ok(conn)
}

fn lock(m: &Mutex<Connection>) -> MutexGuard<'_, Connection> {
    // A panic inside a closure drops its Transaction, which rolls back: the connection is clean.
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Store {
    /// Opens (creating if needed) the database at `path` and brings its schema up to date.
    pub fn open(path: impl AsRef<Path>) -> StoreResult<Self> {
        let path = path.as_ref().to_path_buf();
        let mut writer = open_conn(&path)?;
        schema::migrate(&mut writer)?;
        let reader = open_conn(&path)?;
        Ok(Store {
            path,
            writer: Mutex::new(writer),
            reader: Mutex::new(reader),
            receipt_retention: ReceiptRetention::default(),
        })
    }

    /// Sets how long idempotency receipts are kept and how often
    /// [`receipts::purge_periodically`] purges them (default: [`ReceiptRetention::default`],
    /// 24 hours checked every 10 minutes).
    pub fn with_receipt_retention(mut self, retention: ReceiptRetention) -> Self {
        self.receipt_retention = retention;
        self
    }

    /// How long idempotency receipts are kept, and how often they are purged.
    pub fn receipt_retention(&self) -> ReceiptRetention {
        self.receipt_retention
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `f` in one IMMEDIATE transaction; commits on `Ok`, rolls back on `Err`.
    pub fn write<T>(&self, f: impl FnOnce(&Transaction<'_>) -> StoreResult<T>) -> StoreResult<T> {
        let mut conn = lock(&self.writer);
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let out = f(&tx)?;
        tx.commit()?;
        Ok(out)
    }

    /// Runs `f` in a read transaction (one consistent snapshot).
    pub fn read<T>(&self, f: impl FnOnce(&Transaction<'_>) -> StoreResult<T>) -> StoreResult<T> {
        let mut conn = lock(&self.reader);
        let tx = conn.transaction_with_behavior(TransactionBehavior::Deferred)?;
        f(&tx)
    }

    /// A value of the `meta` table.
    pub fn meta(&self, key: &str) -> StoreResult<Option<String>> {
        self.read(|tx| {
            Ok(tx
                .query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
                .optional()?)
        })
    }

    /// Sets a value of the `meta` table unless it is already set; returns the stored value.
    pub fn meta_get_or_insert(&self, key: &str, value: &str) -> StoreResult<String> {
        self.write(|tx| {
            tx.execute(
                "INSERT INTO meta(key, value) VALUES (?1, ?2) ON CONFLICT(key) DO NOTHING",
                [key, value],
            )?;
            Ok(tx.query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))?)
        })
    }
}

/// SQL fragment and parameters restricting `column` to the scope's workspaces.
pub(crate) fn scope_filter(
    scope: &crate::keys::Scope,
    column: &str,
    params: &mut Vec<rusqlite::types::Value>,
) -> String {
    match scope.workspaces() {
        None => "1".to_owned(),
        Some([]) => "0".to_owned(),
        Some(list) => {
            let mut marks = Vec::with_capacity(list.len());
            for w in list {
                params.push(rusqlite::types::Value::Text(w.clone()));
                marks.push(format!("?{}", params.len()));
            }
            format!("{column} IN ({})", marks.join(", "))
        }
    }
}
