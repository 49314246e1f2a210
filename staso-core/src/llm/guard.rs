//! The call-site guard: every tool call of a reply checked with [`guard`](crate::guard::guard),
//! concurrently, under the LLM span (so the guard telemetry spans are its children).

use serde_json::{Map, Value, json};

use super::shape::LlmReply;
use super::{LlmApi, anthropic, openai_chat, openai_responses};
use crate::context::Context;
use crate::guard::{BlockedTool, GuardAction, GuardBlocked, GuardOptions, GuardResult, guard};

/// Whether `STASO_GUARD_ENABLED` leaves the call-site guard on (anything but `false`/`0`/`no`/`off`).
pub fn guard_enabled_by_env() -> bool {
    !matches!(
        std::env::var("STASO_GUARD_ENABLED")
            .map(|v| v.trim().to_ascii_lowercase())
            .as_deref(),
        Ok("false" | "0" | "no" | "off")
    )
}

/// The guard's verdicts on one reply's tool calls.
#[derive(Debug, Default)]
pub struct GuardCheck {
    /// One `guard_evaluations` entry per tool call, in order.
    pub(super) evaluations: Vec<Value>,
    /// The blocked tools, if any.
    pub(super) blocked: Option<GuardBlocked>,
    /// `(position in the reply, new arguments)` for `modify` decisions.
    pub(super) modified: Vec<(usize, Value)>,
}

impl GuardCheck {
    /// Checks every tool call of `reply` under `ctx` (the LLM span's context), concurrently.
    pub async fn run(reply: &LlmReply, ctx: &Context) -> GuardCheck {
        let calls = reply.tool_calls();
        if calls.is_empty() {
            return GuardCheck::default();
        }
        let futures: Vec<_> = calls
            .iter()
            .map(|c| {
                let options = GuardOptions::new().context_entry("invocation_id", &c.id);
                ctx.clone()
                    .in_scope(|| guard(&c.name, &c.arguments, options))
            })
            .collect();
        let results = futures_util::future::join_all(futures).await;
        let mut check = GuardCheck::default();
        let mut blocked: Vec<BlockedTool> = Vec::new();
        for (call, result) in calls.iter().zip(results) {
            check.evaluations.push(evaluation(&call.name, &result));
            if result.is_blocked() {
                blocked.push(BlockedTool {
                    tool_name: call.name.clone(),
                    result,
                });
            } else if result.action == GuardAction::Modify
                && let Some(input) = result.modified_input
            {
                check.modified.push((call.index, Value::Object(input)));
            }
        }
        let mut blocked = blocked.into_iter();
        if let Some(first) = blocked.next() {
            check.blocked = Some(GuardBlocked::from_tools(first, blocked.collect()));
        }
        check
    }

    /// The block, if any tool was blocked.
    pub fn blocked(&self) -> Option<&GuardBlocked> {
        self.blocked.as_ref()
    }

    /// Takes the block out.
    pub fn take_blocked(&mut self) -> Option<GuardBlocked> {
        self.blocked.take()
    }

    /// True when a `modify` decision changed some tool call's arguments.
    pub fn modifies(&self) -> bool {
        !self.modified.is_empty()
    }

    /// Rewrites the modified tool calls' arguments in the response JSON.
    pub fn rewrite(&self, api: LlmApi, body: &mut Value) {
        for (index, args) in &self.modified {
            match api {
                LlmApi::OpenAiChat => openai_chat::rewrite_arguments(body, *index, args),
                LlmApi::OpenAiResponses => openai_responses::rewrite_arguments(body, *index, args),
                LlmApi::AnthropicMessages => anthropic::rewrite_arguments(body, *index, args),
            }
        }
    }

    /// The guard metadata of the LLM span: `guard_evaluations`, and for a block
    /// `guard_blocked_tools` and `guard_blocked_count`.
    pub(super) fn metadata(&self) -> Vec<(&'static str, Value)> {
        let mut out = Vec::new();
        if self.evaluations.is_empty() {
            return out;
        }
        out.push(("guard_evaluations", Value::Array(self.evaluations.clone())));
        if let Some(b) = &self.blocked {
            let tools: Vec<Value> = b
                .blocked_tools
                .iter()
                .map(|t| {
                    json!({
                        "tool_name": t.tool_name,
                        "decision_id": t.result.decision_id,
                        "decision_source": t.result.decision_source,
                        "rules_triggered": t.result.rules_triggered,
                        "severity": t.result.severity,
                        "reason": t.result.reason,
                    })
                })
                .collect();
            out.push(("guard_blocked_count", tools.len().into()));
            out.push(("guard_blocked_tools", Value::Array(tools)));
        }
        out
    }
}

fn evaluation(tool: &str, r: &GuardResult) -> Value {
    let mut m = Map::new();
    m.insert("tool_name".into(), tool.into());
    m.insert("action".into(), r.action.as_str().into());
    m.insert("decision_id".into(), r.decision_id.clone().into());
    m.insert("decision_source".into(), r.decision_source.clone().into());
    m.insert("latency_ms".into(), json!(r.latency_ms));
    m.insert("rules_triggered".into(), json!(r.rules_triggered));
    m.insert("decision_available".into(), r.decision_available.into());
    m.insert(
        "evaluation_status".into(),
        r.evaluation_status.as_str().into(),
    );
    m.insert(
        "failure_kind".into(),
        r.failure_kind.map(|k| k.as_str()).into(),
    );
    m.insert("failure_mode".into(), r.failure_mode.as_str().into());
    m.insert("retryable".into(), r.retryable.into());
    m.insert("reason".into(), r.reason.clone().into());
    Value::Object(m)
}
