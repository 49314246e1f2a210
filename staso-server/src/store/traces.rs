//! Traces and spans: the ingest write (upsert by `(trace_id, span_id)`, final supersedes provisional)
//! and the read queries behind `/v1/traces` and `/v1/conversations`.

use rusqlite::{Transaction, params};
use serde::Serialize;
use staso_wire::ingest::{IngestAck, WireSpan};

use super::{Store, StoreResult, receipts};

mod query;
pub use query::{conversation, get, list, parse_cursor, workspace_of};

/// A span that passed validation, with its start time parsed.
#[derive(Debug, Clone)]
pub struct CheckedSpan {
    /// The span as sent.
    pub span: WireSpan,
    /// Start, microseconds since the epoch.
    pub start_us: i64,
}

/// A trace group that passed validation.
#[derive(Debug, Clone)]
pub struct CheckedGroup {
    /// Trace id.
    pub trace_id: String,
    /// Environment.
    pub environment: String,
    /// Workspace.
    pub workspace_slug: String,
    /// Spans.
    pub spans: Vec<CheckedSpan>,
}

/// One row of `GET /v1/traces`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TraceSummary {
    /// Trace id.
    pub trace_id: String,
    /// Earliest span timestamp, as sent.
    pub timestamp: String,
    /// Environment.
    pub environment: String,
    /// Workspace.
    pub workspace_slug: String,
    /// Name of the root span (or the earliest span while the root is unknown).
    pub root_name: String,
    /// Agent name of that span.
    pub agent_name: String,
    /// Session (conversation) id of that span.
    pub session_id: String,
    /// Stored spans.
    pub span_count: u64,
    /// The final root's duration, else the extent of the spans.
    pub duration_ms: f64,
    /// `error` if any span failed, `timeout`, `running` while only a provisional root is known, else `ok`.
    pub status: String,
}

/// `GET /v1/traces` filters; `None` means no restriction.
#[derive(Debug, Clone, Default)]
pub struct TraceFilter {
    /// Exact agent name.
    pub agent_name: Option<String>,
    /// Exact environment.
    pub environment: Option<String>,
    /// Exact workspace.
    pub workspace_slug: Option<String>,
    /// Exact session id.
    pub session_id: Option<String>,
    /// Exact trace status.
    pub status: Option<String>,
    /// Start at or after, µs.
    pub since_us: Option<i64>,
    /// Start at or before, µs.
    pub until_us: Option<i64>,
}

/// Stores a validated request under `idempotency_key` in one transaction, or returns the ack of the
/// earlier request with the same key and body and stores nothing; the same key with another body
/// is [`StoreError::IdempotencyConflict`](super::StoreError::IdempotencyConflict).
///
/// `scope_label` partitions keys between key scopes ([`Scope::label`](crate::keys::Scope::label));
/// `body_hash` is [`receipts::body_hash`] of the raw request body.
pub fn ingest(
    store: &Store,
    scope_label: &str,
    idempotency_key: &str,
    body_hash: &str,
    groups: &[CheckedGroup],
) -> StoreResult<IngestAck> {
    store.write(|tx| {
        if let Some(ack) = receipts::find(tx, scope_label, idempotency_key, body_hash)? {
            return Ok(ack);
        }
        for g in groups {
            upsert_group(tx, g)?;
        }
        let ack = IngestAck {
            accepted: groups.len() as u64,
            rejected: 0,
            spans_dropped: 0,
            receipt_id: idempotency_key.to_owned(),
        };
        receipts::record(tx, scope_label, idempotency_key, body_hash, &ack)?;
        Ok(ack)
    })
}

/// Stores validated groups in one transaction, without an idempotency receipt: OTLP ingest
/// (`POST /v1/traces`) has no idempotency key, and a retried batch only upserts the same spans.
pub fn store_groups(store: &Store, groups: &[CheckedGroup]) -> StoreResult<()> {
    store.write(|tx| {
        for g in groups {
            upsert_group(tx, g)?;
        }
        Ok(())
    })
}

pub(crate) const SPAN_COLUMNS: &str = "span_id, parent_span_id, name, kind, timestamp, duration_ms, status, \
    model, provider, requested_model, usage_available, reasoning_effort, input_tokens, output_tokens, \
    total_tokens, input, output, attributes, error_message, session_id, agent_name, agent_id, \
    agent_version, user_id, capture";

fn upsert_group(tx: &Transaction<'_>, g: &CheckedGroup) -> StoreResult<()> {
    tx.execute(
        "INSERT INTO traces(workspace_slug, trace_id, environment, timestamp, start_us, end_us, \
         duration_ms, root_name, agent_name, session_id, span_count, status) \
         VALUES (?1, ?2, ?3, '', 0, 0, 0, '', '', '', 0, 'ok') \
         ON CONFLICT(workspace_slug, trace_id) DO UPDATE SET environment = excluded.environment",
        params![g.workspace_slug, g.trace_id, g.environment],
    )?;
    let mut stmt = tx.prepare_cached(&format!(
        "INSERT INTO spans(workspace_slug, trace_id, start_us, provisional, {SPAN_COLUMNS}) VALUES \
         (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, \
         ?21, ?22, ?23, ?24, ?25, ?26, ?27, ?28, ?29) \
         ON CONFLICT(workspace_slug, trace_id, span_id) DO UPDATE SET \
         start_us = excluded.start_us, provisional = excluded.provisional, \
         parent_span_id = excluded.parent_span_id, name = excluded.name, kind = excluded.kind, \
         timestamp = excluded.timestamp, duration_ms = excluded.duration_ms, status = excluded.status, \
         model = excluded.model, provider = excluded.provider, requested_model = excluded.requested_model, \
         usage_available = excluded.usage_available, reasoning_effort = excluded.reasoning_effort, \
         input_tokens = excluded.input_tokens, output_tokens = excluded.output_tokens, \
         total_tokens = excluded.total_tokens, input = excluded.input, output = excluded.output, \
         attributes = excluded.attributes, error_message = excluded.error_message, \
         session_id = excluded.session_id, agent_name = excluded.agent_name, \
         agent_id = excluded.agent_id, agent_version = excluded.agent_version, \
         user_id = excluded.user_id, capture = excluded.capture \
         WHERE NOT (excluded.provisional = 1 AND spans.provisional = 0)"
    ))?;
    for c in &g.spans {
        let s = &c.span;
        let capture = match &s.capture {
            Some(m) => Some(serde_json::to_string(m)?),
            None => None,
        };
        stmt.execute(params![
            g.workspace_slug,
            g.trace_id,
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
    }
    recompute(tx, &g.workspace_slug, &g.trace_id)
}

/// SQLite integers are i64; token counts beyond that are clamped (validation already caps them).
fn clamp(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// Recomputes a trace's summary columns from its spans.
fn recompute(tx: &Transaction<'_>, ws: &str, trace_id: &str) -> StoreResult<()> {
    const OF_TRACE: &str = "FROM spans s WHERE s.workspace_slug = ?1 AND s.trace_id = ?2";
    const ROOT: &str = "ORDER BY (s.parent_span_id IS NULL) DESC, s.provisional ASC, s.start_us ASC \
                        LIMIT 1";
    tx.execute(
        &format!(
            "UPDATE traces SET \
             span_count = (SELECT COUNT(*) {OF_TRACE}), \
             start_us = (SELECT MIN(s.start_us) {OF_TRACE}), \
             end_us = (SELECT MAX(s.start_us + CAST(s.duration_ms * 1000 AS INTEGER)) {OF_TRACE}), \
             timestamp = (SELECT s.timestamp {OF_TRACE} ORDER BY s.start_us, s.timestamp LIMIT 1), \
             root_name = (SELECT s.name {OF_TRACE} {ROOT}), \
             agent_name = (SELECT s.agent_name {OF_TRACE} {ROOT}), \
             session_id = (SELECT s.session_id {OF_TRACE} {ROOT}), \
             status = CASE \
               WHEN EXISTS (SELECT 1 {OF_TRACE} AND s.status = 'error') THEN 'error' \
               WHEN EXISTS (SELECT 1 {OF_TRACE} AND s.status = 'timeout') THEN 'timeout' \
               WHEN EXISTS (SELECT 1 {OF_TRACE} AND s.parent_span_id IS NULL AND s.provisional = 1) \
                 THEN 'running' \
               ELSE 'ok' END \
             WHERE workspace_slug = ?1 AND trace_id = ?2"
        ),
        [ws, trace_id],
    )?;
    // Duration: the final root's own duration when there is one, else the spans' extent.
    tx.execute(
        &format!(
            "UPDATE traces SET duration_ms = COALESCE( \
               (SELECT s.duration_ms {OF_TRACE} AND s.parent_span_id IS NULL AND s.provisional = 0 \
                ORDER BY s.start_us LIMIT 1), \
               (end_us - start_us) / 1000.0) \
             WHERE workspace_slug = ?1 AND trace_id = ?2"
        ),
        [ws, trace_id],
    )?;
    Ok(())
}
