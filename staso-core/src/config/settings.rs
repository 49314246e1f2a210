//! What a client's exporters need from its configuration, resolved once at `init`: the
//! [`ExportSettings`], including the session id of spans outside any conversation.

use super::capture::CapturePolicy;
use super::mask::ContentPolicy;
use super::resolved::Config;
use super::vcs::VcsInfo;

/// Everything from the client's configuration that exporters and serialization need: handed to
/// each exporter once, by [`SpanExporter::attach`](crate::SpanExporter::attach).
#[derive(Clone, Debug)]
pub struct ExportSettings {
    /// Capture policy.
    pub policy: CapturePolicy,
    /// UUIDv5 of the configured agent name.
    pub agent_id: String,
    /// Configured agent name (spans outside any `#[agent]`).
    pub agent_name: String,
    /// Deployment label.
    pub agent_version: String,
    /// Trace-level `environment`.
    pub environment: String,
    /// Trace-level `workspace_slug`.
    pub workspace_slug: String,
    /// Session id of spans outside any conversation.
    pub default_session: String,
    /// VCS metadata for root spans.
    pub vcs: Option<VcsInfo>,
    /// Mask, scrubbers and payload budgets, applied by each exporter on its worker thread.
    pub content: ContentPolicy,
}

impl ExportSettings {
    /// The context of a client built from `config`.
    pub fn from_config(config: &Config, default_session: String) -> Self {
        ExportSettings {
            policy: config.capture_policy(),
            agent_id: config.agent_id().to_owned(),
            agent_name: config.agent_name().to_owned(),
            agent_version: config.agent_version().to_owned(),
            environment: config.environment().to_owned(),
            workspace_slug: config.workspace_slug().to_owned(),
            default_session,
            vcs: config.vcs().cloned(),
            // A fresh copy, so the mask-panic warning is rate-limited per client.
            content: {
                let c = config.content_policy();
                ContentPolicy::new(
                    c.mask.clone(),
                    c.scrub_secrets,
                    c.max_field_bytes,
                    c.max_span_bytes,
                )
            },
        }
    }
}

/// The session id of spans outside any conversation: trimmed `STASO_SESSION_ID`, else a UUIDv4.
pub fn default_session_id(env: impl Fn(&str) -> Option<String>) -> String {
    match env("STASO_SESSION_ID").map(|s| s.trim().to_owned()) {
        Some(s) if !s.is_empty() => s,
        _ => uuid::Uuid::new_v4().to_string(),
    }
}
