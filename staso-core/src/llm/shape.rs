//! The codecs' common types ([`LlmRequest`], [`LlmReply`], [`ToolCall`]), span names, provider
//! inference and how one call is written onto its span's record.

use std::borrow::Cow;
use std::fmt::Write as _;
use std::time::Duration;

use serde_json::{Map, Value};

use super::LlmApi;
use crate::capture::document;
use crate::config::CapturePolicy;
use crate::record::SpanRecord;

/// A request, decoded once: the span input (already filtered by the capture policy), the
/// request metadata and what the agent structure needs.
#[derive(Clone, Debug)]
pub struct LlmRequest {
    pub(super) api: LlmApi,
    pub(super) model: String,
    pub(super) stream: bool,
    /// `{"model", "system"?, "tools"?, "messages"}`, filtered per role.
    pub(super) input: Value,
    /// Request parameters (sent when `request` is on).
    pub(super) params: Vec<(&'static str, Value)>,
    /// Schema parameters (sent when `tool_schema` is on).
    pub(super) schema_params: Vec<(&'static str, Value)>,
    pub(super) reasoning_effort: Option<String>,
    pub(super) first_user_text: Option<String>,
    /// Tool-result ids carried by the last messages (for parenting under the asking call).
    pub(super) tool_result_ids: Vec<String>,
}

impl LlmRequest {
    /// The API.
    pub fn api(&self) -> LlmApi {
        self.api
    }

    /// The requested model.
    pub fn model(&self) -> &str {
        &self.model
    }

    /// Whether the request asks for a stream (`"stream": true`).
    pub fn is_stream(&self) -> bool {
        self.stream
    }

    /// The filtered span input.
    pub fn input(&self) -> &Value {
        &self.input
    }

    /// The first user message's text (the synthetic root's prompt).
    pub fn first_user_text(&self) -> Option<&str> {
        self.first_user_text.as_deref()
    }

    /// Tool-result ids in the request's last messages.
    pub fn tool_result_ids(&self) -> &[String] {
        &self.tool_result_ids
    }

    /// Copies the request parameters a body field names into the metadata.
    pub(super) fn param(&mut self, key: &'static str, body: &Value, field: &str) {
        if let Some(v) = body.get(field).filter(|v| !v.is_null()) {
            self.params.retain(|(k, _)| *k != key);
            self.params.push((key, v.clone()));
        }
    }

    pub(super) fn schema_param(&mut self, key: &'static str, body: &Value, field: &str) {
        if let Some(v) = body.get(field).filter(|v| !v.is_null()) {
            self.schema_params.push((key, v.clone()));
        }
    }
}

/// One tool call a reply asks for.
#[derive(Clone, Debug, PartialEq)]
pub struct ToolCall {
    /// The call id (`call_…`, `toolu_…`).
    pub id: String,
    /// The tool name (empty when the provider sent none).
    pub name: String,
    /// The arguments as JSON (an object when they parse, else the raw text as a string).
    pub arguments: Value,
    /// Where the call sits in the reply (choice message `tool_calls` index, content block index,
    /// or output item index), for rewriting its arguments.
    pub(super) index: usize,
}

/// A reply, decoded once from the response JSON or accumulated from its events.
#[derive(Clone, Debug, Default)]
pub struct LlmReply {
    pub(super) model: Option<String>,
    pub(super) response_id: Option<String>,
    pub(super) stop_reason: Option<String>,
    pub(super) input_tokens: Option<u64>,
    pub(super) output_tokens: Option<u64>,
    pub(super) total_tokens: Option<u64>,
    pub(super) usage_available: bool,
    /// The span output before capture filtering.
    pub(super) output: Value,
    pub(super) tool_calls: Vec<ToolCall>,
    /// Response metadata (service tier, cache and reasoning tokens, `has_thinking`).
    pub(super) meta: Vec<(&'static str, Value)>,
    pub(super) ttft: Option<Duration>,
    pub(super) streamed: bool,
}

impl LlmReply {
    /// The tool calls the reply asks for, in order.
    pub fn tool_calls(&self) -> &[ToolCall] {
        &self.tool_calls
    }

    /// The stop reason (`finish_reason`, `stop_reason` or the Responses `status`).
    pub fn stop_reason(&self) -> Option<&str> {
        self.stop_reason.as_deref()
    }

    /// The total tokens, when the reply carries usage.
    pub fn total_tokens(&self) -> Option<u64> {
        self.total_tokens
    }

    /// The response id.
    pub fn response_id(&self) -> Option<&str> {
        self.response_id.as_deref()
    }

    /// The time to the first content chunk (streams).
    pub fn time_to_first_token(&self) -> Option<Duration> {
        self.ttft
    }

    /// True when the conversation ends here: no tool call is asked for.
    pub fn is_terminal(&self) -> bool {
        self.tool_calls.is_empty()
    }

    /// The span name of a non-stream call: `chat:tool_calls(a, b, c, …+N)`, `chat:reply`,
    /// `chat:<finish_reason>` or `chat` (Anthropic `chat:tool_use(…)`, Responses `response:…`).
    pub fn span_name(&self, api: LlmApi) -> String {
        let base = api.placeholder_name();
        if !self.tool_calls.is_empty() {
            let label = match api {
                LlmApi::AnthropicMessages => "tool_use",
                _ => "tool_calls",
            };
            let mut name = format!("{base}:{label}(");
            for (i, t) in self.tool_calls.iter().take(3).enumerate() {
                if i > 0 {
                    name.push_str(", ");
                }
                name.push_str(if t.name.is_empty() { "?" } else { &t.name });
            }
            if self.tool_calls.len() > 3 {
                let _ = write!(name, ", …+{}", self.tool_calls.len() - 3);
            }
            name.push(')');
            return name;
        }
        let Some(reason) = self.stop_reason.as_deref().filter(|r| !r.is_empty()) else {
            return base.to_owned();
        };
        let terminal = match api {
            LlmApi::OpenAiChat => {
                matches!(
                    reason,
                    "stop" | "length" | "content_filter" | "function_call"
                )
            }
            LlmApi::AnthropicMessages => {
                matches!(reason, "end_turn" | "stop_sequence" | "max_tokens")
            }
            LlmApi::OpenAiResponses => reason == "completed",
        };
        if terminal {
            format!("{base}:reply")
        } else {
            format!("{base}:{reason}")
        }
    }

    pub(super) fn push_meta(&mut self, key: &'static str, value: Value) {
        self.meta.retain(|(k, _)| *k != key);
        self.meta.push((key, value));
    }

    /// Sets the three counts (`total` defaults to input + output) and `usage_available`.
    pub(super) fn set_usage(&mut self, input: u64, output: u64, total: Option<u64>) {
        self.input_tokens = Some(input);
        self.output_tokens = Some(output);
        self.total_tokens = Some(total.unwrap_or(input.saturating_add(output)));
        self.usage_available = true;
    }

    /// The output filtered by the capture policy (PROTOCOL.md §9: arguments kept only if
    /// `output` and `tool_arguments` are both on).
    fn filtered_output(mut out: Value, api: LlmApi, p: &CapturePolicy) -> Value {
        if !p.tool_arguments {
            match api {
                LlmApi::OpenAiChat => {
                    if let Some(calls) = out.get_mut("tool_calls").and_then(Value::as_array_mut) {
                        for c in calls {
                            if let Some(f) = c.get_mut("function").and_then(Value::as_object_mut) {
                                f.remove("arguments");
                            }
                        }
                    }
                }
                LlmApi::OpenAiResponses => {
                    if let Some(calls) = out.get_mut("tool_calls").and_then(Value::as_array_mut) {
                        for c in calls.iter_mut().filter_map(Value::as_object_mut) {
                            c.remove("arguments");
                        }
                    }
                }
                LlmApi::AnthropicMessages => {
                    if let Some(blocks) = out.get_mut("content").and_then(Value::as_array_mut) {
                        for b in blocks.iter_mut().filter_map(Value::as_object_mut) {
                            if b.get("type").and_then(Value::as_str) == Some("tool_use") {
                                b.remove("input");
                            }
                        }
                    }
                }
            }
        }
        out
    }

    /// Writes the reply onto an LLM span's record.
    pub(super) fn apply(self, api: LlmApi, r: &mut SpanRecord, p: &CapturePolicy) {
        if let Some(m) = self.model.as_deref().filter(|m| !m.is_empty()) {
            r.set_model(m.to_owned());
        }
        if self.usage_available {
            r.input_tokens = self.input_tokens.unwrap_or(0);
            r.output_tokens = self.output_tokens.unwrap_or(0);
            r.total_tokens = self
                .total_tokens
                .unwrap_or(r.input_tokens + r.output_tokens);
            r.usage_available = Some(true);
        } else {
            r.usage_available = Some(false);
        }
        if let Some(ttft) = self.ttft {
            let ms = (ttft.as_secs_f64() * 100_000.0).round() / 100.0;
            r.set_metadata(Cow::Borrowed("time_to_first_token"), ms.into());
        }
        if let Some(s) = self.stop_reason {
            r.set_metadata(Cow::Borrowed("stop_reason"), Value::String(s));
        }
        if let Some(id) = self.response_id {
            r.set_metadata(Cow::Borrowed("response_id"), Value::String(id));
        }
        for (k, v) in self.meta {
            r.set_metadata(Cow::Borrowed(k), v);
        }
        if self.streamed {
            r.set_metadata(Cow::Borrowed("is_streaming"), Value::Bool(true));
        }
        if p.output {
            r.output = document(&Self::filtered_output(self.output, api, p));
        }
    }
}

impl LlmRequest {
    /// Writes the request onto a fresh LLM span's record.
    pub(super) fn apply(self, r: &mut SpanRecord, p: &CapturePolicy) {
        if !self.model.is_empty() {
            r.set_model(self.model);
        }
        r.provider = self.api.provider().to_owned();
        r.set_metadata(
            Cow::Borrowed("provider"),
            Value::String(self.api.provider().to_owned()),
        );
        if let Some(e) = self.reasoning_effort {
            r.reasoning_effort = e;
        }
        if p.request {
            for (k, v) in self.params {
                r.set_metadata(Cow::Borrowed(k), v);
            }
        }
        if p.tool_schema {
            for (k, v) in self.schema_params {
                r.set_metadata(Cow::Borrowed(k), v);
            }
        }
        r.input = document(&self.input);
        r.input_prefiltered = true;
    }
}

/// The provider of a model string (as the official SDK infers it for LiteLLM): the text before
/// `/`, else `anthropic` for Claude models, `openai` for gpt/o1/o3/o4, `google` for Gemini, else
/// `litellm`.
///
/// ```
/// use staso_core::llm::infer_provider;
/// assert_eq!(infer_provider("bedrock/claude-3"), "bedrock");
/// assert_eq!(infer_provider("claude-sonnet-4-5"), "anthropic");
/// assert_eq!(infer_provider("o4-mini"), "openai");
/// assert_eq!(infer_provider("gemini-2.0-flash"), "google");
/// assert_eq!(infer_provider("llama3"), "litellm");
/// ```
pub fn infer_provider(model: &str) -> &str {
    if let Some((p, _)) = model.split_once('/')
        && !p.is_empty()
    {
        return p;
    }
    let m = model.to_ascii_lowercase();
    if m.contains("claude") {
        "anthropic"
    } else if m.starts_with("gpt")
        || m.starts_with("o1")
        || m.starts_with("o3")
        || m.starts_with("o4")
    {
        "openai"
    } else if m.contains("gemini") {
        "google"
    } else {
        "litellm"
    }
}

pub(super) fn str_of<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str)
}

pub(super) fn u64_of(v: Option<&Value>, key: &str) -> Option<u64> {
    v?.get(key).and_then(Value::as_u64)
}

/// The text of a message `content`: a string, or the first `text` part.
pub(super) fn content_text(content: Option<&Value>) -> Option<String> {
    match content? {
        Value::String(s) => Some(s.clone()),
        Value::Array(parts) => parts
            .iter()
            .find_map(|p| p.get("text").and_then(Value::as_str).map(str::to_owned)),
        _ => None,
    }
}

/// Arguments text as JSON: the parsed object when it parses, else the text.
pub(super) fn arguments_value(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_owned()))
}

/// Assembles the span input object in the official key order.
pub(super) fn input_object(
    model: &str,
    system: Option<Value>,
    tools: Option<Value>,
    messages: Vec<Value>,
) -> Value {
    let mut m = Map::new();
    m.insert("model".into(), Value::String(model.to_owned()));
    if let Some(s) = system {
        m.insert("system".into(), s);
    }
    if let Some(t) = tools {
        m.insert("tools".into(), t);
    }
    m.insert("messages".into(), Value::Array(messages));
    Value::Object(m)
}
