//! HTTP of the guard: `POST /v1/guard/evaluate` (PROTOCOL.md §6.2, §6.4) and the escalation poll
//! of decision 2 (`GET /v1/guard/escalations/{id}`). No retries; every failure becomes a
//! [`GuardFailureKind`].

use std::future::Future;
use std::time::Duration;

use reqwest::header::CONTENT_TYPE;
use reqwest::{Client, Url};
use serde_json::{Map, Value};

use super::response::http_failure;
use super::types::GuardFailureKind;
use crate::delivery::http::{self, ClientSettings, api_key_headers};
use staso_wire::guard::escalation_status;

/// A failed exchange: the kind, and a reason replacing the kind's standard one.
pub(crate) type Failure = (GuardFailureKind, Option<&'static str>);

/// The guard API client of one call. Never `Debug`: it holds the API key.
///
/// Built per call: pooled connections belong to the runtime that opened them, and the blocking
/// form runs each call on a runtime of its own.
pub(crate) struct GuardHttp {
    client: Client,
    base: Url,
}

impl GuardHttp {
    /// A client for `base_url` whose requests time out after `timeout`. Errors never hold the key.
    pub(crate) fn new(base_url: &str, api_key: &str, timeout: Duration) -> Result<Self, Failure> {
        let base = Url::parse(base_url.trim_end_matches('/'))
            .ok()
            .filter(|u| !u.cannot_be_a_base())
            .ok_or_else(|| {
                log::warn!("staso: guard base URL {base_url:?} is not a valid URL");
                (GuardFailureKind::NetworkUnavailable, None)
            })?;
        let headers = api_key_headers(api_key).map_err(|_| (GuardFailureKind::InvalidKey, None))?;
        // Redirects are not followed: one is answered as "other 4xx" (the official SDK cannot
        // follow one on POST).
        let client = http::client(ClientSettings {
            headers,
            timeout,
            connect_timeout: None,
        })
        .map_err(|e| {
            log::warn!("staso: could not build the guard HTTP client: {e}");
            (GuardFailureKind::NetworkUnavailable, None)
        })?;
        Ok(GuardHttp { client, base })
    }

    fn url(&self, segments: &[&str]) -> Url {
        let mut url = self.base.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().extend(["v1", "guard"]).extend(segments);
        }
        url
    }

    /// Sends a request and returns the 2xx body; other answers and transport errors map to
    /// failure kinds (§6.4 table).
    async fn exchange(&self, req: reqwest::RequestBuilder) -> Result<Vec<u8>, Failure> {
        let resp = req.send().await.map_err(|e| {
            log::debug!("staso: guard request failed: {}", error_chain(&e));
            (GuardFailureKind::NetworkUnavailable, None)
        })?;
        let status = resp.status().as_u16();
        let body = resp
            .bytes()
            .await
            .map_err(|_| (GuardFailureKind::NetworkUnavailable, None))?;
        if (200..300).contains(&status) {
            Ok(body.to_vec())
        } else {
            Err(http_failure(status, &body))
        }
    }

    /// `POST /v1/guard/evaluate` with an already serialized body.
    pub(crate) async fn evaluate(&self, body: Vec<u8>) -> Result<Vec<u8>, Failure> {
        let req = self
            .client
            .post(self.url(&["evaluate"]))
            .header(CONTENT_TYPE, "application/json")
            .body(body);
        self.exchange(req).await
    }

    /// `GET /v1/guard/escalations/{id}`, validated.
    pub(crate) async fn escalation(&self, id: &str) -> Result<Escalation, Failure> {
        let body = self
            .exchange(self.client.get(self.url(&["escalations", id])))
            .await?;
        parse_escalation(&body).ok_or((GuardFailureKind::MalformedResponse, None))
    }
}

/// The error and its sources (reqwest's own text is often just "error sending request"). Holds
/// the URL, never a header.
fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

/// A polled escalation.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Escalation {
    /// Nobody decided yet.
    Pending,
    /// Approved, possibly with a new input.
    Approved {
        reason: Option<String>,
        decided_by: Option<String>,
        modified_input: Option<Map<String, Value>>,
    },
    /// Rejected.
    Rejected {
        reason: Option<String>,
        decided_by: Option<String>,
    },
}

fn parse_escalation(body: &[u8]) -> Option<Escalation> {
    let v: Value = serde_json::from_slice(body).ok()?;
    let m = v.as_object()?;
    let text = |k: &str| -> Option<Option<String>> {
        match m.get(k) {
            None | Some(Value::Null) => Some(None),
            Some(Value::String(s)) => Some(Some(s.clone())),
            Some(_) => None,
        }
    };
    let reason = text("reason")?;
    let decided_by = text("decided_by")?;
    Some(match m.get("status")?.as_str()? {
        escalation_status::PENDING => Escalation::Pending,
        escalation_status::APPROVED => Escalation::Approved {
            reason,
            decided_by,
            modified_input: match m.get("modified_input") {
                None | Some(Value::Null) => None,
                Some(Value::Object(o)) => Some(o.clone()),
                Some(_) => return None,
            },
        },
        escalation_status::REJECTED => Escalation::Rejected { reason, decided_by },
        _ => return None,
    })
}

/// Runs a guard future to completion from blocking code (see [`http::run_blocking`]): on this
/// thread outside a tokio runtime, on a short-lived helper thread inside one. `None`, with a
/// warning, when no runtime or thread could be started, or the helper panicked.
pub(crate) fn run_blocking<F>(future: F) -> Option<F::Output>
where
    F: Future + Send,
    F::Output: Send,
{
    http::run_blocking("guard", future)
        .inspect_err(|e| log::warn!("staso: {e}"))
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escalation_bodies() {
        assert_eq!(
            parse_escalation(br#"{"escalation_id":"e","status":"pending"}"#),
            Some(Escalation::Pending)
        );
        assert_eq!(
            parse_escalation(br#"{"status":"rejected","reason":"no","decided_by":null}"#),
            Some(Escalation::Rejected {
                reason: Some("no".into()),
                decided_by: None
            })
        );
        assert!(parse_escalation(br#"{"status":"approved","modified_input":[1]}"#).is_none());
        assert!(parse_escalation(br#"{"status":"maybe"}"#).is_none());
        assert!(parse_escalation(b"nope").is_none());
    }
}
