//! From a batch of records to one ingest body: serialize each record (`emit::to_wire`, which
//! applies the capture policy), coalesce by `(trace_id, span_id)` and group per trace
//! (PROTOCOL.md §2.6, §3.2). Runs on the worker thread.

use std::collections::HashMap;

use crate::emit::{EmitContext, to_wire};
use crate::record::SpanRecord;
use crate::wire::{IngestRequest, TraceGroup, WireSpan};

/// One serialized wire span with the numeric identity it was made from.
struct Entry {
    key: (u128, u64),
    trace_id: String,
    span: WireSpan,
}

/// Builds the request body for `records` (at most one batch, in queue order).
pub(crate) fn build_request(records: &[SpanRecord], ctx: &EmitContext) -> IngestRequest {
    let entries = coalesce(records.iter().map(|r| {
        let (trace_id, span) = to_wire(r, ctx);
        Entry {
            key: (r.trace_id.0, r.span_id.0),
            trace_id,
            span,
        }
    }));
    group(entries, ctx)
}

/// Keeps one version per `(trace_id, span_id)`: the first occurrence fixes the position, a later
/// one replaces it unless the later one is a provisional root and the stored one is not. The key
/// is the numeric id pair, which formats one-to-one to the wire strings the protocol keys on.
fn coalesce(entries: impl Iterator<Item = Entry>) -> Vec<Entry> {
    let mut out: Vec<Entry> = Vec::with_capacity(entries.size_hint().0);
    let mut positions: HashMap<(u128, u64), usize> = HashMap::with_capacity(out.capacity());
    for entry in entries {
        // Spans without an id are never coalesced (cannot happen for SDK records).
        if entry.span.span_id.is_empty() {
            out.push(entry);
            continue;
        }
        match positions.get(&entry.key) {
            None => {
                positions.insert(entry.key, out.len());
                out.push(entry);
            }
            Some(&i) => {
                // Parsing attributes only on a collision keeps the common path cheap.
                if !entry.span.is_provisional_root() || out[i].span.is_provisional_root() {
                    out[i] = entry;
                }
            }
        }
    }
    out
}

/// Groups spans per trace in order of first appearance; each group's timestamp is the smallest
/// non-empty span timestamp, or `""`.
fn group(entries: Vec<Entry>, ctx: &EmitContext) -> IngestRequest {
    let mut traces: Vec<TraceGroup> = Vec::new();
    let mut index: HashMap<u128, usize> = HashMap::new();
    for Entry {
        key: (trace, _),
        trace_id,
        span,
    } in entries
    {
        let i = *index.entry(trace).or_insert_with(|| {
            traces.push(TraceGroup {
                trace_id,
                timestamp: String::new(),
                environment: ctx.environment.clone(),
                workspace_slug: ctx.workspace_slug.clone(),
                spans: Vec::new(),
            });
            traces.len() - 1
        });
        let group = &mut traces[i];
        if !span.timestamp.is_empty()
            && (group.timestamp.is_empty() || span.timestamp < group.timestamp)
        {
            group.timestamp.clone_from(&span.timestamp);
        }
        group.spans.push(span);
    }
    IngestRequest { traces }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::ids::{SpanId, TraceId};
    use crate::kind::SpanKind;
    use std::time::{Duration, Instant};

    fn ctx() -> EmitContext {
        let config = Config::builder()
            .api_key("ak_test")
            .agent_name("demo")
            .capture_git(false)
            .environment("prod")
            .workspace_slug("ws")
            .build_with_env(|_| None);
        match config {
            Ok(c) => EmitContext::from_config(&c, "session".into()),
            Err(e) => panic!("config: {e}"),
        }
    }

    fn rec(trace: u128, span: u64, parent: Option<u64>, name: &'static str) -> SpanRecord {
        SpanRecord::new(
            TraceId(trace),
            SpanId(span),
            parent.map(SpanId),
            name.into(),
            SpanKind::Chain,
            Instant::now(),
        )
    }

    #[test]
    fn final_root_supersedes_snapshot_at_its_position() {
        let root = rec(1, 10, None, "root");
        let snap = root.provisional_snapshot();
        let mut done = root.clone();
        done.duration = Duration::from_millis(5);
        let child = rec(1, 11, Some(10), "child");
        let other = rec(2, 20, None, "other");
        let req = build_request(&[snap, child, other, done], &ctx());
        assert_eq!(req.traces.len(), 2);
        let t1 = &req.traces[0];
        assert_eq!(t1.environment, "prod");
        assert_eq!(t1.workspace_slug, "ws");
        let names: Vec<&str> = t1.spans.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["root", "child"]);
        assert!(!t1.spans[0].is_provisional_root());
        assert_eq!(t1.spans[0].duration_ms, 5.0);
        assert_eq!(req.traces[1].spans.len(), 1);
    }

    #[test]
    fn snapshot_never_replaces_a_final_root() {
        let root = rec(1, 10, None, "root");
        let snap = root.provisional_snapshot();
        let req = build_request(&[root, snap], &ctx());
        assert_eq!(req.traces[0].spans.len(), 1);
        assert!(!req.traces[0].spans[0].is_provisional_root());
    }

    #[test]
    fn group_timestamp_is_the_smallest() {
        let early = Instant::now();
        let mut a = rec(1, 1, None, "a");
        let mut b = rec(1, 2, Some(1), "b");
        b.start = early;
        a.start = early + Duration::from_millis(3);
        let req = build_request(&[a, b], &ctx());
        let g = &req.traces[0];
        assert_eq!(g.timestamp, g.spans[1].timestamp);
        assert!(g.spans[1].timestamp < g.spans[0].timestamp);
    }
}
