//! `#[staso::tool(guard)]`: the call is checked before the body runs; a blocked call returns
//! `Err(GuardBlocked.into())` without running the body, a modified input reaches the body through
//! the arguments, and an allowed call runs unchanged — sync (blocking check) and async.

mod guard_common;

use std::sync::atomic::{AtomicUsize, Ordering};

use guard_common::setup;
use serde_json::Value;
use staso::{GuardAction, GuardBlocked};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

static SHELL_RUNS: AtomicUsize = AtomicUsize::new(0);

#[staso::tool(guard)]
fn shell(cmd: String) -> Result<String, BoxError> {
    SHELL_RUNS.fetch_add(1, Ordering::SeqCst);
    Ok(format!("ran {cmd}"))
}

/// An error type of the caller's own that can carry a block.
#[derive(Debug)]
enum LookupError {
    Blocked(Box<GuardBlocked>),
}

impl From<GuardBlocked> for LookupError {
    fn from(b: GuardBlocked) -> Self {
        LookupError::Blocked(Box::new(b))
    }
}

impl std::fmt::Display for LookupError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LookupError::Blocked(b) => write!(f, "{b}"),
        }
    }
}

#[staso::tool(guard, name = "lookup")]
async fn lookup_async(key: &str, limit: u32) -> Result<(String, u32), LookupError> {
    Ok((key.to_owned(), limit))
}

#[staso::tool(guard)]
fn lookup(key: &str, mut limit: u32) -> Result<(String, u32), LookupError> {
    limit = limit.max(1).min(limit);
    Ok((key.to_owned(), limit))
}

#[staso::tool(guard)]
fn greet(name: &str) -> Result<String, BoxError> {
    Ok(format!("hello {name}"))
}

#[test]
fn a_blocked_sync_call_does_not_run_its_body() {
    let env = setup();
    let before = SHELL_RUNS.load(Ordering::SeqCst);
    let err = shell("rm -rf /".to_owned()).expect_err("blocked");
    assert_eq!(SHELL_RUNS.load(Ordering::SeqCst), before);
    let blocked = err.downcast_ref::<GuardBlocked>().expect("a GuardBlocked");
    assert_eq!(blocked.tool_name, "shell");
    assert_eq!(blocked.reason, "destructive command");
    assert_eq!(blocked.rules_triggered, ["no-rm"]);
    assert_eq!(blocked.result.action, GuardAction::Block);
    assert_eq!(
        err.to_string(),
        "Guard blocked tool 'shell': destructive command"
    );
    // The tool span records the block; the guard span is its child.
    let spans = env.spans.finished();
    let tool = spans
        .iter()
        .find(|s| s.span.name == "shell")
        .expect("tool span");
    assert_eq!(tool.span.status, "error");
    assert_eq!(
        tool.span.error_message.as_deref(),
        Some("Guard blocked tool 'shell': destructive command")
    );
    let guard = spans
        .iter()
        .find(|s| s.span.name == "guard:blocked:shell")
        .expect("guard span");
    assert_eq!(
        guard.span.parent_span_id.as_deref(),
        Some(tool.span.span_id.as_str())
    );
    let input: Value = serde_json::from_str(&guard.span.input).expect("input");
    assert_eq!(input["tool_input"], serde_json::json!({"cmd": "rm -rf /"}));
}

#[test]
fn an_allowed_sync_call_runs_unchanged() {
    let _env = setup();
    let before = SHELL_RUNS.load(Ordering::SeqCst);
    assert_eq!(shell("ls".to_owned()).expect("allowed"), "ran ls");
    assert_eq!(SHELL_RUNS.load(Ordering::SeqCst), before + 1);
    assert_eq!(lookup("k", 3).expect("allowed"), ("k".to_owned(), 3));
}

#[test]
fn a_modified_input_reaches_the_body() {
    let _env = setup();
    // clamp-limit rewrites /limit to 10; `key` (a &str) is unchanged, so it stays as passed.
    assert_eq!(lookup("k", 50).expect("modified"), ("k".to_owned(), 10));
}

#[test]
fn a_modified_argument_that_cannot_be_rebuilt_blocks() {
    let _env = setup();
    let err = greet("root").expect_err("cannot rebuild a &str");
    let blocked = err.downcast_ref::<GuardBlocked>().expect("a GuardBlocked");
    assert!(
        blocked.reason.contains("argument `name`") && blocked.reason.contains("`&str` borrows"),
        "{}",
        blocked.reason
    );
    assert_eq!(greet("alice").expect("allowed"), "hello alice");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn async_calls_are_checked_too() {
    let _env = setup();
    assert_eq!(
        lookup_async("k", 2).await.expect("allowed"),
        ("k".to_owned(), 2)
    );
    assert_eq!(
        lookup_async("k", 99).await.expect("modified"),
        ("k".to_owned(), 10)
    );
    match lookup_async("secret", 1).await {
        Err(LookupError::Blocked(b)) => {
            assert_eq!(
                (b.tool_name.as_str(), b.reason.as_str()),
                ("lookup", "secret lookup")
            )
        }
        other => panic!("expected a block, got {other:?}"),
    }
}

/// Has `Debug` but no `Deserialize`: the guard cannot hand it a new value.
#[derive(Debug)]
struct Opaque(#[allow(dead_code)] u32);

#[staso::tool(guard)]
fn rename(who: Opaque) -> Result<String, BoxError> {
    Ok(format!("{who:?}"))
}

#[staso::tool(guard)]
fn count(n: u32) -> Result<u32, BoxError> {
    Ok(n)
}

#[test]
fn modifications_the_call_cannot_take_block() {
    let _l = guard_common::lock();
    let server = guard_common::Recorder::start(|r| {
        let sent = r.json();
        let modified = match sent["tool_name"].as_str() {
            Some("rename") => serde_json::json!({"who": "someone else"}),
            Some("count") => serde_json::json!({"n": 5, "extra": true}),
            _ => serde_json::json!({"n": 7}),
        };
        let mut body = guard_common::allow_echo(r);
        body["action"] = "modify".into();
        body["modified_input"] = modified;
        guard_common::Answer::new(200, body.to_string())
    });
    let spans = staso::InMemoryExporter::new();
    let _client = guard_common::install(&server.base_url, &spans, |b| b);
    let err = rename(Opaque(1)).expect_err("blocked");
    assert!(
        err.to_string().contains("`who`") && err.to_string().contains("DeserializeOwned"),
        "{err}"
    );
    let err = count(1).expect_err("blocked");
    assert!(err.to_string().contains("`extra`"), "{err}");
}
