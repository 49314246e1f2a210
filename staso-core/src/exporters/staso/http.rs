//! `POST {base_url}/v1/traces/ingest`: headers, acknowledgement check, failure mapping and
//! retries (PROTOCOL.md §3.1, §3.3, §3.4 and decisions 6 and 10).
//!
//! The client is async reqwest driven by a current-thread tokio runtime that this module builds
//! and drops on the worker thread, so the user's runtime (if any) is never used or blocked, and no
//! runtime is ever dropped inside an async context.

use std::task::Poll;
use std::time::Duration;

use bytes::Bytes;
use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderValue};
use serde_json::Value;

use super::TransportOptions;
use crate::delivery::accounting::Failure;
use crate::delivery::http::{self, ClientSettings, api_key_headers, current_thread_runtime};
use crate::report::DeliveryFailureKind;

/// Attempts per batch.
const MAX_ATTEMPTS: usize = 3;
/// A 429's `Retry-After` above this fails the batch instead of sleeping.
const MAX_RETRY_AFTER_SECS: f64 = 60.0;

use staso_wire::{IDEMPOTENCY_KEY_HEADER, INGEST_PATH};

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

/// `Retry-After` as the retry rule sees it.
#[derive(Clone, Copy, Debug, PartialEq)]
enum RetryAfter {
    Absent,
    Seconds(f64),
    /// Present but not a number of seconds (e.g. an HTTP date).
    Unusable,
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
    /// Builds the runtime and the client. Must run on the worker thread. Errors never contain
    /// the api key.
    pub(crate) fn new(
        base_url: &str,
        api_key: &str,
        opts: &TransportOptions,
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
            timeout: opts.request_timeout,
            connect_timeout: Some(opts.request_timeout),
        })
        .map_err(|e| format!("could not build the HTTP client: {}", e.without_url()))?;
        Ok(IngestClient {
            runtime,
            client,
            url,
            retry_delays: opts.retry_delays,
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
        let mut attempts = 0;
        let mut meanwhile = Some(meanwhile);
        loop {
            attempts += 1;
            let (kind, retryable, status, retry_after) =
                match self.attempt(body.clone(), &key, groups, meanwhile.take()) {
                    Attempt::Acked(status) => {
                        return Delivery {
                            failure: None,
                            status: Some(status),
                            attempts,
                        };
                    }
                    Attempt::Failed {
                        kind,
                        retryable,
                        status,
                        retry_after,
                    } => (kind, retryable, status, retry_after),
                };
            let delay = if !retryable || attempts >= MAX_ATTEMPTS {
                None
            } else if kind == DeliveryFailureKind::RateLimited {
                match retry_after {
                    RetryAfter::Seconds(s) if s <= MAX_RETRY_AFTER_SECS => {
                        Some(Duration::from_secs_f64(s))
                    }
                    // Decision 6: no header → the normal backoff.
                    RetryAfter::Absent => Some(self.retry_delays[attempts - 1]),
                    _ => None,
                }
            } else {
                Some(self.retry_delays[attempts - 1])
            };
            match delay {
                Some(d) => {
                    log::info!(
                        "staso: trace delivery retrying ({kind}, attempt {attempts}/{MAX_ATTEMPTS})"
                    );
                    std::thread::sleep(d);
                }
                None => {
                    return Delivery {
                        failure: Some((kind, retryable)),
                        status,
                        attempts,
                    };
                }
            }
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
                let kind = if e.is_timeout() {
                    DeliveryFailureKind::Timeout
                } else {
                    DeliveryFailureKind::NetworkUnavailable
                };
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

/// The failure a status maps to when the response is not a valid acknowledgement (§3.4).
/// Any status below 400 lands here only with a bad acknowledgement (1xx/3xx included: redirects
/// are not followed).
pub(crate) fn failure_for_status(status: u16) -> Failure {
    match status {
        401 => (DeliveryFailureKind::InvalidKey, false),
        402 => (DeliveryFailureKind::PlanExpired, false),
        403 => (DeliveryFailureKind::Forbidden, false),
        429 => (DeliveryFailureKind::RateLimited, true),
        s if s >= 500 => (DeliveryFailureKind::BackendUnavailable, true),
        _ => (DeliveryFailureKind::MalformedResponse, false),
    }
}

/// `Retry-After` as a float number of seconds, negative (and NaN) clamped to 0, like the official
/// SDK's `max(0.0, float(raw))`. An empty header counts as absent.
fn parse_retry_after(headers: &HeaderMap) -> RetryAfter {
    let Some(raw) = headers.get(reqwest::header::RETRY_AFTER) else {
        return RetryAfter::Absent;
    };
    let Ok(text) = raw.to_str() else {
        return RetryAfter::Unusable;
    };
    let text = text.trim();
    if text.is_empty() {
        return RetryAfter::Absent;
    }
    match text.parse::<f64>() {
        Ok(v) if v.is_nan() || v <= 0.0 => RetryAfter::Seconds(0.0),
        Ok(v) => RetryAfter::Seconds(v),
        Err(_) => RetryAfter::Unusable,
    }
}

/// The all-or-nothing acknowledgement of §3.3: a JSON object whose `accepted` is the integer
/// number of trace groups sent, `rejected` and `spans_dropped` the integer 0, and `receipt_id`
/// the request's `Idempotency-Key`. Floats and booleans are not integers.
pub(crate) fn ack_matches(body: &[u8], groups: usize, key: &str) -> bool {
    let Ok(Value::Object(ack)) = serde_json::from_slice::<Value>(body) else {
        return false;
    };
    let integer_is = |field: &str, want: u64| matches!(ack.get(field), Some(Value::Number(n)) if n.is_u64() && n.as_u64() == Some(want));
    integer_is("accepted", groups as u64)
        && integer_is("rejected", 0)
        && integer_is("spans_dropped", 0)
        && matches!(ack.get("receipt_id"), Some(Value::String(r)) if r == key)
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
        let mut attempts = 0;
        loop {
            attempts += 1;
            let (attempt, detail) = self.post_once(url, body.clone());
            let (kind, retryable, status, retry_after) = match attempt {
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
                        "staso: annotation delivery retrying ({kind}, attempt \
                         {attempts}/{MAX_ATTEMPTS})"
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

    /// The sleep before the next attempt, or `None` to give up (the rule of `deliver`).
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
            RetryAfter::Absent => normal,
            _ => None,
        }
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
                let kind = if e.is_timeout() {
                    DeliveryFailureKind::Timeout
                } else {
                    DeliveryFailureKind::NetworkUnavailable
                };
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ack_must_match_exactly() {
        let k = "5b698a89-e0dc-4a77-8756-a2d2d07aa338";
        let ok = format!(r#"{{"accepted":2,"rejected":0,"spans_dropped":0,"receipt_id":"{k}"}}"#);
        assert!(ack_matches(ok.as_bytes(), 2, k));
        assert!(!ack_matches(ok.as_bytes(), 3, k));
        assert!(!ack_matches(ok.as_bytes(), 2, "other"));
        for bad in [
            format!(r#"{{"accepted":2.0,"rejected":0,"spans_dropped":0,"receipt_id":"{k}"}}"#),
            format!(r#"{{"accepted":true,"rejected":0,"spans_dropped":0,"receipt_id":"{k}"}}"#),
            format!(r#"{{"accepted":1,"rejected":0,"spans_dropped":0,"receipt_id":"{k}"}}"#),
            format!(r#"{{"accepted":2,"rejected":1,"spans_dropped":0,"receipt_id":"{k}"}}"#),
            format!(r#"{{"accepted":2,"rejected":0,"receipt_id":"{k}"}}"#),
            format!(r#"{{"accepted":2,"rejected":0,"spans_dropped":0.0,"receipt_id":"{k}"}}"#),
            format!(r#"[{{"accepted":2,"rejected":0,"spans_dropped":0,"receipt_id":"{k}"}}]"#),
            "ok".to_owned(),
            String::new(),
        ] {
            assert!(!ack_matches(bad.as_bytes(), 2, k), "{bad}");
        }
    }

    #[test]
    fn statuses_map_to_kinds() {
        use DeliveryFailureKind as K;
        assert_eq!(failure_for_status(401), (K::InvalidKey, false));
        assert_eq!(failure_for_status(402), (K::PlanExpired, false));
        assert_eq!(failure_for_status(403), (K::Forbidden, false));
        assert_eq!(failure_for_status(429), (K::RateLimited, true));
        assert_eq!(failure_for_status(500), (K::BackendUnavailable, true));
        assert_eq!(failure_for_status(503), (K::BackendUnavailable, true));
        assert_eq!(failure_for_status(404), (K::MalformedResponse, false));
        assert_eq!(failure_for_status(302), (K::MalformedResponse, false));
        assert_eq!(failure_for_status(200), (K::MalformedResponse, false));
    }

    #[test]
    fn retry_after_parses_like_the_official_sdk() {
        let parse = |v: &str| {
            let mut h = HeaderMap::new();
            if let Ok(v) = HeaderValue::from_str(v) {
                h.insert(reqwest::header::RETRY_AFTER, v);
            }
            parse_retry_after(&h)
        };
        assert_eq!(parse_retry_after(&HeaderMap::new()), RetryAfter::Absent);
        assert_eq!(parse("2"), RetryAfter::Seconds(2.0));
        assert_eq!(parse(" 0.25 "), RetryAfter::Seconds(0.25));
        assert_eq!(parse("-3"), RetryAfter::Seconds(0.0));
        assert_eq!(parse("61"), RetryAfter::Seconds(61.0));
        assert_eq!(parse("Wed, 21 Oct 2015 07:28:00 GMT"), RetryAfter::Unusable);
        assert_eq!(parse(""), RetryAfter::Absent);
    }
}
