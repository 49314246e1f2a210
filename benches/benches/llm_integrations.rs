//! LLM integrations (issue 14: "span bookkeeping ≤ 20 µs for a 4 KB request and reply; streaming
//! adds ≤ 1 µs per chunk"), one sitting:
//!
//! - `llm_bookkeeping/*`: everything an instrumented unary call does besides the HTTP exchange —
//!   decode the 4 KB request (filtered input, metadata), open the LLM span (and, without an agent,
//!   the synthetic root), decode the 4 KB reply, write both onto the record, end and export it —
//!   with an exporter that drops the record (the real one only queues it).
//! - `llm_stream/chunk`: one OpenAI chat chunk (~220 bytes, one SSE event) through the stream
//!   recorder: event splitting, typed decode, accumulation (criterion's per-element figure).
//! - `llm_loopback/*`: the same 4 KB call over HTTP to a keep-alive stub on 127.0.0.1, through a
//!   plain `reqwest-middleware` client and through one with `LlmMiddleware`; the difference is the
//!   middleware's whole cost (bookkeeping, reading the body once, rebuilding the response).
//!
//! `cargo bench -p staso-bench --bench llm_integrations`

use std::hint::black_box;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use serde_json::json;
use staso::{DeliveryReport, EnqueueResult, SpanExporter, SpanRecord};
use staso_core::llm::{IntegrationOptions, LlmApi, LlmCallScope, LlmReply, LlmStreamRecorder};

/// Drops every record: the caller-side cost only.
struct Discard;

impl SpanExporter for Discard {
    fn export(&self, record: Box<SpanRecord>) -> EnqueueResult {
        drop(black_box(record));
        EnqueueResult::ACCEPTED
    }
    fn flush(&self, _timeout: Duration) -> DeliveryReport {
        DeliveryReport::disabled()
    }
    fn shutdown(&self, _timeout: Duration) -> DeliveryReport {
        DeliveryReport::disabled()
    }
}

/// A ~4 KB chat request: a system prompt, a user turn, a tool schema.
fn request_4k() -> Vec<u8> {
    let text = "Paris in late November is cool and damp; pack layers. ".repeat(30);
    serde_json::to_vec(&json!({
        "model": "gpt-4.1-mini",
        "temperature": 0.2,
        "max_completion_tokens": 512,
        "messages": [
            {"role": "system", "content": text},
            {"role": "user", "content": format!("{text} What should I pack?")},
        ],
        "tools": [{"type": "function", "function": {"name": "get_weather", "description": "Weather.",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}],
    }))
    .unwrap_or_default()
}

/// A ~4 KB chat completion.
fn reply_4k() -> Vec<u8> {
    let text =
        "Bring a warm coat, an umbrella and comfortable shoes for the cobblestones. ".repeat(52);
    serde_json::to_vec(&json!({
        "id": "chatcmpl-bench", "object": "chat.completion", "created": 0, "model": "gpt-4.1-mini-2025-04-14",
        "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": text}}],
        "usage": {"prompt_tokens": 900, "completion_tokens": 880, "total_tokens": 1780,
            "prompt_tokens_details": {"cached_tokens": 0}, "completion_tokens_details": {"reasoning_tokens": 0}},
        "service_tier": "default",
    }))
    .unwrap_or_default()
}

fn chunk() -> Vec<u8> {
    br#"data: {"id":"chatcmpl-GLDstreamA1b2C3d4E5f6G7h8I9j","object":"chat.completion.chunk","created":1764460800,"model":"gpt-4.1-mini-2025-04-14","system_fingerprint":"fp_golden","choices":[{"index":0,"delta":{"content":" of France"},"logprobs":null,"finish_reason":null}]}

"#
    .to_vec()
}

fn bench(c: &mut Criterion) {
    let config = staso::Config::builder()
        .api_key("ak_bench")
        .agent_name("bench")
        .capture_git(false)
        .build()
        .unwrap_or_else(|e| panic!("config: {e}"));
    let _client = staso::init_with_exporter(config, Arc::new(Discard))
        .unwrap_or_else(|e| panic!("init: {e}"));
    IntegrationOptions::default().guard(false).install();
    let (req, resp) = (request_4k(), reply_4k());
    eprintln!("request {} bytes, reply {} bytes", req.len(), resp.len());

    let mut g = c.benchmark_group("llm_bookkeeping");
    let call = || {
        let scope = LlmCallScope::begin_bytes(LlmApi::OpenAiChat, black_box(&req));
        let reply = LlmReply::from_slice(LlmApi::OpenAiChat, black_box(&resp)).unwrap_or_default();
        if let Some(scope) = scope {
            scope.finish(reply, None);
        }
    };
    g.bench_function("unary_4k_under_agent", |b| {
        let agent = staso::Span::start("bench-agent", staso::SpanKind::Agent);
        agent.in_scope(|| b.iter(call));
    });
    g.bench_function("unary_4k_synthetic_root", |b| b.iter(call));
    g.finish();

    // Where the time goes (each part alone).
    let mut g = c.benchmark_group("llm_parts");
    let policy = staso::CapturePolicy::ALL;
    g.bench_function("decode_request_4k", |b| {
        b.iter(|| {
            let v: serde_json::Value = serde_json::from_slice(black_box(&req)).unwrap_or_default();
            staso_core::llm::LlmRequest::parse(LlmApi::OpenAiChat, &v, &policy)
        })
    });
    g.bench_function("decode_reply_4k", |b| {
        b.iter(|| LlmReply::from_slice(LlmApi::OpenAiChat, black_box(&resp)))
    });
    g.bench_function("span_open_end", |b| {
        let agent = staso::Span::start("bench-agent", staso::SpanKind::Agent);
        agent.in_scope(|| {
            b.iter(|| {
                let s = staso::Span::start("chat", staso::SpanKind::Llm);
                s.end()
            })
        });
    });
    g.finish();

    let mut g = c.benchmark_group("llm_stream");
    let one = chunk();
    const CHUNKS: u64 = 200;
    g.throughput(Throughput::Elements(CHUNKS));
    let stream_req =
        br#"{"model":"gpt-4.1-mini","stream":true,"messages":[{"role":"user","content":"hi"}]}"#;
    g.bench_function("chunk", |b| {
        let agent = staso::Span::start("bench-agent", staso::SpanKind::Agent);
        agent.in_scope(|| {
            b.iter_batched(
                || {
                    LlmCallScope::begin_bytes(LlmApi::OpenAiChat, stream_req)
                        .map(LlmStreamRecorder::new)
                },
                |rec| {
                    let mut rec = rec;
                    if let Some(r) = rec.as_mut() {
                        for _ in 0..CHUNKS {
                            r.feed_bytes(black_box(&one));
                        }
                    }
                    rec
                },
                criterion::BatchSize::SmallInput,
            );
        });
    });
    g.finish();

    loopback(c, &req, &resp);
}

/// A keep-alive HTTP/1.1 stub answering every request with `body`.
fn stub(body: Vec<u8>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("bind: {e}"));
    let url = format!(
        "http://{}/v1/chat/completions",
        listener
            .local_addr()
            .unwrap_or_else(|e| panic!("addr: {e}"))
    );
    std::thread::spawn(move || {
        for conn in listener.incoming().flatten() {
            let body = body.clone();
            std::thread::spawn(move || {
                let _ = conn.set_nodelay(true);
                let Ok(mut w) = conn.try_clone() else { return };
                let mut r = BufReader::new(conn);
                loop {
                    let mut len = 0;
                    let mut line = String::new();
                    loop {
                        line.clear();
                        match r.read_line(&mut line) {
                            Ok(0) | Err(_) => return,
                            Ok(_) if line == "\r\n" => break,
                            Ok(_) => {
                                if let Some(v) =
                                    line.to_ascii_lowercase().strip_prefix("content-length:")
                                {
                                    len = v.trim().parse().unwrap_or(0);
                                }
                            }
                        }
                    }
                    let mut req = vec![0; len];
                    if r.read_exact(&mut req).is_err() {
                        return;
                    }
                    let mut out = format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
                        body.len()
                    )
                    .into_bytes();
                    out.extend_from_slice(&body);
                    if w.write_all(&out).is_err() {
                        return;
                    }
                }
            });
        }
    });
    url
}

fn loopback(c: &mut Criterion, req: &[u8], resp: &[u8]) {
    let url = stub(resp.to_vec());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("runtime: {e}"));
    let plain = reqwest_middleware::ClientBuilder::new(reqwest::Client::new()).build();
    let traced = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
        .with(staso::integrations::LlmMiddleware::new())
        .build();
    let mut g = c.benchmark_group("llm_loopback");
    for (name, client) in [
        ("plain", &plain),
        ("llm_middleware", &traced),
        ("plain_again", &plain),
    ] {
        g.bench_function(name, |b| {
            let agent = staso::Span::start("bench-agent", staso::SpanKind::Agent);
            let ctx = agent.context();
            b.iter(|| {
                rt.block_on(ctx.clone().wrap(async {
                    let r = client
                        .post(&url)
                        .body(req.to_vec())
                        .send()
                        .await
                        .unwrap_or_else(|e| panic!("send: {e}"));
                    black_box(r.bytes().await.unwrap_or_default());
                }))
            });
        });
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_secs(1));
    targets = bench
}
criterion_main!(benches);
