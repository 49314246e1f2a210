//! The JSON bodies of the Staso ingest protocol (PROTOCOL.md §2.1, §3.2, §3.3), defined once and used
//! by the SDK (to serialize) and by `staso-server` (to deserialize).
//!
//! Field order is the wire order. `input`, `output` and `attributes` are JSON documents *embedded as
//! strings*, exactly as the official SDK sends them.

use serde::{Deserialize, Serialize};

pub use crate::capture::{CaptureMap, CaptureState};

/// `POST /v1/traces/ingest` body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IngestRequest {
    /// One group per trace, in order of first appearance in the batch.
    pub traces: Vec<TraceGroup>,
}

/// The spans of one trace in one request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TraceGroup {
    /// 8-4-4-4-12 hex trace id.
    pub trace_id: String,
    /// Lexicographically smallest non-empty span timestamp of the group, or `""`.
    pub timestamp: String,
    /// `Config::environment`.
    pub environment: String,
    /// `Config::workspace_slug`.
    pub workspace_slug: String,
    /// The spans, without `trace_id`.
    pub spans: Vec<WireSpan>,
}

/// One span on the wire (PROTOCOL.md §2.1), keys in wire order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WireSpan {
    /// `00000000-0000-0000-XXXX-XXXXXXXXXXXX`.
    pub span_id: String,
    /// The parent's span id, `null` for roots.
    pub parent_span_id: Option<String>,
    /// Span name (possibly rewritten by the capture policy).
    pub name: String,
    /// `llm|tool|chain|retriever|agent|custom`.
    pub kind: String,
    /// Start time, Python isoformat.
    pub timestamp: String,
    /// Duration in ms, 2 decimals.
    pub duration_ms: f64,
    /// `ok|error|timeout`.
    pub status: String,
    /// Resolved model.
    pub model: String,
    /// Provider.
    pub provider: String,
    /// First model set.
    pub requested_model: String,
    /// `false` for llm spans by default, `null` for the rest.
    pub usage_available: Option<bool>,
    /// Reasoning effort.
    pub reasoning_effort: String,
    /// Prompt tokens.
    pub input_tokens: u64,
    /// Completion tokens.
    pub output_tokens: u64,
    /// Total tokens.
    pub total_tokens: u64,
    /// JSON document as a string, or `""`.
    pub input: String,
    /// JSON document as a string, or `""`.
    pub output: String,
    /// The metadata map as a JSON string (`"{}"` when empty).
    pub attributes: String,
    /// Sent only when every capture category is on.
    pub error_message: Option<String>,
    /// Conversation id.
    pub session_id: String,
    /// Innermost `#[agent]` name, else the configured agent name.
    pub agent_name: String,
    /// UUIDv5 of the configured agent name.
    pub agent_id: String,
    /// Deployment label.
    pub agent_version: String,
    /// User id of the conversation, or `""`.
    pub user_id: String,
    /// The capture map; absent only for non-SDK producers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capture: Option<CaptureMap>,
}

impl WireSpan {
    /// A span with only its id set and every other field at its wire default.
    pub fn empty(span_id: String) -> Self {
        WireSpan {
            span_id,
            parent_span_id: None,
            name: String::new(),
            kind: "chain".to_owned(),
            timestamp: String::new(),
            duration_ms: 0.0,
            status: "ok".to_owned(),
            model: String::new(),
            provider: String::new(),
            requested_model: String::new(),
            usage_available: None,
            reasoning_effort: String::new(),
            input_tokens: 0,
            output_tokens: 0,
            total_tokens: 0,
            input: String::new(),
            output: String::new(),
            attributes: "{}".to_owned(),
            error_message: None,
            session_id: String::new(),
            agent_name: String::new(),
            agent_id: String::new(),
            agent_version: String::new(),
            user_id: String::new(),
            capture: None,
        }
    }

    /// True for a provisional root snapshot: no parent and `staso.provisional_root: true` in the
    /// attributes (PROTOCOL.md §2.6).
    pub fn is_provisional_root(&self) -> bool {
        // The key can only be there if its text is, or if it was written with `\u` escapes: a
        // scan spares the parse for almost every span (the server asks this of each root
        // several times).
        self.parent_span_id.is_none()
            && (self.attributes.contains("provisional_root") || self.attributes.contains("\\u"))
            && serde_json::from_str::<serde_json::Value>(&self.attributes)
                .ok()
                .and_then(|v| v.get("staso.provisional_root").cloned())
                == Some(serde_json::Value::Bool(true))
    }
}

/// The acknowledgement of a successful ingest (PROTOCOL.md §3.3).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IngestAck {
    /// Number of trace groups accepted (must equal the number sent).
    pub accepted: u64,
    /// Must be 0.
    pub rejected: u64,
    /// Must be 0.
    pub spans_dropped: u64,
    /// Must equal the request's `Idempotency-Key`.
    pub receipt_id: String,
}

#[cfg(test)]
mod tests {
    use super::WireSpan;

    fn root(attributes: &str) -> WireSpan {
        let mut s = WireSpan::empty("00000000-0000-0000-0000-000000000001".to_owned());
        s.attributes = attributes.to_owned();
        s
    }

    #[test]
    fn provisional_roots_are_found_however_the_key_is_written() {
        assert!(root(r#"{"staso.provisional_root":true}"#).is_provisional_root());
        // Escaped key: the same key once decoded.
        assert!(root(r#"{"staso\u002eprovisional_root":true}"#).is_provisional_root());
        assert!(!root(r#"{"staso.provisional_root":false}"#).is_provisional_root());
        assert!(!root(r#"{"code.function":"run"}"#).is_provisional_root());
        assert!(!root(r#"{"note":"provisional_root"}"#).is_provisional_root());
        assert!(!root("{}").is_provisional_root());
        let mut child = root(r#"{"staso.provisional_root":true}"#);
        child.parent_span_id = Some("00000000-0000-0000-0000-000000000002".to_owned());
        assert!(!child.is_provisional_root());
    }
}
