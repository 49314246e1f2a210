//! With `enabled(false)` — and with no client at all — everything runs the user's code unchanged
//! and records nothing.

mod common;

use std::sync::atomic::{AtomicU32, Ordering};

use common::{builder, setup_with};
use serde::Serialize;

static CALLS: AtomicU32 = AtomicU32::new(0);

struct Panicky;
impl Serialize for Panicky {
    fn serialize<S: serde::Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
        panic!("nothing is serialized when disabled")
    }
}

#[staso::agent]
fn agent(p: &Panicky) -> Result<u32, String> {
    let _ = p;
    CALLS.fetch_add(1, Ordering::SeqCst);
    let n = tool(2)?;
    Ok(n + staso::span("m", staso::SpanKind::Chain, |s| {
        s.set_metadata("k", 1);
        assert!(!s.is_recording());
        1
    }))
}

#[staso::tool]
fn tool(n: u32) -> Result<u32, String> {
    if n == 0 { Err("zero".into()) } else { Ok(n) }
}

#[staso::trace]
async fn async_step(n: u32) -> u32 {
    tokio::task::yield_now().await;
    n
}

#[test]
fn disabled_client_runs_everything_and_records_nothing() {
    let h = setup_with(builder().enabled(false));
    let calls_before = CALLS.load(Ordering::SeqCst);
    assert_eq!(agent(&Panicky), Ok(3));
    assert_eq!(tool(0), Err("zero".to_owned()));
    assert_eq!(staso::conversation!("c", { tool(5) }), Ok(5));
    let rt = tokio::runtime::Builder::new_current_thread().build().ok();
    assert_eq!(rt.map(|rt| rt.block_on(async_step(4))), Some(4));
    assert!(h.spans.spans().is_empty());
    assert_eq!(
        CALLS.load(Ordering::SeqCst),
        calls_before + 1,
        "the body ran exactly once"
    );
    let client = staso::get_client().expect("a disabled client is still installed");
    assert!(!client.is_enabled());
    let report = staso::flush(std::time::Duration::from_millis(10));
    assert!(report.ok());
    assert_eq!(
        report.last_failure,
        Some(staso::DeliveryFailureKind::Disabled)
    );
}

#[test]
fn no_client_at_all() {
    let mut h = setup_with(builder());
    h.drop_client();
    assert!(staso::get_client().is_none());
    assert_eq!(agent(&Panicky), Ok(3));
    let s = staso::Span::start("x", staso::SpanKind::Chain);
    assert_eq!(s.trace_id(), None);
    assert_eq!(s.end(), None);
    assert!(staso::shutdown(std::time::Duration::from_millis(1)).ok());
}

#[test]
fn disabled_config_builds_without_credentials() {
    let c = staso::Config::builder()
        .enabled(false)
        .build_with_env(|_| None);
    assert!(c.is_ok_and(|c| !c.enabled()));
}
