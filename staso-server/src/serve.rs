//! The accept loop: one hyper HTTP/1 connection per accepted socket, with the protections
//! `axum::serve` does not offer — a deadline for each request head (which also closes idle
//! keep-alive connections), an idle timeout when no byte moves and no handler runs (a client that
//! stops reading its answer), a cap on open connections answered with 503, and a graceful
//! shutdown bounded by a grace period.
//!
//! Written after `axum::serve` (axum 0.8, `serve/mod.rs`): same accept-error handling, same
//! `TowerToHyperService` bridge and the same watch-channel graceful shutdown, plus the limits.

use std::convert::Infallible;
use std::io;
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderValue, Response, StatusCode, header};
use hyper::server::conn::http1;
use hyper::service::Service as _;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, oneshot, watch};
use tokio::task::JoinSet;
use tokio::time::Instant;

/// Default deadline for a request head: [`ConnectionLimits::header_timeout`].
pub const DEFAULT_HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// Default idle timeout: [`ConnectionLimits::idle_timeout`].
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// Default cap on open connections: [`ConnectionLimits::max_connections`].
pub const DEFAULT_MAX_CONNECTIONS: usize = 512;
/// Default grace period of a shutdown: [`ConnectionLimits::shutdown_grace`].
pub const DEFAULT_SHUTDOWN_GRACE: Duration = Duration::from_secs(5);
/// How long a connection over the cap may take to be told 503 before it is dropped.
const REFUSAL_DEADLINE: Duration = Duration::from_secs(1);
/// Pause after an accept error that is not the peer's fault (e.g. out of file descriptors).
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_secs(1);

/// Per-connection limits of the accept loop.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    /// Time allowed to receive a request head, counted from when the server starts waiting for
    /// it: right after accepting, and after each response on a keep-alive connection (so it is
    /// also the idle timeout). The connection is closed when it passes.
    pub header_timeout: Duration,
    /// Time a connection may go with no byte read or written while no handler runs on it (a
    /// client that stops reading its answer); it is closed after.
    pub idle_timeout: Duration,
    /// Open connections served at once; the next ones are answered 503 and closed.
    pub max_connections: usize,
    /// After a shutdown request, how long in-flight requests may take before their connections
    /// are closed.
    pub shutdown_grace: Duration,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        ConnectionLimits {
            header_timeout: DEFAULT_HEADER_TIMEOUT,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            shutdown_grace: DEFAULT_SHUTDOWN_GRACE,
        }
    }
}

/// Serves `app` on `listener` until `stop` fires (or its sender is dropped); then stops accepting
/// at once, lets open connections finish their requests for at most `limits.shutdown_grace`, and
/// closes whatever is left.
pub(crate) async fn serve(
    listener: TcpListener,
    app: Router,
    limits: ConnectionLimits,
    mut stop: oneshot::Receiver<()>,
) {
    let (closing_tx, closing_rx) = watch::channel(false);
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let mut connections = JoinSet::new();
    loop {
        let stream = tokio::select! {
            _ = &mut stop => break,
            // Reap finished connections so the set does not grow with the server's lifetime.
            Some(_) = connections.join_next(), if !connections.is_empty() => continue,
            accepted = listener.accept() => match accepted {
                Ok((stream, _peer)) => stream,
                Err(e) => {
                    on_accept_error(e).await;
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        match Arc::clone(&slots).try_acquire_owned() {
            Ok(slot) => connections.spawn(serve_connection(
                stream,
                app.clone(),
                limits,
                closing_rx.clone(),
                slot,
            )),
            Err(_) => connections.spawn(refuse_connection(stream)),
        };
    }
    drop(listener);
    let _ = closing_tx.send(true);
    let drained = tokio::time::timeout(limits.shutdown_grace, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        log::warn!(
            "staso-server: {} connection(s) still open after the {:?} shutdown grace period; closing them",
            connections.len(),
            limits.shutdown_grace
        );
        connections.shutdown().await;
    }
}

async fn serve_connection(
    stream: TcpStream,
    app: Router,
    limits: ConnectionLimits,
    mut closing: watch::Receiver<bool>,
    _slot: OwnedSemaphorePermit,
) {
    let activity = Arc::new(Activity::new());
    let io = TokioIo::new(IdleIo {
        inner: stream,
        activity: Arc::clone(&activity),
    });
    let app = TowerToHyperService::new(app);
    let handlers = Arc::clone(&activity);
    let service = hyper::service::service_fn(move |request| {
        let running = HandlerRunning::enter(Arc::clone(&handlers));
        let answer = app.call(request);
        async move {
            let answer = answer.await;
            drop(running);
            answer
        }
    });
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout);
    let conn = builder.serve_connection(io, service);
    let mut conn = pin!(conn);
    let mut shutting_down = false;
    loop {
        let idle_check = activity.next_idle_check(limits.idle_timeout);
        tokio::select! {
            _ = tokio::time::sleep_until(idle_check) => {
                if activity.is_idle(limits.idle_timeout) {
                    log::debug!("staso-server: closing a connection idle for {:?}", limits.idle_timeout);
                    return;
                }
            }
            result = conn.as_mut() => {
                if let Err(e) = result {
                    log::debug!("staso-server: connection closed: {e}");
                }
                return;
            }
            _ = closing.wait_for(|closing| *closing), if !shutting_down => {
                // Finishes the request in flight, if any, then closes; an idle connection (or
                // one still sending its head) closes at once.
                conn.as_mut().graceful_shutdown();
                shutting_down = true;
            }
        }
    }
}

/// When a connection last moved a byte, and how many handlers run on it.
#[derive(Debug)]
struct Activity {
    opened: Instant,
    last_io_ms: AtomicU64,
    handlers: AtomicUsize,
}

impl Activity {
    fn new() -> Self {
        Activity {
            opened: Instant::now(),
            last_io_ms: AtomicU64::new(0),
            handlers: AtomicUsize::new(0),
        }
    }

    fn touch(&self) {
        let ms = u64::try_from(self.opened.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_io_ms.store(ms, Ordering::Relaxed);
    }

    fn last_io(&self) -> Instant {
        self.opened + Duration::from_millis(self.last_io_ms.load(Ordering::Relaxed))
    }

    fn is_idle(&self, idle: Duration) -> bool {
        self.handlers.load(Ordering::Relaxed) == 0 && self.last_io().elapsed() >= idle
    }

    /// When to look again: a running handler is never idle, so check a full period later.
    fn next_idle_check(&self, idle: Duration) -> Instant {
        if self.handlers.load(Ordering::Relaxed) > 0 {
            Instant::now() + idle
        } else {
            (self.last_io() + idle).max(Instant::now() + Duration::from_millis(10))
        }
    }
}

/// Counts a handler as running until dropped (also when its future is cancelled).
struct HandlerRunning(Arc<Activity>);

impl HandlerRunning {
    fn enter(activity: Arc<Activity>) -> Self {
        activity.handlers.fetch_add(1, Ordering::Relaxed);
        HandlerRunning(activity)
    }
}

impl Drop for HandlerRunning {
    fn drop(&mut self) {
        self.0.handlers.fetch_sub(1, Ordering::Relaxed);
        self.0.touch();
    }
}

/// A socket that records in [`Activity`] when it last moved a byte.
struct IdleIo {
    inner: TcpStream,
    activity: Arc<Activity>,
}

impl AsyncRead for IdleIo {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            this.activity.touch();
        }
        polled
    }
}

impl AsyncWrite for IdleIo {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_write(cx, data);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            this.activity.touch();
        }
        polled
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_write_vectored(cx, bufs);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            this.activity.touch();
        }
        polled
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

/// Answers 503 to a connection over the cap and closes it, within a short deadline.
async fn refuse_connection(stream: TcpStream) {
    let service = hyper::service::service_fn(|_request| async {
        Ok::<_, Infallible>(busy_response(
            "too many open connections; retry shortly",
            Duration::from_secs(1),
        ))
    });
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(REFUSAL_DEADLINE)
        .keep_alive(false);
    let conn = builder.serve_connection(TokioIo::new(stream), service);
    let _ = tokio::time::timeout(REFUSAL_DEADLINE * 2, conn).await;
}

/// 503 with `Retry-After`, `Connection: close` and the server's JSON error shape
/// (`{"error", "detail"}`).
pub(crate) fn busy_response(detail: &str, retry_after: Duration) -> Response<Body> {
    let body = serde_json::json!({ "error": "server_busy", "detail": detail });
    let mut response = Response::new(Body::from(body.to_string()));
    *response.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.insert(
        header::RETRY_AFTER,
        HeaderValue::from(retry_after.as_secs().max(1)),
    );
    // The request's body (if any) was not read: the connection cannot carry another request.
    headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}

async fn on_accept_error(e: io::Error) {
    if matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    ) {
        return;
    }
    // Most likely out of file descriptors: wait for connections to close rather than spin.
    log::error!("staso-server: accept error: {e}");
    tokio::time::sleep(ACCEPT_ERROR_PAUSE).await;
}
