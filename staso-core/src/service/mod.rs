//! The service-facing calls that answer [`crate::Error`]: the setup check ([`verify`]) and, in
//! `crate::prompts`, prompt management. This module holds their shared HTTP plumbing:
//! where the key, base URL and workspace come from (the global client, nothing else), the
//! request, and how an answer or a failure becomes a value or an [`Error`].
//!
//! One attempt per call, no retry: `verify` reports what it sees, and prompts fall back on their
//! cache instead.

pub(crate) mod verify;

use std::time::Duration;

use reqwest::Url;
use serde::de::DeserializeOwned;

use crate::client::get_client;
use crate::delivery::http::{self, ClientSettings, api_key_headers};
use crate::error::Error;

/// Where a call goes and who it says it is, read from the global client's configuration. Never
/// `Debug`: it holds the API key.
pub(crate) struct Target {
    /// The base URL as configured (no trailing `/`); part of the prompt cache's key.
    pub(crate) base_url: String,
    /// The configured workspace, sent as the `workspace_slug` query.
    pub(crate) workspace: String,
    /// How long a fetched prompt stays fresh.
    pub(crate) prompt_cache_ttl: Duration,
    api_key: String,
}

impl Target {
    /// The global client's API key, base URL and workspace; [`Error::Configuration`] without
    /// `init`, or when the client has no API key (e.g. an OTLP-only configuration).
    pub(crate) fn from_global(what: &str) -> Result<Target, Error> {
        let client = get_client().ok_or_else(|| {
            Error::configuration(format!("staso::init() must be called before {what}"))
        })?;
        let cfg = client.config();
        if cfg.api_key().is_empty() {
            return Err(Error::configuration(format!(
                "{what} needs an API key, and the installed client has none"
            )));
        }
        Ok(Target {
            base_url: cfg.base_url().to_owned(),
            workspace: cfg.workspace_slug().to_owned(),
            prompt_cache_ttl: cfg.prompt_cache_ttl(),
            api_key: cfg.api_key().to_owned(),
        })
    }

    /// A client for one call with `timeout`, and `BASE/<segments…>?workspace_slug=…&<query>`
    /// (segments percent-encoded).
    pub(crate) fn connect(
        &self,
        timeout: Duration,
        segments: &[&str],
        query: &[(&str, &str)],
    ) -> Result<(reqwest::Client, Url), Error> {
        let mut url = Url::parse(&self.base_url)
            .ok()
            .filter(|u| !u.cannot_be_a_base())
            .ok_or_else(|| Error::configuration(format!("invalid base URL {:?}", self.base_url)))?;
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().extend(segments);
        }
        {
            let mut q = url.query_pairs_mut();
            q.append_pair("workspace_slug", &self.workspace);
            for (k, v) in query {
                q.append_pair(k, v);
            }
        }
        let headers = api_key_headers(&self.api_key)
            .map_err(|_| Error::configuration("the API key is not a valid HTTP header value"))?;
        // Built per call, as the dataset API does: pooled connections belong to the runtime that
        // opened them, and the blocking forms run each call on a runtime of its own.
        let client = http::client(ClientSettings {
            headers,
            timeout,
            connect_timeout: None,
        })
        .map_err(|e| Error::configuration(format!("could not build the HTTP client: {e}")))?;
        Ok((client, url))
    }
}

/// Sends `request` and decodes a 2xx JSON answer as `T`. `operation` names the call in errors
/// (`"GET /v1/prompts/greeting"`).
///
/// No answer → [`Error::Api`] with no status; 401/403 → [`Error::Auth`]; any other non-2xx, or
/// a 2xx that does not decode → [`Error::Api`] with the status and the server's own message.
pub(crate) async fn send_json<T: DeserializeOwned>(
    request: reqwest::RequestBuilder,
    operation: &str,
) -> Result<T, Error> {
    let response = request.send().await.map_err(|e| {
        let why = if e.is_timeout() {
            "no answer before the timeout"
        } else {
            "could not reach the service"
        };
        Error::api(None, operation, format!("{why}: {}", error_chain(&e)))
    })?;
    let status = response.status().as_u16();
    let body = response.bytes().await.map_err(|e| {
        Error::api(
            Some(status),
            operation,
            format!("the answer broke off: {}", error_chain(&e)),
        )
    })?;
    if !(200..300).contains(&status) {
        let message = server_message(&body);
        return Err(if matches!(status, 401 | 403) {
            Error::auth(status, operation, message)
        } else {
            Error::api(Some(status), operation, message)
        });
    }
    serde_json::from_slice(&body).map_err(|e| {
        Error::api(
            Some(status),
            operation,
            format!("undecodable answer: {e}: {}", excerpt(&body)),
        )
    })
}

/// The server's explanation: `detail` (or `message`, or `error`) of a JSON error body, else the
/// start of the body.
fn server_message(body: &[u8]) -> String {
    if let Ok(serde_json::Value::Object(map)) = serde_json::from_slice(body) {
        for key in ["detail", "message", "error"] {
            match map.get(key) {
                Some(serde_json::Value::String(s)) if !s.is_empty() => return s.clone(),
                Some(v @ serde_json::Value::Object(_)) => return v.to_string(),
                _ => {}
            }
        }
    }
    if body.is_empty() {
        "empty answer".to_owned()
    } else {
        excerpt(body)
    }
}

/// At most 200 characters of `body`, so an error never carries a whole page.
fn excerpt(body: &[u8]) -> String {
    const MAX: usize = 200;
    let text = String::from_utf8_lossy(body);
    match text.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.into_owned(),
    }
}

/// `e` and its sources: reqwest's own message ("error sending request") hides the cause.
fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}

/// Runs a service call to completion from blocking code (see
/// [`run_blocking`](crate::delivery::http::run_blocking)); a runtime or helper-thread failure is
/// an [`Error::Api`] without status for `operation`.
pub(crate) fn block_on<T, F>(what: &'static str, future: F) -> Result<T, Error>
where
    F: std::future::Future<Output = Result<T, Error>> + Send,
    T: Send,
{
    http::run_blocking(what, future)
        .map_err(|e| Error::api(None, what, e.to_string()))
        .and_then(|r| r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_server_message_is_its_detail_or_an_excerpt() {
        assert_eq!(
            server_message(br#"{"error":"not_found","detail":"prompt \"a\" not found"}"#),
            "prompt \"a\" not found"
        );
        assert_eq!(server_message(br#"{"error":"invalid_key"}"#), "invalid_key");
        assert_eq!(server_message(b""), "empty answer");
        let long = "x".repeat(500);
        assert_eq!(server_message(long.as_bytes()).chars().count(), 201);
    }
}
