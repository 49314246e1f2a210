//! The root of a trace head sampling dropped (no tail rules): it is current for its children
//! (which record nothing), visible to `Span::current`, propagation and the spawn helpers as a
//! span that does not record, counted once as sampled out — and the thread records again after
//! it, also when it panics, and across `.await` on other threads.
//!
//! Rates: the client-wide rate is 1.0; the config's agent (`demo`, the agent of a root outside
//! any `#[agent]`) and the agent `bulk` are sampled at 0.0, the agent `vip` at 1.0.

mod common;

use std::future::Future;
use std::pin::Pin;
use std::task::{Context as TaskContext, Waker};
use std::time::Duration;

use common::poll::{YieldOnce, block_on};
use common::{Harness, builder, sampled_out, setup_with};
use staso::{SpanKind, TailRules};

fn setup() -> Harness {
    setup_with(
        builder()
            .sample_rate(1.0)
            .agent_sample_rate("demo", 0.0)
            .agent_sample_rate("bulk", 0.0)
            .agent_sample_rate("vip", 1.0),
    )
}

#[staso::trace]
fn leaf(i: u32) -> u32 {
    i
}

/// The current span, recording or not (`staso::current_span_ref` shows only a recording one).
fn current_span() -> Option<staso::ParentRef> {
    staso::Context::current().frame().span
}

/// What a dropped root's body sees: the current span (ids, not recording) and what it propagates.
#[derive(Debug)]
struct Seen {
    current: Option<staso::ParentRef>,
    traceparent: Option<String>,
    handle_records: bool,
    handle_trace: Option<String>,
}

fn look() -> Seen {
    let mut headers = http::HeaderMap::new();
    staso::propagation::inject(&mut headers);
    Seen {
        current: current_span(),
        traceparent: headers
            .get("traceparent")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
        handle_records: staso::Span::current().is_recording(),
        handle_trace: staso::Span::current().trace_id(),
    }
}

/// The body of a dropped root: children at two depths, a manual child, and what it sees.
fn body() -> Seen {
    leaf(1);
    staso::span("manual-child", SpanKind::Tool, |s| {
        assert!(!s.is_recording(), "a child of a dropped root is a no-op");
        leaf(2)
    });
    look()
}

/// A dropped root's view of itself: ids of a real trace that the rate drops, sampled flag 00.
fn assert_dropped_root(seen: &Seen) {
    let me = seen.current.expect("the dropped root is current");
    assert!(!me.recording && !me.held, "{seen:?}");
    assert_ne!(me.trace_id.0, 0);
    assert_ne!(me.span_id.0, 0);
    assert!(!staso::trace_sampled(me.trace_id, 0.0));
    let expected = format!("00-{:032x}-{:016x}-00", me.trace_id.0, me.span_id.0);
    assert_eq!(seen.traceparent.as_deref(), Some(expected.as_str()));
    assert!(
        !seen.handle_records && seen.handle_trace.is_none(),
        "{seen:?}"
    );
}

#[staso::trace]
fn sync_root() -> Seen {
    body()
}

#[staso::agent(name = "bulk")]
fn bulk_agent() -> Seen {
    let seen = body();
    assert_eq!(current_span(), seen.current);
    seen
}

#[staso::agent(name = "vip")]
fn vip_agent() -> u32 {
    leaf(7)
}

#[staso::trace]
async fn async_root() -> Seen {
    leaf(1);
    YieldOnce(false).await;
    leaf(2);
    look()
}

#[staso::agent(name = "bulk")]
async fn async_bulk_agent() -> Seen {
    YieldOnce(false).await;
    body()
}

/// After a dropped root: nothing is current, and a new root of a kept agent records under the
/// config's agent context (no agent left current).
fn assert_thread_recovered(h: &Harness, tag: u32) {
    assert_eq!(current_span(), None);
    assert!(staso::Span::current().trace_id().is_none());
    staso::Context::default().in_scope(vip_agent);
    staso::span("root-under-demo", SpanKind::Chain, |_| leaf(tag));
    let spans = h.finished();
    assert!(spans.iter().any(|s| s.span.name == "vip"), "{}", h.render());
    // A root under no agent: the config's agent `demo`, dropped.
    assert!(
        spans.iter().all(|s| s.span.name != "root-under-demo"),
        "{}",
        h.render()
    );
}

#[test]
fn every_kind_of_dropped_root_records_nothing_and_counts_once() {
    let h = setup();
    let seen = sync_root();
    assert_dropped_root(&seen);
    let seen = bulk_agent();
    assert_dropped_root(&seen);
    assert_dropped_root(&block_on(async_root()));
    assert_dropped_root(&block_on(async_bulk_agent()));
    let seen = staso::span("manual-root", SpanKind::Chain, |s| {
        assert!(
            s.is_recording(),
            "a dropped root's own handle, until it ends"
        );
        assert!(s.trace_id().is_some());
        body()
    });
    assert_dropped_root(&seen);
    let seen = staso::start_trace("trace-root", |_| body());
    assert_dropped_root(&seen);
    let root = staso::Span::start_root("handle-root", SpanKind::Chain);
    let seen = root.in_scope(body);
    assert_dropped_root(&seen);
    assert_eq!(
        seen.current.map(|p| p.trace_id),
        root.trace(),
        "the handle's ids are the ids its children see"
    );
    assert!(root.end().is_none(), "a dropped root is not exported");
    assert!(!root.is_recording(), "ended");
    let id = staso::llm_trace("llm-root", staso::LlmCall::new("m", "p")).expect("a client");
    assert!(!staso::trace_sampled(id, 0.0));

    assert!(h.finished().is_empty(), "{}", h.render());
    assert_eq!(
        sampled_out(&h),
        8,
        "one per dropped root, none for their children"
    );
    assert_thread_recovered(&h, 1);
}

#[test]
fn roots_nested_in_a_dropped_root_decide_for_themselves() {
    let h = setup();
    staso::span("dropped-outer", SpanKind::Chain, |_| {
        // A new root under an empty context: a trace of its own, kept by its agent's rate.
        staso::Context::default().in_scope(vip_agent);
        // A new root keeps the context's agent: none here, so the config's (dropped).
        staso::start_trace("nested-trace", |_| leaf(3));
        // Back in the dropped trace.
        leaf(4);
    });
    bulk_agent_with_nested_roots();
    let spans = h.finished();
    let names: Vec<&str> = spans.iter().map(|s| s.span.name.as_str()).collect();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(sorted, ["leaf", "leaf", "vip", "vip"], "{}", h.render());
    let vips: Vec<_> = spans.iter().filter(|s| s.span.name == "vip").collect();
    for vip in &vips {
        assert!(vip.span.parent_span_id.is_none(), "a root of its own");
        assert_eq!(vip.span.agent_name, "vip");
        let leaf = spans
            .iter()
            .find(|s| s.trace_id == vip.trace_id && s.span.name == "leaf")
            .expect("the vip agent's leaf");
        assert!(leaf.span.input.contains('7'), "{}", leaf.span.input);
        assert_eq!(leaf.span.agent_name, "vip");
    }
    assert_eq!(
        sampled_out(&h),
        4,
        "two outer roots, two nested dropped roots"
    );
    assert_thread_recovered(&h, 2);
}

#[staso::agent(name = "bulk")]
fn bulk_agent_with_nested_roots() {
    staso::Context::default().in_scope(vip_agent);
    // The current agent is `bulk`: a new root inherits it, and its rate (0).
    staso::start_trace("nested-in-bulk", |_| {
        assert!(current_span().is_some_and(|p| !p.recording));
        leaf(5)
    });
    leaf(6);
}

#[staso::trace]
fn panicking_root() {
    leaf(1);
    panic!("boom in a dropped root");
}

#[staso::agent(name = "bulk")]
fn panicking_agent() {
    leaf(1);
    panic!("boom in a dropped agent root");
}

#[staso::trace]
async fn panicking_async_root() {
    YieldOnce(false).await;
    panic!("boom in a dropped async root");
}

#[test]
fn a_panic_inside_a_dropped_root_leaves_the_thread_recording() {
    let h = setup();
    let quiet = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    assert!(std::panic::catch_unwind(panicking_root).is_err());
    assert_thread_recovered(&h, 1);
    assert!(std::panic::catch_unwind(panicking_agent).is_err());
    assert_thread_recovered(&h, 2);
    assert!(std::panic::catch_unwind(|| block_on(panicking_async_root())).is_err());
    assert!(
        std::panic::catch_unwind(|| {
            staso::span("manual-panics", SpanKind::Chain, |_| panic!("boom"))
        })
        .is_err()
    );
    std::panic::set_hook(quiet);
    assert_thread_recovered(&h, 3);
    let names: Vec<String> = h.finished().into_iter().map(|s| s.span.name).collect();
    assert!(
        names.iter().all(|n| n == "vip" || n == "leaf"),
        "only the kept vip traces: {names:?}"
    );
    assert_eq!(names.iter().filter(|n| *n == "vip").count(), 3);
    assert_eq!(
        sampled_out(&h),
        4 + 3,
        "four panicking roots, three `root-under-demo`"
    );
}

#[test]
fn an_async_dropped_root_moves_between_threads() {
    let h = setup();
    for agent in [false, true] {
        let mut fut: Pin<Box<dyn Future<Output = Seen> + Send>> = if agent {
            Box::pin(async_bulk_agent())
        } else {
            Box::pin(async_root())
        };
        let cx = &mut TaskContext::from_waker(Waker::noop());
        assert!(fut.as_mut().poll(cx).is_pending());
        // The first poll swapped its frame out again: this thread is not inside the dropped root.
        assert_eq!(current_span(), None);
        leaf(10);
        let (seen, recovered) = std::thread::spawn(move || {
            assert_eq!(current_span(), None);
            let seen = block_on(fut);
            let after = current_span();
            staso::Context::default().in_scope(vip_agent);
            (seen, after)
        })
        .join()
        .expect("the other thread");
        assert_dropped_root(&seen);
        assert_eq!(recovered, None);
    }
    // A runtime's worker threads: tasks spawned inside the dropped root (with its context) and
    // a thread spawned with it record nothing; their own new roots decide for themselves.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .expect("runtime");
    let seen = rt.block_on(dropped_root_spawning());
    assert_dropped_root(&seen);
    drop(rt);
    let spans = h.finished();
    let names: Vec<&str> = spans.iter().map(|s| s.span.name.as_str()).collect();
    assert_eq!(
        names.iter().filter(|n| **n == "vip").count(),
        3,
        "{}",
        h.render()
    );
    assert!(
        names.iter().all(|n| *n == "vip" || *n == "leaf"),
        "{}",
        h.render()
    );
    assert_eq!(
        names.iter().filter(|n| **n == "leaf").count(),
        3,
        "{}",
        h.render()
    );
    // Two async roots, `leaf(10)` twice (roots under `demo`), the spawning root.
    assert_eq!(sampled_out(&h), 5);
}

#[staso::trace]
async fn dropped_root_spawning() -> Seen {
    let me = current_span();
    let task = staso::spawn(async move {
        tokio::task::yield_now().await;
        assert_eq!(current_span(), me, "the task runs in the dropped trace");
        leaf(11);
        look()
    });
    let thread = staso::thread::spawn(move || {
        assert_eq!(current_span(), me);
        leaf(12);
        look()
    });
    tokio::task::yield_now().await;
    let from_task = task.await.expect("task");
    let from_thread = thread.join().expect("thread");
    assert_dropped_root(&from_task);
    assert_dropped_root(&from_thread);
    // A new root inside, on a worker thread, under an empty context: kept by its agent.
    staso::Context::default().in_scope(vip_agent);
    look()
}

#[staso::agent(name = "bulk")]
fn bulk_run(kind: u8) {
    leaf(0);
    if kind == 1 {
        let _ = failing();
    }
}

#[staso::trace]
fn failing() -> Result<(), String> {
    Err("boom".to_owned())
}

#[staso::trace]
async fn async_run(kind: u8) {
    YieldOnce(false).await;
    leaf(0);
    if kind == 1 {
        let _ = failing();
    }
}

#[test]
fn with_tail_rules_unsampled_traces_are_still_recorded_and_kept_whole_on_error() {
    let h = setup_with(
        builder()
            .sample_rate(0.0)
            .tail_sampling(TailRules::new().keep_errors()),
    );
    for kind in 0..=1 {
        bulk_run(kind);
        block_on(async_run(kind));
        staso::start_trace(format!("manual-{kind}"), |_| {
            leaf(0);
            if kind == 1 {
                let _ = failing();
            }
        });
    }
    let report = h
        .client
        .as_ref()
        .expect("client")
        .flush(Duration::from_secs(5));
    let spans = h.finished();
    let mut roots: Vec<&str> = spans
        .iter()
        .filter(|s| s.span.parent_span_id.is_none())
        .map(|s| s.span.name.as_str())
        .collect();
    roots.sort();
    assert_eq!(roots, ["async_run", "bulk", "manual-1"], "{}", h.render());
    for root in spans.iter().filter(|s| s.span.parent_span_id.is_none()) {
        let trace: Vec<&str> = spans
            .iter()
            .filter(|s| s.trace_id == root.trace_id)
            .map(|s| s.span.name.as_str())
            .collect();
        assert_eq!(trace.len(), 3, "root, leaf and the failing span: {trace:?}");
    }
    assert_eq!(
        report.sampled_out, 6,
        "the three plain traces, root and leaf each: {report:?}"
    );
}

#[test]
fn a_bridged_tracing_root_of_a_dropped_trace_keeps_its_subtree_in_it() {
    use tracing_subscriber::layer::SubscriberExt;
    let h = setup();
    let layer = staso::tracing::StasoLayer::builder().roots(true).build();
    let _d = tracing::dispatcher::set_default(&tracing::Dispatch::new(
        tracing_subscriber::registry().with(layer),
    ));
    tracing::info_span!("outer").in_scope(|| {
        let seen = look();
        assert_dropped_root(&seen);
        tracing::info_span!("inner").in_scope(|| {
            assert_eq!(current_span(), seen.current, "inner is not a new root");
            leaf(1)
        });
    });
    sync_root();
    assert!(h.finished().is_empty(), "{}", h.render());
    assert_eq!(sampled_out(&h), 2, "the `tracing` root and the fn root");
}

#[test]
fn a_dropped_agent_root_under_a_current_agent_puts_that_agent_back() {
    let h = setup();
    let outer = staso::Frame {
        agent: Some("outer-agent".into()),
        ..staso::Frame::default()
    };
    staso::Context::from_frame(outer).in_scope(|| {
        // A root (no current span) of the dropped agent `bulk`, replacing the agent `outer-agent`.
        let seen = bulk_agent();
        assert_dropped_root(&seen);
        let now = staso::Context::current();
        assert_eq!(now.frame().span, None);
        assert_eq!(now.frame().agent.as_deref(), Some("outer-agent"));
        // The same for a recordless one (no agent current) inside, then back to `outer-agent`.
        staso::Context::default().in_scope(|| {
            assert_dropped_root(&bulk_agent());
            assert_eq!(staso::Context::current().frame().agent, None);
        });
        assert_eq!(
            staso::Context::current().frame().agent.as_deref(),
            Some("outer-agent")
        );
    });
    assert!(h.finished().is_empty(), "{}", h.render());
    assert_eq!(sampled_out(&h), 2, "each dropped root counted once");
    assert_thread_recovered(&h, 1);
}
