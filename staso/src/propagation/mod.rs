//! W3C Trace Context and Baggage across services (see `staso_core::propagation` for the rules):
//! [`inject`] the current span into outgoing headers, [`extract`] an incoming request's headers
//! into a [`RemoteContext`] whose [`in_scope`](RemoteContext::in_scope) /
//! [`in_scope_async`](RemoteContext::in_scope_async) continue the caller's trace.
//!
//! Adapters, behind cargo features:
//! - `tower`: [`TraceContextLayer`], a `tower::Layer` for servers (axum, tonic, hyper) that
//!   continues the incoming trace around each request;
//! - `reqwest-middleware`: [`TraceContextMiddleware`], which injects into every outgoing request
//!   of a `reqwest_middleware::ClientWithMiddleware`.
//!
//! ```
//! use staso::propagation::{extract, inject};
//! let mut outgoing = http::HeaderMap::new();
//! staso::span("call-tool", staso::SpanKind::Tool, |_| inject(&mut outgoing));
//! // … on the receiving side:
//! if let Some(remote) = extract(&outgoing) {
//!     remote.in_scope(|| { /* spans here are children of the caller's span */ });
//! }
//! ```

pub use staso_core::propagation::{
    BAGGAGE, BAGGAGE_AGENT, BAGGAGE_SESSION, BAGGAGE_USER, RemoteContext, TRACEPARENT,
    current_traceparent, extract, inject, invalid_headers, parse_traceparent,
};

#[cfg(feature = "tower")]
mod tower;
#[cfg(feature = "tower")]
pub use tower::{TraceContextLayer, TraceContextService};

#[cfg(feature = "reqwest-middleware")]
mod middleware;
#[cfg(feature = "reqwest-middleware")]
pub use middleware::TraceContextMiddleware;
