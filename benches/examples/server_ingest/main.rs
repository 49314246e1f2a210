//! staso-server alone, over loopback HTTP: ingest throughput (Staso ingest JSON and OTLP protobuf
//! bodies posted by client threads, counted when acknowledged) and read latency over a database of
//! 1 M spans (built by direct store writes): trace list, trace page, conversation page.
//!
//! ```sh
//! cargo run --release -p staso-bench --example server_ingest            # both parts
//! cargo run --release -p staso-bench --example server_ingest -- ingest  # or: read
//! cargo run --release -p staso-bench --example server_ingest -- ingest 16  # 16 clients
//! cargo run --release -p staso-bench --example server_ingest -- ingest 4 1  # 1 span/trace only
//! cargo run --release -p staso-bench --example server_ingest -- ingest 4 0 fresh  # one workload
//! cargo run --release -p staso-bench --example server_ingest -- ingest 32 10 fresh 60  # 60 s each
//! ```
//!
//! Ingest: 4 client threads on keep-alive connections, bodies of 500 spans (50 traces of 10 spans,
//! and 500 traces of 1 span), every trace id new, 8 s per case after a 1 s warm-up; the server's
//! database is a file (WAL). Two workloads: `Fresh` as SDKs send (random trace ids, times moving
//! on from request to request) and `Replay` (the template's times in every request, ids counting
//! up: the workload of the first measurements, harder on the time indexes). The clients are a minimal hand-written HTTP/1.1 writer (no runtime),
//! so the machine's two cores go to the server as far as possible.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use staso_server::store::traces;
use staso_server::{ApiKey, Server, Store};

type BoxResult<T> = Result<T, Box<dyn std::error::Error>>;

/// The allocator of the `staso-server` binary (jemalloc), so the server side is measured as it runs.
#[cfg(all(target_os = "linux", not(target_env = "musl")))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

mod bodies;
mod client;
mod cpu;

use bodies::{BODY_SPANS, Template, Workload, groups, trace_id};
use client::Conn;

const KEY: &str = "ak_bench";

fn temp_db(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("staso-bench-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::create_dir_all(&dir);
    dir.join("staso.db")
}

/// What one ingest case measured.
struct Rate {
    /// Spans acknowledged per second.
    spans_per_s: f64,
    /// CPU µs per acknowledged span: the server's threads (the clients' excluded), and the
    /// store's writer thread alone.
    cpu_us: f64,
    writer_us: f64,
}

/// Spans/s acknowledged by one server over `secs` s, with `clients` threads posting `template`.
fn ingest_case(
    template: Template,
    workload: Workload,
    clients: usize,
    secs: u64,
) -> BoxResult<Rate> {
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
            let client = std::thread::Builder::new().name("bench-client".into());
            client.spawn(move || -> Result<(), String> {
                let mut conn = Conn::open(addr).map_err(|e| e.to_string())?;
                let mut body = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    template.fill(next.fetch_add(1, Ordering::Relaxed), workload, &mut body);
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
        .collect::<Result<Vec<_>, _>>()?;
    std::thread::sleep(Duration::from_secs(1));
    let (a0, t0, c0) = (
        acked.load(Ordering::Relaxed),
        Instant::now(),
        cpu::by_thread(),
    );
    std::thread::sleep(Duration::from_secs(secs));
    let (a1, t1, c1) = (
        acked.load(Ordering::Relaxed),
        Instant::now(),
        cpu::by_thread(),
    );
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
    let spans = (a1 - a0).max(1) as f64;
    let cpu = cpu::spent(&c0, &c1);
    Ok(Rate {
        spans_per_s: (a1 - a0) as f64 / (t1 - t0).as_secs_f64(),
        cpu_us: cpu
            .iter()
            .filter(|(name, _)| *name != "bench-client")
            .map(|(_, s)| s)
            .sum::<f64>()
            * 1e6
            / spans,
        writer_us: cpu.get("staso-store-wri").copied().unwrap_or(0.0) * 1e6 / spans,
    })
}

fn report(what: &str, per_trace: usize, r: &Rate) {
    println!(
        "  {what:<17} {per_trace:>2} spans/trace: {:>9.0} spans/s   CPU {:>5.1} µs/span (writer {:>4.1})",
        r.spans_per_s, r.cpu_us, r.writer_us
    );
}

fn ingest(clients: usize, only: Option<usize>, workloads: &[Workload], secs: u64) -> BoxResult<()> {
    println!("ingest, {clients} clients, {BODY_SPANS} spans per request, {secs} s per case:");
    for &workload in workloads {
        println!(" {workload:?} (server CPU per span, clients excluded):");
        for per_trace in [10, 1].into_iter().filter(|n| only.is_none_or(|o| o == *n)) {
            let rate = ingest_case(Template::staso(per_trace)?, workload, clients, secs)?;
            report("Staso ingest JSON", per_trace, &rate);
            let rate = ingest_case(Template::otlp(per_trace)?, workload, clients, secs)?;
            report("OTLP protobuf,", per_trace, &rate);
        }
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
    let (t, c0) = (Instant::now(), cpu::by_thread());
    let writer_s = {
        let store = Store::open(&db)?;
        let ws = |n: u64| format!("ws{}", n % 4);
        for chunk in (0..TRACES).collect::<Vec<_>>().chunks(2_000) {
            traces::store_groups(&store, groups(chunk.iter().copied(), 10, &ws, SESSIONS))?;
        }
        let spent = cpu::spent(&c0, &cpu::by_thread());
        spent.get("staso-store-wri").copied().unwrap_or(0.0)
    };
    println!(
        "read, {} spans in {TRACES} traces, 4 workspaces, {SESSIONS} conversations (built by direct \
         store writes in {:.1} s, writer thread CPU {:.1} µs/span):",
        TRACES * 10,
        t.elapsed().as_secs_f64(),
        writer_s * 1e6 / (TRACES * 10) as f64
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
    let clients = match std::env::args().nth(2) {
        Some(n) => n.parse()?,
        None => 4,
    };
    // Spans per trace of the only cases to run; 0 or none: both.
    let only = match std::env::args().nth(3) {
        Some(n) => Some(n.parse::<usize>()?).filter(|&n| n > 0),
        None => None,
    };
    let workloads = match std::env::args().nth(4).as_deref() {
        Some("fresh") => vec![Workload::Fresh],
        Some("replay") => vec![Workload::Replay],
        _ => vec![Workload::Fresh, Workload::Replay],
    };
    // Seconds measured per case (after the warm-up); a long run shows ingest sustained as the
    // database grows.
    let secs = match std::env::args().nth(5) {
        Some(n) => n.parse()?,
        None => 8,
    };
    if what == "all" || what == "ingest" {
        ingest(clients, only, &workloads, secs)?;
    }
    if what == "all" || what == "read" {
        read()?;
    }
    Ok(())
}
