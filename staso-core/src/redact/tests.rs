use std::sync::{Arc, Mutex};

use serde_json::{Value, json};

use super::*;
use crate::config::{CapturePolicy, Config, MaskFn};
use crate::ids::{SpanId, TraceId};

fn settings(mask: Option<Arc<MaskFn>>, scrub: bool, field: usize, span: usize) -> ExportSettings {
    let config = Config::builder()
        .api_key("ak_test")
        .agent_name("demo")
        .capture_git(false)
        .build_with_env(|_| None)
        .unwrap_or_else(|e| panic!("config: {e}"));
    let mut s = ExportSettings::from_config(&config, "session".into());
    s.content = ContentPolicy::new(mask, scrub, field, span);
    s
}

fn record(kind: SpanKind) -> SpanRecord {
    let mut r = SpanRecord::new(
        TraceId(1),
        SpanId(2),
        None,
        "lookup".into(),
        kind,
        crate::time::now(),
    );
    r.input = Some(r#"{"q":"mail ann@ex.com","password":"hunter2"}"#.to_owned());
    r.output = Some(r#"{"result":"card 4111 1111 1111 1111"}"#.to_owned());
    r.set_metadata("note".into(), json!("Bearer abcdefgh12345678"));
    r.set_metadata("api_key".into(), json!("plain"));
    r.error_message = Some("failed for bob@ex.com".to_owned());
    r
}

fn doc(s: &Option<String>) -> Value {
    s.as_deref()
        .map(|d| serde_json::from_str(d).unwrap_or_else(|e| panic!("{e}: {d}")))
        .unwrap_or(Value::Null)
}

#[test]
fn nothing_configured_and_small_means_no_pass() {
    let ctx = settings(None, false, 1024, 4096);
    let r = record(SpanKind::Tool);
    assert!(!needs_pass(&ctx, &r));
    let (out, changes) = applied(&ctx, std::slice::from_ref(&r));
    assert!(matches!(out[0], Cow::Borrowed(_)));
    assert_eq!(changes, Changes::default());
}

#[test]
fn scrubbers_reach_every_field() {
    let ctx = settings(None, true, 1 << 20, 4 << 20);
    let mut r = record(SpanKind::Tool);
    assert_eq!(apply(&ctx, &mut r), Changes::default());
    assert_eq!(
        doc(&r.input),
        json!({"q": "mail [REDACTED:email]", "password": "[REDACTED:field]"})
    );
    assert_eq!(doc(&r.output), json!({"result": "card [REDACTED:card]"}));
    assert_eq!(r.metadata[0].1, json!("[REDACTED:bearer_token]"));
    assert_eq!(r.metadata[1].1, json!("[REDACTED:field]"));
    assert_eq!(
        r.error_message.as_deref(),
        Some("failed for [REDACTED:email]")
    );
}

#[test]
fn mask_sees_each_field_with_its_context() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    let mask: Arc<MaskFn> = Arc::new(move |v: &mut Value, ctx: &MaskContext<'_>| {
        let key = ctx.metadata_key().map(str::to_owned);
        if let Ok(mut l) = log.lock() {
            l.push((ctx.kind(), ctx.name().to_owned(), ctx.field().as_str(), key));
        }
        if ctx.field() == MaskField::Output {
            *v = json!("masked");
        }
    });
    let ctx = settings(Some(mask), false, 1 << 20, 4 << 20);
    let mut r = record(SpanKind::Llm);
    r.input_prefiltered = true;
    apply(&ctx, &mut r);
    assert_eq!(r.output.as_deref(), Some(r#""masked""#));
    let seen = seen.lock().map(|l| l.clone()).unwrap_or_default();
    let fields: Vec<_> = seen
        .iter()
        .map(|(k, n, f, key)| (*k, n.as_str(), *f, key.as_deref()))
        .collect();
    assert_eq!(
        fields,
        [
            (SpanKind::Llm, "lookup", "input", None),
            (SpanKind::Llm, "lookup", "output", None),
            (SpanKind::Llm, "lookup", "metadata", Some("note")),
            (SpanKind::Llm, "lookup", "metadata", Some("api_key")),
            (SpanKind::Llm, "lookup", "error", None),
        ]
    );
}

#[test]
fn mask_skips_what_the_capture_policy_withholds() {
    let calls = Arc::new(Mutex::new(Vec::new()));
    let log = calls.clone();
    let mask: Arc<MaskFn> = Arc::new(move |_: &mut Value, ctx: &MaskContext<'_>| {
        if let Ok(mut l) = log.lock() {
            l.push(ctx.field().as_str());
        }
    });
    let mut ctx = settings(Some(mask), false, 1 << 20, 4 << 20);
    ctx.policy = CapturePolicy {
        output: false,
        ..CapturePolicy::ALL
    };
    // An LLM span's plain input needs every category on; the error too.
    let mut r = record(SpanKind::Llm);
    apply(&ctx, &mut r);
    let calls = calls.lock().map(|l| l.clone()).unwrap_or_default();
    assert_eq!(calls, ["metadata", "metadata"]);
}

#[test]
fn a_panicking_mask_drops_only_that_value() {
    let mask: Arc<MaskFn> = Arc::new(|v: &mut Value, ctx: &MaskContext<'_>| {
        if ctx.metadata_key() == Some("note") {
            panic!("mask bug (test)");
        }
        if let Some(s) = v.as_str() {
            *v = json!(s.to_uppercase());
        }
    });
    let ctx = settings(Some(mask), false, 1 << 20, 4 << 20);
    let mut r = record(SpanKind::Tool);
    let changes = apply(&ctx, &mut r);
    assert_eq!(changes.masks_dropped, 1);
    assert_eq!(r.metadata[0].1, json!(PANIC_MARKER));
    assert_eq!(r.metadata[1].1, json!("PLAIN"));
    assert_eq!(r.error_message.as_deref(), Some("FAILED FOR BOB@EX.COM"));
}

#[test]
fn a_null_from_the_mask_removes_input_output_and_error() {
    let mask: Arc<MaskFn> = Arc::new(|v: &mut Value, ctx: &MaskContext<'_>| {
        if ctx.metadata_key().is_none() {
            *v = Value::Null;
        }
    });
    let ctx = settings(Some(mask), false, 1 << 20, 4 << 20);
    let mut r = record(SpanKind::Tool);
    apply(&ctx, &mut r);
    assert_eq!((r.input, r.output, r.error_message), (None, None, None));
}

#[test]
fn field_budget_cuts_and_counts_once() {
    let ctx = settings(None, false, 1024, 1 << 20);
    let mut r = record(SpanKind::Tool);
    r.input = Some(serde_json::to_string(&json!({"text": "é".repeat(10_000)})).unwrap_or_default());
    r.set_metadata("blob".into(), json!(vec![7; 5000]));
    assert!(needs_pass(&ctx, &r));
    let changes = apply(&ctx, &mut r);
    assert_eq!(changes.truncated_fields, 2);
    let input = r.input.clone().unwrap_or_default();
    assert!(input.len() <= 1024);
    assert!(
        doc(&r.input)["text"]
            .as_str()
            .is_some_and(|t| t.contains("bytes cut]"))
    );
    let blob = serde_json::to_string(&r.metadata[2].1).unwrap_or_default();
    assert!(blob.len() <= 1024 && blob.contains("bytes cut"), "{blob}");
}

#[test]
fn span_budget_cuts_the_largest_fields_first() {
    let ctx = settings(None, false, 1 << 20, 8 * 1024);
    let mut r = record(SpanKind::Tool);
    r.input = Some(serde_json::to_string(&json!({"a": "x".repeat(20_000)})).unwrap_or_default());
    r.output = Some(serde_json::to_string(&json!({"b": "y".repeat(6_000)})).unwrap_or_default());
    let small_meta = r.metadata[0].1.clone();
    let changes = apply(&ctx, &mut r);
    let total = r.input.as_ref().map_or(0, String::len)
        + r.output.as_ref().map_or(0, String::len)
        + r.metadata
            .iter()
            .map(|(_, v)| budget::json_len_bound(v))
            .sum::<usize>();
    assert!(total <= 8 * 1024, "{total}");
    assert_eq!(changes.truncated_fields, 1, "only the input had to be cut");
    assert!(
        doc(&r.output)["b"]
            .as_str()
            .is_some_and(|s| !s.contains("cut"))
    );
    assert_eq!(r.metadata[0].1, small_meta);
}

#[test]
fn provider_and_error_are_never_cut() {
    let ctx = settings(None, false, 1024, 1024);
    let mut r = record(SpanKind::Llm);
    let long = "p".repeat(3000);
    r.set_metadata("provider".into(), json!(long));
    r.error_message = Some("e".repeat(5000));
    apply(&ctx, &mut r);
    assert_eq!(r.metadata[2].1, json!(long));
    assert_eq!(r.error_message.as_ref().map(String::len), Some(5000));
}
