//! What a guard call sends (PROTOCOL.md §6.1–§6.3), as a recording server received it: headers,
//! the body fields, the context merge (defaults, active agent/user, explicit entries, then the
//! active trace/span/session ids) and the capture boundary.

// The lock serializes the tests of this binary (the global client is process-wide); each test
// owns its runtime, so holding it across `.await` blocks nothing else.
#![allow(clippy::await_holding_lock)]

mod guard_common;

use std::time::Duration;

use guard_common::{Answer, KEY, Recorder, allow_echo, install, lock};
use serde_json::{Value, json};
use staso::{GuardAction, GuardOptions, InMemoryExporter, SpanKind};

fn recorder() -> Recorder {
    Recorder::start(|r| Answer::new(200, allow_echo(r).to_string()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_headers_and_body() {
    let _l = lock();
    let server = recorder();
    let spans = InMemoryExporter::new();
    let _client = install(&server.base_url, &spans, |b| {
        b.environment("staging").workspace_slug("acme")
    });
    let r = staso::guard(
        "shell",
        &json!({"cmd": "ls", "n": 2}),
        GuardOptions::new()
            .timeout(Duration::from_secs(2))
            .fail_closed(true),
    )
    .await;
    assert_eq!(r.action, GuardAction::Allow);
    let req = &server.requests()[0];
    assert_eq!(
        (req.method.as_str(), req.path.as_str()),
        ("POST", "/v1/guard/evaluate")
    );
    assert_eq!(req.header("x-api-key"), Some(KEY));
    assert_eq!(req.header("content-type"), Some("application/json"));
    assert!(
        req.header("user-agent")
            .is_some_and(|u| u.starts_with("staso-rust/"))
    );
    let body = req.json();
    assert_eq!(body["payload_version"], 1);
    assert_eq!(body["tool_name"], "shell");
    assert_eq!(body["tool_input"], json!({"cmd": "ls", "n": 2}));
    assert_eq!(body["decision_id"], r.decision_id);
    assert_eq!(body["decision_source"], "manual");
    assert_eq!(body["failure_mode"], "fail_closed");
    assert_eq!(body["deadline_ms"], 1900);
    assert_eq!(
        body["capture"],
        json!({"request": "captured", "system_prompt": "captured", "tool_schema": "captured",
               "tool_arguments": "captured", "output": "captured"})
    );
    // No span is current: only the configured defaults, no trace/span/session ids.
    let ctx = &body["context"];
    assert_eq!(ctx["agent_name"], "guard-tests");
    assert_eq!(ctx["agent_id"], staso::generate_agent_id("guard-tests"));
    assert_eq!(ctx["environment"], "staging");
    assert_eq!(ctx["workspace_id"], "acme");
    for k in ["trace_id", "span_id", "session_id", "user_id"] {
        assert!(ctx.get(k).is_none(), "{k} in {ctx}");
    }
    assert_eq!(
        ctx["context_availability"],
        json!({"tool_input": "available", "tool_schema": "unavailable",
               "conversation_history": "unavailable", "tool_output": "unavailable"})
    );
    assert_eq!(
        ctx["tool_call_evidence"],
        json!({"version": 1, "tool_name": "shell",
               "arguments": {"status": "unavailable", "complete": false},
               "schema": {"status": "unavailable"}})
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn context_merge_order() {
    let _l = lock();
    let server = recorder();
    let spans = InMemoryExporter::new();
    let _client = install(&server.base_url, &spans, |b| b);
    let ids = staso::conversation!("conv-7", user_id = "user-9", async {
        staso::span_async("step", SpanKind::Chain, async |_| {
            let ids = staso::current_span_ids().expect("current span");
            let explicit = GuardOptions::new()
                .context_entry("trace_id", "forged")
                .context_entry("session_id", "forged")
                .context_entry("environment", "explicit-env")
                .context_entry("ticket", "T-1")
                .context_entry("empty", "")
                .context_entry("nothing", Value::Null);
            staso::guard("t", &json!({}), explicit).await;
            ids
        })
        .await
    })
    .await;
    let ctx = server.requests()[0].json()["context"].clone();
    // The active identity overrides explicit entries.
    assert_eq!(ctx["trace_id"], ids.0);
    assert_eq!(ctx["span_id"], ids.1);
    assert_eq!(ctx["session_id"], "conv-7");
    assert_eq!(ctx["user_id"], "user-9");
    // Explicit entries override defaults; null and "" are skipped.
    assert_eq!(ctx["environment"], "explicit-env");
    assert_eq!(ctx["ticket"], "T-1");
    assert!(ctx.get("empty").is_none() && ctx.get("nothing").is_none());
    assert_eq!(ctx["agent_name"], "guard-tests");
}

#[test]
fn active_agent_and_default_session_inside_a_span() {
    let _l = lock();
    let server = recorder();
    let spans = InMemoryExporter::new();
    let client = install(&server.base_url, &spans, |b| b);

    #[staso::agent(name = "planner")]
    fn plan() {
        staso::guard_blocking("t", &json!({}), GuardOptions::new());
    }
    plan();
    let ctx = server.requests()[0].json()["context"].clone();
    assert_eq!(ctx["agent_name"], "planner");
    // Outside a conversation a span's session is the client's default session id.
    assert_eq!(ctx["session_id"], client.default_session_id());
}

#[test]
fn capture_boundary_when_tool_arguments_are_off() {
    let _l = lock();
    let server = recorder();
    let spans = InMemoryExporter::new();
    let _client = install(&server.base_url, &spans, |b| {
        b.capture_tool_arguments(false)
    });
    let history = json!([
        {"role": "system", "content": "be nice"},
        {"role": "user", "content": "refund me"},
        {"role": "assistant", "content": "calling refund"},
        {"role": "tool", "content": "ok"}
    ]);
    let r = staso::span("step", SpanKind::Chain, |_| {
        staso::guard_blocking(
            "refund",
            &json!({"amount": 5}),
            GuardOptions::new()
                .context_entry("ticket", "T-1")
                .context_entry("conversation_history", history),
        )
    });
    assert_eq!(r.action, GuardAction::Allow);
    let body = server.requests()[0].json();
    assert_eq!(body["tool_input"], json!({}));
    assert_eq!(body["capture"]["tool_arguments"], "suppressed");
    let ctx = &body["context"];
    assert!(
        ctx.get("ticket").is_none(),
        "custom keys are dropped: {ctx}"
    );
    assert!(ctx["trace_id"].is_string() && ctx["agent_name"].is_string());
    // assistant messages need tool-argument capture (the history was not filtered before).
    assert_eq!(
        ctx["conversation_history"],
        json!([{"role": "system", "content": "be nice"},
               {"role": "user", "content": "refund me"},
               {"role": "tool", "content": "ok"}])
    );
    assert_eq!(
        ctx["conversation_history_status"],
        json!({"source": "sdk_request", "complete": false, "truncated": false, "suppressed": true})
    );
    assert_eq!(
        ctx["tool_call_evidence"]["arguments"],
        json!({"status": "suppressed", "complete": false})
    );
    assert_eq!(ctx["context_availability"]["tool_input"], "suppressed");
    assert_eq!(
        ctx["context_availability"]["conversation_history"],
        "partial"
    );
    // The telemetry span leaves the input out too.
    let guard_span = spans
        .finished()
        .into_iter()
        .find(|s| s.span.name.starts_with("guard:"))
        .expect("guard span");
    assert_eq!(guard_span.span.input, "");
    assert!(!guard_span.span.output.is_empty());
}

#[test]
fn capture_boundary_when_request_is_off() {
    let _l = lock();
    let server = recorder();
    let spans = InMemoryExporter::new();
    let _client = install(&server.base_url, &spans, |b| {
        b.capture_request(false)
            .capture_tool_schema(false)
            .capture_output(false)
    });
    staso::guard_blocking(
        "t",
        &json!({"a": 1}),
        GuardOptions::new().context_entry(
            "conversation_history",
            json!([{"role": "user", "content": "x"}]),
        ),
    );
    let body = server.requests()[0].json();
    assert_eq!(body["tool_input"], json!({"a": 1}));
    let ctx = &body["context"];
    assert_eq!(ctx["conversation_history"], json!([]));
    assert_eq!(
        ctx["context_availability"]["conversation_history"],
        "suppressed"
    );
    assert_eq!(ctx["context_availability"]["tool_schema"], "suppressed");
    assert_eq!(
        ctx["tool_call_evidence"]["schema"],
        json!({"status": "suppressed"})
    );
}
