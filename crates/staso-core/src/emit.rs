//! From `SpanRecord` to `WireSpan`: ids and timestamps formatted, the attributes map assembled and
//! the capture policy of PROTOCOL.md §2.5 applied. Runs on the worker thread (or in the in-memory
//! exporter), never on the caller's hot path.

use serde_json::{Map, Value};

use crate::capture::short_type_name;
use crate::config::{CapturePolicy, Config, VcsInfo};
use crate::kind::SpanKind;
use crate::record::{Role, SpanRecord};
use crate::time::{duration_ms, format_timestamp, wall_clock};
use crate::wire::WireSpan;

/// Metadata keys kept when `request` capture is off (PROTOCOL.md §2.5).
pub const OPERATIONAL_ALLOW_LIST: &[&str] = &[
    "exception.type",
    "agent_name",
    "code.filepath",
    "code.function",
    "code.lineno",
    "provider",
    "response_id",
    "stop_reason",
    "tool_name",
    "cache_creation_input_tokens",
    "cache_write_input_tokens",
    "cache_write_5m_input_tokens",
    "cache_write_1h_input_tokens",
    "cache_read_input_tokens",
    "service_tier",
    "reasoning_tokens",
    "audio_input_tokens",
    "audio_output_tokens",
    "time_to_first_token",
    "gen_ai.operation.name",
    "gen_ai.provider.name",
    "guard.action",
    "guard.latency_ms",
    "guard.rule_ids",
    "guard.rule_names",
    "guard_action",
    "guard_blocked_count",
    "guard_blocked_tools",
    "guard_decision_available",
    "guard_decision_id",
    "guard_decision_source",
    "guard_evaluations",
    "guard_evaluation_status",
    "guard_failure_kind",
    "guard_failure_mode",
    "guard_latency_ms",
    "guard_reason",
    "guard_retryable",
    "auto_captured",
    "has_thinking",
    "staso.agent_run",
    "staso.agent_run.synthetic",
    "staso.synthetic_tool",
    "staso.provisional_root",
    "staso.timing_source",
    "codex.turn_id",
    "codex.response_id",
    "codex.timing_source",
    "cached_input_tokens",
    "reasoning_output_tokens",
    "vcs.branch",
    "vcs.commit.sha",
    "vcs.is_dirty",
    "vcs.repo_url",
];

/// Everything from the client's configuration that serialization needs.
#[derive(Clone, Debug)]
pub struct EmitContext {
    /// Capture policy.
    pub policy: CapturePolicy,
    /// UUIDv5 of the configured agent name.
    pub agent_id: String,
    /// Configured agent name (spans outside any `#[agent]`).
    pub agent_name: String,
    /// Deployment label.
    pub agent_version: String,
    /// Trace-level `environment`.
    pub environment: String,
    /// Trace-level `workspace_slug`.
    pub workspace_slug: String,
    /// Session id of spans outside any conversation.
    pub default_session: String,
    /// VCS metadata for root spans.
    pub vcs: Option<VcsInfo>,
}

impl EmitContext {
    /// The context of a client built from `config`.
    pub fn from_config(config: &Config, default_session: String) -> Self {
        EmitContext {
            policy: config.capture_policy(),
            agent_id: config.agent_id().to_owned(),
            agent_name: config.agent_name().to_owned(),
            agent_version: config.agent_version().to_owned(),
            environment: config.environment().to_owned(),
            workspace_slug: config.workspace_slug().to_owned(),
            default_session,
            vcs: config.vcs().cloned(),
        }
    }
}

/// Whether the policy lets a span of `kind` send its input (PROTOCOL.md §2.5).
pub fn input_allowed(policy: &CapturePolicy, kind: SpanKind) -> bool {
    match kind {
        SpanKind::Llm => policy.all_on(),
        SpanKind::Tool => policy.tool_arguments,
        _ => policy.request,
    }
}

/// The session id of spans outside any conversation: trimmed `STASO_SESSION_ID`, else a UUIDv4.
pub fn default_session_id(env: impl Fn(&str) -> Option<String>) -> String {
    match env("STASO_SESSION_ID").map(|s| s.trim().to_owned()) {
        Some(s) if !s.is_empty() => s,
        _ => uuid::Uuid::new_v4().to_string(),
    }
}

/// Python truthiness of a JSON value, which decides whether input/output is sent (§2.4).
fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
    }
}

/// Serializes a manually set input/output value, `None` when it is falsy (§2.4).
pub fn document(v: &Value) -> Option<String> {
    if truthy(v) {
        serde_json::to_string(v).ok()
    } else {
        None
    }
}

fn build_attributes(record: &SpanRecord, ctx: &EmitContext) -> Map<String, Value> {
    let mut m = Map::new();
    if record.parent_span_id.is_none()
        && let Some(vcs) = &ctx.vcs
    {
        m.insert("vcs.commit.sha".into(), Value::from(vcs.commit_sha.clone()));
        m.insert("vcs.branch".into(), Value::from(vcs.branch.clone()));
        m.insert("vcs.repo_url".into(), Value::from(vcs.repo_url.clone()));
        m.insert("vcs.is_dirty".into(), Value::from(vcs.is_dirty));
    }
    if let Some(site) = record.site {
        if site.role == Role::Tool {
            m.insert("tool_name".into(), Value::from(site.name));
        }
        m.insert("code.filepath".into(), Value::from(site.filepath()));
        m.insert("code.lineno".into(), Value::from(site.line));
        m.insert("code.function".into(), Value::from(site.function));
        if !site.tags.is_empty() {
            m.insert("tags".into(), Value::from(site.tags.to_vec()));
        }
    }
    for (k, v) in &record.metadata {
        m.insert(k.to_string(), v.clone());
    }
    m
}

fn filter_attributes(m: &mut Map<String, Value>, policy: &CapturePolicy) {
    if !policy.request {
        m.retain(|k, _| OPERATIONAL_ALLOW_LIST.contains(&k.as_str()));
    }
    if !policy.output {
        for k in ["synthetic_content", "guard.reason", "guard_reason"] {
            m.shift_remove(k);
        }
    }
    if !policy.tool_arguments {
        for k in ["guard.modified_input", "guard.input"] {
            m.shift_remove(k);
        }
    }
}

/// Converts a record to its wire form under the client's policy. Returns the trace id string
/// (moved to the trace level by the transport) and the span.
pub fn to_wire(record: &SpanRecord, ctx: &EmitContext) -> (String, WireSpan) {
    let policy = &ctx.policy;
    let mut attrs = build_attributes(record, ctx);
    let provider = if !record.provider.is_empty() {
        record.provider.clone()
    } else {
        match attrs.get("provider") {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Null) | None => String::new(),
            Some(other) => other.to_string(),
        }
    };
    filter_attributes(&mut attrs, policy);
    if record.provisional {
        attrs.insert("staso.provisional_root".into(), Value::Bool(true));
    }
    if let Some(t) = &record.exception_type {
        attrs.insert("exception.type".into(), Value::from(short_type_name(t)));
    }
    let name = if !policy.request && record.kind != SpanKind::Tool {
        format!("{} span", record.kind)
    } else {
        record.name.to_string()
    };
    let input = record
        .input
        .as_ref()
        .filter(|_| input_allowed(policy, record.kind));
    let output = record.output.as_ref().filter(|_| policy.output);
    let usage_available = if record.provisional {
        Some(false)
    } else {
        record.usage_available.or(if record.kind == SpanKind::Llm {
            Some(false)
        } else {
            None
        })
    };
    let span = WireSpan {
        span_id: match &record.wire_span_id {
            Some(id) => id.clone(),
            None => record.span_id.to_string(),
        },
        parent_span_id: record.parent_span_id.map(|p| p.to_string()),
        name,
        kind: record.kind.as_str().to_owned(),
        timestamp: format_timestamp(wall_clock(record.start)),
        duration_ms: if record.provisional {
            0.0
        } else {
            duration_ms(record.duration)
        },
        status: record.status.as_str().to_owned(),
        model: record.model.clone(),
        provider,
        requested_model: record.requested_model.clone(),
        usage_available,
        reasoning_effort: record.reasoning_effort.clone(),
        input_tokens: record.input_tokens,
        output_tokens: record.output_tokens,
        total_tokens: record.total_tokens,
        input: input.cloned().unwrap_or_default(),
        output: output.cloned().unwrap_or_default(),
        attributes: serde_json::to_string(&attrs).unwrap_or_else(|_| "{}".to_owned()),
        error_message: record.error_message.clone().filter(|_| policy.all_on()),
        session_id: match &record.session_id {
            Some(s) => s.to_string(),
            None => ctx.default_session.clone(),
        },
        agent_name: match &record.agent_name {
            Some(a) => a.to_string(),
            None => ctx.agent_name.clone(),
        },
        agent_id: ctx.agent_id.clone(),
        agent_version: ctx.agent_version.clone(),
        user_id: record
            .user_id
            .as_ref()
            .map(|u| u.to_string())
            .unwrap_or_default(),
        capture: Some(policy.wire_map()),
    };
    (record.trace_id.to_string(), span)
}
