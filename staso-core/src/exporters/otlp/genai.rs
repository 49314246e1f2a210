//! The LLM call's metadata keys (written by `LlmCall`, or by hand under the same keys) under the
//! names OpenTelemetry backends read: the GenAI semantic conventions (schema 1.42), OpenInference
//! (`llm.token_count.*`, `llm.cost.*`, `llm.invocation_parameters`) and Langfuse's reader
//! (`langfuse.observation.completion_start_time`, `gen_ai.usage.cost`).

use std::time::{Duration, SystemTime};

use opentelemetry_proto::tonic::common::v1::any_value::Value as Av;
use opentelemetry_proto::tonic::common::v1::{AnyValue, ArrayValue};
use serde_json::{Map, Value};

use super::attrs::Attrs;
use crate::time::TimestampText;

/// Maps one metadata key; `false` when the key is not one of the LLM call's (it is then sent
/// under its generic name).
pub(super) fn map_key(a: &mut Attrs, key: &str, v: &Value, start: SystemTime) -> bool {
    match key {
        "temperature" => a.json("gen_ai.request.temperature".into(), v),
        "max_tokens" => a.json("gen_ai.request.max_tokens".into(), v),
        "top_p" => a.json("gen_ai.request.top_p".into(), v),
        "is_streaming" => a.json("gen_ai.request.stream".into(), v),
        "response_id" => a.json("gen_ai.response.id".into(), v),
        "stop_reason" => {
            let reasons = match v {
                Value::Array(items) => items.iter().filter_map(text).collect(),
                other => text(other).into_iter().collect::<Vec<_>>(),
            };
            if !reasons.is_empty() {
                a.put(
                    "gen_ai.response.finish_reasons",
                    Av::ArrayValue(ArrayValue {
                        values: reasons
                            .into_iter()
                            .map(|r| AnyValue {
                                value: Some(Av::StringValue(r)),
                            })
                            .collect(),
                    }),
                );
            }
        }
        "reasoning_tokens" => {
            a.json("gen_ai.usage.reasoning.output_tokens".into(), v);
            a.json("llm.token_count.completion_details.reasoning".into(), v);
        }
        "cache_read_input_tokens" => {
            a.json("gen_ai.usage.cache_read.input_tokens".into(), v);
            a.json("llm.token_count.prompt_details.cache_read".into(), v);
        }
        "cache_creation_input_tokens" => {
            a.json("gen_ai.usage.cache_creation.input_tokens".into(), v);
            a.json("llm.token_count.prompt_details.cache_write".into(), v);
        }
        "cost_usd" => {
            a.json("gen_ai.usage.cost".into(), v);
            a.json("llm.cost.total".into(), v);
        }
        "time_to_first_token" => {
            let Some(ms) = v.as_f64().filter(|ms| ms.is_finite() && *ms >= 0.0) else {
                return false;
            };
            a.put(
                "gen_ai.response.time_to_first_chunk",
                Av::DoubleValue(ms / 1000.0),
            );
            let first = start + Duration::from_secs_f64(ms / 1000.0);
            a.put(
                "langfuse.observation.completion_start_time",
                Av::StringValue(TimestampText::new(first).as_str().to_owned()),
            );
        }
        _ => return false,
    }
    true
}

/// `llm.invocation_parameters`: the request parameters as one JSON object (OpenInference), when
/// any is present.
pub(super) fn invocation_parameters(a: &mut Attrs, metadata: &Map<String, Value>) {
    let params: Map<String, Value> = ["temperature", "max_tokens", "top_p", "is_streaming"]
        .into_iter()
        .filter_map(|k| {
            let v = metadata.get(k)?;
            let name = if k == "is_streaming" { "stream" } else { k };
            Some((name.to_owned(), v.clone()))
        })
        .collect();
    if !params.is_empty() {
        a.put(
            "llm.invocation_parameters",
            Av::StringValue(Value::Object(params).to_string()),
        );
    }
}

fn text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Null | Value::String(_) => None,
        other => Some(other.to_string()),
    }
}
