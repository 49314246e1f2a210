//! The root of a trace head sampling drops outright, entered while no span is current, is made
//! current without its ids: only the half of the trace id the decision reads is drawn, the rest
//! when something asks for them (`Span::current`, propagation, a captured context). What is
//! asked is the same at every ask within the root and is the trace the decision dropped (two
//! processes agree on a distributed trace); roots whose trace is kept are recorded as before,
//! at the rate's share; the thread is back to no current span after each root, also after a
//! panic.
//!
//! A root that nothing reads leaves the frame known to be empty, so the next root takes the
//! shortest path (`begin_at_empty` in `staso-core`): the loops below alternate the two.

mod common;

use std::collections::HashSet;
use std::time::Duration;

use common::reads::{Seen, agreed_root, current_span, look_around};
use common::{builder, sampled_out, setup_with};
use staso::ParentRef;

#[staso::trace]
fn leaf(i: u32) -> u32 {
    i
}

/// A root whose body never asks for its ids.
#[staso::trace]
fn unread_root(i: u32) -> u32 {
    leaf(i)
}

#[staso::agent(name = "vip")]
fn vip_agent() -> u32 {
    leaf(7)
}

#[staso::trace]
fn read_root(i: u32) -> Seen {
    // A child first: it returns at entry under a dropped root without asking for the ids.
    leaf(i);
    look_around()
}

#[test]
fn a_dropped_roots_ids_are_drawn_once_and_are_the_trace_its_decision_read() {
    let h = setup_with(builder().sample_rate(0.5));
    let mut dropped = HashSet::new();
    let mut kept = HashSet::new();
    const ROUNDS: u32 = 400;
    for i in 0..ROUNDS {
        unread_root(i);
        let me = agreed_root(&read_root(i));
        assert_eq!(
            me.recording,
            staso::trace_sampled(me.trace_id, 0.5),
            "kept or dropped by its trace id: {me:?}"
        );
        if me.recording {
            kept.insert(me.trace_id.to_string());
        } else {
            dropped.insert(me.trace_id);
        }
        assert_eq!(current_span(), None, "nothing current after a root");
    }
    assert_eq!(
        kept.len() + dropped.len(),
        ROUNDS as usize,
        "every root a trace of its own"
    );
    let spans = h.finished();
    let recorded: HashSet<String> = spans
        .iter()
        .filter(|s| s.span.name == "read_root")
        .map(|s| s.trace_id.clone())
        .collect();
    assert_eq!(recorded, kept, "the kept roots, as they saw themselves");
    let roots = spans.iter().filter(|s| s.span.parent_span_id.is_none());
    let kept_roots = roots.count() as u64;
    // 2 · 400 roots at 50 %: σ ≈ 14, six σ either side.
    assert!(
        (315..=485).contains(&kept_roots),
        "kept {kept_roots} of 800"
    );
    assert_eq!(sampled_out(&h), 2 * u64::from(ROUNDS) - kept_roots);
}

#[test]
fn roots_that_take_the_shortcut_keep_the_rates_share() {
    let h = setup_with(builder().sample_rate(0.3));
    const N: u64 = 100_000;
    for i in 0..N {
        unread_root(i as u32);
    }
    let report = h
        .client
        .as_ref()
        .expect("client")
        .flush(Duration::from_secs(10));
    let spans = h.finished();
    let roots = spans
        .iter()
        .filter(|s| s.span.name == "unread_root")
        .count() as u64;
    let leaves = spans.iter().filter(|s| s.span.name == "leaf").count() as u64;
    // n·p = 30 000, σ = √(n·p·(1−p)) ≈ 145: six σ either side.
    assert!((29_130..=30_870).contains(&roots), "kept {roots} of {N}");
    assert_eq!(leaves, roots, "children follow their root");
    let distinct: HashSet<&str> = spans.iter().map(|s| s.trace_id.as_str()).collect();
    assert_eq!(distinct.len() as u64, roots, "one trace per kept root");
    assert_eq!(report.sampled_out, N - roots, "{report:?}");
}

#[staso::trace]
fn panicking_unread_root() {
    leaf(1);
    panic!("boom in a dropped root nothing read");
}

/// Inside a dropped root: a new trace under an empty context (the swap writes the root into the
/// frame first), a dropped root nested the same way, then the root as it sees itself.
#[staso::trace]
fn root_with_nested_traces() -> (Option<ParentRef>, Option<ParentRef>) {
    let vip = staso::Context::default().in_scope(vip_agent);
    assert_eq!(vip, 7);
    let after_nested_trace = current_span();
    staso::Context::default().in_scope(|| unread_root(8));
    (after_nested_trace, current_span())
}

#[test]
fn the_thread_recovers_from_a_dropped_root_and_nested_traces_decide_for_themselves() {
    let h = setup_with(builder().sample_rate(0.0).agent_sample_rate("vip", 1.0));
    let quiet = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    unread_root(1);
    assert!(std::panic::catch_unwind(panicking_unread_root).is_err());
    std::panic::set_hook(quiet);
    assert_eq!(current_span(), None, "left on unwind");
    let (after_nested_trace, at_end) = root_with_nested_traces();
    let me = after_nested_trace.expect("the root is current again after the nested trace");
    assert!(!me.recording);
    assert_eq!(at_end, Some(me), "and after the nested dropped root");
    assert!(!staso::trace_sampled(me.trace_id, 0.0));
    let me = agreed_root(&read_root(2));
    assert!(!me.recording);
    assert_eq!(current_span(), None);
    // A kept trace after them all: recorded as a root of its own.
    vip_agent();
    let spans = h.finished();
    let names: Vec<&str> = spans.iter().map(|s| s.span.name.as_str()).collect();
    assert_eq!(
        names.iter().filter(|n| **n == "vip").count(),
        2,
        "{names:?}"
    );
    assert!(
        names.iter().all(|n| *n == "vip" || *n == "leaf"),
        "{names:?}"
    );
    for vip in spans.iter().filter(|s| s.span.name == "vip") {
        assert!(vip.span.parent_span_id.is_none(), "a root of its own");
        assert_ne!(vip.trace_id, me.trace_id.to_string());
    }
    // unread, panicking, the root with nested traces and its nested root, read_root.
    assert_eq!(sampled_out(&h), 5);
}
