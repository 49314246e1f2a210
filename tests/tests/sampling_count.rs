//! The count of traces head sampling dropped at their root (`DeliveryReport::sampled_out`), kept
//! per thread: exact in `flush` and `shutdown` reports across many threads, including threads
//! that have exited (their counts stay in the sum); each client reports only the roots dropped
//! while it was installed; kept and dropped roots add up to the calls, and a kept root's trace id
//! is one the rate keeps.

mod common;

use std::time::Duration;

use common::{builder, setup_with};
use staso::{TraceId, trace_sampled};

#[staso::trace]
fn root(i: u64) -> u64 {
    i
}

/// `per_thread[t]` root calls on thread `t`, all joined before this returns.
fn roots_on_threads(per_thread: &[u64]) {
    let threads: Vec<_> = per_thread
        .iter()
        .map(|&n| std::thread::spawn(move || (0..n).map(root).sum::<u64>()))
        .collect();
    for t in threads {
        assert!(t.join().is_ok(), "a thread panicked");
    }
}

#[test]
fn roots_dropped_on_many_threads_are_counted_exactly_after_the_threads_exit() {
    let h = setup_with(builder().sample_rate(0.0));
    let client = h.client.as_ref().expect("client");
    // Two waves: the second wave's threads reuse the first wave's (returned) slots.
    roots_on_threads(&[100, 101, 102, 103, 104, 105, 106, 107]);
    assert_eq!(client.flush(Duration::from_secs(5)).sampled_out, 828);
    roots_on_threads(&[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
    (0..5).for_each(|i| {
        root(i);
    });
    assert_eq!(
        client.flush(Duration::from_secs(5)).sampled_out,
        828 + 78 + 5
    );
    let report = client.shutdown(Duration::from_secs(5));
    assert_eq!(report.sampled_out, 911, "{report:?}");
    assert!(h.finished().is_empty(), "{}", h.render());
}

#[test]
fn each_client_reports_only_the_roots_dropped_while_it_was_installed() {
    let mut h = setup_with(builder().sample_rate(0.0));
    roots_on_threads(&[10, 20]);
    (0..3).for_each(|i| {
        root(i);
    });
    h.drop_client();
    // Not installed: nothing is decided or counted.
    roots_on_threads(&[50]);
    let config = builder()
        .sample_rate(0.0)
        .build_with_env(|_| None)
        .expect("valid config");
    let second =
        staso::init_with_exporter(config, std::sync::Arc::new(h.spans.clone())).expect("init");
    roots_on_threads(&[7]);
    root(0);
    let report = second.shutdown(Duration::from_secs(5));
    assert_eq!(report.sampled_out, 8, "{report:?}");
}

#[test]
fn a_replaced_client_keeps_its_own_count() {
    let h = setup_with(builder().sample_rate(0.0));
    roots_on_threads(&[4, 5]);
    let config = builder()
        .sample_rate(0.0)
        .build_with_env(|_| None)
        .expect("valid config");
    let second =
        staso::init_with_exporter(config, std::sync::Arc::new(h.spans.clone())).expect("init");
    let retired = second
        .previous_shutdown_report()
        .expect("the first client was retired");
    assert_eq!(retired.sampled_out, 9, "{retired:?}");
    roots_on_threads(&[6]);
    // The first client's handle reports its final count, not the second client's roots.
    let first = h.client.as_ref().expect("client");
    assert_eq!(first.shutdown(Duration::from_secs(5)).sampled_out, 9);
    assert_eq!(second.shutdown(Duration::from_secs(5)).sampled_out, 6);
}

#[test]
fn kept_and_dropped_roots_add_up_and_kept_ones_pass_the_rate() {
    let h = setup_with(builder().sample_rate(0.5));
    roots_on_threads(&[500, 500, 500, 500]);
    let report = h
        .client
        .as_ref()
        .expect("client")
        .flush(Duration::from_secs(5));
    let kept = h.all_named("root");
    assert_eq!(kept.len() as u64 + report.sampled_out, 2_000, "{report:?}");
    // n·p = 1 000, σ ≈ 22: six σ either side.
    assert!((868..=1_132).contains(&kept.len()), "kept {}", kept.len());
    for span in &kept {
        let id = TraceId::parse(&span.trace_id).expect("a trace id");
        assert!(trace_sampled(id, 0.5), "kept {id}, which the rate drops");
    }
}
