//! `ConfigBuilder`: explicit value, else `STASO_*` env var, else default (PROTOCOL.md §1.1), then the
//! capture policy (§1.3) and, when enabled, validation (§1.2).

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use super::capture::CaptureOverrides;
use super::exporters::{self, Exporter};
use super::mask::{
    ContentPolicy, DEFAULT_MAX_FIELD_BYTES, DEFAULT_MAX_SPAN_BYTES, MaskContext, MaskFn,
};
use super::sampling::{SamplingOverrides, TailRules};
use super::validate::{RuntimeSettings, check_budget, parse_budget_env, validate, validate_limits};
use super::{CapturePolicy, Config, ConfigError, generate_agent_id};

/// Used when neither the builder nor `STASO_BASE_URL` gives one.
pub(crate) const DEFAULT_BASE_URL: &str = "https://api.staso.ai";
const DEFAULT_BATCH_SIZE: usize = 100;
/// Decision 1 of PROTOCOL.md: the documented 5 s, not the 0.5 s the official `init` passes.
const DEFAULT_FLUSH_INTERVAL: Duration = Duration::from_secs(5);
const DEFAULT_MAX_QUEUE_SIZE: usize = 10_000;
const DEFAULT_ENVIRONMENT: &str = "default";
const DEFAULT_WORKSPACE_SLUG: &str = "default";
const DEFAULT_PROMPT_CACHE_TTL: Duration = Duration::from_secs(60);

/// Collects explicit settings for a [`Config`]; anything not set falls back to its `STASO_*` env var,
/// then to the default.
///
/// ```
/// use staso_core::config::Config;
/// let config = Config::builder()
///     .api_key("sk-live-123")
///     .agent_name("planner")
///     .capture_git(false)
///     .build_with_env(|_| None)
///     .unwrap();
/// assert_eq!(config.base_url(), "https://api.staso.ai");
/// ```
#[derive(Clone, Default)]
#[must_use = "a builder does nothing until `build` is called"]
pub struct ConfigBuilder {
    api_key: Option<String>,
    agent_name: Option<String>,
    agent_version: Option<String>,
    base_url: Option<String>,
    environment: Option<String>,
    workspace_slug: Option<String>,
    batch_size: Option<usize>,
    flush_interval: Option<Duration>,
    max_queue_size: Option<usize>,
    enabled: Option<bool>,
    debug: Option<bool>,
    capture_git: Option<bool>,
    capture: CaptureOverrides,
    exporters: Option<Vec<Exporter>>,
    prompt_cache_ttl: Option<Duration>,
    sampling: SamplingOverrides,
    mask: Option<Arc<MaskFn>>,
    scrub_secrets: Option<bool>,
    max_field_bytes: Option<usize>,
    max_span_bytes: Option<usize>,
    llm_guard: Option<bool>,
    llm_traceparent: Option<bool>,
}

/// Setters that store `Some(value)`; the doc text says what the knob is and where it falls back to.
macro_rules! setters {
    ($($(#[$doc:meta])* $name:ident: String;)*) => {$(
        $(#[$doc])*
        pub fn $name(mut self, v: impl Into<String>) -> Self {
            self.$name = Some(v.into());
            self
        }
    )*};
    ($($(#[$doc:meta])* $name:ident: $ty:ty;)*) => {$(
        $(#[$doc])*
        pub fn $name(mut self, v: $ty) -> Self {
            self.$name = Some(v);
            self
        }
    )*};
}

/// Setters for the capture categories, which live in [`CaptureOverrides`].
macro_rules! capture_setters {
    ($($(#[$doc:meta])* $name:ident => $index:expr;)*) => {$(
        $(#[$doc])*
        pub fn $name(mut self, v: bool) -> Self {
            self.capture.categories[$index] = Some(v);
            self
        }
    )*};
}

impl Config {
    /// A builder with nothing set.
    pub fn builder() -> ConfigBuilder {
        ConfigBuilder::default()
    }
}

impl ConfigBuilder {
    setters! {
        /// The project api key. Empty means unset (falls back to `STASO_API_KEY`); required.
        api_key: String;
        /// The agent name, also the source of the agent id. Empty means unset (falls back to
        /// `STASO_AGENT_NAME`); required.
        agent_name: String;
        /// A free-form deployment label. Wins even when empty; else `STASO_AGENT_VERSION`, else `""`.
        agent_version: String;
        /// The service URL, optionally with a path prefix. Empty means unset; else `STASO_BASE_URL`,
        /// else `https://api.staso.ai`.
        base_url: String;
        /// The environment label. Empty means unset; else `STASO_ENVIRONMENT`, else `"default"`.
        environment: String;
        /// The workspace slug. Empty means unset; else `STASO_WORKSPACE_SLUG`, else `"default"`.
        workspace_slug: String;
    }

    setters! {
        /// Spans per ingest request, 1..=500 (default 100).
        batch_size: usize;
        /// How often the worker sends a partial batch; must be non-zero (default 5 s).
        flush_interval: Duration;
        /// Spans held before new ones are dropped; must be non-zero (default 10 000).
        max_queue_size: usize;
        /// When false nothing is validated or sent (default true).
        enabled: bool;
        /// Verbose SDK logging. Else `STASO_DEBUG` lowercased equal to `1` or `true`.
        debug: bool;
        /// Detect the commit the process runs from, once, in `init` (default true).
        capture_git: bool;
        /// LLM integrations (`staso::integrations`): check each tool call of a provider reply with
        /// the guard before it reaches the caller. Else `STASO_GUARD_ENABLED` (`false`/`0` turn it
        /// off), else true.
        llm_guard: bool;
        /// LLM integrations: send a W3C `traceparent` for the LLM span with the provider request
        /// (default true).
        llm_traceparent: bool;
        /// How long a fetched prompt is served from memory before `staso::prompts` asks the
        /// service again (default 60 s; zero asks every time).
        prompt_cache_ttl: Duration;
        /// Replace secrets in captured content before it is sent (default false): emails, card
        /// numbers (Luhn-checked), bearer tokens, API keys by their known prefixes, long secrets
        /// after `key=`/`token=`, and the values of fields named like `password`, `secret`,
        /// `token`, `api_key`, `authorization` or `cookie` become markers such as
        /// `"[REDACTED:email]"`. Applies to input, output, metadata values and the error
        /// message, on the exporters' worker threads.
        scrub_secrets: bool;
    }

    /// Bytes of JSON kept per captured field: each input, output and metadata value (default
    /// 1 MiB, [`DEFAULT_MAX_FIELD_BYTES`](super::DEFAULT_MAX_FIELD_BYTES); else
    /// `STASO_MAX_FIELD_BYTES`). A larger value is cut on a JSON value boundary (strings on a
    /// UTF-8 boundary) and marked with `…[staso: N bytes cut]`; the document stays valid JSON.
    /// Must lie in 1 KiB..=1 GiB.
    pub fn max_field_bytes(mut self, bytes: usize) -> Self {
        self.max_field_bytes = Some(bytes);
        self
    }

    /// Bytes of JSON kept per span, input, output and metadata together (default 4 MiB,
    /// [`DEFAULT_MAX_SPAN_BYTES`](super::DEFAULT_MAX_SPAN_BYTES); else `STASO_MAX_SPAN_BYTES`).
    /// Over it, the largest fields are cut first. Ids, name, model, provider, tokens, status
    /// and the error message are never cut. Must lie in 1 KiB..=1 GiB.
    pub fn max_span_bytes(mut self, bytes: usize) -> Self {
        self.max_span_bytes = Some(bytes);
        self
    }

    /// A callback that may change or remove each captured value before it is sent: the input
    /// and output (an LLM call's prompt and completion), each metadata value and the error
    /// message (as a JSON string), with a [`MaskContext`] saying which span and field it is.
    ///
    /// It runs on the exporters' worker threads, never on the thread that records the span,
    /// once per exporter that sends the span. A mask that panics drops that one value (it
    /// becomes `"[staso: masked value dropped: mask panicked]"`), not the span. Setting an
    /// input, output or error to `null` removes it. Runs before the built-in scrubbers
    /// ([`scrub_secrets`](Self::scrub_secrets)); a value over the field budget is cut first (so a
    /// huge value is never parsed whole) and cut again if the mask made it larger. Values the
    /// capture policy withholds are never passed to it.
    ///
    /// ```
    /// use staso_core::{Config, MaskField};
    /// let config = Config::builder()
    ///     .api_key("sk-live-123")
    ///     .agent_name("support")
    ///     .mask(|value, ctx| {
    ///         if ctx.field() == (MaskField::Metadata { key: "customer" }) {
    ///             *value = "[customer]".into();
    ///         }
    ///         if let Some(obj) = value.as_object_mut() {
    ///             obj.remove("ssn");
    ///         }
    ///     })
    ///     .build_with_env(|_| None)
    ///     .unwrap();
    /// assert!(config.content_policy().has_mask());
    /// ```
    pub fn mask(
        mut self,
        f: impl Fn(&mut serde_json::Value, &MaskContext<'_>) + Send + Sync + 'static,
    ) -> Self {
        self.mask = Some(Arc::new(f));
        self
    }

    /// Legacy switch for the `request` and `system_prompt` categories when neither their own setter nor
    /// their env var is set. Else `STASO_CAPTURE_MESSAGES`.
    pub fn capture_messages(mut self, v: bool) -> Self {
        self.capture.messages = Some(v);
        self
    }

    capture_setters! {
        /// Capture user/request content. Else `STASO_CAPTURE_REQUEST`, else the legacy switch, else true.
        capture_request => 0;
        /// Capture system prompts. Else `STASO_CAPTURE_SYSTEM_PROMPT`, else the legacy switch, else true.
        capture_system_prompt => 1;
        /// Capture tool schemas. Else `STASO_CAPTURE_TOOL_SCHEMA`, else true.
        capture_tool_schema => 2;
        /// Capture tool-call arguments. Else `STASO_CAPTURE_TOOL_ARGUMENTS`, else true.
        capture_tool_arguments => 3;
        /// Capture outputs. Else `STASO_CAPTURE_OUTPUT`, else true.
        capture_output => 4;
    }

    /// Adds an exporter (see [`Exporter`]). Without any, spans go to Staso, or to OTLP when
    /// `OTEL_EXPORTER_OTLP_ENDPOINT`/`OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` is set (and then also to
    /// Staso when an api key is configured). The api key is required only when Staso is selected.
    pub fn exporter(mut self, e: impl Into<Exporter>) -> Self {
        self.exporters.get_or_insert_with(Vec::new).push(e.into());
        self
    }

    /// Replaces the exporters with `list`: `.exporters([staso(), otlp("http://127.0.0.1:4318")])`
    /// sends every span to both.
    pub fn exporters(mut self, list: impl IntoIterator<Item = Exporter>) -> Self {
        self.exporters = Some(list.into_iter().collect());
        self
    }

    /// Head sampling: the share of traces kept, 0.0..=1.0 (else `STASO_SAMPLE_RATE`, else 1.0).
    /// Decided once per trace at its root from the trace id, so every process of a distributed
    /// trace agrees; the spans of a dropped trace are not recorded at all (unless
    /// [`tail_sampling`](Self::tail_sampling) may keep it). Outside 0..=1 → `ConfigError`.
    pub fn sample_rate(mut self, rate: f64) -> Self {
        self.sampling.rate = Some(rate);
        self
    }

    /// The head-sampling rate of traces rooted in `agent` (its `#[agent]` name, or the client's
    /// agent name for other roots), instead of [`sample_rate`](Self::sample_rate).
    pub fn agent_sample_rate(mut self, agent: impl Into<String>, rate: f64) -> Self {
        self.sampling.per_agent.push((agent.into(), rate));
        self
    }

    /// Keep some of the traces head sampling dropped (see [`TailRules`]). Their spans are then
    /// recorded and held on the delivery side until their root ends.
    pub fn tail_sampling(mut self, rules: TailRules) -> Self {
        self.sampling.tail = Some(rules);
        self
    }

    /// Resolves against the process environment. VCS detection is separate:
    /// [`Config::detect_vcs`].
    ///
    /// # Errors
    /// See [`build_with_env`](Self::build_with_env).
    pub fn build(self) -> Result<Config, ConfigError> {
        self.build_with_env(|name| std::env::var(name).ok())
    }

    /// Resolves against `env` instead of the process environment (`env` returns a variable's value, or
    /// `None` when it is unset).
    ///
    /// # Errors
    /// Only when enabled: a missing api key or agent name, a malformed `STASO_CAPTURE_*` value,
    /// and the §1.2 checks (placeholder key, base URL, numeric limits). A disabled configuration
    /// always builds (the official SDK still requires the key and name; we do not).
    pub fn build_with_env<F: Fn(&str) -> Option<String>>(
        self,
        env: F,
    ) -> Result<Config, ConfigError> {
        self.resolve(&env)
    }

    fn resolve(self, env: &dyn Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
        // Python's `value or fallback`: an empty string is not truthy.
        fn truthy(v: Option<String>) -> Option<String> {
            v.filter(|s| !s.is_empty())
        }
        // Deviation from the official SDK (which raises even when disabled): a disabled client
        // never fails to build, so `enabled(false)` works in tests and local runs with no key.
        let enabled = self.enabled.unwrap_or(true);
        let lenient = |r: Result<String, ConfigError>| match r {
            Err(_) if !enabled => Ok(String::new()),
            other => other,
        };
        let api_key = truthy(self.api_key).or_else(|| truthy(env("STASO_API_KEY")));
        let exporters = match exporters::resolve(self.exporters, api_key.is_some(), env) {
            Err(e) if !enabled => {
                log::warn!("staso: {e}; ignored because the client is disabled");
                Vec::new()
            }
            other => other?,
        };
        let to_staso = exporters.contains(&exporters::ExporterConfig::Staso);
        // Without the Staso exporter the key is neither required nor checked.
        let api_key = match api_key {
            Some(k) => k,
            None if !to_staso => String::new(),
            None => lenient(Err(ConfigError::MissingApiKey))?,
        };
        let agent_name = lenient(
            truthy(self.agent_name)
                .or_else(|| truthy(env("STASO_AGENT_NAME")))
                .ok_or(ConfigError::MissingAgentName),
        )?;
        let agent_version = self
            .agent_version
            .or_else(|| env("STASO_AGENT_VERSION"))
            .unwrap_or_default();
        let capture_policy = match CapturePolicy::resolve(self.capture, env) {
            Err(e) if !enabled => {
                log::warn!("staso: {e}; ignored because the client is disabled");
                CapturePolicy::ALL
            }
            other => other?,
        };

        // Unlike api_key, an env var set to "" is kept here (and fails validation for base_url).
        let base_url = truthy(self.base_url)
            .or_else(|| env("STASO_BASE_URL"))
            .unwrap_or_else(|| DEFAULT_BASE_URL.into());
        let environment = truthy(self.environment)
            .or_else(|| env("STASO_ENVIRONMENT"))
            .unwrap_or_else(|| DEFAULT_ENVIRONMENT.into());
        let workspace_slug = truthy(self.workspace_slug)
            .or_else(|| env("STASO_WORKSPACE_SLUG"))
            .unwrap_or_else(|| DEFAULT_WORKSPACE_SLUG.into());
        let debug = self.debug.unwrap_or_else(|| {
            // Lowercased but not trimmed, as in the official SDK.
            env("STASO_DEBUG").is_some_and(|v| matches!(v.to_lowercase().as_str(), "1" | "true"))
        });
        let sampling = match self.sampling.resolve(env) {
            Err(e) if !enabled => {
                log::warn!("staso: {e}; ignored because the client is disabled");
                super::Sampling::default()
            }
            other => other?,
        };
        let batch_size = self.batch_size.unwrap_or(DEFAULT_BATCH_SIZE);
        let flush_interval = self.flush_interval.unwrap_or(DEFAULT_FLUSH_INTERVAL);
        let max_queue_size = self.max_queue_size.unwrap_or(DEFAULT_MAX_QUEUE_SIZE);
        let budget = |given: Option<usize>, setter, var, default| match (given, env(var)) {
            (Some(n), _) => check_budget(setter, n),
            (None, Some(raw)) => parse_budget_env(var, &raw),
            (None, None) => Ok(default),
        };
        let budgets = budget(
            self.max_field_bytes,
            "max_field_bytes",
            "STASO_MAX_FIELD_BYTES",
            DEFAULT_MAX_FIELD_BYTES,
        )
        .and_then(|field| {
            let span = budget(
                self.max_span_bytes,
                "max_span_bytes",
                "STASO_MAX_SPAN_BYTES",
                DEFAULT_MAX_SPAN_BYTES,
            )?;
            Ok((field, span))
        });
        let (max_field_bytes, max_span_bytes) = match budgets {
            Err(e) if !enabled => {
                log::warn!("staso: {e}; ignored because the client is disabled");
                (DEFAULT_MAX_FIELD_BYTES, DEFAULT_MAX_SPAN_BYTES)
            }
            other => other?,
        };
        let content = ContentPolicy::new(
            self.mask,
            self.scrub_secrets.unwrap_or(false),
            max_field_bytes,
            max_span_bytes,
        );
        if enabled && to_staso {
            validate(&RuntimeSettings {
                api_key: &api_key,
                base_url: &base_url,
                batch_size,
                flush_interval,
                max_queue_size,
            })?;
        } else if enabled {
            validate_limits(batch_size, flush_interval, max_queue_size)?;
        } else {
            log::debug!("staso: disabled; configuration is not validated and nothing will be sent");
        }

        Ok(Config {
            agent_id: generate_agent_id(&agent_name),
            api_key,
            agent_name,
            agent_version,
            base_url: base_url.trim_end_matches('/').to_owned(),
            batch_size,
            flush_interval,
            max_queue_size,
            enabled,
            debug,
            environment,
            workspace_slug,
            capture_policy,
            capture_git: self.capture_git.unwrap_or(true),
            llm_guard: self.llm_guard.unwrap_or_else(|| {
                !env("STASO_GUARD_ENABLED").is_some_and(|v| {
                    matches!(
                        v.trim().to_ascii_lowercase().as_str(),
                        "false" | "0" | "no" | "off"
                    )
                })
            }),
            llm_traceparent: self.llm_traceparent.unwrap_or(true),
            vcs: None,
            exporters,
            prompt_cache_ttl: self.prompt_cache_ttl.unwrap_or(DEFAULT_PROMPT_CACHE_TTL),
            sampling,
            content,
        })
    }
}

impl fmt::Debug for ConfigBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConfigBuilder")
            .field(
                "api_key",
                &self.api_key.as_ref().map(|_| format_args!("***")),
            )
            .field("agent_name", &self.agent_name)
            .field("agent_version", &self.agent_version)
            .field("base_url", &self.base_url)
            .field("environment", &self.environment)
            .field("workspace_slug", &self.workspace_slug)
            .field("batch_size", &self.batch_size)
            .field("flush_interval", &self.flush_interval)
            .field("max_queue_size", &self.max_queue_size)
            .field("enabled", &self.enabled)
            .field("debug", &self.debug)
            .field("capture_git", &self.capture_git)
            .field("llm_guard", &self.llm_guard)
            .field("llm_traceparent", &self.llm_traceparent)
            .field("capture", &self.capture)
            .field("sampling", &self.sampling)
            .field("exporters", &self.exporters)
            .field("prompt_cache_ttl", &self.prompt_cache_ttl)
            .field("mask", &self.mask.as_ref().map(|_| format_args!("<fn>")))
            .field("scrub_secrets", &self.scrub_secrets)
            .field("max_field_bytes", &self.max_field_bytes)
            .field("max_span_bytes", &self.max_span_bytes)
            .finish()
    }
}
