//! Guard policies: rules that match a tool name and conditions on the tool input, with actions
//! allow, block, audit, modify (a JSON Patch) and escalate, in enforce or audit mode.
//!
//! A policy file is JSON:
//! ```json
//! {"mode": "enforce",
//!  "rules": [
//!    {"name": "no-rm", "tool": "shell", "action": "block", "severity": "high",
//!     "when": [{"pointer": "/cmd", "matches": "rm\\s+-rf"}], "reason": "destructive command"},
//!    {"name": "cap-refund", "tool": "refund", "action": "escalate",
//!     "when": [{"pointer": "/amount", "greater_than": 100}]},
//!    {"name": "mask", "tool": "send_*", "action": "modify",
//!     "patch": [{"op": "replace", "path": "/to", "value": "redacted@example.com"}]}]}
//! ```
//! `tool` is an exact name, `*`, or a prefix ending in `*`. Every condition of a rule must hold.
//! In audit mode (per policy or per rule) an enforcing action is reported as `audit` only.

use std::path::Path;

use regex::Regex;
use serde::Deserialize;
use serde_json::Value;

/// Why a policy was refused.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    /// The file could not be read.
    #[error("reading policy file: {0}")]
    Io(#[from] std::io::Error),
    /// The JSON does not describe a policy; names the field.
    #[error("policy: {0}")]
    Json(String),
    /// A rule is inconsistent.
    #[error("policy rule {rule:?}: {why}")]
    Rule {
        /// Rule name.
        rule: String,
        /// What is wrong.
        why: String,
    },
}

/// Enforce the rules, or only report what they would do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Actions take effect.
    #[default]
    Enforce,
    /// Enforcing actions are reported as `audit` findings.
    Audit,
}

/// What a matching rule does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RuleAction {
    /// Explicitly allow (reported, no effect).
    Allow,
    /// Stop the call.
    Block,
    /// Report a finding, never enforce.
    Audit,
    /// Rewrite the input with the rule's patch.
    Modify,
    /// Hold the call until a person decides.
    Escalate,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicySpec {
    #[serde(default)]
    mode: Mode,
    #[serde(default)]
    rules: Vec<RuleSpec>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleSpec {
    #[serde(default)]
    id: Option<String>,
    name: String,
    #[serde(default = "any_tool")]
    tool: String,
    #[serde(default)]
    when: Vec<ConditionSpec>,
    action: RuleAction,
    #[serde(default)]
    reason: Option<String>,
    #[serde(default)]
    severity: Option<String>,
    #[serde(default)]
    patch: Option<json_patch::Patch>,
    #[serde(default)]
    mode: Option<Mode>,
}

fn any_tool() -> String {
    "*".to_owned()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConditionSpec {
    pointer: String,
    #[serde(default)]
    equals: Option<Value>,
    #[serde(default)]
    matches: Option<String>,
    #[serde(default)]
    greater_than: Option<f64>,
}

/// A test on one value of the tool input, addressed by a JSON pointer (RFC 6901).
#[derive(Debug, Clone)]
pub enum Condition {
    /// The value equals this JSON value.
    Equals(String, Value),
    /// The value (a string, or a number/bool as text) matches this regex.
    Matches(String, Regex),
    /// The value is a number greater than this.
    GreaterThan(String, f64),
}

impl Condition {
    fn holds(&self, input: &Value) -> bool {
        match self {
            Condition::Equals(p, v) => input.pointer(p) == Some(v),
            Condition::Matches(p, re) => match input.pointer(p) {
                Some(Value::String(s)) => re.is_match(s),
                Some(v @ (Value::Number(_) | Value::Bool(_))) => re.is_match(&v.to_string()),
                _ => false,
            },
            Condition::GreaterThan(p, x) => input
                .pointer(p)
                .and_then(Value::as_f64)
                .is_some_and(|v| v > *x),
        }
    }
}

/// One compiled rule.
#[derive(Debug, Clone)]
pub struct Rule {
    /// Stable id (defaults to the name).
    pub id: String,
    /// Name reported in `rules_triggered`.
    pub name: String,
    /// Tool pattern.
    pub tool: String,
    /// All must hold.
    pub conditions: Vec<Condition>,
    /// What the rule does.
    pub action: RuleAction,
    /// Reported reason.
    pub reason: String,
    /// `low|medium|high|critical`.
    pub severity: String,
    /// For `modify`.
    pub patch: Option<json_patch::Patch>,
    /// Overrides the policy mode.
    pub mode: Option<Mode>,
}

impl Rule {
    /// Whether the rule applies to `tool_name`.
    pub fn matches_tool(&self, tool_name: &str) -> bool {
        match self.tool.strip_suffix('*') {
            Some(prefix) => tool_name.starts_with(prefix),
            None => self.tool == tool_name,
        }
    }

    /// Whether every condition holds for `input`.
    pub fn conditions_hold(&self, input: &Value) -> bool {
        self.conditions.iter().all(|c| c.holds(input))
    }
}

/// A compiled guard policy.
#[derive(Debug, Clone, Default)]
pub struct Policy {
    /// Default mode of the rules.
    pub mode: Mode,
    /// Rules in file order.
    pub rules: Vec<Rule>,
}

impl Policy {
    /// Reads and compiles a policy file.
    pub fn load(path: impl AsRef<Path>) -> Result<Self, PolicyError> {
        Self::from_json(&std::fs::read_to_string(path)?)
    }

    /// Compiles a policy from its JSON text.
    pub fn from_json(text: &str) -> Result<Self, PolicyError> {
        let mut de = serde_json::Deserializer::from_str(text);
        let spec: PolicySpec = serde_path_to_error::deserialize(&mut de)
            .map_err(|e| PolicyError::Json(format!("{}: {}", e.path(), e.inner())))?;
        let rules = spec
            .rules
            .into_iter()
            .map(compile_rule)
            .collect::<Result<_, _>>()?;
        Ok(Policy {
            mode: spec.mode,
            rules,
        })
    }
}

fn compile_rule(r: RuleSpec) -> Result<Rule, PolicyError> {
    let bad = |why: String| PolicyError::Rule {
        rule: r.name.clone(),
        why,
    };
    if r.name.trim().is_empty() {
        return Err(bad("name must not be empty".into()));
    }
    if (r.action == RuleAction::Modify) != r.patch.is_some() {
        return Err(bad(
            "`patch` is required for, and only for, action modify".into()
        ));
    }
    let mut conditions = Vec::new();
    for c in &r.when {
        if !(c.pointer.is_empty() || c.pointer.starts_with('/')) {
            return Err(bad(format!(
                "pointer {:?} must be empty or start with '/'",
                c.pointer
            )));
        }
        let p = c.pointer.clone();
        let cond = match (&c.equals, &c.matches, c.greater_than) {
            (Some(v), None, None) => Condition::Equals(p, v.clone()),
            (None, Some(re), None) => Condition::Matches(
                p,
                Regex::new(re).map_err(|e| bad(format!("regex {re:?}: {e}")))?,
            ),
            (None, None, Some(x)) if x.is_finite() => Condition::GreaterThan(p, x),
            _ => {
                return Err(bad(
                    "each condition needs exactly one of equals, matches, greater_than".into(),
                ));
            }
        };
        conditions.push(cond);
    }
    Ok(Rule {
        id: r.id.clone().unwrap_or_else(|| r.name.clone()),
        reason: r
            .reason
            .clone()
            .unwrap_or_else(|| format!("rule {} matched", r.name)),
        severity: r.severity.clone().unwrap_or_else(|| "medium".to_owned()),
        name: r.name,
        tool: r.tool,
        conditions,
        action: r.action,
        patch: r.patch,
        mode: r.mode,
    })
}
