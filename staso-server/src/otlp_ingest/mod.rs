//! `POST /v1/traces`: OTLP/HTTP trace ingest (the OTLP specification's "OTLP/HTTP" section).
//!
//! Bodies are protobuf (`application/x-protobuf`) or OTLP JSON (`application/json`), optionally
//! `Content-Encoding: gzip` (inflated up to the body limit). Spans become staso spans
//! ([`mapping`]) and are stored in one transaction. Keys as everywhere (`X-API-Key`, or
//! `Authorization: Bearer <key>` as OTLP exporters send headers); the workspace is the resource's
//! `staso.workspace_slug` when the key may write it, else the key's home workspace
//! ([`Scope::home`]).
//!
//! Answers: 200 with an `ExportTraceServiceResponse` in the request's encoding, with
//! `partial_success` (`rejected_spans`, a message) when some spans were invalid and the others
//! stored; a `google.rpc.Status`-shaped body with 400 (undecodable), 401, 403, 413 (body or
//! inflated body over the limit), 415 (another content type or encoding); nothing is stored on
//! any 4xx.

pub mod decode;
pub mod mapping;

use axum::body::Bytes;
use axum::extract::State as AxState;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTracePartialSuccess, ExportTraceServiceResponse,
};
use prost::Message;

use crate::error::ApiError;
use crate::http::{State, blocking, body_bytes, check_depth};
use crate::keys::Scope;
use crate::store::traces;
use decode::DecodeError;

const PROTOBUF: &str = "application/x-protobuf";
const JSON: &str = "application/json";

/// The body encoding of a request, and so of its answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// `application/x-protobuf`.
    Protobuf,
    /// `application/json` (OTLP JSON).
    Json,
}

/// The handler of `POST /v1/traces`.
pub async fn export(
    AxState(state): AxState<State>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    // Until the content type is known, errors are answered in JSON.
    let enc = encoding(&headers).unwrap_or(Encoding::Json);
    match run(&state, &headers, body).await {
        Ok(resp) => success(enc, resp),
        Err(e) => failure(enc, e),
    }
}

async fn run(
    state: &State,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<ExportTraceServiceResponse, ApiError> {
    let scope = authenticate(state, headers)?;
    let enc = encoding(headers)?;
    let gzip = content_encoding(headers)?;
    let raw = body_bytes(body, &state.limits)?;
    let limits = state.limits;
    let export = if gzip {
        let inflated = decode::gunzip(&raw, limits.max_body_bytes).map_err(decode_error)?;
        drop(raw);
        decode_body(enc, &inflated, limits.max_json_depth)?
    } else {
        decode_body(enc, &raw, limits.max_json_depth)?
    };
    let mapped = mapping::map_export(export, &scope)?;
    let groups = mapped.groups;
    if !groups.is_empty() {
        blocking(state, move |store| traces::store_groups(store, groups)).await?;
    }
    let partial_success = (mapped.rejected > 0).then(|| ExportTracePartialSuccess {
        rejected_spans: i64::try_from(mapped.rejected).unwrap_or(i64::MAX),
        error_message: format!(
            "{} of {} spans rejected: {}",
            mapped.rejected,
            mapped.rejected + mapped.accepted,
            mapped.messages.join("; ")
        ),
    });
    Ok(ExportTraceServiceResponse { partial_success })
}

fn decode_body(enc: Encoding, bytes: &[u8], max_depth: usize) -> Result<decode::Export, ApiError> {
    match enc {
        Encoding::Protobuf => decode::protobuf(bytes),
        Encoding::Json => {
            check_depth(bytes, max_depth)?;
            decode::json::decode(bytes)
        }
    }
    .map_err(decode_error)
}

fn decode_error(e: DecodeError) -> ApiError {
    match e {
        DecodeError::Inflated(n) => ApiError::TooLarge(n),
        other => ApiError::BadRequest(other.to_string()),
    }
}

/// The key of `X-API-Key`, or of `Authorization: Bearer <key>`.
fn authenticate(state: &State, headers: &HeaderMap) -> Result<Scope, ApiError> {
    let key = headers
        .get(staso_wire::API_KEY_HEADER)
        .and_then(|v| v.to_str().ok())
        .or_else(|| {
            let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
            let (scheme, token) = v.split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
        })
        .ok_or(ApiError::Unauthorized)?;
    state.keys.authenticate(key).ok_or(ApiError::Unauthorized)
}

/// 415 unless the media type is protobuf or JSON (parameters allowed, case-insensitive).
fn encoding(headers: &HeaderMap) -> Result<Encoding, ApiError> {
    let media = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(str::trim)
        .unwrap_or_default();
    if media.eq_ignore_ascii_case(PROTOBUF) {
        Ok(Encoding::Protobuf)
    } else if media.eq_ignore_ascii_case(JSON) {
        Ok(Encoding::Json)
    } else {
        Err(ApiError::UnsupportedMediaType(format!(
            "Content-Type: must be {PROTOBUF} or {JSON}, got {media:?}"
        )))
    }
}

/// `true` for gzip; 415 for an encoding other than gzip or identity.
fn content_encoding(headers: &HeaderMap) -> Result<bool, ApiError> {
    match headers
        .get(header::CONTENT_ENCODING)
        .map(HeaderValue::to_str)
    {
        None => Ok(false),
        Some(Ok(v)) if v.trim().eq_ignore_ascii_case("gzip") => Ok(true),
        Some(Ok(v)) if v.trim().eq_ignore_ascii_case("identity") || v.trim().is_empty() => {
            Ok(false)
        }
        Some(v) => Err(ApiError::UnsupportedMediaType(format!(
            "Content-Encoding: must be gzip or identity, got {:?}",
            v.unwrap_or("<not text>")
        ))),
    }
}

fn success(enc: Encoding, resp: ExportTraceServiceResponse) -> Response {
    match enc {
        Encoding::Protobuf => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, PROTOBUF)],
            resp.encode_to_vec(),
        )
            .into_response(),
        Encoding::Json => {
            let body = match resp.partial_success {
                // int64 is a string in OTLP JSON.
                Some(p) => serde_json::json!({ "partialSuccess": {
                    "rejectedSpans": p.rejected_spans.to_string(),
                    "errorMessage": p.error_message,
                }}),
                None => serde_json::json!({}),
            };
            (StatusCode::OK, axum::Json(body)).into_response()
        }
    }
}

/// A `google.rpc.Status`-shaped error body (`code`, `message`; the code a gRPC one) in the
/// request's encoding; the HTTP status as [`ApiError`] answers it.
fn failure(enc: Encoding, e: ApiError) -> Response {
    // gRPC codes: INVALID_ARGUMENT 3, PERMISSION_DENIED 7, RESOURCE_EXHAUSTED 8, INTERNAL 13,
    // UNAUTHENTICATED 16.
    let (code, message) = match &e {
        ApiError::Unauthorized => (16, "missing or unknown API key".to_owned()),
        ApiError::Forbidden(m) => (7, m.clone()),
        ApiError::TooLarge(_) => (8, e.to_string()),
        ApiError::Internal(_) => (13, e.to_string()),
        other => (3, other.to_string()),
    };
    let status = e.into_response().status();
    match enc {
        Encoding::Protobuf => {
            let mut body = Vec::with_capacity(message.len() + 8);
            prost::encoding::int32::encode(1, &code, &mut body);
            prost::encoding::string::encode(2, &message, &mut body);
            (status, [(header::CONTENT_TYPE, PROTOBUF)], body).into_response()
        }
        Encoding::Json => (
            status,
            axum::Json(serde_json::json!({ "code": code, "message": message })),
        )
            .into_response(),
    }
}
