//! `SpanRecord` → OTLP `Span`, and the client's settings → OTLP `Resource` (the table in the
//! module docs of [`crate::otlp`]).
//!
//! Everything the capture policy governs (name, input, output, error message, metadata) is taken
//! from [`to_wire`], the very function that builds Staso spans, so what is suppressed for Staso is
//! suppressed here too.

use std::time::UNIX_EPOCH;

use opentelemetry_proto::tonic::common::v1::InstrumentationScope;
use opentelemetry_proto::tonic::common::v1::any_value::Value as Av;
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind as OtelKind;
use opentelemetry_proto::tonic::trace::v1::{Span, Status, status::StatusCode};
use serde_json::{Map, Value};

use crate::config::ExportSettings;
use crate::config::OtlpConfig;
use crate::kind::{SpanKind, SpanStatus};
use crate::record::SpanRecord;
use crate::serialize::to_wire;
use crate::time::wall_clock;

use super::attrs::Attrs;

/// `flags`: sampled, and "parent is not remote" known (our parents are always local).
const SPAN_FLAGS: u32 = 0x101;
const JSON_MIME: &str = "application/json";

/// `gen_ai.operation.name` of a kind (none for chain and custom steps).
pub(crate) fn operation_name(kind: SpanKind) -> Option<&'static str> {
    match kind {
        SpanKind::Agent => Some("invoke_agent"),
        SpanKind::Tool => Some("execute_tool"),
        SpanKind::Llm => Some("chat"),
        SpanKind::Retriever => Some("retrieval"),
        SpanKind::Chain | SpanKind::Custom => None,
    }
}

/// `openinference.span.kind` of a kind.
pub(crate) fn openinference_kind(kind: SpanKind) -> &'static str {
    match kind {
        SpanKind::Llm => "LLM",
        SpanKind::Tool => "TOOL",
        SpanKind::Chain => "CHAIN",
        SpanKind::Retriever => "RETRIEVER",
        SpanKind::Agent => "AGENT",
        SpanKind::Custom => "UNKNOWN",
    }
}

/// The OTLP name of a Staso attributes-map key (`None`: left out, it lives in the resource).
fn attribute_key(key: &str) -> Option<String> {
    Some(match key {
        k if k.starts_with("vcs.") => return None,
        "tags" => "staso.tags".into(),
        "tool_name" => "gen_ai.tool.name".into(),
        "code.filepath" => "code.file.path".into(),
        "code.lineno" => "code.line.number".into(),
        "code.function" => "code.function.name".into(),
        "exception.type" => "exception.type".into(),
        k if k.starts_with("gen_ai.") || k.starts_with("staso.") => k.into(),
        k => format!("staso.metadata.{k}"),
    })
}

fn unix_nanos(t: std::time::SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// The OTLP span of `record` under `ctx`'s capture policy.
pub(crate) fn span(record: &SpanRecord, ctx: &ExportSettings) -> Span {
    let (_, wire) = to_wire(record, ctx);
    let kind = record.kind;
    let mut a = Attrs::default();
    if let Some(op) = operation_name(kind) {
        a.str("gen_ai.operation.name", op);
    }
    a.str("gen_ai.agent.name", &wire.agent_name);
    if kind == SpanKind::Tool {
        a.str("gen_ai.tool.name", &wire.name);
    }
    a.str("gen_ai.request.model", &wire.requested_model);
    a.str("gen_ai.response.model", &wire.model);
    a.str("gen_ai.provider.name", &wire.provider);
    let has_usage = wire.usage_available == Some(true)
        || wire.input_tokens > 0
        || wire.output_tokens > 0
        || wire.total_tokens > 0;
    if has_usage {
        a.int("gen_ai.usage.input_tokens", wire.input_tokens);
        a.int("gen_ai.usage.output_tokens", wire.output_tokens);
        a.int("llm.token_count.prompt", wire.input_tokens);
        a.int("llm.token_count.completion", wire.output_tokens);
        a.int("llm.token_count.total", wire.total_tokens);
    }
    a.str("gen_ai.conversation.id", &wire.session_id);
    a.str("session.id", &wire.session_id);
    a.str("user.id", &wire.user_id);
    a.str("openinference.span.kind", openinference_kind(kind));
    if kind == SpanKind::Llm {
        a.str("llm.model_name", &wire.model);
    }
    if !wire.input.is_empty() {
        a.str("input.value", &wire.input);
        a.str("input.mime_type", JSON_MIME);
    }
    if !wire.output.is_empty() {
        a.str("output.value", &wire.output);
        a.str("output.mime_type", JSON_MIME);
    }
    a.str("staso.span.kind", kind.as_str());
    a.str("staso.status", record.status.as_str());
    a.str("staso.agent.id", &wire.agent_id);
    a.str("staso.reasoning_effort", &wire.reasoning_effort);
    if let Some(u) = wire.usage_available {
        a.set("staso.usage_available", Av::BoolValue(u));
    }
    // Already filtered by the capture policy; re-parsed rather than re-filtered so the two
    // exporters can never disagree.
    let metadata: Map<String, Value> = serde_json::from_str(&wire.attributes).unwrap_or_default();
    let started = wall_clock(record.start);
    for (k, v) in &metadata {
        if super::genai::map_key(&mut a, k, v, started) {
            continue;
        }
        if let Some(key) = attribute_key(k) {
            a.json(key, v);
        }
    }
    super::genai::invocation_parameters(&mut a, &metadata);
    let status = match record.status {
        SpanStatus::Ok => Status::default(),
        SpanStatus::Error | SpanStatus::Timeout => {
            if let Some(Value::String(t)) = metadata.get("exception.type") {
                a.str("error.type", t);
            } else if record.status == SpanStatus::Timeout {
                a.str("error.type", "timeout");
            }
            Status {
                code: StatusCode::Error as i32,
                message: wire.error_message.clone().unwrap_or_default(),
            }
        }
    };
    let start = unix_nanos(started);
    let end = start.saturating_add(u64::try_from(record.duration.as_nanos()).unwrap_or(u64::MAX));
    Span {
        trace_id: record.trace_id.0.to_be_bytes().to_vec(),
        span_id: record.span_id.0.to_be_bytes().to_vec(),
        trace_state: String::new(),
        parent_span_id: record
            .parent_span_id
            .map(|p| p.0.to_be_bytes().to_vec())
            .unwrap_or_default(),
        flags: SPAN_FLAGS,
        name: wire.name,
        kind: match kind {
            SpanKind::Llm | SpanKind::Retriever => OtelKind::Client,
            _ => OtelKind::Internal,
        } as i32,
        start_time_unix_nano: start,
        end_time_unix_nano: end,
        attributes: a.into_vec(),
        dropped_attributes_count: 0,
        events: Vec::new(),
        dropped_events_count: 0,
        links: Vec::new(),
        dropped_links_count: 0,
        status: Some(status),
    }
}

/// The resource every span of the client shares: our keys, then `OTEL_RESOURCE_ATTRIBUTES`, then
/// `OTEL_SERVICE_NAME`.
pub(crate) fn resource(ctx: &ExportSettings, cfg: &OtlpConfig) -> Resource {
    let mut a = Attrs::default();
    a.str("service.name", &ctx.agent_name);
    a.str("service.version", &ctx.agent_version);
    a.str("deployment.environment.name", &ctx.environment);
    a.str("telemetry.sdk.name", "staso-rs");
    a.str("telemetry.sdk.language", "rust");
    a.str("telemetry.sdk.version", env!("CARGO_PKG_VERSION"));
    a.str("staso.agent.id", &ctx.agent_id);
    a.str("staso.workspace_slug", &ctx.workspace_slug);
    if let Some(vcs) = &ctx.vcs {
        a.str("vcs.repository.url.full", &vcs.repo_url);
        a.str("vcs.ref.head.name", &vcs.branch);
        a.str("vcs.ref.head.revision", &vcs.commit_sha);
        if !vcs.branch.is_empty() {
            a.str("vcs.ref.head.type", "branch");
        }
        a.set("staso.vcs.is_dirty", Av::BoolValue(vcs.is_dirty));
    }
    for (k, v) in &cfg.resource_attributes {
        a.set(k.clone(), Av::StringValue(v.clone()));
    }
    if let Some(name) = &cfg.service_name {
        a.str("service.name", name);
    }
    Resource {
        attributes: a.into_vec(),
        dropped_attributes_count: 0,
        entity_refs: Vec::new(),
    }
}

/// The instrumentation scope of every span.
pub(crate) fn scope() -> InstrumentationScope {
    InstrumentationScope {
        name: "staso".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        attributes: Vec::new(),
        dropped_attributes_count: 0,
    }
}
