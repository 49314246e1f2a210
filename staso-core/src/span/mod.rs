//! Spans: the span of an instrumented fn (what the attribute macros call, `fn_span.rs` for sync
//! fns, `fn_agent.rs` for an `#[agent]`'s entry, and `future.rs` for async ones, the capture step in `fn_capture.rs`, what a future makes
//! current in `polled.rs`) and the [`Span`] handle (`handle.rs`, its setters in
//! `setters.rs`): manual spans (`manual.rs`: [`span`], [`try_span`]), the current span of the
//! context (`Span::current`, whose changes wait in `current.rs` until their span is emitted),
//! LLM calls (`llm.rs`: [`LlmCall`]) and new traces (`trace_api.rs`: [`llm_trace`],
//! [`start_trace`]). Records are built and handed to the client's exporter through `scope.rs`,
//! the one place that touches the thread's state on entry and exit.

mod current;
mod fn_agent;
mod fn_capture;
mod fn_span;
mod future;
mod handle;
mod llm;
mod manual;
mod polled;
mod scope;
mod setters;
mod trace_api;

pub use fn_agent::enter_current_agent;
pub use fn_capture::Capture;
pub use fn_span::{ActiveSpan, classify_opaque, enter_current};
pub use future::{AsyncSpan, SpanFuture, enter_async};
pub use handle::{InSpan, Span, SpanName};
pub use llm::LlmCall;
pub use manual::{span, span_async, try_span, try_span_async};
pub(crate) use scope::{emit, new_record};
pub use setters::StatusDescription;
pub use trace_api::{
    llm_trace, start_trace, start_trace_async, try_start_trace, try_start_trace_async,
};
