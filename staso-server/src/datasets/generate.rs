//! `POST /v1/datasets/{id}/generate` (§7.3): synthetic entries written by an OpenAI-compatible
//! chat endpoint (`POST {url}/chat/completions`), configured by environment variables:
//! [`URL_ENV`] (an `http://` base URL such as `http://127.0.0.1:11434/v1`), [`MODEL_ENV`] and
//! optionally [`API_KEY_ENV`]. Without them the route answers 501 naming the settings.
//!
//! The call is a small hand-written HTTP/1.0 exchange over a tokio `TcpStream`: the server has no
//! HTTP client dependency, and a local generator (Ollama, vLLM, llama.cpp) speaks plain HTTP.

use std::time::Duration;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State as AxState};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};
use staso_wire::dataset::{Dataset, DatasetEntry, DatasetGenerate};
use tokio::net::TcpStream;

use crate::error::ApiError;
use crate::http::{Auth, State, blocking, body_bytes, decode};
use crate::store::datasets::{self as ds, NewEntry};

/// Base URL of the OpenAI-compatible endpoint.
pub const URL_ENV: &str = "STASO_SERVER_GENERATOR_URL";
/// Model name sent to it.
pub const MODEL_ENV: &str = "STASO_SERVER_GENERATOR_MODEL";
/// Bearer token, if the endpoint needs one.
pub const API_KEY_ENV: &str = "STASO_SERVER_GENERATOR_API_KEY";

/// Most entries one call may ask for.
const MAX_COUNT: u32 = 100;
/// Largest generator answer read.
const MAX_ANSWER_BYTES: usize = 8 << 20;
const TIMEOUT: Duration = Duration::from_secs(120);

/// Where the generator is.
#[derive(Clone, Debug)]
pub struct GeneratorConfig {
    /// `http://host[:port][/path]`.
    pub base_url: String,
    /// Model name.
    pub model: String,
    /// Bearer token.
    pub api_key: Option<String>,
}

impl GeneratorConfig {
    /// Reads [`URL_ENV`], [`MODEL_ENV`] and [`API_KEY_ENV`]; `None` unless the first two are set.
    pub fn from_env() -> Option<Self> {
        let var = |n: &str| std::env::var(n).ok().filter(|v| !v.trim().is_empty());
        Some(GeneratorConfig {
            base_url: var(URL_ENV)?,
            model: var(MODEL_ENV)?,
            api_key: var(API_KEY_ENV),
        })
    }
}

fn error(status: StatusCode, code: &str, detail: String) -> Response {
    (status, Json(json!({"error": code, "detail": detail}))).into_response()
}

/// The route handler.
pub async fn generate(
    AxState(state): AxState<State>,
    Auth(scope): Auth,
    Path(id): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let Some(config) = GeneratorConfig::from_env() else {
        return error(
            StatusCode::NOT_IMPLEMENTED,
            "not_implemented",
            format!(
                "synthetic generation is not configured on this server: set {URL_ENV} (an \
                 OpenAI-compatible http:// base URL, e.g. http://127.0.0.1:11434/v1) and \
                 {MODEL_ENV}, optionally {API_KEY_ENV}"
            ),
        );
    };
    match run(&state, scope, id, body, &config).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

async fn run(
    state: &State,
    scope: crate::keys::Scope,
    id: String,
    body: Result<Bytes, BytesRejection>,
    config: &GeneratorConfig,
) -> Result<Response, ApiError> {
    let req: DatasetGenerate = decode(&body_bytes(body, &state.limits)?, &state.limits)?;
    if req.count == 0 || req.count > MAX_COUNT {
        return Err(ApiError::field(
            "count",
            format!("must be in 1..={MAX_COUNT}"),
        ));
    }
    let (read_scope, read_id) = (scope.clone(), id.clone());
    let (dataset, existing) = blocking(state, move |s| {
        Ok((
            ds::get_dataset(s, &read_scope, &read_id)?,
            ds::list_entries(s, &read_scope, &read_id, None, 1000, 0)?,
        ))
    })
    .await?;
    let seeds = seed_rows(&existing, &req.seed_entry_ids);
    let messages = prompt(&dataset, &seeds, &req);
    let rows = match chat(config, messages)
        .await
        .and_then(|c| rows_of(&c, req.count))
    {
        Ok(rows) => rows,
        Err(why) => {
            return Ok(error(
                StatusCode::BAD_GATEWAY,
                "generator_failed",
                format!("the generator at {URL_ENV} failed: {why}"),
            ));
        }
    };
    let entries = rows
        .into_iter()
        .map(|data| NewEntry {
            data,
            split_id: None,
            source_type: "synthetic",
            source_trace_id: None,
            source_span_id: None,
        })
        .collect();
    let stored = blocking(state, move |s| ds::add_entries(s, &scope, &id, entries)).await?;
    Ok((StatusCode::CREATED, Json(json!({ "entries": stored }))).into_response())
}

/// The seed entries' data: the ones named, else the first five.
fn seed_rows(existing: &[DatasetEntry], ids: &[String]) -> Vec<Map<String, Value>> {
    let named: Vec<_> = existing
        .iter()
        .filter(|e| ids.contains(&e.id))
        .map(|e| e.data.clone())
        .collect();
    if ids.is_empty() || named.is_empty() {
        existing.iter().take(5).map(|e| e.data.clone()).collect()
    } else {
        named
    }
}

/// The chat messages asking for `req.count` rows.
pub fn prompt(dataset: &Dataset, seeds: &[Map<String, Value>], req: &DatasetGenerate) -> Value {
    let mut user = format!("Dataset {:?}", dataset.name);
    if !dataset.description.is_empty() {
        user.push_str(&format!(": {}", dataset.description));
    }
    user.push_str("\nColumns:");
    for c in &dataset.columns {
        user.push_str(&format!(
            "\n- {} ({}) {}",
            c.name, c.column_type, c.description
        ));
    }
    if !seeds.is_empty() {
        user.push_str("\nExisting rows:");
        for s in seeds {
            user.push_str(&format!("\n{}", Value::Object(s.clone())));
        }
    }
    if let Some(i) = &req.instructions {
        user.push_str(&format!("\nInstructions: {i}"));
    }
    user.push_str(&format!("\nWrite {} new rows.", req.count));
    json!([
        {"role": "system", "content": "You write rows for a test dataset. Reply with JSON only, \
            shaped {\"entries\": [{...}, ...]}, one object per row, keyed by column name."},
        {"role": "user", "content": user},
    ])
}

/// Reads the rows out of the model's reply: `{"entries": [...]}` or a bare array, optionally in
/// a Markdown code fence; non-object items are skipped, at most `count` are kept.
pub fn rows_of(content: &str, count: u32) -> Result<Vec<Map<String, Value>>, String> {
    let trimmed = content.trim();
    let unfenced = trimmed
        .strip_prefix("```json")
        .or_else(|| trimmed.strip_prefix("```"))
        .and_then(|s| s.strip_suffix("```"))
        .unwrap_or(trimmed);
    let v: Value = serde_json::from_str(unfenced.trim())
        .map_err(|e| format!("the reply is not JSON ({e})"))?;
    let items = match v {
        Value::Array(a) => a,
        Value::Object(mut o) => match o.remove("entries") {
            Some(Value::Array(a)) => a,
            _ => return Err("the reply has no \"entries\" array".to_owned()),
        },
        _ => return Err("the reply is neither an object nor an array".to_owned()),
    };
    Ok(items
        .into_iter()
        .filter_map(|i| match i {
            Value::Object(m) => Some(m),
            _ => None,
        })
        .take(count as usize)
        .collect())
}

/// One chat completion; returns the first choice's message content.
pub async fn chat(config: &GeneratorConfig, messages: Value) -> Result<String, String> {
    let rest = config.base_url.strip_prefix("http://").ok_or_else(|| {
        format!("{URL_ENV} must be an http:// URL (put a local proxy in front of an https one)")
    })?;
    let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
    let host_port = if authority.contains(':') {
        authority.to_owned()
    } else {
        format!("{authority}:80")
    };
    let body = json!({"model": config.model, "messages": messages, "temperature": 0.7}).to_string();
    let target = match path.trim_matches('/') {
        "" => "/chat/completions".to_owned(),
        prefix => format!("/{prefix}/chat/completions"),
    };
    let mut head = format!(
        "POST {target} HTTP/1.0\r\nHost: {authority}\r\nContent-Type: application/json\r\n\
         Accept: application/json\r\nContent-Length: {}\r\n",
        body.len()
    );
    if let Some(k) = &config.api_key {
        head.push_str(&format!("Authorization: Bearer {k}\r\n"));
    }
    head.push_str("\r\n");
    let exchange = async {
        let stream = TcpStream::connect(&host_port).await?;
        write_all(&stream, head.as_bytes()).await?;
        write_all(&stream, body.as_bytes()).await?;
        read_to_end(&stream, MAX_ANSWER_BYTES).await
    };
    let answer = tokio::time::timeout(TIMEOUT, exchange)
        .await
        .map_err(|_| format!("no answer within {} s", TIMEOUT.as_secs()))?
        .map_err(|e| format!("{host_port}: {e}"))?;
    let split = answer
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or("malformed HTTP answer")?;
    let head = String::from_utf8_lossy(&answer[..split]).to_ascii_lowercase();
    let mut body = answer[split + 4..].to_vec();
    let status: u16 = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or("malformed HTTP status line")?;
    if head.contains("transfer-encoding: chunked") {
        body = dechunk(&body).ok_or("malformed chunked body")?;
    }
    let text = String::from_utf8_lossy(&body);
    if !(200..300).contains(&status) {
        return Err(format!(
            "HTTP {status}: {}",
            text.chars().take(500).collect::<String>()
        ));
    }
    let v: Value = serde_json::from_str(&text).map_err(|e| format!("answer is not JSON ({e})"))?;
    v.pointer("/choices/0/message/content")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| "answer has no choices[0].message.content".to_owned())
}

// Readiness-based I/O, so the server needs no tokio feature beyond `net`.
async fn write_all(s: &TcpStream, mut b: &[u8]) -> std::io::Result<()> {
    while !b.is_empty() {
        s.writable().await?;
        match s.try_write(b) {
            Ok(n) => b = &b[n..],
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

async fn read_to_end(s: &TcpStream, limit: usize) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        s.readable().await?;
        match s.try_read(&mut buf) {
            Ok(0) => return Ok(out),
            Ok(n) if out.len() + n > limit => {
                return Err(std::io::Error::other(format!(
                    "answer larger than {limit} bytes"
                )));
            }
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(e),
        }
    }
}

/// Decodes a chunked body (some servers use it even for an HTTP/1.0 request).
fn dechunk(mut b: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let line_end = b.windows(2).position(|w| w == b"\r\n")?;
        let size_text = std::str::from_utf8(&b[..line_end]).ok()?;
        let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
        b = &b[line_end + 2..];
        if size == 0 {
            return Some(out);
        }
        out.extend_from_slice(b.get(..size)?);
        b = b.get(size + 2..)?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_from_fenced_object_and_bare_array() {
        let fenced = "```json\n{\"entries\": [{\"q\": 1}, 2, {\"q\": 3}, {\"q\": 4}]}\n```";
        assert_eq!(rows_of(fenced, 2).unwrap().len(), 2);
        assert_eq!(rows_of("[{\"a\": \"b\"}]", 10).unwrap()[0]["a"], "b");
        assert!(rows_of("sorry, I cannot", 3).is_err());
    }

    #[test]
    fn dechunks() {
        assert_eq!(
            dechunk(b"3\r\nabc\r\n2;x=y\r\nde\r\n0\r\n\r\n").unwrap(),
            b"abcde"
        );
        assert!(dechunk(b"5\r\nab").is_none());
    }

    #[tokio::test]
    async fn chat_against_a_local_openai_compatible_endpoint() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let fake = tokio::spawn(async move {
            let (s, _) = listener.accept().await.unwrap();
            let mut request = String::new();
            let mut buf = [0u8; 8192];
            // The request is small: read until the JSON body's closing brace.
            while !request.ends_with('}') {
                s.readable().await.unwrap();
                match s.try_read(&mut buf) {
                    Ok(n) => request.push_str(&String::from_utf8_lossy(&buf[..n])),
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                    Err(e) => panic!("{e}"),
                }
            }
            let content = "{\"entries\": [{\"question\": \"3+3?\"}]}";
            let reply =
                json!({"choices": [{"message": {"role": "assistant", "content": content}}]});
            let reply = reply.to_string();
            let answer = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n{:x}\r\n{reply}\r\n0\r\n\r\n",
                reply.len()
            );
            write_all(&s, answer.as_bytes()).await.unwrap();
            request
        });
        let config = GeneratorConfig {
            base_url: format!("http://{addr}/v1"),
            model: "tiny".into(),
            api_key: Some("sk-local".into()),
        };
        let content = chat(&config, json!([{"role": "user", "content": "hi"}]))
            .await
            .unwrap();
        assert_eq!(rows_of(&content, 5).unwrap()[0]["question"], "3+3?");
        let request = fake.await.unwrap();
        assert!(
            request.starts_with("POST /v1/chat/completions HTTP/1.0\r\n"),
            "{request}"
        );
        assert!(request.contains("Authorization: Bearer sk-local"));
        assert!(request.contains("\"model\":\"tiny\""));
    }
}
