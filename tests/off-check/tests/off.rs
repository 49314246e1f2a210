//! With staso's `off` feature (this target needs `--features off`): the attributes leave each fn as
//! written, `conversation!` is its body, the span API records nothing even with an enabled client
//! and an in-memory exporter, and `init` starts no delivery: nothing reaches the network.
#![deny(warnings)]

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use staso::{InMemoryExporter, LlmCall, Span, SpanKind};
use staso_off_check::{SearchError, answer, complete, search};

// Compile-time proof that the attributes emit the fn as written: the instrumented expansion (a
// `static` call site, closures, calls into the runtime) cannot be a `const fn`.
#[staso::trace(kind = "chain", tags = ["math"], metadata = { "k": 2 })]
const fn double(x: u32) -> u32 {
    x * 2
}

#[staso::tool(guard, name = "checked")]
const fn checked(x: u32) -> Result<u32, SearchError> {
    Ok(x + 1)
}

#[staso::agent("const-agent")]
const fn const_agent() -> u32 {
    double(20) + 2
}

const _: () = assert!(double(21) == 42);
const _: () = assert!(matches!(checked(1), Ok(2)));
const _: () = assert!(const_agent() == 42);

fn enabled_config(base_url: &str) -> staso::Config {
    staso::Config::builder()
        .api_key("ak_off_check")
        .agent_name("off-check")
        .base_url(base_url)
        .capture_git(false)
        .build()
        .expect("a valid enabled config")
}

/// Everything the SDK would record, run under an enabled client with an in-memory exporter.
async fn instrumented_run() -> Result<String, SearchError> {
    let a = staso::conversation!("conv-off", user_id = "user-off", async {
        answer("refund policy").await
    })
    .await?;
    let manual = Span::start("manual", SpanKind::Tool);
    manual.set_input(&a);
    manual.set_output(1);
    manual.record_llm(LlmCall::new("gpt-4o", "openai").tokens(10, 2));
    assert!(!manual.is_recording());
    assert_eq!(manual.trace_id(), None);
    assert_eq!(manual.end(), None);
    let root = staso::start_trace("nightly", |t| {
        t.add_tag("batch");
        t.is_recording()
    });
    assert!(!root);
    let via_span = staso::span_async("fetch", SpanKind::Retriever, async |s| {
        s.set_metadata("source", "faq");
        complete("ping".to_owned()).await
    })
    .await;
    assert_eq!(via_span, "answer to ping");
    Ok(a)
}

#[tokio::test]
async fn nothing_is_recorded_even_with_an_enabled_client_and_an_exporter() {
    let exporter = Arc::new(InMemoryExporter::new());
    let client = staso::init_with_exporter(enabled_config("http://127.0.0.1:9"), exporter.clone())
        .expect("init");
    assert!(!client.is_enabled(), "with `off`, every client is disabled");

    let reply = instrumented_run().await;
    assert_eq!(
        reply.as_deref(),
        Ok("answer to refund policy (2 docs)"),
        "the instrumented fns run as plain code"
    );
    let trace = staso::llm_trace("summarise", LlmCall::new("gpt-4o-mini", "openai"));
    assert!(trace.is_ok(), "llm_trace keeps its contract: {trace:?}");
    assert_eq!(staso::current_span_ids(), None);

    let report = client.flush(Duration::from_secs(1));
    assert_eq!(report.accepted, 0, "{report:?}");
    assert_eq!(exporter.spans().len(), 0, "{}", exporter.render());
    assert_eq!(client.shutdown(Duration::from_secs(1)).accepted, 0);
}

#[test]
fn the_attributes_leave_the_fn_as_written() {
    // `?` and early returns of the user's body, errors of the guarded tool as its own.
    assert_eq!(search("", "token", 1), Err(SearchError::EmptyQuery));
    assert_eq!(search("q", "", 1), Err(SearchError::Unauthorized));
    assert_eq!(search("q", "token", 2).map(|d| d.len()), Ok(2));
    // Inside an instrumented fn no span is current.
    #[staso::trace]
    fn inside() -> (bool, Option<(String, String)>) {
        (Span::current().is_recording(), staso::current_span_ids())
    }
    assert_eq!(inside(), (false, None));
    // The fn is the user's fn: a fn pointer of its exact signature.
    let f: fn(u32) -> u32 = double;
    assert_eq!(f(4), 8);
}

#[test]
fn conversation_is_its_block_and_evaluates_no_id() {
    let mut evaluated = 0;
    let mut id = || {
        evaluated += 1;
        format!("conv-{evaluated}")
    };
    let inside = staso::conversation!(id(), user_id = "user-x", {
        (staso::current_session_id(), staso::current_user_id())
    });
    assert_eq!(inside, (None, None), "no conversation is set");
    assert_eq!(evaluated, 0, "the id expression is not evaluated");

    // `return` and `?` in the block act on the enclosing fn, as in the normal build.
    fn early(fail: bool) -> Result<u32, String> {
        let n = staso::conversation!("c", {
            if fail {
                Err("failed".to_owned())?;
            }
            if n_is_seven() {
                return Ok(7);
            }
            0
        });
        Ok(n)
    }
    fn n_is_seven() -> bool {
        true
    }
    assert_eq!(early(false), Ok(7));
    assert_eq!(early(true), Err("failed".to_owned()));

    let user: Option<&str> = None;
    let fut = staso::conversation!(user_id = user, async move { 1 + 1 });
    assert_eq!(futures_lite_block_on(fut), 2);
}

/// Polls a future that never waits (no executor needed).
fn futures_lite_block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a current-thread runtime")
        .block_on(f)
}

#[tokio::test]
async fn init_starts_no_delivery_and_nothing_reaches_the_network() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("a loopback listener");
    listener.set_nonblocking(true).expect("non-blocking");
    let base = format!("http://{}", listener.local_addr().expect("its address"));
    let client = staso::init(enabled_config(&base)).expect("init");
    assert!(!client.is_enabled());

    // Spans, a guarded tool (normally a call to the guard API at `base`), an annotation.
    let reply = instrumented_run().await;
    assert!(reply.is_ok(), "{reply:?}");
    let annotated = staso::Span::current().annotate("quality", 1.0, None);
    assert!(annotated.is_ok(), "{annotated:?}");
    assert_eq!(staso_threads(), Vec::<String>::new(), "no delivery worker");
    let report = client.flush(Duration::from_secs(1));
    assert_eq!(report.accepted, 0, "{report:?}");
    drop(client);

    match listener.accept() {
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
        other => panic!("something connected to the backend: {other:?}"),
    }
}

/// The names of this process's threads that staso started (`staso-transport`, `staso-otlp`, …).
#[cfg(target_os = "linux")]
fn staso_threads() -> Vec<String> {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return Vec::new();
    };
    tasks
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
        .map(|name| name.trim().to_owned())
        .filter(|name| name.starts_with("staso"))
        .collect()
}

#[cfg(not(target_os = "linux"))]
fn staso_threads() -> Vec<String> {
    Vec::new()
}
