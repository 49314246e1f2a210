//! `Span::enter` / `Context::attach` (enter and exit as separate calls, for integrations) and
//! `current_span_ref`.

mod common;

use common::setup;
use staso::{Span, SpanKind};

#[test]
fn entering_a_span_makes_it_the_parent_until_the_guard_drops() {
    let h = setup();
    assert!(staso::current_span_ref().is_none());
    let outer = Span::start("outer", SpanKind::Chain);
    {
        let _g = outer.enter();
        let here = staso::current_span_ref().expect("outer is current");
        assert_eq!(Some(here.span_id.to_string()), outer.span_id());
        staso::span("child", SpanKind::Tool, |_| {});
        let inner = Span::start("inner", SpanKind::Tool);
        let g2 = inner.enter();
        staso::span("grandchild", SpanKind::Tool, |_| {});
        drop(g2);
        inner.end();
        staso::span("second-child", SpanKind::Tool, |_| {});
    }
    assert!(staso::current_span_ref().is_none(), "restored");
    outer.end();
    let outer = h.by_name("outer");
    let inner = h.by_name("inner");
    for (name, parent) in [
        ("child", &outer),
        ("inner", &outer),
        ("grandchild", &inner),
        ("second-child", &outer),
    ] {
        assert_eq!(
            h.by_name(name).span.parent_span_id.as_deref(),
            Some(parent.span.span_id.as_str()),
            "{name}"
        );
    }
}

#[test]
fn a_captured_context_attached_on_another_thread() {
    let h = setup();
    staso::span("root", SpanKind::Agent, |_| {
        let ctx = staso::Context::current();
        std::thread::spawn(move || {
            let _g = ctx.attach();
            staso::span("remote-child", SpanKind::Tool, |_| {});
        })
        .join()
        .expect("thread");
    });
    assert_eq!(
        h.by_name("remote-child").span.parent_span_id,
        Some(h.by_name("root").span.span_id)
    );
}
