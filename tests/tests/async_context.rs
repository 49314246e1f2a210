//! Context across `.await`, worker threads, spawned tasks and threads.

mod common;

use common::setup;
use staso::FutureExt;

#[staso::tool]
async fn child(task: u32, i: u32) -> (u32, u32) {
    tokio::task::yield_now().await;
    (task, i)
}

#[staso::agent(name = "worker")]
async fn parent(task: u32) -> u32 {
    let mut sum = 0;
    for i in 0..3 {
        tokio::task::yield_now().await;
        let (_, v) = child(task, i).await;
        sum += v;
    }
    sum
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn many_concurrent_tasks_never_cross_link() {
    let h = setup();
    let handles: Vec<_> = (0..200u32).map(|t| tokio::spawn(parent(t))).collect();
    for hd in handles {
        assert_eq!(hd.await.ok(), Some(3));
    }
    let spans = h.finished();
    assert_eq!(spans.len(), 200 * 4);
    let parents: std::collections::HashMap<String, (String, u64)> = h
        .all_named("worker")
        .into_iter()
        .map(|p| {
            let task = common::json(&p.span.input)["task"]
                .as_u64()
                .unwrap_or(u64::MAX);
            (p.span.span_id.clone(), (p.trace_id.clone(), task))
        })
        .collect();
    assert_eq!(parents.len(), 200);
    for c in h.all_named("child") {
        let parent_id = c.span.parent_span_id.clone().unwrap_or_default();
        let (trace, task) = parents
            .get(&parent_id)
            .unwrap_or_else(|| panic!("orphan child {c:?}"));
        assert_eq!(&c.trace_id, trace);
        assert_eq!(
            common::json(&c.span.input)["task"].as_u64(),
            Some(*task),
            "child linked to another task's parent"
        );
        assert_eq!(c.span.agent_name, "worker");
    }
}

#[staso::trace]
async fn spawner() -> Vec<u32> {
    let a = tokio::spawn(async { child(1, 1).await.1 }.in_current_span());
    let b = staso::spawn(async { child(2, 2).await.1 });
    let detached = tokio::spawn(async { child(3, 3).await.1 });
    let t = staso::thread::spawn(|| staso::span("in-thread", staso::SpanKind::Chain, |_| 4));
    let plain = std::thread::spawn(|| staso::span("plain-thread", staso::SpanKind::Chain, |_| 5));
    vec![
        a.await.unwrap_or(0),
        b.await.unwrap_or(0),
        detached.await.unwrap_or(0),
        t.join().unwrap_or(0),
        plain.join().unwrap_or(0),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spawned_work_is_a_child_only_through_the_helpers() {
    let h = setup();
    assert_eq!(spawner().await, vec![1, 2, 3, 4, 5]);
    let root = h.by_name("spawner");
    let parent_of = |task: u64| {
        h.all_named("child")
            .into_iter()
            .find(|c| common::json(&c.span.input)["task"].as_u64() == Some(task))
            .and_then(|c| c.span.parent_span_id)
    };
    assert_eq!(
        parent_of(1).as_deref(),
        Some(root.span.span_id.as_str()),
        ".in_current_span()"
    );
    assert_eq!(
        parent_of(2).as_deref(),
        Some(root.span.span_id.as_str()),
        "staso::spawn"
    );
    assert_eq!(
        parent_of(3),
        None,
        "a plain tokio::spawn starts a new trace"
    );
    assert_eq!(
        h.by_name("in-thread").span.parent_span_id.as_deref(),
        Some(root.span.span_id.as_str())
    );
    assert_eq!(h.by_name("plain-thread").span.parent_span_id, None);
}

#[tokio::test(flavor = "current_thread")]
async fn interleaved_tasks_on_one_thread() {
    let h = setup();
    let (a, b) = tokio::join!(parent(10), parent(20));
    assert_eq!((a, b), (3, 3));
    for c in h.all_named("child") {
        let task = common::json(&c.span.input)["task"].as_u64();
        let p = h
            .all_named("worker")
            .into_iter()
            .find(|p| Some(p.span.span_id.clone()) == c.span.parent_span_id)
            .map(|p| common::json(&p.span.input)["task"].as_u64());
        assert_eq!(p, Some(task));
    }
}

#[test]
fn sync_nesting_three_deep() {
    let h = setup();
    #[staso::trace]
    fn a() -> u8 {
        b() + 1
    }
    #[staso::trace]
    fn b() -> u8 {
        c() + 1
    }
    #[staso::trace]
    fn c() -> u8 {
        1
    }
    a();
    assert_eq!(
        h.render()
            .lines()
            .map(|l| l.split(" [").next().unwrap_or("").to_owned())
            .collect::<Vec<_>>(),
        vec!["chain a", "  chain b", "    chain c"]
    );
}
