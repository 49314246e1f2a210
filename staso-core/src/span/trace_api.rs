//! The StackLens-style entry points: [`llm_trace`] (one LLM call as its own trace) and
//! [`start_trace`] (a new trace around a closure or a future), with their `try_` and async twins.
//!
//! Each opens a root span even when a span is current (the conversation, user and agent of the
//! context are kept), and on exit wakes the delivery worker to send it now without waiting for it.

use std::time::Duration;

use super::handle::{Span, SpanName};
use super::llm::LlmCall;
use super::manual::record_err;
use crate::client::current_client;
use crate::error::Error;
use crate::ids::TraceId;
use crate::kind::SpanKind;

/// Asks the delivery worker to send what it holds now; returns at once.
fn send_now() {
    if let Some(c) = current_client()
        && let Some(e) = c.exporter.as_ref()
    {
        let _ = e.flush(Duration::ZERO);
    }
}

/// Records one LLM call as its own trace (an `llm` root span, even when a span is current) and
/// returns its trace id at once; delivery stays in the background (the worker is woken to send it
/// now). With [`LlmCall::duration`] the span starts that long before the call.
///
/// With a disabled client nothing is recorded and a fresh id (of no stored trace) is returned.
///
/// # Errors
/// [`Error::Configuration`] when `init` was not called.
///
/// ```no_run
/// # fn demo() -> Result<(), staso_core::Error> {
/// use staso_core::{LlmCall, llm_trace};
/// let trace_id = llm_trace("summarise", LlmCall::new("gpt-4o-mini", "openai").tokens(900, 120))?;
/// println!("recorded as {trace_id}");
/// # Ok(())
/// # }
/// ```
pub fn llm_trace(name: impl SpanName, call: LlmCall) -> Result<TraceId, Error> {
    if current_client().is_none() {
        return Err(Error::configuration(
            "staso::llm_trace needs a client: call staso::init first",
        ));
    }
    let span = Span::start_root(name, SpanKind::Llm);
    let Some(trace_id) = span.trace() else {
        return Ok(TraceId::random());
    };
    let took = call.took();
    span.record_llm(call);
    if let Some(d) = took {
        span.with_record(move |r, _| {
            if let Some(start) = r.start.checked_sub(d) {
                r.start = start;
            }
        });
    }
    span.end();
    send_now();
    Ok(trace_id)
}

/// Runs `f` inside a new trace: a `chain` root span (even when a span is current), current inside
/// `f`, ended and sent right away when `f` returns. A panic marks it `error` and continues, as
/// [`span`](crate::span) does. Without `init`, `f` still runs and nothing is recorded.
///
/// ```
/// let answer = staso_core::start_trace("nightly-eval", |trace| {
///     trace.add_tag("batch");
///     42
/// });
/// assert_eq!(answer, 42);
/// ```
pub fn start_trace<R>(name: impl SpanName, f: impl FnOnce(&Span) -> R) -> R {
    let s = Span::start_root(name, SpanKind::Chain);
    let r = s.in_scope(|| f(&s));
    finish(&s);
    r
}

/// [`start_trace`] for a closure returning `Result`: an `Err` marks the span `error` with the
/// error's `Display` as the message and its type as `exception.type`.
pub fn try_start_trace<T, E: std::fmt::Display>(
    name: impl SpanName,
    f: impl FnOnce(&Span) -> Result<T, E>,
) -> Result<T, E> {
    let s = Span::start_root(name, SpanKind::Chain);
    let r = s.in_scope(|| f(&s));
    if let Err(e) = &r {
        record_err(&s, e);
    }
    finish(&s);
    r
}

/// The async twin of [`start_trace`]: `f` is an async closure receiving the root span.
pub async fn start_trace_async<R>(name: impl SpanName, f: impl AsyncFnOnce(&Span) -> R) -> R {
    let s = Span::start_root(name, SpanKind::Chain);
    let r = s.in_scope_async(f(&s)).await;
    finish(&s);
    r
}

/// The async twin of [`try_start_trace`].
pub async fn try_start_trace_async<T, E: std::fmt::Display>(
    name: impl SpanName,
    f: impl AsyncFnOnce(&Span) -> Result<T, E>,
) -> Result<T, E> {
    let s = Span::start_root(name, SpanKind::Chain);
    let r = s.in_scope_async(f(&s)).await;
    if let Err(e) = &r {
        record_err(&s, e);
    }
    finish(&s);
    r
}

fn finish(s: &Span) {
    if s.end().is_some() {
        send_now();
    }
}
