//! The entry of an `#[agent]` sync fn ([`enter_current_agent`]): the attribute knows the role
//! where it expands, so the entry skips the role check, and the root of a trace head sampling drops
//! is decided inline, in the agent's fn.

use crate::record::CallSite;
use crate::thread_state::{self, AgentRootEntry};

use super::fn_capture::Capture;
use super::fn_span::{ActiveSpan, begin_agent, begin_undropped_agent_at_empty, entry_frame};

/// [`enter_current`](super::enter_current) for an `#[agent]` fn, which the attribute calls
/// instead: the role is known where it expands, so the entry goes straight to the agent spans'
/// path without asking the site.
/// The span is an agent span whatever `site.role` says (the attribute sets
/// [`Role::Agent`](crate::record::Role::Agent)).
#[inline]
pub fn enter_current_agent(
    site: &'static CallSite,
    capture: impl FnOnce(&mut Capture<'_>),
) -> ActiveSpan {
    let Some(frame) = entry_frame() else {
        return ActiveSpan::NONE;
    };
    let span = if !frame.known_empty() {
        begin_agent(site)
    } else {
        // Decided here, in the agent's fn (as `begin_agent_at_empty` does out of line): the
        // dropped root's path makes no call (the fn saves its registers anyway, for the recording
        // path), and the fn builds the dropped root's span itself.
        match thread_state::enter_dropped_agent_root_at_empty(site.name) {
            AgentRootEntry::Dropped => ActiveSpan::dropped_root(true),
            entry => begin_undropped_agent_at_empty(site, entry),
        }
    };
    span.capture(site, capture)
}
