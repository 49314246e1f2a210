//! Provider integrations' shared machinery (PROTOCOL.md §9, "LLM span shape (integrations)" and
//! "Synthetic agent-run root"), written once for every adapter of the `staso` facade:
//!
//! - codecs, pure functions without I/O: `openai_chat.rs` (Chat Completions), `openai_responses.rs`
//!   (Responses), `anthropic.rs` (Messages) turn a request JSON into an [`LlmRequest`] (the span
//!   input filtered per role by the capture categories, the request metadata) and a response JSON
//!   or its server-sent events into an [`LlmReply`] (output, usage, stop reason, tool calls, ids,
//!   cache and reasoning tokens); `sse.rs` splits an event stream; `shape.rs` holds the types, the
//!   span names and how a call is written onto a span;
//! - `call.rs`: one instrumented call ([`LlmCallScope`]) and its stream recorder
//!   ([`LlmStreamRecorder`]); `roots.rs`: the synthetic agent-run roots and the tool ids waiting
//!   for their results (bounded); `guard.rs`: the call-site guard over a reply's tool calls.
//!
//! ```
//! use staso_core::llm::{LlmApi, LlmReply};
//! let body = br#"{"id":"msg_1","model":"claude-sonnet-4-5","stop_reason":"end_turn",
//!   "content":[{"type":"text","text":"Paris."}],"usage":{"input_tokens":5,"output_tokens":2}}"#;
//! let reply = LlmReply::from_slice(LlmApi::AnthropicMessages, body).unwrap();
//! assert_eq!(reply.span_name(LlmApi::AnthropicMessages), "chat:reply");
//! assert_eq!(reply.total_tokens(), Some(7));
//! ```

mod anthropic;
mod api;
mod call;
mod decode;
mod guard;
mod openai_chat;
mod openai_responses;
mod roots;
mod shape;
mod sse;
#[cfg(test)]
mod tests;

pub use api::{
    CallError, IntegrationOptions, RecordedEventStream, RecordedStream, record_call,
    record_event_stream, record_stream, stream_request_body,
};
pub use api::{error_message, status_error_type};
pub use call::{LlmCallScope, LlmStreamRecorder, is_instrumenting};
pub use guard::{GuardCheck, guard_enabled_by_env};
pub use roots::{MAX_PENDING_TOOL_IDS, MAX_ROOTS, close_agent_roots, open_agent_roots};
pub use shape::{LlmReply, LlmRequest, ToolCall, infer_provider};
pub use sse::SseParser;

/// The provider API a request goes to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LlmApi {
    /// OpenAI (or an OpenAI-compatible server) `POST …/chat/completions`.
    OpenAiChat,
    /// OpenAI `POST …/responses`.
    OpenAiResponses,
    /// Anthropic `POST …/messages`.
    AnthropicMessages,
}

impl LlmApi {
    /// The API of a request path (`/v1/chat/completions`, `/v1/responses`, `/v1/messages`), by
    /// its last segments; `None` for any other path.
    ///
    /// ```
    /// use staso_core::llm::LlmApi;
    /// assert_eq!(LlmApi::from_path("/v1/chat/completions"), Some(LlmApi::OpenAiChat));
    /// assert_eq!(LlmApi::from_path("/v1/messages"), Some(LlmApi::AnthropicMessages));
    /// assert_eq!(LlmApi::from_path("/v1/models"), None);
    /// ```
    pub fn from_path(path: &str) -> Option<LlmApi> {
        let path = path.trim_end_matches('/');
        if path.ends_with("/chat/completions") {
            Some(LlmApi::OpenAiChat)
        } else if path.ends_with("/responses") {
            Some(LlmApi::OpenAiResponses)
        } else if path.ends_with("/messages") && !path.ends_with("/batches/messages") {
            Some(LlmApi::AnthropicMessages)
        } else {
            None
        }
    }

    /// The span's `provider`: `openai` or `anthropic`.
    pub fn provider(self) -> &'static str {
        match self {
            LlmApi::OpenAiChat | LlmApi::OpenAiResponses => "openai",
            LlmApi::AnthropicMessages => "anthropic",
        }
    }

    /// The name of a non-stream span until its reply names it: `chat` or `response`.
    pub fn placeholder_name(self) -> &'static str {
        match self {
            LlmApi::OpenAiChat | LlmApi::AnthropicMessages => "chat",
            LlmApi::OpenAiResponses => "response",
        }
    }

    /// The name of a streaming span.
    pub fn stream_name(self) -> &'static str {
        match self {
            LlmApi::OpenAiChat => "openai.chat.completions.create",
            LlmApi::OpenAiResponses => "openai.responses.create",
            LlmApi::AnthropicMessages => "anthropic.messages.create",
        }
    }
}
