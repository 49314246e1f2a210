//! Annotations (PROTOCOL.md §5): the SDK's body, validation, read-back and workspace scoping.

mod common;

use common::{KEY, Peer, simple_body};
use serde_json::json;
use staso_server::ApiKey;

#[test]
fn annotations_are_stored_and_listed_per_trace() {
    let peer = Peer::start();
    peer.replay("provisional.json");
    let tid = "a89b9efc-4e11-2c53-060b-2861d57b006c";
    let path = format!("/v1/traces/{tid}/annotations");
    // Exactly the SDK's body shapes: span_id and comment only when truthy.
    let (s, a) = peer.post(
        &path,
        KEY,
        None,
        &json!({"name": "quality", "value": 0.9, "data_type": "numeric"}),
    );
    assert_eq!(s, 201, "{a}");
    assert_eq!(a["trace_id"], tid);
    let body = json!({"name": "ok", "value": true, "data_type": "boolean",
                      "span_id": "00000000-0000-0000-3b4e-c55954f62643", "comment": "checked"});
    assert_eq!(peer.post(&path, KEY, None, &body).0, 201);
    assert_eq!(
        peer.post(
            &path,
            KEY,
            None,
            &json!({"name": "x", "value": [1], "data_type": "NUMERIC"})
        )
        .0,
        201
    );
    let (s, list) = peer.get(&path, KEY);
    assert_eq!(s, 200);
    let got: Vec<_> = list["annotations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["name"].clone(),
                a["value"].clone(),
                a["span_id"].clone(),
                a["comment"].clone(),
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            (json!("quality"), json!(0.9), json!(null), json!(null)),
            (
                json!("ok"),
                json!(true),
                json!("00000000-0000-0000-3b4e-c55954f62643"),
                json!("checked")
            ),
            (json!("x"), json!([1]), json!(null), json!(null)),
        ]
    );
}

#[test]
fn invalid_annotations_are_400() {
    let peer = Peer::start();
    let path = "/v1/traces/t1/annotations";
    for (body, field) in [
        (json!({"name": "", "value": 1}), "name"),
        (
            json!({"name": "n", "value": "high", "data_type": "numeric"}),
            "value",
        ),
        (
            json!({"name": "n", "value": 1, "data_type": "boolean"}),
            "value",
        ),
        (
            json!({"name": "n", "value": 1, "data_type": "categorical"}),
            "value",
        ),
        (json!({"value": 1}), "body"),
    ] {
        let (s, err) = peer.post(path, KEY, None, &body);
        assert_eq!(s, 400, "{body}");
        assert!(err["detail"].as_str().unwrap().starts_with(field), "{err}");
    }
    assert_eq!(peer.get(path, KEY).1["annotations"], json!([]));
    assert_eq!(
        peer.post(path, "wrong", None, &json!({"name": "n", "value": 1}))
            .0,
        401
    );
}

#[test]
fn annotations_follow_their_trace_workspace() {
    let peer = Peer::start_with(|b| {
        b.key(ApiKey::parse("ak_a:a").unwrap())
            .key(ApiKey::parse("ak_b:b").unwrap())
    });
    assert_eq!(
        peer.post(
            "/v1/traces/ingest",
            "ak_a",
            Some("1"),
            &simple_body(&["ta"], "a")
        )
        .0,
        200
    );
    assert_eq!(
        peer.post(
            "/v1/traces/ta/annotations",
            "ak_a",
            None,
            &json!({"name": "n", "value": 1})
        )
        .0,
        201
    );
    assert_eq!(
        peer.get("/v1/traces/ta/annotations", "ak_a").1["annotations"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        peer.get("/v1/traces/ta/annotations", "ak_b").1["annotations"],
        json!([])
    );
}

#[test]
fn annotating_a_trace_or_span_of_another_workspace_is_404() {
    let peer = Peer::start_with(|b| {
        b.api_key(KEY)
            .key(ApiKey::parse("ak_a:a").unwrap())
            .key(ApiKey::parse("ak_b:b").unwrap())
    });
    let (s, _) = peer.post(
        "/v1/traces/ingest",
        "ak_a",
        Some("1"),
        &simple_body(&["ta"], "a"),
    );
    assert_eq!(s, 200);
    let span_id = "00000000-0000-0000-0000-000000000001";
    let note = json!({"name": "n", "value": 1});
    let on_span = json!({"name": "n", "value": 1, "span_id": span_id});
    for body in [&note, &on_span] {
        let (s, err) = peer.post("/v1/traces/ta/annotations", "ak_b", None, body);
        assert_eq!(s, 404, "{body}: {err}");
        assert_eq!(err["error"], "not_found");
        // As a read of that trace answers.
        assert_eq!(peer.get("/v1/traces/ta", "ak_b").0, 404);
    }
    // Nothing was filed, in either workspace.
    for key in [KEY, "ak_a", "ak_b"] {
        assert_eq!(
            peer.get("/v1/traces/ta/annotations", key).1["annotations"],
            json!([]),
            "{key}"
        );
    }
    // Keys that see workspace `a` annotate it; an annotation of a trace stored nowhere yet is
    // still filed under the key's home workspace (the SDK annotates spans before sending them).
    assert_eq!(
        peer.post("/v1/traces/ta/annotations", "ak_a", None, &on_span)
            .0,
        201
    );
    assert_eq!(
        peer.post("/v1/traces/ta/annotations", KEY, None, &note).0,
        201
    );
    assert_eq!(
        peer.post("/v1/traces/t-later/annotations", "ak_b", None, &note)
            .0,
        201
    );
    let names = |key: &str, tid: &str| {
        peer.get(&format!("/v1/traces/{tid}/annotations"), key).1["annotations"]
            .as_array()
            .unwrap()
            .len()
    };
    assert_eq!(
        (
            names("ak_a", "ta"),
            names("ak_b", "ta"),
            names("ak_b", "t-later")
        ),
        (2, 0, 1)
    );
}
