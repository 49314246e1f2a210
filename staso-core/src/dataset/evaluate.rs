//! Local evaluation over a dataset (§8.1): fetch every entry, run the user's function on each
//! (bounded concurrency, one root span per run), score, summarise. Nothing is uploaded except the
//! spans of the runs.

use std::fmt::Display;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Mutex};

use futures_util::{Stream, StreamExt as _, stream};
use serde::Serialize;
use serde_json::{Map, Value};

use super::entries::list_entries_with;
use super::eval_run::{RunCtx, failed_result, run_async, run_pool};
use super::eval_types::{EvalOptions, EvalProgress, EvalResult, EvalSummary};
use super::http::DatasetHttp;
use super::{DatasetEntry, ListEntriesOptions, StasoDatasetError, get_with};

/// Entries fetched per page.
const PAGE: u32 = 100;

/// Marks an async evaluation function: `Fn(data) -> impl Future<Output = Result<T, E>>`.
#[derive(Debug)]
pub enum AsyncEval {}

/// Marks a sync evaluation function: `Fn(data) -> Result<T, E>`.
#[derive(Debug)]
pub enum SyncEval {}

/// What [`evaluate`] runs per entry: a function of the entry's data returning `Result<T, E>`
/// (`T: Serialize` becomes [`EvalResult::actual`], `E: Display` becomes
/// [`EvalResult::error`]), either directly ([`SyncEval`]) or as a future ([`AsyncEval`]).
///
/// Async functions run on the calling task (so they may borrow from the caller); sync functions
/// run on helper threads, so they must be `Send + Sync + 'static`.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be evaluated",
    note = "pass `Fn(Map<String, Value>) -> Result<T, E>` (Send + Sync + 'static) or `Fn(Map<String, Value>) -> impl Future<Output = Result<T, E>>`, with `T: Serialize` and `E: Display`"
)]
pub trait EvalFn<Marker>: Sized {
    #[doc(hidden)]
    fn __run(self, entries: Vec<DatasetEntry>, ctx: Arc<RunCtx>) -> impl Stream<Item = EvalResult>;
}

impl<F, Fut, T, E> EvalFn<AsyncEval> for F
where
    F: Fn(Map<String, Value>) -> Fut,
    Fut: Future<Output = Result<T, E>>,
    T: Serialize,
    E: Display,
{
    fn __run(self, entries: Vec<DatasetEntry>, ctx: Arc<RunCtx>) -> impl Stream<Item = EvalResult> {
        let f = Arc::new(self);
        let n = ctx.max_concurrency;
        stream::iter(entries)
            .map(move |entry| {
                let (f, ctx) = (f.clone(), ctx.clone());
                async move { run_async(&*f, entry, &ctx).await }
            })
            .buffer_unordered(n)
    }
}

impl<F, T, E> EvalFn<SyncEval> for F
where
    F: Fn(Map<String, Value>) -> Result<T, E> + Send + Sync + 'static,
    T: Serialize,
    E: Display,
{
    fn __run(self, entries: Vec<DatasetEntry>, ctx: Arc<RunCtx>) -> impl Stream<Item = EvalResult> {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let entries = Arc::new(entries);
        let (pool_entries, pool_ctx) = (entries.clone(), ctx.clone());
        // The runs block, so they go to threads of their own and never hold the caller's runtime.
        let spawned = std::thread::Builder::new()
            .name("staso-eval".to_owned())
            .spawn(move || run_pool(&self, &pool_entries, &pool_ctx, &|r| tx.send(r).is_ok()));
        let failed = match spawned {
            Ok(_) => Vec::new(),
            Err(e) => {
                let message = format!("could not start the evaluation thread: {e}");
                entries
                    .iter()
                    .map(|entry| failed_result(entry, message.clone()))
                    .collect()
            }
        };
        stream::iter(failed).chain(stream::unfold(rx, |mut rx| async move {
            rx.recv().await.map(|r| (r, rx))
        }))
    }
}

/// Runs `f` on every entry of the dataset (or of `options.split`) and scores the outputs.
///
/// `f` takes the entry's data and returns `Result<T, E>` (sync) or a future of it (async); see
/// [`EvalFn`]. An `Err` or a panic becomes an error result, never a failed evaluation: the call
/// fails only when the dataset or its entries cannot be read. Up to `options.max_concurrency`
/// entries run at once; with more than 1, results come in completion order.
///
/// With `options.trace` (the default) each run is a root span `eval:<dataset_id>` (kind `chain`,
/// metadata `dataset_id` and `dataset_entry_id`, status `error` when the run failed) recorded by
/// the global client, and [`EvalResult::trace_id`] names its trace.
///
/// ```no_run
/// use staso_core::dataset::{self, EvalOptions};
/// use serde_json::{Map, Value};
///
/// # async fn demo() -> Result<(), dataset::StasoDatasetError> {
/// let summary = dataset::evaluate(
///     "ds_123",
///     |data: Map<String, Value>| async move {
///         Ok::<_, std::io::Error>(format!("answer to {}", data["question"]))
///     },
///     EvalOptions::default().scorer("non_empty", |_, out| f64::from(u8::from(out != ""))),
/// )
/// .await?;
/// assert_eq!(summary.total, summary.passed + summary.failed + summary.error_count);
/// # Ok(())
/// # }
/// ```
pub async fn evaluate<F, R, M>(
    dataset_id: &str,
    f: F,
    options: EvalOptions,
) -> Result<EvalSummary, StasoDatasetError>
where
    F: Fn(Map<String, Value>) -> R + EvalFn<M>,
{
    let ctx = Arc::new(RunCtx::new(dataset_id, &options));
    let (name, entries) = fetch(dataset_id, options.split.clone()).await?;
    let total = entries.len();
    let mut results = Vec::with_capacity(total);
    let mut runs = std::pin::pin!(f.__run(entries, ctx.clone()));
    while let Some(result) = runs.next().await {
        results.push(result);
        report_progress(&options, &results, total);
    }
    Ok(EvalSummary::new(
        dataset_id.to_owned(),
        name,
        &ctx.scorers,
        results,
    ))
}

/// The blocking form of [`evaluate`] for a sync function (see [`super::blocking::evaluate`]).
pub(crate) fn evaluate_blocking<F, T, E>(
    dataset_id: &str,
    f: F,
    options: EvalOptions,
) -> Result<EvalSummary, StasoDatasetError>
where
    F: Fn(Map<String, Value>) -> Result<T, E> + Sync,
    T: Serialize,
    E: Display,
{
    let ctx = RunCtx::new(dataset_id, &options);
    let (name, entries) = super::http::run_blocking(fetch(dataset_id, options.split.clone()))??;
    let total = entries.len();
    let results = Mutex::new(Vec::with_capacity(total));
    run_pool(&f, &entries, &ctx, &|r| {
        let mut g = results.lock().unwrap_or_else(|e| e.into_inner());
        g.push(r);
        report_progress(&options, &g, total);
        true
    });
    let results = results.into_inner().unwrap_or_else(|e| e.into_inner());
    Ok(EvalSummary::new(
        dataset_id.to_owned(),
        name,
        &ctx.scorers,
        results,
    ))
}

fn report_progress(options: &EvalOptions, results: &[EvalResult], total: usize) {
    let (Some(cb), Some(last)) = (&options.on_progress, results.last()) else {
        return;
    };
    let progress = EvalProgress {
        completed: results.len(),
        total,
        result: last,
    };
    if catch_unwind(AssertUnwindSafe(|| cb(&progress))).is_err() {
        log::warn!("staso: the evaluation progress callback panicked");
    }
}

/// The dataset's name and all its entries (pages of 100 until a short or empty page).
async fn fetch(
    dataset_id: &str,
    split: Option<super::SplitType>,
) -> Result<(String, Vec<DatasetEntry>), StasoDatasetError> {
    let http = DatasetHttp::from_environment()?;
    let dataset = get_with(&http, dataset_id).await?;
    let mut entries = Vec::new();
    loop {
        let page = ListEntriesOptions {
            split: split.clone(),
            limit: PAGE,
            offset: u32::try_from(entries.len()).unwrap_or(u32::MAX),
        };
        let batch = list_entries_with(&http, dataset_id, &page).await?;
        let n = batch.len();
        entries.extend(batch);
        if n < PAGE as usize {
            return Ok((dataset.name, entries));
        }
    }
}
