//! Manual spans around a closure or a future: [`span`], [`try_span`] and their async twins.

use std::borrow::Cow;

use super::handle::{Span, SpanName};
use crate::kind::{SpanKind, SpanStatus};

/// Runs `f` inside a new span of the given kind (a child of the current span) and returns its
/// value. The span is current inside `f`; a panic marks it `error` and continues. To record an
/// `Err` returned by `f`, call [`Span::record_exception`] or use [`try_span`].
pub fn span<R>(name: impl SpanName, kind: SpanKind, f: impl FnOnce(&Span) -> R) -> R {
    let s = Span::start(name, kind);
    let r = s.in_scope(|| f(&s));
    s.end();
    r
}

/// Like [`span`] for a closure returning `Result`: an `Err` marks the span `error` with the error's
/// `Display` as the message and its type as `exception.type`.
pub fn try_span<T, E: std::fmt::Display>(
    name: impl SpanName,
    kind: SpanKind,
    f: impl FnOnce(&Span) -> Result<T, E>,
) -> Result<T, E> {
    let s = Span::start(name, kind);
    let r = s.in_scope(|| f(&s));
    if let Err(e) = &r {
        record_err(&s, e);
    }
    s.end();
    r
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
    let s = Span::start(name, kind);
    let r = s.in_scope_async(f(&s)).await;
    s.end();
    r
}

/// The async counterpart of [`try_span`].
pub async fn try_span_async<T, E: std::fmt::Display>(
    name: impl SpanName,
    kind: SpanKind,
    f: impl AsyncFnOnce(&Span) -> Result<T, E>,
) -> Result<T, E> {
    let s = Span::start(name, kind);
    let r = s.in_scope_async(f(&s)).await;
    if let Err(e) = &r {
        record_err(&s, e);
    }
    s.end();
    r
}
