//! Every `LlmCall` field as an OpenTelemetry backend receives it: the GenAI semantic conventions,
//! OpenInference and Langfuse's keys, decoded from the protobuf a receiver on 127.0.0.1 got.

mod otlp_support;

use std::time::{Duration, UNIX_EPOCH};

use opentelemetry_proto::tonic::common::v1::any_value::Value as Av;
use otlp_support::*;
use serde_json::json;
use staso_core::{Config, LlmCall, OtlpSettings, SpanKind};

fn f(attrs: &[opentelemetry_proto::tonic::common::v1::KeyValue], key: &str) -> Option<f64> {
    match attr(attrs, key) {
        Some(Av::DoubleValue(v)) => Some(*v),
        _ => None,
    }
}

#[test]
fn every_llm_call_field_maps_to_the_genai_openinference_and_langfuse_names() {
    let rx = Receiver::start(vec![], Reply::ok());
    let config = Config::builder()
        .agent_name("bot")
        .capture_git(false)
        .exporter(OtlpSettings::new(rx.url()))
        .build_with_env(|_| None)
        .expect("config");
    let client = staso_core::init(config).expect("init");
    staso_core::span("chat", SpanKind::Llm, |s| {
        s.record_llm(
            LlmCall::new("gpt-4o", "openai")
                .response_model("gpt-4o-2024-08-06")
                .tokens(1200, 300)
                .total_tokens(1550)
                .cache_read_tokens(1000)
                .cache_creation_tokens(50)
                .reasoning_tokens(40)
                .cost_usd(0.0125)
                .temperature(0.2)
                .max_tokens(512)
                .top_p(0.9)
                .prompt(json!([{"role": "user", "content": "hi"}]))
                .completion("hello")
                .streaming(true)
                .finish_reason("stop")
                .time_to_first_token(Duration::from_millis(250))
                .response_id("chatcmpl-1")
                .attribute("route", "support")
                .tags(["prod"]),
        )
    });
    let report = client.shutdown(Duration::from_secs(5));
    assert!(report.ok(), "{report:?}");
    let spans = rx.spans();
    assert_eq!(spans.len(), 1);
    let span = &spans[0];
    let a = &span.attributes;
    assert_eq!(s(a, "gen_ai.operation.name"), Some("chat"));
    assert_eq!(s(a, "gen_ai.request.model"), Some("gpt-4o"));
    assert_eq!(s(a, "gen_ai.response.model"), Some("gpt-4o-2024-08-06"));
    assert_eq!(s(a, "gen_ai.provider.name"), Some("openai"));
    assert_eq!(i(a, "gen_ai.usage.input_tokens"), Some(1200));
    assert_eq!(i(a, "gen_ai.usage.output_tokens"), Some(300));
    assert_eq!(i(a, "llm.token_count.total"), Some(1550));
    assert_eq!(f(a, "gen_ai.request.temperature"), Some(0.2));
    assert_eq!(i(a, "gen_ai.request.max_tokens"), Some(512));
    assert_eq!(f(a, "gen_ai.request.top_p"), Some(0.9));
    assert!(matches!(
        attr(a, "gen_ai.request.stream"),
        Some(Av::BoolValue(true))
    ));
    match attr(a, "gen_ai.response.finish_reasons") {
        Some(Av::ArrayValue(arr)) => {
            let v: Vec<_> = arr.values.iter().map(|v| v.value.clone()).collect();
            assert_eq!(v, vec![Some(Av::StringValue("stop".into()))]);
        }
        other => panic!("finish_reasons: {other:?}"),
    }
    assert_eq!(s(a, "gen_ai.response.id"), Some("chatcmpl-1"));
    assert_eq!(i(a, "gen_ai.usage.cache_read.input_tokens"), Some(1000));
    assert_eq!(i(a, "gen_ai.usage.cache_creation.input_tokens"), Some(50));
    assert_eq!(i(a, "gen_ai.usage.reasoning.output_tokens"), Some(40));
    assert_eq!(
        i(a, "llm.token_count.prompt_details.cache_read"),
        Some(1000)
    );
    assert_eq!(i(a, "llm.token_count.prompt_details.cache_write"), Some(50));
    assert_eq!(
        i(a, "llm.token_count.completion_details.reasoning"),
        Some(40)
    );
    assert_eq!(f(a, "gen_ai.usage.cost"), Some(0.0125));
    assert_eq!(f(a, "llm.cost.total"), Some(0.0125));
    assert_eq!(f(a, "gen_ai.response.time_to_first_chunk"), Some(0.25));
    let params: serde_json::Value =
        serde_json::from_str(s(a, "llm.invocation_parameters").expect("invocation parameters"))
            .expect("JSON");
    assert_eq!(
        params,
        json!({"temperature": 0.2, "max_tokens": 512, "top_p": 0.9, "stream": true})
    );
    // Langfuse: completion start = span start + TTFT, as an ISO timestamp.
    let first = s(a, "langfuse.observation.completion_start_time").expect("completion start");
    let start = UNIX_EPOCH + Duration::from_nanos(span.start_time_unix_nano);
    let want = start + Duration::from_millis(250);
    let want_micros = want.duration_since(UNIX_EPOCH).unwrap().as_micros() % 1_000_000;
    assert!(first.ends_with("+00:00"), "{first}");
    assert!(
        first.contains(&format!(".{want_micros:06}")) || want_micros == 0,
        "{first} vs {want_micros}"
    );
    let input: serde_json::Value =
        serde_json::from_str(s(a, "input.value").expect("input")).expect("JSON");
    assert_eq!(input, json!([{"role": "user", "content": "hi"}]));
    assert_eq!(s(a, "output.value"), Some(r#""hello""#));
    assert_eq!(s(a, "staso.metadata.route"), Some("support"));
    for raw in [
        "staso.metadata.temperature",
        "staso.metadata.cost_usd",
        "staso.metadata.stop_reason",
    ] {
        assert!(attr(a, raw).is_none(), "{raw} is mapped, not copied");
    }
}
