//! Traces and spans: the ingest write ([`write`]: upsert by `(trace_id, span_id)`, final supersedes
//! provisional) and the read queries behind `/v1/traces` and `/v1/conversations` ([`query`]).

use serde::Serialize;
use staso_wire::ingest::WireSpan;

#[cfg(test)]
mod plans;
mod query;
pub(crate) mod span_key;
mod summary;
mod write;

pub(crate) use query::{SUMMARY_COLUMNS, TRACE_SEQ, summary_row};
pub use query::{conversation, get, list, parse_cursor, workspace_of};
pub use write::{ingest, store_groups};

/// A span that passed validation, with its start time parsed.
#[derive(Debug, Clone)]
pub struct CheckedSpan {
    /// The span as sent.
    pub span: WireSpan,
    /// Start, microseconds since the epoch.
    pub start_us: i64,
}

/// A trace group that passed validation.
#[derive(Debug, Clone)]
pub struct CheckedGroup {
    /// Trace id.
    pub trace_id: String,
    /// Environment.
    pub environment: String,
    /// Workspace.
    pub workspace_slug: String,
    /// Spans.
    pub spans: Vec<CheckedSpan>,
}

/// One row of `GET /v1/traces`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TraceSummary {
    /// Trace id.
    pub trace_id: String,
    /// Earliest span timestamp, as sent.
    pub timestamp: String,
    /// Environment.
    pub environment: String,
    /// Workspace.
    pub workspace_slug: String,
    /// Name of the root span (or the earliest span while the root is unknown).
    pub root_name: String,
    /// Agent name of that span.
    pub agent_name: String,
    /// Session (conversation) id of that span.
    pub session_id: String,
    /// Stored spans.
    pub span_count: u64,
    /// The final root's duration, else the extent of the spans.
    pub duration_ms: f64,
    /// `error` if any span failed, `timeout`, `running` while only a provisional root is known, else `ok`.
    pub status: String,
}

/// `GET /v1/traces` filters; `None` means no restriction.
#[derive(Debug, Clone, Default)]
pub struct TraceFilter {
    /// Exact agent name.
    pub agent_name: Option<String>,
    /// Exact environment.
    pub environment: Option<String>,
    /// Exact workspace.
    pub workspace_slug: Option<String>,
    /// Exact session id.
    pub session_id: Option<String>,
    /// Exact trace status.
    pub status: Option<String>,
    /// Start at or after, µs.
    pub since_us: Option<i64>,
    /// Start at or before, µs.
    pub until_us: Option<i64>,
}

/// The wire columns of a span row, in [`WireSpan`]'s order.
pub(crate) const SPAN_COLUMNS: &str = "span_id, parent_span_id, name, kind, timestamp, duration_ms, status, \
    model, provider, requested_model, usage_available, reasoning_effort, input_tokens, output_tokens, \
    total_tokens, input, output, attributes, error_message, session_id, agent_name, agent_id, \
    agent_version, user_id, capture";
