//! [`GuardBlocked`]: the error of a tool call the guard stopped (PROTOCOL.md §6.7).

use std::fmt;

use super::types::GuardResult;

/// Reason used when a single blocked tool has none.
const DEFAULT_REASON: &str = "Guard policy blocked this tool call";

/// One blocked tool call.
#[derive(Clone, Debug, PartialEq)]
pub struct BlockedTool {
    /// The tool.
    pub tool_name: String,
    /// Its guard result.
    pub result: GuardResult,
}

/// A tool call (or several) stopped by the guard.
///
/// [`guard`](super::guard) never returns this — the caller checks the result's action — but
/// `#[staso::tool(guard)]` returns `Err(GuardBlocked.into())` from a blocked call.
///
/// ```
/// use staso_core::guard::{GuardBlocked, GuardFailureKind, GuardFailureMode, GuardResult};
/// let result = GuardResult::unavailable(
///     GuardFailureKind::NetworkUnavailable,
///     GuardFailureMode::FailClosed,
///     "6f9619ff-8b86-4011-b42d-00cf4fc964ff",
///     "manual",
///     0.0,
/// );
/// let blocked = GuardBlocked::new("shell", result);
/// assert_eq!(
///     blocked.to_string(),
///     "Guard blocked tool 'shell': Guard network unavailable (fail-closed)"
/// );
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct GuardBlocked {
    /// The first blocked tool.
    pub tool_name: String,
    /// Its guard result.
    pub result: GuardResult,
    /// One reason for one tool; `"<tool>: <reason>"` parts joined with `"; "` for several.
    pub reason: String,
    /// The de-duplicated union of the blocked tools' triggered rules, in order.
    pub rules_triggered: Vec<String>,
    /// Every blocked tool, in order (at least one).
    pub blocked_tools: Vec<BlockedTool>,
}

impl GuardBlocked {
    /// One blocked tool call.
    pub fn new(tool_name: impl Into<String>, result: GuardResult) -> Self {
        Self::from_tools(
            BlockedTool {
                tool_name: tool_name.into(),
                result,
            },
            Vec::new(),
        )
    }

    /// Several blocked tool calls: `first`, then `more`.
    pub fn from_tools(first: BlockedTool, more: Vec<BlockedTool>) -> Self {
        let mut blocked_tools = Vec::with_capacity(1 + more.len());
        blocked_tools.push(first);
        blocked_tools.extend(more);
        let mut rules_triggered: Vec<String> = Vec::new();
        for rule in blocked_tools
            .iter()
            .flat_map(|t| t.result.rules_triggered.iter())
        {
            if !rules_triggered.contains(rule) {
                rules_triggered.push(rule.clone());
            }
        }
        let reason = match blocked_tools.as_slice() {
            [one] if one.result.reason.is_empty() => DEFAULT_REASON.to_owned(),
            [one] => one.result.reason.clone(),
            many => many
                .iter()
                .map(|t| {
                    if t.result.reason.is_empty() {
                        t.tool_name.clone()
                    } else {
                        format!("{}: {}", t.tool_name, t.result.reason)
                    }
                })
                .collect::<Vec<_>>()
                .join("; "),
        };
        let head = &blocked_tools[0];
        GuardBlocked {
            tool_name: head.tool_name.clone(),
            result: head.result.clone(),
            reason,
            rules_triggered,
            blocked_tools,
        }
    }
}

impl fmt::Display for GuardBlocked {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.blocked_tools.len() > 1 {
            let names: Vec<&str> = self
                .blocked_tools
                .iter()
                .map(|t| t.tool_name.as_str())
                .collect();
            write!(
                f,
                "Guard blocked {} tools ({}): {}",
                self.blocked_tools.len(),
                names.join(", "),
                self.reason
            )
        } else {
            write!(
                f,
                "Guard blocked tool {}: {}",
                python_repr(&self.tool_name),
                self.reason
            )
        }
    }
}

impl std::error::Error for GuardBlocked {}

/// A string as Python's `repr` shows it (the official message uses it for the tool name): single
/// quotes unless the text has a single quote and no double quote.
fn python_repr(s: &str) -> String {
    let quote = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::with_capacity(s.len() + 2);
    out.push(quote);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push(quote);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::guard::{GuardAction, GuardFailureKind, GuardFailureMode};

    fn result(reason: &str, rules: &[&str]) -> GuardResult {
        let mut r = GuardResult::unavailable(
            GuardFailureKind::MalformedResponse,
            GuardFailureMode::FailClosed,
            "",
            "manual",
            0.0,
        );
        r.action = GuardAction::Block;
        r.reason = reason.to_owned();
        r.rules_triggered = rules.iter().map(|s| (*s).to_owned()).collect();
        r
    }

    #[test]
    fn one_tool_message_uses_python_repr_and_default_reason() {
        let b = GuardBlocked::new("it's", result("", &["a"]));
        assert_eq!(
            b.to_string(),
            "Guard blocked tool \"it's\": Guard policy blocked this tool call"
        );
    }

    #[test]
    fn several_tools_join_reasons_and_union_rules() {
        let b = GuardBlocked::from_tools(
            BlockedTool {
                tool_name: "a".into(),
                result: result("r1", &["x", "y"]),
            },
            vec![BlockedTool {
                tool_name: "b".into(),
                result: result("", &["y", "z"]),
            }],
        );
        assert_eq!(b.rules_triggered, ["x", "y", "z"]);
        assert_eq!(b.to_string(), "Guard blocked 2 tools (a, b): a: r1; b");
    }
}
