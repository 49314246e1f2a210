//! Delivery to the Staso service: the background batcher and the ingest protocol
//! (PROTOCOL.md §3).
//!
//! ```text
//!  caller threads                         worker thread ("staso-transport", delivery/worker.rs)
//!  SpanExporter::export ─▶ Intake ─▶ batch rules ─▶ StasoSender (sender.rs): to_wire, coalesce
//!     lock-free push,      (delivery/   + group (coalesce.rs), POST with retries (http.rs)
//!     per-thread counter    queue.rs)   ─▶ Ledger (delivery/accounting.rs) ─▶ flush/shutdown
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
mod response;
mod sender;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::client::InitError;
use crate::config::Config;
use crate::config::ExportSettings;
use crate::delivery::handle::WorkerHandle;
use crate::delivery::worker::WorkerSettings;
use crate::export::SpanExporter;
use crate::record::SpanRecord;
use crate::report::{DeliveryReport, EnqueueResult};
use annotations::AnnotationIntake;
pub(crate) use annotations::AnnotationSender;
use sender::StasoSender;
pub use sender::TransportOptions;

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
    worker: WorkerHandle<Box<SpanRecord>, AnnotationIntake>,
    endpoint: String,
}

impl fmt::Debug for HttpExporter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpExporter")
            .field("endpoint", &self.endpoint)
            .field("max_queue_size", &self.worker.capacity())
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
        let base_url = config.base_url().to_owned();
        let api_key = config.api_key().to_owned();
        let debug = config.debug();
        let worker = WorkerHandle::start(
            config.max_queue_size(),
            AnnotationIntake::new(config.max_queue_size(), config.base_url()),
            WorkerSettings::new(config, "staso-transport", "delivery", "event"),
            // Runs on the worker thread; the key is dropped there once the client holds it.
            move || StasoSender::new(&base_url, &api_key, emit, debug, &opts),
        )?;
        Ok(HttpExporter {
            worker,
            endpoint: format!("{}{}", config.base_url(), staso_wire::INGEST_PATH),
        })
    }

    /// The ingest URL requests go to.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// The handle the client queues annotations through (see `annotations.rs`).
    pub(crate) fn annotation_sender(&self) -> AnnotationSender {
        AnnotationSender {
            shared: self.worker.shared().clone(),
        }
    }
}

impl SpanExporter for HttpExporter {
    #[inline]
    fn export(&self, record: Box<SpanRecord>) -> EnqueueResult {
        self.worker.offer(record)
    }

    /// Waits until every record and annotation accepted before the call is delivered or failed,
    /// the worker has died, or `timeout` passes (`timed_out = true`). Never stops the transport.
    /// Records enqueued concurrently with the call may or may not be waited for.
    fn flush(&self, timeout: Duration) -> DeliveryReport {
        self.worker.flush(timeout)
    }

    /// Stops accepting (later records are rejected as `shutdown`), lets the worker drain the
    /// whole queue, and waits up to `timeout` for it to exit. A timed-out report is not final: a
    /// later call waits again. Once the worker has exited, every call returns the same final
    /// report (updated only by later rejections). Dropping the exporter asks the worker to drain
    /// and exit without waiting.
    fn shutdown(&self, timeout: Duration) -> DeliveryReport {
        self.worker.shutdown(timeout)
    }
}
