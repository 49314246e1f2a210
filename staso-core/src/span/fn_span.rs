//! The span of an instrumented fn, from entry to emission: what the attribute macros call.
//!
//! `enter_current` (sync fns) and `enter_async` create the span (or a no-op when nothing records),
//! run the capture closure only when the span records, and emit the provisional snapshot of a
//! root. `run` (sync) and `run_async` keep the span current while the body runs, classify the result, and emit the final record —
//! also when the body panics (the panic then continues) or the future is dropped unfinished.

use std::borrow::Cow;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};

use crate::capture::{CaptureBuf, ErrorInfo, Outcome, panic_message};
use crate::config::CapturePolicy;
use crate::config::input_allowed;
use crate::context;
use crate::kind::SpanStatus;
use crate::record::{CallSite, Role, SampleState, SpanRecord};
use crate::thread_state;
use crate::thread_state::{AgentRootEntry, FrameState, with_recording_client};

use super::fn_capture::{Capture, capture_input, capture_metadata};
use super::scope::{
    Entered, Saved, emit, enter_record, leave_and_emit, leave_dropped_root, leave_saved_and_emit,
    new_agent_record, parent_ref, restore,
};

/// The live span of an instrumented fn call.
///
/// Two words (a pointer and a flag byte), so it travels in registers between entry, the
/// capture step and `run`: a struct of several `bool`s was copied through the stack byte-wise,
/// and re-reading those bytes as one word stalled the store buffer.
pub struct ActiveSpan {
    /// Boxed once at entry, so the span moves through `run`/`finish` as a pointer.
    pub(super) record: Option<Box<SpanRecord>>,
    /// [`RECORDS_OUTPUT`], [`WANTS_INPUT`], [`ENTERED`]; without a record, [`DROPPED_ROOT`]
    /// and [`DROPPED_AGENT`].
    pub(super) flags: u8,
}

/// The output will be captured.
const RECORDS_OUTPUT: u8 = 1;
/// The capture step starts an input buffer (set by `begin`, cleared by `capture`).
const WANTS_INPUT: u8 = 2;
/// The span is current on this thread ([`enter_current`]) and `run` has not taken over.
const ENTERED: u8 = 4;
/// No record: the root of a trace head sampling dropped, made current at entry; leaving it (at
/// the end of `run`, or on unwind) makes no span current again.
const DROPPED_ROOT: u8 = 8;
/// With [`DROPPED_ROOT`]: an agent root, which also made its name the current agent.
const DROPPED_AGENT: u8 = 16;

impl ActiveSpan {
    pub(super) const NONE: ActiveSpan = ActiveSpan {
        record: None,
        flags: 0,
    };

    /// The recordless root of a dropped trace, already current (see [`DROPPED_ROOT`]).
    #[inline]
    pub(super) fn dropped_root(agent: bool) -> ActiveSpan {
        ActiveSpan {
            record: None,
            flags: if agent {
                DROPPED_ROOT | DROPPED_AGENT
            } else {
                DROPPED_ROOT
            },
        }
    }

    /// The span of a new record of `site`; `entered` when it was made current at entry.
    #[inline]
    fn recording(
        site: &'static CallSite,
        mut record: Box<SpanRecord>,
        entered: bool,
    ) -> ActiveSpan {
        record.site = Some(site);
        ActiveSpan {
            record: Some(record),
            flags: recording_flags(site, entered),
        }
    }

    /// Clears `flag`, returning whether it was set.
    #[inline]
    pub(super) fn take_flag(&mut self, flag: u8) -> bool {
        let set = self.flags & flag != 0;
        self.flags &= !flag;
        set
    }
}

/// What a span's entry knows of the current frame, or `None` when the span records nothing:
/// nothing records (one relaxed load), or the current span does not record (a dropped trace's).
#[inline(always)]
pub(super) fn entry_frame() -> Option<FrameState> {
    if !crate::client::is_recording() {
        return None;
    }
    let frame = thread_state::frame_state();
    (!frame.skips()).then_some(frame)
}

/// Creates the span of an instrumented sync fn and makes it current on this thread at once (it
/// stays current until [`ActiveSpan::run`] returns), which saves the thread-local access `run`
/// would make. `capture` runs only when the span records, with the span already current. Async
/// fns use [`enter_async`](super::enter_async).
#[inline]
pub fn enter_current(
    site: &'static CallSite,
    capture: impl FnOnce(&mut Capture<'_>),
) -> ActiveSpan {
    let Some(frame) = entry_frame() else {
        return ActiveSpan::NONE;
    };
    let span = if !frame.known_empty() {
        begin(site)
    } else if site.role != Role::Agent && thread_state::enter_dropped_root_at_empty() {
        // Decided here, in the instrumented fn: the dropped root's path makes no call.
        ActiveSpan::dropped_root(false)
    } else {
        begin_at_empty(site)
    };
    span.capture(site, capture)
}

/// The part of span entry that does not depend on the capture closure (kept out of line, so the
/// instrumented fn inlines only the capture step). The entry read [`FrameState::READ`] (neither
/// skipping nor known empty), and nothing ran since.
#[inline(never)]
fn begin(site: &'static CallSite) -> ActiveSpan {
    if site.role == Role::Agent {
        return begin_agent(site);
    }
    match enter_record(site.name, site.kind, FrameState::READ) {
        Some(Entered::Record(record)) => ActiveSpan::recording(site, record, true),
        Some(Entered::DroppedRoot) => ActiveSpan::dropped_root(false),
        None => ActiveSpan::NONE,
    }
}

/// [`begin`] when the frame is known to have no span and no agent, for a root [`enter_current`]
/// did not drop (the root of a trace head sampling drops outright, outside any agent, is made
/// current there without the thread's state: `thread_state::enter_dropped_root_at_empty`): an
/// agent root goes on to [`begin_agent_at_empty`]; any other span forgets that the frame was
/// known empty (it is about to change) and goes on to `begin`.
#[inline(never)]
fn begin_at_empty(site: &'static CallSite) -> ActiveSpan {
    if site.role == Role::Agent {
        return begin_agent_at_empty(site);
    }
    thread_state::forget_known_empty();
    begin(site)
}

/// [`begin_at_empty`] for an agent span: the root of a dropped trace is made current with its
/// agent (`thread_state::enter_dropped_agent_root_at_empty`, by the agent roots' rate or the
/// agent's own). Out of line, so that the other roots' path keeps its registers.
/// `enter_current_agent` makes the same decision inline.
#[inline(never)]
fn begin_agent_at_empty(site: &'static CallSite) -> ActiveSpan {
    match thread_state::enter_dropped_agent_root_at_empty(site.name) {
        AgentRootEntry::Dropped => ActiveSpan::dropped_root(true),
        entry => begin_undropped_agent_at_empty(site, entry),
    }
}

/// An agent root at a frame known empty that `thread_state::enter_dropped_agent_root_at_empty`
/// did not drop (`entry`): it was kept (nothing drawn), or its agent's own rate was not in this
/// thread's cache and is read now.
#[inline(never)]
pub(super) fn begin_undropped_agent_at_empty(
    site: &'static CallSite,
    entry: AgentRootEntry,
) -> ActiveSpan {
    if entry == AgentRootEntry::Unrated {
        return begin_unrated_agent_at_empty(site);
    }
    thread_state::forget_known_empty();
    begin_agent(site)
}

/// [`begin_agent_at_empty`] when the agent's own rate is not in this thread's cache: reads it
/// (`thread_state::rate_agent`), then decides with it.
#[cold]
#[inline(never)]
fn begin_unrated_agent_at_empty(site: &'static CallSite) -> ActiveSpan {
    let threshold = thread_state::rate_agent(site.name);
    match thread_state::enter_dropped_agent_root_rated(site.name, threshold) {
        AgentRootEntry::Dropped => ActiveSpan::dropped_root(true),
        _ => {
            thread_state::forget_known_empty();
            begin_agent(site)
        }
    }
}

/// [`begin`] for an agent span, which also replaces the current agent: it is made current by
/// `run` instead (out of line, so the other spans' entry stays small).
#[inline(never)]
pub(super) fn begin_agent(site: &'static CallSite) -> ActiveSpan {
    match new_agent_record(site.name, site.kind) {
        Some(Entered::Record(record)) => ActiveSpan::recording(site, record, false),
        Some(Entered::DroppedRoot) => ActiveSpan::dropped_root(true),
        None => ActiveSpan::NONE,
    }
}

/// The capture policy a site's span needs, or `None` when no client records. The policy matters
/// only to a site that captures something; a site with capture off skips the client lookup here
/// (emission looks the client up anyway).
#[inline]
fn site_policy(site: &CallSite) -> Option<CapturePolicy> {
    if site.capture_input || site.capture_output {
        with_recording_client(|c| c.policy)
    } else {
        Some(CapturePolicy::ALL)
    }
}

/// The [`ActiveSpan`] flags of a new record of `site`, under the policy of the client looked up
/// only now that the span records (the root of a dropped trace never needs it). Without a
/// client (uninstalled since entry began) nothing is captured; emission then drops the record.
#[inline]
pub(super) fn recording_flags(site: &CallSite, entered: bool) -> u8 {
    match site_policy(site) {
        Some(policy) => span_flags(site, &policy, entered),
        None if entered => ENTERED,
        None => 0,
    }
}

/// The [`ActiveSpan`] flags of a span of `site` under `policy`.
#[inline]
fn span_flags(site: &CallSite, policy: &CapturePolicy, entered: bool) -> u8 {
    let mut flags = 0;
    if site.capture_output && policy.output {
        flags |= RECORDS_OUTPUT;
    }
    if site.capture_input && input_allowed(policy, site.kind) {
        flags |= WANTS_INPUT;
    }
    if entered {
        flags |= ENTERED;
    }
    flags
}

/// Emits the provisional snapshot of a root span (PROTOCOL.md §2.6).
#[cold]
fn emit_provisional(record: &SpanRecord) {
    emit(Box::new(record.provisional_snapshot()));
}

impl ActiveSpan {
    /// Runs the attribute's capture closure (input arguments, metadata) on a recording span.
    #[inline]
    pub(super) fn capture(
        mut self,
        site: &'static CallSite,
        capture: impl FnOnce(&mut Capture<'_>),
    ) -> Self {
        // No record (nothing records, or the root of a dropped trace): no flag to clear.
        let Some(record) = self.record.as_deref_mut() else {
            return self;
        };
        let wants_input = self.flags & WANTS_INPUT != 0;
        self.flags &= !WANTS_INPUT;
        if wants_input {
            capture_input(site, record, capture);
        } else {
            // No input buffer: the closure can only set metadata (for a site without any, it
            // is empty and this branch compiles to nothing).
            capture_metadata(site, record, capture);
        }
        if record.parent_span_id.is_none() && record.sample == SampleState::Kept {
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

    /// Runs a sync body with this span current, then records its outcome and emits the span.
    #[inline]
    pub fn run<R>(self, body: impl FnOnce() -> R, classify: impl FnOnce(&R) -> Outcome) -> R {
        if self.record.is_none() {
            if self.flags & DROPPED_ROOT != 0 {
                return self.run_dropped_root(body);
            }
            // Nothing to drop (no record, so nothing saved): skip the drop glue so the disabled
            // path stays a branch.
            std::mem::forget(self);
            return body();
        }
        self.run_recording(body, classify)
    }

    /// Runs the body of a dropped trace's root: its children skip at entry
    /// (`thread_state::Shortcut::frame` says so); the guard leaves the root afterwards, or while
    /// unwinding.
    #[inline]
    fn run_dropped_root<R>(self, body: impl FnOnce() -> R) -> R {
        let _leave = LeaveDroppedRoot {
            agent: self.flags & DROPPED_AGENT != 0,
        };
        std::mem::forget(self);
        body()
    }

    /// Makes this span current at `run` (agent spans, which `enter_current` leaves to `run` because
    /// they also replace the current agent): what [`enter_record`] does at entry for the others.
    fn make_current(record: &SpanRecord) -> Saved {
        let me = parent_ref(record);
        let agent = if record.site.is_some_and(|s| s.role == Role::Agent) {
            record.agent_name.clone()
        } else {
            None
        };
        context::with_current_mut(|f| {
            let saved = Saved {
                span: f.span.replace(me),
                agent: agent.map(|a| f.agent.replace(a)),
            };
            thread_state::mirror_frame(f);
            saved
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

    /// Records the outcome and the duration.
    #[inline]
    pub(super) fn settle(record: &mut SpanRecord, outcome: Outcome) {
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
        if self.take_flag(DROPPED_ROOT) {
            leave_dropped_root(self.take_flag(DROPPED_AGENT));
            return;
        }
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

    pub(super) fn fail_with_panic(&mut self, payload: &(dyn std::any::Any + Send)) {
        self.fail(panic_message(payload), "panic");
    }
}

/// Leaves the root of a dropped trace when dropped (see [`leave_dropped_root`]).
struct LeaveDroppedRoot {
    agent: bool,
}

impl Drop for LeaveDroppedRoot {
    #[inline]
    fn drop(&mut self) {
        leave_dropped_root(self.agent);
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

/// Classifier for return types the macro cannot name (`impl Trait`): records a placeholder.
pub fn classify_opaque<R>(_value: &R, records_output: bool) -> Outcome {
    if !records_output {
        return Outcome::Skipped;
    }
    Outcome::Ok(CaptureBuf::result(|b| {
        b.str_value(&format!("<{}>", std::any::type_name::<R>()))
    }))
}
