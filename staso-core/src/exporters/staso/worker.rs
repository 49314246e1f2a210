//! The delivery worker: one `std::thread` that owns the HTTP client, takes records from the
//! queue, decides when a batch is due (PROTOCOL.md §3.5), sends it and settles its records.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::mpsc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::coalesce::{IngestBody, build_body};
use super::http::{Delivery, IngestClient};
use super::{Shared, TransportOptions};
use crate::client::InitError;
use crate::config::Config;
use crate::config::ExportSettings;
use crate::delivery::accounting::Failure;
use crate::delivery::control::{ExitGuard, await_start, lock};
use crate::delivery::queue::SleepMode;
use crate::pool::{Chunk, Recycler};
use crate::report::DeliveryFailureKind;

/// The worker wakes at least this often, whatever else happens.
const IDLE_WAKE: Duration = Duration::from_millis(100);
/// At most one "queue full" warning per this interval.
const REJECTION_WARNING_INTERVAL: Duration = Duration::from_secs(10);

/// Starts the worker thread and waits until its HTTP client is built.
pub(crate) fn spawn(
    shared: Arc<Shared>,
    emit: Arc<ExportSettings>,
    config: &Config,
    opts: TransportOptions,
) -> Result<JoinHandle<()>, InitError> {
    let (ready_tx, ready_rx) = mpsc::sync_channel::<Result<(), String>>(1);
    let base_url = config.base_url().to_owned();
    let api_key = config.api_key().to_owned();
    let settings = Settings {
        batch_size: config.batch_size().clamp(1, 500),
        flush_interval: config.flush_interval(),
        debug: config.debug(),
        panic_before_batch: opts.panic_before_batch,
    };
    let handle = thread::Builder::new()
        .name("staso-transport".into())
        .spawn(move || {
            let _exit = ExitGuard(shared.clone());
            shared.intake.register_worker();
            let client = match IngestClient::new(&base_url, &api_key, &opts) {
                Ok(c) => c,
                Err(e) => {
                    shared.intake.mark_crashed();
                    let _ = ready_tx.send(Err(e));
                    return;
                }
            };
            drop(api_key);
            let _ = ready_tx.send(Ok(()));
            Worker::new(shared, emit, client, settings).main();
        })
        .map_err(|e| InitError::Transport(format!("could not spawn the delivery thread: {e}")))?;
    await_start(handle, &ready_rx, "delivery")
}

struct Settings {
    batch_size: usize,
    flush_interval: Duration,
    debug: bool,
    panic_before_batch: Option<u64>,
}

struct Worker {
    shared: Arc<Shared>,
    emit: Arc<ExportSettings>,
    client: IngestClient,
    settings: Settings,
    buffer: Chunk,
    /// Hands the boxes of sent records back to span entry (see `pool`).
    recycler: Recycler,
    /// The next batch, taken from the queue while the current one was in flight (already
    /// counted in `taken`); it becomes `buffer` once the current batch settles.
    next: Chunk,
    /// The body of `next` (or of `buffer`, once swapped), with the record count it was built for.
    prepared: Option<(usize, IngestBody)>,
    /// Records taken from the queue so far (numbered 1..=taken).
    taken: u64,
    /// Records with an outcome so far.
    settled: u64,
    batches: u64,
    last_delivery: Instant,
    warned_rejections: u64,
    last_warning: Option<Instant>,
}

impl Worker {
    fn new(
        shared: Arc<Shared>,
        emit: Arc<ExportSettings>,
        client: IngestClient,
        settings: Settings,
    ) -> Self {
        Worker {
            shared,
            emit,
            client,
            buffer: Vec::with_capacity(settings.batch_size),
            recycler: Recycler::default(),
            next: Vec::with_capacity(settings.batch_size),
            prepared: None,
            settings,
            taken: 0,
            settled: 0,
            batches: 0,
            last_delivery: Instant::now(),
            warned_rejections: 0,
            last_warning: None,
        }
    }

    /// Runs until shutdown has drained the queue; a panic fails everything still held (§3.5).
    fn main(mut self) {
        if catch_unwind(AssertUnwindSafe(|| self.run())).is_err() {
            self.crashed();
        }
        // `self` (the HTTP client and its runtime) drops here, on this thread.
    }

    fn run(&mut self) {
        loop {
            self.fill();
            self.warn_rejections();
            let draining = self.shutdown_requested();
            let due = self.buffer.len() >= self.settings.batch_size
                || self.barrier_pending()
                || draining
                || self.last_delivery.elapsed() >= self.settings.flush_interval;
            if !self.buffer.is_empty() && due {
                self.send_batch();
                continue;
            }
            // Annotations go out as soon as they arrive, one per turn, after any due batch.
            if super::annotations::send_next(&self.shared, &self.client, self.settings.debug) {
                continue;
            }
            if draining
                && self.buffer.is_empty()
                && self.shared.intake.is_empty()
                && self.shared.annotations.is_empty()
            {
                return;
            }
            self.sleep();
        }
    }

    /// Moves records from the queue into the buffer, up to a batch.
    fn fill(&mut self) {
        while self.buffer.len() < self.settings.batch_size {
            match self.shared.intake.pop() {
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
            .load(std::sync::atomic::Ordering::Acquire)
    }

    /// A flush or shutdown waits for records that have no outcome yet.
    fn barrier_pending(&self) -> bool {
        self.shared
            .control
            .flush_target
            .load(std::sync::atomic::Ordering::Acquire)
            > self.settled
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
                || !self.shared.annotations.is_empty()
        });
    }

    fn send_batch(&mut self) {
        self.batches += 1;
        if self.settings.panic_before_batch == Some(self.batches) {
            panic!("staso: injected delivery worker panic (test option)");
        }
        let started = Instant::now();
        let records = self.buffer.len() as u64;
        let body = match self.prepared.take() {
            Some((n, body)) if n == self.buffer.len() => Ok(body),
            _ => build_body(&self.buffer, &self.emit),
        };
        let (delivery, groups, spans) = match body {
            Ok(body) => {
                let Worker {
                    client,
                    shared,
                    emit,
                    settings,
                    next,
                    prepared,
                    taken,
                    ..
                } = self;
                // While the server handles this batch, take and serialize the next one if a whole
                // batch is already queued: the two cores work at once instead of in turn. Only
                // full batches: anything smaller waits for the batching rules as before.
                let mut prepare_next = || {
                    if shared.intake.len() < settings.batch_size {
                        return;
                    }
                    while next.len() < settings.batch_size {
                        let Some(r) = shared.intake.pop() else { break };
                        next.push(r);
                        *taken += 1;
                    }
                    *prepared = build_body(next, emit).ok().map(|b| (next.len(), b));
                };
                let delivery =
                    client.deliver(Bytes::from(body.bytes), body.groups, &mut prepare_next);
                (delivery, body.groups, body.spans)
            }
            Err(e) => {
                log::error!("staso: could not serialize an ingest batch: {e}");
                let failed = Delivery {
                    failure: Some((DeliveryFailureKind::BackendUnavailable, false)),
                    status: None,
                    attempts: 0,
                };
                (failed, 0, 0)
            }
        };
        for record in self.buffer.drain(..) {
            self.recycler.put(record);
        }
        std::mem::swap(&mut self.buffer, &mut self.next);
        // Logged before settling, so a flush that returns has its batches' lines logged.
        self.log_outcome(&delivery, records, spans, groups, started);
        self.settle(records, delivery.failure);
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

    fn log_outcome(
        &self,
        delivery: &Delivery,
        records: u64,
        spans: usize,
        groups: usize,
        started: Instant,
    ) {
        let ms = started.elapsed().as_millis();
        let status = delivery
            .status
            .map(|s| format!(" (HTTP {s})"))
            .unwrap_or_default();
        match delivery.failure {
            None => {
                let level = if self.settings.debug {
                    log::Level::Info
                } else {
                    log::Level::Debug
                };
                log::log!(
                    level,
                    "staso: delivered {records} records as {spans} spans in {groups} traces{status}, \
                     {} attempt(s), {ms} ms",
                    delivery.attempts
                );
            }
            Some((kind, retryable)) => log::warn!(
                "staso: trace delivery failed{status}: {} ({records} records, kind {kind}, \
                 retryable {retryable}, {} attempt(s), {ms} ms)",
                failure_hint(kind),
                delivery.attempts
            ),
        }
    }

    /// Logs queue-full drops, at most once per `REJECTION_WARNING_INTERVAL`.
    fn warn_rejections(&mut self) {
        let total = self.shared.intake.rejections().count;
        if total == self.warned_rejections
            || self
                .last_warning
                .is_some_and(|t| t.elapsed() < REJECTION_WARNING_INTERVAL)
        {
            return;
        }
        if self.shared.intake.is_open() {
            log::warn!(
                "staso: event queue full, dropping events ({} dropped since the last warning, \
                 {total} in all; queue size {})",
                total - self.warned_rejections,
                self.shared.intake.capacity()
            );
        }
        self.warned_rejections = total;
        self.last_warning = Some(Instant::now());
    }

    /// After a panic: stop accepting, and fail everything taken or still queued (§3.5).
    fn crashed(&mut self) {
        log::warn!("staso: delivery worker stopped (panic); queued spans are dropped");
        let kind = DeliveryFailureKind::BackendUnavailable;
        self.shared.intake.mark_crashed();
        lock(&self.shared.control.ledger).set_crash(kind);
        self.shared.annotations.fail_unsettled(kind);
        self.buffer.clear();
        self.next.clear();
        self.prepared = None;
        while self.shared.intake.pop().is_some() {
            self.taken += 1;
        }
        let unsettled = self.taken - self.settled;
        self.settle(unsettled, Some((kind, true)));
        self.shared.control.settled.notify_all();
    }
}

/// What to check for each failure kind (the official SDK's wording).
fn failure_hint(kind: DeliveryFailureKind) -> &'static str {
    match kind {
        DeliveryFailureKind::InvalidKey => "check the API key",
        DeliveryFailureKind::PlanExpired => "Upgrade or check the active plan",
        DeliveryFailureKind::Forbidden => "check key capability and workspace access",
        DeliveryFailureKind::RateLimited => "retry after the rate limit clears",
        DeliveryFailureKind::MalformedResponse => "the ingest response was invalid",
        DeliveryFailureKind::NetworkUnavailable => "the ingest network is unavailable",
        DeliveryFailureKind::Timeout => "the ingest request timed out",
        _ => "the ingest service is unavailable",
    }
}
