//! The rough edges of #13 (item 6): `conversation!` with a user and no id or with optional ids,
//! the path and positional forms of the attributes, the top-level `VERSION` and dataset types,
//! `flush_async` on a busy executor, `debug` without a logger, and delivery when a program panics
//! (unwinding, and `flush_on_panic` for abort builds).
//!
//! The process-level cases run in a child process: for a logger, this test binary re-invoked on
//! [`child_process`] with `STASO_ROUGH_EDGES_CHILD` naming the case; for a panic out of `main`,
//! the `panic_in_main` example (`tests/examples/`), built by the test with cargo — once as is and
//! once with `-C panic=abort`.

mod common;
mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use staso::SpanKind;

/// The child case to run; unset in the parent.
const CHILD: &str = "STASO_ROUGH_EDGES_CHILD";
/// The ingest URL the child sends to.
const CHILD_URL: &str = "STASO_ROUGH_EDGES_URL";
/// The two panic tests build the same example binary (unwinding, then aborting): one at a time.
static BUILD: Mutex<()> = Mutex::new(());

#[staso::tool]
fn step(n: u32) -> u32 {
    n
}

fn current_thread_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("runtime")
}

// ---- conversation! ----------------------------------------------------------------------------

#[test]
fn conversation_with_a_user_and_no_id_gets_a_fresh_id() {
    let h = common::setup();
    let v = staso::conversation!(user_id = "user-bob", { step(1) });
    let fut = staso::conversation!(user_id = String::from("user-carol"), async { step(2) });
    let w = current_thread_runtime().block_on(fut);
    assert_eq!((v, w), (1, 2));
    let spans = h.all_named("step");
    let got: Vec<(&str, bool)> = spans
        .iter()
        .map(|s| {
            let fresh = uuid::Uuid::parse_str(&s.span.session_id).is_ok();
            (s.span.user_id.as_str(), fresh)
        })
        .collect();
    assert_eq!(got, [("user-bob", true), ("user-carol", true)]);
    assert_ne!(spans[0].span.session_id, spans[1].span.session_id);
}

#[test]
fn conversation_takes_optional_ids() {
    let h = common::setup();
    step(0);
    let some_id: Option<String> = Some("conv-7".into());
    let some_user: Option<&str> = Some("user-1");
    let no_id: Option<&str> = None;
    let no_user: Option<String> = None;
    staso::conversation!(some_id, user_id = some_user, { step(1) });
    staso::conversation!(no_id, user_id = no_user.clone(), { step(2) });
    let fut = staso::conversation!(no_id, user_id = some_user, async { step(3) });
    current_thread_runtime().block_on(fut);
    staso::conversation!("conv-8", user_id = no_user, { step(4) });
    let spans = h.all_named("step");
    let outside = &spans[0].span;
    let ids: Vec<(String, &str)> = spans[1..]
        .iter()
        .map(|s| {
            let id = &s.span.session_id;
            let id = if uuid::Uuid::parse_str(id).is_ok() && *id != outside.session_id {
                "<fresh>".to_owned()
            } else {
                id.clone()
            };
            (id, s.span.user_id.as_str())
        })
        .collect();
    let no_user = outside.user_id.as_str();
    assert_eq!(
        ids,
        [
            ("conv-7".to_owned(), "user-1"),
            ("<fresh>".to_owned(), no_user),
            ("<fresh>".to_owned(), "user-1"),
            ("conv-8".to_owned(), no_user),
        ]
    );
}

// ---- attribute forms --------------------------------------------------------------------------

#[staso::trace(kind = SpanKind::Llm)]
fn kind_by_path() {}

#[staso::trace(kind = staso::SpanKind::Retriever)]
fn kind_by_full_path() {}

#[staso::trace("positional-trace", kind = "tool")]
fn trace_named() {}

#[staso::tool("positional-tool")]
fn tool_named() {}

#[staso::agent("positional-agent")]
fn agent_named() {
    tool_named();
}

#[test]
fn kind_paths_and_positional_names() {
    let h = common::setup();
    kind_by_path();
    kind_by_full_path();
    trace_named();
    agent_named();
    let mut got: Vec<(String, String)> = h
        .finished()
        .into_iter()
        .map(|s| (s.span.name, s.span.kind))
        .collect();
    got.sort();
    let want = [
        ("kind_by_full_path", "retriever"),
        ("kind_by_path", "llm"),
        ("positional-agent", "agent"),
        ("positional-tool", "tool"),
        ("positional-trace", "tool"),
    ];
    let want: Vec<(String, String)> = want
        .iter()
        .map(|(n, k)| (n.to_string(), k.to_string()))
        .collect();
    assert_eq!(got, want, "{}", h.render());
}

// ---- the facade's top level -------------------------------------------------------------------

#[test]
fn version_and_dataset_types_at_the_top_level() {
    assert_eq!(staso::VERSION, env!("CARGO_PKG_VERSION"));
    // The same types as in `staso::dataset`.
    let _: fn(staso::Dataset) -> staso::dataset::Dataset = |d| d;
    let _: fn(staso::DatasetEntry) -> staso::dataset::DatasetEntry = |e| e;
    let _: fn(staso::EvalSummary) -> staso::dataset::EvalSummary = |s| s;
    let _: fn(staso::StasoDatasetError) -> staso::dataset::StasoDatasetError = |e| e;
    let _: fn(staso::EvalResult) -> staso::dataset::EvalResult = |r| r;
    let _: fn(staso::DatasetErrorKind) -> staso::dataset::DatasetErrorKind = |k| k;
}

// ---- flush_async ------------------------------------------------------------------------------

#[test]
fn flush_async_leaves_the_executor_thread_free() {
    let _lock = common::setup();
    // Ingest requests are held until released: a stalled backend.
    let server = support::Server::start(
        Vec::new(),
        support::Reply::Hold(Box::new(support::Reply::Ack)),
    );
    let config = support::test_config(&server.url()).flush_interval(Duration::from_secs(60));
    let client = staso::init(support::build(config)).expect("init");
    step(1);
    let rt = current_thread_runtime();
    let (ticks, report) = rt.block_on(async {
        let ticks = Arc::new(AtomicU32::new(0));
        let counter = ticks.clone();
        let ticker = tokio::spawn(async move {
            loop {
                counter.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        });
        let flush = staso::flush_async(Duration::from_millis(600));
        assert_send(&flush);
        let report = flush.await;
        ticker.abort();
        (ticks.load(Ordering::Relaxed), report)
    });
    assert!(report.timed_out && report.pending > 0, "{report:?}");
    // Blocking the thread for 600 ms would leave the ticker at 0 (it never got polled).
    assert!(
        ticks >= 20,
        "the spawned task ran {ticks} times while flush_async waited 600 ms"
    );
    server.release();
    let shutdown = client.shutdown_async(Duration::from_secs(10));
    assert_send(&shutdown);
    let report = rt.block_on(shutdown);
    assert!(report.ok() && report.delivered > 0, "{report:?}");
    assert_eq!(server.assert_delivered_once(), 1);
}

/// The futures can be spawned on a multi-threaded runtime.
fn assert_send<T: Send>(_: &T) {}

// ---- process-level cases, in a child process --------------------------------------------------

/// Runs the child `case` with `url` as its ingest URL; returns its output.
fn run_child(case: &str, url: &str) -> Output {
    let exe = std::env::current_exe().expect("test binary path");
    Command::new(exe)
        .args([
            "child_process",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD, case)
        .env(CHILD_URL, url)
        .env_remove("RUST_LOG")
        .output()
        .expect("run the child process")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A client with `debug` on, sending to the parent's server.
fn child_client() -> staso::Client {
    let url = std::env::var(CHILD_URL).unwrap_or_default();
    let config = support::test_config(&url).debug(true);
    staso::init(support::build(config)).expect("init")
}

/// The child cases. A no-op in the normal test run.
#[test]
fn child_process() {
    let Ok(case) = std::env::var(CHILD) else {
        return;
    };
    match case.as_str() {
        "debug_without_logger" => {
            let _staso = child_client();
        }
        "debug_with_own_logger" => {
            let logs = staso_tests::logs::captured_logs();
            let _staso = child_client();
            let lines = logs.lock().unwrap_or_else(|e| e.into_inner()).clone();
            assert!(
                lines
                    .iter()
                    .any(|l| l.contains("staso: client initialised")),
                "the program's own logger got staso's diagnostics: {lines:?}"
            );
        }
        other => panic!("unknown child case {other:?}"),
    }
}

#[test]
fn debug_without_a_logger_shows_diagnostics_on_stderr() {
    let server = support::Server::acking();
    let out = run_child("debug_without_logger", &server.url());
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains("[DEBUG staso_core") && err.contains("staso: client initialised"),
        "stderr: {err}"
    );
    assert!(!err.contains(support::API_KEY), "the api key leaked: {err}");
}

#[test]
fn debug_never_replaces_the_programs_logger() {
    let server = support::Server::acking();
    let out = run_child("debug_with_own_logger", &server.url());
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    assert!(!err.contains("[DEBUG staso"), "stderr: {err}");
}

/// Builds the `panic_in_main` example of this crate (`tests/examples/`) with `rustc_args` for its
/// own crate only, and returns the path of the binary. Cargo serializes concurrent builds.
fn build_panic_in_main(rustc_args: &[&str]) -> PathBuf {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(env!("CARGO_MANIFEST_DIR"));
    let sub = if rustc_args.is_empty() {
        "build"
    } else {
        "rustc"
    };
    cmd.args([
        sub,
        "--example",
        "panic_in_main",
        "--offline",
        "--message-format=json",
    ]);
    if !rustc_args.is_empty() {
        cmd.arg("--").args(rustc_args);
    }
    let out = cmd.output().expect("run cargo");
    assert!(out.status.success(), "{}", stderr(&out));
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|m| m["reason"] == "compiler-artifact" && m["target"]["name"] == "panic_in_main")
        .find_map(|m| m["executable"].as_str().map(PathBuf::from))
        .expect("the example's executable")
}

/// Runs the example binary against `server` with `mode`; returns its output.
fn run_panic_in_main(exe: &Path, server: &support::Server, mode: &str) -> Output {
    Command::new(exe)
        .args([server.url().as_str(), mode])
        .env_remove("RUST_LOG")
        .output()
        .expect("run the example")
}

#[test]
fn a_panic_unwinding_out_of_main_still_delivers() {
    let _build = BUILD.lock().unwrap_or_else(|e| e.into_inner());
    let exe = build_panic_in_main(&[]);
    let server = support::Server::acking();
    let out = run_panic_in_main(&exe, &server, "");
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(101), "a panic out of main: {err}");
    assert!(err.contains("boom after two spans"), "{err}");
    assert_eq!(server.assert_delivered_once(), 2, "stderr: {err}");

    // The control: with the owner leaked instead of dropped, nothing reaches the server — so the
    // spans above arrived because dropping the client during unwinding drained it.
    let server = support::Server::acking();
    let out = run_panic_in_main(&exe, &server, "forget");
    assert_eq!(out.status.code(), Some(101), "{}", stderr(&out));
    assert_eq!(server.assert_delivered_once(), 0);
}

#[test]
fn flush_on_panic_delivers_before_an_abort() {
    let _build = BUILD.lock().unwrap_or_else(|e| e.into_inner());
    // `-C panic=abort` for the example's own crate: its panic runtime aborts (no unwinding, the
    // client is never dropped), as a `panic = "abort"` profile would make it.
    let exe = build_panic_in_main(&["-C", "panic=abort"]);
    let server = support::Server::acking();
    let out = run_panic_in_main(&exe, &server, "flush_on_panic");
    let err = stderr(&out);
    assert_eq!(out.status.code(), None, "killed by SIGABRT: {err}");
    assert!(err.contains("boom after two spans"), "{err}");
    assert_eq!(server.assert_delivered_once(), 2, "stderr: {err}");

    // The control: the same abort without the hook loses the spans.
    let server = support::Server::acking();
    let out = run_panic_in_main(&exe, &server, "");
    assert_eq!(out.status.code(), None, "{}", stderr(&out));
    assert_eq!(server.assert_delivered_once(), 0);
}
