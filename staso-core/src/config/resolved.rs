//! The resolved [`Config`]: what a built configuration holds and answers.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use super::capture::CapturePolicy;
use super::exporters::ExporterConfig;
use super::mask::ContentPolicy;
use super::vcs::{VcsInfo, detect_vcs_with};

/// A resolved, validated (when enabled) SDK configuration. Build one with [`Config::builder`].
///
/// Its `Debug` output never shows the api key.
#[derive(Clone)]
pub struct Config {
    pub(super) api_key: String,
    pub(super) agent_name: String,
    pub(super) agent_version: String,
    pub(super) agent_id: String,
    pub(super) base_url: String,
    pub(super) batch_size: usize,
    pub(super) flush_interval: Duration,
    pub(super) max_queue_size: usize,
    pub(super) enabled: bool,
    pub(super) debug: bool,
    pub(super) environment: String,
    pub(super) workspace_slug: String,
    pub(super) capture_policy: CapturePolicy,
    pub(super) capture_git: bool,
    pub(super) llm_guard: bool,
    pub(super) llm_traceparent: bool,
    pub(super) vcs: Option<VcsInfo>,
    pub(super) exporters: Vec<ExporterConfig>,
    pub(super) prompt_cache_ttl: Duration,
    pub(super) sampling: super::Sampling,
    pub(super) content: ContentPolicy,
}

impl Config {
    /// The api key, sent untrimmed as the bearer token.
    pub fn api_key(&self) -> &str {
        &self.api_key
    }

    /// The configured agent name.
    pub fn agent_name(&self) -> &str {
        &self.agent_name
    }

    /// The deployment label (may be `""`).
    pub fn agent_version(&self) -> &str {
        &self.agent_version
    }

    /// [`generate_agent_id`](super::generate_agent_id) of the agent name.
    pub fn agent_id(&self) -> &str {
        &self.agent_id
    }

    /// The service URL without trailing `/`.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// Spans per ingest request (default 100).
    pub fn batch_size(&self) -> usize {
        self.batch_size
    }

    /// Interval between partial-batch sends (default 5 s).
    pub fn flush_interval(&self) -> Duration {
        self.flush_interval
    }

    /// Queue capacity (default 10 000).
    pub fn max_queue_size(&self) -> usize {
        self.max_queue_size
    }

    /// False: nothing is sent (default true).
    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// Verbose SDK logging requested.
    pub fn debug(&self) -> bool {
        self.debug
    }

    /// Environment label (default `"default"`).
    pub fn environment(&self) -> &str {
        &self.environment
    }

    /// Workspace slug (default `"default"`).
    pub fn workspace_slug(&self) -> &str {
        &self.workspace_slug
    }

    /// The resolved capture policy.
    pub fn capture_policy(&self) -> CapturePolicy {
        self.capture_policy
    }

    /// Legacy view: `request && system_prompt`.
    pub fn capture_messages(&self) -> bool {
        self.capture_policy.request && self.capture_policy.system_prompt
    }

    /// Whether VCS context is detected (default true).
    pub fn capture_git(&self) -> bool {
        self.capture_git
    }

    /// Whether the LLM integrations check a reply's tool calls with the guard (default true).
    pub fn llm_guard(&self) -> bool {
        self.llm_guard
    }

    /// Whether the LLM integrations send `traceparent` to the provider (default true).
    pub fn llm_traceparent(&self) -> bool {
        self.llm_traceparent
    }

    /// The detected commit; `None` before [`detect_vcs`](Self::detect_vcs) ran, when nothing was found,
    /// or when `capture_git` is off.
    pub fn vcs(&self) -> Option<&VcsInfo> {
        self.vcs.as_ref()
    }

    /// Runs VCS detection (PROTOCOL.md §1.5) against the process environment and current directory
    /// when `capture_git` is on; clears it otherwise. May run `git` (5 s timeout per command).
    pub fn detect_vcs(&mut self) {
        self.vcs = if self.capture_git {
            let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
            detect_vcs_with(|name| std::env::var(name).ok(), &cwd)
        } else {
            None
        };
    }

    /// Where spans go, resolved (default: Staso alone; see [`ConfigBuilder::exporter`](super::ConfigBuilder::exporter)).
    pub fn exporters(&self) -> &[ExporterConfig] {
        &self.exporters
    }

    /// Whether the Staso service is one of the exporters.
    pub fn sends_to_staso(&self) -> bool {
        self.exporters.contains(&ExporterConfig::Staso)
    }

    /// Head sampling and tail rules.
    pub fn sampling(&self) -> &super::Sampling {
        &self.sampling
    }

    /// How long a fetched prompt is served from memory (default 60 s).
    pub fn prompt_cache_ttl(&self) -> Duration {
        self.prompt_cache_ttl
    }

    /// The mask, scrubbers and payload budgets applied to captured content on the exporters'
    /// worker threads (see [`ConfigBuilder::mask`](super::ConfigBuilder::mask)).
    pub fn content_policy(&self) -> &ContentPolicy {
        &self.content
    }

    /// Sets the VCS context directly, e.g. for a host that knows its commit or for tests. Ignores
    /// `capture_git`.
    pub fn set_vcs(&mut self, vcs: Option<VcsInfo>) {
        self.vcs = vcs;
    }
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("api_key", &format_args!("***"))
            .field("agent_name", &self.agent_name)
            .field("agent_version", &self.agent_version)
            .field("agent_id", &self.agent_id)
            .field("base_url", &self.base_url)
            .field("batch_size", &self.batch_size)
            .field("flush_interval", &self.flush_interval)
            .field("max_queue_size", &self.max_queue_size)
            .field("enabled", &self.enabled)
            .field("debug", &self.debug)
            .field("environment", &self.environment)
            .field("workspace_slug", &self.workspace_slug)
            .field("capture_policy", &self.capture_policy)
            .field("capture_git", &self.capture_git)
            .field("llm_guard", &self.llm_guard)
            .field("llm_traceparent", &self.llm_traceparent)
            .field("vcs", &self.vcs)
            .field("exporters", &self.exporters)
            .field("prompt_cache_ttl", &self.prompt_cache_ttl)
            .field("sampling", &self.sampling)
            .field("content", &self.content)
            .finish()
    }
}
