//! One log line per request (`--verbose`), at `info` level with target [`TARGET`]:
//!
//! ```text
//! request method=POST route=/v1/traces/ingest status=200 duration_ms=3.1 bytes_in=2048 bytes_out=97 workspace=*
//! ```
//!
//! `route` is the matched route pattern (`/v1/traces/{trace_id}`; `-` when none matched), never
//! the raw path, and `workspace` the workspaces the request's key may use (`*` for all, `a,b`, or
//! `-` without a valid key): no key, id or payload is ever written.

use std::sync::Arc;
use std::time::Instant;

use axum::body::HttpBody;
use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;

use crate::body_budget::BodyBytesRead;
use crate::keys::KeyRing;

/// `log` target of the access lines.
pub const TARGET: &str = "staso_server::access";

/// Middleware: logs the request's outcome once its handler has answered.
pub async fn log_request(
    State(keys): State<Arc<KeyRing>>,
    request: Request,
    next: Next,
) -> Response {
    if !log::log_enabled!(target: TARGET, log::Level::Info) {
        return next.run(request).await;
    }
    let started = Instant::now();
    let method = request.method().clone();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or("-".to_owned(), |p| p.as_str().to_owned());
    let workspace = request
        .headers()
        .get(staso_wire::API_KEY_HEADER)
        .and_then(|v| v.to_str().ok())
        .and_then(|key| keys.authenticate(key))
        .map_or("-".to_owned(), |scope| {
            scope
                .workspaces()
                .map_or("*".to_owned(), |list| list.join(","))
        });
    let declared_in = request.body().size_hint().exact();
    let response = next.run(request).await;
    let bytes_in = response
        .extensions()
        .get::<BodyBytesRead>()
        .map(|read| read.0 as u64)
        .or(declared_in)
        .unwrap_or(0);
    let bytes_out = response
        .body()
        .size_hint()
        .exact()
        .map_or("?".to_owned(), |n| n.to_string());
    log::info!(
        target: TARGET,
        "request method={method} route={route} status={} duration_ms={:.1} bytes_in={bytes_in} bytes_out={bytes_out} workspace={workspace}",
        response.status().as_u16(),
        started.elapsed().as_secs_f64() * 1000.0,
    );
    response
}
