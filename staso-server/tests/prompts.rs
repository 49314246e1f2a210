//! Prompts over HTTP (`POST /v1/prompts`, `GET /v1/prompts/{name}`, `GET /v1/prompts`), the
//! setup check (`GET /v1/setup/validate`), workspace isolation of both, and the binary's
//! `prompts set/get/list`.

mod common;

use std::process::Command;

use common::{KEY, Peer, simple_body};
use serde_json::{Value, json};
use staso_server::ApiKey;

const BIN: &str = env!("CARGO_BIN_EXE_staso-server");

fn scoped_peer() -> Peer {
    Peer::start_with(|b| {
        b.api_key(KEY)
            .key(ApiKey::scoped("ak_a", ["a"]))
            .key(ApiKey::scoped("ak_b", ["b"]))
    })
}

fn create(peer: &Peer, key: &str, path: &str, name: &str, content: &str, env: &str) -> Value {
    let (status, body) = peer.post(
        path,
        key,
        None,
        &json!({"name": name, "content": content, "environment": env}),
    );
    assert_eq!(status, 201, "{body}");
    body
}

#[test]
fn create_get_by_environment_and_version_and_list() {
    let peer = Peer::start();
    let v1 = create(
        &peer,
        KEY,
        "/v1/prompts",
        "greet",
        "Hi {{name}}",
        "production",
    );
    assert_eq!(
        (
            &v1["name"],
            &v1["version"],
            &v1["environment"],
            &v1["content"]
        ),
        (
            &json!("greet"),
            &json!(1),
            &json!("production"),
            &json!("Hi {{name}}")
        )
    );
    assert_eq!(v1["labels"], json!(["production"]));
    // The environment defaults to production.
    let (status, v2) = peer.post(
        "/v1/prompts",
        KEY,
        None,
        &json!({"name": "greet", "content": "Hello {{name}}"}),
    );
    assert_eq!(
        (status, &v2["version"], &v2["environment"]),
        (201, &json!(2), &json!("production"))
    );
    let v3 = create(&peer, KEY, "/v1/prompts", "greet", "Hey", "staging");
    assert_eq!(v3["version"], 3);

    let (status, got) = peer.get("/v1/prompts/greet", KEY);
    assert_eq!(
        (status, &got["version"], &got["content"]),
        (200, &json!(2), &json!("Hello {{name}}"))
    );
    let (_, got) = peer.get("/v1/prompts/greet?environment=staging", KEY);
    assert_eq!(
        (&got["version"], &got["environment"]),
        (&json!(3), &json!("staging"))
    );
    let (status, got) = peer.get("/v1/prompts/greet?version=1", KEY);
    assert_eq!(
        (status, &got["content"], &got["labels"]),
        (200, &json!("Hi {{name}}"), &json!([]))
    );
    let (_, got) = peer.get("/v1/prompts/greet?version=3", KEY);
    assert_eq!(
        (&got["environment"], &got["labels"]),
        (&json!("staging"), &json!(["staging"]))
    );

    // Names are path segments: anything but control characters, percent-encoded.
    create(
        &peer,
        KEY,
        "/v1/prompts",
        "team/a b",
        "spaced",
        "production",
    );
    let (status, got) = peer.get("/v1/prompts/team%2Fa%20b", KEY);
    assert_eq!((status, &got["content"]), (200, &json!("spaced")), "{got}");

    let (status, list) = peer.get("/v1/prompts", KEY);
    assert_eq!(status, 200);
    assert_eq!(
        list,
        json!({"prompts": [
            {"name": "greet", "latest_version": 3, "labels": {"production": 2, "staging": 3}},
            {"name": "team/a b", "latest_version": 1, "labels": {"production": 1}},
        ]})
    );
}

#[test]
fn misses_and_bad_input() {
    let peer = Peer::start();
    create(&peer, KEY, "/v1/prompts", "greet", "Hi", "production");
    let (status, body) = peer.get("/v1/prompts/nope", KEY);
    assert_eq!(status, 404);
    assert_eq!(
        body["detail"],
        "prompt \"nope\" not found in environment \"production\""
    );
    let (status, body) = peer.get("/v1/prompts/greet?environment=dev", KEY);
    assert_eq!(status, 404, "{body}");
    assert!(
        body["detail"].as_str().unwrap().contains("\"dev\""),
        "{body}"
    );
    let (status, body) = peer.get("/v1/prompts/greet?version=9", KEY);
    assert_eq!(
        (status, body["detail"].as_str()),
        (404, Some("prompt \"greet\" has no version 9"))
    );

    let long = "n".repeat(201);
    for (body, field) in [
        (json!({"name": "", "content": "x"}), "name:"),
        (json!({"name": "  ", "content": "x"}), "name:"),
        (json!({"name": long, "content": "x"}), "name:"),
        (json!({"name": "a", "content": ""}), "content:"),
        (
            json!({"name": "a", "content": "x", "environment": ""}),
            "environment:",
        ),
        (
            json!({"name": "a", "content": "x", "environment": "a/b"}),
            "environment:",
        ),
        (json!({"name": "a"}), "content"),
        (json!({"name": 3, "content": "x"}), "name"),
    ] {
        let (status, answer) = peer.post("/v1/prompts", KEY, None, &body);
        assert_eq!(status, 400, "{body} → {answer}");
        let detail = answer["detail"].as_str().unwrap_or_default();
        // Our checks lead with `field:`; the decoder's own errors name it inside.
        let named = detail.starts_with(field) || detail.contains(&format!("`{field}`"));
        assert!(named, "{body} → {detail}");
    }
    for (query, field) in [
        ("version=0", "version:"),
        ("version=x", "version:"),
        ("version=1&environment=production", "version:"),
        ("environment=bad%20env", "environment:"),
    ] {
        let (status, answer) = peer.get(&format!("/v1/prompts/greet?{query}"), KEY);
        assert_eq!(status, 400, "{query} → {answer}");
        let detail = answer["detail"].as_str().unwrap_or_default();
        assert!(detail.starts_with(field), "{query} → {detail}");
    }
    let (status, _) = peer.get("/v1/prompts/greet", "ak_unknown");
    assert_eq!(status, 401);
    let (status, _) = peer.get("/v1/prompts", "ak_unknown");
    assert_eq!(status, 401);
    let (_, list) = peer.get("/v1/prompts", KEY);
    assert_eq!(
        list["prompts"].as_array().map(Vec::len),
        Some(1),
        "nothing invalid was stored"
    );
}

#[test]
fn a_key_never_sees_another_workspaces_prompts() {
    let peer = scoped_peer();
    // Without a workspace_slug a key acts in its home workspace.
    create(&peer, "ak_a", "/v1/prompts", "greet", "for a", "production");
    let (status, _) = peer.get("/v1/prompts/greet", "ak_b");
    assert_eq!(status, 404);
    let (status, body) = peer.get("/v1/prompts/greet?workspace_slug=a", "ak_b");
    assert_eq!(status, 403, "{body}");
    assert!(body["detail"].as_str().unwrap().contains("\"a\""), "{body}");
    let (status, _) = peer.post(
        "/v1/prompts?workspace_slug=a",
        "ak_b",
        None,
        &json!({"name": "greet", "content": "hijack"}),
    );
    assert_eq!(status, 403);
    let (status, _) = peer.get("/v1/prompts?workspace_slug=a", "ak_b");
    assert_eq!(status, 403);
    let (_, list) = peer.get("/v1/prompts", "ak_b");
    assert_eq!(list, json!({"prompts": []}));

    // b's own prompt of the same name starts at version 1.
    let b = create(&peer, "ak_b", "/v1/prompts", "greet", "for b", "production");
    assert_eq!(b["version"], 1);
    let (_, a) = peer.get("/v1/prompts/greet", "ak_a");
    assert_eq!(a["content"], "for a");

    // A key for every workspace names the one it means; its home is `default`.
    let (_, a) = peer.get("/v1/prompts/greet?workspace_slug=a", KEY);
    assert_eq!(a["content"], "for a");
    let (status, _) = peer.get("/v1/prompts/greet", KEY);
    assert_eq!(status, 404);
}

#[test]
fn setup_validate_answers_per_key_and_workspace() {
    let peer = scoped_peer();
    let (status, body) = peer.get("/v1/setup/validate", "ak_a");
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "ok");
    assert_eq!(body["plan_status"], "active");
    assert_eq!(body["backend_ready"], true);
    assert_eq!(body["guard_available"], true);
    assert_eq!(body["workspace_slug"], "a");
    assert_eq!(body["last_ingestion_at"], Value::Null);
    let caps: Vec<&str> = body["capabilities"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    for c in [
        "traces:write",
        "traces:read",
        "guard:evaluate",
        "prompts:read",
        "prompts:write",
    ] {
        assert!(caps.contains(&c), "{c}: {caps:?}");
    }

    let (status, body) = peer.get("/v1/setup/validate?workspace_slug=b&target=codex", "ak_a");
    assert_eq!(status, 403, "{body}");
    let (status, body) = peer.get("/v1/setup/validate", "ak_unknown");
    assert_eq!((status, &body["error"]), (401, &json!("invalid_key")));

    // The newest stored trace of the workspace, as stored.
    let mut later = simple_body(&["00000000-0000-0000-0000-0000000000a1"], "a");
    later["traces"][0]["timestamp"] = json!("2026-03-01T10:00:00.000000+00:00");
    later["traces"][0]["spans"][0]["timestamp"] = json!("2026-03-01T10:00:00.000000+00:00");
    let earlier = simple_body(&["00000000-0000-0000-0000-0000000000a2"], "a");
    for (i, body) in [later, earlier].iter().enumerate() {
        let (status, ack) = peer.post("/v1/traces/ingest", "ak_a", Some(&format!("i{i}")), body);
        assert_eq!(status, 200, "{ack}");
    }
    let (_, body) = peer.get("/v1/setup/validate", "ak_a");
    assert_eq!(
        body["last_ingestion_at"],
        "2026-03-01T10:00:00.000000+00:00"
    );
    let (_, body) = peer.get("/v1/setup/validate?workspace_slug=b", KEY);
    assert_eq!(
        (&body["workspace_slug"], &body["last_ingestion_at"]),
        (&json!("b"), &Value::Null)
    );
    let (_, body) = peer.get("/v1/setup/validate?workspace_slug=a", KEY);
    assert_eq!(
        body["last_ingestion_at"],
        "2026-03-01T10:00:00.000000+00:00"
    );
}

fn run(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(BIN).args(args).output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn cli_prompts_set_get_list_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let db_path = dir.path().join("p.db");
    let db = db_path.to_str().unwrap();

    // Bad input is refused before a database is created.
    let (ok, _, err) = run(&["prompts", "set", " ", "--content", "x", "--db", db]);
    assert!(!ok && err.contains("name: must not be empty"), "{err}");
    assert!(!db_path.exists());
    let (ok, _, err) = run(&["prompts", "list", "--db", db]);
    assert!(!ok && err.contains("no database"), "{err}");

    let (ok, out, err) = run(&[
        "prompts",
        "set",
        "greet",
        "--content",
        "Hi {{name}}",
        "--db",
        db,
    ]);
    assert!(ok, "{err}");
    assert_eq!(out, "prompt \"greet\" version 1 (production)\n");
    let file = dir.path().join("staging.txt");
    std::fs::write(&file, "Hello {{ name }}\nsecond line\n").unwrap();
    let (ok, out, err) = run(&[
        "prompts",
        "set",
        "greet",
        "--file",
        file.to_str().unwrap(),
        "--env",
        "staging",
        "--db",
        db,
    ]);
    assert!(ok, "{err}");
    assert_eq!(out, "prompt \"greet\" version 2 (staging)\n");
    let (ok, _, err) = run(&["prompts", "set", "greet", "--db", db]);
    assert!(!ok && err.contains("--content"), "{err}");
    let (ok, _, err) = run(&[
        "prompts",
        "set",
        "greet",
        "--content",
        "x",
        "--env",
        "no way",
        "--db",
        db,
    ]);
    assert!(!ok && err.contains("environment:"), "{err}");
    let (ok, out, err) = run(&[
        "prompts",
        "set",
        "other",
        "--content",
        "elsewhere",
        "--workspace",
        "team-a",
        "--db",
        db,
    ]);
    assert!(ok, "{err}");
    assert_eq!(out, "prompt \"other\" version 1 (production)\n");

    let (ok, out, err) = run(&["prompts", "get", "greet", "--db", db]);
    assert!(ok, "{err}");
    assert_eq!(out, "Hi {{name}}\n");
    let (_, out, _) = run(&["prompts", "get", "greet", "--env", "staging", "--db", db]);
    assert_eq!(out, "Hello {{ name }}\nsecond line\n");
    let (_, out, _) = run(&["prompts", "get", "greet", "--version", "1", "--db", db]);
    assert_eq!(out, "Hi {{name}}\n");
    let (ok, _, err) = run(&["prompts", "get", "greet", "--env", "dev", "--db", db]);
    assert!(!ok, "no dev label");
    assert_eq!(
        err,
        "staso-server: prompt \"greet\" not found in environment \"dev\"\n"
    );
    let (ok, _, err) = run(&["prompts", "get", "other", "--db", db]);
    assert!(
        !ok && err.contains("\"other\""),
        "other lives in team-a: {err}"
    );
    let (_, out, _) = run(&[
        "prompts",
        "get",
        "other",
        "--workspace",
        "team-a",
        "--db",
        db,
    ]);
    assert_eq!(out, "elsewhere\n");

    let (ok, out, err) = run(&["prompts", "list", "--db", db]);
    assert!(ok, "{err}");
    assert_eq!(out, "greet  v2  production=v1 staging=v2\n");
    let (_, out, _) = run(&["prompts", "list", "--workspace", "team-a", "--db", db]);
    assert_eq!(out, "other  v1  production=v1\n");

    // What the CLI wrote, the server serves.
    let server = staso_server::Server::builder()
        .db_path(&db_path)
        .api_key(KEY)
        .start()
        .unwrap();
    let got: Value = reqwest::blocking::Client::new()
        .get(format!(
            "{}/v1/prompts/greet?environment=staging",
            server.base_url()
        ))
        .header("X-API-Key", KEY)
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(
        (&got["version"], &got["content"]),
        (&json!(2), &json!("Hello {{ name }}\nsecond line\n"))
    );
    server.shutdown();
}
