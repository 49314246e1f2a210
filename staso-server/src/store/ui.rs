//! Read-only queries behind the web UI and the costs of the read API and CLI: the trace list with
//! the UI's extra filters (user, name search), token and cost totals per trace, conversation
//! turns, per-agent statistics over a window, and every prompt version.
//!
//! Costs are computed here at read time from the spans' tokens and the price table, so a span's
//! own `cost_usd` is kept and a new table reprices what is stored.

use std::collections::HashMap;

use rusqlite::types::Value as SqlValue;
use rusqlite::{OptionalExtension, Row, Transaction, params_from_iter};
use serde::Serialize;
use serde_json::Value;

use super::traces::TraceSummary;
use super::{Store, StoreResult, scope_filter};
use crate::embedded;
use crate::keys::Scope;
use crate::pricing::{CostInput, PriceTable, Usage};

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

/// Tokens and cost of a set of spans.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct UsageTotals {
    /// Input tokens.
    pub input_tokens: u64,
    /// Output tokens.
    pub output_tokens: u64,
    /// Total tokens (a span's `total_tokens`, else input + output).
    pub total_tokens: u64,
    /// US dollars; `None` when no span has a cost (no tokens, or only unknown models).
    pub cost_usd: Option<f64>,
    /// Spans with tokens whose model the price table does not know.
    pub unpriced_spans: u64,
    /// Distinct models, in order of first appearance.
    pub models: Vec<String>,
}

impl UsageTotals {
    fn add(&mut self, row: &UsageRow, prices: &PriceTable) {
        self.input_tokens += row.input;
        self.output_tokens += row.output;
        self.total_tokens += if row.total > 0 {
            row.total
        } else {
            row.input + row.output
        };
        if !row.model.is_empty() && !self.models.contains(&row.model) {
            self.models.push(row.model.clone());
        }
        match prices.cost(&row.cost_input()) {
            Some(c) => *self.cost_usd.get_or_insert(0.0) += c.usd,
            None if row.input + row.output > 0 => self.unpriced_spans += 1,
            None => {}
        }
    }
}

/// What pricing needs of one span, read with its trace and agent.
#[derive(Debug, Clone)]
struct UsageRow {
    key: String,
    model: String,
    provider: String,
    input: u64,
    output: u64,
    total: u64,
    cached_input: u64,
    cache_read: u64,
    cache_write: u64,
    cost_usd: Option<f64>,
}

impl UsageRow {
    fn cost_input(&self) -> CostInput<'_> {
        CostInput {
            model: &self.model,
            provider: &self.provider,
            usage: Usage {
                input_tokens: self.input,
                output_tokens: self.output,
                cached_input_tokens: self.cached_input,
                cache_read_input_tokens: self.cache_read,
                cache_write_input_tokens: self.cache_write,
            },
            reported_usd: self.cost_usd,
        }
    }
}

/// Columns 1.. of a usage row (column 0 is the grouping key). Metadata is read only from valid
/// JSON (the official SDK may send `NaN` tokens) and only when it may hold a count or a cost.
const USAGE_COLUMNS: &str = "CASE WHEN s.model <> '' THEN s.model ELSE s.requested_model END, \
    s.provider, s.input_tokens, s.output_tokens, s.total_tokens, \
    CASE WHEN instr(s.attributes, 'cache') > 0 AND json_valid(s.attributes) \
      THEN json_extract(s.attributes, '$.cached_input_tokens') END, \
    CASE WHEN instr(s.attributes, 'cache') > 0 AND json_valid(s.attributes) \
      THEN json_extract(s.attributes, '$.cache_read_input_tokens') END, \
    CASE WHEN instr(s.attributes, 'cache') > 0 AND json_valid(s.attributes) \
      THEN max(coalesce(json_extract(s.attributes, '$.cache_creation_input_tokens'), 0), \
               coalesce(json_extract(s.attributes, '$.cache_write_input_tokens'), 0)) END, \
    CASE WHEN instr(s.attributes, 'cost_usd') > 0 AND json_valid(s.attributes) \
      THEN json_extract(s.attributes, '$.cost_usd') END";

/// Spans that count for usage: some tokens, or a cost of their own.
const USAGE_SPANS: &str = "(s.input_tokens > 0 OR s.output_tokens > 0 OR s.total_tokens > 0 \
    OR instr(s.attributes, 'cost_usd') > 0)";

fn usage_row(r: &Row<'_>) -> rusqlite::Result<UsageRow> {
    let count = |i: usize| -> rusqlite::Result<u64> {
        Ok(match r.get::<_, SqlValue>(i)? {
            SqlValue::Integer(n) => n.max(0) as u64,
            SqlValue::Real(f) if f.is_finite() && f > 0.0 => f as u64,
            _ => 0,
        })
    };
    let cost = match r.get::<_, SqlValue>(9)? {
        SqlValue::Integer(n) => Some(n as f64),
        SqlValue::Real(f) => Some(f),
        _ => None,
    };
    Ok(UsageRow {
        key: r.get(0)?,
        model: r.get(1)?,
        provider: r.get(2)?,
        input: count(3)?,
        output: count(4)?,
        total: count(5)?,
        cached_input: count(6)?,
        cache_read: count(7)?,
        cache_write: count(8)?,
        cost_usd: cost,
    })
}

/// Usage totals of each trace in `traces` (`(workspace, trace_id)`), keyed by trace id.
pub fn trace_usage(
    store: &Store,
    prices: &PriceTable,
    traces: &[(String, String)],
) -> StoreResult<HashMap<String, UsageTotals>> {
    store.read(|tx| trace_usage_tx(tx, prices, traces))
}

fn trace_usage_tx(
    tx: &Transaction<'_>,
    prices: &PriceTable,
    traces: &[(String, String)],
) -> StoreResult<HashMap<String, UsageTotals>> {
    let mut stmt = tx.prepare_cached(&format!(
        "SELECT s.trace_id, {USAGE_COLUMNS} FROM spans s \
         WHERE s.workspace_slug = ?1 AND s.trace_id = ?2 AND {USAGE_SPANS} \
         ORDER BY s.start_us"
    ))?;
    let mut out: HashMap<String, UsageTotals> = HashMap::new();
    for (ws, id) in traces {
        let totals = out.entry(id.clone()).or_default();
        for row in stmt.query_map([ws, id], usage_row)? {
            totals.add(&row?, prices);
        }
    }
    Ok(out)
}

const SUMMARY_COLUMNS: &str = "t.trace_id, t.timestamp, t.environment, t.workspace_slug, \
    t.root_name, t.agent_name, t.session_id, t.span_count, t.duration_ms, t.status, t.start_us";

fn summary_row(r: &Row<'_>) -> rusqlite::Result<(TraceSummary, i64)> {
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
                "EXISTS (SELECT 1 FROM spans s WHERE s.workspace_slug = t.workspace_slug \
                 AND s.trace_id = t.trace_id AND s.user_id = ?{i})"
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
        let mut root = tx.prepare_cached(
            "SELECT user_id, input, output FROM spans WHERE workspace_slug = ?1 AND trace_id = ?2 \
             ORDER BY (parent_span_id IS NULL) DESC, provisional ASC, start_us ASC LIMIT 1",
        )?;
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

/// One agent's traces over a window.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AgentStats {
    /// The agent (the root span's agent name; empty when none).
    pub agent_name: String,
    /// Traces started in the window.
    pub traces: u64,
    /// Of those, traces with status `error`.
    pub errors: u64,
    /// Median trace duration, ms.
    pub p50_ms: f64,
    /// 95th percentile trace duration, ms (nearest rank).
    pub p95_ms: f64,
    /// Tokens and cost of the traces' spans.
    pub usage: UsageTotals,
}

impl AgentStats {
    /// `errors / traces`, 0 without traces.
    pub fn error_rate(&self) -> f64 {
        if self.traces == 0 {
            0.0
        } else {
            self.errors as f64 / self.traces as f64
        }
    }
}

/// The nearest-rank percentile `q` (0..=1) of sorted `values`; 0 when empty.
pub fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Per-agent statistics of the traces visible to `scope` started at or after `since_us`
/// (everything when `None`), by agent name.
pub fn agent_stats(
    store: &Store,
    scope: &Scope,
    prices: &PriceTable,
    since_us: Option<i64>,
) -> StoreResult<Vec<AgentStats>> {
    let mut p: Vec<SqlValue> = Vec::new();
    let ws = scope_filter(scope, "t.workspace_slug", &mut p);
    let mut window = String::new();
    if let Some(s) = since_us {
        p.push(SqlValue::Integer(s));
        window = format!(" AND t.start_us >= ?{}", p.len());
    }
    let traces_sql = format!(
        "SELECT t.agent_name, t.status, t.duration_ms FROM traces t \
         WHERE t.span_count > 0 AND {ws}{window} ORDER BY t.agent_name, t.duration_ms"
    );
    let usage_sql = format!(
        "SELECT t.agent_name, {USAGE_COLUMNS} FROM traces t JOIN spans s \
         ON s.workspace_slug = t.workspace_slug AND s.trace_id = t.trace_id \
         WHERE t.span_count > 0 AND {ws}{window} AND {USAGE_SPANS}"
    );
    store.read(|tx| {
        let mut stats: Vec<AgentStats> = Vec::new();
        let mut durations: Vec<Vec<f64>> = Vec::new();
        {
            let mut stmt = tx.prepare(&traces_sql)?;
            let rows = stmt.query_map(params_from_iter(p.iter()), |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, f64>(2)?,
                ))
            })?;
            for row in rows {
                let (agent, status, ms) = row?;
                if stats.last().map(|s| &s.agent_name) != Some(&agent) {
                    stats.push(AgentStats {
                        agent_name: agent,
                        traces: 0,
                        errors: 0,
                        p50_ms: 0.0,
                        p95_ms: 0.0,
                        usage: UsageTotals::default(),
                    });
                    durations.push(Vec::new());
                }
                if let (Some(s), Some(d)) = (stats.last_mut(), durations.last_mut()) {
                    s.traces += 1;
                    s.errors += u64::from(status == "error");
                    d.push(ms);
                }
            }
        }
        for (s, d) in stats.iter_mut().zip(&durations) {
            s.p50_ms = percentile(d, 0.5);
            s.p95_ms = percentile(d, 0.95);
        }
        let index: HashMap<String, usize> = stats
            .iter()
            .enumerate()
            .map(|(i, s)| (s.agent_name.clone(), i))
            .collect();
        let mut stmt = tx.prepare(&usage_sql)?;
        for row in stmt.query_map(params_from_iter(p.iter()), usage_row)? {
            let row = row?;
            if let Some(&i) = index.get(&row.key) {
                stats[i].usage.add(&row, prices);
            }
        }
        Ok(stats)
    })
}

/// One stored version of a prompt.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PromptVersionRow {
    /// Workspace.
    pub workspace_slug: String,
    /// Prompt name.
    pub name: String,
    /// Version, from 1.
    pub version: i64,
    /// The text.
    pub content: String,
    /// RFC 3339.
    pub created_at: String,
    /// Environments whose label points at this version.
    pub labels: Vec<String>,
}

/// Every prompt version visible to `scope`, by workspace and name, newest version first.
pub fn prompt_versions(store: &Store, scope: &Scope) -> StoreResult<Vec<PromptVersionRow>> {
    let mut p: Vec<SqlValue> = Vec::new();
    let ws = scope_filter(scope, "v.workspace_slug", &mut p);
    let sql = format!(
        "SELECT v.workspace_slug, v.name, v.version, v.content, v.created_at, \
         (SELECT group_concat(l.environment, ' ') FROM prompt_labels l \
          WHERE l.workspace_slug = v.workspace_slug AND l.name = v.name AND l.version = v.version) \
         FROM prompt_versions v WHERE {ws} \
         ORDER BY v.workspace_slug, v.name, v.version DESC LIMIT 2000"
    );
    store.read(|tx| {
        let mut stmt = tx.prepare(&sql)?;
        let rows = stmt.query_map(params_from_iter(p.iter()), |r| {
            let labels: Option<String> = r.get(5)?;
            let mut labels: Vec<String> = labels
                .unwrap_or_default()
                .split(' ')
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect();
            labels.sort();
            Ok(PromptVersionRow {
                workspace_slug: r.get(0)?,
                name: r.get(1)?,
                version: r.get(2)?,
                content: r.get(3)?,
                created_at: r.get(4)?,
                labels,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&v, 0.5), 50.0);
        assert_eq!(percentile(&v, 0.95), 95.0);
        assert_eq!(percentile(&[7.0], 0.95), 7.0);
        assert_eq!(percentile(&[], 0.5), 0.0);
    }
}
