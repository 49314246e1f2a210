//! The HTTP application: the router, composed from the route modules.
//!
//! The shared request plumbing (state, authentication, body decoding, the blocking helper) lives in
//! the lower `http` module so route modules never import this one; it is re-exported here under
//! its original paths (`staso_server::app::Auth`, …).

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};

use crate::error::ApiError;
use crate::{annotations, datasets, guard, ingest, otlp_ingest, prompts, read, setup};

pub use crate::http::{AppState, Auth, Limits, State, blocking, body_bytes, check_depth, decode};

/// Builds the router with every route of the server.
pub fn router(state: State) -> Router {
    let limit = state.limits.max_body_bytes;
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route(staso_wire::INGEST_PATH, post(ingest::ingest))
        .route(
            "/v1/traces",
            get(read::list_traces).post(otlp_ingest::export),
        )
        .route("/v1/traces/{trace_id}", get(read::get_trace))
        .route(
            "/v1/traces/{trace_id}/annotations",
            get(annotations::list).post(annotations::create),
        )
        .route("/v1/conversations/{session_id}", get(read::conversation))
        .merge(guard::routes())
        .merge(datasets::routes())
        .merge(prompts::routes())
        .merge(crate::ui::routes())
        .route(staso_wire::setup::SETUP_VALIDATE_PATH, get(setup::validate))
        .fallback(|| async { ApiError::NotFound("no such route".to_owned()) })
        .layer(DefaultBodyLimit::max(limit))
        .with_state(state)
}
