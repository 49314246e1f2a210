//! Instrumented code as an application writes it — an agent, a guarded tool, an LLM step, manual
//! spans and a conversation — for `tests/off.rs`, which builds it with staso's `off` feature
//! (`cargo test -p staso-off-check --features off`, run by `tests/tests/off_feature.rs`) and checks
//! that it then behaves as plain code and records nothing. Without the feature (the workspace's
//! normal build) it is ordinary instrumented code.
#![forbid(unsafe_code)]

use staso::{GuardBlocked, Span, SpanKind};

/// Why a search failed.
#[derive(Debug, PartialEq, Eq)]
pub enum SearchError {
    /// The guard blocked the call.
    Blocked,
    /// The query was empty.
    EmptyQuery,
    /// No API token.
    Unauthorized,
}

impl std::fmt::Display for SearchError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SearchError::Blocked => f.write_str("blocked by the guard"),
            SearchError::EmptyQuery => f.write_str("empty query"),
            SearchError::Unauthorized => f.write_str("no API token"),
        }
    }
}

impl std::error::Error for SearchError {}

impl From<GuardBlocked> for SearchError {
    fn from(_: GuardBlocked) -> Self {
        SearchError::Blocked
    }
}

/// A guarded tool: in the normal build each call is checked by the guard first.
#[staso::tool(guard, name = "search-docs", tags = ["kb"], skip(api_token))]
pub fn search(query: &str, api_token: &str, k: usize) -> Result<Vec<String>, SearchError> {
    if api_token.is_empty() {
        return Err(SearchError::Unauthorized);
    }
    if query.is_empty() {
        return Err(SearchError::EmptyQuery);
    }
    Ok((0..k).map(|i| format!("{query} #{i}")).collect())
}

/// An LLM step that sets its model through `Span::current()`.
#[staso::trace(kind = "llm", metadata = { "temperature": 0.2 })]
pub async fn complete(prompt: String) -> String {
    Span::current().set_model("gpt-4o-mini");
    Span::current().set_tokens(prompt.len() as u64, 3);
    format!("answer to {prompt}")
}

/// The agent: a guarded search, a manual span and an LLM step; `?` and early returns included.
#[staso::agent(name = "helper", metadata = { "tier": "gold" })]
pub async fn answer(question: &str) -> Result<String, SearchError> {
    let docs = search(question, "secret-token", 2)?;
    if docs.is_empty() {
        return Ok(String::new());
    }
    let n = staso::span("rank", SpanKind::Chain, |s| {
        s.set_metadata("docs", docs.len());
        s.add_tag("ranked");
        docs.len()
    });
    Ok(complete(format!("{question} ({n} docs)")).await)
}
