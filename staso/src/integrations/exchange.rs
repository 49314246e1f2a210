//! One HTTP exchange with a provider, instrumented: shared by the reqwest middleware and the
//! async-openai layer (both see the request body as bytes and the response as an HTTP
//! response).

use bytes::Bytes;
use staso_core::Context;
use staso_core::guard::GuardBlocked;
use staso_core::llm::{
    GuardCheck, IntegrationOptions, LlmApi, LlmCallScope, LlmReply, LlmStreamRecorder,
    stream_request_body,
};

use super::body::RecordedBody;

/// Error bodies longer than this are cut in the span's error message.
const MAX_ERROR_TEXT: usize = 2_000;

/// A provider call being recorded.
pub(crate) struct Exchange {
    scope: LlmCallScope,
    api: LlmApi,
    stream: bool,
    options: IntegrationOptions,
}

impl Exchange {
    /// Starts recording a `POST` to `path` with `body`; `None` when the path is no LLM API, the
    /// body is not JSON, nothing records, or an outer adapter already records the call. The
    /// second value is the body to send instead (a streamed OpenAI chat call asks for usage).
    pub(crate) fn begin(
        method: &http::Method,
        path: &str,
        body: &[u8],
        options: Option<IntegrationOptions>,
    ) -> Option<(Exchange, Option<Vec<u8>>)> {
        if method != http::Method::POST {
            return None;
        }
        let api = LlmApi::from_path(path)?;
        let scope = LlmCallScope::begin_bytes(api, body)?;
        let stream = scope.request().is_some_and(|r| r.is_stream());
        let new_body = if stream {
            stream_request_body(api, body)
        } else {
            None
        };
        let exchange = Exchange {
            scope,
            api,
            stream,
            options: options.unwrap_or_else(IntegrationOptions::current),
        };
        Some((exchange, new_body))
    }

    /// The context with the LLM span current (run the provider call under it).
    pub(crate) fn context(&self) -> Context {
        self.scope.context()
    }

    /// Adds `traceparent` (and baggage) for the LLM span, unless turned off.
    pub(crate) fn inject(&self, headers: &mut http::HeaderMap) {
        if self.options.traceparent_enabled() {
            self.context()
                .in_scope(|| crate::propagation::inject(headers));
        }
    }

    /// Whether the call asked for a stream.
    pub(crate) fn is_stream(&self) -> bool {
        self.stream
    }

    /// The call failed before a response.
    pub(crate) fn fail(self, message: String, exception_type: &'static str) {
        self.scope.fail(message, exception_type);
    }

    /// A non-2xx response: the span is an error named as the provider SDKs name it
    /// (`RateLimitError`, …) with `Error code: <status> - <the error's message, else the start of
    /// the body>`.
    pub(crate) fn fail_status(self, status: http::StatusCode, body: &[u8]) {
        let message = staso_core::llm::error_message(body).unwrap_or_else(|| {
            String::from_utf8_lossy(&body[..body.len().min(MAX_ERROR_TEXT)])
                .trim()
                .to_owned()
        });
        self.scope.fail(
            format!("Error code: {} - {message}", status.as_u16()),
            staso_core::llm::status_error_type(status.as_u16()),
        );
    }

    /// A complete (non-stream) reply: recorded, guard-checked when on. Returns the body to hand
    /// on (rewritten when the guard modified a tool call) or the block.
    pub(crate) async fn unary(self, body: Bytes) -> Result<Bytes, GuardBlocked> {
        let reply = LlmReply::from_slice(self.api, &body).unwrap_or_default();
        let check = if self.options.guard_enabled() && !reply.is_terminal() {
            let ctx = self.context();
            Some(GuardCheck::run(&reply, &ctx).await)
        } else {
            None
        };
        self.scope.finish(reply, check.as_ref());
        let Some(mut check) = check else {
            return Ok(body);
        };
        if let Some(blocked) = check.take_blocked() {
            return Err(blocked);
        }
        Ok(check
            .rewrite_bytes(self.api, &body)
            .map(Bytes::from)
            .unwrap_or(body))
    }

    /// A streamed reply: the body, recorded as it passes.
    pub(crate) fn stream_body<B>(self, body: B) -> RecordedBody<B> {
        let guard_on = self.options.guard_enabled();
        RecordedBody::new(body, LlmStreamRecorder::new(self.scope), guard_on)
    }
}

/// The response handed on after its body was read.
pub(crate) fn rebuild(
    status: http::StatusCode,
    version: http::Version,
    mut headers: http::HeaderMap,
    body: Bytes,
) -> reqwest::Response {
    headers.insert(
        http::header::CONTENT_LENGTH,
        http::HeaderValue::from(body.len()),
    );
    let mut resp = http::Response::new(reqwest::Body::from(body));
    *resp.status_mut() = status;
    *resp.version_mut() = version;
    *resp.headers_mut() = headers;
    reqwest::Response::from(resp)
}
