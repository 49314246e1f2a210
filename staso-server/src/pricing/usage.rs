//! Token counts, what each is billed at, and the cost of a span under a price table.

use serde::Serialize;
use serde_json::Value;

use super::names::normalize_model;
use super::table::{ModelPrice, PriceTable};

impl ModelPrice {
    /// The cost of `usage`, US dollars.
    pub fn cost(&self, usage: &BilledTokens) -> f64 {
        let per = |n: u64, price: f64| n as f64 * price / 1_000_000.0;
        per(usage.input, self.input)
            + per(usage.cache_read, self.cached_input.unwrap_or(self.input))
            + per(usage.cache_write, self.cache_write.unwrap_or(self.input))
            + per(usage.output, self.output)
    }
}

/// One span's token counts as reported (the wire's columns and metadata keys).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    /// `input_tokens`.
    pub input_tokens: u64,
    /// `output_tokens`.
    pub output_tokens: u64,
    /// Metadata `cached_input_tokens` (OpenAI: part of the input).
    pub cached_input_tokens: u64,
    /// Metadata `cache_read_input_tokens` (Anthropic: beside the input).
    pub cache_read_input_tokens: u64,
    /// Metadata `cache_creation_input_tokens` / `cache_write_input_tokens`.
    pub cache_write_input_tokens: u64,
}

/// Tokens by the price each is billed at.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BilledTokens {
    /// At the input price.
    pub input: u64,
    /// At the cached-input price.
    pub cache_read: u64,
    /// At the cache-write price.
    pub cache_write: u64,
    /// At the output price.
    pub output: u64,
}

impl Usage {
    /// Splits the counts by price for a call to `model` at `provider` (see the module docs for
    /// which cached counts are inside the input count).
    pub fn split(&self, provider: &str, model: &str) -> BilledTokens {
        let cached = self.cached_input_tokens.max(self.cache_read_input_tokens);
        let anthropic = provider.eq_ignore_ascii_case("anthropic")
            || normalize_model(model).starts_with("claude");
        let inside = !anthropic && cached <= self.input_tokens;
        BilledTokens {
            input: if inside {
                self.input_tokens - cached
            } else {
                self.input_tokens
            },
            cache_read: cached,
            cache_write: self.cache_write_input_tokens,
            output: self.output_tokens,
        }
    }

    /// Whether any token was counted.
    pub fn is_empty(&self) -> bool {
        *self == Usage::default()
    }
}

/// Where a cost comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CostSource {
    /// The span carried `cost_usd`.
    Reported,
    /// Priced from the table.
    PriceTable,
}

/// A span's cost.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct SpanCost {
    /// US dollars.
    pub usd: f64,
    /// Where it comes from.
    pub source: CostSource,
}

/// What pricing needs to know of one span.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CostInput<'a> {
    /// The model (response model, else requested).
    pub model: &'a str,
    /// The provider.
    pub provider: &'a str,
    /// Token counts.
    pub usage: Usage,
    /// Metadata `cost_usd`, when the span carried one.
    pub reported_usd: Option<f64>,
}

impl PriceTable {
    /// The span's cost: its own `cost_usd` when it has one, else its tokens priced by the table;
    /// `None` without tokens or for a model the table does not know.
    pub fn cost(&self, span: &CostInput<'_>) -> Option<SpanCost> {
        if let Some(usd) = span.reported_usd.filter(|v| v.is_finite()) {
            return Some(SpanCost {
                usd,
                source: CostSource::Reported,
            });
        }
        if span.usage.is_empty() {
            return None;
        }
        let (name, price) = self.lookup(span.model)?;
        Some(SpanCost {
            usd: price.cost(&span.usage.split(span.provider, name)),
            source: CostSource::PriceTable,
        })
    }

    /// The cost of a span as the read API returns it (`GET /v1/traces/{id}`'s `spans[]`, metadata
    /// parsed under `attributes`).
    pub fn cost_of_span_json(&self, span: &Value) -> Option<SpanCost> {
        let attrs = span.get("attributes");
        let meta_u64 = |key: &str| {
            attrs
                .and_then(|a| a.get(key))
                .and_then(Value::as_u64)
                .unwrap_or(0)
        };
        let field_u64 = |key: &str| span.get(key).and_then(Value::as_u64).unwrap_or(0);
        let text = |key: &str| span.get(key).and_then(Value::as_str).unwrap_or("");
        let model = match text("model") {
            "" => text("requested_model"),
            m => m,
        };
        self.cost(&CostInput {
            model,
            provider: text("provider"),
            usage: Usage {
                input_tokens: field_u64("input_tokens"),
                output_tokens: field_u64("output_tokens"),
                cached_input_tokens: meta_u64("cached_input_tokens"),
                cache_read_input_tokens: meta_u64("cache_read_input_tokens"),
                cache_write_input_tokens: meta_u64("cache_creation_input_tokens")
                    .max(meta_u64("cache_write_input_tokens")),
            },
            reported_usd: attrs
                .and_then(|a| a.get("cost_usd"))
                .and_then(Value::as_f64),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-12
    }

    #[test]
    fn cost_with_openai_cached_input_inside_the_input() {
        let t = PriceTable::builtin();
        // gpt-4o: 2.50 in, 1.25 cached, 10.00 out per million.
        let span = CostInput {
            model: "gpt-4o-2024-08-06",
            provider: "openai",
            usage: Usage {
                input_tokens: 1_000,
                output_tokens: 200,
                cached_input_tokens: 400,
                ..Usage::default()
            },
            reported_usd: None,
        };
        let c = t.cost(&span).expect("priced");
        assert_eq!(c.source, CostSource::PriceTable);
        let want = (600.0 * 2.5 + 400.0 * 1.25 + 200.0 * 10.0) / 1e6;
        assert!(close(c.usd, want), "{} != {want}", c.usd);
    }

    #[test]
    fn cost_with_anthropic_cache_reads_and_writes_beside_the_input() {
        let t = PriceTable::builtin();
        // claude-sonnet-4-5: 3 in, 0.30 cache read, 3.75 cache write, 15 out.
        let span = CostInput {
            model: "claude-sonnet-4-5-20250929",
            provider: "anthropic",
            usage: Usage {
                input_tokens: 100,
                output_tokens: 50,
                cache_read_input_tokens: 2_000,
                cache_write_input_tokens: 500,
                ..Usage::default()
            },
            reported_usd: None,
        };
        let want = (100.0 * 3.0 + 2_000.0 * 0.3 + 500.0 * 3.75 + 50.0 * 15.0) / 1e6;
        assert!(close(t.cost(&span).unwrap().usd, want));
        // Even without a provider, more cached than input tokens cannot be inside the input.
        let other = CostInput {
            model: "gpt-4o",
            provider: "",
            usage: Usage {
                input_tokens: 10,
                cached_input_tokens: 90,
                ..Usage::default()
            },
            reported_usd: None,
        };
        let want = (10.0 * 2.5 + 90.0 * 1.25) / 1e6;
        assert!(close(t.cost(&other).unwrap().usd, want));
    }

    #[test]
    fn reported_cost_wins_and_unknown_or_empty_spans_have_none() {
        let t = PriceTable::builtin();
        let mut span = CostInput {
            model: "gpt-4o",
            provider: "openai",
            usage: Usage {
                input_tokens: 1_000_000,
                ..Usage::default()
            },
            reported_usd: Some(0.5),
        };
        assert_eq!(
            t.cost(&span),
            Some(SpanCost {
                usd: 0.5,
                source: CostSource::Reported
            })
        );
        span.reported_usd = None;
        assert!(close(t.cost(&span).unwrap().usd, 2.5));
        span.model = "my-local-llama";
        assert_eq!(t.cost(&span), None);
        span.model = "gpt-4o";
        span.usage = Usage::default();
        assert_eq!(t.cost(&span), None);
    }

    #[test]
    fn span_json_reads_columns_and_metadata() {
        let t = PriceTable::builtin();
        let span = json!({"model": "", "requested_model": "gpt-4o-mini", "provider": "openai",
            "input_tokens": 2000, "output_tokens": 1000,
            "attributes": {"cached_input_tokens": 1000}});
        let want = (1000.0 * 0.15 + 1000.0 * 0.075 + 1000.0 * 0.6) / 1e6;
        assert!(close(t.cost_of_span_json(&span).unwrap().usd, want));
        let own = json!({"model": "gpt-4o", "input_tokens": 5, "attributes": {"cost_usd": 0.25}});
        assert_eq!(t.cost_of_span_json(&own).unwrap().usd, 0.25);
        assert_eq!(t.cost_of_span_json(&json!({"name": "tool"})), None);
    }
}
