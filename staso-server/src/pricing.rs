//! Costs of LLM spans: a price table (per-model prices per million tokens) and the cost of one
//! span's usage under it.
//!
//! A span that carries its own cost (metadata `cost_usd`) keeps it; a span with tokens and a model
//! the table knows is priced; anything else has no cost. The built-in table
//! (`assets/prices.json`, embedded) is dated and names its sources; `serve --prices PATH` replaces
//! it with a file of the same format. Costs are computed when read, so a new table reprices what is
//! already stored.
//!
//! Cached input: OpenAI-style `cached_input_tokens` are part of `input_tokens` and billed at the
//! cached price instead of the input price. Anthropic reports `cache_read_input_tokens` and
//! `cache_creation_input_tokens` beside `input_tokens` (not inside it), so for Anthropic models, and
//! whenever the cached count exceeds the input count, they are added on top.
//!
//! ```
//! use staso_server::pricing::{PriceTable, Usage};
//! let table = PriceTable::builtin();
//! let (name, price) = table.lookup("gpt-4o-2024-08-06").unwrap();
//! assert_eq!(name, "gpt-4o");
//! let usage = Usage { input_tokens: 1_000_000, output_tokens: 0, ..Usage::default() };
//! assert_eq!(price.cost(&usage.split("openai", name)), 2.5);
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The built-in price table (JSON).
pub const BUILTIN_PRICES: &str = include_str!("../assets/prices.json");

/// Why a price file was refused; the message names the file and the bad field.
#[derive(Debug, thiserror::Error)]
pub enum PriceError {
    /// The file could not be read.
    #[error("prices file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The text is not a price table; `field` is the path of the first bad value.
    #[error("prices{}: {field}: {why}", path_suffix(.path))]
    Invalid {
        /// The file, when read from one.
        path: Option<PathBuf>,
        /// The bad field, e.g. `models.gpt-4o.input`.
        field: String,
        /// Why.
        why: String,
    },
}

fn path_suffix(path: &Option<PathBuf>) -> String {
    path.as_ref()
        .map(|p| format!(" file {}", p.display()))
        .unwrap_or_default()
}

/// Prices of one model, US dollars per million tokens.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelPrice {
    /// `openai`, `anthropic`, `google`, … (informational).
    #[serde(default)]
    pub provider: Option<String>,
    /// Uncached input tokens.
    pub input: f64,
    /// Output tokens (reasoning tokens included).
    pub output: f64,
    /// Input tokens read from the prompt cache; the input price when absent.
    #[serde(default)]
    pub cached_input: Option<f64>,
    /// Input tokens written to the prompt cache; the input price when absent.
    #[serde(default)]
    pub cache_write: Option<f64>,
}

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

/// The file; other top-level keys (`currency`, `unit`, `note`) are for people.
#[derive(Debug, Deserialize)]
struct PriceFile {
    as_of: String,
    #[serde(default)]
    sources: Vec<String>,
    models: BTreeMap<String, ModelPrice>,
}

/// Per-model prices, keyed by normalised model name ([`normalize_model`]).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PriceTable {
    as_of: String,
    sources: Vec<String>,
    models: BTreeMap<String, ModelPrice>,
}

impl PriceTable {
    /// The embedded default table ([`BUILTIN_PRICES`]); a unit test keeps it valid, so the empty
    /// fallback is never taken.
    pub fn builtin() -> Self {
        Self::from_json(BUILTIN_PRICES).unwrap_or_default()
    }

    /// Parses a table: `{"as_of", "sources": [...], "models": {"name": {"input", "output",
    /// "cached_input"?, "cache_write"?, "provider"?}}}`; prices must be finite and not negative.
    pub fn from_json(text: &str) -> Result<Self, PriceError> {
        Self::parse(text, None)
    }

    /// Reads a table from a file (the format of [`PriceTable::from_json`]).
    pub fn load(path: impl AsRef<Path>) -> Result<Self, PriceError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| PriceError::Io {
            path: path.to_owned(),
            source,
        })?;
        Self::parse(&text, Some(path.to_owned()))
    }

    fn parse(text: &str, path: Option<PathBuf>) -> Result<Self, PriceError> {
        let invalid = |field: String, why: String| PriceError::Invalid {
            path: path.clone(),
            field,
            why,
        };
        let mut de = serde_json::Deserializer::from_str(text);
        let file: PriceFile = serde_path_to_error::deserialize(&mut de).map_err(|e| {
            let field = e.path().to_string();
            invalid(field, e.into_inner().to_string())
        })?;
        let mut models = BTreeMap::new();
        for (name, price) in file.models {
            let key = normalize_model(&name);
            if key.is_empty() {
                return Err(invalid(format!("models.{name}"), "empty model name".into()));
            }
            let prices = [
                ("input", Some(price.input)),
                ("output", Some(price.output)),
                ("cached_input", price.cached_input),
                ("cache_write", price.cache_write),
            ];
            for (field, v) in prices {
                if let Some(v) = v
                    && !(v.is_finite() && v >= 0.0)
                {
                    return Err(invalid(
                        format!("models.{name}.{field}"),
                        format!("must be a finite price ≥ 0, got {v}"),
                    ));
                }
            }
            models.insert(key, price);
        }
        Ok(PriceTable {
            as_of: file.as_of,
            sources: file.sources,
            models,
        })
    }

    /// The date the prices were taken.
    pub fn as_of(&self) -> &str {
        &self.as_of
    }

    /// Where the prices come from.
    pub fn sources(&self) -> &[String] {
        &self.sources
    }

    /// How many models the table prices.
    pub fn len(&self) -> usize {
        self.models.len()
    }

    /// Whether the table prices no model.
    pub fn is_empty(&self) -> bool {
        self.models.is_empty()
    }

    /// The table's entry for `model`: its normalised name, else the longest table name it starts
    /// with followed by `-` (`gemini-2.5-flash-preview-05-20` → `gemini-2.5-flash`).
    pub fn lookup(&self, model: &str) -> Option<(&str, &ModelPrice)> {
        let name = normalize_model(model);
        if let Some((k, p)) = self.models.get_key_value(&name) {
            return Some((k.as_str(), p));
        }
        self.models
            .iter()
            .filter(|(k, _)| {
                name.strip_prefix(k.as_str())
                    .is_some_and(|rest| rest.starts_with('-'))
            })
            .max_by_key(|(k, _)| k.len())
            .map(|(k, p)| (k.as_str(), p))
    }
}

/// A model name as the table keys it: lower case, without a provider prefix (`openai/`,
/// `models/`, `anthropic.`), a version suffix (`@20241022`, `-v1:0`) or a date suffix
/// (`-2024-08-06`, `-20241022`, `-latest`).
///
/// ```
/// use staso_server::pricing::normalize_model;
/// assert_eq!(normalize_model("gpt-4o-2024-08-06"), "gpt-4o");
/// assert_eq!(normalize_model("anthropic/claude-3-5-sonnet-20241022"), "claude-3-5-sonnet");
/// ```
pub fn normalize_model(model: &str) -> String {
    let mut name = model.trim().to_ascii_lowercase();
    if let Some(i) = name.rfind('/') {
        name = name[i + 1..].to_owned();
    }
    // Bedrock ids: `anthropic.claude-3-haiku-20240307-v1:0`, `us.anthropic.…`.
    if let Some(i) = name.find("anthropic.") {
        name = name[i + "anthropic.".len()..].to_owned();
    }
    if let Some(i) = name.find(['@', ':']) {
        name.truncate(i);
    }
    loop {
        let before = name.len();
        for suffix in ["-latest", "-v1", "-v2"] {
            if let Some(s) = name.strip_suffix(suffix) {
                name.truncate(s.len());
            }
        }
        strip_date(&mut name);
        if name.len() == before {
            return name;
        }
    }
}

/// Strips one trailing `-YYYY-MM-DD` or `-YYYYMMDD`.
fn strip_date(name: &mut String) {
    let b = name.as_bytes();
    let digits = |s: &[u8]| s.iter().all(u8::is_ascii_digit);
    let n = b.len();
    if n > 11 && b[n - 11] == b'-' && b[n - 6] == b'-' && b[n - 3] == b'-' {
        let (y, m, d) = (&b[n - 10..n - 6], &b[n - 5..n - 3], &b[n - 2..]);
        if digits(y) && digits(m) && digits(d) && y.starts_with(b"20") {
            name.truncate(n - 11);
            return;
        }
    }
    if n > 9 && b[n - 9] == b'-' && digits(&b[n - 8..]) && b[n - 8..].starts_with(b"20") {
        name.truncate(n - 9);
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
    fn builtin_table_parses_is_dated_and_names_sources() {
        let t = PriceTable::from_json(BUILTIN_PRICES).expect("built-in prices parse");
        assert!(t.len() >= 30, "{}", t.len());
        assert_eq!(t.as_of().len(), 10);
        assert!(t.sources().iter().any(|s| s.contains("openai.com")));
        assert!(t.sources().iter().any(|s| s.contains("anthropic.com")));
        assert!(t.sources().iter().any(|s| s.contains("ai.google.dev")));
        for m in ["gpt-4o", "claude-sonnet-4-5", "gemini-2.5-pro"] {
            assert!(t.lookup(m).is_some(), "{m}");
        }
    }

    #[test]
    fn model_names_normalise() {
        for (raw, want) in [
            ("gpt-4o-2024-08-06", "gpt-4o"),
            ("GPT-4o-mini-2024-07-18", "gpt-4o-mini"),
            ("claude-3-5-sonnet-20241022", "claude-3-5-sonnet"),
            ("claude-sonnet-4-5-20250929", "claude-sonnet-4-5"),
            ("claude-3-5-haiku-latest", "claude-3-5-haiku"),
            ("anthropic/claude-3-haiku-20240307", "claude-3-haiku"),
            (
                "us.anthropic.claude-3-haiku-20240307-v1:0",
                "claude-3-haiku",
            ),
            ("claude-3-5-sonnet-v2@20241022", "claude-3-5-sonnet"),
            ("models/gemini-2.5-pro", "gemini-2.5-pro"),
            ("openai/o3-mini", "o3-mini"),
            (" gpt-4.1 ", "gpt-4.1"),
        ] {
            assert_eq!(normalize_model(raw), want, "{raw}");
        }
    }

    #[test]
    fn lookup_prefers_exact_then_longest_prefix() {
        let t = PriceTable::builtin();
        assert_eq!(
            t.lookup("gpt-4o-mini-2024-07-18").map(|x| x.0),
            Some("gpt-4o-mini")
        );
        assert_eq!(t.lookup("gpt-4o-2024-08-06").map(|x| x.0), Some("gpt-4o"));
        assert_eq!(
            t.lookup("gemini-2.5-flash-preview-05-20").map(|x| x.0),
            Some("gemini-2.5-flash")
        );
        assert_eq!(
            t.lookup("gpt-4o-audio-preview").map(|x| x.0),
            Some("gpt-4o")
        );
        assert_eq!(t.lookup("gpt-4ox"), None, "a prefix must end at a dash");
        assert_eq!(t.lookup("my-local-llama"), None);
        assert_eq!(t.lookup(""), None);
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

    #[test]
    fn bad_files_name_the_field() {
        let e = PriceTable::from_json(r#"{"as_of": "x", "models": {"m": {"input": 1}}}"#)
            .unwrap_err()
            .to_string();
        assert!(e.contains("models.m") && e.contains("output"), "{e}");
        let e =
            PriceTable::from_json(r#"{"as_of": "x", "models": {"m": {"input": -1, "output": 1}}}"#)
                .unwrap_err()
                .to_string();
        assert!(e.contains("models.m.input"), "{e}");
        let e = PriceTable::load("/nonexistent/prices.json")
            .unwrap_err()
            .to_string();
        assert!(e.contains("/nonexistent/prices.json"), "{e}");
        let e = PriceTable::from_json(r#"{"models": {}}"#)
            .unwrap_err()
            .to_string();
        assert!(e.contains("as_of"), "{e}");
    }
}
