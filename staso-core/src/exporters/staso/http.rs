//! `POST {base_url}/v1/traces/ingest` and the annotation requests: headers and retries
//! (PROTOCOL.md §3.1, §3.4 and decisions 6 and 10); what a response means is `response.rs`.
//!
//! The client is async reqwest driven by a current-thread tokio runtime that this module builds
//! and drops on the worker thread, so the user's runtime (if any) is never used or blocked, and no
//! runtime is ever dropped inside an async context.

use std::task::Poll;
use std::time::Duration;

use bytes::Bytes;
use reqwest::header::{CONTENT_TYPE, HeaderValue};
use staso_wire::{IDEMPOTENCY_KEY_HEADER, INGEST_PATH};

use super::response::{RetryAfter, ack_matches, failure_for_status, parse_retry_after};
use crate::delivery::accounting::Failure;
use crate::delivery::http::{
    self, ClientSettings, api_key_headers, current_thread_runtime, transport_failure,
};
use crate::report::DeliveryFailureKind;

/// Attempts per batch.
const MAX_ATTEMPTS: usize = 3;
/// A 429's `Retry-After` above this fails the batch instead of sleeping.
const MAX_RETRY_AFTER_SECS: f64 = 60.0;

/// How a batch ended, for logging.
#[derive(Debug)]
pub(crate) struct Delivery {
    /// `None` when acknowledged.
    pub(crate) failure: Option<Failure>,
    /// The last HTTP status received, if any.
    pub(crate) status: Option<u16>,
    /// Attempts made.
    pub(crate) attempts: usize,
}

impl Delivery {
    /// ` (HTTP 503)` when a status was received, else empty: for log lines.
    pub(crate) fn status_note(&self) -> String {
        self.status
            .map(|s| format!(" (HTTP {s})"))
            .unwrap_or_default()
    }
}

/// The level of a successful delivery's log line: `info` with `debug(true)`, else `debug`.
pub(crate) fn success_level(debug: bool) -> log::Level {
    if debug {
        log::Level::Info
    } else {
        log::Level::Debug
    }
}

/// The outcome of one attempt.
#[derive(Debug)]
enum Attempt {
    Acked(u16),
    Failed {
        kind: DeliveryFailureKind,
        retryable: bool,
        status: Option<u16>,
        retry_after: RetryAfter,
    },
}

/// The worker's HTTP client. Never `Debug`: it holds the api key.
pub(crate) struct IngestClient {
    runtime: tokio::runtime::Runtime,
    client: reqwest::Client,
    url: reqwest::Url,
    retry_delays: [Duration; 2],
}

impl IngestClient {
    /// Builds the runtime and the client, whose attempts time out after `request_timeout` and
    /// are retried after `retry_delays`. Must run on the worker thread. Errors never contain the
    /// api key.
    pub(crate) fn new(
        base_url: &str,
        api_key: &str,
        request_timeout: Duration,
        retry_delays: [Duration; 2],
    ) -> Result<Self, String> {
        let url = reqwest::Url::parse(&format!("{base_url}{INGEST_PATH}"))
            .map_err(|e| format!("invalid base_url: {e}"))?;
        let mut headers = api_key_headers(api_key)
            .map_err(|_| "the api key is not a valid HTTP header value".to_owned())?;
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        let runtime = current_thread_runtime()
            .map_err(|e| format!("could not build the transport runtime: {e}"))?;
        let client = http::client(ClientSettings {
            headers,
            timeout: request_timeout,
            connect_timeout: Some(request_timeout),
        })
        .map_err(|e| format!("could not build the HTTP client: {}", e.without_url()))?;
        Ok(IngestClient {
            runtime,
            client,
            url,
            retry_delays,
        })
    }

    /// Sends one batch body (`groups` trace groups) with up to 3 attempts under one
    /// `Idempotency-Key`. `meanwhile` runs once, on this thread, after the first attempt's request
    /// has been handed to the connection and before its response is read: the worker prepares
    /// its next batch there while the server handles this one.
    pub(crate) fn deliver(
        &self,
        body: Bytes,
        groups: usize,
        meanwhile: &mut dyn FnMut(),
    ) -> Delivery {
        let key = uuid::Uuid::new_v4().to_string();
        let mut meanwhile = Some(meanwhile);
        let attempt = || {
            let attempt = self.attempt(body.clone(), &key, groups, meanwhile.take());
            (attempt, None)
        };
        self.with_retries("trace", attempt).0
    }

    /// Runs `attempt` up to 3 times under the ingest retry rule (§3.4, decision 6); `what` names
    /// the request in the retry log line. Returns the outcome and the detail of the last attempt
    /// when it failed.
    fn with_retries(
        &self,
        what: &str,
        mut attempt: impl FnMut() -> (Attempt, Option<String>),
    ) -> (Delivery, Option<String>) {
        let mut attempts = 0;
        loop {
            attempts += 1;
            let (outcome, detail) = attempt();
            let (kind, retryable, status, retry_after) = match outcome {
                Attempt::Acked(status) => {
                    let done = Delivery {
                        failure: None,
                        status: Some(status),
                        attempts,
                    };
                    return (done, None);
                }
                Attempt::Failed {
                    kind,
                    retryable,
                    status,
                    retry_after,
                } => (kind, retryable, status, retry_after),
            };
            match self.retry_delay(kind, retryable, attempts, retry_after) {
                Some(d) => {
                    log::info!(
                        "staso: {what} delivery retrying ({kind}, attempt {attempts}/{MAX_ATTEMPTS})"
                    );
                    std::thread::sleep(d);
                }
                None => {
                    let failed = Delivery {
                        failure: Some((kind, retryable)),
                        status,
                        attempts,
                    };
                    return (failed, detail);
                }
            }
        }
    }

    /// The sleep before the next attempt, or `None` to give up.
    fn retry_delay(
        &self,
        kind: DeliveryFailureKind,
        retryable: bool,
        attempts: usize,
        retry_after: RetryAfter,
    ) -> Option<Duration> {
        if !retryable || attempts >= MAX_ATTEMPTS {
            return None;
        }
        let normal = self.retry_delays.get(attempts - 1).copied();
        if kind != DeliveryFailureKind::RateLimited {
            return normal;
        }
        match retry_after {
            RetryAfter::Seconds(s) if s <= MAX_RETRY_AFTER_SECS => Some(Duration::from_secs_f64(s)),
            // Decision 6: no header → the normal backoff.
            RetryAfter::Absent => normal,
            _ => None,
        }
    }

    fn attempt(
        &self,
        body: Bytes,
        key: &str,
        groups: usize,
        meanwhile: Option<&mut dyn FnMut()>,
    ) -> Attempt {
        let request = self
            .client
            .post(self.url.clone())
            .header(IDEMPOTENCY_KEY_HEADER, key)
            .body(body);
        let exchange = async move {
            let mut send = std::pin::pin!(request.send());
            if let Some(work) = meanwhile {
                // Poll the request, then yield so the connection task (spawned on this runtime)
                // writes it; only then is the server busy while `work` runs here. Twice, for a
                // connection that is opened first.
                for _ in 0..2 {
                    if let Poll::Ready(done) =
                        std::future::poll_fn(|cx| Poll::Ready(send.as_mut().poll(cx))).await
                    {
                        return finish_exchange(done?).await;
                    }
                    tokio::task::yield_now().await;
                }
                work();
            }
            finish_exchange(send.await?).await
        };
        match self.runtime.block_on(exchange) {
            Err(e) => {
                let kind = transport_failure(&e);
                log::debug!("staso: ingest request failed: {}", error_chain(e));
                Attempt::Failed {
                    kind,
                    retryable: true,
                    status: None,
                    retry_after: RetryAfter::Absent,
                }
            }
            Ok((status, retry_after, body)) => {
                if body.is_some_and(|b| ack_matches(&b, groups, key)) {
                    return Attempt::Acked(status);
                }
                let (kind, retryable) = failure_for_status(status);
                Attempt::Failed {
                    kind,
                    retryable,
                    status: Some(status),
                    retry_after,
                }
            }
        }
    }
}

/// Reads what the ack check needs from a response: status, `Retry-After` and, on 2xx, the body.
async fn finish_exchange(
    response: reqwest::Response,
) -> Result<(u16, RetryAfter, Option<Bytes>), reqwest::Error> {
    let status = response.status().as_u16();
    let retry_after = parse_retry_after(response.headers());
    let body = if (200..300).contains(&status) {
        Some(response.bytes().await?)
    } else {
        None
    };
    Ok((status, retry_after, body))
}

/// An error and its sources on one line, without the URL.
fn error_chain(e: reqwest::Error) -> String {
    let e = e.without_url();
    let mut text = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// Requests other than ingest (annotations, §5): one JSON body, the ingest retry policy, and any
/// 2xx as success (these routes answer with the stored object, not an acknowledgement).
impl IngestClient {
    /// Posts `body` to `url` with up to 3 attempts, sleeping 0.5 s / 1 s between them; 5xx,
    /// timeouts, network errors and 429 (under the `Retry-After` rule of §3.4 and decision 6) are
    /// retried. Returns the outcome and, for a final error status, the first 300 characters of
    /// the response body (for the warning).
    pub(crate) fn post_with_retries(
        &self,
        url: &reqwest::Url,
        body: Bytes,
    ) -> (Delivery, Option<String>) {
        self.with_retries("annotation", || self.post_once(url, body.clone()))
    }

    fn post_once(&self, url: &reqwest::Url, body: Bytes) -> (Attempt, Option<String>) {
        let request = self.client.post(url.clone()).body(body);
        let exchange = async move {
            let response = request.send().await?;
            let status = response.status().as_u16();
            let retry_after = parse_retry_after(response.headers());
            // The body only matters for the warning of a final failure; a 2xx body is not read.
            let detail = if status >= 300 {
                response.text().await.ok()
            } else {
                None
            };
            Ok::<_, reqwest::Error>((status, retry_after, detail))
        };
        match self.runtime.block_on(exchange) {
            Err(e) => {
                let kind = transport_failure(&e);
                let detail = error_chain(e);
                log::debug!("staso: annotation request failed: {detail}");
                let failed = Attempt::Failed {
                    kind,
                    retryable: true,
                    status: None,
                    retry_after: RetryAfter::Absent,
                };
                (failed, Some(detail))
            }
            Ok((status, _, _)) if (200..300).contains(&status) => (Attempt::Acked(status), None),
            Ok((status, retry_after, detail)) => {
                let (kind, retryable) = failure_for_status(status);
                let detail = detail.map(|d| d.chars().take(300).collect());
                let failed = Attempt::Failed {
                    kind,
                    retryable,
                    status: Some(status),
                    retry_after,
                };
                (failed, detail)
            }
        }
    }
}
