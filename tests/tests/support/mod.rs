//! Test support for the transport tests: a fault-injecting ingest server on 127.0.0.1, a thin
//! layer over the shared [`staso_tests::http::Server`], plus helpers to build configs, exporters
//! and records.
//!
//! The server answers each request with the next scripted [`Reply`] (then the default one),
//! records every request, and knows which ones it acknowledged, so tests can assert "delivered
//! exactly once" from the server's side.
#![allow(dead_code)]

use std::collections::{HashMap, VecDeque};
use std::ops::Deref;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use serde_json::{Map, Value, json};
use staso_core::__internal::{HttpExporter, TransportOptions};
use staso_core::DeliveryReport;
use staso_core::ExportSettings;
use staso_core::SpanKind;
use staso_core::SpanRecord;
use staso_core::{Config, ConfigBuilder};
use staso_core::{SpanId, TraceId};
use staso_tests::http::{self, Exchange, Response};

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
    /// Waits until [`Server::release`] (at most 30 s), then answers. Any delay inside it is
    /// waited before the hold, not after.
    Hold(Box<Reply>),
    /// Closes the connection without answering.
    Close,
}

impl Reply {
    fn response(&self, request: &http::Request) -> Response {
        const ERROR: &str = r#"{"detail":"test"}"#;
        match self {
            Reply::Ack => Response::json(200, ack_body(request)),
            Reply::AckEdited(edit) => {
                let mut ack = ack_for(request);
                edit(&mut ack);
                Response::json(200, Value::Object(ack).to_string())
            }
            Reply::Status(status) => Response::json(*status, ERROR),
            Reply::StatusWith(status, extra) => extra
                .iter()
                .fold(Response::json(*status, ERROR), |r, (k, v)| r.header(*k, v)),
            Reply::Raw(status, content_type, body) => Response::new(*status)
                .header("Content-Type", *content_type)
                .body(body.as_bytes()),
            Reply::Delay(delay, then) => then.response(request).delayed(*delay),
            Reply::Hold(then) => then.response(request).held(),
            Reply::Close => Response::no_answer(),
        }
    }
}

/// One request as the server saw it (the shared [`http::Request`]), and whether it was
/// acknowledged.
#[derive(Clone, Debug)]
pub struct Request {
    request: http::Request,
    /// The server answered with the exact acknowledgement of §3.3 (set just before the answer
    /// was written, so also when the client had given up by then).
    pub acked: bool,
}

impl Deref for Request {
    type Target = http::Request;

    fn deref(&self) -> &http::Request {
        &self.request
    }
}

impl From<Exchange> for Request {
    fn from(e: Exchange) -> Request {
        let acked = e
            .response
            .is_some_and(|r| r.status == 200 && r.body == ack_body(&e.request));
        Request {
            request: e.request,
            acked,
        }
    }
}

impl Request {
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

struct Script {
    next: VecDeque<Reply>,
    default: Reply,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// A fault-injecting ingest server on 127.0.0.1.
pub struct Server {
    http: http::Server,
    script: Arc<Mutex<Script>>,
}

impl Server {
    /// A server answering every request with `default` after the `script` replies.
    pub fn start(script: Vec<Reply>, default: Reply) -> Server {
        let script = Arc::new(Mutex::new(Script {
            next: script.into(),
            default,
        }));
        let replies = script.clone();
        let http = http::Server::start(move |request| {
            let mut replies = lock(&replies);
            let reply = replies.next.pop_front();
            reply.as_ref().unwrap_or(&replies.default).response(request)
        });
        Server { http, script }
    }

    /// A server that acknowledges everything.
    pub fn acking() -> Server {
        Server::start(Vec::new(), Reply::Ack)
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        self.http.url()
    }

    /// Replaces the default reply.
    pub fn set_default(&self, reply: Reply) {
        lock(&self.script).default = reply;
    }

    /// Lets held requests answer.
    pub fn release(&self) {
        self.http.release();
    }

    /// Every request so far.
    pub fn requests(&self) -> Vec<Request> {
        self.http
            .exchanges()
            .into_iter()
            .map(Request::from)
            .collect()
    }

    /// Waits until at least `n` requests arrived (or `timeout`); returns them.
    pub fn wait_for_requests(&self, n: usize, timeout: Duration) -> Vec<Request> {
        let all = self.http.wait_for(n, timeout);
        all.into_iter().map(Request::from).collect()
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
pub fn ack_for(request: &http::Request) -> Map<String, Value> {
    let groups = count_groups(&request.body);
    let mut m = Map::new();
    m.insert("accepted".into(), json!(groups));
    m.insert("rejected".into(), json!(0));
    m.insert("spans_dropped".into(), json!(0));
    let key = request.header("idempotency-key").unwrap_or_default();
    m.insert("receipt_id".into(), json!(key));
    m
}

/// The exact bytes of [`ack_for`]'s acknowledgement, as [`Reply::Ack`] sends them.
fn ack_body(request: &http::Request) -> Vec<u8> {
    Value::Object(ack_for(request)).to_string().into_bytes()
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

/// A port on 127.0.0.1 with nothing listening.
pub fn closed_port_url() -> String {
    format!("http://{}", http::free_addr())
}
