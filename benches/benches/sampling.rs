//! Head sampling's cost on the caller (issue 17: "an unsampled span costs no more than a disabled
//! one"), in one group and one sitting: the bare call; `#[staso::trace]` (capture off) with a
//! disabled client; the same fn inside a trace head sampling dropped (`sample_rate(0.0)`: its spans
//! are children of a root that does not record); a whole one-span trace dropped at its root; and
//! the same fn recorded (`sample_rate(1.0)`) for scale, as a child and as a kept root (which also
//! emits its provisional snapshot). The other kinds of root (an async fn polled once, an
//! `#[agent]`, a manual `staso::span`, an owned `Span::start` handle) are measured dropped and
//! with a disabled client too, and the `#[agent]` root dropped by a rate of its own
//! (`agent_sample_rate`).
//!
//! `cargo bench -p staso-bench --bench sampling`

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};

#[inline(never)]
fn bare(a: u64, b: &str) -> u64 {
    a.wrapping_add(b.len() as u64)
}

#[staso::trace(capture_input = false, capture_output = false)]
#[inline(never)]
fn traced(a: u64, b: &str) -> u64 {
    a.wrapping_add(b.len() as u64)
}

#[staso::trace(capture_input = false, capture_output = false)]
#[inline(never)]
async fn traced_async(a: u64, b: &str) -> u64 {
    a.wrapping_add(b.len() as u64)
}

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

/// An owned span handle started and ended around the bare body (not made current).
#[inline(never)]
fn started(a: u64, b: &str) -> u64 {
    let span = staso::Span::start("started", staso::SpanKind::Tool);
    let out = a.wrapping_add(b.len() as u64);
    drop(black_box(span));
    out
}

/// The other kinds of root, each called as the root of its trace (no span current): an async fn
/// polled once, an `#[agent]`, a manual span, an owned handle (`Span::start`). Named
/// `{prefix}_{kind}`.
fn other_roots(
    g: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    prefix: &str,
) {
    g.bench_function(format!("{prefix}_async_root"), |b| {
        b.iter(|| staso_bench::poll_ready(traced_async(black_box(1), black_box("two"))))
    });
    g.bench_function(format!("{prefix}_agent_root"), |b| {
        b.iter(|| agent(black_box(1), black_box("two")))
    });
    g.bench_function(format!("{prefix}_manual_root"), |b| {
        b.iter(|| manual(black_box(1), black_box("two")))
    });
    g.bench_function(format!("{prefix}_started_root"), |b| {
        b.iter(|| started(black_box(1), black_box("two")))
    });
}

/// Accepts every record and drops it: the figure is the caller's cost, no transport.
struct Dropper;

impl staso::SpanExporter for Dropper {
    fn export(&self, record: Box<staso::SpanRecord>) -> staso::EnqueueResult {
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

fn config(rate: f64, enabled: bool) -> staso::Config {
    staso::Config::builder()
        .api_key("ak_bench")
        .agent_name("bench")
        .capture_git(false)
        .sample_rate(rate)
        .enabled(enabled)
        .build_with_env(|_| None)
        .expect("valid config")
}

/// `iters` calls inside a root span, timing only the calls.
fn under_root(iters: u64) -> Duration {
    staso::span("root", staso::SpanKind::Agent, |_| {
        let start = Instant::now();
        for i in 0..iters {
            black_box(traced(black_box(i), "two"));
        }
        start.elapsed()
    })
}

fn sampling(c: &mut Criterion) {
    let mut g = c.benchmark_group("sampling");
    g.warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    g.bench_function("bare", |b| b.iter(|| bare(black_box(1), black_box("two"))));
    {
        let _c = staso::init_with_exporter(config(1.0, false), Arc::new(Dropper)).expect("init");
        g.bench_function("disabled", |b| b.iter_custom(under_root));
        g.bench_function("disabled_root", |b| {
            b.iter(|| traced(black_box(1), black_box("two")))
        });
        other_roots(&mut g, "disabled");
    }
    {
        let _c = staso::init_with_exporter(config(0.0, true), Arc::new(Dropper)).expect("init");
        g.bench_function("unsampled_child", |b| b.iter_custom(under_root));
        g.bench_function("unsampled_root", |b| {
            b.iter(|| traced(black_box(1), black_box("two")))
        });
        other_roots(&mut g, "unsampled");
    }
    {
        // The agent's own rate drops its traces, the client's keeps the others.
        let own_rate = staso::Config::builder()
            .api_key("ak_bench")
            .agent_name("bench")
            .capture_git(false)
            .sample_rate(1.0)
            .agent_sample_rate("triage", 0.0)
            .build_with_env(|_| None)
            .expect("valid config");
        let _c = staso::init_with_exporter(own_rate, Arc::new(Dropper)).expect("init");
        g.bench_function("unsampled_agent_root_own_rate", |b| {
            b.iter(|| agent(black_box(1), black_box("two")))
        });
    }
    {
        let _c = staso::init_with_exporter(config(1.0, true), Arc::new(Dropper)).expect("init");
        g.bench_function("sampled_child", |b| b.iter_custom(under_root));
        g.bench_function("sampled_root", |b| {
            b.iter(|| traced(black_box(1), black_box("two")))
        });
    }
    g.finish();
}

criterion_group!(benches, sampling);
criterion_main!(benches);
