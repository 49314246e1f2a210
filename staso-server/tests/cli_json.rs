//! The CLI's read commands with costs and `--json`: `traces` and `show` print models, tokens and
//! costs (a span's own `cost_usd` kept, others priced by the built-in table or `--prices`), and
//! every read command's `--json` is the read API's shape.

mod common;

use std::process::Command;

use common::{Peer, group, span};
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_staso-server");

fn run(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(BIN).args(args).output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn json_of(args: &[&str]) -> Value {
    let (ok, out, err) = run(args);
    assert!(ok, "{args:?}: {err}");
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{args:?}: {e}: {out}"))
}

fn llm(id: &str, model: &str, provider: &str, tokens: (u64, u64), attrs: Value) -> Value {
    let mut s = span(
        id,
        Some("root"),
        id,
        "llm",
        "2026-01-01T00:00:00.100000+00:00",
    );
    s["model"] = json!(model);
    s["provider"] = json!(provider);
    s["input_tokens"] = json!(tokens.0);
    s["output_tokens"] = json!(tokens.1);
    s["total_tokens"] = json!(tokens.0 + tokens.1);
    s["attributes"] = json!(attrs.to_string());
    s
}

/// A trace with a root agent span, an OpenAI call without a cost (400 of its 1,000 input tokens
/// cached) and an Anthropic call carrying its own cost.
fn ingest(peer: &Peer) {
    let spans = vec![
        span(
            "root",
            None,
            "support run",
            "agent",
            "2026-01-01T00:00:00+00:00",
        ),
        llm(
            "plan",
            "gpt-4o-2024-08-06",
            "openai",
            (1_000, 500),
            json!({"cached_input_tokens": 400}),
        ),
        llm(
            "reply",
            "claude-haiku-4-5",
            "anthropic",
            (100, 50),
            json!({"cost_usd": 0.01}),
        ),
    ];
    let (status, ack) = peer.ingest(
        "cli-costs",
        &json!({"traces": [group("t-llm", "default", spans)]}),
    );
    assert_eq!(status, 200, "{ack}");
}

/// gpt-4o: 2.50 input, 1.25 cached input, 10.00 output per million tokens (built-in table).
const PLAN_USD: f64 = (600.0 * 2.5 + 400.0 * 1.25 + 500.0 * 10.0) / 1e6;

fn close(v: &Value, want: f64) -> bool {
    v.as_f64().is_some_and(|x| (x - want).abs() < 1e-12)
}

#[test]
fn traces_and_show_print_models_tokens_and_costs() {
    let peer = Peer::start();
    ingest(&peer);
    let db = peer.db();
    let db = db.to_str().unwrap();

    let (ok, out, err) = run(&["traces", "--db", db]);
    assert!(ok, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2, "{out}");
    assert!(
        lines[0].contains("TOKENS") && lines[0].contains("COST") && lines[0].contains("MODELS")
    );
    assert!(
        lines[1].contains(" 1650 ")
            && lines[1].contains(" $0.017 ")
            && lines[1].ends_with("gpt-4o-2024-08-06,claude-haiku-4-5"),
        "{out}"
    );

    let list = json_of(&["traces", "--db", db, "--json"]);
    let t = &list["traces"][0];
    assert_eq!(t["trace_id"], "t-llm");
    assert_eq!(t["total_tokens"], 1650);
    assert!(close(&t["cost_usd"], PLAN_USD + 0.01), "{t}");
    assert_eq!(
        t["models"],
        json!(["gpt-4o-2024-08-06", "claude-haiku-4-5"])
    );
    assert_eq!(list["next_cursor"], Value::Null);

    let (ok, out, err) = run(&["show", "t-llm", "--db", db]);
    assert!(ok, "{err}");
    assert_eq!(
        out,
        "trace t-llm (environment test, workspace default) 2026-01-01T00:00:00+00:00 · cost $0.017\n\
         └─ support run [agent] 1.50ms ok\n   \
            ├─ plan [llm] 1.50ms ok · gpt-4o-2024-08-06 1000/500/1500 tok $0.007\n   \
            └─ reply [llm] 1.50ms ok · claude-haiku-4-5 100/50/150 tok $0.01\n"
    );
    let trace = json_of(&["show", "t-llm", "--db", db, "--json"]);
    let spans = trace["spans"].as_array().unwrap();
    let cost = |name: &str| spans.iter().find(|s| s["name"] == name).unwrap()["cost_usd"].clone();
    assert!(close(&cost("plan"), PLAN_USD));
    assert_eq!(cost("reply"), json!(0.01));
    assert_eq!(cost("support run"), Value::Null);
    assert!(close(&trace["cost_usd"], PLAN_USD + 0.01));
}

#[test]
fn prices_flag_replaces_the_table_and_bad_files_name_the_field() {
    let peer = Peer::start();
    ingest(&peer);
    let db = peer.db();
    let db = db.to_str().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let prices = dir.path().join("prices.json");
    std::fs::write(
        &prices,
        r#"{"as_of": "2026-01-01", "sources": ["test"],
            "models": {"gpt-4o": {"input": 1, "cached_input": 1, "output": 1}}}"#,
    )
    .unwrap();
    let p = prices.to_str().unwrap();
    let list = json_of(&["traces", "--db", db, "--json", "--prices", p]);
    // 1,500 tokens at $1 per million, plus the span's own $0.01.
    assert!(
        close(&list["traces"][0]["cost_usd"], 0.0015 + 0.01),
        "{list}"
    );
    let trace = json_of(&["show", "t-llm", "--db", db, "--json", "--prices", p]);
    assert!(close(&trace["cost_usd"], 0.0115));

    std::fs::write(
        &prices,
        r#"{"as_of": "x", "models": {"m": {"input": "cheap", "output": 1}}}"#,
    )
    .unwrap();
    let (ok, _, err) = run(&["traces", "--db", db, "--prices", p]);
    assert!(
        !ok && err.contains("models.m.input") && err.contains(p),
        "{err}"
    );
}

#[test]
fn every_read_command_has_json() {
    let peer = Peer::start();
    let db = peer.db();
    let db = db.to_str().unwrap();
    assert_eq!(
        json_of(&["escalations", "--db", db, "--status", "all", "--json"]),
        json!({"escalations": []})
    );
    let set = json_of(&[
        "prompts",
        "set",
        "greet",
        "--content",
        "Hi {{name}}",
        "--db",
        db,
        "--json",
    ]);
    assert_eq!(
        (&set["name"], &set["version"]),
        (&json!("greet"), &json!(1))
    );
    let got = json_of(&["prompts", "get", "greet", "--db", db, "--json"]);
    assert_eq!(
        (&got["content"], &got["environment"]),
        (&json!("Hi {{name}}"), &json!("production"))
    );
    let list = json_of(&["prompts", "list", "--db", db, "--json"]);
    assert_eq!(
        list,
        json!({"prompts": [{"name": "greet", "latest_version": 1, "labels": {"production": 1}}]})
    );
    let (ok, out, err) = run(&["traces", "--db", db, "--json"]);
    assert!(ok, "{err}");
    assert_eq!(
        serde_json::from_str::<Value>(&out).unwrap(),
        json!({"traces": [], "next_cursor": null})
    );
}
