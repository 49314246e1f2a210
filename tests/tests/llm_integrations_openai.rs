//! The async-openai adapter (#14): `staso::integrations::openai::{client, layer}` against the
//! stub provider replaying the recorded fixtures.

mod common;
mod llm_support;

use std::time::Duration;

use async_openai::config::OpenAIConfig;
use async_openai::error::OpenAIError;
use async_openai::middleware::retry::OpenAIRetryLayer;
use async_openai::middleware::{HttpRequestFactory, ReqwestService};
use async_openai::types::chat::CreateChatCompletionRequest;
use common::{Harness, attrs, builder, json, setup_with};
use futures_util::StreamExt;
use llm_support::{GuardAnswer, Stub, expected};
use serde_json::{Value, json};
use staso::integrations::{IntegrationOptions, LlmMiddleware, open_agent_roots, openai};
use tower_layer::Layer;

fn harness(stub: &Stub) -> Harness {
    let h = setup_with(builder().base_url(stub.url()));
    staso::integrations::close_agent_roots();
    IntegrationOptions::default().guard(true).install();
    h
}

fn config(stub: &Stub) -> OpenAIConfig {
    OpenAIConfig::new()
        .with_api_base(format!("{}/v1", stub.url()))
        .with_api_key("sk-test")
}

fn request(v: Value) -> CreateChatCompletionRequest {
    serde_json::from_value(v).expect("a chat request")
}

fn scenario_request(scenario: &str, i: usize) -> Value {
    let path = llm_support::testdata()
        .join("scenarios")
        .join(scenario)
        .join("expected_spans.json");
    let v: Value = serde_json::from_slice(&std::fs::read(path).expect("expected")).expect("JSON");
    v["llm_requests"][i]["body_json"].clone()
}

fn llm_spans(h: &Harness) -> Vec<staso::ExportedSpan> {
    h.finished()
        .into_iter()
        .filter(|s| s.span.kind == "llm")
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_records_a_chat_call_like_the_official_sdk() {
    let stub = Stub::start(&[("POST /v1/chat/completions", &["openai/chat_plain"])]);
    let h = harness(&stub);
    let client = openai::client(config(&stub));
    let reply = client
        .chat()
        .create(request(scenario_request(
            "s01_openai_chat_plain_no_agent",
            0,
        )))
        .await
        .expect("reply");
    assert_eq!(reply.id, "chatcmpl-GLDplainA1b2C3d4E5f6G7h8I9j0K");
    let exp = &expected("s01_openai_chat_plain_no_agent")[1];
    let span = h.by_name("chat:reply");
    assert_eq!(span.span.model, exp["model"]);
    assert_eq!(span.span.requested_model, exp["requested_model"]);
    assert_eq!(span.span.reasoning_effort, "low");
    assert_eq!(json!(span.span.total_tokens), exp["total_tokens"]);
    assert_eq!(json(&span.span.input), exp["input"]);
    assert_eq!(json(&span.span.output), exp["output"]);
    let a = attrs(&span);
    for key in [
        "max_tokens",
        "seed",
        "service_tier",
        "stop_reason",
        "reasoning_tokens",
        "cache_read_input_tokens",
    ] {
        assert_eq!(a[key], exp["attributes"][key], "{key}");
    }
    assert!(stub.llm_requests()[0].header("traceparent").is_some());
    assert_eq!(h.by_name("agent_run").span.kind, "agent");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_records_a_stream_with_ttft_and_usage() {
    let stub = Stub::start(&[("POST /v1/chat/completions", &["openai/chat_stream"])]);
    let h = harness(&stub);
    let client = openai::client(config(&stub));
    let mut req = scenario_request("s03_openai_chat_stream", 1);
    req.as_object_mut().map(|o| o.remove("stream_options"));
    let mut stream = client
        .chat()
        .create_stream(request(req))
        .await
        .expect("stream");
    let mut text = String::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.expect("chunk");
        if let Some(c) = chunk.choices.first().and_then(|c| c.delta.content.clone()) {
            text.push_str(&c);
        }
    }
    assert_eq!(text, "The capital of France is Paris.");
    drop(stream);
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert_eq!(
        stub.llm_requests()[0].json()["stream_options"],
        json!({"include_usage": true})
    );
    let span = h.by_name("openai.chat.completions.create");
    assert_eq!(span.span.status, "ok");
    assert_eq!((span.span.input_tokens, span.span.output_tokens), (25, 7));
    assert!(attrs(&span)["time_to_first_token"].as_f64().expect("ttft") > 0.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_guard_block_is_a_boxed_guard_blocked() {
    let stub = Stub::start(&[(
        "POST /v1/chat/completions",
        &["openai/chat_tool_calls_risky"],
    )]);
    stub.guard("delete_file", GuardAnswer::Block);
    let h = harness(&stub);
    let client = openai::client(config(&stub));
    let err = client
        .chat()
        .create(request(scenario_request("s07_openai_guard_block", 0)))
        .await
        .expect_err("blocked");
    let OpenAIError::Boxed(e) = err else {
        panic!("not boxed: {err}");
    };
    let blocked = e
        .downcast_ref::<staso::GuardBlocked>()
        .expect("GuardBlocked");
    assert_eq!(blocked.tool_name, "delete_file");
    let span = h.by_name("chat");
    assert_eq!(span.span.status, "error");
    assert_eq!(attrs(&span)["guard_blocked_count"], 1);
    assert_eq!(open_agent_roots(), 0);
}

/// `client()` puts the layer outside async-openai's retries: one span for the call, ok after a
/// 429 and its retry. The layer inside the retry layer records each attempt.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_are_one_span_per_call_outside_and_one_per_attempt_inside() {
    let stub = Stub::start(&[(
        "POST /v1/chat/completions",
        &[
            "openai/error_429",
            "openai/chat_plain",
            "openai/error_429",
            "openai/chat_plain",
        ],
    )]);
    let h = harness(&stub);
    let req = json!({"model": "o4-mini", "messages": [{"role": "user", "content": "hi"}]});
    openai::client(config(&stub))
        .chat()
        .create(request(req.clone()))
        .await
        .expect("retried");
    let spans = llm_spans(&h);
    assert_eq!(spans.len(), 1, "{}", h.render());
    assert_eq!(spans[0].span.status, "ok");
    assert_eq!(spans[0].span.name, "chat:reply");
    let per_attempt = OpenAIRetryLayer::default()
        .layer(openai::layer().layer(ReqwestService::new(reqwest::Client::new())));
    async_openai::Client::with_config(config(&stub))
        .with_http_service(per_attempt)
        .chat()
        .create(request(req))
        .await
        .expect("retried");
    let spans = llm_spans(&h);
    assert_eq!(spans.len(), 3, "{}", h.render());
    assert_eq!(spans[1].span.status, "error");
    assert!(
        spans[1]
            .span
            .error_message
            .as_deref()
            .unwrap_or_default()
            .starts_with("Error code: 429 - ")
    );
    assert_eq!(spans[2].span.status, "ok");
    assert_eq!(stub.llm_requests().len(), 4);
}

/// The tower layer over a transport that itself goes through `LlmMiddleware`: one span.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nested_layer_and_middleware_record_one_span() {
    let stub = Stub::start(&[("POST /v1/chat/completions", &["openai/chat_plain"])]);
    let h = harness(&stub);
    let inner = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
        .with(LlmMiddleware::new())
        .build();
    let transport = tower::service_fn(move |factory: HttpRequestFactory| {
        let inner = inner.clone();
        async move {
            let req = factory.build().await?;
            inner
                .execute(req)
                .await
                .map_err(|e| OpenAIError::Boxed(Box::new(e)))
        }
    });
    async_openai::Client::with_config(config(&stub))
        .with_http_service(openai::layer().layer(transport))
        .chat()
        .create(request(
            json!({"model": "o4-mini", "messages": [{"role": "user", "content": "hi"}]}),
        ))
        .await
        .expect("reply");
    assert_eq!(llm_spans(&h).len(), 1, "{}", h.render());
}
