//! `flush_on_panic`: a panic hook that flushes the global client, for programs built with
//! `panic = "abort"` (no unwinding, so the value `init` returned is never dropped).

use std::time::Duration;

/// Installs a panic hook that, after the previously installed hook (which prints the panic
/// message), flushes the global client for at most `timeout`. Call it once, after `init`.
///
/// With `panic = "abort"` nothing is dropped when a thread panics: the process aborts right after
/// the panic hooks run, so without this hook the spans still queued (the panicking call's among
/// them) are lost. With unwinding (the default) it is not needed for `main` — dropping the value
/// `init` returned drains the client — but it also covers a panic on another thread. Keep
/// `timeout` short: the panicking thread waits for it.
///
/// ```no_run
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let _staso = staso_core::init(staso_core::Config::builder().api_key("ak_live_123").build()?)?;
/// staso_core::flush_on_panic(std::time::Duration::from_millis(500));
/// # Ok(())
/// # }
/// ```
pub fn flush_on_panic(timeout: Duration) {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        previous(info);
        // A delivery worker's own panic (`staso-*` threads) must not wait for that worker.
        if std::thread::current()
            .name()
            .is_some_and(|n| n.starts_with("staso-"))
        {
            return;
        }
        let report = crate::client::flush(timeout);
        if report.pending > 0 || report.timed_out {
            log::warn!("staso: flush on panic incomplete: {report:?}");
        }
    }));
}
