//! The function-level API for any client ([`record_call`], [`record_stream`],
//! [`record_event_stream`]), the integration settings ([`IntegrationOptions`]) and the body
//! helpers the adapters share.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU8, Ordering};
use std::task::{Context as TaskContext, Poll};

use futures_util::Stream;
use serde::Serialize;
use serde_json::Value;

use super::LlmApi;
use super::call::{LlmCallScope, LlmStreamRecorder};
use super::guard::{GuardCheck, guard_enabled_by_env};
use super::shape::LlmReply;
use crate::guard::GuardBlocked;

/// What the integrations do besides recording spans. The defaults follow the official SDK:
/// the call-site guard on (unless `STASO_GUARD_ENABLED=false`), `traceparent` on.
///
/// ```
/// use staso_core::llm::IntegrationOptions;
/// IntegrationOptions::default().guard(false).traceparent(false).install();
/// assert!(!IntegrationOptions::current().guard_enabled());
/// # IntegrationOptions::default().install();
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IntegrationOptions {
    guard: bool,
    traceparent: bool,
}

impl Default for IntegrationOptions {
    fn default() -> Self {
        IntegrationOptions {
            guard: guard_enabled_by_env(),
            traceparent: true,
        }
    }
}

/// Installed options: bit 0 set = installed, bit 1 guard, bit 2 traceparent.
static OPTIONS: AtomicU8 = AtomicU8::new(0);

impl IntegrationOptions {
    /// Whether each tool call of a reply is checked with the guard before the reply is returned.
    pub fn guard(mut self, on: bool) -> Self {
        self.guard = on;
        self
    }

    /// Whether the adapters add a W3C `traceparent` for the LLM span to the provider request.
    pub fn traceparent(mut self, on: bool) -> Self {
        self.traceparent = on;
        self
    }

    /// Whether the guard runs.
    pub fn guard_enabled(&self) -> bool {
        self.guard
    }

    /// Whether `traceparent` is sent.
    pub fn traceparent_enabled(&self) -> bool {
        self.traceparent
    }

    /// Makes these the process-wide options, over the client's config (adapters built with their
    /// own options keep them). [`IntegrationOptions::uninstall`] goes back to the config.
    pub fn install(self) {
        let bits = 1 | (u8::from(self.guard) << 1) | (u8::from(self.traceparent) << 2);
        OPTIONS.store(bits, Ordering::Relaxed);
    }

    /// Drops the installed options: the client's config decides again.
    pub fn uninstall() {
        OPTIONS.store(0, Ordering::Relaxed);
    }

    /// The process-wide options: the installed ones, else the installed client's
    /// (`ConfigBuilder::llm_guard` / `llm_traceparent`), else the defaults (env read each time).
    pub fn current() -> IntegrationOptions {
        let bits = OPTIONS.load(Ordering::Relaxed);
        if bits & 1 == 0 {
            return crate::thread_state::with_recording_client(|c| IntegrationOptions {
                guard: c.config.llm_guard(),
                traceparent: c.config.llm_traceparent(),
            })
            .unwrap_or_default();
        }
        IntegrationOptions {
            guard: bits & 2 != 0,
            traceparent: bits & 4 != 0,
        }
    }
}

/// The error of an instrumented call: the client's own error, or the guard's block.
#[derive(Debug, thiserror::Error)]
pub enum CallError<E> {
    /// The call failed.
    #[error(transparent)]
    Call(E),
    /// The guard blocked a tool call of the reply.
    #[error(transparent)]
    Blocked(Box<GuardBlocked>),
}

impl<E> From<GuardBlocked> for CallError<E> {
    fn from(blocked: GuardBlocked) -> Self {
        CallError::Blocked(Box::new(blocked))
    }
}

/// Records one provider call made by any client: `request` is the request body (any
/// `Serialize` value in the provider's JSON shape), `call` the future that makes the call and
/// returns the response (any `Serialize` value in the provider's JSON shape, or a `String` of
/// JSON). One LLM span is recorded (see PROTOCOL.md §9); with the guard on, the reply's tool
/// calls are checked before it is returned and a block is [`CallError::Blocked`].
///
/// ```no_run
/// use serde_json::{Value, json};
/// use staso_core::llm::{LlmApi, record_call};
///
/// # async fn run(http: reqwest::Client) -> Result<(), Box<dyn std::error::Error>> {
/// let request = json!({
///     "model": "claude-sonnet-4-5",
///     "max_tokens": 256,
///     "messages": [{"role": "user", "content": "What is the capital of France?"}],
/// });
/// let reply: Value = record_call(LlmApi::AnthropicMessages, &request, async {
///     http.post("https://api.anthropic.com/v1/messages")
///         .header("x-api-key", std::env::var("ANTHROPIC_API_KEY").unwrap_or_default())
///         .header("anthropic-version", "2023-06-01")
///         .body(request.to_string())
///         .send()
///         .await?
///         .error_for_status()?
///         .text()
///         .await
///         .map(|t| serde_json::from_str::<Value>(&t).unwrap_or_default())
/// })
/// .await?;
/// # let _ = reply;
/// # Ok(())
/// # }
/// ```
pub async fn record_call<Req, F, T, E>(
    api: LlmApi,
    request: &Req,
    call: F,
) -> Result<T, CallError<E>>
where
    Req: Serialize + ?Sized,
    F: Future<Output = Result<T, E>>,
    T: Serialize,
    E: std::fmt::Display,
{
    let Some(scope) = LlmCallScope::begin(api, || serde_json::to_value(request).ok()) else {
        return call.await.map_err(CallError::Call);
    };
    let ctx = scope.context();
    match ctx.clone().wrap(call).await {
        Ok(value) => {
            let json = match serde_json::to_value(&value) {
                Ok(Value::String(s)) => serde_json::from_str(&s).unwrap_or(Value::Null),
                Ok(v) => v,
                Err(_) => Value::Null,
            };
            let reply = LlmReply::from_value(api, json).unwrap_or_default();
            let check = if IntegrationOptions::current().guard && !reply.is_terminal() {
                Some(GuardCheck::run(&reply, &ctx).await)
            } else {
                None
            };
            scope.finish(reply, check.as_ref());
            match check.and_then(|mut c| c.take_blocked()) {
                Some(blocked) => Err(CallError::Blocked(Box::new(blocked))),
                None => Ok(value),
            }
        }
        Err(e) => {
            scope.fail(e.to_string(), std::any::type_name::<E>());
            Err(CallError::Call(e))
        }
    }
}

pin_project_lite::pin_project! {
    /// A provider's raw event stream, recorded as it passes ([`record_stream`]): items are
    /// handed on unchanged; the span ends when the stream ends, fails, or is dropped
    /// (`Cancelled`).
    #[must_use = "streams do nothing unless polled"]
    pub struct RecordedStream<S> {
        #[pin]
        inner: S,
        recorder: Option<LlmStreamRecorder>,
    }
}

pin_project_lite::pin_project! {
    /// A provider's parsed event stream, recorded as it passes ([`record_event_stream`]).
    #[must_use = "streams do nothing unless polled"]
    pub struct RecordedEventStream<S> {
        #[pin]
        inner: S,
        recorder: Option<LlmStreamRecorder>,
    }
}

impl<S> std::fmt::Debug for RecordedStream<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecordedStream")
            .field("recording", &self.recorder.is_some())
            .finish()
    }
}

impl<S> std::fmt::Debug for RecordedEventStream<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecordedEventStream")
            .field("recording", &self.recorder.is_some())
            .finish()
    }
}

/// Records a streamed provider call from the raw bytes of its `text/event-stream` body: each
/// item (`Bytes`, `Vec<u8>`, `String`, …) is passed through unchanged.
///
/// ```
/// use futures_util::{StreamExt, stream};
/// use serde_json::json;
/// use staso_core::llm::{LlmApi, record_stream};
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let request = json!({"model": "gpt-4.1-mini", "stream": true, "messages": []});
/// let body = stream::iter(vec![
///     Ok::<_, std::io::Error>("data: {\"id\":\"c1\",\"choices\":[{\"delta\":{\"content\":\"Hi\"}}]}\n\n"),
///     Ok("data: [DONE]\n\n"),
/// ]);
/// let n = record_stream(LlmApi::OpenAiChat, &request, body).count().await;
/// assert_eq!(n, 2);
/// # });
/// ```
pub fn record_stream<Req, S, B, E>(api: LlmApi, request: &Req, stream: S) -> RecordedStream<S>
where
    Req: Serialize + ?Sized,
    S: Stream<Item = Result<B, E>>,
    B: AsRef<[u8]>,
    E: std::fmt::Display,
{
    RecordedStream {
        inner: stream,
        recorder: begin_stream(api, request),
    }
}

/// Records a streamed provider call from its parsed events (each item any `Serialize` event in
/// the provider's JSON shape, e.g. an SDK's typed stream event).
///
/// ```
/// use futures_util::{StreamExt, stream};
/// use serde_json::json;
/// use staso_core::llm::{LlmApi, record_event_stream};
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let request = json!({"model": "claude-sonnet-4-5", "stream": true, "messages": []});
/// let events = stream::iter(vec![
///     Ok::<_, std::io::Error>(json!({"type": "message_start", "message": {"id": "msg_1", "model": "claude-sonnet-4-5", "usage": {"input_tokens": 3}}})),
///     Ok(json!({"type": "message_stop"})),
/// ]);
/// let n = record_event_stream(LlmApi::AnthropicMessages, &request, events).count().await;
/// assert_eq!(n, 2);
/// # });
/// ```
pub fn record_event_stream<Req, S, T, E>(
    api: LlmApi,
    request: &Req,
    stream: S,
) -> RecordedEventStream<S>
where
    Req: Serialize + ?Sized,
    S: Stream<Item = Result<T, E>>,
    T: Serialize,
    E: std::fmt::Display,
{
    RecordedEventStream {
        inner: stream,
        recorder: begin_stream(api, request),
    }
}

fn begin_stream<Req: Serialize + ?Sized>(api: LlmApi, request: &Req) -> Option<LlmStreamRecorder> {
    LlmCallScope::begin(api, || {
        let mut v = serde_json::to_value(request).ok()?;
        if let Some(o) = v.as_object_mut() {
            o.insert("stream".into(), Value::Bool(true));
        }
        Some(v)
    })
    .map(LlmStreamRecorder::new)
}

/// Ends the recording for a stream's last poll result.
fn settle<E: std::fmt::Display>(
    recorder: &mut Option<LlmStreamRecorder>,
    err: Option<&E>,
    end: bool,
) {
    if let Some(e) = err {
        if let Some(r) = recorder.take() {
            r.fail(e.to_string(), std::any::type_name::<E>());
        }
    } else if end && let Some(r) = recorder.take() {
        r.finish();
    }
}

impl<S, B, E> Stream for RecordedStream<S>
where
    S: Stream<Item = Result<B, E>>,
    B: AsRef<[u8]>,
    E: std::fmt::Display,
{
    type Item = Result<B, E>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Option<Self::Item>> {
        let this = self.project();
        let item = std::task::ready!(this.inner.poll_next(cx));
        match &item {
            Some(Ok(b)) => {
                if let Some(r) = this.recorder.as_mut() {
                    r.feed_bytes(b.as_ref());
                }
            }
            Some(Err(e)) => settle(this.recorder, Some(e), false),
            None => settle::<E>(this.recorder, None, true),
        }
        Poll::Ready(item)
    }
}

impl<S, T, E> Stream for RecordedEventStream<S>
where
    S: Stream<Item = Result<T, E>>,
    T: Serialize,
    E: std::fmt::Display,
{
    type Item = Result<T, E>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Option<Self::Item>> {
        let this = self.project();
        let item = std::task::ready!(this.inner.poll_next(cx));
        match &item {
            Some(Ok(ev)) => {
                if let Some(r) = this.recorder.as_mut()
                    && let Ok(s) = serde_json::to_string(ev)
                {
                    r.feed_event(&s);
                }
            }
            Some(Err(e)) => settle(this.recorder, Some(e), false),
            None => settle::<E>(this.recorder, None, true),
        }
        Poll::Ready(item)
    }
}

/// The request body an adapter sends for a streamed OpenAI chat call: `stream_options.
/// include_usage: true` added (so the stream reports usage) unless the caller set
/// `include_usage`; `None` when nothing changes (other APIs, not a stream, not JSON).
///
/// ```
/// use staso_core::llm::{LlmApi, stream_request_body};
/// let body = br#"{"model":"gpt-4.1-mini","stream":true,"messages":[]}"#;
/// let out = stream_request_body(LlmApi::OpenAiChat, body).unwrap();
/// assert!(String::from_utf8(out).unwrap().contains(r#""stream_options":{"include_usage":true}"#));
/// assert!(stream_request_body(LlmApi::AnthropicMessages, body).is_none());
/// ```
pub fn stream_request_body(api: LlmApi, body: &[u8]) -> Option<Vec<u8>> {
    if api != LlmApi::OpenAiChat {
        return None;
    }
    let mut v: Value = serde_json::from_slice(body).ok()?;
    let o = v.as_object_mut()?;
    if o.get("stream").and_then(Value::as_bool) != Some(true) {
        return None;
    }
    let opts = o
        .entry("stream_options")
        .or_insert_with(|| Value::Object(serde_json::Map::new()));
    let opts = opts.as_object_mut()?;
    if opts.contains_key("include_usage") {
        return None;
    }
    opts.insert("include_usage".into(), Value::Bool(true));
    serde_json::to_vec(&v).ok()
}

impl GuardCheck {
    /// The response body with the modified tool calls' arguments, `None` when nothing changes.
    pub fn rewrite_bytes(&self, api: LlmApi, body: &[u8]) -> Option<Vec<u8>> {
        if !self.modifies() {
            return None;
        }
        let mut v: Value = serde_json::from_slice(body).ok()?;
        self.rewrite(api, &mut v);
        serde_json::to_vec(&v).ok()
    }
}

impl LlmCallScope {
    /// [`LlmCallScope::begin`] for a request body in bytes (not JSON: nothing is recorded).
    pub fn begin_bytes(api: LlmApi, body: &[u8]) -> Option<LlmCallScope> {
        LlmCallScope::begin(api, || serde_json::from_slice(body).ok())
    }
}

/// The provider error's own message in an error body (`{"error": {"message": …}}`, OpenAI and
/// Anthropic alike), if there is one.
///
/// ```
/// let body = br#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#;
/// assert_eq!(staso_core::llm::error_message(body).as_deref(), Some("Overloaded"));
/// ```
pub fn error_message(body: &[u8]) -> Option<String> {
    let v: Value = serde_json::from_slice(body).ok()?;
    v.pointer("/error/message")
        .and_then(Value::as_str)
        .map(str::to_owned)
}

/// The exception type the provider SDKs raise for an HTTP status (`exception.type` of the span).
///
/// ```
/// assert_eq!(staso_core::llm::status_error_type(429), "RateLimitError");
/// assert_eq!(staso_core::llm::status_error_type(503), "InternalServerError");
/// ```
pub fn status_error_type(status: u16) -> &'static str {
    match status {
        400 => "BadRequestError",
        401 => "AuthenticationError",
        403 => "PermissionDeniedError",
        404 => "NotFoundError",
        409 => "ConflictError",
        422 => "UnprocessableEntityError",
        429 => "RateLimitError",
        500.. => "InternalServerError",
        _ => "APIStatusError",
    }
}
