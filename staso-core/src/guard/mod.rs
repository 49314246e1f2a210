//! Guard: ask the Staso service whether a tool call may run, before running it (PROTOCOL.md §6,
//! with the `modify`/`escalate` actions and escalation polling of decision 2).
//!
//! ```no_run
//! use staso_core::guard::{GuardAction, GuardOptions, guard};
//! # async fn run() {
//! let input = serde_json::json!({"cmd": "rm -rf /tmp/cache"});
//! let result = guard("shell", &input, GuardOptions::new()).await;
//! match result.action {
//!     GuardAction::Block => eprintln!("blocked: {}", result.reason),
//!     GuardAction::Modify => { /* run with result.modified_input */ }
//!     _ => { /* run the tool */ }
//! }
//! # }
//! ```
//!
//! A check never fails: when no decision can be obtained (no API key, network error, malformed
//! answer, …) the result says so (`decision_available: false`, `failure_kind`) and its action
//! follows the failure mode — allow under fail-open (the default), block under fail-closed.
//!
//! File map: `options.rs` (parameters and env defaults), `request.rs` (key/URL/policy, context
//! merge, capture boundary), `http.rs` (requests, escalation polling transport, the blocking
//! runner), `response.rs` (strict validation), `types.rs`, `decision_id.rs` and `blocked.rs`
//! (public types),
//! `telemetry.rs` (the guard span), `tool.rs` (what `#[staso::tool(guard)]` calls).

mod blocked;
mod decision_id;
mod http;
mod options;
mod request;
mod response;
mod telemetry;
pub(crate) mod tool;
mod types;

use std::future::Future;
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::{Map, Value};

pub use blocked::{BlockedTool, GuardBlocked};
pub use decision_id::{DecisionId, InvalidDecisionId};
pub use options::{
    DEFAULT_ESCALATION_POLL_INTERVAL, DEFAULT_ESCALATION_TIMEOUT, DEFAULT_TIMEOUT_SECS,
    GuardOptions,
};
pub use types::{
    EvaluationStatus, GuardAction, GuardFailureKind, GuardFailureMode, GuardResult, GuardRuleResult,
};

use http::{Escalation, Failure, GuardHttp};
use request::Target;
use response::Sent;
use telemetry::GuardSpan;

/// The decision source of direct calls.
const MANUAL: &str = "manual";
/// Below this timeout nothing is sent (§6.2).
const MIN_TIMEOUT_SECS: f64 = 0.1;
/// Longer timeouts are treated as this (one day).
const MAX_TIMEOUT_SECS: f64 = 86_400.0;
/// Escalation polls are at least this far apart.
const MIN_POLL_INTERVAL: Duration = Duration::from_millis(10);

/// Checks a tool call with the guard and returns the decision.
///
/// `tool_input` is serialized to a JSON object (anything else is sent as `{}` and reported as
/// unavailable input). The call reads the caller's context — current span, conversation, user,
/// agent — when it is made, not when the future is first polled, and the returned future is
/// `Send + 'static`. When a span is current, a `guard:<outcome>:<tool>` telemetry span is recorded
/// as its child. The API key, base URL and capture policy are the global client's when an enabled
/// client is installed, else `STASO_API_KEY`, `STASO_BASE_URL`, `STASO_CAPTURE_*`.
///
/// An `escalate` decision is returned at once by default (its `escalation_id` lets the caller
/// follow it up). With [`GuardOptions::wait_for_escalation`]`(true)` it is polled until a person
/// decides: approved gives `allow` (with `modified_input` when the approver changed the input),
/// rejected gives `block`, and still pending at `escalation_timeout` gives the failure mode's
/// action with `failure_kind: deadline_exceeded`.
///
/// Never returns [`GuardBlocked`]: check `result.action` (or [`GuardResult::is_blocked`]).
pub fn guard<T: Serialize + ?Sized>(
    tool_name: &str,
    tool_input: &T,
    options: GuardOptions,
) -> impl Future<Output = GuardResult> + Send + 'static + use<T> {
    let call = Call::prepare(tool_name, input_map(tool_input), options);
    call.run()
}

/// Blocking form of [`guard`], for synchronous code: same parameters, same result.
///
/// Outside a tokio runtime the request runs on the calling thread under a small runtime of its
/// own. Inside a runtime (where blocking on it would panic or deadlock) the request runs on a
/// short-lived helper thread while the calling thread waits — it never panics or deadlocks there,
/// but it does block that runtime thread for up to the timeout (plus any escalation wait): in
/// async code prefer [`guard`]. If neither a runtime nor a thread can be started, the result is
/// unavailable (`network_unavailable`).
pub fn guard_blocking<T: Serialize + ?Sized>(
    tool_name: &str,
    tool_input: &T,
    options: GuardOptions,
) -> GuardResult {
    let call = Call::prepare(tool_name, input_map(tool_input), options);
    call.run_blocking()
}

/// The caller's input as a map, and whether it was one.
fn input_map<T: Serialize + ?Sized>(input: &T) -> (Map<String, Value>, bool) {
    match serde_json::to_value(input) {
        Ok(Value::Object(m)) => (m, true),
        Ok(_) => (Map::new(), false),
        Err(e) => {
            log::debug!("staso: guard tool input did not serialize: {e}");
            (Map::new(), false)
        }
    }
}

/// One guard call with everything read from the caller's thread already resolved.
struct Call {
    tool_name: String,
    /// The input as given (for the telemetry span).
    tool_input: Map<String, Value>,
    target: Target,
    decision_id: String,
    mode: GuardFailureMode,
    timeout_secs: f64,
    wait_for_escalation: bool,
    poll_interval: Duration,
    escalation_timeout: Duration,
    /// The serialized request body.
    body: Option<Vec<u8>>,
    span: Option<GuardSpan>,
    started: Instant,
}

impl Call {
    fn prepare(
        tool_name: &str,
        (input, input_is_map): (Map<String, Value>, bool),
        options: GuardOptions,
    ) -> Call {
        let started = Instant::now();
        let target = Target::resolve();
        let decision_id = options
            .decision_id
            .unwrap_or_else(DecisionId::new_v4)
            .to_string();
        let mode = options.failure_mode();
        let timeout_secs = options.timeout_secs();
        let mut context = request::merge_context(&target, &options.context);
        let mut sent_input = input.clone();
        request::apply_capture(
            tool_name,
            &mut sent_input,
            input_is_map,
            &mut context,
            &target.policy,
        );
        let body = staso_wire::guard::GuardEvaluateRequest {
            payload_version: 1,
            tool_name: tool_name.to_owned(),
            tool_input: sent_input,
            context,
            decision_id: decision_id.clone(),
            decision_source: MANUAL.to_owned(),
            failure_mode: Some(mode.as_str().to_owned()),
            capture: Some(target.policy.wire_map()),
            deadline_ms: timeout_secs
                .is_finite()
                .then(|| options::deadline_ms(timeout_secs)),
        };
        let body = serde_json::to_vec(&body)
            .map_err(|e| log::warn!("staso: guard request did not serialize: {e}"))
            .ok();
        Call {
            tool_name: tool_name.to_owned(),
            tool_input: input,
            span: GuardSpan::open(tool_name),
            target,
            decision_id,
            mode,
            timeout_secs,
            wait_for_escalation: options.wait_for_escalation,
            poll_interval: options.escalation_poll_interval,
            escalation_timeout: options.escalation_timeout,
            body,
            started,
        }
    }

    fn elapsed_ms(&self) -> f64 {
        self.started.elapsed().as_secs_f64() * 1000.0
    }

    fn unavailable(&self, (kind, reason): Failure) -> GuardResult {
        GuardResult::unavailable_with_reason(
            kind,
            reason.unwrap_or(kind.reason()),
            self.mode,
            &self.decision_id,
            MANUAL,
            self.elapsed_ms(),
        )
    }

    async fn run(mut self) -> GuardResult {
        let result = self.decide().await;
        self.finish(result)
    }

    fn run_blocking(mut self) -> GuardResult {
        // The helper thread (inside a runtime) is scoped: the call is borrowed, not moved, so the
        // span is finished here whatever happens there.
        let result = http::run_blocking(self.decide())
            .unwrap_or_else(|| self.unavailable((GuardFailureKind::NetworkUnavailable, None)));
        self.finish(result)
    }

    fn finish(mut self, result: GuardResult) -> GuardResult {
        if let Some(span) = self.span.take() {
            span.finish(
                &self.tool_name,
                &self.tool_input,
                &result,
                &self.target.policy,
            );
        }
        result
    }

    async fn decide(&mut self) -> GuardResult {
        let Some(key) = self.target.api_key.clone() else {
            return self.unavailable((
                GuardFailureKind::InvalidKey,
                Some("Guard API key is missing"),
            ));
        };
        if !self.timeout_secs.is_finite() {
            return self.unavailable((GuardFailureKind::NetworkUnavailable, None));
        }
        if self.timeout_secs < MIN_TIMEOUT_SECS {
            return self.unavailable((GuardFailureKind::DeadlineExceeded, None));
        }
        let Some(body) = self.body.take() else {
            return self.unavailable((GuardFailureKind::NetworkUnavailable, None));
        };
        // Capped so that no deadline computed from it can overflow the clock.
        let timeout = Duration::from_secs_f64(self.timeout_secs.min(MAX_TIMEOUT_SECS));
        let http = match GuardHttp::new(&self.target.base_url, &key, timeout) {
            Ok(h) => h,
            Err(f) => return self.unavailable(f),
        };
        let answer = match http.evaluate(body).await {
            Ok(a) => a,
            Err(f) => return self.unavailable(f),
        };
        let sent = Sent {
            decision_id: &self.decision_id,
            decision_source: MANUAL,
            mode: self.mode,
            latency_ms: self.elapsed_ms(),
        };
        let result = match response::parse_decision(&answer, &sent) {
            Ok(r) => r,
            Err(kind) => return self.unavailable((kind, None)),
        };
        match (&result.escalation_id, result.action) {
            (Some(id), GuardAction::Escalate) if self.wait_for_escalation => {
                let id = id.clone();
                self.await_escalation(&http, &id, result).await
            }
            _ => result,
        }
    }

    /// Polls the escalation until it is decided or `escalation_timeout` passes. Transient
    /// failures (retryable kinds) keep polling; others end the wait as unavailable.
    async fn await_escalation(
        &self,
        http: &GuardHttp,
        id: &str,
        decision: GuardResult,
    ) -> GuardResult {
        let max_wait = Duration::from_secs_f64(MAX_TIMEOUT_SECS);
        let deadline = Instant::now() + self.escalation_timeout.min(max_wait);
        let interval = self.poll_interval.max(MIN_POLL_INTERVAL);
        loop {
            match http.escalation(id).await {
                Ok(Escalation::Pending) => {}
                Ok(Escalation::Approved {
                    reason,
                    decided_by,
                    modified_input,
                }) => {
                    let mut r = decision;
                    r.action = GuardAction::Allow;
                    r.reason = decided_reason(reason, decided_by, "approved");
                    r.modified_input = modified_input;
                    r.latency_ms = self.elapsed_ms();
                    return r;
                }
                Ok(Escalation::Rejected { reason, decided_by }) => {
                    let mut r = decision;
                    r.action = GuardAction::Block;
                    r.reason = decided_reason(reason, decided_by, "rejected");
                    r.latency_ms = self.elapsed_ms();
                    return r;
                }
                Err((kind, _)) if kind.retryable() => {
                    log::debug!("staso: guard escalation {id} poll failed ({kind}); retrying");
                }
                Err(f) => {
                    let mut r = self.unavailable(f);
                    r.escalation_id = Some(id.to_owned());
                    return r;
                }
            }
            let now = Instant::now();
            if now >= deadline {
                let mut r = self.unavailable((
                    GuardFailureKind::DeadlineExceeded,
                    Some("Guard escalation was not decided in time"),
                ));
                r.escalation_id = Some(id.to_owned());
                r.results = decision.results;
                r.rules_triggered = decision.rules_triggered;
                r.rule_name = decision.rule_name;
                return r;
            }
            tokio::time::sleep(interval.min(deadline - now)).await;
        }
    }
}

/// The reason of a decided escalation: the decider's reason, else who decided, else the verdict.
fn decided_reason(reason: Option<String>, decided_by: Option<String>, verdict: &str) -> String {
    match (
        reason.filter(|r| !r.is_empty()),
        decided_by.filter(|d| !d.is_empty()),
    ) {
        (Some(r), _) => r,
        (None, Some(by)) => format!("Escalation {verdict} by {by}"),
        (None, None) => format!("Escalation {verdict}"),
    }
}
