//! One instrumented provider call ([`LlmCallScope`]) and the recorder of its event stream
//! ([`LlmStreamRecorder`]), shared by every adapter.

use std::borrow::Cow;
use std::collections::HashSet;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::LlmApi;
use super::anthropic::MessagesStream;
use super::guard::GuardCheck;
use super::openai_chat::ChatStream;
use super::openai_responses::ResponsesStream;
use super::roots::{self, Pending};
use super::shape::{LlmReply, LlmRequest};
use super::sse::SseParser;
use crate::context::{self, Context, Frame};
use crate::ids::SpanId;
use crate::kind::{SpanKind, SpanStatus};
use crate::span::Span;
use crate::thread_state::with_recording_client;

/// The synthetic root's name. Rust has no caller-of-caller lookup without debug info and
/// symbolization (a backtrace costs milliseconds), so the root is always `agent_run`.
const ROOT_NAME: &str = "agent_run";

/// LLM spans of calls in flight: a call made while one of them is current is a nested adapter's
/// (e.g. the reqwest middleware under the async-openai layer) and is not instrumented again.
fn active() -> std::sync::MutexGuard<'static, HashSet<SpanId>> {
    static ACTIVE: OnceLock<Mutex<HashSet<SpanId>>> = OnceLock::new();
    ACTIVE
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner())
}

/// True when the current span is the LLM span of a call an adapter is instrumenting (so an inner
/// adapter must not record a second span).
pub fn is_instrumenting() -> bool {
    let Some(cur) = context::current_span_ref() else {
        return false;
    };
    active().contains(&cur.span_id)
}

struct Open {
    span: Span,
    request: LlmRequest,
    root: Option<u64>,
    started: Instant,
    span_id: Option<SpanId>,
}

/// One provider call being recorded: its LLM span (open from [`LlmCallScope::begin`]), the
/// decoded request, and its place in the agent structure. Finish it with
/// [`finish`](Self::finish) or [`fail`](Self::fail); dropped unfinished, the span ends as an
/// error `Cancelled`.
pub struct LlmCallScope {
    open: Option<Open>,
}

impl std::fmt::Debug for LlmCallScope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LlmCallScope")
            .field("api", &self.open.as_ref().map(|o| o.request.api))
            .finish()
    }
}

impl LlmCallScope {
    /// Starts recording a call of `api` whose request JSON is `request()` (built only when a span
    /// will be recorded). `None` when nothing records or an outer adapter already records this
    /// call.
    ///
    /// The LLM span's parent: the LLM span whose tool calls this request answers (by tool-call
    /// id), else the current recording span, else a new synthetic `agent_run` root.
    pub fn begin(api: LlmApi, request: impl FnOnce() -> Option<Value>) -> Option<LlmCallScope> {
        if !crate::client::is_recording() || is_instrumenting() {
            return None;
        }
        let policy = with_recording_client(|c| c.policy)?;
        let body = request()?;
        let request = LlmRequest::parse_owned(api, body, &policy);
        let (ctx, root) = match roots::take_pending(&request.tool_result_ids) {
            Some(Pending { root, llm }) => {
                let mut frame = context::with_current(Frame::clone);
                frame.span = Some(llm);
                (Context::from_frame(frame), root)
            }
            None if context::current_span_ref().is_some_and(|s| s.recording) => {
                (Context::current(), None)
            }
            None => {
                let root = Span::start_root(ROOT_NAME, SpanKind::Agent);
                if policy.request
                    && let Some(text) = request.first_user_text.as_deref()
                {
                    root.set_input(json!({ "prompt": text }));
                }
                // The root stays open across tool turns: a provisional snapshot shows it at once
                // (PROTOCOL.md §2.6), as for an instrumented root fn.
                root.__llm_with_record(|r, _| {
                    crate::span::emit(Box::new(r.provisional_snapshot()));
                });
                let key = roots::open_root(root);
                match roots::root_context(key) {
                    Some(ctx) => (ctx, Some(key)),
                    None => (Context::current(), None),
                }
            }
        };
        let name = if request.stream {
            api.stream_name()
        } else {
            api.placeholder_name()
        };
        let span = ctx.in_scope(|| Span::start(name, SpanKind::Llm));
        let span_id = span.__llm_ids().map(|p| p.span_id);
        if let Some(id) = span_id {
            active().insert(id);
        }
        Some(LlmCallScope {
            open: Some(Open {
                span,
                request,
                root,
                started: Instant::now(),
                span_id,
            }),
        })
    }

    /// The decoded request.
    pub fn request(&self) -> Option<&LlmRequest> {
        self.open.as_ref().map(|o| &o.request)
    }

    /// The context with the LLM span current: run the provider call (and its guard checks, its
    /// `traceparent` injection) under it.
    pub fn context(&self) -> Context {
        match &self.open {
            Some(o) => o.span.context(),
            None => Context::current(),
        }
    }

    /// When the call started.
    pub fn started(&self) -> Option<Instant> {
        self.open.as_ref().map(|o| o.started)
    }

    /// Ends the span with `reply` (and the guard's verdicts, if checked). A block leaves the
    /// placeholder name and makes the span an error (`GuardBlocked`).
    pub fn finish(mut self, reply: LlmReply, guard: Option<&GuardCheck>) {
        let Some(open) = self.open.take() else { return };
        let Open {
            span,
            request,
            root,
            span_id,
            ..
        } = open;
        let api = request.api;
        let blocked = guard.and_then(GuardCheck::blocked).map(ToString::to_string);
        let name = (!request.stream && blocked.is_none()).then(|| reply.span_name(api));
        let guard_meta = guard.map(GuardCheck::metadata).unwrap_or_default();
        let tool_ids: Vec<String> = reply.tool_calls.iter().map(|t| t.id.clone()).collect();
        let terminal = reply.is_terminal();
        let block_message = blocked.clone();
        span.__llm_with_record(move |r, p| {
            request.apply(r, p);
            reply.apply(api, r, p);
            if let Some(n) = name {
                r.name = Cow::Owned(n);
            }
            for (k, v) in guard_meta {
                r.set_metadata(Cow::Borrowed(k), v);
            }
            if let Some(message) = block_message {
                r.status = SpanStatus::Error;
                r.error_message = Some(message);
                r.exception_type = Some(Cow::Borrowed("GuardBlocked"));
                r.set_metadata(Cow::Borrowed("exception.type"), "GuardBlocked".into());
            }
        });
        let llm = span.__llm_ids();
        span.end();
        if let Some(id) = span_id {
            active().remove(&id);
        }
        match (blocked, terminal, llm) {
            (Some(message), _, _) => {
                if let Some(key) = root {
                    roots::close_root(key, Some(message));
                }
            }
            (None, false, Some(llm)) => roots::add_pending(tool_ids, Pending { root, llm }),
            _ => {
                if let Some(key) = root {
                    roots::close_root(key, None);
                }
            }
        }
    }

    /// Ends the span as an error: `message` and `exception_type` (the error's type name).
    pub fn fail(mut self, message: impl Into<String>, exception_type: &'static str) {
        self.fail_inner(message.into(), exception_type);
    }

    fn fail_inner(&mut self, message: String, exception_type: &'static str) {
        let Some(open) = self.open.take() else { return };
        let Open {
            span,
            request,
            root,
            span_id,
            ..
        } = open;
        let root_message = message.clone();
        span.__llm_with_record(move |r, p| {
            request.apply(r, p);
            r.status = SpanStatus::Error;
            r.error_message = Some(message);
            r.exception_type = Some(Cow::Borrowed(exception_type));
            r.set_metadata(Cow::Borrowed("exception.type"), exception_type.into());
        });
        span.end();
        if let Some(id) = span_id {
            active().remove(&id);
        }
        if let Some(key) = root {
            roots::close_root(key, Some(root_message));
        }
    }
}

impl Drop for LlmCallScope {
    fn drop(&mut self) {
        self.fail_inner("Cancelled".to_owned(), "Cancelled");
    }
}

enum Accumulator {
    Chat(ChatStream),
    Responses(ResponsesStream),
    Anthropic(MessagesStream),
}

impl Accumulator {
    /// The stream's terminal event arrived (a consumer may stop reading there).
    fn done(&self) -> bool {
        match self {
            Accumulator::Chat(a) => a.done,
            Accumulator::Responses(a) => a.done,
            Accumulator::Anthropic(a) => a.done,
        }
    }

    fn feed(&mut self, data: &str) -> bool {
        match self {
            Accumulator::Chat(a) => a.feed(data),
            Accumulator::Responses(a) => a.feed(data),
            Accumulator::Anthropic(a) => a.feed(data),
        }
    }
}

/// Records a streamed reply as its events pass by: only the accumulated reply is kept (text,
/// tool calls, usage), never the raw stream. The span ends at [`finish`](Self::finish) (the
/// stream ended), [`fail`](Self::fail) (it failed), or when the recorder is dropped (the caller
/// dropped the stream: error `Cancelled`). Time to first token is taken at the first event that
/// carries content (text or tool-call deltas).
pub struct LlmStreamRecorder {
    scope: LlmCallScope,
    api: LlmApi,
    parser: SseParser,
    acc: Accumulator,
    started: Instant,
    ttft: Option<Duration>,
}

impl std::fmt::Debug for LlmStreamRecorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LlmStreamRecorder")
            .field("api", &self.api)
            .field("ttft", &self.ttft)
            .finish()
    }
}

impl LlmStreamRecorder {
    /// A recorder for the stream of `scope`'s call.
    pub fn new(scope: LlmCallScope) -> LlmStreamRecorder {
        let api = scope
            .open
            .as_ref()
            .map_or(LlmApi::OpenAiChat, |o| o.request.api);
        let started = scope.started().unwrap_or_else(Instant::now);
        let acc = match api {
            LlmApi::OpenAiChat => Accumulator::Chat(ChatStream::default()),
            LlmApi::OpenAiResponses => Accumulator::Responses(ResponsesStream::default()),
            LlmApi::AnthropicMessages => Accumulator::Anthropic(MessagesStream::default()),
        };
        LlmStreamRecorder {
            scope,
            api,
            parser: SseParser::default(),
            acc,
            started,
            ttft: None,
        }
    }

    /// The context with the LLM span current.
    pub fn context(&self) -> Context {
        self.scope.context()
    }

    /// Feeds raw bytes of the `text/event-stream` body.
    pub fn feed_bytes(&mut self, bytes: &[u8]) {
        let LlmStreamRecorder {
            parser,
            acc,
            ttft,
            started,
            ..
        } = self;
        parser.feed(bytes, |_, data| {
            if acc.feed(data) && ttft.is_none() {
                *ttft = Some(started.elapsed());
            }
        });
    }

    /// Feeds one event's `data` (for clients that hand out parsed events).
    pub fn feed_event(&mut self, data: &str) {
        if self.acc.feed(data) && self.ttft.is_none() {
            self.ttft = Some(self.started.elapsed());
        }
    }

    /// The stream ended normally: the span ends with the accumulated reply.
    pub fn finish(mut self) {
        self.complete();
    }

    /// True once the stream's terminal event arrived (`[DONE]`, `message_stop`, a terminal
    /// `response.*`).
    pub fn is_done(&self) -> bool {
        self.acc.done()
    }

    /// Ends the accumulation: the call's scope and its reply, for a caller that checks the reply
    /// (the guard) before finishing the scope itself.
    pub fn into_reply(mut self) -> (LlmCallScope, LlmReply) {
        let reply = self.take_reply();
        let scope = std::mem::replace(&mut self.scope, LlmCallScope { open: None });
        (scope, reply)
    }

    fn complete(&mut self) {
        let reply = self.take_reply();
        let scope = std::mem::replace(&mut self.scope, LlmCallScope { open: None });
        scope.finish(reply, None);
    }

    fn take_reply(&mut self) -> LlmReply {
        let LlmStreamRecorder {
            parser,
            acc,
            ttft,
            started,
            ..
        } = self;
        parser.finish(|_, data| {
            if acc.feed(data) && ttft.is_none() {
                *ttft = Some(started.elapsed());
            }
        });
        let body = match std::mem::replace(
            &mut self.acc,
            Accumulator::Responses(ResponsesStream::default()),
        ) {
            Accumulator::Chat(a) => a.finish(),
            Accumulator::Responses(a) => a.finish(),
            Accumulator::Anthropic(a) => a.finish(),
        };
        let mut reply = LlmReply::from_value(self.api, body).unwrap_or_default();
        reply.ttft = self.ttft;
        reply.streamed = true;
        reply
    }

    /// The stream failed: the span ends as an error.
    pub fn fail(mut self, message: impl Into<String>, exception_type: &'static str) {
        self.scope.fail_inner(message.into(), exception_type);
    }
}

impl Drop for LlmStreamRecorder {
    /// Dropped after the stream's terminal event (`[DONE]`, `message_stop`, a terminal
    /// `response.*`): the consumer stopped reading at the end, the call completed. Dropped before
    /// it: the scope ends the span `Cancelled`.
    fn drop(&mut self) {
        if self.acc.done() && self.scope.open.is_some() {
            self.complete();
        }
    }
}
