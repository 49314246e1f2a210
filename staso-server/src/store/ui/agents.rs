//! Per-agent statistics over a window: traces, errors, duration percentiles, tokens and cost.

use std::collections::HashMap;

use rusqlite::params_from_iter;
use rusqlite::types::Value as SqlValue;
use serde::Serialize;

use super::usage::{USAGE_COLUMNS, USAGE_SPANS, UsageTotals, usage_row};
use crate::keys::Scope;
use crate::pricing::PriceTable;
use crate::store::traces::span_key;
use crate::store::{Store, StoreResult, scope_filter};

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
        "SELECT t.agent_name, {USAGE_COLUMNS} FROM traces t JOIN spans s ON {} \
         WHERE t.span_count > 0 AND {ws}{window} AND {USAGE_SPANS}",
        span_key::in_trace("s.span_key", "t.seq")
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
