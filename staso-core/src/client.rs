//! The client registry: the one installed client ([`Client`]), `get_client`, `flush`, `shutdown`,
//! and the hand-off of annotations to the client's sink. `init`, which builds the exporters, sits
//! above in `init.rs`; the per-thread cache of the client is in `thread_state.rs`.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use crate::annotation::{Annotation, AnnotationError, AnnotationValue};
use crate::config::{CapturePolicy, Config, ExportSettings, default_session_id};
use crate::export::{AnnotationSink, SpanExporter};
use crate::report::DeliveryReport;

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
    /// Spans of traces head sampling dropped without recording them (their roots), added to every
    /// report as `sampled_out`.
    pub(crate) sampled_out: AtomicU64,
}

impl ClientInner {
    /// Adds the spans head sampling dropped on the callers' threads to `report`.
    fn add_sampled_out(&self, report: &mut DeliveryReport) {
        report.sampled_out += self.sampled_out.load(Ordering::Relaxed);
    }

    fn shutdown(&self, timeout: Duration) -> DeliveryReport {
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
/// Bumped on every change of `GLOBAL`; per-thread caches compare against it.
static GENERATION: AtomicU64 = AtomicU64::new(1);
/// True while an enabled client is installed: the one load a disabled span pays.
static RECORDING: AtomicBool = AtomicBool::new(false);
/// True while the installed client samples (some rate below 1): read by a new root only.
static SAMPLING: AtomicBool = AtomicBool::new(false);

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
    let mut g = GLOBAL.write().unwrap_or_else(|e| e.into_inner());
    let prev = g.replace(inner);
    GENERATION.fetch_add(1, Ordering::AcqRel);
    SAMPLING.store(sampling, Ordering::Release);
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
        RECORDING.store(false, Ordering::Release);
        SAMPLING.store(false, Ordering::Release);
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

    /// [`flush`](Self::flush) for async code: the same report, but the wait runs on a helper
    /// thread while this future is pending, so the executor thread is free to run other tasks
    /// meanwhile (any executor; no runtime of ours is needed).
    ///
    /// ```no_run
    /// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
    /// # let config = staso_core::Config::builder().api_key("ak_live_123").build()?;
    /// let client = staso_core::init(config)?;
    /// let report = client.flush_async(std::time::Duration::from_secs(2)).await;
    /// assert!(report.ok(), "{report:?}");
    /// # Ok(())
    /// # }
    /// ```
    pub async fn flush_async(&self, timeout: Duration) -> DeliveryReport {
        off_thread(self.inner.clone(), move |c| {
            Client::handle(c).flush(timeout)
        })
        .await
    }

    /// [`shutdown`](Self::shutdown) for async code: the same report, awaited without blocking the
    /// executor thread (see [`flush_async`](Self::flush_async)).
    pub async fn shutdown_async(&self, timeout: Duration) -> DeliveryReport {
        uninstall_if(&self.inner);
        off_thread(self.inner.clone(), move |c| c.shutdown(timeout)).await
    }

    /// A non-owning handle to `inner`.
    fn handle(inner: Arc<ClientInner>) -> Client {
        Client {
            inner,
            owner: false,
        }
    }

    /// The shutdown report of the client this one replaced, if `init` retired one.
    pub fn previous_shutdown_report(&self) -> Option<&DeliveryReport> {
        self.inner.previous_report.as_ref()
    }

    /// Validates `annotation` and queues it on this client's delivery worker, like
    /// [`Annotation::send`] does on the global client. Never blocks.
    ///
    /// # Errors
    /// [`AnnotationError`] when the annotation is invalid; nothing is queued then.
    pub fn annotate(&self, annotation: Annotation) -> Result<(), AnnotationError> {
        annotation.validate()?;
        submit(&self.inner, annotation);
        Ok(())
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
    let mut inner = ClientInner {
        policy: config.capture_policy(),
        config,
        emit,
        exporter,
        previous_report: None,
        final_report: Mutex::new(None),
        shutdown_ran: AtomicBool::new(false),
        annotations,
        sampled_out: AtomicU64::new(0),
    };
    // Retire the previous client first so its report can be stored on the new one; spans created
    // in between are recorded by nobody, which only happens during a re-init.
    let previous = {
        let mut g = GLOBAL.write().unwrap_or_else(|e| e.into_inner());
        let prev = g.take();
        GENERATION.fetch_add(1, Ordering::AcqRel);
        RECORDING.store(false, Ordering::Release);
        prev
    };
    if let Some(prev) = previous {
        inner.previous_report = Some(prev.shutdown(DEFAULT_SHUTDOWN_TIMEOUT));
    }
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

/// [`flush`] for async code: the same report, without blocking the executor thread while it
/// waits (the wait runs on a helper thread; this future completes when it is done).
///
/// ```no_run
/// # async fn handler() {
/// let report = staso_core::flush_async(std::time::Duration::from_secs(2)).await;
/// if !report.ok() {
///     eprintln!("spans still pending: {report:?}");
/// }
/// # }
/// ```
pub async fn flush_async(timeout: Duration) -> DeliveryReport {
    match read_global() {
        Some(c) => off_thread(c, move |c| Client::handle(c).flush(timeout)).await,
        None => DeliveryReport::disabled(),
    }
}

/// [`shutdown`] for async code: uninstalls the global client at once, then awaits its shutdown
/// without blocking the executor thread (see [`flush_async`]).
///
/// ```no_run
/// # async fn stop() {
/// let report = staso_core::shutdown_async(std::time::Duration::from_secs(5)).await;
/// # let _ = report;
/// # }
/// ```
pub async fn shutdown_async(timeout: Duration) -> DeliveryReport {
    match take_global() {
        Some(c) => off_thread(c, move |c| c.shutdown(timeout)).await,
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
    RECORDING.store(false, Ordering::Release);
    SAMPLING.store(false, Ordering::Release);
    c
}

/// Runs a blocking flush or shutdown `wait` on a helper thread and awaits its report, so the
/// caller's executor thread stays free. The flush/shutdown waits are condvar waits inside the
/// exporters (`SpanExporter` is a sync trait, custom exporters included), hence a thread rather
/// than an async wake-up. If no thread can be started, the wait runs here, blocking.
async fn off_thread(
    client: Arc<ClientInner>,
    wait: impl FnOnce(Arc<ClientInner>) -> DeliveryReport + Send + Clone + 'static,
) -> DeliveryReport {
    if client.exporter.is_none() {
        // A disabled client has nothing to wait for: answer here, without a helper thread.
        return wait(client);
    }
    let (tx, rx) = tokio::sync::oneshot::channel();
    let (on_thread, here) = (client.clone(), wait.clone());
    let spawned = std::thread::Builder::new()
        .name("staso-flush".into())
        .spawn(move || {
            // The receiver may be gone (the future was dropped): the wait still ran.
            let _ = tx.send(wait(on_thread));
        });
    match spawned {
        Ok(_) => match rx.await {
            Ok(report) => report,
            // The helper panicked inside the exporter's wait: nothing was reported.
            Err(_) => {
                log::warn!("staso: the flush/shutdown helper thread failed; waiting here");
                here(client)
            }
        },
        Err(e) => {
            log::warn!("staso: cannot start a flush/shutdown helper thread ({e}); waiting here");
            here(client)
        }
    }
}

impl Annotation {
    /// Validates, then queues the annotation on the global client's delivery worker and returns
    /// at once. Never blocks, never does I/O, so it is fine inside async code.
    ///
    /// Without a client a warning is logged and nothing is sent; with a disabled client nothing
    /// is sent (debug log). Delivery failures, and a full queue, are logged and counted in
    /// [`DeliveryReport::annotations`](crate::report::DeliveryReport::annotations), not returned.
    ///
    /// # Errors
    /// [`AnnotationError`] when [`validate`](Self::validate) fails; nothing is queued then.
    pub fn send(self) -> Result<(), AnnotationError> {
        self.validate()?;
        match current_client() {
            Some(client) => submit(&client, self),
            None => log::warn!(
                "staso: annotation {:?} on trace {} not sent: no client (call staso::init first)",
                self.name,
                self.trace_id
            ),
        }
        Ok(())
    }
}

/// Annotates a whole trace: `Annotation::new(trace_id, name, value).send()`.
///
/// Use [`Annotation::new`] to scope it to a span or add a comment. See [`Annotation::send`] for
/// what happens without a client and how delivery is reported.
///
/// ```no_run
/// # let trace_id = String::new();
/// staso_core::annotate(&trace_id, "user_rating", 4)?;
/// staso_core::annotate(&trace_id, "category", "billing")?;
/// # Ok::<(), staso_core::AnnotationError>(())
/// ```
///
/// # Errors
/// [`AnnotationError`] for an empty name or trace id, or a non-finite number.
pub fn annotate(
    trace_id: impl Into<String>,
    name: impl Into<String>,
    value: impl Into<AnnotationValue>,
) -> Result<(), AnnotationError> {
    Annotation::new(trace_id, name, value).send()
}

/// Hands a validated annotation to `client`'s transport.
fn submit(client: &ClientInner, annotation: Annotation) {
    if client.exporter.is_none() {
        log::debug!(
            "staso: annotation {:?} not sent: the client is disabled",
            annotation.name
        );
        return;
    }
    match &client.annotations {
        // Rejections (queue full, shut down) are logged and counted by the transport.
        Some(sink) => {
            let _ = sink.offer(annotation);
        }
        None => {
            static WARNED: AtomicBool = AtomicBool::new(false);
            if !WARNED.swap(true, Ordering::Relaxed) {
                log::warn!(
                    "staso: annotations are not sent by clients installed with \
                     init_with_exporter (they need the HTTP transport of init); dropping them"
                );
            }
        }
    }
}
