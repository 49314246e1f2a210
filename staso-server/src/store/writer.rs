//! The trace writer: one thread, fed by a bounded channel, writes the ingest requests of every
//! connection in shared transactions (group commit), and a second thread makes them durable.
//!
//! Each request waits until the transaction holding it is on disk, then gets its own outcome:
//! requests run inside one savepoint each, so one that fails (an idempotency conflict) is rolled
//! back alone while the others of the transaction are stored. A transaction takes what is queued
//! when the previous one ends, up to [`MAX_BATCH_SPANS`] spans: under load the cost of a commit is
//! shared by many requests, when idle a request is written at once. Readers use their own
//! connections (WAL), so they never wait for the writer, nor it for them.
//!
//! Durability is pipelined: the writer commits with `synchronous = NORMAL` (WAL frames written, not
//! synced) and hands the transaction's replies to the sync thread, which `fdatasync`s the WAL file
//! and only then answers; meanwhile the writer already runs the next transaction. An acknowledged
//! request is on disk exactly as with `synchronous = FULL` (which syncs the WAL after the commit
//! frame, on the writer's thread); the sync thread syncs once for every transaction committed
//! while it was syncing. A transaction is visible to readers from its commit, shortly before it is
//! acknowledged. When the database has no WAL file (in memory), the writer keeps the connection's
//! own setting and answers at once.

use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, Sender, SyncSender, channel, sync_channel};
use std::sync::{Arc, Mutex, MutexGuard};

use rusqlite::{Connection, Transaction, TransactionBehavior};
use staso_wire::ingest::IngestAck;

use super::checkpointer::{CHECKPOINT_BYTES, Checkpointer, WRITER_CHECKPOINT_PAGES};
use super::error::{StoreError, StoreResult};

/// Spans gathered into one transaction at most.
pub const MAX_BATCH_SPANS: usize = 50_000;
/// The write connection checkpoints when the WAL holds this many pages (64 MiB of 4 KiB pages, the
/// size the WAL file is truncated back to), not SQLite's default 1000, when no checkpoint thread
/// runs (`checkpointer.rs`; with one, [`WRITER_CHECKPOINT_PAGES`]). A checkpoint copies every
/// page of the WAL into the database file and syncs both, on the writer's thread; ingest dirties
/// the same index pages transaction after transaction, so a longer interval copies each of them
/// once for many transactions and stalls the writer less often (measured: 24–37 % more spans/s,
/// up to 10 % less writer CPU per span). Readers find pages in the WAL through its index.
const CHECKPOINT_PAGES: i64 = 16 * 1024;
/// Requests waiting for the writer at most; senders block beyond (back-pressure on the handlers'
/// blocking threads, not on the async executor).
const QUEUE_DEPTH: usize = 256;

/// The work of one request inside the shared transaction. The writer knows nothing of what it
/// writes (the trace store builds it), so this module depends on no other store module. It may run
/// twice (see [`write_batch`]): the first run's writes are then rolled back.
pub(crate) type Work = Box<dyn Fn(&Transaction<'_>) -> StoreResult<IngestAck> + Send>;

type Reply = SyncSender<StoreResult<IngestAck>>;

/// A request's outcome on its way to the caller, with the request's spent work: the work owns the
/// request's decoded spans, and freeing them is left to whichever thread answers (the sync thread
/// under load), not the writer (≈ 4 % of its time).
type Answer = (Reply, StoreResult<IngestAck>, Work);

/// One request for the writer.
struct Job {
    work: Work,
    /// Spans it writes, for the batch limit.
    spans: usize,
    reply: Reply,
}

/// The sending side of the writer thread.
#[derive(Debug)]
pub(crate) struct IngestQueue {
    tx: SyncSender<Job>,
}

impl IngestQueue {
    /// Starts the writer thread on `conn` (the store's write connection, shared with
    /// [`Store::write`](super::Store::write), which it locks per transaction), and the sync thread
    /// when the database has a WAL file. The threads end when the queue is dropped.
    pub(crate) fn start(conn: Arc<Mutex<Connection>>) -> std::io::Result<Self> {
        let files = wal_path(&lock(&conn));
        let syncer = match &files {
            Some((_, wal)) => Some(Syncer::start(wal.clone())?),
            None => None,
        };
        // The checkpoint thread copies most of the WAL beside the writer; without it (no WAL
        // file, or it could not start) the writer checkpoints every 64 MiB itself.
        let checkpointer = files.and_then(|(db, wal)| {
            Checkpointer::start(&db, wal, CHECKPOINT_BYTES)
                .inspect_err(|e| log::warn!("no checkpoint thread ({e}); the writer checkpoints"))
                .ok()
        });
        let pages = match checkpointer {
            Some(_) => WRITER_CHECKPOINT_PAGES,
            None => CHECKPOINT_PAGES,
        };
        if let Err(e) = lock(&conn).pragma_update(None, "wal_autocheckpoint", pages) {
            log::warn!("wal_autocheckpoint stays at its default ({e})");
        }
        let (tx, rx) = sync_channel(QUEUE_DEPTH);
        std::thread::Builder::new()
            .name("staso-store-writer".into())
            .spawn(move || run(&conn, &rx, syncer.as_ref(), checkpointer.as_ref()))?;
        Ok(IngestQueue { tx })
    }
}

fn lock(m: &Mutex<Connection>) -> MutexGuard<'_, Connection> {
    // A panic inside a job drops its Transaction, which rolls back: the connection is clean.
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The database file of `conn` and its WAL file; `None` unless it is a file in WAL mode.
fn wal_path(conn: &Connection) -> Option<(PathBuf, PathBuf)> {
    let mode: String = conn
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .ok()?;
    let db = conn.path().filter(|p| !p.is_empty())?;
    mode.eq_ignore_ascii_case("wal")
        .then(|| (PathBuf::from(db), PathBuf::from(format!("{db}-wal"))))
}

/// Submits `work` (writing `spans` spans) and waits for its outcome; runs it on the caller's
/// thread when the writer thread is not available (`queue` is `None`: it could not be started).
pub(crate) fn submit(
    queue: Option<&IngestQueue>,
    conn: &Mutex<Connection>,
    spans: usize,
    work: Work,
) -> StoreResult<IngestAck> {
    let (reply, outcome) = sync_channel(1);
    let job = Job {
        work,
        spans: spans.max(1),
        reply,
    };
    let job = match queue {
        Some(q) => match q.tx.send(job) {
            Ok(()) => {
                return outcome.recv().unwrap_or_else(|_| {
                    Err(StoreError::Batch("the writer thread stopped".to_owned()))
                });
            }
            Err(returned) => returned.0,
        },
        None => job,
    };
    // Inline: the connection's own `synchronous = FULL` makes the commit durable.
    answer(write_batch(&mut lock(conn), vec![job]));
    outcome
        .recv()
        .unwrap_or_else(|_| Err(StoreError::Batch("no outcome".to_owned())))
}

fn run(
    conn: &Mutex<Connection>,
    rx: &Receiver<Job>,
    syncer: Option<&Syncer>,
    checkpointer: Option<&Checkpointer>,
) {
    while let Ok(first) = rx.recv() {
        let mut spans = first.spans;
        let mut jobs = vec![first];
        while spans < MAX_BATCH_SPANS {
            match rx.try_recv() {
                Ok(job) => {
                    spans += job.spans;
                    jobs.push(job);
                }
                Err(_) => break,
            }
        }
        let answers = {
            let mut conn = lock(conn);
            match syncer {
                Some(_) => without_sync(&mut conn, jobs),
                None => write_batch(&mut conn, jobs),
            }
        };
        match syncer {
            Some(s) => s.send(answers),
            None => answer(answers),
        }
        if let Some(c) = checkpointer {
            c.nudge();
        }
    }
}

/// Writes `jobs` with `synchronous = NORMAL` (the sync thread syncs the WAL before answering),
/// then gives the connection back its setting for [`Store::write`](super::Store::write).
fn without_sync(conn: &mut Connection, jobs: Vec<Job>) -> Vec<Answer> {
    let before: Option<i64> = conn.query_row("PRAGMA synchronous", [], |r| r.get(0)).ok();
    let relaxed = before.is_some() && conn.pragma_update(None, "synchronous", "NORMAL").is_ok();
    let answers = write_batch(conn, jobs);
    if let (true, Some(level)) = (relaxed, before)
        && let Err(e) = conn.pragma_update(None, "synchronous", level)
    {
        log::warn!("could not restore synchronous = {level} on the write connection: {e}");
    }
    answers
}

fn answer(answers: Vec<Answer>) {
    for (reply, outcome, _spent) in answers {
        // A caller that went away (request cancelled) does not need its answer.
        let _ = reply.send(outcome);
    }
}

/// Writes `jobs` in one transaction; each reply with its outcome (all with the error when the
/// transaction itself fails).
///
/// The jobs first run one after the other with nothing between them: a savepoint per job made
/// SQLite copy every page a job touched into the statement journal (a `pwrite` per page, ≈ 13 %
/// of the writer's time under load). Only when a job fails (an idempotency conflict, a constraint)
/// is that transaction rolled back and the batch run again with a savepoint per job, so the
/// failing one is rolled back alone and the others are stored. Jobs are `Fn` for that reason.
fn write_batch(conn: &mut Connection, jobs: Vec<Job>) -> Vec<Answer> {
    let outcomes = match transaction(conn, &jobs, Isolation::Shared) {
        Ok(Some(outcomes)) => Ok(outcomes),
        Ok(None) => transaction(conn, &jobs, Isolation::SavepointEach)
            .map(|outcomes| outcomes.unwrap_or_default()),
        Err(e) => Err(e),
    };
    let outcomes: Vec<StoreResult<IngestAck>> = match outcomes {
        Ok(outcomes) => outcomes,
        Err(e) => {
            let why = e.to_string();
            jobs.iter()
                .map(|_| Err(StoreError::Batch(why.clone())))
                .collect()
        }
    };
    jobs.into_iter()
        .zip(outcomes)
        .map(|(job, outcome)| (job.reply, outcome, job.work))
        .collect()
}

/// How the jobs of a transaction are kept apart.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Isolation {
    /// Not at all: the first failing job ends the attempt (rolled back, `Ok(None)`).
    Shared,
    /// A savepoint each: a failing job is rolled back alone.
    SavepointEach,
}

/// Runs `jobs` in one immediate transaction and commits it. `Ok(None)`: under
/// [`Isolation::Shared`] a job failed and the transaction was rolled back.
fn transaction(
    conn: &mut Connection,
    jobs: &[Job],
    isolation: Isolation,
) -> StoreResult<Option<Vec<StoreResult<IngestAck>>>> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let mut outcomes = Vec::with_capacity(jobs.len());
    for job in jobs {
        let outcome = match isolation {
            Isolation::Shared => match (job.work)(&tx) {
                Ok(ack) => Ok(ack),
                // Dropping `tx` rolls the attempt back.
                Err(_) => return Ok(None),
            },
            Isolation::SavepointEach => {
                tx.execute_batch("SAVEPOINT job")?;
                let outcome = (job.work)(&tx);
                tx.execute_batch(if outcome.is_ok() {
                    "RELEASE job"
                } else {
                    "ROLLBACK TO job; RELEASE job"
                })?;
                outcome
            }
        };
        outcomes.push(outcome);
    }
    tx.commit()?;
    Ok(Some(outcomes))
}

/// The sync thread: answers committed transactions once the WAL is on disk.
struct Syncer {
    tx: Sender<Vec<Answer>>,
}

impl Syncer {
    fn start(wal: PathBuf) -> std::io::Result<Self> {
        let (tx, rx) = channel::<Vec<Answer>>();
        std::thread::Builder::new()
            .name("staso-store-sync".into())
            .spawn(move || {
                let mut dir_synced = false;
                while let Ok(mut answers) = rx.recv() {
                    // Every transaction committed meanwhile shares this sync.
                    while let Ok(more) = rx.try_recv() {
                        answers.extend(more);
                    }
                    let synced = sync(&wal, &mut dir_synced);
                    for (reply, outcome, _spent) in answers {
                        let outcome = match &synced {
                            Ok(()) => outcome,
                            Err(e) => outcome.and_then(|_| {
                                Err(StoreError::Batch(format!("syncing the WAL failed: {e}")))
                            }),
                        };
                        let _ = reply.send(outcome);
                    }
                }
            })?;
        Ok(Syncer { tx })
    }

    fn send(&self, answers: Vec<Answer>) {
        if let Err(returned) = self.tx.send(answers) {
            // The sync thread is gone (it only ends with its sender): fail rather than ack unsynced.
            for (reply, _, _) in returned.0 {
                let _ = reply.send(Err(StoreError::Batch("the sync thread stopped".to_owned())));
            }
        }
    }
}

/// `fdatasync` of the WAL file (the same inode SQLite writes: fsync covers every descriptor), and
/// once of its directory, so a WAL file created since the last SQLite sync has its entry on disk.
/// SQLite locks only the database and `-shm` files, so opening and closing the WAL here releases
/// none of its locks.
fn sync(wal: &Path, dir_synced: &mut bool) -> std::io::Result<()> {
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(wal)?
        .sync_data()?;
    if !*dir_synced {
        // A bare file name (`--db staso.db`) lives in the working directory.
        let dir = match wal.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        std::fs::File::open(dir)?.sync_all()?;
        *dir_synced = true;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::Store;

    /// Through the sync thread a request is acknowledged, stored, and the write connection keeps
    /// `synchronous = FULL` for [`Store::write`] afterwards.
    #[test]
    fn acked_writes_are_stored_and_full_sync_is_restored() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path().join("w.db")).unwrap();
        for i in 0..3 {
            let ack = store
                .submit_write(
                    1,
                    Box::new(move |tx| {
                        tx.execute("INSERT INTO meta(key, value) VALUES (?1, 'v')", [i])?;
                        Ok(staso_wire::ingest::IngestAck {
                            accepted: 1,
                            rejected: 0,
                            spans_dropped: 0,
                            receipt_id: format!("r{i}"),
                        })
                    }),
                )
                .unwrap();
            assert_eq!(ack.receipt_id, format!("r{i}"));
        }
        assert_eq!(store.meta("2").unwrap().as_deref(), Some("v"));
        let level: i64 = super::lock(&store.writer)
            .query_row("PRAGMA synchronous", [], |r| r.get(0))
            .unwrap();
        assert_eq!(level, 2, "FULL");
    }

    /// A job that fails after writing is rolled back alone: the batch is run again with a
    /// savepoint per job, and the jobs before and after it are stored once each.
    #[test]
    fn a_failing_job_is_rolled_back_alone() {
        use super::{Job, Work, write_batch};
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path().join("f.db")).unwrap();
        let job = |key: &'static str, fail: bool| {
            let (reply, outcome) = std::sync::mpsc::sync_channel(1);
            let work: Work = Box::new(move |tx| {
                tx.execute("INSERT INTO meta(key, value) VALUES (?1, 'v')", [key])?;
                if fail {
                    return Err(super::StoreError::Batch("refused".to_owned()));
                }
                Ok(staso_wire::ingest::IngestAck {
                    accepted: 1,
                    rejected: 0,
                    spans_dropped: 0,
                    receipt_id: key.to_owned(),
                })
            });
            (
                Job {
                    work,
                    spans: 1,
                    reply,
                },
                outcome,
            )
        };
        let (a, a_out) = job("a", false);
        let (b, b_out) = job("b", true);
        let (c, c_out) = job("c", false);
        let answers = write_batch(&mut super::lock(&store.writer), vec![a, b, c]);
        super::answer(answers);
        assert_eq!(a_out.recv().unwrap().unwrap().receipt_id, "a");
        assert!(b_out.recv().unwrap().is_err());
        assert_eq!(c_out.recv().unwrap().unwrap().receipt_id, "c");
        assert_eq!(store.meta("a").unwrap().as_deref(), Some("v"));
        assert_eq!(store.meta("b").unwrap(), None);
        assert_eq!(store.meta("c").unwrap().as_deref(), Some("v"));
    }
}
