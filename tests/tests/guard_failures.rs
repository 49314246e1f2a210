//! When no decision can be obtained: malformed answers, HTTP errors, an unreachable or slow
//! server, a too-short deadline and a missing API key — each an unavailable result with the
//! protocol's failure kind, reason and retryable flag, allowed under fail-open and blocked under
//! fail-closed (PROTOCOL.md §6.4, §6.5). Served by a purpose-built recording server.

// The lock serializes the tests of this binary (the global client is process-wide); each test
// owns its runtime, so holding it across `.await` blocks nothing else.
#![allow(clippy::await_holding_lock)]

mod guard_common;

use std::time::Duration;

use guard_common::{Answer, Recorder, allow_echo, install, lock};
use serde_json::{Value, json};
use staso::{
    EvaluationStatus, GuardAction, GuardFailureKind, GuardOptions, GuardResult, InMemoryExporter,
};

fn options() -> GuardOptions {
    GuardOptions::new().timeout(Duration::from_secs(5))
}

/// Runs one guard call against a recording server answering `respond`, under both modes.
fn against(respond: fn(&guard_common::Recorded) -> Answer) -> (GuardResult, GuardResult) {
    let server = Recorder::start(respond);
    let spans = InMemoryExporter::new();
    let _client = install(&server.base_url, &spans, |b| b);
    let open = staso::guard_blocking("t", &json!({"a": 1}), options().fail_closed(false));
    let closed = staso::guard_blocking("t", &json!({"a": 1}), options().fail_closed(true));
    (open, closed)
}

fn assert_unavailable(r: &GuardResult, kind: GuardFailureKind, reason: &str, closed: bool) {
    let (action, severity, mode) = if closed {
        (GuardAction::Block, "high", "fail-closed")
    } else {
        (GuardAction::Allow, "low", "fail-open")
    };
    assert_eq!(r.action, action, "{r:?}");
    assert_eq!(r.severity, severity);
    assert_eq!(r.reason, format!("{reason} ({mode})"));
    assert_eq!(r.failure_kind, Some(kind));
    assert_eq!(r.retryable, kind.retryable());
    assert!(!r.decision_available);
    assert_eq!(r.evaluation_status, EvaluationStatus::Unavailable);
    assert!(r.results.is_empty() && r.rules_triggered.is_empty() && r.rule_name.is_none());
    assert_eq!(r.decision_source, "manual");
    assert_eq!(r.decision_id.len(), 36);
}

fn both(respond: fn(&guard_common::Recorded) -> Answer, kind: GuardFailureKind, reason: &str) {
    let (open, closed) = against(respond);
    assert_unavailable(&open, kind, reason, false);
    assert_unavailable(&closed, kind, reason, true);
}

/// The echoing allow answer with `patch` merged in.
fn patched(req: &guard_common::Recorded, patch: Value) -> Answer {
    let mut v = allow_echo(req);
    if let (Some(m), Some(p)) = (v.as_object_mut(), patch.as_object()) {
        for (k, x) in p {
            m.insert(k.clone(), x.clone());
        }
    }
    Answer::new(200, v.to_string())
}

#[test]
fn malformed_bodies() {
    let _l = lock();
    let malformed = GuardFailureKind::MalformedResponse;
    let reason = "Guard returned a malformed response";
    both(|_| Answer::new(200, "not json"), malformed, reason);
    both(
        |_| Answer::new(200, b"\xff\xfe".to_vec()),
        malformed,
        reason,
    );
    both(|_| Answer::new(200, "[1, 2]"), malformed, reason);
    both(
        |r| patched(r, json!({"action": "perhaps"})),
        malformed,
        reason,
    );
    both(
        |r| patched(r, json!({"decision_id": null})),
        malformed,
        reason,
    );
    both(
        |r| {
            patched(
                r,
                json!({"decision_id": "6f9619ff-8b86-4011-b42d-00cf4fc964ff"}),
            )
        },
        malformed,
        reason,
    );
    both(
        |r| patched(r, json!({"decision_source": "openai"})),
        malformed,
        reason,
    );
    both(
        |r| patched(r, json!({"results": [{"score": 2}]})),
        malformed,
        reason,
    );
    both(
        |r| patched(r, json!({"rules_triggered": "no-rm"})),
        malformed,
        reason,
    );
    both(
        |r| patched(r, json!({"decision_available": false})),
        malformed,
        reason,
    );
}

#[test]
fn modify_or_escalate_without_their_fields_is_unsupported() {
    let _l = lock();
    let kind = GuardFailureKind::UnsupportedAction;
    let reason = "Guard returned an unsupported action";
    both(|r| patched(r, json!({"action": "modify"})), kind, reason);
    both(|r| patched(r, json!({"action": "escalate"})), kind, reason);
}

#[test]
fn a_valid_echo_is_accepted_and_an_unavailable_answer_follows_the_local_mode() {
    let _l = lock();
    let (open, closed) = against(|r| Answer::new(200, allow_echo(r).to_string()));
    assert_eq!(
        (open.action, closed.action),
        (GuardAction::Allow, GuardAction::Allow)
    );
    assert!(open.decision_available);
    let (open, closed) = against(|r| {
        patched(
            r,
            json!({"decision_available": false, "failure_kind": "capacity_exhausted",
                   "reason": "busy"}),
        )
    });
    assert_eq!(
        (open.action, closed.action),
        (GuardAction::Allow, GuardAction::Block)
    );
    assert_eq!(
        closed.failure_kind,
        Some(GuardFailureKind::CapacityExhausted)
    );
    assert_eq!(closed.reason, "busy");
}

#[test]
fn http_errors_map_to_kinds() {
    let _l = lock();
    use GuardFailureKind as K;
    both(
        |_| Answer::new(401, "{}"),
        K::InvalidKey,
        "Guard authentication rejected",
    );
    both(
        |_| Answer::new(402, ""),
        K::PlanExpired,
        "Guard plan is inactive",
    );
    both(
        |_| Answer::new(403, ""),
        K::Forbidden,
        "Guard access rejected",
    );
    both(
        |_| Answer::new(429, ""),
        K::RateLimited,
        "Guard rate limited",
    );
    both(
        |_| Answer::new(503, "oops"),
        K::BackendUnavailable,
        "Guard service unavailable",
    );
    both(
        |_| Answer::new(500, r#"{"detail":{"code":"capacity_exhausted"}}"#),
        K::CapacityExhausted,
        "Guard evaluation capacity is exhausted",
    );
    both(
        |_| Answer::new(400, r#"{"code":"rate_limited"}"#),
        K::RateLimited,
        "Guard rate limited",
    );
    both(
        |_| Answer::new(404, ""),
        K::MalformedResponse,
        "Guard request was rejected",
    );
    both(
        |_| Answer::new(308, ""),
        K::MalformedResponse,
        "Guard request was rejected",
    );
}

#[test]
fn a_slow_server_is_network_unavailable_not_deadline_exceeded() {
    let _l = lock();
    let server = Recorder::start(|r| {
        let mut a = Answer::new(200, allow_echo(r).to_string());
        a.delay = Duration::from_secs(2);
        a
    });
    let spans = InMemoryExporter::new();
    let _client = install(&server.base_url, &spans, |b| b);
    let r = staso::guard_blocking(
        "t",
        &json!({}),
        GuardOptions::new().timeout(Duration::from_millis(300)),
    );
    assert_unavailable(
        &r,
        GuardFailureKind::NetworkUnavailable,
        "Guard network unavailable",
        false,
    );
    assert!(r.latency_ms >= 250.0, "{}", r.latency_ms);
    let sent = &server.requests()[0];
    assert_eq!(sent.json()["deadline_ms"], 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_server_is_network_unavailable() {
    let _l = lock();
    // A port that was just free: nothing listens there.
    let port = staso_tests::http::free_addr().port();
    let spans = InMemoryExporter::new();
    let _client = install(&format!("http://127.0.0.1:{port}"), &spans, |b| b);
    let r = staso::guard("t", &json!({}), options().fail_closed(true)).await;
    assert_unavailable(
        &r,
        GuardFailureKind::NetworkUnavailable,
        "Guard network unavailable",
        true,
    );
}

#[test]
fn a_timeout_under_100ms_sends_nothing() {
    let _l = lock();
    let server = Recorder::start(|r| Answer::new(200, allow_echo(r).to_string()));
    let spans = InMemoryExporter::new();
    let _client = install(&server.base_url, &spans, |b| b);
    let r = staso::guard_blocking(
        "t",
        &json!({}),
        GuardOptions::new().timeout(Duration::from_millis(99)),
    );
    assert_unavailable(
        &r,
        GuardFailureKind::DeadlineExceeded,
        "Guard request deadline exceeded",
        false,
    );
    assert!(server.requests().is_empty());
}

#[test]
fn the_api_key_never_appears_in_a_result() {
    let _l = lock();
    let server = Recorder::start(|_| Answer::new(401, r#"{"error":"invalid_api_key"}"#));
    let spans = InMemoryExporter::new();
    let _client = install(&server.base_url, &spans, |b| b);
    let r = staso::guard_blocking("t", &json!({}), options().fail_closed(true));
    let blocked = staso::GuardBlocked::new("t", r.clone());
    for text in [
        format!("{r:?}"),
        blocked.to_string(),
        format!("{blocked:?}"),
    ] {
        assert!(!text.contains(guard_common::KEY), "{text}");
    }
    assert_eq!(
        server.requests()[0].header("x-api-key"),
        Some(guard_common::KEY)
    );
}

#[test]
fn a_missing_api_key_without_a_client_sends_nothing() {
    let _l = lock();
    staso::shutdown(Duration::from_secs(1));
    if std::env::var_os("STASO_API_KEY").is_some() {
        // The process environment provides a key; this case cannot be observed here.
        return;
    }
    let r = staso::guard_blocking("t", &json!({}), options().fail_closed(true));
    assert_unavailable(
        &r,
        GuardFailureKind::InvalidKey,
        "Guard API key is missing",
        true,
    );
    assert!(!r.retryable);
    assert!(r.latency_ms < 50.0, "{}", r.latency_ms);
}
