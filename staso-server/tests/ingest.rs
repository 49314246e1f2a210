//! Ingest (PROTOCOL.md §3) over real HTTP: the official SDK's recorded requests, acks, idempotency,
//! provisional roots, validation and limits.

mod common;

use common::{KEY, Peer, count_traces, group, simple_body, span};
use serde_json::{Value, json};
use staso_server::ApiKey;

fn assert_acked(responses: &[(u16, Value, Value)]) {
    for (status, ack, recorded) in responses {
        let idem = recorded["headers"]
            .as_array()
            .unwrap()
            .iter()
            .find(|h| h[0] == "Idempotency-Key")
            .map(|h| h[1].clone())
            .unwrap();
        let groups = recorded["body"]["traces"].as_array().unwrap().len();
        assert_eq!(*status, 200);
        assert_eq!(
            ack,
            &json!({"accepted": groups, "rejected": 0, "spans_dropped": 0, "receipt_id": idem})
        );
        // The ack passes the SDK's strict rule: integers, not booleans.
        assert!(ack["accepted"].is_u64() && !ack["accepted"].is_boolean());
    }
}

#[test]
fn official_sdk_errors_are_stored_with_status_message_and_exception_type() {
    let peer = Peer::start();
    assert_acked(&peer.replay("error.json"));
    assert_eq!(
        peer.tree("49952ebe-17b8-11c3-a490-0a80a9f43d1c"),
        "trace 49952ebe-17b8-11c3-a490-0a80a9f43d1c (environment default, workspace default) \
         2026-11-23T06:04:55.412042+00:00\n\
         └─ run_agent_caught [agent] 1.63ms ok\n   \
            └─ flaky_lookup [tool] 0.09ms error\n         \
               ! ValueError: lookup failed for 'alpha'\n"
    );
    assert_eq!(
        peer.tree("ee72dd69-e2ca-c0fb-8c56-368c06cac526"),
        "trace ee72dd69-e2ca-c0fb-8c56-368c06cac526 (environment default, workspace default) \
         2026-11-23T06:04:55.413829+00:00\n\
         └─ run_agent_propagates [agent] 0.19ms error\n      \
            ! ValueError: lookup failed for 'beta'\n   \
            └─ flaky_lookup [tool] 0.03ms error\n         \
               ! ValueError: lookup failed for 'beta'\n"
    );
    let (_, list) = peer.get("/v1/traces", KEY);
    let statuses: Vec<_> = list["traces"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["status"].clone())
        .collect();
    assert_eq!(
        statuses,
        vec![json!("error"), json!("error"), json!("error")]
    );
}

#[test]
fn official_sdk_redacted_spans_keep_suppressed_fields_and_capture_map() {
    let peer = Peer::start();
    assert_acked(&peer.replay("redacted.json"));
    let id = "e1baa59f-2e5e-a594-ded7-a62116a4cc7a";
    assert_eq!(
        peer.tree(id),
        format!(
            "trace {id} (environment default, workspace default) 2026-11-23T06:04:56.778559+00:00\n\
             └─ agent span [agent] 4.62ms ok\n   \
                ├─ secret_lookup [tool] 0.01ms ok\n   \
                ├─ add [tool] 4.14ms ok\n   \
                ├─ retriever span [retriever] 0.00ms ok\n   \
                └─ failing_tool [tool] 0.02ms error\n         \
                   ! ValueError\n"
        )
    );
    let (_, trace) = peer.get(&format!("/v1/traces/{id}"), KEY);
    let root = &trace["spans"][0];
    // Every wire field is present, then the read API's own `cost_usd`; embedded JSON comes back
    // as values, "" as null.
    let recorded = &common::golden("redacted.json")["requests"][0]["body"]["traces"][0]["spans"][0];
    let mut wire_keys: Vec<_> = recorded
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    wire_keys.push("cost_usd");
    let read_keys: Vec<_> = root
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(wire_keys, read_keys);
    assert_eq!(root["input"], Value::Null);
    assert_eq!(root["attributes"]["code.function"], "run_agent");
    assert_eq!(root["capture"]["request"], "suppressed");
    assert_eq!(root["capture"]["output"], "captured");
}

#[test]
fn provisional_root_is_superseded_by_final_record() {
    let peer = Peer::start();
    let responses = peer.replay("provisional.json");
    assert_acked(&responses);
    let id = "a89b9efc-4e11-2c53-060b-2861d57b006c";
    assert_eq!(
        peer.tree(id),
        format!(
            "trace {id} (environment default, workspace default) 2026-11-23T06:04:58.077389+00:00\n\
             └─ run_agent [agent] 1200.42ms ok\n   \
                └─ add [tool] 0.03ms ok\n"
        )
    );
    let (_, trace) = peer.get(&format!("/v1/traces/{id}"), KEY);
    assert_eq!(trace["spans"].as_array().unwrap().len(), 2);
    assert!(
        trace["spans"][0]["attributes"]
            .get("staso.provisional_root")
            .is_none()
    );
}

#[test]
fn provisional_root_never_supersedes_a_final_record() {
    let peer = Peer::start();
    let recorded = common::golden("provisional.json");
    let (first, second) = (
        &recorded["requests"][0]["body"],
        &recorded["requests"][1]["body"],
    );
    assert_eq!(peer.ingest("final-first", second).0, 200);
    // The provisional snapshot arrives late (e.g. a retried batch): the final root must stay.
    assert_eq!(peer.ingest("snapshot-late", first).0, 200);
    let (_, list) = peer.get("/v1/traces?agent_name=run_agent", KEY);
    let t = &list["traces"][0];
    assert_eq!(
        (
            t["span_count"].clone(),
            t["duration_ms"].clone(),
            t["status"].clone()
        ),
        (json!(2), json!(1200.42), json!("ok"))
    );
}

#[test]
fn provisional_only_trace_reads_as_running() {
    let peer = Peer::start();
    let recorded = common::golden("provisional.json");
    assert_eq!(peer.ingest("k1", &recorded["requests"][0]["body"]).0, 200);
    let (_, list) = peer.get("/v1/traces?status=running", KEY);
    assert_eq!(list["traces"][0]["root_name"], "run_agent");
}

#[test]
fn retried_batch_with_same_idempotency_key_is_stored_once_and_acked_alike() {
    let peer = Peer::start();
    let responses = peer.replay("retry500.json");
    assert_acked(&responses);
    assert_eq!(responses[0].1, responses[1].1);
    assert_eq!(count_traces(&peer, KEY), 2);
}

#[test]
fn reused_idempotency_key_with_a_different_body_is_409_and_stores_nothing() {
    let peer = Peer::start();
    let first = simple_body(&["t1"], "default");
    let (s, ack) = peer.ingest("k1", &first);
    assert_eq!(s, 200, "{ack}");
    // The same bytes again: a retry, answered with the stored ack.
    assert_eq!(peer.ingest("k1", &first), (200, ack.clone()));
    let (s, err) = peer.ingest("k1", &simple_body(&["t-new"], "default"));
    assert_eq!(s, 409, "{err}");
    assert_eq!(err["error"], "idempotency_conflict");
    let message = err["detail"]["message"].as_str().unwrap();
    assert!(
        message.contains("Idempotency-Key \"k1\"") && message.contains("different request body"),
        "{message}"
    );
    assert_eq!(count_traces(&peer, KEY), 1);
    // The conflict recorded nothing: the first body is still answered with its ack.
    assert_eq!(peer.ingest("k1", &first), (200, ack));
}

#[test]
fn a_workspace_named_star_has_its_own_receipts() {
    let peer = Peer::start_with(|b| {
        b.api_key(KEY)
            .key(ApiKey::scoped("ak_star", ["*"]))
            .key(ApiKey::scoped("ak_ab", ["a,b"]))
            .key(ApiKey::scoped("ak_a_b", ["a", "b"]))
    });
    assert_eq!(
        peer.ingest("k1", &simple_body(&["t-all"], "default")).0,
        200
    );
    // Same key from the key that sees only workspace `*`: a new batch, stored.
    let (s, ack) = peer.post(
        "/v1/traces/ingest",
        "ak_star",
        Some("k1"),
        &simple_body(&["t-star"], "*"),
    );
    assert_eq!(s, 200, "{ack}");
    assert_eq!(ack["accepted"], 1);
    let (s, trace) = peer.get("/v1/traces/t-star", "ak_star");
    assert_eq!(s, 200, "{trace}");
    assert_eq!(trace["workspace_slug"], "*");
    // Nor do the workspace `a,b` and the workspaces `a` and `b` share receipts.
    let (s, _) = peer.post(
        "/v1/traces/ingest",
        "ak_ab",
        Some("k2"),
        &simple_body(&["t-ab"], "a,b"),
    );
    assert_eq!(s, 200);
    let (s, ack) = peer.post(
        "/v1/traces/ingest",
        "ak_a_b",
        Some("k2"),
        &simple_body(&["t-a"], "a"),
    );
    assert_eq!(s, 200, "{ack}");
    assert_eq!(peer.get("/v1/traces/t-a", "ak_a_b").0, 200);
    assert_eq!(count_traces(&peer, KEY), 4);
}

#[test]
fn ingest_requires_a_json_content_type() {
    let peer = Peer::start();
    let body = serde_json::to_vec(&simple_body(&["t1"], "default")).unwrap();
    let send = |content_type: Option<&str>, idem: &str| {
        let mut req = peer
            .http
            .post(peer.url("/v1/traces/ingest"))
            .header("X-API-Key", KEY)
            .header("Idempotency-Key", idem)
            .body(body.clone());
        if let Some(t) = content_type {
            req = req.header("Content-Type", t);
        }
        let resp = req.send().unwrap();
        (
            resp.status().as_u16(),
            resp.json::<Value>().unwrap_or(Value::Null),
        )
    };
    for (i, t) in [
        None,
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
        Some("application/jsonl"),
        Some(""),
    ]
    .into_iter()
    .enumerate()
    {
        let (s, err) = send(t, &format!("bad-{i}"));
        assert_eq!(s, 415, "{t:?}: {err}");
        assert_eq!(err["error"], "unsupported_media_type", "{t:?}");
        assert!(
            err["detail"]
                .as_str()
                .unwrap()
                .contains("must be application/json"),
            "{err}"
        );
    }
    assert_eq!(count_traces(&peer, KEY), 0);
    for (i, t) in [
        "application/json",
        "application/json; charset=utf-8",
        "Application/JSON;charset=UTF-8",
    ]
    .into_iter()
    .enumerate()
    {
        let (s, ack) = send(Some(t), &format!("good-{i}"));
        assert_eq!(s, 200, "{t}: {ack}");
    }
}

#[test]
fn malformed_bodies_are_400_naming_the_field_and_store_nothing() {
    let peer = Peer::start();
    let good = simple_body(&["t1", "t2"], "default");
    let mut bad_kind = good.clone();
    bad_kind["traces"][1]["spans"][0]["kind"] = json!("robot");
    let mut bad_type = good.clone();
    bad_type["traces"][1]["spans"][0]["duration_ms"] = json!("fast");
    let mut missing = good.clone();
    missing["traces"][1]["spans"][0]
        .as_object_mut()
        .unwrap()
        .remove("session_id");
    let mut bad_ts = good.clone();
    bad_ts["traces"][1]["spans"][0]["timestamp"] = json!("yesterday");
    let mut empty_id = good.clone();
    empty_id["traces"][0]["trace_id"] = json!("");
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (
            serde_json::to_vec(&bad_kind).unwrap(),
            "traces[1].spans[0].kind",
        ),
        (
            serde_json::to_vec(&bad_type).unwrap(),
            "traces[1].spans[0].duration_ms",
        ),
        (serde_json::to_vec(&missing).unwrap(), "traces[1].spans[0]"),
        (
            serde_json::to_vec(&bad_ts).unwrap(),
            "traces[1].spans[0].timestamp",
        ),
        (serde_json::to_vec(&empty_id).unwrap(), "traces[0].trace_id"),
        (b"{\"traces\": [".to_vec(), "traces"),
        (b"[]".to_vec(), "body"),
        (b"{\"traces\": []} x".to_vec(), "body"),
        (b"not json".to_vec(), "body"),
        // Invalid UTF-8 inside a string: the fast path checks the whole body, the error still
        // names the field.
        (
            serde_json::to_vec(&good)
                .unwrap()
                .windows(6)
                .position(|w| w == b"\"name\"")
                .map(|at| {
                    let mut body = serde_json::to_vec(&good).unwrap();
                    // The first byte of the first span's name.
                    body[at + 8] = 0xff;
                    body
                })
                .unwrap(),
            "traces[0].spans[0].name",
        ),
    ];
    for (i, (body, field)) in cases.into_iter().enumerate() {
        let (status, err) =
            peer.post_raw("/v1/traces/ingest", KEY, Some(&format!("bad-{i}")), body);
        assert_eq!(status, 400, "case {i}: {err}");
        let detail = err["detail"].as_str().unwrap();
        assert!(
            detail.starts_with(field),
            "case {i}: {detail:?} should name {field}"
        );
    }
    assert_eq!(count_traces(&peer, KEY), 0);
    // A rejected key can be reused once the body is fixed (nothing was recorded under it).
    assert_eq!(peer.ingest("bad-0", &good).0, 200);
    assert_eq!(count_traces(&peer, KEY), 2);
}

#[test]
fn wrong_or_missing_key_is_401_without_detail() {
    let peer = Peer::start();
    let body = serde_json::to_vec(&simple_body(&["t1"], "default")).unwrap();
    let (s, err) = peer.post_raw("/v1/traces/ingest", "ak_wrong", Some("k"), body.clone());
    assert_eq!((s, err), (401, json!({"error": "invalid_key"})));
    let resp = peer
        .http
        .post(peer.url("/v1/traces/ingest"))
        .body(body)
        .send()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 401);
    assert_eq!(peer.get("/v1/traces", "nope").0, 401);
    assert_eq!(count_traces(&peer, KEY), 0);
}

#[test]
fn oversized_and_deeply_nested_bodies_are_refused() {
    let peer = Peer::start_with(|b| b.api_key(KEY).max_body_bytes(4096).max_json_depth(16));
    let mut big = simple_body(&["t1"], "default");
    big["traces"][0]["spans"][0]["input"] = json!("x".repeat(10_000));
    let (s, err) = peer.ingest("big", &big);
    assert_eq!(s, 413, "{err}");
    let deep = format!("{}{}", "[".repeat(100), "]".repeat(100));
    let (s, err) = peer.post_raw("/v1/traces/ingest", KEY, Some("deep"), deep.into_bytes());
    assert_eq!(s, 400);
    assert!(err["detail"].as_str().unwrap().contains("deeper than 16"));
    assert_eq!(count_traces(&peer, KEY), 0);
}

/// A key the request's types do not name is ignored, but its value still counts for the depth
/// limit: nested past it, the body is refused as any too deep body; under it, stored.
#[test]
fn unknown_keys_are_ignored_but_their_nesting_counts() {
    let peer = Peer::start_with(|b| b.api_key(KEY).max_json_depth(16));
    let nested = |levels: usize| {
        let mut body = simple_body(&["t1"], "default");
        let value: Value =
            serde_json::from_str(&format!("{}{}", "[".repeat(levels), "]".repeat(levels))).unwrap();
        body["traces"][0]["spans"][0]["x_extra"] = value;
        body
    };
    let (s, err) = peer.ingest("deep", &nested(12));
    assert_eq!(s, 400, "{err}");
    assert!(err["detail"].as_str().unwrap().contains("deeper than 16"));
    assert_eq!(count_traces(&peer, KEY), 0);
    let (s, err) = peer.ingest("shallow", &nested(11));
    assert_eq!(s, 200, "{err}");
    assert_eq!(count_traces(&peer, KEY), 1);
}

#[test]
fn spans_of_one_trace_arriving_in_separate_batches_form_one_tree() {
    let peer = Peer::start();
    let ts = "2026-02-01T10:00:00.000000+00:00";
    let child = span(
        "00000000-0000-0000-0000-00000000000c",
        Some("00000000-0000-0000-0000-00000000000r"),
        "tool_call",
        "tool",
        "2026-02-01T10:00:00.500000+00:00",
    );
    let root = span(
        "00000000-0000-0000-0000-00000000000r",
        None,
        "agent_run",
        "agent",
        ts,
    );
    assert_eq!(
        peer.ingest(
            "a",
            &json!({"traces": [group("t-split", "default", vec![child])]})
        )
        .0,
        200
    );
    assert_eq!(
        peer.ingest(
            "b",
            &json!({"traces": [group("t-split", "default", vec![root])]})
        )
        .0,
        200
    );
    assert_eq!(
        peer.tree("t-split"),
        "trace t-split (environment test, workspace default) 2026-02-01T10:00:00.000000+00:00\n\
         └─ agent_run [agent] 1.50ms ok\n   \
            └─ tool_call [tool] 1.50ms ok\n"
    );
}
