//! Annotations on the delivery worker (PROTOCOL.md §5, delivered the way §3.4–3.7 deliver spans).
//!
//! ```text
//!  annotate() ─▶ AnnotationSender::offer ─▶ AnnotationIntake (bounded FIFO, own counters)
//!                 (wakes the worker)          │ worker thread, between span batches:
//!                                             ▼ send_next: POST {base}/v1/traces/{id}/annotations
//!                                               with the ingest retry policy ─▶ annotation Ledger
//! ```
//!
//! Annotations are rare and each is its own request, so a mutex-guarded `VecDeque` is enough (the
//! span queue is lock-free because it is on every span's path). The worker numbers annotations
//! 1, 2, 3, … in the order it takes them, sends one at a time, and settles each in a [`Ledger`] of
//! their own, so `flush`/`shutdown` barriers and the [`AnnotationReport`] work exactly as for
//! spans. A span batch that is due goes first; then one annotation; then the loop looks again.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use bytes::Bytes;

use super::http::{Delivery, IngestClient, success_level};
use crate::annotation::Annotation;
use crate::delivery::accounting::{Failure, Ledger};
use crate::delivery::control::{Shared, SideQueue};
use crate::delivery::queue::Rejections;
use crate::export::AnnotationSink;
use crate::record::SpanRecord;
use crate::report::{AnnotationReport, DeliveryFailureKind, DeliveryReport, EnqueueResult};

/// Whether the intake takes annotations.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Status {
    Open,
    /// `shutdown` was called: reject with `shutdown`.
    Closed,
    /// The worker died: reject with `backend_unavailable` (retryable).
    Crashed,
}

struct State {
    queue: VecDeque<Annotation>,
    capacity: usize,
    status: Status,
    /// Annotations accepted so far (the barrier of a flush or shutdown).
    accepted: u64,
    /// Annotations the worker has taken (numbered 1..=taken).
    taken: u64,
    rejections: Rejections,
}

/// The annotation queue and its delivery accounting, part of the transport's shared state.
pub(crate) struct AnnotationIntake {
    state: Mutex<State>,
    ledger: Mutex<Ledger>,
    base_url: String,
}

fn guard<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl AnnotationIntake {
    /// An open intake holding at most `capacity` annotations (at least 1), sending to
    /// `base_url`.
    pub(crate) fn new(capacity: usize, base_url: &str) -> Self {
        AnnotationIntake {
            state: Mutex::new(State {
                queue: VecDeque::new(),
                capacity: capacity.max(1),
                status: Status::Open,
                accepted: 0,
                taken: 0,
                rejections: Rejections::default(),
            }),
            ledger: Mutex::new(Ledger::default()),
            base_url: base_url.to_owned(),
        }
    }

    /// Queues one annotation, or counts and logs why not. Never blocks on I/O.
    fn offer(&self, annotation: Annotation) -> EnqueueResult {
        let mut st = guard(&self.state);
        let refusal = match st.status {
            Status::Closed => Some((DeliveryFailureKind::Shutdown, false)),
            Status::Crashed => Some((DeliveryFailureKind::BackendUnavailable, true)),
            Status::Open if st.queue.len() >= st.capacity => {
                Some((DeliveryFailureKind::QueueFull, true))
            }
            Status::Open => None,
        };
        let Some((kind, retryable)) = refusal else {
            st.queue.push_back(annotation);
            st.accepted += 1;
            return EnqueueResult::ACCEPTED;
        };
        st.rejections.count += 1;
        st.rejections.last = Some((kind, retryable));
        let total = st.rejections.count;
        drop(st);
        // Powers of two: the first few drops are all logged, a flood is not.
        if total.is_power_of_two() {
            log::warn!(
                "staso: annotation {:?} dropped ({kind}); {total} annotation(s) dropped in all",
                annotation.name
            );
        }
        EnqueueResult::rejected(kind, retryable)
    }

    /// Takes the oldest annotation and its number (worker only).
    fn pop(&self) -> Option<(u64, Annotation)> {
        let mut st = guard(&self.state);
        let a = st.queue.pop_front()?;
        st.taken += 1;
        Some((st.taken, a))
    }

    fn settle(&self, seq: u64, failure: Option<Failure>) {
        guard(&self.ledger).record(seq, seq, failure);
    }

    /// The counts of annotations `1..=barrier`.
    fn report(&self, barrier: u64, timed_out: bool) -> AnnotationReport {
        let rejections = guard(&self.state).rejections;
        let r = guard(&self.ledger).report(barrier, rejections, timed_out);
        AnnotationReport {
            accepted: r.accepted,
            delivered: r.delivered,
            failed: r.failed,
            pending: r.pending,
            rejected: r.rejected,
            last_failure: r.last_failure,
            retryable: r.retryable,
        }
    }
}

/// The worker serves annotations between span batches; flush and shutdown wait for them, and
/// reports carry their counts in [`DeliveryReport::annotations`].
impl SideQueue for AnnotationIntake {
    fn accepted(&self) -> u64 {
        guard(&self.state).accepted
    }

    fn settled(&self) -> u64 {
        guard(&self.ledger).settled()
    }

    fn is_empty(&self) -> bool {
        guard(&self.state).queue.is_empty()
    }

    /// Later annotations are rejected with `shutdown`. A crash is kept.
    fn close(&self) {
        let mut st = guard(&self.state);
        if st.status == Status::Open {
            st.status = Status::Closed;
        }
    }

    /// Fails the one in flight too (§3.5).
    fn fail_unsettled(&self, kind: DeliveryFailureKind) {
        let mut st = guard(&self.state);
        st.status = Status::Crashed;
        st.queue.clear();
        st.taken = st.accepted;
        let mut ledger = guard(&self.ledger);
        ledger.set_crash(kind);
        let first = ledger.settled() + 1;
        ledger.record(first, st.accepted, Some((kind, true)));
    }

    fn add_to_report(&self, report: &mut DeliveryReport, barrier: u64, timed_out: bool) {
        report.annotations = self.report(barrier, timed_out);
    }

    fn add_to_final_report(&self, report: &mut DeliveryReport) {
        let rejections = guard(&self.state).rejections;
        let a = &mut report.annotations;
        if rejections.count > a.rejected {
            a.rejected = rejections.count;
            if let Some((kind, retryable)) = rejections.last {
                a.last_failure = Some(kind);
                a.retryable = retryable;
            }
        }
    }
}

/// The client's handle for queueing annotations on its transport.
#[derive(Clone)]
pub(crate) struct AnnotationSender {
    pub(super) shared: Arc<Shared<Box<SpanRecord>, AnnotationIntake>>,
}

impl AnnotationSink for AnnotationSender {
    /// Queues `annotation` and wakes the worker. Rejections are counted and logged.
    fn offer(&self, annotation: Annotation) -> EnqueueResult {
        let result = self.shared.side.offer(annotation);
        if result.accepted {
            self.shared.intake.unpark();
        }
        result
    }
}

/// `{base_url}/v1/traces/{trace_id}/annotations`, the trace id escaped as one path segment (the
/// official SDK inserts it as is; ids of this SDK never need escaping).
fn annotation_url(base_url: &str, trace_id: &str) -> Result<reqwest::Url, String> {
    let mut url = reqwest::Url::parse(base_url).map_err(|e| format!("invalid base_url: {e}"))?;
    url.path_segments_mut()
        .map_err(|()| "base_url cannot take a path".to_owned())?
        .pop_if_empty()
        .extend(["v1", "traces", trace_id, "annotations"]);
    Ok(url)
}

/// Worker side: sends the oldest annotation, if any, and settles it (the worker then wakes
/// flush/shutdown waiters). Returns whether there was one.
pub(crate) fn send_next(
    annotations: &AnnotationIntake,
    client: &IngestClient,
    debug: bool,
) -> bool {
    let Some((seq, annotation)) = annotations.pop() else {
        return false;
    };
    let started = Instant::now();
    let request = annotation_url(&annotations.base_url, &annotation.trace_id).and_then(|url| {
        serde_json::to_vec(&annotation.to_request())
            .map(|body| (url, body))
            .map_err(|e| format!("could not serialize the annotation: {e}"))
    });
    let failure = match request {
        Ok((url, body)) => {
            let (delivery, detail) = client.post_with_retries(&url, Bytes::from(body));
            log_outcome(&annotation, &delivery, detail.as_deref(), started, debug);
            delivery.failure
        }
        Err(e) => {
            log::error!("staso: annotation {:?} not sent: {e}", annotation.name);
            Some((DeliveryFailureKind::BackendUnavailable, false))
        }
    };
    annotations.settle(seq, failure);
    true
}

fn log_outcome(
    annotation: &Annotation,
    delivery: &Delivery,
    detail: Option<&str>,
    started: Instant,
    debug: bool,
) {
    let ms = started.elapsed().as_millis();
    let status = delivery.status_note();
    match delivery.failure {
        None => {
            let level = success_level(debug);
            log::log!(
                level,
                "staso: delivered annotation {:?} on trace {}{status}, {} attempt(s), {ms} ms",
                annotation.name,
                annotation.trace_id,
                delivery.attempts
            );
        }
        Some((kind, retryable)) => log::warn!(
            "staso: annotation {:?} on trace {} failed{status}: kind {kind}, retryable \
             {retryable}, {} attempt(s), {ms} ms{}",
            annotation.name,
            annotation.trace_id,
            delivery.attempts,
            detail.map(|d| format!(": {d}")).unwrap_or_default()
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(name: &str) -> Annotation {
        Annotation::new("t", name, 1)
    }

    #[test]
    fn url_escapes_the_trace_id_as_one_segment() {
        let u = annotation_url("http://127.0.0.1:9/", "ab/c d").map(|u| u.to_string());
        assert_eq!(
            u.as_deref(),
            Ok("http://127.0.0.1:9/v1/traces/ab%2Fc%20d/annotations")
        );
        let u = annotation_url("https://x.test/api", "t1").map(|u| u.to_string());
        assert_eq!(
            u.as_deref(),
            Ok("https://x.test/api/v1/traces/t1/annotations")
        );
    }

    #[test]
    fn full_closed_and_crashed_reject_and_count() {
        let intake = AnnotationIntake::new(1, "http://127.0.0.1:9");
        assert!(intake.offer(a("1")).accepted);
        assert_eq!(
            intake.offer(a("2")),
            EnqueueResult::rejected(DeliveryFailureKind::QueueFull, true)
        );
        intake.close();
        assert_eq!(
            intake.offer(a("3")),
            EnqueueResult::rejected(DeliveryFailureKind::Shutdown, false)
        );
        let r = intake.report(intake.accepted(), false);
        assert_eq!((r.accepted, r.pending, r.rejected), (1, 1, 2));
        assert_eq!(r.last_failure, Some(DeliveryFailureKind::Shutdown));
    }

    #[test]
    fn numbered_in_order_and_settled_per_barrier() {
        let intake = AnnotationIntake::new(8, "http://127.0.0.1:9");
        for n in ["a", "b", "c"] {
            assert!(intake.offer(a(n)).accepted);
        }
        let (seq, first) = intake.pop().unwrap_or_else(|| (0, a("none")));
        assert_eq!((seq, first.name.as_str()), (1, "a"));
        intake.settle(1, None);
        let _ = intake.pop();
        intake.settle(2, Some((DeliveryFailureKind::MalformedResponse, false)));
        let r = intake.report(1, false);
        assert_eq!((r.accepted, r.delivered, r.failed, r.pending), (1, 1, 0, 0));
        let r = intake.report(3, false);
        assert_eq!((r.delivered, r.failed, r.pending), (1, 1, 1));
        assert_eq!(r.last_failure, Some(DeliveryFailureKind::MalformedResponse));
        // A crash fails the rest, the queued one included, and closes the intake.
        intake.fail_unsettled(DeliveryFailureKind::BackendUnavailable);
        let r = intake.report(3, false);
        assert_eq!((r.delivered, r.failed, r.pending), (1, 2, 0));
        assert_eq!(
            intake.offer(a("d")),
            EnqueueResult::rejected(DeliveryFailureKind::BackendUnavailable, true)
        );
        assert!(intake.is_empty());
    }
}
