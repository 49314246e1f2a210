//! Overhead of an instrumented call over the bare call (issue 2, item 12), in one group:
//! an empty fn; `#[staso::trace]` with capture off; with two arguments and the result captured; with
//! a disabled client; the same fn under `tracing`'s `#[instrument]` (a registry subscriber with a layer
//! that records every span close) and `fastrace`'s `#[trace]` (collector on, console-free reporter);
//! and, beyond that list, an async fn with capture off polled once with a no-op waker.
//!
//! The staso cases run with the real HTTP transport delivering to a loopback server that
//! acknowledges every batch at once (`staso_bench::ack_server`). Spans are created inside a
//! long-lived parent span (the common case: tools inside an agent), so no provisional root snapshot
//! is involved. Every measured span is accepted into the queue: the loop runs in chunks smaller
//! than a batch and drains the queue (untimed, `flush`) between chunks.

use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

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

#[staso::trace(capture_input = false, capture_output = false)]
#[inline(never)]
async fn traced_async_no_capture(a: u64, b: &str) -> u64 {
    a.wrapping_add(b.len() as u64)
}

/// The async fn's future polled to completion with a no-op waker (it never waits): the span's
/// cost on the async path (entry, one poll with the frame swapped in and out, emission), without
/// an executor's.
fn poll_async_no_capture(a: u64, b: &str) -> u64 {
    staso_bench::poll_ready(traced_async_no_capture(a, b))
}

#[tracing::instrument(skip_all)]
#[inline(never)]
fn tracing_instrumented(a: u64, b: &str) -> u64 {
    a.wrapping_add(b.len() as u64)
}

#[fastrace::trace]
#[inline(never)]
fn fastrace_traced(a: u64, b: &str) -> u64 {
    a.wrapping_add(b.len() as u64)
}

/// Counts closed spans, so the subscriber really records them.
struct CountingLayer(&'static AtomicU64);

impl<S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>>
    tracing_subscriber::Layer<S> for CountingLayer
{
    fn on_close(&self, _id: tracing::span::Id, _ctx: tracing_subscriber::layer::Context<'_, S>) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
}

static REPORTED: AtomicU64 = AtomicU64::new(0);

struct NullReporter;
impl fastrace::collector::Reporter for NullReporter {
    fn report(&mut self, spans: Vec<fastrace::collector::SpanRecord>) {
        REPORTED.fetch_add(spans.len() as u64, Ordering::Relaxed);
        black_box(spans);
    }
}

/// Smaller than the batch size (500), so the delivery worker is not woken while a chunk is timed:
/// the figure is the caller's cost, not the worker competing for one of the two cores.
const CHUNK: u64 = 400;

/// Runs `iters` calls inside a parent span, timing only the calls; drains the queue between chunks.
fn staso_loop(iters: u64, f: impl Fn(u64) -> u64) -> Duration {
    let parent = staso::Span::start("bench-parent", staso::SpanKind::Agent);
    let mut total = Duration::ZERO;
    let mut done = 0;
    while done < iters {
        let n = CHUNK.min(iters - done);
        let t = parent.in_scope(|| {
            let start = Instant::now();
            for i in 0..n {
                black_box(f(black_box(i)));
            }
            start.elapsed()
        });
        total += t;
        done += n;
        staso::flush(Duration::from_secs(10));
    }
    parent.drop_span();
    total
}

fn overhead(c: &mut Criterion) {
    // A loopback server that acknowledges at once: the figure is the caller's cost with the real
    // transport running, not the time a storing server needs between chunks.
    let server_url = staso_bench::ack_server();
    let config = |enabled: bool| {
        staso::Config::builder()
            .api_key("ak_bench")
            .agent_name("bench")
            .base_url(&server_url)
            .capture_git(false)
            .batch_size(500)
            .flush_interval(Duration::from_secs(60))
            .enabled(enabled)
            .build()
            .expect("valid config")
    };

    static CLOSED: AtomicU64 = AtomicU64::new(0);
    use tracing_subscriber::layer::SubscriberExt;
    let subscriber = tracing_subscriber::registry().with(CountingLayer(&CLOSED));
    let _tracing = tracing::subscriber::set_default(subscriber);
    fastrace::set_reporter(NullReporter, fastrace::collector::Config::default());

    let mut g = c.benchmark_group("overhead");
    g.warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    g.bench_function("bare", |b| b.iter(|| bare(black_box(1), black_box("two"))));

    {
        let _staso = staso::init(config(true)).expect("init");
        g.bench_function("staso_capture_off", |b| {
            b.iter_custom(|iters| staso_loop(iters, |i| traced_no_capture(i, "two")))
        });
        g.bench_function("staso_two_args_and_result", |b| {
            b.iter_custom(|iters| staso_loop(iters, |i| traced_capture(i, "two")))
        });
        // Beyond the list: an async fn with capture off, polled once.
        g.bench_function("staso_async_capture_off", |b| {
            b.iter_custom(|iters| staso_loop(iters, |i| poll_async_no_capture(i, "two")))
        });
        let report = staso::flush(Duration::from_secs(30));
        assert!(report.ok(), "bench spans were delivered: {report:?}");
    }
    {
        let _staso = staso::init(config(false)).expect("init disabled");
        g.bench_function("staso_disabled", |b| {
            b.iter(|| traced_capture(black_box(1), black_box("two")))
        });
    }

    g.bench_function("tracing_instrument", |b| {
        b.iter(|| tracing_instrumented(black_box(1), black_box("two")))
    });

    // fastrace keeps local spans in a bounded per-thread buffer until the local parent is dropped
    // (it drops spans beyond the bound), so each chunk gets its own root; only the calls are timed.
    g.bench_function("fastrace_trace", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            let mut done = 0;
            while done < iters {
                let n = CHUNK.min(iters - done);
                let root = fastrace::Span::root("bench", fastrace::prelude::SpanContext::random());
                let guard = root.set_local_parent();
                let start = Instant::now();
                for i in 0..n {
                    black_box(fastrace_traced(black_box(i), black_box("two")));
                }
                total += start.elapsed();
                drop(guard);
                drop(root);
                done += n;
            }
            total
        })
    });
    fastrace::flush();
    g.finish();
    assert!(
        CLOSED.load(Ordering::Relaxed) > 0,
        "the tracing layer recorded spans"
    );
}

criterion_group!(benches, overhead);
criterion_main!(benches);
