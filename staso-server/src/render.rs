//! Plain-text views of stored traces: the list printed by `staso-server traces` and the span tree
//! printed by `staso-server show` (and by the quickstart example); the CLI's forms add tokens,
//! costs and models ([`trace_table`], [`trace_tree_with_usage`]).

use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;

use serde_json::Value;

use crate::store::traces::TraceSummary;
use crate::store::ui::TraceRow;

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

/// One line per trace as [`trace_list`] prints, plus its tokens, cost and models
/// (`staso-server traces`).
pub fn trace_table(rows: &[TraceRow]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<32}  {:<7}  {:>5}  {:>10}  {:>8}  {:>10}  {:<20}  {:<24}  {:<36}  MODELS",
        "TIMESTAMP", "STATUS", "SPANS", "DURATION", "TOKENS", "COST", "AGENT", "ROOT", "TRACE_ID"
    );
    for r in rows {
        let t = &r.summary;
        let _ = writeln!(
            out,
            "{:<32}  {:<7}  {:>5}  {:>8.2}ms  {:>8}  {:>10}  {:<20}  {:<24}  {:<36}  {}",
            t.timestamp,
            t.status,
            t.span_count,
            t.duration_ms,
            r.usage.total_tokens,
            usd(r.usage.cost_usd),
            t.agent_name,
            t.root_name,
            t.trace_id,
            r.usage.models.join(",")
        );
    }
    out
}

/// As the web UI shows costs (`$0.0199`, `$0.00575`, `$12.35`), `-` when unknown.
pub fn usd(v: Option<f64>) -> String {
    match v {
        None => "-".to_owned(),
        some => crate::ui::html::cost(some),
    }
}

fn str_of<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or("")
}

/// The span tree of a trace as returned by `GET /v1/traces/{trace_id}`: one line per span with kind,
/// duration and status, then its error message and exception type when it failed. Spans whose parent
/// is not stored are shown as roots.
pub fn trace_tree(trace: &Value) -> String {
    tree(trace, false)
}

/// [`trace_tree`] with, after the status of each span that has them, its model, tokens
/// (`in/out/total`) and `cost_usd` (as the read API adds it), and the trace's known cost on the
/// first line (`staso-server show`). Spans without any print as in [`trace_tree`].
pub fn trace_tree_with_usage(trace: &Value) -> String {
    tree(trace, true)
}

fn tree(trace: &Value, usage: bool) -> String {
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
        "trace {} (environment {}, workspace {}) {}",
        str_of(trace, "trace_id"),
        str_of(trace, "environment"),
        str_of(trace, "workspace_slug"),
        str_of(trace, "timestamp"),
    );
    if usage && let Some(c) = trace.get("cost_usd").and_then(Value::as_f64) {
        let _ = write!(out, " · cost {}", usd(Some(c)));
    }
    out.push('\n');
    let mut seen = HashSet::new();
    let ctx = Tree { children, usage };
    for (i, r) in roots.iter().enumerate() {
        write_span(&mut out, r, "", i + 1 == roots.len(), &ctx, &mut seen);
    }
    out
}

struct Tree<'a> {
    children: HashMap<&'a str, Vec<&'a Value>>,
    usage: bool,
}

/// ` · gpt-4o 1200/300/1500 tok $0.005750` for a span with a model, tokens or a cost.
fn usage_of(span: &Value) -> String {
    let n = |k: &str| span.get(k).and_then(Value::as_u64).unwrap_or(0);
    let cost = span.get("cost_usd").and_then(Value::as_f64);
    let model = match str_of(span, "model") {
        "" => str_of(span, "requested_model"),
        m => m,
    };
    let (i, o, t) = (n("input_tokens"), n("output_tokens"), n("total_tokens"));
    if model.is_empty() && i + o + t == 0 && cost.is_none() {
        return String::new();
    }
    let mut s = String::from(" ·");
    if !model.is_empty() {
        let _ = write!(s, " {model}");
    }
    if i + o + t > 0 {
        let _ = write!(s, " {i}/{o}/{} tok", if t > 0 { t } else { i + o });
    }
    let _ = write!(s, " {}", usd(cost));
    s
}

fn write_span<'a>(
    out: &mut String,
    span: &'a Value,
    prefix: &str,
    last: bool,
    ctx: &Tree<'a>,
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
        "{prefix}{branch}{} [{}] {:.2}ms {}{}{}",
        str_of(span, "name"),
        str_of(span, "kind"),
        duration,
        str_of(span, "status"),
        if provisional { " (running)" } else { "" },
        if ctx.usage {
            usage_of(span)
        } else {
            String::new()
        }
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
    let kids = ctx.children.get(id).map(Vec::as_slice).unwrap_or_default();
    for (i, c) in kids.iter().enumerate() {
        write_span(out, c, &inner, i + 1 == kids.len(), ctx, seen);
    }
}
