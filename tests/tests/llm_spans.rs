//! LLM calls as spans: `Span::current()`, `LlmCall` + `record_llm`, the handle's StackLens-style
//! setters, `llm_trace` and `start_trace`, against the in-memory exporter.

mod common;

use std::time::Duration;

use common::{attrs, builder, json, setup, setup_with};
use serde_json::json as j;
use staso::{LlmCall, Span, SpanKind, SpanStatus};

fn full_call() -> LlmCall {
    LlmCall::new("gpt-4o", "openai")
        .response_model("gpt-4o-2024-08-06")
        .tokens(1200, 300)
        .cache_read_tokens(1000)
        .cache_creation_tokens(50)
        .reasoning_tokens(40)
        .cost_usd(0.0125)
        .temperature(0.2)
        .max_tokens(512)
        .top_p(0.9)
        .prompt(j!([{"role": "user", "content": "where is my order?"}]))
        .completion(j!({"role": "assistant", "content": "shipped"}))
        .streaming(true)
        .finish_reason("stop")
        .time_to_first_token(Duration::from_micros(412_345))
        .response_id("chatcmpl-1")
        .attribute("route", "support")
        .tags(["prod", "rag"])
}

#[staso::trace(kind = "llm", tags = ["rag"])]
fn call_model(question: &str) -> String {
    Span::current().record_llm(full_call());
    format!("answer to {question}")
}

#[test]
fn an_llm_fn_records_its_own_call_through_the_current_span() {
    let h = setup();
    call_model("where?");
    let s = h.by_name("call_model");
    assert_eq!(s.span.kind, "llm");
    assert_eq!(s.span.model, "gpt-4o-2024-08-06");
    assert_eq!(s.span.requested_model, "gpt-4o");
    assert_eq!(s.span.provider, "openai");
    assert_eq!(
        (
            s.span.input_tokens,
            s.span.output_tokens,
            s.span.total_tokens
        ),
        (1200, 300, 1500)
    );
    assert_eq!(s.span.usage_available, Some(true));
    let a = attrs(&s);
    for (key, want) in [
        ("temperature", j!(0.2)),
        ("max_tokens", j!(512)),
        ("top_p", j!(0.9)),
        ("stop_reason", j!("stop")),
        ("response_id", j!("chatcmpl-1")),
        ("reasoning_tokens", j!(40)),
        ("cache_read_input_tokens", j!(1000)),
        ("cache_creation_input_tokens", j!(50)),
        ("time_to_first_token", j!(412.35)),
        ("cost_usd", j!(0.0125)),
        ("is_streaming", j!(true)),
        ("route", j!("support")),
        ("tags", j!(["rag", "prod"])),
    ] {
        assert_eq!(a[key], want, "{key} in {a}");
    }
    assert_eq!(
        json(&s.span.input),
        j!([{"role": "user", "content": "where is my order?"}]),
        "the prompt is the input (the fn's own arguments are replaced)"
    );
    assert_eq!(
        json(&s.span.output),
        j!({"role": "assistant", "content": "shipped"}),
        "the recorded completion wins over the fn's return value"
    );
}

#[staso::agent]
async fn agent_with_awaits() -> u32 {
    tokio::task::yield_now().await;
    Span::current().set_attribute("phase", "after-await");
    let handle = staso::thread::spawn(|| {
        Span::current().add_tag("from-thread");
        Span::current().set_total_tokens(99);
    });
    handle.join().expect("thread");
    tokio::task::yield_now().await;
    Span::current().add_tags(["x", "from-thread", "y"]);
    7
}

#[test]
fn the_current_span_follows_awaits_and_spawned_threads() {
    let h = setup();
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    assert_eq!(rt.block_on(agent_with_awaits()), 7);
    let s = h.by_name("agent_with_awaits");
    let a = attrs(&s);
    assert_eq!(a["phase"], "after-await");
    assert_eq!(
        a["tags"],
        j!(["from-thread", "x", "y"]),
        "merged, no repeats"
    );
    assert_eq!(s.span.total_tokens, 99);
}

#[test]
fn the_current_span_of_a_manual_span_and_nested_spans() {
    let h = setup();
    staso::span("outer", SpanKind::Chain, |_| {
        Span::current().set_attribute("level", 1);
        staso::span("inner", SpanKind::Tool, |_| {
            assert!(Span::current().is_recording());
            Span::current().set_attribute("level", 2);
        });
        Span::current().set_status(SpanStatus::Error, Some("outer failed".to_owned()));
    });
    let outer = h.by_name("outer");
    let inner = h.by_name("inner");
    assert_eq!(attrs(&outer)["level"], 1);
    assert_eq!(attrs(&inner)["level"], 2);
    assert_eq!(outer.span.status, "error");
    assert_eq!(outer.span.error_message.as_deref(), Some("outer failed"));
    assert_eq!(inner.span.status, "ok");
}

#[test]
fn outside_any_span_the_current_span_is_a_no_op() {
    let h = setup();
    let s = Span::current();
    assert!(!s.is_recording());
    assert_eq!(s.trace_id(), None);
    s.record_llm(full_call());
    s.set_attribute("k", "v");
    assert!(s.end().is_none());
    drop(s);
    assert!(h.finished().is_empty(), "{}", h.render());
}

#[test]
fn a_change_after_the_span_ended_is_dropped_not_applied_elsewhere() {
    let h = setup();
    let kept = staso::span("short", SpanKind::Chain, |_| Span::current());
    assert!(!kept.is_recording(), "its span has ended");
    kept.set_attribute("late", true);
    staso::span("next", SpanKind::Chain, |_| {});
    assert!(attrs(&h.by_name("short")).get("late").is_none());
    assert!(attrs(&h.by_name("next")).get("late").is_none());
}

#[test]
fn dropping_through_the_current_handle_discards_the_span() {
    let h = setup();
    staso::span("kept", SpanKind::Chain, |_| {
        staso::span("discarded", SpanKind::Chain, |_| {
            Span::current().drop_span()
        });
    });
    assert!(h.all_named("discarded").is_empty(), "{}", h.render());
    assert_eq!(h.all_named("kept").len(), 1);
}

#[test]
fn capture_off_keeps_model_tokens_and_cost_but_not_prompt_or_completion() {
    let h = setup_with(builder().capture_request(false).capture_output(false));
    staso::span("llm-call", SpanKind::Llm, |s| s.record_llm(full_call()));
    let s = h.by_name("llm span");
    assert_eq!(s.span.input, "", "prompt gated by request capture");
    assert_eq!(s.span.output, "", "completion gated by output capture");
    assert_eq!(s.span.model, "gpt-4o-2024-08-06");
    assert_eq!(s.span.total_tokens, 1500);
    let a = attrs(&s);
    assert_eq!(a["cost_usd"], 0.0125);
    assert_eq!(a["stop_reason"], "stop");
    assert_eq!(a["cache_read_input_tokens"], 1000);
    for gone in ["temperature", "max_tokens", "top_p", "route", "tags"] {
        assert!(a.get(gone).is_none(), "{gone} is request content: {a}");
    }
}

#[test]
fn the_prompt_follows_request_capture_only_not_every_category() {
    let h = setup_with(builder().capture_tool_schema(false));
    staso::span("llm-call", SpanKind::Llm, |s| s.record_llm(full_call()));
    let s = h.by_name("llm-call");
    assert_eq!(
        json(&s.span.input),
        j!([{"role": "user", "content": "where is my order?"}]),
        "one category off does not drop a recorded prompt"
    );
    assert_eq!(json(&s.span.output)["content"], "shipped");
}

#[test]
fn only_the_total_and_status_and_a_borrowed_name() {
    let h = setup();
    let name = String::from("dyn-name");
    staso::span(&name, SpanKind::Llm, |s| {
        s.record_llm(
            LlmCall::new("m", "p")
                .total_tokens(10)
                .status(SpanStatus::Timeout),
        );
    });
    let s = h.by_name("dyn-name");
    assert_eq!((s.span.input_tokens, s.span.total_tokens), (0, 10));
    assert_eq!(s.span.usage_available, Some(true));
    assert_eq!(s.span.status, "timeout");
    let a = attrs(&s);
    assert!(
        a.get("is_streaming").is_none(),
        "unset fields are not sent: {a}"
    );
}

#[test]
fn llm_trace_is_a_root_of_its_own_and_returns_its_trace_id() {
    let h = setup();
    let (outer_trace, id) = staso::conversation!("conv-llm", {
        staso::span("outer", SpanKind::Agent, |s| {
            let id = staso::llm_trace(
                "one-shot",
                LlmCall::new("claude-sonnet-4-5", "anthropic")
                    .tokens(10, 2)
                    .duration(Duration::from_millis(250)),
            )
            .expect("a client is installed");
            (s.trace_id().expect("recording"), id)
        })
    });
    let s = h.by_name("one-shot");
    assert_eq!(s.trace_id, id.to_string(), "Display is the wire form");
    assert_ne!(s.trace_id, outer_trace);
    assert_eq!(s.span.parent_span_id, None);
    assert_eq!(s.span.kind, "llm");
    assert!(s.span.duration_ms >= 250.0, "{}", s.span.duration_ms);
    assert_eq!(
        s.span.session_id, "conv-llm",
        "the context's conversation is kept"
    );
}

#[derive(Debug)]
struct Failed;
impl std::fmt::Display for Failed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("eval failed")
    }
}

#[test]
fn start_trace_opens_a_new_root_and_records_err_and_panics() {
    let h = setup();
    staso::span("around", SpanKind::Chain, |_| {
        let v = staso::start_trace("ok-trace", |t| {
            t.add_tag("nightly");
            staso::span("child", SpanKind::Tool, |_| 5)
        });
        assert_eq!(v, 5);
        let r: Result<(), Failed> = staso::try_start_trace("err-trace", |_| Err(Failed));
        assert!(r.is_err());
        let p = std::panic::catch_unwind(|| staso::start_trace("panic-trace", |_| panic!("boom")));
        assert!(p.is_err());
    });
    let ok = h.by_name("ok-trace");
    assert_eq!(ok.span.parent_span_id, None);
    assert_ne!(ok.trace_id, h.by_name("around").trace_id);
    assert_eq!(attrs(&ok)["tags"], j!(["nightly"]));
    let child = h.by_name("child");
    assert_eq!(child.trace_id, ok.trace_id);
    assert_eq!(
        child.span.parent_span_id.as_deref(),
        Some(ok.span.span_id.as_str())
    );
    let err = h.by_name("err-trace");
    assert_eq!(err.span.status, "error");
    assert_eq!(err.span.error_message.as_deref(), Some("eval failed"));
    let panicked = h.by_name("panic-trace");
    assert_eq!(panicked.span.status, "error");
    assert_eq!(panicked.span.error_message.as_deref(), Some("boom"));
}

#[test]
fn async_start_trace_twins() {
    let h = setup();
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let v = staso::start_trace_async("async-trace", async |t| {
            tokio::task::yield_now().await;
            t.set_attribute("k", "v");
            Span::current().add_tag("current");
            1
        })
        .await;
        assert_eq!(v, 1);
        let r: Result<u8, Failed> =
            staso::try_start_trace_async("async-err", async |_| Err(Failed)).await;
        assert!(r.is_err());
    });
    let s = h.by_name("async-trace");
    assert_eq!(attrs(&s)["k"], "v");
    assert_eq!(attrs(&s)["tags"], j!(["current"]));
    assert_eq!(h.by_name("async-err").span.status, "error");
}

#[test]
fn annotate_takes_an_optional_comment() {
    let _h = setup();
    staso::span("annotated", SpanKind::Chain, |s| {
        let none: Option<String> = None;
        s.annotate("score", 1.0, none).expect("valid");
        s.annotate("score", 2.0, Some("fine".to_owned()))
            .expect("valid");
    });
}
