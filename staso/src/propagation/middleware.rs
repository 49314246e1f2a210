//! The client side: a `reqwest-middleware` middleware that injects the current span.

/// Injects `traceparent` and `baggage` for the current span into every request of a
/// `reqwest_middleware::ClientWithMiddleware` (see [`inject`](super::inject)); a request made with
/// no span current is sent unchanged.
///
/// ```
/// let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
///     .with(staso::propagation::TraceContextMiddleware)
///     .build();
/// # let _ = client;
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct TraceContextMiddleware;

#[async_trait::async_trait]
impl reqwest_middleware::Middleware for TraceContextMiddleware {
    async fn handle(
        &self,
        mut req: reqwest::Request,
        extensions: &mut http::Extensions,
        next: reqwest_middleware::Next<'_>,
    ) -> reqwest_middleware::Result<reqwest::Response> {
        super::inject(req.headers_mut());
        next.run(req, extensions).await
    }
}
