//! Everything the span path keeps per thread, in one thread-local: the current [`Frame`], the
//! record pool's local stock, and the cached client.
//!
//! They used to be three thread-locals; each access to one costs a lookup, a liveness check and
//! the call through `LocalKey`, and a span touched them five times. One key with a field per
//! concern lets a span reach all three with one lookup at entry and one at exit.

use std::cell::RefCell;
use std::sync::Arc;

use crate::client::ClientInner;
use crate::context::Frame;
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
}

thread_local! {
    static STATE: ThreadState = const {
        ThreadState {
            frame: RefCell::new(Frame::EMPTY),
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
