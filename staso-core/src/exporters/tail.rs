//! Tail sampling: the traces head sampling dropped (records marked [`SampleState::Held`]) are held
//! on a worker of their own until their root ends, then forwarded whole to the real exporter when
//! a [`TailRules`] rule keeps them (an error, a guard block or escalation, enough cost, a long
//! root), else dropped whole and counted as `sampled_out`.
//!
//! Every other record goes straight through. The held set is bounded by
//! [`TailRules::max_held_spans`]: past it the trace held longest is dropped (counted, warned at
//! most every 10 s). A trace whose root never ends here (a root in another process) stays until
//! evicted or shutdown.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::client::InitError;
use crate::config::{Config, ExportSettings, TailRules};
use crate::delivery::handle::WorkerHandle;
use crate::delivery::worker::{BatchOutcome, BatchSender, Lookahead, WorkerSettings};
use crate::export::SpanExporter;
use crate::ids::TraceId;
use crate::kind::SpanStatus;
use crate::record::{SampleState, SpanRecord};
use crate::report::{DeliveryReport, EnqueueResult};

/// How often the eviction warning may be logged.
const WARN_EVERY: Duration = Duration::from_secs(10);

/// One held trace and what the rules look at, updated as its spans arrive.
#[derive(Default)]
struct HeldTrace {
    // Records arrive boxed and leave boxed (the exporter contract): no move out of the box.
    #[allow(clippy::vec_box)]
    spans: Vec<Box<SpanRecord>>,
    /// Order of arrival of the trace's first span (eviction takes the smallest).
    first_seen: u64,
    error: bool,
    guard: bool,
    cost_usd: f64,
}

/// The traces held, shared by the worker (which fills and decides) and the exporter (which
/// drops what is left at shutdown).
#[derive(Default)]
struct Held {
    traces: HashMap<TraceId, HeldTrace>,
    arrival: VecDeque<(u64, TraceId)>,
    spans: usize,
    next: u64,
}

/// What tail sampling counts.
#[derive(Default)]
struct Counters {
    sampled_out: AtomicU64,
}

/// The exporter in front of the client's exporter when [`TailRules`] are configured.
pub(crate) struct TailSampler {
    inner: Arc<dyn SpanExporter>,
    worker: WorkerHandle<Box<SpanRecord>>,
    held: Arc<Mutex<Held>>,
    counters: Arc<Counters>,
}

fn lock(held: &Mutex<Held>) -> MutexGuard<'_, Held> {
    held.lock().unwrap_or_else(|e| e.into_inner())
}

impl TailSampler {
    /// Starts the holding worker in front of `inner`.
    ///
    /// # Errors
    /// [`InitError::Transport`] when the worker thread cannot be started.
    pub(crate) fn start(
        inner: Arc<dyn SpanExporter>,
        rules: &TailRules,
        config: &Config,
    ) -> Result<Self, InitError> {
        let held = Arc::new(Mutex::new(Held::default()));
        let counters = Arc::new(Counters::default());
        let sender = TailSender {
            inner: inner.clone(),
            rules: rules.clone(),
            held: held.clone(),
            counters: counters.clone(),
            last_warning: None,
        };
        let worker = WorkerHandle::start(
            config.max_queue_size(),
            (),
            WorkerSettings::new(config, "staso-tail", "tail sampling", "tail sampling"),
            move || Ok(sender),
        )?;
        Ok(TailSampler {
            inner,
            worker,
            held,
            counters,
        })
    }

    /// Adds what this stage counted (and refused) to the inner exporter's report.
    fn merge(&self, own: &DeliveryReport, mut report: DeliveryReport) -> DeliveryReport {
        report.sampled_out += self.counters.sampled_out.load(Ordering::Relaxed);
        report.rejected += own.rejected;
        if report.last_rejection.is_none() {
            report.last_rejection = own.last_rejection;
            report.rejection_retryable = own.rejection_retryable;
        }
        report.timed_out |= own.timed_out;
        report
    }
}

fn remaining(deadline: Instant) -> Duration {
    deadline.saturating_duration_since(Instant::now())
}

impl SpanExporter for TailSampler {
    fn attach(&self, ctx: Arc<ExportSettings>) {
        self.inner.attach(ctx);
    }

    #[inline]
    fn export(&self, record: Box<SpanRecord>) -> EnqueueResult {
        if record.sample != SampleState::Held {
            return self.inner.export(record);
        }
        if record.provisional {
            // A held trace has no live view: its snapshot is not needed.
            return EnqueueResult::ACCEPTED;
        }
        self.worker.offer(record)
    }

    /// Waits until the held records offered before the call are sorted (held, forwarded or
    /// dropped), then flushes the inner exporter with what is left of `timeout`.
    fn flush(&self, timeout: Duration) -> DeliveryReport {
        let deadline = Instant::now() + timeout;
        let own = self.worker.flush(timeout);
        let inner = self.inner.flush(remaining(deadline));
        self.merge(&own, inner)
    }

    /// Sorts what is queued, drops the traces whose roots have not ended (counted), then shuts
    /// the inner exporter down with what is left of `timeout`.
    fn shutdown(&self, timeout: Duration) -> DeliveryReport {
        let deadline = Instant::now() + timeout;
        let own = self.worker.shutdown(timeout);
        let left = {
            let mut held = lock(&self.held);
            let n = held.spans as u64;
            *held = Held::default();
            n
        };
        if left > 0 {
            self.counters.sampled_out.fetch_add(left, Ordering::Relaxed);
            log::debug!("staso: {left} held spans of unfinished traces dropped at shutdown");
        }
        let inner = self.inner.shutdown(remaining(deadline));
        self.merge(&own, inner)
    }
}

/// The worker side: holds, decides, forwards.
struct TailSender {
    inner: Arc<dyn SpanExporter>,
    rules: TailRules,
    held: Arc<Mutex<Held>>,
    counters: Arc<Counters>,
    last_warning: Option<Instant>,
}

/// Whether the guard blocked or escalated in this span (the guard telemetry's keys, PROTOCOL.md
/// §6.6, or a blocked count on the tool span).
fn guard_intervened(record: &SpanRecord) -> bool {
    record.metadata.iter().any(|(k, v)| match k.as_ref() {
        "guard_action" | "guard.action" => {
            matches!(
                v.as_str(),
                Some("block" | "escalate" | "blocked" | "escalated")
            )
        }
        "guard_blocked_count" => v.as_u64().is_some_and(|n| n > 0),
        _ => false,
    })
}

fn cost_of(record: &SpanRecord) -> f64 {
    record
        .metadata
        .iter()
        .find(|(k, _)| k == "cost_usd")
        .and_then(|(_, v)| v.as_f64())
        .filter(|c| c.is_finite())
        .unwrap_or(0.0)
}

impl TailSender {
    fn keeps(&self, trace: &HeldTrace, root: &SpanRecord) -> bool {
        let r = &self.rules;
        (r.errors && trace.error)
            || (r.guard_blocks && trace.guard)
            || r.min_cost_usd.is_some_and(|c| trace.cost_usd >= c)
            || r.min_duration.is_some_and(|d| root.duration >= d)
    }

    fn hold(&mut self, record: Box<SpanRecord>) {
        let shared = self.held.clone();
        let mut guard = lock(&shared);
        let held = &mut *guard;
        let trace_id = record.trace_id;
        let is_root = record.parent_span_id.is_none();
        let seq = held.next;
        let entry = held.traces.entry(trace_id).or_insert_with(|| HeldTrace {
            first_seen: seq,
            ..HeldTrace::default()
        });
        if entry.first_seen == seq {
            held.next += 1;
            held.arrival.push_back((seq, trace_id));
        }
        entry.error |= record.status != SpanStatus::Ok;
        entry.guard |= guard_intervened(&record);
        entry.cost_usd += cost_of(&record);
        if !is_root {
            entry.spans.push(record);
            held.spans += 1;
            self.evict(held);
            return;
        }
        let Some(mut trace) = held.traces.remove(&trace_id) else {
            return;
        };
        held.spans -= trace.spans.len();
        let keep = self.keeps(&trace, &record);
        trace.spans.push(record);
        if keep {
            for mut span in trace.spans {
                span.sample = SampleState::Kept;
                self.inner.export(span);
            }
        } else {
            self.counters
                .sampled_out
                .fetch_add(trace.spans.len() as u64, Ordering::Relaxed);
        }
    }

    /// Drops the traces held longest until at most `max_held_spans` spans are held.
    fn evict(&mut self, held: &mut Held) {
        let mut evicted = 0u64;
        while held.spans > self.rules.max_held_spans {
            let Some((seq, trace_id)) = held.arrival.pop_front() else {
                break;
            };
            // An entry whose root already ended was removed; a re-created one has a newer seq.
            if held
                .traces
                .get(&trace_id)
                .is_some_and(|t| t.first_seen == seq)
                && let Some(t) = held.traces.remove(&trace_id)
            {
                held.spans -= t.spans.len();
                evicted += t.spans.len() as u64;
            }
        }
        if evicted > 0 {
            self.counters
                .sampled_out
                .fetch_add(evicted, Ordering::Relaxed);
            let due = self.last_warning.is_none_or(|t| t.elapsed() >= WARN_EVERY);
            if due {
                self.last_warning = Some(Instant::now());
                log::warn!(
                    "staso: more than {} spans held for tail sampling; the oldest held traces \
                     were dropped ({evicted} spans)",
                    self.rules.max_held_spans
                );
            }
        }
        // Entries of traces that ended are skipped lazily above; keep the queue from growing
        // without bound when roots end in order.
        if held.arrival.len() > 2 * held.traces.len() + 1024 {
            let live = &held.traces;
            held.arrival
                .retain(|(seq, id)| live.get(id).is_some_and(|t| t.first_seen == *seq));
        }
    }
}

impl BatchSender for TailSender {
    type Item = Box<SpanRecord>;
    type Side = ();

    fn send(
        &mut self,
        batch: &mut Vec<Box<SpanRecord>>,
        _ahead: Lookahead<'_, Box<SpanRecord>>,
    ) -> BatchOutcome {
        for record in batch.drain(..) {
            self.hold(record);
        }
        BatchOutcome::Delivered
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    #[test]
    fn guard_keys_and_cost_are_read_from_metadata() {
        let mut r = SpanRecord::new(
            TraceId(1),
            crate::ids::SpanId(2),
            None,
            "g".into(),
            crate::kind::SpanKind::Tool,
            crate::time::now(),
        );
        assert!(!guard_intervened(&r));
        r.set_metadata("guard_action".into(), Value::from("block"));
        assert!(guard_intervened(&r));
        r.set_metadata("cost_usd".into(), Value::from(0.25));
        assert_eq!(cost_of(&r), 0.25);
    }
}
