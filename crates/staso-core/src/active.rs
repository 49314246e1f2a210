//! The span of an instrumented fn, from entry to emission: what the attribute macros call.
//!
//! `enter` creates the span (or a no-op when nothing records), runs the capture closure only when
//! the span records, and emits the provisional snapshot of a root. `run` (sync) and `run_async`
//! make the span current while the body runs, classify the result, and emit the final record —
//! also when the body panics (the panic then continues) or the future is dropped unfinished.

use std::borrow::Cow;
use std::cell::RefCell;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};

use crate::capture::{CaptureBuf, ErrorInfo, Outcome, panic_message};
use crate::client::{with_cached_client, with_recording_client};
use crate::config::CapturePolicy;
use crate::context::{self, Frame, ParentRef};
use crate::emit::input_allowed;
use crate::ids::TraceId;
use crate::kind::SpanStatus;
use crate::record::{CallSite, Role, SpanRecord};
use crate::report::EnqueueResult;
use crate::shared_str::SharedStr;
use crate::thread_state::{self, ClientCache, ThreadState};

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

/// Creates a span record under `frame`, in a box from this thread's pool stock, or `None` when
/// the current span was dropped (its descendants are not recorded).
#[inline]
fn build_record(
    state: &ThreadState,
    frame: &Frame,
    name: Cow<'static, str>,
    kind: crate::kind::SpanKind,
    agent: Option<SharedStr>,
) -> Option<Box<SpanRecord>> {
    let (trace_id, parent) = match frame.span {
        Some(p) if !p.recording => return None,
        Some(p) => (p.trace_id, Some(p.span_id)),
        None => (TraceId::random(), None),
    };
    let (span_id, start) = (state.span_id(), crate::time::now());
    let mut record = match crate::pool::take_from(&state.pool) {
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
}

/// Creates a span record under the current context, or `None` when nothing records (no enabled
/// client, or the current span was dropped).
pub(crate) fn new_record(
    name: Cow<'static, str>,
    kind: crate::kind::SpanKind,
    agent: Option<SharedStr>,
) -> Option<Box<SpanRecord>> {
    thread_state::with(|s| {
        let frame = s.frame.try_borrow().ok()?;
        build_record(s, &frame, name, kind, agent)
    })
    .flatten()
}

/// What a span made current replaced in the thread's frame, to put back when it ends.
struct Saved {
    span: Option<ParentRef>,
    /// `Some` for an agent span: the agent name it replaced.
    agent: Option<Option<SharedStr>>,
}

/// Creates a span record under the current context and makes it the current span, in the same
/// thread-local access. What it replaced is the record's parent (see [`restore_parent`]), so
/// nothing needs saving. Not for agent spans, which also replace the current agent.
fn enter_record(name: Cow<'static, str>, kind: crate::kind::SpanKind) -> Option<Box<SpanRecord>> {
    thread_state::with(|s| {
        let mut frame = s.frame.try_borrow_mut().ok()?;
        let record = build_record(s, &frame, name, kind, None)?;
        frame.span = Some(ActiveSpan::parent_ref(&record));
        Some(record)
    })
    .flatten()
}

/// Puts back what `record`'s span replaced as current: `saved`, or, when `None` (the span was made
/// current by [`enter_record`]), the record's parent.
fn restore(frame: &RefCell<Frame>, record: &SpanRecord, saved: Option<Saved>) {
    let Ok(mut f) = frame.try_borrow_mut() else {
        return;
    };
    match saved {
        Some(saved) => {
            f.span = saved.span;
            if let Some(a) = saved.agent {
                f.agent = a;
            }
        }
        None => restore_parent(&mut f, record),
    }
}

/// Makes `record`'s parent the current span again. A record is only created under a recording
/// span (or none, for a root), which is its parent. Written field by field: copying a temporary
/// `ParentRef` went through the stack in pieces and stalled on reading them back.
#[inline]
fn restore_parent(f: &mut Frame, record: &SpanRecord) {
    match (f.span.as_mut(), record.parent_span_id) {
        (Some(current), Some(parent)) => {
            current.trace_id = record.trace_id;
            current.span_id = parent;
            current.recording = true;
        }
        (_, parent) => {
            f.span = parent.map(|span_id| ParentRef {
                trace_id: record.trace_id,
                span_id,
                recording: true,
            })
        }
    }
}

/// Puts back the span `record` replaced as current (see [`restore`]) and emits it, in one
/// thread-local access. `saved` is `None` for a span made current by [`enter_record`]: the two
/// cases are two functions so that the common one does not copy an empty `Option<Saved>`.
fn leave_and_emit(record: Box<SpanRecord>) {
    thread_state::with(|s| {
        if let Ok(mut f) = s.frame.try_borrow_mut() {
            restore_parent(&mut f, &record);
        }
        export_cached(&s.client, record)
    });
}

/// [`leave_and_emit`] for a span made current with its previous frame saved (agents).
fn leave_saved_and_emit(record: Box<SpanRecord>, saved: Saved) {
    thread_state::with(|s| {
        restore(&s.frame, &record, Some(saved));
        export_cached(&s.client, record)
    });
}

/// Hands `record` to the exporter of the cached client.
#[inline]
fn export_cached(client: &RefCell<ClientCache>, record: Box<SpanRecord>) -> Option<EnqueueResult> {
    with_cached_client(client, |c| c.exporter.as_ref().map(|e| e.export(record))).flatten()
}

/// Emits a record through the current client.
pub(crate) fn emit(record: Box<SpanRecord>) -> Option<EnqueueResult> {
    with_recording_client(move |c| c.exporter.as_ref().map(|e| e.export(record))).flatten()
}

/// The live span of an instrumented fn call.
///
/// Two words (a pointer and a flag byte), so it travels in registers between `enter`, the
/// capture step and `run`: a struct of several `bool`s was copied through the stack byte-wise,
/// and re-reading those bytes as one word stalled the store buffer.
pub struct ActiveSpan {
    /// Boxed once at entry, so the span moves through `run`/`finish` as a pointer.
    record: Option<Box<SpanRecord>>,
    /// [`RECORDS_OUTPUT`], [`WANTS_INPUT`], [`ENTERED`].
    flags: u8,
}

/// The output will be captured.
const RECORDS_OUTPUT: u8 = 1;
/// The capture step starts an input buffer (set by `begin`, cleared by `capture`).
const WANTS_INPUT: u8 = 2;
/// The span is current on this thread ([`enter_current`]) and `run` has not taken over.
const ENTERED: u8 = 4;

impl ActiveSpan {
    const NONE: ActiveSpan = ActiveSpan {
        record: None,
        flags: 0,
    };

    /// Clears `flag`, returning whether it was set.
    #[inline]
    fn take_flag(&mut self, flag: u8) -> bool {
        let set = self.flags & flag != 0;
        self.flags &= !flag;
        set
    }
}

/// Creates the span of an instrumented call. `capture` runs only when the span records.
#[inline]
pub fn enter(site: &'static CallSite, capture: impl FnOnce(&mut Capture<'_>)) -> ActiveSpan {
    if !crate::client::is_recording() {
        return ActiveSpan::NONE;
    }
    begin(site, false).capture(site, capture)
}

/// Like [`enter`], and makes the span current on this thread at once (it stays current until
/// [`ActiveSpan::run`] returns): the form for sync fns, which saves the thread-local access `run`
/// would make. `capture` runs with the span already current.
#[inline]
pub fn enter_current(
    site: &'static CallSite,
    capture: impl FnOnce(&mut Capture<'_>),
) -> ActiveSpan {
    if !crate::client::is_recording() {
        return ActiveSpan::NONE;
    }
    begin(site, true).capture(site, capture)
}

/// The part of span entry that does not depend on the capture closure (kept out of line, so the
/// instrumented fn inlines only the capture step).
fn begin(site: &'static CallSite, current: bool) -> ActiveSpan {
    // The policy matters only to a site that captures something; a site with capture off skips
    // the client lookup here (emission looks the client up anyway).
    let policy = if site.capture_input || site.capture_output {
        match with_recording_client(|c| c.policy) {
            Some(p) => p,
            None => return ActiveSpan::NONE,
        }
    } else {
        CapturePolicy::ALL
    };
    let agent = (site.role == Role::Agent).then_some(SharedStr::Static(site.name));
    let name = Cow::Borrowed(site.name);
    // An agent span also replaces the current agent: it is made current by `run` instead.
    let entered = current && agent.is_none();
    let record = if entered {
        enter_record(name, site.kind)
    } else {
        new_record(name, site.kind, agent)
    };
    let Some(mut record) = record else {
        return ActiveSpan::NONE;
    };
    record.site = Some(site);
    let mut flags = 0;
    if site.capture_output && policy.output {
        flags |= RECORDS_OUTPUT;
    }
    if site.capture_input && input_allowed(&policy, site.kind) {
        flags |= WANTS_INPUT;
    }
    if entered {
        flags |= ENTERED;
    }
    ActiveSpan {
        record: Some(record),
        flags,
    }
}

/// The input buffer of a site that captures its input (an agent's starts with its name).
fn input_buffer(site: &'static CallSite) -> CaptureBuf {
    let mut b = CaptureBuf::new();
    if site.role == Role::Agent {
        b.key("agent_name").str_value(site.name);
    }
    b
}

/// Runs the capture closure with an input buffer and stores the finished input document.
fn capture_input(
    site: &'static CallSite,
    record: &mut SpanRecord,
    capture: impl FnOnce(&mut Capture<'_>),
) {
    let mut cap = Capture {
        input: Some(input_buffer(site)),
        record,
    };
    // A panicking Serialize impl must not break the user's call: drop the input instead.
    let captured = catch_unwind(AssertUnwindSafe(|| {
        capture(&mut cap);
        cap.input.take()
    }));
    match captured {
        Ok(buf) => record.input = buf.and_then(CaptureBuf::finish),
        Err(_) => log::debug!(
            "staso: input capture of {} panicked; input dropped",
            site.name
        ),
    }
}

/// Emits the provisional snapshot of a root span (PROTOCOL.md §2.6).
#[cold]
fn emit_provisional(record: &SpanRecord) {
    emit(Box::new(record.provisional_snapshot()));
}

impl ActiveSpan {
    /// Runs the attribute's capture closure (input arguments, metadata) on a recording span.
    #[inline]
    fn capture(mut self, site: &'static CallSite, capture: impl FnOnce(&mut Capture<'_>)) -> Self {
        let wants_input = self.take_flag(WANTS_INPUT);
        let Some(record) = self.record.as_deref_mut() else {
            return self;
        };
        if wants_input {
            capture_input(site, record, capture);
        } else {
            // No input buffer: the closure can only set metadata (for a site without any, it
            // is empty and this branch compiles to nothing).
            let mut cap = Capture {
                input: None,
                record,
            };
            if catch_unwind(AssertUnwindSafe(|| capture(&mut cap))).is_err() {
                log::debug!("staso: metadata of {} panicked", site.name);
            }
        }
        if record.parent_span_id.is_none() {
            emit_provisional(record);
        }
        self
    }

    /// Whether the output will be captured (so the macro serializes it only then).
    #[inline]
    pub fn records_output(&self) -> bool {
        self.flags & RECORDS_OUTPUT != 0
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
            // Nothing to drop (no record, so nothing saved): skip the drop glue so the disabled
            // path stays a branch.
            std::mem::forget(self);
            return body();
        }
        self.run_recording(body, classify)
    }

    /// Makes this span current (the `enter` + `run` form): what [`enter_record`] does at entry.
    fn make_current(record: &SpanRecord) -> Saved {
        let me = Self::parent_ref(record);
        let agent = if record.site.is_some_and(|s| s.role == Role::Agent) {
            record.agent_name.clone()
        } else {
            None
        };
        context::with_current_mut(|f| Saved {
            span: f.span.replace(me),
            agent: agent.map(|a| f.agent.replace(a)),
        })
    }

    fn run_recording<R>(
        mut self,
        body: impl FnOnce() -> R,
        classify: impl FnOnce(&R) -> Outcome,
    ) -> R {
        let entered = self.take_flag(ENTERED);
        let Some(record) = self.record.as_deref() else {
            return body();
        };
        // `None`: made current by `enter_current`, and what it replaced is the record's parent.
        let saved = if entered {
            None
        } else {
            Some(Self::make_current(record))
        };
        let result = catch_unwind(AssertUnwindSafe(body));
        match result {
            Ok(value) => {
                // Classified while the span is still current: a span created by a `Display` or
                // `Serialize` impl of the result is this span's child.
                let outcome =
                    catch_unwind(AssertUnwindSafe(|| classify(&value))).unwrap_or_default();
                if let Some(mut record) = self.record.take() {
                    Self::settle(&mut record, outcome);
                    match saved {
                        None => leave_and_emit(record),
                        Some(saved) => leave_saved_and_emit(record, saved),
                    }
                }
                std::mem::forget(self);
                value
            }
            Err(payload) => {
                if let Some(record) = self.record.as_deref() {
                    let _ = thread_state::with(|s| restore(&s.frame, record, saved));
                }
                self.fail_with_panic(&*payload);
                resume_unwind(payload)
            }
        }
    }

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

    /// Records the outcome and the duration.
    #[inline]
    fn settle(record: &mut SpanRecord, outcome: Outcome) {
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
        record.duration = crate::time::since(record.start);
    }

    /// Records the outcome, sets the duration and emits.
    fn finish(&mut self, outcome: Outcome) {
        let Some(mut record) = self.record.take() else {
            return;
        };
        Self::settle(&mut record, outcome);
        emit(record);
    }

    /// Puts back the current span if [`enter_current`] made this one current.
    fn leave(&mut self) {
        if self.take_flag(ENTERED)
            && let Some(record) = self.record.as_deref()
        {
            let _ = thread_state::with(|s| restore(&s.frame, record, None));
        }
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
        self.leave();
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
