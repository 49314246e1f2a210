//! Shared setup of the guard tests: a real `staso-server` with a guard policy on 127.0.0.1, a
//! global client pointed at it that records spans in memory, and a tiny recording HTTP server
//! (std `TcpListener`) for answers a correct server never gives. The global client is
//! process-wide, so every test of a binary holds the same lock.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use serde_json::Value;
use staso::{Client, Config, ConfigBuilder, InMemoryExporter};
use staso_server::{Policy, RunningServer};

pub const KEY: &str = "ak_test";

pub const POLICY: &str = r#"{
  "mode": "enforce",
  "rules": [
    {"name": "no-rm", "tool": "shell", "action": "block", "severity": "high",
     "when": [{"pointer": "/cmd", "matches": "rm\\s+-rf"}], "reason": "destructive command"},
    {"name": "big-refund", "tool": "refund", "action": "escalate",
     "when": [{"pointer": "/amount", "greater_than": 100}], "reason": "large refund"},
    {"name": "mask-mail", "tool": "send_*", "action": "modify",
     "when": [{"pointer": "/to", "equals": "ceo@example.com"}],
     "patch": [{"op": "replace", "path": "/to", "value": "assistant@example.com"}]},
    {"name": "watch-sql", "tool": "sql", "action": "block", "mode": "audit",
     "when": [{"pointer": "/q", "matches": "(?i)drop"}], "reason": "drop statement"},
    {"name": "no-secret", "tool": "lookup", "action": "block",
     "when": [{"pointer": "/key", "equals": "secret"}], "reason": "secret lookup"},
    {"name": "clamp-limit", "tool": "lookup", "action": "modify",
     "when": [{"pointer": "/limit", "greater_than": 10}],
     "patch": [{"op": "replace", "path": "/limit", "value": 10}]},
    {"name": "rename", "tool": "greet", "action": "modify",
     "when": [{"pointer": "/name", "equals": "root"}],
     "patch": [{"op": "replace", "path": "/name", "value": "guest"}]}
  ]
}"#;

static LOCK: Mutex<()> = Mutex::new(());

pub fn lock() -> MutexGuard<'static, ()> {
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

/// A server with [`POLICY`] and a global client (in-memory spans) using it.
pub struct Env {
    pub spans: InMemoryExporter,
    pub client: Client,
    pub server: RunningServer,
    _lock: MutexGuard<'static, ()>,
}

pub fn setup() -> Env {
    setup_with(|b| b)
}

/// Like [`setup`], with extra config (e.g. capture switches).
pub fn setup_with(extra: impl FnOnce(ConfigBuilder) -> ConfigBuilder) -> Env {
    let lock = lock();
    let server = staso_server::Server::builder()
        .api_key(KEY)
        .guard_policy(Policy::from_json(POLICY).expect("policy"))
        .start()
        .expect("server starts");
    let spans = InMemoryExporter::new();
    let client = install(server.base_url(), &spans, extra);
    Env {
        spans,
        client,
        server,
        _lock: lock,
    }
}

/// Installs a global client for `base_url` exporting into `spans`.
pub fn install(
    base_url: &str,
    spans: &InMemoryExporter,
    extra: impl FnOnce(ConfigBuilder) -> ConfigBuilder,
) -> Client {
    staso::init_with_exporter(config(base_url, extra), Arc::new(spans.clone())).expect("init")
}

pub fn config(base_url: &str, extra: impl FnOnce(ConfigBuilder) -> ConfigBuilder) -> Config {
    extra(
        Config::builder()
            .api_key(KEY)
            .agent_name("guard-tests")
            .base_url(base_url)
            .capture_git(false),
    )
    .build_with_env(|_| None)
    .expect("valid test config")
}

/// Approves (or rejects) the first pending escalation once one appears, from another thread.
pub fn decide_first_pending(
    base_url: &str,
    approve: bool,
    body: Value,
) -> std::thread::JoinHandle<Value> {
    let base = base_url.to_owned();
    std::thread::spawn(move || {
        let http = reqwest::blocking::Client::new();
        for _ in 0..200 {
            let list: Value = http
                .get(format!("{base}/v1/guard/escalations?status=pending"))
                .header("X-API-Key", KEY)
                .send()
                .and_then(|r| r.json())
                .expect("list escalations");
            if let Some(id) = list["escalations"][0]["escalation_id"].as_str() {
                let verb = if approve { "approve" } else { "reject" };
                return http
                    .post(format!("{base}/v1/guard/escalations/{id}/{verb}"))
                    .header("X-API-Key", KEY)
                    .json(&body)
                    .send()
                    .and_then(|r| r.json())
                    .expect("decide");
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        panic!("no pending escalation appeared");
    })
}

/// One request as the recording server saw it.
#[derive(Clone, Debug)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    /// Lowercased header names.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Recorded {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("request body is JSON")
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// What the recording server answers: status and body, after an optional delay.
pub struct Answer {
    pub status: u16,
    pub body: Vec<u8>,
    pub delay: Duration,
}

impl Answer {
    pub fn new(status: u16, body: impl Into<Vec<u8>>) -> Self {
        Answer {
            status,
            body: body.into(),
            delay: Duration::ZERO,
        }
    }
}

/// A purpose-built HTTP/1.1 server on 127.0.0.1:0 that records each request and answers it with
/// `respond(request)`. One connection at a time, `Connection: close`.
pub struct Recorder {
    pub base_url: String,
    pub requests: Arc<Mutex<Vec<Recorded>>>,
}

impl Recorder {
    pub fn start(respond: impl Fn(&Recorded) -> Answer + Send + 'static) -> Recorder {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let base_url = format!("http://{}", listener.local_addr().expect("addr"));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let seen = requests.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let Some(req) = read_request(&mut stream) else {
                    continue;
                };
                seen.lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push(req.clone());
                let answer = respond(&req);
                std::thread::sleep(answer.delay);
                let head = format!(
                    "HTTP/1.1 {} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    answer.status,
                    answer.body.len()
                );
                let _ = stream.write_all(head.as_bytes());
                let _ = stream.write_all(&answer.body);
                let _ = stream.flush();
            }
        });
        Recorder { base_url, requests }
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.requests
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

fn read_request(stream: &mut std::net::TcpStream) -> Option<Recorded> {
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_owned();
    let path = parts.next()?.to_owned();
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        reader.read_line(&mut h).ok()?;
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
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0usize);
    let mut body = vec![0; len];
    reader.read_exact(&mut body).ok()?;
    Some(Recorded {
        method,
        path,
        headers,
        body,
    })
}

/// A valid `allow` answer echoing the request's decision id and source.
pub fn allow_echo(req: &Recorded) -> Value {
    let sent = req.json();
    serde_json::json!({"action": "allow", "decision_id": sent["decision_id"],
                       "decision_source": sent["decision_source"]})
}
