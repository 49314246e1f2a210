//! OpenAI Responses: request → input and metadata, response or event stream → reply.

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::openai_chat::role_kept;
use super::shape::{
    LlmReply, LlmRequest, ToolCall, arguments_value, content_text, input_object, u64_of,
};
use crate::config::CapturePolicy;

pub(super) fn parse_request(body: &mut Value, p: &CapturePolicy, req: &mut LlmRequest) {
    let mut kept = Vec::new();
    if let Some(i) = body.get("instructions").filter(|i| !i.is_null())
        && p.system_prompt
    {
        kept.push(json!({"role": "system", "content": i}));
    }
    match body.get("input") {
        Some(Value::String(text)) => {
            req.first_user_text = Some(text.clone());
            if p.request {
                kept.push(json!({"role": "user", "content": text}));
            }
        }
        Some(Value::Array(items)) => {
            for item in items {
                let role = item.get("role").and_then(Value::as_str);
                let kind = item.get("type").and_then(Value::as_str);
                if role == Some("user") && req.first_user_text.is_none() {
                    req.first_user_text = content_text(item.get("content"));
                }
                // Items without a role are tool traffic: a call (its arguments gated by
                // tool_arguments) or a result, both output (the official SDK gates them by
                // `request` alone and leaks them).
                let keep = match (role, kind) {
                    (Some(r), _) => role_kept(r, p),
                    (None, Some("function_call" | "function_call_output")) => p.output,
                    (None, _) => p.request,
                };
                if !keep {
                    continue;
                }
                let mut item = item.clone();
                if kind == Some("function_call")
                    && !p.tool_arguments
                    && let Some(o) = item.as_object_mut()
                {
                    o.remove("arguments");
                }
                kept.push(item);
            }
            for item in items.iter().rev() {
                if item.get("type").and_then(Value::as_str) != Some("function_call_output") {
                    break;
                }
                if let Some(id) = item.get("call_id").and_then(Value::as_str) {
                    req.tool_result_ids.push(id.to_owned());
                }
            }
        }
        _ => {}
    }
    let tools = body
        .get_mut("tools")
        .filter(|_| p.tool_schema)
        .map(Value::take);
    req.input = input_object(&req.model, None, tools, kept);
    req.param("temperature", body, "temperature");
    req.param("max_tokens", body, "max_output_tokens");
    req.param("top_p", body, "top_p");
    req.param("service_tier", body, "service_tier");
    req.schema_param("tool_choice", body, "tool_choice");
    req.schema_param("response_format", body, "text");
    req.reasoning_effort = body
        .pointer("/reasoning/effort")
        .and_then(Value::as_str)
        .map(str::to_owned);
}

pub(super) fn parse_reply(obj: &mut Map<String, Value>, reply: &mut LlmReply) {
    reply.stop_reason = obj.get("status").and_then(Value::as_str).map(str::to_owned);
    let mut text = String::new();
    let mut calls = Vec::new();
    let mut thinking = false;
    for (index, item) in obj
        .get("output")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        match item.get("type").and_then(Value::as_str) {
            Some("message") => {
                for part in item
                    .get("content")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    if let Some(t) = part.get("text").and_then(Value::as_str) {
                        text.push_str(t);
                    }
                }
            }
            Some("function_call") => {
                reply.tool_calls.push(ToolCall {
                    id: item
                        .get("call_id")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_owned(),
                    name: item
                        .get("name")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_owned(),
                    arguments: arguments_value(
                        item.get("arguments")
                            .and_then(Value::as_str)
                            .unwrap_or_default(),
                    ),
                    index,
                });
                calls.push(item.clone());
            }
            Some("reasoning") => thinking = true,
            _ => {}
        }
    }
    let mut out = Map::new();
    out.insert("role".into(), Value::String("assistant".into()));
    out.insert("content".into(), Value::String(text));
    if !calls.is_empty() {
        out.insert("tool_calls".into(), Value::Array(calls));
    }
    reply.output = Value::Object(out);
    if let Some(t) = obj.get("service_tier").filter(|t| !t.is_null()) {
        reply.push_meta("service_tier", t.clone());
    }
    if thinking {
        reply.push_meta("has_thinking", Value::Bool(true));
    }
    if let Some(usage) = obj.get("usage").filter(|u| u.is_object()) {
        let input = u64_of(Some(usage), "input_tokens").unwrap_or(0);
        let output = u64_of(Some(usage), "output_tokens").unwrap_or(0);
        reply.set_usage(input, output, u64_of(Some(usage), "total_tokens"));
        let details = usage.get("input_tokens_details");
        reply.push_meta(
            "cache_read_input_tokens",
            u64_of(details, "cached_tokens").unwrap_or(0).into(),
        );
        if let Some(n) = u64_of(details, "cache_write_tokens") {
            reply.push_meta("cache_write_input_tokens", n.into());
        }
        if let Some(r) =
            u64_of(usage.get("output_tokens_details"), "reasoning_tokens").filter(|r| *r > 0)
        {
            reply.push_meta("reasoning_tokens", r.into());
        }
    }
}

/// Rewrites output item `index`'s arguments in a response body.
pub(super) fn rewrite_arguments(body: &mut Value, index: usize, args: &Value) {
    if let Some(item) = body
        .pointer_mut(&format!("/output/{index}"))
        .and_then(Value::as_object_mut)
    {
        item.insert("arguments".into(), Value::String(args.to_string()));
    }
}

#[derive(Deserialize)]
struct Event<'a> {
    #[serde(borrow, rename = "type", default)]
    kind: Cow<'a, str>,
    #[serde(default)]
    response: Option<Value>,
}

/// Keeps the last `response` snapshot of a Responses event stream (`response.completed` carries
/// the whole response).
#[derive(Default)]
pub(super) struct ResponsesStream {
    response: Option<Value>,
    /// A terminal `response.*` event arrived.
    pub(super) done: bool,
}

impl ResponsesStream {
    /// Feeds one event's data; true when it carried content.
    pub(super) fn feed(&mut self, data: &str) -> bool {
        let Ok(ev) = serde_json::from_str::<Event<'_>>(data) else {
            return false;
        };
        if let Some(r) = ev.response.filter(Value::is_object) {
            self.response = Some(r);
        }
        if matches!(
            ev.kind.as_ref(),
            "response.completed" | "response.incomplete" | "response.failed"
        ) {
            self.done = true;
        }
        matches!(
            ev.kind.as_ref(),
            "response.output_text.delta"
                | "response.function_call_arguments.delta"
                | "response.refusal.delta"
        )
    }

    /// The last response snapshot.
    pub(super) fn finish(self) -> Value {
        self.response.unwrap_or(Value::Null)
    }
}
