//! Migration tests: each step keeps what the earlier schema held.

use super::*;
use crate::keys::{ApiKey, KeyRing};

/// A v1 database's receipts stay valid after v2: labels rewritten to [`Scope::label`], ages
/// read from `created_at`, no body hash (any body matches, as before).
///
/// [`Scope::label`]: crate::keys::Scope::label
#[test]
fn v2_keeps_v1_receipts() {
    let mut conn = Connection::open_in_memory().unwrap();
    conn.execute_batch(MIGRATIONS[0]).unwrap();
    conn.pragma_update(None, "user_version", 1).unwrap();
    for scope in ["*", "a,b", "we\"ird\\"] {
        conn.execute(
            "INSERT INTO receipts(scope, idempotency_key, ack, created_at) \
             VALUES (?1, 'k', '{}', '1970-01-01T00:00:01.5Z')",
            [scope],
        )
        .unwrap();
    }
    migrate(&mut conn).unwrap();
    let rows: Vec<(String, i64, Option<String>)> = conn
        .prepare("SELECT scope, created_us, body_hash FROM receipts ORDER BY rowid")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let ring = KeyRing::new(vec![
        ApiKey::all_workspaces("all"),
        ApiKey::parse("ab:a,b").unwrap(),
        ApiKey::parse("weird:we\"ird\\").unwrap(),
    ]);
    let labels: Vec<String> = ["all", "ab", "weird"]
        .iter()
        .map(|k| ring.authenticate(k).unwrap().label())
        .collect();
    assert_eq!(
        rows,
        labels
            .into_iter()
            .map(|l| (l, 1_000_000, None))
            .collect::<Vec<_>>()
    );
}

/// The stored format of a receipt's time parses with SQLite's date functions.
#[test]
fn now_rfc3339_parses_in_sqlite() {
    let conn = Connection::open_in_memory().unwrap();
    let secs: Option<i64> = conn
        .query_row(
            "SELECT CAST(strftime('%s', ?1) AS INTEGER)",
            [crate::timefmt::now_rfc3339()],
            |r| r.get(0),
        )
        .unwrap();
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    assert!((secs.unwrap() - now).abs() < 5, "{secs:?} vs {now}");
}

/// v5 rebuilds `traces` keyed by trace id first: rows and indexes survive, lookups by trace
/// id alone use the key.
#[test]
fn v5_keeps_traces_and_keys_them_by_trace_id() {
    let mut conn = at_version(4);
    for (ws, id, start) in [("a", "t1", 10), ("b", "t1", 20), ("a", "t2", 30)] {
        conn.execute(
            "INSERT INTO traces VALUES (?1, ?2, 'prod', 'ts', ?3, ?3, 1.5, 'root', 'agent', \
             's', 2, 'ok')",
            rusqlite::params![ws, id, start],
        )
        .unwrap();
    }
    migrate(&mut conn).unwrap();
    let rows: Vec<(String, String, i64)> = conn
        .prepare("SELECT workspace_slug, trace_id, start_us FROM traces ORDER BY start_us")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(
        rows,
        [("a", "t1", 10), ("b", "t1", 20), ("a", "t2", 30)].map(|(w, t, s)| (
            w.to_owned(),
            t.to_owned(),
            s
        ))
    );
    assert_eq!(
        index_names(&conn, "traces"),
        [
            "sqlite_autoindex_traces_1",
            "traces_by_session",
            "traces_by_start",
            "traces_by_workspace"
        ]
    );
    let plan: String = conn
        .query_row(
            "EXPLAIN QUERY PLAN SELECT start_us FROM traces WHERE trace_id = 't1'",
            [],
            |r| r.get(3),
        )
        .unwrap();
    assert!(plan.contains("sqlite_autoindex_traces_1"), "{plan}");
}

/// The names of `table`'s indexes, sorted.
fn index_names(conn: &Connection, table: &str) -> Vec<String> {
    conn.prepare(
        "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = ?1 ORDER BY name",
    )
    .unwrap()
    .query_map([table], |r| r.get(0))
    .unwrap()
    .collect::<Result<_, _>>()
    .unwrap()
}

/// A database migrated up to `version` (exclusive of later steps).
fn at_version(version: usize) -> Connection {
    let conn = Connection::open_in_memory().unwrap();
    for (i, sql) in MIGRATIONS.iter().take(version).enumerate() {
        conn.execute_batch(sql).unwrap();
        conn.pragma_update(None, "user_version", i as i64 + 1)
            .unwrap();
    }
    conn
}

/// v6 numbers the traces in their stored order and keys each span by its trace's number: every
/// span stays with its own trace (the same trace id in two workspaces included), and a span id
/// is unique per trace, not per table.
#[test]
fn v6_keys_spans_by_their_traces_number() {
    let mut conn = at_version(5);
    for (ws, id, start) in [("a", "t1", 10), ("b", "t1", 20), ("a", "t2", 30)] {
        conn.execute(
            "INSERT INTO traces VALUES (?1, ?2, 'prod', 'ts', ?3, ?3, 1.5, 'root', 'agent', \
             's', 2, 'ok')",
            rusqlite::params![ws, id, start],
        )
        .unwrap();
    }
    // Spans inserted out of trace order; the name says where each belongs.
    for (ws, trace, span) in [
        ("a", "t2", "s1"),
        ("b", "t1", "s1"),
        ("a", "t1", "s1"),
        ("a", "t1", "s2"),
    ] {
        conn.execute(
            "INSERT INTO spans(workspace_slug, trace_id, span_id, parent_span_id, name, kind, \
             timestamp, start_us, duration_ms, status, model, provider, requested_model, \
             usage_available, reasoning_effort, input_tokens, output_tokens, total_tokens, \
             input, output, attributes, error_message, session_id, agent_name, agent_id, \
             agent_version, user_id, capture, provisional) VALUES (?1, ?2, ?3, NULL, ?4, \
             'tool', 'ts', 5, 1.0, 'ok', 'm', 'p', '', 1, '', 3, 4, 7, 'in', 'out', '{}', \
             NULL, 's', 'agent', '', '', 'u', NULL, 0)",
            rusqlite::params![ws, trace, span, format!("{ws}/{trace}/{span}")],
        )
        .unwrap();
    }
    migrate(&mut conn).unwrap();
    let traces: Vec<(i64, String, String)> = conn
        .prepare("SELECT seq, workspace_slug, trace_id FROM traces ORDER BY seq")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(
        traces,
        [(1, "a", "t1"), (2, "b", "t1"), (3, "a", "t2")].map(|(n, w, t)| (
            n,
            w.to_owned(),
            t.to_owned()
        ))
    );
    let spans: Vec<(String, String, i64, i64)> = conn
        .prepare(
            "SELECT t.workspace_slug || '/' || t.trace_id || '/' || s.span_id, s.name, \
             s.input_tokens, s.total_tokens FROM spans s JOIN traces t ON t.seq = s.trace_seq \
             ORDER BY s.rowid",
        )
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    // (In v7's key order: by trace, then as stored.)
    let want: Vec<(String, String, i64, i64)> = ["a/t1/s1", "a/t1/s2", "b/t1/s1", "a/t2/s1"]
        .iter()
        .map(|k| (k.to_string(), k.to_string(), 3, 7))
        .collect();
    assert_eq!(spans, want);
    // (v7 then drops the spans' index: their key is their trace's range.)
    assert!(index_names(&conn, "spans").is_empty());
    assert_eq!(
        index_names(&conn, "traces"),
        [
            "sqlite_autoindex_traces_1",
            "traces_by_session",
            "traces_by_start",
            "traces_by_workspace"
        ]
    );
}

/// v7 keys each span row by its trace's `seq` and its ordinal (the stored order within the
/// trace): every row survives with its values, in its own trace's key range, the spans' index
/// goes, `trace_seq` still reads as a column, and the reads find the spans by their range.
#[test]
fn v7_keys_spans_by_trace_range() {
    let mut conn = at_version(6);
    for (seq, id) in [(1, "t1"), (2, "t2"), (7, "t7")] {
        conn.execute(
            "INSERT INTO traces VALUES (?1, 'w', ?2, 'prod', 'ts', 10, 10, 1.5, 'root', 'agent', \
             's', 2, 'ok')",
            rusqlite::params![seq, id],
        )
        .unwrap();
    }
    // Interleaved across traces, as concurrent requests store them.
    for (seq, span) in [
        (2, "b1"),
        (1, "a1"),
        (7, "c1"),
        (2, "b2"),
        (1, "a2"),
        (2, "b3"),
    ] {
        conn.execute(
            "INSERT INTO spans(trace_seq, span_id, start_us, provisional, name, kind, timestamp, \
             duration_ms, status, model, provider, requested_model, reasoning_effort, \
             input_tokens, output_tokens, total_tokens, input, output, attributes, session_id, \
             agent_name, agent_id, agent_version, user_id) VALUES (?1, ?2, 0, 0, ?2, 'tool', \
             'ts', 1.0, 'ok', '', '', '', '', 3, 4, 7, 'in', 'out', '{}', '', '', '', '', 'u')",
            rusqlite::params![seq, span],
        )
        .unwrap();
    }
    migrate(&mut conn).unwrap();
    let rows: Vec<(i64, i64, String, String, i64)> = conn
        .prepare(
            "SELECT span_key, trace_seq, span_id, name, total_tokens FROM spans ORDER BY span_key",
        )
        .unwrap()
        .query_map([], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
        })
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let key = |seq: i64, n: i64| (seq << 24) + n;
    let want: Vec<(i64, i64, String, String, i64)> = [
        (1, 0, "a1"),
        (1, 1, "a2"),
        (2, 0, "b1"),
        (2, 1, "b2"),
        (2, 2, "b3"),
        (7, 0, "c1"),
    ]
    .iter()
    .map(|&(seq, n, id)| (key(seq, n), seq, id.to_owned(), id.to_owned(), 7))
    .collect();
    assert_eq!(rows, want);
    assert!(index_names(&conn, "spans").is_empty());
    let plan: String = conn
        .query_row(
            &format!(
                "EXPLAIN QUERY PLAN SELECT span_id FROM spans WHERE {}",
                crate::store::traces::span_key::in_trace("span_key", "2")
            ),
            [],
            |r| r.get(3),
        )
        .unwrap();
    assert!(plan.contains("INTEGER PRIMARY KEY"), "{plan}");
}
