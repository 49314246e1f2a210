//! An OpenAI tool-use agent traced by `staso::integrations::openai::client()`: two chat
//! completions (the model asks for `get_weather`, then answers with its result) become two `llm`
//! spans under the `#[staso::agent]`, the second parented under the first (it carries the result
//! of the tool call the first asked for), and the guard checks the requested tool call before the
//! reply reaches the agent. (Without an agent span, the calls open a synthetic `agent_run` root.)
//!
//! With no `OPENAI_BASE_URL` it starts a stub OpenAI server on 127.0.0.1 that plays both replies
//! (no key, no network), and a local `staso-server` in-process that receives the spans and
//! answers the guard; then it prints the stored trace.
//!
//! ```sh
//! cargo run --example openai_agent
//! OPENAI_BASE_URL=https://api.openai.com/v1 OPENAI_API_KEY=sk-… cargo run --example openai_agent
//! ```

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::time::Duration;

use async_openai::config::OpenAIConfig;
use async_openai::types::chat::{CreateChatCompletionRequest, CreateChatCompletionResponse};
use serde_json::{Value, json};

const API_KEY: &str = "ak_openai_agent";

#[staso::tool]
fn get_weather(city: &str) -> Value {
    json!({"city": city, "temperature": 18, "unit": "celsius", "conditions": "partly cloudy"})
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let server = staso_server::Server::builder().api_key(API_KEY).start()?;
    let config = staso::Config::builder()
        .api_key(API_KEY)
        .agent_name("weather-bot")
        .base_url(server.base_url())
        .capture_git(false)
        .build()?;
    let staso = staso::init(config)?;

    let base = match std::env::var("OPENAI_BASE_URL") {
        Ok(url) => url,
        Err(_) => start_stub()?,
    };
    let key = std::env::var("OPENAI_API_KEY").unwrap_or_else(|_| "sk-stub".into());
    let openai = staso::integrations::openai::client(
        OpenAIConfig::new().with_api_base(base).with_api_key(key),
    );

    let answer = weather_agent(&openai, "What's the weather in Paris?").await?;
    println!("agent replied: {answer}");

    staso::integrations::close_agent_roots();
    let report = staso.shutdown(Duration::from_secs(5));
    println!(
        "delivery: accepted {}, delivered {} (ok: {})",
        report.accepted,
        report.delivered,
        report.ok()
    );

    let url = server.base_url().to_owned();
    let trace = tokio::task::spawn_blocking(move || -> Result<Value, String> {
        let http = reqwest::blocking::Client::new();
        let get = |path: &str| -> Result<Value, String> {
            http.get(format!("{url}{path}"))
                .header("X-API-Key", API_KEY)
                .send()
                .and_then(|r| r.error_for_status())
                .and_then(|r| r.json::<Value>())
                .map_err(|e| format!("GET {path}: {e}"))
        };
        let list = get("/v1/traces")?;
        let id = list["traces"][0]["trace_id"]
            .as_str()
            .ok_or("no trace stored")?
            .to_owned();
        get(&format!("/v1/traces/{id}"))
    })
    .await??;
    print_tree(
        trace["spans"].as_array().map(Vec::as_slice).unwrap_or(&[]),
        None,
        0,
    );
    server.shutdown();
    Ok(())
}

#[staso::agent]
async fn weather_agent(
    openai: &async_openai::Client<OpenAIConfig>,
    question: &str,
) -> Result<String, Box<dyn std::error::Error + Send + Sync>> {
    let tools = json!([{"type": "function", "function": {
        "name": "get_weather", "description": "Current weather for a city.",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}]);
    let mut messages = vec![
        json!({"role": "system", "content": "Use tools for live data."}),
        json!({"role": "user", "content": question}),
    ];
    loop {
        let request: CreateChatCompletionRequest = serde_json::from_value(
            json!({"model": "gpt-4.1-mini", "messages": messages, "tools": tools}),
        )?;
        let reply: CreateChatCompletionResponse = openai.chat().create(request).await?;
        let message = serde_json::to_value(&reply.choices[0].message)?;
        let calls = message["tool_calls"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        if calls.is_empty() {
            return Ok(message["content"].as_str().unwrap_or_default().to_owned());
        }
        messages.push(message);
        for call in calls {
            let args: Value =
                serde_json::from_str(call["function"]["arguments"].as_str().unwrap_or("{}"))?;
            let result = get_weather(args["city"].as_str().unwrap_or("Paris"));
            messages.push(
                json!({"role": "tool", "tool_call_id": call["id"], "content": result.to_string()}),
            );
        }
    }
}

fn print_tree(spans: &[Value], parent: Option<&str>, depth: usize) {
    for s in spans
        .iter()
        .filter(|s| s["parent_span_id"].as_str() == parent)
    {
        println!(
            "{}{} {} [{}] tokens {}",
            "  ".repeat(depth),
            s["kind"].as_str().unwrap_or("?"),
            s["name"].as_str().unwrap_or("?"),
            s["status"].as_str().unwrap_or("?"),
            s["total_tokens"],
        );
        print_tree(spans, s["span_id"].as_str(), depth + 1);
    }
}

/// A stub of `POST /v1/chat/completions`: a `get_weather` tool call first, the final answer once
/// the conversation carries a tool result. Returns its base URL.
fn start_stub() -> std::io::Result<String> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let url = format!("http://{}/v1", listener.local_addr()?);
    std::thread::spawn(move || {
        for conn in listener.incoming().flatten() {
            let Ok(mut writer) = conn.try_clone() else {
                continue;
            };
            let mut reader = BufReader::new(conn);
            let mut len = 0;
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    len = v.trim().parse().unwrap_or(0);
                }
                line.clear();
            }
            let mut body = vec![0; len];
            if reader.read_exact(&mut body).is_err() {
                continue;
            }
            let has_result = String::from_utf8_lossy(&body).contains("\"role\":\"tool\"");
            let reply = if has_result {
                json!({"id": "chatcmpl-final", "object": "chat.completion", "created": 0, "model": "gpt-4.1-mini",
                    "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant",
                        "content": "It is 18°C and partly cloudy in Paris."}}],
                    "usage": {"prompt_tokens": 96, "completion_tokens": 12, "total_tokens": 108}})
            } else {
                json!({"id": "chatcmpl-tools", "object": "chat.completion", "created": 0, "model": "gpt-4.1-mini",
                    "choices": [{"index": 0, "finish_reason": "tool_calls", "message": {"role": "assistant", "content": null,
                        "tool_calls": [{"id": "call_1", "type": "function",
                            "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}}]}}],
                    "usage": {"prompt_tokens": 64, "completion_tokens": 18, "total_tokens": 82}})
            };
            let body = reply.to_string();
            let _ = write!(
                writer,
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    Ok(url)
}
