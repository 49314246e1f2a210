//! The OTLP delivery worker: one `std::thread` per OTLP exporter, with the batch rules of the
//! Staso transport (batch size, flush interval, flush/shutdown barriers) and its own retry state,
//! so a slow or down collector never holds up the Staso worker, nor the reverse.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::Ordering;
use std::sync::{Arc, mpsc};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::common::v1::InstrumentationScope;
use opentelemetry_proto::tonic::resource::v1::Resource;

use super::sender::{OtlpClient, Sent};
use super::{OtlpOptions, Shared, encode, mapping};
use crate::client::InitError;
use crate::config::ExportSettings;
use crate::config::{Config, OtlpConfig};
use crate::delivery::accounting::Failure;
use crate::delivery::control::{ExitGuard, await_start, lock};
use crate::delivery::queue::SleepMode;
use crate::record::SpanRecord;
use crate::report::DeliveryFailureKind;

/// The worker wakes at least this often.
const IDLE_WAKE: Duration = Duration::from_millis(100);

/// Starts the worker and waits until its HTTP client is built.
pub(crate) fn spawn(
    shared: Arc<Shared>,
    emit: Arc<ExportSettings>,
    otlp: &OtlpConfig,
    config: &Config,
    opts: OtlpOptions,
) -> Result<JoinHandle<()>, InitError> {
    let (ready_tx, ready_rx) = mpsc::sync_channel::<Result<(), String>>(1);
    let cfg = otlp.clone();
    let batch_size = config.batch_size().clamp(1, 500);
    let flush_interval = config.flush_interval();
    let handle = thread::Builder::new()
        .name("staso-otlp".into())
        .spawn(move || {
            let _exit = ExitGuard(shared.clone());
            shared.intake.register_worker();
            let client = match OtlpClient::new(&cfg, opts.clone()) {
                Ok(c) => c,
                Err(e) => {
                    shared.intake.mark_crashed();
                    let _ = ready_tx.send(Err(e));
                    return;
                }
            };
            let _ = ready_tx.send(Ok(()));
            let worker = Worker {
                resource: mapping::resource(&emit, &cfg),
                scope: mapping::scope(),
                shared,
                emit,
                client,
                cfg,
                opts,
                batch_size,
                flush_interval,
                buffer: Vec::with_capacity(batch_size),
                taken: 0,
                settled: 0,
                last_delivery: Instant::now(),
                degraded: false,
                partial_logged: false,
            };
            worker.main();
        })
        .map_err(|e| InitError::Transport(format!("could not spawn the OTLP thread: {e}")))?;
    await_start(handle, &ready_rx, "OTLP")
}

struct Worker {
    shared: Arc<Shared>,
    emit: Arc<ExportSettings>,
    client: OtlpClient,
    cfg: OtlpConfig,
    opts: OtlpOptions,
    resource: Resource,
    scope: InstrumentationScope,
    batch_size: usize,
    flush_interval: Duration,
    buffer: Vec<Arc<SpanRecord>>,
    taken: u64,
    settled: u64,
    last_delivery: Instant,
    /// The last batch failed after its retries: the next ones get a single attempt until one
    /// succeeds, so a long outage drops batches at the rate they come instead of stalling.
    degraded: bool,
    /// A partial success was already logged as a warning.
    partial_logged: bool,
}

impl Worker {
    fn main(mut self) {
        if catch_unwind(AssertUnwindSafe(|| self.run())).is_err() {
            log::warn!("staso: OTLP worker stopped (panic); queued spans are dropped");
            let kind = DeliveryFailureKind::BackendUnavailable;
            self.shared.intake.mark_crashed();
            lock(&self.shared.control.ledger).set_crash(kind);
            self.buffer.clear();
            while self.shared.intake.pop_item().is_some() {
                self.taken += 1;
            }
            self.settle(self.taken - self.settled, Some((kind, true)));
        }
    }

    fn shutdown_requested(&self) -> bool {
        self.shared
            .control
            .shutdown_requested
            .load(Ordering::Acquire)
    }

    fn barrier_pending(&self) -> bool {
        self.shared.control.flush_target.load(Ordering::Acquire) > self.settled
    }

    fn run(&mut self) {
        loop {
            while self.buffer.len() < self.batch_size {
                match self.shared.intake.pop_item() {
                    Some(r) => {
                        self.buffer.push(r);
                        self.taken += 1;
                    }
                    None => break,
                }
            }
            let draining = self.shutdown_requested();
            let due = self.buffer.len() >= self.batch_size
                || self.barrier_pending()
                || draining
                || self.last_delivery.elapsed() >= self.flush_interval;
            if !self.buffer.is_empty() && due {
                self.send_batch();
                continue;
            }
            if draining && self.buffer.is_empty() && self.shared.intake.is_empty() {
                return;
            }
            let (mode, timeout) = match self
                .flush_interval
                .checked_sub(self.last_delivery.elapsed())
            {
                Some(left) if !left.is_zero() => (
                    SleepMode::UntilBatch(self.batch_size - self.buffer.len()),
                    left.min(IDLE_WAKE),
                ),
                _ => (SleepMode::UntilAny, IDLE_WAKE),
            };
            self.shared.intake.park(mode, timeout, || {
                self.shutdown_requested()
                    || (self.barrier_pending() && !self.shared.intake.is_empty())
            });
        }
    }

    fn send_batch(&mut self) {
        let started = Instant::now();
        let n = self.buffer.len() as u64;
        let spans = self
            .buffer
            .drain(..)
            .map(|r| mapping::span(&r, &self.emit))
            .collect();
        let req = encode::request(&self.resource, &self.scope, spans);
        let sent = match encode::body(&req, self.cfg.protocol, self.cfg.compression) {
            Ok(body) => {
                drop(req);
                let budget = if self.degraded {
                    Duration::ZERO
                } else {
                    self.opts.retry_budget
                };
                self.client.send(bytes::Bytes::from(body), budget)
            }
            Err(e) => {
                log::error!("staso: could not encode an OTLP batch: {e}");
                Sent {
                    failure: Some((DeliveryFailureKind::BackendUnavailable, false)),
                    rejected: None,
                    status: None,
                    attempts: 0,
                }
            }
        };
        self.degraded = sent.failure.is_some_and(|f| f.1);
        self.log_outcome(&sent, n, started);
        match (&sent.failure, &sent.rejected) {
            (None, Some((rejected, _))) => {
                let rejected = (*rejected).min(n);
                self.settle(n - rejected, None);
                self.settle(
                    rejected,
                    Some((DeliveryFailureKind::MalformedResponse, false)),
                );
            }
            (failure, _) => self.settle(n, *failure),
        }
        self.last_delivery = Instant::now();
    }

    fn settle(&mut self, n: u64, failure: Option<Failure>) {
        if n == 0 {
            return;
        }
        let (first, last) = (self.settled + 1, self.settled + n);
        lock(&self.shared.control.ledger).record(first, last, failure);
        self.settled = last;
        self.shared.control.settled.notify_all();
    }

    fn log_outcome(&mut self, sent: &Sent, n: u64, started: Instant) {
        let ms = started.elapsed().as_millis();
        let status = sent
            .status
            .map(|s| format!(" (HTTP {s})"))
            .unwrap_or_default();
        match (&sent.failure, &sent.rejected) {
            (Some((kind, retryable)), _) => log::warn!(
                "staso: OTLP export to {} failed{status}: {n} spans, kind {kind}, retryable \
                 {retryable}, {} attempt(s), {ms} ms",
                self.cfg.traces_url,
                sent.attempts
            ),
            (None, Some((rejected, msg))) => {
                let level = if self.partial_logged {
                    log::Level::Debug
                } else {
                    log::Level::Warn
                };
                self.partial_logged = true;
                log::log!(
                    level,
                    "staso: OTLP receiver rejected {rejected} of {n} spans (partial success): {msg}"
                );
            }
            (None, None) => log::debug!(
                "staso: OTLP exported {n} spans{status}, {} attempt(s), {ms} ms",
                sent.attempts
            ),
        }
    }
}
