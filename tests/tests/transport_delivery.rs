//! Transport happy path against a real HTTP server on 127.0.0.1: every span arrives exactly
//! once, grouped and coalesced, with the protocol's headers; the body matches PROTOCOL.md's
//! example field for field; batch size, flush interval and debug logging behave.

mod support;

use std::borrow::Cow;
use std::collections::HashSet;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde_json::Value;
use staso_core::__internal::USER_AGENT;
use staso_core::SharedStr;
use staso_core::SpanExporter;
use staso_core::SpanKind;
use staso_core::{CallSite, Role, SpanRecord};
use staso_core::{SpanId, TraceId};
use staso_tests::logs::captured_logs;
use support::*;

const SECOND: Duration = Duration::from_secs(1);

#[test]
fn spans_arrive_once_grouped_coalesced_with_protocol_headers() {
    let server = Server::acking();
    let config = build(
        test_config(&server.url())
            .batch_size(50)
            .flush_interval(Duration::from_secs(60))
            .environment("staging")
            .workspace_slug("team-a"),
    );
    let exporter = start_exporter(&config, fast_options());

    // 7 traces, 120 spans; trace 1's root also emits a provisional snapshot first, so 121
    // records are accepted for 120 wire spans.
    let mut root = span_record(1, 1000, None);
    root.kind = SpanKind::Agent;
    assert!(
        exporter
            .export(Box::new(root.provisional_snapshot()))
            .accepted
    );
    let mut sent = 1;
    for i in 0..119u64 {
        let trace = u128::from(i % 7) + 1;
        let parent = if trace == 1 { Some(1000) } else { None };
        assert!(
            exporter
                .export(Box::new(span_record(trace, 1 + i, parent)))
                .accepted
        );
        sent += 1;
        if i == 20 {
            // The final root lands in the first batch, after the snapshot.
            root.duration = Duration::from_millis(12);
            assert!(exporter.export(Box::new(root.clone())).accepted);
            sent += 1;
        }
    }
    let report = exporter.flush(10 * SECOND);
    assert_eq!(sent, 121);
    assert!(report.ok(), "{report:?}");
    assert_eq!((report.accepted, report.delivered), (121, 121));
    assert_balanced(&report);

    let requests = server.requests();
    assert_eq!(requests.len(), 3, "batches of 50, 50 and 21 records");
    let mut keys = HashSet::new();
    for r in &requests {
        assert_eq!(r.method, "POST");
        assert_eq!(r.path, "/v1/traces/ingest");
        assert_eq!(r.header("x-api-key"), Some(API_KEY));
        assert_eq!(r.header("content-type"), Some("application/json"));
        assert_eq!(r.header("user-agent"), Some(USER_AGENT));
        assert!(USER_AGENT.starts_with("staso-rust/"));
        let key = uuid::Uuid::parse_str(&r.key()).expect("Idempotency-Key is a UUID");
        assert_eq!(key.get_version_num(), 4);
        assert!(keys.insert(r.key()), "one key per batch");
        assert!(r.acked);
        assert!(
            r.header("content-encoding").is_none(),
            "body not compressed"
        );

        let body = r.json();
        let traces = body["traces"].as_array().expect("traces");
        let ids: HashSet<&str> = traces
            .iter()
            .filter_map(|t| t["trace_id"].as_str())
            .collect();
        assert_eq!(ids.len(), traces.len(), "one group per trace");
        for t in traces {
            assert_eq!(t["environment"], "staging");
            assert_eq!(t["workspace_slug"], "team-a");
            let spans = t["spans"].as_array().expect("spans");
            let min = spans.iter().filter_map(|s| s["timestamp"].as_str()).min();
            assert_eq!(t["timestamp"].as_str(), min);
            for s in spans {
                assert!(s.get("trace_id").is_none(), "trace_id moved to the group");
            }
        }
    }
    // The first batch: 50 records, 49 spans (snapshot and final coalesced), final root first.
    let first = requests[0].json();
    let t1 = &first["traces"][0];
    assert_eq!(t1["trace_id"], TraceId(1).to_string());
    assert_eq!(t1["spans"][0]["span_id"], SpanId(1000).to_string());
    assert_eq!(t1["spans"][0]["duration_ms"], 12.0);
    assert!(
        !t1["spans"][0]["attributes"]
            .as_str()
            .unwrap_or_default()
            .contains("provisional")
    );
    assert_eq!(requests[0].span_ids().len(), 49);
    assert_eq!(server.assert_delivered_once(), 120);
    let shutdown = exporter.shutdown(5 * SECOND);
    assert!(shutdown.ok() && !shutdown.timed_out, "{shutdown:?}");
}

#[test]
fn batches_hold_at_most_batch_size_records() {
    let server = Server::acking();
    let config = build(
        test_config(&server.url())
            .batch_size(10)
            .flush_interval(Duration::from_secs(60)),
    );
    let exporter = start_exporter(&config, fast_options());
    for i in 0..35 {
        exporter.export(Box::new(span_record(u128::from(i) + 1, i + 1, None)));
    }
    // Three full batches go out on their own; the rest waits for the flush interval.
    let before = server.wait_for_requests(3, 5 * SECOND);
    assert_eq!(before.len(), 3);
    assert!(before.iter().all(|r| r.span_ids().len() == 10));
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        server.requests().len(),
        3,
        "partial batch waits for the interval"
    );
    let report = exporter.flush(5 * SECOND);
    assert!(report.ok(), "{report:?}");
    let all = server.requests();
    assert_eq!(all.len(), 4);
    assert_eq!(all[3].span_ids().len(), 5);
    assert_eq!(server.assert_delivered_once(), 35);
}

#[test]
fn partial_batch_waits_for_flush_interval_then_idle_span_goes_at_once() {
    let server = Server::acking();
    let interval = Duration::from_millis(1200);
    let config = build(test_config(&server.url()).flush_interval(interval));
    let start = Instant::now();
    let exporter = start_exporter(&config, fast_options());
    exporter.export(Box::new(span_record(1, 1, None)));
    let first = server.wait_for_requests(1, 5 * SECOND);
    assert_eq!(first.len(), 1);
    let waited = first[0].at.duration_since(start);
    assert!(
        waited >= interval - Duration::from_millis(50),
        "sent after {waited:?}"
    );
    // After an idle interval the next span is sent almost immediately (rule 4).
    std::thread::sleep(interval + Duration::from_millis(200));
    let t = Instant::now();
    exporter.export(Box::new(span_record(2, 2, None)));
    let second = server.wait_for_requests(2, 5 * SECOND);
    assert_eq!(second.len(), 2);
    let latency = second[1].at.duration_since(t);
    assert!(latency < interval / 2, "idle span took {latency:?}");
    assert!(exporter.shutdown(5 * SECOND).ok());
}

static AGENT_SITE: CallSite = CallSite {
    name: "run_agent",
    kind: SpanKind::Agent,
    role: Role::Agent,
    tags: &[],
    function: "run_agent",
    file: "/srv/app/agent.py",
    line: 42,
    manifest_dir: "",
    capture_input: true,
    capture_output: true,
    abs_file: OnceLock::new(),
};

static TOOL_SITE: CallSite = CallSite {
    name: "add",
    kind: SpanKind::Tool,
    role: Role::Tool,
    tags: &[],
    function: "add",
    file: "/srv/app/agent.py",
    line: 37,
    manifest_dir: "",
    capture_input: true,
    capture_output: true,
    abs_file: OnceLock::new(),
};

/// The records of PROTOCOL.md's example program.
fn example_records() -> Vec<SpanRecord> {
    let start = staso_core::__internal::now();
    let conv = |r: &mut SpanRecord| {
        r.session_id = Some(SharedStr::from("conv-1"));
        r.user_id = Some(SharedStr::from("u1"));
        r.agent_name = Some(SharedStr::from("run_agent"));
    };
    let mut root = SpanRecord::new(
        TraceId(0xaf48_eaff_198f_3694_028e_d4b7_ad7e_ceda),
        SpanId(0xbe31_eedc_d4d7_a784),
        None,
        Cow::Borrowed("run_agent"),
        SpanKind::Agent,
        start,
    );
    conv(&mut root);
    root.site = Some(&AGENT_SITE);
    root.duration = Duration::from_micros(380);
    root.input = Some(r#"{"agent_name": "run_agent", "question": "what is 2+3?"}"#.into());
    root.output = Some(r#"{"result": "what is 2+3? -> 5"}"#.into());
    let mut tool = SpanRecord::new(
        root.trace_id,
        SpanId(0x700c_72d1_af10_b6fd),
        Some(root.span_id),
        Cow::Borrowed("add"),
        SpanKind::Tool,
        start + Duration::from_micros(281),
    );
    conv(&mut tool);
    tool.site = Some(&TOOL_SITE);
    tool.duration = Duration::from_micros(30);
    tool.input = Some(r#"{"a": 2, "b": 3}"#.into());
    tool.output = Some(r#"{"result": 5}"#.into());
    let mut step = SpanRecord::new(
        TraceId(0xc512_4f6b_18d5_ad33_18de_2733_76e5_b486),
        SpanId(0x20cf_0803_4ef0_039b),
        None,
        Cow::Borrowed("step"),
        SpanKind::Retriever,
        start + Duration::from_micros(555),
    );
    step.set_metadata("k".into(), Value::from(1));
    // As the official SDK emits them: the root's provisional snapshot, the tool, the final root.
    vec![root.provisional_snapshot(), tool, root, step]
}

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(n) if n.is_f64() => "float",
        Value::Number(_) => "integer",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Same keys in the same order and the same JSON type for every value, recursively.
fn assert_same_shape(path: &str, ours: &Value, theirs: &Value) {
    assert_eq!(json_type(ours), json_type(theirs), "type of {path}");
    match (ours, theirs) {
        (Value::Object(a), Value::Object(b)) => {
            let ka: Vec<&String> = a.keys().collect();
            let kb: Vec<&String> = b.keys().collect();
            assert_eq!(ka, kb, "keys of {path}");
            for (k, v) in a {
                assert_same_shape(&format!("{path}.{k}"), v, &b[k]);
            }
        }
        (Value::Array(a), Value::Array(b)) => {
            assert_eq!(a.len(), b.len(), "length of {path}");
            for (i, (x, y)) in a.iter().zip(b).enumerate() {
                assert_same_shape(&format!("{path}[{i}]"), x, y);
            }
        }
        _ => {}
    }
}

const EXAMPLE: &str = include_str!("support/protocol_example.json");

#[test]
fn request_body_matches_the_protocol_example_field_for_field() {
    let server = Server::acking();
    let config = build(test_config(&server.url()));
    let exporter = start_exporter(&config, fast_options());
    for r in example_records() {
        assert!(exporter.export(Box::new(r)).accepted);
    }
    // 4 records accepted for 3 wire spans: the final root took the snapshot's place (§2.6).
    let report = exporter.flush(5 * SECOND);
    assert!(report.ok(), "{report:?}");
    assert_eq!((report.accepted, report.delivered), (4, 4));
    let requests = server.requests();
    assert_eq!(requests.len(), 1);
    let ours = requests[0].json();
    let theirs: Value = serde_json::from_str(EXAMPLE).expect("example parses");
    assert_same_shape("body", &ours, &theirs);

    // Values that do not depend on the clock or randomness are equal too.
    for (t_ours, t_theirs) in ours["traces"]
        .as_array()
        .into_iter()
        .flatten()
        .zip(theirs["traces"].as_array().into_iter().flatten())
    {
        for k in ["trace_id", "environment", "workspace_slug"] {
            assert_eq!(t_ours[k], t_theirs[k], "trace {k}");
        }
        for (s_ours, s_theirs) in t_ours["spans"]
            .as_array()
            .into_iter()
            .flatten()
            .zip(t_theirs["spans"].as_array().into_iter().flatten())
        {
            for k in [
                "span_id",
                "parent_span_id",
                "name",
                "kind",
                "duration_ms",
                "status",
                "model",
                "provider",
                "requested_model",
                "usage_available",
                "reasoning_effort",
                "input_tokens",
                "output_tokens",
                "total_tokens",
                "error_message",
                "agent_name",
                "agent_id",
                "agent_version",
                "user_id",
                "capture",
            ] {
                assert_eq!(s_ours[k], s_theirs[k], "span {k}");
            }
            // Embedded documents: equal as JSON (spacing may differ).
            for k in ["input", "output", "attributes"] {
                let parse = |v: &Value| -> Value {
                    match v.as_str() {
                        Some("") | None => Value::Null,
                        Some(s) => serde_json::from_str(s).expect("embedded JSON"),
                    }
                };
                assert_eq!(parse(&s_ours[k]), parse(&s_theirs[k]), "span {k}");
            }
            let ts = s_ours["timestamp"].as_str().unwrap_or_default();
            assert!(ts.ends_with("+00:00") && ts.len() >= 25, "timestamp {ts}");
        }
        assert_eq!(t_ours["timestamp"], t_ours["spans"][0]["timestamp"]);
    }
    // The conversation spans carry its session; the lone step the default session.
    assert_eq!(ours["traces"][0]["spans"][0]["session_id"], "conv-1");
    assert_eq!(ours["traces"][1]["spans"][0]["session_id"], "session-test");
}

#[test]
fn the_embedded_example_is_the_one_in_protocol_md() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/PROTOCOL.md");
    let Ok(doc) = std::fs::read_to_string(&path) else {
        eprintln!("PROTOCOL.md not found at {}; skipped", path.display());
        return;
    };
    let body = doc
        .split_once("\nBody:\n```json\n")
        .and_then(|(_, rest)| rest.split_once("\n```"))
        .map(|(json, _)| json)
        .expect("PROTOCOL.md has the example body");
    let doc_value: Value = serde_json::from_str(body).expect("example parses");
    let ours: Value = serde_json::from_str(EXAMPLE).expect("fixture parses");
    assert_eq!(doc_value, ours);
}

#[test]
fn debug_logs_each_batch_and_never_the_api_key() {
    let logs = captured_logs();
    let server = Server::start(vec![Reply::Status(500)], Reply::Ack);
    let config = build(test_config(&server.url()).debug(true));
    let exporter = start_exporter(&config, fast_options());
    exporter.export(Box::new(span_record(9, 9, None)));
    let report = exporter.flush(5 * SECOND);
    assert!(report.ok(), "{report:?}");
    let failing = Server::start(Vec::new(), Reply::Status(401));
    let config401 = build(test_config(&failing.url()).debug(true));
    let exporter401 = start_exporter(&config401, fast_options());
    exporter401.export(Box::new(span_record(10, 10, None)));
    let r401 = exporter401.flush(5 * SECOND);
    assert_eq!(r401.failed, 1);
    let text = format!(
        "{:?} {:?} {:?} {:?} {:?}",
        exporter, exporter401, config, report, r401
    );
    assert!(!text.contains(API_KEY), "Debug output leaks the key");
    let lines = logs.lock().unwrap_or_else(|e| e.into_inner()).clone();
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("INFO") && l.contains("delivered 1 records")),
        "{lines:#?}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.contains("retrying (backend_unavailable, attempt 1/3)")),
        "{lines:#?}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("WARN") && l.contains("(HTTP 401): check the API key")),
        "{lines:#?}"
    );
    assert!(
        lines.iter().all(|l| !l.contains(API_KEY)),
        "a log line leaks the key"
    );
}

#[test]
fn a_key_that_cannot_be_a_header_fails_start_without_leaking_it() {
    let key = "ak_bad\u{7f}SECRET_9";
    let config = build(test_config("http://127.0.0.1:9").api_key(key));
    let emit = std::sync::Arc::new(staso_core::ExportSettings::from_config(&config, "s".into()));
    let err = staso_core::__internal::HttpExporter::start(&config, emit)
        .expect_err("an invalid header value cannot be sent");
    let text = format!("{err} {err:?}");
    assert!(text.contains("api key"), "{text}");
    assert!(!text.contains("SECRET_9"), "{text}");
}

#[test]
fn queue_full_warnings_are_rate_limited() {
    let logs = captured_logs();
    let server = Server::start(Vec::new(), Reply::Status(503));
    let config = build(
        test_config(&server.url())
            .max_queue_size(5)
            .batch_size(5)
            .environment("rate-limit-test"),
    );
    let exporter = start_exporter(&config, fast_options());
    let mut rejected = 0;
    for round in 0..3u64 {
        for i in 0..500 {
            if !exporter
                .export(Box::new(span_record(5, round * 1000 + i + 1, None)))
                .accepted
            {
                rejected += 1;
            }
        }
        let r = exporter.flush(10 * SECOND);
        assert_balanced(&r);
        assert_eq!(r.rejected, rejected);
    }
    assert!(rejected >= 3 * 400, "{rejected}");
    let warnings = logs
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .filter(|l| l.contains("event queue full"))
        .count();
    assert_eq!(
        warnings, 1,
        "one warning per 10 s, not one per dropped span"
    );
}
