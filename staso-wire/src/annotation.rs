//! Annotation bodies (PROTOCOL.md §5): the request that files a score or label, and a stored
//! annotation as the server returns it.

use serde::{Deserialize, Serialize};
use serde_json::Value;

fn default_numeric() -> String {
    "numeric".to_owned()
}

/// `POST /v1/traces/{trace_id}/annotations` body (§5.3).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AnnotationRequest {
    /// Non-empty annotation name.
    pub name: String,
    /// bool for `boolean`, number for `numeric`, string for `categorical`; anything for other types.
    pub value: Value,
    /// `numeric` (default), `boolean`, `categorical`, or any other string (sent unvalidated).
    #[serde(default = "default_numeric")]
    pub data_type: String,
    /// The annotated span, when the annotation targets one span.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub span_id: Option<String>,
    /// Free-text comment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
}

/// A stored annotation, as returned by the server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Annotation {
    /// Server-assigned id.
    pub id: String,
    /// The annotated trace.
    pub trace_id: String,
    /// The annotated span, if any.
    pub span_id: Option<String>,
    /// Annotation name.
    pub name: String,
    /// The value as sent.
    pub value: Value,
    /// The data type as sent.
    pub data_type: String,
    /// The comment, if any.
    pub comment: Option<String>,
    /// RFC 3339 creation time.
    pub created_at: String,
}
