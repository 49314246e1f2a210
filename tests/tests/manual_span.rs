//! Manual spans: the closure forms, the handle form, setters, drop_span, panics and `Err`.

mod common;

use common::{attrs, json, setup};
use serde_json::json as j;
use staso::{SpanKind, SpanStatus};

#[staso::agent]
fn with_manual(docs: Vec<u32>) -> u32 {
    staso::span("score-docs", SpanKind::Chain, |s| {
        s.set_metadata("n", docs.len());
        s.set_input(&docs);
        let score: u32 = docs.iter().sum();
        s.set_output(j!({"score": score}));
        s.set_model("gpt-4o-mini");
        s.set_model("gpt-4o-mini-2024");
        s.set_provider("openai");
        s.set_tokens(10, 5);
        score
    })
}

#[test]
fn closure_form_records_setters_under_the_current_span() {
    let h = setup();
    assert_eq!(with_manual(vec![1, 2]), 3);
    let s = h.by_name("score-docs");
    let agent = h.by_name("with_manual");
    assert_eq!(
        s.span.parent_span_id.as_deref(),
        Some(agent.span.span_id.as_str())
    );
    assert_eq!(s.span.kind, "chain");
    assert_eq!(attrs(&s), j!({"n": 2}));
    assert_eq!(json(&s.span.input), j!([1, 2]));
    assert_eq!(json(&s.span.output), j!({"score": 3}));
    assert_eq!(s.span.model, "gpt-4o-mini-2024");
    assert_eq!(s.span.requested_model, "gpt-4o-mini");
    assert_eq!(s.span.provider, "openai");
    assert_eq!(
        (
            s.span.input_tokens,
            s.span.output_tokens,
            s.span.total_tokens
        ),
        (10, 5, 15)
    );
    assert_eq!(s.span.agent_name, "with_manual");
    assert!(
        !h.spans
            .spans()
            .iter()
            .any(|x| x.span.name == "score-docs" && x.span.is_provisional_root()),
        "manual spans never emit a snapshot"
    );
}

#[test]
fn status_description_and_record_exception() {
    let h = setup();
    staso::span("a", SpanKind::Custom, |s| {
        s.set_status(SpanStatus::Error, "bad input")
    });
    staso::span("b", SpanKind::Custom, |s| {
        s.set_status(SpanStatus::Timeout, None)
    });
    staso::span("c", SpanKind::Custom, |s| {
        s.record_exception(&std::io::Error::other("disk full"))
    });
    let a = h.by_name("a");
    assert_eq!(
        (a.span.status.as_str(), a.span.error_message.as_deref()),
        ("error", Some("bad input"))
    );
    let b = h.by_name("b");
    assert_eq!(
        (b.span.status.as_str(), b.span.error_message.as_deref()),
        ("timeout", None)
    );
    let c = h.by_name("c");
    assert_eq!(c.span.status, "error");
    assert_eq!(c.span.error_message.as_deref(), Some("disk full"));
    assert_eq!(attrs(&c)["exception.type"], "Error");
}

#[test]
fn try_span_records_err_and_span_records_panic() {
    let h = setup();
    let r: Result<u8, String> =
        staso::try_span("fails", SpanKind::Tool, |_| Err("nope".to_owned()));
    assert!(r.is_err());
    let p =
        std::panic::catch_unwind(|| staso::span("panics", SpanKind::Chain, |_| panic!("kaboom")));
    assert!(p.is_err());
    let f = h.by_name("fails");
    assert_eq!(
        (f.span.status.as_str(), f.span.error_message.as_deref()),
        ("error", Some("nope"))
    );
    let p = h.by_name("panics");
    assert_eq!(
        (p.span.status.as_str(), p.span.error_message.as_deref()),
        ("error", Some("kaboom"))
    );
    assert_eq!(attrs(&p)["exception.type"], "panic");
}

#[test]
fn handle_form_and_idempotent_end() {
    let h = setup();
    let s = staso::Span::start("handle", SpanKind::Retriever);
    let child = s.in_scope(|| staso::span("inner", SpanKind::Chain, |c| c.span_id()));
    s.set_metadata("hits", 3);
    let first = s.end();
    assert!(first.is_some_and(|r| r.accepted));
    assert_eq!(s.end(), None, "a second end does nothing");
    s.set_metadata("late", 1);
    let hs = h.by_name("handle");
    assert_eq!(attrs(&hs), j!({"hits": 3}));
    let inner = h.by_name("inner");
    assert_eq!(Some(inner.span.span_id.clone()), child);
    assert_eq!(
        inner.span.parent_span_id.as_deref(),
        Some(hs.span.span_id.as_str())
    );
    assert_eq!(h.all_named("handle").len(), 1);
}

#[test]
fn drop_span_discards_it_and_its_descendants() {
    let h = setup();
    staso::span("kept-before", SpanKind::Chain, |_| ());
    staso::span("dropped", SpanKind::Chain, |s| {
        staso::span("emitted-before-drop", SpanKind::Chain, |_| ());
        s.drop_span();
        staso::span("child-after-drop", SpanKind::Chain, |c| {
            assert!(!c.is_recording());
            staso::span("grandchild", SpanKind::Chain, |_| ());
        });
    });
    staso::span("kept-after", SpanKind::Chain, |_| ());
    let names: Vec<_> = h.finished().into_iter().map(|s| s.span.name).collect();
    assert_eq!(
        names,
        vec!["kept-before", "emitted-before-drop", "kept-after"]
    );
    assert_eq!(h.by_name("kept-after").span.parent_span_id, None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn async_closure_form() {
    let h = setup();
    let n = staso::span_async("fetch", SpanKind::Retriever, async |s| {
        s.set_metadata("source", "faq");
        tokio::task::yield_now().await;
        staso::span("nested", SpanKind::Chain, |_| 2)
    })
    .await;
    assert_eq!(n, 2);
    let r: Result<(), std::io::Error> =
        staso::try_span_async("async-fail", SpanKind::Tool, async |_| {
            tokio::task::yield_now().await;
            Err(std::io::Error::other("gone"))
        })
        .await;
    assert!(r.is_err());
    let f = h.by_name("fetch");
    assert_eq!(
        h.by_name("nested").span.parent_span_id.as_deref(),
        Some(f.span.span_id.as_str())
    );
    assert_eq!(
        h.by_name("async-fail").span.error_message.as_deref(),
        Some("gone")
    );
}

/// The call side of `Span::annotate`; delivery (which needs the HTTP transport, not the in-memory
/// exporter used here) is tested end to end in `annotations_delivery.rs`.
#[test]
fn annotate_checks_the_call() {
    let _h = setup();
    staso::span("rated", SpanKind::Chain, |s| {
        assert!(s.annotate("quality", 0.9, "good").is_ok());
        assert!(s.annotate("label", "refund", None).is_ok());
        assert!(s.annotate("reviewed", true, "a plain comment").is_ok());
        assert_eq!(
            s.annotate("", true, None),
            Err(staso::AnnotationError::EmptyName),
            "an empty name is an error at the call"
        );
    });
}
