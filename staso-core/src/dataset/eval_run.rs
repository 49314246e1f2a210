//! One evaluation run per entry: the root span, the call (panics caught), scoring, and the
//! scoped thread pool that runs sync functions.

use std::fmt::Display;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use futures_util::FutureExt as _;
use serde::Serialize;
use serde_json::{Map, Value};

use super::DatasetEntry;
use super::eval_types::{EvalOptions, EvalResult, Scorer};
use crate::capture::panic_message;
use crate::context::{Context, Frame, with_current};
use crate::kind::{SpanKind, SpanStatus};
use crate::span::Span;

/// What every run of one evaluation shares. Not a public API.
#[doc(hidden)]
#[derive(Debug)]
pub struct RunCtx {
    pub(super) dataset_id: String,
    pub(super) scorers: Vec<Scorer>,
    pub(super) trace: bool,
    pub(super) max_concurrency: usize,
    /// The caller's context without its span: runs are roots in the caller's conversation.
    pub(super) root: Context,
}

impl RunCtx {
    pub(super) fn new(dataset_id: &str, options: &EvalOptions) -> Self {
        let frame = with_current(|f| Frame {
            span: None,
            ..f.clone()
        });
        RunCtx {
            dataset_id: dataset_id.to_owned(),
            scorers: options.scorers.clone(),
            trace: options.trace,
            max_concurrency: options.max_concurrency.max(1),
            root: Context::from_frame(frame),
        }
    }
}

/// Runs sync `f` over `entries` on up to `max_concurrency` threads (on this thread when 1),
/// handing each result to `sink` as it completes; stops early when `sink` returns false.
pub(super) fn run_pool<F, T, E>(
    f: &F,
    entries: &[DatasetEntry],
    ctx: &RunCtx,
    sink: &(dyn Fn(EvalResult) -> bool + Sync),
) where
    F: Fn(Map<String, Value>) -> Result<T, E> + Sync,
    T: Serialize,
    E: Display,
{
    let next = AtomicUsize::new(0);
    let work = || {
        while let Some(entry) = entries.get(next.fetch_add(1, Ordering::Relaxed)) {
            let result = ctx.root.clone().in_scope(|| run_sync(f, entry, ctx));
            if !sink(result) {
                break;
            }
        }
    };
    let threads = ctx.max_concurrency.min(entries.len());
    if threads <= 1 {
        return work();
    }
    std::thread::scope(|s| {
        for i in 0..threads {
            let spawned = std::thread::Builder::new()
                .name(format!("staso-eval-{i}"))
                .spawn_scoped(s, work);
            if let Err(e) = spawned {
                // Fewer threads than asked; the ones running (or this one) take the rest.
                log::warn!("staso: could not start evaluation thread {i}: {e}");
                if i == 0 {
                    work();
                }
                break;
            }
        }
    });
}

/// How one call of the user's function ended.
enum Outcome {
    Output(Value),
    Failed(String),
}

fn outcome_of<T: Serialize, E: Display>(r: std::thread::Result<Result<T, E>>) -> Outcome {
    match r {
        Ok(Ok(v)) => match serde_json::to_value(&v) {
            Ok(v) => Outcome::Output(v),
            Err(e) => Outcome::Failed(format!("output could not be serialized: {e}")),
        },
        Ok(Err(e)) => Outcome::Failed(e.to_string()),
        Err(payload) => Outcome::Failed(format!("panicked: {}", panic_message(&*payload))),
    }
}

/// The root span of one run, if tracing is on.
fn start_span(entry: &DatasetEntry, ctx: &RunCtx) -> Option<Span> {
    if !ctx.trace {
        return None;
    }
    let name = format!("eval:{}", ctx.dataset_id);
    let span = ctx
        .root
        .clone()
        .in_scope(|| Span::start(name, SpanKind::Chain));
    span.set_metadata("dataset_id", &ctx.dataset_id);
    span.set_metadata("dataset_entry_id", &entry.id);
    Some(span)
}

fn run_sync<F, T, E>(f: &F, entry: &DatasetEntry, ctx: &RunCtx) -> EvalResult
where
    F: Fn(Map<String, Value>) -> Result<T, E>,
    T: Serialize,
    E: Display,
{
    let start = Instant::now();
    let span = start_span(entry, ctx);
    let call = || catch_unwind(AssertUnwindSafe(|| f(entry.data.clone())));
    let r = match &span {
        Some(s) => s.in_scope(call),
        None => call(),
    };
    finish(entry, ctx, span, outcome_of(r), start)
}

pub(super) async fn run_async<F, Fut, T, E>(f: &F, entry: DatasetEntry, ctx: &RunCtx) -> EvalResult
where
    F: Fn(Map<String, Value>) -> Fut,
    Fut: Future<Output = Result<T, E>>,
    T: Serialize,
    E: Display,
{
    let start = Instant::now();
    let span = start_span(&entry, ctx);
    let call = async {
        match catch_unwind(AssertUnwindSafe(|| f(entry.data.clone()))) {
            Ok(fut) => AssertUnwindSafe(fut).catch_unwind().await,
            Err(payload) => Err(payload),
        }
    };
    let r = match &span {
        Some(s) => s.in_scope_async(call).await,
        None => call.await,
    };
    finish(&entry, ctx, span, outcome_of(r), start)
}

/// Ends the span, then scores a successful run.
fn finish(
    entry: &DatasetEntry,
    ctx: &RunCtx,
    span: Option<Span>,
    outcome: Outcome,
    start: Instant,
) -> EvalResult {
    if let (Some(s), Outcome::Failed(message)) = (&span, &outcome) {
        s.set_status(SpanStatus::Error, message.as_str());
    }
    let trace_id = span.as_ref().and_then(Span::trace_id);
    if let Some(s) = span {
        s.end();
    }
    let duration_ms = start.elapsed().as_secs_f64() * 1000.0;
    let mut result = EvalResult {
        entry_id: entry.id.clone(),
        input_data: entry.data.clone(),
        expected: Map::new(),
        actual: None,
        scores: Default::default(),
        passed: false,
        error: None,
        trace_id,
        duration_ms,
    };
    match outcome {
        Outcome::Failed(message) => result.error = Some(message),
        Outcome::Output(actual) => {
            result.passed = true;
            for (i, scorer) in ctx.scorers.iter().enumerate() {
                let key = scorer.key(i);
                let score = catch_unwind(AssertUnwindSafe(|| scorer.score(&entry.data, &actual)))
                    .unwrap_or_else(|payload| {
                        log::warn!(
                            "staso: scorer {key:?} panicked on entry {}: {}",
                            entry.id,
                            panic_message(&*payload)
                        );
                        0.0
                    });
                if score < 0.5 {
                    result.passed = false;
                }
                result.scores.insert(key, score);
            }
            result.actual = Some(actual);
        }
    }
    result
}

/// The result of an entry that could not be run at all.
pub(super) fn failed_result(entry: &DatasetEntry, message: String) -> EvalResult {
    EvalResult {
        entry_id: entry.id.clone(),
        input_data: entry.data.clone(),
        expected: Map::new(),
        actual: None,
        scores: Default::default(),
        passed: false,
        error: Some(message),
        trace_id: None,
        duration_ms: 0.0,
    }
}
