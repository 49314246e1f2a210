//! Failure mapping, retries and acknowledgement checks (PROTOCOL.md §3.3–3.4, decision 6)
//! against a fault-injecting server on 127.0.0.1. Every case checks
//! `accepted = delivered + failed + pending` and that no span was delivered twice.

mod support;

use std::time::{Duration, Instant};

use serde_json::{Map, Value, json};
use staso_core::__internal::{HttpExporter, TransportOptions};
use staso_core::SpanExporter;
use staso_core::{DeliveryFailureKind as K, DeliveryReport, EnqueueResult};
use staso_tests::logs::captured_logs;
use support::*;

const SECOND: Duration = Duration::from_secs(1);

fn start(server: &Server, opts: TransportOptions) -> HttpExporter {
    start_exporter(&build(test_config(&server.url())), opts)
}

/// Sends `n` spans (one trace) and flushes.
fn send(exporter: &HttpExporter, n: u64) -> DeliveryReport {
    for i in 0..n {
        assert!(
            exporter
                .export(Box::new(span_record(7, i + 1, None)))
                .accepted
        );
    }
    let report = exporter.flush(20 * SECOND);
    assert_balanced(&report);
    assert!(!report.timed_out, "{report:?}");
    report
}

#[track_caller]
fn assert_failed(report: &DeliveryReport, n: u64, kind: K, retryable: bool) {
    assert_eq!(
        (
            report.accepted,
            report.delivered,
            report.failed,
            report.pending
        ),
        (n, 0, n, 0),
        "{report:?}"
    );
    assert_eq!(report.last_failure, Some(kind), "{report:?}");
    assert_eq!(report.retryable, retryable, "{report:?}");
    assert!(!report.ok());
}

#[test]
fn server_error_then_success_is_delivered_once_under_one_key() {
    let server = Server::start(vec![Reply::Status(500)], Reply::Ack);
    let exporter = start(&server, fast_options());
    let report = send(&exporter, 3);
    assert!(report.ok(), "{report:?}");
    assert_eq!(report.delivered, 3);
    let reqs = server.requests();
    assert_eq!(reqs.len(), 2);
    assert_eq!(
        reqs[0].key(),
        reqs[1].key(),
        "Idempotency-Key reused on retry"
    );
    assert_eq!(reqs[0].body, reqs[1].body, "same body on retry");
    assert_eq!(server.assert_delivered_once(), 3);
}

#[test]
fn three_server_errors_fail_the_batch_as_retryable() {
    let server = Server::start(Vec::new(), Reply::Status(503));
    let exporter = start(&server, fast_options());
    let report = send(&exporter, 2);
    assert_failed(&report, 2, K::BackendUnavailable, true);
    let reqs = server.requests();
    assert_eq!(reqs.len(), 3, "3 attempts");
    // Fixed delays between attempts (test options: 20 ms, 40 ms).
    assert!(reqs[1].at - reqs[0].at >= Duration::from_millis(20));
    assert!(reqs[2].at - reqs[1].at >= Duration::from_millis(40));
    assert_eq!(server.assert_delivered_once(), 0);
}

#[test]
fn protocol_retry_delays_are_half_a_second_then_one() {
    let opts = TransportOptions::default();
    assert_eq!(
        opts.retry_delays,
        [Duration::from_millis(500), Duration::from_secs(1)]
    );
    assert_eq!(opts.request_timeout, Duration::from_secs(10));
    let server = Server::start(vec![Reply::Status(500), Reply::Status(502)], Reply::Ack);
    let exporter = start(&server, TransportOptions::default());
    let report = send(&exporter, 1);
    assert!(report.ok(), "{report:?}");
    let reqs = server.requests();
    assert_eq!(reqs.len(), 3);
    let (d1, d2) = (reqs[1].at - reqs[0].at, reqs[2].at - reqs[1].at);
    assert!(
        d1 >= Duration::from_millis(490) && d1 < Duration::from_millis(900),
        "{d1:?}"
    );
    assert!(
        d2 >= Duration::from_millis(990) && d2 < Duration::from_millis(2000),
        "{d2:?}"
    );
}

#[test]
fn rate_limited_with_retry_after_sleeps_that_long() {
    let server = Server::start(
        vec![Reply::StatusWith(429, vec![("Retry-After", "1".into())])],
        Reply::Ack,
    );
    let exporter = start(&server, fast_options());
    let report = send(&exporter, 2);
    assert!(report.ok(), "{report:?}");
    let reqs = server.requests();
    assert_eq!(reqs.len(), 2);
    assert_eq!(reqs[0].key(), reqs[1].key());
    let gap = reqs[1].at - reqs[0].at;
    assert!(
        gap >= Duration::from_millis(950),
        "Retry-After honoured: {gap:?}"
    );
    assert_eq!(server.assert_delivered_once(), 2);
}

#[test]
fn rate_limited_without_retry_after_uses_normal_backoff() {
    // Decision 6: retried with the normal delays (the official SDK gives up at once).
    let server = Server::start(vec![Reply::Status(429), Reply::Status(429)], Reply::Ack);
    let exporter = start(&server, fast_options());
    let report = send(&exporter, 1);
    assert!(report.ok(), "{report:?}");
    let reqs = server.requests();
    assert_eq!(reqs.len(), 3);
    assert!(reqs[1].at - reqs[0].at >= Duration::from_millis(20));
    assert!(reqs[2].at - reqs[1].at < Duration::from_millis(900));
    assert_eq!(server.assert_delivered_once(), 1);
}

#[test]
fn rate_limited_beyond_sixty_seconds_fails_at_once_as_retryable() {
    for value in ["61", "Wed, 21 Oct 2015 07:28:00 GMT"] {
        let server = Server::start(
            Vec::new(),
            Reply::StatusWith(429, vec![("Retry-After", value.into())]),
        );
        let exporter = start(&server, fast_options());
        let t = Instant::now();
        let report = send(&exporter, 2);
        assert_failed(&report, 2, K::RateLimited, true);
        assert_eq!(
            server.requests().len(),
            1,
            "no retry for Retry-After {value}"
        );
        assert!(t.elapsed() < 5 * SECOND);
    }
}

#[test]
fn auth_and_plan_errors_are_not_retried() {
    for (status, kind) in [
        (401, K::InvalidKey),
        (402, K::PlanExpired),
        (403, K::Forbidden),
    ] {
        let server = Server::start(Vec::new(), Reply::Status(status));
        let exporter = start(&server, fast_options());
        let report = send(&exporter, 3);
        assert_failed(&report, 3, kind, false);
        assert_eq!(server.requests().len(), 1, "HTTP {status} not retried");
        // Cumulative: a later good batch does not make the report ok again.
        server.set_default(Reply::Ack);
        let later = send(&exporter, 1);
        assert_eq!((later.accepted, later.delivered, later.failed), (4, 1, 3));
        assert_eq!(later.last_failure, Some(kind));
        assert!(!later.ok());
        assert_eq!(server.assert_delivered_once(), 1);
    }
}

#[test]
fn other_client_errors_are_malformed_and_not_retried() {
    let server = Server::start(Vec::new(), Reply::Status(404));
    let exporter = start(&server, fast_options());
    assert_failed(&send(&exporter, 1), 1, K::MalformedResponse, false);
    assert_eq!(server.requests().len(), 1);
}

fn wrong_receipt(m: &mut Map<String, Value>) {
    m.insert(
        "receipt_id".into(),
        json!("00000000-0000-4000-8000-000000000000"),
    );
}
fn wrong_count(m: &mut Map<String, Value>) {
    m.insert("accepted".into(), json!(2));
}
fn float_count(m: &mut Map<String, Value>) {
    m.insert("accepted".into(), json!(1.0));
}
fn bool_count(m: &mut Map<String, Value>) {
    m.insert("accepted".into(), json!(true));
}
fn some_rejected(m: &mut Map<String, Value>) {
    m.insert("rejected".into(), json!(1));
}
fn spans_dropped(m: &mut Map<String, Value>) {
    m.insert("spans_dropped".into(), json!(1));
}
fn missing_field(m: &mut Map<String, Value>) {
    m.remove("spans_dropped");
}

#[test]
fn bad_acknowledgements_are_malformed_and_not_retried() {
    let cases: Vec<(&str, Reply)> = vec![
        ("wrong receipt_id", Reply::AckEdited(wrong_receipt)),
        ("wrong accepted count", Reply::AckEdited(wrong_count)),
        ("accepted as float", Reply::AckEdited(float_count)),
        ("accepted as bool", Reply::AckEdited(bool_count)),
        ("rejected != 0", Reply::AckEdited(some_rejected)),
        ("spans_dropped != 0", Reply::AckEdited(spans_dropped)),
        ("missing field", Reply::AckEdited(missing_field)),
        ("non-JSON", Reply::Raw(200, "text/plain", "ok".into())),
        (
            "JSON array",
            Reply::Raw(200, "application/json", "[]".into()),
        ),
        (
            "empty 204",
            Reply::Raw(204, "application/json", String::new()),
        ),
        (
            "302 redirect",
            Reply::StatusWith(302, vec![("Location", "/v1/elsewhere".into())]),
        ),
    ];
    for (what, reply) in cases {
        let server = Server::start(Vec::new(), reply);
        let exporter = start(&server, fast_options());
        let report = send(&exporter, 2);
        assert_failed(&report, 2, K::MalformedResponse, false);
        let reqs = server.requests();
        assert_eq!(reqs.len(), 1, "{what}: not retried, redirect not followed");
        assert_eq!(reqs[0].path, "/v1/traces/ingest");
    }
}

#[test]
fn a_response_slower_than_the_timeout_is_a_retryable_timeout() {
    let server = Server::start(
        Vec::new(),
        Reply::Delay(Duration::from_millis(1500), Box::new(Reply::Ack)),
    );
    let opts = TransportOptions {
        request_timeout: Duration::from_millis(300),
        ..fast_options()
    };
    let exporter = start(&server, opts);
    let t = Instant::now();
    let report = send(&exporter, 2);
    assert_failed(&report, 2, K::Timeout, true);
    assert_eq!(server.requests().len(), 3, "timeouts are retried");
    assert!(t.elapsed() < 3 * SECOND, "{:?}", t.elapsed());
    // The server answered after the client gave up: nothing counts as delivered.
    assert_eq!(report.delivered, 0);
}

#[test]
fn connection_refused_is_network_unavailable() {
    let config = build(test_config(&closed_port_url()));
    let exporter = start_exporter(&config, fast_options());
    let report = send(&exporter, 4);
    assert_failed(&report, 4, K::NetworkUnavailable, true);
}

#[test]
fn a_connection_closed_without_answer_is_network_unavailable() {
    let server = Server::start(vec![Reply::Close], Reply::Ack);
    let exporter = start(&server, fast_options());
    // Retried: the second attempt succeeds.
    let report = send(&exporter, 2);
    assert!(report.ok(), "{report:?}");
    assert_eq!(server.requests().len(), 2);
    let server = Server::start(Vec::new(), Reply::Close);
    let exporter = start(&server, fast_options());
    assert_failed(&send(&exporter, 2), 2, K::NetworkUnavailable, true);
}

#[test]
fn an_outage_longer_than_the_queue_counts_every_rejection() {
    let server = Server::start(Vec::new(), Reply::Status(503));
    let config = build(
        test_config(&server.url())
            .max_queue_size(20)
            .batch_size(5)
            .flush_interval(Duration::from_millis(50)),
    );
    let exporter = start_exporter(&config, fast_options());
    let produced = 2_000u64;
    let mut rejected = 0;
    for i in 0..produced {
        let r = exporter.export(Box::new(span_record(u128::from(i % 13) + 1, i + 1, None)));
        if !r.accepted {
            assert_eq!(r, EnqueueResult::rejected(K::QueueFull, true));
            rejected += 1;
        }
    }
    assert!(rejected > 0);
    let report = exporter.flush(30 * SECOND);
    assert_balanced(&report);
    assert!(!report.timed_out);
    assert_eq!(report.rejected, rejected);
    assert_eq!(report.accepted + report.rejected, produced);
    assert_eq!(report.failed, report.accepted);
    assert_eq!(report.last_failure, Some(K::BackendUnavailable));
    assert_eq!(report.last_rejection, Some(K::QueueFull));
    assert!(report.rejection_retryable);

    // The backend comes back: new spans are delivered, the report stays cumulative.
    server.set_default(Reply::Ack);
    for i in 0..10 {
        assert!(
            exporter
                .export(Box::new(span_record(99, 10_000 + i, None)))
                .accepted
        );
    }
    let after = exporter.flush(10 * SECOND);
    assert_balanced(&after);
    assert_eq!(after.delivered, 10);
    assert_eq!(after.rejected, rejected);
    assert!(!after.ok());
    assert_eq!(server.assert_delivered_once(), 10);
}

/// The lines of this binary's log that mention `needle`.
fn log_lines(needle: &str) -> Vec<String> {
    let lines = captured_logs().lock().unwrap_or_else(|e| e.into_inner());
    lines
        .iter()
        .filter(|l| l.contains(needle))
        .cloned()
        .collect()
}

#[test]
fn a_full_queue_warns_from_the_enqueue_path_while_the_worker_is_stuck() {
    captured_logs();
    // The backend takes every request and never answers: the worker sits in its first send.
    let server = Server::start(Vec::new(), Reply::Hold(Box::new(Reply::Ack)));
    // A queue size no other test uses, so these lines are this test's alone.
    let needle = "queue size 7)";
    let config = build(test_config(&server.url()).max_queue_size(7).batch_size(2));
    let opts = TransportOptions {
        request_timeout: 20 * SECOND,
        ..fast_options()
    };
    let exporter = start_exporter(&config, opts);
    let mut rejected = 0;
    let mut flood = |from: u64| {
        for i in from..from + 1_000 {
            if !exporter
                .export(Box::new(span_record(3, i + 1, None)))
                .accepted
            {
                rejected += 1;
            }
        }
    };
    // A whole batch goes out at once.
    for i in 1..=2 {
        assert!(exporter.export(Box::new(span_record(3, i, None))).accepted);
    }
    assert_eq!(server.wait_for_requests(1, 5 * SECOND).len(), 1);
    flood(10);
    let t = Instant::now();
    while log_lines(needle).is_empty() && t.elapsed() < 2 * SECOND {
        std::thread::sleep(Duration::from_millis(20));
    }
    let lines = log_lines(needle);
    assert_eq!(lines.len(), 1, "{lines:#?}");
    assert!(
        lines[0].starts_with("WARN")
            && lines[0].contains(
                "event queue full, dropping events (1 dropped since the last warning, 1 in all;"
            ),
        "{lines:#?}"
    );
    // Rate-limited: more drops within 10 s add no line.
    flood(2_000);
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(log_lines(needle).len(), 1, "one line per 10 s");
    assert!(rejected >= 1_900, "{rejected}");
    server.release();
    let report = exporter.shutdown(10 * SECOND);
    assert_balanced(&report);
    assert_eq!(report.rejected, rejected);
    assert_eq!(report.last_rejection, Some(K::QueueFull));
}

#[test]
fn a_worker_crash_fails_what_it_holds_and_rejects_later_spans() {
    let server = Server::acking();
    let config = build(test_config(&server.url()).batch_size(2));
    let opts = TransportOptions {
        panic_before_batch: Some(2),
        ..fast_options()
    };
    let exporter = start_exporter(&config, opts);
    for i in 0..2 {
        assert!(
            exporter
                .export(Box::new(span_record(1, i + 1, None)))
                .accepted
        );
    }
    let first = exporter.flush(5 * SECOND);
    assert!(first.ok(), "{first:?}");
    for i in 0..5 {
        exporter.export(Box::new(span_record(2, i + 10, None)));
    }
    let t = Instant::now();
    let report = exporter.flush(5 * SECOND);
    assert!(t.elapsed() < 3 * SECOND, "flush returns early on a crash");
    assert_balanced(&report);
    assert!(!report.timed_out);
    assert_eq!(report.delivered, 2);
    assert_eq!(report.failed + report.pending, report.accepted - 2);
    assert_eq!(report.last_failure, Some(K::BackendUnavailable));
    assert!(report.retryable);
    let r = exporter.export(Box::new(span_record(3, 99, None)));
    assert_eq!(r, EnqueueResult::rejected(K::BackendUnavailable, true));
    let fin = exporter.shutdown(5 * SECOND);
    assert_balanced(&fin);
    assert!(!fin.timed_out);
    assert_eq!(fin.rejected, 1);
    assert_eq!(fin.pending, 0);
    assert_eq!(server.assert_delivered_once(), 2);
}
