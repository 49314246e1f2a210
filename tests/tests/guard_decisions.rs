//! `staso::guard` against a real `staso-server` with a policy: allow, block, audit finding,
//! modify, and escalations (approved, rejected, timed out under both failure modes, not waited
//! for), async and blocking, plus the telemetry span of §6.6.

mod guard_common;

use std::time::Duration;

use guard_common::{decide_first_pending, setup};
use serde_json::{Value, json};
use staso::{
    DecisionId, EvaluationStatus, GuardAction, GuardFailureKind, GuardFailureMode, GuardOptions,
    SpanKind,
};

fn quick() -> GuardOptions {
    GuardOptions::new()
        .escalation_poll_interval(Duration::from_millis(20))
        .timeout(Duration::from_secs(5))
}

/// `quick()` that waits for escalations (not the default since #13).
fn waiting() -> GuardOptions {
    quick().wait_for_escalation(true)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn allow_block_and_audit_finding() {
    let _env = setup();
    let r = staso::guard("shell", &json!({"cmd": "ls"}), quick()).await;
    assert_eq!(r.action, GuardAction::Allow);
    assert!(r.decision_available);
    assert_eq!(r.evaluation_status, EvaluationStatus::Evaluated);
    assert_eq!(r.decision_source, "manual");
    assert_eq!(r.failure_mode, GuardFailureMode::FailOpen);
    assert!(r.rules_triggered.is_empty() && !r.has_findings());
    assert!(r.latency_ms > 0.0);

    let r = staso::guard("shell", &json!({"cmd": "rm -rf /"}), quick()).await;
    assert_eq!(
        (r.action, r.reason.as_str(), r.severity.as_str()),
        (GuardAction::Block, "destructive command", "high")
    );
    assert_eq!(r.rules_triggered, ["no-rm"]);
    assert_eq!(r.rule_name.as_deref(), Some("no-rm"));
    assert_eq!(r.results[0].action, GuardAction::Block);
    assert!(!r.results[0].passed && r.results[0].is_finding());

    let r = staso::guard("sql", &json!({"q": "DROP TABLE t"}), quick()).await;
    assert_eq!(r.action, GuardAction::Allow);
    assert!(r.has_findings());
    assert_eq!(r.results[0].action, GuardAction::Audit);
    assert_eq!(r.rules_triggered, ["watch-sql"]);
}

#[test]
fn blocking_form_and_modify() {
    let _env = setup();
    let r = staso::guard_blocking(
        "send_mail",
        &json!({"to": "ceo@example.com", "body": "hi"}),
        quick(),
    );
    assert_eq!(r.action, GuardAction::Modify);
    assert!(r.is_allowed());
    assert_eq!(
        r.modified_input.map(Value::Object),
        Some(json!({"to": "assistant@example.com", "body": "hi"}))
    );
    assert_eq!(
        r.modifications,
        [json!({"op": "replace", "path": "/to", "value": "assistant@example.com"})]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blocking_form_inside_a_runtime_does_not_panic() {
    let _env = setup();
    let r = staso::guard_blocking("shell", &json!({"cmd": "rm -rf /"}), quick());
    assert_eq!(r.action, GuardAction::Block);
}

#[test]
fn escalation_approved_with_a_new_input() {
    let env = setup();
    let approver = decide_first_pending(
        env.server.base_url(),
        true,
        json!({"decided_by": "alice", "modified_input": {"amount": 100}}),
    );
    let r = staso::guard_blocking("refund", &json!({"amount": 500}), waiting());
    approver.join().expect("approver");
    assert_eq!(r.action, GuardAction::Allow);
    assert!(r.decision_available);
    assert!(r.escalation_id.is_some());
    assert_eq!(r.reason, "Escalation approved by alice");
    assert_eq!(
        r.modified_input.map(Value::Object),
        Some(json!({"amount": 100}))
    );
    assert_eq!(r.rules_triggered, ["big-refund"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn escalation_rejected_blocks() {
    let env = setup();
    let rejecter = decide_first_pending(
        env.server.base_url(),
        false,
        json!({"decided_by": "bob", "reason": "too much"}),
    );
    let r = staso::guard("refund", &json!({"amount": 500}), waiting()).await;
    rejecter.join().expect("rejecter");
    assert_eq!(
        (r.action, r.reason.as_str()),
        (GuardAction::Block, "too much")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn escalation_timeout_follows_the_failure_mode() {
    let _env = setup();
    for (closed, action, severity) in [
        (false, GuardAction::Allow, "low"),
        (true, GuardAction::Block, "high"),
    ] {
        let options = waiting()
            .escalation_timeout(Duration::from_millis(150))
            .fail_closed(closed);
        let r = staso::guard("refund", &json!({"amount": 500}), options).await;
        assert_eq!((r.action, r.severity.as_str()), (action, severity));
        assert!(!r.decision_available);
        assert_eq!(r.failure_kind, Some(GuardFailureKind::DeadlineExceeded));
        assert_eq!(r.evaluation_status, EvaluationStatus::Unavailable);
        assert!(r.escalation_id.is_some());
        assert!(r.retryable);
        let mode = if closed { "fail-closed" } else { "fail-open" };
        assert_eq!(
            r.reason,
            format!("Guard escalation was not decided in time ({mode})")
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn escalation_not_waited_for_is_returned() {
    let _env = setup();
    // Not waiting is the default.
    let r = staso::guard("refund", &json!({"amount": 500}), quick()).await;
    assert_eq!(r.action, GuardAction::Escalate);
    assert!(r.escalation_id.is_some());
    assert!(!r.is_allowed() && !r.is_blocked());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn decision_id_is_sent_and_reused_idempotently() {
    let _env = setup();
    let id: DecisionId = "AAAAAAAA-8B86-4011-B42D-00CF4FC964FF"
        .parse()
        .expect("uuid");
    let options = || quick().decision_id(id);
    let a = staso::guard("shell", &json!({"cmd": "rm -rf /"}), options()).await;
    let b = staso::guard("shell", &json!({"cmd": "rm -rf /"}), options()).await;
    assert_eq!(a.decision_id, "aaaaaaaa-8b86-4011-b42d-00cf4fc964ff");
    assert_eq!(
        (a.action, b.action),
        (GuardAction::Block, GuardAction::Block)
    );
    // The same id for another call is a conflict, which is not retryable.
    let c = staso::guard("shell", &json!({"cmd": "ls"}), options()).await;
    assert_eq!(c.failure_kind, Some(GuardFailureKind::IdempotencyConflict));
    assert!(!c.retryable);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn telemetry_span_is_a_child_of_the_current_span() {
    let env = setup();
    let id = DecisionId::new_v4();
    let parent = staso::span_async("agent-step", SpanKind::Chain, async move |_| {
        let ids = staso::current_span_ids().expect("a current span");
        let r = staso::guard(
            "shell",
            &json!({"cmd": "rm -rf /"}),
            quick().decision_id(id),
        )
        .await;
        assert_eq!(r.action, GuardAction::Block);
        // The guard span never becomes current.
        assert_eq!(staso::current_span_ids(), Some(ids.clone()));
        ids
    })
    .await;
    let spans = env.spans.finished();
    let guard = spans
        .iter()
        .find(|s| s.span.name.starts_with("guard:"))
        .expect("guard span");
    let s = &guard.span;
    assert_eq!(s.name, "guard:blocked:shell");
    assert_eq!(s.kind, "tool");
    assert_eq!(s.status, "ok");
    assert_eq!(guard.trace_id, parent.0);
    assert_eq!(s.parent_span_id.as_deref(), Some(parent.1.as_str()));
    let expected = uuid_v5_url(&format!(
        r#"["staso.guard.span.v1", "{id}", "guard:blocked:shell"]"#
    ));
    assert_eq!(s.span_id, expected);
    let attrs: Value = serde_json::from_str(&s.attributes).expect("attributes");
    assert_eq!(attrs["guard_action"], "block");
    assert_eq!(attrs["guard_decision_id"], id.to_string());
    assert_eq!(attrs["guard_decision_source"], "manual");
    assert_eq!(attrs["guard_decision_available"], true);
    assert_eq!(attrs["guard_evaluation_status"], "evaluated");
    assert_eq!(attrs["guard_failure_kind"], Value::Null);
    assert_eq!(attrs["guard_failure_mode"], "fail_open");
    assert_eq!(attrs["guard_retryable"], false);
    assert!(attrs["guard_latency_ms"].as_f64().is_some());
    let input: Value = serde_json::from_str(&s.input).expect("input");
    assert_eq!(
        input,
        json!({"tool_name": "shell", "tool_input": {"cmd": "rm -rf /"}})
    );
    let output: Value = serde_json::from_str(&s.output).expect("output");
    assert_eq!(output["action"], "block");
    assert_eq!(
        output["decision_response"]["rules_triggered"],
        json!(["no-rm"])
    );
    assert_eq!(output["enforcement_response"]["type"], "GuardResult");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn telemetry_outcomes_would_block_and_unavailable() {
    let env = setup();
    staso::span_async("step", SpanKind::Chain, async |_| {
        staso::guard("sql", &json!({"q": "drop x"}), quick()).await;
        staso::guard("shell", &json!({"cmd": "ls"}), quick()).await;
        staso::guard("x", &json!({}), quick().timeout(Duration::from_millis(50))).await;
    })
    .await;
    let names: Vec<(String, String)> = env
        .spans
        .finished()
        .into_iter()
        .filter(|s| s.span.name.starts_with("guard:"))
        .map(|s| (s.span.name, s.span.status))
        .collect();
    assert_eq!(
        names,
        [
            ("guard:would-block:sql".to_owned(), "ok".to_owned()),
            ("guard:allowed:shell".to_owned(), "ok".to_owned()),
            ("guard:unavailable:x".to_owned(), "error".to_owned()),
        ]
    );
    let unavailable = env
        .spans
        .finished()
        .into_iter()
        .find(|s| s.span.name == "guard:unavailable:x")
        .expect("span");
    assert_eq!(unavailable.span.error_message, None);
    let attrs: Value = serde_json::from_str(&unavailable.span.attributes).expect("attributes");
    assert_eq!(attrs["guard_failure_kind"], "deadline_exceeded");
    let would: Value = env
        .spans
        .finished()
        .into_iter()
        .find(|s| s.span.name == "guard:would-block:sql")
        .map(|s| serde_json::from_str(&s.span.attributes).expect("attributes"))
        .expect("span");
    assert_eq!(would["guard_action"], "would_block");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_telemetry_span_without_a_current_span() {
    let env = setup();
    staso::guard("shell", &json!({"cmd": "ls"}), quick()).await;
    assert!(env.spans.spans().is_empty(), "{}", env.spans.render());
}

/// UUIDv5 in the URL namespace, computed here independently of the SDK (RFC 4122 §4.3, SHA-1).
fn uuid_v5_url(name: &str) -> String {
    let mut data = vec![
        0x6b, 0xa7, 0xb8, 0x11, 0x9d, 0xad, 0x11, 0xd1, 0x80, 0xb4, 0x00, 0xc0, 0x4f, 0xd4, 0x30,
        0xc8,
    ];
    data.extend_from_slice(name.as_bytes());
    let h = sha1(&data);
    let mut b = [0u8; 16];
    b.copy_from_slice(&h[..16]);
    b[6] = (b[6] & 0x0f) | 0x50;
    b[8] = (b[8] & 0x3f) | 0x80;
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

fn sha1(data: &[u8]) -> [u8; 20] {
    let mut h: [u32; 5] = [0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0];
    let mut msg = data.to_vec();
    let bits = (data.len() as u64) * 8;
    msg.push(0x80);
    while msg.len() % 64 != 56 {
        msg.push(0);
    }
    msg.extend_from_slice(&bits.to_be_bytes());
    for chunk in msg.chunks(64) {
        let mut w = [0u32; 80];
        for i in 0..16 {
            w[i] = u32::from_be_bytes([
                chunk[4 * i],
                chunk[4 * i + 1],
                chunk[4 * i + 2],
                chunk[4 * i + 3],
            ]);
        }
        for i in 16..80 {
            w[i] = (w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16]).rotate_left(1);
        }
        let [mut a, mut b, mut c, mut d, mut e] = h;
        for (i, wi) in w.iter().enumerate() {
            let (f, k) = match i {
                0..=19 => ((b & c) | (!b & d), 0x5A827999),
                20..=39 => (b ^ c ^ d, 0x6ED9EBA1),
                40..=59 => ((b & c) | (b & d) | (c & d), 0x8F1BBCDC),
                _ => (b ^ c ^ d, 0xCA62C1D6),
            };
            let t = a
                .rotate_left(5)
                .wrapping_add(f)
                .wrapping_add(e)
                .wrapping_add(k)
                .wrapping_add(*wi);
            e = d;
            d = c;
            c = b.rotate_left(30);
            b = a;
            a = t;
        }
        h[0] = h[0].wrapping_add(a);
        h[1] = h[1].wrapping_add(b);
        h[2] = h[2].wrapping_add(c);
        h[3] = h[3].wrapping_add(d);
        h[4] = h[4].wrapping_add(e);
    }
    let mut out = [0u8; 20];
    for (i, v) in h.iter().enumerate() {
        out[4 * i..4 * i + 4].copy_from_slice(&v.to_be_bytes());
    }
    out
}
