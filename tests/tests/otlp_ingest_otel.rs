//! A real OpenTelemetry SDK (the Rust `opentelemetry-otlp` exporter, HTTP protobuf and HTTP JSON)
//! writing GenAI spans to staso-server's `POST /v1/traces`: the read API shows the tree with kinds
//! from `gen_ai.operation.name`, the service name as agent, model and tokens, the error status.

use std::collections::HashMap;

use opentelemetry::trace::{Span as _, Status, TraceContextExt, Tracer, TracerProvider as _};
use opentelemetry::{Context, KeyValue};
use opentelemetry_otlp::{Protocol, WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::SdkTracerProvider;
use serde_json::Value;

const KEY: &str = "ak_otel";

fn get(base: &str, path: &str) -> Value {
    reqwest::blocking::Client::new()
        .get(format!("{base}{path}"))
        .header("X-API-Key", KEY)
        .send()
        .and_then(|r| r.error_for_status())
        .and_then(|r| r.json())
        .unwrap_or_else(|e| panic!("GET {path}: {e}"))
}

/// One run of a small agent with the OpenTelemetry SDK; returns the trace id (32 hex digits).
fn run(base: &str, protocol: Protocol) -> String {
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(protocol)
        .with_endpoint(format!("{base}/v1/traces"))
        .with_headers(HashMap::from([(
            "Authorization".to_owned(),
            format!("Bearer {KEY}"),
        )]))
        .build()
        .expect("exporter");
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(exporter)
        .with_resource(
            Resource::builder()
                .with_service_name("weather-agent")
                .with_attribute(KeyValue::new("deployment.environment.name", "ci"))
                .build(),
        )
        .build();
    let tracer = provider.tracer("otel-test");
    let root = tracer
        .span_builder("invoke_agent weather")
        .with_attributes([
            KeyValue::new("gen_ai.operation.name", "invoke_agent"),
            KeyValue::new("gen_ai.conversation.id", "conv-otel"),
            KeyValue::new("user.id", "u-1"),
        ])
        .start(&tracer);
    let trace_id = format!("{:032x}", root.span_context().trace_id());
    let cx = Context::current_with_span(root);
    let mut chat = tracer
        .span_builder("chat gpt-4o")
        .with_attributes([
            KeyValue::new("gen_ai.operation.name", "chat"),
            KeyValue::new("gen_ai.provider.name", "openai"),
            KeyValue::new("gen_ai.request.model", "gpt-4o"),
            KeyValue::new("gen_ai.response.model", "gpt-4o-2024-08-06"),
            KeyValue::new("gen_ai.usage.input_tokens", 100i64),
            KeyValue::new("gen_ai.usage.output_tokens", 20i64),
            KeyValue::new("gen_ai.request.temperature", 0.5),
        ])
        .start_with_context(&tracer, &cx);
    chat.end();
    let mut tool = tracer
        .span_builder("execute_tool get_weather")
        .with_attributes([
            KeyValue::new("gen_ai.operation.name", "execute_tool"),
            KeyValue::new("gen_ai.tool.name", "get_weather"),
        ])
        .start_with_context(&tracer, &cx);
    tool.set_status(Status::error("upstream timed out"));
    tool.end();
    let mut retrieve = tracer.start_with_context("search docs", &cx);
    retrieve.set_attribute(KeyValue::new("openinference.span.kind", "RETRIEVER"));
    retrieve.end();
    cx.span().end();
    provider.shutdown().expect("provider shuts down");
    trace_id
}

#[test]
fn opentelemetry_otlp_over_http_protobuf_and_json() {
    let server = staso_server::Server::builder()
        .api_key(KEY)
        .start()
        .expect("server starts");
    let base = server.base_url().to_owned();
    for protocol in [Protocol::HttpBinary, Protocol::HttpJson] {
        let hex = run(&base, protocol);
        let id = format!(
            "{}-{}-{}-{}-{}",
            &hex[0..8],
            &hex[8..12],
            &hex[12..16],
            &hex[16..20],
            &hex[20..32]
        );
        let t = get(&base, &format!("/v1/traces/{id}"));
        assert_eq!(t["environment"], "ci", "{protocol:?}");
        let spans = t["spans"].as_array().cloned().unwrap_or_default();
        let root = &spans[0];
        assert_eq!(root["parent_span_id"], Value::Null);
        let rendered: Vec<String> = spans
            .iter()
            .map(|s| {
                format!(
                    "{}{} [{} {}] agent={} model={}/{}/{} tokens={}/{}/{} err={}",
                    if s["parent_span_id"] == root["span_id"] {
                        "  "
                    } else {
                        ""
                    },
                    s["name"].as_str().unwrap_or_default(),
                    s["kind"].as_str().unwrap_or_default(),
                    s["status"].as_str().unwrap_or_default(),
                    s["agent_name"].as_str().unwrap_or_default(),
                    s["provider"].as_str().unwrap_or_default(),
                    s["requested_model"].as_str().unwrap_or_default(),
                    s["model"].as_str().unwrap_or_default(),
                    s["input_tokens"],
                    s["output_tokens"],
                    s["total_tokens"],
                    s["error_message"],
                )
            })
            .collect();
        let mut children = rendered[1..].to_vec();
        children.sort();
        assert_eq!(
            [vec![rendered[0].clone()], children].concat(),
            [
                "invoke_agent weather [agent ok] agent=weather-agent model=// tokens=0/0/0 err=null",
                "  chat gpt-4o [llm ok] agent=weather-agent model=openai/gpt-4o/gpt-4o-2024-08-06 tokens=100/20/120 err=null",
                "  execute_tool get_weather [tool error] agent=weather-agent model=// tokens=0/0/0 err=\"upstream timed out\"",
                "  search docs [retriever ok] agent=weather-agent model=// tokens=0/0/0 err=null",
            ],
            "{protocol:?}: {t:#}"
        );
        assert_eq!(root["session_id"], "conv-otel");
        assert_eq!(root["user_id"], "u-1");
        let span_id = root["span_id"].as_str().unwrap_or_default();
        assert!(span_id.starts_with("00000000-0000-0000-"), "{span_id}");
        let chat = spans
            .iter()
            .find(|s| s["kind"] == "llm")
            .cloned()
            .unwrap_or_default();
        assert_eq!(chat["attributes"]["temperature"], 0.5);
        let tool = spans
            .iter()
            .find(|s| s["kind"] == "tool")
            .cloned()
            .unwrap_or_default();
        assert_eq!(tool["attributes"]["tool_name"], "get_weather");
    }
    let list = get(&base, "/v1/traces");
    assert_eq!(list["traces"].as_array().map_or(0, Vec::len), 2);
}
