//! `POST {traces_url}` per the OTLP/HTTP specification: 429/502/503/504 and network failures are
//! retried with exponential backoff (and `Retry-After` when the receiver sends one), every other
//! 4xx/5xx fails the batch at once, and a 200 may still report a partial success.
//!
//! Like the Staso transport, the client is async reqwest (built by `delivery/http.rs`) on a
//! current-thread runtime that lives and dies on the worker thread.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use reqwest::header::{CONTENT_ENCODING, CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};

use super::encode::{content_type, partial_success};
use crate::config::{OtlpCompression, OtlpConfig, OtlpProtocol};
use crate::delivery::accounting::Failure;
use crate::delivery::http::{self, ClientSettings, current_thread_runtime, transport_failure};
use crate::report::DeliveryFailureKind as K;

/// How one batch ended.
#[derive(Debug)]
pub(crate) struct Sent {
    /// `None` when the receiver accepted the request.
    pub(crate) failure: Option<Failure>,
    /// Spans the receiver rejected in a partial success, with its message.
    pub(crate) rejected: Option<(u64, String)>,
    /// The last HTTP status.
    pub(crate) status: Option<u16>,
    pub(crate) attempts: u32,
}

enum Attempt {
    Done {
        status: u16,
        body: Vec<u8>,
    },
    Failed {
        failure: Failure,
        status: Option<u16>,
        retry_after: Option<Duration>,
    },
}

/// The worker's HTTP client. Not `Debug`: its headers may carry credentials.
pub(crate) struct OtlpClient {
    runtime: tokio::runtime::Runtime,
    client: reqwest::Client,
    url: reqwest::Url,
    json: bool,
    /// First backoff (doubled per attempt, with jitter).
    initial_backoff: Duration,
    /// Backoff cap.
    max_backoff: Duration,
}

impl OtlpClient {
    /// Builds the runtime and the client, backing off from `initial_backoff` up to
    /// `max_backoff` between attempts; must run on the worker thread. Errors never contain
    /// header values.
    pub(crate) fn new(
        cfg: &OtlpConfig,
        initial_backoff: Duration,
        max_backoff: Duration,
    ) -> Result<Self, String> {
        let url = reqwest::Url::parse(&cfg.traces_url)
            .map_err(|e| format!("invalid OTLP endpoint: {e}"))?;
        let mut headers = HeaderMap::new();
        for (k, v) in &cfg.headers {
            let name = HeaderName::from_bytes(k.as_bytes())
                .map_err(|_| format!("OTLP header name {k:?} is not a valid HTTP header name"))?;
            let mut value = HeaderValue::from_str(v)
                .map_err(|_| format!("OTLP header {k:?} has a value that is not valid in HTTP"))?;
            value.set_sensitive(true);
            headers.insert(name, value);
        }
        headers.insert(
            CONTENT_TYPE,
            HeaderValue::from_static(content_type(cfg.protocol)),
        );
        if cfg.compression == OtlpCompression::Gzip {
            headers.insert(CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        }
        let runtime = current_thread_runtime()
            .map_err(|e| format!("could not build the OTLP runtime: {e}"))?;
        let client = http::client(ClientSettings {
            headers,
            timeout: cfg.timeout,
            connect_timeout: Some(cfg.timeout),
        })
        .map_err(|e| format!("could not build the OTLP HTTP client: {}", e.without_url()))?;
        Ok(OtlpClient {
            runtime,
            client,
            url,
            json: cfg.protocol == OtlpProtocol::HttpJson,
            initial_backoff,
            max_backoff,
        })
    }

    /// Sends one body, retrying retryable failures until `retry_budget` is spent (a zero budget
    /// means one attempt).
    pub(crate) fn send(&self, body: bytes::Bytes, retry_budget: Duration) -> Sent {
        let started = Instant::now();
        let mut attempts = 0u32;
        loop {
            attempts += 1;
            let (failure, status, retry_after) = match self.attempt(body.clone()) {
                Attempt::Done { status, body } => {
                    let rejected = partial_success(&body, self.json)
                        .map(|(n, msg)| (u64::try_from(n).unwrap_or(0), msg));
                    return Sent {
                        failure: None,
                        rejected,
                        status: Some(status),
                        attempts,
                    };
                }
                Attempt::Failed {
                    failure,
                    status,
                    retry_after,
                } => (failure, status, retry_after),
            };
            let fail = Sent {
                failure: Some(failure),
                rejected: None,
                status,
                attempts,
            };
            if !failure.1 {
                return fail;
            }
            let backoff = self.backoff(attempts);
            let delay = retry_after.unwrap_or(backoff);
            if started.elapsed() + delay > retry_budget {
                return fail;
            }
            std::thread::sleep(delay);
        }
    }

    /// `initial × 2^(n-1)`, capped, with up to 50 % jitter down so clients that failed together
    /// do not retry together.
    fn backoff(&self, attempt: u32) -> Duration {
        let exp = self
            .initial_backoff
            .saturating_mul(1u32 << attempt.saturating_sub(1).min(16));
        exp.min(self.max_backoff)
            .mul_f64(0.5 + fastrand::f64() * 0.5)
    }

    fn attempt(&self, body: bytes::Bytes) -> Attempt {
        let result = self.runtime.block_on(async {
            // Built inside the runtime: the request's timeout needs its timer.
            let response = self.client.post(self.url.clone()).body(body).send().await?;
            let status = response.status();
            let retry_after = retry_after(response.headers());
            let bytes = response.bytes().await.unwrap_or_default();
            Ok::<_, reqwest::Error>((status, retry_after, bytes))
        });
        match result {
            Ok((status, retry_after, body)) => classify(status, retry_after, body.to_vec()),
            Err(e) => Attempt::Failed {
                failure: (transport_failure(&e), true),
                status: None,
                retry_after: None,
            },
        }
    }
}

/// Retry rules of the OTLP/HTTP specification.
fn classify(status: StatusCode, retry_after: Option<Duration>, body: Vec<u8>) -> Attempt {
    let code = status.as_u16();
    if status.is_success() {
        return Attempt::Done { status: code, body };
    }
    let failure = match code {
        429 => (K::RateLimited, true),
        502..=504 => (K::BackendUnavailable, true),
        401 => (K::InvalidKey, false),
        403 => (K::Forbidden, false),
        500..=599 => (K::BackendUnavailable, false),
        _ => (K::MalformedResponse, false),
    };
    Attempt::Failed {
        failure,
        status: Some(code),
        retry_after: retry_after.filter(|_| failure.1),
    }
}

/// `Retry-After` in seconds (an HTTP date falls back to the backoff).
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let v = headers.get(reqwest::header::RETRY_AFTER)?.to_str().ok()?;
    let secs: f64 = v.trim().parse().ok()?;
    (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(code: u16) -> Option<Failure> {
        let status = StatusCode::from_u16(code).ok()?;
        match classify(status, None, Vec::new()) {
            Attempt::Done { .. } => None,
            Attempt::Failed { failure, .. } => Some(failure),
        }
    }

    #[test]
    fn only_the_spec_statuses_are_retried() {
        for code in [429, 502, 503, 504] {
            assert!(kind(code).is_some_and(|f| f.1), "{code}");
        }
        for code in [400, 401, 403, 404, 413, 500, 501] {
            assert!(kind(code).is_some_and(|f| !f.1), "{code}");
        }
        assert_eq!(kind(200), None);
        assert_eq!(kind(400), Some((K::MalformedResponse, false)));
    }
}
