//! What the Staso exporter contributes to the batch worker (`delivery/worker.rs`): coalescing
//! and serializing a batch into one ingest body, sending it with the ingest client, handing the
//! sent records back to the pool, and one annotation per turn between batches.
//!
//! While a batch's request is in flight and a whole next batch is queued, it takes and
//! serializes that next batch, so the two cores work at once instead of in turn.
//!
//! Before a batch is serialized, the client's content policy (mask, scrubbers, payload budgets:
//! `redact/`) is applied to its records here, on the worker thread.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::annotations::{self, AnnotationIntake};
use super::coalesce::{IngestBody, build_body};
use super::http::{Delivery, IngestClient, success_level};
use crate::config::ExportSettings;
use crate::delivery::accounting::ContentCounts;
use crate::delivery::worker::{BatchOutcome, BatchSender, Lookahead};
use crate::pool::{Chunk, Recycler};
use crate::record::SpanRecord;
use crate::redact::{self, Changes};
use crate::report::DeliveryFailureKind;

/// Transport knobs that are not part of [`Config`](crate::Config): fixed by the protocol,
/// adjustable only so tests do not have to wait for real timeouts. Not a public API.
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

/// Sends span batches and annotations to the Staso service. Lives on the worker thread.
pub(crate) struct StasoSender {
    client: IngestClient,
    emit: Arc<ExportSettings>,
    /// Hands the boxes of sent records back to span entry (see `pool`).
    recycler: Recycler,
    /// The body of the batch taken ahead, with the record count it was built for and what the
    /// content policy changed in it (counted once the body is sent).
    prepared: Option<(usize, IngestBody, Changes)>,
    /// Where content changes are counted for the report.
    content: Arc<ContentCounts>,
    /// Delivered batches are logged at info level instead of debug.
    debug: bool,
    batches: u64,
    panic_before_batch: Option<u64>,
}

impl StasoSender {
    /// Builds the ingest client for `base_url` and `api_key`. Must run on the worker thread.
    /// Errors never contain the api key.
    pub(crate) fn new(
        base_url: &str,
        api_key: &str,
        emit: Arc<ExportSettings>,
        debug: bool,
        opts: &TransportOptions,
    ) -> Result<Self, String> {
        let client = IngestClient::new(base_url, api_key, opts.request_timeout, opts.retry_delays)?;
        Ok(StasoSender {
            client,
            emit,
            recycler: Recycler::default(),
            prepared: None,
            content: Arc::default(),
            debug,
            batches: 0,
            panic_before_batch: opts.panic_before_batch,
        })
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
        let status = delivery.status_note();
        match delivery.failure {
            None => {
                let level = success_level(self.debug);
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
}

impl BatchSender for StasoSender {
    type Item = Box<SpanRecord>;
    type Side = AnnotationIntake;

    fn send(
        &mut self,
        batch: &mut Chunk,
        mut ahead: Lookahead<'_, Box<SpanRecord>>,
    ) -> BatchOutcome {
        self.batches += 1;
        if self.panic_before_batch == Some(self.batches) {
            panic!("staso: injected delivery worker panic (test option)");
        }
        let started = Instant::now();
        let records = batch.len() as u64;
        let (body, changes) = match self.prepared.take() {
            Some((n, body, changes)) if n == batch.len() => (Ok(body), changes),
            _ => {
                let changes = redact::apply_all(&self.emit, batch);
                (build_body(batch, &self.emit), changes)
            }
        };
        self.content
            .add(changes.truncated_fields, changes.masks_dropped);
        let (delivery, groups, spans) = match body {
            Ok(body) => {
                let StasoSender {
                    client,
                    emit,
                    prepared,
                    ..
                } = self;
                // Only whole batches are taken ahead: anything smaller waits for the batching
                // rules as before.
                let mut prepare_next = || {
                    if let Some(next) = ahead.take_full_batch() {
                        // The worker keeps the next batch; the content policy works on copies
                        // of the records it changes.
                        let (body, changes) = if next.iter().any(|r| redact::needs_pass(emit, r)) {
                            let (records, changes) = redact::applied(emit, next);
                            (build_body(&records, emit), changes)
                        } else {
                            (build_body(next, emit), Changes::default())
                        };
                        *prepared = body.ok().map(|b| (next.len(), b, changes));
                    }
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
        for record in batch.drain(..) {
            self.recycler.put(record);
        }
        // Logged before the worker settles, so a flush that returns has its batches' lines logged.
        self.log_outcome(&delivery, records, spans, groups, started);
        match delivery.failure {
            None => BatchOutcome::Delivered,
            Some(failure) => BatchOutcome::Failed(failure),
        }
    }

    fn send_side(&mut self, annotations: &AnnotationIntake) -> bool {
        annotations::send_next(annotations, &self.client, self.debug)
    }

    fn count_content_in(&mut self, counts: Arc<ContentCounts>) {
        self.content = counts;
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
