//! The context a new span inherits: its parent, conversation, user and agent (the [`Frame`]).
//! Where the current frame is kept and swapped is `context`'s concern.

use crate::ids::{SpanId, TraceId};
use crate::shared_str::SharedStr;

/// The identity of the current span, as its children need it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ParentRef {
    /// Trace the span belongs to.
    pub trace_id: TraceId,
    /// The span's id.
    pub span_id: SpanId,
    /// False once the span was dropped, or when head sampling dropped its trace: its
    /// descendants are not recorded (PROTOCOL.md §2.2).
    pub recording: bool,
    /// Head sampling dropped the trace but tail rules may keep it: descendants are recorded and
    /// held on the delivery side until the root ends.
    pub held: bool,
}

/// Everything a new span inherits from where it is created.
#[derive(Clone, Debug, Default)]
pub struct Frame {
    /// The current span, if any.
    pub span: Option<ParentRef>,
    /// Conversation id set by `conversation!`.
    pub session: Option<SharedStr>,
    /// User id set by `conversation!`.
    pub user: Option<SharedStr>,
    /// Name of the innermost `#[agent]`.
    pub agent: Option<SharedStr>,
}

impl Frame {
    /// The frame outside any span, conversation or agent.
    pub const EMPTY: Frame = Frame {
        span: None,
        session: None,
        user: None,
        agent: None,
    };

    /// Whether the frame has nothing in it (as [`Frame::EMPTY`]).
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.span.is_none() && self.session.is_none() && self.user.is_none() && self.agent.is_none()
    }
}
