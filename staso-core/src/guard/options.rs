//! [`GuardOptions`]: the optional parameters of a guard call, and their env defaults
//! (PROTOCOL.md §6.1, decision 2).

use std::sync::OnceLock;
use std::time::Duration;

use serde::Serialize;
use serde_json::{Map, Value};

use super::decision_id::DecisionId;
use super::types::GuardFailureMode;

/// Default request timeout when `STASO_GUARD_TIMEOUT` is unset or invalid.
pub const DEFAULT_TIMEOUT_SECS: f64 = 10.0;
/// Default interval between escalation polls.
pub const DEFAULT_ESCALATION_POLL_INTERVAL: Duration = Duration::from_secs(3);
/// Default time to wait for a person to decide an escalation.
pub const DEFAULT_ESCALATION_TIMEOUT: Duration = Duration::from_secs(300);

/// Optional parameters of [`guard`](super::guard). `Default` gives the documented defaults; the
/// setters build on it:
///
/// ```
/// use std::time::Duration;
/// use staso_core::guard::GuardOptions;
/// let options = GuardOptions::new()
///     .context_entry("ticket", "T-42")
///     .timeout(Duration::from_secs(2))
///     .fail_closed(true)
///     .wait_for_escalation(true);
/// # let _ = options;
/// ```
///
/// By default an `escalate` decision is returned at once (`wait_for_escalation` is off), so a
/// guard call never waits minutes for a person unless asked to.
#[derive(Clone, Debug)]
pub struct GuardOptions {
    /// Extra context for the evaluation. Null and `""` values are skipped; the active trace,
    /// span and session ids override same-named entries (PROTOCOL.md §6.1).
    pub context: Map<String, Value>,
    /// The decision id; a fresh UUIDv4 when `None`. Reuse one to make a retry idempotent.
    pub decision_id: Option<DecisionId>,
    /// Poll an escalation until a person decides (default false: an `escalate` decision is
    /// returned as is, with its `escalation_id`, for the caller to poll or hand on). On: the call
    /// waits up to `escalation_timeout`, polling every `escalation_poll_interval`.
    pub wait_for_escalation: bool,
    /// Interval between escalation polls (default 3 s).
    pub escalation_poll_interval: Duration,
    /// How long to wait for an escalation to be decided (default 300 s); still pending then, the
    /// failure mode decides.
    pub escalation_timeout: Duration,
    /// Per-request timeout; `None` → `STASO_GUARD_TIMEOUT` (float seconds, read once per
    /// process), else 10 s. Below 0.1 s nothing is sent and the result is `deadline_exceeded`.
    pub timeout: Option<Duration>,
    /// `Some(true)` fail-closed, `Some(false)` fail-open; `None` → `STASO_GUARD_FAIL_CLOSED`
    /// (`1`, `true`, `yes`, `on` mean fail-closed), read at each call.
    pub fail_closed: Option<bool>,
}

impl Default for GuardOptions {
    fn default() -> Self {
        GuardOptions {
            context: Map::new(),
            decision_id: None,
            wait_for_escalation: false,
            escalation_poll_interval: DEFAULT_ESCALATION_POLL_INTERVAL,
            escalation_timeout: DEFAULT_ESCALATION_TIMEOUT,
            timeout: None,
            fail_closed: None,
        }
    }
}

impl GuardOptions {
    /// The defaults.
    pub fn new() -> Self {
        Self::default()
    }

    /// Replaces the extra context.
    pub fn context(mut self, context: Map<String, Value>) -> Self {
        self.context = context;
        self
    }

    /// Adds one context entry; a value that does not serialize is skipped (logged at debug).
    pub fn context_entry(mut self, key: impl Into<String>, value: impl Serialize) -> Self {
        let key = key.into();
        match serde_json::to_value(value) {
            Ok(v) => {
                self.context.insert(key, v);
            }
            Err(e) => log::debug!("staso: guard context entry {key:?} skipped: {e}"),
        }
        self
    }

    /// Sets the decision id.
    pub fn decision_id(mut self, id: DecisionId) -> Self {
        self.decision_id = Some(id);
        self
    }

    /// Sets whether to wait for escalations.
    pub fn wait_for_escalation(mut self, wait: bool) -> Self {
        self.wait_for_escalation = wait;
        self
    }

    /// Sets the escalation poll interval.
    pub fn escalation_poll_interval(mut self, interval: Duration) -> Self {
        self.escalation_poll_interval = interval;
        self
    }

    /// Sets the escalation timeout.
    pub fn escalation_timeout(mut self, timeout: Duration) -> Self {
        self.escalation_timeout = timeout;
        self
    }

    /// Sets the per-request timeout.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Sets the failure mode: true → fail-closed.
    pub fn fail_closed(mut self, fail_closed: bool) -> Self {
        self.fail_closed = Some(fail_closed);
        self
    }

    /// The timeout in seconds (may be non-finite when `STASO_GUARD_TIMEOUT` says `inf`).
    pub(crate) fn timeout_secs(&self) -> f64 {
        match self.timeout {
            Some(d) => d.as_secs_f64(),
            None => default_timeout_secs(),
        }
    }

    /// The failure mode of this call.
    pub(crate) fn failure_mode(&self) -> GuardFailureMode {
        let closed = self
            .fail_closed
            .unwrap_or_else(|| env_fail_closed(std::env::var("STASO_GUARD_FAIL_CLOSED").ok()));
        if closed {
            GuardFailureMode::FailClosed
        } else {
            GuardFailureMode::FailOpen
        }
    }
}

/// `STASO_GUARD_TIMEOUT`, read once per process (as the official SDK reads it at import).
fn default_timeout_secs() -> f64 {
    static DEFAULT: OnceLock<f64> = OnceLock::new();
    *DEFAULT.get_or_init(|| parse_timeout(std::env::var("STASO_GUARD_TIMEOUT").ok()))
}

/// A float of seconds (Python `float()` syntax, so `inf` and `nan` parse); invalid or missing → 10.
pub(crate) fn parse_timeout(raw: Option<String>) -> f64 {
    raw.and_then(|s| s.trim().parse::<f64>().ok())
        .unwrap_or(DEFAULT_TIMEOUT_SECS)
}

/// `1`, `true`, `yes`, `on` (trimmed, any case) → true; anything else false.
pub(crate) fn env_fail_closed(raw: Option<String>) -> bool {
    raw.is_some_and(|s| {
        matches!(
            s.trim().to_lowercase().as_str(),
            "1" | "true" | "yes" | "on"
        )
    })
}

/// `deadline_ms` of the request: `max(100, min(30000, floor(timeout·1000) − 100))`.
pub(crate) fn deadline_ms(timeout_secs: f64) -> u64 {
    let ms = (timeout_secs * 1000.0).floor() - 100.0;
    // Non-finite timeouts never reach here (they fail before sending); clamp keeps the cast sane.
    ms.clamp(100.0, 30_000.0) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_values() {
        assert_eq!(parse_timeout(None), 10.0);
        assert_eq!(parse_timeout(Some(" 2.5 ".into())), 2.5);
        assert_eq!(parse_timeout(Some("soon".into())), 10.0);
        assert!(parse_timeout(Some("inf".into())).is_infinite());
        assert!(env_fail_closed(Some(" YES ".into())));
        assert!(!env_fail_closed(Some("2".into())));
        assert!(!env_fail_closed(None));
    }

    #[test]
    fn escalations_are_not_waited_for_by_default() {
        assert!(!GuardOptions::default().wait_for_escalation);
        assert!(!GuardOptions::new().wait_for_escalation);
        assert!(
            GuardOptions::new()
                .wait_for_escalation(true)
                .wait_for_escalation
        );
    }

    #[test]
    fn deadline_is_clamped() {
        assert_eq!(deadline_ms(10.0), 9900);
        assert_eq!(deadline_ms(0.15), 100);
        assert_eq!(deadline_ms(100.0), 30_000);
        assert_eq!(deadline_ms(1.2345), 1134);
    }
}
