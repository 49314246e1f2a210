//! Shared by the OTLP ingest suites (`otlp_ingest.rs`, `otlp_ingest_sdk.rs`): a server with an
//! all-workspaces and a scoped key and a 64 KiB body limit, raw OTLP posts, a foreign GenAI request
//! and the span tree of a read-API trace.
#![allow(dead_code)]

use std::io::Write;

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value as Av;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, Status};
use serde_json::Value;
use staso_server::{ApiKey, RunningServer, Server};

pub const KEY: &str = "ak_otlp_ingest";

pub fn server() -> RunningServer {
    Server::builder()
        .api_key(KEY)
        .key(ApiKey::scoped("ak_team", ["team"]))
        .max_body_bytes(64 * 1024)
        .start()
        .expect("server starts")
}

pub fn get(base: &str, path: &str) -> Value {
    reqwest::blocking::Client::new()
        .get(format!("{base}{path}"))
        .header("X-API-Key", KEY)
        .send()
        .and_then(|r| r.error_for_status())
        .and_then(|r| r.json())
        .unwrap_or_else(|e| panic!("GET {path}: {e}"))
}

pub fn post(base: &str, content_type: &str, gzip: bool, body: Vec<u8>) -> (u16, String, Vec<u8>) {
    let mut req = reqwest::blocking::Client::new()
        .post(format!("{base}/v1/traces"))
        .header("Authorization", format!("Bearer {KEY}"))
        .header("Content-Type", content_type);
    if gzip {
        req = req.header("Content-Encoding", "gzip");
    }
    let resp = req.body(body).send().expect("POST /v1/traces");
    let status = resp.status().as_u16();
    let ct = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    (status, ct, resp.bytes().expect("body").to_vec())
}

pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    enc.write_all(bytes).expect("gzip");
    enc.finish().expect("gzip")
}

pub fn trace_count(base: &str) -> usize {
    get(base, "/v1/traces")["traces"]
        .as_array()
        .map_or(0, Vec::len)
}

pub fn kv(key: &str, v: Av) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue { value: Some(v) }),
        ..Default::default()
    }
}

pub fn s(v: &str) -> Av {
    Av::StringValue(v.into())
}

/// A foreign (non-staso) GenAI trace: agent root, chat child with usage, failing tool child.
pub fn foreign_request(trace: Vec<u8>) -> ExportTraceServiceRequest {
    let t0 = 1_764_000_000_000_000_000u64;
    let span = |id: u8, parent: Option<u8>, name: &str, attrs: Vec<KeyValue>| Span {
        trace_id: trace.clone(),
        span_id: vec![0, 0, 0, 0, 0, 0, 0, id],
        parent_span_id: parent
            .map(|p| vec![0, 0, 0, 0, 0, 0, 0, p])
            .unwrap_or_default(),
        name: name.into(),
        start_time_unix_nano: t0 + u64::from(id) * 1_000_000,
        end_time_unix_nano: t0 + 50_000_000,
        attributes: attrs,
        ..Default::default()
    };
    let mut tool = span(
        3,
        Some(1),
        "lookup",
        vec![kv("gen_ai.operation.name", s("execute_tool"))],
    );
    tool.status = Some(Status {
        code: 2,
        message: "not found".into(),
    });
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![kv("service.name", s("py-agent"))],
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                spans: vec![
                    span(
                        1,
                        None,
                        "invoke_agent py",
                        vec![
                            kv("gen_ai.operation.name", s("invoke_agent")),
                            kv("session.id", s("conv-9")),
                        ],
                    ),
                    span(
                        2,
                        Some(1),
                        "chat gpt",
                        vec![
                            kv("gen_ai.operation.name", s("chat")),
                            kv("gen_ai.request.model", s("gpt-x")),
                            kv("gen_ai.usage.input_tokens", Av::IntValue(12)),
                            kv("gen_ai.usage.output_tokens", Av::IntValue(3)),
                            kv("custom.flag", Av::BoolValue(true)),
                        ],
                    ),
                    tool,
                ],
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

/// One line per span: indentation by parent, then name, kind, status and a few fields.
pub fn tree(trace: &Value) -> String {
    let spans = trace["spans"].as_array().cloned().unwrap_or_default();
    fn walk(spans: &[Value], parent: &Value, depth: usize, out: &mut String) {
        for s in spans.iter().filter(|s| &s["parent_span_id"] == parent) {
            out.push_str(&format!(
                "{}{} [{} {}] agent={} model={} tokens={}/{}/{}\n",
                "  ".repeat(depth),
                s["name"].as_str().unwrap_or_default(),
                s["kind"].as_str().unwrap_or_default(),
                s["status"].as_str().unwrap_or_default(),
                s["agent_name"].as_str().unwrap_or_default(),
                s["model"].as_str().unwrap_or_default(),
                s["input_tokens"],
                s["output_tokens"],
                s["total_tokens"],
            ));
            walk(spans, &s["span_id"], depth + 1, out);
        }
    }
    let mut out = String::new();
    walk(&spans, &Value::Null, 0, &mut out);
    out
}
