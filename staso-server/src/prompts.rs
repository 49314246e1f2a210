//! Prompt management (`staso_wire::prompt`): `POST /v1/prompts`, `GET /v1/prompts/{name}`,
//! `GET /v1/prompts`. Every route acts in one workspace: the `workspace_slug` query when the key
//! may use it (403 otherwise), else the key's home workspace; a key never sees another
//! workspace's prompts.

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{Path, Query, State as AxState};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use staso_wire::prompt::{DEFAULT_ENVIRONMENT, PROMPTS_PATH, Prompt, PromptCreate, PromptList};

use crate::error::ApiError;
use crate::http::{Auth, State, blocking, body_bytes, decode};
use crate::setup::workspace_for;
use crate::store::prompts::{self as pstore, Selector};

/// The prompt routes.
pub fn routes() -> Router<State> {
    Router::new()
        .route(PROMPTS_PATH, get(list).post(create))
        .route(&format!("{PROMPTS_PATH}/{{name}}"), get(get_one))
}

/// Query parameters of the prompt routes.
#[derive(Debug, Default, Deserialize)]
pub struct PromptQuery {
    workspace_slug: Option<String>,
    environment: Option<String>,
    version: Option<String>,
}

fn query(q: Result<Query<PromptQuery>, QueryRejection>) -> Result<PromptQuery, ApiError> {
    q.map(|Query(q)| q)
        .map_err(|e| ApiError::field("query", e.body_text()))
}

/// `POST /v1/prompts` → 201 with the new version.
pub async fn create(
    AxState(state): AxState<State>,
    Auth(scope): Auth,
    q: Result<Query<PromptQuery>, QueryRejection>,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<Prompt>), ApiError> {
    let workspace = workspace_for(&scope, query(q)?.workspace_slug.as_deref())?;
    let req: PromptCreate = decode(&body_bytes(body, &state.limits)?, &state.limits)?;
    let prompt = blocking(&state, move |s| pstore::create(s, &workspace, &req)).await?;
    Ok((StatusCode::CREATED, Json(prompt)))
}

/// `GET /v1/prompts/{name}?environment=E` (default `production`) or `?version=N`.
pub async fn get_one(
    AxState(state): AxState<State>,
    Auth(scope): Auth,
    Path(name): Path<String>,
    q: Result<Query<PromptQuery>, QueryRejection>,
) -> Result<Json<Prompt>, ApiError> {
    let q = query(q)?;
    let workspace = workspace_for(&scope, q.workspace_slug.as_deref())?;
    pstore::check_name(&name)?;
    let version = match q.version.as_deref() {
        None => None,
        Some(v) => match v.parse::<u32>() {
            Ok(n) if n >= 1 => Some(n),
            _ => return Err(ApiError::field("version", "must be a positive integer")),
        },
    };
    if version.is_some() && q.environment.is_some() {
        return Err(ApiError::field(
            "version",
            "give either version or environment, not both",
        ));
    }
    let environment = q
        .environment
        .unwrap_or_else(|| DEFAULT_ENVIRONMENT.to_owned());
    if version.is_none() {
        pstore::check_environment(&environment)?;
    }
    let prompt = blocking(&state, move |s| {
        let selector = match version {
            Some(v) => Selector::Version(v),
            None => Selector::Environment(&environment),
        };
        pstore::get(s, &workspace, &name, selector)
    })
    .await?;
    Ok(Json(prompt))
}

/// `GET /v1/prompts` → the workspace's prompts by name.
pub async fn list(
    AxState(state): AxState<State>,
    Auth(scope): Auth,
    q: Result<Query<PromptQuery>, QueryRejection>,
) -> Result<Json<PromptList>, ApiError> {
    let workspace = workspace_for(&scope, query(q)?.workspace_slug.as_deref())?;
    let prompts = blocking(&state, move |s| pstore::list(s, &workspace)).await?;
    Ok(Json(PromptList { prompts }))
}
