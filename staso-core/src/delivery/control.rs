//! What a batch worker and its exporter share: the queue, the delivery ledger with the condvar
//! that wakes flush/shutdown waiters, the flush/shutdown requests, and an optional side queue.

use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};

use super::accounting::Ledger;
use super::queue::Intake;
use crate::report::{DeliveryFailureKind, DeliveryReport};

/// State shared by producers, flush/shutdown callers and the worker. `P` is what a queue slot
/// holds, `X` the side queue (`()` for none).
pub(crate) struct Shared<P, X = ()> {
    /// The bounded queue producers offer to.
    pub(crate) intake: Intake<P>,
    /// Accounting and flush/shutdown requests.
    pub(crate) control: Control,
    /// A second queue the worker serves between batches, counted apart.
    pub(crate) side: X,
}

/// The delivery accounting and the flush/shutdown requests.
#[derive(Default)]
pub(crate) struct Control {
    /// Outcomes of the records taken so far.
    pub(crate) ledger: Mutex<Ledger>,
    /// Notified whenever records are settled or the worker exits.
    pub(crate) settled: Condvar,
    /// The highest barrier a flush or shutdown is waiting for.
    pub(crate) flush_target: AtomicU64,
    /// Shutdown asked the worker to drain and exit.
    pub(crate) shutdown_requested: AtomicBool,
}

impl Control {
    /// Wakes flush/shutdown waiters after a change they may be waiting for. Taking the ledger
    /// lock first orders this wake-up after any waiter's check (no lost wake-up).
    pub(crate) fn wake_waiters(&self) {
        drop(lock(&self.ledger));
        self.settled.notify_all();
    }
}

/// Locks the ledger; a poisoned lock still holds consistent counts (every update is one call).
pub(crate) fn lock(ledger: &Mutex<Ledger>) -> MutexGuard<'_, Ledger> {
    ledger.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A second queue a worker serves between its batches, with accounting of its own (the Staso
/// exporter's annotations): flush and shutdown wait for it too, and the report carries its
/// counts. `()` is no side queue.
pub(crate) trait SideQueue: Send + Sync + 'static {
    /// Items accepted so far: the side's barrier for a flush or shutdown starting now.
    fn accepted(&self) -> u64;
    /// Highest item number with an outcome.
    fn settled(&self) -> u64;
    /// Whether nothing waits to be sent.
    fn is_empty(&self) -> bool;
    /// Stops accepting (shutdown, drop of the exporter).
    fn close(&self);
    /// After a worker panic: stops accepting and fails every item without an outcome.
    fn fail_unsettled(&self, kind: DeliveryFailureKind);
    /// Puts the side's counts up to `barrier` into `report`.
    fn add_to_report(&self, report: &mut DeliveryReport, barrier: u64, timed_out: bool);
    /// Updates the side's counts in a stored final `report` with the rejections made since.
    fn add_to_final_report(&self, report: &mut DeliveryReport);
}

impl SideQueue for () {
    fn accepted(&self) -> u64 {
        0
    }

    fn settled(&self) -> u64 {
        0
    }

    fn is_empty(&self) -> bool {
        true
    }

    fn close(&self) {}

    fn fail_unsettled(&self, _kind: DeliveryFailureKind) {}

    fn add_to_report(&self, _report: &mut DeliveryReport, _barrier: u64, _timed_out: bool) {}

    fn add_to_final_report(&self, _report: &mut DeliveryReport) {}
}
