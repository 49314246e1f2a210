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

use super::fn_capture::Capture;
use super::fn_span::{ActiveSpan, entry_frame, recording_flags};
use super::polled::Polled;
use super::scope::{export_cached, new_record_and_frame};

pin_project_lite::pin_project! {
    /// The future of an instrumented async fn (see [`AsyncSpan::run_async`]).
    #[must_use = "futures do nothing unless polled"]
    pub struct SpanFuture<F, C> {
        #[pin]
        inner: F,
        span: ActiveSpan,
        current: Polled,
        classify: Option<C>,
    }
}

impl<F, C> Future for SpanFuture<F, C>
where
    F: Future,
    C: FnOnce(&F::Output) -> Outcome,
{
    type Output = F::Output;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<F::Output> {
        let this = self.project();
        // Nothing current (no client records): the bare poll, inline in the caller.
        if let Polled::Nothing = this.current {
            return this.inner.poll(cx);
        }
        poll_under(this.inner, this.current, this.span, this.classify, cx)
    }
}

/// [`SpanFuture::poll`] with something current (out of line, so that the disabled path stays
/// the bare poll): one poll of `inner` under `current`; on completion the record is settled and
/// emitted, on a panic the span is marked failed and the panic resumed.
#[inline(never)]
fn poll_under<F: Future, C: FnOnce(&F::Output) -> Outcome>(
    inner: Pin<&mut F>,
    current: &mut Polled,
    span: &mut ActiveSpan,
    classify: &mut Option<C>,
    cx: &mut TaskContext<'_>,
) -> Poll<F::Output> {
    let polled = match current {
        Polled::Frame(frame) => poll_in_frame(inner, frame, span, classify, cx),
        // The root of a dropped trace: no record, nothing to classify.
        _ => current.run(|| inner.poll(cx)),
    };
    match polled {
        Ok(Poll::Pending) => Poll::Pending,
        Ok(ready) => {
            // A hinted root has nothing to let go of.
            if !current.is_hinted() {
                *current = Polled::Nothing;
            }
            ready
        }
        Err(payload) => {
            span.fail_with_panic(&*payload);
            *current = Polled::Nothing;
            resume_unwind(payload)
        }
    }
}

/// One poll of `inner` with `frame` swapped in; on completion the record (if any) is settled and
/// handed to the cached client's exporter. One thread-local access for all of it.
fn poll_in_frame<F: Future, C: FnOnce(&F::Output) -> Outcome>(
    inner: Pin<&mut F>,
    frame: &mut Frame,
    span: &mut ActiveSpan,
    classify: &mut Option<C>,
    cx: &mut TaskContext<'_>,
) -> std::thread::Result<Poll<F::Output>> {
    thread_state::with_live(|s| {
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
    })
}

/// The span of an instrumented async fn between entry and its future: the record and what the
/// future makes current, both taken in one thread-local access ([`enter_async`]).
pub struct AsyncSpan {
    span: ActiveSpan,
    current: Polled,
}

impl AsyncSpan {
    const NONE: AsyncSpan = AsyncSpan {
        span: ActiveSpan::NONE,
        current: Polled::Nothing,
    };
}

/// Creates the span of an instrumented async fn. `capture` runs only when the span records.
///
/// The root of a trace head sampling drops outright, entered where the frame is known empty
/// (`thread_state::FrameState::known_empty`), is decided here without the thread's state and
/// hinted for each poll ([`Polled::Hinted`]).
#[inline]
pub fn enter_async(site: &'static CallSite, capture: impl FnOnce(&mut Capture<'_>)) -> AsyncSpan {
    let Some(entry) = entry_frame() else {
        return AsyncSpan::NONE;
    };
    if entry.known_empty()
        && let Some(current) = dropped_root_at_empty(site)
    {
        return AsyncSpan {
            span: ActiveSpan::NONE,
            current,
        };
    }
    let (span, frame) = begin_async(site);
    AsyncSpan {
        span: span.capture(site, capture),
        current: Polled::of_frame(frame),
    }
}

/// The root of a trace head sampling drops outright, for an entry that found the frame known
/// empty; `None` otherwise (the frame is read then, and the same ids drawn).
#[inline(never)]
fn dropped_root_at_empty(site: &'static CallSite) -> Option<Polled> {
    if site.role == Role::Agent {
        let root = thread_state::decide_dropped_root_at_empty(Some(site.name))?;
        return Some(Polled::HintedAgent(root, site.name));
    }
    thread_state::decide_dropped_root_at_empty(None).map(Polled::Hinted)
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
            current: self.current,
            classify: Some(classify),
        }
    }
}
