//! Guard evaluate (PROTOCOL.md §6) driven by a policy, escalations (decision 2) over HTTP and CLI.

mod common;

use common::{KEY, Peer};
use serde_json::{Value, json};
use staso_server::Policy;

const POLICY: &str = r#"{
  "mode": "enforce",
  "rules": [
    {"name": "no-rm", "tool": "shell", "action": "block", "severity": "high",
     "when": [{"pointer": "/cmd", "matches": "rm\\s+-rf"}], "reason": "destructive command"},
    {"name": "big-refund", "tool": "refund", "action": "escalate",
     "when": [{"pointer": "/amount", "greater_than": 100}], "reason": "large refund"},
    {"name": "mask-mail", "tool": "send_*", "action": "modify",
     "when": [{"pointer": "/to", "equals": "ceo@example.com"}],
     "patch": [{"op": "replace", "path": "/to", "value": "assistant@example.com"}]},
    {"name": "watch-sql", "tool": "sql", "action": "block", "mode": "audit",
     "when": [{"pointer": "/q", "matches": "(?i)drop"}], "reason": "drop statement"}
  ]
}"#;

fn request(tool: &str, input: Value, decision_id: &str) -> Value {
    // The official SDK's body (§6.2).
    json!({"payload_version": 1, "tool_name": tool, "tool_input": input,
           "context": {"agent_name": "a", "environment": "default", "workspace_id": "default"},
           "decision_id": decision_id, "decision_source": "manual", "failure_mode": "fail_open",
           "capture": {"request": "captured", "system_prompt": "captured", "tool_schema": "captured",
                       "tool_arguments": "captured", "output": "captured"},
           "deadline_ms": 9900})
}

fn peer() -> Peer {
    Peer::start_with(|b| {
        b.api_key(KEY)
            .guard_policy(Policy::from_json(POLICY).unwrap())
    })
}

/// The strict checks of §6.4 that a 0.5.25 client applies to every 2xx body.
fn assert_strictly_valid(resp: &Value, sent: &Value) {
    assert_eq!(resp["decision_id"], sent["decision_id"]);
    assert_eq!(resp["decision_source"], sent["decision_source"]);
    assert_eq!(resp["decision_available"], true);
    assert_eq!(resp["evaluation_status"], "evaluated");
    assert!(
        resp["rules_triggered"]
            .as_array()
            .unwrap()
            .iter()
            .all(Value::is_string)
    );
    for r in resp["results"].as_array().unwrap() {
        assert!(
            ["allow", "block", "audit", "modify", "escalate"]
                .contains(&r["action"].as_str().unwrap())
        );
        assert_eq!(r["evaluation_status"], "evaluated");
        assert!(r["latency_ms"].as_f64().unwrap() >= 0.0);
        assert!(r["violations"].is_array());
    }
}

#[test]
fn policy_actions_allow_block_audit_and_modify() {
    let peer = peer();
    let eval = |tool: &str, input: Value, id: &str| {
        let req = request(tool, input, id);
        let (s, resp) = peer.post("/v1/guard/evaluate", KEY, None, &req);
        assert_eq!(s, 200, "{resp}");
        assert_strictly_valid(&resp, &req);
        resp
    };
    let r = eval(
        "shell",
        json!({"cmd": "ls"}),
        "00000000-0000-4000-8000-000000000001",
    );
    assert_eq!(
        (r["action"].clone(), r["rules_triggered"].clone()),
        (json!("allow"), json!([]))
    );
    let r = eval(
        "shell",
        json!({"cmd": "rm  -rf /"}),
        "00000000-0000-4000-8000-000000000002",
    );
    assert_eq!(
        (
            r["action"].clone(),
            r["rules_triggered"].clone(),
            r["severity"].clone(),
            r["reason"].clone()
        ),
        (
            json!("block"),
            json!(["no-rm"]),
            json!("high"),
            json!("destructive command")
        )
    );
    let r = eval(
        "sql",
        json!({"q": "DROP TABLE x"}),
        "00000000-0000-4000-8000-000000000003",
    );
    assert_eq!(
        (
            r["action"].clone(),
            r["results"][0]["action"].clone(),
            r["rules_triggered"].clone()
        ),
        (json!("allow"), json!("audit"), json!(["watch-sql"]))
    );
    let r = eval(
        "send_mail",
        json!({"to": "ceo@example.com", "body": "hi"}),
        "00000000-0000-4000-8000-000000000004",
    );
    assert_eq!(r["action"], "modify");
    assert_eq!(
        r["modified_input"],
        json!({"to": "assistant@example.com", "body": "hi"})
    );
    assert_eq!(
        r["modifications"],
        json!([{"op": "replace", "path": "/to", "value": "assistant@example.com"}])
    );
    let r = eval(
        "other_tool",
        json!({}),
        "00000000-0000-4000-8000-000000000005",
    );
    assert_eq!(
        (r["action"].clone(), r["results"].clone()),
        (json!("allow"), json!([]))
    );
}

#[test]
fn audit_mode_policy_reports_without_enforcing() {
    let audit = POLICY.replacen("\"enforce\"", "\"audit\"", 1);
    let peer = Peer::start_with(|b| {
        b.api_key(KEY)
            .guard_policy(Policy::from_json(&audit).unwrap())
    });
    let req = request(
        "shell",
        json!({"cmd": "rm -rf /"}),
        "00000000-0000-4000-8000-000000000010",
    );
    let (_, r) = peer.post("/v1/guard/evaluate", KEY, None, &req);
    assert_eq!(
        (r["action"].clone(), r["results"][0]["action"].clone()),
        (json!("allow"), json!("audit"))
    );
}

#[test]
fn decision_ids_are_idempotent_and_conflicts_are_reported() {
    let peer = peer();
    let id = "00000000-0000-4000-8000-000000000020";
    let req = request("shell", json!({"cmd": "rm -rf /"}), id);
    let (_, first) = peer.post("/v1/guard/evaluate", KEY, None, &req);
    let (_, again) = peer.post("/v1/guard/evaluate", KEY, None, &req);
    assert_eq!(first, again);
    let (s, err) = peer.post(
        "/v1/guard/evaluate",
        KEY,
        None,
        &request("shell", json!({"cmd": "ls"}), id),
    );
    assert_eq!(
        (s, err["detail"]["code"].clone()),
        (409, json!("idempotency_conflict"))
    );
    for (bad, field) in [
        (json!({"decision_id": "nope"}), "decision_id"),
        (json!({"decision_source": "robot"}), "decision_source"),
        (json!({"failure_mode": "maybe"}), "failure_mode"),
    ] {
        let mut r = request("shell", json!({}), "00000000-0000-4000-8000-000000000021");
        for (k, v) in bad.as_object().unwrap() {
            r[k] = v.clone();
        }
        let (s, err) = peer.post("/v1/guard/evaluate", KEY, None, &r);
        assert_eq!(s, 400);
        assert!(err["detail"].as_str().unwrap().starts_with(field), "{err}");
    }
    assert_eq!(peer.post("/v1/guard/evaluate", "bad", None, &req).0, 401);
}

#[test]
fn escalation_is_pending_until_a_person_decides_over_http() {
    let peer = peer();
    let req = request(
        "refund",
        json!({"amount": 250}),
        "00000000-0000-4000-8000-000000000030",
    );
    let (_, r) = peer.post("/v1/guard/evaluate", KEY, None, &req);
    assert_eq!(r["action"], "escalate");
    let esc = r["escalation_id"].as_str().unwrap().to_owned();
    let path = format!("/v1/guard/escalations/{esc}");
    assert_eq!(
        peer.get(&path, KEY).1,
        json!({"escalation_id": esc, "status": "pending"})
    );
    let (_, pending) = peer.get("/v1/guard/escalations?status=pending", KEY);
    assert_eq!(
        pending["escalations"][0]["tool_input"],
        json!({"amount": 250})
    );
    let decision =
        json!({"decided_by": "alice", "reason": "ok for VIP", "modified_input": {"amount": 200}});
    let (s, d) = peer.post(&format!("{path}/approve"), KEY, None, &decision);
    assert_eq!(s, 200, "{d}");
    assert_eq!(
        peer.get(&path, KEY).1,
        json!({"escalation_id": esc, "status": "approved",
        "decided_by": "alice", "reason": "ok for VIP", "modified_input": {"amount": 200}})
    );
    assert_eq!(
        peer.post(&format!("{path}/reject"), KEY, None, &json!({}))
            .0,
        409
    );
    assert_eq!(peer.get("/v1/guard/escalations/unknown", KEY).0, 404);
}

#[test]
fn escalation_can_be_rejected_from_the_cli() {
    let peer = peer();
    let req = request(
        "refund",
        json!({"amount": 1000}),
        "00000000-0000-4000-8000-000000000040",
    );
    let (_, r) = peer.post("/v1/guard/evaluate", KEY, None, &req);
    let esc = r["escalation_id"].as_str().unwrap().to_owned();
    let db = peer.db();
    let bin = env!("CARGO_BIN_EXE_staso-server");
    let out = std::process::Command::new(bin)
        .args(["escalations", "--db", db.to_str().unwrap()])
        .output()
        .unwrap();
    let listed = String::from_utf8_lossy(&out.stdout);
    assert!(
        listed.contains(&esc) && listed.contains("pending") && listed.contains("big-refund"),
        "{listed}"
    );
    let out = std::process::Command::new(bin)
        .args([
            "reject",
            &esc,
            "--db",
            db.to_str().unwrap(),
            "--by",
            "bob",
            "--reason",
            "too much",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        peer.get(&format!("/v1/guard/escalations/{esc}"), KEY).1,
        json!({"escalation_id": esc, "status": "rejected", "decided_by": "bob", "reason": "too much"})
    );
}

#[test]
fn invalid_policies_are_refused_with_the_reason() {
    for (text, why) in [
        (
            r#"{"rules": [{"name": "x", "action": "explode"}]}"#,
            "rules[0].action",
        ),
        (r#"{"rules": [{"name": "x", "action": "modify"}]}"#, "patch"),
        (
            r#"{"rules": [{"name": "x", "action": "block", "when": [{"pointer": "/a", "matches": "("}]}]}"#,
            "regex",
        ),
        (
            r#"{"rules": [{"name": "x", "action": "block", "when": [{"pointer": "a", "equals": 1}]}]}"#,
            "pointer",
        ),
    ] {
        let err = Policy::from_json(text).unwrap_err().to_string();
        assert!(err.contains(why), "{err}");
    }
}
