//! SQLite storage: one file, WAL mode, schema migrations versioned in [`schema`]; every write of one
//! request runs in one transaction.
//!
//! The store is synchronous (rusqlite); the HTTP layer calls it through `spawn_blocking` so the async
//! executor never waits on the disk.

pub mod annotations;
mod checkpointer;
pub mod datasets;
mod error;
pub mod guard;
pub mod memory;
pub mod prompts;
pub mod receipts;
mod retention;
pub mod schema;
pub mod trace_retention;
pub mod traces;
pub mod ui;
mod writer;

pub use error::{StoreError, StoreResult};
pub use retention::{ReceiptRetention, TraceRetention};

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use rusqlite::{Connection, OptionalExtension, Transaction, TransactionBehavior};

/// Read connections: a request takes a free one, so readers never wait for each other (up to this
/// many at once) nor, with WAL, for the writer.
const READERS: usize = 4;

/// The database: one connection for writes (ingest goes through its writer thread, [`writer`]),
/// a small pool for reads (WAL lets them run side by side).
#[derive(Debug)]
pub struct Store {
    path: PathBuf,
    writer: Arc<Mutex<Connection>>,
    readers: Vec<Mutex<Connection>>,
    next_reader: AtomicUsize,
    ingest: OnceLock<Option<writer::IngestQueue>>,
    receipt_retention: ReceiptRetention,
    /// Reads and writes started ([`Store::activity`]); [`memory`] trims the caches when it stands
    /// still.
    activity: AtomicU64,
    /// The activity count at the last complete trim (`u64::MAX`: never trimmed).
    trimmed_at: AtomicU64,
    /// Trims that freed caches.
    trims: AtomicU64,
}

/// `cache_kib`: the page cache, KiB. The write connection opens with `synchronous = FULL` (a
/// [`Store::write`] is on disk when it returns); ingest transactions on the writer thread commit with
/// `NORMAL` and are acknowledged only after its sync thread has synced the WAL ([`writer`]).
fn open_conn(path: &Path, cache_kib: i64, synchronous: &str) -> StoreResult<Connection> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    // A new database gives freed pages back to the file system (`PRAGMA incremental_vacuum`, run by
    // trace retention). Only possible before the first table exists and before WAL mode; on an
    // existing database this does nothing (it keeps `NONE` and reuses its free pages).
    conn.pragma_update(None, "auto_vacuum", "INCREMENTAL")?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", synchronous)?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    conn.pragma_update(None, "cache_size", -cache_kib)?;
    // The WAL file is truncated to this after a checkpoint (it would keep its largest size).
    conn.pragma_update(None, "journal_size_limit", 64 * 1024 * 1024)?;
    conn.set_prepared_statement_cache_capacity(64);
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
        let mut writer = open_conn(&path, 64 * 1024, "FULL")?;
        schema::migrate(&mut writer)?;
        let readers = (0..READERS)
            .map(|_| open_conn(&path, 16 * 1024, "NORMAL").map(Mutex::new))
            .collect::<StoreResult<_>>()?;
        Ok(Store {
            path,
            writer: Arc::new(Mutex::new(writer)),
            readers,
            next_reader: AtomicUsize::new(0),
            ingest: OnceLock::new(),
            receipt_retention: ReceiptRetention::default(),
            activity: AtomicU64::new(0),
            trimmed_at: AtomicU64::new(u64::MAX),
            trims: AtomicU64::new(0),
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
        self.touch();
        let mut conn = lock(&self.writer);
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let out = f(&tx)?;
        tx.commit()?;
        Ok(out)
    }

    /// Runs `f` in a read transaction (one consistent snapshot), on a free read connection (or,
    /// when all are busy, the next one in turn).
    pub fn read<T>(&self, f: impl FnOnce(&Transaction<'_>) -> StoreResult<T>) -> StoreResult<T> {
        self.touch();
        let mut conn = self
            .readers
            .iter()
            .find_map(|m| m.try_lock().ok())
            .unwrap_or_else(|| {
                let i = self.next_reader.fetch_add(1, Ordering::Relaxed) % self.readers.len();
                lock(&self.readers[i])
            });
        let tx = conn.transaction_with_behavior(TransactionBehavior::Deferred)?;
        f(&tx)
    }

    /// Hands one request's writes (`spans` spans) to the writer thread (started on first use) and
    /// waits until they are committed; see [`writer`].
    pub(crate) fn submit_write(
        &self,
        spans: usize,
        work: writer::Work,
    ) -> StoreResult<staso_wire::ingest::IngestAck> {
        self.touch();
        let queue = self.ingest.get_or_init(|| {
            writer::IngestQueue::start(Arc::clone(&self.writer))
                .map_err(|e| log::warn!("no writer thread ({e}); ingest writes inline"))
                .ok()
        });
        writer::submit(queue.as_ref(), &self.writer, spans, work)
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
