//! `POST /v1/traces/ingest` (PROTOCOL.md §3): the whole body is validated before anything is stored,
//! then written in one transaction; the ack echoes the Idempotency-Key, and a repeated key with the
//! same body returns the first ack without storing anything again (another body under that key is a
//! 409). The body must be declared `application/json` (415 otherwise), as every SDK sends it.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State as AxState;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, header};
use staso_wire::ingest::{IngestAck, IngestRequest, WireSpan};

use crate::error::ApiError;
use crate::http::{Auth, State, blocking, body_bytes, decode};
use crate::keys::Scope;
use crate::store::receipts;
use crate::store::traces::{self, CheckedGroup, CheckedSpan};
use crate::timefmt;

mod strict;

use strict::{SpanSlot, StrictGroup, StrictRequest};

/// Span kinds of PROTOCOL.md §2.1.
pub const KINDS: [&str; 6] = ["llm", "tool", "chain", "retriever", "agent", "custom"];
/// Span statuses of PROTOCOL.md §2.1.
pub const STATUSES: [&str; 3] = ["ok", "error", "timeout"];
/// Longest accepted id, slug or key.
const MAX_ID_LEN: usize = 256;

/// The ingest handler.
pub async fn ingest(
    AxState(state): AxState<State>,
    Auth(scope): Auth,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<IngestAck>, ApiError> {
    check_content_type(&headers)?;
    let bytes = body_bytes(body, &state.limits)?;
    let idempotency_key = match headers.get(staso_wire::IDEMPOTENCY_KEY_HEADER) {
        None => uuid::Uuid::new_v4().to_string(),
        Some(v) => {
            let s = v
                .to_str()
                .map_err(|_| ApiError::field("Idempotency-Key", "must be visible ASCII"))?;
            if s.is_empty() || s.len() > MAX_ID_LEN {
                return Err(ApiError::field(
                    "Idempotency-Key",
                    format!("must be 1 to {MAX_ID_LEN} characters"),
                ));
            }
            s.to_owned()
        }
    };
    let request = decode_request(&bytes, &state.limits)?;
    // The spans are checked where they were decoded: no second copy of the payload.
    let groups = check_groups(request, &scope)?;
    let label = scope.label();
    let ack = blocking(&state, move |store| {
        // Hashed off the executor: a full-size body takes tens of milliseconds. The raw body is not
        // needed after that.
        let body_hash = receipts::body_hash(&bytes);
        drop(bytes);
        traces::ingest(store, &label, &idempotency_key, &body_hash, groups)
    })
    .await?;
    Ok(Json(ack))
}

/// Decodes the body with plain `serde_json` (the fast path); only an invalid body is decoded again
/// through [`decode`], which tracks the path of every field to name the bad one (about twice the
/// cost, so not paid for good bodies).
///
/// A body with no key but the request's own ([`strict`]) is decoded once and needs no depth pass
/// (it cannot nest deeper than [`strict::MAX_DEPTH`]); any other goes the general way: the depth
/// pass, then the wire types.
fn decode_request(bytes: &[u8], limits: &crate::http::Limits) -> Result<StrictRequest, ApiError> {
    // UTF-8 checked once for the whole body, then decoded as text: `serde_json` does not check
    // it again string by string (≈ 5 % of the route's CPU).
    let text = std::str::from_utf8(bytes).ok();
    if limits.max_json_depth >= strict::MAX_DEPTH
        && let Some(request) = text.and_then(|t| serde_json::from_str::<StrictRequest>(t).ok())
    {
        return Ok(request);
    }
    crate::http::check_depth(bytes, limits.max_json_depth)?;
    let fast = text.and_then(|t| serde_json::from_str(t).ok());
    match fast {
        Some(request) => Ok(slots(request)),
        None => decode(bytes, limits).map(slots),
    }
}

/// The request's groups with each span in the place its check fills in.
fn slots(req: IngestRequest) -> StrictRequest {
    StrictRequest {
        traces: req
            .traces
            .into_iter()
            .map(|g| StrictGroup {
                trace_id: g.trace_id,
                timestamp: g.timestamp,
                environment: g.environment,
                workspace_slug: g.workspace_slug,
                spans: g
                    .spans
                    .into_iter()
                    .map(|span| SpanSlot(CheckedSpan { span, start_us: 0 }))
                    .collect(),
            })
            .collect(),
    }
}

/// 415 unless `Content-Type` is `application/json` (any parameter, e.g. `; charset=utf-8`, allowed;
/// the media type compared case-insensitively, as RFC 9110 §8.3.1 says).
pub fn check_content_type(headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(value) = headers.get(header::CONTENT_TYPE) else {
        return Err(ApiError::UnsupportedMediaType(
            "Content-Type: missing, must be application/json".to_owned(),
        ));
    };
    let media_type = value
        .to_str()
        .ok()
        .and_then(|v| v.split(';').next())
        .map(str::trim);
    match media_type {
        Some(t) if t.eq_ignore_ascii_case("application/json") => Ok(()),
        _ => Err(ApiError::UnsupportedMediaType(
            "Content-Type: must be application/json".to_owned(),
        )),
    }
}

/// Validates every group and span; the first problem is returned as a 400 naming its field
/// (or a 403 for a workspace outside the key's scope). A field's path is only formatted for the
/// error (formatting it for every span of a good body cost as much as checking it).
pub fn check_request(req: IngestRequest, scope: &Scope) -> Result<Vec<CheckedGroup>, ApiError> {
    check_groups(slots(req), scope)
}

/// [`check_request`] of a decoded body, each span checked in place.
fn check_groups(req: StrictRequest, scope: &Scope) -> Result<Vec<CheckedGroup>, ApiError> {
    req.traces
        .into_iter()
        .enumerate()
        .map(|(i, g)| check_group(g, i, scope))
        .collect()
}

/// Why an id is not accepted, if it is not: empty, or too long.
fn check_id(v: &str) -> Result<(), String> {
    if v.is_empty() {
        return Err("must not be empty".to_owned());
    }
    check_len(v)
}

/// Why a value is too long, if it is.
fn check_len(v: &str) -> Result<(), String> {
    if v.len() > MAX_ID_LEN {
        return Err(format!("longer than {MAX_ID_LEN} bytes"));
    }
    Ok(())
}

fn check_group(mut g: StrictGroup, i: usize, scope: &Scope) -> Result<CheckedGroup, ApiError> {
    let at = |field: &str| format!("traces[{i}].{field}");
    check_id(&g.trace_id).map_err(|why| ApiError::field(at("trace_id"), why))?;
    check_len(&g.environment).map_err(|why| ApiError::field(at("environment"), why))?;
    check_len(&g.workspace_slug).map_err(|why| ApiError::field(at("workspace_slug"), why))?;
    if !g.timestamp.is_empty() && timefmt::parse_micros(&g.timestamp).is_none() {
        return Err(ApiError::field(
            at("timestamp"),
            "not an RFC 3339 timestamp",
        ));
    }
    if !scope.allows(&g.workspace_slug) {
        return Err(ApiError::Forbidden(format!(
            "{}: this key may not write workspace {:?}",
            at("workspace_slug"),
            g.workspace_slug
        )));
    }
    if g.spans.is_empty() {
        return Err(ApiError::field(at("spans"), "must not be empty"));
    }
    for (j, slot) in g.spans.iter_mut().enumerate() {
        slot.0.start_us = check_span(&slot.0.span, &|field| {
            format!("traces[{i}].spans[{j}].{field}")
        })?;
    }
    Ok(CheckedGroup {
        trace_id: g.trace_id,
        environment: g.environment,
        workspace_slug: g.workspace_slug,
        // Same size and alignment: collected in place.
        spans: g.spans.into_iter().map(|slot| slot.0).collect(),
    })
}

/// The span's start time, if every field is valid; `at` names a field of this span (its path in
/// the body), for the error only.
fn check_span(s: &WireSpan, at: &dyn Fn(&str) -> String) -> Result<i64, ApiError> {
    check_id(&s.span_id).map_err(|why| ApiError::field(at("span_id"), why))?;
    if let Some(p) = &s.parent_span_id {
        check_len(p).map_err(|why| ApiError::field(at("parent_span_id"), why))?;
    }
    if !KINDS.contains(&s.kind.as_str()) {
        return Err(ApiError::field(
            at("kind"),
            format!("must be one of {}", KINDS.join(", ")),
        ));
    }
    if !STATUSES.contains(&s.status.as_str()) {
        return Err(ApiError::field(
            at("status"),
            format!("must be one of {}", STATUSES.join(", ")),
        ));
    }
    let start_us = timefmt::parse_micros(&s.timestamp)
        .ok_or_else(|| ApiError::field(at("timestamp"), "not an RFC 3339 timestamp"))?;
    if !s.duration_ms.is_finite() || s.duration_ms < 0.0 || s.duration_ms > 1e12 {
        return Err(ApiError::field(
            at("duration_ms"),
            "must be a finite number between 0 and 1e12",
        ));
    }
    for (name, n) in [
        ("input_tokens", s.input_tokens),
        ("output_tokens", s.output_tokens),
        ("total_tokens", s.total_tokens),
    ] {
        if i64::try_from(n).is_err() {
            return Err(ApiError::field(at(name), "too large"));
        }
    }
    Ok(start_us)
}
