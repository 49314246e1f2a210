//! The guard telemetry span of a manual call (PROTOCOL.md §6.6): a `tool` child of the current
//! span, never made current, named `guard:<outcome>:<tool>`, whose id is a UUIDv5 of its decision
//! id and name.

use std::borrow::Cow;
use std::fmt::Write as _;

use serde_json::{Map, Value, json};

use super::types::{GuardAction, GuardResult};
use crate::capture::document;
use crate::config::CapturePolicy;
use crate::ids::SpanId;
use crate::kind::{SpanKind, SpanStatus};
use crate::record::SpanRecord;
use crate::span::{emit, new_record};

/// The span of one guard call, open from the call until its result.
pub(crate) struct GuardSpan {
    record: Box<SpanRecord>,
}

impl GuardSpan {
    /// Opens the span when a recording span is current (else `None`: no span is created).
    pub(crate) fn open(tool_name: &str) -> Option<GuardSpan> {
        if !crate::client::is_recording() {
            return None;
        }
        let current = crate::context::with_current(|f| f.span.is_some_and(|s| s.recording));
        if !current {
            return None;
        }
        let record = new_record(
            Cow::Owned(format!("guard:check:{tool_name}")),
            SpanKind::Tool,
            None,
        )?;
        Some(GuardSpan { record })
    }

    /// Completes and emits the span for `result`.
    pub(crate) fn finish(
        mut self,
        tool_name: &str,
        tool_input: &Map<String, Value>,
        result: &GuardResult,
        policy: &CapturePolicy,
    ) {
        let outcome = outcome(result);
        let name = format!("guard:{outcome}:{tool_name}");
        let decision_id = if result.decision_id.is_empty() {
            uuid::Uuid::new_v4().to_string()
        } else {
            result.decision_id.clone()
        };
        let id = span_uuid(&decision_id, &name);
        let r = &mut self.record;
        r.span_id = SpanId(id.as_u128() as u64);
        r.wire_span_id = Some(id.to_string());
        r.name = Cow::Owned(name);
        let action = if outcome == "would-block" {
            "would_block"
        } else {
            result.action.as_str()
        };
        let meta: [(&'static str, Value); 9] = [
            ("guard_action", json!(action)),
            ("guard_decision_id", json!(result.decision_id)),
            ("guard_decision_source", json!(result.decision_source)),
            ("guard_decision_available", json!(result.decision_available)),
            ("guard_evaluation_status", json!(result.evaluation_status)),
            ("guard_latency_ms", json!(result.latency_ms)),
            ("guard_failure_kind", json!(result.failure_kind)),
            ("guard_failure_mode", json!(result.failure_mode)),
            ("guard_retryable", json!(result.retryable)),
        ];
        for (k, v) in meta {
            r.set_metadata(Cow::Borrowed(k), v);
        }
        if policy.tool_arguments {
            r.input = document(&json!({"tool_name": tool_name, "tool_input": tool_input}));
        }
        if policy.output {
            let full = serde_json::to_value(result).unwrap_or(Value::Null);
            let mut out = full.clone();
            if let Value::Object(m) = &mut out {
                m.insert("action".into(), json!(action));
                m.insert("decision_response".into(), full.clone());
                m.insert(
                    "enforcement_response".into(),
                    json!({"kind": "return", "type": "GuardResult", "payload": full}),
                );
            }
            r.output = document(&out);
        }
        r.status = if result.decision_available {
            SpanStatus::Ok
        } else {
            SpanStatus::Error
        };
        r.duration = crate::time::since(r.start);
        emit(self.record);
    }
}

/// `unavailable`, `blocked`, `would-block`, `allowed`; staso-rs adds `modified` and `escalated`
/// for the decision-2 actions.
fn outcome(result: &GuardResult) -> &'static str {
    if !result.decision_available {
        "unavailable"
    } else if result.action == GuardAction::Block {
        "blocked"
    } else if result.has_findings() {
        "would-block"
    } else if result.action == GuardAction::Modify {
        "modified"
    } else if result.action == GuardAction::Escalate {
        "escalated"
    } else {
        "allowed"
    }
}

/// UUIDv5 (namespace URL) of `["staso.guard.span.v1", "<decision_id>", "<name>"]` rendered as
/// Python's `json.dumps` renders it: `", "` separators, non-ASCII as `\uXXXX`.
pub(crate) fn span_uuid(decision_id: &str, name: &str) -> uuid::Uuid {
    let mut text = String::from("[");
    for (i, part) in ["staso.guard.span.v1", decision_id, name]
        .iter()
        .enumerate()
    {
        if i > 0 {
            text.push_str(", ");
        }
        python_json_str(&mut text, part);
    }
    text.push(']');
    uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_URL, text.as_bytes())
}

/// A JSON string literal with Python's default escaping (`ensure_ascii=True`).
fn python_json_str(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if c.is_ascii() && !c.is_ascii_control() => out.push(c),
            c => {
                let mut units = [0u16; 2];
                for u in c.encode_utf16(&mut units) {
                    let _ = write!(out, "\\u{u:04x}");
                }
            }
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_rendering_matches_python() {
        let mut s = String::new();
        python_json_str(&mut s, "é\u{1F600}\"\u{7f}\u{1}");
        assert_eq!(s, r#""\u00e9\ud83d\ude00\"\u007f\u0001""#);
    }

    #[test]
    fn span_id_is_the_uuid5_of_the_python_list() {
        let id = span_uuid(
            "6f9619ff-8b86-4011-b42d-00cf4fc964ff",
            "guard:allowed:shell",
        );
        let expected = uuid::Uuid::new_v5(
            &uuid::Uuid::NAMESPACE_URL,
            br#"["staso.guard.span.v1", "6f9619ff-8b86-4011-b42d-00cf4fc964ff", "guard:allowed:shell"]"#,
        );
        assert_eq!(id, expected);
        assert_eq!(id.get_version_num(), 5);
    }
}
