//! Payload budgets (#17): huge inputs and outputs (50 MB strings, arrays and objects) are cut on
//! UTF-8 and JSON value boundaries to the field and span budgets, stay valid JSON, carry a
//! marker saying how much was cut, and are counted in the report; identity, model, tokens,
//! status, name and error are never cut. Over the Staso ingest and OTLP alike.

mod otlp_support;
mod support;

use std::sync::Arc;
use std::time::Duration;

use otlp_support::{OtlpBody, Receiver, Reply, fast, s};
use serde_json::{Value, json};
use staso_core::__internal::OtlpExporter;
use staso_core::config::DEFAULT_MAX_FIELD_BYTES;
use staso_core::{
    ConfigBuilder, ExportSettings, ExporterConfig, SpanExporter, SpanKind, SpanRecord, SpanStatus,
    otlp,
};
use support::{Server, build, fast_options, span_record, start_exporter, test_config};

const TIMEOUT: Duration = Duration::from_secs(60);
const MB50: usize = 50 * 1024 * 1024;

/// The wire spans of every request the Staso server received.
fn wire_spans(server: &Server) -> Vec<Value> {
    server
        .requests()
        .iter()
        .flat_map(|r| {
            r.json()["traces"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .flat_map(|t| t["spans"].as_array().cloned().unwrap_or_default())
        })
        .collect()
}

/// An embedded JSON document (`input`, `output`, `attributes`) parsed, with its length.
fn embedded(span: &Value, field: &str) -> (Value, usize) {
    let text = span[field].as_str().unwrap_or_default();
    let v = serde_json::from_str(text).unwrap_or_else(|e| {
        panic!(
            "{field} is not valid JSON ({e}): {}",
            &text[..text.len().min(200)]
        )
    });
    (v, text.len())
}

/// The number in a `…[staso: N bytes cut]` marker.
fn cut_bytes(marker: &str) -> Option<usize> {
    let rest = marker.split("…[staso: ").nth(1)?;
    rest.split(' ').next()?.parse().ok()
}

/// A string of `len` bytes cycling through 1-, 2-, 3- and 4-byte characters.
fn multibyte(len: usize) -> String {
    let unit = "aé日🦀 "; // 1 + 2 + 3 + 4 + 1 bytes
    let mut s = unit.repeat(len / unit.len() + 1);
    while s.len() > len {
        s.pop();
    }
    s
}

fn staso_exporter(
    server: &Server,
    content: impl FnOnce(ConfigBuilder) -> ConfigBuilder,
) -> impl SpanExporter {
    let config = build(content(test_config(&server.url())));
    start_exporter(&config, fast_options())
}

#[test]
fn a_50_mb_string_is_cut_on_a_character_boundary_to_the_field_budget() {
    let server = Server::acking();
    let exporter = staso_exporter(&server, |b| b);
    let text = multibyte(MB50);
    let mut r = span_record(80, 1, None);
    r.input = Some(serde_json::to_string(&json!({ "document": text })).expect("json"));
    assert!(exporter.export(Box::new(r)).accepted);
    let report = exporter.flush(TIMEOUT);
    assert!(report.ok(), "{report:?}");
    assert_eq!(report.truncated_fields, 1);

    let spans = wire_spans(&server);
    assert_eq!(spans.len(), 1);
    let (input, len) = embedded(&spans[0], "input");
    assert!(len <= DEFAULT_MAX_FIELD_BYTES, "{len}");
    assert!(
        len > DEFAULT_MAX_FIELD_BYTES - 4096,
        "most of the budget is used: {len}"
    );
    let doc = input["document"]
        .as_str()
        .expect("document is still a string");
    let (kept, marker) = doc.split_at(doc.find('…').expect("marker"));
    // Whole characters of the original, in order: the kept part is a prefix of it.
    assert!(text.starts_with(kept));
    assert!(kept.chars().all(|c| "aé日🦀 ".contains(c)));
    // The marker says how many bytes of the original document were cut.
    let original_len = serde_json::to_string(&json!({ "document": text })).map_or(0, |s| s.len());
    let cut = cut_bytes(marker).expect("count");
    assert_eq!(kept.len() + cut + r#"{"document":""#.len(), original_len);
}

#[test]
fn a_50_mb_array_and_a_50_mb_object_stay_valid_json_under_the_budget() {
    let server = Server::acking();
    let budget = 256 * 1024;
    let exporter = staso_exporter(&server, |b| b.max_field_bytes(budget));
    // Input: an array of small objects; output: an object of many long-ish strings.
    let mut array = String::with_capacity(MB50 + 64);
    array.push('[');
    let mut i = 0u64;
    while array.len() < MB50 {
        if i > 0 {
            array.push(',');
        }
        array.push_str(&format!("{{\"id\":{i},\"tags\":[\"t{i}\",\"日本\"]}}"));
        i += 1;
    }
    array.push(']');
    let mut object = String::with_capacity(MB50 + 64);
    object.push('{');
    let mut k = 0u64;
    while object.len() < MB50 {
        if k > 0 {
            object.push(',');
        }
        object.push_str(&format!("\"key{k}\":\"{}\"", "v🦀".repeat(50)));
        k += 1;
    }
    object.push('}');
    let mut r = span_record(81, 1, None);
    r.input = Some(array);
    r.output = Some(object);
    assert!(exporter.export(Box::new(r)).accepted);
    let report = exporter.flush(TIMEOUT);
    assert!(report.ok(), "{report:?}");
    assert_eq!(report.truncated_fields, 2);

    let spans = wire_spans(&server);
    let (input, len) = embedded(&spans[0], "input");
    assert!(len <= budget, "{len}");
    let items = input.as_array().expect("still an array");
    assert!(items.len() > 1000);
    for (n, item) in items[..items.len() - 1].iter().enumerate() {
        assert_eq!(item, &json!({"id": n, "tags": [format!("t{n}"), "日本"]}));
    }
    let marker = items.last().and_then(Value::as_str).expect("marker item");
    assert!(
        cut_bytes(marker).is_some_and(|n| n > MB50 - budget),
        "{marker}"
    );

    let (output, len) = embedded(&spans[0], "output");
    assert!(len <= budget, "{len}");
    let entries = output.as_object().expect("still an object");
    assert_eq!(entries["key0"], json!("v🦀".repeat(50)));
    let marker = entries["staso.truncated"].as_str().expect("marker entry");
    assert!(
        cut_bytes(marker).is_some_and(|n| n > MB50 - budget),
        "{marker}"
    );
}

#[test]
fn the_span_budget_cuts_the_largest_fields_and_never_the_identity() {
    let server = Server::acking();
    let exporter = staso_exporter(&server, |b| {
        b.max_field_bytes(512 * 1024).max_span_bytes(64 * 1024)
    });
    let mut r = span_record(82, 7, Some(3));
    r.kind = SpanKind::Llm;
    r.input_prefiltered = true;
    r.name = "big-call".into();
    r.set_model("model-x".into());
    r.provider = "provider-y".into();
    r.input_tokens = 11;
    r.output_tokens = 22;
    r.total_tokens = 33;
    r.status = SpanStatus::Error;
    let error = format!("error {}", "E".repeat(200_000));
    r.error_message = Some(error.clone());
    r.input = Some(json!({"messages": ["x".repeat(300_000)]}).to_string());
    r.output = Some(json!({"text": "small answer"}).to_string());
    r.set_metadata("blob".into(), json!("m".repeat(100_000)));
    r.set_metadata("small".into(), json!("s"));
    assert!(exporter.export(Box::new(r)).accepted);
    let report = exporter.flush(TIMEOUT);
    assert!(report.ok(), "{report:?}");
    assert_eq!(report.truncated_fields, 2, "input and blob");

    let span = &wire_spans(&server)[0];
    let (input, in_len) = embedded(span, "input");
    let (output, out_len) = embedded(span, "output");
    let (attrs, _) = embedded(span, "attributes");
    let blob_len = serde_json::to_string(&attrs["blob"]).map_or(0, |s| s.len());
    assert!(
        in_len + out_len + blob_len <= 64 * 1024,
        "{in_len} {out_len} {blob_len}"
    );
    assert!(
        input["messages"][0]
            .as_str()
            .is_some_and(|m| m.contains("bytes cut]"))
    );
    assert_eq!(output, json!({"text": "small answer"}));
    assert_eq!(attrs["small"], json!("s"));
    // Never cut.
    assert_eq!(span["name"], "big-call");
    assert_eq!(span["model"], "model-x");
    assert_eq!(span["provider"], "provider-y");
    assert_eq!(
        (
            &span["input_tokens"],
            &span["output_tokens"],
            &span["total_tokens"]
        ),
        (&json!(11), &json!(22), &json!(33))
    );
    assert_eq!(span["status"], "error");
    assert_eq!(span["error_message"].as_str(), Some(error.as_str()));
    assert_eq!(span["span_id"], "00000000-0000-0000-0000-000000000007");
}

#[test]
fn otlp_spans_are_cut_the_same_way() {
    let rx = Receiver::start(vec![], Reply::ok());
    let config = build(test_config("http://127.0.0.1:1").exporters([otlp(rx.url())]));
    let ExporterConfig::Otlp(o) = &config.exporters()[0] else {
        panic!("otlp")
    };
    let emit = Arc::new(ExportSettings::from_config(&config, "s".into()));
    let exporter = OtlpExporter::start_with(o, &config, emit, fast()).expect("otlp");
    let mut r: SpanRecord = span_record(83, 1, None);
    r.input = Some(json!({"text": multibyte(MB50)}).to_string());
    assert!(exporter.export(Box::new(r)).accepted);
    let report = exporter.flush(TIMEOUT);
    assert!(report.ok(), "{report:?}");
    assert_eq!(report.truncated_fields, 1);
    let received = rx.received();
    let body_len: usize = received.iter().map(|r| r.body.len()).sum();
    assert!(body_len < 2 * DEFAULT_MAX_FIELD_BYTES, "{body_len}");
    let spans = received.iter().flat_map(|r| r.spans()).collect::<Vec<_>>();
    assert_eq!(spans.len(), 1);
    let input = spans[0]
        .attributes
        .iter()
        .filter_map(|kv| s(&spans[0].attributes, &kv.key))
        .find(|v| v.contains("bytes cut]"))
        .expect("the cut input is an attribute");
    let v: Value = serde_json::from_str(input).expect("valid JSON");
    assert!(
        v["text"]
            .as_str()
            .is_some_and(|t| t.ends_with("bytes cut]"))
    );
}

#[test]
fn budgets_outside_their_range_are_config_errors_naming_the_setter() {
    for (builder, field, value) in [
        (
            test_config("http://127.0.0.1:1").max_field_bytes(0),
            "max_field_bytes",
            "0",
        ),
        (
            test_config("http://127.0.0.1:1").max_span_bytes(usize::MAX),
            "max_span_bytes",
            "18446744073709551615",
        ),
    ] {
        let err = builder.build_with_env(|_| None).expect_err("rejected");
        assert_eq!(err.field(), field);
        assert!(err.to_string().contains(value), "{err}");
    }
    let env = |name: &str| (name == "STASO_MAX_FIELD_BYTES").then(|| "lots".to_owned());
    let err = test_config("http://127.0.0.1:1")
        .build_with_env(env)
        .expect_err("rejected");
    assert_eq!(err.field(), "STASO_MAX_FIELD_BYTES");
    let env = |name: &str| (name == "STASO_MAX_SPAN_BYTES").then(|| "8192".to_owned());
    let config = test_config("http://127.0.0.1:1")
        .build_with_env(env)
        .expect("valid");
    assert_eq!(config.content_policy().max_span_bytes(), 8192);
    assert_eq!(
        config.content_policy().max_field_bytes(),
        DEFAULT_MAX_FIELD_BYTES
    );
}
