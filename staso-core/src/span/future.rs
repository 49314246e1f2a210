//! Async spans: the future of an instrumented async fn, current on every poll.

use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};

use std::borrow::Cow;

use crate::capture::Outcome;
use crate::context::{self, Frame};
use crate::record::{CallSite, Role};
use crate::shared_str::SharedStr;
use crate::thread_state;

use super::fn_span::{ActiveSpan, Capture, recording_flags};
use super::scope::{export_cached, new_record_and_frame};

pin_project_lite::pin_project! {
    /// The future of an instrumented async fn (see [`AsyncSpan::run_async`]).
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
        let (inner, span, classify) = (this.inner, &mut *this.span, &mut *this.classify);
        // One thread-local access per poll: the frame is swapped in and out, and on completion
        // the record is settled and handed to the cached client's exporter, all through it.
        let polled = thread_state::with_live(|s| {
            let polled = context::in_frame_of(&s.frame, frame, || {
                catch_unwind(AssertUnwindSafe(|| inner.poll(cx)))
            });
            if let Ok(Poll::Ready(value)) = &polled {
                let outcome = match classify.take() {
                    Some(classify) => {
                        catch_unwind(AssertUnwindSafe(|| classify(value))).unwrap_or_default()
                    }
                    None => Outcome::Skipped,
                };
                if let Some(mut record) = span.record.take() {
                    ActiveSpan::settle(&mut record, outcome);
                    export_cached(&s.client, record);
                }
            }
            polled
        });
        match polled {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(ready) => {
                *this.frame = None;
                ready
            }
            Err(payload) => {
                this.span.fail_with_panic(&*payload);
                *this.frame = None;
                resume_unwind(payload)
            }
        }
    }
}

/// The span of an instrumented async fn between entry and its future: the record and the frame
/// the future will run under, both taken in one thread-local access ([`enter_async`]).
pub struct AsyncSpan {
    span: ActiveSpan,
    frame: Option<Frame>,
}

/// Creates the span of an instrumented async fn. `capture` runs only when the span records.
#[inline]
pub fn enter_async(site: &'static CallSite, capture: impl FnOnce(&mut Capture<'_>)) -> AsyncSpan {
    if !crate::client::is_recording() || thread_state::skip_spans() {
        return AsyncSpan {
            span: ActiveSpan::NONE,
            frame: None,
        };
    }
    let (span, frame) = begin_async(site);
    AsyncSpan {
        span: span.capture(site, capture),
        frame,
    }
}

/// The part of [`enter_async`] that does not depend on the capture closure.
fn begin_async(site: &'static CallSite) -> (ActiveSpan, Option<Frame>) {
    let agent = (site.role == Role::Agent).then_some(SharedStr::Static(site.name));
    let Some((record, frame)) = new_record_and_frame(Cow::Borrowed(site.name), site.kind, agent)
    else {
        return (ActiveSpan::NONE, None);
    };
    // The root of a dropped trace has no record: its frame alone, not recording, makes its
    // children skip on every poll.
    let Some(mut record) = record else {
        return (ActiveSpan::NONE, Some(frame));
    };
    record.site = Some(site);
    let span = ActiveSpan {
        record: Some(record),
        flags: recording_flags(site, false),
    };
    (span, Some(frame))
}

impl AsyncSpan {
    /// Whether the output will be captured (so the macro serializes it only then).
    #[inline]
    pub fn records_output(&self) -> bool {
        self.span.records_output()
    }

    /// Whether the span records at all.
    #[inline]
    pub fn is_recording(&self) -> bool {
        self.span.is_recording()
    }

    /// Wraps the async body: the span is current on every poll; when the future completes its
    /// outcome is recorded and the span emitted.
    pub fn run_async<F, C>(self, future: F, classify: C) -> SpanFuture<F, C>
    where
        F: Future,
        C: FnOnce(&F::Output) -> Outcome,
    {
        SpanFuture {
            inner: future,
            span: self.span,
            frame: self.frame,
            classify: Some(classify),
        }
    }
}
