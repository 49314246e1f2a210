//! Delivery to the Staso service: the background batcher and the ingest protocol
//! (PROTOCOL.md §3).
//!
//! ```text
//!  caller threads                          worker thread ("staso-transport")
//!  SpanExporter::export ─▶ Intake (queue.rs) ─▶ Worker (worker.rs): batch rules, to_wire,
//!     lock-free push, per-thread counter     coalesce + group (coalesce.rs), POST with retries
//!                                            (http.rs) ─▶ Ledger (accounting.rs) ─▶ flush/shutdown
//! ```
//!
//! Annotations (PROTOCOL.md §5) ride on the same worker: their own small queue and ledger
//! (`annotations.rs`), one request each between span batches, the same retries, and their own
//! counts in [`DeliveryReport::annotations`].
//!
//! [`HttpExporter`] is what [`init`](crate::init) installs. Enqueue never blocks and never
//! does I/O; the worker owns a reqwest client on its own current-thread tokio runtime, so the
//! transport works the same from a plain `fn main` and from inside any tokio runtime.

mod annotations;
mod coalesce;
mod http;
mod worker;

use std::fmt;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::delivery::accounting::{Ledger, wait_until};
use crate::delivery::control::{Control, HasControl, lock};
use crate::delivery::queue::Intake;
use annotations::AnnotationIntake;
pub(crate) use annotations::AnnotationSender;

use crate::client::InitError;
use crate::config::Config;
use crate::config::ExportSettings;
use crate::export::SpanExporter;
use crate::record::SpanRecord;
use crate::report::{DeliveryReport, EnqueueResult};

/// Transport knobs that are not part of [`Config`]: fixed by the protocol, adjustable only so
/// tests do not have to wait for real timeouts. Not a public API.
#[doc(hidden)]
#[derive(Clone, Debug)]
pub struct TransportOptions {
    /// Per-attempt request timeout (protocol: 10 s).
    pub request_timeout: Duration,
    /// Sleep before attempts 2 and 3 (protocol: 0.5 s and 1 s).
    pub retry_delays: [Duration; 2],
    /// Makes the worker panic before sending its n-th batch (crash handling tests).
    pub panic_before_batch: Option<u64>,
}

impl Default for TransportOptions {
    fn default() -> Self {
        TransportOptions {
            request_timeout: Duration::from_secs(10),
            retry_delays: [Duration::from_millis(500), Duration::from_secs(1)],
            panic_before_batch: None,
        }
    }
}

/// State shared by producers, flush/shutdown callers and the worker.
pub(crate) struct Shared {
    pub(crate) intake: Intake,
    /// Accounting and flush/shutdown requests.
    pub(crate) control: Control,
    /// Annotations: their own small queue and ledger, sent by the same worker.
    pub(crate) annotations: AnnotationIntake,
}

impl HasControl for Shared {
    fn control(&self) -> &Control {
        &self.control
    }
}

/// Sends spans to `POST {base_url}/v1/traces/ingest` from a background thread.
///
/// [`export`](SpanExporter::export) puts the record in a bounded lock-free queue of
/// `max_queue_size` and returns at once (a full queue rejects the record as `queue_full`); one
/// worker thread batches, serializes, coalesces, groups and sends them, with the retries and the
/// acknowledgement check of PROTOCOL.md §3. [`flush`](SpanExporter::flush) and
/// [`shutdown`](SpanExporter::shutdown) return cumulative [`DeliveryReport`]s.
///
/// Usually installed through [`init`](crate::init). Dropping the exporter asks the worker
/// to drain and exit without waiting for it; call `shutdown` to wait.
///
/// ```no_run
/// use std::sync::Arc;
/// use std::time::Duration;
/// use staso_core::__internal::HttpExporter;
/// use staso_core::{Config, ExportSettings, SpanExporter};
///
/// let config = Config::builder().api_key("ak_live").agent_name("bot").build()?;
/// let emit = Arc::new(ExportSettings::from_config(&config, "session-1".into()));
/// let exporter = HttpExporter::start(&config, emit)?;
/// // … exporter.export(record) from any thread …
/// let report = exporter.shutdown(Duration::from_secs(5));
/// assert!(report.ok());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct HttpExporter {
    shared: Arc<Shared>,
    worker: Mutex<Option<JoinHandle<()>>>,
    endpoint: String,
}

impl fmt::Debug for HttpExporter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpExporter")
            .field("endpoint", &self.endpoint)
            .field("max_queue_size", &self.shared.intake.capacity())
            .finish_non_exhaustive()
    }
}

impl HttpExporter {
    /// Starts the worker thread for `config` (base URL, api key, batch size, flush interval,
    /// queue size, debug) serializing spans with `emit`.
    ///
    /// # Errors
    /// [`InitError::Transport`] when the thread, its runtime or its HTTP client cannot be
    /// created. The message never contains the api key.
    pub fn start(config: &Config, emit: Arc<ExportSettings>) -> Result<Self, InitError> {
        Self::start_with(config, emit, TransportOptions::default())
    }

    /// [`start`](Self::start) with non-default transport options. Not a public API.
    #[doc(hidden)]
    pub fn start_with(
        config: &Config,
        emit: Arc<ExportSettings>,
        opts: TransportOptions,
    ) -> Result<Self, InitError> {
        let shared = Arc::new(Shared {
            intake: Intake::new(config.max_queue_size()),
            control: Control::default(),
            annotations: AnnotationIntake::new(config.max_queue_size(), config.base_url()),
        });
        let handle = worker::spawn(shared.clone(), emit, config, opts)?;
        Ok(HttpExporter {
            shared,
            worker: Mutex::new(Some(handle)),
            endpoint: format!("{}{}", config.base_url(), staso_wire::INGEST_PATH),
        })
    }

    /// The ingest URL requests go to.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// The handle the client queues annotations through (see `transport/annotations.rs`).
    pub(crate) fn annotation_sender(&self) -> AnnotationSender {
        AnnotationSender {
            shared: self.shared.clone(),
        }
    }

    /// The report for span barrier `barrier.0` and annotation barrier `barrier.1`.
    fn report(&self, ledger: &Ledger, barrier: Barrier, timed_out: bool) -> DeliveryReport {
        let mut report = ledger.report(barrier.0, self.shared.intake.rejections(), timed_out);
        report.annotations = self.shared.annotations.report(barrier.1, timed_out);
        report
    }

    /// The final report, if shutdown completed, with the rejections since.
    fn final_report(&self, ledger: &Ledger) -> Option<DeliveryReport> {
        let mut report = ledger.final_report(self.shared.intake.rejections())?;
        let rejections = self.shared.annotations.rejections();
        let a = &mut report.annotations;
        if rejections.count > a.rejected {
            a.rejected = rejections.count;
            if let Some((kind, retryable)) = rejections.last {
                a.last_failure = Some(kind);
                a.retryable = retryable;
            }
        }
        Some(report)
    }

    /// The barriers of a flush or shutdown starting now.
    fn barrier(&self) -> Barrier {
        (
            self.shared.intake.accepted(),
            self.shared.annotations.accepted(),
        )
    }

    /// Whether everything up to `barrier` has an outcome (or never will: the worker is gone).
    fn settled(&self, ledger: &Ledger, barrier: Barrier) -> bool {
        (ledger.settled() >= barrier.0 && self.shared.annotations.settled() >= barrier.1)
            || ledger.crashed()
            || ledger.exited()
    }

    /// Asks the worker to settle everything up to `barrier` now.
    fn request_barrier(&self, barrier: u64) {
        self.shared
            .control
            .flush_target
            .fetch_max(barrier, Ordering::AcqRel);
        self.shared.intake.unpark();
    }
}

/// Span and annotation counts a flush or shutdown waits for.
type Barrier = (u64, u64);

/// `now + timeout`, or `None` when that is beyond what `Instant` can hold (wait without bound).
fn deadline_after(timeout: Duration) -> Option<Instant> {
    Instant::now().checked_add(timeout)
}

impl SpanExporter for HttpExporter {
    #[inline]
    fn export(&self, record: Box<SpanRecord>) -> EnqueueResult {
        self.shared.intake.offer_item(record)
    }

    /// Waits until every record and annotation accepted before the call is delivered or failed,
    /// the worker has died, or `timeout` passes (`timed_out = true`). Never stops the transport. Records
    /// enqueued concurrently with the call may or may not be waited for.
    fn flush(&self, timeout: Duration) -> DeliveryReport {
        let deadline = deadline_after(timeout);
        let barrier = self.barrier();
        let ledger = lock(&self.shared.control.ledger);
        if barrier == (0, 0) || self.settled(&ledger, barrier) {
            return self.report(&ledger, barrier, false);
        }
        self.request_barrier(barrier.0);
        let (ledger, finished) = wait_until(&self.shared.control.settled, ledger, deadline, |l| {
            self.settled(l, barrier)
        });
        self.report(&ledger, barrier, !finished)
    }

    /// Stops accepting (later records are rejected as `shutdown`), lets the worker drain the
    /// whole queue, and waits up to `timeout` for it to exit. A timed-out report is not final: a
    /// later call waits again. Once the worker has exited, every call returns the same final
    /// report (updated only by later rejections).
    fn shutdown(&self, timeout: Duration) -> DeliveryReport {
        let deadline = deadline_after(timeout);
        if let Some(r) = self.final_report(&lock(&self.shared.control.ledger)) {
            return r;
        }
        self.shared.intake.close();
        self.shared.annotations.close();
        let barrier = self.barrier();
        self.shared
            .control
            .shutdown_requested
            .store(true, Ordering::Release);
        self.request_barrier(barrier.0);
        self.shared.control.finish_shutdown(
            &self.worker,
            deadline,
            |l, timed_out| self.report(l, barrier, timed_out),
            |l| self.final_report(l),
        )
    }
}

impl Drop for HttpExporter {
    /// Asks the worker to drain and exit, without waiting (see [`SpanExporter::shutdown`]).
    fn drop(&mut self) {
        self.shared.intake.close();
        self.shared.annotations.close();
        self.shared
            .control
            .shutdown_requested
            .store(true, Ordering::Release);
        self.shared.intake.unpark();
    }
}
