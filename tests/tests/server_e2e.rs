//! End to end with the project's own server: the SDK's real transport → staso-server (SQLite) →
//! the server's HTTP read API. Checks the stored span tree, conversation grouping, capture opt-outs
//! and errors as a person reading the trace would see them.

use std::time::Duration;

use serde_json::Value;

const KEY: &str = "ak_e2e";

#[derive(Debug)]
struct Declined(u64);

impl std::fmt::Display for Declined {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "refund for order {} declined", self.0)
    }
}

#[staso::tool(capture_input = false)]
fn charge_card(card_number: &str, cents: u64) -> Result<String, Declined> {
    Ok(format!("{}:{cents}", &card_number[card_number.len() - 4..]))
}

#[staso::tool]
fn refund(order: u64) -> Result<String, Declined> {
    Err(Declined(order))
}

#[staso::trace(kind = "retriever", tags = ["rag"])]
fn retrieve(q: &str) -> Vec<String> {
    vec![q.to_uppercase()]
}

#[staso::agent(name = "support-agent")]
fn answer(q: &str, order: u64) -> String {
    let docs = retrieve(q);
    let charged = charge_card("4242424242424242", 500).unwrap_or_default();
    let refunded = refund(order).unwrap_or_else(|e| e.to_string());
    format!("{} / {charged} / {refunded}", docs.len())
}

fn get(base: &str, path: &str) -> Value {
    reqwest::blocking::Client::new()
        .get(format!("{base}{path}"))
        .header("X-API-Key", KEY)
        .send()
        .and_then(|r| r.error_for_status())
        .and_then(|r| r.json())
        .unwrap_or_else(|e| panic!("GET {path}: {e}"))
}

#[test]
fn sdk_to_server_to_read_api() {
    let server = staso_server::Server::builder()
        .api_key(KEY)
        .start()
        .expect("server starts");
    let config = staso::Config::builder()
        .api_key(KEY)
        .agent_name("support-bot")
        .base_url(server.base_url())
        .capture_git(false)
        .build()
        .expect("config");
    let client = staso::init(config).expect("init");
    staso::conversation!("conv-e2e", user_id = "user-alice", {
        answer("refund policy", 7);
        answer("shipping", 8);
    });
    let report = client.shutdown(Duration::from_secs(10));
    assert!(report.ok(), "{report:?}");
    assert_eq!(
        report.accepted,
        2 * (4 + 1),
        "4 spans per run plus one provisional root each"
    );

    let base = server.base_url().to_owned();
    let conv = get(&base, "/v1/conversations/conv-e2e");
    let traces = conv["traces"].as_array().cloned().unwrap_or_default();
    assert_eq!(traces.len(), 2, "{conv}");
    for t in &traces {
        assert_eq!(t["session_id"], "conv-e2e");
        assert_eq!(t["agent_name"], "support-agent");
        assert_eq!(t["root_name"], "support-agent");
        assert_eq!(t["span_count"], 4);
    }
    let id = traces[0]["trace_id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let trace = get(&base, &format!("/v1/traces/{id}"));
    let spans = trace["spans"].as_array().cloned().unwrap_or_default();
    let by_name = |n: &str| -> Value {
        spans
            .iter()
            .find(|s| s["name"] == n)
            .cloned()
            .unwrap_or_else(|| panic!("no {n} in {trace}"))
    };
    let root = by_name("support-agent");
    assert_eq!(root["parent_span_id"], Value::Null);
    assert_eq!(root["kind"], "agent");
    assert_eq!(root["user_id"], "user-alice");
    assert_eq!(
        root["input"]["q"], "refund policy",
        "input/output are parsed back to JSON"
    );
    for child in ["retrieve", "charge_card", "refund"] {
        let c = by_name(child);
        assert_eq!(c["parent_span_id"], root["span_id"], "{child}");
        assert_eq!(c["agent_name"], "support-agent");
    }
    assert_eq!(by_name("retrieve")["kind"], "retriever");
    let charge = by_name("charge_card");
    assert_eq!(
        charge["input"],
        Value::Null,
        "capture_input = false: nothing stored"
    );
    assert_eq!(charge["output"]["result"], "4242:500");
    let failed = by_name("refund");
    assert_eq!(failed["status"], "error");
    assert_eq!(failed["error_message"], "refund for order 7 declined");
    assert_eq!(failed["attributes"]["exception.type"], "Declined");
    server.shutdown();
}
