//! Everything the span path keeps per thread, in one thread-local: the current [`Frame`], the
//! record pool's local stock, and the cached client (with the functions that read it).
//!
//! They used to be three thread-locals; each access to one costs a lookup, a liveness check and
//! the call through `LocalKey`, and a span touched them five times. One key with a field per
//! concern lets a span reach all of them with one lookup at entry and one at exit.

use std::cell::{Cell, RefCell};
use std::sync::Arc;

use crate::client::{self, ClientInner};
use crate::context::Frame;
use crate::ids::{SpanId, TraceId};
use crate::pool::Local;

/// The cached client: the global generation it was read at, and the client then installed.
pub(crate) type ClientCache = (u64, Option<Arc<ClientInner>>);

/// Per-thread state of the span path.
pub(crate) struct ThreadState {
    /// The context stack's current frame (see `context`).
    pub(crate) frame: RefCell<Frame>,
    /// Blank records and spare capture buffers (see `pool`).
    pub(crate) pool: RefCell<Local>,
    /// The client as last seen by this thread (see `client::with_recording_client`).
    pub(crate) client: RefCell<ClientCache>,
    /// State of the span-id generator (0: not seeded yet).
    pub(crate) rng: Cell<u64>,
}

impl ThreadState {
    /// The next 64 random bits: wyrand, the generator `fastrand` uses, on this thread's state,
    /// seeded from `fastrand` on first use. Kept here because the span path has this state at hand;
    /// `fastrand::u64` would look up its own thread-local through a call.
    #[inline]
    fn next_u64(&self) -> u64 {
        let state = self.seeded_state().wrapping_add(WYRAND_STEP);
        self.rng.set(state);
        wyrand_output(state)
    }

    /// The generator's state, seeded on first use.
    #[inline]
    fn seeded_state(&self) -> u64 {
        match self.rng.get() {
            0 => fastrand::u64(..),
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

    /// A new root's trace id and span id: the draws of [`trace_id`](Self::trace_id) then
    /// [`span_id`](Self::span_id), from one read and one write of the generator's state.
    #[inline]
    pub(crate) fn root_ids(&self) -> (TraceId, SpanId) {
        let state = self.seeded_state();
        self.rng.set(state.wrapping_add(3 * WYRAND_STEP));
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

/// What wyrand adds to its state per draw.
const WYRAND_STEP: u64 = 0x2d35_8dcc_aa6c_78a5;

/// wyrand's output for a state.
#[inline(always)]
fn wyrand_output(state: u64) -> u64 {
    let t = u128::from(state) * u128::from(state ^ 0x8bb8_4b93_962e_acc9);
    (t as u64) ^ ((t >> 64) as u64)
}

thread_local! {
    static STATE: ThreadState = const {
        ThreadState {
            frame: RefCell::new(Frame::EMPTY),
            pool: RefCell::new(Local::EMPTY),
            client: RefCell::new((0, None)),
            rng: Cell::new(0),
        }
    };
}

thread_local! {
    /// A shortcut for "the current frame's span does not record" (the root of a trace head
    /// sampling dropped, or a swapped-in frame under a dropped span), so a span entered under it
    /// returns at once: a destructor-free thread-local is one load, the state above is a
    /// liveness check and a borrow. When true it is exact: whatever makes a recording span
    /// current (a frame swap, restoring an agent's saved span, leaving a dropped root) updates
    /// it. When false the entry path reads the frame itself, so `drop_span` need not set it.
    static SKIP: Cell<bool> = const { Cell::new(false) };
}

/// Whether spans entered now record nothing (see `SKIP`).
#[inline(always)]
pub(crate) fn skip_spans() -> bool {
    SKIP.get()
}

/// Updates the shortcut after the current frame's span changed to `frame.span`.
#[inline(always)]
pub(crate) fn mirror_frame(frame: &Frame) {
    SKIP.set(frame.span.is_some_and(|p| !p.recording));
}

/// The current frame's span is the root of a dropped trace.
#[inline(always)]
pub(crate) fn set_skip() {
    SKIP.set(true);
}

/// The current frame's span records again (or there is none).
#[inline(always)]
pub(crate) fn clear_skip() {
    SKIP.set(false);
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
mod tests {
    use super::*;

    #[test]
    fn span_ids_are_non_zero_and_do_not_repeat() {
        let ids: std::collections::HashSet<u64> = (0..10_000)
            .filter_map(|_| with(|s| s.span_id().0))
            .collect();
        assert_eq!(ids.len(), 10_000);
        assert!(!ids.contains(&0));
    }

    #[test]
    fn trace_ids_are_non_zero_and_do_not_repeat() {
        let ids: std::collections::HashSet<u128> = (0..10_000)
            .filter_map(|_| with(|s| s.trace_id().0))
            .collect();
        assert_eq!(ids.len(), 10_000);
        assert!(!ids.contains(&0));
    }

    #[test]
    fn a_roots_ids_are_the_draws_of_trace_id_then_span_id() {
        let drawn = with(|s| {
            let start = s.seeded_state();
            s.rng.set(start);
            let root = s.root_ids();
            let after_root = s.rng.get();
            s.rng.set(start);
            let one_by_one = (s.trace_id(), s.span_id());
            (root, one_by_one, after_root == s.rng.get())
        });
        let Some((root, one_by_one, same_state_after)) = drawn else {
            panic!("the thread state is alive in a test");
        };
        assert_eq!(root, one_by_one);
        assert!(
            same_state_after,
            "both leave the generator at the same state"
        );
    }

    #[test]
    fn threads_draw_different_ids() {
        let first = || with(|s| s.span_id().0);
        let other = std::thread::spawn(first).join().ok().flatten();
        assert!(other.is_some());
        assert_ne!(other, first());
    }
}
