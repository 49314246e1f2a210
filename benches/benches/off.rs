//! The compile-time off switch (issue 17, item 5): each instrumented call against the bare call, in
//! one group and one sitting, with an enabled client installed whose exporter drops every span.
//! Run it with the feature, where every case should cost the bare call (the attributes emit the fn
//! as written, the span API folds to nothing), and without it for scale (the same code recording):
//!
//! `cargo bench -p staso-bench --bench off --features off` · `cargo bench -p staso-bench --bench off`
//!
//! The group is named `off` or `compiled_in` after the build; it checks at the end that the build
//! recorded exactly what it should (nothing with the feature).

use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};

#[inline(never)]
fn bare(a: u64, b: &str) -> u64 {
    a.wrapping_add(b.len() as u64)
}

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

/// The guarded tool's error (`GuardBlocked` itself is large: clippy's `result_large_err`).
struct Blocked;

impl From<staso::GuardBlocked> for Blocked {
    fn from(_: staso::GuardBlocked) -> Self {
        Blocked
    }
}

#[staso::tool(guard)]
#[inline(never)]
fn guarded_tool(a: u64, b: &str) -> Result<u64, Blocked> {
    Ok(a.wrapping_add(b.len() as u64))
}

#[staso::trace(capture_input = false, capture_output = false)]
#[inline(never)]
async fn traced_async(a: u64, b: &str) -> u64 {
    a.wrapping_add(b.len() as u64)
}

#[inline(never)]
async fn bare_async(a: u64, b: &str) -> u64 {
    a.wrapping_add(b.len() as u64)
}

/// A manual span with a metadata setter around the bare body.
#[inline(never)]
fn manual_span(a: u64, b: &str) -> u64 {
    staso::span("score", staso::SpanKind::Chain, |s| {
        s.set_metadata("a", a);
        a.wrapping_add(b.len() as u64)
    })
}

/// Setters on the current span (`Span::current()`), as deep code without the handle does.
#[inline(never)]
fn current_span_setters(a: u64, b: &str) -> u64 {
    let s = staso::Span::current();
    s.set_model("gpt-4o-mini");
    s.set_tokens(a, 1);
    a.wrapping_add(b.len() as u64)
}

/// The block form of `conversation!`.
#[inline(never)]
fn in_conversation(a: u64, b: &str) -> u64 {
    staso::conversation!("conv-bench", user_id = "user-bench", {
        a.wrapping_add(b.len() as u64)
    })
}

/// Accepts every record, counts it and drops it: the figure is the caller's cost, no transport.
struct Counter(AtomicU64);

impl staso::SpanExporter for Counter {
    fn export(&self, record: Box<staso::SpanRecord>) -> staso::EnqueueResult {
        self.0.fetch_add(1, Ordering::Relaxed);
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

fn off(c: &mut Criterion) {
    let off = cfg!(feature = "off");
    let exported = Arc::new(Counter(AtomicU64::new(0)));
    let config = staso::Config::builder()
        .api_key("ak_bench")
        .agent_name("bench")
        .capture_git(false)
        .build()
        .expect("valid config");
    let client = staso::init_with_exporter(config, exported.clone()).expect("init");
    assert_eq!(
        client.is_enabled(),
        !off,
        "the client records unless tracing is off"
    );

    let mut g = c.benchmark_group(if off { "off" } else { "compiled_in" });
    g.warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    g.bench_function("bare", |b| b.iter(|| bare(black_box(1), black_box("two"))));
    g.bench_function("trace_capture_off", |b| {
        b.iter(|| traced_no_capture(black_box(1), black_box("two")))
    });
    g.bench_function("trace_two_args_and_result", |b| {
        b.iter(|| traced_capture(black_box(1), black_box("two")))
    });
    g.bench_function("bare_async_polled", |b| {
        b.iter(|| staso_bench::poll_ready(bare_async(black_box(1), black_box("two"))))
    });
    g.bench_function("trace_async_polled", |b| {
        b.iter(|| staso_bench::poll_ready(traced_async(black_box(1), black_box("two"))))
    });
    g.bench_function("manual_span_with_setter", |b| {
        b.iter(|| manual_span(black_box(1), black_box("two")))
    });
    g.bench_function("current_span_setters", |b| {
        b.iter(|| current_span_setters(black_box(1), black_box("two")))
    });
    g.bench_function("conversation_block", |b| {
        b.iter(|| in_conversation(black_box(1), black_box("two")))
    });
    if off {
        // Without the feature a guarded tool asks the guard over HTTP on every call: not a
        // per-call overhead figure, so measured only where it is the bare fn.
        g.bench_function("guarded_tool", |b| {
            b.iter(|| guarded_tool(black_box(1), black_box("two")).ok())
        });
    }
    g.finish();
    let spans = exported.0.load(Ordering::Relaxed);
    if off {
        assert_eq!(spans, 0, "with `off` nothing is recorded");
    } else {
        assert!(spans > 0, "compiled in, the spans were recorded");
    }
    drop(client);
}

criterion_group!(benches, off);
criterion_main!(benches);
