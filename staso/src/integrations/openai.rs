//! `async-openai` (0.43, feature `middleware`): [`layer()`], a tower layer for
//! `async_openai::Client::with_http_service`, and [`client()`], an instrumented client.
//!
//! Every chat completion and Responses call becomes one `llm` span (see
//! [`integrations`](super)); a guard block is `OpenAIError::Boxed` holding
//! [`GuardBlocked`](crate::GuardBlocked).
//!
//! **Retries.** [`client()`] puts the layer outside async-openai's own retry layer
//! (`OpenAIRetryLayer`), so one span covers a call with all its attempts, as the official SDK
//! records one span per `create()`: the span's duration is what the caller waited, its outcome
//! the final attempt's. Put [`layer()`] inside a retry layer instead to get one span per attempt.
//!
//! ```no_run
//! use async_openai::config::OpenAIConfig;
//! use async_openai::middleware::ReqwestService;
//! use tower_layer::Layer;
//!
//! // The ready-made client:
//! let client = staso::integrations::openai::client(OpenAIConfig::default());
//! // Or the layer in a stack of your own:
//! let service = staso::integrations::openai::layer().layer(ReqwestService::new(reqwest::Client::new()));
//! let custom = async_openai::Client::with_config(OpenAIConfig::default()).with_http_service(service);
//! # let _ = (client, custom);
//! ```

use std::future::Future;
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};

use async_openai::config::Config;
use async_openai::error::OpenAIError;
use async_openai::middleware::retry::OpenAIRetryLayer;
use async_openai::middleware::{HttpRequestFactory, ReqwestService};
use staso_core::llm::IntegrationOptions;
use tower_layer::Layer;
use tower_service::Service;

use super::exchange::Exchange;

/// The tower layer recording async-openai's LLM calls (see [`layer()`]).
#[derive(Clone, Copy, Debug, Default)]
pub struct LlmLayer {
    options: Option<IntegrationOptions>,
}

impl LlmLayer {
    /// The layer with its own options (guard, `traceparent`) instead of the process-wide ones.
    pub fn with_options(options: IntegrationOptions) -> Self {
        LlmLayer {
            options: Some(options),
        }
    }
}

/// The layer recording every LLM call of an `async_openai::Client` as an `llm` span; wrap the
/// client's HTTP service with it (`ReqwestService` or any service over
/// `HttpRequestFactory`).
pub fn layer() -> LlmLayer {
    LlmLayer::default()
}

/// An `async_openai::Client` for `config` whose calls are recorded: [`layer()`] around
/// async-openai's default retry layer and `ReqwestService`.
pub fn client<C: Config>(config: C) -> async_openai::Client<C> {
    let service = layer()
        .layer(OpenAIRetryLayer::default().layer(ReqwestService::new(reqwest::Client::new())));
    async_openai::Client::with_config(config).with_http_service(service)
}

impl<S> Layer<S> for LlmLayer {
    type Service = LlmService<S>;

    fn layer(&self, inner: S) -> LlmService<S> {
        LlmService {
            inner,
            options: self.options,
        }
    }
}

/// The service [`LlmLayer`] makes.
#[derive(Clone, Debug)]
pub struct LlmService<S> {
    inner: S,
    options: Option<IntegrationOptions>,
}

type BoxFuture = Pin<Box<dyn Future<Output = Result<reqwest::Response, OpenAIError>> + Send>>;

impl<S> Service<HttpRequestFactory> for LlmService<S>
where
    S: Service<HttpRequestFactory, Response = reqwest::Response> + Clone + Send + Sync + 'static,
    S::Future: Send + 'static,
    S::Error: Into<OpenAIError> + Send + Sync + 'static,
{
    type Response = reqwest::Response;
    type Error = OpenAIError;
    type Future = BoxFuture;

    fn poll_ready(&mut self, cx: &mut TaskContext<'_>) -> Poll<Result<(), OpenAIError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, factory: HttpRequestFactory) -> BoxFuture {
        // The ready clone answers this call; `self.inner` gets a fresh one for the next.
        let clone = self.inner.clone();
        let inner = std::mem::replace(&mut self.inner, clone);
        let options = self.options;
        Box::pin(call(inner, factory, options))
    }
}

async fn oneshot<S>(
    mut svc: S,
    factory: HttpRequestFactory,
) -> Result<reqwest::Response, OpenAIError>
where
    S: Service<HttpRequestFactory, Response = reqwest::Response>,
    S::Error: Into<OpenAIError>,
{
    std::future::poll_fn(|cx| svc.poll_ready(cx))
        .await
        .map_err(Into::into)?;
    svc.call(factory).await.map_err(Into::into)
}

async fn call<S>(
    inner: S,
    factory: HttpRequestFactory,
    options: Option<IntegrationOptions>,
) -> Result<reqwest::Response, OpenAIError>
where
    S: Service<HttpRequestFactory, Response = reqwest::Response>,
    S::Error: Into<OpenAIError>,
{
    if staso_core::llm::is_instrumenting() {
        return oneshot(inner, factory).await;
    }
    // Built once here to see the body; the inner stack gets a factory replaying our version
    // (with `traceparent` and, for chat streams, `include_usage`), once per retry.
    let request = factory.build().await?;
    let begun = request
        .body()
        .and_then(reqwest::Body::as_bytes)
        .and_then(|body| {
            Exchange::begin(request.method(), request.url().path(), body, options)
                .map(|(e, new_body)| (e, new_body.unwrap_or_else(|| body.to_vec())))
        });
    let Some((exchange, body)) = begun else {
        return oneshot(inner, factory).await;
    };
    let method = request.method().clone();
    let url = request.url().clone();
    let timeout = request.timeout().copied();
    let version = request.version();
    let mut headers = request.headers().clone();
    headers.remove(http::header::CONTENT_LENGTH);
    exchange.inject(&mut headers);
    let body = bytes::Bytes::from(body);
    let replay = HttpRequestFactory::new(move || {
        let mut r = reqwest::Request::new(method.clone(), url.clone());
        *r.headers_mut() = headers.clone();
        *r.body_mut() = Some(reqwest::Body::from(body.clone()));
        *r.timeout_mut() = timeout;
        *r.version_mut() = version;
        std::future::ready(Ok(r))
    });
    let resp = match exchange.context().wrap(oneshot(inner, replay)).await {
        Ok(resp) => resp,
        Err(e) => {
            exchange.fail(e.to_string(), "async_openai::error::OpenAIError");
            return Err(e);
        }
    };
    let status = resp.status();
    if exchange.is_stream() && status.is_success() {
        let (parts, body) = http::Response::<reqwest::Body>::from(resp).into_parts();
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
            return Err(OpenAIError::Reqwest(e));
        }
    };
    let bytes = if status.is_success() {
        exchange
            .unary(bytes)
            .await
            .map_err(|blocked| OpenAIError::Boxed(Box::new(blocked)))?
    } else {
        exchange.fail_status(status, &bytes);
        bytes
    };
    Ok(super::exchange::rebuild(status, version, headers, bytes))
}
