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
mod error;
pub mod html;
mod list;
mod manage;
mod pages;
mod trace;
mod waterfall;

pub use auth::{Access, Denied, decide_access, requires_key};
pub use error::UiError;

use axum::Router;
use axum::extract::Path;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

use crate::http::State;

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
