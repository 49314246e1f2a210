//! Shared test setup: a global client that exports into memory. The global client is process-wide,
//! so every test of a binary takes the same lock.
#![allow(dead_code)]

pub mod poll;
pub mod reads;

use std::sync::{Mutex, MutexGuard};

use staso::{Client, Config, ConfigBuilder, ExportedSpan, InMemoryExporter};

static LOCK: Mutex<()> = Mutex::new(());

pub struct Harness {
    pub spans: InMemoryExporter,
    pub client: Option<Client>,
    _lock: MutexGuard<'static, ()>,
}

pub fn builder() -> ConfigBuilder {
    Config::builder()
        .api_key("ak_test")
        .agent_name("demo")
        .capture_git(false)
}

pub fn setup() -> Harness {
    setup_with(builder())
}

pub fn setup_with(b: ConfigBuilder) -> Harness {
    let lock = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let spans = InMemoryExporter::new();
    let config = b.build_with_env(|_| None).expect("valid test config");
    let client =
        staso::init_with_exporter(config, std::sync::Arc::new(spans.clone())).expect("init");
    Harness {
        spans,
        client: Some(client),
        _lock: lock,
    }
}

impl Harness {
    /// Drops (and so shuts down) the harness' client while keeping the test lock: a test that
    /// goes on using the global client must not let another test install one meanwhile.
    pub fn drop_client(&mut self) {
        drop(self.client.take());
    }

    pub fn finished(&self) -> Vec<ExportedSpan> {
        self.spans.finished()
    }

    pub fn by_name(&self, name: &str) -> ExportedSpan {
        self.finished()
            .into_iter()
            .find(|s| s.span.name == name)
            .unwrap_or_else(|| panic!("no span named {name}: {}", self.spans.render()))
    }

    pub fn all_named(&self, name: &str) -> Vec<ExportedSpan> {
        self.finished()
            .into_iter()
            .filter(|s| s.span.name == name)
            .collect()
    }

    pub fn render(&self) -> String {
        self.spans.render()
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        if let Some(c) = self.client.take() {
            c.shutdown(std::time::Duration::from_secs(1));
        }
    }
}

pub fn attrs(s: &ExportedSpan) -> serde_json::Value {
    serde_json::from_str(&s.span.attributes).expect("attributes are JSON")
}

pub fn json(s: &str) -> serde_json::Value {
    serde_json::from_str(s).unwrap_or_else(|e| panic!("not JSON ({e}): {s:?}"))
}

/// The installed client's count of traces head sampling dropped, after a flush.
pub fn sampled_out(h: &Harness) -> u64 {
    h.client
        .as_ref()
        .expect("client")
        .flush(std::time::Duration::from_secs(5))
        .sampled_out
}
