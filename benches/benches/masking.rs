//! Masking and scrubbing (issue 17: "masking adds nothing to the caller's thread"), one sitting:
//!
//! - `masking_caller`: the caller's cost of a `#[staso::trace]` fn with two arguments and the
//!   result captured, with the real HTTP transport to a loopback server that acknowledges at once,
//!   without and with `.mask(…)` + `.scrub_secrets(true)`. Both apply on the delivery worker, so
//!   the two figures should be the same. Measured as in `overhead.rs`: inside a parent span, in
//!   chunks smaller than a batch (the worker is not woken while a chunk is timed), with the queue
//!   drained (untimed) between chunks. The plain case runs again last, to show the machine's drift.
//! - `masking_worker`: what the worker does with it: a whole batch of 500 spans whose input is a
//!   ~600-byte prompt with an email and an API key in it, exported and flushed, without a policy,
//!   with the scrubbers, and with a mask plus the scrubbers (throughput in spans per second,
//!   end to end through the loopback server).
//!
//! `cargo bench -p staso-bench --bench masking`

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};

#[staso::trace]
#[inline(never)]
fn traced_capture(a: u64, b: &str) -> u64 {
    a.wrapping_add(b.len() as u64)
}

#[staso::trace]
#[inline(never)]
fn ask(prompt: &str, user: &str) -> usize {
    prompt.len() + user.len()
}

/// Smaller than the batch size (500): the worker is not woken while a chunk is timed.
const CHUNK: u64 = 400;
const BATCH: usize = 500;

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

/// What the masked configurations do: the scrubbers, and optionally a mask that rewrites one
/// metadata key and removes a field from inputs.
#[derive(Clone, Copy)]
enum Policy {
    Plain,
    Scrub,
    MaskAndScrub,
}

fn config(server_url: &str, policy: Policy) -> staso::Config {
    let b = staso::Config::builder()
        .api_key("ak_bench")
        .agent_name("bench")
        .base_url(server_url)
        .capture_git(false)
        .batch_size(500)
        .flush_interval(Duration::from_secs(60));
    let b = match policy {
        Policy::Plain => b,
        Policy::Scrub => b.scrub_secrets(true),
        Policy::MaskAndScrub => b.scrub_secrets(true).mask(|v, ctx| {
            if ctx.field() == (staso::MaskField::Metadata { key: "customer" }) {
                *v = "[customer]".into();
            }
            if let Some(o) = v.as_object_mut() {
                o.remove("ssn");
            }
        }),
    };
    b.build().expect("valid config")
}

fn masking(c: &mut Criterion) {
    let server_url = staso_bench::ack_server();

    let mut g = c.benchmark_group("masking_caller");
    g.warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3));
    // Plain again last, so a drift of the (shared, loaded) machine over the sitting shows.
    for (name, policy) in [
        ("capture_plain", Policy::Plain),
        ("capture_mask_and_scrub", Policy::MaskAndScrub),
        ("capture_plain_again", Policy::Plain),
    ] {
        let _staso = staso::init(config(&server_url, policy)).expect("init");
        g.bench_function(name, |b| {
            b.iter_custom(|iters| staso_loop(iters, |i| traced_capture(i, "two")))
        });
        let report = staso::flush(Duration::from_secs(30));
        assert!(report.ok(), "bench spans were delivered: {report:?}");
    }
    g.finish();

    let prompt = format!(
        "Customer ann.lee@example.com asks why the key sk-proj-{} stopped working after the \
         upgrade. {}",
        "a1B2c3D4e5F6g7H8i9J0k1L2m3N4",
        "Please explain the billing change and what to do next. ".repeat(9)
    );
    let mut g = c.benchmark_group("masking_worker");
    g.warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(4))
        .sample_size(20)
        .throughput(Throughput::Elements(BATCH as u64));
    for (name, policy) in [
        ("batch_plain", Policy::Plain),
        ("batch_scrub", Policy::Scrub),
        ("batch_mask_and_scrub", Policy::MaskAndScrub),
    ] {
        let _staso = staso::init(config(&server_url, policy)).expect("init");
        g.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let start = Instant::now();
                    staso::span("bench-parent", staso::SpanKind::Agent, |s| {
                        s.set_metadata("customer", "Ann Lee");
                        for _ in 0..BATCH - 1 {
                            black_box(ask(&prompt, "user-42"));
                        }
                    });
                    let report = staso::flush(Duration::from_secs(30));
                    total += start.elapsed();
                    assert!(report.ok(), "{report:?}");
                }
                total
            })
        });
    }
    g.finish();
}

criterion_group!(benches, masking);
criterion_main!(benches);
