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

mod names;
mod table;
mod usage;

pub use names::normalize_model;
pub use table::{BUILTIN_PRICES, ModelPrice, PriceError, PriceTable};
pub use usage::{BilledTokens, CostInput, CostSource, SpanCost, Usage};
