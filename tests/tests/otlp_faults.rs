//! OTLP delivery faults against a scripted receiver on 127.0.0.1: the retry rules of the OTLP/HTTP
//! specification, partial success, a collector that comes up late, and shutdown. Every report is
//! checked for `accepted = delivered + failed + pending`.

mod otlp_support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use otlp_support::*;
use staso_core::__internal::{OtlpExporter, OtlpOptions};
use staso_core::ExportSettings;
use staso_core::SpanExporter;
use staso_core::SpanKind;
use staso_core::SpanRecord;
use staso_core::{Config, ExporterConfig, OtlpSettings};
use staso_core::{DeliveryFailureKind as K, DeliveryReport, EnqueueResult};
use staso_core::{SpanId, TraceId};
use staso_tests::http::free_addr;
use staso_tests::logs::captured_logs;

const TIMEOUT: Duration = Duration::from_secs(15);

fn start_at(url: &str, opts: OtlpOptions) -> OtlpExporter {
    let config = Config::builder()
        .agent_name("faults")
        .capture_git(false)
        .exporter(OtlpSettings::new(url).timeout(Duration::from_secs(3)))
        .build_with_env(|_| None)
        .expect("config");
    let emit = Arc::new(ExportSettings::from_config(&config, "s".into()));
    let ExporterConfig::Otlp(otlp) = &config.exporters()[0] else {
        panic!("otlp")
    };
    OtlpExporter::start_with(otlp, &config, emit, opts).expect("starts")
}

fn rec(span: u64) -> SpanRecord {
    SpanRecord::new(
        TraceId(9),
        SpanId(span),
        None,
        "step".into(),
        SpanKind::Chain,
        staso_core::__internal::now(),
    )
}

fn send(e: &OtlpExporter, n: u64) -> DeliveryReport {
    for i in 0..n {
        assert!(e.export(Box::new(rec(i + 1))).accepted);
    }
    let r = e.flush(TIMEOUT);
    assert_eq!(r.accepted, r.delivered + r.failed + r.pending, "{r:?}");
    assert!(!r.timed_out, "{r:?}");
    r
}

#[test]
fn unavailable_with_retry_after_is_retried_after_the_delay() {
    let busy = Reply {
        headers: vec![("Retry-After", "1".into())],
        ..Reply::status(503)
    };
    let rx = Receiver::start(vec![busy], Reply::ok());
    let e = start_at(&rx.url(), fast());
    let r = send(&e, 3);
    assert!(r.ok(), "{r:?}");
    let reqs = rx.received();
    assert_eq!(reqs.len(), 2);
    let gap = reqs[1].at - reqs[0].at;
    assert!(gap >= Duration::from_millis(950), "waited {gap:?}");
    assert_eq!(reqs[0].body, reqs[1].body, "the same batch is resent");
}

#[test]
fn rate_limited_and_gateway_errors_are_retried_with_backoff() {
    let rx = Receiver::start(
        vec![Reply::status(429), Reply::status(502), Reply::status(504)],
        Reply::ok(),
    );
    let e = start_at(&rx.url(), fast());
    let r = send(&e, 2);
    assert!(r.ok(), "{r:?}");
    assert_eq!(rx.received().len(), 4);
}

#[test]
fn bad_request_and_other_errors_are_not_retried() {
    for (status, kind) in [(400, K::MalformedResponse), (500, K::BackendUnavailable)] {
        let rx = Receiver::start(vec![], Reply::status(status));
        let e = start_at(&rx.url(), fast());
        let r = send(&e, 2);
        assert_eq!((r.delivered, r.failed), (0, 2), "{r:?}");
        assert_eq!((r.last_failure, r.retryable), (Some(kind), false), "{r:?}");
        assert_eq!(rx.received().len(), 1, "{status} is not retried");
    }
}

#[test]
fn partial_success_counts_rejected_spans_as_failed_and_logs_once() {
    let logs = captured_logs();
    let msg = "spans older than the retention window";
    let rx = Receiver::start(vec![], Reply::partial(2, msg));
    let e = start_at(&rx.url(), fast());
    let r = send(&e, 5);
    assert_eq!((r.accepted, r.delivered, r.failed), (5, 3, 2), "{r:?}");
    assert_eq!(r.last_failure, Some(K::MalformedResponse));
    let r = send(&e, 5);
    assert_eq!((r.accepted, r.delivered, r.failed), (10, 6, 4), "{r:?}");
    let warned = logs
        .lock()
        .unwrap()
        .iter()
        .filter(|l| l.starts_with("WARN") && l.contains(msg))
        .count();
    assert_eq!(
        warned, 1,
        "the receiver's message is logged once as a warning"
    );
}

#[test]
fn collector_down_at_start_then_up_gets_the_spans() {
    let addr = free_addr();
    let e = start_at(&format!("http://{addr}"), fast());
    for i in 0..4 {
        assert!(e.export(Box::new(rec(i + 1))).accepted);
    }
    std::thread::sleep(Duration::from_millis(400));
    let rx = Receiver::start_on(addr, vec![], Reply::ok());
    let r = e.flush(TIMEOUT);
    assert!(r.ok(), "{r:?}");
    assert_eq!(r.delivered, 4);
    assert_eq!(rx.spans().len(), 4);
}

#[test]
fn an_exhausted_retry_budget_fails_retryably_and_the_next_batch_is_not_stalled() {
    let rx = Receiver::start(vec![], Reply::status(503));
    let opts = OtlpOptions {
        retry_budget: Duration::from_millis(300),
        ..fast()
    };
    let e = start_at(&rx.url(), opts);
    let r = send(&e, 1);
    assert_eq!(
        (r.failed, r.last_failure, r.retryable),
        (1, Some(K::BackendUnavailable), true)
    );
    let first = rx.received().len();
    assert!(first >= 2, "retried within the budget: {first}");
    // While the collector stays down, later batches get one attempt each.
    let t = Instant::now();
    let r = send(&e, 1);
    assert_eq!(r.failed, 2);
    assert_eq!(rx.received().len(), first + 1);
    assert!(t.elapsed() < Duration::from_millis(300));
}

#[test]
fn shutdown_drains_then_rejects() {
    let rx = Receiver::start(vec![], Reply::ok());
    let e = start_at(&rx.url(), fast());
    for i in 0..250 {
        assert!(e.export(Box::new(rec(i + 1))).accepted);
    }
    let r = e.shutdown(TIMEOUT);
    assert!(r.ok(), "{r:?}");
    assert_eq!(r.delivered, 250);
    assert_eq!(rx.spans().len(), 250);
    assert!(rx.received().len() >= 3, "batches of at most 100");
    assert_eq!(
        e.export(Box::new(rec(1))),
        EnqueueResult::rejected(K::Shutdown, false)
    );
    let again = e.shutdown(TIMEOUT);
    assert_eq!((again.delivered, again.rejected), (250, 1));
}

#[test]
fn a_full_queue_rejects_and_counts() {
    let addr = free_addr();
    let config = Config::builder()
        .agent_name("q")
        .capture_git(false)
        .max_queue_size(2)
        // One record per batch: the worker holds at most one while it retries the down collector,
        // so 1 000 quick exports must overflow a queue of 2 however fast the worker is.
        .batch_size(1)
        .exporter(OtlpSettings::new(format!("http://{addr}")))
        .build_with_env(|_| None)
        .unwrap();
    let emit = Arc::new(ExportSettings::from_config(&config, "s".into()));
    let ExporterConfig::Otlp(otlp) = &config.exporters()[0] else {
        panic!()
    };
    let e = OtlpExporter::start_with(otlp, &config, emit, fast()).unwrap();
    let results: Vec<bool> = (0..1_000)
        .map(|i| e.export(Box::new(rec(i))).accepted)
        .collect();
    assert!(results.iter().any(|a| !a), "some records were refused");
    let r = e.flush(Duration::from_millis(10));
    assert!(r.rejected > 0 && !r.ok(), "{r:?}");
}
