//! Helpers shared by the integration tests: a server on 127.0.0.1 with a temporary database, raw
//! JSON over real HTTP, the official SDK's recorded requests, and span builders.
#![allow(dead_code)]

use std::path::PathBuf;

use reqwest::blocking::Client;
use serde_json::{Value, json};
use staso_server::{RunningServer, Server, ServerBuilder};

pub const KEY: &str = "ak_test";

/// A server whose database lives in `dir` (kept so a test can restart on the same file).
pub struct Peer {
    pub server: RunningServer,
    pub dir: tempfile::TempDir,
    pub http: Client,
}

impl Peer {
    pub fn start() -> Peer {
        Self::start_with(|b| b.api_key(KEY))
    }

    pub fn start_with(f: impl FnOnce(ServerBuilder) -> ServerBuilder) -> Peer {
        let dir = tempfile::tempdir().unwrap();
        let server = f(Server::builder().db_path(dir.path().join("staso.db")))
            .start()
            .unwrap();
        Peer {
            server,
            dir,
            http: Client::new(),
        }
    }

    pub fn db(&self) -> PathBuf {
        self.dir.path().join("staso.db")
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.server.base_url())
    }

    /// POSTs raw bytes as JSON; returns the status and the parsed (or `null`) body.
    pub fn post_raw(
        &self,
        path: &str,
        key: &str,
        idem: Option<&str>,
        body: Vec<u8>,
    ) -> (u16, Value) {
        let mut req = self
            .http
            .post(self.url(path))
            .header("X-API-Key", key)
            .header("Content-Type", "application/json")
            .body(body);
        if let Some(k) = idem {
            req = req.header("Idempotency-Key", k);
        }
        let resp = req.send().unwrap();
        let status = resp.status().as_u16();
        (status, resp.json().unwrap_or(Value::Null))
    }

    pub fn post(&self, path: &str, key: &str, idem: Option<&str>, body: &Value) -> (u16, Value) {
        self.post_raw(path, key, idem, serde_json::to_vec(body).unwrap())
    }

    pub fn send(&self, method: &str, path: &str, key: &str, body: Option<&Value>) -> (u16, Value) {
        let m = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut req = self
            .http
            .request(m, self.url(path))
            .header("X-API-Key", key);
        if let Some(b) = body {
            req = req.json(b);
        }
        let resp = req.send().unwrap();
        let status = resp.status().as_u16();
        (status, resp.json().unwrap_or(Value::Null))
    }

    pub fn get(&self, path: &str, key: &str) -> (u16, Value) {
        self.send("GET", path, key, None)
    }

    pub fn ingest(&self, idem: &str, body: &Value) -> (u16, Value) {
        self.post("/v1/traces/ingest", KEY, Some(idem), body)
    }

    /// The rendered span tree of a stored trace.
    pub fn tree(&self, trace_id: &str) -> String {
        let (status, trace) = self.get(&format!("/v1/traces/{trace_id}"), KEY);
        assert_eq!(status, 200, "{trace}");
        staso_server::render::trace_tree(&trace)
    }

    /// Replays one recorded file of the official SDK with its own headers; returns the responses.
    pub fn replay(&self, name: &str) -> Vec<(u16, Value, Value)> {
        let recorded = golden(name);
        let mut out = Vec::new();
        for r in recorded["requests"].as_array().unwrap() {
            let mut req = self.http.post(self.url(r["path"].as_str().unwrap()));
            for h in r["headers"].as_array().unwrap() {
                req = req.header(h[0].as_str().unwrap(), h[1].as_str().unwrap());
            }
            let resp = req
                .body(serde_json::to_vec(&r["body"]).unwrap())
                .send()
                .unwrap();
            let status = resp.status().as_u16();
            out.push((status, resp.json().unwrap_or(Value::Null), r.clone()));
        }
        out
    }
}

pub fn golden(name: &str) -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name);
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// A complete wire span (PROTOCOL.md §2.1), root when `parent` is `None`.
pub fn span(span_id: &str, parent: Option<&str>, name: &str, kind: &str, ts: &str) -> Value {
    json!({
        "span_id": span_id, "parent_span_id": parent, "name": name, "kind": kind,
        "timestamp": ts, "duration_ms": 1.5, "status": "ok", "model": "", "provider": "",
        "requested_model": "", "usage_available": null, "reasoning_effort": "",
        "input_tokens": 0, "output_tokens": 0, "total_tokens": 0,
        "input": "{\"q\": 1}", "output": "", "attributes": "{}", "error_message": null,
        "session_id": "s1", "agent_name": "agent", "agent_id": "a-id", "agent_version": "",
        "user_id": "", "capture": {"request": "captured", "system_prompt": "captured",
        "tool_schema": "captured", "tool_arguments": "captured", "output": "captured"}
    })
}

/// One trace group.
pub fn group(trace_id: &str, workspace: &str, spans: Vec<Value>) -> Value {
    let ts = spans
        .iter()
        .filter_map(|s| s["timestamp"].as_str())
        .min()
        .unwrap_or("")
        .to_owned();
    json!({"trace_id": trace_id, "timestamp": ts, "environment": "test",
           "workspace_slug": workspace, "spans": spans})
}

/// A body with one single-span trace per id.
pub fn simple_body(trace_ids: &[&str], workspace: &str) -> Value {
    let groups: Vec<Value> = trace_ids
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let ts = format!("2026-01-01T00:00:{:02}.000000+00:00", i % 60);
            group(
                t,
                workspace,
                vec![span(
                    "00000000-0000-0000-0000-000000000001",
                    None,
                    "root",
                    "agent",
                    &ts,
                )],
            )
        })
        .collect();
    json!({ "traces": groups })
}

/// Number of traces the key sees.
pub fn count_traces(peer: &Peer, key: &str) -> usize {
    let (status, v) = peer.get("/v1/traces?limit=500", key);
    assert_eq!(status, 200, "{v}");
    v["traces"].as_array().unwrap().len()
}

/// The `staso-server` binary started with `serve --addr 127.0.0.1:0 --db <dir>/staso.db` and `args`,
/// its stdout piped (stderr too when `capture_stderr`), and the address it printed. The returned
/// lines keep stdout open: the child may print more after its first line.
pub fn spawn_binary(
    dir: &std::path::Path,
    args: &[&str],
    capture_stderr: bool,
) -> (
    std::process::Child,
    std::net::SocketAddr,
    std::io::Lines<std::io::BufReader<std::process::ChildStdout>>,
) {
    use std::io::BufRead;
    use std::process::{Command, Stdio};
    let mut child = Command::new(env!("CARGO_BIN_EXE_staso-server"))
        .args(["serve", "--addr", "127.0.0.1:0", "--db"])
        .arg(dir.join("staso.db"))
        .args(args)
        .env_remove("STASO_SERVER_API_KEYS")
        .stdout(Stdio::piped())
        .stderr(if capture_stderr {
            Stdio::piped()
        } else {
            Stdio::inherit()
        })
        .spawn()
        .unwrap();
    let mut printed = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let first = printed.next().unwrap().unwrap();
    let addr = first
        .strip_prefix("staso-server listening on http://")
        .unwrap_or_else(|| panic!("{first}"))
        .parse()
        .unwrap();
    (child, addr, printed)
}
