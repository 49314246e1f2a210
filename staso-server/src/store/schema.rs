//! Schema migrations, versioned by SQLite's `user_version`. Append new steps; never edit old ones.

use rusqlite::Connection;

use super::error::{StoreError, StoreResult};

/// Each entry brings the schema from version `i` to `i + 1`.
const MIGRATIONS: &[&str] = &[
    // v1: traces, spans, receipts, annotations, guard, datasets.
    r#"
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE traces (
        workspace_slug TEXT NOT NULL,
        trace_id TEXT NOT NULL,
        environment TEXT NOT NULL,
        timestamp TEXT NOT NULL,
        start_us INTEGER NOT NULL,
        end_us INTEGER NOT NULL,
        duration_ms REAL NOT NULL,
        root_name TEXT NOT NULL,
        agent_name TEXT NOT NULL,
        session_id TEXT NOT NULL,
        span_count INTEGER NOT NULL,
        status TEXT NOT NULL,
        PRIMARY KEY (workspace_slug, trace_id)
    );
    CREATE INDEX traces_by_start ON traces (start_us DESC, trace_id DESC);
    CREATE INDEX traces_by_session ON traces (session_id, start_us);
    CREATE TABLE spans (
        workspace_slug TEXT NOT NULL,
        trace_id TEXT NOT NULL,
        span_id TEXT NOT NULL,
        parent_span_id TEXT,
        name TEXT NOT NULL,
        kind TEXT NOT NULL,
        timestamp TEXT NOT NULL,
        start_us INTEGER NOT NULL,
        duration_ms REAL NOT NULL,
        status TEXT NOT NULL,
        model TEXT NOT NULL,
        provider TEXT NOT NULL,
        requested_model TEXT NOT NULL,
        usage_available INTEGER,
        reasoning_effort TEXT NOT NULL,
        input_tokens INTEGER NOT NULL,
        output_tokens INTEGER NOT NULL,
        total_tokens INTEGER NOT NULL,
        input TEXT NOT NULL,
        output TEXT NOT NULL,
        attributes TEXT NOT NULL,
        error_message TEXT,
        session_id TEXT NOT NULL,
        agent_name TEXT NOT NULL,
        agent_id TEXT NOT NULL,
        agent_version TEXT NOT NULL,
        user_id TEXT NOT NULL,
        capture TEXT,
        provisional INTEGER NOT NULL,
        PRIMARY KEY (workspace_slug, trace_id, span_id)
    );
    CREATE TABLE receipts (
        scope TEXT NOT NULL,
        idempotency_key TEXT NOT NULL,
        ack TEXT NOT NULL,
        created_at TEXT NOT NULL,
        PRIMARY KEY (scope, idempotency_key)
    );
    CREATE TABLE annotations (
        id TEXT PRIMARY KEY,
        workspace_slug TEXT NOT NULL,
        trace_id TEXT NOT NULL,
        span_id TEXT,
        name TEXT NOT NULL,
        value TEXT NOT NULL,
        data_type TEXT NOT NULL,
        comment TEXT,
        created_at TEXT NOT NULL,
        seq INTEGER NOT NULL
    );
    CREATE INDEX annotations_by_trace ON annotations (trace_id, seq);
    CREATE TABLE guard_decisions (
        decision_id TEXT PRIMARY KEY,
        workspace_slug TEXT NOT NULL,
        request TEXT NOT NULL,
        response TEXT NOT NULL,
        created_at TEXT NOT NULL
    );
    CREATE TABLE escalations (
        id TEXT PRIMARY KEY,
        workspace_slug TEXT NOT NULL,
        decision_id TEXT NOT NULL,
        tool_name TEXT NOT NULL,
        tool_input TEXT NOT NULL,
        rule_name TEXT NOT NULL,
        reason TEXT NOT NULL,
        status TEXT NOT NULL,
        decided_by TEXT,
        decision_reason TEXT,
        modified_input TEXT,
        created_at TEXT NOT NULL,
        decided_at TEXT
    );
    CREATE TABLE dataset_folders (
        id TEXT PRIMARY KEY,
        workspace_slug TEXT NOT NULL,
        name TEXT NOT NULL,
        parent_id TEXT,
        created_at TEXT NOT NULL
    );
    CREATE TABLE datasets (
        id TEXT PRIMARY KEY,
        workspace_slug TEXT NOT NULL,
        name TEXT NOT NULL,
        description TEXT NOT NULL,
        folder_id TEXT,
        template TEXT NOT NULL,
        kind TEXT NOT NULL,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
    );
    CREATE TABLE dataset_columns (
        dataset_id TEXT NOT NULL REFERENCES datasets(id) ON DELETE CASCADE,
        position INTEGER NOT NULL,
        name TEXT NOT NULL,
        column_type TEXT NOT NULL,
        description TEXT NOT NULL,
        is_required INTEGER NOT NULL,
        PRIMARY KEY (dataset_id, name)
    );
    CREATE TABLE dataset_entries (
        id TEXT PRIMARY KEY,
        dataset_id TEXT NOT NULL REFERENCES datasets(id) ON DELETE CASCADE,
        seq INTEGER NOT NULL,
        data TEXT NOT NULL,
        split_id TEXT,
        source_type TEXT NOT NULL,
        source_trace_id TEXT,
        source_span_id TEXT,
        created_at TEXT NOT NULL
    );
    CREATE INDEX dataset_entries_by_dataset ON dataset_entries (dataset_id, seq);
    "#,
    // v2: a receipt remembers a hash of its request body (a reused key with another body is a
    // conflict) and its age in µs (old receipts are purged). Scoped keys' labels become JSON arrays
    // (`Scope::label`), so no workspace name can equal the all-workspaces label `*`; labels of v1
    // (names joined by commas) are rewritten the same way, keeping earlier receipts valid. A v1
    // receipt has no hash and matches any body, as it did before; its age is read from `created_at`
    // to the second (ample for a retention of hours; 0 if it does not parse: purged first).
    r#"
    ALTER TABLE receipts ADD COLUMN body_hash TEXT;
    ALTER TABLE receipts ADD COLUMN created_us INTEGER NOT NULL DEFAULT 0;
    UPDATE receipts SET created_us =
        COALESCE(CAST(strftime('%s', created_at) AS INTEGER) * 1000000, 0);
    UPDATE receipts SET scope =
        '["' || replace(replace(replace(scope, '\', '\\'), '"', '\"'), ',', '","') || '"]'
        WHERE scope <> '*';
    CREATE INDEX receipts_by_age ON receipts (created_us);
    "#,
    // v3: prompts. Versions per (workspace, name) from 1; a label per (workspace, name,
    // environment) points at one version.
    r#"
    CREATE TABLE prompt_versions (
        workspace_slug TEXT NOT NULL,
        name TEXT NOT NULL,
        version INTEGER NOT NULL,
        content TEXT NOT NULL,
        created_at TEXT NOT NULL,
        PRIMARY KEY (workspace_slug, name, version)
    );
    CREATE TABLE prompt_labels (
        workspace_slug TEXT NOT NULL,
        name TEXT NOT NULL,
        environment TEXT NOT NULL,
        version INTEGER NOT NULL,
        updated_at TEXT NOT NULL,
        PRIMARY KEY (workspace_slug, name, environment)
    );
    "#,
    // v4: indexes of the hot reads. A trace by its id alone (the trace page of a key seeing several
    // workspaces), and each workspace's traces newest first (the trace list of a scoped key, and
    // retention's oldest-first deletes use `traces_by_start`).
    r#"
    CREATE INDEX traces_by_trace ON traces (trace_id, start_us);
    CREATE INDEX traces_by_workspace ON traces (workspace_slug, start_us DESC, trace_id DESC);
    "#,
    // v5: the key of `traces` starts with the trace id, so it also serves the lookups by trace id
    // alone and `traces_by_trace` goes: ingest wrote one more randomly placed index entry per
    // trace for it (each dirtying a page of the WAL). The table is rebuilt (SQLite cannot change
    // a primary key in place); its other indexes are created again.
    r#"
    CREATE TABLE traces_v5 (
        workspace_slug TEXT NOT NULL,
        trace_id TEXT NOT NULL,
        environment TEXT NOT NULL,
        timestamp TEXT NOT NULL,
        start_us INTEGER NOT NULL,
        end_us INTEGER NOT NULL,
        duration_ms REAL NOT NULL,
        root_name TEXT NOT NULL,
        agent_name TEXT NOT NULL,
        session_id TEXT NOT NULL,
        span_count INTEGER NOT NULL,
        status TEXT NOT NULL,
        PRIMARY KEY (trace_id, workspace_slug)
    );
    INSERT INTO traces_v5 SELECT workspace_slug, trace_id, environment, timestamp, start_us, end_us,
        duration_ms, root_name, agent_name, session_id, span_count, status FROM traces;
    DROP TABLE traces;
    ALTER TABLE traces_v5 RENAME TO traces;
    CREATE INDEX traces_by_start ON traces (start_us DESC, trace_id DESC);
    CREATE INDEX traces_by_session ON traces (session_id, start_us);
    CREATE INDEX traces_by_workspace ON traces (workspace_slug, start_us DESC, trace_id DESC);
    "#,
];

/// The schema version this build writes.
pub const LATEST: i64 = MIGRATIONS.len() as i64;

/// Applies every migration the database has not seen yet, each in its own transaction.
pub fn migrate(conn: &mut Connection) -> StoreResult<()> {
    let current: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if current > LATEST {
        return Err(StoreError::TooNew {
            found: current,
            known: LATEST,
        });
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(current as usize) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", i as i64 + 1)?;
        tx.commit()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
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
        let mut conn = Connection::open_in_memory().unwrap();
        for (i, sql) in MIGRATIONS.iter().take(4).enumerate() {
            conn.execute_batch(sql).unwrap();
            conn.pragma_update(None, "user_version", i as i64 + 1)
                .unwrap();
        }
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
        let indexes: Vec<String> = conn
            .prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'traces' ORDER BY name")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(
            indexes,
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
}
