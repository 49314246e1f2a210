//! The capture policy and its resolution from builder values and `STASO_CAPTURE_*` (PROTOCOL.md §1.3).

use super::ConfigError;
use crate::kind::SpanKind;
use staso_wire::ingest::{CaptureMap, CaptureState};

/// Which content categories may leave the process. The canonical order of the five categories (also the
/// wire-map order) is `request`, `system_prompt`, `tool_schema`, `tool_arguments`, `output`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct CapturePolicy {
    /// User/request content.
    pub request: bool,
    /// System prompts.
    pub system_prompt: bool,
    /// Tool schemas.
    pub tool_schema: bool,
    /// Tool-call arguments.
    pub tool_arguments: bool,
    /// Outputs.
    pub output: bool,
}

/// Env var of each category, in canonical order.
const CATEGORY_VARS: [&str; 5] = [
    "STASO_CAPTURE_REQUEST",
    "STASO_CAPTURE_SYSTEM_PROMPT",
    "STASO_CAPTURE_TOOL_SCHEMA",
    "STASO_CAPTURE_TOOL_ARGUMENTS",
    "STASO_CAPTURE_OUTPUT",
];

/// The legacy switch that backs `request` and `system_prompt`.
const MESSAGES_VAR: &str = "STASO_CAPTURE_MESSAGES";

/// Explicit builder values, `None` where the setter was not called.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct CaptureOverrides {
    /// Legacy `capture_messages`.
    pub(crate) messages: Option<bool>,
    /// One per category, canonical order.
    pub(crate) categories: [Option<bool>; 5],
}

impl CapturePolicy {
    /// Every category captured (the default).
    pub const ALL: CapturePolicy = CapturePolicy {
        request: true,
        system_prompt: true,
        tool_schema: true,
        tool_arguments: true,
        output: true,
    };

    /// True when all five categories are captured (gates `error_message` and manual llm inputs).
    pub fn all_on(&self) -> bool {
        *self == Self::ALL
    }

    /// The `capture` map sent on every span.
    pub fn wire_map(&self) -> CaptureMap {
        CaptureMap {
            request: CaptureState::from_bool(self.request),
            system_prompt: CaptureState::from_bool(self.system_prompt),
            tool_schema: CaptureState::from_bool(self.tool_schema),
            tool_arguments: CaptureState::from_bool(self.tool_arguments),
            output: CaptureState::from_bool(self.output),
        }
    }

    /// The policy from the env alone (§1.3 with no explicit values), as guard uses it when no client
    /// exists. `env` looks up one variable.
    ///
    /// # Errors
    /// [`ConfigError::InvalidCaptureEnv`] when a `STASO_CAPTURE_*` value is not a strict boolean.
    pub fn from_env_with<F: Fn(&str) -> Option<String>>(
        env: F,
    ) -> Result<CapturePolicy, ConfigError> {
        Self::resolve(CaptureOverrides::default(), &env)
    }

    /// §1.3: explicit value, then `STASO_CAPTURE_<CAT>`, then (request and system_prompt only) the
    /// legacy value, then `true`. Env vars are read in the official SDK's order, so the first malformed
    /// one is the one reported.
    pub(crate) fn resolve(
        overrides: CaptureOverrides,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<CapturePolicy, ConfigError> {
        // The legacy env var is parsed (and can fail) whenever the setter was not called, even if no
        // category ends up needing it.
        let legacy = match overrides.messages {
            Some(v) => Some(v),
            None => env_bool(env, MESSAGES_VAR)?,
        };
        let mut values = [true; 5];
        for (i, (explicit, var)) in overrides.categories.iter().zip(CATEGORY_VARS).enumerate() {
            let mut resolved = match explicit {
                Some(v) => Some(*v),
                None => env_bool(env, var)?,
            };
            if resolved.is_none() && i < 2 {
                resolved = legacy;
            }
            values[i] = resolved.unwrap_or(true);
        }
        let [request, system_prompt, tool_schema, tool_arguments, output] = values;
        Ok(CapturePolicy {
            request,
            system_prompt,
            tool_schema,
            tool_arguments,
            output,
        })
    }
}

impl Default for CapturePolicy {
    fn default() -> Self {
        Self::ALL
    }
}

/// Reads `var` strictly: unset is `None`; set must parse (see [`parse_capture_bool`]).
fn env_bool(
    env: &dyn Fn(&str) -> Option<String>,
    var: &'static str,
) -> Result<Option<bool>, ConfigError> {
    match env(var) {
        None => Ok(None),
        Some(raw) => parse_capture_bool(&raw)
            .map(Some)
            .ok_or(ConfigError::InvalidCaptureEnv { var, value: raw }),
    }
}

/// Trimmed and lowercased: `1/true/yes/on` → true, `0/false/no/off` → false, anything else (including
/// an empty string) → `None`.
fn parse_capture_bool(raw: &str) -> Option<bool> {
    match raw.trim().to_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Some(true),
        "0" | "false" | "no" | "off" => Some(false),
        _ => None,
    }
}

/// Metadata keys kept when `request` capture is off (PROTOCOL.md §2.5).
pub const OPERATIONAL_ALLOW_LIST: &[&str] = &[
    "exception.type",
    "agent_name",
    "code.filepath",
    "code.function",
    "code.lineno",
    "provider",
    "response_id",
    "stop_reason",
    "tool_name",
    "cache_creation_input_tokens",
    "cache_write_input_tokens",
    "cache_write_5m_input_tokens",
    "cache_write_1h_input_tokens",
    "cache_read_input_tokens",
    "service_tier",
    "reasoning_tokens",
    "audio_input_tokens",
    "audio_output_tokens",
    "time_to_first_token",
    // staso-rs's own operational keys (LlmCall): a cost and a flag, never content.
    "cost_usd",
    "is_streaming",
    "gen_ai.operation.name",
    "gen_ai.provider.name",
    "guard.action",
    "guard.latency_ms",
    "guard.rule_ids",
    "guard.rule_names",
    "guard_action",
    "guard_blocked_count",
    "guard_blocked_tools",
    "guard_decision_available",
    "guard_decision_id",
    "guard_decision_source",
    "guard_evaluations",
    "guard_evaluation_status",
    "guard_failure_kind",
    "guard_failure_mode",
    "guard_latency_ms",
    "guard_reason",
    "guard_retryable",
    "auto_captured",
    "has_thinking",
    "staso.agent_run",
    "staso.agent_run.synthetic",
    "staso.synthetic_tool",
    "staso.provisional_root",
    "staso.timing_source",
    "codex.turn_id",
    "codex.response_id",
    "codex.timing_source",
    "cached_input_tokens",
    "reasoning_output_tokens",
    "vcs.branch",
    "vcs.commit.sha",
    "vcs.is_dirty",
    "vcs.repo_url",
];

/// Whether the policy lets a span of `kind` send its input (PROTOCOL.md §2.5).
pub fn input_allowed(policy: &CapturePolicy, kind: SpanKind) -> bool {
    match kind {
        SpanKind::Llm => policy.all_on(),
        SpanKind::Tool => policy.tool_arguments,
        _ => policy.request,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::test_support::env_of;

    fn resolve(o: CaptureOverrides, pairs: &[(&str, &str)]) -> Result<CapturePolicy, ConfigError> {
        CapturePolicy::resolve(o, &env_of(pairs))
    }

    #[test]
    fn defaults_to_all() {
        assert_eq!(
            resolve(CaptureOverrides::default(), &[]),
            Ok(CapturePolicy::ALL)
        );
        assert_eq!(CapturePolicy::default(), CapturePolicy::ALL);
        assert!(CapturePolicy::ALL.all_on());
    }

    #[test]
    fn strict_values_parse() {
        for (raw, want) in [
            ("1", true),
            (" TRUE ", true),
            ("Yes", true),
            ("on", true),
            ("0", false),
            ("False", false),
            ("no\n", false),
            ("OFF", false),
        ] {
            let p = resolve(
                CaptureOverrides::default(),
                &[("STASO_CAPTURE_OUTPUT", raw)],
            );
            assert_eq!(p.map(|p| p.output), Ok(want), "{raw:?}");
        }
    }

    #[test]
    fn malformed_values_name_the_variable() {
        for raw in ["", "  ", "2", "y", "enabled"] {
            for var in CATEGORY_VARS.into_iter().chain([MESSAGES_VAR]) {
                let err = resolve(CaptureOverrides::default(), &[(var, raw)]).unwrap_err();
                assert_eq!(err.field(), var);
                let msg = err.to_string();
                assert!(msg.starts_with(var), "{msg}");
                assert!(
                    msg.contains("must be one of: 1/0, true/false, yes/no, on/off"),
                    "{msg}"
                );
            }
        }
    }

    #[test]
    fn explicit_beats_env_and_skips_parsing_it() {
        let o = CaptureOverrides {
            categories: [Some(false), None, None, None, None],
            ..Default::default()
        };
        let p = resolve(o, &[("STASO_CAPTURE_REQUEST", "garbage")]).unwrap();
        assert!(!p.request && p.system_prompt);
    }

    #[test]
    fn env_beats_legacy_and_legacy_beats_default() {
        let p = resolve(
            CaptureOverrides::default(),
            &[
                ("STASO_CAPTURE_MESSAGES", "false"),
                ("STASO_CAPTURE_REQUEST", "true"),
            ],
        )
        .unwrap();
        assert_eq!(
            (p.request, p.system_prompt, p.tool_schema),
            (true, false, true)
        );
        // Legacy only backs request and system_prompt.
        let o = CaptureOverrides {
            messages: Some(false),
            ..Default::default()
        };
        let p = resolve(o, &[]).unwrap();
        assert_eq!(
            p,
            CapturePolicy {
                request: false,
                system_prompt: false,
                ..CapturePolicy::ALL
            }
        );
    }

    #[test]
    fn legacy_setter_beats_legacy_env() {
        let o = CaptureOverrides {
            messages: Some(true),
            ..Default::default()
        };
        let p = resolve(o, &[("STASO_CAPTURE_MESSAGES", "nonsense")]).unwrap();
        assert!(p.request && p.system_prompt);
        let o = CaptureOverrides {
            messages: Some(false),
            ..Default::default()
        };
        let p = resolve(o, &[("STASO_CAPTURE_MESSAGES", "true")]).unwrap();
        assert!(!p.request && !p.system_prompt);
    }

    #[test]
    fn malformed_legacy_env_fails_even_when_unused() {
        let o = CaptureOverrides {
            categories: [Some(true), Some(true), None, None, None],
            ..Default::default()
        };
        let err = resolve(o, &[("STASO_CAPTURE_MESSAGES", "maybe")]).unwrap_err();
        assert_eq!(err.field(), "STASO_CAPTURE_MESSAGES");
    }

    #[test]
    fn from_env_with_reads_only_the_env() {
        let p =
            CapturePolicy::from_env_with(env_of(&[("STASO_CAPTURE_TOOL_ARGUMENTS", "0")])).unwrap();
        assert_eq!(
            p,
            CapturePolicy {
                tool_arguments: false,
                ..CapturePolicy::ALL
            }
        );
        assert!(!p.all_on());
    }

    #[test]
    fn wire_map_follows_the_policy() {
        let p = CapturePolicy {
            system_prompt: false,
            output: false,
            ..CapturePolicy::ALL
        };
        let m = p.wire_map();
        assert_eq!(m.request, CaptureState::Captured);
        assert_eq!(m.system_prompt, CaptureState::Suppressed);
        assert_eq!(m.tool_schema, CaptureState::Captured);
        assert_eq!(m.tool_arguments, CaptureState::Captured);
        assert_eq!(m.output, CaptureState::Suppressed);
    }
}
