//! Spans: the span of an instrumented fn (what the attribute macros call, `fn_span.rs` for sync
//! fns and `future.rs` for async ones) and manual spans (`manual.rs`: [`span`], [`try_span`],
//! [`Span`]). Both build their record and hand it to the client's exporter through `scope.rs`,
//! the one place that touches the thread's state on entry and exit.

mod fn_span;
mod future;
mod manual;
mod scope;

pub use fn_span::{ActiveSpan, Capture, classify_opaque, enter_current};
pub use future::{AsyncSpan, SpanFuture, enter_async};
pub use manual::{InSpan, Span, StatusDescription, span, span_async, try_span, try_span_async};
pub(crate) use scope::{emit, new_record};
