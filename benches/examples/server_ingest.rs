//! staso-server alone, over loopback HTTP: ingest throughput (Staso ingest JSON and OTLP protobuf
//! bodies posted by client threads, counted when acknowledged) and read latency over a database of
//! 1 M spans (built by direct store writes): trace list, trace page, conversation page.
//!
//! ```sh
//! cargo run --release -p staso-bench --example server_ingest            # both parts
//! cargo run --release -p staso-bench --example server_ingest -- ingest  # or: read
//! ```
//!
//! Ingest: 4 client threads on keep-alive connections, bodies of 500 spans (50 traces of 10 spans,
//! and 500 traces of 1 span), every trace id new, 8 s per case after a 1 s warm-up; the server's
//! database is a file (WAL). The clients are a minimal hand-written HTTP/1.1 writer (no runtime),
//! so the machine's two cores go to the server as far as possible.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use staso_server::store::traces::{self, CheckedGroup, CheckedSpan};
use staso_server::{ApiKey, Server, Store};
use staso_wire::ingest::WireSpan;

type BoxResult<T> = Result<T, Box<dyn std::error::Error>>;

/// The allocator of the `staso-server` binary (jemalloc), so the server side is measured as it runs.
#[cfg(all(target_os = "linux", not(target_env = "musl")))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// One keep-alive HTTP/1.1 connection.
struct Conn {
    reader: BufReader<TcpStream>,
    host: String,
}

impl Conn {
    fn open(addr: std::net::SocketAddr) -> BoxResult<Self> {
        let s = TcpStream::connect(addr)?;
        s.set_nodelay(true)?;
        Ok(Conn {
            reader: BufReader::new(s),
            host: addr.to_string(),
        })
    }

    /// Sends one request; returns the status and the body.
    fn request(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> BoxResult<(u16, Vec<u8>)> {
        let mut head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nContent-Length: {}\r\n",
            self.host,
            body.len()
        );
        for (k, v) in headers {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        head.push_str("\r\n");
        let s = self.reader.get_mut();
        s.write_all(head.as_bytes())?;
        s.write_all(body)?;
        let mut line = String::new();
        self.reader.read_line(&mut line)?;
        let status: u16 = line.split(' ').nth(1).unwrap_or("0").parse()?;
        let mut len = 0usize;
        loop {
            line.clear();
            self.reader.read_line(&mut line)?;
            let l = line.trim_end();
            if l.is_empty() {
                break;
            }
            if let Some((k, v)) = l.split_once(':')
                && k.eq_ignore_ascii_case("content-length")
            {
                len = v.trim().parse()?;
            }
        }
        let mut out = vec![0; len];
        self.reader.read_exact(&mut out)?;
        Ok((status, out))
    }
}

fn span(i: usize, parent: Option<String>, start_us: i64) -> WireSpan {
    let mut s = WireSpan::empty(format!("00000000-0000-0000-0000-{:012x}", i + 1));
    s.parent_span_id = parent;
    s.name = if i == 0 {
        "agent run".into()
    } else {
        format!("step_{i}")
    };
    s.kind = if i == 0 {
        "agent"
    } else if i.is_multiple_of(3) {
        "llm"
    } else {
        "tool"
    }
    .into();
    s.timestamp = iso(start_us);
    s.duration_ms = 12.5;
    s.status = if i == 7 { "error" } else { "ok" }.into();
    if s.kind == "llm" {
        s.model = "gpt-4o-mini".into();
        s.provider = "openai".into();
        s.input_tokens = 420;
        s.output_tokens = 64;
        s.total_tokens = 484;
    }
    s.input = r#"{"question":"What is the refund policy for order 1234?","limit":5}"#.into();
    s.output = r#"{"answer":"Orders can be refunded within 30 days of delivery."}"#.into();
    s.attributes =
        r#"{"code.filepath":"src/agent.rs","code.lineno":42,"code.function":"step"}"#.into();
    s.agent_name = "support-agent".into();
    s.agent_version = "1.0.0".into();
    s.user_id = "user-1".into();
    s
}

fn iso(us: i64) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(us) * 1000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}+00:00",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.microsecond()
    )
}

fn hyphenated(v: u128) -> String {
    let h = format!("{v:032x}");
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

fn trace_id(n: u64) -> String {
    hyphenated(u128::from(n) << 64 | 0xbeec)
}

/// Traces of `per_trace` spans (a root and its children), trace `n` for each `n` in `ids`.
fn groups(
    ids: impl Iterator<Item = u64>,
    per_trace: usize,
    ws: &dyn Fn(u64) -> String,
    sessions: u64,
) -> Vec<CheckedGroup> {
    let base_us = 1_764_000_000_000_000i64;
    ids.map(|n| {
        let start = base_us + n as i64 * 1000;
        let root = "00000000-0000-0000-0000-000000000001".to_owned();
        let spans = (0..per_trace)
            .map(|i| {
                let at = start + i as i64 * 10;
                let mut s = span(i, (i > 0).then(|| root.clone()), at);
                s.session_id = format!("conv-{}", n % sessions.max(1));
                CheckedSpan {
                    span: s,
                    start_us: at,
                }
            })
            .collect();
        CheckedGroup {
            trace_id: trace_id(n),
            environment: "bench".into(),
            workspace_slug: ws(n),
            spans,
        }
    })
    .collect()
}

const KEY: &str = "ak_bench";
/// The high 64 bits of every trace id in a body template, overwritten per request.
const MARKER: u64 = 0xfeed_face_cafe_beef;
const BODY_SPANS: usize = 500;

/// A body template and where its trace ids' marker sits.
struct Template {
    body: Vec<u8>,
    at: Vec<usize>,
    json: bool,
}

impl Template {
    fn staso(per_trace: usize) -> BoxResult<Self> {
        let gs = groups(
            0..(BODY_SPANS / per_trace) as u64,
            per_trace,
            &|_| "default".into(),
            1000,
        );
        let req = staso_wire::ingest::IngestRequest {
            traces: gs
                .into_iter()
                .enumerate()
                .map(|(i, g)| staso_wire::ingest::TraceGroup {
                    trace_id: hyphenated(u128::from(MARKER) << 64 | i as u128),
                    timestamp: g.spans[0].span.timestamp.clone(),
                    environment: g.environment,
                    workspace_slug: g.workspace_slug,
                    spans: g.spans.into_iter().map(|c| c.span).collect(),
                })
                .collect(),
        };
        let body = serde_json::to_vec(&req)?;
        Ok(Template {
            at: find(&body, b"feedface-cafe-beef"),
            body,
            json: true,
        })
    }

    fn otlp(per_trace: usize) -> BoxResult<Self> {
        use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
        use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value::Value as Av};
        use opentelemetry_proto::tonic::resource::v1::Resource;
        use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
        use prost::Message;
        let kv = |k: &str, v: Av| KeyValue {
            key: k.into(),
            value: Some(AnyValue { value: Some(v) }),
            ..Default::default()
        };
        let str = |v: &str| Av::StringValue(v.into());
        let mut spans = Vec::new();
        for t in 0..(BODY_SPANS / per_trace) as u64 {
            let trace = (u128::from(MARKER) << 64 | u128::from(t))
                .to_be_bytes()
                .to_vec();
            for i in 0..per_trace as u64 {
                let start = 1_764_000_000_000_000_000u64 + t * 1_000_000 + i * 10_000;
                let mut attributes = vec![
                    kv(
                        "gen_ai.operation.name",
                        str(if i == 0 {
                            "invoke_agent"
                        } else {
                            "execute_tool"
                        }),
                    ),
                    kv("gen_ai.agent.name", str("support-agent")),
                    kv("session.id", str("conv-1")),
                    kv(
                        "input.value",
                        str(
                            r#"{"question":"What is the refund policy for order 1234?","limit":5}"#,
                        ),
                    ),
                    kv(
                        "output.value",
                        str(r#"{"answer":"Orders can be refunded within 30 days of delivery."}"#),
                    ),
                    kv("code.file.path", str("src/agent.rs")),
                    kv("code.line.number", Av::IntValue(42)),
                ];
                if i % 3 == 0 && i > 0 {
                    attributes.push(kv("gen_ai.response.model", str("gpt-4o-mini")));
                    attributes.push(kv("gen_ai.usage.input_tokens", Av::IntValue(420)));
                    attributes.push(kv("gen_ai.usage.output_tokens", Av::IntValue(64)));
                }
                spans.push(Span {
                    trace_id: trace.clone(),
                    span_id: (i + 1).to_be_bytes().to_vec(),
                    parent_span_id: if i == 0 {
                        vec![]
                    } else {
                        1u64.to_be_bytes().to_vec()
                    },
                    name: if i == 0 {
                        "agent run".into()
                    } else {
                        format!("step_{i}")
                    },
                    start_time_unix_nano: start,
                    end_time_unix_nano: start + 12_500_000,
                    attributes,
                    ..Default::default()
                });
            }
        }
        let req = ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans {
                resource: Some(Resource {
                    attributes: vec![kv("service.name", str("support-agent"))],
                    ..Default::default()
                }),
                scope_spans: vec![ScopeSpans {
                    spans,
                    ..Default::default()
                }],
                ..Default::default()
            }],
        };
        let body = req.encode_to_vec();
        Ok(Template {
            at: find(&body, &MARKER.to_be_bytes()),
            body,
            json: false,
        })
    }

    /// The body with request number `n` in every trace id.
    fn fill(&self, n: u64, out: &mut Vec<u8>) {
        out.clear();
        out.extend_from_slice(&self.body);
        for &at in &self.at {
            if self.json {
                let h = format!("{n:016x}");
                out[at..at + 8].copy_from_slice(&h.as_bytes()[..8]);
                out[at + 9..at + 13].copy_from_slice(&h.as_bytes()[8..12]);
                out[at + 14..at + 18].copy_from_slice(&h.as_bytes()[12..]);
            } else {
                out[at..at + 8].copy_from_slice(&n.to_be_bytes());
            }
        }
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Vec<usize> {
    hay.windows(needle.len())
        .enumerate()
        .filter(|(_, w)| *w == needle)
        .map(|(i, _)| i)
        .collect()
}

fn temp_db(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("staso-bench-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::create_dir_all(&dir);
    dir.join("staso.db")
}

/// Spans/s acknowledged by one server over `secs` s, with `clients` threads posting `template`.
fn ingest_case(template: Template, clients: usize, secs: u64) -> BoxResult<f64> {
    let db = temp_db("ingest");
    let server = Server::builder().api_key(KEY).db_path(&db).start()?;
    let addr = server.addr();
    let template = Arc::new(template);
    let next = Arc::new(AtomicU64::new(1));
    let acked = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let (path, ct) = if template.json {
        (staso_wire::INGEST_PATH, "application/json")
    } else {
        ("/v1/traces", "application/x-protobuf")
    };
    let threads: Vec<_> = (0..clients)
        .map(|_| {
            let (template, next, acked, stop) = (
                Arc::clone(&template),
                Arc::clone(&next),
                Arc::clone(&acked),
                Arc::clone(&stop),
            );
            std::thread::spawn(move || -> Result<(), String> {
                let mut conn = Conn::open(addr).map_err(|e| e.to_string())?;
                let mut body = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    template.fill(next.fetch_add(1, Ordering::Relaxed), &mut body);
                    let (status, resp) = conn
                        .request(
                            "POST",
                            path,
                            &[("X-API-Key", KEY), ("Content-Type", ct)],
                            &body,
                        )
                        .map_err(|e| e.to_string())?;
                    if status != 200 {
                        return Err(format!("{status}: {}", String::from_utf8_lossy(&resp)));
                    }
                    acked.fetch_add(BODY_SPANS as u64, Ordering::Relaxed);
                }
                Ok(())
            })
        })
        .collect();
    std::thread::sleep(Duration::from_secs(1));
    let (a0, t0) = (acked.load(Ordering::Relaxed), Instant::now());
    std::thread::sleep(Duration::from_secs(secs));
    let (a1, t1) = (acked.load(Ordering::Relaxed), Instant::now());
    stop.store(true, Ordering::Relaxed);
    for t in threads {
        t.join().map_err(|_| "client panicked")??;
    }
    server.shutdown();
    // Everything acknowledged is in the file.
    let stored: i64 = Store::open(&db)?
        .read(|tx| Ok(tx.query_row("SELECT COUNT(*) FROM spans", [], |r| r.get(0))?))?;
    assert!(
        stored as u64 >= a1,
        "acknowledged {a1} spans but {stored} stored"
    );
    let _ = std::fs::remove_dir_all(db.parent().unwrap_or(&db));
    Ok((a1 - a0) as f64 / (t1 - t0).as_secs_f64())
}

fn ingest() -> BoxResult<()> {
    println!("ingest, 4 clients, {BODY_SPANS} spans per request, 8 s per case:");
    for per_trace in [10, 1] {
        let rate = ingest_case(Template::staso(per_trace)?, 4, 8)?;
        println!("  Staso ingest JSON, {per_trace:>2} spans/trace: {rate:>9.0} spans/s");
        let rate = ingest_case(Template::otlp(per_trace)?, 4, 8)?;
        println!("  OTLP protobuf,     {per_trace:>2} spans/trace: {rate:>9.0} spans/s");
    }
    Ok(())
}

/// p50 and p99 in ms of `n` GETs of `path(i)`.
fn latency(
    conn: &mut Conn,
    key: &str,
    n: usize,
    path: &dyn Fn(usize) -> String,
) -> BoxResult<(f64, f64)> {
    let mut ms = Vec::with_capacity(n);
    for i in 0..n {
        let p = path(i);
        let t = Instant::now();
        let (status, body) = conn.request("GET", &p, &[("X-API-Key", key)], b"")?;
        ms.push(t.elapsed().as_secs_f64() * 1000.0);
        if status != 200 {
            return Err(format!("GET {p}: {status} {}", String::from_utf8_lossy(&body)).into());
        }
    }
    ms.sort_by(f64::total_cmp);
    Ok((ms[n / 2], ms[n * 99 / 100]))
}

fn read() -> BoxResult<()> {
    const TRACES: u64 = 100_000;
    const SESSIONS: u64 = 10_000;
    let db = temp_db("read");
    let t = Instant::now();
    {
        let store = Store::open(&db)?;
        let ws = |n: u64| format!("ws{}", n % 4);
        for chunk in (0..TRACES).collect::<Vec<_>>().chunks(2_000) {
            traces::store_groups(&store, groups(chunk.iter().copied(), 10, &ws, SESSIONS))?;
        }
    }
    println!(
        "read, {} spans in {TRACES} traces, 4 workspaces, {SESSIONS} conversations (built by direct store writes in {:.1} s):",
        TRACES * 10,
        t.elapsed().as_secs_f64()
    );
    let server = Server::builder()
        .db_path(&db)
        .api_key("ak_all")
        .key(ApiKey::scoped("ak_ws1", ["ws1"]))
        .start()?;
    let mut conn = Conn::open(server.addr())?;
    let mut rng = 0x2545_f491_4f6c_dd1du64;
    let mut pick = move |m: u64| {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng % m
    };
    let ids: Vec<u64> = (0..300).map(|_| pick(TRACES)).collect();
    let ws1: Vec<u64> = ids
        .iter()
        .map(|n| n - n % 4 + 1)
        .map(|n| n.min(TRACES - 3))
        .collect();
    let sids: Vec<u64> = (0..300).map(|_| pick(SESSIONS)).collect();
    type Case<'a> = (&'a str, &'a str, Box<dyn Fn(usize) -> String + 'a>);
    let cases: Vec<Case<'_>> = vec![
        (
            "trace list, workspace-scoped key",
            "ak_ws1",
            Box::new(|_| "/v1/traces?limit=50".into()),
        ),
        (
            "trace list, all-workspaces key",
            "ak_all",
            Box::new(|_| "/v1/traces?limit=50".into()),
        ),
        (
            "trace list, agent + status filter",
            "ak_all",
            Box::new(|_| "/v1/traces?limit=50&agent_name=support-agent&status=error".into()),
        ),
        (
            "trace page, all-workspaces key",
            "ak_all",
            Box::new(|i| format!("/v1/traces/{}", trace_id(ids[i]))),
        ),
        (
            "trace page, workspace-scoped key",
            "ak_ws1",
            Box::new(|i| format!("/v1/traces/{}", trace_id(ws1[i]))),
        ),
        (
            "conversation page",
            "ak_all",
            Box::new(|i| format!("/v1/conversations/conv-{}", sids[i])),
        ),
    ];
    for (what, key, path) in &cases {
        latency(&mut conn, key, 20, path)?;
        let (p50, p99) = latency(&mut conn, key, 300, path)?;
        println!("  {what:<36} p50 {p50:>7.2} ms   p99 {p99:>7.2} ms");
    }
    server.shutdown();
    let _ = std::fs::remove_dir_all(db.parent().unwrap_or(&db));
    Ok(())
}

fn main() -> BoxResult<()> {
    let what = std::env::args().nth(1).unwrap_or_else(|| "all".into());
    if what == "all" || what == "ingest" {
        ingest()?;
    }
    if what == "all" || what == "read" {
        read()?;
    }
    Ok(())
}
