//! The thread-local side of a span: its record built under the current frame, the span made
//! current and put back, and the record handed to the cached client's exporter — each in one
//! access to the thread's state (`thread_state`).

use std::borrow::Cow;
use std::cell::RefCell;

use crate::context::{Frame, ParentRef};
use crate::ids::{SpanId, TraceId};

use crate::client::{self, ClientInner};
use crate::config::sampled_below;
use crate::record::{SampleState, SpanRecord};
use crate::report::EnqueueResult;
use crate::shared_str::SharedStr;
use crate::thread_state::{self, ClientCache, FrameCell, FrameState, ThreadState};
use crate::thread_state::{with_cached_client, with_recording_client};

/// The identity of `record` as its children see it.
#[inline]
pub(super) fn parent_ref(record: &SpanRecord) -> ParentRef {
    ParentRef {
        trace_id: record.trace_id,
        span_id: record.span_id,
        recording: record.sample != SampleState::Dropped,
        held: record.sample == SampleState::Held,
    }
}

/// The sampling state of a new trace rooted in `agent`: asks the client only when it samples.
#[inline]
fn root_sample(state: &ThreadState, trace_id: TraceId, agent: Option<&str>) -> SampleState {
    if !crate::client::is_sampling() {
        return SampleState::Kept;
    }
    decide_root(state, trace_id, agent)
}

/// Head sampling's decision for a new root, from the client's settings. A dropped root is counted
/// here, once (its spans are never built, so nothing is counted when it ends); a held one is
/// counted by the tail sampler if its trace is not kept.
#[inline]
fn decide_root(state: &ThreadState, trace_id: TraceId, agent: Option<&str>) -> SampleState {
    with_cached_client(&state.client, |c| {
        let sampling = c.config.sampling();
        let kept = match agent {
            None => sampled_below(trace_id, c.root_threshold),
            Some(agent) => sampling.keeps(trace_id, Some(agent)),
        };
        if kept {
            SampleState::Kept
        } else if sampling.tail().is_some() {
            SampleState::Held
        } else {
            client::count_sampled_out();
            SampleState::Dropped
        }
    })
    .unwrap_or_default()
}

/// A new span: its record, or, for the root of a trace head sampling dropped (no tail rules to
/// hold it for), only its identity — nothing under it records, so nothing is built.
pub(super) enum Built {
    /// A span that records (kept, or held for the tail rules).
    Record(Box<SpanRecord>),
    /// The root of a dropped trace: its children see it not recording, `inject` still writes
    /// its ids (sampled flag `00`).
    DroppedRoot(ParentRef),
}

/// Creates a span record under `frame`, in a box from this thread's pool stock, or `None` when
/// the current span was dropped (its descendants are not recorded). A new root draws its trace
/// id and asks head sampling first; when its trace is dropped it gets a span id and no record
/// (`recordless`; else a record marked dropped, counted and never sent). `name` is called only
/// for a record.
///
/// A `recordless` root outside any agent is first checked against the threshold the client
/// publishes for dropping such roots outright (`client::drops_root`: one load, no client
/// lookup); a root that passes it, or any other root, asks the cached client.
#[inline]
fn build_record(
    state: &ThreadState,
    frame: &Frame,
    name: impl FnOnce() -> Cow<'static, str>,
    kind: crate::kind::SpanKind,
    agent: Option<SharedStr>,
    recordless: bool,
) -> Option<Built> {
    build_record_of(state, frame, name, kind, agent, recordless, None)
}

/// [`build_record`], for a root whose ids are already `drawn` (its trace id kept by the
/// threshold of `client::drops_root`).
#[inline]
fn build_record_of(
    state: &ThreadState,
    frame: &Frame,
    name: impl FnOnce() -> Cow<'static, str>,
    kind: crate::kind::SpanKind,
    agent: Option<SharedStr>,
    recordless: bool,
    drawn: Option<(TraceId, SpanId)>,
) -> Option<Built> {
    let mut span_id = None;
    let (trace_id, parent, sample) = match frame.span {
        Some(p) if !p.recording => return None,
        Some(p) if p.held => (p.trace_id, Some(p.span_id), SampleState::Held),
        Some(p) => (p.trace_id, Some(p.span_id), SampleState::Kept),
        None => {
            let root_agent = agent.as_deref().or(frame.agent.as_deref());
            let trace_id = match drawn {
                Some((trace_id, drawn_span)) => {
                    span_id = Some(drawn_span);
                    trace_id
                }
                None => {
                    let trace_id = state.trace_id();
                    if recordless && root_agent.is_none() && client::drops_root(trace_id) {
                        client::count_sampled_out();
                        return Some(dropped_root(state, trace_id));
                    }
                    trace_id
                }
            };
            let sample = root_sample(state, trace_id, root_agent);
            if sample == SampleState::Dropped && recordless {
                return Some(dropped_root(state, trace_id));
            }
            (trace_id, None, sample)
        }
    };
    let span_id = span_id.unwrap_or_else(|| state.span_id());
    let start = crate::time::now();
    let mut record = match crate::pool::take_from(&state.pool) {
        Some(mut blank) => {
            blank.init_blank(trace_id, span_id, parent, name(), kind, start);
            blank
        }
        None => Box::new(SpanRecord::new(
            trace_id,
            span_id,
            parent,
            name(),
            kind,
            start,
        )),
    };
    record.sample = sample;
    record.session_id = frame.session.clone();
    record.user_id = frame.user.clone();
    record.agent_name = agent.or_else(|| frame.agent.clone());
    Some(Built::Record(record))
}

/// The identity of the root of the dropped trace `trace_id`: the trace id its decision read and a
/// new span id.
#[inline]
fn dropped_root(state: &ThreadState, trace_id: TraceId) -> Built {
    Built::DroppedRoot(ParentRef {
        trace_id,
        span_id: state.span_id(),
        recording: false,
        held: false,
    })
}

/// Creates a span record under the current context, or `None` when nothing records (no enabled
/// client, or the current span was dropped). Never recordless: for spans that are never a root
/// (the guard's), or that must carry a record.
pub(crate) fn new_record(
    name: Cow<'static, str>,
    kind: crate::kind::SpanKind,
    agent: Option<SharedStr>,
) -> Option<Box<SpanRecord>> {
    thread_state::with(|s| {
        let frame = s.frame.try_borrow().ok()?;
        match build_record(s, &frame, || name, kind, agent, false)? {
            Built::Record(record) => Some(record),
            Built::DroppedRoot(_) => None,
        }
    })
    .flatten()
}

/// A manual span under the current context (see [`Built`]); `None` when nothing records.
pub(super) fn new_span(
    name: impl FnOnce() -> Cow<'static, str>,
    kind: crate::kind::SpanKind,
) -> Option<Built> {
    thread_state::with(|s| {
        let frame = s.frame.try_borrow().ok()?;
        build_record(s, &frame, name, kind, None, true)
    })
    .flatten()
}

/// A manual span as the root of a new trace under the current context: the conversation, user
/// and agent are inherited, the current span is not its parent. `None` when nothing records.
pub(super) fn new_root_span(
    name: impl FnOnce() -> Cow<'static, str>,
    kind: crate::kind::SpanKind,
) -> Option<Built> {
    thread_state::with(|s| {
        let current = s.frame.try_borrow().ok()?;
        let frame = Frame {
            span: None,
            session: current.session.clone(),
            user: current.user.clone(),
            agent: current.agent.clone(),
        };
        build_record(s, &frame, name, kind, None, true)
    })
    .flatten()
}

/// Creates a span record under the current context and the frame its future runs under (the
/// record's identity, conversation, user and agent), in one thread-local access. The record is
/// `None` for the root of a dropped trace: the frame alone carries it (not recording).
pub(super) fn new_record_and_frame(
    name: Cow<'static, str>,
    kind: crate::kind::SpanKind,
    agent: Option<SharedStr>,
) -> Option<(Option<Box<SpanRecord>>, Frame)> {
    thread_state::with(|s| {
        let current = s.frame.try_borrow().ok()?;
        match build_record(s, &current, || name, kind, agent.clone(), true)? {
            Built::Record(record) => {
                // The record inherited session, user and agent from `current` (an agent span
                // carries its own name): its children inherit the same.
                let frame = Frame {
                    span: Some(parent_ref(&record)),
                    session: record.session_id.clone(),
                    user: record.user_id.clone(),
                    agent: record.agent_name.clone(),
                };
                Some((Some(record), frame))
            }
            Built::DroppedRoot(me) => {
                let frame = Frame {
                    span: Some(me),
                    session: current.session.clone(),
                    user: current.user.clone(),
                    agent: agent.or_else(|| current.agent.clone()),
                };
                Some((None, frame))
            }
        }
    })
    .flatten()
}

/// What a span made current replaced in the thread's frame, to put back when it ends.
pub(super) struct Saved {
    pub(super) span: Option<ParentRef>,
    /// `Some` for an agent span: the agent name it replaced.
    pub(super) agent: Option<Option<SharedStr>>,
}

/// What span entry produced.
pub(super) enum Entered {
    /// A span that records.
    Record(Box<SpanRecord>),
    /// The root of a trace head sampling dropped, made current without a record: leave it with
    /// [`leave_dropped_root`].
    DroppedRoot,
}

/// Creates a span record under the current context and makes it the current span, in the same
/// thread-local access. What it replaced is the record's parent (see [`restore_parent`]), so
/// nothing needs saving. Not for agent spans, which also replace the current agent. `entry` is
/// what `thread_state::frame_state` read at the span's entry, nothing run since.
///
/// A new root outside any agent checks its trace id against the threshold for dropping it
/// outright (`client::drops_root`) before anything else: a dropped one is made current without
/// being written into the frame (`thread_state::Shortcut`), its trace id's low half the only
/// draw; the next such root on this thread then skips the thread's state altogether
/// (`begin_at_empty` in `fn_span`).
#[inline]
pub(super) fn enter_record(
    name: &'static str,
    kind: crate::kind::SpanKind,
    entry: FrameState,
) -> Option<Entered> {
    thread_state::with(|s| {
        let mut frame = s.frame.try_borrow_mut_at_entry(entry).ok()?;
        let mut drawn = None;
        if frame.span.is_none() && frame.agent.is_none() {
            // Dropped outright from an empty frame: made current without writing the frame (as
            // at entry's shortcut, `thread_state::enter_dropped_root_at_empty`). In a
            // conversation it is written: a hinted root leaves the frame known empty.
            let (trace_id, span_id) = if frame.is_empty() {
                let Some(ids) = s.root_ids_unless_dropped() else {
                    return Some(Entered::DroppedRoot);
                };
                ids
            } else {
                s.root_ids()
            };
            if client::drops_root(trace_id) {
                client::count_sampled_out();
                frame.span = Some(ParentRef {
                    trace_id,
                    span_id,
                    recording: false,
                    held: false,
                });
                thread_state::set_skip();
                return Some(Entered::DroppedRoot);
            }
            drawn = Some((trace_id, span_id));
        }
        let built = build_record_of(s, &frame, || Cow::Borrowed(name), kind, None, true, drawn)?;
        match built {
            Built::Record(record) => {
                frame.span = Some(parent_ref(&record));
                Some(Entered::Record(record))
            }
            Built::DroppedRoot(me) => {
                frame.span = Some(me);
                thread_state::mirror_frame(&frame);
                Some(Entered::DroppedRoot)
            }
        }
    })
    .flatten()
}

/// Creates the record of the agent span `agent` under the current context; `run` makes it
/// current (it also replaces the current agent). The root of a dropped trace is made current
/// here at once, agent included, without a record — when no agent is current, so that leaving
/// it restores none ([`leave_dropped_root`]); otherwise it gets a record marked dropped, which
/// saves the agent it replaces.
///
/// A root in an empty frame first checks its trace id against the threshold for dropping an
/// agent root outright (`client::agent_root_keep`, published when no agent has a rate of its
/// own; else the agent's own rate's, cached per thread): a dropped one is hinted with its agent, the frame untouched, as in
/// [`enter_record`]; the next such root on this thread then skips the thread's state
/// (`begin_at_empty` in `fn_span`).
pub(super) fn new_agent_record(
    agent: &'static str,
    kind: crate::kind::SpanKind,
) -> Option<Entered> {
    thread_state::with(|s| {
        let mut frame = s.frame.try_borrow_mut().ok()?;
        let recordless = frame.agent.is_none();
        if frame.is_empty() && s.drop_agent_root(agent) {
            return Some(Entered::DroppedRoot);
        }
        let built = build_record(
            s,
            &frame,
            || Cow::Borrowed(agent),
            kind,
            Some(SharedStr::Static(agent)),
            recordless,
        )?;
        match built {
            Built::Record(record) => Some(Entered::Record(record)),
            Built::DroppedRoot(me) => {
                frame.span = Some(me);
                frame.agent = Some(SharedStr::Static(agent));
                thread_state::mirror_frame(&frame);
                Some(Entered::DroppedRoot)
            }
        }
    })
    .flatten()
}

/// Leaves the root of a dropped trace made current by [`enter_record`] or
/// [`new_agent_record`]: a root had no current span (and, for `agent`, no current agent), so
/// none is current again and spans record again. Runs on unwind too (`ActiveSpan`'s drop).
///
/// A root that is still only hinted (`thread_state::leave_hinted_root`: nothing read the frame
/// since its entry) is left with a load and a store, inline, its agent too (never written).
#[inline]
pub(super) fn leave_dropped_root(agent: bool) {
    if thread_state::leave_hinted_root() {
        return;
    }
    if agent {
        leave_dropped_agent_root();
    } else {
        leave_dropped_plain_root();
    }
}

/// [`leave_dropped_root`] of a root outside any agent, written into the frame.
#[inline(never)]
fn leave_dropped_plain_root() {
    let _ = thread_state::with(|s| {
        if let Ok(mut f) = s.frame.try_borrow_mut() {
            f.span = None;
        }
    });
    thread_state::clear_skip();
}

/// [`leave_dropped_root`] of an agent root: its agent is no longer current either.
#[inline(never)]
fn leave_dropped_agent_root() {
    let _ = thread_state::with(|s| {
        if let Ok(mut f) = s.frame.try_borrow_mut() {
            f.span = None;
            f.agent = None;
        }
    });
    thread_state::clear_skip();
}

/// Puts back what `record`'s span replaced as current: `saved`, or, when `None` (the span was made
/// current by [`enter_record`]), the record's parent.
pub(super) fn restore(frame: &FrameCell, record: &SpanRecord, saved: Option<Saved>) {
    let Ok(mut f) = frame.try_borrow_mut() else {
        return;
    };
    match saved {
        Some(saved) => {
            f.span = saved.span;
            if let Some(a) = saved.agent {
                f.agent = a;
            }
            thread_state::mirror_frame(&f);
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
            current.held = record.sample == SampleState::Held;
        }
        (_, parent) => {
            f.span = parent.map(|span_id| ParentRef {
                trace_id: record.trace_id,
                span_id,
                recording: true,
                held: record.sample == SampleState::Held,
            });
            if parent.is_some() {
                // A span made current in a frame that had none (a misnested exit): the frame
                // is no longer empty (see `FrameCell::try_borrow_mut_for_exit`).
                thread_state::forget_known_empty();
            }
        }
    }
}

/// Puts back the span `record` replaced as current (see [`restore`]) and emits it, in one
/// thread-local access. `saved` is `None` for a span made current by [`enter_record`]: the two
/// cases are two functions so that the common one does not copy an empty `Option<Saved>`.
pub(super) fn leave_and_emit(record: Box<SpanRecord>) {
    thread_state::with(|s| {
        if let Ok(mut f) = s.frame.try_borrow_mut_for_exit() {
            restore_parent(&mut f, &record);
        }
        export_cached(&s.client, record)
    });
}

/// [`leave_and_emit`] for a span made current with its previous frame saved (agents).
pub(super) fn leave_saved_and_emit(record: Box<SpanRecord>, saved: Saved) {
    thread_state::with(|s| {
        restore(&s.frame, &record, Some(saved));
        export_cached(&s.client, record)
    });
}

/// Hands `record` to the exporter of the cached client.
#[inline]
pub(super) fn export_cached(
    client: &RefCell<ClientCache>,
    mut record: Box<SpanRecord>,
) -> Option<EnqueueResult> {
    if !super::current::settle(&mut record) {
        return None;
    }
    with_cached_client(client, |c| hand_over(c, record)).flatten()
}

/// Gives `record` to the client's exporter; the root of a trace head sampling dropped (counted
/// when it was decided) is not sent.
#[inline]
fn hand_over(c: &ClientInner, record: Box<SpanRecord>) -> Option<EnqueueResult> {
    if record.sample == SampleState::Dropped {
        return None;
    }
    c.exporter.as_ref().map(|e| e.export(record))
}

/// Emits a record through the current client.
pub(crate) fn emit(mut record: Box<SpanRecord>) -> Option<EnqueueResult> {
    if !super::current::settle(&mut record) {
        return None;
    }
    with_recording_client(move |c| hand_over(c, record)).flatten()
}
