//! The destructor-free half of the span path's per-thread state ([`Shortcut`]: a plain load, no
//! liveness check): the id generator's state and what the span path knows of the current frame
//! without reading it, which lets a span under a dropped span return at once and the root of a
//! trace head sampling drops be made current without touching the frame ([`FrameCell`] writes such
//! a "hinted" root into the frame before anyone borrows it).

use std::cell::{BorrowError, BorrowMutError, Cell, Ref, RefCell, RefMut};

use super::rng::{WYRAND_STEP, wyrand_output};
use crate::client;
use crate::config::sampled_below;
use crate::context::{Frame, ParentRef};
use crate::ids::{SpanId, TraceId};
use crate::shared_str::SharedStr;

/// The part of the span path's per-thread state that needs no destructor, so that reaching it
/// is a plain load (the thread-local [`STATE`] adds a liveness check, and its frame a borrow):
/// enough for a span entered under a span that does not record, and for the root of a trace
/// head sampling drops, to skip `STATE` altogether.
pub(super) struct Shortcut {
    /// What the span path knows of the current frame without reading it:
    ///
    /// - [`FRAME_READ`]: nothing known, read the frame;
    /// - [`FRAME_SKIP`]: the current span does not record (the root of a dropped trace, or a
    ///   swapped-in frame under a dropped span), so spans entered now return at once. Exact
    ///   while set: whatever makes a recording span current (a frame swap, restoring an agent's
    ///   saved span, leaving a dropped root) updates it; `drop_span` need not set it (the entry
    ///   path then reads the frame);
    /// - [`FRAME_EMPTY`]: the frame is empty (no span, conversation, user or agent: a frame as
    ///   [`Frame::EMPTY`]), and nothing borrows it;
    /// - [`FRAME_HINTED`]: as `FRAME_EMPTY`, but the root of a dropped trace is current without
    ///   being written into the frame (see `root`); spans entered now return at once;
    /// - [`FRAME_HINTED_AGENT`]: as `FRAME_HINTED`, for an agent root whose agent (see `agent`)
    ///   is current with it.
    ///
    /// Every borrow of the frame ([`FrameCell`]) first writes a hinted root into it and turns
    /// the last three into the first two, so only the span path's entry and exit of such a root
    /// ever see them.
    pub(super) frame: Cell<u8>,
    /// With [`FRAME_HINTED`]: the generator's state the current root's ids are drawn from (see
    /// [`dropped_root_at`]).
    pub(super) root: Cell<u64>,
    /// With [`FRAME_HINTED_AGENT`]: the agent the current root made current. Set with every such
    /// hint (a plain root's hint leaves it alone, and the state says it is not read).
    pub(super) agent: Cell<Option<&'static str>>,
    /// State of the id generator (0: not seeded yet).
    pub(super) rng: Cell<u64>,
    /// The last agent whose own rate an agent root was decided by (see
    /// `client::agent_root_keep_threshold`), with the client generation it was read at and its
    /// threshold: one agent's roots in a row decide with a compare. Empty: generation 0 and `""`.
    pub(super) rated_agent: Cell<&'static str>,
    /// See [`Shortcut::rated_agent`].
    pub(super) rated_generation: Cell<u64>,
    /// See [`Shortcut::rated_agent`].
    pub(super) rated_threshold: Cell<u64>,
}

thread_local! {
    static SHORTCUT: Shortcut = const {
        Shortcut {
            frame: Cell::new(FRAME_READ),
            root: Cell::new(0),
            agent: Cell::new(None),
            rng: Cell::new(0),
            // Never a hit: no client has generation 0.
            rated_agent: Cell::new(""),
            rated_generation: Cell::new(0),
            rated_threshold: Cell::new(u64::MAX),
        }
    };
}

/// Runs `f` with this thread's [`Shortcut`] (never destroyed: no check).
#[inline(always)]
pub(super) fn shortcut<R>(f: impl FnOnce(&Shortcut) -> R) -> R {
    SHORTCUT.with(f)
}

/// [`Shortcut::frame`]: read the frame.
pub(super) const FRAME_READ: u8 = 0;
/// [`Shortcut::frame`]: the current span does not record. The bit every state whose spans return at
/// entry has.
pub(super) const FRAME_SKIP: u8 = 1;
/// [`Shortcut::frame`]: the frame is empty (as [`Frame::EMPTY`]), and nothing borrows it.
pub(super) const FRAME_EMPTY: u8 = 2;
/// [`Shortcut::frame`]: the root of a dropped trace is current, only in [`Shortcut::root`].
pub(super) const FRAME_HINTED: u8 = FRAME_EMPTY | FRAME_SKIP;
/// [`Shortcut::frame`]: an agent root of a dropped trace is current, only in [`Shortcut::root`]
/// and [`Shortcut::agent`]. The only state above [`FRAME_HINTED`], so `>= FRAME_HINTED` is "hinted".
pub(super) const FRAME_HINTED_AGENT: u8 = 4 | FRAME_HINTED;

/// The thread's current frame. Its borrows are `RefCell`'s, after writing into the frame the
/// root of a dropped trace that [`enter_dropped_root_at_empty`] made current without it: every
/// reader (`Span::current`, propagation, context capture, frame swaps) sees that root as the
/// current span, with the same ids each time.
pub(crate) struct FrameCell(pub(super) RefCell<Frame>);

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
    /// settling [`Shortcut::frame`] (no load, no store): only an empty frame can be known empty or
    /// hold a hinted root, so replacing a span leaves that state true, and so does clearing one. The caller that makes a span current in a frame that had none (only
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
pub(super) fn dropped_root_at(state: u64) -> ParentRef {
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
/// trace outright and the frame is known empty ([`FRAME_EMPTY`]): it is
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

/// How [`enter_dropped_agent_root_at_empty`] decided an agent root.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum AgentRootEntry {
    /// Head sampling dropped its trace outright: the root is counted and hinted with its agent.
    Dropped,
    /// Not dropped here (kept, or left to the client): nothing drawn; the caller reads the frame
    /// and draws the same ids.
    NotDropped,
    /// Decided by its agent's own rate, which this thread's cache does not hold: the caller
    /// reads it with [`rate_agent`] (cold) and decides with [`enter_dropped_agent_root_rated`].
    Unrated,
}

/// [`enter_dropped_root_at_empty`] for a root that is the agent span `agent`, hinted with its
/// agent (which [`FrameCell`] writes into the frame with the root). Decided against
/// `client::agent_root_keep` when the client has no per-agent rate; with per-agent rates that
/// drop roots outright (`client::BY_OWN_RATE`), against the agent's own rate from this thread's
/// cache ([`Shortcut::rated_agent`]), or [`AgentRootEntry::Unrated`] when the cache does not
/// hold it. One load of the client's threshold either way.
#[inline(always)]
pub(crate) fn enter_dropped_agent_root_at_empty(agent: &'static str) -> AgentRootEntry {
    let threshold = match client::agent_root_keep() {
        client::BY_OWN_RATE => match cached_own_threshold(agent) {
            Some(threshold) => threshold,
            None => return AgentRootEntry::Unrated,
        },
        keep => keep,
    };
    enter_dropped_agent_root_rated(agent, threshold)
}

/// [`enter_dropped_agent_root_at_empty`] with the threshold below which `agent`'s root is kept
/// (from [`rate_agent`] after [`AgentRootEntry::Unrated`]); never `Unrated`.
#[inline(always)]
pub(crate) fn enter_dropped_agent_root_rated(
    agent: &'static str,
    threshold: u64,
) -> AgentRootEntry {
    let state = shortcut(|t| t.rng.get());
    if drop_root_if(state, Some(agent), |trace_id| {
        !sampled_below(trace_id, threshold)
    }) {
        AgentRootEntry::Dropped
    } else {
        AgentRootEntry::NotDropped
    }
}

/// [`enter_dropped_root_at_empty`] for the root drawn from the generator's state `state` (0: not
/// seeded), the agent span `agent` or outside any agent, the frame empty and not borrowed:
/// `false` when its trace is kept (or asks the client), not seeded, or the trace id's low half
/// is zero (a 2^-64 chance; the id must not be zero).
#[inline(always)]
pub(super) fn drop_root_at(state: u64, agent: Option<&'static str>) -> bool {
    drop_root_if(state, agent, |trace_id| root_drops(trace_id, agent))
}

/// [`drop_root_at`], the decision `drops` given the trace id's low half.
#[inline(always)]
fn drop_root_if(
    state: u64,
    agent: Option<&'static str>,
    drops: impl FnOnce(TraceId) -> bool,
) -> bool {
    let lo = wyrand_output(state.wrapping_add(2 * WYRAND_STEP));
    if state == 0 || lo == 0 || !drops(TraceId(u128::from(lo))) {
        return false;
    }
    skip_root_ids(state);
    hint_root(state, agent);
    client::count_sampled_out();
    true
}

/// Whether head sampling drops the root drawn from the generator's state `state` outright (see
/// [`drop_root_at`]), deciding from its trace id's low half alone ([`root_drops`]); nothing
/// drawn or counted.
#[inline(always)]
pub(super) fn root_dropped_at(state: u64, agent: Option<&'static str>) -> bool {
    let lo = wyrand_output(state.wrapping_add(2 * WYRAND_STEP));
    state != 0 && lo != 0 && root_drops(TraceId(u128::from(lo)), agent)
}

/// Whether head sampling drops outright the new root whose trace id's low half is `trace_id`'s:
/// against the threshold for roots outside any agent, or for the agent span `agent` against the
/// agent roots' threshold or its agent's own rate.
#[inline(always)]
fn root_drops(trace_id: TraceId, agent: Option<&'static str>) -> bool {
    match agent {
        None => client::drops_root(trace_id),
        Some(agent) => match client::agent_root_keep() {
            client::BY_OWN_RATE => dropped_by_own_rate(trace_id, agent),
            keep => !sampled_below(trace_id, keep),
        },
    }
}

/// Whether the root of the new trace `trace_id` that is the agent span `agent` is dropped by its
/// agent's own rate, the client dropping agent roots so (`client::BY_OWN_RATE`): its threshold
/// comes from this thread's cache ([`Shortcut::rated_agent`]), read from the client when the
/// agent or the client changed.
#[inline]
fn dropped_by_own_rate(trace_id: TraceId, agent: &'static str) -> bool {
    let threshold = match cached_own_threshold(agent) {
        Some(threshold) => threshold,
        None => rate_agent(agent),
    };
    !sampled_below(trace_id, threshold)
}

/// The threshold of `agent`'s own rate, if this thread's cache holds it for the installed client.
#[inline(always)]
fn cached_own_threshold(agent: &'static str) -> Option<u64> {
    let generation = client::generation();
    shortcut(|t| {
        let hit =
            t.rated_generation.get() == generation && std::ptr::eq(t.rated_agent.get(), agent);
        hit.then(|| t.rated_threshold.get())
    })
}

/// Reads the threshold of `agent`'s own rate from the client and caches it for this thread, with
/// the client generation read before it (a client installed meanwhile makes the next root read
/// it again).
#[cold]
#[inline(never)]
pub(crate) fn rate_agent(agent: &'static str) -> u64 {
    let generation = client::generation();
    let threshold = client::agent_root_keep_threshold(agent);
    shortcut(|t| {
        t.rated_agent.set(agent);
        t.rated_generation.set(generation);
        t.rated_threshold.set(threshold);
    });
    threshold
}

/// Moves the generator on from `state` as far as drawing a root's ids would have moved it.
#[inline(always)]
pub(super) fn skip_root_ids(state: u64) {
    shortcut(|t| t.rng.set(state.wrapping_add(3 * WYRAND_STEP)));
}

/// Makes the root drawn from the generator's state `state` (with its agent, for an agent root)
/// current by hinting it ([`FRAME_HINTED`], [`FRAME_HINTED_AGENT`]), the frame known empty and
/// not borrowed. The generator is left alone (see [`skip_root_ids`]).
#[inline(always)]
pub(super) fn hint_root(state: u64, agent: Option<&'static str>) {
    shortcut(|t| {
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

    /// Whether the frame is known empty (no span, conversation, user or agent, and no hinted
    /// root): a new root may try [`enter_dropped_root_at_empty`].
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
/// borrowed. A frame with nothing at all in it is known empty ([`FRAME_EMPTY`]): the caller's
/// borrow ends before anything reads the state.
#[inline(always)]
pub(crate) fn mirror_frame(frame: &Frame) {
    let state = match frame.span {
        Some(p) if !p.recording => FRAME_SKIP,
        Some(_) => FRAME_READ,
        None if frame.is_empty() => FRAME_EMPTY,
        None => FRAME_READ,
    };
    shortcut(|t| t.frame.set(state));
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
