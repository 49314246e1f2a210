//! CSV import and export of dataset entries.
//!
//! The official SDK 0.5.25 sends its multipart upload under `Content-Type: application/json` with no
//! boundary (PROTOCOL.md §7.3); so the boundary is taken from the header when there is one and
//! otherwise read from the body's first line.

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, Query, State as AxState};
use axum::http::{HeaderMap, header};
use axum::response::IntoResponse;
use serde_json::{Map, Value, json};

use super::params::{PageQuery, check_split};
use crate::error::ApiError;
use crate::http::{Auth, State, blocking, body_bytes};
use crate::store::datasets::{self as ds, NewEntry};

/// Finds the `file` part of a multipart body (or the body itself when it is not multipart).
fn file_part<'a>(headers: &HeaderMap, body: &'a [u8]) -> Result<&'a [u8], ApiError> {
    let declared = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|ct| {
            ct.split(';')
                .find_map(|p| p.trim().strip_prefix("boundary="))
        })
        .map(|b| b.trim_matches('"').to_owned());
    let boundary = match declared {
        Some(b) => b,
        None if body.starts_with(b"--") => {
            let end = body
                .iter()
                .position(|&c| c == b'\r' || c == b'\n')
                .unwrap_or(body.len());
            String::from_utf8_lossy(&body[2..end]).into_owned()
        }
        None => return Ok(body), // a bare CSV body
    };
    let delim = format!("--{boundary}");
    let mut rest = body;
    while let Some(start) = find(rest, delim.as_bytes()) {
        rest = &rest[start + delim.len()..];
        let Some(head_end) = find(rest, b"\r\n\r\n") else {
            break;
        };
        let head = String::from_utf8_lossy(&rest[..head_end]).to_ascii_lowercase();
        let content = &rest[head_end + 4..];
        let end = find(content, format!("\r\n{delim}").as_bytes()).unwrap_or(content.len());
        if head.contains("name=\"file\"") {
            return Ok(&content[..end]);
        }
        rest = &content[end..];
    }
    Err(ApiError::field(
        "file",
        "multipart body has no part named \"file\"",
    ))
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len().max(1)).position(|w| w == needle)
}

/// `POST /v1/datasets/{id}/import/csv[?split_id=]` → `{"imported": n}`; every row becomes an entry
/// whose keys are the header names (values stay strings).
pub async fn import(
    AxState(state): AxState<State>,
    Auth(scope): Auth,
    Path(id): Path<String>,
    Query(q): Query<PageQuery>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, ApiError> {
    let bytes = body_bytes(body, &state.limits)?;
    let split = check_split(q.split_id)?;
    let csv_bytes = file_part(&headers, &bytes)?;
    let mut reader = csv::Reader::from_reader(csv_bytes);
    let names: Vec<String> = reader
        .headers()
        .map_err(|e| ApiError::field("file", format!("CSV header: {e}")))?
        .iter()
        .map(str::to_owned)
        .collect();
    let mut entries = Vec::new();
    for (i, row) in reader.records().enumerate() {
        let row = row.map_err(|e| ApiError::field(format!("file row {}", i + 2), e))?;
        let data: Map<String, Value> = names
            .iter()
            .zip(row.iter())
            .map(|(k, v)| (k.clone(), Value::String(v.to_owned())))
            .collect();
        entries.push(NewEntry {
            data,
            split_id: split.clone(),
            source_type: "csv",
            source_trace_id: None,
            source_span_id: None,
        });
    }
    let n = blocking(&state, move |s| ds::add_entries(s, &scope, &id, entries))
        .await?
        .len();
    Ok(Json(json!({ "imported": n })))
}

/// `GET /v1/datasets/{id}/export/csv[?split_id=]`: columns first, then other keys in first-seen
/// order; strings as-is, other values as JSON.
pub async fn export(
    AxState(state): AxState<State>,
    Auth(scope): Auth,
    Path(id): Path<String>,
    Query(q): Query<PageQuery>,
) -> Result<impl IntoResponse, ApiError> {
    let split = check_split(q.split_id)?;
    let (dataset, entries) = blocking(&state, move |s| {
        Ok((
            ds::get_dataset(s, &scope, &id)?,
            ds::list_entries(s, &scope, &id, split.as_deref(), u32::MAX, 0)?,
        ))
    })
    .await?;
    let mut names: Vec<String> = dataset.columns.iter().map(|c| c.name.clone()).collect();
    for e in &entries {
        for k in e.data.keys() {
            if !names.contains(k) {
                names.push(k.clone());
            }
        }
    }
    let mut w = csv::Writer::from_writer(Vec::new());
    let internal = |e: csv::Error| ApiError::Internal(e.to_string());
    w.write_record(&names).map_err(internal)?;
    for e in &entries {
        let row = names.iter().map(|n| match e.data.get(n) {
            None | Some(Value::Null) => String::new(),
            Some(Value::String(s)) => s.clone(),
            Some(v) => v.to_string(),
        });
        w.write_record(row).map_err(internal)?;
    }
    let bytes = w
        .into_inner()
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    Ok(([(header::CONTENT_TYPE, "text/csv; charset=utf-8")], bytes))
}
