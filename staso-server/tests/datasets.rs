//! Datasets API (PROTOCOL.md §7) driven with the SDK's request shapes.

mod common;

use common::{KEY, Peer};
use serde_json::{Value, json};
use staso_server::ApiKey;

#[test]
fn dataset_lifecycle_as_the_sdk_drives_it() {
    let peer = Peer::start();
    let (s, folder) = peer.post("/v1/datasets/folders", KEY, None, &json!({"name": "evals"}));
    assert_eq!(s, 201, "{folder}");
    let fid = folder["id"].as_str().unwrap();
    let (s, d) = peer.post(
        "/v1/datasets",
        KEY,
        None,
        &json!({"name": "qa", "template": "custom", "description": "questions", "folder_id": fid}),
    );
    assert_eq!(s, 201, "{d}");
    let id = d["id"].as_str().unwrap().to_owned();
    let base = format!("/v1/datasets/{id}");
    for (name, ty) in [("question", "input"), ("answer", "expected_output")] {
        let body = json!({"name": name, "column_type": ty, "description": ""});
        assert_eq!(
            peer.post(&format!("{base}/columns"), KEY, None, &body).0,
            201
        );
    }
    let (_, d) = peer.get(&base, KEY);
    assert_eq!(
        d["columns"],
        json!([
        {"name": "question", "column_type": "input", "description": "", "is_required": false},
        {"name": "answer", "column_type": "expected_output", "description": "", "is_required": false}])
    );
    assert_eq!(
        (
            d["template"].clone(),
            d["kind"].clone(),
            d["folder_id"].clone()
        ),
        (json!("custom"), json!("tabular"), json!(fid))
    );

    let (s, e) = peer.post(
        &format!("{base}/entries"),
        KEY,
        None,
        &json!({"data": {"question": "2+2?", "answer": "4"}, "split_id": "test"}),
    );
    assert_eq!(
        (s, e["split_id"].clone(), e["dataset_id"].clone()),
        (201, json!("test"), json!(id))
    );
    let (s, bulk) = peer.post(
        &format!("{base}/entries/bulk"),
        KEY,
        None,
        &json!({"entries": [{"question": "a"}, {"question": "b"}]}),
    );
    assert_eq!((s, bulk.as_array().unwrap().len()), (201, 2));
    assert_eq!(
        peer.post(
            &format!("{base}/entries"),
            KEY,
            None,
            &json!({"data": {}, "split_id": "prod"})
        )
        .0,
        400
    );

    let (_, all) = peer.get(&format!("{base}/entries?limit=100&offset=0"), KEY);
    assert_eq!(all["entries"].as_array().unwrap().len(), 3);
    let (_, test) = peer.get(&format!("{base}/entries?split_id=test"), KEY);
    assert_eq!(
        test["entries"][0]["data"],
        json!({"question": "2+2?", "answer": "4"})
    );
    let (_, page) = peer.get(&format!("{base}/entries?limit=1&offset=2"), KEY);
    assert_eq!(page["entries"][0]["data"]["question"], "b");

    let eid = e["id"].as_str().unwrap();
    let (s, up) = peer.send(
        "PATCH",
        &format!("{base}/entries/{eid}"),
        KEY,
        Some(&json!({"data": {"question": "3+3?"}})),
    );
    assert_eq!((s, up["data"].clone()), (200, json!({"question": "3+3?"})));
    let (s, _) = peer.send(
        "DELETE",
        &format!("{base}/entries"),
        KEY,
        Some(&json!({"entry_ids": [eid]})),
    );
    assert_eq!(s, 204);
    let (_, renamed) = peer.send("PATCH", &base, KEY, Some(&json!({"name": "qa2"})));
    assert_eq!(
        (
            renamed["name"].clone(),
            renamed["description"].clone(),
            renamed["entry_count"].clone()
        ),
        (json!("qa2"), json!("questions"), json!(2))
    );
    let (_, listed) = peer.get(
        &format!("/v1/datasets?folder_id={fid}&limit=100&offset=0"),
        KEY,
    );
    assert_eq!(listed["datasets"][0]["id"], json!(id));
    assert_eq!(
        peer.get("/v1/datasets/folders", KEY).1["folders"][0]["name"],
        "evals"
    );
    assert_eq!(peer.send("DELETE", &base, KEY, None).0, 204);
    assert_eq!(peer.get(&base, KEY).0, 404);
    assert_eq!(
        peer.send("DELETE", &format!("/v1/datasets/folders/{fid}"), KEY, None)
            .0,
        204
    );
}

#[test]
fn csv_upload_accepts_the_official_sdks_mislabelled_multipart_and_exports() {
    let peer = Peer::start();
    let (_, d) = peer.post(
        "/v1/datasets",
        KEY,
        None,
        &json!({"name": "csv", "template": "custom", "description": ""}),
    );
    let base = format!("/v1/datasets/{}", d["id"].as_str().unwrap());
    let multipart = "--abc123\r\nContent-Disposition: form-data; name=\"file\"; filename=\"rows.csv\"\r\n\
                     Content-Type: text/csv\r\n\r\nquestion,answer\r\n\"1+1, please\",2\r\n3+3,6\r\n\r\n--abc123--\r\n";
    // 0.5.25 sends this body under Content-Type: application/json with no boundary (§7.3).
    let (s, r) = peer.post_raw(
        &format!("{base}/import/csv?split_id=train"),
        KEY,
        None,
        multipart.as_bytes().to_vec(),
    );
    assert_eq!((s, r), (200, json!({"imported": 2})));
    let resp = peer
        .http
        .post(peer.url(&format!("{base}/import/csv")))
        .header("X-API-Key", KEY)
        .header("Content-Type", "multipart/form-data; boundary=abc123")
        .body(multipart)
        .send()
        .unwrap();
    assert_eq!(resp.json::<Value>().unwrap(), json!({"imported": 2}));
    let csv = peer
        .http
        .get(peer.url(&format!("{base}/export/csv?split_id=train")))
        .header("X-API-Key", KEY)
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert_eq!(csv, "question,answer\n\"1+1, please\",2\n3+3,6\n");
}

#[test]
fn curate_builds_entries_from_trace_roots() {
    let peer = Peer::start();
    peer.replay("retry500.json");
    let (_, d) = peer.post(
        "/v1/datasets",
        KEY,
        None,
        &json!({"name": "from traces", "template": "custom", "description": ""}),
    );
    let base = format!("/v1/datasets/{}", d["id"].as_str().unwrap());
    let body = json!({"trace_ids": ["af6abe35-df92-037f-f288-b64be748639e"],
                      "mappings": [{"source_field": "input.question", "target_column": "question"},
                                   {"source_field": "output.result", "target_column": "answer"}]});
    let (s, d) = peer.post(&format!("{base}/curate"), KEY, None, &body);
    assert_eq!((s, d["entry_count"].clone()), (200, json!(1)), "{d}");
    let (_, e) = peer.get(&format!("{base}/entries"), KEY);
    assert_eq!(
        e["entries"][0]["data"],
        json!({"question": "what is 2+3?", "answer": "what is 2+3? -> 5"})
    );
    assert_eq!(e["entries"][0]["source_type"], "trace");
    let missing = json!({"trace_ids": ["nope"], "mappings": []});
    assert_eq!(
        peer.post(&format!("{base}/curate"), KEY, None, &missing).0,
        400
    );
}

#[test]
fn datasets_are_isolated_by_workspace() {
    let peer = Peer::start_with(|b| {
        b.key(ApiKey::parse("ak_a:a").unwrap())
            .key(ApiKey::parse("ak_b:b").unwrap())
    });
    let (_, d) = peer.post("/v1/datasets", "ak_a", None, &json!({"name": "mine"}));
    let path = format!("/v1/datasets/{}", d["id"].as_str().unwrap());
    assert_eq!(peer.get(&path, "ak_a").0, 200);
    assert_eq!(peer.get(&path, "ak_b").0, 404);
    assert_eq!(
        peer.post(
            &format!("{path}/entries"),
            "ak_b",
            None,
            &json!({"data": {}})
        )
        .0,
        404
    );
    assert_eq!(peer.get("/v1/datasets", "ak_b").1["datasets"], json!([]));
}
