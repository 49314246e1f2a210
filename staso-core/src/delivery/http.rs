//! The SDK's HTTP plumbing, written once: the reqwest client every caller builds (the Staso and
//! OTLP exporters, the guard, the dataset API), the current-thread runtime that drives it, and
//! [`run_blocking`] for the blocking forms of the async guard and dataset calls.
//!
//! Every client sends the same `User-Agent`, uses rustls (the crate's only TLS backend), follows
//! no redirect (a 3xx is answered like the protocol says, never followed) and leaves retries to
//! its caller, whose rules differ (PROTOCOL.md §3.4, §6.4, §7.1, the OTLP specification).

use std::future::Future;
use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderName, HeaderValue, InvalidHeaderValue};

/// `User-Agent` of every request: `staso-rust/<crate version>` (decision 10).
pub const USER_AGENT: &str = concat!("staso-rust/", env!("CARGO_PKG_VERSION"));

/// What differs between the SDK's clients.
#[derive(Debug)]
pub(crate) struct ClientSettings {
    /// Sent with every request (the API key, a content type, the OTLP headers, …).
    pub(crate) headers: HeaderMap,
    /// Whole-request timeout.
    pub(crate) timeout: Duration,
    /// Connect timeout; `None` leaves connecting bounded by `timeout` alone.
    pub(crate) connect_timeout: Option<Duration>,
}

/// Builds a client with `settings` and the rules every client shares (see the module docs).
///
/// # Errors
/// When reqwest cannot build it (e.g. no TLS roots); the error holds no header value.
pub(crate) fn client(settings: ClientSettings) -> Result<reqwest::Client, reqwest::Error> {
    let mut builder = reqwest::Client::builder()
        .user_agent(USER_AGENT)
        .default_headers(settings.headers)
        .redirect(reqwest::redirect::Policy::none())
        .retry(reqwest::retry::never())
        .timeout(settings.timeout);
    if let Some(connect) = settings.connect_timeout {
        builder = builder.connect_timeout(connect);
    }
    builder.build()
}

/// Headers carrying `api_key` in the Staso API key header, marked sensitive so it is never
/// printed.
///
/// # Errors
/// What a request that got no HTTP answer counts as: `timeout` when the timeout fired, else
/// `network_unavailable` (connection refused or reset, DNS, TLS). Both are retryable.
pub(crate) fn transport_failure(e: &reqwest::Error) -> crate::report::DeliveryFailureKind {
    if e.is_timeout() {
        crate::report::DeliveryFailureKind::Timeout
    } else {
        crate::report::DeliveryFailureKind::NetworkUnavailable
    }
}

/// When the key is not a valid header value (the error does not hold it).
pub(crate) fn api_key_headers(api_key: &str) -> Result<HeaderMap, InvalidHeaderValue> {
    let mut key = HeaderValue::from_str(api_key)?;
    key.set_sensitive(true);
    let mut headers = HeaderMap::new();
    headers.insert(HeaderName::from_static(staso_wire::API_KEY_HEADER), key);
    Ok(headers)
}

/// A current-thread tokio runtime with I/O and timers: what a worker thread drives its client
/// with, and what [`run_blocking`] runs a call on. Never the user's runtime.
///
/// # Errors
/// When the runtime's I/O driver cannot be created.
pub(crate) fn current_thread_runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
}

/// Why [`run_blocking`] could not run its future; the messages name the call (`what`).
#[derive(Debug, thiserror::Error)]
pub(crate) enum BlockingError {
    /// No runtime could be built.
    #[error("could not start a runtime for the {what} call: {source}")]
    Runtime {
        /// The call, e.g. `"guard"`.
        what: &'static str,
        /// The runtime builder's error.
        source: std::io::Error,
    },
    /// Inside a runtime, the helper thread could not be spawned.
    #[error("could not start the {what} helper thread: {source}")]
    Thread {
        /// The call.
        what: &'static str,
        /// The spawn error.
        source: std::io::Error,
    },
    /// The helper thread panicked.
    #[error("the {what} helper thread panicked: {message}")]
    Panicked {
        /// The call.
        what: &'static str,
        /// The panic's message.
        message: String,
    },
}

/// Runs `future` to completion from blocking code; `what` names the call in errors and names
/// the helper thread `staso-<what>`.
///
/// Outside a tokio runtime the future runs on this thread under a new current-thread runtime.
/// Inside one (where blocking on the runtime's own thread would panic or deadlock) it runs on a
/// short-lived helper thread with its own runtime, while this thread waits for it.
///
/// # Errors
/// When no runtime or helper thread could be started, or the helper panicked.
pub(crate) fn run_blocking<F>(what: &'static str, future: F) -> Result<F::Output, BlockingError>
where
    F: Future + Send,
    F::Output: Send,
{
    let run = move || {
        current_thread_runtime()
            .map(|rt| rt.block_on(future))
            .map_err(|source| BlockingError::Runtime { what, source })
    };
    if tokio::runtime::Handle::try_current().is_err() {
        return run();
    }
    std::thread::scope(|s| {
        std::thread::Builder::new()
            .name(format!("staso-{what}"))
            .spawn_scoped(s, run)
            .map_err(|source| BlockingError::Thread { what, source })?
            .join()
            .unwrap_or_else(|p| {
                Err(BlockingError::Panicked {
                    what,
                    message: crate::capture::panic_message(&*p),
                })
            })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_agent_names_the_rust_sdk() {
        assert_eq!(
            USER_AGENT,
            format!("staso-rust/{}", env!("CARGO_PKG_VERSION"))
        );
    }

    #[test]
    fn runs_outside_and_inside_a_runtime() {
        assert_eq!(run_blocking("test", async { 1 }).ok(), Some(1));
        let rt = current_thread_runtime().unwrap_or_else(|e| panic!("{e}"));
        let inside = rt.block_on(async { run_blocking("test", async { 2 }).ok() });
        assert_eq!(inside, Some(2));
    }

    #[test]
    fn errors_name_the_call() {
        let e = BlockingError::Panicked {
            what: "guard",
            message: "boom".into(),
        };
        assert_eq!(e.to_string(), "the guard helper thread panicked: boom");
    }

    #[test]
    fn the_api_key_header_is_sensitive() {
        let h = api_key_headers("ak_x").unwrap_or_default();
        assert!(
            h.get(staso_wire::API_KEY_HEADER)
                .is_some_and(|v| v.is_sensitive())
        );
        assert!(api_key_headers("bad\nkey").is_err());
    }
}
