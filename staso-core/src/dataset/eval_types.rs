//! What an evaluation takes and gives (§8.1): [`Scorer`], [`EvalOptions`], [`EvalProgress`],
//! [`EvalResult`] and [`EvalSummary`].

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use serde::Serialize;
use serde_json::{Map, Value};

use super::SplitType;

type ScoreFn = dyn Fn(&Map<String, Value>, &Value) -> f64 + Send + Sync;
type ProgressFn = dyn Fn(&EvalProgress<'_>) + Send + Sync;

/// A named scoring function `(entry data, output) -> score`. A score below 0.5 fails the entry;
/// a scorer that panics scores 0.0 (and the panic is logged as a warning).
#[derive(Clone)]
pub struct Scorer {
    name: Option<String>,
    f: Arc<ScoreFn>,
}

impl Scorer {
    /// A scorer reported as `name` in [`EvalResult::scores`] and [`EvalSummary::scores`].
    pub fn new(
        name: impl Into<String>,
        f: impl Fn(&Map<String, Value>, &Value) -> f64 + Send + Sync + 'static,
    ) -> Self {
        Scorer {
            name: Some(name.into()).filter(|n: &String| !n.is_empty()),
            f: Arc::new(f),
        }
    }

    /// A scorer without a name: it is reported as `scorer_<i>`, `i` being its position in
    /// [`EvalOptions::scorers`], in both the results and the summary (decision 5).
    pub fn unnamed(f: impl Fn(&Map<String, Value>, &Value) -> f64 + Send + Sync + 'static) -> Self {
        Scorer {
            name: None,
            f: Arc::new(f),
        }
    }

    /// The name given, if any.
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// The key this scorer's scores are reported under when it is the `index`-th scorer.
    pub(crate) fn key(&self, index: usize) -> String {
        self.name
            .clone()
            .unwrap_or_else(|| format!("scorer_{index}"))
    }

    pub(crate) fn score(&self, data: &Map<String, Value>, output: &Value) -> f64 {
        (self.f)(data, output)
    }
}

impl fmt::Debug for Scorer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Scorer").field("name", &self.name).finish()
    }
}

/// Progress of an evaluation, handed to [`EvalOptions::on_progress`] once per finished entry.
#[derive(Debug)]
#[non_exhaustive]
pub struct EvalProgress<'a> {
    /// Entries finished so far, this one included.
    pub completed: usize,
    /// Entries in the evaluation.
    pub total: usize,
    /// The entry just finished.
    pub result: &'a EvalResult,
}

/// Options of [`evaluate`](super::evaluate). `Default`: no scorers, all splits,
/// `max_concurrency` 1, tracing on, no progress callback.
///
/// ```
/// use staso_core::dataset::{EvalOptions, SplitType};
/// let options = EvalOptions::default()
///     .scorer("exact", |entry, output| {
///         f64::from(u8::from(entry.get("answer") == Some(output)))
///     })
///     .split(SplitType::Test)
///     .max_concurrency(8)
///     .on_progress(|p| eprintln!("{}/{}", p.completed, p.total));
/// # let _ = options;
/// ```
#[derive(Clone)]
#[non_exhaustive]
pub struct EvalOptions {
    /// Scorers, run in order on every entry whose run did not fail.
    pub scorers: Vec<Scorer>,
    /// Only entries of this split.
    pub split: Option<SplitType>,
    /// Entries run at once (default 1: one after the other, in entry order). 0 counts as 1.
    pub max_concurrency: usize,
    /// Whether each run is recorded as a root span `eval:<dataset_id>` (default true).
    pub trace: bool,
    /// Called once per finished entry, never concurrently.
    pub on_progress: Option<Arc<ProgressFn>>,
}

impl Default for EvalOptions {
    fn default() -> Self {
        EvalOptions {
            scorers: Vec::new(),
            split: None,
            max_concurrency: 1,
            trace: true,
            on_progress: None,
        }
    }
}

impl fmt::Debug for EvalOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EvalOptions")
            .field("scorers", &self.scorers)
            .field("split", &self.split)
            .field("max_concurrency", &self.max_concurrency)
            .field("trace", &self.trace)
            .field("on_progress", &self.on_progress.is_some())
            .finish()
    }
}

impl EvalOptions {
    /// Adds a named scorer.
    pub fn scorer(
        mut self,
        name: impl Into<String>,
        f: impl Fn(&Map<String, Value>, &Value) -> f64 + Send + Sync + 'static,
    ) -> Self {
        self.scorers.push(Scorer::new(name, f));
        self
    }

    /// Adds a scorer built elsewhere (e.g. [`Scorer::unnamed`]).
    pub fn with_scorer(mut self, scorer: Scorer) -> Self {
        self.scorers.push(scorer);
        self
    }

    /// Evaluates only the entries of `split`.
    pub fn split(mut self, split: SplitType) -> Self {
        self.split = Some(split);
        self
    }

    /// Runs up to `n` entries at once.
    pub fn max_concurrency(mut self, n: usize) -> Self {
        self.max_concurrency = n;
        self
    }

    /// Records (or not) a root span per run.
    pub fn trace(mut self, on: bool) -> Self {
        self.trace = on;
        self
    }

    /// Calls `f` once per finished entry.
    pub fn on_progress(mut self, f: impl Fn(&EvalProgress<'_>) + Send + Sync + 'static) -> Self {
        self.on_progress = Some(Arc::new(f));
        self
    }
}

/// The outcome of one entry (§8.1).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct EvalResult {
    /// The entry evaluated.
    pub entry_id: String,
    /// The entry's data, as given to the function.
    pub input_data: Map<String, Value>,
    /// Always empty (as in the official SDK).
    pub expected: Map<String, Value>,
    /// The function's output as JSON; `None` when it failed.
    pub actual: Option<Value>,
    /// Score per scorer key (empty when the run failed: scorers run only on success).
    pub scores: BTreeMap<String, f64>,
    /// No error and every score ≥ 0.5.
    pub passed: bool,
    /// The error's `Display`, or `panicked: <message>`.
    pub error: Option<String>,
    /// The run's trace, when tracing was on and a client recorded it. Unlike the official SDK
    /// (which sets it only on success) it is also set for a failed run, whose span holds the
    /// error.
    pub trace_id: Option<String>,
    /// Wall time of the run, span setup included, in milliseconds.
    pub duration_ms: f64,
}

/// The outcome of an evaluation (§8.1).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct EvalSummary {
    /// The dataset evaluated.
    pub dataset_id: String,
    /// Its name.
    pub dataset_name: String,
    /// Number of results.
    pub total: usize,
    /// Results that passed.
    pub passed: usize,
    /// Results that did not pass and have no error (a score below 0.5).
    pub failed: usize,
    /// Results with an error.
    pub error_count: usize,
    /// Mean of the durations above 0, or 0.0.
    pub avg_duration_ms: f64,
    /// Mean score per scorer key, over the results that have that key (keys with no score are
    /// left out).
    pub scores: BTreeMap<String, f64>,
    /// Results in completion order (entry order when `max_concurrency` is 1).
    pub results: Vec<EvalResult>,
}

impl EvalSummary {
    pub(crate) fn new(
        dataset_id: String,
        dataset_name: String,
        scorers: &[Scorer],
        results: Vec<EvalResult>,
    ) -> Self {
        let durations: Vec<f64> = results
            .iter()
            .map(|r| r.duration_ms)
            .filter(|d| *d > 0.0)
            .collect();
        let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
        let scores = scorers
            .iter()
            .enumerate()
            .filter_map(|(i, s)| {
                let key = s.key(i);
                let values: Vec<f64> = results
                    .iter()
                    .filter_map(|r| r.scores.get(&key).copied())
                    .collect();
                (!values.is_empty()).then(|| (key, mean(&values)))
            })
            .collect();
        EvalSummary {
            dataset_id,
            dataset_name,
            total: results.len(),
            passed: results.iter().filter(|r| r.passed).count(),
            failed: results
                .iter()
                .filter(|r| !r.passed && r.error.is_none())
                .count(),
            error_count: results.iter().filter(|r| r.error.is_some()).count(),
            avg_duration_ms: if durations.is_empty() {
                0.0
            } else {
                mean(&durations)
            },
            scores,
            results,
        }
    }
}
