//! From `SpanRecord` to `WireSpan`: ids and timestamps formatted, the attributes map assembled and
//! the capture policy of PROTOCOL.md §2.5 applied. Runs on the worker thread (or in the in-memory
//! exporter), never on the caller's hot path.

use serde_json::Value;

use crate::config::{CapturePolicy, Config, VcsInfo};
use crate::kind::SpanKind;
use crate::record::SpanRecord;
use staso_wire::ingest::WireSpan;

mod attributes;
mod body;
mod json;
mod view;

pub use view::{SpanView, TraceBatch};

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

/// Converts a record to its wire form under the client's policy. Returns the trace id string
/// (moved to the trace level by the transport) and the span.
///
/// This goes through [`SpanView`]'s serialization, so the in-memory exporter and the HTTP transport
/// can never disagree on what a span looks like on the wire.
pub fn to_wire(record: &SpanRecord, ctx: &EmitContext) -> (String, WireSpan) {
    let view = SpanView::new(record, ctx);
    let span = serde_json::to_value(&view)
        .and_then(serde_json::from_value)
        .unwrap_or_else(|e| {
            log::debug!("staso: span {} could not be converted: {e}", record.span_id);
            WireSpan::empty(view.span_id().to_owned())
        });
    (record.trace_id.to_string(), span)
}
