//! Capture opt-outs: `capture_input`, `capture_output`, `skip(…)`, and the client's capture policy
//! (suppressed categories, metadata allow-list, name rewrite, the `capture` map).

mod common;

use common::{attrs, builder, json, setup, setup_with};
use serde::Serialize;
use serde_json::json as j;
use staso::wire::CaptureState;

#[staso::tool(capture_input = false)]
fn charge_card(card_number: &str, amount_cents: u64) -> Result<String, String> {
    Ok(format!(
        "{}:{amount_cents}",
        &card_number[card_number.len() - 4..]
    ))
}

#[staso::tool(skip(api_token))]
fn search_docs(query: &str, api_token: &str, k: usize) -> Vec<String> {
    let _ = api_token;
    vec![query.to_owned(); k]
}

#[staso::trace(capture_output = false)]
fn no_output(n: u32) -> u32 {
    n
}

#[test]
fn decorator_opt_outs() {
    let h = setup();
    charge_card("4242424242424242", 500).ok();
    search_docs("refunds", "sk-secret", 1);
    no_output(3);
    let c = h.by_name("charge_card");
    assert_eq!(c.span.input, "");
    assert_eq!(json(&c.span.output), j!({"result": "4242:500"}));
    let s = h.by_name("search_docs");
    assert_eq!(json(&s.span.input), j!({"query": "refunds", "k": 1}));
    assert!(!s.span.input.contains("sk-secret"));
    let n = h.by_name("no_output");
    assert_eq!(n.span.output, "");
    assert_eq!(json(&n.span.input), j!({"n": 3}));
}

struct Expensive;
impl Serialize for Expensive {
    fn serialize<S: serde::Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
        panic!("must not be serialized when the category is off")
    }
}

#[staso::trace(metadata = { "user_meta": 1 }, tags = ["t"])]
fn with_meta(x: &Expensive) -> u8 {
    let _ = x;
    1
}

#[staso::agent]
fn secret_agent(prompt: &str) -> String {
    prompt.to_owned()
}

#[test]
fn request_off_rewrites_names_and_keeps_only_operational_metadata() {
    let h = setup_with(builder().capture_request(false));
    with_meta(&Expensive);
    secret_agent("hello");
    charge_card("1234", 1).ok();
    staso::span("manual", staso::SpanKind::Retriever, |s| {
        s.set_metadata("k", 1);
        s.set_metadata("provider", "openai");
        s.set_input(j!({"q": "x"}));
    });
    let m = h.by_name("chain span");
    assert_eq!(m.span.input, "", "request off: no input");
    let a = attrs(&m);
    assert!(
        a.get("user_meta").is_none() && a.get("tags").is_none(),
        "{a}"
    );
    assert_eq!(a["code.function"], "with_meta");
    let agent = h.by_name("agent span");
    assert_eq!(agent.span.input, "");
    assert_eq!(
        json(&agent.span.output),
        j!({"result": "hello"}),
        "output category still on"
    );
    let tool = h.by_name("charge_card");
    assert_eq!(tool.span.name, "charge_card", "tool names are kept");
    let r = h.by_name("retriever span");
    assert_eq!(attrs(&r), j!({"provider": "openai"}));
    assert_eq!(r.span.provider, "openai");
    assert_eq!(r.span.input, "");
    let cap = r.span.capture.clone().expect("capture map");
    assert_eq!(cap.request, CaptureState::Suppressed);
    assert_eq!(cap.output, CaptureState::Captured);
    assert_eq!(r.span.error_message, None);
}

#[test]
fn tool_arguments_off_hides_tool_input_only() {
    let h = setup_with(builder().capture_tool_arguments(false));
    search_docs("q", "t", 1);
    secret_agent("p");
    assert_eq!(h.by_name("search_docs").span.input, "");
    assert_eq!(
        json(&h.by_name("secret_agent").span.input),
        j!({"agent_name": "secret_agent", "prompt": "p"})
    );
}

#[test]
fn output_off_hides_outputs() {
    let h = setup_with(builder().capture_output(false));
    secret_agent("p");
    staso::span("m", staso::SpanKind::Chain, |s| s.set_output("x"));
    assert_eq!(h.by_name("secret_agent").span.output, "");
    assert_eq!(h.by_name("m").span.output, "");
}

#[test]
fn llm_input_needs_every_category() {
    let h = setup_with(builder().capture_system_prompt(false));
    staso::span("call", staso::SpanKind::Llm, |s| {
        s.set_input(j!({"messages": ["hi"]}));
        s.set_model("gpt-x");
    });
    let s = h.by_name("call");
    assert_eq!(s.span.input, "");
    assert_eq!(s.span.usage_available, Some(false), "llm default");
    assert_eq!(
        (s.span.model.as_str(), s.span.requested_model.as_str()),
        ("gpt-x", "gpt-x")
    );
}

#[derive(Debug)]
struct DebugOnly {
    id: u8,
}

#[staso::tool]
fn mixed(d: &DebugOnly, bytes: &[u8], nan: f64, opt: Option<&str>) -> (u8, usize) {
    (d.id, bytes.len())
}

#[test]
fn values_serialize_debug_or_placeholder() {
    let h = setup();
    mixed(&DebugOnly { id: 4 }, b"zz", f64::NAN, None);
    let s = h.by_name("mixed");
    assert_eq!(
        json(&s.span.input),
        j!({"d": "DebugOnly { id: 4 }", "bytes": [122, 122], "nan": null, "opt": null})
    );
    assert_eq!(json(&s.span.output), j!({"result": [4, 2]}));
}

#[staso::tool]
fn odd_names(r#type: &str, café: u8, _under: u8) -> u8 {
    café + r#type.len() as u8
}

#[test]
fn argument_keys_are_the_names_as_written() {
    // Raw identifiers lose `r#`; non-ASCII identifiers stay as they are (valid JSON unescaped).
    let h = setup();
    odd_names("kind", 1, 2);
    let s = h.by_name("odd_names");
    assert_eq!(s.span.input, r#"{"type":"kind","café":1,"_under":2}"#);
    assert_eq!(s.span.output, r#"{"result":5}"#);
}

#[test]
fn capture_map_is_on_every_span_in_canonical_order() {
    let h = setup();
    no_output(1);
    let full = serde_json::to_string(&h.by_name("no_output").span).unwrap_or_default();
    let raw = &full[full.find("\"capture\":").unwrap_or(0)..];
    let idx: Vec<_> = [
        "\"request\"",
        "\"system_prompt\"",
        "\"tool_schema\"",
        "\"tool_arguments\"",
        "\"output\"",
    ]
    .iter()
    .map(|k| raw.find(k).unwrap_or(usize::MAX))
    .collect();
    assert!(idx.windows(2).all(|w| w[0] < w[1]), "{raw}");
}
