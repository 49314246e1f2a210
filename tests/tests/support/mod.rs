//! Test support for the transport tests: a purpose-built, fault-injecting HTTP/1.1 ingest server
//! on 127.0.0.1 (never any other address), plus helpers to build configs, exporters and records.
//!
//! The server answers each request with the next scripted [`Reply`] (then the default one),
//! records every request, and knows which ones it acknowledged, so tests can assert "delivered
//! exactly once" from the server's side.
#![allow(dead_code)]

use std::collections::{HashMap, VecDeque};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::{Map, Value, json};
use staso_core::__internal::{HttpExporter, TransportOptions};
use staso_core::DeliveryReport;
use staso_core::ExportSettings;
use staso_core::SpanKind;
use staso_core::SpanRecord;
use staso_core::{Config, ConfigBuilder};
use staso_core::{SpanId, TraceId};

/// The api key every test config uses.
pub const API_KEY: &str = "ak_test_SECRET_5f3c";

/// How the server answers one request.
#[derive(Clone, Debug)]
pub enum Reply {
    /// 200 with the exact acknowledgement of §3.3.
    Ack,
    /// 200 with the exact acknowledgement, then edited (wrong count, wrong receipt, …).
    AckEdited(fn(&mut Map<String, Value>)),
    /// The status with a small JSON error body.
    Status(u16),
    /// The status with extra headers and a small JSON error body.
    StatusWith(u16, Vec<(&'static str, String)>),
    /// Any status, content type and body.
    Raw(u16, &'static str, String),
    /// Waits, then answers.
    Delay(Duration, Box<Reply>),
    /// Waits until [`Server::release`] (at most 30 s), then answers.
    Hold(Box<Reply>),
    /// Closes the connection without answering.
    Close,
}

/// One request as the server saw it.
#[derive(Clone, Debug)]
pub struct Request {
    pub method: String,
    pub path: String,
    /// Header names lowercased, in arrival order.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// The server answered with a valid acknowledgement.
    pub acked: bool,
    pub at: Instant,
}

impl Request {
    /// A header's value (case-insensitive name).
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The body as JSON (panics when it is not).
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("request body is JSON")
    }

    /// `Idempotency-Key`.
    pub fn key(&self) -> String {
        self.header("idempotency-key")
            .unwrap_or_default()
            .to_owned()
    }

    /// `(trace_id, span_id)` of every span in the body, in order.
    pub fn span_ids(&self) -> Vec<(String, String)> {
        let body = self.json();
        let mut out = Vec::new();
        for t in body["traces"].as_array().into_iter().flatten() {
            let trace = t["trace_id"].as_str().unwrap_or_default().to_owned();
            for s in t["spans"].as_array().into_iter().flatten() {
                out.push((
                    trace.clone(),
                    s["span_id"].as_str().unwrap_or_default().to_owned(),
                ));
            }
        }
        out
    }

    /// Number of trace groups in the body.
    pub fn groups(&self) -> usize {
        self.json()["traces"].as_array().map_or(0, Vec::len)
    }
}

struct Inner {
    script: Mutex<VecDeque<Reply>>,
    default: Mutex<Reply>,
    requests: Mutex<Vec<Request>>,
    arrived: Condvar,
    released: Mutex<bool>,
    release: Condvar,
    stop: AtomicBool,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// A fault-injecting ingest server on 127.0.0.1.
pub struct Server {
    addr: SocketAddr,
    inner: Arc<Inner>,
}

impl Server {
    /// A server answering every request with `default` after the `script` replies.
    pub fn start(script: Vec<Reply>, default: Reply) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local addr");
        listener.set_nonblocking(true).expect("nonblocking");
        let inner = Arc::new(Inner {
            script: Mutex::new(script.into()),
            default: Mutex::new(default),
            requests: Mutex::new(Vec::new()),
            arrived: Condvar::new(),
            released: Mutex::new(false),
            release: Condvar::new(),
            stop: AtomicBool::new(false),
        });
        let accept_inner = inner.clone();
        thread::spawn(move || {
            while !accept_inner.stop.load(Ordering::Acquire) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        let conn_inner = accept_inner.clone();
                        thread::spawn(move || serve(stream, conn_inner));
                    }
                    Err(_) => thread::sleep(Duration::from_millis(2)),
                }
            }
        });
        Server { addr, inner }
    }

    /// A server that acknowledges everything.
    pub fn acking() -> Server {
        Server::start(Vec::new(), Reply::Ack)
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Replaces the default reply.
    pub fn set_default(&self, reply: Reply) {
        *lock(&self.inner.default) = reply;
    }

    /// Lets held requests answer.
    pub fn release(&self) {
        *lock(&self.inner.released) = true;
        self.inner.release.notify_all();
    }

    /// Every request so far.
    pub fn requests(&self) -> Vec<Request> {
        lock(&self.inner.requests).clone()
    }

    /// Waits until at least `n` requests arrived (or `timeout`); returns them.
    pub fn wait_for_requests(&self, n: usize, timeout: Duration) -> Vec<Request> {
        let deadline = Instant::now() + timeout;
        let mut reqs = lock(&self.inner.requests);
        while reqs.len() < n {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            reqs = self
                .inner
                .arrived
                .wait_timeout(reqs, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        reqs.clone()
    }

    /// `(trace_id, span_id)` of every span in acknowledged requests, with their counts.
    pub fn delivered(&self) -> HashMap<(String, String), usize> {
        let mut seen = HashMap::new();
        for r in self.requests().iter().filter(|r| r.acked) {
            for id in r.span_ids() {
                *seen.entry(id).or_insert(0) += 1;
            }
        }
        seen
    }

    /// Asserts no span was acknowledged twice; returns how many distinct spans were.
    pub fn assert_delivered_once(&self) -> usize {
        let seen = self.delivered();
        let dups: Vec<_> = seen.iter().filter(|(_, n)| **n > 1).collect();
        assert!(dups.is_empty(), "spans delivered more than once: {dups:?}");
        seen.len()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.inner.stop.store(true, Ordering::Release);
        self.release();
    }
}

/// Serves one connection (keep-alive) until the client closes it or it idles for 30 s.
fn serve(stream: TcpStream, inner: Arc<Inner>) {
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_read_timeout(Some(Duration::from_secs(30)));
    let mut writer = match stream.try_clone() {
        Ok(w) => w,
        Err(_) => return,
    };
    let mut reader = BufReader::new(stream);
    loop {
        let Some(request) = read_request(&mut reader) else {
            return;
        };
        let reply = lock(&inner.script)
            .pop_front()
            .unwrap_or_else(|| lock(&inner.default).clone());
        // Recorded on arrival (a held request is visible), marked acked before the answer.
        let index = record(&inner, request.clone());
        let Some((status, headers, body, acked)) = answer(&reply, &request, &inner) else {
            return; // Close
        };
        if let Some(r) = lock(&inner.requests).get_mut(index) {
            r.acked = acked;
        }
        let mut head = format!(
            "HTTP/1.1 {status} {}\r\nContent-Length: {}\r\nConnection: keep-alive\r\n",
            reason(status),
            body.len()
        );
        for (k, v) in headers {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        head.push_str("\r\n");
        if writer.write_all(head.as_bytes()).is_err() || writer.write_all(body.as_bytes()).is_err()
        {
            return;
        }
        let _ = writer.flush();
    }
}

fn record(inner: &Inner, request: Request) -> usize {
    let mut requests = lock(&inner.requests);
    requests.push(request);
    inner.arrived.notify_all();
    requests.len() - 1
}

fn read_request(reader: &mut BufReader<TcpStream>) -> Option<Request> {
    let mut line = String::new();
    if reader.read_line(&mut line).ok()? == 0 {
        return None;
    }
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_owned();
    let path = parts.next()?.to_owned();
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).ok()? == 0 {
            return None;
        }
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        let (k, v) = h.split_once(':')?;
        headers.push((k.trim().to_ascii_lowercase(), v.trim().to_owned()));
    }
    let len = headers
        .iter()
        .find(|(k, _)| k == "content-length")
        .and_then(|(_, v)| v.parse::<usize>().ok())
        .unwrap_or(0);
    let mut body = vec![0; len];
    reader.read_exact(&mut body).ok()?;
    Some(Request {
        method,
        path,
        headers,
        body,
        acked: false,
        at: Instant::now(),
    })
}

/// Trace groups in an ingest body, without parsing it: the key `"trace_id":` occurs only at
/// group level (spans do not carry it, and quotes inside embedded documents are escaped).
/// Anything that is not an ingest body counts 0 groups.
pub fn count_groups(body: &[u8]) -> usize {
    const KEY: &[u8] = b"\"trace_id\":";
    if !body.starts_with(b"{\"traces\":") {
        return 0;
    }
    // A plain loop: this runs unoptimized in tests, where iterator adapters are slow.
    let mut count = 0;
    let mut i = 0;
    while i + KEY.len() <= body.len() {
        if body[i] == b'"' && &body[i..i + KEY.len()] == KEY {
            count += 1;
            i += KEY.len();
        } else {
            i += 1;
        }
    }
    count
}

/// The correct acknowledgement of `request`.
pub fn ack_for(request: &Request) -> Map<String, Value> {
    let groups = count_groups(&request.body);
    let mut m = Map::new();
    m.insert("accepted".into(), json!(groups));
    m.insert("rejected".into(), json!(0));
    m.insert("spans_dropped".into(), json!(0));
    m.insert("receipt_id".into(), json!(request.key()));
    m
}

type Answer = (u16, Vec<(&'static str, String)>, String, bool);

fn answer(reply: &Reply, request: &Request, inner: &Inner) -> Option<Answer> {
    let json_ct = vec![("Content-Type", "application/json".to_owned())];
    match reply {
        Reply::Ack => Some((
            200,
            json_ct,
            Value::Object(ack_for(request)).to_string(),
            true,
        )),
        Reply::AckEdited(edit) => {
            let mut ack = ack_for(request);
            edit(&mut ack);
            Some((200, json_ct, Value::Object(ack).to_string(), false))
        }
        Reply::Status(s) => Some((*s, json_ct, r#"{"detail":"test"}"#.to_owned(), false)),
        Reply::StatusWith(s, extra) => {
            let mut headers = json_ct;
            headers.extend(extra.iter().cloned());
            Some((*s, headers, r#"{"detail":"test"}"#.to_owned(), false))
        }
        Reply::Raw(s, ct, body) => Some((
            *s,
            vec![("Content-Type", (*ct).to_owned())],
            body.clone(),
            false,
        )),
        Reply::Delay(d, then) => {
            thread::sleep(*d);
            answer(then, request, inner)
        }
        Reply::Hold(then) => {
            let deadline = Instant::now() + Duration::from_secs(30);
            let mut released = lock(&inner.released);
            while !*released && Instant::now() < deadline {
                released = inner
                    .release
                    .wait_timeout(released, Duration::from_millis(50))
                    .unwrap_or_else(|e| e.into_inner())
                    .0;
            }
            drop(released);
            answer(then, request, inner)
        }
        Reply::Close => None,
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        204 => "No Content",
        302 => "Found",
        401 => "Unauthorized",
        402 => "Payment Required",
        403 => "Forbidden",
        404 => "Not Found",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Status",
    }
}

/// A builder with the test key and agent, pointed at `url`, git detection off.
pub fn test_config(url: &str) -> ConfigBuilder {
    Config::builder()
        .api_key(API_KEY)
        .agent_name("demo")
        .base_url(url)
        .capture_git(false)
}

/// Builds a config without reading the process environment.
pub fn build(builder: ConfigBuilder) -> Config {
    builder.build_with_env(|_| None).expect("valid test config")
}

/// Short timeouts and retry delays, so fault tests finish quickly.
pub fn fast_options() -> TransportOptions {
    TransportOptions {
        request_timeout: Duration::from_secs(3),
        retry_delays: [Duration::from_millis(20), Duration::from_millis(40)],
        ..TransportOptions::default()
    }
}

/// Starts an exporter for `config` with `opts`.
pub fn start_exporter(config: &Config, opts: TransportOptions) -> HttpExporter {
    let emit = Arc::new(ExportSettings::from_config(config, "session-test".into()));
    HttpExporter::start_with(config, emit, opts).expect("exporter starts")
}

/// A chain span record.
pub fn span_record(trace: u128, span: u64, parent: Option<u64>) -> SpanRecord {
    SpanRecord::new(
        TraceId(trace),
        SpanId(span),
        parent.map(SpanId),
        "step".into(),
        SpanKind::Chain,
        staso_core::__internal::now(),
    )
}

/// `accepted = delivered + failed + pending`.
#[track_caller]
pub fn assert_balanced(r: &DeliveryReport) {
    assert_eq!(
        r.accepted,
        r.delivered + r.failed + r.pending,
        "unbalanced report: {r:?}"
    );
}

/// Captures every log line of this test binary (installed once).
pub fn captured_logs() -> &'static Mutex<Vec<String>> {
    static LOGS: OnceLock<&'static Mutex<Vec<String>>> = OnceLock::new();
    LOGS.get_or_init(|| {
        let logger: &'static Capture = Box::leak(Box::new(Capture(Mutex::new(Vec::new()))));
        let _ = log::set_logger(logger);
        log::set_max_level(log::LevelFilter::Trace);
        &logger.0
    })
}

struct Capture(Mutex<Vec<String>>);

impl log::Log for Capture {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }
    fn log(&self, record: &log::Record<'_>) {
        lock(&self.0).push(format!(
            "{} {}: {}",
            record.level(),
            record.target(),
            record.args()
        ));
    }
    fn flush(&self) {}
}

/// A port on 127.0.0.1 with nothing listening.
pub fn closed_port_url() -> String {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = l.local_addr().expect("addr");
    drop(l);
    format!("http://{addr}")
}
