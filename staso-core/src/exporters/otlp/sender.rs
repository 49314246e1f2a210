//! What the OTLP exporter contributes to the batch worker (`delivery/worker.rs`): map each
//! record to an OTLP span, encode the batch, send it with the OTLP client, and settle a partial
//! success. Each OTLP exporter has its own worker and retry state, so a slow or down collector
//! never holds up the Staso worker, nor the reverse.
//!
//! The client's content policy (mask, scrubbers, payload budgets: `redact/`) is applied to each
//! record here, before mapping; a record shared with another OTLP exporter is copied first.

use std::sync::Arc;
use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::common::v1::InstrumentationScope;
use opentelemetry_proto::tonic::resource::v1::Resource;

use super::http::{OtlpClient, Sent};
use super::{encode, mapping};
use crate::config::{ExportSettings, OtlpConfig};
use crate::delivery::accounting::ContentCounts;
use crate::delivery::worker::{BatchOutcome, BatchSender, Lookahead};
use crate::record::SpanRecord;
use crate::redact;
use crate::report::DeliveryFailureKind;

/// Retry timing of the OTLP worker; adjustable so tests need not wait. Not a public API.
#[doc(hidden)]
#[derive(Clone, Debug)]
pub struct OtlpOptions {
    /// First backoff (doubled per attempt, with jitter).
    pub initial_backoff: Duration,
    /// Backoff cap.
    pub max_backoff: Duration,
    /// Time a batch may spend retrying before it fails.
    pub retry_budget: Duration,
}

impl Default for OtlpOptions {
    fn default() -> Self {
        OtlpOptions {
            initial_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(8),
            retry_budget: Duration::from_secs(30),
        }
    }
}

/// Sends span batches to an OTLP/HTTP receiver. Lives on the worker thread.
pub(crate) struct OtlpSender {
    client: OtlpClient,
    emit: Arc<ExportSettings>,
    cfg: OtlpConfig,
    resource: Resource,
    scope: InstrumentationScope,
    retry_budget: Duration,
    /// The last batch failed after its retries: the next ones get a single attempt until one
    /// succeeds, so a long outage drops batches at the rate they come instead of stalling.
    degraded: bool,
    /// A partial success was already logged as a warning.
    partial_logged: bool,
    /// Where content changes are counted for the report.
    content: Arc<ContentCounts>,
}

impl OtlpSender {
    /// Builds the client for `cfg`. Must run on the worker thread. Errors never contain header
    /// values.
    pub(crate) fn new(
        cfg: OtlpConfig,
        emit: Arc<ExportSettings>,
        opts: &OtlpOptions,
    ) -> Result<Self, String> {
        let client = OtlpClient::new(&cfg, opts.initial_backoff, opts.max_backoff)?;
        Ok(OtlpSender {
            client,
            resource: mapping::resource(&emit, &cfg),
            scope: mapping::scope(),
            emit,
            cfg,
            retry_budget: opts.retry_budget,
            degraded: false,
            partial_logged: false,
            content: Arc::default(),
        })
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

impl BatchSender for OtlpSender {
    type Item = Arc<SpanRecord>;
    type Side = ();

    fn send(
        &mut self,
        batch: &mut Vec<Arc<SpanRecord>>,
        _ahead: Lookahead<'_, Arc<SpanRecord>>,
    ) -> BatchOutcome {
        let started = Instant::now();
        let n = batch.len() as u64;
        let (mut truncated, mut dropped) = (0, 0);
        for record in batch.iter_mut() {
            if redact::needs_pass(&self.emit, record) {
                let changes = redact::apply(&self.emit, Arc::make_mut(record));
                truncated += changes.truncated_fields;
                dropped += changes.masks_dropped;
            }
        }
        self.content.add(truncated, dropped);
        let spans = batch
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
                    self.retry_budget
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
        match (sent.failure, sent.rejected) {
            (Some(failure), _) => BatchOutcome::Failed(failure),
            (None, Some((rejected, _))) => BatchOutcome::Partial {
                rejected,
                failure: (DeliveryFailureKind::MalformedResponse, false),
            },
            (None, None) => BatchOutcome::Delivered,
        }
    }

    fn count_content_in(&mut self, counts: Arc<ContentCounts>) {
        self.content = counts;
    }
}
