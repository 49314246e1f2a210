//! The per-thread state's tests: ids, the generator, hinted roots.

use super::dropped_root::*;
use super::shortcut::*;
use super::*;
use crate::context::{Frame, ParentRef};
use crate::shared_str::SharedStr;

#[test]
fn span_ids_are_non_zero_and_do_not_repeat() {
    let ids: std::collections::HashSet<u64> = (0..10_000)
        .filter_map(|_| with(|s| s.span_id().0))
        .collect();
    assert_eq!(ids.len(), 10_000);
    assert!(!ids.contains(&0));
}

#[test]
fn trace_ids_are_non_zero_and_do_not_repeat() {
    let ids: std::collections::HashSet<u128> = (0..10_000)
        .filter_map(|_| with(|s| s.trace_id().0))
        .collect();
    assert_eq!(ids.len(), 10_000);
    assert!(!ids.contains(&0));
}

#[test]
fn a_roots_ids_are_the_draws_of_trace_id_then_span_id() {
    let drawn = with(|s| {
        let start = s.seeded_state();
        shortcut(|t| t.rng.set(start));
        let root = s.root_ids_at(s.seeded_state());
        let after_root = shortcut(|t| t.rng.get());
        shortcut(|t| t.rng.set(start));
        let one_by_one = (s.trace_id(), s.span_id());
        (root, one_by_one, after_root == shortcut(|t| t.rng.get()))
    });
    let Some((root, one_by_one, same_state_after)) = drawn else {
        panic!("the thread state is alive in a test");
    };
    assert_eq!(root, one_by_one);
    assert!(
        same_state_after,
        "both leave the generator at the same state"
    );
}

/// Hints the root drawn from `start`, moving the generator on as drawing it would.
fn draw_and_hint(start: u64, agent: Option<&'static str>) {
    skip_root_ids(start);
    hint_root(start, agent);
}

#[test]
fn a_hinted_root_is_the_root_an_eager_draw_makes_written_when_read() {
    let checked = with(|s| {
        let start = s.seeded_state();
        let (trace_id, span_id) = s.root_ids_at(start);
        let after_eager = shortcut(|t| t.rng.get());
        let eager = ParentRef {
            trace_id,
            span_id,
            recording: false,
            held: false,
        };
        // The same root hinted: the generator moves on as far, the frame is left alone.
        shortcut(|t| t.frame.set(FRAME_EMPTY));
        draw_and_hint(start, None);
        assert_eq!(shortcut(|t| t.rng.get()), after_eager);
        assert!(skip_spans(), "spans under the root return at entry");
        // Read: written into the frame with the eager draw's ids, the same at every read.
        let read = || s.frame.try_borrow().ok().and_then(|f| f.span);
        assert_eq!(read(), Some(eager));
        assert_eq!(read(), Some(eager));
        assert!(skip_spans(), "still current, now in the frame");
        assert!(!frame_state().known_empty());
        assert!(!leave_hinted_root(), "written: the caller clears the frame");
        if let Ok(mut f) = s.frame.try_borrow_mut() {
            f.span = None;
        }
        clear_skip();
        // Not read: leaving it needs no frame, which is then known empty again.
        shortcut(|t| t.frame.set(FRAME_EMPTY));
        draw_and_hint(start, None);
        assert!(leave_hinted_root());
        assert!(frame_state().known_empty() && !skip_spans());
        assert_eq!(read(), None, "never written");
        // Any borrow forgets that the frame is known empty (it may change under it).
        assert!(!frame_state().known_empty());
    });
    assert!(checked.is_some(), "the thread state is alive in a test");
}

#[test]
fn an_agent_roots_hint_writes_its_agent_and_a_later_plain_hint_none() {
    let checked = with(|s| {
        let start = s.seeded_state();
        let read = || s.frame.try_borrow().ok().map(|f| (f.span, f.agent.clone()));
        // An agent root written when read: the root and its agent.
        shortcut(|t| t.frame.set(FRAME_EMPTY));
        draw_and_hint(start, Some("triage"));
        assert!(skip_spans());
        let expected = Some(dropped_root_at(start));
        assert_eq!(read(), Some((expected, Some(SharedStr::Static("triage")))));
        assert!(!leave_hinted_root(), "written: the caller clears the frame");
        if let Ok(mut f) = s.frame.try_borrow_mut() {
            f.span = None;
            f.agent = None;
        }
        clear_skip();
        // Left while hinted: nothing was written, the frame is known empty again.
        shortcut(|t| t.frame.set(FRAME_EMPTY));
        draw_and_hint(start, Some("triage"));
        assert!(leave_hinted_root());
        assert!(frame_state().known_empty());
        // A plain root hinted next carries no agent.
        draw_and_hint(start, None);
        assert_eq!(read(), Some((expected, None)));
        if let Ok(mut f) = s.frame.try_borrow_mut() {
            f.span = None;
        }
        clear_skip();
        assert_eq!(read(), Some((None, None)));
    });
    assert!(checked.is_some(), "the thread state is alive in a test");
}

#[test]
fn threads_draw_different_ids() {
    let first = || with(|s| s.span_id().0);
    let other = std::thread::spawn(first).join().ok().flatten();
    assert!(other.is_some());
    assert_ne!(other, first());
}

#[test]
fn only_a_frame_with_nothing_in_it_is_known_empty() {
    let states = with(|s| {
        let mut states = Vec::new();
        for frame in [
            Frame::EMPTY,
            Frame {
                session: Some(SharedStr::Static("c1")),
                ..Frame::EMPTY
            },
            Frame {
                user: Some(SharedStr::Static("u1")),
                ..Frame::EMPTY
            },
            Frame {
                agent: Some(SharedStr::Static("triage")),
                ..Frame::EMPTY
            },
        ] {
            if let Ok(mut f) = s.frame.try_borrow_mut() {
                *f = frame;
                mirror_frame(&f);
            }
            states.push(frame_state().known_empty());
        }
        if let Ok(mut f) = s.frame.try_borrow_mut() {
            *f = Frame::EMPTY;
        }
        states
    });
    assert_eq!(states, Some(vec![true, false, false, false]));
}

/// A dropped root decided at an empty frame, this thread's frame known empty.
fn decided_root() -> DroppedRoot {
    let start = with(|s| {
        if let Ok(mut f) = s.frame.try_borrow_mut() {
            *f = Frame::EMPTY;
            mirror_frame(&f);
        }
        s.seeded_state()
    });
    start.and_then(DroppedRoot::at).expect("a seeded state")
}

#[test]
fn a_root_run_hinted_and_never_read_leaves_the_frame_untouched() {
    let root = decided_root();
    let mut written = None;
    let inside = run_hinted(
        root,
        Some("triage"),
        || (skip_spans(), frame_state().known_empty()),
        |f| written = Some(f),
    );
    assert_eq!(inside, (true, false), "current while it runs: spans skip");
    assert!(written.is_none());
    assert!(frame_state().known_empty(), "known empty again");
    let frame = with(|s| s.frame.try_borrow().ok().map(|f| f.is_empty()));
    assert_eq!(frame, Some(Some(true)));
}

#[test]
fn a_root_run_hinted_and_read_gives_its_frame_back_and_empties_the_threads() {
    let root = decided_root();
    let mut written = None;
    let seen = run_hinted(
        root,
        Some("triage"),
        || crate::context::with_current(|f| (f.span, f.agent.clone())),
        |f| written = Some(f),
    );
    let expected = (Some(root.ids()), Some(SharedStr::Static("triage")));
    assert_eq!(seen, expected, "readers see the root and its agent");
    let written = written.map(|f| (f.span, f.agent));
    assert_eq!(written, Some(expected), "the frame it left is handed back");
    assert!(frame_state().known_empty());
    let frame = with(|s| s.frame.try_borrow().ok().map(|f| f.is_empty()));
    assert_eq!(frame, Some(Some(true)), "the thread's frame is empty again");
}

#[test]
fn a_root_run_hinted_is_left_when_its_body_panics() {
    for read in [false, true] {
        let root = decided_root();
        let caught = std::panic::catch_unwind(|| {
            run_hinted(
                root,
                Some("triage"),
                || {
                    if read {
                        crate::context::with_current(|f| f.span);
                    }
                    panic!("boom")
                },
                drop,
            )
        });
        assert!(caught.is_err());
        assert!(!skip_spans(), "no longer current (read: {read})");
        assert!(frame_state().known_empty(), "read: {read}");
        let frame = with(|s| s.frame.try_borrow().ok().map(|f| f.is_empty()));
        assert_eq!(frame, Some(Some(true)), "read: {read}");
    }
}
