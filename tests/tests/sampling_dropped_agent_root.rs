//! The root of a trace head sampling drops outright that is an `#[agent]` sync fn, entered while
//! no span and no agent is current, is made current without being written into the thread's
//! frame when the client has no per-agent rate (`begin_at_empty` in `staso-core`), its agent
//! with it: whatever reads the frame inside it (the current context, propagation, a captured
//! context) sees the same ids at every ask, the trace its decision read, and the agent current.
//! Leaving it, also on unwind, leaves no span and no agent current. With per-agent rates the
//! client decides, by the agent's own rate.
//!
//! The loops alternate a root nothing reads with one that reads itself: a root nothing reads
//! leaves the frame known to be empty, so the next one takes the shortest path.

mod common;

use std::collections::HashSet;

use common::reads::{Seen, agreed_root, look_around, now_current};
use common::{Harness, builder, sampled_out, setup_with};
use staso::ParentRef;

#[staso::trace]
fn leaf(i: u32) -> u32 {
    i
}

/// An agent root whose body never reads the frame.
#[staso::agent(name = "triage")]
fn unread_agent(i: u32) -> u32 {
    leaf(i)
}

#[staso::agent(name = "triage")]
fn read_agent(i: u32) -> Seen {
    // A child first: it returns at entry under a dropped root without reading the frame.
    leaf(i);
    look_around()
}

/// The root `seen` describes, checked for agreement between every way of asking, its agent
/// current.
fn agreed_agent_root(seen: &Seen) -> ParentRef {
    assert_eq!(seen.current.1.as_deref(), Some("triage"), "{seen:?}");
    agreed_root(seen)
}

/// `rounds` rounds of an unread agent root, a reading one, and a plain span after them under
/// the client's `rate` for the agent `triage`: every reading root agrees with itself and is
/// kept by its trace id at `rate`; after each, nothing is current, and the plain span is a
/// root outside any agent. Returns the reading roots kept.
fn alternate(h: &Harness, rounds: u32, rate: f64) -> HashSet<String> {
    let mut kept = HashSet::new();
    let mut dropped = HashSet::new();
    for i in 0..rounds {
        unread_agent(i);
        assert_eq!(now_current(), (None, None), "nothing current after a root");
        let me = agreed_agent_root(&read_agent(i));
        assert_eq!(
            me.recording,
            staso::trace_sampled(me.trace_id, rate),
            "kept or dropped by its trace id at the agent's rate: {me:?}"
        );
        if me.recording {
            kept.insert(me.trace_id.to_string());
        } else {
            dropped.insert(me.trace_id);
        }
        assert_eq!(now_current(), (None, None), "nothing current after a root");
        staso::span("after", staso::SpanKind::Chain, |_| ());
    }
    assert_eq!(
        kept.len() + dropped.len(),
        rounds as usize,
        "a trace per root"
    );
    let spans = h.finished();
    let recorded: HashSet<String> = spans
        .iter()
        .filter(|s| s.span.name == "triage" && s.span.parent_span_id.is_none())
        .map(|s| s.trace_id.clone())
        .collect();
    assert!(
        kept.is_subset(&recorded),
        "the kept roots recorded, as they saw themselves"
    );
    for after in spans.iter().filter(|s| s.span.name == "after") {
        assert!(after.span.parent_span_id.is_none(), "{}", h.render());
        assert_eq!(after.span.agent_name, "demo", "no agent left current");
    }
    kept
}

#[test]
fn a_dropped_agent_roots_ids_are_drawn_once_and_its_agent_is_current() {
    let h = setup_with(builder().sample_rate(0.5));
    const ROUNDS: u32 = 400;
    alternate(&h, ROUNDS, 0.5);
    let spans = h.finished();
    let agent_roots = spans
        .iter()
        .filter(|s| s.span.name == "triage")
        .filter(|s| s.span.parent_span_id.is_none())
        .count() as u64;
    let afters = spans.iter().filter(|s| s.span.name == "after").count() as u64;
    // 2 · 400 agent roots at 50 %: σ ≈ 14, six σ either side.
    assert!(
        (315..=485).contains(&agent_roots),
        "kept {agent_roots} of 800"
    );
    assert_eq!(
        sampled_out(&h),
        3 * u64::from(ROUNDS) - agent_roots - afters
    );
}

#[test]
fn every_agent_root_of_a_trace_dropped_at_rate_zero_is_left_clean() {
    let h = setup_with(builder().sample_rate(0.0));
    const ROUNDS: u32 = 50;
    let kept = alternate(&h, ROUNDS, 0.0);
    assert!(kept.is_empty());
    assert!(h.finished().is_empty(), "{}", h.render());
    assert_eq!(sampled_out(&h), 3 * u64::from(ROUNDS));
}

#[staso::agent(name = "triage")]
fn panicking_agent(read: bool) {
    leaf(1);
    if read {
        assert_eq!(now_current().1.as_deref(), Some("triage"));
    }
    panic!("boom in a dropped agent root");
}

#[test]
fn a_panic_in_a_dropped_agent_root_leaves_no_span_and_no_agent() {
    let h = setup_with(builder().sample_rate(0.0));
    let quiet = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    for read in [false, true, false, false, true, true] {
        unread_agent(0);
        assert!(std::panic::catch_unwind(|| panicking_agent(read)).is_err());
        assert_eq!(now_current(), (None, None), "left on unwind (read: {read})");
    }
    std::panic::set_hook(quiet);
    agreed_agent_root(&read_agent(1));
    assert_eq!(now_current(), (None, None));
    assert!(h.finished().is_empty(), "{}", h.render());
    assert_eq!(sampled_out(&h), 13);
}

/// With a rate of its own, an agent root is decided by it, not by the client's rate.
#[test]
fn an_agent_with_a_rate_of_its_own_is_decided_by_it() {
    for (client_rate, triage_rate) in [(0.0, 1.0), (1.0, 0.0), (0.0, 0.5), (0.5, 0.2)] {
        let h = setup_with(
            builder()
                .sample_rate(client_rate)
                .agent_sample_rate("triage", triage_rate),
        );
        const ROUNDS: u32 = 100;
        let kept = alternate(&h, ROUNDS, triage_rate);
        if triage_rate == 1.0 {
            assert_eq!(kept.len(), ROUNDS as usize);
        }
        if triage_rate == 0.0 {
            assert!(kept.is_empty());
        }
    }
    // Another agent's rate: `triage` is decided by the client's rate, by the client.
    let h = setup_with(builder().sample_rate(0.5).agent_sample_rate("vip", 1.0));
    let kept = alternate(&h, 200, 0.5);
    assert!((40..=160).contains(&kept.len()), "kept {}", kept.len());
}

/// A new client's agent rates apply from its first root: what a thread remembers of an agent's
/// own rate is read again when the client changes (a rate that dropped every root of the agent,
/// then one that keeps them all, and back).
#[test]
fn a_new_clients_agent_rate_applies_to_the_next_root() {
    for triage_rate in [0.0, 1.0, 0.0, 0.5, 1.0, 0.0] {
        let h = setup_with(
            builder()
                .sample_rate(0.5)
                .agent_sample_rate("triage", triage_rate),
        );
        const ROUNDS: u32 = 50;
        let kept = alternate(&h, ROUNDS, triage_rate);
        if triage_rate == 1.0 {
            assert_eq!(kept.len(), ROUNDS as usize);
        }
        if triage_rate == 0.0 {
            assert!(kept.is_empty());
        }
    }
}
