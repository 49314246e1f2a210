//! The `tracing` bridge (cargo feature `tracing`).
//!
//! **`tracing` → staso.** [`layer()`] is a `tracing_subscriber::Layer`: libraries instrumented
//! with `tracing` (rig's `invoke_agent` / `chat` / `execute_tool` spans with `gen_ai.*` fields,
//! an HTTP client's request spans, …) show up in the staso trace of the agent that called them.
//! A `tracing` span opened while a staso span is current becomes a staso span under it, with
//! its kind and LLM fields read from the OpenTelemetry GenAI fields; warnings and errors logged
//! inside a span are kept on it. `tracing` spans outside any staso span are ignored (a few
//! nanoseconds each; `benches/README.md`). See [`StasoLayer`] for the mapping and the options.
//!
//! ```
//! use tracing_subscriber::layer::SubscriberExt;
//! use tracing_subscriber::util::SubscriberInitExt;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let config = staso::Config::builder().api_key("ak_test").agent_name("demo").capture_git(false).build_with_env(|_| None)?;
//! # let spans = staso::InMemoryExporter::new();
//! # let _staso = staso::init_with_exporter(config, std::sync::Arc::new(spans.clone()))?;
//! // once, at startup (beside your other layers: fmt, OpenTelemetry, …)
//! let _subscriber = tracing_subscriber::registry()
//!     .with(staso::tracing::layer())
//!     .set_default();
//!
//! #[staso::agent]
//! fn answer(question: &str) -> String {
//!     // what a library instrumented with `tracing` does:
//!     let chat = tracing::info_span!(
//!         "chat",
//!         gen_ai.operation.name = "chat",
//!         gen_ai.request.model = "gpt-4o",
//!         gen_ai.usage.input_tokens = tracing::field::Empty,
//!         gen_ai.usage.output_tokens = tracing::field::Empty,
//!     );
//!     chat.in_scope(|| {
//!         tracing::warn!("slow response");
//!         chat.record("gen_ai.usage.input_tokens", 12);
//!         chat.record("gen_ai.usage.output_tokens", 3);
//!     });
//!     format!("the answer to {question}")
//! }
//!
//! answer("why");
//! # staso::flush(std::time::Duration::from_secs(1));
//! let chat = spans.finished().into_iter().find(|s| s.span.name == "chat").ok_or("no chat span")?;
//! assert_eq!(chat.span.kind, "llm");
//! assert_eq!(chat.span.model, "gpt-4o");
//! assert_eq!(chat.span.total_tokens, 15);
//! # Ok(())
//! # }
//! ```
//!
//! **staso → `tracing`.** [`ids()`] gives the current staso span's trace and span ids, to put
//! on `tracing` events so that log lines can be matched with their trace.

mod events;
mod fields;
mod guards;
mod ids;
mod layer;

pub use ids::{StasoIds, ids};
pub use layer::{MAX_EVENTS_LIMIT, StasoLayer, StasoLayerBuilder};

/// The bridge with its default options: events at `WARN` and above kept (32 per span), `tracing`
/// spans outside any staso span ignored. [`StasoLayer::builder`] changes them.
///
/// ```
/// use tracing_subscriber::layer::SubscriberExt;
/// let subscriber = tracing_subscriber::registry().with(staso::tracing::layer());
/// # drop(subscriber);
/// ```
pub fn layer() -> StasoLayer {
    StasoLayer::default()
}
