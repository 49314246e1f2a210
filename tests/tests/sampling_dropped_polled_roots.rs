//! The roots that are current only while something runs them — an async fn (`#[trace]`,
//! `#[agent]`) while its future is polled, a manual span (`staso::span`, `try_span`,
//! `span_async`, `try_span_async`) while its closure or future runs — when head sampling drops
//! their trace outright and they start where no span, conversation, user or agent is current:
//! they are decided without the thread's state and hinted for each poll, the frame untouched
//! (`Polled::Hinted` in `staso-core`). Whatever reads the frame inside them sees the same ids at
//! every ask, on every poll and on every thread a poll runs on, the trace their decision read;
//! nothing is current after them, also after a panic; kept ones are recorded at the rate's share.
//!
//! The loops alternate a root nothing reads with one that reads itself: a root nothing reads
//! leaves the frame known to be empty, so the next one takes the shortest path.

mod common;

use std::collections::HashSet;

use common::poll::{YieldOnce, block_on, poll_once};
use common::reads::{Seen, agreed_root, look_around, now_current};
use common::{Harness, builder, sampled_out, setup_with};
use staso::{ParentRef, SpanKind};

#[staso::trace]
fn leaf(i: u32) -> u32 {
    i
}

/// An async root whose body never reads the frame, pending once.
#[staso::trace]
async fn unread_async(i: u32) -> u32 {
    YieldOnce(false).await;
    leaf(i)
}

/// An async root that reads itself before and after it is pending once.
#[staso::trace]
async fn read_async(i: u32) -> (Seen, Seen) {
    leaf(i);
    let before = look_around();
    YieldOnce(false).await;
    leaf(i);
    (before, look_around())
}

#[staso::agent(name = "triage")]
async fn read_async_agent(i: u32) -> (Seen, Seen) {
    leaf(i);
    let before = look_around();
    YieldOnce(false).await;
    (before, look_around())
}

/// The root both reads describe: each agrees with itself and the two agree.
fn agreed_twice((before, after): &(Seen, Seen)) -> ParentRef {
    let me = agreed_root(before);
    assert_eq!(agreed_root(after), me, "the same root on every poll");
    assert_eq!(before.current.1, after.current.1, "the same agent");
    me
}

/// Records whether `me` was kept, checking it was decided by its trace id at `rate`.
fn tally(me: ParentRef, rate: f64, kept: &mut HashSet<String>, dropped: &mut HashSet<u128>) {
    assert_eq!(
        me.recording,
        staso::trace_sampled(me.trace_id, rate),
        "kept or dropped by its trace id: {me:?}"
    );
    if me.recording {
        kept.insert(me.trace_id.to_string());
    } else {
        dropped.insert(me.trace_id.0);
    }
}

/// The trace ids of the recorded roots named `name`.
fn recorded_roots(h: &Harness, name: &str) -> HashSet<String> {
    h.finished()
        .iter()
        .filter(|s| s.span.name == name && s.span.parent_span_id.is_none())
        .map(|s| s.trace_id.clone())
        .collect()
}

#[test]
fn dropped_async_roots_read_the_same_ids_on_every_poll() {
    let h = setup_with(builder().sample_rate(0.5));
    const ROUNDS: u32 = 300;
    let (mut kept, mut dropped) = (HashSet::new(), HashSet::new());
    for i in 0..ROUNDS {
        assert_eq!(block_on(unread_async(i)), i);
        let me = agreed_twice(&block_on(read_async(i)));
        assert_eq!(now_current(), (None, None), "nothing current after a root");
        tally(me, 0.5, &mut kept, &mut dropped);
    }
    assert_eq!(
        kept.len() + dropped.len(),
        ROUNDS as usize,
        "a trace per root"
    );
    assert_eq!(
        recorded_roots(&h, "read_async"),
        kept,
        "as they saw themselves"
    );
    let spans = h.finished();
    let roots = spans
        .iter()
        .filter(|s| s.span.parent_span_id.is_none())
        .count() as u64;
    // 2 · 300 roots at 50 %: σ ≈ 12, six σ either side.
    assert!((228..=372).contains(&roots), "kept {roots} of 600");
    assert_eq!(sampled_out(&h), 2 * u64::from(ROUNDS) - roots);
    // Children follow their root: `leaf` twice under each kept reading root, once under each
    // kept unread one.
    let leaves = spans.iter().filter(|s| s.span.name == "leaf").count();
    let unread_kept = roots as usize - kept.len();
    assert_eq!(leaves, 2 * kept.len() + unread_kept);
}

#[test]
fn a_dropped_async_agent_root_has_its_agent_current_on_every_poll() {
    let h = setup_with(builder().sample_rate(0.0));
    for i in 0..50 {
        assert_eq!(block_on(unread_async(i)), i);
        let seen = block_on(read_async_agent(i));
        let me = agreed_twice(&seen);
        assert!(!me.recording);
        assert_eq!(seen.0.current.1.as_deref(), Some("triage"));
        assert_eq!(now_current(), (None, None), "no span and no agent after it");
    }
    assert!(h.finished().is_empty(), "{}", h.render());
    assert_eq!(sampled_out(&h), 100);
}

#[test]
fn a_dropped_async_root_polled_on_another_thread_is_the_same_root() {
    let h = setup_with(builder().sample_rate(0.0));
    // The frame known empty here, the root decided here; its first poll here and its second on a
    // thread that never ran a span, then the other way round.
    block_on(unread_async(0));
    for first_here in [true, false] {
        let mut fut = Box::pin(read_async(1));
        if first_here {
            assert!(poll_once(fut.as_mut()).is_pending());
        }
        let mut fut = std::thread::spawn(move || {
            let polled = poll_once(fut.as_mut());
            assert_eq!(
                now_current(),
                (None, None),
                "nothing left on the other thread"
            );
            (fut, polled)
        })
        .join()
        .expect("the thread");
        let seen = match fut.1 {
            std::task::Poll::Ready(seen) => seen,
            std::task::Poll::Pending => block_on(fut.0.as_mut()),
        };
        let me = agreed_twice(&seen);
        assert!(!me.recording);
        assert_eq!(now_current(), (None, None));
    }
    assert!(h.finished().is_empty(), "{}", h.render());
    assert_eq!(sampled_out(&h), 3);
}

/// What a manual root's closure sees: itself read every way, and its handle's ids.
fn manual_root(i: u32) -> (Seen, Option<staso::TraceId>, Option<String>) {
    staso::span("manual", SpanKind::Chain, |s| {
        leaf(i);
        staso::span("manual-child", SpanKind::Tool, |c| {
            assert!(!c.is_recording() || s.is_recording());
        });
        (look_around(), s.trace(), s.span_id())
    })
}

#[test]
fn dropped_manual_roots_are_current_for_their_closure_and_gone_after() {
    let h = setup_with(builder().sample_rate(0.5));
    const ROUNDS: u32 = 300;
    let (mut kept, mut dropped) = (HashSet::new(), HashSet::new());
    for i in 0..ROUNDS {
        assert_eq!(staso::span("unread", SpanKind::Chain, |_| leaf(i)), i);
        let (seen, trace, span_id) = manual_root(i);
        let me = agreed_root(&seen);
        assert_eq!(
            trace,
            Some(me.trace_id),
            "the handle's trace is the current one"
        );
        assert_eq!(span_id, Some(me.span_id.to_string()));
        assert_eq!(now_current(), (None, None), "nothing current after a root");
        tally(me, 0.5, &mut kept, &mut dropped);
        let err: Result<(), String> =
            staso::try_span("failing", SpanKind::Tool, |_| Err(format!("no {i}")));
        assert_eq!(err, Err(format!("no {i}")));
        assert_eq!(now_current(), (None, None));
    }
    assert_eq!(
        kept.len() + dropped.len(),
        ROUNDS as usize,
        "a trace per root"
    );
    assert_eq!(recorded_roots(&h, "manual"), kept, "as they saw themselves");
    let spans = h.finished();
    let roots = spans
        .iter()
        .filter(|s| s.span.parent_span_id.is_none())
        .count() as u64;
    // 3 · 300 roots at 50 %: σ ≈ 15, six σ either side.
    assert!((360..=540).contains(&roots), "kept {roots} of 900");
    assert_eq!(sampled_out(&h), 3 * u64::from(ROUNDS) - roots);
    for failing in spans.iter().filter(|s| s.span.name == "failing") {
        assert_eq!(failing.span.status, "error", "{}", h.render());
    }
}

#[test]
fn dropped_manual_async_roots_read_the_same_ids_on_every_poll() {
    let h = setup_with(builder().sample_rate(0.0));
    for i in 0..50 {
        let unread = staso::span_async("unread", SpanKind::Chain, async |_| {
            YieldOnce(false).await;
            leaf(i)
        });
        assert_eq!(block_on(unread), i);
        let seen = block_on(staso::span_async("m", SpanKind::Chain, async |s| {
            let before = look_around();
            YieldOnce(false).await;
            assert_eq!(s.trace(), before.current.0.map(|p| p.trace_id));
            (before, look_around())
        }));
        assert!(!agreed_twice(&seen).recording);
        let failed: Result<u32, String> = block_on(staso::try_span_async(
            "failing",
            SpanKind::Tool,
            async |_| {
                YieldOnce(false).await;
                Err("no".to_owned())
            },
        ));
        assert!(failed.is_err());
        assert_eq!(now_current(), (None, None));
    }
    assert!(h.finished().is_empty(), "{}", h.render());
    assert_eq!(sampled_out(&h), 150);
}

#[staso::trace]
async fn panicking_async(read: bool) {
    YieldOnce(false).await;
    if read {
        look_around();
    }
    panic!("boom in a dropped async root");
}

#[test]
fn a_panic_in_a_dropped_polled_root_leaves_nothing_current() {
    let h = setup_with(builder().sample_rate(0.0));
    let quiet = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    for read in [false, true, false, false, true, true] {
        block_on(unread_async(0));
        let caught = std::panic::catch_unwind(|| block_on(panicking_async(read)));
        assert!(caught.is_err());
        assert_eq!(now_current(), (None, None), "async, read: {read}");
        let caught = std::panic::catch_unwind(|| {
            staso::span("panicking", SpanKind::Chain, |_| {
                if read {
                    look_around();
                }
                panic!("boom in a dropped manual root")
            })
        });
        assert!(caught.is_err());
        assert_eq!(now_current(), (None, None), "manual, read: {read}");
    }
    std::panic::set_hook(quiet);
    let me = agreed_twice(&block_on(read_async(1)));
    assert!(!me.recording);
    assert!(h.finished().is_empty(), "{}", h.render());
    assert_eq!(sampled_out(&h), 19);
}

/// The conversation current in the root, before and after it is pending once.
#[staso::trace]
async fn sessions_async() -> [Option<String>; 2] {
    let before = session();
    YieldOnce(false).await;
    [before, session()]
}

fn session() -> Option<String> {
    let ctx = staso::Context::current();
    ctx.frame().session.as_deref().map(str::to_owned)
}

#[test]
fn in_a_conversation_a_dropped_root_keeps_it_on_every_poll() {
    let h = setup_with(builder().sample_rate(0.0));
    for _ in 0..3 {
        block_on(unread_async(0));
        let (polled, manual, manual_async) = staso::conversation!("c-1", {
            (
                block_on(sessions_async()),
                staso::span("m", SpanKind::Chain, |_| session()),
                block_on(staso::span_async("m", SpanKind::Chain, async |_| {
                    YieldOnce(false).await;
                    session()
                })),
            )
        });
        let c1 = Some("c-1".to_owned());
        assert_eq!(polled, [c1.clone(), c1.clone()]);
        assert_eq!((manual, manual_async), (c1.clone(), c1));
        assert_eq!(session(), None, "the conversation ended with its block");
        assert_eq!(now_current(), (None, None));
    }
    assert!(h.finished().is_empty(), "{}", h.render());
    assert_eq!(sampled_out(&h), 12);
}
