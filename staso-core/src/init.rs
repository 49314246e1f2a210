//! `init`: builds the configured exporters and installs the client that sends to them.

use std::sync::Arc;

use crate::client::{Client, InitError, Transport, install_client};
use crate::config::{Config, ExportSettings, ExporterConfig};
use crate::export::{AnnotationSink, SpanExporter};
use crate::exporters::fanout::FanOutExporter;
use crate::exporters::otlp::OtlpExporter;
use crate::exporters::staso::HttpExporter;
use crate::exporters::tail::TailSampler;

/// Installs the global client, sending spans in the background to the configured exporters
/// ([`Config::exporters`]: Staso at `config.base_url()` by default, OTLP, or both).
///
/// Builds and validates the new client before retiring the previous one (whose shutdown report
/// becomes [`Client::previous_shutdown_report`]). The returned value owns the client: dropping it
/// drains and shuts down within 5 s. A disabled `config` installs a client that records nothing.
///
/// The SDK logs through the `log` facade. With [`Config::debug`] on and no `log` logger installed
/// yet, `init` installs a small stderr logger for staso's own targets so the diagnostics asked for
/// are seen; it never replaces a logger, so install yours before `init`.
///
/// # Errors
/// [`InitError::Transport`] when the delivery worker cannot be started.
pub fn init(config: Config) -> Result<Client, InitError> {
    show_diagnostics(&config);
    install_client(config, |c, e| with_tail_sampling(c, start_exporters(c, e)?))
}

/// Installs a client that sends spans to `exporter` instead of the Staso service (tests, custom
/// backends). Everything else is as [`init`] does, except annotations: they need the HTTP
/// transport of [`init`], so this client drops them (with one warning).
pub fn init_with_exporter(
    config: Config,
    exporter: Arc<dyn SpanExporter>,
) -> Result<Client, InitError> {
    show_diagnostics(&config);
    install_client(config, move |c, _| with_tail_sampling(c, (exporter, None)))
}

/// Puts the tail-sampling stage in front of the exporter when `config` has tail rules.
fn with_tail_sampling(config: &Config, transport: Transport) -> Result<Transport, InitError> {
    let Some(rules) = config.sampling().tail() else {
        return Ok(transport);
    };
    let (exporter, annotations) = transport;
    let tail = TailSampler::start(exporter, rules, config)?;
    Ok((Arc::new(tail), annotations))
}

/// With [`Config::debug`] on and no `log` logger installed, installs the SDK's stderr logger so
/// the diagnostics asked for are seen (see `diagnostics.rs`).
fn show_diagnostics(config: &Config) {
    if config.debug() && crate::diagnostics::install_stderr_logger_if_none() {
        log::debug!(
            "staso: debug on and no `log` logger installed: staso's diagnostics go to stderr"
        );
    }
}

/// The exporter for `config`'s selection: one exporter directly, several behind a
/// [`FanOutExporter`] (members named `staso`, `otlp`, `otlp#2`, …); plus the annotation queue of
/// the Staso transport when it is selected.
///
/// # Errors
/// [`InitError::Transport`] when a worker cannot be started.
fn start_exporters(config: &Config, emit: Arc<ExportSettings>) -> Result<Transport, InitError> {
    let mut fan = FanOutExporter::new();
    let mut annotations: Option<Arc<dyn AnnotationSink>> = None;
    let mut otlp_count = 0;
    for selected in config.exporters() {
        match selected {
            ExporterConfig::Otlp(o) => {
                otlp_count += 1;
                let name = match otlp_count {
                    1 => "otlp".to_owned(),
                    n => format!("otlp#{n}"),
                };
                let e = OtlpExporter::start(o, config, emit.clone())?;
                fan = fan.with_otlp(name, Arc::new(e));
            }
            _ => {
                let e = HttpExporter::start(config, emit.clone())?;
                annotations = Some(Arc::new(e.annotation_sender()));
                fan = fan.with("staso", Arc::new(e));
            }
        }
    }
    if fan.len() > 1 {
        return Ok((Arc::new(fan), annotations));
    }
    Ok(match fan.into_only() {
        Some(e) => (e, annotations),
        None => {
            let e = HttpExporter::start(config, emit)?;
            let annotations: Option<Arc<dyn AnnotationSink>> =
                Some(Arc::new(e.annotation_sender()));
            (Arc::new(e), annotations)
        }
    })
}
