//! Building the evaluate request: where the key, URL and capture policy come from, the context
//! merge (PROTOCOL.md §6.1) and the capture boundary (§6.3).

use serde_json::{Map, Value, json};

use crate::client::get_client;
use crate::config::{CapturePolicy, generate_agent_id};
use crate::context;

/// Default service address when no client is installed.
const DEFAULT_BASE_URL: &str = "https://api.staso.ai";

/// Context keys kept when a capture category is off.
const IDENTITY_KEYS: [&str; 9] = [
    "trace_id",
    "span_id",
    "session_id",
    "agent_id",
    "agent_name",
    "user_id",
    "environment",
    "workspace_id",
    "invocation_id",
];

/// Where a guard call is sent and under which capture policy. Never `Debug`: it holds the key.
pub(crate) struct Target {
    /// `None` when no API key is configured.
    pub(crate) api_key: Option<String>,
    pub(crate) base_url: String,
    pub(crate) policy: CapturePolicy,
    /// `{agent_id, agent_name, environment, workspace_id}` (empty values included).
    pub(crate) default_context: Vec<(&'static str, String)>,
    /// The session id of spans outside any conversation, when a client exists.
    pub(crate) default_session: Option<String>,
}

impl Target {
    /// The enabled global client's settings, else the env (§6.1 "Config source").
    pub(crate) fn resolve() -> Target {
        Self::resolve_with(&|k| std::env::var(k).ok())
    }

    pub(crate) fn resolve_with(env: &dyn Fn(&str) -> Option<String>) -> Target {
        let client = get_client();
        // The client's policy whenever any client exists, enabled or not.
        let policy = match &client {
            Some(c) => c.config().capture_policy(),
            None => CapturePolicy::from_env_with(env).unwrap_or_else(|e| {
                // Conservative on a malformed switch: send nothing the user may have meant to hide.
                log::warn!(
                    "staso: guard capture policy from the environment: {e}; suppressing all"
                );
                CapturePolicy {
                    request: false,
                    system_prompt: false,
                    tool_schema: false,
                    tool_arguments: false,
                    output: false,
                }
            }),
        };
        if let Some(c) = client.as_ref().filter(|c| c.is_enabled()) {
            let cfg = c.config();
            return Target {
                api_key: Some(cfg.api_key().to_owned()).filter(|k| !k.is_empty()),
                base_url: cfg.base_url().to_owned(),
                policy,
                default_context: vec![
                    ("agent_id", cfg.agent_id().to_owned()),
                    ("agent_name", cfg.agent_name().to_owned()),
                    ("environment", cfg.environment().to_owned()),
                    ("workspace_id", cfg.workspace_slug().to_owned()),
                ],
                default_session: Some(c.default_session_id().to_owned()),
            };
        }
        let var = |k: &str| env(k).filter(|v| !v.trim().is_empty());
        let agent_name = var("STASO_AGENT_NAME").unwrap_or_default();
        let agent_id = if agent_name.is_empty() {
            String::new()
        } else {
            generate_agent_id(&agent_name)
        };
        Target {
            api_key: var("STASO_API_KEY"),
            base_url: var("STASO_BASE_URL").unwrap_or_else(|| DEFAULT_BASE_URL.to_owned()),
            policy,
            default_context: vec![
                ("agent_id", agent_id),
                ("agent_name", agent_name),
                (
                    "environment",
                    var("STASO_ENVIRONMENT").unwrap_or_else(|| "default".to_owned()),
                ),
                (
                    "workspace_id",
                    var("STASO_WORKSPACE_SLUG").unwrap_or_else(|| "default".to_owned()),
                ),
            ],
            default_session: client.map(|c| c.default_session_id().to_owned()),
        }
    }
}

fn is_empty_value(v: &Value) -> bool {
    matches!(v, Value::Null) || matches!(v, Value::String(s) if s.is_empty())
}

/// The merged context of §6.1, read from the calling thread's context stack. Later sources win:
/// defaults, the active agent/user, the explicit entries, then the active trace/span/session ids.
pub(crate) fn merge_context(target: &Target, explicit: &Map<String, Value>) -> Map<String, Value> {
    let mut ctx = Map::new();
    let put = |ctx: &mut Map<String, Value>, k: &str, v: String| {
        if !v.is_empty() {
            ctx.insert(k.to_owned(), Value::String(v));
        }
    };
    for (k, v) in &target.default_context {
        put(&mut ctx, k, v.clone());
    }
    let frame = context::with_current(Clone::clone);
    let span = frame.span.filter(|s| s.recording);
    // The active agent: the innermost `#[agent]`; a span outside one carries the configured name,
    // which the defaults already hold. The agent id is always the configured one.
    if let Some(agent) = &frame.agent {
        put(&mut ctx, "agent_name", agent.to_string());
    }
    if let Some(user) = &frame.user {
        put(&mut ctx, "user_id", user.to_string());
    }
    for (k, v) in explicit {
        if !is_empty_value(v) {
            ctx.insert(k.clone(), v.clone());
        }
    }
    if let Some(s) = span {
        put(&mut ctx, "trace_id", s.trace_id.to_string());
        put(&mut ctx, "span_id", s.span_id.to_string());
    }
    let session = frame
        .session
        .as_ref()
        .map(|s| s.to_string())
        .or_else(|| span.and(target.default_session.clone()));
    if let Some(s) = session {
        put(&mut ctx, "session_id", s);
    }
    ctx
}

fn status_of(v: Option<&Value>) -> Option<&str> {
    v?.get("status")?.as_str()
}

/// Applies the capture boundary of §6.3 to the outgoing input and context.
/// `input_is_map` tells whether the caller's input was a JSON object.
pub(crate) fn apply_capture(
    tool_name: &str,
    tool_input: &mut Map<String, Value>,
    input_is_map: bool,
    ctx: &mut Map<String, Value>,
    policy: &CapturePolicy,
) {
    let mut evidence = match ctx.get("tool_call_evidence") {
        Some(Value::Object(e)) if e.get("tool_name").and_then(Value::as_str) == Some(tool_name) => {
            e.clone()
        }
        _ => {
            let schema = if policy.tool_schema {
                "unavailable"
            } else {
                "suppressed"
            };
            let v = json!({"version": 1, "tool_name": tool_name,
                           "arguments": {"status": "unavailable", "complete": false},
                           "schema": {"status": schema}});
            match v {
                Value::Object(m) => m,
                _ => Map::new(),
            }
        }
    };
    if !policy.tool_arguments {
        tool_input.clear();
        evidence.insert(
            "arguments".into(),
            json!({"status": "suppressed", "complete": false}),
        );
    }
    if !policy.tool_schema {
        evidence.insert("schema".into(), json!({"status": "suppressed"}));
    }
    let arguments_status = status_of(evidence.get("arguments")).map(str::to_owned);
    let schema_status = status_of(evidence.get("schema"))
        .unwrap_or("unavailable")
        .to_owned();
    ctx.insert("tool_call_evidence".into(), Value::Object(evidence));

    let restricted =
        !(policy.request && policy.system_prompt && policy.tool_arguments && policy.output);
    if restricted {
        let status = ctx.get("conversation_history_status").cloned();
        let already_filtered = status
            .as_ref()
            .and_then(|s| s.get("suppressed"))
            .and_then(Value::as_bool)
            .unwrap_or(false);
        ctx.retain(|k, _| {
            IDENTITY_KEYS.contains(&k.as_str())
                || matches!(
                    k.as_str(),
                    "tool_call_evidence" | "conversation_history" | "conversation_history_status"
                )
        });
        if let Some(Value::Array(history)) = ctx.get_mut("conversation_history") {
            let p = policy;
            history.retain(|m| match m.get("role").and_then(Value::as_str) {
                Some("user") => p.request,
                Some("system" | "developer") => p.request && p.system_prompt,
                Some("tool") => p.request && p.output,
                Some("assistant") => {
                    p.request && p.output && (p.tool_arguments || already_filtered)
                }
                _ => false,
            });
        }
        let field = |k: &str| status.as_ref().and_then(|s| s.get(k)).cloned();
        ctx.insert(
            "conversation_history_status".into(),
            json!({
                "source": field("source").unwrap_or_else(|| json!("sdk_request")),
                "complete": false,
                "truncated": field("truncated").unwrap_or(Value::Bool(false)),
                "suppressed": true,
            }),
        );
    }

    let mut input_availability = if !policy.tool_arguments {
        "suppressed"
    } else if input_is_map {
        "available"
    } else {
        "unavailable"
    };
    if arguments_status.as_deref() == Some("unavailable") && tool_input.is_empty() {
        input_availability = "unavailable";
    }
    let history_len = match ctx.get("conversation_history") {
        Some(Value::Array(h)) => h.len(),
        _ => 0,
    };
    let history = if history_len > 0 {
        "partial"
    } else if restricted {
        "suppressed"
    } else {
        "unavailable"
    };
    ctx.insert(
        "context_availability".into(),
        json!({
            "tool_input": input_availability,
            "tool_schema": schema_status,
            "conversation_history": history,
            "tool_output": "unavailable",
        }),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(request: bool, tool_arguments: bool) -> CapturePolicy {
        CapturePolicy {
            request,
            tool_arguments,
            ..CapturePolicy::ALL
        }
    }

    #[test]
    fn full_capture_keeps_custom_keys_and_input() {
        let mut input = json!({"cmd": "ls"})
            .as_object()
            .cloned()
            .unwrap_or_default();
        let mut ctx = json!({"ticket": "T-1"})
            .as_object()
            .cloned()
            .unwrap_or_default();
        apply_capture("shell", &mut input, true, &mut ctx, &CapturePolicy::ALL);
        assert_eq!(input["cmd"], "ls");
        assert_eq!(ctx["ticket"], "T-1");
        assert_eq!(
            ctx["context_availability"],
            json!({"tool_input": "available", "tool_schema": "unavailable",
                   "conversation_history": "unavailable", "tool_output": "unavailable"})
        );
        assert_eq!(ctx["tool_call_evidence"]["tool_name"], "shell");
    }

    #[test]
    fn restricted_capture_drops_custom_keys_and_filters_history() {
        let mut input = json!({"cmd": "ls"})
            .as_object()
            .cloned()
            .unwrap_or_default();
        let mut ctx = json!({"ticket": "T-1", "trace_id": "t",
            "conversation_history": [{"role": "user", "content": "hi"},
                                     {"role": "assistant", "content": "a"},
                                     {"role": "system", "content": "s"}]})
        .as_object()
        .cloned()
        .unwrap_or_default();
        apply_capture("shell", &mut input, true, &mut ctx, &policy(true, false));
        assert!(input.is_empty());
        assert!(!ctx.contains_key("ticket"));
        assert_eq!(ctx["trace_id"], "t");
        assert_eq!(
            ctx["conversation_history"],
            json!([{"role": "user", "content": "hi"}, {"role": "system", "content": "s"}])
        );
        assert_eq!(
            ctx["conversation_history_status"],
            json!({"source": "sdk_request", "complete": false, "truncated": false, "suppressed": true})
        );
        assert_eq!(ctx["context_availability"]["tool_input"], "suppressed");
        assert_eq!(
            ctx["context_availability"]["conversation_history"],
            "partial"
        );
        assert_eq!(
            ctx["tool_call_evidence"]["arguments"],
            json!({"status": "suppressed", "complete": false})
        );
    }

    #[test]
    fn matching_evidence_is_kept_and_empty_input_is_unavailable() {
        let ev = json!({"version": 1, "tool_name": "t", "arguments": {"status": "parsed"},
                        "schema": {"status": "matched"}});
        let mut ctx = Map::new();
        ctx.insert("tool_call_evidence".into(), ev.clone());
        let mut input = Map::new();
        apply_capture("t", &mut input, true, &mut ctx, &CapturePolicy::ALL);
        assert_eq!(ctx["tool_call_evidence"], ev);
        assert_eq!(ctx["context_availability"]["tool_input"], "available");
        assert_eq!(ctx["context_availability"]["tool_schema"], "matched");
        let mut ctx = Map::new();
        apply_capture("t", &mut input, true, &mut ctx, &CapturePolicy::ALL);
        assert_eq!(ctx["context_availability"]["tool_input"], "unavailable");
    }
}
