//! A program whose `main` panics after recording two spans, for `tests/rough_edges.rs`: the value
//! `init` returned is dropped while the panic unwinds out of `main`, and that drains the client.
//!
//! `panic_in_main <ingest url> [flush_on_panic | forget]`. Built by the test as is (unwinding), or
//! with `-C panic=abort`, where nothing is dropped and only `flush_on_panic` delivers the spans.
//! `forget` leaks the client instead of dropping it (the control: nothing is sent). Partial batches
//! wait 60 s, so only a flush or shutdown sends the spans.

use std::time::Duration;

#[staso::tool]
fn step(n: u32) -> u32 {
    n
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let url = args
        .next()
        .ok_or("usage: panic_in_main <ingest url> [flush_on_panic | forget]")?;
    let config = staso::Config::builder()
        .api_key("ak_test_SECRET_5f3c")
        .agent_name("demo")
        .base_url(url)
        .capture_git(false)
        .flush_interval(Duration::from_secs(60))
        .build_with_env(|_| None)?;
    let client = staso::init(config)?;
    let mode = args.next();
    if mode.as_deref() == Some("flush_on_panic") {
        staso::flush_on_panic(Duration::from_secs(5));
    }
    // `forget`: the owner is leaked, so nothing drops it (the control).
    let _staso = if mode.as_deref() == Some("forget") {
        std::mem::forget(client);
        None
    } else {
        Some(client)
    };
    step(1);
    step(2);
    panic!("boom after two spans");
}
