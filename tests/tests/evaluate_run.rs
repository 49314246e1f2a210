//! `staso::dataset::evaluate` against a real `staso-server`: sync and async functions, scorers
//! and their averages, failing and panicking entries, concurrency 1 and 8, splits, pagination,
//! progress, and the spans of the runs with tracing on and off.

mod dataset_common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use dataset_common::setup;
use serde_json::{Map, Value, json};
use staso::dataset::{self, EvalOptions, EvalResult, Scorer, SplitType, blocking};

/// A dataset of `n` questions `"<i>+<i>"` expecting `2i`; entry 3 says "fail", entry 5 "panic".
async fn arithmetic(n: usize) -> String {
    let ds = dataset::create("arith", Default::default()).await.unwrap();
    let rows: Vec<Value> = (0..n)
        .map(|i| {
            let q = match i {
                3 => "fail".to_owned(),
                5 => "panic".to_owned(),
                _ => format!("{i}+{i}"),
            };
            json!({"i": i, "q": q, "expected": 2 * i})
        })
        .collect();
    dataset::add_entries(&ds.id, &rows, None).await.unwrap();
    ds.id
}

/// The function under test: adds the two numbers, but 6+6 is "wrong" on purpose.
fn solve(data: &Map<String, Value>) -> Result<Value, String> {
    let q = data["q"].as_str().unwrap_or_default();
    match q {
        "fail" => Err("model refused".to_owned()),
        "panic" => panic!("tool exploded"),
        "6+6" => Ok(json!({"answer": 13})),
        _ => {
            let (a, b) = q.split_once('+').unwrap();
            Ok(json!({"answer": a.parse::<i64>().unwrap() + b.parse::<i64>().unwrap()}))
        }
    }
}

fn exact(entry: &Map<String, Value>, out: &Value) -> f64 {
    f64::from(u8::from(out["answer"] == entry["expected"]))
}

fn options() -> EvalOptions {
    EvalOptions::default()
        .scorer("exact", exact)
        .with_scorer(Scorer::unnamed(|_, _| 0.75))
}

fn by_entry(results: &[EvalResult]) -> Vec<(i64, bool, Option<String>, Option<f64>)> {
    let mut v: Vec<_> = results
        .iter()
        .map(|r| {
            (
                r.input_data["i"].as_i64().unwrap(),
                r.passed,
                r.error.clone(),
                r.scores.get("exact").copied(),
            )
        })
        .collect();
    v.sort_by_key(|r| r.0);
    v
}

fn check_outcomes(results: &[EvalResult]) {
    let rows = by_entry(results);
    assert_eq!(rows.len(), 8);
    for (i, passed, error, exact) in rows {
        match i {
            3 => assert_eq!(
                (passed, error.as_deref(), exact),
                (false, Some("model refused"), None)
            ),
            5 => assert_eq!(
                (passed, error.as_deref(), exact),
                (false, Some("panicked: tool exploded"), None)
            ),
            6 => assert_eq!((passed, error, exact), (false, None, Some(0.0))),
            _ => assert_eq!((passed, error, exact), (true, None, Some(1.0)), "entry {i}"),
        }
    }
}

#[tokio::test]
async fn sequential_async_fn_with_scorers_errors_and_spans() {
    let env = setup();
    let id = arithmetic(8).await;
    let progress = Arc::new(Mutex::new(Vec::new()));
    let seen = progress.clone();
    let outer = staso::Span::start("caller", staso::SpanKind::Chain);
    let summary = outer
        .in_scope_async(dataset::evaluate(
            &id,
            |data: Map<String, Value>| async move {
                tokio::task::yield_now().await;
                solve(&data)
            },
            options().on_progress(move |p| seen.lock().unwrap().push((p.completed, p.total))),
        ))
        .await
        .unwrap();
    outer.end();

    assert_eq!(
        (summary.dataset_id.as_str(), summary.dataset_name.as_str()),
        (id.as_str(), "arith")
    );
    assert_eq!(
        (
            summary.total,
            summary.passed,
            summary.failed,
            summary.error_count
        ),
        (8, 5, 1, 2)
    );
    // Sequential: entry order.
    let order: Vec<i64> = summary
        .results
        .iter()
        .map(|r| r.input_data["i"].as_i64().unwrap())
        .collect();
    assert_eq!(order, (0..8).collect::<Vec<_>>());
    check_outcomes(&summary.results);
    // Averages over the results that have the key; the unnamed scorer is `scorer_1` in both places.
    assert_eq!(summary.scores.len(), 2);
    assert!((summary.scores["exact"] - 5.0 / 6.0).abs() < 1e-9);
    assert_eq!(summary.scores["scorer_1"], 0.75);
    assert!(
        summary
            .results
            .iter()
            .filter(|r| r.error.is_none())
            .all(|r| r.scores["scorer_1"] == 0.75)
    );
    assert!(summary.avg_duration_ms > 0.0);
    let r0 = &summary.results[0];
    assert_eq!(r0.actual, Some(json!({"answer": 0})));
    assert!(r0.expected.is_empty());
    assert_eq!(
        *progress.lock().unwrap(),
        (1..=8).map(|c| (c, 8)).collect::<Vec<_>>()
    );

    // One root span per run, named after the dataset, linked to its entry.
    let spans: Vec<_> = env
        .spans
        .finished()
        .into_iter()
        .filter(|s| s.span.name.starts_with("eval:"))
        .collect();
    assert_eq!(spans.len(), 8, "{}", env.spans.render());
    for r in &summary.results {
        let trace_id = r.trace_id.as_deref().expect("trace id");
        let s = spans
            .iter()
            .find(|s| s.trace_id == trace_id)
            .expect("span of the run");
        assert_eq!(s.span.name, format!("eval:{id}"));
        assert_eq!(
            (s.span.kind.as_str(), s.span.parent_span_id.as_deref()),
            ("chain", None),
            "runs are roots"
        );
        let attrs: Value = serde_json::from_str(&s.span.attributes).unwrap();
        assert_eq!(
            (&attrs["dataset_id"], &attrs["dataset_entry_id"]),
            (&json!(id), &json!(r.entry_id))
        );
        match &r.error {
            Some(e) => assert_eq!(
                (s.span.status.as_str(), s.span.error_message.as_deref()),
                ("error", Some(e.as_str()))
            ),
            None => assert_eq!(s.span.status, "ok"),
        }
    }
    let distinct: std::collections::HashSet<_> = spans.iter().map(|s| &s.trace_id).collect();
    assert_eq!(distinct.len(), 8);
}

#[tokio::test]
async fn concurrent_async_fn_runs_up_to_eight_at_once() {
    let env = setup();
    let id = arithmetic(8).await;
    let extra: Vec<Value> = (8..24)
        .map(|i| json!({"i": i, "q": format!("{i}+{i}"), "expected": 2 * i}))
        .collect();
    dataset::add_entries(&id, &extra, None).await.unwrap();
    let running = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let (r, p) = (running.clone(), peak.clone());
    let summary = dataset::evaluate(
        &id,
        move |data: Map<String, Value>| {
            let (r, p) = (r.clone(), p.clone());
            async move {
                let now = r.fetch_add(1, Ordering::SeqCst) + 1;
                p.fetch_max(now, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(30)).await;
                r.fetch_sub(1, Ordering::SeqCst);
                solve(&data)
            }
        },
        options().max_concurrency(8),
    )
    .await
    .unwrap();
    assert_eq!(peak.load(Ordering::SeqCst), 8);
    assert_eq!(
        (summary.total, summary.error_count, summary.failed),
        (24, 2, 1)
    );
    check_outcomes(
        &summary
            .results
            .iter()
            .filter(|r| r.input_data["i"].as_i64().unwrap() < 8)
            .cloned()
            .collect::<Vec<_>>(),
    );
    assert_eq!(
        env.spans
            .finished()
            .iter()
            .filter(|s| s.span.name.starts_with("eval:"))
            .count(),
        24
    );
}

#[tokio::test]
async fn sync_fn_on_threads_with_tracing_off() {
    let env = setup();
    let id = arithmetic(8).await;
    let running = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let (r, p) = (running.clone(), peak.clone());
    let summary = dataset::evaluate(
        &id,
        move |data: Map<String, Value>| {
            let now = r.fetch_add(1, Ordering::SeqCst) + 1;
            p.fetch_max(now, Ordering::SeqCst);
            std::thread::sleep(Duration::from_millis(50));
            r.fetch_sub(1, Ordering::SeqCst);
            solve(&data)
        },
        options().max_concurrency(8).trace(false),
    )
    .await
    .unwrap();
    assert!(
        peak.load(Ordering::SeqCst) > 1,
        "sync runs overlap on threads"
    );
    assert!(peak.load(Ordering::SeqCst) <= 8);
    check_outcomes(&summary.results);
    assert!(summary.results.iter().all(|r| r.trace_id.is_none()));
    assert!(env.spans.finished().is_empty(), "{}", env.spans.render());
}

#[tokio::test]
async fn split_filter_and_pagination_past_one_page() {
    let _env = setup();
    let ds = dataset::create("big", Default::default()).await.unwrap();
    let rows: Vec<Value> = (0..230).map(|i| json!({"i": i})).collect();
    dataset::add_entries(&ds.id, &rows, Some(SplitType::Train))
        .await
        .unwrap();
    dataset::add_entries(&ds.id, [json!({"i": -1})], Some(SplitType::Test))
        .await
        .unwrap();

    let identity = |data: Map<String, Value>| async move { Ok::<_, String>(data["i"].clone()) };
    let all = dataset::evaluate(&ds.id, identity, EvalOptions::default())
        .await
        .unwrap();
    assert_eq!(all.total, 231);
    let mut ids: Vec<&str> = all.results.iter().map(|r| r.entry_id.as_str()).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 231, "every entry exactly once");
    let test = dataset::evaluate(
        &ds.id,
        identity,
        EvalOptions::default().split(SplitType::Test),
    )
    .await
    .unwrap();
    assert_eq!((test.total, test.passed), (1, 1));
    assert_eq!(test.results[0].actual, Some(json!(-1)));
    assert!(test.scores.is_empty());
}

#[tokio::test]
async fn panicking_scorer_scores_zero_and_unknown_dataset_is_an_error() {
    let _env = setup();
    let id = arithmetic(2).await;
    let summary = dataset::evaluate(
        &id,
        |data: Map<String, Value>| async move { solve(&data) },
        EvalOptions::default()
            .scorer("boom", |_, _| panic!("scorer bug"))
            .on_progress(|_| panic!("progress bug")),
    )
    .await
    .unwrap();
    assert_eq!((summary.passed, summary.failed), (0, 2));
    assert_eq!(summary.scores["boom"], 0.0);

    let err = dataset::evaluate(
        "no-such-dataset",
        |_: Map<String, Value>| async { Ok::<_, String>(1) },
        EvalOptions::default(),
    )
    .await
    .unwrap_err();
    assert_eq!(err.status_code, Some(404));
}

#[test]
fn blocking_evaluate_borrows_and_runs_concurrently() {
    let env = setup();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let id = rt.block_on(arithmetic(8));
    drop(rt);
    // A plain borrow: blocking::evaluate runs on scoped threads.
    let calls = AtomicUsize::new(0);
    for n in [1, 8] {
        let summary = blocking::evaluate(
            &id,
            |data: Map<String, Value>| {
                calls.fetch_add(1, Ordering::SeqCst);
                solve(&data)
            },
            options().max_concurrency(n),
        )
        .unwrap();
        check_outcomes(&summary.results);
        assert_eq!(
            (summary.passed, summary.failed, summary.error_count),
            (5, 1, 2)
        );
        assert!(summary.results.iter().all(|r| r.trace_id.is_some()));
    }
    assert_eq!(calls.load(Ordering::SeqCst), 16);
    assert_eq!(
        env.spans
            .finished()
            .iter()
            .filter(|s| s.span.name.starts_with("eval:"))
            .count(),
        16
    );
}
