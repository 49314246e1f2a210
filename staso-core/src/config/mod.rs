//! SDK configuration (PROTOCOL.md §1): the resolved [`Config`], its [`ConfigBuilder`], the
//! [`CapturePolicy`] and VCS detection.
//!
//! Every knob resolves the same way: an explicit builder value wins, else its `STASO_*` env var, else
//! the default, with the per-field nuances of the official SDK kept so both SDKs read one environment
//! identically. The env is injectable ([`ConfigBuilder::build_with_env`], [`detect_vcs_with`]) so all
//! of this is testable without touching the process environment.
//!
//! File map: `builder.rs` resolves values, `validate.rs` checks them, `capture.rs` owns the capture
//! policy, `mask.rs` the content policy (mask, scrubbers, payload budgets), `vcs.rs` and `git.rs`
//! detect the commit, `agent_id.rs` derives the agent id.

mod agent_id;
mod builder;
mod capture;
mod error;
mod exporters;
mod git;
mod mask;
mod otlp_env;
mod resolved;
mod sampling;
mod settings;
mod validate;
mod vcs;

pub use agent_id::generate_agent_id;
pub use builder::ConfigBuilder;
pub use capture::{CapturePolicy, OPERATIONAL_ALLOW_LIST, input_allowed};
pub use error::ConfigError;
pub use exporters::{
    DEFAULT_OTLP_TIMEOUT, Exporter, ExporterConfig, OtlpCompression, OtlpConfig, OtlpProtocol,
    OtlpSettings, otlp, staso,
};
pub use mask::{
    ContentPolicy, DEFAULT_MAX_FIELD_BYTES, DEFAULT_MAX_SPAN_BYTES, MAX_BUDGET_BYTES,
    MIN_BUDGET_BYTES, MaskContext, MaskField, MaskFn,
};
pub use resolved::Config;
pub use sampling::{DEFAULT_MAX_HELD_SPANS, Sampling, TailRules, trace_sampled};
pub(crate) use sampling::{sampled_below, threshold as sampling_threshold};
pub use settings::{ExportSettings, default_session_id};
pub use vcs::{VcsInfo, detect_vcs_with, strip_credentials};

#[cfg(test)]
mod test_support;
#[cfg(test)]
mod tests;
