//! OTLP export benchmarks:
//!
//! - `otlp/throughput`: spans per second from the producer until acknowledged by a loopback
//!   OTLP/HTTP receiver that answers every request at once, for `http/protobuf` and `http/json`
//!   (batch size 500, no compression). Each iteration hands over 50 000 finished spans (10 per
//!   trace) and flushes; the time covers mapping, encoding, HTTP and the acknowledgement.
//!
//! Every server here listens on 127.0.0.1 only.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput};
use staso_core::__internal::OtlpExporter;
use staso_core::ExportSettings;
use staso_core::SpanExporter;
use staso_core::SpanKind;
use staso_core::SpanRecord;
use staso_core::{Config, ExporterConfig, OtlpProtocol, OtlpSettings};
use staso_core::{SpanId, TraceId};

/// A loopback OTLP/HTTP receiver that accepts every request at once: `200` with an empty
/// protobuf `ExportTraceServiceResponse`, or `{}` for JSON (both mean full success).
fn ack_server(protocol: OtlpProtocol) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    let addr = listener.local_addr().expect("addr");
    let response: &'static [u8] = match protocol {
        OtlpProtocol::HttpJson => {
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"
        }
        _ => {
            b"HTTP/1.1 200 OK\r\nContent-Type: application/x-protobuf\r\nContent-Length: 0\r\n\r\n"
        }
    };
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || serve(stream, response));
        }
    });
    format!("http://{addr}")
}

fn serve(stream: TcpStream, response: &[u8]) {
    let _ = stream.set_nodelay(true);
    let Ok(mut writer) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::with_capacity(1 << 16, stream);
    let mut body = Vec::new();
    let mut line = String::new();
    loop {
        line.clear();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let mut len = 0usize;
        loop {
            line.clear();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            let h = line.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':')
                && k.eq_ignore_ascii_case("content-length")
            {
                len = v.trim().parse().unwrap_or(0);
            }
        }
        body.resize(len, 0);
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        if writer.write_all(response).is_err() {
            return;
        }
    }
}

fn exporter(url: &str, protocol: OtlpProtocol, batch: usize, queue: usize) -> OtlpExporter {
    let config = Config::builder()
        .agent_name("bench")
        .capture_git(false)
        .batch_size(batch)
        .max_queue_size(queue)
        .flush_interval(Duration::from_secs(5))
        .exporter(OtlpSettings::new(url).protocol(protocol))
        .build_with_env(|_| None)
        .expect("bench config");
    let ExporterConfig::Otlp(otlp) = config.exporters()[0].clone() else {
        panic!("OTLP selected")
    };
    let emit = Arc::new(ExportSettings::from_config(&config, "bench-session".into()));
    OtlpExporter::start(&otlp, &config, emit).expect("exporter")
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

fn bench_throughput(c: &mut Criterion) {
    const SPANS: u64 = 50_000;
    const BATCH: usize = 500;
    let mut g = c.benchmark_group("otlp/throughput");
    g.warm_up_time(Duration::from_secs(1));
    g.measurement_time(Duration::from_secs(5));
    g.sample_size(10);
    g.throughput(Throughput::Elements(SPANS));
    for (name, protocol) in [
        ("protobuf", OtlpProtocol::HttpProtobuf),
        ("json", OtlpProtocol::HttpJson),
    ] {
        let url = ack_server(protocol);
        let e = exporter(&url, protocol, BATCH, SPANS as usize);
        g.bench_with_input(BenchmarkId::from_parameter(name), &protocol, |b, _| {
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
        let r = e.shutdown(Duration::from_secs(10));
        assert!(r.ok(), "{r:?}");
    }
    g.finish();
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    bench_throughput(&mut c);
    c.final_summary();
}
