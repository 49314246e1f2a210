//! Flush and shutdown for async code: the same reports as the blocking forms, with the wait on a
//! helper thread so the caller's executor thread stays free.

use std::sync::Arc;
use std::time::Duration;

use super::{Client, ClientInner, read_global, take_global, uninstall_if};
use crate::report::DeliveryReport;

impl Client {
    /// [`flush`](Self::flush) for async code: the same report, but the wait runs on a helper
    /// thread while this future is pending, so the executor thread is free to run other tasks
    /// meanwhile (any executor; no runtime of ours is needed).
    ///
    /// ```no_run
    /// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
    /// # let config = staso_core::Config::builder().api_key("ak_live_123").build()?;
    /// let client = staso_core::init(config)?;
    /// let report = client.flush_async(std::time::Duration::from_secs(2)).await;
    /// assert!(report.ok(), "{report:?}");
    /// # Ok(())
    /// # }
    /// ```
    pub async fn flush_async(&self, timeout: Duration) -> DeliveryReport {
        off_thread(self.inner.clone(), move |c| {
            Client::handle(c).flush(timeout)
        })
        .await
    }

    /// [`shutdown`](Self::shutdown) for async code: the same report, awaited without blocking the
    /// executor thread (see [`flush_async`](Self::flush_async)).
    pub async fn shutdown_async(&self, timeout: Duration) -> DeliveryReport {
        uninstall_if(&self.inner);
        off_thread(self.inner.clone(), move |c| c.shutdown(timeout)).await
    }

    /// A non-owning handle to `inner`.
    fn handle(inner: Arc<ClientInner>) -> Client {
        Client {
            inner,
            owner: false,
        }
    }
}

/// [`flush`] for async code: the same report, without blocking the executor thread while it
/// waits (the wait runs on a helper thread; this future completes when it is done).
///
/// ```no_run
/// # async fn handler() {
/// let report = staso_core::flush_async(std::time::Duration::from_secs(2)).await;
/// if !report.ok() {
///     eprintln!("spans still pending: {report:?}");
/// }
/// # }
/// ```
pub async fn flush_async(timeout: Duration) -> DeliveryReport {
    match read_global() {
        Some(c) => off_thread(c, move |c| Client::handle(c).flush(timeout)).await,
        None => DeliveryReport::disabled(),
    }
}

/// [`shutdown`] for async code: uninstalls the global client at once, then awaits its shutdown
/// without blocking the executor thread (see [`flush_async`]).
///
/// ```no_run
/// # async fn stop() {
/// let report = staso_core::shutdown_async(std::time::Duration::from_secs(5)).await;
/// # let _ = report;
/// # }
/// ```
pub async fn shutdown_async(timeout: Duration) -> DeliveryReport {
    match take_global() {
        Some(c) => off_thread(c, move |c| c.shutdown(timeout)).await,
        None => DeliveryReport::disabled(),
    }
}

/// Runs a blocking flush or shutdown `wait` on a helper thread and awaits its report, so the
/// caller's executor thread stays free. The flush/shutdown waits are condvar waits inside the
/// exporters (`SpanExporter` is a sync trait, custom exporters included), hence a thread rather
/// than an async wake-up. If no thread can be started, the wait runs here, blocking.
async fn off_thread(
    client: Arc<ClientInner>,
    wait: impl FnOnce(Arc<ClientInner>) -> DeliveryReport + Send + Clone + 'static,
) -> DeliveryReport {
    if client.exporter.is_none() {
        // A disabled client has nothing to wait for: answer here, without a helper thread.
        return wait(client);
    }
    let (tx, rx) = tokio::sync::oneshot::channel();
    let (on_thread, here) = (client.clone(), wait.clone());
    let spawned = std::thread::Builder::new()
        .name("staso-flush".into())
        .spawn(move || {
            // The receiver may be gone (the future was dropped): the wait still ran.
            let _ = tx.send(wait(on_thread));
        });
    match spawned {
        Ok(_) => match rx.await {
            Ok(report) => report,
            // The helper panicked inside the exporter's wait: nothing was reported.
            Err(_) => {
                log::warn!("staso: the flush/shutdown helper thread failed; waiting here");
                here(client)
            }
        },
        Err(e) => {
            log::warn!("staso: cannot start a flush/shutdown helper thread ({e}); waiting here");
            here(client)
        }
    }
}
