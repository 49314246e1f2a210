//! The exporter's half of a batch worker: enqueue, flush, shutdown and drop, with the
//! [`DeliveryReport`]s they return (PROTOCOL.md §3.5–3.7). Written once for the Staso and the
//! OTLP exporter.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::accounting::{ContentCounts, Ledger, wait_until};
use super::control::{Control, Shared, SideQueue, lock};
use super::queue::Intake;
use super::worker::{self, BatchSender, WorkerSettings};
use crate::client::InitError;
use crate::report::{DeliveryReport, EnqueueResult};

/// Span and side-queue counts a flush or shutdown waits for.
type Barrier = (u64, u64);

/// What an exporter holds of its worker: the state they share and the thread to join.
/// Dropping it asks the worker to drain and exit, without waiting (call `shutdown` to wait).
pub(crate) struct WorkerHandle<P, X: SideQueue = ()> {
    shared: Arc<Shared<P, X>>,
    worker: Mutex<Option<JoinHandle<()>>>,
    content: Arc<ContentCounts>,
}

impl<P: Send + 'static, X: SideQueue> WorkerHandle<P, X> {
    /// Starts a worker with a queue of `capacity` items and `side`, sending through the sender
    /// `make_sender` builds on the worker thread; returns once the sender is built.
    ///
    /// # Errors
    /// [`InitError::Transport`] when the thread cannot be spawned or `make_sender` fails.
    pub(crate) fn start<S>(
        capacity: usize,
        side: X,
        settings: WorkerSettings,
        make_sender: impl FnOnce() -> Result<S, String> + Send + 'static,
    ) -> Result<Self, InitError>
    where
        S: BatchSender<Item = P, Side = X>,
    {
        let shared = Arc::new(Shared {
            intake: Intake::with_capacity(capacity, settings.queue_label),
            control: Control::default(),
            side,
        });
        let content = Arc::new(ContentCounts::default());
        let counts = content.clone();
        let make_sender = move || {
            make_sender().map(|mut sender| {
                sender.count_content_in(counts);
                sender
            })
        };
        let handle = worker::spawn(shared.clone(), settings, make_sender)?;
        Ok(WorkerHandle {
            shared,
            worker: Mutex::new(Some(handle)),
            content,
        })
    }

    /// Hands one item to the worker, or says why not. Never blocks (see `queue.rs`).
    #[inline]
    pub(crate) fn offer(&self, item: P) -> EnqueueResult {
        self.shared.intake.offer_item(item)
    }

    /// The state shared with the worker (for handles that feed the side queue).
    pub(crate) fn shared(&self) -> &Arc<Shared<P, X>> {
        &self.shared
    }

    /// Waits until every item accepted before the call (side queue included) is delivered or
    /// failed, the worker has died, or `timeout` passes (`timed_out = true`). Never stops the
    /// worker. Items enqueued concurrently with the call may or may not be waited for.
    pub(crate) fn flush(&self, timeout: Duration) -> DeliveryReport {
        let deadline = deadline_after(timeout);
        let barrier = self.barrier();
        let control = &self.shared.control;
        let ledger = lock(&control.ledger);
        if barrier == (0, 0) || self.settled(&ledger, barrier) {
            return self.report(&ledger, barrier, false);
        }
        self.request_barrier(barrier.0);
        let (ledger, finished) = wait_until(&control.settled, ledger, deadline, |l| {
            self.settled(l, barrier)
        });
        self.report(&ledger, barrier, !finished)
    }

    /// Stops accepting (later items are rejected as `shutdown`), lets the worker drain the
    /// whole queue, and waits up to `timeout` for it to exit. A timed-out report is not final: a
    /// later call waits again. Once the worker has exited, every call returns the same final
    /// report (updated only by later rejections).
    pub(crate) fn shutdown(&self, timeout: Duration) -> DeliveryReport {
        let deadline = deadline_after(timeout);
        let control = &self.shared.control;
        if let Some(r) = self.final_report(&lock(&control.ledger)) {
            return r;
        }
        self.close();
        let barrier = self.barrier();
        self.request_barrier(barrier.0);
        let (ledger, finished) = wait_until(
            &control.settled,
            lock(&control.ledger),
            deadline,
            Ledger::exited,
        );
        if !finished {
            return self.report(&ledger, barrier, true);
        }
        if let Some(r) = self.final_report(&ledger) {
            return r;
        }
        drop(ledger);
        // The worker has marked itself exited as its very last step: this join is immediate.
        let handle = self
            .worker
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(h) = handle {
            let _ = h.join();
        }
        let mut ledger = lock(&control.ledger);
        let report = self.report(&ledger, barrier, false);
        ledger.set_final(report.clone());
        report
    }

    /// The barriers of a flush or shutdown starting now.
    fn barrier(&self) -> Barrier {
        (self.shared.intake.accepted(), self.shared.side.accepted())
    }

    /// Whether everything up to `barrier` has an outcome (or never will: the worker is gone).
    fn settled(&self, ledger: &Ledger, barrier: Barrier) -> bool {
        (ledger.settled() >= barrier.0 && self.shared.side.settled() >= barrier.1)
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

    /// The report for `barrier`.
    fn report(&self, ledger: &Ledger, barrier: Barrier, timed_out: bool) -> DeliveryReport {
        let mut report = ledger.report(barrier.0, self.shared.intake.rejections(), timed_out);
        self.shared
            .side
            .add_to_report(&mut report, barrier.1, timed_out);
        self.content.add_to(&mut report);
        report
    }

    /// The final report, if shutdown completed, with the rejections since.
    fn final_report(&self, ledger: &Ledger) -> Option<DeliveryReport> {
        let mut report = ledger.final_report(self.shared.intake.rejections())?;
        self.shared.side.add_to_final_report(&mut report);
        Some(report)
    }
}

impl<P, X: SideQueue> WorkerHandle<P, X> {
    /// Queue capacity.
    pub(crate) fn capacity(&self) -> usize {
        self.shared.intake.capacity()
    }

    /// Stops accepting and asks the worker to drain and exit.
    fn close(&self) {
        self.shared.intake.close();
        self.shared.side.close();
        self.shared
            .control
            .shutdown_requested
            .store(true, Ordering::Release);
    }
}

impl<P, X: SideQueue> Drop for WorkerHandle<P, X> {
    /// Asks the worker to drain and exit, without waiting (see [`WorkerHandle::shutdown`]).
    fn drop(&mut self) {
        self.close();
        self.shared.intake.unpark();
    }
}

/// `now + timeout`, or `None` when that is beyond what `Instant` can hold (wait without bound).
fn deadline_after(timeout: Duration) -> Option<Instant> {
    Instant::now().checked_add(timeout)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::delivery::worker::{BatchOutcome, Lookahead};
    use crate::report::DeliveryFailureKind as K;

    /// Refuses the last item of every batch, or panics on its first batch.
    struct Fake {
        panic: bool,
    }

    impl BatchSender for Fake {
        type Item = u32;
        type Side = ();

        fn send(&mut self, batch: &mut Vec<u32>, _ahead: Lookahead<'_, u32>) -> BatchOutcome {
            assert!(!self.panic, "injected panic (test)");
            assert!(!batch.is_empty());
            BatchOutcome::Partial {
                rejected: 1,
                failure: (K::MalformedResponse, false),
            }
        }
    }

    fn start(panic: bool) -> WorkerHandle<u32> {
        let settings = WorkerSettings {
            thread_name: "staso-test",
            label: "test",
            queue_label: "test",
            batch_size: 10,
            flush_interval: Duration::from_secs(3600),
        };
        WorkerHandle::start(8, (), settings, move || Ok(Fake { panic }))
            .unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn flush_settles_a_batch_by_its_outcome() {
        let worker = start(false);
        for i in 0..3 {
            assert!(worker.offer(i).accepted);
        }
        let r = worker.flush(Duration::from_secs(10));
        assert_eq!((r.accepted, r.delivered, r.failed, r.pending), (3, 2, 1, 0));
        assert_eq!(
            (r.last_failure, r.retryable),
            (Some(K::MalformedResponse), false)
        );
        let r = worker.shutdown(Duration::from_secs(10));
        assert_eq!((r.accepted, r.delivered, r.failed), (3, 2, 1));
        assert_eq!(worker.offer(9), EnqueueResult::rejected(K::Shutdown, false));
        assert_eq!(worker.shutdown(Duration::ZERO).rejected, 1);
    }

    #[test]
    fn a_panic_fails_everything_held_and_queued() {
        let worker = start(true);
        for i in 0..3 {
            assert!(worker.offer(i).accepted);
        }
        let r = worker.flush(Duration::from_secs(10));
        assert_eq!((r.accepted, r.delivered, r.failed, r.pending), (3, 0, 3, 0));
        assert_eq!(
            (r.last_failure, r.retryable),
            (Some(K::BackendUnavailable), true)
        );
        assert_eq!(
            worker.offer(9),
            EnqueueResult::rejected(K::BackendUnavailable, true)
        );
    }

    #[test]
    fn a_failed_start_is_an_init_error() {
        let settings = WorkerSettings {
            thread_name: "staso-test",
            label: "test",
            queue_label: "test",
            batch_size: 1,
            flush_interval: Duration::from_secs(1),
        };
        let started: Result<WorkerHandle<u32>, _> =
            WorkerHandle::start(1, (), settings, || Err::<Fake, _>("no client".to_owned()));
        assert!(matches!(started, Err(InitError::Transport(m)) if m == "no client"));
    }
}
