//! A reproducible fault-injection run: the SDK's real transport → a loopback proxy that, by a
//! seeded draw per request, loses acks, stalls past the client's timeout, cuts connections
//! without an answer or answers 503 → the project's own server (SQLite). Through all of it every
//! span travels under one Idempotency-Key and a key is only ever resent with the same body (so the
//! server ingests each span once), every span reported delivered is stored, and the report
//! balances: `accepted = delivered + failed + pending`, with nothing pending after the flush.

mod support;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;
use staso_core::__internal::TransportOptions;
use staso_core::SpanExporter;
use staso_core::TraceId;
use staso_tests::http::{self, Response};
use support::*;

/// The client gives up on a request after this long; a stall lasts longer.
const REQUEST_TIMEOUT: Duration = Duration::from_millis(400);
const STALL: Duration = Duration::from_millis(600);

/// What the proxy does with one request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Fault {
    /// Forwards it and relays the answer.
    None,
    /// Forwards it (the server stores the batch), then closes the connection: the ack is lost.
    DropAck,
    /// Forwards it, then answers only after the client has timed out.
    Stall,
    /// Closes the connection without forwarding or answering: the server never sees the request.
    /// (A close, not a TCP reset: std cannot set `SO_LINGER`; the client sees the same thing, a
    /// connection that ends without an answer.)
    Close,
    /// Answers 503 without forwarding.
    Unavailable,
}

/// splitmix64: a fixed seed gives the same faults in the same request order on every run.
struct Draw(u64);

impl Draw {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// About 40 % of requests meet a fault.
    fn fault(&mut self) -> Fault {
        match self.next() % 100 {
            0..=11 => Fault::DropAck,
            12..=19 => Fault::Stall,
            20..=31 => Fault::Close,
            32..=39 => Fault::Unavailable,
            _ => Fault::None,
        }
    }
}

/// Sends `request` on to `upstream` and returns its answer as the shared server's `Response`.
fn forward(
    client: &reqwest::blocking::Client,
    upstream: &str,
    request: &http::Request,
) -> Response {
    let method = reqwest::Method::from_bytes(request.method.as_bytes()).expect("method");
    let mut out = client.request(method, format!("{upstream}{}", request.path));
    for (name, value) in &request.headers {
        if !matches!(
            name.as_str(),
            "host" | "content-length" | "connection" | "transfer-encoding"
        ) {
            out = out.header(name, value);
        }
    }
    let answer = out
        .body(request.body.clone())
        .send()
        .expect("the upstream server answers");
    let mut response = Response::new(answer.status().as_u16());
    for name in ["content-type", "retry-after"] {
        if let Some(v) = answer.headers().get(name).and_then(|v| v.to_str().ok()) {
            response = response.header(name, v);
        }
    }
    response.body(answer.bytes().expect("upstream body").to_vec())
}

/// The spans the server stored for `trace`, with how many rows each span id has.
fn stored(base: &str, trace: u128) -> HashMap<String, usize> {
    let url = format!("{base}/v1/traces/{}", TraceId(trace));
    let answer = reqwest::blocking::Client::new()
        .get(&url)
        .header("X-API-Key", API_KEY)
        .send()
        .expect("read API answers");
    let mut rows = HashMap::new();
    if answer.status() == reqwest::StatusCode::NOT_FOUND {
        return rows;
    }
    let trace: Value = answer
        .error_for_status()
        .and_then(|a| a.json())
        .unwrap_or_else(|e| panic!("GET {url}: {e}"));
    for span in trace["spans"].as_array().into_iter().flatten() {
        let id = span["span_id"].as_str().unwrap_or_default().to_owned();
        *rows.entry(id).or_insert(0) += 1;
    }
    rows
}

#[test]
fn lost_acks_stalls_and_resets_lose_nothing_uncounted_and_store_nothing_twice() {
    let server = staso_server::Server::builder()
        .api_key(API_KEY)
        .start()
        .expect("server starts");
    let upstream = server.base_url().to_owned();
    let faults = Arc::new(Mutex::new(HashMap::<Fault, usize>::new()));
    let proxy = {
        let faults = faults.clone();
        let client = reqwest::blocking::Client::new();
        let mut draw = Draw(0x5eed_0012);
        http::Server::start(move |request| {
            let fault = draw.fault();
            *faults
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .entry(fault)
                .or_insert(0) += 1;
            match fault {
                Fault::None => forward(&client, &upstream, request),
                Fault::DropAck => {
                    forward(&client, &upstream, request);
                    Response::no_answer()
                }
                Fault::Stall => forward(&client, &upstream, request).delayed(STALL),
                Fault::Close => Response::no_answer(),
                Fault::Unavailable => Response::json(503, r#"{"detail":"proxy"}"#),
            }
        })
    };

    let config = build(
        test_config(&proxy.url())
            .batch_size(10)
            .max_queue_size(1_000)
            .flush_interval(Duration::from_secs(60)),
    );
    let opts = TransportOptions {
        request_timeout: REQUEST_TIMEOUT,
        retry_delays: [Duration::from_millis(20), Duration::from_millis(40)],
        ..TransportOptions::default()
    };
    let exporter = start_exporter(&config, opts);
    let traces = 1..=5u128;
    let spans = 300u64;
    for i in 0..spans {
        let trace = u128::from(i % 5) + 1;
        assert!(
            exporter
                .export(Box::new(span_record(trace, i + 1, None)))
                .accepted
        );
    }
    let t = Instant::now();
    let report = exporter.flush(Duration::from_secs(30));
    let took = t.elapsed();
    assert_balanced(&report);
    assert!(!report.timed_out, "{report:?}");
    assert_eq!((report.accepted, report.pending), (spans, 0), "{report:?}");

    let faults = faults.lock().unwrap_or_else(|e| e.into_inner()).clone();
    for kind in [
        Fault::DropAck,
        Fault::Stall,
        Fault::Close,
        Fault::Unavailable,
    ] {
        assert!(faults.get(&kind).copied().unwrap_or(0) > 0, "{faults:?}");
    }
    // Storage keys spans by id, so a second ingest would not show as a second row: what keeps a
    // span from being ingested twice is that every retry resends the same body under the same
    // Idempotency-Key (the server answers a replayed key with the stored ack), and that no span
    // travels under two keys. Checked on every request the client sent.
    let mut bodies: HashMap<String, Vec<u8>> = HashMap::new();
    let mut keys_of_span: HashMap<(String, String), String> = HashMap::new();
    for exchange in proxy.exchanges() {
        let request = Request::from(exchange);
        let key = request.key();
        assert!(!key.is_empty(), "every ingest request carries a key");
        let first = bodies
            .entry(key.clone())
            .or_insert_with(|| request.body.clone());
        assert!(*first == request.body, "key {key} resent with another body");
        for id in request.span_ids() {
            let other = keys_of_span
                .entry(id.clone())
                .or_insert_with(|| key.clone());
            assert_eq!(*other, key, "span {id:?} sent under two keys");
        }
    }
    assert_eq!(keys_of_span.len() as u64, spans, "every span was sent");
    let mut stored_spans = 0;
    for trace in traces {
        let rows = stored(server.base_url(), trace);
        let twice: Vec<_> = rows.iter().filter(|(_, n)| **n > 1).collect();
        assert!(twice.is_empty(), "stored twice in trace {trace}: {twice:?}");
        stored_spans += rows.len() as u64;
    }
    // Delivered spans are all stored; a failed batch may still have been stored (its ack was
    // lost on the last attempt), so storage lies between the two counts.
    assert!(
        report.delivered <= stored_spans && stored_spans <= report.delivered + report.failed,
        "stored {stored_spans}, report {report:?}, faults {faults:?}"
    );
    assert!(took < Duration::from_secs(20), "took {took:?}");
    server.shutdown();
}
