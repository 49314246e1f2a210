//! The batch worker: one `std::thread` per exporter that takes items from the queue, decides
//! when a batch is due (PROTOCOL.md §3.5), hands it to the exporter's [`BatchSender`] and settles
//! its records in the ledger. Written once for the Staso and the OTLP exporter; each contributes
//! only how a batch is sent.
//!
//! A batch is due when it is full, when a flush or shutdown waits for records not yet settled,
//! while shutdown drains, or once `flush_interval` has passed since the last delivery. Between
//! batches the worker serves the sender's side queue, one item per turn. It sleeps in the queue
//! (see `queue.rs`) until a batch is ready, the interval ends or a barrier arrives, and never
//! longer than [`IDLE_WAKE`]. It does not warn of a full queue: producers do (`queue.rs`), as
//! the worker may be stuck in retries.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::Ordering;
use std::sync::{Arc, mpsc};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use super::accounting::{ContentCounts, Failure};
use super::control::{Shared, SideQueue, lock};
use super::queue::{Intake, SleepMode};
use crate::client::InitError;
use crate::config::Config;
use crate::report::DeliveryFailureKind;

/// The worker wakes at least this often, whatever else happens.
const IDLE_WAKE: Duration = Duration::from_millis(100);

/// How a batch ended, as the ledger records it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum BatchOutcome {
    /// Every record was delivered.
    Delivered,
    /// Every record failed.
    Failed(Failure),
    /// The receiver took the batch but refused `rejected` of its records (an OTLP partial
    /// success): those failed with `failure`, the others were delivered.
    Partial {
        /// Records refused (at most the batch's length).
        rejected: u64,
        /// What the refused ones count as.
        failure: Failure,
    },
}

/// What an exporter contributes to the worker: how one batch is sent.
pub(crate) trait BatchSender: Send + 'static {
    /// What a queue slot holds.
    type Item: Send + 'static;
    /// The side queue served between batches (`()` for none).
    type Side: SideQueue;

    /// Sends `batch` (queue order, never empty), logs how it went and says how it ended. It may
    /// take the batch's items; the worker drops what is left. `ahead` lets it take the next whole
    /// batch from the queue while this one is in flight.
    fn send(
        &mut self,
        batch: &mut Vec<Self::Item>,
        ahead: Lookahead<'_, Self::Item>,
    ) -> BatchOutcome;

    /// Sends and settles the oldest item of `side`, if one waits; returns whether there was one.
    fn send_side(&mut self, side: &Self::Side) -> bool {
        let _ = side;
        false
    }

    /// Keeps the counters its content changes (masking, payload budgets) are reported through;
    /// called once, on the worker thread, right after the sender is built.
    fn count_content_in(&mut self, counts: Arc<ContentCounts>) {
        let _ = counts;
    }
}

/// The next batch, which a sender may take from the queue while the current one is in flight.
pub(crate) struct Lookahead<'a, T> {
    intake: &'a Intake<T>,
    next: &'a mut Vec<T>,
    taken: &'a mut u64,
    batch_size: usize,
}

impl<T> Lookahead<'_, T> {
    /// Takes the next batch if a whole one is already queued and returns it; the worker sends it
    /// next, as is or topped up. `None` when fewer are queued: those wait for the batching rules.
    pub(crate) fn take_full_batch(&mut self) -> Option<&[T]> {
        if self.intake.len() < self.batch_size {
            return None;
        }
        while self.next.len() < self.batch_size {
            let Some(item) = self.intake.pop_item() else {
                break;
            };
            self.next.push(item);
            *self.taken += 1;
        }
        Some(self.next.as_slice())
    }
}

/// How a worker is named and batches.
#[derive(Clone, Debug)]
pub(crate) struct WorkerSettings {
    /// The thread's name (`staso-transport`, `staso-otlp`).
    pub(crate) thread_name: &'static str,
    /// What start-up errors and the crash warning call the worker (`delivery`, `OTLP`).
    pub(crate) label: &'static str,
    /// What the queue-full warning (logged by the queue, see `queue.rs`) calls the queue
    /// (`event`, `OTLP`).
    pub(crate) queue_label: &'static str,
    /// Records per batch (1..=500).
    pub(crate) batch_size: usize,
    /// Longest wait before a partial batch is sent.
    pub(crate) flush_interval: Duration,
}

impl WorkerSettings {
    /// `config`'s batch size (clamped to 1..=500) and flush interval, with these names.
    pub(crate) fn new(
        config: &Config,
        thread_name: &'static str,
        label: &'static str,
        queue_label: &'static str,
    ) -> Self {
        WorkerSettings {
            thread_name,
            label,
            queue_label,
            batch_size: config.batch_size().clamp(1, 500),
            flush_interval: config.flush_interval(),
        }
    }
}

/// Starts the worker thread and waits until `make_sender` has built the sender on it (senders
/// own a runtime that must live and die on that thread). A `make_sender` error is returned as
/// [`InitError::Transport`].
pub(crate) fn spawn<S: BatchSender>(
    shared: Arc<Shared<S::Item, S::Side>>,
    settings: WorkerSettings,
    make_sender: impl FnOnce() -> Result<S, String> + Send + 'static,
) -> Result<JoinHandle<()>, InitError> {
    let (ready_tx, ready_rx) = mpsc::sync_channel::<Result<(), String>>(1);
    let label = settings.label;
    let handle = thread::Builder::new()
        .name(settings.thread_name.into())
        .spawn(move || {
            let _exit = ExitGuard(shared.clone());
            shared.intake.register_worker();
            let sender = match make_sender() {
                Ok(s) => s,
                Err(e) => {
                    shared.intake.mark_crashed();
                    let _ = ready_tx.send(Err(e));
                    return;
                }
            };
            let _ = ready_tx.send(Ok(()));
            Worker::new(shared, sender, settings).main();
        })
        .map_err(|e| InitError::Transport(format!("could not spawn the {label} thread: {e}")))?;
    match ready_rx.recv() {
        Ok(Ok(())) => Ok(handle),
        Ok(Err(msg)) => {
            let _ = handle.join();
            Err(InitError::Transport(msg))
        }
        Err(_) => {
            let _ = handle.join();
            Err(InitError::Transport(format!(
                "the {label} thread stopped while starting"
            )))
        }
    }
}

/// Marks the worker as exited and wakes every waiter, however the thread ends.
struct ExitGuard<P, X: SideQueue>(Arc<Shared<P, X>>);

impl<P, X: SideQueue> Drop for ExitGuard<P, X> {
    fn drop(&mut self) {
        let control = &self.0.control;
        lock(&control.ledger).set_exited();
        control.settled.notify_all();
    }
}

struct Worker<S: BatchSender> {
    shared: Arc<Shared<S::Item, S::Side>>,
    sender: S,
    settings: WorkerSettings,
    buffer: Vec<S::Item>,
    /// The next batch, taken from the queue while the current one was in flight (already
    /// counted in `taken`); it becomes `buffer` once the current batch settles.
    next: Vec<S::Item>,
    /// Records taken from the queue so far (numbered 1..=taken).
    taken: u64,
    /// Records with an outcome so far.
    settled: u64,
    last_delivery: Instant,
}

impl<S: BatchSender> Worker<S> {
    fn new(shared: Arc<Shared<S::Item, S::Side>>, sender: S, settings: WorkerSettings) -> Self {
        Worker {
            shared,
            sender,
            buffer: Vec::with_capacity(settings.batch_size),
            next: Vec::with_capacity(settings.batch_size),
            settings,
            taken: 0,
            settled: 0,
            last_delivery: Instant::now(),
        }
    }

    /// Runs until shutdown has drained the queue; a panic fails everything still held (§3.5).
    fn main(mut self) {
        if catch_unwind(AssertUnwindSafe(|| self.run())).is_err() {
            self.crashed();
        }
        // `self` (the sender, its HTTP client and runtime) drops here, on this thread.
    }

    fn run(&mut self) {
        loop {
            self.fill();
            let draining = self.shutdown_requested();
            let due = self.buffer.len() >= self.settings.batch_size
                || self.barrier_pending()
                || draining
                || self.last_delivery.elapsed() >= self.settings.flush_interval;
            if !self.buffer.is_empty() && due {
                self.send_batch();
                continue;
            }
            // Side items go out as soon as they arrive, one per turn, after any due batch.
            if self.sender.send_side(&self.shared.side) {
                self.shared.control.wake_waiters();
                continue;
            }
            if draining
                && self.buffer.is_empty()
                && self.shared.intake.is_empty()
                && self.shared.side.is_empty()
            {
                return;
            }
            self.sleep();
        }
    }

    /// Moves records from the queue into the buffer, up to a batch.
    fn fill(&mut self) {
        while self.buffer.len() < self.settings.batch_size {
            match self.shared.intake.pop_item() {
                Some(r) => {
                    self.buffer.push(r);
                    self.taken += 1;
                }
                None => break,
            }
        }
    }

    fn shutdown_requested(&self) -> bool {
        self.shared
            .control
            .shutdown_requested
            .load(Ordering::Acquire)
    }

    /// A flush or shutdown waits for records that have no outcome yet.
    fn barrier_pending(&self) -> bool {
        self.shared.control.flush_target.load(Ordering::Acquire) > self.settled
    }

    /// Sleeps until a batch is ready, the flush interval ends, a barrier arrives, or 100 ms pass.
    fn sleep(&self) {
        let idle = self.last_delivery.elapsed();
        let (mode, timeout) = match self.settings.flush_interval.checked_sub(idle) {
            Some(left) if !left.is_zero() => (
                SleepMode::UntilBatch(self.settings.batch_size - self.buffer.len()),
                left.min(IDLE_WAKE),
            ),
            // Rule 4 already holds: the next record is sent as soon as it arrives.
            _ => (SleepMode::UntilAny, IDLE_WAKE),
        };
        self.shared.intake.park(mode, timeout, || {
            self.shutdown_requested()
                || (self.barrier_pending() && !self.shared.intake.is_empty())
                || !self.shared.side.is_empty()
        });
    }

    fn send_batch(&mut self) {
        let n = self.buffer.len() as u64;
        let Worker {
            shared,
            sender,
            settings,
            buffer,
            next,
            taken,
            ..
        } = self;
        let ahead = Lookahead {
            intake: &shared.intake,
            next,
            taken,
            batch_size: settings.batch_size,
        };
        let outcome = sender.send(buffer, ahead);
        self.buffer.clear();
        std::mem::swap(&mut self.buffer, &mut self.next);
        match outcome {
            BatchOutcome::Delivered => self.settle(n, None),
            BatchOutcome::Failed(failure) => self.settle(n, Some(failure)),
            BatchOutcome::Partial { rejected, failure } => {
                let rejected = rejected.min(n);
                self.settle(n - rejected, None);
                self.settle(rejected, Some(failure));
            }
        }
        self.last_delivery = Instant::now();
    }

    /// Records the outcome of the next `n` records and wakes flush/shutdown waiters.
    fn settle(&mut self, n: u64, failure: Option<Failure>) {
        if n == 0 {
            return;
        }
        let (first, last) = (self.settled + 1, self.settled + n);
        lock(&self.shared.control.ledger).record(first, last, failure);
        self.settled = last;
        self.shared.control.settled.notify_all();
    }

    /// After a panic: stop accepting, and fail everything taken or still queued (§3.5).
    fn crashed(&mut self) {
        log::warn!(
            "staso: {} worker stopped (panic); queued spans are dropped",
            self.settings.label
        );
        let kind = DeliveryFailureKind::BackendUnavailable;
        self.shared.intake.mark_crashed();
        lock(&self.shared.control.ledger).set_crash(kind);
        self.shared.side.fail_unsettled(kind);
        self.buffer.clear();
        self.next.clear();
        while self.shared.intake.pop_item().is_some() {
            self.taken += 1;
        }
        let unsettled = self.taken - self.settled;
        self.settle(unsettled, Some((kind, true)));
        self.shared.control.settled.notify_all();
    }
}
