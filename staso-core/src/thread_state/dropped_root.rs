//! The root of a trace head sampling dropped outright that an async fn or a manual span's future
//! carries ([`DroppedRoot`]): decided at the entry without the thread's state, made current only
//! while it is polled.

use std::num::NonZeroU64;

use super::shortcut::{dropped_root_at, hint_root, root_dropped_at, shortcut, skip_root_ids};
use crate::client;
use crate::context::{Frame, ParentRef};
use crate::shared_str::SharedStr;

/// The root of a trace head sampling dropped outright, decided at a span's entry but not made
/// current there: the root of an async fn or of a manual span's future, current only while it
/// is polled ([`DroppedRoot::hint`]). Its ids are drawn only when something reads them. One
/// word (the generator's state), so that the futures carrying it move it as one: the agent of
/// an agent root travels beside it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct DroppedRoot(NonZeroU64);

impl DroppedRoot {
    /// The root whose ids are drawn from the generator's state `state` (not 0).
    #[cfg(test)]
    pub(super) fn at(state: u64) -> Option<DroppedRoot> {
        NonZeroU64::new(state).map(DroppedRoot)
    }

    /// The root's identity (not recording), as its children and readers of the frame see it.
    #[inline]
    pub(crate) fn ids(self) -> ParentRef {
        dropped_root_at(self.0.get())
    }

    /// The frame this root runs under when it cannot be hinted: it alone, with its `agent` (the
    /// frame it was created in was empty: see [`decide_dropped_root_at_empty`]).
    pub(crate) fn frame(self, agent: Option<&'static str>) -> Frame {
        Frame {
            span: Some(self.ids()),
            agent: agent.map(SharedStr::Static),
            ..Frame::EMPTY
        }
    }

    /// Makes this root (the agent span `agent`, or outside any agent) current by hinting it, the
    /// frame known empty ([`FrameState::known_empty`](super::FrameState::known_empty), nothing run since that was read): left
    /// with [`leave_hinted_root`](super::leave_hinted_root).
    #[inline(always)]
    pub(crate) fn hint(self, agent: Option<&'static str>) {
        hint_root(self.0.get(), agent);
    }
}

/// Decides a new root (the agent span `agent`, or outside any agent) at a frame known empty, without making it current: `Some` when head sampling drops its trace
/// outright, counted, the generator moved on past its ids; `None`, nothing drawn, otherwise (the
/// caller reads the frame and draws the same ids). Only where [`FrameState::known_empty`](super::FrameState::known_empty) said
/// so, nothing run since.
#[inline(always)]
pub(crate) fn decide_dropped_root_at_empty(agent: Option<&'static str>) -> Option<DroppedRoot> {
    let state = shortcut(|t| t.rng.get());
    // A state that decided anything is not 0 (`root_dropped_at`).
    let root = NonZeroU64::new(state).filter(|_| root_dropped_at(state, agent))?;
    skip_root_ids(state);
    client::count_sampled_out();
    Some(DroppedRoot(root))
}
