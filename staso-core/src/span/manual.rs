//! Manual spans around a closure or a future: [`span`], [`try_span`] and their async twins.

use std::borrow::Cow;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};

use super::handle::{InSpan, Span, SpanName};
use super::polled::Polled;
use crate::kind::{SpanKind, SpanStatus};
use crate::thread_state::{self, DroppedRoot};

/// Runs `f` inside a new span of the given kind (a child of the current span) and returns its
/// value. The span is current inside `f`; a panic marks it `error` and continues. To record an
/// `Err` returned by `f`, call [`Span::record_exception`] or use [`try_span`].
pub fn span<R>(name: impl SpanName, kind: SpanKind, f: impl FnOnce(&Span) -> R) -> R {
    run_in_span(name, kind, f, |_, _| {})
}

/// Like [`span`] for a closure returning `Result`: an `Err` marks the span `error` with the error's
/// `Display` as the message and its type as `exception.type`.
pub fn try_span<T, E: std::fmt::Display>(
    name: impl SpanName,
    kind: SpanKind,
    f: impl FnOnce(&Span) -> Result<T, E>,
) -> Result<T, E> {
    run_in_span(name, kind, f, |s, r| {
        if let Err(e) = r {
            record_err(s, e);
        }
    })
}

/// [`span`] and [`try_span`]: `f` runs with the new span current, `after` sees its value before
/// the span ends.
///
/// The root of a trace head sampling drops outright, started where the frame is known empty, is
/// made current without a frame swap or a record (`thread_state::run_hinted`).
#[inline]
fn run_in_span<R>(
    name: impl SpanName,
    kind: SpanKind,
    f: impl FnOnce(&Span) -> R,
    after: impl FnOnce(&Span, &R),
) -> R {
    if let Some(root) = dropped_root_at_empty() {
        let s = Span::dropped_root(root.ids());
        let value = thread_state::run_hinted(
            root,
            None,
            || catch_unwind(AssertUnwindSafe(|| f(&s))),
            drop,
        );
        return match value {
            Ok(value) => {
                after(&s, &value);
                value
            }
            Err(payload) => {
                drop(s);
                resume_unwind(payload)
            }
        };
    }
    let s = Span::start(name, kind);
    let value = s.in_scope(|| f(&s));
    after(&s, &value);
    value
}

/// The root of a trace head sampling drops outright, for a manual span started where the frame
/// is known empty (a load, a draw, a compare); `None` otherwise, nothing drawn.
#[inline]
fn dropped_root_at_empty() -> Option<DroppedRoot> {
    if !crate::client::is_recording() || !thread_state::frame_state().known_empty() {
        return None;
    }
    thread_state::decide_dropped_root_at_empty(None)
}

pub(super) fn record_err<E: std::fmt::Display>(s: &Span, e: &E) {
    let message = e.to_string();
    let type_name = std::any::type_name::<E>();
    s.with_record(move |r, _| {
        r.status = SpanStatus::Error;
        r.error_message = Some(message);
        r.exception_type = Some(Cow::Borrowed(type_name));
    });
}

/// The async counterpart of [`span`]: `f` is an async closure receiving the span.
///
/// ```
/// # async fn demo() {
/// use staso_core::{SpanKind, span_async};
/// let n = span_async("fetch", SpanKind::Retriever, async |s| {
///     s.set_metadata("source", "faq");
///     3
/// })
/// .await;
/// # }
/// ```
pub async fn span_async<R>(
    name: impl SpanName,
    kind: SpanKind,
    f: impl AsyncFnOnce(&Span) -> R,
) -> R {
    let (s, current) = start_polled(name, kind);
    InSpan::new(f(&s), current, &s).await
}

/// The async counterpart of [`try_span`].
pub async fn try_span_async<T, E: std::fmt::Display>(
    name: impl SpanName,
    kind: SpanKind,
    f: impl AsyncFnOnce(&Span) -> Result<T, E>,
) -> Result<T, E> {
    let (s, current) = start_polled(name, kind);
    let r = InSpan::new(f(&s), current, &s).await;
    if let Err(e) = &r {
        record_err(&s, e);
    }
    r
}

/// A new span for [`span_async`] and what its future makes current: the root of a trace head
/// sampling drops outright, started where the frame is known empty, is hinted for each poll.
fn start_polled(name: impl SpanName, kind: SpanKind) -> (Span, Polled) {
    if let Some(root) = dropped_root_at_empty() {
        return (Span::dropped_root(root.ids()), Polled::Hinted(root));
    }
    let s = Span::start(name, kind);
    let current = Polled::of_frame(s.child_frame());
    (s, current)
}
