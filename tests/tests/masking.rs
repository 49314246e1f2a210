//! Masking and the built-in secret scrubbers (#17): planted secrets never reach a recording
//! Staso ingest server or OTLP receiver (every request byte is scanned), the mask callback sees
//! each field with its context on the exporters' worker threads, and a panicking mask costs only
//! the value it panicked on.

mod otlp_support;
mod support;

use std::sync::{Arc, Mutex};
use std::thread::ThreadId;
use std::time::Duration;

use otlp_support::{Receiver, Reply, fast};
use serde_json::{Value, json};
use staso_core::__internal::{FanOutExporter, HttpExporter, OtlpExporter};
use staso_core::{
    ConfigBuilder, ExportSettings, ExporterConfig, MaskContext, MaskField, SpanExporter, SpanKind,
    SpanRecord, otlp, staso,
};
use support::{Server, fast_options, span_record, test_config};

const TIMEOUT: Duration = Duration::from_secs(15);

const CARD: &str = "4111 1111 1111 1111";
const CARD_PLAIN: &str = "4111111111111111";
const EMAIL: &str = "ann.lee@example.com";
const BEARER: &str = "Bearer eyZ0b2tlbi1hYmNkZWYtMDEyMzQ1";
const BEARER_TOKEN: &str = "eyZ0b2tlbi1hYmNkZWYtMDEyMzQ1";
const PASSWORD: &str = "hunter2-correct-horse";
const API_KEY: &str = "sk-ant-api03-Zq8vKp2LmN4xRt7YwB1cD5eF";
const AWS_KEY: &str = "AKIAIOSFODNN7EXAMPLE";

/// Every planted secret, as it would appear in a request body.
const SECRETS: [&str; 8] = [
    CARD,
    CARD_PLAIN,
    EMAIL,
    BEARER_TOKEN,
    PASSWORD,
    API_KEY,
    AWS_KEY,
    "hunter2",
];

/// Staso and OTLP at once, both with `content` applied to the config.
fn both(
    staso_url: &str,
    otlp_url: &str,
    content: impl FnOnce(ConfigBuilder) -> ConfigBuilder,
) -> FanOutExporter {
    let config = content(test_config(staso_url).exporters([staso(), otlp(otlp_url)]))
        .build_with_env(|_| None)
        .expect("config");
    let ExporterConfig::Otlp(o) = &config.exporters()[1] else {
        panic!("otlp second")
    };
    // One client's settings, shared by its exporters as `init` does.
    let emit = Arc::new(ExportSettings::from_config(&config, "s".into()));
    let otlp = OtlpExporter::start_with(o, &config, emit.clone(), fast()).expect("otlp");
    let staso = HttpExporter::start_with(&config, emit, fast_options()).expect("staso");
    FanOutExporter::new()
        .with("staso", Arc::new(staso))
        .with_otlp("otlp", Arc::new(otlp))
}

/// Spans of three kinds with secrets in their input, output, metadata and error message.
fn planted() -> Vec<SpanRecord> {
    let mut out = Vec::new();
    for (i, kind) in [SpanKind::Tool, SpanKind::Chain, SpanKind::Llm]
        .into_iter()
        .enumerate()
    {
        let mut r = span_record(70, i as u64 + 1, None);
        r.kind = kind;
        r.name = "checkout".into();
        r.input_prefiltered = kind == SpanKind::Llm;
        r.input = Some(
            json!({
                "card": CARD,
                "contact": format!("write to {EMAIL} please"),
                "headers": {"Authorization": BEARER},
                "password": PASSWORD,
                "prompt": format!("use key {API_KEY} and {AWS_KEY}"),
            })
            .to_string(),
        );
        r.output = Some(
            json!({"result": format!("charged {CARD_PLAIN}, receipt sent to {EMAIL}"), "n": 4111111111111111u64})
                .to_string(),
        );
        r.set_metadata("customer".into(), json!(EMAIL));
        r.set_metadata("password".into(), json!(PASSWORD));
        r.set_metadata("auth_header".into(), json!(BEARER));
        r.set_metadata("nested".into(), json!({"cards": [CARD], "key": API_KEY}));
        r.error_message = Some(format!(
            "payment failed for {EMAIL} with card {CARD} ({BEARER}, password=hunter2)"
        ));
        r.model = "gpt-test".into();
        out.push(r);
    }
    out
}

/// Every request body each server received (OTLP bodies un-gzipped).
fn all_bytes(server: &Server, rx: &Receiver) -> Vec<(String, Vec<u8>)> {
    let mut out: Vec<(String, Vec<u8>)> = server
        .requests()
        .iter()
        .map(|r| {
            (
                "staso".to_owned(),
                unzip(r.header("content-encoding"), &r.body),
            )
        })
        .collect();
    out.extend(
        rx.received()
            .into_iter()
            .map(|r| ("otlp".to_owned(), r.body)),
    );
    out
}

fn unzip(encoding: Option<&str>, body: &[u8]) -> Vec<u8> {
    if encoding != Some("gzip") {
        return body.to_vec();
    }
    let mut out = Vec::new();
    std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(body), &mut out).expect("gzip");
    out
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

fn send(fan: &FanOutExporter, records: Vec<SpanRecord>) -> staso_core::DeliveryReport {
    for r in records {
        assert!(fan.export(Box::new(r)).accepted);
    }
    let report = fan.flush(TIMEOUT);
    assert!(report.ok(), "{report:?}");
    report
}

#[test]
fn planted_secrets_never_reach_either_exporter() {
    // Control: without the scrubbers every secret is on the wire, in both exporters' bytes.
    let server = Server::acking();
    let rx = Receiver::start(vec![], Reply::ok());
    let plain = both(&server.url(), &rx.url(), |b| b);
    send(&plain, planted());
    let bodies = all_bytes(&server, &rx);
    for exporter in ["staso", "otlp"] {
        for secret in SECRETS {
            assert!(
                bodies
                    .iter()
                    .any(|(e, b)| e == exporter && contains(b, secret)),
                "control: {secret} should reach {exporter}"
            );
        }
    }

    let server = Server::acking();
    let rx = Receiver::start(vec![], Reply::ok());
    let fan = both(&server.url(), &rx.url(), |b| b.scrub_secrets(true));
    let report = send(&fan, planted());
    assert_eq!(report.exporter("staso").map(|r| r.delivered), Some(3));
    assert_eq!(report.exporter("otlp").map(|r| r.delivered), Some(3));
    let bodies = all_bytes(&server, &rx);
    assert!(bodies.iter().any(|(e, _)| e == "staso") && bodies.iter().any(|(e, _)| e == "otlp"));
    for (exporter, body) in &bodies {
        for secret in SECRETS {
            assert!(!contains(body, secret), "{secret} reached {exporter}");
        }
    }
    // The spans went out, with markers where the secrets were.
    for marker in [
        "[REDACTED:email]",
        "[REDACTED:card]",
        "[REDACTED:field]",
        "[REDACTED:bearer_token]",
        "[REDACTED:api_key]",
    ] {
        for exporter in ["staso", "otlp"] {
            assert!(
                bodies
                    .iter()
                    .any(|(e, b)| e == exporter && contains(b, marker)),
                "{marker} missing from {exporter}"
            );
        }
    }
    // What is not a secret is untouched.
    let staso_body = &bodies.iter().find(|(e, _)| e == "staso").expect("staso").1;
    assert!(contains(staso_body, "gpt-test") && contains(staso_body, "checkout"));
}

/// What one mask call saw.
#[derive(Clone, Debug, PartialEq)]
struct Seen {
    thread: ThreadId,
    thread_name: String,
    kind: SpanKind,
    name: String,
    field: &'static str,
    key: Option<String>,
    value: Value,
}

#[test]
fn the_mask_sees_each_field_with_its_context_on_the_worker_threads() {
    let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
    let log = seen.clone();
    let mask = move |v: &mut Value, ctx: &MaskContext<'_>| {
        let current = std::thread::current();
        let entry = Seen {
            thread: current.id(),
            thread_name: current.name().unwrap_or_default().to_owned(),
            kind: ctx.kind(),
            name: ctx.name().to_owned(),
            field: ctx.field().as_str(),
            key: ctx.metadata_key().map(str::to_owned),
            value: v.clone(),
        };
        log.lock().expect("log").push(entry);
        match ctx.field() {
            MaskField::Metadata { key: "customer" } => *v = json!("[customer]"),
            MaskField::Input => {
                if let Some(o) = v.as_object_mut() {
                    o.remove("ssn");
                }
            }
            _ => {}
        }
    };
    let server = Server::acking();
    let rx = Receiver::start(vec![], Reply::ok());
    let fan = both(&server.url(), &rx.url(), |b| b.mask(mask.clone()));
    let mut r = span_record(71, 1, None);
    r.kind = SpanKind::Tool;
    r.name = "lookup".into();
    r.input = Some(json!({"q": "balance", "ssn": "078-05-1120"}).to_string());
    r.output = Some(json!({"result": 12}).to_string());
    r.set_metadata("customer".into(), json!("Ann Lee"));
    r.error_message = Some("boom".into());
    send(&fan, vec![r]);

    let test_thread = std::thread::current().id();
    let seen = seen.lock().expect("log").clone();
    assert!(!seen.is_empty());
    for s in &seen {
        assert_ne!(s.thread, test_thread, "the mask ran on the caller's thread");
        assert!(
            s.thread_name == "staso-transport" || s.thread_name == "staso-otlp",
            "{}",
            s.thread_name
        );
        assert_eq!((s.kind, s.name.as_str()), (SpanKind::Tool, "lookup"));
    }
    // Once per exporter, each field with its context and value.
    for thread_name in ["staso-transport", "staso-otlp"] {
        let mine: Vec<_> = seen
            .iter()
            .filter(|s| s.thread_name == thread_name)
            .map(|s| (s.field, s.key.clone(), s.value.clone()))
            .collect();
        assert_eq!(
            mine,
            [
                ("input", None, json!({"q": "balance", "ssn": "078-05-1120"})),
                ("output", None, json!({"result": 12})),
                ("metadata", Some("customer".to_owned()), json!("Ann Lee")),
                ("error", None, json!("boom")),
            ],
            "{thread_name}"
        );
    }
    for (exporter, body) in all_bytes(&server, &rx) {
        assert!(!contains(&body, "078-05-1120"), "{exporter}");
        assert!(!contains(&body, "Ann Lee"), "{exporter}");
        assert!(contains(&body, "[customer]"), "{exporter}");
        assert!(contains(&body, "balance"), "{exporter}");
    }
}

#[test]
fn a_panicking_mask_drops_only_that_value() {
    let logs = staso_tests::logs::captured_logs();
    let mask = |v: &mut Value, ctx: &MaskContext<'_>| {
        if ctx.metadata_key() == Some("fragile") {
            panic!("mask bug (test): {v}");
        }
    };
    let server = Server::acking();
    let rx = Receiver::start(vec![], Reply::ok());
    let fan = both(&server.url(), &rx.url(), |b| b.mask(mask));
    let mut records = Vec::new();
    for i in 0..3u64 {
        let mut r = span_record(72, i + 1, None);
        r.name = "fragile-span".into();
        r.input = Some(json!({"q": format!("question {i}")}).to_string());
        r.set_metadata("fragile".into(), json!("private-value-9931"));
        r.set_metadata("kept".into(), json!("kept-value"));
        records.push(r);
    }
    let report = send(&fan, records);
    // Every span is delivered; each exporter counts its three dropped values.
    assert_eq!(report.delivered, 6, "{report:?}");
    for name in ["staso", "otlp"] {
        let part = report.exporter(name).expect("part");
        assert_eq!(part.masked_values_dropped, 3, "{name}: {part:?}");
    }
    assert_eq!(report.masked_values_dropped, 6);

    let staso = server.requests();
    let spans: Vec<Value> = staso
        .iter()
        .flat_map(|r| {
            r.json()["traces"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .flat_map(|t| t["spans"].as_array().cloned().unwrap_or_default())
        })
        .collect();
    assert_eq!(spans.len(), 3);
    for span in &spans {
        let attrs: Value =
            serde_json::from_str(span["attributes"].as_str().unwrap_or("{}")).expect("attributes");
        assert_eq!(
            attrs["fragile"],
            json!("[staso: masked value dropped: mask panicked]")
        );
        assert_eq!(attrs["kept"], json!("kept-value"));
        assert!(
            span["input"]
                .as_str()
                .is_some_and(|i| i.contains("question"))
        );
    }
    for (exporter, body) in all_bytes(&server, &rx) {
        assert!(!contains(&body, "private-value-9931"), "{exporter}");
    }
    // Six panics over two exporters of one client: one warning, which never quotes the panic
    // message (it may hold the value being masked).
    let lines: Vec<String> = logs
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .filter(|l| l.contains("mask callback panicked") && l.contains("fragile-span"))
        .cloned()
        .collect();
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(
        lines[0].starts_with("WARN ") && lines[0].contains("metadata"),
        "{lines:?}"
    );
    assert!(!lines.iter().any(|l| l.contains("private-value-9931")));
}

#[test]
fn the_mask_never_runs_on_the_caller_thread_through_init() {
    // A real client and a real instrumented span: the mask runs on the delivery worker.
    let server = Server::acking();
    let threads: Arc<Mutex<Vec<(ThreadId, String)>>> = Arc::default();
    let log = threads.clone();
    let config = test_config(&server.url())
        .mask(move |v, ctx| {
            let t = std::thread::current();
            log.lock()
                .expect("log")
                .push((t.id(), t.name().unwrap_or_default().to_owned()));
            if ctx.field() == MaskField::Input {
                *v = json!({"masked": true});
            }
        })
        .build_with_env(|_| None)
        .expect("config");
    let client = staso::init(config).expect("init");
    staso::span("manual", SpanKind::Chain, |s| {
        s.set_input(json!({"secret_question": "mother's maiden name"}));
    });
    let report = client.flush(TIMEOUT);
    assert!(report.ok(), "{report:?}");
    let threads = threads.lock().expect("log").clone();
    assert!(!threads.is_empty());
    let me = std::thread::current().id();
    assert!(
        threads
            .iter()
            .all(|(id, name)| *id != me && name == "staso-transport"),
        "{threads:?}"
    );
    let body = server
        .requests()
        .iter()
        .flat_map(|r| r.body.clone())
        .collect::<Vec<u8>>();
    assert!(!contains(&body, "maiden"));
    assert!(contains(&body, "masked"));
    client.shutdown(TIMEOUT);
}
