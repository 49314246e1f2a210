//! Field-by-field checks with an independent decoder: `otlp_py/receiver.py` decodes our protobuf
//! with the Python `opentelemetry-proto` package and prints every span as JSON.
//!
//! Skips (with a printed note) when no Python with `opentelemetry-proto` is found: set
//! `OTLP_PYTHON` to its interpreter, or install the package for `python3` on `PATH`.

mod otlp_support;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use otlp_support::fast;
use serde_json::{Value, json};
use staso_core::__internal::OtlpExporter;
use staso_core::ExportSettings;
use staso_core::SpanExporter;
use staso_core::SpanRecord;
use staso_core::{Config, ExporterConfig, OtlpCompression, OtlpSettings};
use staso_core::{SpanId, TraceId};
use staso_core::{SpanKind, SpanStatus};

fn python() -> Option<String> {
    let py = std::env::var("OTLP_PYTHON").unwrap_or_else(|_| "python3".into());
    let ok = Command::new(&py)
        .args([
            "-c",
            "import opentelemetry.proto.collector.trace.v1.trace_service_pb2",
        ])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    ok.then_some(py)
}

#[test]
fn python_opentelemetry_proto_decodes_every_field() {
    let Some(py) = python() else {
        println!("note: python opentelemetry-proto not found (set OTLP_PYTHON); skipped");
        return;
    };
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/otlp_py/receiver.py");
    let mut child = Command::new(py)
        .args([script, "--requests", "1"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("receiver starts");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let first = lines.next().and_then(Result::ok).unwrap_or_default();
    let port = first.strip_prefix("PORT ").expect("PORT line").to_owned();

    let mut config = Config::builder()
        .agent_name("py-check")
        .agent_version("9.9")
        .environment("staging")
        .capture_git(false)
        .exporter(
            OtlpSettings::new(format!("http://127.0.0.1:{port}"))
                .compression(OtlpCompression::Gzip),
        )
        .build_with_env(|_| None)
        .expect("config");
    config.set_vcs(None);
    let emit = Arc::new(ExportSettings::from_config(&config, "conv-py".into()));
    let ExporterConfig::Otlp(o) = &config.exporters()[0] else {
        panic!("otlp")
    };
    let exporter = OtlpExporter::start_with(o, &config, emit, fast()).expect("starts");
    let trace = 0xfeed_u128 << 64 | 0xbeef;
    let mut root = SpanRecord::new(
        TraceId(trace),
        SpanId(0x10),
        None,
        "run".into(),
        SpanKind::Agent,
        staso_core::__internal::now(),
    );
    root.duration = Duration::from_millis(250);
    root.user_id = Some("u-1".into());
    let mut tool = SpanRecord::new(
        TraceId(trace),
        SpanId(0x20),
        Some(SpanId(0x10)),
        "search".into(),
        SpanKind::Tool,
        staso_core::__internal::now(),
    );
    tool.status = SpanStatus::Error;
    tool.error_message = Some("no results".into());
    tool.input = Some(r#"{"q":"rust"}"#.into());
    assert!(exporter.export(Box::new(root)).accepted && exporter.export(Box::new(tool)).accepted);
    let r = exporter.shutdown(Duration::from_secs(10));
    assert!(r.ok(), "{r:?}");

    let spans: Vec<Value> = lines
        .map_while(Result::ok)
        .map(|l| serde_json::from_str(&l).expect("span JSON"))
        .collect();
    let _ = child.wait();
    assert_eq!(spans.len(), 2, "{spans:?}");
    let root = spans.iter().find(|s| s["name"] == "run").expect("root");
    let tool = spans.iter().find(|s| s["name"] == "search").expect("tool");
    assert_eq!(root["path"], "/v1/traces");
    assert_eq!(root["scope"], "staso");
    assert_eq!(root["trace_id"], format!("{trace:032x}"));
    assert_eq!(root["span_id"], "0000000000000010");
    assert_eq!(root["parent_span_id"], "");
    assert_eq!(tool["parent_span_id"], "0000000000000010");
    assert_eq!(tool["trace_id"], root["trace_id"]);
    let (start, end) = (
        root["start"].as_u64().unwrap(),
        root["end"].as_u64().unwrap(),
    );
    assert_eq!(end - start, 250_000_000);
    assert_eq!(root["kind"], 1);
    assert_eq!(root["status"], json!({"code": 0, "message": ""}));
    assert_eq!(tool["status"], json!({"code": 2, "message": "no results"}));
    let res = &root["resource"];
    assert_eq!(res["service.name"], "py-check");
    assert_eq!(res["service.version"], "9.9");
    assert_eq!(res["deployment.environment.name"], "staging");
    let a = &root["attributes"];
    assert_eq!(a["gen_ai.operation.name"], "invoke_agent");
    assert_eq!(a["gen_ai.agent.name"], "py-check");
    assert_eq!(a["gen_ai.conversation.id"], "conv-py");
    assert_eq!(a["user.id"], "u-1");
    assert_eq!(a["openinference.span.kind"], "AGENT");
    let a = &tool["attributes"];
    assert_eq!(a["gen_ai.operation.name"], "execute_tool");
    assert_eq!(a["gen_ai.tool.name"], "search");
    assert_eq!(a["input.value"], r#"{"q":"rust"}"#);
    assert_eq!(a["input.mime_type"], "application/json");
    assert_eq!(a["staso.status"], "error");
}
