//! From a batch of records to one ingest body: coalesce by `(trace_id, span_id)`, group per trace
//! (PROTOCOL.md §2.6, §3.2), and serialize straight into the body (`emit::TraceBatch`, which
//! applies the capture policy). Runs on the worker thread.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use crate::config::ExportSettings;
use crate::ids::TraceId;
use crate::record::SpanRecord;
use crate::serialize::TraceBatch;
#[cfg(test)]
use crate::serialize::to_wire;
#[cfg(test)]
use staso_wire::ingest::{IngestRequest, TraceGroup};

/// Span and trace ids are uniformly random numbers, so mixing their words is a good enough hash and
/// far cheaper than the default SipHash (this map sees every span of every batch).
#[derive(Default)]
struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.write_u64(u64::from_le_bytes(word));
        }
    }

    fn write_u64(&mut self, v: u64) {
        self.0 = (self.0.rotate_left(5) ^ v).wrapping_mul(0x517c_c1b7_2722_0a95);
    }

    fn write_u128(&mut self, v: u128) {
        self.write_u64(v as u64);
        self.write_u64((v >> 64) as u64);
    }
}

type IdMap<K, V> = HashMap<K, V, BuildHasherDefault<IdHasher>>;

/// A serialized ingest body.
pub(crate) struct IngestBody {
    /// The JSON bytes.
    pub(crate) bytes: Vec<u8>,
    /// Number of trace groups (what the ack must count).
    pub(crate) groups: usize,
    /// Number of spans after coalescing.
    pub(crate) spans: usize,
}

/// Serializes `records` (at most one batch, in queue order) into one ingest body.
pub(crate) fn build_body<R: Borrow<SpanRecord>>(
    records: &[R],
    ctx: &ExportSettings,
) -> Result<IngestBody, serde_json::Error> {
    let groups = group(coalesce(records));
    let spans = groups.iter().map(|(_, g)| g.len()).sum();
    let n_groups = groups.len();
    // Sized for a typical span (~700 bytes) so the body is not regrown while it is written.
    let mut bytes = Vec::with_capacity(spans * 768 + 64);
    TraceBatch { groups, ctx }.write_json(&mut bytes)?;
    Ok(IngestBody {
        bytes,
        groups: n_groups,
        spans,
    })
}

/// The same batch as typed wire values (tests; the worker uses [`build_body`]).
#[cfg(test)]
pub(crate) fn build_request<R: Borrow<SpanRecord>>(
    records: &[R],
    ctx: &ExportSettings,
) -> IngestRequest {
    let traces = group(coalesce(records))
        .into_iter()
        .map(|(_, records)| {
            let spans: Vec<_> = records.iter().map(|r| to_wire(r, ctx)).collect();
            TraceGroup {
                trace_id: spans.first().map(|(t, _)| t.clone()).unwrap_or_default(),
                timestamp: spans
                    .iter()
                    .map(|(_, s)| s.timestamp.clone())
                    .filter(|t| !t.is_empty())
                    .min()
                    .unwrap_or_default(),
                environment: ctx.environment.clone(),
                workspace_slug: ctx.workspace_slug.clone(),
                spans: spans.into_iter().map(|(_, s)| s).collect(),
            }
        })
        .collect();
    IngestRequest { traces }
}

/// A provisional root snapshot (PROTOCOL.md §2.6): no parent and marked provisional.
fn is_provisional_root(r: &SpanRecord) -> bool {
    r.provisional && r.parent_span_id.is_none()
}

/// Keeps one version per `(trace_id, span_id)`: the first occurrence fixes the position, a later
/// one replaces it unless the later one is a provisional root and the stored one is not. The key
/// is the numeric id pair, which formats one-to-one to the wire strings the protocol keys on.
fn coalesce<R: Borrow<SpanRecord>>(records: &[R]) -> Vec<&SpanRecord> {
    let mut out: Vec<&SpanRecord> = Vec::with_capacity(records.len());
    let mut positions: IdMap<(u128, u64), usize> =
        IdMap::with_capacity_and_hasher(records.len(), Default::default());
    for r in records {
        let r = r.borrow();
        match positions.get(&(r.trace_id.0, r.span_id.0)) {
            None => {
                positions.insert((r.trace_id.0, r.span_id.0), out.len());
                out.push(r);
            }
            Some(&i) => {
                if !is_provisional_root(r) || is_provisional_root(out[i]) {
                    out[i] = r;
                }
            }
        }
    }
    out
}

/// Groups records per trace in order of first appearance.
fn group(records: Vec<&SpanRecord>) -> Vec<(TraceId, Vec<&SpanRecord>)> {
    let mut groups: Vec<(TraceId, Vec<&SpanRecord>)> = Vec::new();
    let mut index: IdMap<u128, usize> = IdMap::default();
    for r in records {
        let i = *index.entry(r.trace_id.0).or_insert_with(|| {
            groups.push((r.trace_id, Vec::new()));
            groups.len() - 1
        });
        groups[i].1.push(r);
    }
    groups
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::ids::{SpanId, TraceId};
    use crate::kind::SpanKind;
    use std::time::Duration;

    fn ctx() -> ExportSettings {
        let config = Config::builder()
            .api_key("ak_test")
            .agent_name("demo")
            .capture_git(false)
            .environment("prod")
            .workspace_slug("ws")
            .build_with_env(|_| None);
        match config {
            Ok(c) => ExportSettings::from_config(&c, "session".into()),
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
            crate::time::now(),
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
        let early = crate::time::now();
        let mut a = rec(1, 1, None, "a");
        let mut b = rec(1, 2, Some(1), "b");
        b.start = early;
        a.start = early + Duration::from_millis(3);
        let req = build_request(&[a, b], &ctx());
        let g = &req.traces[0];
        assert_eq!(g.timestamp, g.spans[1].timestamp);
        assert!(g.spans[1].timestamp < g.spans[0].timestamp);
    }

    #[test]
    fn streamed_body_equals_the_typed_request() {
        let root = rec(1, 10, None, "root");
        let mut child = rec(1, 11, Some(10), "child");
        child.set_metadata("k".into(), serde_json::json!([1, "x"]));
        child.input = Some("{\"a\":1}".into());
        let batch = [
            root.provisional_snapshot(),
            child,
            rec(2, 20, None, "other"),
            root,
        ];
        let body = build_body(&batch, &ctx()).unwrap_or_else(|e| panic!("{e}"));
        let parsed: IngestRequest =
            serde_json::from_slice(&body.bytes).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(parsed, build_request(&batch, &ctx()));
        assert_eq!((body.groups, body.spans), (2, 3));
    }
}
