//! The hot path of an instrumented call, for profilers: `n` calls of a `#[staso::trace]` fn inside
//! a parent span, in chunks smaller than a batch, the queue drained between chunks, with the real
//! HTTP transport delivering to a loopback server that acknowledges at once.
//!
//! ```sh
//! cargo build --release -p staso-bench --example hotpath
//! valgrind --tool=callgrind target/release/examples/hotpath off 100000
//! perf record -g target/release/examples/hotpath capture 2000000
//! target/release/examples/hotpath null 2000000   # records dropped on the caller: no transport
//! target/release/examples/hotpath async 2000000  # an async fn (capture off), polled once
//! target/release/examples/hotpath conv 2000000   # capture off inside a conversation
//! target/release/examples/hotpath dropped-root 2000000  # each call the root of a trace head
//!                                                       # sampling drops (`sample_rate(0.0)`)
//! target/release/examples/hotpath dropped-async 2000000  # the same for `traced_async`
//! target/release/examples/hotpath dropped-manual 2000000 # the same for a manual `staso::span`
//! target/release/examples/hotpath dropped-agent 2000000  # an `#[agent]` fn's root; with
//!                              # `dropped-agent-own-rate`, dropped by the agent's own rate
//! target/release/examples/hotpath disabled-async 2000000 # each kind of root (`-root`, `-async`,
//!                                                        # `-manual`, `-agent`) with a disabled client
//! ```

use std::hint::black_box;
use std::time::{Duration, Instant};

#[staso::trace(capture_input = false, capture_output = false)]
#[inline(never)]
fn traced_no_capture(a: u64, b: &str) -> u64 {
    a.wrapping_add(b.len() as u64)
}

#[staso::trace]
#[inline(never)]
fn traced_capture(a: u64, b: &str) -> u64 {
    a.wrapping_add(b.len() as u64)
}

/// Accepts every record and drops it at once.
struct Dropper;

impl staso::SpanExporter for Dropper {
    fn export(&self, record: Box<staso_core::SpanRecord>) -> staso::EnqueueResult {
        drop(record);
        staso::EnqueueResult::ACCEPTED
    }
    fn flush(&self, _timeout: Duration) -> staso::DeliveryReport {
        staso::DeliveryReport::disabled()
    }
    fn shutdown(&self, _timeout: Duration) -> staso::DeliveryReport {
        staso::DeliveryReport::disabled()
    }
}

#[staso::trace(capture_input = false, capture_output = false)]
#[inline(never)]
async fn traced_async(a: u64, b: &str) -> u64 {
    a.wrapping_add(b.len() as u64)
}

/// `traced_async` polled to completion (it never waits) with a no-op waker.
fn poll_async(a: u64, b: &str) -> u64 {
    staso_bench::poll_ready(traced_async(a, b))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let mode = args.next().unwrap_or_else(|| "off".to_owned());
    let total: u64 = args
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or(1_000_000);
    if mode == "clock" {
        // The span clock alone: what one read costs on this machine.
        let start = Instant::now();
        for _ in 0..total {
            black_box(staso_core::__internal::now());
        }
        eprintln!(
            "clock: {:.1} ns/read",
            start.elapsed().as_nanos() as f64 / total as f64
        );
        return Ok(());
    }
    if let Some(kind) = mode
        .strip_prefix("dropped-")
        .or_else(|| mode.strip_prefix("disabled-"))
    {
        let f: fn(u64, &str) -> u64 = match kind {
            "async" => poll_async,
            "manual" => manual,
            "agent" | "agent-own-rate" => agent,
            _ => traced_no_capture,
        };
        return dropped_roots(&mode, f, total);
    }
    let null = mode == "null";
    // `conv`: capture off inside a conversation (session and user ids are shared strings).
    let conversation = mode == "conv";
    let f: fn(u64, &str) -> u64 = match mode.as_str() {
        "capture" => traced_capture,
        "async" => poll_async,
        _ => traced_no_capture,
    };
    let config = staso::Config::builder()
        .api_key("ak_bench")
        .agent_name("bench")
        .base_url(staso_bench::ack_server())
        .capture_git(false)
        .batch_size(500)
        .flush_interval(Duration::from_secs(60))
        .build()?;
    // `null`: the span path alone, records dropped on the calling thread (no queue, no worker, no
    // recycling), for telling the caller's own cost from what the transport adds.
    let staso = if null {
        staso::init_with_exporter(config, std::sync::Arc::new(Dropper))?
    } else {
        staso::init(config)?
    };
    let parent = staso::Span::start("hotpath-parent", staso::SpanKind::Agent);
    let mut timed = Duration::ZERO;
    let mut done = 0;
    while done < total {
        let n = 400.min(total - done);
        let chunk = || {
            let start = Instant::now();
            for i in 0..n {
                black_box(f(black_box(i), black_box("two")));
            }
            start.elapsed()
        };
        timed += parent.in_scope(|| {
            if conversation {
                staso::conversation!(format!("conv-{}", done / 400), user_id = "user-1", {
                    chunk()
                })
            } else {
                chunk()
            }
        });
        done += n;
        staso::flush(Duration::from_secs(10));
    }
    parent.drop_span();
    let report = staso.shutdown(Duration::from_secs(10));
    eprintln!(
        "{mode}: {:.1} ns/call over {total} calls; delivered {} of {}",
        timed.as_nanos() as f64 / total as f64,
        report.delivered,
        report.accepted
    );
    Ok(())
}

/// An agent span (capture off).
#[staso::agent(name = "triage", capture_input = false, capture_output = false)]
#[inline(never)]
fn agent(a: u64, b: &str) -> u64 {
    a.wrapping_add(b.len() as u64)
}

/// A manual span around the bare body.
#[inline(never)]
fn manual(a: u64, b: &str) -> u64 {
    staso::span("manual", staso::SpanKind::Tool, |_| {
        a.wrapping_add(b.len() as u64)
    })
}

/// `total` calls of `f`, each the root of a trace head sampling drops: what the caller pays for a
/// trace that is not recorded.
fn dropped_roots(
    mode: &str,
    f: fn(u64, &str) -> u64,
    total: u64,
) -> Result<(), Box<dyn std::error::Error>> {
    // `-agent-own-rate`: the agent's own rate drops its roots, the client's keeps the others.
    let own_rate = mode.ends_with("-own-rate");
    let mut builder = staso::Config::builder()
        .api_key("ak_bench")
        .agent_name("bench")
        .capture_git(false)
        .sample_rate(0.0)
        .enabled(mode.starts_with("dropped-"));
    if own_rate {
        builder = builder.sample_rate(1.0).agent_sample_rate("triage", 0.0);
    }
    let config = builder.build_with_env(|_| None)?;
    let staso = staso::init_with_exporter(config, std::sync::Arc::new(Dropper))?;
    let start = Instant::now();
    for i in 0..total {
        black_box(f(black_box(i), black_box("two")));
    }
    let timed = start.elapsed();
    let report = staso.shutdown(Duration::from_secs(10));
    eprintln!(
        "{mode}: {:.1} ns/call over {total} calls; sampled out {}",
        timed.as_nanos() as f64 / total as f64,
        report.sampled_out
    );
    Ok(())
}
