//! The trace writer: one thread, fed by a bounded channel, writes the ingest requests of every
//! connection in shared transactions (group commit).
//!
//! Each request waits until the transaction holding it has committed (the writer connection runs
//! `synchronous = FULL`, so an acknowledged batch is on disk), then gets its own outcome: requests
//! run inside one savepoint each, so one that fails (an idempotency conflict) is rolled back alone
//! while the others of the transaction are stored. A transaction takes what is queued when the
//! previous one ends, up to [`MAX_BATCH_SPANS`] spans: under load the cost of a commit is shared by
//! many requests, when idle a request is written at once. Readers use their own connections (WAL),
//! so they never wait for the writer, nor it for them.

use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::sync::{Arc, Mutex, MutexGuard};

use rusqlite::{Connection, Transaction, TransactionBehavior};
use staso_wire::ingest::IngestAck;

use super::error::{StoreError, StoreResult};

/// Spans gathered into one transaction at most.
pub const MAX_BATCH_SPANS: usize = 50_000;
/// Requests waiting for the writer at most; senders block beyond (back-pressure on the handlers'
/// blocking threads, not on the async executor).
const QUEUE_DEPTH: usize = 256;

/// The work of one request inside the shared transaction. The writer knows nothing of what it
/// writes (the trace store builds it), so this module depends on no other store module.
pub(crate) type Work = Box<dyn FnOnce(&Transaction<'_>) -> StoreResult<IngestAck> + Send>;

/// One request for the writer.
struct Job {
    work: Work,
    /// Spans it writes, for the batch limit.
    spans: usize,
    reply: SyncSender<StoreResult<IngestAck>>,
}

/// The sending side of the writer thread.
#[derive(Debug)]
pub(crate) struct IngestQueue {
    tx: SyncSender<Job>,
}

impl IngestQueue {
    /// Starts the writer thread on `conn` (the store's write connection, shared with
    /// [`Store::write`](super::Store::write), which it locks per transaction). The thread ends when
    /// the queue is dropped.
    pub(crate) fn start(conn: Arc<Mutex<Connection>>) -> std::io::Result<Self> {
        let (tx, rx) = sync_channel(QUEUE_DEPTH);
        std::thread::Builder::new()
            .name("staso-store-writer".into())
            .spawn(move || run(&conn, &rx))?;
        Ok(IngestQueue { tx })
    }
}

fn lock(m: &Mutex<Connection>) -> MutexGuard<'_, Connection> {
    // A panic inside a job drops its Transaction, which rolls back: the connection is clean.
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
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
    write_batch(&mut lock(conn), vec![job]);
    outcome
        .recv()
        .unwrap_or_else(|_| Err(StoreError::Batch("no outcome".to_owned())))
}

fn run(conn: &Mutex<Connection>, rx: &Receiver<Job>) {
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
        write_batch(&mut lock(conn), jobs);
    }
}

/// Writes `jobs` in one transaction, a savepoint each, and answers each (all with the error when
/// the transaction itself fails).
fn write_batch(conn: &mut Connection, jobs: Vec<Job>) {
    let mut replies = Vec::with_capacity(jobs.len());
    let outcomes = transaction(conn, jobs, &mut replies);
    let outcomes = match outcomes {
        Ok(outcomes) => outcomes,
        Err(e) => {
            let why = e.to_string();
            replies
                .iter()
                .map(|_| Err(StoreError::Batch(why.clone())))
                .collect()
        }
    };
    for (reply, outcome) in replies.into_iter().zip(outcomes) {
        // A caller that went away (request cancelled) does not need its answer.
        let _ = reply.send(outcome);
    }
}

fn transaction(
    conn: &mut Connection,
    jobs: Vec<Job>,
    replies: &mut Vec<SyncSender<StoreResult<IngestAck>>>,
) -> StoreResult<Vec<StoreResult<IngestAck>>> {
    let mut outcomes = Vec::with_capacity(jobs.len());
    let tx = match conn.transaction_with_behavior(TransactionBehavior::Immediate) {
        Ok(tx) => tx,
        Err(e) => {
            replies.extend(jobs.into_iter().map(|j| j.reply));
            return Err(e.into());
        }
    };
    let mut failed = None;
    for job in jobs {
        replies.push(job.reply);
        if failed.is_some() {
            continue;
        }
        if let Err(e) = tx.execute_batch("SAVEPOINT job") {
            failed = Some(e);
            continue;
        }
        let outcome = (job.work)(&tx);
        let end = if outcome.is_ok() {
            "RELEASE job"
        } else {
            "ROLLBACK TO job; RELEASE job"
        };
        if let Err(e) = tx.execute_batch(end) {
            failed = Some(e);
            continue;
        }
        outcomes.push(outcome);
    }
    if let Some(e) = failed {
        return Err(e.into());
    }
    tx.commit()?;
    Ok(outcomes)
}
