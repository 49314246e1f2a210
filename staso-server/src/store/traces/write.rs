//! The ingest write: a request's trace groups upserted by `(trace_id, span_id)` (a final span
//! supersedes a provisional one), each trace's summary row kept up to date.
//!
//! A span row's key is its trace's sequence number and its ordinal ([`span_key`]): a new trace's
//! spans are numbered in the request's order, an existing trace's new spans after its last one.
//! The table has no other index, so a span id is kept unique per trace here (one writer: the
//! store's writer thread, or [`Store::write`]'s lock).

use std::collections::HashMap;
use std::sync::LazyLock;

use rusqlite::{Transaction, params};
use staso_wire::ingest::IngestAck;

use super::summary::{Accumulator, SpanFacts};
use super::{CheckedGroup, CheckedSpan, SPAN_COLUMNS, span_key};
use crate::store::{Store, StoreResult, receipts};

/// Stores a validated request under `idempotency_key` in one transaction, or returns the ack of the
/// earlier request with the same key and body and stores nothing; the same key with another body
/// is [`StoreError::IdempotencyConflict`](crate::store::StoreError::IdempotencyConflict).
///
/// `scope_label` partitions keys between key scopes ([`Scope::label`](crate::keys::Scope::label));
/// `body_hash` is [`receipts::body_hash`] of the raw request body. The write goes through the
/// store's writer thread ([`writer`](crate::store::writer)), which may share the transaction with other
/// requests; this returns once it has committed.
pub fn ingest(
    store: &Store,
    scope_label: &str,
    idempotency_key: &str,
    body_hash: &str,
    groups: Vec<CheckedGroup>,
) -> StoreResult<IngestAck> {
    let (label, key, hash) = (
        scope_label.to_owned(),
        idempotency_key.to_owned(),
        body_hash.to_owned(),
    );
    store.submit_write(
        span_count(&groups),
        Box::new(move |tx| {
            if let Some(ack) = receipts::find(tx, &label, &key, &hash)? {
                return Ok(ack);
            }
            for g in &groups {
                upsert_group(tx, g)?;
            }
            let ack = IngestAck {
                accepted: groups.len() as u64,
                rejected: 0,
                spans_dropped: 0,
                receipt_id: key.clone(),
            };
            receipts::record(tx, &label, &key, &hash, &ack)?;
            Ok(ack)
        }),
    )
}

/// Stores validated groups in one transaction, without an idempotency receipt: OTLP ingest
/// (`POST /v1/traces`) has no idempotency key, and a retried batch only upserts the same spans.
/// Goes through the writer thread as [`ingest`] does.
pub fn store_groups(store: &Store, groups: Vec<CheckedGroup>) -> StoreResult<()> {
    store
        .submit_write(
            span_count(&groups),
            Box::new(move |tx| {
                for g in &groups {
                    upsert_group(tx, g)?;
                }
                Ok(IngestAck {
                    accepted: groups.len() as u64,
                    rejected: 0,
                    spans_dropped: 0,
                    receipt_id: String::new(),
                })
            }),
        )
        .map(drop)
}

fn span_count(groups: &[CheckedGroup]) -> usize {
    groups.iter().map(|g| g.spans.len()).sum()
}

fn upsert_group(tx: &Transaction<'_>, g: &CheckedGroup) -> StoreResult<()> {
    if insert_new(tx, g)? {
        return Ok(());
    }
    // The trace is stored (`insert_new` found its row): its sequence number keys its spans.
    let seq: i64 = tx
        .prepare_cached(
            "UPDATE traces SET environment = ?3 WHERE workspace_slug = ?1 AND trace_id = ?2 \
             RETURNING seq",
        )?
        .query_row(params![g.workspace_slug, g.trace_id, g.environment], |r| {
            r.get(0)
        })?;
    // Its stored span ids and their keys, and the next free ordinal.
    let mut stored: HashMap<String, i64> = HashMap::new();
    let mut next = 0;
    {
        let mut stmt = tx.prepare_cached(
            "SELECT span_key, span_id FROM spans WHERE span_key BETWEEN ?1 AND ?2",
        )?;
        let mut rows = stmt.query([span_key::first(seq), span_key::last(seq)])?;
        while let Some(r) = rows.next()? {
            let key: i64 = r.get(0)?;
            next = next.max(key - span_key::first(seq) + 1);
            stored.insert(r.get(1)?, key);
        }
    }
    let mut insert = tx.prepare_cached(&INSERT_SPAN_SQL)?;
    let mut update = tx.prepare_cached(&UPDATE_SPAN_SQL)?;
    for c in &g.spans {
        match stored.get(c.span.span_id.as_str()) {
            Some(&key) => bind_span(&mut update, key, c)?,
            None => {
                let key = span_key::key(seq, next, &g.trace_id)?;
                next += 1;
                bind_span(&mut insert, key, c)?;
                stored.insert(c.span.span_id.clone(), key);
            }
        }
    }
    recompute(tx, seq)
}

/// Overwrites the span row keyed `?1` with this copy, unless the stored one is final and this one
/// provisional (the upsert's rule). Built once: the statement cache is looked up by the text.
static UPDATE_SPAN_SQL: LazyLock<String> = LazyLock::new(|| {
    let columns = ["start_us", "provisional"]
        .into_iter()
        .chain(SPAN_COLUMNS.split(',').map(str::trim));
    let set: Vec<String> = columns
        .enumerate()
        .map(|(i, c)| format!("{c} = ?{}", i + 2))
        .collect();
    format!(
        "UPDATE spans SET {} WHERE span_key = ?1 AND NOT (?3 = 1 AND provisional = 0)",
        set.join(", ")
    )
});

/// Inserts a span row (built once, as [`UPDATE_SPAN_SQL`]).
static INSERT_SPAN_SQL: LazyLock<String> = LazyLock::new(|| {
    format!(
        "INSERT INTO spans(span_key, start_us, provisional, {SPAN_COLUMNS}) \
         VALUES ({SPAN_VALUES})"
    )
});

const SPAN_VALUES: &str = "?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, \
    ?17, ?18, ?19, ?20, ?21, ?22, ?23, ?24, ?25, ?26, ?27, ?28";

/// Runs `stmt` (an insert or an update of a span row) with the row keyed `key` and `c`'s values.
fn bind_span(
    stmt: &mut rusqlite::CachedStatement<'_>,
    key: i64,
    c: &CheckedSpan,
) -> StoreResult<()> {
    let s = &c.span;
    let capture = match &s.capture {
        Some(m) => Some(serde_json::to_string(m)?),
        None => None,
    };
    stmt.execute(params![
        key,
        c.start_us,
        s.is_provisional_root(),
        s.span_id,
        s.parent_span_id,
        s.name,
        s.kind,
        s.timestamp,
        s.duration_ms,
        s.status,
        s.model,
        s.provider,
        s.requested_model,
        s.usage_available,
        s.reasoning_effort,
        clamp(s.input_tokens),
        clamp(s.output_tokens),
        clamp(s.total_tokens),
        s.input,
        s.output,
        s.attributes,
        s.error_message,
        s.session_id,
        s.agent_name,
        s.agent_id,
        s.agent_version,
        s.user_id,
        capture,
    ])?;
    Ok(())
}

/// Spans of a new trace up to which duplicates are found by a scan instead of a map.
const SCAN_UP_TO: usize = 16;

/// A trace not stored yet: its spans as the upserts would leave them (a span id sent twice keeps
/// the last copy, except that a provisional one never replaces a final one) and its summary
/// computed from them; the `traces` row is inserted first, unless the trace is already stored
/// (`Ok(false)`: nothing written, the caller upserts), then the spans without conflict handling.
/// The insert is also the existence check: one statement per trace instead of a lookup and an
/// insert.
fn insert_new(tx: &Transaction<'_>, g: &CheckedGroup) -> StoreResult<bool> {
    let n = g.spans.len();
    let mut kept: Vec<&CheckedSpan> = Vec::with_capacity(n);
    // A map only for big traces: a scan of a few ids is cheaper than hashing each.
    let mut slot: Option<HashMap<&str, usize>> =
        (n > SCAN_UP_TO).then(|| HashMap::with_capacity(n));
    for c in &g.spans {
        let id = c.span.span_id.as_str();
        let seen = match &slot {
            Some(slot) => slot.get(id).copied(),
            None => kept.iter().position(|k| k.span.span_id == id),
        };
        match seen {
            Some(i) => {
                if !c.span.is_provisional_root() || kept[i].span.is_provisional_root() {
                    kept[i] = c;
                }
            }
            None => {
                if let Some(slot) = &mut slot {
                    slot.insert(id, kept.len());
                }
                kept.push(c);
            }
        }
    }
    let mut acc = Accumulator::default();
    for c in &kept {
        let s = &c.span;
        acc.add(&SpanFacts {
            is_root: s.parent_span_id.is_none(),
            provisional: s.is_provisional_root(),
            start_us: c.start_us,
            duration_ms: s.duration_ms,
            timestamp: &s.timestamp,
            name: &s.name,
            agent_name: &s.agent_name,
            session_id: &s.session_id,
            status: &s.status,
        });
    }
    let Some(t) = acc.finish() else {
        // No span (validation refuses an empty group): nothing to store.
        return Ok(true);
    };
    let inserted = tx
        .prepare_cached(
            "INSERT INTO traces(workspace_slug, trace_id, environment, timestamp, start_us, end_us, \
             duration_ms, root_name, agent_name, session_id, span_count, status) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12) \
             ON CONFLICT(trace_id, workspace_slug) DO NOTHING",
        )?
        .execute(params![
            g.workspace_slug,
            g.trace_id,
            g.environment,
            t.timestamp,
            t.start_us,
            t.end_us,
            t.duration_ms,
            t.root_name,
            t.agent_name,
            t.session_id,
            t.span_count,
            t.status
        ])?;
    if inserted == 0 {
        return Ok(false);
    }
    // The row just inserted: `seq` is its rowid.
    let seq = tx.last_insert_rowid();
    let mut stmt = tx.prepare_cached(&INSERT_SPAN_SQL)?;
    for (ordinal, c) in (0..).zip(&kept) {
        bind_span(&mut stmt, span_key::key(seq, ordinal, &g.trace_id)?, c)?;
    }
    Ok(true)
}

/// SQLite integers are i64; token counts beyond that are clamped (validation already caps them).
fn clamp(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// Recomputes the summary columns of a trace that already had spans: one pass over its rows (by
/// key), then one update ([`summary`] has the rules).
fn recompute(tx: &Transaction<'_>, seq: i64) -> StoreResult<()> {
    let mut stmt = tx.prepare_cached(
        "SELECT parent_span_id IS NULL, provisional, start_us, duration_ms, timestamp, name, \
         agent_name, session_id, status FROM spans WHERE span_key BETWEEN ?1 AND ?2",
    )?;
    let mut rows = stmt.query([span_key::first(seq), span_key::last(seq)])?;
    let mut acc = Accumulator::default();
    while let Some(r) = rows.next()? {
        let text =
            |i: usize| -> rusqlite::Result<&str> { Ok(r.get_ref(i)?.as_str().unwrap_or_default()) };
        acc.add(&SpanFacts {
            is_root: r.get(0)?,
            provisional: r.get(1)?,
            start_us: r.get(2)?,
            duration_ms: r.get(3)?,
            timestamp: text(4)?,
            name: text(5)?,
            agent_name: text(6)?,
            session_id: text(7)?,
            status: text(8)?,
        });
    }
    drop(rows);
    let Some(t) = acc.finish() else {
        return Ok(());
    };
    tx.prepare_cached(
        "UPDATE traces SET span_count = ?2, start_us = ?3, end_us = ?4, timestamp = ?5, \
         root_name = ?6, agent_name = ?7, session_id = ?8, status = ?9, duration_ms = ?10 \
         WHERE seq = ?1",
    )?
    .execute(params![
        seq,
        t.span_count,
        t.start_us,
        t.end_us,
        t.timestamp,
        t.root_name,
        t.agent_name,
        t.session_id,
        t.status,
        t.duration_ms
    ])?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use staso_wire::ingest::WireSpan;

    use super::*;

    fn span(id: usize, parent: Option<usize>, name: &str, provisional: bool) -> CheckedSpan {
        let mut s = WireSpan::empty(format!("00000000-0000-0000-0000-{id:012x}"));
        s.parent_span_id = parent.map(|p| format!("00000000-0000-0000-0000-{p:012x}"));
        s.name = name.to_owned();
        s.kind = "tool".to_owned();
        s.status = "ok".to_owned();
        s.timestamp = "2026-11-30T10:00:00+00:00".to_owned();
        s.attributes = if provisional {
            r#"{"staso.provisional_root":true}"#.to_owned()
        } else {
            "{}".to_owned()
        };
        CheckedSpan {
            span: s,
            start_us: 1_000_000 + id as i64,
        }
    }

    /// A span id sent twice in the request of a new trace keeps its last copy, except that a
    /// provisional root never replaces the final one: the same rule as the upserts, for a small
    /// trace (ids compared by a scan) and a big one (a map).
    #[test]
    fn duplicates_in_a_new_traces_request_keep_the_upserts_rule() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path().join("d.db")).unwrap();
        for (trace_id, children) in [("small", 3), ("big", SCAN_UP_TO + 5)] {
            let mut spans = vec![span(1, None, "root", false)];
            spans.extend((2..2 + children).map(|i| span(i, Some(1), "first", false)));
            spans.push(span(2, Some(1), "second", false));
            spans.push(span(1, None, "snapshot", true));
            let group = CheckedGroup {
                trace_id: trace_id.to_owned(),
                environment: "default".to_owned(),
                workspace_slug: "w".to_owned(),
                spans,
            };
            store_groups(&store, vec![group]).unwrap();
            let rows: Vec<(String, String, bool)> = store
                .read(|tx| {
                    let mut stmt = tx.prepare(
                        "SELECT s.span_id, s.name, s.provisional FROM spans s \
                         JOIN traces t ON s.trace_seq = t.seq WHERE t.trace_id = ?1 \
                         ORDER BY s.span_id",
                    )?;
                    let rows = stmt
                        .query_map([trace_id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
                        .collect::<Result<Vec<_>, _>>()?;
                    Ok(rows)
                })
                .unwrap();
            assert_eq!(rows.len(), children + 1, "{trace_id}");
            assert_eq!(
                (rows[0].1.as_str(), rows[0].2),
                ("root", false),
                "{trace_id}"
            );
            assert_eq!(rows[1].1, "second", "{trace_id}");
            assert!(rows[2..].iter().all(|r| r.1 == "first"), "{trace_id}");
        }
    }

    /// Later requests of a stored trace: a stored span id is updated in place (unless the stored
    /// copy is final and the new one provisional), a new one gets the next key of the trace's
    /// range (also after a span id repeated within the request), and nothing else is touched.
    #[test]
    fn a_stored_traces_spans_are_updated_in_place_and_new_ones_appended() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path().join("d.db")).unwrap();
        let group = |spans| CheckedGroup {
            trace_id: "t".to_owned(),
            environment: "default".to_owned(),
            workspace_slug: "w".to_owned(),
            spans,
        };
        let other = CheckedGroup {
            trace_id: "u".to_owned(),
            ..group(vec![span(1, None, "other", false)])
        };
        store_groups(
            &store,
            vec![
                group(vec![
                    span(1, None, "root", false),
                    span(2, Some(1), "a", false),
                ]),
                other,
            ],
        )
        .unwrap();
        store_groups(
            &store,
            vec![group(vec![
                span(2, Some(1), "a2", false),
                span(3, Some(1), "b", false),
                span(1, None, "snapshot", true),
                span(3, Some(1), "b2", false),
                span(4, Some(1), "c", false),
            ])],
        )
        .unwrap();
        let rows: Vec<(i64, i64, String, String)> = store
            .read(|tx| {
                let mut stmt = tx.prepare(
                    "SELECT s.trace_seq, s.span_key - (s.trace_seq << 24), s.span_id, s.name \
                     FROM spans s ORDER BY s.span_key",
                )?;
                let rows = stmt
                    .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(rows)
            })
            .unwrap();
        let id = |n: usize| format!("00000000-0000-0000-0000-{n:012x}");
        let want: Vec<(i64, i64, String, String)> = [
            (1, 0, 1, "root"),
            (1, 1, 2, "a2"),
            (1, 2, 3, "b2"),
            (1, 3, 4, "c"),
            (2, 0, 1, "other"),
        ]
        .iter()
        .map(|&(seq, n, span, name)| (seq, n, id(span), name.to_owned()))
        .collect();
        assert_eq!(rows, want);
        let count: i64 = store
            .read(|tx| {
                Ok(tx.query_row(
                    "SELECT span_count FROM traces WHERE trace_id = 't'",
                    [],
                    |r| r.get(0),
                )?)
            })
            .unwrap();
        assert_eq!(count, 4);
    }
}
