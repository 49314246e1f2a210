//! # staso — observability for AI agents
//!
//! Add `#[staso::agent]`, `#[staso::tool]` and `#[staso::trace]` to your functions and every agent
//! run becomes a trace of spans — inputs, outputs, errors, timings — grouped into conversations and
//! shipped in the background to the Staso service (or the local `staso-server`).
//!
//! ```no_run
//! use staso::SpanKind;
//!
//! #[derive(Debug)]
//! struct PaymentError;
//! impl std::fmt::Display for PaymentError {
//!     fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result { f.write_str("declined") }
//! }
//!
//! #[staso::tool(capture_input = false)]
//! fn charge_card(card_number: &str, amount_cents: u64) -> Result<String, PaymentError> {
//!     Ok(format!("charged {amount_cents}"))
//! }
//!
//! #[staso::tool(skip(api_token))]
//! async fn search_docs(query: &str, api_token: &str, k: usize) -> Vec<String> {
//!     vec![format!("doc about {query}"); k]
//! }
//!
//! #[staso::trace(kind = "retriever", tags = ["rag"], metadata = { "index": "faq-v2", "k": 8 })]
//! async fn retrieve(q: &str) -> Vec<String> {
//!     search_docs(q, "secret", 2).await
//! }
//!
//! #[staso::agent(name = "refund-worker")]
//! async fn handle_refund(order: u64) -> Result<String, PaymentError> {
//!     let docs = retrieve("refund policy").await;
//!     let score = staso::span("score-docs", SpanKind::Chain, |s| {
//!         s.set_metadata("n", docs.len());
//!         docs.len() * 10
//!     });
//!     charge_card("4242", order + score as u64)
//! }
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let _staso = staso::init(staso::Config::builder().api_key("ak_live_123").agent_name("support-bot").build()?)?;
//! let refund = staso::conversation!("conv-42", user_id = "user-alice", async {
//!     handle_refund(7).await
//! })
//! .await;
//! # let _ = refund;
//! # Ok(())
//! # }
//! ```
//!
//! What the attributes record, the capture policy and the wire format follow the official Staso
//! SDK (see `PROTOCOL.md`); `ARCHITECTURE.md` explains how a span travels from a fn to the wire.
//!
//! For builds that must not trace at all, the `off` feature compiles tracing out: the attributes
//! leave each fn as written, `conversation!` is its body, the span API is a set of inlined no-ops
//! and [`init`] returns a disabled client (no thread, no network); the code compiles unchanged.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub use staso_macros::{agent, tool, trace};

pub use staso_core::SpanRecord;
pub use staso_core::config::{Sampling, TailRules, trace_sampled};
pub use staso_core::guard::{
    BlockedTool, DecisionId, EvaluationStatus, GuardAction, GuardBlocked, GuardFailureKind,
    GuardFailureMode, GuardOptions, GuardResult, GuardRuleResult, InvalidDecisionId, guard,
    guard_blocking,
};
pub use staso_core::{Annotation, AnnotationDataType, AnnotationError, AnnotationValue, annotate};
pub use staso_core::{AnnotationReport, DeliveryFailureKind, DeliveryReport, EnqueueResult};
pub use staso_core::{ApiError, AuthError, ConfigurationError, Error, TemplateError};
pub use staso_core::{
    CapturePolicy, Config, ConfigBuilder, ConfigError, Exporter, ExporterConfig, OtlpCompression,
    OtlpProtocol, OtlpSettings, VcsInfo, generate_agent_id, otlp, staso,
};
pub use staso_core::{Client, InitError, flush, get_client, init, init_with_exporter, shutdown};
pub use staso_core::{ContentPolicy, MaskContext, MaskField};
pub use staso_core::{
    Context, ContextGuard, Conversation, FutureExt, WithContext, current_session_id,
    current_span_ids, current_span_ref, current_user_id, spawn,
};
pub use staso_core::{ExportedSpan, InMemoryExporter, SpanExporter, render_trees};
pub use staso_core::{Frame, ParentRef, SpanId};
pub use staso_core::{
    InSpan, LlmCall, Span, SpanName, StatusDescription, TraceId, llm_trace, span, span_async,
    start_trace, start_trace_async, try_span, try_span_async, try_start_trace,
    try_start_trace_async,
};
pub use staso_core::{ParseEnumError, SpanKind, SpanStatus};
pub use staso_core::{SetupStatus, verify, verify_blocking};
/// The ingest wire types (PROTOCOL.md §2–§3), as sent by the SDK and parsed by `staso-server`.
pub use staso_wire::ingest as wire;

/// Prompts kept by the service: fetch (cached), create, fill their `{{variables}}`.
pub use staso_core::prompts;

pub mod propagation;

pub mod integrations;

/// Datasets and local evaluation over them.
pub use staso_core::dataset;
// The dataset types most programs name, also at the top level (the request options, whose names
// only make sense beside the dataset functions, stay in `staso::dataset`).
pub use staso_core::dataset::{
    ColumnType, Dataset, DatasetColumn, DatasetEntry, DatasetErrorKind, DatasetFolder, EvalOptions,
    EvalProgress, EvalResult, EvalSummary, Scorer, SplitType, StasoDatasetError,
};

// Flush and shutdown for async code, and the panic hook for `panic = "abort"` builds.
pub use staso_core::{flush_async, flush_on_panic, shutdown_async};

/// The version of this `staso` crate, as in its `Cargo.toml` (e.g. to report in a health check).
///
/// ```
/// assert!(staso::VERSION.split('.').count() >= 3);
/// ```
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The traits and names most programs want in scope: `use staso::prelude::*;`
/// (brings `.in_current_span()` on futures).
pub mod prelude {
    pub use crate::{FutureExt, Span, SpanKind, SpanStatus};
}

/// Threads that keep the caller's context.
pub mod thread {
    /// Like [`std::thread::spawn`], but the new thread runs under the caller's context: its spans
    /// are children of the current span, in the same conversation.
    pub use staso_core::spawn_thread as spawn;
}

#[doc(hidden)]
pub use staso_core::__private;

mod conversation;

/// The `tracing` bridge: `tracing` spans and events inside staso spans become staso spans and
/// span events ([`tracing::layer()`]); the current staso ids for log lines ([`tracing::ids()`]).
#[cfg(feature = "tracing")]
pub mod tracing;

/// The README's examples, compiled as doctests.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeDoctests;
