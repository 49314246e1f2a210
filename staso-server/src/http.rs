//! Request plumbing shared by every route module: the application state and its limits, API-key
//! authentication ([`Auth`]), body reading and JSON decoding, and the helper that runs store work
//! off the async executor.
//!
//! This module sits below the routes: it imports no route module, each route module imports from
//! it, and [`crate::app`] composes the routes into the router on top.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::FromRequestParts;
use axum::extract::rejection::BytesRejection;
use axum::http::StatusCode;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use crate::error::ApiError;
use crate::guard::policy::Policy;
use crate::keys::{KeyRing, Scope};
use crate::pricing::PriceTable;
use crate::store::{Store, StoreResult};

/// Limits applied to every request.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Largest accepted body, bytes (413 above).
    pub max_body_bytes: usize,
    /// Deepest accepted nesting of JSON arrays/objects (400 above).
    pub max_json_depth: usize,
}

/// State shared by every handler.
#[derive(Debug)]
pub struct AppState {
    /// The database.
    pub store: Arc<Store>,
    /// Accepted keys.
    pub keys: KeyRing,
    /// Request limits.
    pub limits: Limits,
    /// Guard policy (`None`: allow everything).
    pub policy: Option<Policy>,
    /// Prices of LLM tokens, for spans that carry no cost of their own.
    pub prices: Arc<PriceTable>,
    /// Whether the web UI asks for an API key (off when served on a loopback address).
    pub ui_requires_key: bool,
}

/// Shared state handle.
pub type State = Arc<AppState>;

/// The scope of the request's `X-API-Key`; 401 without detail when it is missing or unknown.
#[derive(Debug, Clone)]
pub struct Auth(pub Scope);

impl FromRequestParts<State> for Auth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &State) -> Result<Self, ApiError> {
        let key = parts
            .headers
            .get(staso_wire::API_KEY_HEADER)
            .and_then(|v| v.to_str().ok())
            .ok_or(ApiError::Unauthorized)?;
        state
            .keys
            .authenticate(key)
            .map(Auth)
            .ok_or(ApiError::Unauthorized)
    }
}

/// Turns the body extractor's outcome into bytes or a JSON error (413 over the limit).
pub fn body_bytes(body: Result<Bytes, BytesRejection>, limits: &Limits) -> Result<Bytes, ApiError> {
    body.map_err(|rej| {
        if rej.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::TooLarge(limits.max_body_bytes)
        } else {
            ApiError::BadRequest(format!("body: {}", rej.body_text()))
        }
    })
}

/// Decodes a JSON body into `T`, naming the first bad field (as a path) and why.
pub fn decode<T: DeserializeOwned>(bytes: &[u8], limits: &Limits) -> Result<T, ApiError> {
    check_depth(bytes, limits.max_json_depth)?;
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value: T = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let field = if path == "." || path.is_empty() {
            "body".to_owned()
        } else {
            path
        };
        ApiError::field(field, e.into_inner())
    })?;
    de.end()
        .map_err(|e| ApiError::field("body", format!("trailing data: {e}")))?;
    Ok(value)
}

/// Rejects bodies nested deeper than `max` before the parser sees them.
pub fn check_depth(bytes: &[u8], max: usize) -> Result<(), ApiError> {
    let mut depth = 0usize;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'"' => {
                // Skip the string: jump from quote or backslash to the next one (most of an
                // ingest body is string contents).
                i += 1;
                loop {
                    match memchr::memchr2(b'"', b'\\', &bytes[i.min(bytes.len())..]) {
                        None => return Ok(()),
                        Some(at) if bytes[i + at] == b'\\' => i += at + 2,
                        Some(at) => {
                            i += at;
                            break;
                        }
                    }
                }
            }
            b'[' | b'{' => {
                depth += 1;
                if depth > max {
                    return Err(ApiError::field(
                        "body",
                        format!("JSON nested deeper than {max} levels"),
                    ));
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
        i += 1;
    }
    Ok(())
}

/// Runs blocking store work off the async executor.
pub async fn blocking<T, F>(state: &State, f: F) -> Result<T, ApiError>
where
    T: Send + 'static,
    F: FnOnce(&Store) -> StoreResult<T> + Send + 'static,
{
    let store = Arc::clone(&state.store);
    match tokio::task::spawn_blocking(move || f(&store)).await {
        Ok(r) => r.map_err(ApiError::from),
        Err(e) => Err(ApiError::Internal(format!("store task failed: {e}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::check_depth;

    fn deep(body: &str, max: usize) -> bool {
        check_depth(body.as_bytes(), max).is_err()
    }

    #[test]
    fn depth_counts_containers_outside_strings() {
        assert!(!deep(r#"{"a":[1,{"b":[]}]}"#, 4));
        assert!(deep(r#"{"a":[1,{"b":[[]]}]}"#, 4));
        assert!(!deep(r#"[[],[],[]]"#, 2));
        assert!(deep(r#"[[[]]]"#, 2));
    }

    #[test]
    fn brackets_inside_strings_and_escapes_do_not_count() {
        assert!(!deep(r#"{"a":"[[[[{{{{"}"#, 1));
        // An escaped quote does not end the string; an escaped backslash before the quote does.
        assert!(!deep(r#"{"a":"x\"[[[[["}"#, 1));
        assert!(deep(r#"{"a":"x\\",[[[]]]}"#, 2));
        // A string cut off by the end of the body (the parser rejects it) stops the scan.
        assert!(!deep(r#"{"a":"[[[[\"#, 1));
    }
}
