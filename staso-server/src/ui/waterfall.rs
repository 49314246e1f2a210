//! The trace page's waterfall: spans in tree order (a parent before its children, siblings by
//! start), each a bar on the trace's shared time axis, indented by depth, coloured by kind.

use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;

use serde_json::Value;

use super::html::{self, Esc, url_enc};
use crate::timefmt;

/// One bar.
#[derive(Debug, Clone, PartialEq)]
pub struct Bar<'a> {
    /// The span (as the read API returns it).
    pub span: &'a Value,
    /// Its id.
    pub span_id: &'a str,
    /// 0 for roots.
    pub depth: usize,
    /// Start, µs after the trace's first span.
    pub offset_us: i64,
    /// Length, µs.
    pub length_us: i64,
}

/// The spans' layout: bars in tree order and the axis length (µs, at least 1).
#[derive(Debug, Clone, PartialEq)]
pub struct Layout<'a> {
    /// Bars, tree order.
    pub bars: Vec<Bar<'a>>,
    /// From the first start to the last end, µs.
    pub total_us: i64,
}

fn text<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or("")
}

/// Lays out `spans`; a span whose parent is not stored (or is itself) is a root.
pub fn layout(spans: &[Value]) -> Layout<'_> {
    let start = |s: &Value| timefmt::parse_micros(text(s, "timestamp")).unwrap_or(0);
    let length = |s: &Value| {
        let ms = s.get("duration_ms").and_then(Value::as_f64).unwrap_or(0.0);
        if ms.is_finite() && ms > 0.0 {
            (ms * 1000.0) as i64
        } else {
            0
        }
    };
    let t0 = spans.iter().map(start).min().unwrap_or(0);
    let t1 = spans
        .iter()
        .map(|s| start(s).saturating_add(length(s)))
        .max()
        .unwrap_or(t0);
    let ids: HashSet<&str> = spans.iter().map(|s| text(s, "span_id")).collect();
    let mut children: HashMap<&str, Vec<&Value>> = HashMap::new();
    let mut roots = Vec::new();
    for s in spans {
        match s.get("parent_span_id").and_then(Value::as_str) {
            Some(p) if ids.contains(p) && p != text(s, "span_id") => {
                children.entry(p).or_default().push(s)
            }
            _ => roots.push(s),
        }
    }
    let by_start = |a: &&Value, b: &&Value| start(a).cmp(&start(b));
    roots.sort_by(by_start);
    for list in children.values_mut() {
        list.sort_by(by_start);
    }
    let mut bars = Vec::with_capacity(spans.len());
    let mut seen = HashSet::new();
    // Depth-first with an explicit stack (deep traces must not overflow the handler's stack).
    let mut stack: Vec<(&Value, usize)> = roots.into_iter().rev().map(|r| (r, 0)).collect();
    while let Some((s, depth)) = stack.pop() {
        let id = text(s, "span_id");
        if !seen.insert(id) {
            continue; // a cycle in parent links: each span once
        }
        bars.push(Bar {
            span: s,
            span_id: id,
            depth,
            offset_us: start(s) - t0,
            length_us: length(s),
        });
        if let Some(kids) = children.get(id) {
            stack.extend(kids.iter().rev().map(|k| (*k, depth + 1)));
        }
    }
    // Spans only reachable through a cycle have no root; show them at the top level.
    for s in spans {
        let id = text(s, "span_id");
        if seen.insert(id) {
            bars.push(Bar {
                span: s,
                span_id: id,
                depth: 0,
                offset_us: start(s) - t0,
                length_us: length(s),
            });
        }
    }
    Layout {
        bars,
        total_us: (t1 - t0).max(1),
    }
}

/// A kind as a CSS class suffix (`llm`, `tool`, `agent`, …; anything else `other`).
fn kind_class(kind: &str) -> &'static str {
    match kind {
        "agent" => "agent",
        "llm" => "llm",
        "tool" => "tool",
        "retriever" => "retriever",
        "chain" => "chain",
        "embedding" => "embedding",
        "guardrail" | "guard" => "guard",
        _ => "other",
    }
}

/// Where a bar's duration label goes: after the bar when there is room, else before it, else
/// inside its right end (class suffix and inline style).
fn label_place(left: f64, width: f64) -> (&'static str, String) {
    let end = left + width;
    if end <= 82.0 {
        ("", format!("left:{end:.3}%"))
    } else if left >= 18.0 {
        (" before", format!("right:{:.3}%", 100.0 - left))
    } else {
        (" inside", format!("right:{:.3}%", 100.0 - end))
    }
}

/// The waterfall's HTML: an axis and one row per bar; the row of `selected` is marked.
pub fn render(layout: &Layout<'_>, trace_id: &str, selected: Option<&str>) -> String {
    let total = layout.total_us as f64;
    let mut out = String::from("<div class=\"waterfall\" id=\"waterfall\"><div class=\"wf-axis\">");
    for i in 0..=4 {
        let _ = write!(
            out,
            "<span style=\"left:{}%\">{}</span>",
            i * 25,
            html::duration(total / 1000.0 * f64::from(i) / 4.0)
        );
    }
    out.push_str("</div>");
    for (i, b) in layout.bars.iter().enumerate() {
        let status = text(b.span, "status");
        let kind = text(b.span, "kind");
        let error = status == "error";
        let left = b.offset_us as f64 / total * 100.0;
        let width = (b.length_us as f64 / total * 100.0)
            .max(0.3)
            .min(100.0 - left);
        let sel = selected == Some(b.span_id);
        let label = label_place(left, width);
        let _ = write!(
            out,
            "<a class=\"wf-row{err}{sel}\" href=\"/traces/{tid}?span={sid}#detail\" \
             data-span-id=\"{sid_attr}\" data-name=\"{name}\" data-depth=\"{depth}\" data-kind=\"{kind_attr}\" \
             data-status=\"{status_attr}\" data-index=\"{i}\">\
             <span class=\"wf-name\" style=\"padding-left:{pad}px\" title=\"{name}\">{mark}\
             <span class=\"kind k-{kc}\">{kind_text}</span> {name}</span>\
             <span class=\"wf-track\"><span class=\"wf-bar k-{kc}\" \
             style=\"left:{left:.3}%;width:{width:.3}%\"></span>\
             <span class=\"wf-dur{label_class}\" style=\"{label_pos}\">{dur}</span></span></a>",
            err = if error { " error" } else { "" },
            sel = if sel { " selected" } else { "" },
            tid = url_enc(trace_id),
            sid = url_enc(b.span_id),
            sid_attr = Esc(b.span_id),
            depth = b.depth,
            kind_attr = Esc(kind),
            status_attr = Esc(status),
            pad = 6 + b.depth * 16,
            mark = if error {
                "<span class=\"err-mark\" title=\"error\">!</span>"
            } else {
                ""
            },
            kc = kind_class(kind),
            kind_text = Esc(kind),
            name = Esc(text(b.span, "name")),
            label_class = label.0,
            label_pos = label.1,
            dur = html::duration(b.length_us as f64 / 1000.0),
        );
    }
    out.push_str("</div>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn span(id: &str, parent: Option<&str>, at_ms: u32, dur: f64) -> Value {
        json!({"span_id": id, "parent_span_id": parent, "name": id, "kind": "tool",
               "status": "ok", "duration_ms": dur,
               "timestamp": format!("2026-01-01T00:00:00.{:03}000+00:00", at_ms)})
    }

    #[test]
    fn tree_order_depth_and_offsets() {
        let spans = vec![
            span("c2", Some("root"), 50, 10.0),
            span("root", None, 0, 100.0),
            span("g", Some("c1"), 20, 5.0),
            span("c1", Some("root"), 10, 30.0),
            span("orphan", Some("missing"), 90, 20.0),
        ];
        let l = layout(&spans);
        let order: Vec<(&str, usize, i64)> = l
            .bars
            .iter()
            .map(|b| (b.span_id, b.depth, b.offset_us))
            .collect();
        assert_eq!(
            order,
            vec![
                ("root", 0, 0),
                ("c1", 1, 10_000),
                ("g", 2, 20_000),
                ("c2", 1, 50_000),
                ("orphan", 0, 90_000)
            ]
        );
        assert_eq!(l.total_us, 110_000);
    }

    #[test]
    fn cycles_show_each_span_once() {
        let spans = vec![span("a", Some("b"), 0, 1.0), span("b", Some("a"), 1, 1.0)];
        let l = layout(&spans);
        assert_eq!(l.bars.len(), 2);
    }

    #[test]
    fn names_are_escaped_and_errors_marked() {
        let mut s = span("x", None, 0, 1.0);
        s["name"] = json!("<script>alert(1)</script>");
        s["status"] = json!("error");
        let spans = vec![s];
        let html = render(&layout(&spans), "t<1>", Some("x"));
        assert!(!html.contains("<script>"), "{html}");
        assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(html.contains("wf-row error selected"));
        assert!(html.contains("/traces/t%3C1%3E?span=x"));
    }
}
