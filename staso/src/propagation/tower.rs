//! The server side: a `tower::Layer` that continues the caller's trace around each request.

use std::task::{Context as TaskContext, Poll};

use staso_core::{Context, WithContext};

/// A `tower::Layer` for HTTP servers (axum, tonic, hyper): for each request it reads
/// `traceparent`/`baggage` ([`extract`](super::extract)) and runs the inner service's call and its
/// response future as the remote span's children, in the caller's conversation. Requests without
/// (valid) headers run in the server's own context. It opens no span itself: the handlers'
/// `#[staso::agent]`/`#[staso::tool]` spans are the remote span's children.
///
/// ```
/// use tower_layer::Layer;
/// #[derive(Clone)]
/// struct Handler;
/// let service = staso::propagation::TraceContextLayer::new().layer(Handler);
/// # let _ = service;
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct TraceContextLayer;

impl TraceContextLayer {
    /// The layer.
    pub fn new() -> Self {
        TraceContextLayer
    }
}

impl<S> tower_layer::Layer<S> for TraceContextLayer {
    type Service = TraceContextService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        TraceContextService { inner }
    }
}

/// The service [`TraceContextLayer`] wraps around another.
#[derive(Clone, Debug)]
pub struct TraceContextService<S> {
    inner: S,
}

impl<S, B> tower_service::Service<http::Request<B>> for TraceContextService<S>
where
    S: tower_service::Service<http::Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = WithContext<S::Future>;

    fn poll_ready(&mut self, cx: &mut TaskContext<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let context = match super::extract(request.headers()) {
            Some(remote) => remote.context(),
            None => Context::current(),
        };
        let inner = &mut self.inner;
        let future = context.clone().in_scope(|| inner.call(request));
        context.wrap(future)
    }
}
