//! Everything the span path keeps per thread, in one thread-local: the current [`Frame`], the
//! record pool's local stock, and the cached client (with the functions that read it).
//!
//! They used to be three thread-locals; each access to one costs a lookup, a liveness check and
//! the call through `LocalKey`, and a span touched them five times. One key with a field per
//! concern lets a span reach all of them with one lookup at entry and one at exit.
//!
//! Beside it, a destructor-free thread-local ([`Shortcut`]: a plain load, no liveness check) with
//! what a span under a dropped span and the root of a trace head sampling drops need: the id
//! generator's state, and what the span path knows of the frame without reading it, which also
//! lets such a root be made current without touching the frame (see [`FrameCell`]).

use std::cell::{BorrowError, BorrowMutError, Cell, Ref, RefCell, RefMut};
use std::sync::Arc;

use crate::client::{self, ClientInner};
use crate::context::{Frame, ParentRef};
use crate::ids::{SpanId, TraceId};
use crate::pool::Local;
use crate::shared_str::SharedStr;

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

    /// A new root outside any agent, with the current frame borrowed and found without span or
    /// agent: when head sampling drops its trace outright (`client::drops_root`), it is counted
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

    /// A new root that is the agent span `agent`, with the current frame borrowed and found
    /// without span or agent: `true` when head sampling drops its trace outright
    /// (`client::drops_agent_root`), counted and made current, agent included, as
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
            frame: FrameCell(RefCell::new(Frame::EMPTY)),
            pool: RefCell::new(Local::EMPTY),
            client: RefCell::new((0, None)),
        }
    };
}

/// The part of the span path's per-thread state that needs no destructor, so that reaching it
/// is a plain load (the thread-local [`STATE`] adds a liveness check, and its frame a borrow):
/// enough for a span entered under a span that does not record, and for the root of a trace
/// head sampling drops, to skip `STATE` altogether.
struct Shortcut {
    /// What the span path knows of the current frame without reading it:
    ///
    /// - [`FRAME_READ`]: nothing known, read the frame;
    /// - [`FRAME_SKIP`]: the current span does not record (the root of a dropped trace, or a
    ///   swapped-in frame under a dropped span), so spans entered now return at once. Exact
    ///   while set: whatever makes a recording span current (a frame swap, restoring an agent's
    ///   saved span, leaving a dropped root) updates it; `drop_span` need not set it (the entry
    ///   path then reads the frame);
    /// - [`FRAME_EMPTY`]: the frame has no span and no agent, and nothing borrows it;
    /// - [`FRAME_HINTED`]: as `FRAME_EMPTY`, but the root of a dropped trace is current without
    ///   being written into the frame (see `root`); spans entered now return at once;
    /// - [`FRAME_HINTED_AGENT`]: as `FRAME_HINTED`, for an agent root whose agent (see `agent`)
    ///   is current with it.
    ///
    /// Every borrow of the frame ([`FrameCell`]) first writes a hinted root into it and turns
    /// the last three into the first two, so only the span path's entry and exit of such a root
    /// ever see them.
    frame: Cell<u8>,
    /// With [`FRAME_HINTED`]: the generator's state the current root's ids are drawn from (see
    /// [`dropped_root_at`]).
    root: Cell<u64>,
    /// With [`FRAME_HINTED_AGENT`]: the agent the current root made current. Set with every such
    /// hint (a plain root's hint leaves it alone, and the state says it is not read).
    agent: Cell<Option<&'static str>>,
    /// State of the id generator (0: not seeded yet).
    rng: Cell<u64>,
}

thread_local! {
    static SHORTCUT: Shortcut = const {
        Shortcut {
            frame: Cell::new(FRAME_READ),
            root: Cell::new(0),
            agent: Cell::new(None),
            rng: Cell::new(0),
        }
    };
}

/// Runs `f` with this thread's [`Shortcut`] (never destroyed: no check).
#[inline(always)]
fn shortcut<R>(f: impl FnOnce(&Shortcut) -> R) -> R {
    SHORTCUT.with(f)
}

/// [`Shortcut::frame`]: read the frame.
const FRAME_READ: u8 = 0;
/// [`Shortcut::frame`]: the current span does not record. The bit every state whose spans return at
/// entry has.
const FRAME_SKIP: u8 = 1;
/// [`Shortcut::frame`]: the frame has no span and no agent, and nothing borrows it.
const FRAME_EMPTY: u8 = 2;
/// [`Shortcut::frame`]: the root of a dropped trace is current, only in [`Shortcut::root`].
const FRAME_HINTED: u8 = FRAME_EMPTY | FRAME_SKIP;
/// [`Shortcut::frame`]: an agent root of a dropped trace is current, only in [`Shortcut::root`]
/// and [`Shortcut::agent`]. The only state above [`FRAME_HINTED`], so `>= FRAME_HINTED` is "hinted".
const FRAME_HINTED_AGENT: u8 = 4 | FRAME_HINTED;

/// The thread's current frame. Its borrows are `RefCell`'s, after writing into the frame the
/// root of a dropped trace that [`enter_dropped_root_at_empty`] made current without it: every
/// reader (`Span::current`, propagation, context capture, frame swaps) sees that root as the
/// current span, with the same ids each time.
pub(crate) struct FrameCell(RefCell<Frame>);

impl FrameCell {
    /// Borrows the frame; panics if it is mutably borrowed.
    #[inline]
    pub(crate) fn borrow(&self) -> Ref<'_, Frame> {
        self.settle();
        self.0.borrow()
    }

    /// Borrows the frame mutably; panics if it is borrowed.
    #[inline]
    pub(crate) fn borrow_mut(&self) -> RefMut<'_, Frame> {
        self.settle();
        self.0.borrow_mut()
    }

    /// Borrows the frame.
    #[inline]
    pub(crate) fn try_borrow(&self) -> Result<Ref<'_, Frame>, BorrowError> {
        self.settle();
        self.0.try_borrow()
    }

    /// Borrows the frame mutably.
    #[inline]
    pub(crate) fn try_borrow_mut(&self) -> Result<RefMut<'_, Frame>, BorrowMutError> {
        self.settle();
        self.0.try_borrow_mut()
    }

    /// Borrows the frame mutably at a span's entry, `entry` being what [`frame_state`] read at
    /// that entry with nothing run since: it already says whether there is anything to settle.
    #[inline]
    pub(crate) fn try_borrow_mut_at_entry(
        &self,
        entry: FrameState,
    ) -> Result<RefMut<'_, Frame>, BorrowMutError> {
        if entry.0 >= FRAME_EMPTY {
            self.write_hinted_root(entry.0);
        }
        self.0.try_borrow_mut()
    }

    /// Borrows the frame mutably for a span's exit that puts its parent back, without
    /// settling [`Shortcut::frame`] (no load, no store): only a frame without span or agent can
    /// be known empty or hold a hinted root, so replacing a span leaves that state true, and so
    /// does clearing one. The caller that makes a span current in a frame that had none (only
    /// a misnested exit does) calls [`forget_known_empty`].
    #[inline]
    pub(crate) fn try_borrow_mut_for_exit(&self) -> Result<RefMut<'_, Frame>, BorrowMutError> {
        self.0.try_borrow_mut()
    }

    /// Before a borrow: what [`Shortcut::frame`] knows of the frame no longer holds once it is
    /// borrowed (it may change).
    #[inline(always)]
    fn settle(&self) {
        let state = shortcut(|t| t.frame.get());
        if state >= FRAME_EMPTY {
            self.write_hinted_root(state);
        }
    }

    /// Writes the hinted root of a dropped trace (if any) into the frame, with its agent.
    #[cold]
    #[inline(never)]
    fn write_hinted_root(&self, state: u8) {
        if state < FRAME_HINTED {
            shortcut(|t| t.frame.set(FRAME_READ));
            return;
        }
        // The root stays current, now in the frame: spans entered under it still return at once.
        shortcut(|t| t.frame.set(FRAME_SKIP));
        if let Ok(mut frame) = self.0.try_borrow_mut() {
            frame.span = Some(dropped_root_at(shortcut(|t| t.root.get())));
            if state == FRAME_HINTED_AGENT {
                frame.agent = shortcut(|t| t.agent.get()).map(SharedStr::Static);
            }
        }
    }
}

/// The root of a dropped trace whose ids are drawn from the generator's state `state`: the
/// values `ThreadState::root_ids_at` gives from that state, drawn only when something reads the
/// root (its trace id's low half, which head sampling read, is non-zero: see [`drop_root_at`]).
fn dropped_root_at(state: u64) -> ParentRef {
    let hi = wyrand_output(state.wrapping_add(WYRAND_STEP));
    let lo = wyrand_output(state.wrapping_add(2 * WYRAND_STEP));
    let span = wyrand_output(state.wrapping_add(3 * WYRAND_STEP));
    ParentRef {
        trace_id: TraceId((u128::from(hi) << 64) | u128::from(lo)),
        // Zero is not an id; a 2^-64 chance.
        span_id: SpanId(span.max(1)),
        recording: false,
        held: false,
    }
}

/// Makes a new root outside any agent current without a record when head sampling drops its
/// trace outright and the frame is known to have no span and no agent ([`FRAME_EMPTY`]): it is
/// counted and hinted ([`FRAME_HINTED`]), the frame untouched; only its trace id's low half is
/// drawn (what the decision reads), the rest when something reads the root. `false`, nothing
/// drawn, otherwise: the caller reads the frame and draws the same ids.
///
/// Only where [`FrameState::known_empty`] (read at this span's entry) said so: the caller checks
/// that first and comes here out of line, so that a span entered under another pays only the
/// check.
#[inline(always)]
pub(crate) fn enter_dropped_root_at_empty() -> bool {
    drop_root_at(shortcut(|t| t.rng.get()), None)
}

/// [`enter_dropped_root_at_empty`] for a root that is the agent span `agent`: decided against
/// `client::drops_agent_root` (the client has no per-agent rate), and hinted with its agent,
/// which [`FrameCell`] writes into the frame with the root.
#[inline(always)]
pub(crate) fn enter_dropped_agent_root_at_empty(agent: &'static str) -> bool {
    drop_root_at(shortcut(|t| t.rng.get()), Some(agent))
}

/// [`enter_dropped_root_at_empty`] for the root drawn from the generator's state `state` (0: not
/// seeded), the agent span `agent` or outside any agent, the frame without span or agent and not
/// borrowed: `false` when its trace is kept (or asks the client), not seeded, or the trace id's
/// low half is zero (a 2^-64 chance; the id must not be zero).
#[inline(always)]
fn drop_root_at(state: u64, agent: Option<&'static str>) -> bool {
    let lo = wyrand_output(state.wrapping_add(2 * WYRAND_STEP));
    if state == 0 || lo == 0 {
        return false;
    }
    let trace_id = TraceId(u128::from(lo));
    let dropped = match agent {
        None => client::drops_root(trace_id),
        Some(_) => client::drops_agent_root(trace_id),
    };
    if !dropped {
        return false;
    }
    hint_root(state, agent);
    client::count_sampled_out();
    true
}

/// Makes the root drawn from the generator's state `state` (with its agent, for an agent root)
/// current by hinting it ([`FRAME_HINTED`], [`FRAME_HINTED_AGENT`]), the frame without span or
/// agent and not borrowed; the generator moves on as far as drawing the root's ids would have
/// moved it.
#[inline(always)]
fn hint_root(state: u64, agent: Option<&'static str>) {
    shortcut(|t| {
        t.rng.set(state.wrapping_add(3 * WYRAND_STEP));
        t.root.set(state);
        match agent {
            None => t.frame.set(FRAME_HINTED),
            Some(agent) => {
                t.agent.set(Some(agent));
                t.frame.set(FRAME_HINTED_AGENT);
            }
        }
    });
}

/// Leaves the root of a dropped trace made current by [`enter_dropped_root_at_empty`] (or
/// [`enter_dropped_agent_root_at_empty`]) if it is still only hinted: neither it nor its agent
/// was written, so the frame is known empty again, spans record again. `false` when it was
/// written into the frame since: the caller clears the frame's span (and agent, for an agent
/// root).
#[inline(always)]
pub(crate) fn leave_hinted_root() -> bool {
    if shortcut(|t| t.frame.get()) < FRAME_HINTED {
        return false;
    }
    shortcut(|t| t.frame.set(FRAME_EMPTY));
    true
}

/// What the span path knows of the current frame (see [`Shortcut::frame`]), read once at a span's
/// entry and handed on.
#[derive(Clone, Copy)]
pub(crate) struct FrameState(u8);

impl FrameState {
    /// Nothing known: read the frame.
    pub(crate) const READ: FrameState = FrameState(FRAME_READ);

    /// Whether spans entered now record nothing.
    #[inline(always)]
    pub(crate) fn skips(self) -> bool {
        self.0 & FRAME_SKIP != 0
    }

    /// Whether the frame is known to have no span and no agent (and no hinted root): a new root
    /// may try [`enter_dropped_root_at_empty`].
    #[inline(always)]
    pub(crate) fn known_empty(self) -> bool {
        self.0 == FRAME_EMPTY
    }
}

/// Forgets that the frame is known empty (or holds a hinted root), before a span's entry reads
/// the frame, or after an exit made a span current in a frame that had none: the state is then
/// [`FrameState::READ`].
#[inline(always)]
pub(crate) fn forget_known_empty() {
    shortcut(|t| t.frame.set(FRAME_READ));
}

/// What the span path knows of the current frame now.
#[inline(always)]
pub(crate) fn frame_state() -> FrameState {
    FrameState(shortcut(|t| t.frame.get()))
}

/// Whether spans entered now record nothing (see [`Shortcut::frame`]).
#[inline(always)]
pub(crate) fn skip_spans() -> bool {
    frame_state().skips()
}

/// Updates [`Shortcut::frame`] after the current frame's span changed to `frame.span`, the frame
/// borrowed.
#[inline(always)]
pub(crate) fn mirror_frame(frame: &Frame) {
    shortcut(|t| {
        t.frame.set(if frame.span.is_some_and(|p| !p.recording) {
            FRAME_SKIP
        } else {
            FRAME_READ
        })
    });
}

/// The current frame's span is the root of a dropped trace (written into the frame).
#[inline(always)]
pub(crate) fn set_skip() {
    shortcut(|t| t.frame.set(FRAME_SKIP));
}

/// The current frame's span records again (or there is none).
#[inline(always)]
pub(crate) fn clear_skip() {
    shortcut(|t| t.frame.set(FRAME_READ));
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
            shortcut(|t| t.rng.set(start));
            let root = s.root_ids_at(s.seeded_state());
            let after_root = shortcut(|t| t.rng.get());
            shortcut(|t| t.rng.set(start));
            let one_by_one = (s.trace_id(), s.span_id());
            (root, one_by_one, after_root == shortcut(|t| t.rng.get()))
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
    fn a_hinted_root_is_the_root_an_eager_draw_makes_written_when_read() {
        let checked = with(|s| {
            let start = s.seeded_state();
            let (trace_id, span_id) = s.root_ids_at(start);
            let after_eager = shortcut(|t| t.rng.get());
            let eager = ParentRef {
                trace_id,
                span_id,
                recording: false,
                held: false,
            };
            // The same root hinted: the generator moves on as far, the frame is left alone.
            shortcut(|t| t.frame.set(FRAME_EMPTY));
            hint_root(start, None);
            assert_eq!(shortcut(|t| t.rng.get()), after_eager);
            assert!(skip_spans(), "spans under the root return at entry");
            // Read: written into the frame with the eager draw's ids, the same at every read.
            let read = || s.frame.try_borrow().ok().and_then(|f| f.span);
            assert_eq!(read(), Some(eager));
            assert_eq!(read(), Some(eager));
            assert!(skip_spans(), "still current, now in the frame");
            assert!(!frame_state().known_empty());
            assert!(!leave_hinted_root(), "written: the caller clears the frame");
            if let Ok(mut f) = s.frame.try_borrow_mut() {
                f.span = None;
            }
            clear_skip();
            // Not read: leaving it needs no frame, which is then known empty again.
            shortcut(|t| t.frame.set(FRAME_EMPTY));
            hint_root(start, None);
            assert!(leave_hinted_root());
            assert!(frame_state().known_empty() && !skip_spans());
            assert_eq!(read(), None, "never written");
            // Any borrow forgets that the frame is known empty (it may change under it).
            assert!(!frame_state().known_empty());
        });
        assert!(checked.is_some(), "the thread state is alive in a test");
    }

    #[test]
    fn an_agent_roots_hint_writes_its_agent_and_a_later_plain_hint_none() {
        let checked = with(|s| {
            let start = s.seeded_state();
            let read = || s.frame.try_borrow().ok().map(|f| (f.span, f.agent.clone()));
            // An agent root written when read: the root and its agent.
            shortcut(|t| t.frame.set(FRAME_EMPTY));
            hint_root(start, Some("triage"));
            assert!(skip_spans());
            let expected = Some(dropped_root_at(start));
            assert_eq!(read(), Some((expected, Some(SharedStr::Static("triage")))));
            assert!(!leave_hinted_root(), "written: the caller clears the frame");
            if let Ok(mut f) = s.frame.try_borrow_mut() {
                f.span = None;
                f.agent = None;
            }
            clear_skip();
            // Left while hinted: nothing was written, the frame is known empty again.
            shortcut(|t| t.frame.set(FRAME_EMPTY));
            hint_root(start, Some("triage"));
            assert!(leave_hinted_root());
            assert!(frame_state().known_empty());
            // A plain root hinted next carries no agent.
            hint_root(start, None);
            assert_eq!(read(), Some((expected, None)));
            if let Ok(mut f) = s.frame.try_borrow_mut() {
                f.span = None;
            }
            clear_skip();
            assert_eq!(read(), Some((None, None)));
        });
        assert!(checked.is_some(), "the thread state is alive in a test");
    }

    #[test]
    fn threads_draw_different_ids() {
        let first = || with(|s| s.span_id().0);
        let other = std::thread::spawn(first).join().ok().flatten();
        assert!(other.is_some());
        assert_ne!(other, first());
    }
}
