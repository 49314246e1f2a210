//! The UI's trace list (with its user and name filters) and conversation turns.

use rusqlite::types::Value as SqlValue;
use rusqlite::{OptionalExtension, params_from_iter};
use serde::Serialize;
use serde_json::Value;

use super::usage::{UsageTotals, trace_usage_tx};
use crate::embedded;
use crate::keys::Scope;
use crate::pricing::PriceTable;
use crate::store::traces::{SUMMARY_COLUMNS, TRACE_SEQ, TraceSummary, span_key, summary_row};
use crate::store::{Store, StoreResult, scope_filter};

/// The UI's trace-list filters; `None` (or empty) means no restriction.
#[derive(Debug, Clone, Default)]
pub struct UiTraceFilter {
    /// Exact agent name.
    pub agent_name: Option<String>,
    /// Exact session (conversation) id.
    pub session_id: Option<String>,
    /// Exact user id of any span of the trace.
    pub user_id: Option<String>,
    /// Exact trace status.
    pub status: Option<String>,
    /// Exact environment.
    pub environment: Option<String>,
    /// Substring of the root span's name (case-insensitive for ASCII).
    pub name_contains: Option<String>,
    /// Start at or after, µs.
    pub since_us: Option<i64>,
    /// Start at or before, µs.
    pub until_us: Option<i64>,
}

/// One row of the UI's trace list.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TraceRow {
    /// The summary the read API lists.
    #[serde(flatten)]
    pub summary: TraceSummary,
    /// Its tokens and cost.
    pub usage: UsageTotals,
}

/// Traces visible to `scope`, newest first, at most `limit`, after `cursor` (`us:trace_id`, as
/// [`crate::store::traces::parse_cursor`] reads); returns the page and the next page's cursor.
pub fn list_traces(
    store: &Store,
    scope: &Scope,
    prices: &PriceTable,
    filter: &UiTraceFilter,
    limit: usize,
    cursor: Option<(i64, String)>,
) -> StoreResult<(Vec<TraceRow>, Option<String>)> {
    let mut p: Vec<SqlValue> = Vec::new();
    let mut clauses = vec![scope_filter(scope, "t.workspace_slug", &mut p)];
    let mut push = |p: &mut Vec<SqlValue>, v: SqlValue, clause: &dyn Fn(usize) -> String| {
        p.push(v);
        clauses.push(clause(p.len()));
    };
    let text = |v: &Option<String>| v.as_deref().filter(|s| !s.is_empty()).map(str::to_owned);
    if let Some(v) = text(&filter.agent_name) {
        push(&mut p, SqlValue::Text(v), &|i| {
            format!("t.agent_name = ?{i}")
        });
    }
    if let Some(v) = text(&filter.session_id) {
        push(&mut p, SqlValue::Text(v), &|i| {
            format!("t.session_id = ?{i}")
        });
    }
    if let Some(v) = text(&filter.status) {
        push(&mut p, SqlValue::Text(v), &|i| format!("t.status = ?{i}"));
    }
    if let Some(v) = text(&filter.environment) {
        push(&mut p, SqlValue::Text(v), &|i| {
            format!("t.environment = ?{i}")
        });
    }
    if let Some(v) = text(&filter.user_id) {
        push(&mut p, SqlValue::Text(v), &|i| {
            format!(
                "EXISTS (SELECT 1 FROM spans s WHERE {} AND s.user_id = ?{i})",
                span_key::in_trace("s.span_key", "t.seq")
            )
        });
    }
    if let Some(v) = text(&filter.name_contains) {
        push(&mut p, SqlValue::Text(v), &|i| {
            format!("instr(lower(t.root_name), lower(?{i})) > 0")
        });
    }
    if let Some(s) = filter.since_us {
        push(&mut p, SqlValue::Integer(s), &|i| {
            format!("t.start_us >= ?{i}")
        });
    }
    if let Some(u) = filter.until_us {
        push(&mut p, SqlValue::Integer(u), &|i| {
            format!("t.start_us <= ?{i}")
        });
    }
    if let Some((us, tid)) = cursor {
        p.push(SqlValue::Integer(us));
        p.push(SqlValue::Text(tid));
        clauses.push(format!(
            "(t.start_us, t.trace_id) < (?{}, ?{})",
            p.len() - 1,
            p.len()
        ));
    }
    p.push(SqlValue::Integer(limit as i64 + 1));
    let sql = format!(
        "SELECT {SUMMARY_COLUMNS} FROM traces t WHERE t.span_count > 0 AND {} \
         ORDER BY t.start_us DESC, t.trace_id DESC LIMIT ?{}",
        clauses.join(" AND "),
        p.len()
    );
    store.read(|tx| {
        let mut page = {
            let mut stmt = tx.prepare(&sql)?;
            let rows = stmt.query_map(params_from_iter(p.iter()), summary_row)?;
            rows.collect::<Result<Vec<_>, _>>()?
        };
        let next = if page.len() > limit {
            page.truncate(limit);
            page.last().map(|(t, us)| format!("{us}:{}", t.trace_id))
        } else {
            None
        };
        let keys: Vec<(String, String)> = page
            .iter()
            .map(|(t, _)| (t.workspace_slug.clone(), t.trace_id.clone()))
            .collect();
        let mut usage = trace_usage_tx(tx, prices, &keys)?;
        let rows = page
            .into_iter()
            .map(|(summary, _)| TraceRow {
                usage: usage.remove(&summary.trace_id).unwrap_or_default(),
                summary,
            })
            .collect();
        Ok((rows, next))
    })
}

/// One trace of a conversation: the user's turn (the root span's input) and the agent's reply
/// (its output), with the trace's tokens and cost.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Turn {
    /// The trace.
    #[serde(flatten)]
    pub summary: TraceSummary,
    /// The root span's user id.
    pub user_id: String,
    /// The root span's input (parsed JSON, `null` when not captured).
    pub input: Value,
    /// The root span's output.
    pub output: Value,
    /// Tokens and cost.
    pub usage: UsageTotals,
}

/// The turns of session `session_id` visible to `scope`, oldest first.
pub fn conversation_turns(
    store: &Store,
    scope: &Scope,
    prices: &PriceTable,
    session_id: &str,
) -> StoreResult<Vec<Turn>> {
    let mut p = vec![SqlValue::Text(session_id.to_owned())];
    let ws = scope_filter(scope, "t.workspace_slug", &mut p);
    let sql = format!(
        "SELECT {SUMMARY_COLUMNS} FROM traces t WHERE t.session_id = ?1 AND t.span_count > 0 \
         AND {ws} ORDER BY t.start_us ASC, t.trace_id ASC"
    );
    store.read(|tx| {
        let summaries = {
            let mut stmt = tx.prepare(&sql)?;
            let rows = stmt.query_map(params_from_iter(p.iter()), summary_row)?;
            rows.collect::<Result<Vec<_>, _>>()?
        };
        let keys: Vec<(String, String)> = summaries
            .iter()
            .map(|(t, _)| (t.workspace_slug.clone(), t.trace_id.clone()))
            .collect();
        let mut usage = trace_usage_tx(tx, prices, &keys)?;
        let mut root = tx.prepare_cached(&format!(
            "SELECT user_id, input, output FROM spans WHERE {} \
             ORDER BY (parent_span_id IS NULL) DESC, provisional ASC, start_us ASC LIMIT 1",
            span_key::in_trace("span_key", TRACE_SEQ)
        ))?;
        let mut turns = Vec::with_capacity(summaries.len());
        for (summary, _) in summaries {
            let (user_id, input, output) = root
                .query_row([&summary.workspace_slug, &summary.trace_id], |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, String>(2)?,
                    ))
                })
                .optional()?
                .unwrap_or_default();
            turns.push(Turn {
                usage: usage.remove(&summary.trace_id).unwrap_or_default(),
                summary,
                user_id,
                input: embedded::parse(&input),
                output: embedded::parse(&output),
            });
        }
        Ok(turns)
    })
}
