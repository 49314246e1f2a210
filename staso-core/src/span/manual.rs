//! Manual spans: [`span`], [`span_async`] and the [`Span`] handle.
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

use serde::Serialize;

use super::scope::{emit, new_record};
use crate::annotation::{Annotation, AnnotationError, AnnotationValue};
use crate::capture::document;
use crate::capture::{panic_message, short_type_name};
use crate::client::current_client;
use crate::config::CapturePolicy;
use crate::config::{OPERATIONAL_ALLOW_LIST, input_allowed};
use crate::context::{self, Frame, ParentRef};
use crate::kind::{SpanKind, SpanStatus};
use crate::record::SpanRecord;
use crate::report::EnqueueResult;
use crate::thread_state::with_recording_client;

/// Optional text for [`Span::set_status`] and [`Span::annotate`]: `"text"`, a `String`, or
/// `None`/`Some("text")`.
pub trait StatusDescription {
    /// The description, if any.
    fn into_description(self) -> Option<String>;
}

impl StatusDescription for &str {
    fn into_description(self) -> Option<String> {
        Some(self.to_owned())
    }
}

impl StatusDescription for String {
    fn into_description(self) -> Option<String> {
        Some(self)
    }
}

impl StatusDescription for &String {
    fn into_description(self) -> Option<String> {
        Some(self.clone())
    }
}

impl StatusDescription for Option<&str> {
    fn into_description(self) -> Option<String> {
        self.map(str::to_owned)
    }
}

/// A manually created span. Setters take `&self`, so the handle can be shared with the code it
/// measures. It is emitted by [`Span::end`] or when dropped; [`Span::drop_span`] discards it.
///
/// When nothing records (no client, disabled client, inside a dropped span) the handle is a no-op
/// and every setter does nothing.
pub struct Span {
    state: Mutex<State>,
    ids: Option<ParentRef>,
}

struct State {
    record: Option<Box<SpanRecord>>,
    policy: CapturePolicy,
    ended: bool,
}

impl std::fmt::Debug for Span {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Span").field("ids", &self.ids).finish()
    }
}

impl Span {
    /// Starts a span as a child of the current span (not made current: see [`Span::in_scope`]).
    pub fn start(name: impl Into<Cow<'static, str>>, kind: SpanKind) -> Span {
        let policy = with_recording_client(|c| c.policy);
        let record = policy.and_then(|_| new_record(name.into(), kind, None));
        let ids = record.as_ref().map(|r| ParentRef {
            trace_id: r.trace_id,
            span_id: r.span_id,
            recording: true,
        });
        Span {
            state: Mutex::new(State {
                record,
                policy: policy.unwrap_or_default(),
                ended: false,
            }),
            ids,
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn with_record(&self, f: impl FnOnce(&mut SpanRecord, &CapturePolicy)) {
        let mut st = self.lock();
        let policy = st.policy;
        if let Some(r) = st.record.as_mut() {
            f(r, &policy);
        }
    }

    /// Whether the span records (it will be emitted unless dropped).
    pub fn is_recording(&self) -> bool {
        self.lock().record.is_some()
    }

    /// The trace id (8-4-4-4-12), `None` for a no-op span.
    pub fn trace_id(&self) -> Option<String> {
        self.ids.map(|p| p.trace_id.to_string())
    }

    /// The span id, `None` for a no-op span.
    pub fn span_id(&self) -> Option<String> {
        self.ids.map(|p| p.span_id.to_string())
    }

    /// Sets a metadata key (sent in `attributes`). The value is serialized only if the capture
    /// policy will send the key.
    pub fn set_metadata<T: Serialize>(&self, key: impl Into<Cow<'static, str>>, value: T) {
        let key = key.into();
        self.with_record(|r, p| {
            if p.request || OPERATIONAL_ALLOW_LIST.contains(&key.as_ref()) {
                r.set_metadata(key, to_value(&value));
            }
        });
    }

    /// Sets the input (any `Serialize` value; a falsy value such as `null` or `{}` sends `""`).
    pub fn set_input<T: Serialize>(&self, value: T) {
        self.with_record(|r, p| {
            if input_allowed(p, r.kind) {
                r.input = document(&to_value(&value));
            }
        });
    }

    /// Sets the output.
    pub fn set_output<T: Serialize>(&self, value: T) {
        self.with_record(|r, p| {
            if p.output {
                r.output = document(&to_value(&value));
            }
        });
    }

    /// Sets the status; a description also becomes the error message.
    pub fn set_status(&self, status: SpanStatus, description: impl StatusDescription) {
        let description = description.into_description();
        self.with_record(|r, _| {
            r.status = status;
            if let Some(d) = description {
                r.error_message = Some(d);
            }
        });
    }

    /// Records an error: status `error`, its `Display` as the message and its type as
    /// `exception.type`.
    pub fn record_exception<E: std::error::Error + ?Sized>(&self, error: &E) {
        let message = error.to_string();
        self.with_record(|r, _| {
            r.status = SpanStatus::Error;
            r.error_message = Some(message);
            r.exception_type = Some(Cow::Borrowed(std::any::type_name::<E>()));
        });
    }

    /// Sets the model; the first non-empty model also sets `requested_model`.
    pub fn set_model(&self, model: impl Into<String>) {
        let model = model.into();
        self.with_record(|r, _| r.set_model(model));
    }

    /// Sets the provider (`openai`, `anthropic`, …).
    pub fn set_provider(&self, provider: impl Into<String>) {
        let provider = provider.into();
        self.with_record(|r, _| r.provider = provider);
    }

    /// Sets the token counts; the total is their sum.
    pub fn set_tokens(&self, input: u64, output: u64) {
        self.with_record(|r, _| {
            r.input_tokens = input;
            r.output_tokens = output;
            r.total_tokens = input.saturating_add(output);
        });
    }

    /// Sets the reasoning effort.
    pub fn set_reasoning_effort(&self, effort: impl Into<String>) {
        let effort = effort.into();
        self.with_record(|r, _| r.reasoning_effort = effort);
    }

    /// Sets whether the provider reported usage.
    pub fn set_usage_available(&self, available: bool) {
        self.with_record(|r, _| r.usage_available = Some(available));
    }

    /// Annotates this span: `Annotation::new(trace_id, name, value).span_id(span_id)` with the
    /// comment, sent as [`Annotation::send`] does (queued on the client's delivery worker,
    /// retried, counted in the `DeliveryReport`; never blocks).
    ///
    /// A no-op span (no client, or not recording) has no ids: nothing is sent and a warning is
    /// logged when there is no client at all.
    ///
    /// # Errors
    /// [`AnnotationError::EmptyName`] for an empty name, [`AnnotationError::NonFiniteValue`] for a
    /// NaN or infinite number; nothing is sent then.
    pub fn annotate(
        &self,
        name: impl Into<String>,
        value: impl Into<AnnotationValue>,
        comment: impl StatusDescription,
    ) -> Result<(), AnnotationError> {
        let comment = comment.into_description();
        let comment = comment.as_deref();
        let Some(ids) = self.ids else {
            // The same checks as on a recording span (with a stand-in trace id), then nothing.
            let name = name.into();
            Annotation::new("-", name.as_str(), value).validate()?;
            if current_client().is_none() {
                log::warn!(
                    "staso: annotation {name:?} not sent: no client (call staso::init first)"
                );
            } else {
                log::debug!("staso: annotation {name:?} not sent: the span is not recording");
            }
            return Ok(());
        };
        let mut a =
            Annotation::new(ids.trace_id.to_string(), name, value).span_id(ids.span_id.to_string());
        a.comment = comment.map(str::to_owned);
        a.send()
    }

    /// Discards the span: it is never emitted, and spans started under it while it is current
    /// are no-ops.
    pub fn drop_span(&self) {
        let mut st = self.lock();
        st.record = None;
        st.ended = true;
        drop(st);
        if let Some(me) = self.ids {
            context::with_current_mut(|f| {
                if let Some(cur) = f.span.as_mut()
                    && cur.span_id == me.span_id
                {
                    cur.recording = false;
                }
            });
        }
    }

    /// Ends and emits the span. Returns the exporter's answer, or `None` when the span was a
    /// no-op, dropped, or already ended (ending is idempotent).
    pub fn end(&self) -> Option<EnqueueResult> {
        let mut st = self.lock();
        if st.ended {
            return None;
        }
        st.ended = true;
        let mut record = st.record.take()?;
        drop(st);
        record.duration = crate::time::since(record.start);
        emit(record)
    }

    fn child_frame(&self) -> Option<Frame> {
        let ids = self.ids?;
        let mut frame = context::with_current(Frame::clone);
        frame.span = Some(ParentRef {
            recording: self.is_recording(),
            ..ids
        });
        Some(frame)
    }

    fn record_panic(&self, payload: &(dyn std::any::Any + Send)) {
        let message = panic_message(payload);
        self.with_record(|r, _| {
            r.status = SpanStatus::Error;
            r.error_message = Some(message);
            r.exception_type = Some(Cow::Borrowed("panic"));
        });
    }

    /// Runs `f` with this span current (spans created inside are its children). A panic is
    /// recorded on the span and continues.
    pub fn in_scope<R>(&self, f: impl FnOnce() -> R) -> R {
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

    /// Wraps a future so this span is current whenever it is polled; a panic is recorded.
    pub fn in_scope_async<F: Future>(&self, future: F) -> InSpan<'_, F> {
        InSpan {
            inner: future,
            frame: self.child_frame(),
            span: self,
        }
    }
}

impl Drop for Span {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let st = self.lock();
            let unset = st
                .record
                .as_ref()
                .is_some_and(|r| r.status == SpanStatus::Ok);
            drop(st);
            if unset {
                self.record_panic(&"panicked");
            }
        }
        self.end();
    }
}

fn to_value<T: Serialize + ?Sized>(v: &T) -> serde_json::Value {
    serde_json::to_value(v).unwrap_or_else(|e| {
        serde_json::Value::String(format!(
            "<unserializable {}: {e}>",
            short_type_name(std::any::type_name::<T>())
        ))
    })
}

pin_project_lite::pin_project! {
    /// A future running under a [`Span`] (see [`Span::in_scope_async`]).
    #[must_use = "futures do nothing unless polled"]
    pub struct InSpan<'a, F> {
        #[pin]
        inner: F,
        frame: Option<Frame>,
        span: &'a Span,
    }
}

impl<F: Future> Future for InSpan<'_, F> {
    type Output = F::Output;
    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<F::Output> {
        let this = self.project();
        let Some(frame) = this.frame.as_mut() else {
            return this.inner.poll(cx);
        };
        let inner = this.inner;
        match context::in_frame(frame, || catch_unwind(AssertUnwindSafe(|| inner.poll(cx)))) {
            Ok(p) => p,
            Err(payload) => {
                this.span.record_panic(&*payload);
                resume_unwind(payload)
            }
        }
    }
}

/// Runs `f` inside a new span of the given kind (a child of the current span) and returns its
/// value. The span is current inside `f`; a panic marks it `error` and continues. To record an
/// `Err` returned by `f`, call [`Span::record_exception`] or use [`try_span`].
pub fn span<R>(
    name: impl Into<Cow<'static, str>>,
    kind: SpanKind,
    f: impl FnOnce(&Span) -> R,
) -> R {
    let s = Span::start(name, kind);
    let r = s.in_scope(|| f(&s));
    s.end();
    r
}

/// Like [`span`] for a closure returning `Result`: an `Err` marks the span `error` with the error's
/// `Display` as the message and its type as `exception.type`.
pub fn try_span<T, E: std::fmt::Display>(
    name: impl Into<Cow<'static, str>>,
    kind: SpanKind,
    f: impl FnOnce(&Span) -> Result<T, E>,
) -> Result<T, E> {
    let s = Span::start(name, kind);
    let r = s.in_scope(|| f(&s));
    if let Err(e) = &r {
        record_err(&s, e);
    }
    s.end();
    r
}

fn record_err<E: std::fmt::Display>(s: &Span, e: &E) {
    let message = e.to_string();
    s.with_record(|r, _| {
        r.status = SpanStatus::Error;
        r.error_message = Some(message);
        r.exception_type = Some(Cow::Borrowed(std::any::type_name::<E>()));
    });
}

/// The async counterpart of [`span`]: `f` is an async closure receiving the span.
///
/// ```
/// # async fn demo() {
/// use staso_core::{SpanKind, span_async};
/// let n = span_async("fetch", SpanKind::Retriever, async |s| {
///     s.set_metadata("source", "faq");
///     3
/// })
/// .await;
/// # }
/// ```
pub async fn span_async<R>(
    name: impl Into<Cow<'static, str>>,
    kind: SpanKind,
    f: impl AsyncFnOnce(&Span) -> R,
) -> R {
    let s = Span::start(name, kind);
    let r = s.in_scope_async(f(&s)).await;
    s.end();
    r
}

/// The async counterpart of [`try_span`].
pub async fn try_span_async<T, E: std::fmt::Display>(
    name: impl Into<Cow<'static, str>>,
    kind: SpanKind,
    f: impl AsyncFnOnce(&Span) -> Result<T, E>,
) -> Result<T, E> {
    let s = Span::start(name, kind);
    let r = s.in_scope_async(f(&s)).await;
    if let Err(e) = &r {
        record_err(&s, e);
    }
    s.end();
    r
}
