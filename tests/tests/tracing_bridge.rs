//! The `tracing` bridge (`staso::tracing`, feature `tracing`): `tracing` spans and events inside
//! staso spans, as a rig-shaped program emits them through plain `tracing` macros, end to end
//! against the in-memory exporter.
//!
//! Each test installs its own subscriber for its own threads (`set_default`, and on a runtime's
//! workers through `on_thread_start`), so the tests do not depend on their order.

mod common;

use std::time::Duration;

use common::{attrs, setup};
use serde_json::json as j;
use staso::tracing::StasoLayer;
use staso::{ExportedSpan, SpanKind};
use tracing::Instrument;
use tracing::dispatcher::{self, Dispatch};
use tracing::field::Empty;
use tracing_subscriber::layer::SubscriberExt;

fn dispatch(layer: StasoLayer) -> Dispatch {
    Dispatch::new(tracing_subscriber::registry().with(layer))
}

/// Installs the default bridge on this thread until the guard drops.
fn bridge() -> dispatcher::DefaultGuard {
    dispatcher::set_default(&dispatch(staso::tracing::layer()))
}

fn bridge_with(layer: StasoLayer) -> dispatcher::DefaultGuard {
    dispatcher::set_default(&dispatch(layer))
}

/// The trace as `kind name [status]` lines, indented by depth (the in-memory exporter's
/// rendering without captured values).
fn tree(spans: &[ExportedSpan]) -> String {
    staso::render_trees(spans)
        .lines()
        .map(|l| l.split(" in=").next().unwrap_or(l))
        .map(|l| l.split(" out=").next().unwrap_or(l))
        .collect::<Vec<_>>()
        .join("\n")
}

fn child_of(child: &ExportedSpan, parent: &ExportedSpan) -> bool {
    child.trace_id == parent.trace_id
        && child.span.parent_span_id.as_deref() == Some(parent.span.span_id.as_str())
}

#[staso::tool]
fn search(query: &str) -> Vec<String> {
    vec![format!("doc about {query}")]
}

#[staso::tool]
async fn search_async(query: &str) -> Vec<String> {
    tokio::task::yield_now().await;
    vec![format!("doc about {query}")]
}

/// What rig does for one agent turn: an `invoke_agent` span, a `chat` span whose usage is
/// recorded after the call, an `execute_tool` span around the tool.
fn rig_turn(prompt: &str) -> Vec<String> {
    let agent = tracing::info_span!(
        "invoke_agent",
        gen_ai.operation.name = "invoke_agent",
        gen_ai.agent.name = "researcher",
        gen_ai.provider.name = "openai",
    );
    agent.in_scope(|| {
        let chat = tracing::info_span!(
            target: "rig::completions",
            "chat",
            gen_ai.operation.name = "chat",
            gen_ai.provider.name = "openai",
            gen_ai.request.model = "gpt-4o",
            gen_ai.request.temperature = 0.2,
            gen_ai.request.max_tokens = 512u64,
            gen_ai.input.messages = r#"[{"role":"user","content":"find docs"}]"#,
            gen_ai.response.id = Empty,
            gen_ai.response.model = Empty,
            gen_ai.response.finish_reasons = Empty,
            gen_ai.usage.input_tokens = Empty,
            gen_ai.usage.output_tokens = Empty,
            gen_ai.output.messages = Empty,
        );
        chat.in_scope(|| {
            chat.record("gen_ai.response.id", "chatcmpl-9");
            chat.record("gen_ai.response.model", "gpt-4o-2024-08-06");
            chat.record("gen_ai.response.finish_reasons", r#"["tool_calls"]"#);
        });
        // Usage lands after the call returned, outside the span's scope.
        chat.record("gen_ai.usage.input_tokens", 100u64);
        chat.record("gen_ai.usage.output_tokens", 42u64);
        chat.record(
            "gen_ai.output.messages",
            r#"[{"role":"assistant","tool_calls":[{"name":"search"}]}]"#,
        );
        drop(chat);
        let tool = tracing::info_span!(
            "execute_tool",
            gen_ai.operation.name = "execute_tool",
            gen_ai.tool.name = "search",
            gen_ai.tool.call.arguments = r#"{"query":"docs"}"#,
        );
        tool.in_scope(|| search(prompt))
    })
}

#[staso::agent(name = "researcher")]
fn research(prompt: &str) -> Vec<String> {
    rig_turn(prompt)
}

#[test]
fn a_rig_shaped_turn_nests_under_the_agent_with_kinds_and_llm_fields() {
    let h = setup();
    let _t = bridge();
    let docs = research("docs");
    assert_eq!(docs, vec!["doc about docs".to_owned()]);

    let spans = h.finished();
    assert_eq!(
        tree(&spans),
        "agent researcher [ok]\n\
         \x20 agent invoke_agent [ok]\n\
         \x20   llm chat [ok]\n\
         \x20   tool execute_tool [ok]\n\
         \x20     tool search [ok]"
    );

    let chat = h.by_name("chat");
    assert_eq!(chat.span.model, "gpt-4o-2024-08-06");
    assert_eq!(chat.span.requested_model, "gpt-4o");
    assert_eq!(chat.span.provider, "openai");
    assert_eq!(
        (
            chat.span.input_tokens,
            chat.span.output_tokens,
            chat.span.total_tokens
        ),
        (100, 42, 142)
    );
    assert_eq!(chat.span.usage_available, Some(true));
    let a = attrs(&chat);
    assert_eq!(a["stop_reason"], j!("tool_calls"));
    assert_eq!(a["response_id"], j!("chatcmpl-9"));
    assert_eq!(a["temperature"], j!(0.2));
    assert_eq!(a["max_tokens"], j!(512));
    assert_eq!(a["gen_ai.operation.name"], j!("chat"));
    assert_eq!(a["gen_ai.usage.output_tokens"], j!(42));
    assert_eq!(a["tracing.target"], j!("rig::completions"));
    assert!(
        a.get("gen_ai.input.messages").is_none(),
        "content fields are the input/output, not metadata: {a}"
    );
    assert!(chat.span.input.contains("find docs"), "{}", chat.span.input);
    assert!(
        chat.span.output.contains("tool_calls"),
        "{}",
        chat.span.output
    );

    let agent = h.by_name("invoke_agent");
    assert_eq!(attrs(&agent)["gen_ai.agent.name"], j!("researcher"));
    assert_eq!(agent.span.agent_name, "researcher");

    let tool = h.by_name("execute_tool");
    assert_eq!(attrs(&tool)["tool_name"], j!("search"));
    assert!(tool.span.input.contains("docs"), "{}", tool.span.input);
    // The #[staso::tool] called inside the bridged span is its child.
    assert!(child_of(&h.by_name("search"), &tool));
}

#[test]
fn error_fields_set_the_error_status_with_a_message() {
    let h = setup();
    let _t = bridge();
    staso::span("turn", SpanKind::Agent, |_| {
        tracing::info_span!("flagged", error = true).in_scope(|| {});
        tracing::info_span!(
            "otel_error",
            otel.status_code = "ERROR",
            otel.status_description = "rate limited"
        )
        .in_scope(|| {});
        let late = tracing::info_span!("late", error = Empty, error.message = Empty);
        late.in_scope(|| {});
        late.record("error", tracing::field::display("connection reset"));
        drop(late);
        let described = tracing::info_span!("described", error = Empty, error.message = Empty);
        described.record("error", true);
        described.record("error.message", "quota exceeded");
        drop(described);
        tracing::info_span!("fine", otel.status_code = "OK").in_scope(|| {});
    });
    for (name, status, message) in [
        ("flagged", "error", None),
        ("otel_error", "error", Some("rate limited")),
        ("late", "error", Some("connection reset")),
        ("described", "error", Some("quota exceeded")),
        ("fine", "ok", None),
    ] {
        let s = h.by_name(name);
        assert_eq!(s.span.status, status, "{name}");
        assert_eq!(s.span.error_message.as_deref(), message, "{name}");
    }
}

#[test]
fn events_are_kept_on_their_span_filtered_by_level() {
    let h = setup();
    let _t = bridge();
    #[staso::trace]
    fn step() {
        tracing::info!("not kept: below WARN");
        tracing::warn!(attempt = 2, "retrying");
        tracing::info_span!("fetch").in_scope(|| {
            tracing::debug!("not kept");
            tracing::error!(code = 503u64, "upstream failed");
        });
    }
    step();

    let fetch = attrs(&h.by_name("fetch"));
    let events = fetch["events"]
        .as_array()
        .expect("events on the bridged span");
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["level"], j!("ERROR"));
    assert_eq!(events[0]["message"], j!("upstream failed"));
    assert_eq!(events[0]["fields"], j!({"code": 503}));
    assert!(
        events[0]["target"]
            .as_str()
            .is_some_and(|t| t.contains("tracing_bridge"))
    );
    assert!(events[0]["timestamp_ms"].as_u64().is_some_and(|t| t > 0));

    // No bridged span around the warning: kept on the current staso span (the #[trace] fn).
    let step = attrs(&h.by_name("step"));
    let events = step["events"].as_array().expect("events on the staso span");
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["level"], j!("WARN"));
    assert_eq!(events[0]["message"], j!("retrying"));
    assert_eq!(events[0]["fields"], j!({"attempt": 2}));
    assert!(step.get("events_dropped").is_none());
}

#[test]
fn the_event_level_and_the_bound_are_configurable() {
    let h = setup();
    let _t = bridge_with(
        StasoLayer::builder()
            .event_level(tracing::Level::INFO)
            .max_events(2)
            .build(),
    );
    staso::span("turn", SpanKind::Agent, |_| {
        tracing::info_span!("chatty").in_scope(|| {
            for i in 0..5 {
                tracing::info!(i, "progress");
            }
            tracing::debug!("below INFO");
        });
        tracing::info_span!("quiet").in_scope(|| tracing::debug!("below INFO"));
    });
    let a = attrs(&h.by_name("chatty"));
    let kept: Vec<_> = a["events"]
        .as_array()
        .expect("events")
        .iter()
        .map(|e| (e["level"].clone(), e["fields"]["i"].clone()))
        .collect();
    assert_eq!(kept, vec![(j!("INFO"), j!(0)), (j!("INFO"), j!(1))]);
    assert_eq!(a["events_dropped"], j!(3));
    let quiet = attrs(&h.by_name("quiet"));
    assert!(quiet.get("events").is_none(), "{quiet}");
    assert!(quiet.get("events_dropped").is_none(), "{quiet}");
}

#[test]
fn a_tracing_span_outside_staso_spans_is_ignored_by_default() {
    let h = setup();
    {
        let _t = bridge();
        tracing::info_span!("background", gen_ai.operation.name = "chat").in_scope(|| {
            tracing::info_span!("inner").in_scope(|| tracing::error!("not kept anywhere"));
            assert!(staso::current_span_ref().is_none());
        });
    }
    assert!(h.finished().is_empty(), "{}", h.render());
}

#[test]
fn a_tracing_span_outside_staso_spans_becomes_a_root_when_configured() {
    let h = setup();
    {
        let _t = bridge_with(StasoLayer::builder().roots(true).build());
        tracing::info_span!("job", otel.name = "nightly job").in_scope(|| {
            tracing::info_span!("load").in_scope(|| search("x"));
        });
    }
    assert_eq!(
        tree(&h.finished()),
        "chain nightly job [ok]\n\
         \x20 chain load [ok]\n\
         \x20   tool search [ok]"
    );
    assert!(attrs(&h.by_name("nightly job")).get("otel.name").is_none());
}

#[test]
fn an_explicit_parent_wins_over_the_current_span() {
    let h = setup();
    let _t = bridge();
    staso::span("turn", SpanKind::Agent, |_| {
        let request = tracing::info_span!("request");
        // Created outside `request`'s scope, with `request` as its explicit parent.
        let retry = tracing::info_span!(parent: &request, "retry");
        retry.in_scope(|| search("again"));
    });
    let turn = h.by_name("turn");
    let request = h.by_name("request");
    let retry = h.by_name("retry");
    assert!(child_of(&request, &turn));
    assert!(child_of(&retry, &request), "{}", h.render());
    assert!(child_of(&h.by_name("search"), &retry));
}

#[test]
fn exits_out_of_order_restore_the_context() {
    let _h = setup();
    let _t = bridge();
    staso::span("turn", SpanKind::Agent, |turn| {
        let outer = tracing::info_span!("outer");
        let inner = tracing::info_span!("inner");
        let a = outer.enter();
        let b = inner.enter();
        drop(a); // out of order
        let here = staso::current_span_ref().expect("a span is current");
        assert_ne!(Some(here.span_id.to_string()), turn.span_id());
        drop(b);
        let here = staso::current_span_ref().expect("turn is current again");
        assert_eq!(Some(here.span_id.to_string()), turn.span_id());
    });
    assert!(staso::current_span_ref().is_none());
}

#[test]
fn ids_name_the_current_staso_span_for_log_lines() {
    let h = setup();
    let _t = bridge();
    let mut seen = None;
    staso::span("turn", SpanKind::Agent, |_| {
        tracing::info_span!("chat").in_scope(|| seen = Some(staso::tracing::ids()));
    });
    let ids = seen.expect("ran");
    let chat = h.by_name("chat");
    assert_eq!(
        ids.trace_id().map(|t| t.to_string()),
        Some(chat.trace_id.clone())
    );
    assert_eq!(
        ids.span_id().map(|s| s.to_string()),
        Some(chat.span.span_id.clone())
    );
    assert_eq!(
        ids.to_string(),
        format!("{}/{}", chat.trace_id, chat.span.span_id)
    );
    assert_eq!(staso::tracing::ids().to_string(), "-");
    assert!(!staso::tracing::ids().is_some());
}

/// A multi-thread runtime whose workers (and the calling thread) use `dispatch`.
fn runtime_with(dispatch: &Dispatch) -> tokio::runtime::Runtime {
    let d = dispatch.clone();
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .on_thread_start(move || {
            // The worker keeps the subscriber for its whole life; the guard is never dropped on
            // purpose (the thread-local default goes away with the thread).
            std::mem::forget(dispatcher::set_default(&d));
        })
        .build()
        .expect("runtime")
}

#[staso::agent(name = "async-researcher")]
async fn research_async(prompt: String) -> Vec<String> {
    let chat = tracing::info_span!(
        "chat",
        gen_ai.operation.name = "chat",
        gen_ai.request.model = "gpt-4o",
        gen_ai.usage.input_tokens = Empty,
        gen_ai.usage.output_tokens = Empty,
    );
    async {
        tokio::time::sleep(Duration::from_millis(5)).await;
        tracing::warn!("slow model");
        tokio::task::yield_now().await;
    }
    .instrument(chat.clone())
    .await;
    chat.record("gen_ai.usage.input_tokens", 7u64);
    chat.record("gen_ai.usage.output_tokens", 3u64);
    drop(chat);

    // A tool turn on another task, through staso's spawn helper.
    let tool = tracing::info_span!(
        "execute_tool",
        gen_ai.operation.name = "execute_tool",
        gen_ai.tool.name = "search",
    );
    let handle = staso::spawn(
        async move {
            tokio::time::sleep(Duration::from_millis(5)).await;
            search_async(&prompt).await
        }
        .instrument(tool),
    );
    // Several tool calls in parallel, each its own bridged span.
    let parallel: Vec<_> = (0..4)
        .map(|i| {
            let span = tracing::info_span!(
                "execute_tool",
                gen_ai.operation.name = "execute_tool",
                gen_ai.tool.name = "lookup",
                call = i
            );
            staso::spawn(
                async move {
                    tokio::task::yield_now().await;
                    tokio::time::sleep(Duration::from_millis(1)).await;
                    search_async("parallel").await
                }
                .instrument(span),
            )
        })
        .collect();
    for p in parallel {
        p.await.expect("parallel tool task");
    }
    handle.await.expect("tool task")
}

#[test]
fn async_instrument_and_spawn_on_a_multi_thread_runtime() {
    let h = setup();
    let d = dispatch(staso::tracing::layer());
    let _t = dispatcher::set_default(&d);
    let rt = runtime_with(&d);
    let docs = rt.block_on(research_async("docs".to_owned()));
    drop(rt);
    assert_eq!(docs, vec!["doc about docs".to_owned()]);

    let spans = h.finished();
    let agent = h.by_name("async-researcher");
    let chat = h.by_name("chat");
    assert!(child_of(&chat, &agent), "{}", h.render());
    assert_eq!(chat.span.kind, "llm");
    assert_eq!(
        (chat.span.input_tokens, chat.span.output_tokens),
        (7, 3),
        "tokens recorded late"
    );
    let chat_events = attrs(&chat)["events"].clone();
    assert_eq!(chat_events[0]["message"], j!("slow model"));

    let tools = h.all_named("execute_tool");
    assert_eq!(tools.len(), 5, "{}", h.render());
    assert!(
        tools
            .iter()
            .all(|t| child_of(t, &agent) && t.span.kind == "tool"),
        "{}",
        h.render()
    );
    let searches = h.all_named("search_async");
    assert_eq!(searches.len(), 5);
    for s in &searches {
        let parents: Vec<_> = tools.iter().filter(|t| child_of(s, t)).collect();
        assert_eq!(
            parents.len(),
            1,
            "each search under one tool span: {}",
            h.render()
        );
    }
    // Each parallel tool span holds exactly one search.
    for t in &tools {
        assert_eq!(spans.iter().filter(|s| child_of(s, t)).count(), 1);
    }
    assert!(staso::current_span_ref().is_none());
}

#[staso::agent(name = "plain-spawner")]
async fn spawn_plainly() -> Vec<String> {
    let tool = tracing::info_span!(
        "execute_tool",
        gen_ai.operation.name = "execute_tool",
        gen_ai.tool.name = "search",
    );
    // A plain `tokio::spawn`: the worker that polls the task has no staso context of its own.
    tokio::spawn(
        async {
            tokio::time::sleep(Duration::from_millis(2)).await;
            search_async("plain").await
        }
        .instrument(tool),
    )
    .await
    .expect("task")
}

#[test]
fn a_bridged_span_polled_on_a_plain_tokio_task_keeps_its_conversation_and_agent() {
    let h = setup();
    let d = dispatch(staso::tracing::layer());
    let _t = dispatcher::set_default(&d);
    let rt = runtime_with(&d);
    let docs = rt.block_on(staso::conversation!("conv-7", user_id = "user-1", async {
        spawn_plainly().await
    }));
    drop(rt);
    assert_eq!(docs, vec!["doc about plain".to_owned()]);
    let tool = h.by_name("execute_tool");
    let search = h.by_name("search_async");
    assert!(child_of(&tool, &h.by_name("plain-spawner")));
    assert!(child_of(&search, &tool), "{}", h.render());
    for s in [&tool, &search] {
        assert_eq!(s.span.session_id, "conv-7", "{}", s.span.name);
        assert_eq!(s.span.user_id, "user-1", "{}", s.span.name);
        assert_eq!(s.span.agent_name, "plain-spawner", "{}", s.span.name);
    }
}

#[test]
fn events_past_the_bound_on_a_staso_span_are_counted() {
    let h = setup();
    let _t = bridge_with(StasoLayer::builder().max_events(1).build());
    #[staso::trace]
    fn noisy() {
        for i in 0..5 {
            tracing::warn!(i, "again");
        }
    }
    noisy();
    let a = attrs(&h.by_name("noisy"));
    assert_eq!(a["events"].as_array().map(Vec::len), Some(1), "{a}");
    assert_eq!(a["events"][0]["fields"]["i"], j!(0));
    // On a span the bridge does not own, the count is written at 1, 2, 4, … drops.
    assert_eq!(a["events_dropped"], j!(4));
}

#[test]
fn staso_own_threads_never_start_traces() {
    let h = setup();
    let d = dispatch(StasoLayer::builder().roots(true).build());
    std::thread::Builder::new()
        .name("staso-transport".into())
        .spawn(move || {
            dispatcher::with_default(&d, || {
                tracing::info_span!("hyper::client").in_scope(|| {});
            })
        })
        .expect("thread")
        .join()
        .expect("joined");
    assert!(h.finished().is_empty(), "{}", h.render());
}
