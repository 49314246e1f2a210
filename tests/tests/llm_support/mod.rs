//! A stub LLM provider on 127.0.0.1 that replays the recorded responses in
//! `../shared/testdata/llm/fixtures` byte for byte (status, headers, body; SSE bodies one chunk
//! per event with the first event delayed longer than the later ones), following a plan of
//! fixtures per route, and answers guard checks (`POST /v1/guard/evaluate`) from the fixtures'
//! guard templates.
//!
//! Written on std's `TcpListener` like `staso_tests::http` (which answers with one whole body):
//! a streamed answer needs chunks written over time. Delays are shortened (300 ms → 30 ms for
//! JSON, 150 ms → 40 ms for the first event, 10 ms → 2 ms between events) keeping their order.
#![allow(dead_code)]

use std::collections::{HashMap, VecDeque};
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use serde_json::Value;

pub const JSON_DELAY: Duration = Duration::from_millis(30);
pub const FIRST_EVENT_DELAY: Duration = Duration::from_millis(40);
pub const INTER_EVENT_DELAY: Duration = Duration::from_millis(2);

/// The shared LLM test data directory.
pub fn testdata() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/testdata/llm")
}

/// A fixture's bytes (`openai/chat_plain` → the body file).
pub fn fixture_body(name: &str) -> Vec<u8> {
    let meta = fixture_meta(name);
    let file = meta["body_file"].as_str().expect("body_file");
    let dir = testdata()
        .join("fixtures")
        .join(name)
        .parent()
        .map(PathBuf::from);
    std::fs::read(dir.expect("dir").join(file)).expect("fixture body")
}

pub fn fixture_meta(name: &str) -> Value {
    let path = testdata()
        .join("fixtures")
        .join(format!("{name}.meta.json"));
    serde_json::from_slice(&std::fs::read(&path).expect("fixture meta")).expect("meta JSON")
}

/// The expected spans of a scenario.
pub fn expected(scenario: &str) -> Vec<Value> {
    let path = testdata()
        .join("scenarios")
        .join(scenario)
        .join("expected_spans.json");
    let v: Value = serde_json::from_slice(&std::fs::read(path).expect("expected")).expect("JSON");
    v["spans"].as_array().cloned().unwrap_or_default()
}

/// How the stub answers a guard check for a tool.
#[derive(Clone, Debug)]
pub enum GuardAnswer {
    Allow,
    Block,
    /// `modify` with this input.
    Modify(Value),
}

/// One request as the stub read it.
#[derive(Clone, Debug)]
pub struct Logged {
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Logged {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

struct State {
    plan: HashMap<String, VecDeque<String>>,
    guard: HashMap<String, GuardAnswer>,
    log: Vec<Logged>,
}

/// The stub server; stops accepting when dropped (threads end with their connection).
pub struct Stub {
    addr: std::net::SocketAddr,
    state: Arc<Mutex<State>>,
}

impl Stub {
    /// `plan`: `("POST /v1/chat/completions", &["openai/chat_plain", …])`.
    pub fn start(plan: &[(&str, &[&str])]) -> Stub {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        let state = Arc::new(Mutex::new(State {
            plan: plan
                .iter()
                .map(|(route, names)| {
                    (
                        (*route).to_owned(),
                        names.iter().map(|n| (*n).to_owned()).collect(),
                    )
                })
                .collect(),
            guard: HashMap::new(),
            log: Vec::new(),
        }));
        let shared = state.clone();
        thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { continue };
                let shared = shared.clone();
                thread::spawn(move || serve(conn, &shared));
            }
        });
        Stub { addr, state }
    }

    /// Scripts the guard's answer for `tool` (default: allow).
    pub fn guard(&self, tool: &str, answer: GuardAnswer) {
        self.lock().guard.insert(tool.to_owned(), answer);
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn requests(&self) -> Vec<Logged> {
        self.lock().log.clone()
    }

    /// The provider requests (not the guard's).
    pub fn llm_requests(&self) -> Vec<Logged> {
        self.requests()
            .into_iter()
            .filter(|r| !r.path.contains("/guard/"))
            .collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn serve(conn: TcpStream, state: &Mutex<State>) {
    let _ = conn.set_nodelay(true);
    let Ok(mut writer) = conn.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(conn);
    let Some(req) = read_request(&mut reader) else {
        return;
    };
    let route = format!("{} {}", req.method, req.path);
    let (fixture, guard) = {
        let mut st = state.lock().unwrap_or_else(|e| e.into_inner());
        st.log.push(req.clone());
        let fixture = st.plan.get_mut(&route).and_then(VecDeque::pop_front);
        let tool = req.json()["tool_name"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        (fixture, st.guard.get(&tool).cloned())
    };
    if req.path.ends_with("/v1/guard/evaluate") {
        let body = guard_answer(&req.json(), guard.unwrap_or(GuardAnswer::Allow));
        let _ = write_whole(
            &mut writer,
            200,
            &[("Content-Type", "application/json")],
            &body,
        );
        return;
    }
    let Some(name) = fixture else {
        let _ = write_whole(&mut writer, 599, &[], b"{\"error\":\"nothing planned\"}");
        return;
    };
    let meta = fixture_meta(&name);
    let status = meta["status"].as_u64().unwrap_or(200) as u16;
    let headers: Vec<(String, String)> = meta["headers"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|h| Some((h[0].as_str()?.to_owned(), h[1].as_str()?.to_owned())))
        .collect();
    let headers: Vec<(&str, &str)> = headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let dir = testdata().join("fixtures").join(&name);
    let dir = dir.parent().map(PathBuf::from).unwrap_or_default();
    let include_usage = req.json()["stream_options"]["include_usage"] == Value::Bool(true);
    let file = match meta["body_file_no_include_usage"].as_str() {
        Some(f) if !include_usage => f.to_owned(),
        _ => meta["body_file"].as_str().unwrap_or_default().to_owned(),
    };
    let body = std::fs::read(dir.join(file)).unwrap_or_default();
    if meta["sse"] == Value::Bool(true) {
        let _ = write_sse(&mut writer, status, &headers, &body);
    } else {
        thread::sleep(JSON_DELAY);
        let _ = write_whole(&mut writer, status, &headers, &body);
    }
}

fn guard_answer(req: &Value, answer: GuardAnswer) -> Vec<u8> {
    let template = match answer {
        GuardAnswer::Block => "block",
        _ => "allow",
    };
    let text = std::fs::read_to_string(
        testdata()
            .join("fixtures/guard")
            .join(format!("{template}.template.json")),
    )
    .unwrap_or_default()
    .replace(
        "{{decision_id}}",
        req["decision_id"].as_str().unwrap_or_default(),
    )
    .replace(
        "{{decision_source}}",
        req["decision_source"].as_str().unwrap_or_default(),
    )
    .replace(
        "{{tool_name}}",
        req["tool_name"].as_str().unwrap_or_default(),
    );
    let mut v: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
    if let GuardAnswer::Modify(input) = answer {
        v["action"] = "modify".into();
        v["reason"] = "Paths are rewritten to the sandbox".into();
        v["modified_input"] = input;
    }
    serde_json::to_vec(&v).unwrap_or_default()
}

fn read_request(reader: &mut impl BufRead) -> Option<Logged> {
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_owned();
    let path = parts.next()?.to_owned();
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).ok()?;
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        let (k, v) = line.split_once(':')?;
        headers.push((k.trim().to_ascii_lowercase(), v.trim().to_owned()));
    }
    let len = headers
        .iter()
        .find(|(k, _)| k == "content-length")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; len];
    reader.read_exact(&mut body).ok()?;
    Some(Logged {
        method,
        path,
        headers,
        body,
    })
}

fn head(status: u16, headers: &[(&str, &str)]) -> String {
    let mut head = format!("HTTP/1.1 {status} X\r\n");
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("Connection: close\r\n");
    head
}

fn write_whole(
    w: &mut impl Write,
    status: u16,
    headers: &[(&str, &str)],
    body: &[u8],
) -> std::io::Result<()> {
    let mut out = head(status, headers).into_bytes();
    out.extend_from_slice(format!("Content-Length: {}\r\n\r\n", body.len()).as_bytes());
    out.extend_from_slice(body);
    w.write_all(&out)?;
    w.flush()
}

/// One chunk per SSE event (an event ends with its blank line), the first after a longer delay.
fn write_sse(
    w: &mut impl Write,
    status: u16,
    headers: &[(&str, &str)],
    body: &[u8],
) -> std::io::Result<()> {
    let mut out = head(status, headers);
    out.push_str("Transfer-Encoding: chunked\r\n\r\n");
    w.write_all(out.as_bytes())?;
    w.flush()?;
    let mut events: Vec<&[u8]> = Vec::new();
    let mut rest = body;
    while let Some(i) = rest.windows(2).position(|w| w == b"\n\n") {
        events.push(&rest[..i + 2]);
        rest = &rest[i + 2..];
    }
    if !rest.is_empty() {
        events.push(rest);
    }
    for (i, ev) in events.iter().enumerate() {
        thread::sleep(if i == 0 {
            FIRST_EVENT_DELAY
        } else {
            INTER_EVENT_DELAY
        });
        let mut chunk = format!("{:x}\r\n", ev.len()).into_bytes();
        chunk.extend_from_slice(ev);
        chunk.extend_from_slice(b"\r\n");
        w.write_all(&chunk)?;
        w.flush()?;
    }
    w.write_all(b"0\r\n\r\n")?;
    w.flush()
}
