//! What every delivery worker thread (Staso's and OTLP's) does the same way: the start-up
//! handshake, the ledger lock, and marking itself exited however it ends.

use std::sync::mpsc::Receiver;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;

use super::accounting::Ledger;
use crate::client::InitError;

/// What a worker shares with its exporter for accounting: the ledger, and the condvar signalled
/// after every change of it.
pub(crate) trait Accounts {
    /// The ledger.
    fn ledger(&self) -> &Mutex<Ledger>;
    /// Signalled after every change of the ledger.
    fn settled(&self) -> &Condvar;
}

/// Locks the ledger; a poisoned lock still holds consistent counts (every update is one call).
pub(crate) fn lock(ledger: &Mutex<Ledger>) -> MutexGuard<'_, Ledger> {
    ledger.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Marks the worker as exited and wakes every waiter, however the thread ends.
pub(crate) struct ExitGuard<S: Accounts>(pub(crate) Arc<S>);

impl<S: Accounts> Drop for ExitGuard<S> {
    fn drop(&mut self) {
        lock(self.0.ledger()).set_exited();
        self.0.settled().notify_all();
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
