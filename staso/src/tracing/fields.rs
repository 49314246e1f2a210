//! A `tracing` span's fields as JSON values, and what they mean to staso: the span's name and
//! kind (read once, at creation), its metadata, the LLM call's fields (`gen_ai.*`, the OpenTelemetry
//! GenAI conventions) and its error status.

use std::borrow::Cow;
use std::fmt;

use ::tracing::field::{Field, Visit};
use serde_json::Value;

use crate::{LlmCall, Span, SpanKind, SpanStatus};

/// Fields whose content becomes the span's input or output instead of metadata (so the capture
/// policy's `request`/`output` switches decide whether it is sent, and it is not sent twice).
const CONTENT_FIELDS: [&str; 6] = [
    "gen_ai.input.messages",
    "gen_ai.output.messages",
    "gen_ai.prompt",
    "gen_ai.completion",
    "gen_ai.tool.call.arguments",
    "gen_ai.tool.call.result",
];

/// Fields that only steer the bridge (the staso span's name), not sent as metadata.
const CONTROL_FIELDS: [&str; 1] = ["otel.name"];

/// The fields of one `new_span` or `record` call, in declaration order.
#[derive(Default)]
pub(crate) struct FieldValues(pub(crate) Vec<(&'static str, Value)>);

impl FieldValues {
    /// The field's value, if recorded in this call.
    pub(crate) fn get(&self, name: &str) -> Option<&Value> {
        self.0.iter().find(|(k, _)| *k == name).map(|(_, v)| v)
    }
}

impl Visit for FieldValues {
    fn record_f64(&mut self, field: &Field, value: f64) {
        // JSON has no NaN or infinity: those are kept as text.
        let v = serde_json::Number::from_f64(value)
            .map_or_else(|| Value::String(value.to_string()), Value::Number);
        self.0.push((field.name(), v));
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.push((field.name(), value.into()));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.push((field.name(), value.into()));
    }

    fn record_i128(&mut self, field: &Field, value: i128) {
        let v = i64::try_from(value).map_or_else(|_| Value::String(value.to_string()), Value::from);
        self.0.push((field.name(), v));
    }

    fn record_u128(&mut self, field: &Field, value: u128) {
        let v = u64::try_from(value).map_or_else(|_| Value::String(value.to_string()), Value::from);
        self.0.push((field.name(), v));
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.0.push((field.name(), value.into()));
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.push((field.name(), value.into()));
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.0.push((field.name(), value.to_string().into()));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0.push((field.name(), format!("{value:?}").into()));
    }
}

/// The staso kind for a `gen_ai.operation.name` (OpenTelemetry GenAI semantic conventions).
pub(crate) fn kind_for_operation(operation: &str) -> SpanKind {
    match operation {
        "chat" | "text_completion" | "generate_content" => SpanKind::Llm,
        "execute_tool" => SpanKind::Tool,
        "invoke_agent" | "create_agent" => SpanKind::Agent,
        "retrieval" | "embeddings" => SpanKind::Retriever,
        _ => SpanKind::Chain,
    }
}

/// The staso span's name and kind from the fields present at creation.
pub(crate) fn name_and_kind(
    span_name: &'static str,
    fields: &FieldValues,
) -> (Cow<'static, str>, SpanKind) {
    let name = match fields.get("otel.name") {
        Some(Value::String(s)) if !s.is_empty() => Cow::Owned(s.clone()),
        _ => Cow::Borrowed(span_name),
    };
    let kind = match fields.get("gen_ai.operation.name") {
        Some(Value::String(op)) => kind_for_operation(op),
        _ => SpanKind::Chain,
    };
    (name, kind)
}

/// What the bridge remembers of a span's fields between `record` calls: token counts arrive one
/// at a time (rig records usage after the call), and an error's message may come after its flag.
#[derive(Default)]
pub(crate) struct Accumulated {
    input_tokens: Option<u64>,
    output_tokens: Option<u64>,
    error: bool,
    /// The `error` field's own text (lower precedence than a status description).
    error_value: Option<String>,
    error_description: Option<String>,
}

fn as_u64(v: &Value) -> Option<u64> {
    match v {
        Value::Number(n) => n.as_u64().or_else(|| {
            n.as_f64()
                .filter(|f| *f >= 0.0 && f.fract() == 0.0)
                .map(|f| f as u64)
        }),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn as_f64(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn as_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Null => None,
        other => Some(other.to_string()),
    }
}

/// A JSON document recorded as a string field (rig records messages as JSON text) is sent as the
/// document itself.
fn as_document(v: &Value) -> Value {
    match v {
        Value::String(s) if s.starts_with(['[', '{']) => {
            serde_json::from_str(s).unwrap_or_else(|_| v.clone())
        }
        other => other.clone(),
    }
}

/// Finish reasons arrive as a list (`["stop"]`), its text, or one reason; staso keeps one
/// `stop_reason` string (several are joined with `,`).
fn finish_reason(v: &Value) -> Option<String> {
    let list = match v {
        Value::String(s) if s.starts_with('[') => serde_json::from_str::<Vec<Value>>(s).ok(),
        Value::Array(a) => Some(a.clone()),
        _ => None,
    };
    match list {
        Some(items) => {
            let parts: Vec<String> = items.iter().filter_map(as_text).collect();
            (!parts.is_empty()).then(|| parts.join(","))
        }
        None => as_text(v).filter(|s| !s.is_empty()),
    }
}

/// Applies one call's fields to `span`: every field as metadata (content fields as input/output),
/// `gen_ai.*` onto the LLM call's fields, error fields onto the status.
pub(crate) fn apply(span: &Span, acc: &mut Accumulated, fields: FieldValues) {
    let mut call: Option<LlmCall> = None;
    let mut tokens_changed = false;
    let mut error_changed = false;
    let mut request_model = None;
    let mut response_model = None;
    for (key, value) in fields.0 {
        match key {
            "gen_ai.request.model" => request_model = as_text(&value),
            "gen_ai.response.model" => response_model = as_text(&value),
            "gen_ai.provider.name" | "gen_ai.system" => {
                if let Some(p) = as_text(&value) {
                    span.set_provider(p);
                }
            }
            "gen_ai.usage.input_tokens" => {
                acc.input_tokens = as_u64(&value).or(acc.input_tokens);
                tokens_changed = true;
            }
            "gen_ai.usage.output_tokens" => {
                acc.output_tokens = as_u64(&value).or(acc.output_tokens);
                tokens_changed = true;
            }
            "gen_ai.usage.total_tokens" => {
                if let Some(t) = as_u64(&value) {
                    call = Some(call.unwrap_or_default().total_tokens(t));
                }
            }
            "gen_ai.response.finish_reasons" | "gen_ai.response.finish_reason" => {
                if let Some(r) = finish_reason(&value) {
                    call = Some(call.unwrap_or_default().finish_reason(r));
                }
            }
            "gen_ai.response.id" => {
                if let Some(id) = as_text(&value) {
                    call = Some(call.unwrap_or_default().response_id(id));
                }
            }
            "gen_ai.request.temperature" => {
                if let Some(t) = as_f64(&value) {
                    call = Some(call.unwrap_or_default().temperature(t));
                }
            }
            "gen_ai.request.top_p" => {
                if let Some(p) = as_f64(&value) {
                    call = Some(call.unwrap_or_default().top_p(p));
                }
            }
            "gen_ai.request.max_tokens" => {
                if let Some(n) = as_u64(&value) {
                    let n = u32::try_from(n).unwrap_or(u32::MAX);
                    call = Some(call.unwrap_or_default().max_tokens(n));
                }
            }
            "gen_ai.tool.name" => {
                if let Some(name) = as_text(&value) {
                    span.set_metadata("tool_name", name);
                }
            }
            "error" => {
                acc.error = !matches!(value, Value::Bool(false));
                acc.error_value = match &value {
                    Value::Bool(_) => None,
                    other => as_text(other),
                };
                error_changed = true;
            }
            "otel.status_code"
                if as_text(&value).is_some_and(|c| c.eq_ignore_ascii_case("error")) =>
            {
                acc.error = true;
                error_changed = true;
            }
            "otel.status_description" | "error.message" | "exception.message" => {
                acc.error_description = as_text(&value);
                error_changed = true;
            }
            _ => {}
        }
        if CONTENT_FIELDS.contains(&key) {
            match key {
                "gen_ai.input.messages" | "gen_ai.prompt" | "gen_ai.tool.call.arguments" => {
                    span.set_input(as_document(&value));
                }
                _ => span.set_output(as_document(&value)),
            }
        } else if !CONTROL_FIELDS.contains(&key) {
            span.set_metadata(key, value);
        }
    }
    // The requested model first: the first model set also becomes `requested_model`.
    if let Some(m) = request_model.filter(|m| !m.is_empty()) {
        span.set_model(m);
    }
    if let Some(m) = response_model.filter(|m| !m.is_empty()) {
        call = Some(call.unwrap_or_default().response_model(m));
    }
    if tokens_changed && (acc.input_tokens.is_some() || acc.output_tokens.is_some()) {
        let (i, o) = (
            acc.input_tokens.unwrap_or(0),
            acc.output_tokens.unwrap_or(0),
        );
        call = Some(call.unwrap_or_default().tokens(i, o));
    }
    if let Some(call) = call {
        span.record_llm(call);
    }
    if error_changed && acc.error {
        let message = acc
            .error_description
            .clone()
            .or_else(|| acc.error_value.clone());
        span.set_status(SpanStatus::Error, message);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operations_map_to_kinds() {
        assert_eq!(kind_for_operation("chat"), SpanKind::Llm);
        assert_eq!(kind_for_operation("text_completion"), SpanKind::Llm);
        assert_eq!(kind_for_operation("execute_tool"), SpanKind::Tool);
        assert_eq!(kind_for_operation("invoke_agent"), SpanKind::Agent);
        assert_eq!(kind_for_operation("embeddings"), SpanKind::Retriever);
        assert_eq!(kind_for_operation("anything"), SpanKind::Chain);
    }

    #[test]
    fn finish_reasons_in_their_shapes() {
        assert_eq!(
            finish_reason(&Value::from("[\"stop\"]")).as_deref(),
            Some("stop")
        );
        assert_eq!(
            finish_reason(&serde_json::json!(["stop", "length"])).as_deref(),
            Some("stop,length")
        );
        assert_eq!(
            finish_reason(&Value::from("end_turn")).as_deref(),
            Some("end_turn")
        );
        assert_eq!(finish_reason(&Value::from("")), None);
    }

    #[test]
    fn numbers_from_text_and_floats() {
        assert_eq!(as_u64(&Value::from("42")), Some(42));
        assert_eq!(as_u64(&Value::from(42.0)), Some(42));
        assert_eq!(as_u64(&Value::from(-1)), None);
        assert_eq!(as_f64(&Value::from("0.5")), Some(0.5));
    }

    #[test]
    fn json_text_becomes_a_document() {
        let v = as_document(&Value::from(r#"[{"role":"user","content":"hi"}]"#));
        assert_eq!(v[0]["role"], "user");
        assert_eq!(as_document(&Value::from("[not json")), "[not json");
    }
}
