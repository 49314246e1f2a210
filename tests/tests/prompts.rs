//! `staso::prompts` against a real `staso-server` (create, versions, environments, workspaces,
//! errors) and against a scripted server that counts requests (the cache: hits without I/O, stale
//! values through outages, a 404 never masked).
// Each test holds the lock serializing the global client across its awaits; every tokio test
// runs on a runtime of its own, so no other task waits on that lock meanwhile.
#![allow(clippy::await_holding_lock)]

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use staso::prompts::{self, Prompt};
use staso::{Client, Config, Error, InMemoryExporter, TemplateError};
use staso_server::RunningServer;
use staso_tests::http::{Response, Server as Stub};

const KEY: &str = "ak_prompts";

/// The global client is process-wide: every test of this binary holds this lock.
static LOCK: Mutex<()> = Mutex::new(());

fn lock() -> MutexGuard<'static, ()> {
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

/// Installs a global client for `base_url` (spans stay in memory).
fn point_at(base_url: &str, workspace: &str, ttl: Option<Duration>) -> Client {
    let mut b = Config::builder()
        .api_key(KEY)
        .agent_name("prompt-tests")
        .base_url(base_url)
        .workspace_slug(workspace)
        .capture_git(false);
    if let Some(ttl) = ttl {
        b = b.prompt_cache_ttl(ttl);
    }
    let config = b.build_with_env(|_| None).expect("valid test config");
    staso::init_with_exporter(config, Arc::new(InMemoryExporter::new())).expect("init")
}

fn server() -> RunningServer {
    staso_server::Server::builder()
        .api_key(KEY)
        .start()
        .expect("server starts")
}

/// A scripted server answering `answers` in order (then 500), counting requests.
fn scripted(answers: Vec<Response>) -> Stub {
    let script = Mutex::new(VecDeque::from(answers));
    Stub::start(move |_| {
        script
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .pop_front()
            .unwrap_or_else(|| Response::new(500))
    })
}

fn prompt_json(version: u32, content: &str) -> Response {
    let body = serde_json::json!({
        "name": "greeting",
        "version": version,
        "environment": "production",
        "content": content,
    });
    Response::json(200, body.to_string())
}

fn warnings_about(needle: &str) -> Vec<String> {
    staso_tests::logs::captured_logs()
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .filter(|l| l.starts_with("WARN") && l.contains(needle))
        .cloned()
        .collect()
}

/// The production version of `encoded_name`, read over HTTP past the SDK.
fn raw_get(server: &RunningServer, encoded_name: &str) -> serde_json::Value {
    let url = format!("{}/v1/prompts/{encoded_name}", server.base_url());
    let get = move || {
        reqwest::blocking::Client::new()
            .get(url)
            .header("X-API-Key", KEY)
            .send()
            .and_then(|r| r.json())
            .expect("GET as JSON")
    };
    // A thread of its own: the blocking client may not run on the test's runtime.
    std::thread::spawn(get).join().expect("no panic")
}

#[tokio::test]
async fn create_then_get_counts_versions_per_environment() {
    let _lock = lock();
    let server = server();
    let _client = point_at(server.base_url(), "default", None);

    let v1 = prompts::create("greeting", "Hello {{ name }}", "production")
        .await
        .expect("create v1");
    assert_eq!(
        v1,
        Prompt {
            name: "greeting".into(),
            version: 1,
            environment: "production".into(),
            content: "Hello {{ name }}".into(),
        }
    );
    assert_eq!(prompts::get("greeting").await.expect("get v1"), v1);

    let v2 = prompts::create("greeting", "Hi {{name}}!", "production")
        .await
        .expect("create v2");
    assert_eq!(v2.version, 2);
    let got = prompts::get("greeting").await.expect("get v2");
    assert_eq!((got.version, got.as_str()), (2, "Hi {{name}}!"));
    assert_eq!(got.to_string(), "Hi {{name}}!");
    assert_eq!(got.compile([("name", "Ada")]).expect("filled"), "Hi Ada!");

    // The server agrees (not only the cache that `create` filled).
    let raw = raw_get(&server, "greeting");
    assert_eq!(
        (raw["version"].as_u64(), raw["content"].as_str()),
        (Some(2), Some("Hi {{name}}!"))
    );

    // A name is one path segment, whatever it holds.
    let odd = prompts::create("team/a b?#", "odd", "production")
        .await
        .expect("create an odd name");
    assert_eq!(odd.name, "team/a b?#");
    assert_eq!(
        raw_get(&server, "team%2Fa%20b%3F%23")["content"].as_str(),
        Some("odd")
    );

    // Another environment gets its own label; production still points at v2.
    let staging = prompts::create("greeting", "Hey {{name}}", "staging")
        .await
        .expect("create staging");
    assert_eq!(
        (staging.version, staging.environment.as_str()),
        (3, "staging")
    );
    assert_eq!(prompts::get("greeting").await.expect("prod").version, 2);
    assert_eq!(
        prompts::get_for("greeting", "staging")
            .await
            .expect("staging")
            .version,
        3
    );
}

#[tokio::test]
async fn an_unknown_prompt_is_a_404_naming_it() {
    let _lock = lock();
    let server = server();
    let _client = point_at(server.base_url(), "default", None);
    let err = prompts::get("no-such-prompt").await.expect_err("unknown");
    assert!(matches!(err, Error::Api(_)), "{err:?}");
    assert_eq!(err.status_code(), Some(404));
    let text = err.to_string();
    assert!(
        text.contains("no-such-prompt") && text.contains("production"),
        "{text}"
    );
    // Another environment of a prompt that exists is a 404 too.
    prompts::create("only-prod", "x", "production")
        .await
        .expect("create");
    let err = prompts::get_for("only-prod", "staging")
        .await
        .expect_err("no staging");
    assert_eq!(err.status_code(), Some(404));
}

#[tokio::test]
async fn bad_input_is_a_400_naming_the_field() {
    let _lock = lock();
    let server = server();
    let _client = point_at(server.base_url(), "default", None);
    for (name, content, env, field) in [
        ("", "x", "production", "name"),
        ("greeting", "", "production", "content"),
        ("greeting", "x", "prod uction", "environment"),
    ] {
        let err = prompts::create(name, content, env)
            .await
            .expect_err("invalid");
        assert_eq!(err.status_code(), Some(400), "{err}");
        assert!(err.to_string().contains(&format!("{field}:")), "{err}");
    }
    let long = "n".repeat(201);
    let err = prompts::create(&long, "x", "production")
        .await
        .expect_err("long");
    assert!(
        err.to_string().contains("name: must be at most 200"),
        "{err}"
    );
}

#[tokio::test]
async fn workspaces_do_not_share_prompts_or_cache_entries() {
    let _lock = lock();
    let server = server();
    let client = point_at(server.base_url(), "team-a", None);
    prompts::create("greeting", "for A", "production")
        .await
        .expect("create in A");
    assert_eq!(prompts::get("greeting").await.expect("A").content, "for A");
    drop(client);

    // Same server, same name, another workspace: neither the server nor the cache answers A's.
    let _client = point_at(server.base_url(), "team-b", None);
    let err = prompts::get("greeting").await.expect_err("B has none");
    assert_eq!(err.status_code(), Some(404));
    let b = prompts::create("greeting", "for B", "production")
        .await
        .expect("create in B");
    assert_eq!(b.version, 1, "versions count per workspace");
}

#[tokio::test]
async fn a_fresh_hit_does_no_io() {
    let _lock = lock();
    let stub = scripted(vec![prompt_json(4, "Hi {{name}}")]);
    let _client = point_at(&stub.url(), "default", None);
    for _ in 0..3 {
        let p = prompts::get("greeting").await.expect("get");
        assert_eq!((p.version, p.content.as_str()), (4, "Hi {{name}}"));
    }
    let sync = std::thread::spawn(|| prompts::blocking::get("greeting"))
        .join()
        .expect("no panic")
        .expect("blocking hit");
    assert_eq!(sync.version, 4);
    let requests = stub.requests();
    assert_eq!(requests.len(), 1, "one fetch, then hits: {requests:?}");
    assert_eq!(
        requests[0].path,
        "/v1/prompts/greeting?workspace_slug=default&environment=production"
    );
    assert_eq!(requests[0].header("x-api-key"), Some(KEY));

    // Another environment is another entry.
    let _ = prompts::get_for("greeting", "staging").await;
    assert_eq!(stub.requests().len(), 2);
}

#[tokio::test]
async fn a_hit_is_served_while_the_server_is_stopped() {
    let _lock = lock();
    let server = server();
    let _client = point_at(server.base_url(), "default", None);
    let created = prompts::create("outage", "Hi", "production")
        .await
        .expect("create");
    server.shutdown();
    let before = warnings_about("\"outage\"").len();
    let p = prompts::get("outage").await.expect("served from the cache");
    assert_eq!(p, created);
    assert_eq!(
        warnings_about("\"outage\"").len(),
        before,
        "a fresh hit warns of nothing"
    );
}

#[tokio::test]
async fn stale_values_bridge_outages_and_5xx_but_never_a_404() {
    let _lock = lock();
    let _logs = staso_tests::logs::captured_logs();
    let stub = scripted(vec![
        prompt_json(1, "v1"),
        Response::json(503, r#"{"error":"backend_unavailable","detail":"down"}"#),
        Response::no_answer(),
        prompt_json(2, "v2"),
        Response::json(
            404,
            r#"{"error":"not_found","detail":"prompt \"greeting\" not found"}"#,
        ),
        Response::json(503, "{}"),
    ]);
    // Long enough that the steps between two expiries fit in it on a loaded machine.
    let ttl = Duration::from_millis(300);
    let _client = point_at(&stub.url(), "default", Some(ttl));
    let expire = || std::thread::sleep(ttl + Duration::from_millis(20));

    assert_eq!(prompts::get("greeting").await.expect("fetch").content, "v1");
    expire();
    let warned = warnings_about("\"greeting\"").len();
    assert_eq!(
        prompts::get("greeting")
            .await
            .expect("stale on 503")
            .content,
        "v1"
    );
    let warnings = warnings_about("\"greeting\"");
    assert_eq!(warnings.len(), warned + 1, "{warnings:?}");
    let last = warnings.last().map(String::as_str).unwrap_or_default();
    assert!(last.contains("503") && last.contains("version 1"), "{last}");
    // Until the retry delay (here the TTL) has passed, the stale value is served without asking.
    assert_eq!(stub.requests().len(), 2);
    assert_eq!(prompts::get("greeting").await.expect("held").content, "v1");
    assert_eq!(
        stub.requests().len(),
        2,
        "no request during the retry delay"
    );

    expire();
    assert_eq!(
        prompts::get("greeting")
            .await
            .expect("stale without an answer")
            .content,
        "v1"
    );
    assert_eq!(stub.requests().len(), 3);
    expire();
    assert_eq!(
        prompts::get("greeting").await.expect("refreshed").content,
        "v2"
    );
    expire();
    let err = prompts::get("greeting")
        .await
        .expect_err("a 404 is not masked");
    assert_eq!(err.status_code(), Some(404));
    // The 404 dropped the entry: an outage now has nothing to fall back on.
    let err = prompts::get("greeting").await.expect_err("nothing cached");
    assert_eq!(err.status_code(), Some(503));
    assert_eq!(stub.requests().len(), 6);
}

#[tokio::test]
async fn stale_value_served_when_staso_server_is_down() {
    let _lock = lock();
    let _logs = staso_tests::logs::captured_logs();
    let server = server();
    let ttl = Duration::from_millis(30);
    let _client = point_at(server.base_url(), "default", Some(ttl));
    prompts::create("down", "still here", "production")
        .await
        .expect("create");
    server.shutdown();
    std::thread::sleep(ttl + Duration::from_millis(20));
    let p = prompts::get("down").await.expect("stale");
    assert_eq!(p.content, "still here");
    assert!(
        warnings_about("\"down\"")
            .iter()
            .any(|l| l.contains("could not be refreshed")),
        "{:?}",
        warnings_about("\"down\"")
    );
}

#[test]
fn the_blocking_forms_outside_and_inside_a_runtime() {
    let _lock = lock();
    let server = server();
    let _client = point_at(server.base_url(), "default", None);
    let v1 = prompts::blocking::create("sync", "one", "production").expect("create");
    assert_eq!(prompts::blocking::get("sync").expect("get"), v1);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let v2 = rt.block_on(async {
        prompts::blocking::create("sync", "two", "staging").expect("create inside a runtime")
    });
    assert_eq!(v2.version, 2);
    let err = rt
        .block_on(async { prompts::blocking::get_for("sync", "dev") })
        .expect_err("no dev label");
    assert_eq!(err.status_code(), Some(404));
    assert_eq!(
        prompts::blocking::get_for("sync", "staging").expect("get"),
        v2
    );
}

#[test]
fn without_init_it_is_a_configuration_error() {
    let _lock = lock();
    staso::shutdown(Duration::from_secs(1));
    let err = prompts::blocking::get("greeting").expect_err("no client");
    assert!(matches!(err, Error::Configuration(_)), "{err:?}");
}

#[test]
fn compile_fills_and_reports_what_is_wrong() {
    let p = Prompt {
        name: "greeting".into(),
        version: 1,
        environment: "production".into(),
        content: "Dear {{ title }} {{name}}, {{name}} again.".into(),
    };
    let pairs = [("title", "Dr"), ("name", "Ada")];
    assert_eq!(p.compile(pairs).expect("array"), "Dear Dr Ada, Ada again.");
    let owned: Vec<(String, String)> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    assert_eq!(
        p.compile(owned.clone()).expect("vec"),
        "Dear Dr Ada, Ada again."
    );
    let map: HashMap<String, String> = owned.into_iter().collect();
    assert_eq!(p.compile(&map).expect("&map"), "Dear Dr Ada, Ada again.");
    assert_eq!(p.compile(map).expect("map"), "Dear Dr Ada, Ada again.");

    let err = p.compile([("title", "Dr")]).expect_err("name missing");
    match &err {
        Error::Template(TemplateError::MissingVariable { prompt, variable }) => {
            assert_eq!((prompt.as_str(), variable.as_str()), ("greeting", "name"));
        }
        other => panic!("{other:?}"),
    }
    assert!(err.to_string().contains("{{name}}"), "{err}");

    let broken = Prompt {
        content: "Hi {{name".into(),
        ..p
    };
    let err = broken.compile([("name", "Ada")]).expect_err("unclosed");
    assert!(
        matches!(
            err,
            Error::Template(TemplateError::Unclosed { offset: 3, .. })
        ),
        "{err:?}"
    );
}
