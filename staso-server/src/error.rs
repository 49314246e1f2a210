//! HTTP errors: every failure answers a JSON body `{"error": <code>, "detail": <why>}` with no
//! secret and no captured payload in it.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// An error answered to an HTTP client.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400: the body or a parameter is invalid; the message names the field and why.
    #[error("{0}")]
    BadRequest(String),
    /// 401: missing or unknown API key (no detail, by design).
    #[error("unauthorized")]
    Unauthorized,
    /// 403: the key may not touch this workspace.
    #[error("{0}")]
    Forbidden(String),
    /// 404: no such resource visible to this key.
    #[error("{0}")]
    NotFound(String),
    /// 409: conflicts with an earlier request; `code` is a machine-readable kind.
    #[error("{detail}")]
    Conflict {
        /// Machine-readable kind, e.g. `idempotency_conflict`.
        code: &'static str,
        /// Human-readable detail.
        detail: String,
    },
    /// 415: the body's `Content-Type` is not one the route reads; the message names the expected one.
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// 413: the body is larger than the configured limit.
    #[error("request body exceeds {0} bytes")]
    TooLarge(usize),
    /// 500: storage failed; the detail is logged, not sent.
    #[error("internal error")]
    Internal(String),
}

impl ApiError {
    /// Shorthand for a 400 naming `field`.
    pub fn field(field: impl std::fmt::Display, why: impl std::fmt::Display) -> Self {
        ApiError::BadRequest(format!("{field}: {why}"))
    }
}

impl From<crate::store::StoreError> for ApiError {
    fn from(e: crate::store::StoreError) -> Self {
        match e {
            crate::store::StoreError::NotFound(what) => ApiError::NotFound(what),
            crate::store::StoreError::Invalid(why) => ApiError::BadRequest(why),
            crate::store::StoreError::Conflict(detail) => ApiError::Conflict {
                code: "conflict",
                detail,
            },
            crate::store::StoreError::IdempotencyConflict(detail) => ApiError::Conflict {
                code: "idempotency_conflict",
                detail,
            },
            other => ApiError::Internal(other.to_string()),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = match &self {
            ApiError::BadRequest(_) => (StatusCode::BAD_REQUEST, "invalid_request"),
            ApiError::Unauthorized => (StatusCode::UNAUTHORIZED, "invalid_key"),
            ApiError::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden"),
            ApiError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            ApiError::Conflict { code, .. } => (StatusCode::CONFLICT, *code),
            ApiError::UnsupportedMediaType(_) => {
                (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type")
            }
            ApiError::TooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"),
            ApiError::Internal(detail) => {
                log::error!("internal error: {detail}");
                (StatusCode::INTERNAL_SERVER_ERROR, "backend_unavailable")
            }
        };
        let body = match &self {
            ApiError::Unauthorized => json!({ "error": code }),
            ApiError::Conflict { code, detail } => {
                json!({ "error": code, "detail": { "code": code, "message": detail } })
            }
            ApiError::Internal(_) => json!({ "error": code, "detail": "internal error" }),
            other => json!({ "error": code, "detail": other.to_string() }),
        };
        (status, axum::Json(body)).into_response()
    }
}
