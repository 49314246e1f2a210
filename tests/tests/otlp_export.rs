//! OTLP mapping and encoding, checked field by field on what a receiver on 127.0.0.1 decodes:
//! protobuf (prost / opentelemetry-proto), OTLP JSON (raw `serde_json`, so the JSON rules are
//! checked, not just round-tripped), gzip, and the capture policy.

mod otlp_support;

use std::borrow::Cow;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, UNIX_EPOCH};

use opentelemetry_proto::tonic::common::v1::any_value::Value as Av;
use opentelemetry_proto::tonic::trace::v1::Span;
use otlp_support::*;
use staso_core::__internal::OtlpExporter;
use staso_core::ExportSettings;
use staso_core::SpanExporter;
use staso_core::{CallSite, Role, SpanRecord};
use staso_core::{
    Config, ConfigBuilder, Exporter, ExporterConfig, OtlpCompression, OtlpProtocol, OtlpSettings,
    VcsInfo,
};
use staso_core::{SpanId, TraceId};
use staso_core::{SpanKind, SpanStatus};

const TRACE: u128 = 0x0123_4567_89ab_cdef_0011_2233_4455_6677;
const SECOND: Duration = Duration::from_secs(5);

static TOOL_SITE: CallSite = CallSite {
    name: "lookup",
    kind: SpanKind::Tool,
    role: Role::Tool,
    tags: &["search", "fast"],
    function: "lookup_order",
    file: "/src/tools.rs",
    line: 42,
    manifest_dir: "",
    capture_input: true,
    capture_output: true,
    abs_file: OnceLock::new(),
};

fn builder(url: &str, settings: OtlpSettings) -> ConfigBuilder {
    let _ = url;
    Config::builder()
        .agent_name("support-bot")
        .agent_version("v1.2")
        .environment("prod")
        .capture_git(false)
        .exporter(settings)
}

fn start(builder: ConfigBuilder, env: &[(&str, &str)]) -> OtlpExporter {
    let env: Vec<(String, String)> = env
        .iter()
        .map(|(k, v)| ((*k).into(), (*v).into()))
        .collect();
    let mut config = builder
        .build_with_env(|n| env.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone()))
        .expect("config");
    config.set_vcs(Some(VcsInfo {
        commit_sha: "a".repeat(40),
        branch: "main".into(),
        repo_url: "https://example.com/acme/bot".into(),
        is_dirty: true,
    }));
    let emit = Arc::new(ExportSettings::from_config(
        &config,
        "session-default".into(),
    ));
    let ExporterConfig::Otlp(otlp) = config.exporters()[0].clone() else {
        panic!("OTLP selected")
    };
    OtlpExporter::start_with(&otlp, &config, emit, fast()).expect("starts")
}

fn record(span: u64, parent: Option<u64>, name: &'static str, kind: SpanKind) -> SpanRecord {
    let mut r = SpanRecord::new(
        TraceId(TRACE),
        SpanId(span),
        parent.map(SpanId),
        Cow::Borrowed(name),
        kind,
        staso_core::__internal::now(),
    );
    r.duration = Duration::from_millis(1500);
    r.session_id = Some("conv-1".into());
    r.user_id = Some("user-9".into());
    r
}

/// An agent root, an LLM child that failed, and a tool child.
fn trace() -> Vec<SpanRecord> {
    let mut root = record(0xaaaa, None, "support", SpanKind::Agent);
    root.input = Some(r#"{"question":"where is my order"}"#.into());
    root.output = Some(r#"{"answer":"shipped"}"#.into());
    root.set_metadata("customer".into(), "globex-corp".into());
    let mut llm = record(0xbbbb, Some(0xaaaa), "chat gpt-4o", SpanKind::Llm);
    llm.set_model("gpt-4o".into());
    llm.model = "gpt-4o-2024-08-06".into();
    llm.provider = "openai".into();
    (llm.input_tokens, llm.output_tokens, llm.total_tokens) = (10, 20, 30);
    llm.usage_available = Some(true);
    llm.status = SpanStatus::Error;
    llm.error_message = Some("rate limited upstream".into());
    llm.exception_type = Some(Cow::Borrowed("std::io::Error"));
    let mut tool = record(0xcccc, Some(0xaaaa), "lookup", SpanKind::Tool);
    tool.site = Some(&TOOL_SITE);
    tool.input = Some(r#"{"order":7}"#.into());
    tool.set_metadata("count".into(), 3.into());
    tool.set_metadata("nested".into(), serde_json::json!({"a": 1}));
    tool.set_metadata("ids".into(), serde_json::json!([1, 2]));
    tool.set_metadata("gen_ai.tool.call.id".into(), "call_1".into());
    vec![root, llm, tool]
}

fn send(exporter: &OtlpExporter, records: Vec<SpanRecord>) {
    let n = records.len() as u64;
    for r in records {
        assert!(exporter.export(Box::new(r)).accepted);
    }
    let report = exporter.flush(SECOND);
    assert!(report.ok(), "{report:?}");
    assert_eq!((report.accepted, report.delivered), (n, n));
}

fn by_name<'a>(spans: &'a [Span], name: &str) -> &'a Span {
    spans.iter().find(|s| s.name == name).expect(name)
}

#[test]
fn protobuf_spans_carry_ids_times_status_and_genai_attributes() {
    let rx = Receiver::start(vec![], Reply::ok());
    let before = std::time::SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    let exporter = start(builder(&rx.url(), OtlpSettings::new(rx.url())), &[]);
    send(&exporter, trace());
    let reqs = rx.received();
    assert_eq!(reqs.len(), 1);
    assert_eq!(reqs[0].path, "/v1/traces");
    assert_eq!(
        reqs[0].header("content-type"),
        Some("application/x-protobuf")
    );
    let req = reqs[0].proto();
    let rs = &req.resource_spans[0];
    let res = &rs.resource.as_ref().unwrap().attributes;
    assert_eq!(s(res, "service.name"), Some("support-bot"));
    assert_eq!(s(res, "service.version"), Some("v1.2"));
    assert_eq!(s(res, "deployment.environment.name"), Some("prod"));
    assert_eq!(
        s(res, "vcs.ref.head.revision"),
        Some("a".repeat(40).as_str())
    );
    assert_eq!(s(res, "vcs.ref.head.name"), Some("main"));
    assert_eq!(
        s(res, "vcs.repository.url.full"),
        Some("https://example.com/acme/bot")
    );
    assert_eq!(s(res, "telemetry.sdk.language"), Some("rust"));
    assert_eq!(rs.scope_spans[0].scope.as_ref().unwrap().name, "staso");

    let spans = reqs[0].spans();
    assert_eq!(spans.len(), 3);
    let root = by_name(&spans, "support");
    assert_eq!(root.trace_id, TRACE.to_be_bytes());
    assert_eq!(root.span_id, 0xaaaa_u64.to_be_bytes());
    assert!(root.parent_span_id.is_empty());
    assert!(root.start_time_unix_nano >= before - 1_000_000_000);
    assert_eq!(
        root.end_time_unix_nano - root.start_time_unix_nano,
        1_500_000_000
    );
    assert_eq!(root.kind, 1, "INTERNAL");
    assert_eq!(root.status.as_ref().unwrap().code, 0, "ok → UNSET");
    let a = &root.attributes;
    assert_eq!(s(a, "gen_ai.operation.name"), Some("invoke_agent"));
    assert_eq!(s(a, "gen_ai.agent.name"), Some("support-bot"));
    assert_eq!(s(a, "gen_ai.conversation.id"), Some("conv-1"));
    assert_eq!(s(a, "session.id"), Some("conv-1"));
    assert_eq!(s(a, "user.id"), Some("user-9"));
    assert_eq!(s(a, "openinference.span.kind"), Some("AGENT"));
    assert_eq!(
        s(a, "input.value"),
        Some(r#"{"question":"where is my order"}"#)
    );
    assert_eq!(s(a, "input.mime_type"), Some("application/json"));
    assert_eq!(s(a, "output.value"), Some(r#"{"answer":"shipped"}"#));
    assert_eq!(s(a, "staso.metadata.customer"), Some("globex-corp"));
    assert_eq!(s(a, "staso.span.kind"), Some("agent"));
    assert!(
        a.iter().all(|kv| !kv.key.starts_with("vcs.")),
        "vcs is in the resource"
    );

    let llm = by_name(&spans, "chat gpt-4o");
    assert_eq!(llm.trace_id, TRACE.to_be_bytes());
    assert_eq!(llm.parent_span_id, 0xaaaa_u64.to_be_bytes());
    assert_eq!(llm.kind, 3, "CLIENT");
    let st = llm.status.as_ref().unwrap();
    assert_eq!((st.code, st.message.as_str()), (2, "rate limited upstream"));
    let a = &llm.attributes;
    assert_eq!(s(a, "gen_ai.operation.name"), Some("chat"));
    assert_eq!(s(a, "gen_ai.request.model"), Some("gpt-4o"));
    assert_eq!(s(a, "gen_ai.response.model"), Some("gpt-4o-2024-08-06"));
    assert_eq!(s(a, "gen_ai.provider.name"), Some("openai"));
    assert_eq!(i(a, "gen_ai.usage.input_tokens"), Some(10));
    assert_eq!(i(a, "gen_ai.usage.output_tokens"), Some(20));
    assert_eq!(i(a, "llm.token_count.total"), Some(30));
    assert_eq!(s(a, "llm.model_name"), Some("gpt-4o-2024-08-06"));
    assert_eq!(s(a, "openinference.span.kind"), Some("LLM"));
    assert_eq!(s(a, "exception.type"), Some("Error"));
    assert_eq!(s(a, "error.type"), Some("Error"));
    assert_eq!(attr(a, "staso.usage_available"), Some(&Av::BoolValue(true)));

    let tool = by_name(&spans, "lookup");
    let a = &tool.attributes;
    assert_eq!(s(a, "gen_ai.operation.name"), Some("execute_tool"));
    assert_eq!(s(a, "gen_ai.tool.name"), Some("lookup"));
    assert_eq!(s(a, "gen_ai.tool.call.id"), Some("call_1"));
    assert_eq!(s(a, "openinference.span.kind"), Some("TOOL"));
    assert_eq!(s(a, "input.value"), Some(r#"{"order":7}"#));
    assert_eq!(s(a, "code.file.path"), Some("/src/tools.rs"));
    assert_eq!(i(a, "code.line.number"), Some(42));
    assert_eq!(s(a, "code.function.name"), Some("lookup_order"));
    assert_eq!(i(a, "staso.metadata.count"), Some(3));
    assert_eq!(s(a, "staso.metadata.nested"), Some(r#"{"a":1}"#));
    let Some(Av::ArrayValue(tags)) = attr(a, "staso.tags") else {
        panic!("tags array")
    };
    let tags: Vec<_> = tags.values.iter().map(|v| v.value.clone()).collect();
    assert_eq!(
        tags,
        vec![
            Some(Av::StringValue("search".into())),
            Some(Av::StringValue("fast".into()))
        ]
    );
    assert!(matches!(
        attr(a, "staso.metadata.ids"),
        Some(Av::ArrayValue(_))
    ));
    exporter.shutdown(SECOND);
}

#[test]
fn json_follows_the_otlp_json_rules_and_gzip_is_applied() {
    let rx = Receiver::start(vec![], Reply::ok());
    let settings = OtlpSettings::new(rx.url())
        .protocol(OtlpProtocol::HttpJson)
        .compression(OtlpCompression::Gzip)
        .header("x-tenant", "acme");
    let exporter = start(builder(&rx.url(), settings), &[]);
    send(&exporter, trace());
    let req = &rx.received()[0];
    assert_eq!(req.header("content-type"), Some("application/json"));
    assert_eq!(req.header("content-encoding"), Some("gzip"));
    assert_eq!(req.header("x-tenant"), Some("acme"));
    let body = req.json();
    let spans = body["resourceSpans"][0]["scopeSpans"][0]["spans"]
        .as_array()
        .unwrap();
    let llm = spans.iter().find(|s| s["name"] == "chat gpt-4o").unwrap();
    // Hex ids, not base64.
    assert_eq!(llm["traceId"], "0123456789abcdef0011223344556677");
    assert_eq!(llm["spanId"], "000000000000bbbb");
    assert_eq!(llm["parentSpanId"], "000000000000aaaa");
    // 64-bit integers as strings, enums as numbers.
    assert!(llm["startTimeUnixNano"].is_string());
    assert!(llm["endTimeUnixNano"].is_string());
    assert_eq!(llm["kind"], 3);
    assert_eq!(llm["status"]["code"], 2);
    let tokens = llm["attributes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|kv| kv["key"] == "gen_ai.usage.input_tokens")
        .unwrap();
    assert_eq!(tokens["value"], serde_json::json!({"intValue": "10"}));
    let res = &body["resourceSpans"][0]["resource"]["attributes"];
    assert!(
        res.as_array()
            .unwrap()
            .iter()
            .any(|kv| kv["key"] == "service.name"
                && kv["value"] == serde_json::json!({"stringValue": "support-bot"}))
    );
    // Parsable back into the maintained types with their serde mapping.
    let typed: opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest =
        serde_json::from_value(body.clone()).expect("serde mapping");
    assert_eq!(typed.resource_spans[0].scope_spans[0].spans.len(), 3);
    exporter.shutdown(SECOND);
}

#[test]
fn suppressed_content_never_leaves() {
    let rx = Receiver::start(vec![], Reply::ok());
    let b = builder(&rx.url(), OtlpSettings::new(rx.url()))
        .capture_request(false)
        .capture_output(false)
        .capture_tool_arguments(false);
    let exporter = start(b, &[]);
    send(&exporter, trace());
    let spans = rx.spans();
    let bodies: Vec<String> = rx
        .received()
        .iter()
        .map(|r| String::from_utf8_lossy(&r.body).into_owned())
        .collect();
    for secret in [
        "where is my order",
        "shipped",
        "globex-corp",
        "order\":7",
        "rate limited",
    ] {
        assert!(
            bodies.iter().all(|b| !b.contains(secret)),
            "{secret} leaked"
        );
    }
    let root = by_name(&spans, "agent span");
    assert_eq!(s(&root.attributes, "input.value"), None);
    assert_eq!(s(&root.attributes, "staso.metadata.customer"), None);
    let llm = by_name(&spans, "llm span");
    assert_eq!(llm.status.as_ref().unwrap().message, "");
    assert_eq!(llm.status.as_ref().unwrap().code, 2);
    // Tool names are kept (as for Staso); tags and user metadata are dropped.
    let tool = by_name(&spans, "lookup");
    assert_eq!(s(&tool.attributes, "gen_ai.tool.name"), Some("lookup"));
    assert!(attr(&tool.attributes, "staso.tags").is_none());
    assert!(attr(&tool.attributes, "staso.metadata.count").is_none());
    exporter.shutdown(SECOND);
}

#[test]
fn resource_env_and_provisional_snapshots() {
    let rx = Receiver::start(vec![], Reply::ok());
    let env = [
        ("OTEL_SERVICE_NAME", "checkout"),
        ("OTEL_RESOURCE_ATTRIBUTES", "team=ai,service.name=ignored"),
        ("OTEL_EXPORTER_OTLP_HEADERS", "authorization=Bearer%20t0k"),
    ];
    let exporter = start(
        builder(
            &rx.url(),
            OtlpSettings::new(format!("{}/v1/traces", rx.url())),
        ),
        &env,
    );
    let root = trace().remove(0);
    // The snapshot is accepted but not sent: OTLP spans are immutable.
    assert!(
        exporter
            .export(Box::new(root.provisional_snapshot()))
            .accepted
    );
    send(&exporter, vec![root]);
    let req = &rx.received()[0];
    assert_eq!(req.path, "/v1/traces");
    assert_eq!(req.header("authorization"), Some("Bearer t0k"));
    let proto = req.proto();
    let res = &proto.resource_spans[0]
        .resource
        .as_ref()
        .unwrap()
        .attributes;
    assert_eq!(s(res, "service.name"), Some("checkout"));
    assert_eq!(s(res, "team"), Some("ai"));
    assert_eq!(req.spans().len(), 1);
    exporter.shutdown(SECOND);
}

#[test]
fn exporter_otlp_selects_otlp_only() {
    let c = Config::builder()
        .agent_name("a")
        .capture_git(false)
        .exporter(Exporter::otlp("http://127.0.0.1:4318/"))
        .build_with_env(|_| None)
        .unwrap();
    let ExporterConfig::Otlp(o) = &c.exporters()[0] else {
        panic!()
    };
    assert_eq!(o.traces_url, "http://127.0.0.1:4318/v1/traces");
    assert_eq!(o.protocol, OtlpProtocol::HttpProtobuf);
    assert_eq!(o.compression, OtlpCompression::None);
    assert!(!c.sends_to_staso());
}

#[test]
fn plain_http_to_a_remote_collector_is_refused_unless_allowed() {
    let remote = "http://collector.example:4318";
    let settings = || OtlpSettings::new(remote).header("authorization", "Bearer SECRET_T0KEN");
    let err = builder(remote, settings())
        .build_with_env(|_| None)
        .expect_err("clear text to a remote host is refused");
    let text = err.to_string();
    assert!(
        text.contains(remote)
            && text.contains("OTEL_EXPORTER_OTLP_INSECURE=true")
            && text.contains("OtlpSettings::insecure(true)")
            && !text.contains("SECRET_T0KEN"),
        "{text}"
    );
    assert_eq!(err.field(), "otlp_endpoint");
    // The standard variable opts in; so does the setter. Nothing connects at start.
    let opted_in = start(
        builder(remote, settings()),
        &[("OTEL_EXPORTER_OTLP_INSECURE", "true")],
    );
    assert_eq!(opted_in.shutdown(SECOND).accepted, 0);
    let opted_in = start(builder(remote, settings().insecure(true)), &[]);
    assert_eq!(opted_in.shutdown(SECOND).accepted, 0);
}
