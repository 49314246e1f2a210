//! Exporter selection: where spans go (Staso, OTLP, or both) and the resolved OTLP settings.
//!
//! [`Exporter`] is what users pass to [`ConfigBuilder::exporter`](super::ConfigBuilder::exporter);
//! [`ExporterConfig`] is what a built [`Config`](super::Config) holds after the `OTEL_*`
//! variables were applied (see [`crate::otlp`] for the variables and the span mapping).

use std::fmt;
use std::time::Duration;

use super::ConfigError;
use super::otlp_env::{self as env, OtlpEnv};
pub use super::otlp_env::{OtlpCompression, OtlpProtocol};

/// Default OTLP export timeout (`OTEL_EXPORTER_OTLP_TIMEOUT`'s default, 10 s).
pub const DEFAULT_OTLP_TIMEOUT: Duration = Duration::from_secs(10);

/// Where spans are sent. The default is [`Exporter::staso`] alone.
///
/// ```
/// use staso_core::config::{Config, Exporter};
/// let config = Config::builder()
///     .agent_name("support-bot")
///     .exporter(Exporter::otlp("http://127.0.0.1:4318"))
///     .capture_git(false)
///     .build_with_env(|_| None)
///     .unwrap(); // no api key needed: Staso is not selected
/// assert_eq!(config.exporters().len(), 1);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Exporter {
    /// The Staso service at `base_url` (needs an api key).
    Staso,
    /// An OpenTelemetry collector or backend over OTLP/HTTP.
    Otlp(OtlpSettings),
}

impl Exporter {
    /// The Staso service (the default).
    pub fn staso() -> Self {
        Exporter::Staso
    }

    /// OTLP/HTTP to `endpoint`: a base URL such as `http://127.0.0.1:4318` (`/v1/traces` is
    /// appended unless the URL already ends with it). Protocol, compression, headers and timeout
    /// fall back to the `OTEL_EXPORTER_OTLP_*` variables; use [`OtlpSettings`] to set them in code.
    pub fn otlp(endpoint: impl Into<String>) -> Self {
        Exporter::Otlp(OtlpSettings::new(endpoint))
    }
}

/// [`Exporter::staso`], for `.exporters([staso(), otlp("http://127.0.0.1:4318")])`.
pub fn staso() -> Exporter {
    Exporter::staso()
}

/// [`Exporter::otlp`], for `.exporters([staso(), otlp("http://127.0.0.1:4318")])`.
pub fn otlp(endpoint: impl Into<String>) -> Exporter {
    Exporter::otlp(endpoint)
}

impl From<OtlpSettings> for Exporter {
    fn from(s: OtlpSettings) -> Self {
        Exporter::Otlp(s)
    }
}

/// OTLP settings chosen in code; anything left unset falls back to its `OTEL_*` variable.
///
/// ```
/// use staso_core::config::{Exporter, OtlpCompression, OtlpProtocol, OtlpSettings};
/// let otlp: Exporter = OtlpSettings::new("http://127.0.0.1:4318")
///     .protocol(OtlpProtocol::HttpJson)
///     .compression(OtlpCompression::Gzip)
///     .header("x-tenant", "acme")
///     .into();
/// ```
#[derive(Clone, Default, PartialEq, Eq)]
#[must_use]
pub struct OtlpSettings {
    endpoint: Option<String>,
    protocol: Option<OtlpProtocol>,
    compression: Option<OtlpCompression>,
    headers: Vec<(String, String)>,
    timeout: Option<Duration>,
    insecure: Option<bool>,
}

impl OtlpSettings {
    /// Settings for the base URL `endpoint` (see [`Exporter::otlp`]).
    pub fn new(endpoint: impl Into<String>) -> Self {
        OtlpSettings {
            endpoint: Some(endpoint.into()),
            ..Default::default()
        }
    }

    /// The payload encoding.
    pub fn protocol(mut self, p: OtlpProtocol) -> Self {
        self.protocol = Some(p);
        self
    }

    /// Request compression.
    pub fn compression(mut self, c: OtlpCompression) -> Self {
        self.compression = Some(c);
        self
    }

    /// Adds a request header (e.g. an auth token of the backend). Code headers replace
    /// `OTEL_EXPORTER_OTLP_HEADERS` entries of the same name.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Per-request timeout (default 10 s).
    pub fn timeout(mut self, t: Duration) -> Self {
        self.timeout = Some(t);
        self
    }

    /// Allows a plain `http://` endpoint on a host that is not loopback (default: refused, as
    /// spans and headers would cross the network in clear text; `OTEL_EXPORTER_OTLP_INSECURE=true`
    /// allows it too). Loopback hosts (`127.0.0.0/8`, `::1`, `localhost`) need no opt-in.
    ///
    /// ```
    /// use staso_core::config::{Config, OtlpSettings};
    /// let build = |otlp: OtlpSettings| {
    ///     Config::builder()
    ///         .agent_name("bot")
    ///         .exporter(otlp)
    ///         .capture_git(false)
    ///         .build_with_env(|_| None)
    /// };
    /// assert!(build(OtlpSettings::new("http://collector:4318")).is_err());
    /// assert!(build(OtlpSettings::new("http://collector:4318").insecure(true)).is_ok());
    /// ```
    pub fn insecure(mut self, allow: bool) -> Self {
        self.insecure = Some(allow);
        self
    }
}

impl fmt::Debug for OtlpSettings {
    /// Header values are hidden: they usually carry credentials.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OtlpSettings")
            .field("endpoint", &self.endpoint)
            .field("protocol", &self.protocol)
            .field("compression", &self.compression)
            .field("headers", &header_names(&self.headers))
            .field("timeout", &self.timeout)
            .field("insecure", &self.insecure)
            .finish()
    }
}

fn header_names(h: &[(String, String)]) -> Vec<&str> {
    h.iter().map(|(k, _)| k.as_str()).collect()
}

/// A resolved exporter of a built [`Config`](super::Config).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ExporterConfig {
    /// The Staso service at `Config::base_url`.
    Staso,
    /// OTLP/HTTP with every setting resolved.
    Otlp(OtlpConfig),
}

/// Resolved OTLP settings: code, else the `OTEL_*` variables, else the defaults.
#[derive(Clone, PartialEq, Eq)]
pub struct OtlpConfig {
    /// The full traces URL (`…/v1/traces`).
    pub traces_url: String,
    /// Payload encoding.
    pub protocol: OtlpProtocol,
    /// Body compression.
    pub compression: OtlpCompression,
    /// Extra request headers.
    pub headers: Vec<(String, String)>,
    /// Per-request timeout.
    pub timeout: Duration,
    /// `OTEL_SERVICE_NAME`, which replaces the agent name as `service.name`.
    pub service_name: Option<String>,
    /// `OTEL_RESOURCE_ATTRIBUTES`, in order.
    pub resource_attributes: Vec<(String, String)>,
}

impl fmt::Debug for OtlpConfig {
    /// Header values are hidden: they usually carry credentials.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OtlpConfig")
            .field("traces_url", &self.traces_url)
            .field("protocol", &self.protocol)
            .field("compression", &self.compression)
            .field("headers", &header_names(&self.headers))
            .field("timeout", &self.timeout)
            .field("service_name", &self.service_name)
            .field("resource_attributes", &self.resource_attributes)
            .finish()
    }
}

/// Resolves the selection. `chosen` is what code asked for (`None`: nothing); `has_api_key`
/// says whether a Staso api key is configured (code or `STASO_API_KEY`).
///
/// With nothing chosen: OTLP when an OTLP endpoint variable is set (plus Staso when there is an
/// api key), else Staso alone.
pub(crate) fn resolve(
    chosen: Option<Vec<Exporter>>,
    has_api_key: bool,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Vec<ExporterConfig>, ConfigError> {
    let otel = OtlpEnv::read(env)?;
    let chosen = match chosen {
        Some(list) if !list.is_empty() => list,
        _ if otel.endpoint_set() => {
            let mut list = vec![Exporter::Otlp(OtlpSettings::default())];
            if has_api_key {
                list.insert(0, Exporter::Staso);
            }
            list
        }
        _ => vec![Exporter::Staso],
    };
    let mut out: Vec<ExporterConfig> = Vec::with_capacity(chosen.len());
    for e in chosen {
        let resolved = match e {
            Exporter::Staso => ExporterConfig::Staso,
            Exporter::Otlp(s) => ExporterConfig::Otlp(resolve_otlp(s, &otel)?),
        };
        // Each destination once: a span is delivered to it exactly once.
        if !out.contains(&resolved) {
            out.push(resolved);
        }
    }
    Ok(out)
}

fn resolve_otlp(s: OtlpSettings, otel: &OtlpEnv) -> Result<OtlpConfig, ConfigError> {
    let traces_url = match s.endpoint.filter(|e| !e.trim().is_empty()) {
        Some(base) => env::traces_url_from_base(base.trim(), true),
        None => otel.traces_url().ok_or(ConfigError::MissingOtlpEndpoint)?,
    };
    env::check_endpoint(&traces_url, s.insecure.or(otel.insecure).unwrap_or(false))?;
    let mut headers = otel.headers.clone();
    for (k, v) in s.headers {
        headers.retain(|(ek, _)| !ek.eq_ignore_ascii_case(&k));
        headers.push((k, v));
    }
    Ok(OtlpConfig {
        traces_url,
        protocol: s.protocol.or(otel.protocol).unwrap_or_default(),
        compression: s.compression.or(otel.compression).unwrap_or_default(),
        headers,
        timeout: s.timeout.or(otel.timeout).unwrap_or(DEFAULT_OTLP_TIMEOUT),
        service_name: otel.service_name.clone(),
        resource_attributes: otel.resource_attributes.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::test_support::env_of;

    fn otlp_only(
        settings: OtlpSettings,
        vars: &[(&str, &str)],
    ) -> Result<Vec<ExporterConfig>, ConfigError> {
        resolve(Some(vec![Exporter::Otlp(settings)]), false, &env_of(vars))
    }

    #[test]
    fn plain_http_to_a_remote_collector_needs_an_explicit_opt_in() {
        let remote = "http://collector.internal:4318";
        let err = otlp_only(OtlpSettings::new(remote), &[]).unwrap_err();
        assert_eq!(
            err,
            ConfigError::InsecureOtlpEndpoint {
                endpoint: remote.into()
            }
        );
        assert!(otlp_only(OtlpSettings::new(remote).insecure(true), &[]).is_ok());
        let allow = [("OTEL_EXPORTER_OTLP_INSECURE", "true")];
        assert!(otlp_only(OtlpSettings::new(remote), &allow).is_ok());
        let traces_allow = [("OTEL_EXPORTER_OTLP_TRACES_INSECURE", "true")];
        assert!(otlp_only(OtlpSettings::new(remote), &traces_allow).is_ok());
        // Code wins over the environment.
        assert!(otlp_only(OtlpSettings::new(remote).insecure(false), &allow).is_err());
        // The endpoint from the environment is checked the same way.
        let env_endpoint = [("OTEL_EXPORTER_OTLP_ENDPOINT", remote)];
        assert!(matches!(
            resolve(None, false, &env_of(&env_endpoint)),
            Err(ConfigError::InsecureOtlpEndpoint { .. })
        ));
        // Loopback and https need nothing.
        for ok in [
            "http://127.0.0.1:4318",
            "http://localhost:4318",
            "https://otel.example.com",
        ] {
            assert!(otlp_only(OtlpSettings::new(ok), &[]).is_ok(), "{ok}");
        }
    }
}
