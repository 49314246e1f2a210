//! The UI's error type: an HTML error page with the status, or the way to the key form.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};

use super::html::{self, Esc, Frame, Nav};
use crate::error::ApiError;

/// Why a page could not be shown: an HTML error page, or the way to the key form.
#[derive(Debug, thiserror::Error)]
pub enum UiError {
    /// No (valid) key on a server that asks for one: 303 to `/login?next=…`.
    #[error("an API key is needed")]
    NeedKey {
        /// Where to go back to after logging in.
        next: String,
    },
    /// 400 naming the field.
    #[error("{0}")]
    BadRequest(String),
    /// 403.
    #[error("{0}")]
    Forbidden(String),
    /// 404.
    #[error("{0}")]
    NotFound(String),
    /// 409 (an escalation already decided).
    #[error("{0}")]
    Conflict(String),
    /// 500; the detail is logged, not shown.
    #[error("internal error")]
    Internal(String),
}

/// A form that does not decode: 400 naming what is wrong (axum's message names the field).
pub(super) fn form_error(rejection: axum::extract::rejection::FormRejection) -> UiError {
    UiError::BadRequest(format!("form: {}", rejection.body_text()))
}

impl From<ApiError> for UiError {
    fn from(e: ApiError) -> Self {
        match e {
            ApiError::BadRequest(m) | ApiError::UnsupportedMediaType(m) => UiError::BadRequest(m),
            ApiError::Unauthorized => UiError::NeedKey { next: "/".into() },
            ApiError::Forbidden(m) => UiError::Forbidden(m),
            ApiError::NotFound(m) => UiError::NotFound(m),
            ApiError::Conflict { detail, .. } => UiError::Conflict(detail),
            ApiError::TooLarge(n) => UiError::BadRequest(format!("form larger than {n} bytes")),
            ApiError::Internal(m) => UiError::Internal(m),
        }
    }
}

impl IntoResponse for UiError {
    fn into_response(self) -> Response {
        let status = match &self {
            UiError::NeedKey { next } => {
                return Redirect::to(&format!("/login?next={}", html::url_enc(next)))
                    .into_response();
            }
            UiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            UiError::Forbidden(_) => StatusCode::FORBIDDEN,
            UiError::NotFound(_) => StatusCode::NOT_FOUND,
            UiError::Conflict(_) => StatusCode::CONFLICT,
            UiError::Internal(detail) => {
                log::error!("ui: internal error: {detail}");
                StatusCode::INTERNAL_SERVER_ERROR
            }
        };
        let title = status.canonical_reason().unwrap_or("Error");
        let body = format!(
            "<p class=\"error-msg\">{}</p><p><a href=\"/\">Back to traces</a></p>",
            Esc(&self.to_string())
        );
        let frame = Frame {
            title,
            nav: Nav::None,
            viewer: None,
        };
        (status, html::page(&frame, &body)).into_response()
    }
}
