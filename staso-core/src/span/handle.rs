//! The [`Span`] handle: a manual span it owns ([`Span::start`]), or the current span of the
//! context, owned elsewhere ([`Span::current`]). Its setters are in `setters.rs`.
//!
//! ```
//! use staso_core::{SpanKind, span};
//! let total = span("score-docs", SpanKind::Chain, |s| {
//!     s.set_metadata("n", 3);
//!     s.set_output(&42);
//!     42
//! });
//! assert_eq!(total, 42);
//! ```

use std::borrow::Cow;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::pin::Pin;
use std::sync::{Mutex, MutexGuard};
use std::task::{Context as TaskContext, Poll};

use super::current;
use super::polled::Polled;
use super::scope::{Built, emit, new_root_span, new_span, parent_ref};
use crate::capture::panic_message;
use crate::config::CapturePolicy;
use crate::context::{self, Context, ContextGuard, Frame, ParentRef};
use crate::kind::{SpanKind, SpanStatus};
use crate::record::SpanRecord;
use crate::report::EnqueueResult;
use crate::thread_state::{self, with_recording_client};

/// A span handle. Setters take `&self`, so the handle can be shared with the code it measures.
///
/// - [`Span::start`] (and [`span`](crate::span), …) create a span the handle owns: it is
///   emitted by [`Span::end`] or when the handle is dropped; [`Span::drop_span`] discards it.
/// - [`Span::current`] gives a handle to the innermost recording span of the context (an
///   instrumented fn's span, a manual span, across `.await` and the spawn helpers): its setters
///   land in that span's record, which its owner emits when it ends; ending or dropping this
///   handle does nothing to the span.
///
/// When nothing records (no client, disabled client, inside a dropped span) the handle is a no-op
/// and every setter does nothing.
pub struct Span {
    state: Mutex<State>,
    pub(super) ids: Option<ParentRef>,
    /// A handle to a span owned elsewhere ([`Span::current`]).
    borrowed: bool,
}

struct State {
    record: Option<Box<SpanRecord>>,
    policy: CapturePolicy,
    ended: bool,
}

impl std::fmt::Debug for Span {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Span")
            .field("ids", &self.ids)
            .field("current", &self.borrowed)
            .finish()
    }
}

/// A span name: a `&str` (copied), a `String` (moved), a `&String`, or a `Cow<'static, str>`.
pub trait SpanName {
    /// The name.
    fn into_span_name(self) -> Cow<'static, str>;
}

impl SpanName for &str {
    fn into_span_name(self) -> Cow<'static, str> {
        Cow::Owned(self.to_owned())
    }
}

impl SpanName for String {
    fn into_span_name(self) -> Cow<'static, str> {
        Cow::Owned(self)
    }
}

impl SpanName for &String {
    fn into_span_name(self) -> Cow<'static, str> {
        Cow::Owned(self.clone())
    }
}

impl SpanName for Cow<'static, str> {
    fn into_span_name(self) -> Cow<'static, str> {
        self
    }
}

impl Span {
    #[inline]
    fn owning(built: Option<Built>, policy: Option<CapturePolicy>) -> Span {
        let (record, ids) = match built {
            Some(Built::Record(record)) => {
                let ids = parent_ref(&record);
                (Some(record), Some(ids))
            }
            // The root of a dropped trace: its ids (not recording), no record.
            Some(Built::DroppedRoot(ids)) => (None, Some(ids)),
            None => (None, None),
        };
        Span {
            state: Mutex::new(State {
                record,
                policy: policy.unwrap_or_default(),
                ended: false,
            }),
            ids,
            borrowed: false,
        }
    }

    /// Starts a span as a child of the current span (not made current: see [`Span::in_scope`]).
    pub fn start(name: impl SpanName, kind: SpanKind) -> Span {
        if thread_state::skip_spans() {
            // Under a span that does not record (a dropped trace's root): nothing to look up.
            return Span::owning(None, None);
        }
        let policy = with_recording_client(|c| c.policy);
        let built = policy.and_then(|_| new_span(|| name.into_span_name(), kind));
        Span::owning(built, policy)
    }

    /// The handle of the root of a trace head sampling dropped, made current elsewhere
    /// (`manual.rs`): its ids, no record.
    pub(super) fn dropped_root(ids: ParentRef) -> Span {
        Span::owning(Some(Built::DroppedRoot(ids)), None)
    }

    /// Starts a span as the root of a new trace, even when a span is current (the conversation,
    /// user and agent of the context are kept).
    pub fn start_root(name: impl SpanName, kind: SpanKind) -> Span {
        let policy = with_recording_client(|c| c.policy);
        let built = policy.and_then(|_| new_root_span(|| name.into_span_name(), kind));
        Span::owning(built, policy)
    }

    /// A handle to the innermost recording span of the current context, or a no-op handle when
    /// nothing records.
    ///
    /// ```
    /// use staso_core::{Span, SpanKind, span};
    /// fn call_model() -> String {
    ///     // deep inside the span, without its handle:
    ///     Span::current().set_model("gpt-4o");
    ///     "hi".to_owned()
    /// }
    /// let reply = span("chat", SpanKind::Llm, |_| call_model());
    /// # assert_eq!(reply, "hi");
    /// ```
    #[inline]
    pub fn current() -> Span {
        // Nothing records (always so with the `off` feature): no context lookup either.
        let cur = if crate::client::is_recording() {
            context::with_current(|f| f.span).filter(|p| p.recording)
        } else {
            None
        };
        let policy = cur.and_then(|_| with_recording_client(|c| c.policy));
        let (ids, policy) = match (cur, policy) {
            (Some(p), Some(policy)) => {
                current::open(p.span_id);
                (Some(p), policy)
            }
            _ => (None, CapturePolicy::default()),
        };
        Span {
            state: Mutex::new(State {
                record: None,
                policy,
                ended: false,
            }),
            ids,
            borrowed: true,
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The capture policy when the span records, `None` for a no-op handle.
    pub(super) fn policy(&self) -> Option<CapturePolicy> {
        if cfg!(feature = "off") {
            return None;
        }
        if self.borrowed {
            return self.ids.map(|_| self.lock().policy);
        }
        let st = self.lock();
        st.record.as_ref().map(|_| st.policy)
    }

    /// Applies `f` to the span's record: at once for an owned span, when its owner emits it for
    /// a [`Span::current`] handle.
    pub(super) fn with_record(
        &self,
        f: impl FnOnce(&mut SpanRecord, &CapturePolicy) + Send + 'static,
    ) {
        if cfg!(feature = "off") {
            return;
        }
        if self.borrowed {
            if let Some(ids) = self.ids {
                let policy = self.lock().policy;
                current::push(ids.span_id, Box::new(move |r| f(r, &policy)));
            }
            return;
        }
        let mut st = self.lock();
        let policy = st.policy;
        if let Some(r) = st.record.as_mut() {
            f(r, &policy);
        }
    }

    /// Whether the span records (it will be emitted unless dropped). True until it ends for the
    /// root of a trace head sampling dropped too (which has no record and is never sent): its
    /// `tracing` bridge span must still carry it, so that its subtree stays in the dropped trace.
    pub fn is_recording(&self) -> bool {
        if cfg!(feature = "off") {
            return false;
        }
        if self.borrowed {
            return self.ids.is_some_and(|p| current::is_open(p.span_id));
        }
        let st = self.lock();
        st.record.is_some() || (!st.ended && self.ids.is_some_and(|p| !p.recording))
    }

    /// The trace id (8-4-4-4-12), `None` for a no-op span.
    pub fn trace_id(&self) -> Option<String> {
        self.ids.map(|p| p.trace_id.to_string())
    }

    /// The span id, `None` for a no-op span.
    pub fn span_id(&self) -> Option<String> {
        self.ids.map(|p| p.span_id.to_string())
    }

    /// The typed trace id, `None` for a no-op span.
    pub fn trace(&self) -> Option<crate::ids::TraceId> {
        self.ids.map(|p| p.trace_id)
    }

    /// Discards the span: it is never emitted, and spans started under it while it is current
    /// are no-ops. Through a [`Span::current`] handle, the span is discarded when its owner ends
    /// it.
    pub fn drop_span(&self) {
        if self.borrowed {
            if let Some(me) = self.ids {
                current::drop_span(me.span_id);
            }
        } else {
            let mut st = self.lock();
            st.record = None;
            st.ended = true;
            drop(st);
            if let Some(me) = self.ids {
                current::close(me.span_id);
            }
        }
        if let Some(me) = self.ids {
            context::with_current_mut(|f| {
                if let Some(cur) = f.span.as_mut()
                    && cur.span_id == me.span_id
                {
                    // The entry shortcut (`thread_state::Shortcut::frame`) is left alone: its spans
                    // find the parent not recording the slow way.
                    cur.recording = false;
                }
            });
        }
    }

    /// Ends and emits the span. Returns the exporter's answer, or `None` when the span was a
    /// no-op, dropped, already ended (ending is idempotent), or is a [`Span::current`] handle
    /// (its owner ends that span).
    #[cfg_attr(feature = "off", inline)]
    pub fn end(&self) -> Option<EnqueueResult> {
        if cfg!(feature = "off") || self.borrowed {
            return None;
        }
        let record = self.lock().take_for_end()?;
        emit(record)
    }

    #[cfg_attr(feature = "off", inline)]
    pub(super) fn child_frame(&self) -> Option<Frame> {
        let ids = self.ids?;
        let mut frame = context::with_current(Frame::clone);
        frame.span = Some(ParentRef {
            recording: ids.recording && self.is_recording(),
            ..ids
        });
        Some(frame)
    }

    pub(super) fn record_panic(&self, payload: &(dyn std::any::Any + Send)) {
        let message = panic_message(payload);
        self.with_record(move |r, _| mark_panicked(r, message));
    }

    /// Runs `f` with this span current (spans created inside are its children). A panic is
    /// recorded on the span and continues.
    pub fn in_scope<R>(&self, f: impl FnOnce() -> R) -> R {
        if cfg!(feature = "off") {
            return f();
        }
        let Some(mut frame) = self.child_frame() else {
            return f();
        };
        match context::in_frame(&mut frame, || catch_unwind(AssertUnwindSafe(f))) {
            Ok(v) => v,
            Err(payload) => {
                self.record_panic(&*payload);
                resume_unwind(payload)
            }
        }
    }

    /// The context in which this span is current (the caller's context for a no-op span): attach
    /// it where work for this span runs (`span.context().in_scope(..)`, `.wrap(future)`,
    /// `.attach()`).
    pub fn context(&self) -> Context {
        match self.child_frame() {
            Some(frame) => Context::from_frame(frame),
            None => Context::current(),
        }
    }

    /// Makes this span current on this thread until the guard is dropped (see
    /// [`Context::attach`]; prefer [`Span::in_scope`], which records panics and cannot be
    /// misnested).
    pub fn enter(&self) -> ContextGuard {
        self.context().attach()
    }

    /// Wraps a future so this span is current whenever it is polled; a panic is recorded.
    pub fn in_scope_async<F: Future>(&self, future: F) -> InSpan<'_, F> {
        InSpan::new(future, Polled::of_frame(self.child_frame()), self)
    }
}

impl Drop for Span {
    // With the `off` feature the whole span API folds away in the caller.
    #[cfg_attr(feature = "off", inline)]
    fn drop(&mut self) {
        if cfg!(feature = "off") || self.borrowed {
            return;
        }
        // Owned: no lock to take.
        let st = self.state.get_mut().unwrap_or_else(|e| e.into_inner());
        if st.ended {
            return;
        }
        if std::thread::panicking()
            && let Some(r) = st.record.as_mut()
            && r.status == SpanStatus::Ok
        {
            mark_panicked(r, "panicked".to_owned());
        }
        if let Some(record) = st.take_for_end() {
            emit(record);
        }
    }
}

impl State {
    /// Ends the span (idempotent): its record, with its duration, when it has one to emit.
    fn take_for_end(&mut self) -> Option<Box<SpanRecord>> {
        if self.ended {
            return None;
        }
        self.ended = true;
        let mut record = self.record.take()?;
        record.duration = crate::time::since(record.start);
        Some(record)
    }
}

/// Marks `r` failed by a panic with `message`.
fn mark_panicked(r: &mut SpanRecord, message: String) {
    r.status = SpanStatus::Error;
    r.error_message = Some(message);
    r.exception_type = Some(Cow::Borrowed("panic"));
}

pin_project_lite::pin_project! {
    /// A future running under a [`Span`] (see [`Span::in_scope_async`]).
    #[must_use = "futures do nothing unless polled"]
    pub struct InSpan<'a, F> {
        #[pin]
        inner: F,
        current: Polled,
        span: &'a Span,
    }
}

impl<'a, F> InSpan<'a, F> {
    /// `inner` run under `current`, its panics recorded on `span`.
    pub(super) fn new(inner: F, current: Polled, span: &'a Span) -> Self {
        InSpan {
            inner,
            current,
            span,
        }
    }
}

impl<F: Future> Future for InSpan<'_, F> {
    type Output = F::Output;
    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<F::Output> {
        let this = self.project();
        let inner = this.inner;
        match this.current.run(|| inner.poll(cx)) {
            Ok(p) => p,
            Err(payload) => {
                this.span.record_panic(&*payload);
                resume_unwind(payload)
            }
        }
    }
}
