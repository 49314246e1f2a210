//! A response body recorded as it streams to the caller: each data frame is fed to the stream
//! recorder (which keeps only the accumulated reply), the span ends at the stream's terminal
//! event or last frame, on an error, or when the body is dropped unfinished (`Cancelled`).
//!
//! With the guard on, a streamed reply that asked for tools is checked when its terminal event
//! arrives: the frame holding that event is held back until the guard answers, and a block
//! replaces it with an error (the caller's stream fails instead of completing). Earlier frames
//! have already reached the caller, so `modify` cannot rewrite a streamed tool call.

use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;
use std::task::{Context as TaskContext, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use staso_core::Context;
use staso_core::guard::GuardBlocked;
use staso_core::llm::{GuardCheck, LlmStreamRecorder};

type BoxError = Box<dyn std::error::Error + Send + Sync>;
type GuardFuture = Pin<Box<dyn Future<Output = Option<GuardBlocked>> + Send>>;

pin_project_lite::pin_project! {
    pub(crate) struct RecordedBody<B> {
        #[pin]
        inner: B,
        recorder: Option<LlmStreamRecorder>,
        guard_on: bool,
        ctx: Context,
        // A guard check in flight (in a `Mutex` only to make the body `Sync`, as `reqwest::Body`
        // requires; it is polled through `get_mut`, never locked), and the frame it holds back.
        pending: Option<Mutex<GuardFuture>>,
        held: Option<Frame<Bytes>>,
    }
}

impl<B> RecordedBody<B> {
    pub(crate) fn new(inner: B, recorder: LlmStreamRecorder, guard_on: bool) -> Self {
        let ctx = recorder.context();
        RecordedBody {
            inner,
            recorder: Some(recorder),
            guard_on,
            ctx,
            pending: None,
            held: None,
        }
    }
}

/// Ends the recording; returns a guard check to wait for when the reply asked for tools.
fn settle(recorder: LlmStreamRecorder, guard_on: bool, ctx: &Context) -> Option<GuardFuture> {
    if !guard_on {
        recorder.finish();
        return None;
    }
    let (scope, reply) = recorder.into_reply();
    if reply.tool_calls().is_empty() {
        scope.finish(reply, None);
        return None;
    }
    let ctx = ctx.clone();
    Some(Box::pin(async move {
        let mut check = GuardCheck::run(&reply, &ctx).await;
        scope.finish(reply, Some(&check));
        check.take_blocked()
    }))
}

impl<B> Body for RecordedBody<B>
where
    B: Body,
    B::Data: Into<Bytes>,
    B::Error: Into<BoxError> + std::fmt::Display,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.project();
        if let Some(fut) = this.pending.as_mut() {
            let fut = fut.get_mut().unwrap_or_else(|e| e.into_inner());
            let blocked = std::task::ready!(fut.as_mut().poll(cx));
            *this.pending = None;
            let held = this.held.take();
            return Poll::Ready(match blocked {
                Some(b) => Some(Err(Box::new(b))),
                None => held.map(Ok),
            });
        }
        let mut inner = this.inner;
        let frame = std::task::ready!(inner.as_mut().poll_frame(cx));
        match frame {
            Some(Ok(f)) => {
                let f = f.map_data(Into::into);
                if let (Some(data), Some(r)) = (f.data_ref(), this.recorder.as_mut()) {
                    r.feed_bytes(data);
                }
                // A consumer may stop reading at the terminal event or once the body says it has
                // ended: the call is complete here.
                let complete =
                    this.recorder.as_ref().is_some_and(|r| r.is_done()) || inner.is_end_stream();
                if complete
                    && let Some(r) = this.recorder.take()
                    && let Some(fut) = settle(r, *this.guard_on, this.ctx)
                {
                    *this.pending = Some(Mutex::new(fut));
                    *this.held = Some(f);
                    cx.waker().wake_by_ref();
                    return Poll::Pending;
                }
                Poll::Ready(Some(Ok(f)))
            }
            Some(Err(e)) => {
                if let Some(r) = this.recorder.take() {
                    r.fail(e.to_string(), "BodyError");
                }
                Poll::Ready(Some(Err(e.into())))
            }
            None => {
                if let Some(r) = this.recorder.take()
                    && let Some(fut) = settle(r, *this.guard_on, this.ctx)
                {
                    *this.pending = Some(Mutex::new(fut));
                    cx.waker().wake_by_ref();
                    return Poll::Pending;
                }
                Poll::Ready(None)
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.pending.is_none() && self.held.is_none() && self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
