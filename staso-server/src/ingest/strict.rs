//! The fast decoding of an ingest body: the request's own types, but refusing any key they do not
//! name, and each span decoded straight into the [`CheckedSpan`] its check fills in.
//!
//! Refusing unknown keys bounds the body's nesting: a body this decodes holds no value but the ones
//! its types name, so it is nested at most [`MAX_DEPTH`] levels, and the separate depth pass over
//! the body ([`check_depth`](crate::http::check_depth)) is not needed for it. A body with a key of
//! its own is not refused for that: the caller decodes it again the general way (depth pass, then
//! the wire types, which ignore unknown keys). What this accepts, the wire types accept too, with
//! the same values: the fields, their types and defaults are the wire types' own (the span's
//! through serde's `remote`, which the compiler checks against [`WireSpan`]).

use serde::Deserialize;
use staso_wire::ingest::{CaptureMap, WireSpan};

use crate::store::traces::CheckedSpan;

/// How deeply a body of these types can nest: the request, `traces`, a group, `spans`, a span, its
/// `capture` map, and a capture state written as a one-key map (`{"captured": null}`, which serde
/// accepts for a unit variant).
pub const MAX_DEPTH: usize = 7;

/// `POST /v1/traces/ingest` body ([`staso_wire::ingest::IngestRequest`]), unknown keys refused.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StrictRequest {
    /// One group per trace.
    pub traces: Vec<StrictGroup>,
}

/// A trace group ([`staso_wire::ingest::TraceGroup`]), unknown keys refused.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StrictGroup {
    /// Trace id.
    pub trace_id: String,
    /// Smallest span timestamp of the group, or `""`.
    pub timestamp: String,
    /// Environment.
    pub environment: String,
    /// Workspace.
    pub workspace_slug: String,
    /// The spans, each with its start time still 0 (the check sets it).
    pub spans: Vec<SpanSlot>,
}

/// A decoded span in the place its check fills in (`start_us` 0 until then).
#[derive(Debug)]
pub struct SpanSlot(pub CheckedSpan);

impl<'de> Deserialize<'de> for SpanSlot {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        StrictSpan::deserialize(d).map(|span| SpanSlot(CheckedSpan { span, start_us: 0 }))
    }
}

/// [`WireSpan`]'s fields as its derive decodes them, unknown keys refused.
#[derive(Deserialize)]
#[serde(remote = "WireSpan", deny_unknown_fields)]
struct StrictSpan {
    span_id: String,
    parent_span_id: Option<String>,
    name: String,
    kind: String,
    timestamp: String,
    duration_ms: f64,
    status: String,
    model: String,
    provider: String,
    requested_model: String,
    usage_available: Option<bool>,
    reasoning_effort: String,
    input_tokens: u64,
    output_tokens: u64,
    total_tokens: u64,
    input: String,
    output: String,
    attributes: String,
    error_message: Option<String>,
    session_id: String,
    agent_name: String,
    agent_id: String,
    agent_version: String,
    user_id: String,
    #[serde(default)]
    capture: Option<CaptureMap>,
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use staso_wire::ingest::IngestRequest;

    use super::{MAX_DEPTH, StrictRequest};
    use crate::http::check_depth;

    fn span(capture: serde_json::Value) -> serde_json::Value {
        let mut s = serde_json::to_value(staso_wire::ingest::WireSpan::empty(
            "00000000-0000-0000-0000-000000000001".to_owned(),
        ))
        .unwrap();
        s["timestamp"] = json!("2026-11-30T10:00:00.000000+00:00");
        s["capture"] = capture;
        s
    }

    fn body(span: serde_json::Value) -> String {
        json!({"traces": [{"trace_id": "t", "timestamp": "", "environment": "e",
            "workspace_slug": "w", "spans": [span]}]})
        .to_string()
    }

    /// The deepest body of the request's types (a capture state written as a one-key map) is
    /// nested exactly `MAX_DEPTH` levels, and decodes to what the wire types decode it to.
    #[test]
    fn the_deepest_body_it_accepts_is_nested_max_depth_levels() {
        let text = body(span(json!({"request": {"captured": null},
            "system_prompt": "captured", "tool_schema": "suppressed",
            "tool_arguments": "captured", "output": "captured"})));
        let strict: StrictRequest = serde_json::from_str(&text).unwrap();
        let wire: IngestRequest = serde_json::from_str(&text).unwrap();
        assert_eq!(strict.traces[0].spans[0].0.span, wire.traces[0].spans[0]);
        assert_eq!(strict.traces[0].spans[0].0.start_us, 0);
        assert!(check_depth(text.as_bytes(), MAX_DEPTH).is_ok());
        assert!(check_depth(text.as_bytes(), MAX_DEPTH - 1).is_err());
    }

    /// A key the types do not name is refused here at any level (the caller then decodes the
    /// body the general way, which ignores it); without `capture` a span decodes as the wire's.
    #[test]
    fn unknown_keys_are_refused_at_every_level() {
        let plain = body(span(serde_json::Value::Null));
        let strict: StrictRequest = serde_json::from_str(&plain).unwrap();
        let wire: IngestRequest = serde_json::from_str(&plain).unwrap();
        assert_eq!(strict.traces[0].spans[0].0.span, wire.traces[0].spans[0]);
        let mut extra_span = span(serde_json::Value::Null);
        extra_span["extra"] = json!([[1]]);
        let mut extra_group: serde_json::Value =
            serde_json::from_str(&body(span(serde_json::Value::Null))).unwrap();
        extra_group["traces"][0]["extra"] = json!(1);
        let mut extra_root = extra_group.clone();
        extra_root["traces"][0]
            .as_object_mut()
            .unwrap()
            .remove("extra");
        extra_root["extra"] = json!({});
        for text in [
            body(extra_span),
            extra_group.to_string(),
            extra_root.to_string(),
        ] {
            assert!(
                serde_json::from_str::<StrictRequest>(&text).is_err(),
                "{text}"
            );
            assert!(
                serde_json::from_str::<IngestRequest>(&text).is_ok(),
                "{text}"
            );
        }
    }
}
