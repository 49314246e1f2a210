//! OpenAI Chat Completions: request → input and metadata, response or chunk stream → reply.

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::shape::{
    LlmReply, LlmRequest, ToolCall, arguments_value, content_text, input_object, u64_of,
};
use crate::config::CapturePolicy;

/// Whether a message of `role` is kept (PROTOCOL.md §9: user → request; system/developer →
/// system_prompt; assistant/tool → output).
pub(super) fn role_kept(role: &str, p: &CapturePolicy) -> bool {
    match role {
        "system" | "developer" => p.system_prompt,
        "assistant" | "tool" | "function" => p.output,
        _ => p.request,
    }
}

pub(super) fn parse_request(body: &mut Value, p: &CapturePolicy, req: &mut LlmRequest) {
    // Tool results at the end of the conversation answer the previous reply's tool calls.
    for m in body
        .get("messages")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .rev()
    {
        if m.get("role").and_then(Value::as_str) != Some("tool") {
            break;
        }
        if let Some(id) = m.get("tool_call_id").and_then(Value::as_str) {
            req.tool_result_ids.push(id.to_owned());
        }
    }
    let messages = match body.get_mut("messages").map(Value::take) {
        Some(Value::Array(m)) => m,
        _ => Vec::new(),
    };
    let mut kept = Vec::with_capacity(messages.len());
    for mut m in messages {
        let role = m.get("role").and_then(Value::as_str).unwrap_or("user");
        if role == "user" && req.first_user_text.is_none() {
            req.first_user_text = content_text(m.get("content"));
        }
        if !role_kept(role, p) {
            continue;
        }
        if !p.tool_arguments
            && let Some(calls) = m.get_mut("tool_calls").and_then(Value::as_array_mut)
        {
            for c in calls {
                if let Some(f) = c.get_mut("function").and_then(Value::as_object_mut) {
                    f.remove("arguments");
                }
            }
        }
        kept.push(m);
    }
    let tools = body
        .get_mut("tools")
        .filter(|_| p.tool_schema)
        .map(Value::take);
    req.input = input_object(&req.model, None, tools, kept);
    req.param("temperature", body, "temperature");
    req.param("max_tokens", body, "max_tokens");
    req.param("max_tokens", body, "max_completion_tokens");
    req.param("top_p", body, "top_p");
    req.param("frequency_penalty", body, "frequency_penalty");
    req.param("presence_penalty", body, "presence_penalty");
    req.param("seed", body, "seed");
    req.param("stop_sequences", body, "stop");
    req.param("service_tier", body, "service_tier");
    req.schema_param("tool_choice", body, "tool_choice");
    req.schema_param("response_format", body, "response_format");
    req.reasoning_effort = body
        .get("reasoning_effort")
        .and_then(Value::as_str)
        .map(str::to_owned);
}

pub(super) fn parse_reply(obj: &mut Map<String, Value>, reply: &mut LlmReply) {
    let mut choice = obj
        .get_mut("choices")
        .and_then(Value::as_array_mut)
        .and_then(|c| c.first_mut())
        .map(Value::take);
    let mut message = choice
        .as_mut()
        .and_then(|c| c.get_mut("message"))
        .map(Value::take)
        .unwrap_or(Value::Null);
    reply.stop_reason = choice
        .as_ref()
        .and_then(|c| c.get("finish_reason"))
        .and_then(Value::as_str)
        .map(str::to_owned);
    let mut out = Map::new();
    let role = message
        .get("role")
        .and_then(Value::as_str)
        .unwrap_or("assistant")
        .to_owned();
    out.insert("role".into(), Value::String(role));
    let content = match message.get_mut("content").map(Value::take) {
        Some(Value::String(s)) => s,
        other => content_text(other.as_ref()).unwrap_or_default(),
    };
    out.insert("content".into(), Value::String(content));
    if let Some(Value::Array(calls)) = message.get_mut("tool_calls").map(Value::take)
        && !calls.is_empty()
    {
        for (index, c) in calls.iter().enumerate() {
            let f = c.get("function");
            reply.tool_calls.push(ToolCall {
                id: c
                    .get("id")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned(),
                name: f
                    .and_then(|f| f.get("name"))
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned(),
                arguments: arguments_value(
                    f.and_then(|f| f.get("arguments"))
                        .and_then(Value::as_str)
                        .unwrap_or_default(),
                ),
                index,
            });
        }
        out.insert("tool_calls".into(), Value::Array(calls));
    }
    reply.output = Value::Object(out);
    if let Some(t) = obj.get("service_tier").filter(|t| !t.is_null()) {
        reply.push_meta("service_tier", t.clone());
    }
    if let Some(usage) = obj.get("usage").filter(|u| u.is_object()) {
        let input = u64_of(Some(usage), "prompt_tokens").unwrap_or(0);
        let output = u64_of(Some(usage), "completion_tokens").unwrap_or(0);
        reply.set_usage(input, output, u64_of(Some(usage), "total_tokens"));
        let cached = u64_of(usage.get("prompt_tokens_details"), "cached_tokens").unwrap_or(0);
        reply.push_meta("cache_read_input_tokens", cached.into());
        if let Some(r) =
            u64_of(usage.get("completion_tokens_details"), "reasoning_tokens").filter(|r| *r > 0)
        {
            reply.push_meta("reasoning_tokens", r.into());
        }
    }
}

/// Rewrites tool call `index`'s arguments in a response body.
pub(super) fn rewrite_arguments(body: &mut Value, index: usize, args: &Value) {
    if let Some(f) = body
        .pointer_mut(&format!("/choices/0/message/tool_calls/{index}/function"))
        .and_then(Value::as_object_mut)
    {
        f.insert("arguments".into(), Value::String(args.to_string()));
    }
}

#[derive(Deserialize)]
struct Chunk<'a> {
    #[serde(borrow, default)]
    id: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    model: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    service_tier: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    choices: Vec<ChunkChoice<'a>>,
    #[serde(default)]
    usage: Option<Value>,
}

#[derive(Deserialize)]
struct ChunkChoice<'a> {
    #[serde(borrow, default)]
    delta: Option<Delta<'a>>,
    #[serde(borrow, default)]
    finish_reason: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct Delta<'a> {
    #[serde(borrow, default)]
    role: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    content: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    tool_calls: Vec<ToolDelta<'a>>,
}

#[derive(Deserialize)]
struct ToolDelta<'a> {
    #[serde(default)]
    index: usize,
    #[serde(borrow, default)]
    id: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    function: Option<FnDelta<'a>>,
}

#[derive(Deserialize)]
struct FnDelta<'a> {
    #[serde(borrow, default)]
    name: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    arguments: Option<Cow<'a, str>>,
}

/// Accumulates `chat.completion.chunk` events into the equivalent response.
#[derive(Default)]
pub(super) struct ChatStream {
    id: String,
    model: String,
    service_tier: Option<String>,
    role: Option<String>,
    content: String,
    tools: Vec<(String, String, String)>,
    finish: Option<String>,
    usage: Option<Value>,
    /// `[DONE]` arrived.
    pub(super) done: bool,
}

/// A stream's tool calls are bounded (a runaway stream cannot grow the accumulator without
/// limit beyond the text it carries).
const MAX_STREAM_TOOLS: usize = 128;
/// Text and arguments kept from one stream (more is passed to the caller, not recorded).
pub(super) const MAX_STREAM_TEXT: usize = 8 << 20;

/// Appends `text` unless `buf` already holds [`MAX_STREAM_TEXT`] bytes.
pub(super) fn push_bounded(buf: &mut String, text: &str) {
    if buf.len() + text.len() <= MAX_STREAM_TEXT {
        buf.push_str(text);
    }
}

impl ChatStream {
    /// Feeds one event's data; true when it carried content (for time to first token).
    pub(super) fn feed(&mut self, data: &str) -> bool {
        if data == "[DONE]" {
            self.done = true;
            return false;
        }
        let Ok(chunk) = serde_json::from_str::<Chunk<'_>>(data) else {
            return false;
        };
        if self.id.is_empty()
            && let Some(id) = chunk.id
        {
            self.id = id.into_owned();
        }
        if self.model.is_empty()
            && let Some(m) = chunk.model
        {
            self.model = m.into_owned();
        }
        if let Some(t) = chunk.service_tier {
            self.service_tier = Some(t.into_owned());
        }
        if chunk.usage.as_ref().is_some_and(Value::is_object) {
            self.usage = chunk.usage;
        }
        let mut content = false;
        for c in chunk.choices {
            if let Some(f) = c.finish_reason {
                self.finish = Some(f.into_owned());
            }
            let Some(d) = c.delta else { continue };
            if let Some(r) = d.role {
                self.role = Some(r.into_owned());
            }
            if let Some(t) = d.content.filter(|t| !t.is_empty()) {
                push_bounded(&mut self.content, &t);
                content = true;
            }
            for t in d.tool_calls {
                content = true;
                if t.index >= MAX_STREAM_TOOLS {
                    continue;
                }
                while self.tools.len() <= t.index {
                    self.tools.push(Default::default());
                }
                let slot = &mut self.tools[t.index];
                if let Some(id) = t.id {
                    slot.0 = id.into_owned();
                }
                if let Some(f) = t.function {
                    if let Some(n) = f.name {
                        push_bounded(&mut slot.1, &n);
                    }
                    if let Some(a) = f.arguments {
                        push_bounded(&mut slot.2, &a);
                    }
                }
            }
        }
        content
    }

    /// The equivalent non-stream response.
    pub(super) fn finish(self) -> Value {
        let mut message = Map::new();
        message.insert(
            "role".into(),
            Value::String(self.role.unwrap_or_else(|| "assistant".into())),
        );
        message.insert("content".into(), Value::String(self.content));
        if !self.tools.is_empty() {
            let calls: Vec<Value> = self
                .tools
                .into_iter()
                .map(|(id, name, args)| {
                    json!({"id": id, "type": "function", "function": {"name": name, "arguments": args}})
                })
                .collect();
            message.insert("tool_calls".into(), Value::Array(calls));
        }
        let mut out = Map::new();
        out.insert("id".into(), Value::String(self.id));
        out.insert("model".into(), Value::String(self.model));
        if let Some(t) = self.service_tier {
            out.insert("service_tier".into(), Value::String(t));
        }
        out.insert(
            "choices".into(),
            json!([{"index": 0, "message": message, "finish_reason": self.finish}]),
        );
        if let Some(u) = self.usage {
            out.insert("usage".into(), u);
        }
        Value::Object(out)
    }
}
