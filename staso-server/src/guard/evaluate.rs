//! Turns a policy and a request into the decision of `POST /v1/guard/evaluate`.
//!
//! Precedence of enforced actions: block > escalate > modify > allow. Audit findings (rule action
//! `audit`, or any enforcing action in audit mode) are reported in `results` and `rules_triggered`
//! but leave the effective action `allow`.

use serde_json::Value;
use staso_wire::guard::guard_action as act;
use staso_wire::guard::{GuardEvaluateRequest, GuardEvaluateResponse, GuardRuleResult};

use super::policy::{Mode, Policy, RuleAction};

/// The decision, plus what an escalation needs to be filed.
#[derive(Debug, Clone)]
pub struct Verdict {
    /// The response body (without `escalation_id`).
    pub response: GuardEvaluateResponse,
    /// For `escalate`: the escalating rule's name and reason.
    pub escalation: Option<(String, String)>,
}

fn severity_rank(s: &str) -> u8 {
    match s {
        "critical" => 4,
        "high" => 3,
        "medium" => 2,
        "low" => 1,
        _ => 0,
    }
}

/// Evaluates `req` against `policy` (no policy: allow everything).
pub fn evaluate(policy: Option<&Policy>, req: &GuardEvaluateRequest) -> Verdict {
    let input = Value::Object(req.tool_input.clone());
    let mut results = Vec::new();
    let (mut block, mut escalate, mut patches) = (false, None, Vec::new());
    let mut reasons = Vec::new();
    let mut severity = "low".to_owned();
    for rule in policy.map(|p| p.rules.as_slice()).unwrap_or_default() {
        if !rule.matches_tool(&req.tool_name) {
            continue;
        }
        let started = std::time::Instant::now();
        let hit = rule.conditions_hold(&input);
        let audit_mode = rule.mode.or(policy.map(|p| p.mode)) == Some(Mode::Audit);
        let action = match (hit, rule.action, audit_mode) {
            (false, _, _) | (true, RuleAction::Allow, _) => act::ALLOW,
            (true, RuleAction::Audit, _) | (true, _, true) => act::AUDIT,
            (true, RuleAction::Block, false) => act::BLOCK,
            (true, RuleAction::Modify, false) => act::MODIFY,
            (true, RuleAction::Escalate, false) => act::ESCALATE,
        };
        match action {
            act::BLOCK => block = true,
            act::ESCALATE if escalate.is_none() => {
                escalate = Some((rule.name.clone(), rule.reason.clone()));
            }
            act::MODIFY => patches.extend(rule.patch.iter().cloned()),
            _ => {}
        }
        if action != act::ALLOW {
            reasons.push(rule.reason.clone());
            if severity_rank(&rule.severity) > severity_rank(&severity) {
                severity = rule.severity.clone();
            }
        }
        results.push(GuardRuleResult {
            rule_id: rule.id.clone(),
            rule_name: rule.name.clone(),
            action: action.to_owned(),
            evaluation_status: "evaluated".to_owned(),
            reason: if hit {
                rule.reason.clone()
            } else {
                "conditions not met".to_owned()
            },
            severity: rule.severity.clone(),
            score: None,
            violations: Vec::new(),
            latency_ms: started.elapsed().as_secs_f64() * 1000.0,
        });
    }
    let rules_triggered = results
        .iter()
        .filter(|r| r.action != act::ALLOW)
        .map(|r| r.rule_name.clone())
        .collect();
    let mut modified_input = None;
    let mut modifications = None;
    let action = if block {
        act::BLOCK
    } else if escalate.is_some() {
        act::ESCALATE
    } else if !patches.is_empty() {
        let mut patched = input.clone();
        let mut ops = Vec::new();
        let mut failed = None;
        for p in &patches {
            if let Err(e) = json_patch::patch(&mut patched, p) {
                failed = Some(e.to_string());
                break;
            }
            ops.extend(
                serde_json::to_value(p)
                    .ok()
                    .into_iter()
                    .flat_map(|v| match v {
                        Value::Array(a) => a,
                        other => vec![other],
                    }),
            );
        }
        match failed {
            // A rewrite that cannot be applied must not let the original input through.
            Some(e) => {
                reasons.push(format!("modify patch failed: {e}"));
                act::BLOCK
            }
            None => {
                modified_input = Some(patched);
                modifications = Some(ops);
                act::MODIFY
            }
        }
    } else {
        act::ALLOW
    };
    let reason = if reasons.is_empty() {
        "no rule matched".to_owned()
    } else {
        reasons.join("; ")
    };
    Verdict {
        response: GuardEvaluateResponse {
            action: action.to_owned(),
            decision_id: req.decision_id.clone(),
            decision_source: req.decision_source.clone(),
            reason,
            severity,
            results,
            rules_triggered,
            decision_available: true,
            evaluation_status: "evaluated".to_owned(),
            failure_mode: req.failure_mode.clone(),
            failure_kind: None,
            retryable: false,
            modified_input,
            modifications,
            escalation_id: None,
        },
        escalation: if action == act::ESCALATE {
            escalate
        } else {
            None
        },
    }
}
