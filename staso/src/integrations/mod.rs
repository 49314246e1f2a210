//! LLM client integrations (PROTOCOL.md §9, "LLM span shape (integrations)"): every provider
//! call becomes an `llm` span with the request, the reply, tool calls, token usage, cache
//! tokens, time to first token and stop reason; calls made with no agent span current open a
//! synthetic `agent_run` root that stays open across tool-use turns; a call that carries tool
//! results is parented under the call that asked for them; the guard checks each requested tool
//! call before the reply reaches the caller.
//!
//! - Any client: [`record_call`] (a future returning the response), [`record_stream`] (the raw
//!   event-stream bytes) and [`record_event_stream`] (parsed events).
//! - `reqwest-middleware` feature: [`LlmMiddleware`] for any client built on
//!   `reqwest-middleware` (OpenAI-compatible `/chat/completions` and `/responses`, Anthropic
//!   `/messages`, recognised by path).
//! - `openai` feature: [`openai::layer()`] and [`openai::client()`] for `async-openai`.
//!
//! The function-level API, with an Anthropic call made by hand:
//!
//! ```no_run
//! use serde_json::{Value, json};
//! use staso::integrations::{LlmApi, record_call};
//!
//! // Your HTTP call to `POST https://api.anthropic.com/v1/messages` (any client).
//! async fn post_messages(body: &Value) -> Result<Value, std::io::Error> {
//!     # let _ = body;
//!     # Ok(Value::Null)
//! }
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let request = json!({
//!     "model": "claude-sonnet-4-5",
//!     "max_tokens": 256,
//!     "messages": [{"role": "user", "content": "What is the capital of France?"}],
//! });
//! let reply = record_call(LlmApi::AnthropicMessages, &request, post_messages(&request)).await?;
//! # let _ = reply;
//! # Ok(())
//! # }
//! ```

pub use staso_core::llm::{
    CallError, IntegrationOptions, LlmApi, LlmReply, LlmRequest, MAX_PENDING_TOOL_IDS, MAX_ROOTS,
    RecordedEventStream, RecordedStream, ToolCall, close_agent_roots, infer_provider,
    open_agent_roots, record_call, record_event_stream, record_stream,
};

#[cfg(any(feature = "reqwest-middleware", feature = "openai"))]
mod body;
#[cfg(any(feature = "reqwest-middleware", feature = "openai"))]
mod exchange;

#[cfg(feature = "reqwest-middleware")]
mod middleware;
#[cfg(feature = "reqwest-middleware")]
pub use middleware::LlmMiddleware;

#[cfg(feature = "openai")]
pub mod openai;
