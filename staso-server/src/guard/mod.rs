//! Guard (PROTOCOL.md §6) and escalations (decision 2): `POST /v1/guard/evaluate`,
//! `GET /v1/guard/escalations[?status=]`, `GET /v1/guard/escalations/{id}`, and the people's side,
//! `POST /v1/guard/escalations/{id}/approve|reject`.
//!
//! Responses echo `decision_id` and `decision_source`, so they pass the SDK's strict validation
//! (§6.4). A repeated `decision_id` for the same call returns the first answer; for a different call
//! it is a 409 with `detail.code = "idempotency_conflict"`.

pub mod evaluate;
pub mod policy;

pub use policy::{Mode, Policy, PolicyError, RuleAction};

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, Query, State as AxState};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};
use staso_wire::guard::{EscalationDecision, EscalationStatus, GuardEvaluateRequest};

use crate::error::ApiError;
use crate::http::{Auth, State, blocking, body_bytes, decode};
use crate::store::guard::{self as gstore, NewEscalation, StoredDecision};

/// Decision sources the SDK may send (§6.1).
pub const DECISION_SOURCES: [&str; 7] = [
    "manual",
    "openai",
    "anthropic",
    "litellm",
    "sdk",
    "claude-code",
    "codex",
];

/// The guard routes.
pub fn routes() -> Router<State> {
    Router::new()
        .route("/v1/guard/evaluate", post(evaluate_handler))
        .route("/v1/guard/escalations", get(list_escalations))
        .route("/v1/guard/escalations/{id}", get(get_escalation))
        .route("/v1/guard/escalations/{id}/approve", post(approve))
        .route("/v1/guard/escalations/{id}/reject", post(reject))
}

fn check_request(req: &GuardEvaluateRequest) -> Result<(), ApiError> {
    if req.tool_name.is_empty() {
        return Err(ApiError::field("tool_name", "must not be empty"));
    }
    if uuid::Uuid::parse_str(&req.decision_id).is_err() {
        return Err(ApiError::field("decision_id", "must be a UUID"));
    }
    if !DECISION_SOURCES.contains(&req.decision_source.as_str()) {
        return Err(ApiError::field(
            "decision_source",
            format!("must be one of {}", DECISION_SOURCES.join(", ")),
        ));
    }
    if let Some(m) = &req.failure_mode
        && m != "fail_open"
        && m != "fail_closed"
    {
        return Err(ApiError::field(
            "failure_mode",
            "must be fail_open or fail_closed",
        ));
    }
    Ok(())
}

async fn evaluate_handler(
    AxState(state): AxState<State>,
    Auth(scope): Auth,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, ApiError> {
    let bytes = body_bytes(body, &state.limits)?;
    let req: GuardEvaluateRequest = decode(&bytes, &state.limits)?;
    check_request(&req)?;
    let workspace = match req.context.get("workspace_id") {
        Some(Value::String(w)) if !w.is_empty() => w.clone(),
        _ => scope.home().to_owned(),
    };
    if !scope.allows(&workspace) {
        return Err(ApiError::Forbidden(format!(
            "context.workspace_id: this key may not use workspace {workspace:?}"
        )));
    }
    // What makes two requests "the same call" for decision-id idempotency.
    let canonical = json!({
        "tool_name": req.tool_name,
        "decision_source": req.decision_source,
        "tool_input": req.tool_input,
    })
    .to_string();
    let decision_id = req.decision_id.to_ascii_lowercase();
    let did = decision_id.clone();
    if let Some(earlier) = blocking(&state, move |s| gstore::find_decision(s, &did)).await? {
        if earlier.request == canonical && earlier.workspace_slug == workspace {
            return Ok(Json(earlier.response));
        }
        return Err(ApiError::Conflict {
            code: "idempotency_conflict",
            detail: "decision_id was already used for a different call".to_owned(),
        });
    }
    let verdict = evaluate::evaluate(state.policy.as_ref(), &req);
    let mut response = verdict.response;
    let escalation = verdict.escalation.map(|(rule_name, reason)| NewEscalation {
        id: uuid::Uuid::new_v4().to_string(),
        tool_name: req.tool_name.clone(),
        tool_input: Value::Object(req.tool_input.clone()),
        rule_name,
        reason,
    });
    response.escalation_id = escalation.as_ref().map(|e| e.id.clone());
    let stored = StoredDecision {
        workspace_slug: workspace,
        request: canonical,
        response: serde_json::to_value(&response).map_err(|e| ApiError::Internal(e.to_string()))?,
    };
    let answer = blocking(&state, move |s| {
        gstore::save_decision(s, &decision_id, &stored, escalation.as_ref())
    })
    .await?;
    Ok(Json(answer))
}

#[derive(Debug, Deserialize)]
struct StatusQuery {
    status: Option<String>,
}

async fn list_escalations(
    AxState(state): AxState<State>,
    Auth(scope): Auth,
    Query(q): Query<StatusQuery>,
) -> Result<Json<Value>, ApiError> {
    let list = blocking(&state, move |s| {
        gstore::list_escalations(s, &scope, q.status.as_deref())
    })
    .await?;
    Ok(Json(json!({ "escalations": list })))
}

async fn get_escalation(
    AxState(state): AxState<State>,
    Auth(scope): Auth,
    Path(id): Path<String>,
) -> Result<Json<EscalationStatus>, ApiError> {
    let row = blocking(&state, move |s| gstore::get_escalation(s, &scope, &id)).await?;
    Ok(Json(row.status_body()))
}

async fn decide(
    state: State,
    scope: crate::keys::Scope,
    id: String,
    approve: bool,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<EscalationStatus>, ApiError> {
    let bytes = body_bytes(body, &state.limits)?;
    let d: EscalationDecision = if bytes.iter().all(u8::is_ascii_whitespace) {
        EscalationDecision::default()
    } else {
        decode(&bytes, &state.limits)?
    };
    let row = blocking(&state, move |s| gstore::decide(s, &scope, &id, approve, &d)).await?;
    Ok(Json(row.status_body()))
}

async fn approve(
    AxState(state): AxState<State>,
    Auth(scope): Auth,
    Path(id): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<EscalationStatus>, ApiError> {
    decide(state, scope, id, true, body).await
}

async fn reject(
    AxState(state): AxState<State>,
    Auth(scope): Auth,
    Path(id): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<EscalationStatus>, ApiError> {
    decide(state, scope, id, false, body).await
}
