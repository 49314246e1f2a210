//! Shared by the web UI suites (`server_ui.rs`, `server_ui_http.rs`): a known agent run ingested
//! through the SDK, HTTP helpers that post forms as the page does, and readers of the serialized
//! DOM.
#![allow(dead_code)]

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use serde_json::{Value, json};
use staso::{LlmCall, Span, SpanKind};

pub const KEY: &str = "ak_ui";
pub const XSS: &str = "<script>document.body.dataset.pwned='1'</script>";
pub const POLICY: &str = r#"{"mode": "enforce", "rules": [
  {"name": "big-refund", "tool": "refund", "action": "escalate",
   "when": [{"pointer": "/amount", "greater_than": 100}], "reason": "large refund"}]}"#;

#[derive(Debug)]
pub struct Declined;

impl std::fmt::Display for Declined {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("card declined")
    }
}

#[staso::trace(kind = "retriever", tags = ["rag", "<b>kb</b>"])]
pub fn retrieve(q: &str) -> Vec<String> {
    std::thread::sleep(Duration::from_millis(15));
    vec![q.to_uppercase()]
}

#[staso::trace(kind = "llm")]
pub fn plan(q: &str) -> String {
    std::thread::sleep(Duration::from_millis(60));
    // gpt-4o: 1,000 uncached + 200 cached input, 300 output; no cost of its own: priced.
    Span::current().record_llm(
        LlmCall::new("gpt-4o-2024-08-06", "openai")
            .tokens(1_200, 300)
            .cache_read_tokens(200)
            .time_to_first_token(Duration::from_millis(180))
            .prompt(json!([{"role": "user", "content": q}]))
            .completion("look it up"),
    );
    "look it up".to_owned()
}

#[staso::tool]
pub fn charge(cents: u64) -> Result<String, Declined> {
    let _ = cents;
    std::thread::sleep(Duration::from_millis(5));
    Err(Declined)
}

#[staso::trace(kind = "llm")]
pub fn reply(q: &str) -> String {
    std::thread::sleep(Duration::from_millis(30));
    // Carries its own cost, which is kept.
    Span::current().record_llm(
        LlmCall::new("claude-haiku-4-5", "anthropic")
            .tokens(400, 100)
            .cost_usd(0.0042)
            .completion(format!("answer to {q}")),
    );
    format!("answer to {q}")
}

#[staso::agent(name = "support-agent")]
pub fn answer(q: &str) -> String {
    retrieve(q);
    plan(q);
    let _ = charge(500);
    let hostile = Span::start(XSS, SpanKind::Tool);
    hostile.end();
    reply(q)
}

pub fn http() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

pub fn api(base: &str, path: &str) -> Value {
    http()
        .get(format!("{base}{path}"))
        .header("X-API-Key", KEY)
        .send()
        .and_then(|r| r.error_for_status())
        .and_then(|r| r.json())
        .unwrap_or_else(|e| panic!("GET {path}: {e}"))
}

pub fn api_post(base: &str, path: &str, body: &Value) -> Value {
    http()
        .post(format!("{base}{path}"))
        .header("X-API-Key", KEY)
        .json(body)
        .send()
        .and_then(|r| r.error_for_status())
        .and_then(|r| r.json())
        .unwrap_or_else(|e| panic!("POST {path}: {e}"))
}

/// Posts a form as the page would (same Origin); returns the status and `Location`.
pub fn form_post(base: &str, path: &str, fields: &[(&str, &str)], origin: &str) -> (u16, String) {
    let body = fields
        .iter()
        .map(|(k, v)| format!("{k}={}", staso_server::ui::html::url_enc(v)))
        .collect::<Vec<_>>()
        .join("&");
    let r = http()
        .post(format!("{base}{path}"))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .header("Origin", origin)
        .body(body)
        .send()
        .expect("form post");
    let location = r
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    (r.status().as_u16(), location)
}

/// The attributes of every `<a class="wf-row…">` of a serialized DOM, in document order.
pub fn waterfall_rows(dom: &str) -> Vec<HashMap<String, String>> {
    let mut rows = Vec::new();
    for piece in dom.split("<a class=\"wf-row").skip(1) {
        let tag = format!("class=\"wf-row{}", &piece[..piece.find('>').unwrap_or(0)]);
        let mut attrs = HashMap::new();
        let mut rest = tag.as_str();
        while let Some(eq) = rest.find("=\"") {
            let name = rest[..eq].rsplit(' ').next().unwrap_or("").to_owned();
            let after = &rest[eq + 2..];
            let end = after.find('"').unwrap_or(after.len());
            attrs.insert(name, after[..end].to_owned());
            rest = &after[(end + 1).min(after.len())..];
        }
        rows.push(attrs);
    }
    rows
}

/// The inner HTML of the element with `id` (up to the first closing tag of its name: enough for
/// the UI's leaf elements), in a serialized DOM.
pub fn by_id<'a>(dom: &'a str, id: &str) -> &'a str {
    let marker = format!(" id=\"{id}\"");
    let Some(at) = dom.find(&marker) else {
        panic!("no element #{id} in the page");
    };
    let open = dom[..at].rfind('<').unwrap_or(0);
    let tag = &dom[open + 1..at];
    let tag = tag.split(' ').next().unwrap_or(tag);
    let start = at + dom[at..].find('>').map_or(0, |i| i + 1);
    let end = dom[start..]
        .find(&format!("</{tag}>"))
        .map_or(dom.len(), |i| start + i);
    &dom[start..end]
}

/// An ingest body (PROTOCOL.md §2) of one trace with one root span.
pub fn wire_batch(trace_id: &str, workspace: &str, name: &str, at: &str, agent: &str) -> Value {
    json!({"traces": [{"trace_id": trace_id, "timestamp": at, "environment": "default",
        "workspace_slug": workspace, "spans": [{"span_id": "s1", "parent_span_id": null,
        "name": name, "kind": "agent", "timestamp": at, "duration_ms": 3.0, "status": "ok",
        "model": "", "provider": "", "requested_model": "", "usage_available": null,
        "reasoning_effort": "", "input_tokens": 0, "output_tokens": 0, "total_tokens": 0,
        "input": "", "output": "", "attributes": "{}", "error_message": null,
        "session_id": "", "agent_name": agent, "agent_id": "", "agent_version": "",
        "user_id": ""}]}]})
}

pub fn screenshots() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("target")
        .join("ui-screenshots")
}

pub struct Run {
    pub server: staso_server::RunningServer,
    pub trace_id: String,
}

pub fn ingest_run() -> Run {
    let server = staso_server::Server::builder()
        .api_key(KEY)
        .guard_policy(staso_server::Policy::from_json(POLICY).expect("policy"))
        .start()
        .expect("server starts");
    // The SDK's client is process-wide: one run at a time among this binary's tests.
    static SDK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one_at_a_time = SDK
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let config = staso::Config::builder()
        .api_key(KEY)
        .agent_name("support-bot")
        .base_url(server.base_url())
        .capture_git(false)
        .build()
        .expect("config");
    let client = staso::init(config).expect("init");
    staso::conversation!("conv-ui", user_id = "user-ui", {
        answer("where is my order?");
        answer("refund it");
    });
    let report = client.shutdown(Duration::from_secs(15));
    assert!(report.ok(), "{report:?}");
    let list = api(server.base_url(), "/v1/traces?session_id=conv-ui");
    let traces = list["traces"].as_array().cloned().unwrap_or_default();
    assert_eq!(traces.len(), 2, "{list}");
    // Newest first: the first turn is the second row.
    let trace_id = traces[1]["trace_id"].as_str().expect("trace id").to_owned();
    Run { server, trace_id }
}
