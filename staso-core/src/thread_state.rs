//! Everything the span path keeps per thread, in one thread-local: the current [`Frame`], the
//! record pool's local stock, and the cached client (with the functions that read it).
//!
//! They used to be three thread-locals; each access to one costs a lookup, a liveness check and
//! the call through `LocalKey`, and a span touched them five times. One key with a field per
//! concern lets a span reach all of them with one lookup at entry and one at exit.
//!
//! Beside it, a destructor-free thread-local (`shortcut::Shortcut`: a plain load, no liveness check) with
//! what a span under a dropped span and the root of a trace head sampling drops need: the id
//! generator's state, and what the span path knows of the frame without reading it, which also
//! lets such a root be made current without touching the frame (see [`FrameCell`]).

use std::cell::RefCell;
use std::sync::Arc;

use crate::client::{self, ClientInner};
use crate::context::Frame;
use crate::ids::{SpanId, TraceId};
use crate::pool::Local;

mod dropped_root;
mod rng;
mod shortcut;
pub(crate) use dropped_root::{DroppedRoot, decide_dropped_root_at_empty};
use rng::{WYRAND_STEP, wyrand_output};
pub(crate) use shortcut::{
    AgentRootEntry, FrameCell, FrameState, clear_skip, enter_dropped_agent_root_at_empty,
    enter_dropped_agent_root_rated, enter_dropped_root_at_empty, forget_known_empty, frame_state,
    leave_hinted_root, mirror_frame, rate_agent, set_skip, skip_spans,
};
use shortcut::{drop_root_at, shortcut};

/// The cached client: the global generation it was read at, and the client then installed.
pub(crate) type ClientCache = (u64, Option<Arc<ClientInner>>);

/// Per-thread state of the span path.
pub(crate) struct ThreadState {
    /// The context stack's current frame (see `context`).
    pub(crate) frame: FrameCell,
    /// Blank records and spare capture buffers (see `pool`).
    pub(crate) pool: RefCell<Local>,
    /// The client as last seen by this thread (see `client::with_recording_client`).
    pub(crate) client: RefCell<ClientCache>,
}

impl ThreadState {
    /// The next 64 random bits: wyrand, the generator `fastrand` uses, on this thread's state
    /// (in [`Shortcut`]), seeded from `fastrand` on first use. Kept here because the span path
    /// has this state at hand; `fastrand::u64` would look up its own thread-local through a call.
    #[inline]
    fn next_u64(&self) -> u64 {
        let state = self.seeded_state().wrapping_add(WYRAND_STEP);
        shortcut(|t| t.rng.set(state));
        wyrand_output(state)
    }

    /// The generator's state, seeded on first use.
    #[inline]
    fn seeded_state(&self) -> u64 {
        match shortcut(|t| t.rng.get()) {
            0 => seed(),
            state => state,
        }
    }

    /// A random non-zero span id.
    #[inline]
    pub(crate) fn span_id(&self) -> SpanId {
        loop {
            let v = self.next_u64();
            if v != 0 {
                return SpanId(v);
            }
        }
    }

    /// A new root's trace id and span id from the generator's state `state` (the current one,
    /// seeded): the draws of [`trace_id`](Self::trace_id) then [`span_id`](Self::span_id), from
    /// one read and one write of the state.
    #[inline]
    fn root_ids_at(&self, state: u64) -> (TraceId, SpanId) {
        shortcut(|t| t.rng.set(state.wrapping_add(3 * WYRAND_STEP)));
        let hi = wyrand_output(state.wrapping_add(WYRAND_STEP));
        let lo = wyrand_output(state.wrapping_add(2 * WYRAND_STEP));
        let span = wyrand_output(state.wrapping_add(3 * WYRAND_STEP));
        // Zero is not an id: start over on the (never seen) zero draws.
        if hi | lo == 0 || span == 0 {
            return (self.trace_id(), self.span_id());
        }
        (
            TraceId((u128::from(hi) << 64) | u128::from(lo)),
            SpanId(span),
        )
    }

    /// A new root outside any agent, with the current frame borrowed and found empty
    /// ([`Frame::is_empty`]): when head sampling drops its trace outright (`client::drops_root`), it is counted
    /// and made current as [`enter_dropped_root_at_empty`] does, the frame left untouched, and
    /// `None` is returned; otherwise its ids (those of [`root_ids_at`](Self::root_ids_at)).
    #[inline]
    pub(crate) fn root_ids_unless_dropped(&self) -> Option<(TraceId, SpanId)> {
        let state = self.seeded_state();
        if drop_root_at(state, None) {
            return None;
        }
        Some(self.root_ids_at(state))
    }

    /// A new root's trace id and span id (see [`root_ids_at`](Self::root_ids_at)).
    #[inline]
    pub(crate) fn root_ids(&self) -> (TraceId, SpanId) {
        self.root_ids_at(self.seeded_state())
    }

    /// A new root that is the agent span `agent`, with the current frame borrowed and found
    /// empty: `true` when head sampling drops its trace outright
    /// (`client::agent_root_keep`), counted and made current, agent included, as
    /// [`enter_dropped_agent_root_at_empty`] does, the frame left untouched. `false`, the
    /// generator where it was, otherwise: the caller draws the same ids.
    #[inline]
    pub(crate) fn drop_agent_root(&self, agent: &'static str) -> bool {
        let state = self.seeded_state();
        shortcut(|t| t.rng.set(state));
        drop_root_at(state, Some(agent))
    }

    /// A random non-zero trace id (two draws, as `fastrand::u128` makes them). A new root draws
    /// it before anything else: head sampling decides from it.
    #[inline]
    pub(crate) fn trace_id(&self) -> TraceId {
        loop {
            let v = (u128::from(self.next_u64()) << 64) | u128::from(self.next_u64());
            if v != 0 {
                return TraceId(v);
            }
        }
    }
}

/// A generator state for a thread's first draw (out of line: once per thread).
#[cold]
#[inline(never)]
fn seed() -> u64 {
    fastrand::u64(..)
}

thread_local! {
    static STATE: ThreadState = const {
        ThreadState {
            frame: FrameCell(RefCell::new(Frame::EMPTY)),
            pool: RefCell::new(Local::EMPTY),
            client: RefCell::new((0, None)),
        }
    };
}

/// Runs `f` with this thread's state; `None` once the thread-local is destroyed (thread exit).
#[inline]
pub(crate) fn with<R>(f: impl FnOnce(&ThreadState) -> R) -> Option<R> {
    STATE.try_with(f).ok()
}

/// Runs `f` with this thread's state. Panics only when called from a thread-local destructor
/// after this one was destroyed, as `LocalKey::with` does.
#[inline]
pub(crate) fn with_live<R>(f: impl FnOnce(&ThreadState) -> R) -> R {
    STATE.with(f)
}

/// Runs `f` with the dropped root `root` (the agent span `agent`, or outside any agent) current,
/// hinted ([`DroppedRoot::hint`]: the frame
/// untouched), where the frame is known empty ([`FrameState::known_empty`], read with nothing run
/// since), then leaves it, also when `f` unwinds. When something wrote the root into the frame
/// meanwhile (a context capture, a frame swap), the frame as `f` left it is handed to `written`
/// (the caller keeps it to run under next time, as a swapped-in frame would have been kept) and
/// the thread's frame is emptied again, as it was before.
#[inline]
pub(crate) fn run_hinted<R>(
    root: DroppedRoot,
    agent: Option<&'static str>,
    f: impl FnOnce() -> R,
    written: impl FnOnce(Frame),
) -> R {
    root.hint(agent);
    let leave = LeaveHinted;
    let value = f();
    std::mem::forget(leave);
    if !leave_hinted_root()
        && let Some(frame) = take_frame()
    {
        written(frame);
    }
    value
}

/// Leaves a root made current by [`run_hinted`] when `f` unwinds.
struct LeaveHinted;

impl Drop for LeaveHinted {
    fn drop(&mut self) {
        if !leave_hinted_root() {
            drop(take_frame());
        }
    }
}

/// Takes the thread's frame out, leaving it empty (and known so).
#[cold]
#[inline(never)]
fn take_frame() -> Option<Frame> {
    with(|s| {
        let mut current = s.frame.try_borrow_mut().ok()?;
        let taken = std::mem::replace(&mut *current, Frame::EMPTY);
        mirror_frame(&current);
        Some(taken)
    })
    .flatten()
}

/// Runs `f` with the current enabled client, through the per-thread cache.
///
/// The cache is refreshed only when the global generation moved; otherwise `f` runs under a shared
/// borrow of the thread-local, without touching the client's reference count (a cache line every
/// thread would otherwise write on every span).
#[inline]
pub(crate) fn with_recording_client<R>(f: impl FnOnce(&ClientInner) -> R) -> Option<R> {
    if !client::is_recording() {
        return None;
    }
    with(|s| with_cached_client(&s.client, f)).flatten()
}

/// [`with_recording_client`] on an already looked-up thread state's cache.
#[inline]
pub(crate) fn with_cached_client<R>(
    cache: &RefCell<ClientCache>,
    f: impl FnOnce(&ClientInner) -> R,
) -> Option<R> {
    let generation = client::generation();
    let stale = cache.try_borrow().ok()?.0 != generation;
    if stale {
        *cache.try_borrow_mut().ok()? = (generation, client::current_client());
    }
    let cache = cache.try_borrow().ok()?;
    let client = cache.1.as_deref()?;
    client.exporter.as_ref()?;
    Some(f(client))
}

#[cfg(test)]
mod tests;
