//! Strict validation of a 2xx evaluate body (PROTOCOL.md §6.4) plus the decision-2 fields of
//! `modify` and `escalate`, and the mapping of HTTP errors to failure kinds.

use serde_json::{Map, Value};

use super::types::{
    EvaluationStatus, GuardAction, GuardFailureKind, GuardFailureMode, GuardResult, GuardRuleResult,
};

use GuardFailureKind::{MalformedResponse as Malformed, UnsupportedAction as Unsupported};

/// What the request said, which the response must echo.
pub(crate) struct Sent<'a> {
    pub(crate) decision_id: &'a str,
    pub(crate) decision_source: &'a str,
    pub(crate) mode: GuardFailureMode,
    pub(crate) latency_ms: f64,
}

/// Decision sources a response may name (§6.1).
pub(crate) const DECISION_SOURCES: [&str; 7] = [
    "manual",
    "openai",
    "anthropic",
    "litellm",
    "sdk",
    "claude-code",
    "codex",
];

type Check<T> = Result<T, GuardFailureKind>;

/// An optional field: absent and `null` both count as missing.
fn opt<'a>(m: &'a Map<String, Value>, k: &str) -> Option<&'a Value> {
    m.get(k).filter(|v| !v.is_null())
}

fn opt_str(m: &Map<String, Value>, k: &str) -> Check<Option<String>> {
    match opt(m, k) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(Malformed),
    }
}

fn opt_bool(m: &Map<String, Value>, k: &str) -> Check<Option<bool>> {
    match opt(m, k) {
        None => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(_) => Err(Malformed),
    }
}

/// A finite JSON number (JSON has no bool/number confusion, unlike Python).
fn opt_number(m: &Map<String, Value>, k: &str) -> Check<Option<f64>> {
    match opt(m, k) {
        None => Ok(None),
        Some(Value::Number(n)) => n
            .as_f64()
            .filter(|f| f.is_finite())
            .map(Some)
            .ok_or(Malformed),
        Some(_) => Err(Malformed),
    }
}

fn objects(v: Option<&Value>) -> Check<Vec<Map<String, Value>>> {
    match v {
        None => Ok(Vec::new()),
        Some(Value::Array(items)) => items
            .iter()
            .map(|i| i.as_object().cloned().ok_or(Malformed))
            .collect(),
        Some(_) => Err(Malformed),
    }
}

fn rule(m: &Map<String, Value>) -> Check<GuardRuleResult> {
    let status = match opt(m, "evaluation_status") {
        None => EvaluationStatus::Evaluated,
        Some(v) => v
            .as_str()
            .and_then(EvaluationStatus::parse)
            .ok_or(Malformed)?,
    };
    let action = match opt(m, "action") {
        None => GuardAction::Allow,
        Some(Value::String(s)) => GuardAction::parse(s).ok_or(Malformed)?,
        Some(_) => return Err(Malformed),
    };
    if status != EvaluationStatus::Evaluated && action != GuardAction::Allow {
        return Err(Malformed);
    }
    let score = opt_number(m, "score")?;
    if score.is_some_and(|s| !(0.0..=1.0).contains(&s)) {
        return Err(Malformed);
    }
    let latency_ms = opt_number(m, "latency_ms")?.unwrap_or(0.0);
    if latency_ms < 0.0 {
        return Err(Malformed);
    }
    Ok(GuardRuleResult {
        rule_id: opt_str(m, "rule_id")?.unwrap_or_default(),
        rule_name: opt_str(m, "rule_name")?.unwrap_or_default(),
        passed: action == GuardAction::Allow,
        score,
        action,
        reason: opt_str(m, "reason")?.unwrap_or_default(),
        severity: opt_str(m, "severity")?.unwrap_or_else(|| "medium".to_owned()),
        latency_ms,
        violations: objects(opt(m, "violations"))?,
        evaluation_status: status,
    })
}

/// Validates a 2xx body. `Err` is the failure kind of an unavailable result.
pub(crate) fn parse_decision(body: &[u8], sent: &Sent<'_>) -> Check<GuardResult> {
    let value: Value = serde_json::from_slice(body).map_err(|_| Malformed)?;
    let Value::Object(m) = value else {
        return Err(Malformed);
    };
    let action = match m.get("action").and_then(Value::as_str) {
        Some("allow") => GuardAction::Allow,
        Some("block") => GuardAction::Block,
        Some("modify") => GuardAction::Modify,
        Some("escalate") => GuardAction::Escalate,
        _ => return Err(Malformed),
    };
    let decision_id = m
        .get("decision_id")
        .and_then(Value::as_str)
        .and_then(|s| uuid::Uuid::parse_str(s).ok())
        .ok_or(Malformed)?;
    if decision_id.hyphenated().to_string() != sent.decision_id {
        return Err(Malformed);
    }
    match m.get("decision_source").and_then(Value::as_str) {
        Some(s) if DECISION_SOURCES.contains(&s) && s == sent.decision_source => {}
        _ => return Err(Malformed),
    }
    let results = objects(opt(&m, "results"))?
        .iter()
        .map(rule)
        .collect::<Check<Vec<_>>>()?;
    let mut rules_triggered = match opt(&m, "rules_triggered") {
        None => Vec::new(),
        Some(Value::Array(a)) => a
            .iter()
            .map(|v| v.as_str().map(str::to_owned).ok_or(Malformed))
            .collect::<Check<Vec<_>>>()?,
        Some(_) => return Err(Malformed),
    };
    if rules_triggered.is_empty() {
        rules_triggered = results
            .iter()
            .filter(|r| r.is_finding())
            .map(|r| r.rule_name.clone())
            .collect();
    }
    let decision_available = opt_bool(&m, "decision_available")?.unwrap_or(true);
    let status = match opt(&m, "evaluation_status") {
        None if decision_available => EvaluationStatus::Evaluated,
        None => EvaluationStatus::Unavailable,
        Some(v) => v
            .as_str()
            .and_then(EvaluationStatus::parse)
            .ok_or(Malformed)?,
    };
    // Unavailable exactly when no decision is available.
    if (status == EvaluationStatus::Unavailable) == decision_available {
        return Err(Malformed);
    }
    if matches!(
        status,
        EvaluationStatus::Skipped | EvaluationStatus::Abstained
    ) && (action != GuardAction::Allow || !rules_triggered.is_empty())
    {
        return Err(Malformed);
    }
    match opt_str(&m, "failure_mode")?.as_deref() {
        None | Some("fail_open" | "fail_closed") => {}
        Some(_) => return Err(Malformed),
    }
    let failure_kind = match opt_str(&m, "failure_kind")? {
        None if !decision_available => return Err(Malformed),
        None => None,
        Some(k) => Some(GuardFailureKind::parse(&k).ok_or(Malformed)?),
    };
    let retryable = opt_bool(&m, "retryable")?.unwrap_or(false);
    let reason = opt_str(&m, "reason")?.unwrap_or_default();
    let severity = opt_str(&m, "severity")?.unwrap_or_else(|| "low".to_owned());

    // Decision 2: `modify` needs the new input, `escalate` the escalation to poll; a backend
    // without them is treated as 0.5.25 treats both actions.
    let mut modified_input = None;
    let mut modifications = Vec::new();
    let mut escalation_id = None;
    match action {
        GuardAction::Modify if decision_available => {
            let Some(Value::Object(input)) = opt(&m, "modified_input") else {
                return Err(Unsupported);
            };
            modified_input = Some(input.clone());
            modifications = match opt(&m, "modifications") {
                None => Vec::new(),
                Some(Value::Array(ops)) => ops.clone(),
                Some(_) => return Err(Malformed),
            };
        }
        GuardAction::Escalate if decision_available => match opt(&m, "escalation_id") {
            Some(Value::String(id)) if !id.is_empty() => escalation_id = Some(id.clone()),
            _ => return Err(Unsupported),
        },
        _ => {}
    }
    let action = if decision_available {
        action
    } else if sent.mode == GuardFailureMode::FailClosed {
        GuardAction::Block
    } else {
        GuardAction::Allow
    };
    Ok(GuardResult {
        action,
        reason,
        rule_name: rules_triggered.first().cloned(),
        severity,
        results,
        latency_ms: sent.latency_ms,
        rules_triggered,
        decision_available,
        failure_kind,
        failure_mode: sent.mode,
        retryable,
        decision_id: sent.decision_id.to_owned(),
        decision_source: sent.decision_source.to_owned(),
        evaluation_status: status,
        modified_input,
        modifications,
        escalation_id,
    })
}

/// The failure kind of a non-2xx answer: a kind named by the body's `code` (top level, then
/// `error.code`, then `detail.code`, within its first 4096 bytes), else by status.
pub(crate) fn http_failure(status: u16, body: &[u8]) -> (GuardFailureKind, Option<&'static str>) {
    let head = &body[..body.len().min(4096)];
    if let Ok(v) = serde_json::from_slice::<Value>(head) {
        let code = [
            v.get("code"),
            v.get("error").and_then(|e| e.get("code")),
            v.get("detail").and_then(|d| d.get("code")),
        ]
        .into_iter()
        .flatten()
        .find_map(Value::as_str)
        .and_then(GuardFailureKind::parse);
        if let Some(kind) = code {
            return (kind, None);
        }
    }
    match status {
        401 => (GuardFailureKind::InvalidKey, None),
        402 => (GuardFailureKind::PlanExpired, None),
        403 => (GuardFailureKind::Forbidden, None),
        429 => (GuardFailureKind::RateLimited, None),
        s if s >= 500 => (GuardFailureKind::BackendUnavailable, None),
        _ => (Malformed, Some("Guard request was rejected")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const ID: &str = "6f9619ff-8b86-4011-b42d-00cf4fc964ff";

    fn sent(mode: GuardFailureMode) -> Sent<'static> {
        Sent {
            decision_id: ID,
            decision_source: "manual",
            mode,
            latency_ms: 1.5,
        }
    }

    fn parse(v: Value) -> Check<GuardResult> {
        parse_decision(v.to_string().as_bytes(), &sent(GuardFailureMode::FailOpen))
    }

    fn ok(extra: Value) -> Value {
        let mut base = json!({"action": "allow", "decision_id": ID.to_uppercase(),
                              "decision_source": "manual"});
        if let (Some(b), Some(e)) = (base.as_object_mut(), extra.as_object()) {
            b.extend(e.clone());
        }
        base
    }

    #[test]
    fn minimal_allow_and_derived_rules() {
        let r = parse(ok(json!({"results": [
            {"rule_name": "a", "action": "audit", "reason": "x"},
            {"rule_name": "b", "action": "allow"},
            {"rule_name": "c", "action": "block", "evaluation_status": "evaluated", "score": 1}
        ]})));
        let r = r.unwrap_or_else(|k| panic!("{k}"));
        assert_eq!(r.rules_triggered, ["a", "c"]);
        assert_eq!(r.rule_name.as_deref(), Some("a"));
        assert_eq!(r.severity, "low");
        assert_eq!(r.results[0].severity, "medium");
        assert!(r.has_findings());
        assert_eq!(r.decision_id, ID);
    }

    #[test]
    fn violations_of_the_strict_rules() {
        for bad in [
            json!([]),
            json!({"action": "allow", "decision_source": "manual"}),
            ok(json!({"decision_id": "6f9619ff-8b86-4011-b42d-00cf4fc964fe"})),
            ok(json!({"decision_source": "openai"})),
            ok(json!({"action": "maybe"})),
            ok(json!({"results": [{"action": "block", "evaluation_status": "skipped"}]})),
            ok(json!({"results": [{"score": 1.5}]})),
            ok(json!({"results": [{"score": true}]})),
            ok(json!({"results": [{"latency_ms": -1}]})),
            ok(json!({"results": [{"violations": [1]}]})),
            ok(json!({"results": [1]})),
            ok(json!({"rules_triggered": [1]})),
            ok(json!({"decision_available": false, "evaluation_status": "unavailable"})),
            ok(json!({"evaluation_status": "skipped", "rules_triggered": ["x"]})),
            ok(json!({"failure_mode": "whatever"})),
            ok(json!({"failure_kind": "nope"})),
            ok(json!({"retryable": "yes"})),
            ok(json!({"reason": 3})),
        ] {
            assert_eq!(parse(bad.clone()).err(), Some(Malformed), "{bad}");
        }
        assert!(parse_decision(b"\xff", &sent(GuardFailureMode::FailOpen)).is_err());
    }

    #[test]
    fn modify_and_escalate_need_their_fields() {
        assert_eq!(
            parse(ok(json!({"action": "modify"}))).err(),
            Some(Unsupported)
        );
        assert_eq!(
            parse(ok(json!({"action": "escalate"}))).err(),
            Some(Unsupported)
        );
        let r = parse(ok(json!({"action": "modify", "modified_input": {"a": 1}})));
        assert_eq!(
            r.ok().and_then(|r| r.modified_input),
            json!({"a": 1}).as_object().cloned()
        );
    }

    #[test]
    fn unavailable_answer_follows_the_local_mode() {
        let body = ok(json!({"action": "allow", "decision_available": false,
                             "failure_kind": "capacity_exhausted", "failure_mode": "fail_open"}));
        let r = parse_decision(
            body.to_string().as_bytes(),
            &sent(GuardFailureMode::FailClosed),
        );
        let r = r.unwrap_or_else(|k| panic!("{k}"));
        assert_eq!(r.action, GuardAction::Block);
        assert_eq!(r.failure_mode, GuardFailureMode::FailClosed);
        assert_eq!(r.evaluation_status, EvaluationStatus::Unavailable);
    }

    #[test]
    fn http_errors() {
        let cap = br#"{"detail":{"code":"capacity_exhausted"}}"#;
        assert_eq!(
            http_failure(500, cap).0,
            GuardFailureKind::CapacityExhausted
        );
        assert_eq!(http_failure(401, b"").0, GuardFailureKind::InvalidKey);
        assert_eq!(http_failure(402, b"").0, GuardFailureKind::PlanExpired);
        assert_eq!(http_failure(403, b"x").0, GuardFailureKind::Forbidden);
        assert_eq!(http_failure(429, b"").0, GuardFailureKind::RateLimited);
        assert_eq!(
            http_failure(503, b"").0,
            GuardFailureKind::BackendUnavailable
        );
        assert_eq!(
            http_failure(404, b""),
            (Malformed, Some("Guard request was rejected"))
        );
        let conflict = br#"{"error":{"code":"idempotency_conflict"}}"#;
        assert_eq!(
            http_failure(409, conflict).0,
            GuardFailureKind::IdempotencyConflict
        );
    }
}
