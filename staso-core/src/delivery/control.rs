//! What every delivery worker thread (Staso's and OTLP's) does the same way: the start-up
//! handshake, the ledger lock, and marking itself exited however it ends.

use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::mpsc::Receiver;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::Instant;

use super::accounting::{Ledger, wait_until};
use crate::client::InitError;
use crate::report::DeliveryReport;

/// What a worker and its exporter share besides the queue: the delivery accounting and the
/// flush/shutdown requests.
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
    /// The end of a shutdown, once the worker was asked to drain: waits (until `deadline`) for
    /// it to exit, joins it and records the final report. `report(ledger, timed_out)` builds the
    /// exporter's report; `final_report(ledger)` is the one a finished shutdown recorded.
    pub(crate) fn finish_shutdown(
        &self,
        worker: &Mutex<Option<JoinHandle<()>>>,
        deadline: Option<Instant>,
        report: impl Fn(&Ledger, bool) -> DeliveryReport,
        final_report: impl Fn(&Ledger) -> Option<DeliveryReport>,
    ) -> DeliveryReport {
        let (ledger, finished) =
            wait_until(&self.settled, lock(&self.ledger), deadline, Ledger::exited);
        if !finished {
            return report(&ledger, true);
        }
        if let Some(r) = final_report(&ledger) {
            return r;
        }
        drop(ledger);
        // The worker has marked itself exited as its very last step: this join is immediate.
        let handle = worker.lock().unwrap_or_else(PoisonError::into_inner).take();
        if let Some(h) = handle {
            let _ = h.join();
        }
        let mut ledger = lock(&self.ledger);
        let report = report(&ledger, false);
        ledger.set_final(report.clone());
        report
    }
}

/// A worker's shared state, which holds a [`Control`].
pub(crate) trait HasControl {
    /// The control part.
    fn control(&self) -> &Control;
}

/// Locks the ledger; a poisoned lock still holds consistent counts (every update is one call).
pub(crate) fn lock(ledger: &Mutex<Ledger>) -> MutexGuard<'_, Ledger> {
    ledger.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Marks the worker as exited and wakes every waiter, however the thread ends.
pub(crate) struct ExitGuard<S: HasControl>(pub(crate) Arc<S>);

impl<S: HasControl> Drop for ExitGuard<S> {
    fn drop(&mut self) {
        let control = self.0.control();
        lock(&control.ledger).set_exited();
        control.settled.notify_all();
    }
}

/// Waits for the start-up report of the worker thread `what`: its handle once it is ready, else
/// (after joining it) the error it reported, or that it stopped while starting.
pub(crate) fn await_start(
    handle: JoinHandle<()>,
    ready: &Receiver<Result<(), String>>,
    what: &str,
) -> Result<JoinHandle<()>, InitError> {
    match ready.recv() {
        Ok(Ok(())) => Ok(handle),
        Ok(Err(msg)) => {
            let _ = handle.join();
            Err(InitError::Transport(msg))
        }
        Err(_) => {
            let _ = handle.join();
            Err(InitError::Transport(format!(
                "the {what} thread stopped while starting"
            )))
        }
    }
}
