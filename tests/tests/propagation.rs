//! W3C trace context across services: an agent calls a tool service over HTTP through the
//! reqwest-middleware middleware; the tool service (axum) continues the trace with the tower layer;
//! both send to one staso-server, which shows one trace with the remote span under the caller's
//! span, the conversation and user carried by baggage. Plus header fuzz.

use std::time::Duration;

use serde_json::Value;
use staso::propagation::{TraceContextLayer, TraceContextMiddleware, extract, inject};
use staso::{Span, SpanKind};

const KEY: &str = "ak_propagation";

/// The global client is process-wide: the tests that install one take turns.
static CLIENT_LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn client_lock() -> std::sync::MutexGuard<'static, ()> {
    CLIENT_LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

#[staso::tool]
async fn lookup_order(order: u64) -> String {
    tokio::task::yield_now().await;
    format!("order {order}: shipped")
}

async fn tool_handler() -> String {
    lookup_order(7).await
}

#[staso::agent(name = "planner")]
async fn planner(base: &str) -> String {
    let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
        .with(TraceContextMiddleware)
        .build();
    let reply = client
        .get(format!("{base}/lookup"))
        .send()
        .await
        .expect("tool service answers");
    reply.text().await.unwrap_or_default()
}

fn get(base: &str, path: &str) -> Value {
    reqwest::blocking::Client::new()
        .get(format!("{base}{path}"))
        .header("X-API-Key", KEY)
        .send()
        .and_then(|r| r.error_for_status())
        .and_then(|r| r.json())
        .unwrap_or_else(|e| panic!("GET {path}: {e}"))
}

#[test]
fn a_call_to_another_service_continues_the_callers_trace() {
    let _turn = client_lock();
    let server = staso_server::Server::builder()
        .api_key(KEY)
        .start()
        .expect("server starts");
    let client = staso::init(
        staso::Config::builder()
            .api_key(KEY)
            .agent_name("caller")
            .base_url(server.base_url())
            .capture_git(false)
            .build()
            .expect("config"),
    )
    .expect("init");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let answer = rt.block_on(async {
        let app = axum::Router::new()
            .route("/lookup", axum::routing::get(tool_handler))
            .layer(TraceContextLayer::new());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        staso::conversation!("conv-remote", user_id = "user-remote", async {
            planner(&base).await
        })
        .await
    });
    assert_eq!(answer, "order 7: shipped");
    let report = client.shutdown(Duration::from_secs(10));
    assert!(report.ok(), "{report:?}");

    let base = server.base_url().to_owned();
    let convo = get(&base, "/v1/conversations/conv-remote");
    let traces = convo["traces"].as_array().cloned().unwrap_or_default();
    assert_eq!(traces.len(), 1, "one trace, not two: {convo}");
    let id = traces[0]["trace_id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let trace = get(&base, &format!("/v1/traces/{id}"));
    let spans = trace["spans"].as_array().cloned().unwrap_or_default();
    let by_name = |n: &str| -> Value {
        spans
            .iter()
            .find(|s| s["name"] == n)
            .cloned()
            .unwrap_or_else(|| panic!("no {n} in {trace}"))
    };
    let caller = by_name("planner");
    let remote = by_name("lookup_order");
    assert_eq!(
        remote["parent_span_id"], caller["span_id"],
        "the remote span is the caller's child"
    );
    assert_eq!(
        remote["session_id"], "conv-remote",
        "conversation via baggage"
    );
    assert_eq!(remote["user_id"], "user-remote", "user via baggage");
    assert_eq!(remote["agent_name"], "planner", "agent via baggage");
    server.shutdown();
}

#[test]
fn inject_then_extract_round_trips_the_current_span() {
    let _turn = client_lock();
    let _client = staso::init_with_exporter(
        staso::Config::builder()
            .api_key("ak_test")
            .agent_name("demo")
            .capture_git(false)
            .build_with_env(|_| None)
            .expect("config"),
        std::sync::Arc::new(staso::InMemoryExporter::new()),
    )
    .expect("init");
    let mut headers = http::HeaderMap::new();
    let (trace, span) = staso::conversation!("c-1", user_id = "u 1", {
        staso::span("outer", SpanKind::Chain, |s| {
            inject(&mut headers);
            (s.trace_id().expect("rec"), s.span_id().expect("rec"))
        })
    });
    let remote = extract(&headers).expect("valid");
    assert_eq!(remote.trace_id().to_string(), trace);
    assert_eq!(remote.parent_span_id().to_string(), span);
    assert!(remote.is_sampled());
    assert_eq!(remote.session_id(), Some("c-1"));
    assert_eq!(remote.user_id(), Some("u 1"), "percent-encoded and back");
    let child = remote.in_scope(|| Span::current().span_id());
    assert_eq!(child, Some(span), "the remote span is current in scope");
}

#[test]
fn random_and_malformed_headers_are_ignored_without_panicking() {
    let before = staso::propagation::invalid_headers();
    let mut rng = 0x9e37_79b9_7f4a_7c15_u64;
    let mut next = || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let alphabet = b"0123456789abcdefABCDEF-=,;% \t.xyz\x7f";
    let mut rejected = 0;
    for i in 0..20_000 {
        let len = (next() % 120) as usize + if i % 100 == 0 { 9000 } else { 0 };
        let text: String = (0..len)
            .map(|_| char::from(alphabet[(next() % alphabet.len() as u64) as usize]))
            .collect();
        let mut h = http::HeaderMap::new();
        if let Ok(v) = http::HeaderValue::from_str(&text) {
            h.insert("traceparent", v.clone());
            h.insert("baggage", v);
        }
        if extract(&h).is_none() {
            rejected += 1;
        }
    }
    assert!(rejected > 19_000, "random text is not a traceparent");
    assert!(staso::propagation::invalid_headers() > before);
    // Near misses of a valid header.
    let valid = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
    for cut in 0..valid.len() {
        let mut h = http::HeaderMap::new();
        h.insert(
            "traceparent",
            http::HeaderValue::from_str(&valid[..cut]).expect("ascii"),
        );
        assert!(extract(&h).is_none(), "{}", &valid[..cut]);
    }
    let mut h = http::HeaderMap::new();
    h.insert("traceparent", http::HeaderValue::from_static(valid));
    h.insert(
        "baggage",
        http::HeaderValue::from_str(&"k=v,".repeat(5000)).expect("ascii"),
    );
    let r = extract(&h).expect("the traceparent alone is valid");
    assert_eq!(r.session_id(), None, "oversized baggage ignored");
}
