//! Reading the current span every way a program can (the current context, propagation, a
//! context captured into another thread), for the tests of roots that head sampling drops: each
//! way must see the same ids, at every ask.

use staso::ParentRef;

/// The `traceparent` header propagation writes now.
pub fn traceparent() -> Option<String> {
    let mut headers = http::HeaderMap::new();
    staso::propagation::inject(&mut headers);
    headers
        .get("traceparent")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// The current span (recording or not) and agent.
pub fn now_current() -> (Option<ParentRef>, Option<String>) {
    let ctx = staso::Context::current();
    let frame = ctx.frame();
    (frame.span, frame.agent.as_deref().map(str::to_owned))
}

/// The current span, recording or not.
pub fn current_span() -> Option<ParentRef> {
    now_current().0
}

/// What a root's body sees of itself, asked several ways ([`look_around`]).
#[derive(Debug)]
pub struct Seen {
    pub first: Option<String>,
    pub current: (Option<ParentRef>, Option<String>),
    pub second: Option<String>,
    pub in_thread: (Option<ParentRef>, Option<String>),
    pub thread_traceparent: Option<String>,
}

/// Asks for the current span several ways: propagation, the current context, propagation
/// again, and the current context captured and attached in another thread.
pub fn look_around() -> Seen {
    let first = traceparent();
    let current = now_current();
    let second = traceparent();
    let ctx = staso::Context::current();
    let (in_thread, thread_traceparent) =
        std::thread::spawn(move || ctx.in_scope(|| (now_current(), traceparent())))
            .join()
            .expect("the thread");
    Seen {
        first,
        current,
        second,
        in_thread,
        thread_traceparent,
    }
}

/// The root `seen` describes, checked for agreement between every way of asking.
pub fn agreed_root(seen: &Seen) -> ParentRef {
    let me = seen.current.0.expect("the root is current");
    assert_ne!(me.trace_id.0, 0);
    assert_ne!(me.span_id.0, 0);
    let flag = if me.recording { "01" } else { "00" };
    let expected = format!("00-{:032x}-{:016x}-{flag}", me.trace_id.0, me.span_id.0);
    assert_eq!(seen.first.as_deref(), Some(expected.as_str()), "{seen:?}");
    assert_eq!(seen.second, seen.first, "the same ids at every ask");
    assert_eq!(seen.thread_traceparent, seen.first, "a captured context");
    assert_eq!(seen.in_thread, seen.current, "{seen:?}");
    me
}
