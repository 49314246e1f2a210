//! The context stack: which span is current, and the conversation, user and agent it runs under.
//!
//! Sync code keeps the current [`Frame`] in a thread-local; entering a span swaps fields in and a
//! guard swaps them back. Async code carries a whole frame inside the future ([`WithContext`]) and
//! swaps it into the thread-local for the duration of each `poll`, so a task that migrates between
//! worker threads keeps its context and two tasks interleaved on one thread never see each other's.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};

pub use crate::frame::{Frame, ParentRef};
use crate::shared_str::SharedStr;
use crate::thread_state::{self, FrameCell};

/// Runs `f` with the current frame (read-only). The frame lives in the thread's state (see
/// `thread_state`).
pub fn with_current<R>(f: impl FnOnce(&Frame) -> R) -> R {
    thread_state::with_live(|s| f(&s.frame.borrow()))
}

/// Runs `f` with the current frame (mutable). Used by span entry/exit and `drop_span`.
pub(crate) fn with_current_mut<R>(f: impl FnOnce(&mut Frame) -> R) -> R {
    thread_state::with_live(|s| f(&mut s.frame.borrow_mut()))
}

/// Swaps `frame` with the frame in `current` (the thread's, see `thread_state`).
fn swap_in(current: &FrameCell, frame: &mut Frame) {
    let mut current = current.borrow_mut();
    std::mem::swap(&mut *current, frame);
    thread_state::mirror_frame(&current);
}

/// Restores a swapped frame even when the code in between panics.
struct SwapBack<'a> {
    current: &'a FrameCell,
    frame: &'a mut Frame,
}

impl Drop for SwapBack<'_> {
    fn drop(&mut self) {
        swap_in(self.current, self.frame);
    }
}

/// Runs `f` with `frame` installed as the current frame, then puts everything back; changes made
/// to the current frame inside `f` (e.g. `drop_span`) are kept in `frame`.
pub(crate) fn in_frame<R>(frame: &mut Frame, f: impl FnOnce() -> R) -> R {
    thread_state::with_live(|s| in_frame_of(&s.frame, frame, f))
}

/// [`in_frame`] with the thread's frame cell already looked up (one thread-local access for
/// the swap in and the swap back).
pub(crate) fn in_frame_of<R>(current: &FrameCell, frame: &mut Frame, f: impl FnOnce() -> R) -> R {
    swap_in(current, frame);
    let _back = SwapBack { current, frame };
    f()
}

/// A captured context: the current span, conversation, user and agent at the moment of capture.
///
/// Capture it where work is handed off and attach it where the work runs:
/// ```
/// let ctx = staso_core::Context::current();
/// std::thread::spawn(move || ctx.in_scope(|| { /* spans here are children of the caller's span */ }))
///     .join()
///     .ok();
/// ```
#[derive(Clone, Debug, Default)]
pub struct Context {
    frame: Frame,
}

impl Context {
    /// The calling thread's (or task's) current context.
    pub fn current() -> Self {
        Context {
            frame: with_current(Frame::clone),
        }
    }

    /// Builds a context from a frame.
    pub fn from_frame(frame: Frame) -> Self {
        Context { frame }
    }

    /// The frame.
    pub fn frame(&self) -> &Frame {
        &self.frame
    }

    /// The frame, by value.
    pub fn into_frame(self) -> Frame {
        self.frame
    }

    /// Makes this context current on this thread until the guard is dropped (guards must be
    /// dropped in the reverse order of their creation, on the same thread). Prefer
    /// [`in_scope`](Self::in_scope) or [`wrap`](Self::wrap), which cannot be misnested; this form is
    /// for integrations whose enter and exit are separate callbacks (a `tracing` layer, a
    /// request middleware).
    pub fn attach(self) -> ContextGuard {
        let mut frame = self.frame;
        swap_current_frame(&mut frame);
        ContextGuard {
            previous: Some(frame),
            _not_send: std::marker::PhantomData,
        }
    }

    /// Runs `f` with this context current on this thread.
    pub fn in_scope<R>(mut self, f: impl FnOnce() -> R) -> R {
        in_frame(&mut self.frame, f)
    }

    /// Wraps a future so that this context is current whenever it is polled.
    pub fn wrap<F: Future>(self, future: F) -> WithContext<F> {
        WithContext {
            inner: future,
            frame: self.frame,
        }
    }
}

/// Restores the context that [`Context::attach`] replaced, when dropped.
#[must_use = "the context is current only until the guard is dropped"]
#[derive(Debug)]
pub struct ContextGuard {
    previous: Option<Frame>,
    /// The frame is this thread's: the guard must be dropped where it was made.
    _not_send: std::marker::PhantomData<*const ()>,
}

impl Drop for ContextGuard {
    fn drop(&mut self) {
        if let Some(mut frame) = self.previous.take() {
            swap_current_frame(&mut frame);
        }
    }
}

/// Swaps `frame` with this thread's current frame (nothing happens during thread teardown).
pub(crate) fn swap_current_frame(frame: &mut Frame) {
    let _ = thread_state::with(|s| {
        if let Ok(mut current) = s.frame.try_borrow_mut() {
            std::mem::swap(&mut *current, frame);
            thread_state::mirror_frame(&current);
        }
    });
}

pin_project_lite::pin_project! {
    /// A future that runs under a fixed [`Context`], re-entered on every poll.
    #[must_use = "futures do nothing unless polled"]
    pub struct WithContext<F> {
        #[pin]
        inner: F,
        frame: Frame,
    }
}

impl<F: Future> Future for WithContext<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<F::Output> {
        let this = self.project();
        let inner = this.inner;
        in_frame(this.frame, || inner.poll(cx))
    }
}

/// Extension for futures: `.in_current_span()` makes the future run under the caller's context
/// (its spans become children of the current span, and it keeps the conversation and agent).
pub trait FutureExt: Future + Sized {
    /// Captures the current context now and re-enters it on every poll of the returned future.
    fn in_current_span(self) -> WithContext<Self> {
        Context::current().wrap(self)
    }

    /// Runs the future under the given context.
    fn with_context(self, ctx: Context) -> WithContext<Self> {
        ctx.wrap(self)
    }
}

impl<F: Future> FutureExt for F {}

/// Spawns a tokio task that is a child of the current span (same conversation, user and agent).
///
/// Must be called from within a tokio runtime, exactly like `tokio::spawn`.
pub fn spawn<F>(future: F) -> tokio::task::JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    tokio::spawn(future.in_current_span())
}

/// Spawns an OS thread that runs under the current context (see [`std::thread::spawn`]).
pub fn spawn_thread<F, T>(f: F) -> std::thread::JoinHandle<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    let ctx = Context::current();
    std::thread::spawn(move || ctx.in_scope(f))
}

pin_project_lite::pin_project! {
    /// The future returned by `conversation!(…, async { … })`: the conversation id and user id
    /// are current on every poll.
    #[must_use = "futures do nothing unless polled"]
    pub struct Conversation<F> {
        #[pin]
        inner: WithContext<F>,
    }
}

impl<F: Future> Future for Conversation<F> {
    type Output = F::Output;
    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<F::Output> {
        self.project().inner.poll(cx)
    }
}

/// The frame of a conversation started here: the current frame with session (and user, when
/// given) replaced. A missing id gets a fresh UUIDv4.
fn conversation_frame(id: Option<String>, user_id: Option<String>) -> Frame {
    let mut frame = with_current(Frame::clone);
    let id = match id {
        Some(id) if !id.is_empty() => id,
        _ => uuid::Uuid::new_v4().to_string(),
    };
    frame.session = Some(SharedStr::from(id));
    if let Some(u) = user_id.filter(|u| !u.is_empty()) {
        frame.user = Some(SharedStr::from(u));
    }
    frame
}

/// Runs `f` inside a conversation (sync form of `conversation!`).
pub fn in_conversation<R>(id: Option<String>, user_id: Option<String>, f: impl FnOnce() -> R) -> R {
    let mut frame = conversation_frame(id, user_id);
    in_frame(&mut frame, f)
}

/// Wraps a future in a conversation (async form of `conversation!`). The conversation's frame is
/// built now, from the caller's context, so the future may be polled anywhere.
pub fn conversation_future<F: Future>(
    id: Option<String>,
    user_id: Option<String>,
    future: F,
) -> Conversation<F> {
    let frame = conversation_frame(id, user_id);
    Conversation {
        inner: Context::from_frame(frame).wrap(future),
    }
}

/// Restores the conversation that was current before [`enter_conversation`]. Not `Send`: holding
/// it across an `.await` would leak the conversation to other tasks, so that does not compile in a
/// spawned future — use the `async` form of `conversation!` there.
#[must_use = "the conversation ends when the guard is dropped"]
pub struct ConversationGuard {
    saved: Option<(Option<SharedStr>, Option<SharedStr>)>,
    _not_send: std::marker::PhantomData<*const ()>,
}

/// Makes a conversation current on this thread until the guard is dropped (sync form of
/// `conversation!`; the block keeps its own `return` and `?`).
pub fn enter_conversation(id: Option<String>, user_id: Option<String>) -> ConversationGuard {
    let frame = conversation_frame(id, user_id);
    let saved = with_current_mut(|f| {
        let s = std::mem::replace(&mut f.session, frame.session);
        let u = std::mem::replace(&mut f.user, frame.user);
        (s, u)
    });
    ConversationGuard {
        saved: Some(saved),
        _not_send: std::marker::PhantomData,
    }
}

impl Drop for ConversationGuard {
    fn drop(&mut self) {
        if let Some((s, u)) = self.saved.take() {
            // During thread teardown the thread-local may be gone; nothing to restore then.
            let _ = thread_state::with(|state| {
                if let Ok(mut f) = state.frame.try_borrow_mut() {
                    f.session = s;
                    f.user = u;
                }
            });
        }
    }
}

/// Converts a `conversation!` id or user id expression: a string (`&str`, `String`, `format!(…)`,
/// …) is `Some`, an `Option` of one is itself (`None` id → a fresh id, `None` user → no user).
pub fn conversation_arg(v: impl ConversationArg) -> Option<String> {
    v.into_conversation_arg()
}

/// What `conversation!` accepts as an id or user id: the types `String` converts from, and
/// `Option`s of them. (Listed one by one: a blanket impl over `Into<String>` beside the one for
/// `Option<T>` would overlap in coherence's eyes.)
pub trait ConversationArg {
    /// The id, or `None` for none.
    fn into_conversation_arg(self) -> Option<String>;
}

macro_rules! conversation_arg_from {
    ($($t:ty),*) => {$(
        impl ConversationArg for $t {
            fn into_conversation_arg(self) -> Option<String> {
                Some(self.into())
            }
        }
    )*};
}

conversation_arg_from!(
    String,
    &str,
    &mut str,
    &String,
    Box<str>,
    std::borrow::Cow<'_, str>,
    char
);

impl<T: Into<String>> ConversationArg for Option<T> {
    fn into_conversation_arg(self) -> Option<String> {
        self.map(Into::into)
    }
}

/// The current conversation id, if inside `conversation!`.
pub fn current_session_id() -> Option<String> {
    with_current(|f| f.session.as_ref().map(|s| s.to_string()))
}

/// The current user id, if set by `conversation!`.
pub fn current_user_id() -> Option<String> {
    with_current(|f| f.user.as_ref().map(|s| s.to_string()))
}

/// The current span's identity when a span records (no allocation: for integrations that check
/// on every call, such as a `tracing` layer).
pub fn current_span_ref() -> Option<ParentRef> {
    if !crate::client::is_recording() {
        return None;
    }
    thread_state::with(|s| s.frame.try_borrow().ok().and_then(|f| f.span))
        .flatten()
        .filter(|p| p.recording)
}

/// The ids of the current span as wire strings `(trace_id, span_id)`, if a recording span is current.
pub fn current_span_ids() -> Option<(String, String)> {
    with_current(|f| {
        f.span
            .filter(|s| s.recording)
            .map(|s| (s.trace_id.to_string(), s.span_id.to_string()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversations_nest_and_restore() {
        in_conversation(Some("outer".into()), Some("u1".into()), || {
            assert_eq!(current_session_id().as_deref(), Some("outer"));
            in_conversation(Some("inner".into()), None, || {
                assert_eq!(current_session_id().as_deref(), Some("inner"));
                assert_eq!(current_user_id().as_deref(), Some("u1"));
            });
            assert_eq!(current_session_id().as_deref(), Some("outer"));
        });
        assert_eq!(current_session_id(), None);
    }

    #[test]
    fn conversation_args_take_strings_and_options() {
        assert_eq!(conversation_arg("a").as_deref(), Some("a"));
        assert_eq!(conversation_arg(String::from("b")).as_deref(), Some("b"));
        assert_eq!(conversation_arg(Some("c")).as_deref(), Some("c"));
        assert_eq!(
            conversation_arg(Some(String::from("d"))).as_deref(),
            Some("d")
        );
        assert_eq!(conversation_arg(None::<&str>), None);
        assert_eq!(conversation_arg(None::<String>), None);
    }

    #[test]
    fn missing_id_gets_a_uuid() {
        let id = in_conversation(None, None, current_session_id).unwrap_or_default();
        assert!(uuid::Uuid::parse_str(&id).is_ok(), "{id}");
    }

    #[test]
    fn context_is_restored_after_a_panic() {
        let r = std::panic::catch_unwind(|| {
            in_conversation(Some("c".into()), None, || panic!("boom"));
        });
        assert!(r.is_err());
        assert_eq!(current_session_id(), None);
    }

    #[test]
    fn thread_spawn_carries_the_context() {
        let got = in_conversation(Some("t".into()), None, || {
            spawn_thread(current_session_id).join().ok()
        });
        assert_eq!(got.flatten().as_deref(), Some("t"));
    }
}
