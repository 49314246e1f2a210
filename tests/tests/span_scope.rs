//! Which span is current before, during and after an instrumented sync call: sync fns enter their
//! span already current (`enter_current`) and put the caller's span back when they end, whether
//! they return, return `Err`, panic, or are never run.

mod common;

use std::panic::{AssertUnwindSafe, catch_unwind};

use common::setup;

/// `(trace id, span id)` of the current span, as `staso::current_span_ids` gives them.
type Ids = Option<(String, String)>;

#[staso::tool]
fn inner_ids() -> Ids {
    staso::current_span_ids()
}

#[staso::trace]
fn outer_ids() -> (Ids, Ids) {
    let mine = staso::current_span_ids();
    let inner = inner_ids();
    // After the child returned, this span is current again.
    assert_eq!(staso::current_span_ids(), mine);
    (mine, inner)
}

#[staso::tool]
fn fails() -> Result<(), std::fmt::Error> {
    Err(std::fmt::Error)
}

#[staso::tool]
fn panics() -> u32 {
    panic!("tool panicked")
}

#[staso::agent(name = "scoped-agent")]
fn agent_ids() -> Ids {
    inner_ids()
}

#[test]
fn a_sync_span_is_current_inside_and_the_caller_is_current_after() {
    let h = setup();
    assert_eq!(staso::current_span_ids(), None);
    let (outer, inner) = outer_ids();
    assert_eq!(
        staso::current_span_ids(),
        None,
        "nothing current after a root"
    );
    let outer_span = h.by_name("outer_ids");
    let inner_span = h.by_name("inner_ids");
    let (trace, outer_id) = outer.expect("outer current inside");
    assert_eq!(outer_id, outer_span.span.span_id);
    assert_eq!(trace, outer_span.trace_id);
    let (_, inner_id) = inner.expect("inner current inside");
    assert_eq!(inner_id, inner_span.span.span_id);
    assert_eq!(inner_span.span.parent_span_id.as_deref(), Some(&*outer_id));
}

#[test]
fn the_caller_is_current_again_after_err_and_panic() {
    let h = setup();
    let parent = staso::Span::start("parent", staso::SpanKind::Chain);
    parent.in_scope(|| {
        let before = staso::current_span_ids();
        assert!(before.is_some());
        assert!(fails().is_err());
        assert_eq!(staso::current_span_ids(), before, "after Err");
        let caught = catch_unwind(AssertUnwindSafe(panics));
        assert!(caught.is_err());
        assert_eq!(staso::current_span_ids(), before, "after a panic");
        // A sibling created after both is the parent's child, not theirs.
        inner_ids();
    });
    parent.end();
    let parent_id = h.by_name("parent").span.span_id;
    for name in ["fails", "panics", "inner_ids"] {
        assert_eq!(
            h.by_name(name).span.parent_span_id.as_deref(),
            Some(&*parent_id),
            "{name}"
        );
    }
    assert_eq!(h.by_name("panics").span.status, "error");
}

#[test]
fn an_agent_restores_the_caller_span_and_agent() {
    let h = setup();
    let inner = agent_ids().expect("inner current inside the agent");
    assert_eq!(staso::current_span_ids(), None);
    let tool = h
        .all_named("inner_ids")
        .into_iter()
        .find(|s| s.span.span_id == inner.1)
        .expect("the agent's tool span");
    assert_eq!(tool.span.agent_name, "scoped-agent");
    // Outside the agent, the configured agent name applies again.
    inner_ids();
    let outside = h
        .all_named("inner_ids")
        .into_iter()
        .find(|s| s.span.span_id != inner.1)
        .expect("the second tool span");
    assert_eq!(outside.span.agent_name, "demo");
}

static SITE: staso::__private::CallSite = staso::__private::CallSite {
    name: "never_run",
    kind: staso::__private::SpanKind::Tool,
    role: staso::__private::Role::Tool,
    tags: &[],
    function: "never_run",
    file: file!(),
    line: line!(),
    manifest_dir: env!("CARGO_MANIFEST_DIR"),
    capture_input: false,
    capture_output: false,
    abs_file: staso::__private::OnceLock::new(),
};

#[test]
fn a_span_entered_current_but_never_run_puts_the_caller_back_when_dropped() {
    let h = setup();
    let parent = staso::Span::start("holder", staso::SpanKind::Chain);
    parent.in_scope(|| {
        let before = staso::current_span_ids();
        let span = staso::__private::enter_current(&SITE, |_| {});
        assert!(span.is_recording());
        assert_ne!(staso::current_span_ids(), before, "entered current");
        drop(span);
        assert_eq!(staso::current_span_ids(), before, "put back on drop");
    });
    parent.end();
    let never = h.by_name("never_run");
    assert_eq!(
        never.span.status, "error",
        "a span dropped unrun is recorded as cancelled"
    );
}
