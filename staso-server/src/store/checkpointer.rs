//! The checkpoint thread: copies the WAL's pages back into the database file on a connection of
//! its own, beside the writer, so the writer no longer stops for most of that work.
//!
//! The writer nudges it after each transaction; when the WAL has grown past
//! [`CHECKPOINT_BYTES`] it runs a passive checkpoint (`PRAGMA wal_checkpoint(PASSIVE)`), which
//! copies what it can while the writer goes on appending and waits for no lock. The writer keeps
//! a checkpoint of its own at a larger size ([`WRITER_CHECKPOINT_PAGES`]): run between its
//! transactions, it finishes what this thread could not (the frames appended meanwhile), which
//! lets the next transaction start the WAL over, so the WAL stays bounded.

use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};

use rusqlite::Connection;

/// The WAL size past which this thread checkpoints: 64 MiB (16 Ki pages of 4 KiB), the size the
/// WAL file is truncated back to.
pub(super) const CHECKPOINT_BYTES: u64 = 64 * 1024 * 1024;

/// The writer's own checkpoint interval while this thread runs, in pages: four times this
/// thread's (256 MiB of 4 KiB pages).
pub(super) const WRITER_CHECKPOINT_PAGES: i64 = 4 * 16 * 1024;

/// The writer's handle on the checkpoint thread, which ends when it is dropped.
pub(super) struct Checkpointer {
    nudge: SyncSender<()>,
}

impl Checkpointer {
    /// Starts the checkpoint thread on its own connection to the database at `db` (in WAL mode,
    /// its WAL file `wal`), checkpointing once the WAL holds `threshold` bytes
    /// ([`CHECKPOINT_BYTES`]).
    pub(super) fn start(db: &Path, wal: PathBuf, threshold: u64) -> std::io::Result<Self> {
        let conn = Connection::open(db).map_err(std::io::Error::other)?;
        let (nudge, nudged) = sync_channel(1);
        std::thread::Builder::new()
            .name("staso-store-checkpoint".into())
            .spawn(move || run(&conn, &wal, threshold, &nudged))?;
        Ok(Checkpointer { nudge })
    }

    /// Tells the thread a transaction was committed (it checks the WAL's size); never waits.
    pub(super) fn nudge(&self) {
        match self.nudge.try_send(()) {
            Ok(()) | Err(TrySendError::Full(())) => {}
            Err(TrySendError::Disconnected(())) => {
                log::debug!("the checkpoint thread stopped; the writer's checkpoints remain")
            }
        }
    }
}

fn run(conn: &Connection, wal: &Path, threshold: u64, nudged: &Receiver<()>) {
    // The WAL's size at the last pass: the next waits for half an interval more (each pass syncs
    // the WAL and the database file), or for the file to have been cut back (a new WAL).
    let mut last = 0;
    while nudged.recv().is_ok() {
        let size = std::fs::metadata(wal).map(|m| m.len()).unwrap_or(0);
        if size < threshold || (size >= last && size - last < threshold / 2) {
            continue;
        }
        last = size;
        // (busy, frames in the WAL, frames copied): a passive checkpoint takes no lock that the
        // writer or the readers wait for; what it could not copy is copied next time.
        let done = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| {
            Ok((r.get::<_, i64>(1)?, r.get::<_, i64>(2)?))
        });
        if let Err(e) = done {
            log::debug!("passive checkpoint failed ({e}); the writer's checkpoints remain");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Pages written to the WAL reach the database file through the checkpoint thread alone
    /// (the writing connection never checkpoints here).
    #[test]
    fn a_nudge_past_the_threshold_copies_the_wal_into_the_database_file() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("c.db");
        let writer = Connection::open(&db).unwrap();
        writer.pragma_update(None, "journal_mode", "WAL").unwrap();
        writer.pragma_update(None, "wal_autocheckpoint", 0).unwrap();
        writer.execute_batch("CREATE TABLE t (v BLOB)").unwrap();
        let db_size = || std::fs::metadata(&db).map(|m| m.len()).unwrap_or(0);
        let before = db_size();
        for _ in 0..64 {
            writer
                .execute("INSERT INTO t VALUES (zeroblob(16384))", [])
                .unwrap();
        }
        assert_eq!(db_size(), before, "the rows are only in the WAL");
        let wal = dir.path().join("c.db-wal");
        let checkpointer = Checkpointer::start(&db, wal, 256 * 1024).unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while db_size() < before + 64 * 16384 {
            assert!(std::time::Instant::now() < deadline, "no checkpoint");
            checkpointer.nudge();
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        let rows: i64 = writer
            .query_row("SELECT count(*) FROM t", [], |r| r.get(0))
            .unwrap();
        assert_eq!(rows, 64);
    }

    /// Under the threshold nothing is copied.
    #[test]
    fn under_the_threshold_the_wal_stays_as_it_is() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("u.db");
        let writer = Connection::open(&db).unwrap();
        writer.pragma_update(None, "journal_mode", "WAL").unwrap();
        writer.pragma_update(None, "wal_autocheckpoint", 0).unwrap();
        writer
            .execute_batch("CREATE TABLE t (v BLOB); INSERT INTO t VALUES (zeroblob(65536));")
            .unwrap();
        let db_size = || std::fs::metadata(&db).map(|m| m.len()).unwrap_or(0);
        let before = db_size();
        let checkpointer =
            Checkpointer::start(&db, dir.path().join("u.db-wal"), CHECKPOINT_BYTES).unwrap();
        checkpointer.nudge();
        std::thread::sleep(std::time::Duration::from_millis(200));
        assert_eq!(db_size(), before);
    }
}
