//! Annotations end to end (PROTOCOL.md §5, delivered by the worker as §3.4–3.7 deliver spans):
//! against a real `staso-server`, and against a purpose-built fault server on 127.0.0.1 for
//! retries, failures and slow answers. The global client is process-wide, so every test holds the
//! same lock.

use std::ops::Deref;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use staso::{
    Annotation, AnnotationDataType, AnnotationError, AnnotationValue, Client, Config,
    DeliveryFailureKind, SpanKind,
};
use staso_tests::http::{self, Response};

const KEY: &str = "ak_test";

static LOCK: Mutex<()> = Mutex::new(());

fn lock() -> MutexGuard<'static, ()> {
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

fn init(base_url: &str) -> Client {
    init_with(base_url, true)
}

fn init_with(base_url: &str, enabled: bool) -> Client {
    let config = Config::builder()
        .api_key(KEY)
        .agent_name("annotation-tests")
        .base_url(base_url)
        .capture_git(false)
        .enabled(enabled)
        .build_with_env(|_| None)
        .expect("valid test config");
    staso::init(config).expect("init")
}

fn real_server() -> staso_server::RunningServer {
    staso_server::Server::builder()
        .api_key(KEY)
        .start()
        .expect("server starts")
}

/// `GET /v1/traces/{trace_id}/annotations`, one line per annotation:
/// `name data_type value span=<id|-> comment=<text|->`.
fn listed(base_url: &str, trace_id: &str) -> Vec<String> {
    let body: Value = reqwest::blocking::Client::new()
        .get(format!("{base_url}/v1/traces/{trace_id}/annotations"))
        .header("X-API-Key", KEY)
        .send()
        .and_then(|r| r.error_for_status())
        .and_then(|r| r.json())
        .expect("list annotations");
    assert_eq!(body["trace_id"], trace_id);
    body["annotations"]
        .as_array()
        .expect("annotations array")
        .iter()
        .map(|a| {
            format!(
                "{} {} {} span={} comment={}",
                a["name"].as_str().unwrap_or("?"),
                a["data_type"].as_str().unwrap_or("?"),
                a["value"],
                a["span_id"].as_str().unwrap_or("-"),
                a["comment"].as_str().unwrap_or("-"),
            )
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// A purpose-built fault server (over the shared test server): answers each request with the next
// scripted (status, delay), then with the default, and records what it saw. `Connection: close`.

/// A request as the fault server saw it, with its body as JSON (`Null` when it is not).
#[derive(Clone, Debug)]
struct Seen {
    request: http::Request,
    body: Value,
}

impl Deref for Seen {
    type Target = http::Request;

    fn deref(&self) -> &http::Request {
        &self.request
    }
}

struct FaultServer {
    base_url: String,
    http: http::Server,
}

impl FaultServer {
    fn start(script: Vec<(u16, Duration)>, default: (u16, Duration)) -> FaultServer {
        let mut script = script.into_iter();
        let http = http::Server::start(move |_| {
            let (status, delay) = script.next().unwrap_or(default);
            let body = if status < 300 {
                r#"{"id":"a1"}"#
            } else {
                r#"{"error":"injected"}"#
            };
            Response::json(status, body)
                .header("Connection", "close")
                .delayed(delay)
        });
        FaultServer {
            base_url: http.url(),
            http,
        }
    }

    fn seen(&self) -> Vec<Seen> {
        let requests = self.http.requests().into_iter();
        requests
            .map(|request| Seen {
                body: serde_json::from_slice(&request.body).unwrap_or(Value::Null),
                request,
            })
            .collect()
    }
}

const TRACE: &str = "0f0e0d0c-0b0a-0908-0706-050403020100";

// ---------------------------------------------------------------------------------------------

#[test]
fn span_and_trace_annotations_of_every_type_are_listed_on_the_trace() {
    let _g = lock();
    let server = real_server();
    let client = init(server.base_url());

    let (trace_id, span_id) = staso::span("review", SpanKind::Chain, |s| {
        s.annotate("helpfulness", 0.75, Some("clear answer".to_owned()))
            .expect("valid annotation");
        s.annotate("tone", "friendly", None)
            .expect("valid annotation");
        (
            s.trace_id().expect("recording span"),
            s.span_id().expect("recording span"),
        )
    });
    staso::annotate(&trace_id, "resolved", true).expect("valid annotation");
    Annotation::new(&trace_id, "category", "billing")
        .comment("triaged by QA")
        .send()
        .expect("valid annotation");
    Annotation::new(&trace_id, "retries", 3_u64)
        .span_id(&span_id)
        .comment("")
        .send()
        .expect("valid annotation");

    let report = client.flush(Duration::from_secs(10));
    assert!(report.ok(), "{report:?}");
    // Span counts are the spans only; annotations have their own.
    assert_eq!((report.accepted, report.delivered), (1, 1));
    let a = &report.annotations;
    assert_eq!(
        (a.accepted, a.delivered, a.failed, a.pending, a.rejected),
        (5, 5, 0, 0, 0)
    );
    assert_eq!(a.last_failure, None);

    assert_eq!(
        listed(server.base_url(), &trace_id),
        vec![
            format!("helpfulness numeric 0.75 span={span_id} comment=clear answer"),
            format!("tone categorical \"friendly\" span={span_id} comment=-"),
            "resolved boolean true span=- comment=-".to_owned(),
            "category categorical \"billing\" span=- comment=triaged by QA".to_owned(),
            format!("retries numeric 3.0 span={span_id} comment=-"),
        ]
    );
    drop(client);
}

#[test]
fn wire_request_matches_the_protocol_and_a_500_is_retried_then_delivered_once() {
    let _g = lock();
    let fault = FaultServer::start(vec![(500, Duration::ZERO)], (201, Duration::ZERO));
    let client = init(&fault.base_url);

    let started = Instant::now();
    Annotation::new(TRACE, "quality", 0.9)
        .span_id("00000000-0000-0000-be31-eedcd4d7a784")
        .comment("looks right")
        .send()
        .expect("valid annotation");
    let report = client.flush(Duration::from_secs(10));
    assert!(report.ok(), "{report:?}");
    assert_eq!(
        (report.annotations.delivered, report.annotations.failed),
        (1, 0)
    );
    assert!(
        started.elapsed() >= Duration::from_millis(450),
        "slept the 0.5 s backoff"
    );

    let seen = fault.seen();
    assert_eq!(seen.len(), 2, "one failed attempt, one delivery: {seen:?}");
    for req in &seen {
        assert_eq!(req.method, "POST");
        assert_eq!(req.path, format!("/v1/traces/{TRACE}/annotations"));
        assert_eq!(req.header("x-api-key"), Some(KEY));
        assert_eq!(req.header("content-type"), Some("application/json"));
        assert_eq!(
            req.header("user-agent"),
            Some(concat!("staso-rust/", env!("CARGO_PKG_VERSION")))
        );
        assert_eq!(req.header("idempotency-key"), None);
        assert_eq!(
            req.body,
            json!({"name": "quality", "value": 0.9, "data_type": "numeric",
                   "span_id": "00000000-0000-0000-be31-eedcd4d7a784", "comment": "looks right"})
        );
    }
    drop(client);
}

#[test]
fn failures_are_counted_with_their_kind() {
    let _g = lock();
    // 400: not retryable, one attempt. Then three 503s: retried, failed for good.
    let fault = FaultServer::start(vec![(400, Duration::ZERO)], (503, Duration::ZERO));
    let client = init(&fault.base_url);

    staso::annotate(TRACE, "bad", "x").expect("valid annotation");
    let report = client.flush(Duration::from_secs(10));
    let a = &report.annotations;
    assert_eq!((a.accepted, a.delivered, a.failed, a.pending), (1, 0, 1, 0));
    assert_eq!(
        (a.last_failure, a.retryable),
        (Some(DeliveryFailureKind::MalformedResponse), false)
    );
    assert!(!report.ok());
    // Span fields describe spans only.
    assert_eq!((report.failed, report.last_failure), (0, None));
    assert_eq!(fault.seen().len(), 1);

    staso::annotate(TRACE, "unlucky", false).expect("valid annotation");
    let report = client.flush(Duration::from_secs(10));
    let a = &report.annotations;
    assert_eq!((a.accepted, a.delivered, a.failed, a.pending), (2, 0, 2, 0));
    assert_eq!(
        (a.last_failure, a.retryable),
        (Some(DeliveryFailureKind::BackendUnavailable), true)
    );
    assert_eq!(fault.seen().len(), 4, "1 + 3 attempts");
    drop(client);
}

#[test]
fn flush_waits_for_annotations_and_reports_a_timeout() {
    let _g = lock();
    let fault = FaultServer::start(vec![], (201, Duration::from_millis(400)));
    let client = init(&fault.base_url);

    staso::annotate(TRACE, "slow-1", 1).expect("valid annotation");
    let report = client.flush(Duration::from_millis(50));
    assert!(report.timed_out);
    assert_eq!(report.annotations.pending, 1);
    assert_eq!(
        report.annotations.last_failure,
        Some(DeliveryFailureKind::Timeout)
    );
    assert!(!report.ok());

    let started = Instant::now();
    staso::annotate(TRACE, "slow-2", 2).expect("valid annotation");
    let report = client.flush(Duration::from_secs(10));
    assert!(report.ok(), "{report:?}");
    assert_eq!(
        (report.annotations.accepted, report.annotations.delivered),
        (2, 2)
    );
    assert!(
        started.elapsed() >= Duration::from_millis(300),
        "flush waited"
    );
    assert_eq!(fault.seen().len(), 2);
    drop(client);
}

#[test]
fn shutdown_drains_queued_annotations() {
    let _g = lock();
    let fault = FaultServer::start(vec![], (201, Duration::from_millis(100)));
    let _client = init(&fault.base_url);

    for i in 0..5 {
        staso::annotate(TRACE, format!("n{i}"), i).expect("valid annotation");
    }
    let report = staso::shutdown(Duration::from_secs(10));
    assert!(report.ok(), "{report:?}");
    assert_eq!(
        (report.annotations.accepted, report.annotations.delivered),
        (5, 5)
    );
    let names: Vec<Value> = fault
        .seen()
        .into_iter()
        .map(|s| s.body["name"].clone())
        .collect();
    assert_eq!(
        names,
        vec!["n0", "n1", "n2", "n3", "n4"],
        "in order, each once"
    );

    // After shutdown there is no client: nothing is sent (a warning is logged), no error.
    staso::annotate(TRACE, "late", 1).expect("no client is not an error");
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(fault.seen().len(), 5);
    assert_eq!(staso::flush(Duration::from_secs(1)).annotations.accepted, 0);
}

#[test]
fn invalid_annotations_are_errors_at_the_call_and_send_nothing() {
    let _g = lock();
    let fault = FaultServer::start(vec![], (201, Duration::ZERO));
    let client = init(&fault.base_url);

    assert_eq!(
        staso::annotate(TRACE, "", 1.0),
        Err(AnnotationError::EmptyName)
    );
    assert!(matches!(
        staso::annotate("", "q", 1.0),
        Err(AnnotationError::EmptyTraceId { .. })
    ));
    assert!(matches!(
        staso::annotate(TRACE, "q", f64::NAN),
        Err(AnnotationError::NonFiniteValue { .. })
    ));
    assert_eq!(
        client.annotate(Annotation::new(TRACE, "", true)),
        Err(AnnotationError::EmptyName)
    );
    staso::span("s", SpanKind::Chain, |s| {
        assert_eq!(s.annotate("", "x", None), Err(AnnotationError::EmptyName));
    });
    // Without a client the call is still checked.
    let report = staso::shutdown(Duration::from_secs(5));
    assert_eq!(report.annotations.accepted, 0);
    assert_eq!(
        staso::annotate(TRACE, "", 1.0),
        Err(AnnotationError::EmptyName)
    );
    assert!(
        fault
            .seen()
            .iter()
            .all(|s| !s.path.ends_with("/annotations")),
        "no annotation request"
    );
}

#[test]
fn a_disabled_client_or_no_client_sends_nothing() {
    let _g = lock();
    let fault = FaultServer::start(vec![], (201, Duration::ZERO));
    let _ = staso::shutdown(Duration::from_secs(5));
    staso::annotate(TRACE, "no-client", 1).expect("not an error");
    staso::span("noop", SpanKind::Chain, |s| {
        s.annotate("no-client-span", true, None)
            .expect("not an error");
    });

    let client = init_with(&fault.base_url, false);
    staso::annotate(TRACE, "disabled", 1).expect("not an error");
    Annotation::new(TRACE, "disabled", "x")
        .span_id("s")
        .send()
        .expect("not an error");
    let report = client.flush(Duration::from_secs(1));
    assert_eq!(report.annotations, Default::default());
    std::thread::sleep(Duration::from_millis(200));
    assert!(fault.seen().is_empty());
    drop(client);
}

#[test]
fn annotate_from_async_code_does_not_block_the_runtime() {
    let _g = lock();
    let server = real_server();
    let client = init(server.base_url());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        staso::annotate(TRACE, "from-async", "ok").expect("valid annotation");
        tokio::task::yield_now().await;
    });
    let report = client.flush(Duration::from_secs(10));
    assert_eq!(report.annotations.delivered, 1, "{report:?}");
    assert_eq!(
        listed(server.base_url(), TRACE),
        vec!["from-async categorical \"ok\" span=- comment=-"]
    );
    drop(client);
}

#[test]
fn values_are_typed_by_their_rust_type() {
    assert_eq!(
        AnnotationValue::from(4_i64).data_type(),
        AnnotationDataType::Numeric
    );
    assert_eq!(
        AnnotationValue::from(String::from("x")).data_type(),
        AnnotationDataType::Categorical
    );
    assert_eq!(
        AnnotationValue::from(false).data_type(),
        AnnotationDataType::Boolean
    );
    assert_eq!(AnnotationDataType::Boolean.as_str(), "boolean");
    assert_eq!(
        Annotation::new(TRACE, "n", 2_u8).data_type(),
        AnnotationDataType::Numeric
    );
}
