//! What happened to every accepted record, and the [`DeliveryReport`] of a barrier
//! (PROTOCOL.md §3.5–3.6).
//!
//! The worker numbers records 1, 2, 3, … in the order it takes them from the queue and records one
//! outcome per batch, `(first, last, ok, failure)`. A report for barrier `B` counts the records
//! numbered `1..=B`. Touched once per batch and once per flush/shutdown, never per span.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Condvar, MutexGuard};
use std::time::Instant;

use super::queue::Rejections;
use crate::report::{DeliveryFailureKind, DeliveryReport};

/// A failure kind with its retryable flag.
pub(crate) type Failure = (DeliveryFailureKind, bool);

/// Batch outcomes kept to answer barriers older than the newest batch; older barriers only occur
/// when a flush races with producers that keep the worker busy, so a short history suffices.
const HISTORY: usize = 4096;

/// The outcome of one batch, with the totals before it so any barrier inside it is answered
/// exactly.
#[derive(Clone, Copy, Debug)]
struct Outcome {
    first: u64,
    last: u64,
    failure: Option<Failure>,
    delivered_before: u64,
    failed_before: u64,
    failure_before: Option<Failure>,
}

/// Cumulative delivery state of one transport.
#[derive(Debug, Default)]
pub(crate) struct Ledger {
    /// Highest record number with an outcome.
    settled: u64,
    delivered: u64,
    failed: u64,
    /// The most recent failed batch.
    last_failure: Option<Failure>,
    history: VecDeque<Outcome>,
    /// Set when the worker died.
    crash: Option<DeliveryFailureKind>,
    /// The worker thread has finished (normally or not).
    exited: bool,
    /// Stored by the first `shutdown` that was not timed out.
    final_report: Option<DeliveryReport>,
}

impl Ledger {
    /// Records the outcome of records `first..=last` (`None` = delivered).
    pub(crate) fn record(&mut self, first: u64, last: u64, failure: Option<Failure>) {
        if last < first {
            return;
        }
        if self.history.len() == HISTORY {
            self.history.pop_front();
        }
        self.history.push_back(Outcome {
            first,
            last,
            failure,
            delivered_before: self.delivered,
            failed_before: self.failed,
            failure_before: self.last_failure,
        });
        let n = last - first + 1;
        match failure {
            None => self.delivered += n,
            Some(f) => {
                self.failed += n;
                self.last_failure = Some(f);
            }
        }
        self.settled = self.settled.max(last);
    }

    /// Highest record number with an outcome.
    pub(crate) fn settled(&self) -> u64 {
        self.settled
    }

    /// Marks the worker as dead with `kind`.
    pub(crate) fn set_crash(&mut self, kind: DeliveryFailureKind) {
        self.crash = Some(kind);
    }

    /// Whether the worker died.
    pub(crate) fn crashed(&self) -> bool {
        self.crash.is_some()
    }

    /// Marks the worker thread as finished.
    pub(crate) fn set_exited(&mut self) {
        self.exited = true;
    }

    /// Whether the worker thread has finished.
    pub(crate) fn exited(&self) -> bool {
        self.exited
    }

    /// `(delivered, failed, most recent failed batch)` among records `1..=barrier`.
    fn counts_at(&self, barrier: u64) -> (u64, u64, Option<Failure>) {
        if barrier >= self.settled {
            return (self.delivered, self.failed, self.last_failure);
        }
        let i = self.history.partition_point(|o| o.last < barrier);
        match self.history.get(i) {
            Some(o) if o.first <= barrier => {
                let n = barrier - o.first + 1;
                match o.failure {
                    None => (o.delivered_before + n, o.failed_before, o.failure_before),
                    Some(f) => (o.delivered_before, o.failed_before + n, Some(f)),
                }
            }
            // Older than the kept history: the best bound we still know.
            Some(o) => {
                let delivered = o.delivered_before.min(barrier);
                let failed = o.failed_before.min(barrier - delivered);
                (delivered, failed, o.failure_before)
            }
            None => (self.delivered, self.failed, self.last_failure),
        }
    }

    /// The report for `barrier` (PROTOCOL.md §3.6), with `rejections` as producers left them.
    pub(crate) fn report(
        &self,
        barrier: u64,
        rejections: Rejections,
        timed_out: bool,
    ) -> DeliveryReport {
        let (delivered, failed, batch_failure) = self.counts_at(barrier);
        let pending = barrier.saturating_sub(delivered + failed);
        let (last_failure, retryable) = if timed_out && pending > 0 {
            (Some(DeliveryFailureKind::Timeout), true)
        } else if let Some((kind, retryable)) = batch_failure {
            (Some(kind), retryable)
        } else if let Some(kind) = self.crash {
            (Some(kind), true)
        } else if let Some((kind, retryable)) = rejections.last {
            (Some(kind), retryable)
        } else {
            (None, false)
        };
        DeliveryReport {
            accepted: barrier,
            delivered,
            failed,
            pending,
            rejected: rejections.count,
            // Counted before the queue (head sampling, the tail stage), added by the client.
            sampled_out: 0,
            // Counted by the sender (the content policy), added by the worker's handle.
            truncated_fields: 0,
            masked_values_dropped: 0,
            timed_out,
            last_failure,
            retryable,
            last_rejection: rejections.last.map(|(k, _)| k),
            rejection_retryable: rejections.last.is_some_and(|(_, r)| r),
            // Filled in by the transport, which keeps annotations in a ledger of their own.
            annotations: Default::default(),
            per_exporter: Vec::new(),
        }
    }

    /// Stores the final report of a completed shutdown.
    pub(crate) fn set_final(&mut self, report: DeliveryReport) {
        self.final_report = Some(report);
    }

    /// The final report, updated by rejections that happened after it was stored: they can only
    /// be `shutdown` rejections, which then become `last_failure` (PROTOCOL.md §3.7).
    pub(crate) fn final_report(&self, rejections: Rejections) -> Option<DeliveryReport> {
        let mut report = self.final_report.clone()?;
        if rejections.count > report.rejected {
            report.rejected = rejections.count;
            if let Some((kind, retryable)) = rejections.last {
                report.last_failure = Some(kind);
                report.retryable = retryable;
                report.last_rejection = Some(kind);
                report.rejection_retryable = retryable;
            }
        }
        Some(report)
    }
}

/// What the sender's content policy (`redact/`) changed so far, for the report: fields cut to a
/// budget and values a panicking mask dropped. Written by the worker, read by reports.
#[derive(Debug, Default)]
pub(crate) struct ContentCounts {
    truncated_fields: AtomicU64,
    masked_values_dropped: AtomicU64,
}

impl ContentCounts {
    /// Adds one batch's changes.
    pub(crate) fn add(&self, truncated_fields: u64, masked_values_dropped: u64) {
        if truncated_fields > 0 {
            self.truncated_fields
                .fetch_add(truncated_fields, Ordering::Relaxed);
        }
        if masked_values_dropped > 0 {
            self.masked_values_dropped
                .fetch_add(masked_values_dropped, Ordering::Relaxed);
        }
    }

    /// Puts the counts into `report`.
    pub(crate) fn add_to(&self, report: &mut DeliveryReport) {
        report.truncated_fields = self.truncated_fields.load(Ordering::Relaxed);
        report.masked_values_dropped = self.masked_values_dropped.load(Ordering::Relaxed);
    }
}

/// Waits on `settled` (the condvar the worker signals after every change of the ledger) until
/// `done` holds (`true`) or `deadline` passes (`false`; `None` waits without bound). Shared by
/// the Staso and OTLP exporters' flush and shutdown.
pub(crate) fn wait_until<'a>(
    settled: &Condvar,
    mut ledger: MutexGuard<'a, Ledger>,
    deadline: Option<Instant>,
    done: impl Fn(&Ledger) -> bool,
) -> (MutexGuard<'a, Ledger>, bool) {
    while !done(&ledger) {
        ledger = match deadline {
            None => settled.wait(ledger).unwrap_or_else(|e| e.into_inner()),
            Some(d) => {
                let left = d.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return (ledger, false);
                }
                settled
                    .wait_timeout(ledger, left)
                    .unwrap_or_else(|e| e.into_inner())
                    .0
            }
        };
    }
    (ledger, true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use DeliveryFailureKind as K;

    fn none() -> Rejections {
        Rejections::default()
    }

    #[test]
    fn counts_are_cut_at_the_barrier() {
        let mut l = Ledger::default();
        l.record(1, 10, None);
        l.record(11, 15, Some((K::BackendUnavailable, true)));
        l.record(16, 20, None);
        let r = l.report(12, none(), false);
        assert_eq!(
            (r.accepted, r.delivered, r.failed, r.pending),
            (12, 10, 2, 0)
        );
        assert_eq!(r.last_failure, Some(K::BackendUnavailable));
        assert!(r.retryable);
        let r = l.report(5, none(), false);
        assert_eq!((r.delivered, r.failed, r.last_failure), (5, 0, None));
        let r = l.report(25, none(), true);
        assert_eq!((r.delivered, r.failed, r.pending), (15, 5, 5));
        assert_eq!(r.last_failure, Some(K::Timeout));
        assert!(!r.ok());
    }

    #[test]
    fn precedence_batch_then_crash_then_rejection() {
        let mut l = Ledger::default();
        let rej = Rejections {
            count: 2,
            last: Some((K::QueueFull, true)),
        };
        let r = l.report(0, rej, false);
        assert_eq!((r.last_failure, r.retryable), (Some(K::QueueFull), true));
        assert_eq!(r.last_rejection, Some(K::QueueFull));
        l.set_crash(K::BackendUnavailable);
        let r = l.report(0, rej, false);
        assert_eq!(r.last_failure, Some(K::BackendUnavailable));
        l.record(1, 1, Some((K::InvalidKey, false)));
        let r = l.report(1, rej, false);
        assert_eq!((r.last_failure, r.retryable), (Some(K::InvalidKey), false));
        // Timed out with nothing pending is not a timeout failure.
        let r = l.report(1, rej, true);
        assert_eq!(r.last_failure, Some(K::InvalidKey));
        assert!(r.timed_out && !r.ok());
    }

    #[test]
    fn final_report_takes_later_shutdown_rejections() {
        let mut l = Ledger::default();
        l.record(1, 3, None);
        l.set_final(l.report(3, none(), false));
        assert!(l.final_report(none()).is_some_and(|r| r.ok()));
        let later = Rejections {
            count: 1,
            last: Some((K::Shutdown, false)),
        };
        let r = l.final_report(later).unwrap_or_default();
        assert_eq!(r.rejected, 1);
        assert_eq!(r.last_failure, Some(K::Shutdown));
        assert_eq!(r.last_rejection, Some(K::Shutdown));
        assert!(!r.retryable && !r.ok());
    }
}
