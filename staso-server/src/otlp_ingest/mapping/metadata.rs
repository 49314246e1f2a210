//! The `attributes` document of a mapped span: the metadata names the staso SDK used (the inverse
//! of its exporter's renames), or the attribute names of other instrumentations.

use serde_json::{Map, Value};

/// Attributes the staso exporter derives from others: not metadata of their own.
const DERIVED: [&str; 6] = [
    "llm.invocation_parameters",
    "llm.cost.total",
    "langfuse.observation.completion_start_time",
    "llm.token_count.completion_details.reasoning",
    "llm.token_count.prompt_details.cache_read",
    "llm.token_count.prompt_details.cache_write",
];

/// The `attributes` document: the staso metadata names back, in the SDK's order (vcs, call site,
/// tags, metadata, exception type).
pub(super) fn build(
    attrs: Vec<(String, Value)>,
    staso: bool,
    kind: &str,
    root: bool,
    vcs: &[(&'static str, Value)],
    error_type: Option<String>,
) -> Map<String, Value> {
    let mut m = Map::new();
    if staso && root {
        for (k, v) in vcs {
            m.insert((*k).to_owned(), v.clone());
        }
    }
    let mut tool_name = None;
    let mut site: [Option<Value>; 3] = Default::default();
    let mut tags = None;
    let mut rest: Vec<(String, Value)> = Vec::new();
    let mut exception = None;
    for (k, v) in attrs {
        if v.is_null() {
            continue;
        }
        match k.as_str() {
            "gen_ai.tool.name" if kind == "tool" => tool_name = Some(v),
            "gen_ai.tool.name" if staso => rest.push(("tool_name".into(), v)),
            "code.file.path" => site[0] = Some(v),
            "code.line.number" => site[1] = Some(v),
            "code.function.name" => site[2] = Some(v),
            "staso.tags" => tags = Some(v),
            "exception.type" => exception = Some(v),
            k if staso && DERIVED.contains(&k) => {}
            _ => {
                if let Some((name, value)) = metadata_name(&k, v, staso) {
                    rest.push((name, value));
                }
            }
        }
    }
    if let Some(v) = tool_name {
        m.insert("tool_name".into(), v);
    }
    for (name, v) in ["code.filepath", "code.lineno", "code.function"]
        .into_iter()
        .zip(site)
    {
        if let Some(v) = v {
            m.insert(name.into(), v);
        }
    }
    if let Some(v) = tags {
        m.insert("tags".into(), v);
    }
    for (k, v) in rest {
        m.insert(k, v);
    }
    match (exception, error_type) {
        (Some(v), _) => {
            m.insert("exception.type".into(), v);
        }
        (None, Some(t)) if !staso && t != "timeout" => {
            m.insert("error.type".into(), Value::String(t));
        }
        _ => {}
    }
    m
}

/// The metadata name and value of one remaining attribute.
fn metadata_name(key: &str, v: Value, staso: bool) -> Option<(String, Value)> {
    let name = match key {
        "gen_ai.request.temperature" => "temperature",
        "gen_ai.request.max_tokens" => "max_tokens",
        "gen_ai.request.top_p" => "top_p",
        "gen_ai.request.stream" => "is_streaming",
        "gen_ai.response.id" => "response_id",
        "gen_ai.usage.reasoning.output_tokens" => "reasoning_tokens",
        "gen_ai.usage.cache_read.input_tokens" => "cache_read_input_tokens",
        "gen_ai.usage.cache_creation.input_tokens" => "cache_creation_input_tokens",
        "gen_ai.usage.cost" => "cost_usd",
        "gen_ai.response.finish_reasons" => {
            // The exporter sends a one-reason stop as a one-element list.
            let v = match v {
                Value::Array(mut items) if items.len() == 1 => items.remove(0),
                other => other,
            };
            return Some(("stop_reason".into(), v));
        }
        "gen_ai.response.time_to_first_chunk" => {
            let secs = v.as_f64()?;
            // The SDK writes milliseconds as a float; rounded to the ns the exporter kept.
            let v = Value::from((secs * 1e6).round() / 1e3);
            return Some(("time_to_first_token".into(), v));
        }
        k if staso => {
            // `staso.metadata.k` → `k`; other `gen_ai.*` / `staso.*` keys kept their names.
            return Some((
                k.strip_prefix("staso.metadata.").unwrap_or(k).to_owned(),
                parse_embedded(v),
            ));
        }
        k => return Some((k.to_owned(), v)),
    };
    Some((name.to_owned(), v))
}

/// The exporter sends objects and mixed arrays as their JSON text: read them back.
fn parse_embedded(v: Value) -> Value {
    match v {
        Value::String(s) if s.starts_with('{') || s.starts_with('[') => {
            serde_json::from_str(&s).unwrap_or(Value::String(s))
        }
        other => other,
    }
}
