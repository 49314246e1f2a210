//! Anthropic Messages: request → input and metadata, response or event stream → reply.

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::{Map, Value};

use super::openai_chat::push_bounded;
use super::shape::{
    LlmReply, LlmRequest, ToolCall, arguments_value, content_text, input_object, u64_of,
};
use crate::config::CapturePolicy;

/// Filters one message's content blocks: text and images need `request` (user) or `output`
/// (assistant); tool_result blocks need `output`; tool_use blocks need `output` and lose their
/// input unless `tool_arguments` is on. `None` when nothing is left.
fn filter_message(mut m: Value, p: &CapturePolicy) -> Option<Value> {
    let role = m.get("role").and_then(Value::as_str).unwrap_or("user");
    let own = if role == "assistant" {
        p.output
    } else {
        p.request
    };
    let blocks = match m.get_mut("content") {
        Some(Value::Array(blocks)) => std::mem::take(blocks),
        _ => return own.then_some(m),
    };
    let mut kept = Vec::with_capacity(blocks.len());
    for mut b in blocks {
        match b.get("type").and_then(Value::as_str) {
            Some("tool_result") => {
                if p.output {
                    kept.push(b);
                }
            }
            Some("tool_use") => {
                if p.output {
                    if !p.tool_arguments
                        && let Some(o) = b.as_object_mut()
                    {
                        o.remove("input");
                    }
                    kept.push(b);
                }
            }
            _ => {
                if own {
                    kept.push(b);
                }
            }
        }
    }
    if kept.is_empty() {
        return None;
    }
    if let Some(o) = m.as_object_mut() {
        o.insert("content".into(), Value::Array(kept));
    }
    Some(m)
}

pub(super) fn parse_request(body: &mut Value, p: &CapturePolicy, req: &mut LlmRequest) {
    if let Some(last) = body
        .get("messages")
        .and_then(Value::as_array)
        .and_then(|m| m.last())
        && last.get("role").and_then(Value::as_str) == Some("user")
    {
        for b in last
            .get("content")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if b.get("type").and_then(Value::as_str) == Some("tool_result")
                && let Some(id) = b.get("tool_use_id").and_then(Value::as_str)
            {
                req.tool_result_ids.push(id.to_owned());
            }
        }
    }
    let messages = match body.get_mut("messages").map(Value::take) {
        Some(Value::Array(m)) => m,
        _ => Vec::new(),
    };
    let mut kept = Vec::with_capacity(messages.len());
    for m in messages {
        let role = m.get("role").and_then(Value::as_str).unwrap_or("user");
        if role == "user" && req.first_user_text.is_none() {
            let text = content_text(m.get("content"));
            if text.is_some() {
                req.first_user_text = text;
            }
        }
        if let Some(m) = filter_message(m, p) {
            kept.push(m);
        }
    }
    let system = body
        .get_mut("system")
        .filter(|_| p.system_prompt)
        .map(Value::take);
    let tools = body
        .get_mut("tools")
        .filter(|_| p.tool_schema)
        .map(Value::take);
    req.input = input_object(&req.model, system, tools, kept);
    req.param("temperature", body, "temperature");
    req.param("max_tokens", body, "max_tokens");
    req.param("top_p", body, "top_p");
    req.param("top_k", body, "top_k");
    req.param("stop_sequences", body, "stop_sequences");
    req.param("service_tier", body, "service_tier");
    req.param("thinking", body, "thinking");
    req.schema_param("tool_choice", body, "tool_choice");
    req.reasoning_effort = body
        .pointer("/output_config/effort")
        .and_then(Value::as_str)
        .map(str::to_owned);
}

pub(super) fn parse_reply(obj: &mut Map<String, Value>, reply: &mut LlmReply) {
    reply.stop_reason = obj
        .get("stop_reason")
        .and_then(Value::as_str)
        .map(str::to_owned);
    let blocks = match obj.get_mut("content").map(Value::take) {
        Some(Value::Array(b)) => b,
        _ => Vec::new(),
    };
    let mut thinking = false;
    for (index, b) in blocks.iter().enumerate() {
        match b.get("type").and_then(Value::as_str) {
            Some("tool_use") => reply.tool_calls.push(ToolCall {
                id: b
                    .get("id")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned(),
                name: b
                    .get("name")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned(),
                arguments: b.get("input").cloned().unwrap_or(Value::Object(Map::new())),
                index,
            }),
            Some("thinking" | "redacted_thinking") => thinking = true,
            _ => {}
        }
    }
    let mut out = Map::new();
    out.insert("content".into(), Value::Array(blocks));
    reply.output = Value::Object(out);
    if thinking {
        reply.push_meta("has_thinking", Value::Bool(true));
    }
    if let Some(usage) = obj.get("usage").filter(|u| u.is_object()) {
        let input = u64_of(Some(usage), "input_tokens").unwrap_or(0);
        let output = u64_of(Some(usage), "output_tokens").unwrap_or(0);
        reply.set_usage(input, output, None);
        if let Some(n) = u64_of(Some(usage), "cache_read_input_tokens") {
            reply.push_meta("cache_read_input_tokens", n.into());
        }
        if let Some(n) = u64_of(Some(usage), "cache_creation_input_tokens") {
            reply.push_meta("cache_creation_input_tokens", n.into());
        }
        let creation = usage.get("cache_creation");
        if let Some(n) = u64_of(creation, "ephemeral_5m_input_tokens") {
            reply.push_meta("cache_write_5m_input_tokens", n.into());
        }
        if let Some(n) = u64_of(creation, "ephemeral_1h_input_tokens") {
            reply.push_meta("cache_write_1h_input_tokens", n.into());
        }
        if let Some(t) = usage.get("service_tier").filter(|t| !t.is_null()) {
            reply.push_meta("service_tier", t.clone());
        }
    }
}

/// Rewrites content block `index`'s tool input in a response body.
pub(super) fn rewrite_arguments(body: &mut Value, index: usize, args: &Value) {
    if let Some(b) = body
        .pointer_mut(&format!("/content/{index}"))
        .and_then(Value::as_object_mut)
    {
        b.insert("input".into(), args.clone());
    }
}

#[derive(Deserialize)]
struct Event<'a> {
    #[serde(borrow, rename = "type")]
    kind: Cow<'a, str>,
    #[serde(default)]
    message: Option<Value>,
    #[serde(default)]
    index: usize,
    #[serde(default)]
    content_block: Option<Value>,
    #[serde(borrow, default)]
    delta: Option<Delta<'a>>,
    #[serde(default)]
    usage: Option<Value>,
}

#[derive(Deserialize)]
struct Delta<'a> {
    #[serde(borrow, default)]
    text: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    partial_json: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    thinking: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    stop_reason: Option<Cow<'a, str>>,
}

/// Bound on content blocks kept from one stream.
const MAX_BLOCKS: usize = 256;

/// Accumulates a Messages event stream into the equivalent message, tool_use blocks included
/// (the official SDK's `create(stream=True)` path loses them).
#[derive(Default)]
pub(super) struct MessagesStream {
    message: Map<String, Value>,
    blocks: Vec<Value>,
    partial_json: Vec<String>,
    stop_reason: Option<String>,
    usage_delta: Option<Value>,
    /// `message_stop` arrived.
    pub(super) done: bool,
}

impl MessagesStream {
    /// Feeds one event's data; true when it carried content.
    pub(super) fn feed(&mut self, data: &str) -> bool {
        let Ok(ev) = serde_json::from_str::<Event<'_>>(data) else {
            return false;
        };
        match ev.kind.as_ref() {
            "message_start" => {
                if let Some(Value::Object(m)) = ev.message {
                    self.message = m;
                }
                false
            }
            "content_block_start" => {
                if ev.index < MAX_BLOCKS
                    && let Some(b) = ev.content_block
                {
                    while self.blocks.len() <= ev.index {
                        self.blocks.push(Value::Null);
                        self.partial_json.push(String::new());
                    }
                    self.blocks[ev.index] = b;
                }
                false
            }
            "content_block_delta" => {
                let Some(d) = ev.delta else { return false };
                let Some(block) = self.blocks.get_mut(ev.index).and_then(Value::as_object_mut)
                else {
                    return true;
                };
                if let Some(t) = d.text {
                    append(block, "text", &t);
                }
                if let Some(t) = d.thinking {
                    append(block, "thinking", &t);
                }
                if let (Some(j), Some(buf)) = (d.partial_json, self.partial_json.get_mut(ev.index))
                {
                    push_bounded(buf, &j);
                }
                true
            }
            "content_block_stop" => {
                if let (Some(buf), Some(block)) = (
                    self.partial_json.get_mut(ev.index),
                    self.blocks.get_mut(ev.index).and_then(Value::as_object_mut),
                ) && !buf.is_empty()
                {
                    block.insert("input".into(), arguments_value(buf));
                    buf.clear();
                }
                false
            }
            "message_delta" => {
                if let Some(r) = ev.delta.and_then(|d| d.stop_reason) {
                    self.stop_reason = Some(r.into_owned());
                }
                if ev.usage.is_some() {
                    self.usage_delta = ev.usage;
                }
                false
            }
            "message_stop" => {
                self.done = true;
                false
            }
            _ => false,
        }
    }

    /// The equivalent non-stream message.
    pub(super) fn finish(mut self) -> Value {
        let blocks: Vec<Value> = self.blocks.into_iter().filter(|b| !b.is_null()).collect();
        self.message.insert("content".into(), Value::Array(blocks));
        if let Some(r) = self.stop_reason {
            self.message.insert("stop_reason".into(), Value::String(r));
        }
        if let Some(Value::Object(delta)) = self.usage_delta {
            let usage = self
                .message
                .entry("usage")
                .or_insert_with(|| Value::Object(Map::new()));
            if let Some(u) = usage.as_object_mut() {
                for (k, v) in delta {
                    if !v.is_null() {
                        u.insert(k, v);
                    }
                }
            }
        }
        Value::Object(self.message)
    }
}

fn append(block: &mut Map<String, Value>, key: &str, text: &str) {
    match block.get_mut(key) {
        Some(Value::String(s)) => push_bounded(s, text),
        _ => {
            block.insert(key.to_owned(), Value::String(text.to_owned()));
        }
    }
}
