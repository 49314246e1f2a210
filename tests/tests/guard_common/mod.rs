//! Shared setup of the guard tests: a real `staso-server` with a guard policy on 127.0.0.1, a
//! global client pointed at it that records spans in memory, and a recording server (a thin layer
//! over the shared [`staso_tests::http::Server`]) for answers a correct server never gives. The
//! global client is process-wide, so every test of a binary holds the same lock.
#![allow(dead_code)]

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use serde_json::Value;
use staso::{Client, Config, ConfigBuilder, InMemoryExporter};
use staso_server::{Policy, RunningServer};
use staso_tests::http::{self, Response};

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
pub type Recorded = http::Request;

/// What the recording server answers: status and a JSON body, after an optional delay.
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

/// A recording server on 127.0.0.1:0 answering each request with `respond(request)`,
/// `Connection: close`.
pub struct Recorder {
    pub base_url: String,
    http: http::Server,
}

impl Recorder {
    pub fn start(respond: impl Fn(&Recorded) -> Answer + Send + 'static) -> Recorder {
        let http = http::Server::start(move |request| {
            let answer = respond(request);
            Response::json(answer.status, answer.body)
                .header("Connection", "close")
                .delayed(answer.delay)
        });
        Recorder {
            base_url: http.url(),
            http,
        }
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.http.requests()
    }
}

/// A valid `allow` answer echoing the request's decision id and source.
pub fn allow_echo(req: &Recorded) -> Value {
    let sent = req.json();
    serde_json::json!({"action": "allow", "decision_id": sent["decision_id"],
                       "decision_source": sent["decision_source"]})
}
