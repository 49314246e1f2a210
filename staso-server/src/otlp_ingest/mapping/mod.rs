//! OTLP spans → staso spans: the inverse of the SDK's OTLP mapping (`staso-core`
//! `exporters/otlp/mapping.rs` and `genai.rs`, the README's "Mapping" table), so a run exported by
//! the staso SDK over OTLP reads back as it does over the Staso ingest; spans of other
//! instrumentations get their kind from `gen_ai.operation.name` / `openinference.span.kind` and
//! keep their other attributes as metadata under their own names.
//!
//! A span carrying `staso.span.kind` was written by the staso SDK: the attributes its exporter
//! derives from others (`llm.token_count.*`, `llm.cost.total`, `session.id`, …) are dropped, and
//! the renamed ones get their metadata names back (`staso.metadata.k` → `k`, `code.file.path` →
//! `code.filepath`, `gen_ai.usage.cost` → `cost_usd`, `gen_ai.response.time_to_first_chunk` in s →
//! `time_to_first_token` in ms, …).

mod metadata;
mod text;

use std::collections::HashMap;

use serde_json::Value;
use staso_wire::ingest::WireSpan;

use super::decode::{Export, InSpan, RawId};
use crate::error::ApiError;
use crate::keys::Scope;
use crate::store::traces::{CheckedGroup, CheckedSpan};
use text::{hyphenated, isoformat, span_id_text};

/// Rejected spans keep at most this many messages in the partial-success message.
const MAX_MESSAGES: usize = 5;
/// Longest accepted id text, as for the Staso ingest.
const MAX_NAME_LEN: usize = 64 * 1024;

/// The outcome of mapping one request.
#[derive(Debug, Default)]
pub struct Mapped {
    /// Valid spans, grouped by (workspace, trace).
    pub groups: Vec<CheckedGroup>,
    /// Spans stored.
    pub accepted: u64,
    /// Spans rejected (invalid ids or times).
    pub rejected: u64,
    /// Why, for the first few rejected spans.
    pub messages: Vec<String>,
}

/// Maps every span of `export`; a resource's `staso.workspace_slug` outside `scope` is a 403 for
/// the whole request (nothing is stored), as on the Staso ingest.
pub fn map_export(export: Export, scope: &Scope) -> Result<Mapped, ApiError> {
    let mut out = Mapped::default();
    let mut index: HashMap<(String, String), usize> = HashMap::new();
    for (r, batch) in export.resources.into_iter().enumerate() {
        let res = ResourceInfo::new(batch.attributes);
        let workspace = match &res.workspace {
            Some(ws) if !scope.allows(ws) => {
                return Err(ApiError::Forbidden(format!(
                    "resourceSpans[{r}].resource.staso.workspace_slug: this key may not write \
                     workspace {ws:?}"
                )));
            }
            Some(ws) => ws.clone(),
            None => scope.home().to_owned(),
        };
        let runs = run_lengths(&batch.spans);
        // The group of the previous span of this resource: the spans of a trace usually come
        // one after the other, and then need no key built and hashed each.
        let mut last: Option<(String, usize)> = None;
        for (i, span) in batch.spans.into_iter().enumerate() {
            match map_span(span, &res) {
                Ok((trace_id, checked)) => {
                    out.accepted += 1;
                    let slot = match &last {
                        Some((id, slot)) if *id == trace_id => *slot,
                        _ => {
                            let key = (workspace.clone(), trace_id);
                            let slot = match index.get(&key) {
                                Some(&slot) => slot,
                                None => {
                                    out.groups.push(CheckedGroup {
                                        trace_id: key.1.clone(),
                                        environment: res.environment.clone(),
                                        workspace_slug: workspace.clone(),
                                        // Room for the run of spans this one starts.
                                        spans: Vec::with_capacity(runs[i]),
                                    });
                                    let slot = out.groups.len() - 1;
                                    index.insert(key.clone(), slot);
                                    slot
                                }
                            };
                            last = Some((key.1, slot));
                            slot
                        }
                    };
                    out.groups[slot].spans.push(checked);
                }
                Err(why) => {
                    out.rejected += 1;
                    if out.messages.len() < MAX_MESSAGES {
                        out.messages
                            .push(format!("resourceSpans[{r}] span {i}: {why}"));
                    }
                }
            }
        }
    }
    Ok(out)
}

/// For each span, how many spans from it on carry its trace id without a break (itself included).
fn run_lengths(spans: &[InSpan]) -> Vec<usize> {
    let mut runs = vec![1; spans.len()];
    for i in (0..spans.len().saturating_sub(1)).rev() {
        if spans[i].trace_id == spans[i + 1].trace_id {
            runs[i] = runs[i + 1] + 1;
        }
    }
    runs
}

/// What the resource says about every span under it.
struct ResourceInfo {
    service_name: String,
    service_version: String,
    environment: String,
    agent_id: String,
    workspace: Option<String>,
    /// `vcs.*` metadata of root spans (the SDK moves them to the resource).
    vcs: Vec<(&'static str, Value)>,
}

impl ResourceInfo {
    fn new(attrs: Vec<(String, Value)>) -> Self {
        let mut r = ResourceInfo {
            service_name: String::new(),
            service_version: String::new(),
            environment: String::new(),
            agent_id: String::new(),
            workspace: None,
            vcs: Vec::new(),
        };
        let mut vcs: [Option<Value>; 4] = Default::default();
        for (k, v) in attrs {
            match k.as_str() {
                "service.name" => r.service_name = text(&v),
                "service.version" => r.service_version = text(&v),
                "deployment.environment.name" => r.environment = text(&v),
                "deployment.environment" if r.environment.is_empty() => {
                    r.environment = text(&v);
                }
                "staso.agent.id" => r.agent_id = text(&v),
                "staso.workspace_slug" => r.workspace = Some(text(&v)).filter(|s| !s.is_empty()),
                "vcs.ref.head.revision" => vcs[0] = Some(v),
                "vcs.ref.head.name" => vcs[1] = Some(v),
                "vcs.repository.url.full" => vcs[2] = Some(v),
                "staso.vcs.is_dirty" => vcs[3] = Some(v),
                _ => {}
            }
        }
        // The order the SDK writes them in (serialize/attributes.rs).
        let names = [
            "vcs.commit.sha",
            "vcs.branch",
            "vcs.repo_url",
            "vcs.is_dirty",
        ];
        if vcs.iter().any(Option::is_some) {
            for (name, v) in names.into_iter().zip(vcs) {
                let v = v.unwrap_or_else(|| {
                    if name == "vcs.is_dirty" {
                        Value::Bool(false)
                    } else {
                        Value::String(String::new())
                    }
                });
                r.vcs.push((name, v));
            }
        }
        if r.environment.is_empty() {
            r.environment = "default".to_owned();
        }
        r
    }
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

fn u64_of(v: &Value) -> Option<u64> {
    v.as_u64()
        .or_else(|| v.as_f64().filter(|f| *f >= 0.0).map(|f| f as u64))
        .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
}

fn id_bytes<'a>(
    id: &'a RawId,
    field: &str,
    len: usize,
    optional: bool,
) -> Result<&'a [u8], String> {
    let b = match id {
        RawId::NotHex(s) => {
            let shown: String = s.chars().take(40).collect();
            return Err(format!("{field}: not hexadecimal: {shown:?}"));
        }
        RawId::Bytes(b) => b.as_slice(),
    };
    if optional && b.is_empty() {
        return Ok(b);
    }
    if b.len() != len {
        return Err(format!(
            "{field}: must be {len} bytes ({} hex digits), got {}",
            len * 2,
            b.len()
        ));
    }
    if b.iter().all(|&x| x == 0) {
        return Err(format!("{field}: must not be all zeroes"));
    }
    Ok(b)
}

/// An id of the length [`id_bytes`] checked, as an array.
fn fixed<const N: usize>(b: &[u8]) -> Result<[u8; N], String> {
    b.try_into()
        .map_err(|_| format!("id: must be {N} bytes, got {}", b.len()))
}

fn map_span(s: InSpan, res: &ResourceInfo) -> Result<(String, CheckedSpan), String> {
    let trace_id = hyphenated(&fixed(id_bytes(&s.trace_id, "traceId", 16, false)?)?);
    let span_id = span_id_text(&fixed(id_bytes(&s.span_id, "spanId", 8, false)?)?);
    let parent = id_bytes(&s.parent_span_id, "parentSpanId", 8, true)?;
    let parent_span_id = if parent.is_empty() {
        None
    } else {
        Some(span_id_text(&fixed(parent)?))
    };
    if s.start_ns == 0 {
        return Err("startTimeUnixNano: missing".into());
    }
    if s.end_ns < s.start_ns {
        return Err("endTimeUnixNano: before startTimeUnixNano".into());
    }
    if s.name.len() > MAX_NAME_LEN {
        return Err(format!("name: longer than {MAX_NAME_LEN} bytes"));
    }
    let start_us = i64::try_from(s.start_ns / 1000).map_err(|_| "startTimeUnixNano: too large")?;
    let timestamp = isoformat(s.start_ns).ok_or("startTimeUnixNano: out of range")?;
    let mut a: Vec<(String, Value)> = s.attributes;
    let staso = a.iter().any(|(k, _)| k == "staso.span.kind");
    let mut take = |key: &str| -> Option<Value> {
        let i = a.iter().position(|(k, _)| k == key)?;
        Some(a.remove(i).1).filter(|v| !v.is_null())
    };
    let op = take("gen_ai.operation.name").map(|v| text(&v));
    let oi_kind = take("openinference.span.kind").map(|v| text(&v));
    let kind = match take("staso.span.kind").map(|v| text(&v)) {
        Some(k) if crate::ingest::KINDS.contains(&k.as_str()) => k,
        _ => foreign_kind(op.as_deref(), oi_kind.as_deref()).to_owned(),
    };
    let error_type = take("error.type").map(|v| text(&v));
    let status = match take("staso.status").map(|v| text(&v)) {
        Some(st) if crate::ingest::STATUSES.contains(&st.as_str()) => st,
        _ if s.status_code == 2 && error_type.as_deref() == Some("timeout") => "timeout".into(),
        _ if s.status_code == 2 => "error".into(),
        _ => "ok".into(),
    };
    let error_message =
        (status != "ok" && !s.status_message.is_empty()).then_some(s.status_message);
    let model_oi = take("llm.model_name").map(|v| text(&v));
    let model = take("gen_ai.response.model")
        .map(|v| text(&v))
        .or(if staso { None } else { model_oi })
        .unwrap_or_default();
    let requested_model = take("gen_ai.request.model")
        .map(|v| text(&v))
        .unwrap_or_default();
    let provider = take("gen_ai.provider.name")
        .or_else(|| take("gen_ai.system"))
        .or_else(|| take("llm.provider"))
        .map(|v| text(&v))
        .unwrap_or_default();
    let tok_in = take("gen_ai.usage.input_tokens").or_else(|| take("gen_ai.usage.prompt_tokens"));
    let tok_out =
        take("gen_ai.usage.output_tokens").or_else(|| take("gen_ai.usage.completion_tokens"));
    let oi_in = take("llm.token_count.prompt");
    let oi_out = take("llm.token_count.completion");
    let oi_total = take("llm.token_count.total");
    let input_tokens = tok_in.or(oi_in).as_ref().and_then(u64_of);
    let output_tokens = tok_out.or(oi_out).as_ref().and_then(u64_of);
    let total_tokens = oi_total.as_ref().and_then(u64_of).or_else(|| {
        (input_tokens.is_some() || output_tokens.is_some()).then(|| {
            input_tokens
                .unwrap_or(0)
                .saturating_add(output_tokens.unwrap_or(0))
        })
    });
    let usage_available = match take("staso.usage_available") {
        Some(Value::Bool(b)) => Some(b),
        _ if staso => None,
        _ => (input_tokens.is_some() || output_tokens.is_some()).then_some(true),
    };
    let session_id = take("gen_ai.conversation.id")
        .or_else(|| take("session.id"))
        .map(|v| text(&v))
        .unwrap_or_default();
    take("session.id");
    let user_id = take("user.id").map(|v| text(&v)).unwrap_or_default();
    let agent_name = take("gen_ai.agent.name")
        .map(|v| text(&v))
        .unwrap_or_else(|| {
            if staso {
                String::new()
            } else {
                res.service_name.clone()
            }
        });
    let agent_id = take("staso.agent.id").map_or_else(|| res.agent_id.clone(), |v| text(&v));
    let reasoning_effort = take("staso.reasoning_effort")
        .map(|v| text(&v))
        .unwrap_or_default();
    let input = content(take("input.value"), take("input.mime_type"));
    let output = content(take("output.value"), take("output.mime_type"));
    let (input, output) = if staso {
        (input, output)
    } else {
        (
            input.or_else(|| take("gen_ai.input.messages").map(json_text)),
            output.or_else(|| take("gen_ai.output.messages").map(json_text)),
        )
    };
    let metadata = metadata::build(
        a,
        staso,
        &kind,
        parent_span_id.is_none(),
        &res.vcs,
        error_type,
    );
    let span = WireSpan {
        span_id,
        parent_span_id,
        name: s.name,
        kind,
        timestamp,
        duration_ms: duration_ms(s.end_ns - s.start_ns),
        status,
        model,
        provider,
        requested_model,
        usage_available,
        reasoning_effort,
        input_tokens: input_tokens.unwrap_or(0),
        output_tokens: output_tokens.unwrap_or(0),
        total_tokens: total_tokens.unwrap_or(0),
        input: input.unwrap_or_default(),
        output: output.unwrap_or_default(),
        attributes: Value::Object(metadata).to_string(),
        error_message,
        session_id,
        agent_name,
        agent_id,
        agent_version: res.service_version.clone(),
        user_id,
        capture: None,
    };
    Ok((trace_id, CheckedSpan { span, start_us }))
}

/// The staso kind of a span from another instrumentation.
fn foreign_kind(op: Option<&str>, openinference: Option<&str>) -> &'static str {
    match op {
        Some("chat" | "text_completion" | "generate_content") => return "llm",
        Some("execute_tool") => return "tool",
        Some("invoke_agent" | "create_agent") => return "agent",
        Some("retrieval") => return "retriever",
        _ => {}
    }
    match openinference.map(str::to_ascii_uppercase).as_deref() {
        Some("LLM") => "llm",
        Some("TOOL") => "tool",
        Some("AGENT") => "agent",
        Some("RETRIEVER") => "retriever",
        _ => "chain",
    }
}

/// `input.value` / `output.value` as the staso field: JSON text as is, other text as a JSON string.
fn content(value: Option<Value>, mime: Option<Value>) -> Option<String> {
    let v = value?;
    let is_json = mime.is_none_or(|m| text(&m).starts_with("application/json"));
    Some(match v {
        Value::String(s) if is_json && text::is_json(&s) => s,
        Value::String(s) => Value::String(s).to_string(),
        other => other.to_string(),
    })
}

fn json_text(v: Value) -> String {
    match v {
        Value::String(s) if text::is_json(&s) => s,
        other => other.to_string(),
    }
}

/// Milliseconds rounded half-to-even to 2 decimals, as the SDKs compute `duration_ms`.
fn duration_ms(nanos: u64) -> f64 {
    let unit = 10_000u64;
    let (q, r) = (nanos / unit, nanos % unit);
    let rounded = match r.cmp(&(unit / 2)) {
        std::cmp::Ordering::Less => q,
        std::cmp::Ordering::Greater => q + 1,
        std::cmp::Ordering::Equal => q + (q & 1),
    };
    rounded as f64 / 100.0
}

#[cfg(test)]
mod tests;
