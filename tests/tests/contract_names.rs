//! The public names the issues spell out, used with the shapes the issues give them: this file
//! compiling is the test (programs we do not see are written against exactly these names).
#![allow(dead_code, unused_must_use, clippy::let_underscore_future)]

use std::time::Duration;

use staso::{LlmCall, Span, SpanKind, SpanStatus};

#[staso::trace(kind = SpanKind::Llm)]
fn path_kind() {}

#[staso::agent("positional")]
fn positional() {}

fn issue_13() -> Result<(), staso::Error> {
    let s = Span::current();
    s.record_llm(
        LlmCall::new("m", "p")
            .tokens(1, 2)
            .total_tokens(3)
            .cache_read_tokens(1)
            .cache_creation_tokens(1)
            .reasoning_tokens(1)
            .cost_usd(0.1)
            .temperature(0.2)
            .max_tokens(10)
            .top_p(0.9)
            .prompt(serde_json::json!({"q": 1}))
            .completion("a")
            .streaming(true)
            .finish_reason("stop")
            .time_to_first_token(Duration::from_millis(5))
            .response_id("r")
            .response_model("m2")
            .attribute("k", "v")
            .tags(["t"])
            .status(SpanStatus::Ok),
    );
    s.set_attribute("k", "v");
    s.add_tag("t");
    s.add_tags(["a", "b"]);
    s.set_total_tokens(5);
    s.set_status(SpanStatus::Error, Some("why".to_owned()));
    s.set_status(SpanStatus::Ok, None);
    let _ = s.annotate("score", 1.0, None::<String>);
    let id: staso::TraceId = staso::llm_trace("one", LlmCall::new("m", "p"))?;
    let _wire: String = id.to_string();
    let _v: u32 = staso::start_trace("t", |span| {
        span.add_tag("x");
        1
    });
    let _r: Result<u8, std::io::Error> = staso::try_start_trace("t", |_| Ok(1));
    let name = String::from("dyn");
    staso::span(&name, SpanKind::Chain, |_| {});
    let e = staso::Error::api(Some(404), "GET /x", "missing");
    let _code: Option<u16> = e.status_code();
    match e {
        staso::Error::Configuration(_) | staso::Error::Auth(_) | staso::Error::Api(_) => {}
        _ => {}
    }
    let _status: Result<staso::SetupStatus, staso::Error> = staso::verify_blocking();
    let p: Result<staso::prompts::Prompt, staso::Error> = staso::prompts::blocking::get("g");
    if let Ok(p) = p {
        let _text: &str = p.as_str();
        let _shown = p.to_string();
        let _filled: Result<String, staso::Error> = p.compile([("name", "Ada")]);
        let (_n, _v, _e, _c) = (&p.name, p.version, &p.environment, &p.content);
    }
    let _ = staso::prompts::blocking::get_for("g", "staging");
    let _ = staso::prompts::blocking::create("g", "Hi {{name}}", "production");
    let _v: &str = staso::VERSION;
    let _d: Option<staso::Dataset> = None;
    let _s: Option<staso::EvalSummary> = None;
    let _x: Option<staso::StasoDatasetError> = None;
    let _ = staso::conversation!(user_id = "u", { 1 });
    let id: Option<String> = None;
    let _ = staso::conversation!(id, { 2 });
    let _g = staso::GuardOptions::default();
    Ok(())
}

async fn issue_13_async() {
    let _ = staso::verify().await;
    let _ = staso::prompts::get("g").await;
    let _ = staso::prompts::get_for("g", "production").await;
    let _ = staso::prompts::create("g", "c", "production").await;
    let _ = staso::flush_async(Duration::from_secs(1)).await;
    let _ = staso::shutdown_async(Duration::from_secs(1)).await;
    let _ = staso::start_trace_async("t", async |_s| 1).await;
    let _: Result<u8, String> = staso::try_start_trace_async("t", async |_s| Ok(1)).await;
}

fn issue_14() {
    let _layer = staso::integrations::openai::layer();
    let _client = staso::integrations::openai::client(async_openai::config::OpenAIConfig::new());
    let _mw = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
        .with(staso::integrations::LlmMiddleware::new())
        .build();
}

fn issue_16() {
    use tracing_subscriber::layer::SubscriberExt;
    let _sub = tracing_subscriber::registry().with(staso::tracing::layer());
    let mut headers = http::HeaderMap::new();
    staso::propagation::inject(&mut headers);
    let remote: Option<staso::propagation::RemoteContext> = staso::propagation::extract(&headers);
    if let Some(r) = remote {
        r.in_scope(|| {});
        let _ = r.in_scope_async(async {});
    }
}

fn issue_17() -> Result<(), staso::ConfigError> {
    let _c = staso::Config::builder()
        .api_key("ak_live_123")
        .agent_name("a")
        .sample_rate(0.5)
        .mask(|value: &mut serde_json::Value, ctx: &staso::MaskContext| {
            let _ = (value, ctx);
        })
        .scrub_secrets(true)
        .build_with_env(|_| None)?;
    Ok(())
}

#[test]
fn the_names_exist() {
    // Compiling is the check; run the sync one that needs no client (errors are expected).
    let _ = issue_13();
}
