//! `staso::verify` / `verify_blocking` (the setup check, PROTOCOL.md §9) against a real
//! `staso-server`, a server that is down, and a scripted server answering what staso-server never
//! does.
// Each test holds the lock serializing the global client across its awaits; every tokio test
// runs on a runtime of its own, so no other task waits on that lock meanwhile.
#![allow(clippy::await_holding_lock)]

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use staso::{Client, Config, Error, InMemoryExporter};
use staso_server::{ApiKey, RunningServer};
use staso_tests::http::{Response, Server as Stub};

const KEY: &str = "ak_verify";

/// The global client is process-wide: every test of this binary holds this lock.
static LOCK: Mutex<()> = Mutex::new(());

fn lock() -> MutexGuard<'static, ()> {
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

fn config(key: &str, base_url: &str, workspace: &str) -> Config {
    Config::builder()
        .api_key(key)
        .agent_name("verify-tests")
        .base_url(base_url)
        .workspace_slug(workspace)
        .capture_git(false)
        .build_with_env(|_| None)
        .expect("valid test config")
}

/// Installs a global client for `base_url` whose spans stay in memory.
fn point_at(key: &str, base_url: &str, workspace: &str) -> Client {
    staso::init_with_exporter(
        config(key, base_url, workspace),
        Arc::new(InMemoryExporter::new()),
    )
    .expect("init")
}

fn server() -> RunningServer {
    staso_server::Server::builder()
        .api_key(KEY)
        .key(ApiKey::scoped("ak_team_a", ["team-a"]))
        .start()
        .expect("server starts")
}

#[staso::agent(name = "verify-probe")]
fn probe() -> u32 {
    7
}

#[tokio::test]
async fn a_good_key_gets_the_servers_answer_and_sees_its_last_ingestion() {
    let _lock = lock();
    let server = server();
    let client = point_at(KEY, server.base_url(), "default");

    let status = staso::verify().await.expect("verify with a good key");
    assert_eq!(status.status, "ok");
    assert_eq!(status.plan_status, "active");
    assert!(status.backend_ready && status.guard_available);
    assert_eq!(status.workspace_slug, "default");
    assert_eq!(status.last_ingestion_at, None, "nothing ingested yet");
    for c in [
        "traces:write",
        "traces:read",
        "guard:evaluate",
        "prompts:read",
        "prompts:write",
    ] {
        assert!(status.has_capability(c), "{c} missing: {status:?}");
    }
    assert!(status.is_ready() && status.is_ready_for_guard());
    drop(client);

    // Ingest one trace over HTTP; the check then reports its time as the server stored it.
    let client = staso::init(config(KEY, server.base_url(), "default")).expect("init");
    assert_eq!(probe(), 7);
    assert!(client.flush(Duration::from_secs(10)).ok());
    let listed: serde_json::Value = reqwest::Client::new()
        .get(format!("{}/v1/traces", server.base_url()))
        .header("X-API-Key", KEY)
        .send()
        .await
        .and_then(|r| r.error_for_status())
        .expect("trace list")
        .json()
        .await
        .expect("trace list is JSON");
    let stored = listed["traces"][0]["timestamp"]
        .as_str()
        .expect("a stored trace with a timestamp")
        .to_owned();
    let status = staso::verify().await.expect("verify after ingest");
    assert_eq!(status.last_ingestion_at.as_deref(), Some(stored.as_str()));
    client.shutdown(Duration::from_secs(1));
}

#[tokio::test]
async fn a_wrong_key_is_an_auth_error_401_that_never_shows_the_key() {
    let _lock = lock();
    let server = server();
    let _client = point_at("ak_wrong_secret", server.base_url(), "default");
    let err = staso::verify().await.expect_err("a wrong key is refused");
    assert!(matches!(err, Error::Auth(_)), "{err:?}");
    assert_eq!(err.status_code(), Some(401));
    let Error::Auth(auth) = &err else {
        unreachable!()
    };
    assert_eq!(auth.operation(), "GET /v1/setup/validate");
    assert!(
        !format!("{err} {err:?}").contains("ak_wrong_secret"),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_workspace_the_key_may_not_use_is_403() {
    let _lock = lock();
    let server = server();
    let client = point_at("ak_team_a", server.base_url(), "team-b");
    let err = staso::verify().await.expect_err("team-b is out of scope");
    assert!(matches!(err, Error::Auth(_)), "{err:?}");
    assert_eq!(err.status_code(), Some(403));
    assert!(err.to_string().contains("team-b"), "{err}");
    drop(client);

    let _client = point_at("ak_team_a", server.base_url(), "team-a");
    let status = staso::verify().await.expect("team-a is in scope");
    assert_eq!(status.workspace_slug, "team-a");
}

#[tokio::test]
async fn a_server_that_is_down_is_an_api_error_without_status() {
    let _lock = lock();
    let addr = staso_tests::http::free_addr();
    let _client = point_at(KEY, &format!("http://{addr}"), "default");
    let err = staso::verify().await.expect_err("nothing listens");
    assert!(matches!(err, Error::Api(_)), "{err:?}");
    assert_eq!(err.status_code(), None);
    assert!(err.to_string().contains("/v1/setup/validate"), "{err}");
}

#[tokio::test]
async fn no_answer_within_5_s_is_an_api_error_without_status() {
    let _lock = lock();
    // Held until the stub is dropped at the end of the test.
    let stub = Stub::start(|_| Response::json(200, "{}").held());
    let _client = point_at(KEY, &stub.url(), "default");
    let started = std::time::Instant::now();
    let err = staso::verify().await.expect_err("no answer");
    let took = started.elapsed();
    assert!(matches!(err, Error::Api(_)), "{err:?}");
    assert_eq!(err.status_code(), None);
    assert!(err.to_string().contains("timeout"), "{err}");
    assert!(
        took >= Duration::from_millis(4_500) && took < Duration::from_secs(8),
        "gave up after {took:?}, not 5 s"
    );
}

#[tokio::test]
async fn without_init_it_is_a_configuration_error() {
    let _lock = lock();
    staso::shutdown(Duration::from_secs(1));
    let err = staso::verify().await.expect_err("no client");
    assert!(matches!(err, Error::Configuration(_)), "{err:?}");
    let err = staso::verify_blocking().expect_err("no client");
    assert!(matches!(err, Error::Configuration(_)), "{err:?}");
}

/// Inside a runtime (where blocking on it would panic) the blocking twin still answers.
#[tokio::test(flavor = "current_thread")]
async fn verify_blocking_works_inside_a_runtime_and_outside() {
    let _lock = lock();
    let server = server();
    let _client = point_at(KEY, server.base_url(), "default");
    let inside = staso::verify_blocking().expect("inside a runtime");
    assert!(inside.is_ready());
    let outside = std::thread::spawn(staso::verify_blocking)
        .join()
        .expect("no panic")
        .expect("outside a runtime");
    assert_eq!(inside, outside);
}

/// What goes out (route, workspace, key header), and answers staso-server never gives.
#[tokio::test]
async fn the_request_and_answers_from_a_scripted_server() {
    let _lock = lock();
    let answers = Arc::new(Mutex::new(vec![
        Response::json(200, "{not json"),
        Response::json(
            503,
            r#"{"error":"backend_unavailable","detail":"maintenance"}"#,
        ),
        Response::json(
            200,
            r#"{"status":"ok","plan_status":"expired","backend_ready":true,
                "guard_available":false,"capabilities":["traces:write"],
                "workspace_slug":"acme","last_ingestion_at":"2026-01-02T03:04:05Z"}"#,
        ),
    ]));
    let script = Arc::clone(&answers);
    let stub = Stub::start(move |_| {
        script
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .pop()
            .unwrap_or_else(|| Response::new(500))
    });
    let _client = point_at(KEY, &stub.url(), "acme");

    let status = staso::verify().await.expect("a 200 with the §9 shape");
    assert_eq!(
        status,
        staso::SetupStatus {
            status: "ok".into(),
            plan_status: "expired".into(),
            backend_ready: true,
            guard_available: false,
            capabilities: vec!["traces:write".into()],
            workspace_slug: "acme".into(),
            last_ingestion_at: Some("2026-01-02T03:04:05Z".into()),
        }
    );
    assert!(!status.is_ready(), "an expired plan is not ready");

    let err = staso::verify().await.expect_err("503");
    assert!(matches!(err, Error::Api(_)), "{err:?}");
    assert_eq!(err.status_code(), Some(503));
    assert!(err.to_string().contains("maintenance"), "{err}");

    let err = staso::verify().await.expect_err("undecodable");
    assert!(matches!(err, Error::Api(_)), "{err:?}");
    assert_eq!(err.status_code(), Some(200));
    assert!(err.to_string().contains("undecodable"), "{err}");

    let requests = stub.requests();
    assert_eq!(requests.len(), 3);
    for r in &requests {
        assert_eq!(r.method, "GET");
        assert_eq!(r.path, "/v1/setup/validate?workspace_slug=acme");
        assert_eq!(r.header("x-api-key"), Some(KEY));
    }
}
