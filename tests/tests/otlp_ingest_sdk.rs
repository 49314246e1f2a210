//! One staso SDK run exported at once over the Staso ingest (server A) and over OTLP (server B,
//! protobuf + gzip with a Bearer key, then JSON with `X-API-Key`): both read APIs answer the same
//! trees, field by field, except each span's `capture` record, which OTLP does not carry.

mod otlp_ingest_support;

use std::time::Duration;

use otlp_ingest_support::{KEY, get, server, tree};
use serde_json::{Value, json};
use staso::{LlmCall, OtlpCompression, OtlpProtocol, OtlpSettings, Span as StasoSpan};
use staso_server::RunningServer;

#[staso::trace(kind = "llm")]
fn ask(question: &str) -> String {
    StasoSpan::current().record_llm(
        LlmCall::new("gpt-4o-mini", "openai")
            .tokens(42, 7)
            .cost_usd(0.0001)
            .temperature(0.2)
            .max_tokens(256)
            .finish_reason("stop")
            .response_id("resp-1")
            .cache_read_tokens(5)
            .time_to_first_token(Duration::from_millis(120))
            .prompt(json!([{"role": "user", "content": question}]))
            .completion("four"),
    );
    "four".to_owned()
}

#[derive(Debug)]
struct NotFound;
impl std::fmt::Display for NotFound {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("no such order")
    }
}

#[staso::tool(tags = ["db", "orders"])]
fn lookup(order: u32) -> Result<u32, NotFound> {
    StasoSpan::current().set_attribute("shard", json!({"region": "eu", "n": 3}));
    if order == 0 {
        Err(NotFound)
    } else {
        Ok(order * 2)
    }
}

#[staso::agent(name = "support-agent")]
fn agent(order: u32) -> String {
    let _ = lookup(order);
    let _ = lookup(0);
    ask("2+2?")
}

/// One run with both exporters: Staso ingest → `a`, OTLP (`protocol`) → `b`. Returns the trace id.
fn run_both(a: &RunningServer, b: &RunningServer, protocol: OtlpProtocol, gzip: bool) -> String {
    let mut otlp = OtlpSettings::new(b.base_url()).protocol(protocol);
    otlp = if gzip {
        otlp.compression(OtlpCompression::Gzip)
            .header("Authorization", format!("Bearer {KEY}"))
    } else {
        otlp.header("X-API-Key", KEY)
    };
    let config = staso::Config::builder()
        .api_key(KEY)
        .agent_name("support-bot")
        .agent_version("1.2.3")
        .environment("staging")
        .base_url(a.base_url())
        .capture_git(false)
        .exporters([staso::staso(), otlp.into()])
        .build()
        .expect("config");
    let client = staso::init(config).expect("init");
    let id = staso::conversation!("conv-1", user_id = "u-7", {
        staso::start_trace("support run", |t| {
            agent(21);
            t.trace_id().expect("recording")
        })
    });
    let report = client.shutdown(Duration::from_secs(15));
    assert!(report.ok(), "{report:?}");
    id.to_string()
}

/// The read API's trace minus what OTLP cannot carry: each span's `capture` (the capture-policy
/// record sent beside Staso spans; OTLP has no field for it).
fn comparable(mut t: Value) -> Value {
    if let Some(spans) = t["spans"].as_array_mut() {
        for s in spans {
            if let Some(m) = s.as_object_mut() {
                m.remove("capture");
            }
        }
    }
    t
}

#[test]
fn staso_sdk_over_otlp_reads_back_as_over_the_staso_ingest() {
    for (protocol, gz) in [
        (OtlpProtocol::HttpProtobuf, true),
        (OtlpProtocol::HttpJson, false),
    ] {
        let a = server();
        let b = server();
        let id = run_both(&a, &b, protocol, gz);
        let via_staso = get(a.base_url(), &format!("/v1/traces/{id}"));
        let via_otlp = get(b.base_url(), &format!("/v1/traces/{id}"));
        assert_eq!(
            tree(&via_staso),
            "support run [chain ok] agent=support-bot model= tokens=0/0/0\n\
             \x20 support-agent [agent ok] agent=support-agent model= tokens=0/0/0\n\
             \x20   lookup [tool ok] agent=support-agent model= tokens=0/0/0\n\
             \x20   lookup [tool error] agent=support-agent model= tokens=0/0/0\n\
             \x20   ask [llm ok] agent=support-agent model=gpt-4o-mini tokens=42/7/49\n",
            "{via_staso:#}"
        );
        let (sa, sb) = (comparable(via_staso), comparable(via_otlp));
        let (spans_a, spans_b) = (
            sa["spans"].as_array().cloned(),
            sb["spans"].as_array().cloned(),
        );
        let (spans_a, spans_b) = (spans_a.unwrap_or_default(), spans_b.unwrap_or_default());
        assert_eq!(spans_a.len(), spans_b.len(), "{protocol:?}");
        for (x, y) in spans_a.iter().zip(&spans_b) {
            let (Some(mx), Some(my)) = (x.as_object(), y.as_object()) else {
                panic!("spans are objects")
            };
            for (k, v) in mx {
                assert_eq!(
                    Some(v),
                    my.get(k),
                    "{protocol:?} span {} field {k}",
                    x["name"]
                );
            }
            assert_eq!(mx.len(), my.len(), "{protocol:?}: {x:#} vs {y:#}");
        }
        assert_eq!(sa, sb, "{protocol:?}");
        let list_a = get(a.base_url(), "/v1/traces");
        let list_b = get(b.base_url(), "/v1/traces");
        assert_eq!(list_a, list_b, "{protocol:?}");
        let conv_a = get(a.base_url(), "/v1/conversations/conv-1");
        assert_eq!(conv_a, get(b.base_url(), "/v1/conversations/conv-1"));
    }
}
