//! `POST` and `GET /v1/traces/{trace_id}/annotations` (PROTOCOL.md §5).
//!
//! Annotations carry no workspace and may arrive before their trace (the SDK annotates open spans),
//! so one is filed under the workspace of its trace (or span) when that is already stored and
//! visible to the key, else under the key's home workspace; a trace or span stored only in
//! workspaces the key does not see is a 404, as reading it would be.

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State as AxState};
use axum::http::StatusCode;
use serde_json::{Value, json};
use staso_wire::annotation::{Annotation, AnnotationRequest};

use crate::error::ApiError;
use crate::http::{Auth, State, blocking, body_bytes, decode};
use crate::store::annotations;
use crate::timefmt;

/// Checks the §5.2 rules: non-empty name, value type matching a known data type.
pub fn check(req: &AnnotationRequest) -> Result<(), ApiError> {
    if req.name.trim().is_empty() {
        return Err(ApiError::field("name", "must not be empty"));
    }
    let ok = match req.data_type.as_str() {
        "boolean" => req.value.is_boolean(),
        "numeric" => req.value.is_number(),
        "categorical" => req.value.is_string(),
        _ => true,
    };
    if !ok {
        return Err(ApiError::field(
            "value",
            format!("does not match data_type {:?}", req.data_type),
        ));
    }
    Ok(())
}

/// `POST /v1/traces/{trace_id}/annotations` → 201 with the stored annotation.
pub async fn create(
    AxState(state): AxState<State>,
    Auth(scope): Auth,
    Path(trace_id): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<Annotation>), ApiError> {
    let bytes = body_bytes(body, &state.limits)?;
    let req: AnnotationRequest = decode(&bytes, &state.limits)?;
    check(&req)?;
    if trace_id.is_empty() || trace_id.len() > 256 {
        return Err(ApiError::field("trace_id", "must be 1 to 256 characters"));
    }
    let annotation = Annotation {
        id: uuid::Uuid::new_v4().to_string(),
        trace_id,
        span_id: req.span_id.filter(|s| !s.is_empty()),
        name: req.name,
        value: req.value,
        data_type: req.data_type,
        comment: req.comment.filter(|s| !s.is_empty()),
        created_at: timefmt::now_rfc3339(),
    };
    let stored = annotation.clone();
    blocking(&state, move |s| {
        let ws =
            annotations::target_workspace(s, &scope, &stored.trace_id, stored.span_id.as_deref())?;
        annotations::insert(s, &ws, &stored)
    })
    .await?;
    Ok((StatusCode::CREATED, Json(annotation)))
}

/// `GET /v1/traces/{trace_id}/annotations` → `{"trace_id", "annotations": [...]}`.
pub async fn list(
    AxState(state): AxState<State>,
    Auth(scope): Auth,
    Path(trace_id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let id = trace_id.clone();
    let list = blocking(&state, move |s| annotations::list(s, &scope, &id)).await?;
    Ok(Json(json!({ "trace_id": trace_id, "annotations": list })))
}
