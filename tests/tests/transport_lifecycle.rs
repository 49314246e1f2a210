//! flush/shutdown bounds and semantics (PROTOCOL.md §3.5–3.7) and many producers, against
//! servers on 127.0.0.1.

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use staso_core::__internal::HttpExporter;
use staso_core::SpanExporter;
use staso_core::{DeliveryFailureKind as K, EnqueueResult};
use support::*;

const SECOND: Duration = Duration::from_secs(1);

/// An exporter whose partial batches wait for a flush (long interval).
fn lazy_exporter(server: &Server, batch: usize, queue: usize) -> HttpExporter {
    let config = build(
        test_config(&server.url())
            .batch_size(batch)
            .max_queue_size(queue)
            .flush_interval(Duration::from_secs(60)),
    );
    start_exporter(&config, fast_options())
}

#[test]
fn flush_without_spans_returns_at_once() {
    let server = Server::acking();
    let exporter = lazy_exporter(&server, 100, 100);
    let t = Instant::now();
    let r = exporter.flush(5 * SECOND);
    assert!(t.elapsed() < Duration::from_millis(100));
    assert!(
        r.ok() && r.accepted == 0 && r.last_failure.is_none(),
        "{r:?}"
    );
}

#[test]
fn flush_honours_its_bound_when_the_backend_hangs() {
    let server = Server::start(Vec::new(), Reply::Hold(Box::new(Reply::Ack)));
    let exporter = lazy_exporter(&server, 100, 100);
    for i in 0..5 {
        exporter.export(Box::new(span_record(1, i + 1, None)));
    }
    let t = Instant::now();
    let r = exporter.flush(Duration::from_millis(300));
    let took = t.elapsed();
    assert!(
        took >= Duration::from_millis(290) && took < SECOND,
        "{took:?}"
    );
    assert!(r.timed_out);
    assert_eq!((r.accepted, r.pending), (5, 5));
    assert_eq!((r.last_failure, r.retryable), (Some(K::Timeout), true));
    assert_balanced(&r);
    // Records accepted after the call are not part of its barrier; once the backend answers,
    // a later flush covers everything.
    for i in 0..3 {
        exporter.export(Box::new(span_record(2, i + 10, None)));
    }
    server.release();
    let r = exporter.flush(5 * SECOND);
    assert!(r.ok(), "{r:?}");
    assert_eq!(r.accepted, 8);
    assert_eq!(server.assert_delivered_once(), 8);
}

#[test]
fn flush_reports_only_what_was_accepted_before_the_call() {
    let server = Server::acking();
    let exporter = Arc::new(lazy_exporter(&server, 10, 10_000));
    for i in 0..25 {
        exporter.export(Box::new(span_record(1, i + 1, None)));
    }
    // A producer keeps going while we flush: the report's barrier is what existed at the call.
    let producer = {
        let e = exporter.clone();
        std::thread::spawn(move || {
            for i in 0..2_000 {
                e.export(Box::new(span_record(2, 1_000 + i, None)));
            }
        })
    };
    let r = exporter.flush(10 * SECOND);
    producer.join().expect("producer");
    assert!(r.accepted >= 25 && r.accepted <= 2_025, "{r:?}");
    assert_eq!(r.pending, 0, "{r:?}");
    assert_balanced(&r);
    let all = exporter.flush(10 * SECOND);
    assert_eq!((all.accepted, all.delivered), (2_025, 2_025));
    assert_eq!(server.assert_delivered_once(), 2_025);
}

#[test]
fn shutdown_drains_is_idempotent_and_counts_later_rejections() {
    let server = Server::acking();
    let exporter = lazy_exporter(&server, 100, 1_000);
    for i in 0..250 {
        assert!(
            exporter
                .export(Box::new(span_record(u128::from(i % 5) + 1, i + 1, None)))
                .accepted
        );
    }
    let first = exporter.shutdown(5 * SECOND);
    assert!(first.ok(), "{first:?}");
    assert_eq!((first.accepted, first.delivered), (250, 250));
    assert_eq!(exporter.shutdown(5 * SECOND), first, "same final report");
    // Flush after shutdown reports the same counts without waiting.
    let f = exporter.flush(5 * SECOND);
    assert_eq!((f.accepted, f.delivered, f.timed_out), (250, 250, false));

    let r = exporter.export(Box::new(span_record(9, 9, None)));
    assert_eq!(r, EnqueueResult::rejected(K::Shutdown, false));
    let after = exporter.shutdown(5 * SECOND);
    assert_eq!(after.rejected, 1);
    assert_eq!(
        (after.last_failure, after.retryable),
        (Some(K::Shutdown), false)
    );
    assert_eq!(after.last_rejection, Some(K::Shutdown));
    assert_eq!(after.delivered, 250);
    assert!(!after.ok());
    assert_eq!(server.assert_delivered_once(), 250);
}

#[test]
fn shutdown_honours_its_bound_and_a_later_call_joins_again() {
    let server = Server::start(Vec::new(), Reply::Hold(Box::new(Reply::Ack)));
    let exporter = lazy_exporter(&server, 100, 100);
    for i in 0..4 {
        exporter.export(Box::new(span_record(1, i + 1, None)));
    }
    let t = Instant::now();
    let r = exporter.shutdown(Duration::from_millis(300));
    assert!(t.elapsed() < SECOND, "{:?}", t.elapsed());
    assert!(r.timed_out, "{r:?}");
    assert_eq!((r.accepted, r.pending), (4, 4));
    assert_eq!(r.last_failure, Some(K::Timeout));
    // Not final: stops accepting, and the next shutdown waits again.
    assert_eq!(
        exporter.export(Box::new(span_record(2, 2, None))),
        EnqueueResult::rejected(K::Shutdown, false)
    );
    server.release();
    let fin = exporter.shutdown(5 * SECOND);
    assert!(!fin.timed_out, "{fin:?}");
    assert_eq!((fin.accepted, fin.delivered, fin.rejected), (4, 4, 1));
    assert_eq!(server.assert_delivered_once(), 4);
}

#[test]
fn dropping_the_exporter_lets_the_worker_drain() {
    let server = Server::acking();
    let exporter = lazy_exporter(&server, 100, 100);
    for i in 0..3 {
        exporter.export(Box::new(span_record(1, i + 1, None)));
    }
    drop(exporter);
    let reqs = server.wait_for_requests(1, 5 * SECOND);
    assert_eq!(reqs.len(), 1);
    assert_eq!(reqs[0].span_ids().len(), 3);
}

const THREADS: u64 = 8;
const PER_THREAD: u64 = 10_000;

fn produce(exporter: &Arc<HttpExporter>) -> (u64, u64) {
    let handles: Vec<_> = (0..THREADS)
        .map(|t| {
            let e = exporter.clone();
            std::thread::spawn(move || {
                let (mut ok, mut rejected) = (0u64, 0u64);
                for i in 0..PER_THREAD {
                    // 100 spans per trace, ids unique across threads.
                    let id = t * PER_THREAD + i + 1;
                    let r = e.export(Box::new(span_record(u128::from(id / 100) + 1, id, None)));
                    if r.accepted {
                        ok += 1;
                    } else {
                        assert_eq!(r, EnqueueResult::rejected(K::QueueFull, true));
                        rejected += 1;
                    }
                }
                (ok, rejected)
            })
        })
        .collect();
    handles.into_iter().fold((0, 0), |(a, b), h| {
        let (x, y) = h.join().expect("producer thread");
        (a + x, b + y)
    })
}

#[test]
fn eight_producers_lose_and_duplicate_nothing() {
    let server = Server::acking();
    let exporter = Arc::new(lazy_exporter(&server, 500, 100_000));
    let (accepted, rejected) = produce(&exporter);
    assert_eq!((accepted, rejected), (THREADS * PER_THREAD, 0));
    let r = exporter.shutdown(60 * SECOND);
    assert!(r.ok(), "{r:?}");
    assert_eq!(r.delivered, THREADS * PER_THREAD);
    assert_eq!(server.assert_delivered_once() as u64, THREADS * PER_THREAD);
    assert!(server.requests().iter().all(|q| q.span_ids().len() <= 500));
}

#[test]
fn eight_producers_against_a_full_queue_get_exact_rejection_counts() {
    let server = Server::start(vec![Reply::Hold(Box::new(Reply::Ack))], Reply::Ack);
    let queue = 1_000;
    let exporter = Arc::new(lazy_exporter(&server, 100, queue));
    // Park the worker inside a request the server holds, so nothing leaves the queue.
    exporter.export(Box::new(span_record(1, u64::MAX, None)));
    let r = exporter.flush(Duration::from_millis(1));
    assert!(r.timed_out);
    assert_eq!(server.wait_for_requests(1, 5 * SECOND).len(), 1);

    let (accepted, rejected) = produce(&exporter);
    assert_eq!(accepted, queue as u64);
    assert_eq!(rejected, THREADS * PER_THREAD - queue as u64);

    server.release();
    let r = exporter.flush(30 * SECOND);
    assert_balanced(&r);
    assert_eq!(
        (r.accepted, r.delivered, r.rejected),
        (1 + queue as u64, 1 + queue as u64, rejected)
    );
    assert_eq!((r.last_failure, r.retryable), (Some(K::QueueFull), true));
    assert!(!r.ok());
    assert_eq!(server.assert_delivered_once(), 1 + queue);
}
