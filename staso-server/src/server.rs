//! The in-process server: [`Server::builder`] → [`ServerBuilder::start`] → [`RunningServer`].
//!
//! The server runs on its own thread with its own small tokio runtime, so it can be started from
//! synchronous code (examples, `#[test]`s) and from inside another runtime alike.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use axum::middleware;
use tokio::sync::oneshot;

use crate::access_log;
use crate::app::router;
use crate::body_budget::{self, BodyBudget};
use crate::guard::{Policy, PolicyError};
use crate::http::{AppState, Limits};
use crate::keys::{ApiKey, KeyRing};
use crate::pricing::PriceTable;
use crate::serve::{self, ConnectionLimits};
use crate::store::{Store, StoreError, TraceRetention};

/// Default body limit: 16 MiB (a full batch of 500 spans with large captured payloads).
pub const DEFAULT_MAX_BODY_BYTES: usize = 16 * 1024 * 1024;
/// Default JSON nesting limit.
pub const DEFAULT_MAX_JSON_DEPTH: usize = 64;
/// After the shutdown grace period, how long store work already running may take to finish.
const STORE_WORK_GRACE: Duration = Duration::from_secs(1);
/// `meta` key of the generated development key.
const DEV_KEY_META: &str = "dev_api_key";

/// Why the server did not start.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The database could not be opened or migrated.
    #[error("database: {0}")]
    Store(#[from] StoreError),
    /// The address could not be bound, or the runtime not built.
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
    /// The guard policy is invalid.
    #[error(transparent)]
    Policy(#[from] PolicyError),
}

/// Entry point of the library.
#[derive(Debug)]
pub struct Server;

impl Server {
    /// A builder with defaults: `127.0.0.1:0`, a temporary database, a generated dev key.
    pub fn builder() -> ServerBuilder {
        ServerBuilder {
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            db: None,
            keys: Vec::new(),
            limits: Limits {
                max_body_bytes: DEFAULT_MAX_BODY_BYTES,
                max_json_depth: DEFAULT_MAX_JSON_DEPTH,
            },
            policy: None,
            connections: ConnectionLimits::default(),
            max_inflight_body_bytes: None,
            body_budget_wait: body_budget::DEFAULT_BUDGET_WAIT,
            body_timeout: body_budget::DEFAULT_BODY_TIMEOUT,
            retention: TraceRetention::default(),
            prices: None,
            ui_requires_key: None,
        }
    }
}

/// Configures and starts a server.
///
/// ```no_run
/// let server = staso_server::Server::builder().api_key("ak_test").start().unwrap();
/// println!("{}", server.base_url());
/// ```
#[derive(Debug)]
pub struct ServerBuilder {
    addr: SocketAddr,
    db: Option<PathBuf>,
    keys: Vec<ApiKey>,
    limits: Limits,
    policy: Option<Policy>,
    connections: ConnectionLimits,
    max_inflight_body_bytes: Option<usize>,
    body_budget_wait: Duration,
    body_timeout: Duration,
    retention: TraceRetention,
    prices: Option<PriceTable>,
    ui_requires_key: Option<bool>,
}

impl ServerBuilder {
    /// Address to bind (port 0: any free port).
    pub fn addr(mut self, addr: SocketAddr) -> Self {
        self.addr = addr;
        self
    }

    /// Database file (created if missing). Without it, a temporary database removed on shutdown.
    pub fn db_path(mut self, path: impl Into<PathBuf>) -> Self {
        self.db = Some(path.into());
        self
    }

    /// Accepts `key` for every workspace.
    pub fn api_key(mut self, key: impl Into<String>) -> Self {
        self.keys.push(ApiKey::all_workspaces(key));
        self
    }

    /// Accepts a key with its scope. With no key at all, a dev key is generated and stored.
    pub fn key(mut self, key: ApiKey) -> Self {
        self.keys.push(key);
        self
    }

    /// Body size limit in bytes (413 above).
    pub fn max_body_bytes(mut self, n: usize) -> Self {
        self.limits.max_body_bytes = n;
        self
    }

    /// JSON nesting limit (400 above).
    pub fn max_json_depth(mut self, n: usize) -> Self {
        self.limits.max_json_depth = n;
        self
    }

    /// Time allowed to receive a request head, from when the server starts waiting for it (after
    /// accepting, and after each response on a keep-alive connection, so it is also the idle
    /// timeout); the connection is closed when it passes. Default 10 s.
    pub fn header_timeout(mut self, timeout: Duration) -> Self {
        self.connections.header_timeout = timeout;
        self
    }

    /// Time a connection may go with no byte read or written while no handler runs on it (a
    /// client that stops reading its answer); it is closed after. Default 60 s.
    pub fn idle_timeout(mut self, timeout: Duration) -> Self {
        self.connections.idle_timeout = timeout;
        self
    }

    /// Longest silence while a request body is received; the request is answered 408 and its
    /// connection closed. Default 30 s.
    pub fn body_timeout(mut self, timeout: Duration) -> Self {
        self.body_timeout = timeout;
        self
    }

    /// Open connections served at once; the next ones are answered 503 and closed. Default 512.
    pub fn max_connections(mut self, n: usize) -> Self {
        self.connections.max_connections = n;
        self
    }

    /// How long in-flight requests may run after [`RunningServer::shutdown`] before their
    /// connections are closed. Default 5 s.
    pub fn shutdown_grace(mut self, grace: Duration) -> Self {
        self.connections.shutdown_grace = grace;
        self
    }

    /// Request-body bytes held in memory at once, server-wide; a request over budget waits
    /// briefly (see [`ServerBuilder::body_budget_wait`]), then is answered 503 with
    /// `Retry-After`. Default: [`body_budget::default_budget`] (1/16 of physical memory, at
    /// least the body limit).
    pub fn max_inflight_body_bytes(mut self, n: usize) -> Self {
        self.max_inflight_body_bytes = Some(n);
        self
    }

    /// How long a request waits for body budget before its 503. Default 2 s.
    pub fn body_budget_wait(mut self, wait: Duration) -> Self {
        self.body_budget_wait = wait;
        self
    }

    /// Deletes traces that started longer ago than `age`, in the background (`serve
    /// --retain-days`). Default: kept forever.
    pub fn retain_for(mut self, age: Duration) -> Self {
        self.retention.max_age = Some(age);
        self
    }

    /// Deletes the oldest traces while the database uses more than `bytes`, in the background
    /// (`serve --max-db-mb`; see [`Store::used_bytes`] for how the size is measured). Default: no
    /// limit.
    pub fn max_db_bytes(mut self, bytes: u64) -> Self {
        self.retention.max_db_bytes = Some(bytes);
        self
    }

    /// Time between two retention passes (default one minute; the first runs at start).
    pub fn retention_interval(mut self, interval: Duration) -> Self {
        self.retention.interval = interval;
        self
    }

    /// Guard policy (without one, guard allows everything).
    pub fn guard_policy(mut self, policy: Policy) -> Self {
        self.policy = Some(policy);
        self
    }

    /// Prices for spans with tokens but no cost (default: [`PriceTable::builtin`]).
    pub fn prices(mut self, prices: PriceTable) -> Self {
        self.prices = Some(prices);
        self
    }

    /// Whether the web UI asks for an API key. Default: only when the address is not a loopback
    /// address (on loopback it shows every workspace without a key).
    pub fn ui_requires_key(mut self, required: bool) -> Self {
        self.ui_requires_key = Some(required);
        self
    }

    /// Loads the guard policy from a JSON file.
    pub fn guard_policy_file(self, path: impl AsRef<Path>) -> Result<Self, ServerError> {
        Ok(self.guard_policy(Policy::load(path)?))
    }

    /// Opens the database, binds the address and starts serving on a background thread.
    pub fn start(self) -> Result<RunningServer, ServerError> {
        let (db_path, temp_dir) = match self.db {
            Some(p) => (p, None),
            None => {
                let dir = tempfile::Builder::new().prefix("staso-server-").tempdir()?;
                (dir.path().join("staso.db"), Some(dir))
            }
        };
        let store = Arc::new(Store::open(&db_path)?);
        let mut keys = self.keys;
        let mut dev_key = None;
        if keys.is_empty() {
            let fresh = format!("ak_dev_{}", uuid::Uuid::new_v4().simple());
            let key = store.meta_get_or_insert(DEV_KEY_META, &fresh)?;
            keys.push(ApiKey::all_workspaces(key.clone()));
            dev_key = Some(key);
        }
        let api_key = keys
            .first()
            .map(|k| k.secret().to_owned())
            .unwrap_or_default();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("staso-server")
            .enable_all()
            .build()?;
        // Receipts older than the store's retention window are purged in the background; the task
        // ends with the runtime.
        runtime.spawn(crate::store::receipts::purge_periodically(Arc::clone(
            &store,
        )));
        // The page caches a burst filled are freed once the store is idle (issue 12).
        runtime.spawn(crate::store::memory::trim_when_idle(
            Arc::clone(&store),
            crate::store::memory::DEFAULT_TRIM_IDLE,
        ));
        if self.retention.is_active() {
            runtime.spawn(crate::store::trace_retention::enforce_periodically(
                Arc::clone(&store),
                self.retention,
            ));
        }
        let std_listener = std::net::TcpListener::bind(self.addr)?;
        std_listener.set_nonblocking(true)?;
        let addr = std_listener.local_addr()?;
        let listener = {
            let _enter = runtime.enter();
            tokio::net::TcpListener::from_std(std_listener)?
        };
        let keys = KeyRing::new(keys);
        let budget = Arc::new(BodyBudget::new(
            self.max_inflight_body_bytes
                .unwrap_or_else(|| body_budget::default_budget(self.limits.max_body_bytes)),
            self.body_budget_wait,
            self.body_timeout,
            self.limits.max_body_bytes,
        ));
        let app = router(Arc::new(AppState {
            store: Arc::clone(&store),
            keys: keys.clone(),
            limits: self.limits,
            policy: self.policy,
            prices: Arc::new(self.prices.unwrap_or_else(PriceTable::builtin)),
            ui_requires_key: self
                .ui_requires_key
                .unwrap_or_else(|| crate::ui::requires_key(addr.ip())),
        }))
        .layer(middleware::from_fn_with_state(
            Arc::clone(&budget),
            body_budget::limit_body,
        ))
        .layer(middleware::from_fn_with_state(
            Arc::new(keys),
            access_log::log_request,
        ));
        let connections = self.connections;
        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("staso-server".into())
            .spawn(move || {
                runtime.block_on(serve::serve(listener, app, connections, stop_rx));
                // Tasks the grace period did not let finish are cancelled here; a store
                // transaction already running on a blocking thread gets a moment to commit
                // (cutting it would roll it back, which is safe but wasteful).
                runtime.shutdown_timeout(STORE_WORK_GRACE);
            })?;
        log::info!("staso-server listening on http://{addr}");
        Ok(RunningServer {
            addr,
            base_url: format!("http://{addr}"),
            db_path,
            api_key,
            dev_key,
            budget,
            stop: Some(stop_tx),
            thread: Some(thread),
            _temp_dir: temp_dir,
        })
    }
}

/// A started server; shuts down (and removes a temporary database) when dropped.
#[derive(Debug)]
pub struct RunningServer {
    /// The address the server is bound to (also [`RunningServer::addr`]).
    pub addr: SocketAddr,
    /// `http://127.0.0.1:PORT`, the value for `STASO_BASE_URL` (also [`RunningServer::base_url`]).
    pub base_url: String,
    db_path: PathBuf,
    api_key: String,
    dev_key: Option<String>,
    budget: Arc<BodyBudget>,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
    _temp_dir: Option<tempfile::TempDir>,
}

impl RunningServer {
    /// `http://127.0.0.1:PORT`, the value for `STASO_BASE_URL`.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The database file.
    pub fn db_path(&self) -> &Path {
        &self.db_path
    }

    /// A key this server accepts: the first configured one, or the generated dev key.
    pub fn api_key(&self) -> &str {
        &self.api_key
    }

    /// The generated dev key, when no key was configured.
    pub fn dev_key(&self) -> Option<&str> {
        self.dev_key.as_deref()
    }

    /// Request-body bytes reserved right now by requests in flight (0 when idle).
    pub fn body_bytes_in_flight(&self) -> usize {
        self.budget.in_flight()
    }

    /// Stops accepting at once, lets in-flight requests finish within the shutdown grace period
    /// ([`ServerBuilder::shutdown_grace`]), closes the remaining connections and waits for the
    /// server thread.
    pub fn shutdown(mut self) {
        self.stop_and_join();
    }

    fn stop_and_join(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for RunningServer {
    fn drop(&mut self) {
        self.stop_and_join();
    }
}
