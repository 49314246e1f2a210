//! Guard bodies (PROTOCOL.md §6 and decision 2's escalation endpoint).
//!
//! Actions and statuses that the service may extend are kept as strings so that a newer peer never
//! makes an older one fail to parse; the constants below name the values this version knows.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::capture::CaptureMap;

fn default_payload_version() -> u32 {
    1
}
/// Guard actions a server may answer (decision 2). 0.5.25 accepts only `allow` and `block` at the
/// top level, and `allow`, `block`, `audit` per rule.
pub mod guard_action {
    /// Let the tool call run.
    pub const ALLOW: &str = "allow";
    /// Stop the tool call.
    pub const BLOCK: &str = "block";
    /// Rule level only: would block, reported and not enforced.
    pub const AUDIT: &str = "audit";
    /// Run the tool call with `modified_input` instead of the original input.
    pub const MODIFY: &str = "modify";
    /// Ask a person: poll the escalation named by `escalation_id`.
    pub const ESCALATE: &str = "escalate";
}

/// `POST /v1/guard/evaluate` body (§6.2).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GuardEvaluateRequest {
    /// Always 1.
    #[serde(default = "default_payload_version")]
    pub payload_version: u32,
    /// The tool about to be called.
    pub tool_name: String,
    /// Its input (`{}` when tool-argument capture is off).
    #[serde(default)]
    pub tool_input: Map<String, Value>,
    /// Merged context (§6.1, §6.3); `workspace_id` names the workspace.
    #[serde(default)]
    pub context: Map<String, Value>,
    /// Lowercase hyphenated UUID, echoed in the response.
    pub decision_id: String,
    /// `manual|openai|anthropic|litellm|sdk|claude-code|codex`, echoed in the response.
    pub decision_source: String,
    /// `fail_open|fail_closed`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_mode: Option<String>,
    /// The caller's capture map.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capture: Option<CaptureMap>,
    /// Time the server may spend, in ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deadline_ms: Option<u64>,
}

/// One rule's verdict inside a guard response (§6.4).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GuardRuleResult {
    /// Rule id.
    pub rule_id: String,
    /// Rule name.
    pub rule_name: String,
    /// `allow|block|audit` (and, for staso-rs peers, `modify|escalate`).
    pub action: String,
    /// `evaluated|skipped|abstained|unavailable`.
    pub evaluation_status: String,
    /// Why the rule decided so.
    #[serde(default)]
    pub reason: String,
    /// `low|medium|high|critical`.
    #[serde(default)]
    pub severity: String,
    /// Optional score in [0, 1].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub score: Option<f64>,
    /// Structured findings.
    #[serde(default)]
    pub violations: Vec<Value>,
    /// Server-side evaluation time.
    #[serde(default)]
    pub latency_ms: f64,
}

/// `POST /v1/guard/evaluate` 2xx body. `decision_id` and `decision_source` echo the request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GuardEvaluateResponse {
    /// See [`guard_action`].
    pub action: String,
    /// Echo of the request's decision id.
    pub decision_id: String,
    /// Echo of the request's decision source.
    pub decision_source: String,
    /// Human-readable reason.
    #[serde(default)]
    pub reason: String,
    /// Severity of the decision.
    #[serde(default)]
    pub severity: String,
    /// Per-rule verdicts.
    #[serde(default)]
    pub results: Vec<GuardRuleResult>,
    /// Names of rules whose action is not `allow`.
    #[serde(default)]
    pub rules_triggered: Vec<String>,
    /// False when the server could not decide.
    #[serde(default = "default_true")]
    pub decision_available: bool,
    /// `evaluated|skipped|abstained|unavailable`.
    pub evaluation_status: String,
    /// Echo of the caller's failure mode.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_mode: Option<String>,
    /// Set when `decision_available` is false.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_kind: Option<String>,
    /// Whether retrying could help.
    #[serde(default)]
    pub retryable: bool,
    /// `modify`: the input to run the tool with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub modified_input: Option<Value>,
    /// `modify`: the JSON Patch (RFC 6902) operations that produced `modified_input`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub modifications: Option<Vec<Value>>,
    /// `escalate`: poll `GET /v1/guard/escalations/{escalation_id}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub escalation_id: Option<String>,
}

fn default_true() -> bool {
    true
}

/// Escalation statuses of decision 2.
pub mod escalation_status {
    /// Waiting for a person.
    pub const PENDING: &str = "pending";
    /// Approved: the call is allowed (with `modified_input` if given).
    pub const APPROVED: &str = "approved";
    /// Rejected: the call is blocked.
    pub const REJECTED: &str = "rejected";
}

/// `GET /v1/guard/escalations/{escalation_id}` body (decision 2).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EscalationStatus {
    /// The escalation id.
    pub escalation_id: String,
    /// See [`escalation_status`].
    pub status: String,
    /// Who decided.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decided_by: Option<String>,
    /// Why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Approved with a different input.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub modified_input: Option<Value>,
}

/// Body of a person's approve/reject call on an escalation.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EscalationDecision {
    /// Who decides.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decided_by: Option<String>,
    /// Why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Approve with this input instead of the original.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub modified_input: Option<Value>,
}
