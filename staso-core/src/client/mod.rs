//! The client registry: the one installed client ([`Client`]), `get_client`, `flush`, `shutdown`;
//! their async forms (`wait.rs`) and the hand-off of annotations to the client's sink
//! (`annotate.rs`); the per-thread count of roots head sampling dropped (`sampled_out.rs`). `init`,
//! which builds the exporters, sits above in `init.rs`; the per-thread cache of the client is in
//! `thread_state.rs`.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use crate::config::{
    CapturePolicy, Config, ExportSettings, default_session_id, sampled_below,
    sampling_threshold as threshold,
};
use crate::export::{AnnotationSink, SpanExporter};
use crate::ids::TraceId;
use crate::report::DeliveryReport;

mod annotate;
mod sampled_out;
mod wait;

pub use annotate::annotate;
pub use wait::{flush_async, shutdown_async};

/// Default bound of the implicit shutdown (dropping `init`'s value, re-init).
pub const DEFAULT_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(5);

/// Why `init` failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InitError {
    /// The configuration was rejected.
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    /// The delivery worker could not be started.
    #[error("could not start the staso delivery worker: {0}")]
    Transport(String),
}

pub(crate) struct ClientInner {
    pub(crate) config: Config,
    pub(crate) emit: Arc<ExportSettings>,
    pub(crate) policy: CapturePolicy,
    /// `None` when the client is disabled.
    pub(crate) exporter: Option<Arc<dyn SpanExporter>>,
    pub(crate) previous_report: Option<DeliveryReport>,
    pub(crate) final_report: Mutex<Option<DeliveryReport>>,
    /// A shutdown has run (explicit, module-level, or retiring on re-init), timed out or not:
    /// dropping the owner then does not wait a second bound.
    pub(crate) shutdown_ran: AtomicBool,
    /// Where annotations are queued: the HTTP transport's worker. `None` when disabled or when
    /// installed with a custom exporter.
    pub(crate) annotations: Option<Arc<dyn AnnotationSink>>,
    /// The process's count of roots head sampling dropped (`sampled_out::total`) when this client
    /// was installed: its reports add what was counted since.
    sampled_out_from: u64,
    /// The same count when this client began shutting down ([`OPEN`] until then), so a retired
    /// client's reports leave out its successor's roots.
    sampled_out_until: AtomicU64,
    /// Head sampling's threshold for a root outside any agent (the config's agent's rate).
    pub(crate) root_threshold: u64,
}

impl ClientInner {
    /// Adds the spans head sampling dropped on the callers' threads to `report`.
    fn add_sampled_out(&self, report: &mut DeliveryReport) {
        let until = match self.sampled_out_until.load(Ordering::Acquire) {
            OPEN => sampled_out::total(),
            until => until,
        };
        // The sum only grows, and `from` was read before the client could count or close.
        report.sampled_out += until.saturating_sub(self.sampled_out_from);
    }

    fn shutdown(&self, timeout: Duration) -> DeliveryReport {
        // Only the first shutdown closes the count (a later one returns the stored report).
        let _ = self.sampled_out_until.compare_exchange(
            OPEN,
            sampled_out::total(),
            Ordering::AcqRel,
            Ordering::Acquire,
        );
        self.shutdown_ran.store(true, Ordering::Release);
        let mut slot = self.final_report.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(r) = slot.as_ref() {
            return r.clone();
        }
        let Some(exporter) = &self.exporter else {
            return DeliveryReport::disabled();
        };
        let mut report = exporter.shutdown(timeout);
        self.add_sampled_out(&mut report);
        if !report.timed_out {
            *slot = Some(report.clone());
        }
        report
    }
}

static GLOBAL: RwLock<Option<Arc<ClientInner>>> = RwLock::new(None);
/// Bumped on every change of `GLOBAL`; per-thread caches compare against it. Starts at 1: no
/// client has generation 0, which an empty cache holds.
static GENERATION: AtomicU64 = AtomicU64::new(1);
/// True while an enabled client is installed: the one load a disabled span pays.
static RECORDING: AtomicBool = AtomicBool::new(false);
/// True while the installed client samples (some rate below 1): read by a new root only.
static SAMPLING: AtomicBool = AtomicBool::new(false);
/// The threshold below which a root outside any agent is kept (`config::sampled_below`), when the
/// installed client drops the others outright (it samples and has no tail rules to hold them
/// for); `u64::MAX` otherwise, which keeps every root here and leaves the decision to the client.
static ROOT_KEEP_THRESHOLD: AtomicU64 = AtomicU64::new(u64::MAX);
/// [`ROOT_KEEP_THRESHOLD`] for the root of a new trace that is an agent span, when the installed
/// client has no per-agent rate (every agent then samples at the rate of a root outside any agent;
/// see `Sampling::rate_for`); [`BY_OWN_RATE`] when it has some and drops roots outright; `u64::MAX`
/// otherwise, which leaves the decision to the client.
static AGENT_ROOT_KEEP_THRESHOLD: AtomicU64 = AtomicU64::new(u64::MAX);

/// [`AGENT_ROOT_KEEP_THRESHOLD`] while the installed client drops agent roots outright by rates of
/// their own (it has per-agent rates, samples, and has no tail rules): an agent root then finds
/// its agent's threshold in a per-thread cache (`thread_state`) filled by
/// [`agent_root_keep_threshold`]. Above every trace id's 56 random bits, so compared as a
/// threshold it keeps every root (asks the client), like `u64::MAX`.
pub(crate) const BY_OWN_RATE: u64 = u64::MAX - 1;

/// [`ClientInner::sampled_out_until`] while the client is installed.
const OPEN: u64 = u64::MAX;

/// The installed client, enabled or not.
pub(crate) fn current_client() -> Option<Arc<ClientInner>> {
    read_global()
}

fn read_global() -> Option<Arc<ClientInner>> {
    GLOBAL.read().unwrap_or_else(|e| e.into_inner()).clone()
}

/// Whether spans are being recorded at all (an enabled client is installed). Always `false` with
/// the `off` feature, so every span entry point folds to its no-op path at compile time.
#[inline(always)]
pub fn is_recording() -> bool {
    !cfg!(feature = "off") && RECORDING.load(Ordering::Relaxed)
}

/// Whether the installed client may drop traces by head sampling (a new root then asks it).
#[inline]
pub(crate) fn is_sampling() -> bool {
    SAMPLING.load(Ordering::Relaxed)
}

/// Whether a new root outside any agent, with this trace id, is dropped outright: the installed
/// client samples it out and has no tail rules (one relaxed load; `false` leaves the decision to
/// the client, see `ROOT_KEEP_THRESHOLD`).
#[inline]
pub(crate) fn drops_root(trace_id: TraceId) -> bool {
    !sampled_below(trace_id, ROOT_KEEP_THRESHOLD.load(Ordering::Relaxed))
}

/// The threshold below which a new root that is an agent span, in an empty frame, is kept: what
/// [`drops_root`] compares with, for agent roots (one relaxed load; `u64::MAX` leaves the decision
/// to the client, [`BY_OWN_RATE`] sends it to the agent's own rate).
#[inline]
pub(crate) fn agent_root_keep() -> u64 {
    AGENT_ROOT_KEEP_THRESHOLD.load(Ordering::Relaxed)
}

/// The threshold below which a new trace rooted in the agent `agent` is kept, when the installed
/// client drops agent roots outright by their own rates ([`BY_OWN_RATE`]);
/// `u64::MAX` ("keep here, ask the client") otherwise. Reads the global client: callers cache it
/// per thread, with the [`generation`] they read before calling.
#[cold]
pub(crate) fn agent_root_keep_threshold(agent: &str) -> u64 {
    let Some(c) = read_global() else {
        return u64::MAX;
    };
    let sampling = c.config.sampling();
    if c.exporter.is_none() || !sampling.is_active() || sampling.tail().is_some() {
        return u64::MAX;
    }
    threshold(sampling.rate_for(Some(agent)))
}

/// Counts a root head sampling dropped: added to the reports of the installed client.
#[inline]
pub(crate) fn count_sampled_out() {
    sampled_out::add_one();
}

/// The generation of the installed client: bumped on every install and uninstall, so per-thread
/// caches (`thread_state`) know when to read the global again.
#[inline]
pub(crate) fn generation() -> u64 {
    GENERATION.load(Ordering::Acquire)
}

/// Installs a new global client, retiring the previous one.
fn install(inner: Arc<ClientInner>) -> Option<Arc<ClientInner>> {
    let enabled = inner.exporter.is_some();
    let sampling = enabled && inner.config.sampling().is_active();
    let drops_outright = sampling && inner.config.sampling().tail().is_none();
    let root_keep = if drops_outright {
        inner.root_threshold
    } else {
        u64::MAX
    };
    // Without per-agent rates an agent root's rate is the client's rate, which is also the
    // config's agent's rate, the one `root_threshold` was computed from.
    let agent_root_keep = if !inner.config.sampling().has_agent_rates() {
        root_keep
    } else if drops_outright {
        // By each agent's own rate.
        BY_OWN_RATE
    } else {
        u64::MAX
    };
    let mut g = GLOBAL.write().unwrap_or_else(|e| e.into_inner());
    let prev = g.replace(inner);
    GENERATION.fetch_add(1, Ordering::AcqRel);
    SAMPLING.store(sampling, Ordering::Release);
    ROOT_KEEP_THRESHOLD.store(root_keep, Ordering::Release);
    AGENT_ROOT_KEEP_THRESHOLD.store(agent_root_keep, Ordering::Release);
    RECORDING.store(enabled, Ordering::Release);
    prev
}

/// Work that must run while the client is still installed, just before it shuts down: the LLM
/// integrations end their open synthetic agent roots so those are delivered. Registered by the
/// upper layers, which this one cannot import.
static BEFORE_SHUTDOWN: Mutex<Vec<fn()>> = Mutex::new(Vec::new());

/// Registers `hook` to run before the installed client shuts down (once per registration).
pub(crate) fn before_shutdown(hook: fn()) {
    BEFORE_SHUTDOWN
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(hook);
}

fn run_before_shutdown() {
    let hooks: Vec<fn()> = BEFORE_SHUTDOWN
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    for hook in hooks {
        hook();
    }
}

fn uninstall_if(current: &Arc<ClientInner>) -> bool {
    let installed = read_global().is_some_and(|c| Arc::ptr_eq(&c, current));
    if installed {
        run_before_shutdown();
    }
    let mut g = GLOBAL.write().unwrap_or_else(|e| e.into_inner());
    if g.as_ref().is_some_and(|c| Arc::ptr_eq(c, current)) {
        *g = None;
        GENERATION.fetch_add(1, Ordering::AcqRel);
        stop_recording();
        true
    } else {
        false
    }
}

/// A handle to a staso client.
///
/// The value returned by [`init`](crate::init) owns the client: dropping it flushes and shuts the client down
/// (within 5 s), so a `main` that returns without calling [`shutdown`] loses nothing. Handles from
/// [`get_client`] and clones do not own it.
#[must_use = "dropping the client returned by `init` shuts it down; bind it: `let _staso = staso::init(..)?;`"]
pub struct Client {
    inner: Arc<ClientInner>,
    owner: bool,
}

impl Clone for Client {
    /// A non-owning handle to the same client.
    fn clone(&self) -> Self {
        Client {
            inner: self.inner.clone(),
            owner: false,
        }
    }
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("config", &self.inner.config)
            .field("enabled", &self.is_enabled())
            .field("owner", &self.owner)
            .finish()
    }
}

impl Client {
    /// The configuration the client was built from.
    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// Whether the client records and sends spans.
    pub fn is_enabled(&self) -> bool {
        self.inner.exporter.is_some()
    }

    /// The session id of spans outside any conversation (PROTOCOL.md §1.4).
    pub fn default_session_id(&self) -> &str {
        &self.inner.emit.default_session
    }

    /// Waits up to `timeout` until every span accepted before the call is settled.
    pub fn flush(&self, timeout: Duration) -> DeliveryReport {
        match &self.inner.exporter {
            Some(e) => {
                let mut report = e.flush(timeout);
                self.inner.add_sampled_out(&mut report);
                report
            }
            None => DeliveryReport::disabled(),
        }
    }

    /// Stops accepting spans, drains within `timeout`, and returns the final report. Idempotent:
    /// later calls return the same final report. Dropping the owner afterwards does not wait
    /// again, even when this call timed out.
    pub fn shutdown(&self, timeout: Duration) -> DeliveryReport {
        uninstall_if(&self.inner);
        self.inner.shutdown(timeout)
    }

    /// The shutdown report of the client this one replaced, if `init` retired one.
    pub fn previous_shutdown_report(&self) -> Option<&DeliveryReport> {
        self.inner.previous_report.as_ref()
    }
}

impl Drop for Client {
    /// The owner shuts the client down within [`DEFAULT_SHUTDOWN_TIMEOUT`], unless a shutdown
    /// already ran: that one had its bound (and returned its report), so a drop after a timed-out
    /// `shutdown(t)` returns at once, leaving the worker to finish in the background.
    fn drop(&mut self) {
        if self.owner {
            uninstall_if(&self.inner);
            if self.inner.shutdown_ran.load(Ordering::Acquire) {
                return;
            }
            let report = self.inner.shutdown(DEFAULT_SHUTDOWN_TIMEOUT);
            if !report.ok()
                && report.last_failure != Some(crate::report::DeliveryFailureKind::Disabled)
            {
                log::warn!("staso: delivery incomplete at shutdown: {report:?}");
            }
        }
    }
}

/// An exporter and, when it is the HTTP transport, its annotation queue.
pub(crate) type Transport = (Arc<dyn SpanExporter>, Option<Arc<dyn AnnotationSink>>);

/// Builds the client for `config` with the given exporter (`None` → disabled) and installs it as
/// the global client, retiring (shutting down) the previous one.
pub(crate) fn install_client(
    mut config: Config,
    make_exporter: impl FnOnce(&Config, Arc<ExportSettings>) -> Result<Transport, InitError>,
) -> Result<Client, InitError> {
    crate::time::warm_up();
    // With the `off` feature every client is a disabled one: no git, no worker, no network.
    let enabled = config.enabled() && !cfg!(feature = "off");
    // VCS info set explicitly (`Config::set_vcs`) wins over detection.
    if enabled && config.vcs().is_none() {
        config.detect_vcs();
    }
    let session = default_session_id(|k| std::env::var(k).ok());
    let emit = Arc::new(ExportSettings::from_config(&config, session));
    let (exporter, annotations) = if enabled {
        let (exporter, annotations) = make_exporter(&config, emit.clone())?;
        (Some(exporter), annotations)
    } else {
        (None, None)
    };
    if let Some(e) = &exporter {
        e.attach(emit.clone());
    }
    if config.debug() {
        log::debug!("staso: client initialised: {config:?}");
    }
    let root_threshold =
        crate::config::sampling_threshold(config.sampling().rate_for(Some(config.agent_name())));
    let mut inner = ClientInner {
        root_threshold,
        policy: config.capture_policy(),
        config,
        emit,
        exporter,
        previous_report: None,
        final_report: Mutex::new(None),
        shutdown_ran: AtomicBool::new(false),
        annotations,
        sampled_out_from: 0,
        sampled_out_until: AtomicU64::new(OPEN),
    };
    // Retire the previous client first so its report can be stored on the new one; spans created
    // in between are recorded by nobody, which only happens during a re-init.
    let previous = {
        let mut g = GLOBAL.write().unwrap_or_else(|e| e.into_inner());
        let prev = g.take();
        GENERATION.fetch_add(1, Ordering::AcqRel);
        stop_recording();
        prev
    };
    if let Some(prev) = previous {
        inner.previous_report = Some(prev.shutdown(DEFAULT_SHUTDOWN_TIMEOUT));
    }
    // Counted after the previous client closed its count: each root is in one client's reports.
    inner.sampled_out_from = sampled_out::total();
    let inner = Arc::new(inner);
    if let Some(other) = install(inner.clone()) {
        // Another thread initialised concurrently; retire its client too.
        other.shutdown(DEFAULT_SHUTDOWN_TIMEOUT);
    }
    Ok(Client { inner, owner: true })
}

/// A non-owning handle to the global client, if one is installed.
pub fn get_client() -> Option<Client> {
    read_global().map(|inner| Client {
        inner,
        owner: false,
    })
}

/// Flushes the global client; without one, returns the disabled report.
pub fn flush(timeout: Duration) -> DeliveryReport {
    match read_global() {
        Some(c) => Client {
            inner: c,
            owner: false,
        }
        .flush(timeout),
        None => DeliveryReport::disabled(),
    }
}

/// Uninstalls the global client first, then shuts it down within `timeout`; without one, returns
/// the disabled report.
pub fn shutdown(timeout: Duration) -> DeliveryReport {
    match take_global() {
        Some(c) => c.shutdown(timeout),
        None => DeliveryReport::disabled(),
    }
}

/// Uninstalls the global client and returns it (after the before-shutdown hooks).
fn take_global() -> Option<Arc<ClientInner>> {
    if read_global().is_some() {
        run_before_shutdown();
    }
    let mut g = GLOBAL.write().unwrap_or_else(|e| e.into_inner());
    let c = g.take();
    GENERATION.fetch_add(1, Ordering::AcqRel);
    stop_recording();
    c
}

/// The flags of "no client installed" (under the `GLOBAL` write lock).
fn stop_recording() {
    RECORDING.store(false, Ordering::Release);
    SAMPLING.store(false, Ordering::Release);
    ROOT_KEEP_THRESHOLD.store(u64::MAX, Ordering::Release);
    AGENT_ROOT_KEEP_THRESHOLD.store(u64::MAX, Ordering::Release);
}
