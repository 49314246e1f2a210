//! `Err` returns and panics: status `error`, `error_message`, `exception.type`; the panic continues.

mod common;

use common::{attrs, json, setup, setup_with};
use serde_json::json as j;

#[derive(Debug)]
struct LookupError(String);
impl std::fmt::Display for LookupError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "lookup failed for {:?}", self.0)
    }
}
impl std::error::Error for LookupError {}

#[staso::tool]
fn flaky_lookup(key: &str) -> Result<String, LookupError> {
    Err(LookupError(key.to_owned()))
}

#[staso::agent]
fn run_agent_caught(question: &str) -> Result<String, LookupError> {
    match flaky_lookup("alpha") {
        Ok(v) => Ok(v),
        Err(e) => Ok(format!("{question} -> fallback ({e})")),
    }
}

#[staso::agent]
fn run_agent_propagates(_question: &str) -> Result<String, LookupError> {
    let v = flaky_lookup("beta")?;
    Ok(v)
}

#[test]
fn err_is_recorded_like_the_reference() {
    let h = setup();
    run_agent_caught("q1").ok();
    assert!(run_agent_propagates("q2").is_err());
    let tools = h.all_named("flaky_lookup");
    assert_eq!(tools.len(), 2);
    for t in &tools {
        assert_eq!(t.span.status, "error");
        assert_eq!(t.span.output, "", "no output on Err");
        assert_eq!(attrs(t)["exception.type"], "LookupError");
    }
    assert_eq!(
        tools[0].span.error_message.as_deref(),
        Some("lookup failed for \"alpha\"")
    );
    let caught = h.by_name("run_agent_caught");
    assert_eq!(caught.span.status, "ok");
    assert_eq!(caught.span.error_message, None);
    assert_eq!(
        json(&caught.span.output),
        j!({"result": "q1 -> fallback (lookup failed for \"alpha\")"})
    );
    let propagated = h.by_name("run_agent_propagates");
    assert_eq!(propagated.span.status, "error");
    assert_eq!(
        propagated.span.error_message.as_deref(),
        Some("lookup failed for \"beta\"")
    );
}

#[derive(Debug)]
struct DebugOnlyError;

#[staso::trace]
fn debug_err() -> Result<(), DebugOnlyError> {
    Err(DebugOnlyError)
}

#[staso::trace]
fn boxed_err() -> Result<u8, Box<dyn std::error::Error + Send + Sync>> {
    Err("plain message".into())
}

#[test]
fn error_types_without_display_and_boxed() {
    let h = setup();
    debug_err().ok();
    boxed_err().ok();
    let d = h.by_name("debug_err");
    assert_eq!(d.span.error_message.as_deref(), Some("DebugOnlyError"));
    assert_eq!(attrs(&d)["exception.type"], "DebugOnlyError");
    let b = h.by_name("boxed_err");
    assert_eq!(b.span.error_message.as_deref(), Some("plain message"));
    assert_eq!(attrs(&b)["exception.type"], "Box<dyn Error + Send + Sync>");
}

#[staso::tool]
fn explodes(n: u32) -> u32 {
    if n > 0 {
        panic!("exploded with {n}");
    }
    n
}

#[staso::agent]
fn calls_explodes() -> u32 {
    explodes(3)
}

#[test]
fn panic_marks_error_emits_and_propagates() {
    let h = setup();
    let r = std::panic::catch_unwind(calls_explodes);
    assert!(r.is_err(), "the panic reaches the caller");
    let t = h.by_name("explodes");
    assert_eq!(t.span.status, "error");
    assert_eq!(t.span.error_message.as_deref(), Some("exploded with 3"));
    assert_eq!(attrs(&t)["exception.type"], "panic");
    let a = h.by_name("calls_explodes");
    assert_eq!(a.span.status, "error");
    assert_eq!(
        t.span.parent_span_id.as_deref(),
        Some(a.span.span_id.as_str())
    );
    // the context was restored: a new span is a root again
    explodes(0);
    assert_eq!(
        h.all_named("explodes")
            .last()
            .and_then(|s| s.span.parent_span_id.clone()),
        None
    );
}

#[staso::trace]
async fn async_panics() -> u8 {
    tokio::task::yield_now().await;
    panic!("async boom")
}

#[staso::trace]
async fn async_err() -> Result<u8, LookupError> {
    tokio::task::yield_now().await;
    Err(LookupError("x".into()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn async_err_and_panic() {
    let h = setup();
    assert!(async_err().await.is_err());
    let joined = tokio::spawn(async_panics()).await;
    assert!(joined.is_err_and(|e| e.is_panic()));
    let p = h.by_name("async_panics");
    assert_eq!(p.span.status, "error");
    assert_eq!(p.span.error_message.as_deref(), Some("async boom"));
    let e = h.by_name("async_err");
    assert_eq!(e.span.status, "error");
    assert_eq!(attrs(&e)["exception.type"], "LookupError");
}

#[staso::trace]
async fn slow_forever() {
    std::future::pending::<()>().await
}

#[tokio::test]
async fn dropped_future_is_recorded_as_cancelled() {
    let h = setup();
    let r = tokio::time::timeout(std::time::Duration::from_millis(5), slow_forever()).await;
    assert!(r.is_err());
    let s = h.by_name("slow_forever");
    assert_eq!(s.span.status, "error");
    assert_eq!(attrs(&s)["exception.type"], "Cancelled");
}

#[test]
fn error_message_is_withheld_unless_every_category_is_on() {
    let h = setup_with(common::builder().capture_output(false));
    flaky_lookup("k").ok();
    let t = h.by_name("flaky_lookup");
    assert_eq!(t.span.status, "error");
    assert_eq!(t.span.error_message, None);
    assert_eq!(
        attrs(&t)["exception.type"],
        "LookupError",
        "exception.type is always sent"
    );
}
