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
use std::sync::{Arc, Mutex};

use rusqlite::{Connection, Transaction, TransactionBehavior};
use staso_wire::ingest::IngestAck;

use super::traces::{CheckedGroup, upsert_group};
use super::{StoreError, StoreResult, lock, receipts};

/// Spans gathered into one transaction at most.
pub const MAX_BATCH_SPANS: usize = 50_000;
/// Requests waiting for the writer at most; senders block beyond (back-pressure on the handlers'
/// blocking threads, not on the async executor).
const QUEUE_DEPTH: usize = 256;

/// One ingest request for the writer.
pub(crate) struct IngestJob {
    /// Receipt partition ([`Scope::label`](crate::keys::Scope::label)).
    pub scope_label: String,
    /// `Some` for the Staso ingest (idempotency receipt kept); `None` for OTLP.
    pub idempotency_key: Option<String>,
    /// [`receipts::body_hash`] of the body.
    pub body_hash: String,
    /// The validated groups.
    pub groups: Vec<CheckedGroup>,
    reply: SyncSender<StoreResult<IngestAck>>,
}

/// The sending side of the writer thread.
#[derive(Debug)]
pub(crate) struct IngestQueue {
    tx: SyncSender<IngestJob>,
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

/// Submits a request and waits for its outcome; runs it on the caller's thread when the writer
/// thread is not available (`queue` is `None`: it could not be started).
pub(crate) fn submit(
    queue: Option<&IngestQueue>,
    conn: &Mutex<Connection>,
    scope_label: String,
    idempotency_key: Option<String>,
    body_hash: String,
    groups: Vec<CheckedGroup>,
) -> StoreResult<IngestAck> {
    let (reply, outcome) = sync_channel(1);
    let job = IngestJob {
        scope_label,
        idempotency_key,
        body_hash,
        groups,
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
    let mut jobs = vec![job];
    write_batch(&mut lock(conn), &mut jobs);
    outcome
        .recv()
        .unwrap_or_else(|_| Err(StoreError::Batch("no outcome".to_owned())))
}

fn run(conn: &Mutex<Connection>, rx: &Receiver<IngestJob>) {
    while let Ok(first) = rx.recv() {
        let mut spans = span_count(&first);
        let mut jobs = vec![first];
        while spans < MAX_BATCH_SPANS {
            match rx.try_recv() {
                Ok(job) => {
                    spans += span_count(&job);
                    jobs.push(job);
                }
                Err(_) => break,
            }
        }
        write_batch(&mut lock(conn), &mut jobs);
    }
}

fn span_count(job: &IngestJob) -> usize {
    job.groups
        .iter()
        .map(|g| g.spans.len())
        .sum::<usize>()
        .max(1)
}

/// Writes `jobs` in one transaction, a savepoint each, and answers each (all with the error when
/// the transaction itself fails).
fn write_batch(conn: &mut Connection, jobs: &mut Vec<IngestJob>) {
    let outcomes = match transaction(conn, jobs) {
        Ok(outcomes) => outcomes,
        Err(e) => {
            let why = e.to_string();
            jobs.iter()
                .map(|_| Err(StoreError::Batch(why.clone())))
                .collect()
        }
    };
    for (job, outcome) in jobs.drain(..).zip(outcomes) {
        // A caller that went away (request cancelled) does not need its answer.
        let _ = job.reply.send(outcome);
    }
}

fn transaction(
    conn: &mut Connection,
    jobs: &[IngestJob],
) -> StoreResult<Vec<StoreResult<IngestAck>>> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let mut outcomes = Vec::with_capacity(jobs.len());
    for job in jobs {
        tx.execute_batch("SAVEPOINT job")?;
        match apply(&tx, job) {
            Ok(ack) => {
                tx.execute_batch("RELEASE job")?;
                outcomes.push(Ok(ack));
            }
            Err(e) => {
                tx.execute_batch("ROLLBACK TO job; RELEASE job")?;
                outcomes.push(Err(e));
            }
        }
    }
    tx.commit()?;
    Ok(outcomes)
}

fn apply(tx: &Transaction<'_>, job: &IngestJob) -> StoreResult<IngestAck> {
    if let Some(key) = &job.idempotency_key
        && let Some(ack) = receipts::find(tx, &job.scope_label, key, &job.body_hash)?
    {
        return Ok(ack);
    }
    for g in &job.groups {
        upsert_group(tx, g)?;
    }
    let ack = IngestAck {
        accepted: job.groups.len() as u64,
        rejected: 0,
        spans_dropped: 0,
        receipt_id: job.idempotency_key.clone().unwrap_or_default(),
    };
    if let Some(key) = &job.idempotency_key {
        receipts::record(tx, &job.scope_label, key, &job.body_hash, &ack)?;
    }
    Ok(ack)
}
