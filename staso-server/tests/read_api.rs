//! The read API: filters, pagination, conversations, workspace isolation and restart persistence.

mod common;

use common::{KEY, Peer, count_traces, group, simple_body, span};
use serde_json::json;
use staso_server::{ApiKey, Server};

fn ids(v: &serde_json::Value) -> Vec<String> {
    v["traces"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["trace_id"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn list_is_newest_first_filtered_and_paginated() {
    let peer = Peer::start();
    let names: Vec<String> = (0..7).map(|i| format!("t{i}")).collect();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    assert_eq!(peer.ingest("k", &simple_body(&refs, "default")).0, 200);
    let mut seen = Vec::new();
    let mut url = "/v1/traces?limit=3".to_owned();
    loop {
        let (s, page) = peer.get(&url, KEY);
        assert_eq!(s, 200, "{page}");
        seen.extend(ids(&page));
        match page["next_cursor"].as_str() {
            Some(c) => url = format!("/v1/traces?limit=3&cursor={c}"),
            None => break,
        }
    }
    assert_eq!(seen, vec!["t6", "t5", "t4", "t3", "t2", "t1", "t0"]);
    let (_, since) = peer.get("/v1/traces?since=2026-01-01T00:00:05Z", KEY);
    assert_eq!(ids(&since), vec!["t6", "t5"]);
    let (_, until) = peer.get("/v1/traces?until=2026-01-01T00:00:01%2B00:00", KEY);
    assert_eq!(ids(&until), vec!["t1", "t0"]);
    for q in [
        "agent_name=agent",
        "environment=test",
        "workspace_slug=default",
        "session_id=s1",
        "status=ok",
    ] {
        assert_eq!(
            ids(&peer.get(&format!("/v1/traces?{q}"), KEY).1).len(),
            7,
            "{q}"
        );
    }
    for q in ["agent_name=other", "environment=prod", "status=error"] {
        assert!(
            ids(&peer.get(&format!("/v1/traces?{q}"), KEY).1).is_empty(),
            "{q}"
        );
    }
    let (_, one) = peer.get("/v1/traces?limit=1", KEY);
    let t = &one["traces"][0];
    let keys: Vec<_> = t.as_object().unwrap().keys().cloned().collect();
    assert_eq!(
        keys,
        [
            "trace_id",
            "timestamp",
            "environment",
            "workspace_slug",
            "root_name",
            "agent_name",
            "session_id",
            "span_count",
            "duration_ms",
            "status",
            "total_tokens",
            "cost_usd"
        ]
    );
    // Priced at read time; this trace has no tokens, so no cost.
    assert_eq!(
        (&t["total_tokens"], &t["cost_usd"]),
        (&json!(0), &json!(null))
    );
    assert_eq!(peer.get("/v1/traces?limit=0", KEY).0, 400);
    assert_eq!(peer.get("/v1/traces?since=soon", KEY).0, 400);
    assert_eq!(peer.get("/v1/traces?cursor=zzz", KEY).0, 400);
    assert_eq!(peer.get("/v1/traces/nope", KEY).0, 404);
}

#[test]
fn conversation_lists_its_traces_in_time_order() {
    let peer = Peer::start();
    peer.replay("retry500.json");
    peer.replay("provisional.json");
    let (s, conv) = peer.get("/v1/conversations/conv-1", KEY);
    assert_eq!(s, 200);
    assert_eq!(conv["session_id"], "conv-1");
    assert_eq!(
        ids(&conv),
        vec![
            "a89b9efc-4e11-2c53-060b-2861d57b006c",
            "af6abe35-df92-037f-f288-b64be748639e"
        ]
    );
    assert_eq!(peer.get("/v1/conversations/none", KEY).0, 404);
}

#[test]
fn keys_see_only_their_workspaces() {
    let peer = Peer::start_with(|b| {
        b.key(ApiKey::parse("ak_a:team-a").unwrap())
            .key(ApiKey::parse("ak_b:team-b,shared").unwrap())
            .key(ApiKey::parse("ak_admin").unwrap())
    });
    let post = |key: &str, idem: &str, ids: &[&str], ws: &str| {
        peer.post("/v1/traces/ingest", key, Some(idem), &simple_body(ids, ws))
            .0
    };
    assert_eq!(post("ak_a", "1", &["ta"], "team-a"), 200);
    assert_eq!(post("ak_b", "2", &["tb"], "team-b"), 200);
    assert_eq!(post("ak_b", "3", &["ts"], "shared"), 200);
    // Writing outside the scope is refused whole.
    let mixed = json!({"traces": [simple_body(&["x1"], "team-a")["traces"][0], simple_body(&["x2"], "team-b")["traces"][0]]});
    let (s, err) = peer.post("/v1/traces/ingest", "ak_a", Some("4"), &mixed);
    assert_eq!(s, 403, "{err}");
    assert_eq!(ids(&peer.get("/v1/traces", "ak_a").1), vec!["ta"]);
    assert_eq!(count_traces(&peer, "ak_b"), 2);
    assert_eq!(count_traces(&peer, "ak_admin"), 3);
    assert_eq!(peer.get("/v1/traces/tb", "ak_a").0, 404);
    assert_eq!(peer.get("/v1/traces/tb", "ak_b").0, 200);
    assert!(ids(&peer.get("/v1/traces?workspace_slug=team-b", "ak_a").1).is_empty());
    // Same trace id in two workspaces: two traces, neither clobbers the other.
    let root = span(
        "00000000-0000-0000-0000-0000000000aa",
        None,
        "other",
        "chain",
        "2026-03-01T00:00:00+00:00",
    );
    let body = json!({"traces": [group("ta", "team-b", vec![root])]});
    assert_eq!(
        peer.post("/v1/traces/ingest", "ak_b", Some("5"), &body).0,
        200
    );
    assert_eq!(
        peer.get("/v1/traces/ta", "ak_a").1["spans"][0]["name"],
        "root"
    );
    assert_eq!(
        peer.get("/v1/traces/ta", "ak_b").1["spans"][0]["name"],
        "other"
    );
}

#[test]
fn data_and_receipts_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("staso.db");
    let start = || Server::builder().db_path(&db).api_key(KEY).start().unwrap();
    let server = start();
    let http = reqwest::blocking::Client::new();
    let ingest = |base: &str, idem: &str| {
        http.post(format!("{base}/v1/traces/ingest"))
            .header("X-API-Key", KEY)
            .header("Idempotency-Key", idem)
            .json(&simple_body(&["t1", "t2"], "default"))
            .send()
            .unwrap()
            .json::<serde_json::Value>()
            .unwrap()
    };
    let ack = ingest(server.base_url(), "same");
    server.shutdown();
    let server = start();
    assert_eq!(ingest(server.base_url(), "same"), ack);
    let list: serde_json::Value = http
        .get(format!("{}/v1/traces", server.base_url()))
        .header("X-API-Key", KEY)
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(ids(&list), vec!["t2", "t1"]);
}

#[test]
fn dev_key_is_generated_once_and_kept_in_the_database() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("staso.db");
    let first = Server::builder().db_path(&db).start().unwrap();
    let key = first.dev_key().unwrap().to_owned();
    assert!(key.starts_with("ak_dev_"));
    first.shutdown();
    let second = Server::builder().db_path(&db).start().unwrap();
    assert_eq!(second.dev_key(), Some(key.as_str()));
    let s = reqwest::blocking::Client::new()
        .get(format!("{}/v1/traces", second.base_url()))
        .header("X-API-Key", &key)
        .send()
        .unwrap()
        .status();
    assert_eq!(s.as_u16(), 200);
}
