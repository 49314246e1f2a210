//! Shared setup of the dataset and evaluation tests: a real `staso-server` on 127.0.0.1 and a
//! global client pointed at it that records spans in memory. The global client is process-wide,
//! so every test of a binary holds the same lock.
#![allow(dead_code)]

use std::sync::{Arc, Mutex, MutexGuard};

use staso::{Client, Config, InMemoryExporter};
use staso_server::RunningServer;

pub const KEY: &str = "ak_test";

static LOCK: Mutex<()> = Mutex::new(());

pub struct Env {
    pub spans: InMemoryExporter,
    pub client: Option<Client>,
    pub server: RunningServer,
    _lock: MutexGuard<'static, ()>,
}

pub fn lock() -> MutexGuard<'static, ()> {
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

/// A fresh server and a global client (api key `ak_test`) exporting spans into memory.
pub fn setup() -> Env {
    setup_with_key(KEY)
}

/// Like [`setup`], but the client sends `key` (the server accepts only `ak_test`).
pub fn setup_with_key(key: &str) -> Env {
    let lock = lock();
    let server = staso_server::Server::builder()
        .api_key(KEY)
        .start()
        .expect("server starts");
    let spans = InMemoryExporter::new();
    let client = staso::init_with_exporter(config(key, server.base_url()), Arc::new(spans.clone()))
        .expect("init");
    Env {
        spans,
        client: Some(client),
        server,
        _lock: lock,
    }
}

/// A config for `base_url`, ignoring the process environment.
pub fn config(key: &str, base_url: &str) -> Config {
    Config::builder()
        .api_key(key)
        .agent_name("dataset-tests")
        .base_url(base_url)
        .capture_git(false)
        .build_with_env(|_| None)
        .expect("valid test config")
}

/// Installs a client that sends spans over HTTP to the env's server (for `from_traces`).
pub fn init_http(env: &mut Env) {
    if let Some(c) = env.client.take() {
        drop(c);
    }
    env.client = Some(staso::init(config(KEY, env.server.base_url())).expect("init"));
}

/// Holds the test lock with a global client (key `ak_test`) pointed at `base_url`.
pub struct Pointed {
    pub spans: InMemoryExporter,
    pub client: Client,
    _lock: MutexGuard<'static, ()>,
}

/// A global client pointed at `base_url` (no staso-server started).
pub fn point_at(base_url: &str) -> Pointed {
    let lock = lock();
    let spans = InMemoryExporter::new();
    let client =
        staso::init_with_exporter(config(KEY, base_url), Arc::new(spans.clone())).expect("init");
    Pointed {
        spans,
        client,
        _lock: lock,
    }
}
