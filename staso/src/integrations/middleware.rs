//! [`LlmMiddleware`]: the integration for any client built on `reqwest-middleware`.

use staso_core::llm::IntegrationOptions;

use super::exchange::Exchange;

/// Records every LLM call of a `reqwest_middleware::ClientWithMiddleware` as an `llm` span:
/// `POST`s to OpenAI-compatible `…/chat/completions` and `…/responses` and Anthropic
/// `…/messages`, recognised by path; other requests pass unchanged.
///
/// Unary replies are read, recorded and guard-checked before they are returned (a block is a
/// `reqwest_middleware::Error::Middleware` holding [`GuardBlocked`](crate::GuardBlocked); a
/// `modify` rewrites the tool call's arguments in the body). Streamed replies
/// (`"stream": true`) are recorded as they pass, never buffered: the span ends when the body
/// ends, fails, or is dropped (`Cancelled`); with the guard on, a streamed reply's tool calls are
/// checked at its terminal event, which is held back until the guard answers (a block fails the
/// body there, `GuardBlocked` among the error's sources). Streamed OpenAI chat calls ask for
/// usage (`stream_options.include_usage`) unless the caller set it.
///
/// ```
/// let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
///     .with(staso::integrations::LlmMiddleware::new())
///     .build();
/// # let _ = client;
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct LlmMiddleware {
    options: Option<IntegrationOptions>,
}

impl LlmMiddleware {
    /// The middleware, with the process-wide [`IntegrationOptions`].
    pub fn new() -> Self {
        LlmMiddleware::default()
    }

    /// The middleware with its own options (guard, `traceparent`).
    pub fn with_options(options: IntegrationOptions) -> Self {
        LlmMiddleware {
            options: Some(options),
        }
    }
}

#[async_trait::async_trait]
impl reqwest_middleware::Middleware for LlmMiddleware {
    async fn handle(
        &self,
        mut req: reqwest::Request,
        extensions: &mut http::Extensions,
        next: reqwest_middleware::Next<'_>,
    ) -> reqwest_middleware::Result<reqwest::Response> {
        let begun = match req.body().and_then(reqwest::Body::as_bytes) {
            Some(body) => Exchange::begin(req.method(), req.url().path(), body, self.options),
            None => None,
        };
        let Some((exchange, new_body)) = begun else {
            return next.run(req, extensions).await;
        };
        if let Some(body) = new_body {
            req.headers_mut().remove(http::header::CONTENT_LENGTH);
            *req.body_mut() = Some(reqwest::Body::from(body));
        }
        exchange.inject(req.headers_mut());
        let ctx = exchange.context();
        let resp = match ctx.wrap(next.run(req, extensions)).await {
            Ok(resp) => resp,
            Err(e) => {
                exchange.fail(e.to_string(), "reqwest_middleware::Error");
                return Err(e);
            }
        };
        let status = resp.status();
        if exchange.is_stream() && status.is_success() {
            let resp = http::Response::<reqwest::Body>::from(resp);
            let (parts, body) = resp.into_parts();
            let body = reqwest::Body::wrap(exchange.stream_body(body));
            return Ok(reqwest::Response::from(http::Response::from_parts(
                parts, body,
            )));
        }
        let version = resp.version();
        let headers = resp.headers().clone();
        let bytes = match resp.bytes().await {
            Ok(b) => b,
            Err(e) => {
                exchange.fail(e.to_string(), "reqwest::Error");
                return Err(e.into());
            }
        };
        let bytes = if status.is_success() {
            match exchange.unary(bytes).await {
                Ok(b) => b,
                Err(blocked) => return Err(reqwest_middleware::Error::middleware(blocked)),
            }
        } else {
            exchange.fail_status(status, &bytes);
            bytes
        };
        Ok(super::exchange::rebuild(status, version, headers, bytes))
    }
}
