//! LLM spans end to end: the SDK's real transport → staso-server → its read API. An LLM fn that
//! records its own usage, `llm_trace`'s returned id found on the server, `start_trace` with `Err`.

use std::time::Duration;

use serde_json::{Value, json};
use staso::{LlmCall, Span};

const KEY: &str = "ak_llm_e2e";

fn get(base: &str, path: &str) -> Value {
    reqwest::blocking::Client::new()
        .get(format!("{base}{path}"))
        .header("X-API-Key", KEY)
        .send()
        .and_then(|r| r.error_for_status())
        .and_then(|r| r.json())
        .unwrap_or_else(|e| panic!("GET {path}: {e}"))
}

#[staso::trace(kind = "llm")]
fn ask(question: &str) -> String {
    Span::current().record_llm(
        LlmCall::new("gpt-4o-mini", "openai")
            .tokens(42, 7)
            .cost_usd(0.0001)
            .time_to_first_token(Duration::from_millis(120))
            .prompt(json!([{"role": "user", "content": question}]))
            .completion("four"),
    );
    "four".to_owned()
}

#[staso::agent(name = "math-agent")]
fn agent() -> String {
    ask("2+2?")
}

#[derive(Debug)]
struct Broke;
impl std::fmt::Display for Broke {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("pipeline broke")
    }
}

#[test]
fn llm_spans_reach_the_server_with_model_tokens_and_cost() {
    let server = staso_server::Server::builder()
        .api_key(KEY)
        .start()
        .expect("server starts");
    let config = staso::Config::builder()
        .api_key(KEY)
        .agent_name("bot")
        .base_url(server.base_url())
        .capture_git(false)
        .build()
        .expect("config");
    let client = staso::init(config).expect("init");
    let agent_trace = staso::start_trace("run", |t| {
        agent();
        t.trace_id().expect("recording")
    });
    let one_shot = staso::llm_trace(
        "classify",
        LlmCall::new("claude-haiku-4-5", "anthropic").tokens(10, 1),
    )
    .expect("initialised");
    let failed: Result<(), Broke> = staso::try_start_trace("nightly", |t| {
        t.set_attribute("batch", "7");
        Err(Broke)
    });
    assert!(failed.is_err());
    let report = client.shutdown(Duration::from_secs(10));
    assert!(report.ok(), "{report:?}");

    let base = server.base_url().to_owned();
    let trace = get(&base, &format!("/v1/traces/{agent_trace}"));
    let spans = trace["spans"].as_array().cloned().unwrap_or_default();
    let llm = spans
        .iter()
        .find(|s| s["name"] == "ask")
        .unwrap_or_else(|| panic!("no llm span in {trace}"));
    assert_eq!(llm["kind"], "llm");
    assert_eq!(llm["model"], "gpt-4o-mini");
    assert_eq!(llm["provider"], "openai");
    assert_eq!(
        (&llm["input_tokens"], &llm["output_tokens"]),
        (&json!(42), &json!(7))
    );
    assert_eq!(llm["attributes"]["cost_usd"], 0.0001);
    assert_eq!(llm["attributes"]["time_to_first_token"], 120.0);
    assert_eq!(llm["input"][0]["content"], "2+2?");
    assert_eq!(llm["output"], "four");

    let shot = get(&base, &format!("/v1/traces/{one_shot}"));
    let shot_spans = shot["spans"].as_array().cloned().unwrap_or_default();
    assert_eq!(shot_spans.len(), 1, "{shot}");
    assert_eq!(shot_spans[0]["name"], "classify");
    assert_eq!(shot_spans[0]["model"], "claude-haiku-4-5");
    assert_eq!(shot_spans[0]["parent_span_id"], Value::Null);

    let list = get(&base, "/v1/traces");
    let nightly = list["traces"]
        .as_array()
        .and_then(|ts| ts.iter().find(|t| t["root_name"] == "nightly"))
        .cloned()
        .unwrap_or_else(|| panic!("no nightly trace in {list}"));
    let id = nightly["trace_id"].as_str().unwrap_or_default().to_owned();
    let t = get(&base, &format!("/v1/traces/{id}"));
    assert_eq!(t["spans"][0]["status"], "error");
    assert_eq!(t["spans"][0]["error_message"], "pipeline broke");
    assert_eq!(t["spans"][0]["attributes"]["batch"], "7");
    server.shutdown();
}
