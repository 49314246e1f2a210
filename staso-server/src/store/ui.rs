//! Read-only queries behind the web UI and the costs of the read API and CLI: the trace list with
//! the UI's extra filters (user, name search), token and cost totals per trace, conversation
//! turns, per-agent statistics over a window, and every prompt version.
//!
//! Costs are computed here at read time from the spans' tokens and the price table, so a span's
//! own `cost_usd` is kept and a new table reprices what is stored.

mod agents;
mod prompts;
mod traces;
mod usage;

pub use agents::{AgentStats, agent_stats, percentile};
pub use prompts::{PromptVersionRow, prompt_versions};
pub use traces::{TraceRow, Turn, UiTraceFilter, conversation_turns, list_traces};
pub use usage::{UsageTotals, trace_usage};
