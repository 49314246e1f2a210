//! The setup check (PROTOCOL.md §9, "CLI setup check"): `GET /v1/setup/validate` answers whether
//! an API key can use the service, and what it may do there.

use serde::{Deserialize, Serialize};

/// The setup check's route, relative to the base URL. Query: `workspace_slug` (optional, the
/// workspace the caller means to use) and `target` (optional, the CLI integration asking).
pub const SETUP_VALIDATE_PATH: &str = "/v1/setup/validate";

/// The capabilities a setup answer may list; the service may list others.
pub mod capability {
    /// Ingest traces.
    pub const TRACES_WRITE: &str = "traces:write";
    /// Read traces back.
    pub const TRACES_READ: &str = "traces:read";
    /// Evaluate guard calls.
    pub const GUARD_EVALUATE: &str = "guard:evaluate";
    /// Fetch prompts.
    pub const PROMPTS_READ: &str = "prompts:read";
    /// Create prompt versions.
    pub const PROMPTS_WRITE: &str = "prompts:write";
}

/// `200` answer of `GET /v1/setup/validate`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SetupValidation {
    /// `"ok"` when the key is usable.
    pub status: String,
    /// `"active"` when the workspace's plan allows ingestion.
    pub plan_status: String,
    /// Whether the ingestion backend is up.
    pub backend_ready: bool,
    /// Whether guard evaluation is available.
    pub guard_available: bool,
    /// What the key may do, e.g. `"traces:write"` (see [`capability`]).
    pub capabilities: Vec<String>,
    /// The workspace the answer is about.
    pub workspace_slug: String,
    /// When a trace was last stored for the workspace (RFC 3339), `null` if never.
    pub last_ingestion_at: Option<String>,
}
