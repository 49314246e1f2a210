//! Async spans: the future of an instrumented async fn, current on every poll.

use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};

use crate::capture::Outcome;
use crate::context::{self, Frame};
use crate::record::Role;

use super::ActiveSpan;

impl ActiveSpan {
    /// Wraps an async body: the span is current on every poll; when the future completes its
    /// outcome is recorded and the span emitted.
    pub fn run_async<F, C>(mut self, future: F, classify: C) -> SpanFuture<F, C>
    where
        F: Future,
        C: FnOnce(&F::Output) -> Outcome,
    {
        // Made current by `enter_current`: the future carries its own frame instead.
        self.leave();
        let frame = self.record.as_ref().map(|record| {
            let mut frame = context::with_current(Frame::clone);
            frame.span = Some(Self::parent_ref(record));
            if record.site.is_some_and(|s| s.role == Role::Agent) {
                frame.agent = record.agent_name.clone();
            }
            frame
        });
        SpanFuture {
            inner: future,
            span: self,
            frame,
            classify: Some(classify),
        }
    }
}

pin_project_lite::pin_project! {
    /// The future of an instrumented async fn (see [`ActiveSpan::run_async`]).
    #[must_use = "futures do nothing unless polled"]
    pub struct SpanFuture<F, C> {
        #[pin]
        inner: F,
        span: ActiveSpan,
        frame: Option<Frame>,
        classify: Option<C>,
    }
}

impl<F, C> Future for SpanFuture<F, C>
where
    F: Future,
    C: FnOnce(&F::Output) -> Outcome,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<F::Output> {
        let this = self.project();
        let Some(frame) = this.frame.as_mut() else {
            return this.inner.poll(cx);
        };
        let inner = this.inner;
        let polled = context::in_frame(frame, || catch_unwind(AssertUnwindSafe(|| inner.poll(cx))));
        match polled {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(value)) => {
                let outcome = match this.classify.take() {
                    Some(classify) => {
                        catch_unwind(AssertUnwindSafe(|| classify(&value))).unwrap_or_default()
                    }
                    None => Outcome::Skipped,
                };
                this.span.finish(outcome);
                *this.frame = None;
                Poll::Ready(value)
            }
            Err(payload) => {
                this.span.fail_with_panic(&*payload);
                *this.frame = None;
                resume_unwind(payload)
            }
        }
    }
}
