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
    // v6: spans are keyed by their trace's sequence number, not its ids. Each trace gets `seq`
    // (its rowid, in insertion order) and a span's key is `(trace_seq, span_id)`: a new trace's
    // spans land at the end of that key instead of at a random place (the trace id is random),
    // so ingest no longer reads and dirties one randomly placed page of a key as large as the
    // spans per trace — the page that fell out of the cache once the key outgrew it. The span
    // rows drop the workspace and trace id (the trace row has them): 46 bytes less per span.
    // Both tables are rebuilt (SQLite cannot change a key in place) and their indexes created
    // again; spans keep their rowid order. The time indexes become ascending: new traces then
    // go to their right end, where SQLite appends to a fresh page and leaves the full ones full;
    // at the left end (a descending index) each insert split a page in half. The newest-first
    // reads scan them backwards.
    r#"
    CREATE TABLE traces_v6 (
        seq INTEGER PRIMARY KEY,
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
        UNIQUE (trace_id, workspace_slug)
    );
    INSERT INTO traces_v6 (workspace_slug, trace_id, environment, timestamp, start_us, end_us,
        duration_ms, root_name, agent_name, session_id, span_count, status)
        SELECT workspace_slug, trace_id, environment, timestamp, start_us, end_us, duration_ms,
        root_name, agent_name, session_id, span_count, status FROM traces ORDER BY rowid;
    CREATE TABLE spans_v6 (
        trace_seq INTEGER NOT NULL,
        span_id TEXT NOT NULL,
        start_us INTEGER NOT NULL,
        provisional INTEGER NOT NULL,
        parent_span_id TEXT,
        name TEXT NOT NULL,
        kind TEXT NOT NULL,
        timestamp TEXT NOT NULL,
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
        capture TEXT
    );
    INSERT INTO spans_v6 SELECT t.seq, s.span_id, s.start_us, s.provisional, s.parent_span_id,
        s.name, s.kind, s.timestamp, s.duration_ms, s.status, s.model, s.provider,
        s.requested_model, s.usage_available, s.reasoning_effort, s.input_tokens, s.output_tokens,
        s.total_tokens, s.input, s.output, s.attributes, s.error_message, s.session_id,
        s.agent_name, s.agent_id, s.agent_version, s.user_id, s.capture
        FROM spans s JOIN traces_v6 t
        ON t.trace_id = s.trace_id AND t.workspace_slug = s.workspace_slug ORDER BY s.rowid;
    DROP TABLE spans;
    DROP TABLE traces;
    ALTER TABLE traces_v6 RENAME TO traces;
    ALTER TABLE spans_v6 RENAME TO spans;
    CREATE UNIQUE INDEX spans_by_trace ON spans (trace_seq, span_id);
    CREATE INDEX traces_by_start ON traces (start_us, trace_id);
    CREATE INDEX traces_by_session ON traces (session_id, start_us);
    CREATE INDEX traces_by_workspace ON traces (workspace_slug, start_us, trace_id);
    "#,
    // v7: a span row's key is its rowid, `span_key` = its trace's `seq` × 2^24 + its ordinal in
    // the trace (`store/traces/span_key.rs`), and `spans_by_trace` goes. A trace's spans are one
    // range of the table's own B-tree, still appended for a new trace, and each span is one
    // B-tree entry instead of two (the index held the span id again: ≈ 50 bytes and an insert per
    // span). `trace_seq` stays as a virtual column (computed, not stored). The ingest keeps a span
    // id unique per trace itself. Ordinals follow the stored order; a trace of more than 2^24
    // spans would collide with the next trace's keys and fail the upgrade, not lose rows.
    r#"
    CREATE TABLE spans_v7 (
        span_key INTEGER PRIMARY KEY,
        trace_seq INTEGER GENERATED ALWAYS AS (span_key >> 24) VIRTUAL,
        span_id TEXT NOT NULL,
        start_us INTEGER NOT NULL,
        provisional INTEGER NOT NULL,
        parent_span_id TEXT,
        name TEXT NOT NULL,
        kind TEXT NOT NULL,
        timestamp TEXT NOT NULL,
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
        capture TEXT
    );
    INSERT INTO spans_v7 (span_key, span_id, start_us, provisional, parent_span_id, name, kind,
        timestamp, duration_ms, status, model, provider, requested_model, usage_available,
        reasoning_effort, input_tokens, output_tokens, total_tokens, input, output, attributes,
        error_message, session_id, agent_name, agent_id, agent_version, user_id, capture)
        SELECT trace_seq * 16777216 + row_number() OVER (PARTITION BY trace_seq ORDER BY rowid) - 1,
        span_id, start_us, provisional, parent_span_id, name, kind, timestamp, duration_ms, status,
        model, provider, requested_model, usage_available, reasoning_effort, input_tokens,
        output_tokens, total_tokens, input, output, attributes, error_message, session_id,
        agent_name, agent_id, agent_version, user_id, capture
        FROM spans ORDER BY trace_seq, rowid;
    DROP TABLE spans;
    ALTER TABLE spans_v7 RENAME TO spans;
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
    if current > 0 && current < LATEST {
        // A rebuild of the big tables (v5, v6, v7) takes a while on a large database: say why.
        log::info!("upgrading the database schema from v{current} to v{LATEST}");
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
mod tests;
