//! LLM client integrations (#14) against a stub provider on 127.0.0.1 replaying the recorded
//! fixtures: the spans through `LlmMiddleware` and the function-level API, compared with what the
//! official SDK sent for the same calls (`scenarios/*/expected_spans.json`), the synthetic root
//! and tool-result parenting, streams (TTFT, include_usage, a dropped stream), errors, the guard
//! at the call site (block, modify), `traceparent`, nested adapters.

mod common;
mod llm_support;

use std::time::Duration;

use common::{Harness, attrs, builder, json, setup_with};
use llm_support::{GuardAnswer, Stub, expected};
use reqwest_middleware::ClientWithMiddleware;
use serde_json::{Value, json};
use staso::ExportedSpan;
use staso::integrations::{IntegrationOptions, LlmApi, LlmMiddleware, open_agent_roots};

fn harness(stub: &Stub, b: staso::ConfigBuilder) -> Harness {
    let h = setup_with(b.base_url(stub.url()));
    staso::integrations::close_agent_roots();
    IntegrationOptions::default().guard(true).install();
    h
}

fn client() -> ClientWithMiddleware {
    reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
        .with(LlmMiddleware::new())
        .build()
}

async fn post(
    c: &ClientWithMiddleware,
    stub: &Stub,
    path: &str,
    body: &Value,
) -> Result<reqwest::Response, reqwest_middleware::Error> {
    c.post(format!("{}{path}", stub.url()))
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
}

async fn post_json(c: &ClientWithMiddleware, stub: &Stub, path: &str, body: &Value) -> Value {
    let resp = post(c, stub, path, body).await.expect("call");
    serde_json::from_slice(&resp.bytes().await.expect("body")).expect("JSON reply")
}

/// Reads a streamed body to its end, chunk by chunk.
async fn drain(mut resp: reqwest::Response) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(chunk) = resp.chunk().await.expect("chunk") {
        out.extend_from_slice(&chunk);
    }
    out
}

/// The request body a scenario sent to the provider (`llm_requests[i].body_json`).
fn scenario_request(scenario: &str, i: usize) -> Value {
    let path = llm_support::testdata()
        .join("scenarios")
        .join(scenario)
        .join("expected_spans.json");
    let v: Value = serde_json::from_slice(&std::fs::read(path).expect("expected")).expect("JSON");
    v["llm_requests"][i]["body_json"].clone()
}

/// `expected` is contained in `got`: objects key by key (expected `null`s, the Python SDK's
/// pydantic fields absent from the response bytes, are skipped), arrays element by element,
/// `<placeholder>` strings match anything present.
fn contains(expected: &Value, got: &Value) -> Result<(), String> {
    match (expected, got) {
        (Value::String(s), _) if s.starts_with('<') && s.ends_with('>') => Ok(()),
        (Value::Object(e), Value::Object(g)) => {
            for (k, v) in e {
                if v.is_null() {
                    continue;
                }
                let gv = g
                    .get(k)
                    .ok_or_else(|| format!("missing key {k:?} in {got}"))?;
                contains(v, gv).map_err(|m| format!("{k}: {m}"))?;
            }
            Ok(())
        }
        (Value::Array(e), Value::Array(g)) if e.len() == g.len() => {
            for (i, (a, b)) in e.iter().zip(g).enumerate() {
                contains(a, b).map_err(|m| format!("[{i}]: {m}"))?;
            }
            Ok(())
        }
        (Value::Number(a), Value::Number(b)) if a.as_f64() == b.as_f64() => Ok(()),
        _ if expected == got => Ok(()),
        _ => Err(format!("expected {expected}, got {got}")),
    }
}

/// Compares an LLM span with the official SDK's record of the same call.
fn assert_llm_like(exp: &Value, got: &ExportedSpan, compare_name: bool) {
    let s = &got.span;
    if compare_name {
        assert_eq!(s.name, exp["name"], "name");
    }
    assert_eq!(s.kind, "llm");
    assert_eq!(s.status, exp["status"], "status of {}", s.name);
    assert_eq!(s.model, exp["model"], "model");
    assert_eq!(s.requested_model, exp["requested_model"], "requested_model");
    assert_eq!(s.provider, exp["provider"], "provider");
    assert_eq!(
        json!(s.usage_available),
        exp["usage_available"],
        "usage_available"
    );
    assert_eq!(
        s.reasoning_effort, exp["reasoning_effort"],
        "reasoning_effort"
    );
    assert_eq!(json!(s.input_tokens), exp["input_tokens"], "input_tokens");
    assert_eq!(
        json!(s.output_tokens),
        exp["output_tokens"],
        "output_tokens"
    );
    assert_eq!(json!(s.total_tokens), exp["total_tokens"], "total_tokens");
    let input = if s.input.is_empty() {
        json!("")
    } else {
        json(&s.input)
    };
    contains(&exp["input"], &input).unwrap_or_else(|m| panic!("input of {}: {m}", s.name));
    let output = if s.output.is_empty() {
        json!("")
    } else {
        json(&s.output)
    };
    contains(&exp["output"], &output).unwrap_or_else(|m| panic!("output of {}: {m}", s.name));
    let mut exp_attrs = exp["attributes"].clone();
    if let Some(o) = exp_attrs.as_object_mut() {
        // decision_source is "manual" from staso::guard (the official SDK names the provider).
        let evaluations = o.get_mut("guard_evaluations").map(std::mem::take);
        let blocked = o.get_mut("guard_blocked_tools").map(std::mem::take);
        for (key, mut list) in [
            ("guard_evaluations", evaluations),
            ("guard_blocked_tools", blocked),
        ]
        .into_iter()
        .filter_map(|(k, v)| Some((k, v?)))
        {
            for e in list.as_array_mut().into_iter().flatten() {
                if let Some(e) = e.as_object_mut() {
                    e.remove("decision_source");
                }
            }
            o.insert(key.into(), list);
        }
        for e in o
            .get_mut("guard_evaluations")
            .and_then(Value::as_array_mut)
            .into_iter()
            .flatten()
        {
            if let Some(e) = e.as_object_mut() {
                e.remove("decision_source");
            }
        }
    }
    contains(&exp_attrs, &attrs(got)).unwrap_or_else(|m| panic!("attributes of {}: {m}", s.name));
}

fn llm_spans(h: &Harness) -> Vec<ExportedSpan> {
    h.finished()
        .into_iter()
        .filter(|s| s.span.kind == "llm")
        .collect()
}

fn by_id<'a>(spans: &'a [ExportedSpan], id: &str) -> &'a ExportedSpan {
    spans
        .iter()
        .find(|s| s.span.span_id == id)
        .unwrap_or_else(|| panic!("no span {id}"))
}

async fn settle() {
    // Spans are exported when they end; give a streamed body's last frame time to arrive.
    tokio::time::sleep(Duration::from_millis(20)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openai_chat_plain_no_agent_matches_the_official_span_shape() {
    let stub = Stub::start(&[("POST /v1/chat/completions", &["openai/chat_plain"])]);
    let h = harness(&stub, builder());
    let reply = post_json(
        &client(),
        &stub,
        "/v1/chat/completions",
        &scenario_request("s01_openai_chat_plain_no_agent", 0),
    )
    .await;
    assert_eq!(
        reply["id"], "chatcmpl-GLDplainA1b2C3d4E5f6G7h8I9j0K",
        "reply unchanged"
    );
    let exp = expected("s01_openai_chat_plain_no_agent");
    let spans = h.finished();
    assert_eq!(spans.len(), 2, "{}", h.render());
    let llm = h.by_name("chat:reply");
    assert_llm_like(&exp[1], &llm, true);
    let root = by_id(&spans, llm.span.parent_span_id.as_deref().expect("parent"));
    assert_eq!(root.span.kind, "agent");
    assert_eq!(root.span.name, "agent_run");
    assert_eq!(json(&root.span.input), exp[0]["input"]);
    assert_eq!(root.span.parent_span_id, None);
    assert_eq!(open_agent_roots(), 0, "a terminal reply closes the root");
    let snapshots: Vec<_> = h
        .spans
        .spans()
        .into_iter()
        .filter(|s| s.span.is_provisional_root())
        .collect();
    assert_eq!(
        snapshots.len(),
        1,
        "the synthetic root's provisional snapshot"
    );
    assert_eq!(snapshots[0].span.span_id, root.span.span_id);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anthropic_plain_and_responses_plain_match() {
    let stub = Stub::start(&[
        ("POST /v1/messages", &["anthropic/messages_plain"]),
        ("POST /v1/responses", &["openai/responses_plain"]),
    ]);
    let h = harness(&stub, builder());
    let c = client();
    post_json(
        &c,
        &stub,
        "/v1/messages",
        &scenario_request("s01_anthropic_plain_no_agent", 0),
    )
    .await;
    post_json(
        &c,
        &stub,
        "/v1/responses",
        &scenario_request("s01_openai_responses_plain_no_agent", 0),
    )
    .await;
    let anthropic = expected("s01_anthropic_plain_no_agent");
    let responses = expected("s01_openai_responses_plain_no_agent");
    let llm = llm_spans(&h);
    assert_eq!(llm.len(), 2, "{}", h.render());
    assert_llm_like(&anthropic[1], &llm[0], true);
    assert_llm_like(&responses[1], &llm[1], true);
    let roots: Vec<_> = h
        .finished()
        .into_iter()
        .filter(|s| s.span.kind == "agent")
        .collect();
    assert_eq!(roots.len(), 2, "one synthetic root per conversation");
    assert_eq!(json(&roots[0].span.input), anthropic[0]["input"]);
    assert_eq!(json(&roots[1].span.input), responses[0]["input"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openai_two_turn_tool_loop_parents_the_follow_up_under_the_asking_call() {
    let stub = Stub::start(&[(
        "POST /v1/chat/completions",
        &["openai/chat_tool_calls", "openai/chat_final"],
    )]);
    let h = harness(&stub, builder());
    let c = client();
    let scenario = "s02_openai_chat_agent_tool_loop";
    let first = post_json(
        &c,
        &stub,
        "/v1/chat/completions",
        &scenario_request(scenario, 0),
    )
    .await;
    assert_eq!(first["choices"][0]["finish_reason"], "tool_calls");
    assert_eq!(
        open_agent_roots(),
        1,
        "a tool-use reply keeps the root open"
    );
    post_json(
        &c,
        &stub,
        "/v1/chat/completions",
        &scenario_request(scenario, 1),
    )
    .await;
    assert_eq!(open_agent_roots(), 0);
    let exp = expected(scenario);
    let asking = h.by_name("chat:tool_calls(get_weather, get_local_time)");
    assert_llm_like(&exp[1], &asking, true);
    let evaluations = attrs(&asking)["guard_evaluations"].clone();
    assert_eq!(
        evaluations.as_array().map(Vec::len),
        Some(2),
        "{evaluations}"
    );
    let last = h.by_name("chat:reply");
    assert_llm_like(&exp[4], &last, true);
    assert_eq!(
        last.span.parent_span_id.as_deref(),
        Some(asking.span.span_id.as_str())
    );
    assert_eq!(last.trace_id, asking.trace_id);
    let root = by_id(
        &h.finished(),
        asking.span.parent_span_id.as_deref().expect("root"),
    )
    .clone();
    assert_eq!(root.span.name, "agent_run");
    assert_eq!(
        json(&root.span.input)["prompt"],
        "What's the weather and the local time in Paris right now?"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anthropic_tool_loop_and_function_level_api() {
    let stub = Stub::start(&[(
        "POST /v1/messages",
        &["anthropic/messages_tool_use", "anthropic/messages_final"],
    )]);
    let h = harness(&stub, builder());
    let http = reqwest::Client::new();
    let scenario = "s02_anthropic_agent_tool_loop";
    let mut ids = Vec::new();
    for i in 0..2 {
        let request = scenario_request(scenario, i);
        let url = format!("{}/v1/messages", stub.url());
        let reply: Value =
            staso::integrations::record_call(LlmApi::AnthropicMessages, &request, async {
                http.post(&url)
                    .json(&request)
                    .send()
                    .await?
                    .json::<Value>()
                    .await
            })
            .await
            .expect("call");
        ids.push(reply["id"].clone());
    }
    assert_eq!(ids[0], "msg_01GLDtoolsAbCdEfGhIjKlMnOp");
    let exp = expected(scenario);
    let first = h.by_name("chat:tool_use(get_weather, get_local_time)");
    let exp_first = exp
        .iter()
        .find(|s| s["name"] == first.span.name)
        .expect("expected");
    assert_llm_like(exp_first, &first, true);
    let last = h.by_name("chat:reply");
    assert_eq!(
        last.span.parent_span_id.as_deref(),
        Some(first.span.span_id.as_str())
    );
    assert_eq!(open_agent_roots(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openai_chat_stream_requests_usage_and_records_ttft() {
    let stub = Stub::start(&[(
        "POST /v1/chat/completions",
        &["openai/chat_stream", "openai/chat_stream"],
    )]);
    let h = harness(&stub, builder());
    let c = client();
    let scenario = "s03_openai_chat_stream";
    // B of the scenario: the caller did not ask for usage.
    let mut request = scenario_request(scenario, 1);
    request.as_object_mut().map(|o| o.remove("stream_options"));
    let body = drain(
        post(&c, &stub, "/v1/chat/completions", &request)
            .await
            .expect("call"),
    )
    .await;
    assert!(
        String::from_utf8_lossy(&body).contains("data: [DONE]"),
        "body passed through"
    );
    // The caller set include_usage=false: left as it is.
    let mut explicit = request.clone();
    explicit["stream_options"] = json!({"include_usage": false});
    drain(
        post(&c, &stub, "/v1/chat/completions", &explicit)
            .await
            .expect("call"),
    )
    .await;
    settle().await;
    let sent = stub.llm_requests();
    assert_eq!(
        sent[0].json()["stream_options"],
        json!({"include_usage": true})
    );
    assert_eq!(
        sent[1].json()["stream_options"],
        json!({"include_usage": false})
    );
    let exp = expected(scenario);
    let spans = h.all_named("openai.chat.completions.create");
    assert_eq!(spans.len(), 2, "{}", h.render());
    assert_llm_like(&exp[0], &spans[0], true);
    let a = attrs(&spans[0]);
    let ttft = a["time_to_first_token"].as_f64().expect("ttft");
    assert!(
        ttft >= llm_support::FIRST_EVENT_DELAY.as_millis() as f64,
        "{ttft}"
    );
    assert!(
        ttft < spans[0].span.duration_ms,
        "first token before the end"
    );
    assert_eq!(a["is_streaming"], true);
    // Without usage in the stream: no tokens, usage_available false.
    assert_eq!(spans[1].span.usage_available, Some(false));
    assert_eq!(
        json(&spans[1].span.output)["content"],
        "The capital of France is Paris."
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anthropic_stream_keeps_tool_use_blocks_and_stream_tool_results_parent() {
    let stub = Stub::start(&[
        (
            "POST /v1/messages",
            &[
                "anthropic/messages_stream",
                "anthropic/messages_stream_tool_use",
            ],
        ),
        (
            "POST /v1/chat/completions",
            &["openai/chat_stream_tool_calls"],
        ),
    ]);
    let h = harness(&stub, builder());
    let c = client();
    let exp = expected("s03_anthropic_stream");
    drain(
        post(
            &c,
            &stub,
            "/v1/messages",
            &scenario_request("s03_anthropic_stream", 0),
        )
        .await
        .expect("call"),
    )
    .await;
    let mut req = scenario_request("s03_anthropic_stream", 0);
    req["tools"] = json!([{"name": "get_weather", "input_schema": {"type": "object"}}]);
    drain(post(&c, &stub, "/v1/messages", &req).await.expect("call")).await;
    drain(
        post(&c, &stub, "/v1/chat/completions", &json!({"model": "gpt-4.1-mini", "stream": true, "messages": [{"role": "user", "content": "weather?"}]}))
            .await
            .expect("call"),
    )
    .await;
    settle().await;
    let spans = h.all_named("anthropic.messages.create");
    assert_eq!(spans.len(), 2, "{}", h.render());
    assert_llm_like(&exp[0], &spans[0], true);
    let out = json(&spans[1].span.output);
    let tool = &out["content"][1];
    assert_eq!(tool["type"], "tool_use");
    assert_eq!(tool["name"], "get_weather");
    assert_eq!(tool["id"], "toolu_01GLDsweather0000000001");
    assert_eq!(tool["input"], json!({"city": "Paris", "unit": "celsius"}));
    assert_eq!(attrs(&spans[1])["stop_reason"], "tool_use");
    assert!(attrs(&spans[1])["time_to_first_token"].is_number());
    let chat = h.by_name("openai.chat.completions.create");
    let calls = &json(&chat.span.output)["tool_calls"];
    assert_eq!(calls.as_array().map(Vec::len), Some(2), "{calls}");
    assert!(
        attrs(&chat)["time_to_first_token"].is_number(),
        "TTFT for a tool-call-only stream"
    );
    assert_eq!(
        open_agent_roots(),
        2,
        "stream tool calls keep their roots open for the results"
    );
    staso::integrations::close_agent_roots();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_stream_ends_its_span_cancelled() {
    let stub = Stub::start(&[("POST /v1/chat/completions", &["openai/chat_stream"])]);
    let h = harness(&stub, builder());
    let c = client();
    let mut resp = post(
        &c,
        &stub,
        "/v1/chat/completions",
        &json!({"model": "gpt-4.1-mini", "stream": true, "messages": [{"role": "user", "content": "hi"}]}),
    )
    .await
    .expect("call");
    let first = resp.chunk().await.expect("chunk").expect("a first chunk");
    assert!(!first.is_empty());
    drop(resp);
    settle().await;
    let span = h.by_name("openai.chat.completions.create");
    assert_eq!(span.span.status, "error");
    assert_eq!(span.span.error_message.as_deref(), Some("Cancelled"));
    assert_eq!(attrs(&span)["exception.type"], "Cancelled");
    assert_eq!(open_agent_roots(), 0, "the error closes the synthetic root");
    let root = h.by_name("agent_run");
    assert_eq!(root.span.status, "error");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provider_errors_are_error_spans_and_reach_the_caller() {
    let stub = Stub::start(&[
        ("POST /v1/chat/completions", &["openai/error_429"]),
        ("POST /v1/messages", &["anthropic/error_500"]),
    ]);
    let h = harness(&stub, builder());
    let c = client();
    let resp = post(
        &c,
        &stub,
        "/v1/chat/completions",
        &json!({"model": "gpt-4.1-mini", "messages": []}),
    )
    .await
    .expect("response");
    assert_eq!(resp.status(), 429);
    assert_eq!(resp.headers()["retry-after"], "1");
    let body: Value = resp.json().await.expect("error body");
    assert!(body["error"]["message"].is_string());
    let resp = post(
        &c,
        &stub,
        "/v1/messages",
        &json!({"model": "claude-sonnet-4-5", "messages": []}),
    )
    .await
    .expect("response");
    assert_eq!(resp.status(), 500);
    let spans = llm_spans(&h);
    assert_eq!(spans.len(), 2);
    for (s, ty) in spans.iter().zip(["RateLimitError", "InternalServerError"]) {
        assert_eq!(s.span.status, "error");
        assert_eq!(s.span.name, "chat");
        assert_eq!(attrs(s)["exception.type"], ty);
    }
    assert_eq!(
        spans[0].span.error_message.as_deref(),
        Some(
            "Error code: 429 - Rate limit reached for gpt-4.1-mini in organization org-golden on \
             requests per min (RPM): Limit 3, Used 3, Requested 1. Please try again in 1s."
        )
    );
    assert_eq!(open_agent_roots(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guard_block_is_guard_blocked_and_the_span_an_error() {
    let stub = Stub::start(&[(
        "POST /v1/chat/completions",
        &["openai/chat_tool_calls_risky"],
    )]);
    stub.guard("delete_file", GuardAnswer::Block);
    let h = harness(&stub, builder());
    let scenario = "s07_openai_guard_block";
    let err = post(
        &client(),
        &stub,
        "/v1/chat/completions",
        &scenario_request(scenario, 0),
    )
    .await
    .expect_err("blocked");
    let reqwest_middleware::Error::Middleware(e) = err else {
        panic!("not a middleware error: {err}");
    };
    let blocked = e
        .downcast_ref::<staso::GuardBlocked>()
        .expect("GuardBlocked");
    assert_eq!(blocked.tool_name, "delete_file");
    assert_eq!(blocked.blocked_tools.len(), 1);
    let exp = expected(scenario);
    let llm = h.by_name("chat");
    assert_llm_like(&exp[1], &llm, true);
    assert_eq!(
        llm.span.error_message.as_deref(),
        Some("Guard blocked tool 'delete_file': Deleting files is not allowed for this agent")
    );
    let guard_span = h.by_name("guard:blocked:delete_file");
    assert_eq!(
        guard_span.span.parent_span_id.as_deref(),
        Some(llm.span.span_id.as_str())
    );
    assert_eq!(guard_span.span.kind, "tool");
    let sent: Vec<_> = stub
        .requests()
        .into_iter()
        .filter(|r| r.path.contains("guard"))
        .collect();
    assert_eq!(sent.len(), 2, "one check per tool call");
    assert_eq!(open_agent_roots(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guard_modify_rewrites_the_tool_arguments_and_guard_can_be_turned_off() {
    let stub = Stub::start(&[(
        "POST /v1/chat/completions",
        &[
            "openai/chat_tool_calls_risky",
            "openai/chat_tool_calls_risky",
        ],
    )]);
    stub.guard(
        "delete_file",
        GuardAnswer::Modify(json!({"path": "/tmp/sandbox/customers.db"})),
    );
    let h = harness(&stub, builder());
    let request = scenario_request("s07_openai_guard_block", 0);
    let reply = post_json(&client(), &stub, "/v1/chat/completions", &request).await;
    let calls = &reply["choices"][0]["message"]["tool_calls"];
    assert_eq!(
        calls[0]["function"]["arguments"],
        "{\"path\":\"/srv/app/config.yaml\"}"
    );
    let args: Value =
        serde_json::from_str(calls[1]["function"]["arguments"].as_str().expect("args"))
            .expect("JSON");
    assert_eq!(args, json!({"path": "/tmp/sandbox/customers.db"}));
    assert_eq!(
        h.by_name("chat:tool_calls(read_file, delete_file)")
            .span
            .status,
        "ok"
    );
    // Off: no check at all.
    let c = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
        .with(LlmMiddleware::with_options(
            IntegrationOptions::default().guard(false),
        ))
        .build();
    let before = stub.requests().len();
    post_json(&c, &stub, "/v1/chat/completions", &request).await;
    assert_eq!(stub.requests().len(), before + 1, "only the provider call");
    staso::integrations::close_agent_roots();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn traceparent_names_the_llm_span_and_can_be_turned_off() {
    let stub = Stub::start(&[(
        "POST /v1/chat/completions",
        &["openai/chat_plain", "openai/chat_plain"],
    )]);
    let h = harness(&stub, builder());
    let request = json!({"model": "o4-mini", "messages": [{"role": "user", "content": "hi"}]});
    post_json(&client(), &stub, "/v1/chat/completions", &request).await;
    let c = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
        .with(LlmMiddleware::with_options(
            IntegrationOptions::default().traceparent(false),
        ))
        .build();
    post_json(&c, &stub, "/v1/chat/completions", &request).await;
    let sent = stub.llm_requests();
    let tp = sent[0].header("traceparent").expect("traceparent");
    let llm = &h.all_named("chat:reply")[0];
    let mut headers = http::HeaderMap::new();
    headers.insert("traceparent", tp.parse().expect("header value"));
    let remote = staso::propagation::extract(&headers).expect("a valid traceparent");
    assert_eq!(remote.parent_span_id().to_string(), llm.span.span_id);
    assert!(sent[1].header("traceparent").is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nested_adapters_record_one_span() {
    let stub = Stub::start(&[(
        "POST /v1/chat/completions",
        &["openai/chat_plain", "openai/chat_plain"],
    )]);
    let h = harness(&stub, builder());
    let twice = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
        .with(LlmMiddleware::new())
        .with(LlmMiddleware::new())
        .build();
    let request = json!({"model": "o4-mini", "messages": [{"role": "user", "content": "hi"}]});
    post_json(&twice, &stub, "/v1/chat/completions", &request).await;
    // The function-level API around an instrumented client: still one span.
    let c = client();
    let url = format!("{}/v1/chat/completions", stub.url());
    let _: Value = staso::integrations::record_call(LlmApi::OpenAiChat, &request, async {
        let resp = c.post(&url).body(request.to_string()).send().await?;
        Ok::<Value, reqwest_middleware::Error>(resp.json().await?)
    })
    .await
    .expect("call");
    assert_eq!(llm_spans(&h).len(), 2, "{}", h.render());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn capture_settings_filter_the_llm_span_per_role() {
    let stub = Stub::start(&[(
        "POST /v1/chat/completions",
        &["openai/chat_tool_calls", "openai/chat_final"],
    )]);
    let h = harness(
        &stub,
        builder()
            .capture_messages(false)
            .capture_tool_arguments(false),
    );
    let c = client();
    let scenario = "s02_openai_chat_agent_tool_loop";
    post_json(
        &c,
        &stub,
        "/v1/chat/completions",
        &scenario_request(scenario, 0),
    )
    .await;
    post_json(
        &c,
        &stub,
        "/v1/chat/completions",
        &scenario_request(scenario, 1),
    )
    .await;
    // Without request capture span names are hidden, as the official SDK does (`llm span`).
    let spans = llm_spans(&h);
    assert_eq!(spans.len(), 2, "{}", h.render());
    assert!(spans.iter().all(|s| s.span.name == "llm span"));
    let asking = spans[0].clone();
    let input = json(&asking.span.input);
    assert_eq!(
        input["messages"],
        json!([]),
        "no user or system message: {input}"
    );
    assert!(input["tools"].is_array(), "tool schemas stay on");
    let out = json(&asking.span.output);
    assert!(
        out["tool_calls"][0]["function"].get("arguments").is_none(),
        "{out}"
    );
    assert_eq!(out["tool_calls"][0]["function"]["name"], "get_weather");
    assert!(
        attrs(&asking).get("temperature").is_none(),
        "request parameters need request"
    );
    assert_eq!(attrs(&asking)["stop_reason"], "tool_calls");
    let last = spans[1].clone();
    assert_eq!(
        last.span.parent_span_id.as_deref(),
        Some(asking.span.span_id.as_str())
    );
    let input = json(&last.span.input);
    let roles: Vec<&str> = input["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .filter_map(|m| m["role"].as_str())
        .collect();
    assert_eq!(roles, ["assistant", "tool", "tool"], "{input}");
    assert!(
        input["messages"][0]["tool_calls"][0]["function"]
            .get("arguments")
            .is_none()
    );
    let root = h.by_name("agent span");
    assert_eq!(root.span.input, "", "no prompt without request capture");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_streamed_tool_call_the_guard_blocks_fails_the_stream_at_its_end() {
    let stub = Stub::start(&[(
        "POST /v1/chat/completions",
        &["openai/chat_stream_tool_calls"],
    )]);
    stub.guard("get_local_time", GuardAnswer::Block);
    let h = harness(&stub, builder());
    let request = json!({"model": "gpt-4.1-mini", "stream": true,
        "messages": [{"role": "user", "content": "weather and time in Paris?"}]});
    let mut resp = post(&client(), &stub, "/v1/chat/completions", &request)
        .await
        .expect("the stream starts");
    let mut received = 0;
    let err = loop {
        match resp.chunk().await {
            Ok(Some(c)) => received += c.len(),
            Ok(None) => panic!("the stream completed despite the block"),
            Err(e) => break e,
        }
    };
    assert!(
        received > 0,
        "frames before the terminal event reached the caller"
    );
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&err);
    let mut blocked = None;
    while let Some(e) = source {
        if let Some(b) = e.downcast_ref::<staso::GuardBlocked>() {
            blocked = Some(b.clone());
        }
        source = e.source();
    }
    assert_eq!(
        blocked
            .expect("GuardBlocked in the error's sources")
            .tool_name,
        "get_local_time"
    );
    settle().await;
    let span = h.by_name("openai.chat.completions.create");
    assert_eq!(span.span.status, "error");
    assert_eq!(attrs(&span)["guard_blocked_count"], 1);
    assert!(
        h.finished()
            .iter()
            .any(|s| s.span.name == "guard:blocked:get_local_time")
    );
    assert_eq!(open_agent_roots(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_knobs_turn_the_guard_and_traceparent_off() {
    let stub = Stub::start(&[(
        "POST /v1/chat/completions",
        &["openai/chat_tool_calls_risky"],
    )]);
    stub.guard("delete_file", GuardAnswer::Block);
    let h = harness(&stub, builder().llm_guard(false).llm_traceparent(false));
    IntegrationOptions::uninstall();
    assert!(!IntegrationOptions::current().guard_enabled());
    let reply = post_json(
        &client(),
        &stub,
        "/v1/chat/completions",
        &scenario_request("s07_openai_guard_block", 0),
    )
    .await;
    assert_eq!(
        reply["choices"][0]["finish_reason"], "tool_calls",
        "not blocked"
    );
    let sent = stub.requests();
    assert_eq!(sent.len(), 1, "no guard check");
    assert!(sent[0].header("traceparent").is_none());
    assert_eq!(
        h.by_name("chat:tool_calls(read_file, delete_file)")
            .span
            .status,
        "ok"
    );
    staso::integrations::close_agent_roots();
    IntegrationOptions::default().install();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_ends_and_delivers_open_synthetic_roots() {
    let stub = Stub::start(&[("POST /v1/chat/completions", &["openai/chat_tool_calls"])]);
    let h = harness(&stub, builder());
    let c = client();
    let first = post_json(
        &c,
        &stub,
        "/v1/chat/completions",
        &scenario_request("s02_openai_chat_agent_tool_loop", 0),
    )
    .await;
    assert_eq!(first["choices"][0]["finish_reason"], "tool_calls");
    assert_eq!(
        open_agent_roots(),
        1,
        "the tool-use reply keeps its root open"
    );
    let report = h
        .client
        .as_ref()
        .expect("client")
        .shutdown(std::time::Duration::from_secs(5));
    assert!(report.ok(), "{report:?}");
    assert_eq!(open_agent_roots(), 0, "shutdown ended the root");
    let roots: Vec<ExportedSpan> = h
        .finished()
        .into_iter()
        .filter(|s| s.span.parent_span_id.is_none() && !s.span.is_provisional_root())
        .collect();
    assert_eq!(
        roots.len(),
        1,
        "the root was delivered before the exporter stopped: {}",
        h.render()
    );
    assert_eq!(roots[0].span.kind, "agent");
}
