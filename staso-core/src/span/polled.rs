//! What an instrumented future makes current while it is polled ([`Polled`]): nothing, its frame
//! (swapped in for each poll), or the root of a trace head sampling dropped, hinted for each poll
//! without touching the frame.

use std::panic::{AssertUnwindSafe, catch_unwind};

use crate::context::{self, Frame};
use crate::thread_state::{self, DroppedRoot};

/// What an instrumented future ([`SpanFuture`](super::SpanFuture), [`InSpan`](super::InSpan))
/// makes current while it is polled.
pub(super) enum Polled {
    /// Nothing: no span records (or the future completed); polled as it is.
    Nothing,
    /// Its frame, swapped in for each poll; what the poll changes in it is kept.
    Frame(Frame),
    /// The root of a trace head sampling dropped outright (no record), decided where the frame
    /// was empty: hinted for each poll that finds this thread's frame known empty (a load and a
    /// few stores, no swap). A poll that finds it otherwise, or during which something wrote the
    /// root into the frame, turns it into [`Polled::Frame`] (the frame it would have had, or
    /// the one the poll left), so every reader still sees the root and its children still skip.
    Hinted(DroppedRoot),
    /// [`Polled::Hinted`] for an agent root: its agent is current with it.
    HintedAgent(DroppedRoot, &'static str),
}

impl Polled {
    /// A future run under `frame` (swapped in for each poll), or under nothing.
    pub(super) fn of_frame(frame: Option<Frame>) -> Polled {
        match frame {
            Some(frame) => Polled::Frame(frame),
            None => Polled::Nothing,
        }
    }

    /// Runs `poll` (one poll of the wrapped future) with what this makes current: its result, or
    /// the panic it raised (after putting the thread's frame back). [`Polled::Nothing`] runs it
    /// as it is, and so does a hinted root (no record to mark: a panic unwinds through the guard
    /// that leaves the root).
    #[inline]
    pub(super) fn run<T>(&mut self, poll: impl FnOnce() -> T) -> std::thread::Result<T> {
        let hinted = match *self {
            Polled::Hinted(root) => Some((root, None)),
            Polled::HintedAgent(root, agent) => Some((root, Some(agent))),
            _ => None,
        };
        if let Some((root, agent)) = hinted {
            if thread_state::frame_state().known_empty() {
                return Ok(thread_state::run_hinted(root, agent, poll, |frame| {
                    *self = Polled::Frame(frame)
                }));
            }
            *self = Polled::Frame(root.frame(agent));
        }
        match self {
            Polled::Frame(frame) => {
                context::in_frame(frame, || catch_unwind(AssertUnwindSafe(poll)))
            }
            _ => Ok(poll()),
        }
    }

    /// Whether this hints a dropped root.
    #[inline]
    pub(super) fn is_hinted(&self) -> bool {
        matches!(self, Polled::Hinted(_) | Polled::HintedAgent(..))
    }
}
