//! Tokens and costs of spans, summed per trace (or per agent), priced at read time.

use std::collections::HashMap;

use rusqlite::types::Value as SqlValue;
use rusqlite::{Row, Transaction};
use serde::Serialize;

use crate::pricing::{CostInput, PriceTable, Usage};
use crate::store::traces::{TRACE_SEQ, span_key};
use crate::store::{Store, StoreResult};

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
    pub(super) fn add(&mut self, row: &UsageRow, prices: &PriceTable) {
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
pub(super) struct UsageRow {
    pub(super) key: String,
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
pub(super) const USAGE_COLUMNS: &str = "CASE WHEN s.model <> '' THEN s.model ELSE s.requested_model END, \
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
pub(super) const USAGE_SPANS: &str = "(s.input_tokens > 0 OR s.output_tokens > 0 OR s.total_tokens > 0 \
    OR instr(s.attributes, 'cost_usd') > 0)";

pub(super) fn usage_row(r: &Row<'_>) -> rusqlite::Result<UsageRow> {
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

pub(super) fn trace_usage_tx(
    tx: &Transaction<'_>,
    prices: &PriceTable,
    traces: &[(String, String)],
) -> StoreResult<HashMap<String, UsageTotals>> {
    let mut stmt = tx.prepare_cached(&format!(
        "SELECT ?2, {USAGE_COLUMNS} FROM spans s WHERE {} AND {USAGE_SPANS} \
         ORDER BY s.start_us",
        span_key::in_trace("s.span_key", TRACE_SEQ)
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
