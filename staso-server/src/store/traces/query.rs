//! Read queries behind `/v1/traces`, `/v1/traces/{trace_id}` and `/v1/conversations`.

use rusqlite::types::Value as SqlValue;
use rusqlite::{OptionalExtension, Row};
use serde_json::{Map, Value};
use staso_wire::ingest::WireSpan;

use super::{SPAN_COLUMNS, TraceFilter, TraceSummary};
use crate::embedded;
use crate::keys::Scope;
use crate::store::{Store, StoreResult, scope_filter};

/// The columns of a [`TraceSummary`] row of `traces` (and its `start_us`), in [`summary_row`]'s
/// order; unqualified, so also valid for `FROM traces t`.
pub(crate) const SUMMARY_COLUMNS: &str = "trace_id, timestamp, environment, workspace_slug, root_name, \
    agent_name, session_id, span_count, duration_ms, status, start_us";

/// A [`TraceSummary`] and its start (µs) from [`SUMMARY_COLUMNS`].
pub(crate) fn summary_row(r: &Row<'_>) -> rusqlite::Result<(TraceSummary, i64)> {
    Ok((
        TraceSummary {
            trace_id: r.get(0)?,
            timestamp: r.get(1)?,
            environment: r.get(2)?,
            workspace_slug: r.get(3)?,
            root_name: r.get(4)?,
            agent_name: r.get(5)?,
            session_id: r.get(6)?,
            span_count: r.get::<_, i64>(7)?.max(0) as u64,
            duration_ms: r.get(8)?,
            status: r.get(9)?,
        },
        r.get(10)?,
    ))
}

/// Traces visible to `scope`, newest first, at most `limit`, after `cursor` (from a previous page).
/// Returns the page and the cursor of the next one.
pub fn list(
    store: &Store,
    scope: &Scope,
    filter: &TraceFilter,
    limit: usize,
    cursor: Option<(i64, String)>,
) -> StoreResult<(Vec<TraceSummary>, Option<String>)> {
    let Some((sql, p)) = list_sql(scope, filter, limit, cursor) else {
        return Ok((Vec::new(), None));
    };
    store.read(|tx| {
        let mut stmt = tx.prepare_cached(&sql)?;
        let rows = stmt.query_map(rusqlite::params_from_iter(p.iter()), summary_row)?;
        let mut page = rows.collect::<Result<Vec<_>, _>>()?;
        let next = if page.len() > limit {
            page.truncate(limit);
            page.last().map(|(t, us)| format!("{us}:{}", t.trace_id))
        } else {
            None
        };
        Ok((page.into_iter().map(|(t, _)| t).collect(), next))
    })
}

/// The query of [`list`] and its parameters; `None` when the scope and filter see no workspace.
///
/// Each workspace is read newest first from the `traces_by_workspace` index and stops after the
/// page (one `LIMIT`ed arm per workspace of the key, merged by a `UNION ALL`), so a page costs the
/// same whatever the workspace holds; an all-workspaces key reads `traces_by_start` the same way.
pub(crate) fn list_sql(
    scope: &Scope,
    filter: &TraceFilter,
    limit: usize,
    cursor: Option<(i64, String)>,
) -> Option<(String, Vec<SqlValue>)> {
    let workspaces: Option<Vec<String>> = match (&filter.workspace_slug, scope.workspaces()) {
        (Some(w), _) if !scope.allows(w) => return None,
        (Some(w), _) => Some(vec![w.clone()]),
        (None, None) => None,
        (None, Some(list)) => Some(list.to_vec()),
    };
    if workspaces.as_ref().is_some_and(Vec::is_empty) {
        return None;
    }
    let mut p: Vec<SqlValue> = Vec::new();
    let mut clauses = vec!["span_count > 0".to_owned()];
    let mut eq = |col: &str, v: &Option<String>, p: &mut Vec<SqlValue>| {
        if let Some(v) = v {
            p.push(SqlValue::Text(v.clone()));
            clauses.push(format!("{col} = ?{}", p.len()));
        }
    };
    eq("agent_name", &filter.agent_name, &mut p);
    eq("environment", &filter.environment, &mut p);
    eq("session_id", &filter.session_id, &mut p);
    eq("status", &filter.status, &mut p);
    if let Some(s) = filter.since_us {
        p.push(SqlValue::Integer(s));
        clauses.push(format!("start_us >= ?{}", p.len()));
    }
    if let Some(u) = filter.until_us {
        p.push(SqlValue::Integer(u));
        clauses.push(format!("start_us <= ?{}", p.len()));
    }
    if let Some((us, tid)) = cursor {
        p.push(SqlValue::Integer(us));
        p.push(SqlValue::Text(tid));
        clauses.push(format!(
            "(start_us, trace_id) < (?{}, ?{})",
            p.len() - 1,
            p.len()
        ));
    }
    p.push(SqlValue::Integer(limit as i64 + 1));
    let limit_at = p.len();
    let rest = clauses.join(" AND ");
    const ORDER: &str = "ORDER BY start_us DESC, trace_id DESC";
    let sql = match workspaces {
        None => {
            format!("SELECT {SUMMARY_COLUMNS} FROM traces WHERE {rest} {ORDER} LIMIT ?{limit_at}")
        }
        Some(list) => {
            let arms: Vec<String> = list
                .into_iter()
                .map(|w| {
                    p.push(SqlValue::Text(w));
                    format!(
                        "SELECT * FROM (SELECT {SUMMARY_COLUMNS} FROM traces \
                         WHERE workspace_slug = ?{} AND {rest} {ORDER} LIMIT ?{limit_at})",
                        p.len()
                    )
                })
                .collect();
            if arms.len() == 1 {
                arms.concat()
            } else {
                format!("{} {ORDER} LIMIT ?{limit_at}", arms.join(" UNION ALL "))
            }
        }
    };
    Some((sql, p))
}

/// Parses a cursor made by [`list`].
pub fn parse_cursor(c: &str) -> Option<(i64, String)> {
    let (us, tid) = c.split_once(':')?;
    Some((us.parse().ok()?, tid.to_owned()))
}

/// The traces of one session visible to `scope`, oldest first.
pub fn conversation(
    store: &Store,
    scope: &Scope,
    session_id: &str,
) -> StoreResult<Vec<TraceSummary>> {
    let (sql, p) = conversation_sql(scope, session_id);
    store.read(|tx| {
        let mut stmt = tx.prepare_cached(&sql)?;
        let rows = stmt.query_map(rusqlite::params_from_iter(p.iter()), summary_row)?;
        Ok(rows.map(|r| r.map(|(t, _)| t)).collect::<Result<_, _>>()?)
    })
}

/// The workspace holding `trace_id` among those `scope` sees (newest if several).
pub fn workspace_of(store: &Store, scope: &Scope, trace_id: &str) -> StoreResult<Option<String>> {
    let (sql, p) = workspace_of_sql(scope, trace_id);
    store.read(|tx| {
        Ok(tx
            .prepare_cached(&sql)?
            .query_row(rusqlite::params_from_iter(p.iter()), |r| r.get(0))
            .optional()?)
    })
}

/// The query of [`conversation`] (index `traces_by_session`).
pub(crate) fn conversation_sql(scope: &Scope, session_id: &str) -> (String, Vec<SqlValue>) {
    let mut p = vec![SqlValue::Text(session_id.to_owned())];
    let ws = scope_filter(scope, "workspace_slug", &mut p);
    let sql = format!(
        "SELECT {SUMMARY_COLUMNS} FROM traces WHERE session_id = ?1 AND span_count > 0 AND {ws} \
         ORDER BY start_us ASC, trace_id ASC"
    );
    (sql, p)
}

/// The query of [`workspace_of`] (the key of `traces`, which starts with the trace id).
pub(crate) fn workspace_of_sql(scope: &Scope, trace_id: &str) -> (String, Vec<SqlValue>) {
    let mut p = vec![SqlValue::Text(trace_id.to_owned())];
    let ws = scope_filter(scope, "workspace_slug", &mut p);
    let sql = format!(
        "SELECT workspace_slug FROM traces WHERE trace_id = ?1 AND {ws} \
         ORDER BY start_us DESC LIMIT 1"
    );
    (sql, p)
}

/// The spans of trace `?2` in workspace `?1`, in the order of the trace page (the trace's
/// sequence number found by the key of `traces`, its spans by the prefix of `spans_by_trace`).
pub(crate) fn spans_sql() -> String {
    format!(
        "SELECT {SPAN_COLUMNS} FROM spans WHERE {} ORDER BY start_us ASC, span_id ASC",
        super::span_key::in_trace("span_key", TRACE_SEQ)
    )
}

/// The sequence number of trace `?2` in workspace `?1` (a subquery; `NULL` when not stored).
pub(crate) const TRACE_SEQ: &str =
    "SELECT seq FROM traces WHERE workspace_slug = ?1 AND trace_id = ?2";

/// `GET /v1/traces/{trace_id}`: the trace with every span (wire fields, embedded JSON parsed back),
/// spans ordered by start time.
pub fn get(store: &Store, scope: &Scope, trace_id: &str) -> StoreResult<Option<Value>> {
    let Some(ws) = workspace_of(store, scope, trace_id)? else {
        return Ok(None);
    };
    store.read(|tx| {
        let head = tx
            .query_row(
                "SELECT timestamp, environment FROM traces WHERE workspace_slug = ?1 AND trace_id = ?2",
                [&ws, trace_id],
                |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)),
            )
            .optional()?;
        let Some((timestamp, environment)) = head else {
            return Ok(None);
        };
        let mut stmt = tx.prepare_cached(&spans_sql())?;
        let rows = stmt.query_map([&ws, trace_id], span_row)?;
        let mut spans = Vec::new();
        for row in rows {
            spans.push(span_json(row?)?);
        }
        let mut out = Map::new();
        out.insert("trace_id".into(), Value::String(trace_id.to_owned()));
        out.insert("timestamp".into(), Value::String(timestamp));
        out.insert("environment".into(), Value::String(environment));
        out.insert("workspace_slug".into(), Value::String(ws.clone()));
        out.insert("spans".into(), Value::Array(spans));
        Ok(Some(Value::Object(out)))
    })
}

fn span_row(r: &Row<'_>) -> rusqlite::Result<(WireSpan, Option<String>)> {
    let u = |i: usize| -> rusqlite::Result<u64> { Ok(r.get::<_, i64>(i)?.max(0) as u64) };
    Ok((
        WireSpan {
            span_id: r.get(0)?,
            parent_span_id: r.get(1)?,
            name: r.get(2)?,
            kind: r.get(3)?,
            timestamp: r.get(4)?,
            duration_ms: r.get(5)?,
            status: r.get(6)?,
            model: r.get(7)?,
            provider: r.get(8)?,
            requested_model: r.get(9)?,
            usage_available: r.get(10)?,
            reasoning_effort: r.get(11)?,
            input_tokens: u(12)?,
            output_tokens: u(13)?,
            total_tokens: u(14)?,
            input: r.get(15)?,
            output: r.get(16)?,
            attributes: r.get(17)?,
            error_message: r.get(18)?,
            session_id: r.get(19)?,
            agent_name: r.get(20)?,
            agent_id: r.get(21)?,
            agent_version: r.get(22)?,
            user_id: r.get(23)?,
            capture: None,
        },
        r.get(24)?,
    ))
}

fn span_json((span, capture): (WireSpan, Option<String>)) -> StoreResult<Value> {
    let mut v = serde_json::to_value(&span)?;
    if let Value::Object(m) = &mut v {
        for key in ["input", "output", "attributes"] {
            if let Some(Value::String(s)) = m.get(key) {
                let parsed = embedded::parse(s);
                m.insert(key.to_owned(), parsed);
            }
        }
        let capture = match capture {
            Some(c) => serde_json::from_str(&c)?,
            None => Value::Null,
        };
        m.insert("capture".to_owned(), capture);
    }
    Ok(v)
}
