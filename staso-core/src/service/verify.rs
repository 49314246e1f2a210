//! [`verify`]: the setup check (PROTOCOL.md §9) — is the configured API key accepted at the
//! configured base URL, and what may it do there.

use std::time::Duration;

use staso_wire::setup::{SETUP_VALIDATE_PATH, SetupValidation, capability};

use super::{Target, block_on, send_json};
use crate::error::Error;

/// The setup check's timeout (§9).
const TIMEOUT: Duration = Duration::from_secs(5);

/// The service's answer to the setup check, as it sent it.
///
/// ```
/// let status = staso_core::SetupStatus {
///     status: "ok".into(),
///     plan_status: "active".into(),
///     backend_ready: true,
///     guard_available: false,
///     capabilities: vec!["traces:write".into()],
///     workspace_slug: "default".into(),
///     last_ingestion_at: None,
/// };
/// assert!(status.is_ready());
/// assert!(!status.is_ready_for_guard());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetupStatus {
    /// `"ok"` when the key is usable.
    pub status: String,
    /// `"active"` when the workspace's plan allows ingestion.
    pub plan_status: String,
    /// Whether the ingestion backend is up.
    pub backend_ready: bool,
    /// Whether guard evaluation is available.
    pub guard_available: bool,
    /// What the key may do: `"traces:write"`, `"guard:evaluate"`, `"prompts:read"`, …
    pub capabilities: Vec<String>,
    /// The workspace the answer is about.
    pub workspace_slug: String,
    /// When a trace was last stored for the workspace (RFC 3339), `None` if never.
    pub last_ingestion_at: Option<String>,
}

impl SetupStatus {
    /// Whether traces can be sent (§9's success rule without guard): status `ok`, plan `active`,
    /// backend ready, and `traces:write` among the capabilities.
    pub fn is_ready(&self) -> bool {
        self.status == "ok"
            && self.plan_status == "active"
            && self.backend_ready
            && self.has_capability(capability::TRACES_WRITE)
    }

    /// [`is_ready`](Self::is_ready), and guard is usable too (the rule when guard is enabled):
    /// guard available and `guard:evaluate` among the capabilities.
    pub fn is_ready_for_guard(&self) -> bool {
        self.is_ready() && self.guard_available && self.has_capability(capability::GUARD_EVALUATE)
    }

    /// Whether `name` is among the capabilities.
    pub fn has_capability(&self, name: &str) -> bool {
        self.capabilities.iter().any(|c| c == name)
    }
}

impl From<SetupValidation> for SetupStatus {
    fn from(v: SetupValidation) -> Self {
        SetupStatus {
            status: v.status,
            plan_status: v.plan_status,
            backend_ready: v.backend_ready,
            guard_available: v.guard_available,
            capabilities: v.capabilities,
            workspace_slug: v.workspace_slug,
            last_ingestion_at: v.last_ingestion_at,
        }
    }
}

/// Checks the global client's API key and base URL: `GET {base}/v1/setup/validate` with the
/// configured workspace, 5 s timeout, one attempt.
///
/// The answer is returned as the service sent it; [`SetupStatus::is_ready`] applies the success
/// rule.
///
/// # Errors
/// [`Error::Configuration`] without [`init`](crate::init) (or without an API key);
/// [`Error::Auth`] when the key is refused (401, or 403 for a workspace it may not use);
/// [`Error::Api`] for any other status, an undecodable answer, or no answer at all (then
/// [`status_code`](Error::status_code) is `None`).
///
/// ```no_run
/// # async fn demo() -> Result<(), staso_core::Error> {
/// let status = staso_core::verify().await?;
/// if !status.is_ready() {
///     eprintln!("staso is reachable but not ready: {status:?}");
/// }
/// # Ok(()) }
/// ```
pub async fn verify() -> Result<SetupStatus, Error> {
    let operation = format!("GET {SETUP_VALIDATE_PATH}");
    let target = Target::from_global("staso::verify")?;
    let (client, url) = target.connect(TIMEOUT, &["v1", "setup", "validate"], &[])?;
    let answer: SetupValidation = send_json(client.get(url), &operation).await?;
    Ok(answer.into())
}

/// Blocking [`verify`], for synchronous programs. Inside a tokio runtime it runs the request on
/// a short-lived helper thread (it never panics there, but blocks that runtime thread meanwhile).
///
/// # Errors
/// As [`verify`].
///
/// ```no_run
/// match staso_core::verify_blocking() {
///     Ok(s) if s.is_ready() => {}
///     Ok(s) => eprintln!("not ready: {s:?}"),
///     Err(e) => eprintln!("setup check failed: {e}"),
/// }
/// ```
pub fn verify_blocking() -> Result<SetupStatus, Error> {
    block_on("verify", verify())
}
