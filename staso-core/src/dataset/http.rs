//! HTTP for the dataset API (PROTOCOL.md §7.1): where the key and base URL come from, headers,
//! the generic retry rule, and the helper that runs a dataset call to completion from blocking
//! code.

use std::future::Future;
use std::time::Duration;

use reqwest::header::{CONTENT_TYPE, HeaderMap, RETRY_AFTER};
use reqwest::{Method, Url};
use serde_json::Value;

use super::error::{DatasetErrorKind, StasoDatasetError};
use crate::client::get_client;
use crate::delivery::http::{self, ClientSettings, api_key_headers};

/// Attempts of the generic request rule.
const MAX_ATTEMPTS: usize = 3;
/// Sleep before attempts 2 and 3 when the server gives no usable `Retry-After`.
const BACKOFF: [Duration; 2] = [Duration::from_millis(500), Duration::from_secs(1)];
/// Per-request timeout.
const TIMEOUT: Duration = Duration::from_secs(30);
/// The default service address (as `Config`'s).
const DEFAULT_BASE_URL: &str = "https://api.staso.ai";

/// A dataset API client for one call (or one evaluation). Never `Debug`: it holds the API key.
///
/// Built per call rather than cached: a reqwest client's pooled connections belong to the runtime
/// that opened them, and the blocking functions use a short-lived runtime each.
pub(crate) struct DatasetHttp {
    client: reqwest::Client,
    base: Url,
}

/// Which features rewrite a 404 into "not available on this backend" (§7.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Feature {
    /// Any route that answers 404 as a plain error.
    Plain,
    /// The folder routes.
    Folders,
    /// `generate`.
    Generation,
}

impl DatasetHttp {
    /// Uses the global client's API key and base URL when a client with a key is installed, else
    /// `STASO_API_KEY` and `STASO_BASE_URL` (default `https://api.staso.ai`).
    pub(crate) fn from_environment() -> Result<Self, StasoDatasetError> {
        let from_client = get_client().and_then(|c| {
            let cfg = c.config();
            (!cfg.api_key().is_empty())
                .then(|| (cfg.base_url().to_owned(), cfg.api_key().to_owned()))
        });
        let (base, key) = match from_client {
            Some(pair) => pair,
            None => {
                let var = |n: &str| std::env::var(n).ok().filter(|v| !v.trim().is_empty());
                let key = var("STASO_API_KEY").ok_or_else(|| {
                    StasoDatasetError::new(
                        DatasetErrorKind::NotConfigured,
                        "staso::init() must be called (or STASO_API_KEY set) before using staso::dataset",
                    )
                })?;
                let base = var("STASO_BASE_URL").unwrap_or_else(|| DEFAULT_BASE_URL.to_owned());
                (base, key)
            }
        };
        Self::new(&base, &key)
    }

    /// A client for `base_url` with `api_key`. Errors never contain the key.
    pub(crate) fn new(base_url: &str, api_key: &str) -> Result<Self, StasoDatasetError> {
        let config_err = |m: String| StasoDatasetError::new(DatasetErrorKind::NotConfigured, m);
        let base = Url::parse(base_url.trim_end_matches('/'))
            .map_err(|e| config_err(format!("invalid base URL {base_url:?}: {e}")))?;
        if base.cannot_be_a_base() {
            return Err(config_err(format!("invalid base URL {base_url:?}")));
        }
        let headers = api_key_headers(api_key)
            .map_err(|_| config_err("the API key is not a valid HTTP header value".to_owned()))?;
        let client = http::client(ClientSettings {
            headers,
            timeout: TIMEOUT,
            connect_timeout: None,
        })
        .map_err(|e| config_err(format!("could not build the HTTP client: {e}")))?;
        Ok(DatasetHttp { client, base })
    }

    /// `BASE/v1/datasets/<segments…>?<query>`; segments are percent-encoded.
    pub(crate) fn url(&self, segments: &[&str], query: &[(&str, String)]) -> Url {
        let mut url = self.base.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty()
                .extend(["v1", "datasets"])
                .extend(segments);
        }
        if !query.is_empty() {
            let mut q = url.query_pairs_mut();
            for (k, v) in query {
                q.append_pair(k, v);
            }
        }
        url
    }

    pub(crate) fn request(&self, method: Method, url: Url) -> reqwest::RequestBuilder {
        self.client.request(method, url)
    }

    /// The generic request rule: up to 3 attempts, retrying 429, ≥ 500 and network errors.
    /// Returns the JSON body, or `None` for a 204 or an empty body.
    pub(crate) async fn call(
        &self,
        method: Method,
        segments: &[&str],
        query: &[(&str, String)],
        body: Option<&Value>,
        feature: Feature,
    ) -> Result<Option<Value>, StasoDatasetError> {
        let url = self.url(segments, query);
        let bytes =
            match body {
                Some(b) => Some(serde_json::to_vec(b).map_err(|e| {
                    StasoDatasetError::invalid_argument(format!("request body: {e}"))
                })?),
                None => None,
            };
        let mut attempt = 0;
        loop {
            attempt += 1;
            let mut req = self
                .request(method.clone(), url.clone())
                .header(CONTENT_TYPE, "application/json");
            if let Some(b) = &bytes {
                req = req.body(b.clone());
            }
            let delay = match req.send().await {
                Ok(resp) => {
                    let status = resp.status().as_u16();
                    let retry_after = retry_after(resp.headers());
                    let text = resp.text().await.unwrap_or_default();
                    if status < 400 {
                        return parse_body(status, &text);
                    }
                    let retryable = status >= 500 || status == 429;
                    if !retryable || attempt >= MAX_ATTEMPTS {
                        return Err(http_error(status, text, feature));
                    }
                    retry_after.unwrap_or(BACKOFF[attempt - 1])
                }
                Err(e) => {
                    if attempt >= MAX_ATTEMPTS {
                        return Err(StasoDatasetError::new(
                            DatasetErrorKind::Network,
                            format!("Network error: {}", error_chain(&e)),
                        ));
                    }
                    BACKOFF[attempt - 1]
                }
            };
            log::info!(
                "staso: dataset request {method} {} retrying (attempt {attempt}/{MAX_ATTEMPTS})",
                url.path()
            );
            tokio::time::sleep(delay).await;
        }
    }
}

fn parse_body(status: u16, text: &str) -> Result<Option<Value>, StasoDatasetError> {
    if status == 204 || text.trim().is_empty() {
        return Ok(None);
    }
    serde_json::from_str(text)
        .map(Some)
        .map_err(|e| StasoDatasetError::invalid_response("dataset API", e, text))
}

fn http_error(status: u16, body: String, feature: Feature) -> StasoDatasetError {
    let unavailable = match feature {
        _ if status != 404 => None,
        Feature::Plain => None,
        Feature::Folders => Some("Dataset folders"),
        Feature::Generation => Some("Synthetic generation"),
    };
    let message = match unavailable {
        Some(what) => format!(
            "{what} is not available on this Staso backend yet (HTTP 404). The SDK client ships \
             ahead of the server for this feature."
        ),
        None => format!("Dataset API error: {status}"),
    };
    StasoDatasetError::http(message, status, body)
}

/// `Retry-After` as float seconds (§7.1: no cap). A negative, non-finite or non-numeric value
/// falls back to the normal backoff (the official SDK raises an unrelated error on a negative one).
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let secs: f64 = headers
        .get(RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()?;
    Duration::try_from_secs_f64(secs).ok()
}

/// The error and its sources, joined (reqwest's own message is often just "error sending
/// request"). Holds the URL, never a header.
pub(crate) fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
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

/// Runs a dataset future to completion from blocking code (see [`http::run_blocking`]): on this
/// thread outside a tokio runtime, on a short-lived helper thread inside one.
pub(crate) fn run_blocking<F>(future: F) -> Result<F::Output, StasoDatasetError>
where
    F: Future + Send,
    F::Output: Send,
{
    http::run_blocking("dataset", future)
        .map_err(|e| StasoDatasetError::new(DatasetErrorKind::Network, e.to_string()))
}
