//! The server-wide budget of request-body bytes in memory, and the one place bodies are read.
//!
//! Every request with a body reserves its size (its `Content-Length`, or the body limit when the
//! length is not declared) before a byte of it is read, and keeps the reservation until its handler
//! has answered: while the body, its decoded form and the rows built from it are alive. A request
//! that cannot reserve within a short wait is answered 503 with `Retry-After`. The body is read
//! into one buffer of the declared size, which the handlers' `Bytes` extractor then takes without
//! copying; a body that stalls longer than the body timeout is answered 408.

use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes, HttpBody};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http_body_util::BodyExt;
use tokio::sync::Semaphore;

use crate::error::ApiError;
use crate::serve::busy_response;

/// Default time a request waits for budget before it is answered 503.
pub const DEFAULT_BUDGET_WAIT: Duration = Duration::from_secs(2);
/// Default longest silence while a body is received before the request is answered 408.
pub const DEFAULT_BODY_TIMEOUT: Duration = Duration::from_secs(30);
/// Budget when the machine's memory is unknown: 256 MiB.
const FALLBACK_BUDGET: usize = 256 * 1024 * 1024;

/// The default budget: 1/16 of the machine's physical memory (`MemTotal` of `/proc/meminfo`),
/// or 256 MiB where that is not readable; never below `max_body_bytes`, so one largest body
/// always fits. A body costs about three times its size while it is decoded and stored, so this
/// keeps the bodies' peak under a fifth of the memory.
pub fn default_budget(max_body_bytes: usize) -> usize {
    let physical = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|info| {
            let line = info.lines().find(|l| l.starts_with("MemTotal:"))?;
            let kib: usize = line.split_whitespace().nth(1)?.parse().ok()?;
            Some(kib.saturating_mul(1024))
        });
    physical
        .map(|bytes| bytes / 16)
        .unwrap_or(FALLBACK_BUDGET)
        .max(max_body_bytes)
}

/// Marks a response with the number of body bytes its request carried (for the access log).
#[derive(Debug, Clone, Copy)]
pub(crate) struct BodyBytesRead(pub usize);

/// The budget shared by every request of a server.
#[derive(Debug)]
pub struct BodyBudget {
    permits: Arc<Semaphore>,
    total: usize,
    wait: Duration,
    body_timeout: Duration,
    max_body_bytes: usize,
}

impl BodyBudget {
    /// A budget of `total` bytes; requests wait at most `wait` for it; a body may not stall
    /// longer than `body_timeout` nor exceed `max_body_bytes`.
    pub fn new(
        total: usize,
        wait: Duration,
        body_timeout: Duration,
        max_body_bytes: usize,
    ) -> Self {
        let total = total.clamp(1, Semaphore::MAX_PERMITS);
        BodyBudget {
            permits: Arc::new(Semaphore::new(total)),
            total,
            wait,
            body_timeout,
            max_body_bytes,
        }
    }

    /// Body bytes reserved by requests in flight right now.
    pub fn in_flight(&self) -> usize {
        self.total - self.permits.available_permits()
    }

    /// The whole budget, bytes.
    pub fn total(&self) -> usize {
        self.total
    }
}

/// Middleware: reserves budget for the body, reads it, runs the handler, releases the budget.
pub async fn limit_body(
    State(budget): State<Arc<BodyBudget>>,
    request: Request,
    next: Next,
) -> Response {
    let declared = request.body().size_hint().exact();
    if declared == Some(0) {
        return next.run(request).await;
    }
    let max = budget.max_body_bytes;
    let declared = match declared.map(usize::try_from) {
        Some(Ok(n)) if n <= max => Some(n),
        Some(_) => return ApiError::TooLarge(max).into_response(),
        None => None,
    };
    // A request larger than the whole budget reserves all of it: it waits for the others.
    let want = declared
        .unwrap_or(max)
        .min(budget.total)
        .min(u32::MAX as usize);
    let reserved = tokio::time::timeout(
        budget.wait,
        Arc::clone(&budget.permits).acquire_many_owned(want as u32),
    )
    .await;
    let Ok(Ok(mut permit)) = reserved else {
        return busy_response(
            "too many request bodies in flight; retry shortly",
            budget.wait.max(Duration::from_secs(1)),
        );
    };
    let (parts, body) = request.into_parts();
    let bytes = match read_body(body, declared, max, budget.body_timeout).await {
        Ok(bytes) => bytes,
        Err(response) => return response,
    };
    let len = bytes.len();
    if len < want {
        // An undeclared length reserved the whole limit: give back what the body did not use.
        drop(permit.split(want - len));
    }
    let mut response = next
        .run(Request::from_parts(parts, Body::from(bytes)))
        .await;
    drop(permit);
    response.extensions_mut().insert(BodyBytesRead(len));
    response
}

/// Reads `body` into one buffer (sized from `declared` up front, so it is never copied to grow).
async fn read_body(
    mut body: Body,
    declared: Option<usize>,
    max: usize,
    stall: Duration,
) -> Result<Bytes, Response> {
    let mut buf = Vec::with_capacity(declared.unwrap_or(0));
    loop {
        let frame = match tokio::time::timeout(stall, body.frame()).await {
            Err(_) => return Err(body_timeout_response(stall)),
            Ok(None) => break,
            Ok(Some(Err(e))) => {
                return Err(ApiError::BadRequest(format!("body: {e}")).into_response());
            }
            Ok(Some(Ok(frame))) => frame,
        };
        if let Ok(data) = frame.into_data() {
            if buf.len() + data.len() > max {
                return Err(ApiError::TooLarge(max).into_response());
            }
            buf.extend_from_slice(&data);
        }
    }
    Ok(Bytes::from(buf))
}

fn body_timeout_response(stall: Duration) -> Response {
    let body = serde_json::json!({
        "error": "request_timeout",
        "detail": format!("no body data received for {} s", stall.as_secs_f64()),
    });
    let mut response = (StatusCode::REQUEST_TIMEOUT, axum::Json(body)).into_response();
    response
        .headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}
