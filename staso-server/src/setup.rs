//! `GET /v1/setup/validate` (PROTOCOL.md §9, "CLI setup check"): whether the request's API key
//! can use this server, for which workspace, and what it may do.
//!
//! Also home of [`workspace_for`], the rule of the routes that act in one workspace the caller
//! names by the `workspace_slug` query (the setup check and the prompt routes).

use axum::Json;
use axum::extract::{Query, State as AxState};
use rusqlite::OptionalExtension;
use serde::Deserialize;
use staso_wire::setup::{SetupValidation, capability};

use crate::error::ApiError;
use crate::http::{Auth, State, blocking};
use crate::keys::Scope;

/// What this server can do for any accepted key.
pub const CAPABILITIES: &[&str] = &[
    capability::TRACES_WRITE,
    capability::TRACES_READ,
    "annotations:write",
    capability::GUARD_EVALUATE,
    "datasets:read",
    "datasets:write",
    capability::PROMPTS_READ,
    capability::PROMPTS_WRITE,
];

/// The workspace a request acts in: `requested` (the `workspace_slug` query; empty counts as
/// absent) when the key may use it, else 403; without one, the key's home workspace.
pub fn workspace_for(scope: &Scope, requested: Option<&str>) -> Result<String, ApiError> {
    match requested.filter(|w| !w.is_empty()) {
        None => Ok(scope.home().to_owned()),
        Some(w) if scope.allows(w) => Ok(w.to_owned()),
        Some(w) => Err(ApiError::Forbidden(format!(
            "workspace_slug: this key may not use workspace {w:?}"
        ))),
    }
}

/// Query of `GET /v1/setup/validate`. The CLI's `target` (`claude-code`, `codex`) is accepted
/// and not used, like any other unknown parameter.
#[derive(Debug, Default, Deserialize)]
pub struct ValidateQuery {
    /// The workspace the caller means to use.
    workspace_slug: Option<String>,
}

/// `GET /v1/setup/validate` → 200 [`SetupValidation`]; 401 for an unknown key, 403 for a
/// `workspace_slug` the key may not use.
pub async fn validate(
    AxState(state): AxState<State>,
    Auth(scope): Auth,
    query: Result<Query<ValidateQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<SetupValidation>, ApiError> {
    let Query(q) = query.map_err(|e| ApiError::field("query", e.body_text()))?;
    let workspace = workspace_for(&scope, q.workspace_slug.as_deref())?;
    let ws = workspace.clone();
    // The newest trace's start time: the store keeps no separate ingestion time.
    let last_ingestion_at = blocking(&state, move |s| {
        s.read(|tx| {
            Ok(tx
                .query_row(
                    "SELECT timestamp FROM traces WHERE workspace_slug = ?1 \
                     ORDER BY start_us DESC LIMIT 1",
                    [&ws],
                    |r| r.get::<_, String>(0),
                )
                .optional()?)
        })
    })
    .await?;
    Ok(Json(SetupValidation {
        status: "ok".to_owned(),
        plan_status: "active".to_owned(),
        backend_ready: true,
        guard_available: true,
        capabilities: CAPABILITIES.iter().map(|c| (*c).to_owned()).collect(),
        workspace_slug: workspace,
        last_ingestion_at,
    }))
}
