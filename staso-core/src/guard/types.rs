//! The guard's result types (PROTOCOL.md §6.4, §6.5 and decision 2): [`GuardResult`],
//! [`GuardRuleResult`] and the enumerations they use.

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// What the guard decided, or (per rule) what a rule would do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum GuardAction {
    /// Run the tool call.
    Allow,
    /// Do not run the tool call.
    Block,
    /// Rule level only: the rule would block; reported, never enforced.
    Audit,
    /// Run the tool call with [`GuardResult::modified_input`] instead of the original input.
    Modify,
    /// A person must decide; see [`GuardResult::escalation_id`]. Only returned when
    /// [`GuardOptions::wait_for_escalation`](super::GuardOptions::wait_for_escalation) is off.
    Escalate,
}

impl GuardAction {
    /// The wire name: `allow`, `block`, `audit`, `modify` or `escalate`.
    pub fn as_str(self) -> &'static str {
        match self {
            GuardAction::Allow => "allow",
            GuardAction::Block => "block",
            GuardAction::Audit => "audit",
            GuardAction::Modify => "modify",
            GuardAction::Escalate => "escalate",
        }
    }

    pub(crate) fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "allow" => GuardAction::Allow,
            "block" => GuardAction::Block,
            "audit" => GuardAction::Audit,
            "modify" => GuardAction::Modify,
            "escalate" => GuardAction::Escalate,
            _ => return None,
        })
    }
}

impl fmt::Display for GuardAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Whether a decision (or one rule) was actually evaluated.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EvaluationStatus {
    /// Evaluated normally.
    Evaluated,
    /// Not evaluated on purpose (the action is then `allow`).
    Skipped,
    /// The evaluator declined to decide (the action is then `allow`).
    Abstained,
    /// No decision could be made.
    Unavailable,
}

impl EvaluationStatus {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            EvaluationStatus::Evaluated => "evaluated",
            EvaluationStatus::Skipped => "skipped",
            EvaluationStatus::Abstained => "abstained",
            EvaluationStatus::Unavailable => "unavailable",
        }
    }

    pub(crate) fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "evaluated" => EvaluationStatus::Evaluated,
            "skipped" => EvaluationStatus::Skipped,
            "abstained" => EvaluationStatus::Abstained,
            "unavailable" => EvaluationStatus::Unavailable,
            _ => return None,
        })
    }
}

/// What the guard does when it cannot get a decision: allow the call (`FailOpen`, the default) or
/// block it (`FailClosed`, or `STASO_GUARD_FAIL_CLOSED=1`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GuardFailureMode {
    /// Allow the call when no decision is available.
    #[default]
    FailOpen,
    /// Block the call when no decision is available.
    FailClosed,
}

impl GuardFailureMode {
    /// `fail_open` or `fail_closed`.
    pub fn as_str(self) -> &'static str {
        match self {
            GuardFailureMode::FailOpen => "fail_open",
            GuardFailureMode::FailClosed => "fail_closed",
        }
    }

    /// `fail-open` or `fail-closed`, as in reasons.
    fn label(self) -> &'static str {
        match self {
            GuardFailureMode::FailOpen => "fail-open",
            GuardFailureMode::FailClosed => "fail-closed",
        }
    }
}

/// Why no decision is available (PROTOCOL.md §6.5).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GuardFailureKind {
    /// The API key is missing or was rejected.
    InvalidKey,
    /// The plan is inactive.
    PlanExpired,
    /// The key may not use the guard.
    Forbidden,
    /// Too many requests.
    RateLimited,
    /// The service has no evaluation capacity left.
    CapacityExhausted,
    /// The decision id was already used for another call.
    IdempotencyConflict,
    /// The service failed (5xx).
    BackendUnavailable,
    /// The service could not be reached (or did not answer in time).
    NetworkUnavailable,
    /// The answer broke the protocol.
    MalformedResponse,
    /// Too little time was left to ask (or an escalation was not decided in time).
    DeadlineExceeded,
    /// The service answered an action this client cannot apply.
    UnsupportedAction,
}

impl GuardFailureKind {
    /// Every kind, in protocol order.
    pub const ALL: [GuardFailureKind; 11] = [
        GuardFailureKind::InvalidKey,
        GuardFailureKind::PlanExpired,
        GuardFailureKind::Forbidden,
        GuardFailureKind::RateLimited,
        GuardFailureKind::CapacityExhausted,
        GuardFailureKind::IdempotencyConflict,
        GuardFailureKind::BackendUnavailable,
        GuardFailureKind::NetworkUnavailable,
        GuardFailureKind::MalformedResponse,
        GuardFailureKind::DeadlineExceeded,
        GuardFailureKind::UnsupportedAction,
    ];

    /// The wire name, e.g. `rate_limited`.
    pub fn as_str(self) -> &'static str {
        match self {
            GuardFailureKind::InvalidKey => "invalid_key",
            GuardFailureKind::PlanExpired => "plan_expired",
            GuardFailureKind::Forbidden => "forbidden",
            GuardFailureKind::RateLimited => "rate_limited",
            GuardFailureKind::CapacityExhausted => "capacity_exhausted",
            GuardFailureKind::IdempotencyConflict => "idempotency_conflict",
            GuardFailureKind::BackendUnavailable => "backend_unavailable",
            GuardFailureKind::NetworkUnavailable => "network_unavailable",
            GuardFailureKind::MalformedResponse => "malformed_response",
            GuardFailureKind::DeadlineExceeded => "deadline_exceeded",
            GuardFailureKind::UnsupportedAction => "unsupported_action",
        }
    }

    /// The standard reason text of this kind.
    pub fn reason(self) -> &'static str {
        match self {
            GuardFailureKind::InvalidKey => "Guard authentication rejected",
            GuardFailureKind::PlanExpired => "Guard plan is inactive",
            GuardFailureKind::Forbidden => "Guard access rejected",
            GuardFailureKind::RateLimited => "Guard rate limited",
            GuardFailureKind::CapacityExhausted => "Guard evaluation capacity is exhausted",
            GuardFailureKind::IdempotencyConflict => {
                "Guard decision ID conflicts with an earlier request"
            }
            GuardFailureKind::BackendUnavailable => "Guard service unavailable",
            GuardFailureKind::NetworkUnavailable => "Guard network unavailable",
            GuardFailureKind::MalformedResponse => "Guard returned a malformed response",
            GuardFailureKind::DeadlineExceeded => "Guard request deadline exceeded",
            GuardFailureKind::UnsupportedAction => "Guard returned an unsupported action",
        }
    }

    /// Whether trying again later could succeed.
    pub fn retryable(self) -> bool {
        matches!(
            self,
            GuardFailureKind::RateLimited
                | GuardFailureKind::BackendUnavailable
                | GuardFailureKind::NetworkUnavailable
                | GuardFailureKind::DeadlineExceeded
        )
    }

    /// The kind with this wire name.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

impl fmt::Display for GuardFailureKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One rule's verdict (PROTOCOL.md §6.4).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct GuardRuleResult {
    /// Rule id (`""` when not given).
    pub rule_id: String,
    /// Rule name (`""` when not given).
    pub rule_name: String,
    /// True when the rule's action is `allow`.
    pub passed: bool,
    /// Optional score in [0, 1].
    pub score: Option<f64>,
    /// What the rule does: `allow`, `block`, `audit` (and, from staso-rs backends, `modify` or
    /// `escalate`).
    pub action: GuardAction,
    /// Why.
    pub reason: String,
    /// Severity (default `medium`).
    pub severity: String,
    /// Server-side evaluation time of the rule.
    pub latency_ms: f64,
    /// Structured findings (JSON objects).
    pub violations: Vec<Map<String, Value>>,
    /// Whether the rule was evaluated.
    pub evaluation_status: EvaluationStatus,
}

impl GuardRuleResult {
    /// An evaluated rule that did not pass (includes `audit` findings).
    pub fn is_finding(&self) -> bool {
        self.evaluation_status == EvaluationStatus::Evaluated && !self.passed
    }
}

/// The outcome of a guard check (PROTOCOL.md §6.4, decision 2). [`guard`](super::guard) always
/// returns one: when no decision could be obtained, `decision_available` is false and the action
/// follows the failure mode.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct GuardResult {
    /// The effective action: `allow` or `block`; `modify` (run with [`modified_input`]) and
    /// `escalate` (not waited for) from staso-rs backends. Never `audit`.
    ///
    /// [`modified_input`]: Self::modified_input
    pub action: GuardAction,
    /// Why.
    pub reason: String,
    /// The first triggered rule.
    pub rule_name: Option<String>,
    /// Severity (`low` by default; `high` for an unavailable result under fail-closed).
    pub severity: String,
    /// Per-rule verdicts.
    pub results: Vec<GuardRuleResult>,
    /// Client-side time of the whole check in ms (including any escalation wait).
    pub latency_ms: f64,
    /// Names of the rules that did not pass (including audit findings).
    pub rules_triggered: Vec<String>,
    /// False when no decision could be obtained.
    pub decision_available: bool,
    /// Why no decision is available.
    pub failure_kind: Option<GuardFailureKind>,
    /// The failure mode the call ran under.
    pub failure_mode: GuardFailureMode,
    /// Whether trying again could help.
    pub retryable: bool,
    /// The decision id (lowercase hyphenated UUID).
    pub decision_id: String,
    /// `manual` for [`guard`](super::guard).
    pub decision_source: String,
    /// `unavailable` whenever `decision_available` is false.
    pub evaluation_status: EvaluationStatus,
    /// The input to run the tool with instead of the original (action `modify`, or an approved
    /// escalation that changed the input).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub modified_input: Option<Map<String, Value>>,
    /// The JSON Patch operations that produced `modified_input`, when the backend sent them.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub modifications: Vec<Value>,
    /// The escalation this decision waited for (or, when not waiting, must be polled).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub escalation_id: Option<String>,
}

impl GuardResult {
    /// The result when no decision is available: allowed under fail-open, blocked under
    /// fail-closed, with the kind's standard reason (PROTOCOL.md §6.5).
    pub fn unavailable(
        kind: GuardFailureKind,
        mode: GuardFailureMode,
        decision_id: &str,
        decision_source: &str,
        latency_ms: f64,
    ) -> Self {
        Self::unavailable_with_reason(
            kind,
            kind.reason(),
            mode,
            decision_id,
            decision_source,
            latency_ms,
        )
    }

    /// As [`unavailable`](Self::unavailable) with another reason text.
    pub fn unavailable_with_reason(
        kind: GuardFailureKind,
        reason: &str,
        mode: GuardFailureMode,
        decision_id: &str,
        decision_source: &str,
        latency_ms: f64,
    ) -> Self {
        let closed = mode == GuardFailureMode::FailClosed;
        GuardResult {
            action: if closed {
                GuardAction::Block
            } else {
                GuardAction::Allow
            },
            reason: format!("{reason} ({})", mode.label()),
            rule_name: None,
            severity: if closed { "high" } else { "low" }.to_owned(),
            results: Vec::new(),
            latency_ms,
            rules_triggered: Vec::new(),
            decision_available: false,
            failure_kind: Some(kind),
            failure_mode: mode,
            retryable: kind.retryable(),
            decision_id: decision_id.to_owned(),
            decision_source: decision_source.to_owned(),
            evaluation_status: EvaluationStatus::Unavailable,
            modified_input: None,
            modifications: Vec::new(),
            escalation_id: None,
        }
    }

    /// True when the call may run (action `allow` or `modify`).
    pub fn is_allowed(&self) -> bool {
        matches!(self.action, GuardAction::Allow | GuardAction::Modify)
    }

    /// True when the call must not run.
    pub fn is_blocked(&self) -> bool {
        self.action == GuardAction::Block
    }

    /// True when some evaluated rule did not pass (an audit finding on an allowed call counts).
    pub fn has_findings(&self) -> bool {
        self.results.iter().any(GuardRuleResult::is_finding)
    }
}
