//! The web UI: server-rendered pages on the API's port, with a little vanilla JS and the CSS
//! embedded in the binary (no build step, no external resources).
//!
//! Pages (a contract): `/` (trace list), `/traces/{trace_id}`, `/conversations/{session_id}`,
//! `/agents`, `/escalations`, `/datasets`, `/prompts`. Forms post to `/traces/{id}/scores`,
//! `/escalations/{id}/approve|reject`, `/login` and `/logout`; the trace list polls
//! `/ui/fragments/traces`; assets are under `/ui/assets/`.
//!
//! Keys ([`auth`]): served on a loopback address the UI asks for no key and shows every
//! workspace; otherwise it asks for an API key once and keeps it in a session cookie
//! (`HttpOnly`, `SameSite=Strict`, gone when the browser closes), showing only that key's
//! workspaces.

pub mod auth;
pub mod html;
mod list;
mod manage;
mod pages;
mod trace;
mod waterfall;

pub use auth::{Access, Denied, decide_access, requires_key};

use axum::Router;
use axum::extract::Path;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};

use crate::error::ApiError;
use crate::http::State;
use html::{Esc, Frame, Nav};

/// The UI's routes.
pub fn routes() -> Router<State> {
    Router::new()
        .route("/", get(list::page))
        .route("/ui/fragments/traces", get(list::fragment))
        .route("/traces/{trace_id}", get(trace::page))
        .route("/traces/{trace_id}/scores", post(trace::add_score))
        .route("/conversations/{session_id}", get(pages::conversation))
        .route("/agents", get(pages::agents))
        .route("/escalations", get(manage::escalations))
        .route("/escalations/{id}/{decision}", post(manage::decide))
        .route("/datasets", get(manage::datasets))
        .route("/prompts", get(manage::prompts))
        .route("/login", get(auth::login_page).post(auth::login))
        .route("/logout", post(auth::logout))
        .route("/ui/assets/{file}", get(asset))
}

const CSS: &str = include_str!("../../assets/ui.css");
const JS: &str = include_str!("../../assets/ui.js");

async fn asset(Path(file): Path<String>) -> Response {
    let (body, kind) = match file.as_str() {
        "ui.css" => (CSS, "text/css; charset=utf-8"),
        "ui.js" => (JS, "text/javascript; charset=utf-8"),
        _ => return UiError::NotFound(format!("no asset {file:?}")).into_response(),
    };
    (
        [
            (header::CONTENT_TYPE, kind),
            (header::CACHE_CONTROL, "no-cache"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        body,
    )
        .into_response()
}

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
