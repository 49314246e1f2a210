//! `ConfigError`: why a configuration could not be built (PROTOCOL.md §1.1–§1.3).

/// Why [`ConfigBuilder::build`](super::ConfigBuilder::build) failed.
///
/// Every message names the field (or env var) and the problem. None of them ever contains the api key,
/// and the `base_url` messages do not repeat the URL because it may carry credentials.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// No api key was given and `STASO_API_KEY` is unset or empty.
    #[error("api_key is required: pass it to the builder or set the STASO_API_KEY env var")]
    MissingApiKey,
    /// No agent name was given and `STASO_AGENT_NAME` is unset or empty.
    #[error("agent_name is required: pass it to the builder or set the STASO_AGENT_NAME env var")]
    MissingAgentName,
    /// The api key is blank or a well-known placeholder such as `change-me`.
    #[error("api_key is missing or uses a placeholder value")]
    PlaceholderApiKey,
    /// The base URL is not an absolute `http`/`https` URL with a host.
    #[error("base_url must be an absolute HTTP(S) URL")]
    BaseUrlNotAbsolute,
    /// The base URL has userinfo, a query or a fragment.
    #[error("base_url must not contain credentials, a query, or a fragment")]
    BaseUrlHasExtras,
    /// The base URL uses `http` for a host that is not loopback.
    #[error("base_url must use HTTPS outside loopback development (host `{host}`)")]
    BaseUrlInsecure {
        /// The offending host.
        host: String,
    },
    /// `batch_size` is outside `1..=500`.
    #[error("batch_size must be between 1 and 500 (got {value})")]
    BatchSizeOutOfRange {
        /// The rejected value.
        value: usize,
    },
    /// `flush_interval` is zero.
    #[error("flush_interval must be positive (got 0)")]
    FlushIntervalNotPositive,
    /// `max_queue_size` is zero.
    #[error("max_queue_size must be positive (got 0)")]
    MaxQueueSizeNotPositive,
    /// A `STASO_CAPTURE_*` env var holds something other than a strict boolean.
    #[error("{var} must be one of: 1/0, true/false, yes/no, on/off (got {value:?})")]
    InvalidCaptureEnv {
        /// The env var, e.g. `STASO_CAPTURE_REQUEST`.
        var: &'static str,
        /// Its raw value.
        value: String,
    },
    /// An OTLP exporter was chosen without an endpoint and no `OTEL_EXPORTER_OTLP_*ENDPOINT` is
    /// set.
    #[error(
        "the OTLP exporter needs an endpoint: pass it to Exporter::otlp or set OTEL_EXPORTER_OTLP_ENDPOINT"
    )]
    MissingOtlpEndpoint,
    /// The OTLP endpoint is not an absolute `http`/`https` URL with a host.
    #[error("the OTLP endpoint must be an absolute HTTP(S) URL ({reason})")]
    InvalidOtlpEndpoint {
        /// What is wrong (never the URL itself).
        reason: String,
    },
    /// The OTLP endpoint uses plain `http` for a host that is not loopback, and plain HTTP was
    /// not allowed ([`OtlpSettings::insecure`](super::OtlpSettings::insecure),
    /// `OTEL_EXPORTER_OTLP_INSECURE`).
    #[error(
        "the OTLP endpoint {endpoint} is plain HTTP to a host that is not loopback: spans and \
         headers would cross the network in clear text; use https, or allow it with \
         OtlpSettings::insecure(true) or OTEL_EXPORTER_OTLP_INSECURE=true"
    )]
    InsecureOtlpEndpoint {
        /// The endpoint's scheme, host and port (never its credentials, path or query).
        endpoint: String,
    },
    /// A payload budget (`max_field_bytes`, `max_span_bytes` or their `STASO_MAX_*_BYTES` env
    /// var) is not a whole number of bytes between 1 KiB and 1 GiB.
    #[error("{field} must be a whole number of bytes between 1024 and 1073741824 (got {value})")]
    InvalidPayloadBudget {
        /// The setter or env var, e.g. `max_field_bytes` or `STASO_MAX_SPAN_BYTES`.
        field: &'static str,
        /// The rejected value, as given.
        value: String,
    },
    /// An `OTEL_*` variable holds a value the OTLP exporter does not support.
    #[error("{var} has an unsupported value {value:?}")]
    InvalidOtelEnv {
        /// The variable, e.g. `OTEL_EXPORTER_OTLP_PROTOCOL`.
        var: &'static str,
        /// Its value (`"<hidden>"` for headers).
        value: String,
    },
    /// A sampling rate (`sample_rate`, `agent_sample_rate`, `STASO_SAMPLE_RATE`) or a tail rule
    /// threshold is not a number in its range.
    #[error("{setting} must be {expected} (got {value})")]
    InvalidSampling {
        /// The setter or env var, e.g. `sample_rate` or `agent_sample_rate("planner")`.
        setting: String,
        /// What it must be, e.g. `a number between 0 and 1`.
        expected: &'static str,
        /// The rejected value as given.
        value: String,
    },
}

impl ConfigError {
    /// The field or env var at fault: `"api_key"`, `"base_url"`, `"batch_size"`,
    /// `"STASO_CAPTURE_REQUEST"`, …
    pub fn field(&self) -> &str {
        match self {
            Self::MissingApiKey | Self::PlaceholderApiKey => "api_key",
            Self::MissingAgentName => "agent_name",
            Self::BaseUrlNotAbsolute | Self::BaseUrlHasExtras | Self::BaseUrlInsecure { .. } => {
                "base_url"
            }
            Self::BatchSizeOutOfRange { .. } => "batch_size",
            Self::FlushIntervalNotPositive => "flush_interval",
            Self::MaxQueueSizeNotPositive => "max_queue_size",
            Self::InvalidCaptureEnv { var, .. } | Self::InvalidOtelEnv { var, .. } => var,
            Self::InvalidPayloadBudget { field, .. } => field,
            Self::MissingOtlpEndpoint
            | Self::InvalidOtlpEndpoint { .. }
            | Self::InsecureOtlpEndpoint { .. } => "otlp_endpoint",
            Self::InvalidSampling { setting, .. } => setting,
        }
    }
}
