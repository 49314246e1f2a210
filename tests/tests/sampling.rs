//! Head sampling (rates, per-agent rates, children following their root) and tail rules (errors,
//! guard blocks, cost, duration; the held-span bound), against the in-memory exporter.

mod common;

use std::time::Duration;

use common::{builder, setup_with};
use staso::TailRules;
use staso::{LlmCall, SpanKind, SpanStatus};

#[staso::trace]
fn leaf(i: u32) -> u32 {
    i
}

#[staso::agent(name = "vip")]
fn vip_agent() -> u32 {
    leaf(1) + leaf(2)
}

#[staso::agent(name = "bulk")]
fn bulk_agent() -> u32 {
    leaf(1)
}

#[test]
fn a_rate_keeps_that_share_of_traces_within_binomial_bounds() {
    let h = setup_with(builder().sample_rate(0.3));
    const N: u64 = 100_000;
    for i in 0..N {
        staso::span("root", SpanKind::Chain, |_| {
            leaf(i as u32);
        });
    }
    let report = h
        .client
        .as_ref()
        .expect("client")
        .flush(Duration::from_secs(10));
    let spans = h.finished();
    let roots = spans.iter().filter(|s| s.span.name == "root").count() as u64;
    let leaves = spans.iter().filter(|s| s.span.name == "leaf").count() as u64;
    // n·p = 30 000, σ = √(n·p·(1−p)) ≈ 145: six σ either side.
    assert!((29_130..=30_870).contains(&roots), "kept {roots} of {N}");
    assert_eq!(
        leaves, roots,
        "children follow their root: kept with it, dropped with it"
    );
    assert_eq!(report.sampled_out, N - roots, "{report:?}");
    assert!(report.ok(), "{report:?}");
}

#[test]
fn rate_zero_records_nothing_and_per_agent_rates_win() {
    let h = setup_with(builder().sample_rate(0.0).agent_sample_rate("vip", 1.0));
    for _ in 0..50 {
        vip_agent();
        bulk_agent();
        staso::span("plain-root", SpanKind::Chain, |_| {
            assert!(
                !staso::Span::current().is_recording(),
                "inside a dropped trace nothing records"
            );
            leaf(9);
        });
    }
    let spans = h.finished();
    assert_eq!(spans.iter().filter(|s| s.span.name == "vip").count(), 50);
    assert_eq!(
        spans.iter().filter(|s| s.span.name == "leaf").count(),
        100,
        "only the vip traces' leaves"
    );
    assert!(
        spans
            .iter()
            .all(|s| s.span.name != "bulk" && s.span.name != "plain-root")
    );
    assert!(
        spans
            .iter()
            .all(|s| !s.span.name.is_empty() && s.span.agent_name == "vip"),
        "{}",
        h.render()
    );
}

#[test]
fn sampling_is_decided_by_the_trace_id_alone() {
    let h = setup_with(builder().sample_rate(0.5));
    for _ in 0..200 {
        staso::span("r", SpanKind::Chain, |_| {});
    }
    let spans = h.finished();
    assert!(!spans.is_empty());
    for s in spans {
        let id = staso::TraceId::parse(&s.trace_id).expect("trace id");
        assert!(staso::trace_sampled(id, 0.5), "{}", s.trace_id);
    }
}

#[derive(Debug)]
struct Boom;
impl std::fmt::Display for Boom {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("boom")
    }
}

#[staso::trace]
fn failing() -> Result<(), Boom> {
    Err(Boom)
}

#[staso::agent(name = "worker")]
fn run(kind: u8) {
    leaf(0);
    match kind {
        1 => {
            let _ = failing();
        }
        2 => staso::span("guarded", SpanKind::Tool, |s| {
            s.set_metadata("guard_action", "block");
        }),
        3 => staso::span("llm", SpanKind::Llm, |s| {
            s.record_llm(LlmCall::new("m", "p").cost_usd(2.5))
        }),
        4 => std::thread::sleep(Duration::from_millis(60)),
        _ => {}
    }
}

#[test]
fn tail_rules_keep_whole_traces_with_errors_guard_blocks_cost_or_duration() {
    let h = setup_with(
        builder().sample_rate(0.0).tail_sampling(
            TailRules::new()
                .keep_errors()
                .keep_guard_blocks()
                .min_cost_usd(1.0)
                .min_duration(Duration::from_millis(50)),
        ),
    );
    for kind in 0..=4 {
        staso::conversation!(format!("conv-{kind}"), { run(kind) });
    }
    let report = h
        .client
        .as_ref()
        .expect("client")
        .flush(Duration::from_secs(5));
    let spans = h.finished();
    let kept: Vec<&str> = spans
        .iter()
        .filter(|s| s.span.name == "worker")
        .map(|s| s.span.session_id.as_str())
        .collect();
    let mut kept_sorted = kept.clone();
    kept_sorted.sort();
    assert_eq!(
        kept_sorted,
        ["conv-1", "conv-2", "conv-3", "conv-4"],
        "{}",
        h.render()
    );
    for conv in ["conv-1", "conv-2", "conv-3", "conv-4"] {
        let trace: Vec<_> = spans.iter().filter(|s| s.span.session_id == conv).collect();
        assert!(
            trace.iter().any(|s| s.span.name == "leaf"),
            "whole trace kept: {conv}"
        );
        assert!(
            !trace.iter().any(|s| s.span.is_provisional_root()),
            "held traces have no provisional snapshot"
        );
    }
    assert!(spans.iter().all(|s| s.span.session_id != "conv-0"));
    assert_eq!(
        report.sampled_out, 2,
        "the plain trace's root and leaf: {report:?}"
    );
    let err = spans
        .iter()
        .find(|s| s.span.name == "failing")
        .expect("error span kept");
    assert_eq!(err.span.status, SpanStatus::Error.as_str());
}

#[test]
fn the_held_span_bound_evicts_the_oldest_trace_and_counts_it() {
    let h = setup_with(
        builder()
            .sample_rate(0.0)
            .tail_sampling(TailRules::new().keep_errors().max_held_spans(10)),
    );
    staso::span("long-running", SpanKind::Chain, |_| {
        for i in 0..25 {
            leaf(i);
        }
        // Give the holding worker time to see the children before the root ends.
        let _ = staso::flush(Duration::from_secs(5));
        let _ = failing();
    });
    let report = h
        .client
        .as_ref()
        .expect("client")
        .flush(Duration::from_secs(5));
    let spans = h.finished();
    let kept_leaves = spans.iter().filter(|s| s.span.name == "leaf").count() as u64;
    assert!(
        report.sampled_out >= 11,
        "past 10 held spans the trace held longest is dropped: {report:?}"
    );
    assert_eq!(
        kept_leaves + report.sampled_out,
        25,
        "each leaf is either evicted (counted) or kept with the failing root: {}",
        h.render()
    );
    assert!(spans.iter().any(|s| s.span.name == "long-running"));
}

#[test]
fn both_sides_of_a_distributed_trace_agree() {
    // The caller samples at 50 %; the callee continues each trace from its traceparent (parent
    // based) and records exactly the traces the caller kept.
    let h = setup_with(builder().sample_rate(0.5));
    let mut sent = Vec::new();
    for _ in 0..400 {
        let mut headers = http::HeaderMap::new();
        staso::span("caller", SpanKind::Agent, |_| {
            staso::propagation::inject(&mut headers)
        });
        sent.push(headers);
    }
    for headers in &sent {
        let remote = staso::propagation::extract(headers).expect("a traceparent for every call");
        assert_eq!(
            remote.is_sampled(),
            staso::trace_sampled(remote.trace_id(), 0.5),
            "the flag is the caller's decision from the trace id"
        );
        remote.in_scope(|| staso::span("callee", SpanKind::Tool, |_| {}));
    }
    let spans = h.finished();
    let callers: std::collections::HashSet<String> = spans
        .iter()
        .filter(|s| s.span.name == "caller")
        .map(|s| s.trace_id.clone())
        .collect();
    let callees: std::collections::HashSet<String> = spans
        .iter()
        .filter(|s| s.span.name == "callee")
        .map(|s| s.trace_id.clone())
        .collect();
    assert!(
        !callers.is_empty() && callers.len() < 400,
        "{}",
        callers.len()
    );
    assert_eq!(
        callers, callees,
        "the callee records exactly the caller's kept traces"
    );
}

#[staso::agent(name = "dropped")]
fn dropped_agent(ctx: staso::Context) -> u32 {
    leaf(1); // not recorded: its root was dropped
    let recorded = ctx.in_scope(|| leaf(2)); // under a kept trace's span: recorded
    let _g = staso::Context::current().attach();
    leaf(3) + recorded
}

#[test]
fn a_kept_context_inside_a_dropped_trace_records_and_the_thread_recovers_after() {
    let h = setup_with(builder().sample_rate(1.0).agent_sample_rate("dropped", 0.0));
    let ctx = staso::span("kept-root", SpanKind::Chain, |_| staso::Context::current());
    // On this thread: a dropped trace's root, then (below) new roots that must record.
    dropped_agent(ctx);
    leaf(4); // a new root on the same thread, after the dropped trace ended
    staso::span("after", SpanKind::Chain, |_| leaf(5));
    let spans = h.finished();
    let leaves: Vec<&str> = spans
        .iter()
        .filter(|s| s.span.name == "leaf")
        .map(|s| s.span.input.as_str())
        .collect();
    assert_eq!(
        leaves.len(),
        3,
        "leaf(2) under the kept span, leaf(4), leaf(5): {}",
        h.render()
    );
    assert!(spans.iter().all(|s| s.span.name != "dropped"));
    let kept = h.by_name("kept-root");
    let two = spans
        .iter()
        .find(|s| s.span.name == "leaf" && s.span.input.contains('2'))
        .expect("leaf(2)");
    assert_eq!(
        two.span.parent_span_id.as_deref(),
        Some(kept.span.span_id.as_str())
    );
}
