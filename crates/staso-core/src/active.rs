//! The span of an instrumented fn, from entry to emission: what the attribute macros call.
//!
//! `enter` creates the span (or a no-op when nothing records), runs the capture closure only when
//! the span records, and emits the provisional snapshot of a root. `run` (sync) and `run_async`
//! make the span current while the body runs, classify the result, and emit the final record —
//! also when the body panics (the panic then continues) or the future is dropped unfinished.

use std::borrow::Cow;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};

use crate::capture::{CaptureBuf, ErrorInfo, Outcome, panic_message};
use crate::client::with_recording_client;
use crate::config::CapturePolicy;
use crate::context::{self, Frame, ParentRef};
use crate::emit::input_allowed;
use crate::ids::{SpanId, TraceId};
use crate::kind::SpanStatus;
use crate::record::{CallSite, Role, SpanRecord};
use crate::report::EnqueueResult;
use crate::shared_str::SharedStr;

/// What the capture closure of an attribute writes into: the input object and metadata.
pub struct Capture<'a> {
    input: Option<CaptureBuf>,
    record: &'a mut SpanRecord,
}

impl Capture<'_> {
    /// Whether the input is captured (capture_input on, category allowed).
    #[inline]
    pub fn wants_input(&self) -> bool {
        self.input.is_some()
    }

    /// Starts the input field `name` and returns the buffer to write its value into.
    pub fn arg(&mut self, name: &str) -> Option<&mut CaptureBuf> {
        self.input.as_mut().map(|b| b.key(name))
    }

    /// Sets a metadata key from the attribute's `metadata = {…}`.
    pub fn meta<T: serde::Serialize + ?Sized>(&mut self, key: &'static str, value: &T) {
        let v = serde_json::to_value(value).unwrap_or_else(|e| {
            serde_json::Value::String(format!(
                "<unserializable {}: {e}>",
                std::any::type_name::<T>()
            ))
        });
        self.record.set_metadata(Cow::Borrowed(key), v);
    }
}

/// Creates a span record under the current context, or `None` when nothing records (no enabled
/// client, or the current span was dropped).
#[inline]
pub(crate) fn new_record(
    name: Cow<'static, str>,
    kind: crate::kind::SpanKind,
    agent: Option<SharedStr>,
) -> Option<Box<SpanRecord>> {
    context::with_current(|frame| {
        let (trace_id, parent) = match frame.span {
            Some(p) if !p.recording => return None,
            Some(p) => (p.trace_id, Some(p.span_id)),
            None => (TraceId::random(), None),
        };
        let (span_id, start) = (SpanId::random(), crate::time::now());
        let mut record = match crate::pool::take() {
            Some(mut blank) => {
                blank.init_blank(trace_id, span_id, parent, name, kind, start);
                blank
            }
            None => Box::new(SpanRecord::new(
                trace_id, span_id, parent, name, kind, start,
            )),
        };
        record.session_id = frame.session.clone();
        record.user_id = frame.user.clone();
        record.agent_name = agent.or_else(|| frame.agent.clone());
        Some(record)
    })
}

/// Emits a record through the current client.
pub(crate) fn emit(record: Box<SpanRecord>) -> Option<EnqueueResult> {
    with_recording_client(move |c| c.exporter.as_ref().map(|e| e.export(record))).flatten()
}

/// The live span of an instrumented fn call.
pub struct ActiveSpan {
    /// Boxed once at entry, so the span moves through `run`/`finish` as a pointer.
    record: Option<Box<SpanRecord>>,
    records_output: bool,
}

/// Creates the span of an instrumented call. `capture` runs only when the span records.
#[inline]
pub fn enter(site: &'static CallSite, capture: impl FnOnce(&mut Capture<'_>)) -> ActiveSpan {
    if !crate::client::is_recording() {
        return ActiveSpan {
            record: None,
            records_output: false,
        };
    }
    enter_slow(site, capture)
}

fn enter_slow(site: &'static CallSite, capture: impl FnOnce(&mut Capture<'_>)) -> ActiveSpan {
    // The policy matters only to a site that captures something; a site with capture off skips
    // the client lookup here (emission looks the client up anyway).
    let policy = if site.capture_input || site.capture_output {
        match with_recording_client(|c| c.policy) {
            Some(p) => p,
            None => {
                return ActiveSpan {
                    record: None,
                    records_output: false,
                };
            }
        }
    } else {
        CapturePolicy::ALL
    };
    let agent = (site.role == Role::Agent).then_some(SharedStr::Static(site.name));
    let Some(mut record) = new_record(Cow::Borrowed(site.name), site.kind, agent) else {
        return ActiveSpan {
            record: None,
            records_output: false,
        };
    };
    record.site = Some(site);
    let mut input = (site.capture_input && input_allowed(&policy, site.kind)).then(CaptureBuf::new);
    if site.role == Role::Agent
        && let Some(b) = input.as_mut()
    {
        b.key("agent_name").str_value(site.name);
    }
    let mut cap = Capture {
        input,
        record: &mut record,
    };
    // A panicking Serialize impl must not break the user's call: drop the input instead.
    let captured = catch_unwind(AssertUnwindSafe(|| {
        capture(&mut cap);
        cap.input.take()
    }));
    record.input = match captured {
        Ok(buf) => buf.and_then(CaptureBuf::finish),
        Err(_) => {
            log::debug!(
                "staso: input capture of {} panicked; input dropped",
                site.name
            );
            None
        }
    };
    if record.parent_span_id.is_none() {
        emit(Box::new(record.provisional_snapshot()));
    }
    ActiveSpan {
        records_output: site.capture_output && policy.output,
        record: Some(record),
    }
}

impl ActiveSpan {
    /// Whether the output will be captured (so the macro serializes it only then).
    #[inline]
    pub fn records_output(&self) -> bool {
        self.records_output
    }

    /// Whether the span records at all.
    #[inline]
    pub fn is_recording(&self) -> bool {
        self.record.is_some()
    }

    fn parent_ref(record: &SpanRecord) -> ParentRef {
        ParentRef {
            trace_id: record.trace_id,
            span_id: record.span_id,
            recording: true,
        }
    }

    /// Runs a sync body with this span current, then records its outcome and emits the span.
    #[inline]
    pub fn run<R>(self, body: impl FnOnce() -> R, classify: impl FnOnce(&R) -> Outcome) -> R {
        if self.record.is_none() {
            // Nothing to drop (no record): skip the drop glue so the disabled path stays a branch.
            std::mem::forget(self);
            return body();
        }
        self.run_recording(body, classify)
    }

    fn run_recording<R>(
        mut self,
        body: impl FnOnce() -> R,
        classify: impl FnOnce(&R) -> Outcome,
    ) -> R {
        let Some(record) = self.record.as_ref() else {
            return body();
        };
        let me = Self::parent_ref(record);
        let agent = if record.site.is_some_and(|s| s.role == Role::Agent) {
            record.agent_name.clone()
        } else {
            None
        };
        let (saved_span, saved_agent) = context::with_current_mut(|f| {
            let s = f.span.replace(me);
            let a = agent.map(|a| f.agent.replace(a));
            (s, a)
        });
        let result = catch_unwind(AssertUnwindSafe(body));
        context::with_current_mut(|f| {
            f.span = saved_span;
            if let Some(a) = saved_agent {
                f.agent = a;
            }
        });
        match result {
            Ok(value) => {
                let outcome =
                    catch_unwind(AssertUnwindSafe(|| classify(&value))).unwrap_or_default();
                self.finish(outcome);
                value
            }
            Err(payload) => {
                self.fail_with_panic(&*payload);
                resume_unwind(payload)
            }
        }
    }

    /// Wraps an async body: the span is current on every poll; when the future completes its
    /// outcome is recorded and the span emitted.
    pub fn run_async<F, C>(self, future: F, classify: C) -> SpanFuture<F, C>
    where
        F: Future,
        C: FnOnce(&F::Output) -> Outcome,
    {
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

    /// Records the outcome, sets the duration and emits.
    fn finish(&mut self, outcome: Outcome) {
        let Some(mut record) = self.record.take() else {
            return;
        };
        match outcome {
            Outcome::Ok(output) => {
                record.status = SpanStatus::Ok;
                record.output = output;
            }
            Outcome::Err(ErrorInfo { message, type_name }) => {
                record.status = SpanStatus::Error;
                record.error_message = Some(message);
                record.exception_type = Some(type_name);
            }
            Outcome::Skipped => record.status = SpanStatus::Ok,
        }
        record.duration = record.start.elapsed();
        emit(record);
    }

    fn fail(&mut self, message: String, type_name: &'static str) {
        self.finish(Outcome::Err(ErrorInfo {
            message,
            type_name: Cow::Borrowed(type_name),
        }));
    }

    fn fail_with_panic(&mut self, payload: &(dyn std::any::Any + Send)) {
        self.fail(panic_message(payload), "panic");
    }
}

impl Drop for ActiveSpan {
    #[inline]
    fn drop(&mut self) {
        if self.record.is_some() {
            if std::thread::panicking() {
                self.fail("panicked".to_owned(), "panic");
            } else {
                self.fail(
                    "cancelled: the future was dropped before it completed".to_owned(),
                    "Cancelled",
                );
            }
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

/// Classifier for return types the macro cannot name (`impl Trait`): records a placeholder.
pub fn classify_opaque<R>(_value: &R, records_output: bool) -> Outcome {
    if !records_output {
        return Outcome::Skipped;
    }
    Outcome::Ok(CaptureBuf::result(|b| {
        b.str_value(&format!("<{}>", std::any::type_name::<R>()))
    }))
}
