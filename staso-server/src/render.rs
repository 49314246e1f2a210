//! Plain-text views of stored traces: the list printed by `staso-server traces` and the span tree
//! printed by `staso-server show` (and by the quickstart example).

use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;

use serde_json::Value;

use crate::store::traces::TraceSummary;

/// One line per trace: time, status, spans, duration, agent, root name, id.
pub fn trace_list(traces: &[TraceSummary]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<32}  {:<7}  {:>5}  {:>10}  {:<20}  {:<24}  TRACE_ID",
        "TIMESTAMP", "STATUS", "SPANS", "DURATION", "AGENT", "ROOT"
    );
    for t in traces {
        let _ = writeln!(
            out,
            "{:<32}  {:<7}  {:>5}  {:>8.2}ms  {:<20}  {:<24}  {}",
            t.timestamp,
            t.status,
            t.span_count,
            t.duration_ms,
            t.agent_name,
            t.root_name,
            t.trace_id
        );
    }
    out
}

fn str_of<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or("")
}

/// The span tree of a trace as returned by `GET /v1/traces/{trace_id}`: one line per span with kind,
/// duration and status, then its error message and exception type when it failed. Spans whose parent
/// is not stored are shown as roots.
pub fn trace_tree(trace: &Value) -> String {
    let empty = Vec::new();
    let spans = trace
        .get("spans")
        .and_then(Value::as_array)
        .unwrap_or(&empty);
    let ids: HashSet<&str> = spans.iter().map(|s| str_of(s, "span_id")).collect();
    let mut children: HashMap<&str, Vec<&Value>> = HashMap::new();
    let mut roots = Vec::new();
    for s in spans {
        match s.get("parent_span_id").and_then(Value::as_str) {
            Some(p) if ids.contains(p) && p != str_of(s, "span_id") => {
                children.entry(p).or_default().push(s)
            }
            _ => roots.push(s),
        }
    }
    let mut out = format!(
        "trace {} (environment {}, workspace {}) {}\n",
        str_of(trace, "trace_id"),
        str_of(trace, "environment"),
        str_of(trace, "workspace_slug"),
        str_of(trace, "timestamp"),
    );
    let mut seen = HashSet::new();
    for (i, r) in roots.iter().enumerate() {
        write_span(&mut out, r, "", i + 1 == roots.len(), &children, &mut seen);
    }
    out
}

fn write_span<'a>(
    out: &mut String,
    span: &'a Value,
    prefix: &str,
    last: bool,
    children: &HashMap<&str, Vec<&'a Value>>,
    seen: &mut HashSet<&'a str>,
) {
    let id = str_of(span, "span_id");
    if !seen.insert(id) {
        return; // a cycle in parent links; print each span once
    }
    let branch = if last { "└─ " } else { "├─ " };
    let duration = span
        .get("duration_ms")
        .and_then(Value::as_f64)
        .unwrap_or(0.0);
    let provisional = span
        .pointer("/attributes/staso.provisional_root")
        .and_then(Value::as_bool)
        == Some(true);
    let _ = writeln!(
        out,
        "{prefix}{branch}{} [{}] {:.2}ms {}{}",
        str_of(span, "name"),
        str_of(span, "kind"),
        duration,
        str_of(span, "status"),
        if provisional { " (running)" } else { "" }
    );
    let inner = format!("{prefix}{}", if last { "   " } else { "│  " });
    if str_of(span, "status") == "error" {
        let exc = span
            .pointer("/attributes/exception.type")
            .and_then(Value::as_str)
            .unwrap_or("");
        let msg = span
            .get("error_message")
            .and_then(Value::as_str)
            .unwrap_or("");
        let _ = writeln!(
            out,
            "{inner}   ! {exc}{}{msg}",
            if exc.is_empty() || msg.is_empty() {
                ""
            } else {
                ": "
            }
        );
    }
    let kids = children.get(id).map(Vec::as_slice).unwrap_or_default();
    for (i, c) in kids.iter().enumerate() {
        write_span(out, c, &inner, i + 1 == kids.len(), children, seen);
    }
}
