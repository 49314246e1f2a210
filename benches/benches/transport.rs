//! Transport benchmarks (issue 3):
//!
//! - `transport/enqueue`: the cost on the caller's thread of handing a finished span to the HTTP
//!   exporter (`SpanExporter::export` of a boxed `SpanRecord`), with 1 and 2 producer threads. The worker is asleep while a chunk is timed (each chunk is smaller than a batch and
//!   the flush interval is long); the queue is drained, untimed, between chunks, so every measured
//!   span is accepted.
//! - `transport/throughput`: spans per second from the producer until acknowledged by a loopback
//!   server that accepts at once, with batch sizes 100 and 500.
//! - peak memory: a child process produces 10 M spans in a tight loop while the backend is down
//!   (connection refused), with the default queue size, and reports its `VmHWM`.
//!
//! Every server here listens on 127.0.0.1 only.

use std::hint::black_box;
use std::net::TcpListener;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput};
use staso_bench::ack_server;
use staso_core::__internal::HttpExporter;
use staso_core::Config;
use staso_core::ExportSettings;
use staso_core::SpanExporter;
use staso_core::SpanKind;
use staso_core::SpanRecord;
use staso_core::{SpanId, TraceId};

/// Set in the environment of the child process that measures peak memory.
const MEMORY_CHILD: &str = "STASO_BENCH_TRANSPORT_MEMORY_CHILD";

fn config(url: &str, batch: usize, queue: usize, interval: Duration) -> Config {
    Config::builder()
        .api_key("ak_bench")
        .agent_name("bench")
        .base_url(url)
        .capture_git(false)
        .batch_size(batch)
        .max_queue_size(queue)
        .flush_interval(interval)
        .build_with_env(|_| None)
        .expect("bench config")
}

fn exporter(config: &Config) -> HttpExporter {
    let emit = Arc::new(ExportSettings::from_config(config, "bench-session".into()));
    HttpExporter::start(config, emit).expect("exporter")
}

/// A finished child span as a `#[tool]` would hand it over (no heap data).
#[inline(always)]
fn record(trace: u128, span: u64) -> SpanRecord {
    let mut r = SpanRecord::new(
        TraceId(trace),
        SpanId(span),
        Some(SpanId(1)),
        "tool_call".into(),
        SpanKind::Tool,
        staso_core::__internal::now(),
    );
    r.duration = Duration::from_micros(250);
    r
}

/// Below the batch size, so a timed chunk never wakes the worker.
const CHUNK: u64 = 480;

/// Hands `n` finished spans to the exporter on this thread; only the hand-off is timed. The
/// records are built and boxed first: a span's record is taken (from the recycled pool) and its
/// clock read when the span starts, so ending it is only this hand-off.
fn push_chunk(e: &HttpExporter, n: u64, base: u64) -> Duration {
    let mut records: Vec<Box<SpanRecord>> = (0..n).map(|i| Box::new(record(7, base + i))).collect();
    let t = Instant::now();
    for r in records.drain(..) {
        let r = e.export(r);
        debug_assert!(r.accepted);
        black_box(r);
    }
    t.elapsed()
}

fn bench_enqueue(c: &mut Criterion) {
    let url = ack_server();
    let e = Arc::new(exporter(&config(
        &url,
        500,
        10_000,
        Duration::from_secs(3600),
    )));
    let mut g = c.benchmark_group("transport/enqueue");
    g.warm_up_time(Duration::from_millis(500));
    g.measurement_time(Duration::from_secs(2));
    g.sample_size(20);
    g.bench_function("1_thread", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            let mut done = 0;
            while done < iters {
                let n = CHUNK.min(iters - done);
                total += push_chunk(&e, n, done);
                done += n;
                let r = e.flush(Duration::from_secs(10));
                assert!(r.pending == 0 && r.failed == 0 && r.rejected == 0, "{r:?}");
            }
            total
        })
    });
    g.bench_function("2_threads", |b| {
        b.iter_custom(|iters| {
            // `iters` spans per thread, pushed by two long-lived threads in lock-step chunks; the
            // result is the mean time per span on one thread while the other pushes too.
            let chunks = iters.div_ceil(CHUNK / 2);
            let start = Barrier::new(3);
            let end = Barrier::new(3);
            std::thread::scope(|s| {
                let producers: Vec<_> = (0..2u64)
                    .map(|t| {
                        let (e, start, end) = (&e, &start, &end);
                        s.spawn(move || {
                            let mut total = Duration::ZERO;
                            for c in 0..chunks {
                                let n = (CHUNK / 2).min(iters - c * (CHUNK / 2));
                                start.wait();
                                total += push_chunk(e, n, (t << 40) + c * CHUNK);
                                end.wait();
                            }
                            total
                        })
                    })
                    .collect();
                for _ in 0..chunks {
                    start.wait();
                    end.wait();
                    let r = e.flush(Duration::from_secs(10));
                    assert!(r.pending == 0 && r.failed == 0 && r.rejected == 0, "{r:?}");
                }
                let times: Vec<Duration> = producers
                    .into_iter()
                    .map(|h| h.join().expect("producer"))
                    .collect();
                (times[0] + times[1]) / 2
            })
        })
    });
    g.finish();
    let r = e.shutdown(Duration::from_secs(10));
    assert!(r.ok(), "{r:?}");
}

fn bench_throughput(c: &mut Criterion) {
    const SPANS: u64 = 50_000;
    let url = ack_server();
    let mut g = c.benchmark_group("transport/throughput");
    g.warm_up_time(Duration::from_secs(1));
    g.measurement_time(Duration::from_secs(5));
    g.sample_size(10);
    g.throughput(Throughput::Elements(SPANS));
    for batch in [100usize, 500] {
        let e = exporter(&config(&url, batch, SPANS as usize, Duration::from_secs(5)));
        g.bench_with_input(BenchmarkId::new("batch", batch), &batch, |b, _| {
            b.iter_custom(|iters| {
                let t = Instant::now();
                for it in 0..iters {
                    for i in 0..SPANS {
                        // 10 spans per trace.
                        let id = it * SPANS + i;
                        assert!(
                            e.export(Box::new(record(u128::from(id / 10) + 1, id + 1)))
                                .accepted
                        );
                    }
                    let r = e.flush(Duration::from_secs(60));
                    assert!(r.ok(), "{r:?}");
                }
                t.elapsed()
            })
        });
        assert!(e.shutdown(Duration::from_secs(10)).ok());
    }
    g.finish();
}

fn status_kib(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Child process: 10 M spans in a tight loop against a backend that refuses connections.
fn memory_child() {
    const SPANS: u64 = 10_000_000;
    let closed = {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = l.local_addr().expect("addr");
        drop(l);
        format!("http://{addr}")
    };
    let defaults = Config::builder()
        .api_key("ak_bench")
        .agent_name("bench")
        .base_url(&closed)
        .capture_git(false)
        .build_with_env(|_| None)
        .expect("config");
    let e = exporter(&defaults);
    let before = status_kib("VmRSS:").unwrap_or(0);
    let t = Instant::now();
    let mut rejected = 0u64;
    for i in 0..SPANS {
        let mut r = record(u128::from(i / 10) + 1, i + 1);
        r.input = Some(format!(r#"{{"query": "question number {i}"}}"#));
        if !e.export(Box::new(r)).accepted {
            rejected += 1;
        }
    }
    let took = t.elapsed();
    let hwm = status_kib("VmHWM:").unwrap_or(0);
    let report = e.flush(Duration::from_millis(1));
    println!(
        "peak memory: VmHWM {:.1} MiB after {SPANS} spans with the backend down \
         (RSS before the loop {:.1} MiB; max_queue_size {}; SpanRecord {} bytes); \
         producer {:.1} ns/span, never blocked; rejected {rejected} (report: accepted {}, rejected {})",
        hwm as f64 / 1024.0,
        before as f64 / 1024.0,
        defaults.max_queue_size(),
        std::mem::size_of::<SpanRecord>(),
        took.as_nanos() as f64 / SPANS as f64,
        report.accepted,
        report.rejected,
    );
    // Exit without draining: the backend is down and the point has been made.
    std::process::exit(0);
}

fn memory_report() {
    let exe = match std::env::current_exe() {
        Ok(p) => p,
        Err(e) => {
            println!("peak memory: cannot find the bench binary: {e}");
            return;
        }
    };
    match std::process::Command::new(exe)
        .env(MEMORY_CHILD, "1")
        .output()
    {
        Ok(out) => print!("{}", String::from_utf8_lossy(&out.stdout)),
        Err(e) => println!("peak memory: child failed: {e}"),
    }
}

fn main() {
    if std::env::var_os(MEMORY_CHILD).is_some() {
        memory_child();
        return;
    }
    let mut c = Criterion::default().configure_from_args();
    bench_enqueue(&mut c);
    bench_throughput(&mut c);
    c.final_summary();
    // `cargo test --benches` runs each benchmark once in test mode: skip the 10 M span child.
    if !std::env::args().any(|a| a == "--test") {
        memory_report();
    }
}
