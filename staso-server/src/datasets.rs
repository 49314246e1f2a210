//! Datasets API (PROTOCOL.md §7): datasets, columns, entries, folders, curation from traces, and CSV
//! import/export ([`csv_io`]). Datasets carry no workspace on the wire; they are created in the key's
//! home workspace and visible to keys that see it.

pub mod csv_io;
pub mod generate;
mod params;

pub use params::{PageQuery, SPLITS, check_split};

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, Query, State as AxState};
use axum::http::StatusCode;
use axum::routing::{get, patch, post};
use axum::{Json, Router};
use serde_json::{Map, Value, json};
use staso_wire::dataset::{
    ColumnCreate, CurateRequest, DatasetCreate, DatasetUpdate, EntriesBulkCreate, EntriesDelete,
    EntryCreate, EntryUpdate, FolderCreate,
};

use crate::error::ApiError;
use crate::http::{Auth, State, blocking, body_bytes, decode};
use crate::store::datasets::{self as ds, NewEntry};
use crate::store::traces;

/// The dataset routes.
pub fn routes() -> Router<State> {
    Router::new()
        .route("/v1/datasets", get(list).post(create))
        .route(
            "/v1/datasets/folders",
            get(list_folders).post(create_folder),
        )
        .route(
            "/v1/datasets/folders/{folder_id}",
            axum::routing::delete(delete_folder),
        )
        .route(
            "/v1/datasets/{id}",
            get(get_one).patch(update).delete(delete),
        )
        .route("/v1/datasets/{id}/columns", post(add_column))
        .route(
            "/v1/datasets/{id}/entries",
            get(list_entries).post(add_entry).delete(delete_entries),
        )
        .route("/v1/datasets/{id}/entries/bulk", post(add_entries))
        .route("/v1/datasets/{id}/entries/{entry_id}", patch(update_entry))
        .route("/v1/datasets/{id}/curate", post(curate))
        .route("/v1/datasets/{id}/import/csv", post(csv_io::import))
        .route("/v1/datasets/{id}/export/csv", get(csv_io::export))
        .route("/v1/datasets/{id}/generate", post(generate::generate))
}

type Body = Result<Bytes, BytesRejection>;
type JsonResult = Result<Json<Value>, ApiError>;

fn json_of<T: serde::Serialize>(v: &T) -> JsonResult {
    serde_json::to_value(v)
        .map(Json)
        .map_err(|e| ApiError::Internal(e.to_string()))
}

fn non_empty(field: &str, v: &str) -> Result<(), ApiError> {
    if v.trim().is_empty() {
        Err(ApiError::field(field, "must not be empty"))
    } else {
        Ok(())
    }
}

async fn create(
    AxState(state): AxState<State>,
    Auth(scope): Auth,
    body: Body,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let c: DatasetCreate = decode(&body_bytes(body, &state.limits)?, &state.limits)?;
    non_empty("name", &c.name)?;
    let d = blocking(&state, move |s| {
        ds::create_dataset(s, &scope, scope.home(), &c)
    })
    .await?;
    Ok((StatusCode::CREATED, json_of(&d)?))
}

async fn list(
    AxState(state): AxState<State>,
    Auth(scope): Auth,
    Query(q): Query<PageQuery>,
) -> JsonResult {
    let (limit, offset) = q.page()?;
    let list = blocking(&state, move |s| {
        ds::list_datasets(s, &scope, q.folder_id.as_deref(), limit, offset)
    })
    .await?;
    Ok(Json(json!({ "datasets": list })))
}

async fn get_one(
    AxState(state): AxState<State>,
    Auth(scope): Auth,
    Path(id): Path<String>,
) -> JsonResult {
    json_of(&blocking(&state, move |s| ds::get_dataset(s, &scope, &id)).await?)
}

async fn update(
    AxState(state): AxState<State>,
    Auth(scope): Auth,
    Path(id): Path<String>,
    body: Body,
) -> JsonResult {
    let u: DatasetUpdate = decode(&body_bytes(body, &state.limits)?, &state.limits)?;
    if let Some(n) = &u.name {
        non_empty("name", n)?;
    }
    json_of(&blocking(&state, move |s| ds::update_dataset(s, &scope, &id, &u)).await?)
}

async fn delete(
    AxState(state): AxState<State>,
    Auth(scope): Auth,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    blocking(&state, move |s| ds::delete_dataset(s, &scope, &id)).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn add_column(
    AxState(state): AxState<State>,
    Auth(scope): Auth,
    Path(id): Path<String>,
    body: Body,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let c: ColumnCreate = decode(&body_bytes(body, &state.limits)?, &state.limits)?;
    non_empty("name", &c.name)?;
    let col = blocking(&state, move |s| ds::add_column(s, &scope, &id, &c)).await?;
    Ok((StatusCode::CREATED, json_of(&col)?))
}

fn manual(
    data: Map<String, Value>,
    split_id: Option<String>,
    source_type: &'static str,
) -> NewEntry {
    NewEntry {
        data,
        split_id,
        source_type,
        source_trace_id: None,
        source_span_id: None,
    }
}

async fn add_entry(
    AxState(state): AxState<State>,
    Auth(scope): Auth,
    Path(id): Path<String>,
    body: Body,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let e: EntryCreate = decode(&body_bytes(body, &state.limits)?, &state.limits)?;
    let split = check_split(e.split_id)?;
    let mut out = blocking(&state, move |s| {
        ds::add_entries(s, &scope, &id, vec![manual(e.data, split, "manual")])
    })
    .await?;
    let entry = out
        .pop()
        .ok_or_else(|| ApiError::Internal("entry not stored".into()))?;
    Ok((StatusCode::CREATED, json_of(&entry)?))
}

async fn add_entries(
    AxState(state): AxState<State>,
    Auth(scope): Auth,
    Path(id): Path<String>,
    body: Body,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let b: EntriesBulkCreate = decode(&body_bytes(body, &state.limits)?, &state.limits)?;
    let split = check_split(b.split_id)?;
    let entries = b
        .entries
        .into_iter()
        .map(|d| manual(d, split.clone(), "bulk"))
        .collect();
    let out = blocking(&state, move |s| ds::add_entries(s, &scope, &id, entries)).await?;
    Ok((StatusCode::CREATED, json_of(&out)?))
}

async fn list_entries(
    AxState(state): AxState<State>,
    Auth(scope): Auth,
    Path(id): Path<String>,
    Query(q): Query<PageQuery>,
) -> JsonResult {
    let (limit, offset) = q.page()?;
    let split = check_split(q.split_id)?;
    let list = blocking(&state, move |s| {
        ds::list_entries(s, &scope, &id, split.as_deref(), limit, offset)
    })
    .await?;
    Ok(Json(json!({ "entries": list })))
}

async fn update_entry(
    AxState(state): AxState<State>,
    Auth(scope): Auth,
    Path((id, entry_id)): Path<(String, String)>,
    body: Body,
) -> JsonResult {
    let u: EntryUpdate = decode(&body_bytes(body, &state.limits)?, &state.limits)?;
    json_of(
        &blocking(&state, move |s| {
            ds::update_entry(s, &scope, &id, &entry_id, u.data.as_ref())
        })
        .await?,
    )
}

async fn delete_entries(
    AxState(state): AxState<State>,
    Auth(scope): Auth,
    Path(id): Path<String>,
    body: Body,
) -> Result<StatusCode, ApiError> {
    let d: EntriesDelete = decode(&body_bytes(body, &state.limits)?, &state.limits)?;
    blocking(&state, move |s| {
        ds::delete_entries(s, &scope, &id, &d.entry_ids)
    })
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn create_folder(
    AxState(state): AxState<State>,
    Auth(scope): Auth,
    body: Body,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let f: FolderCreate = decode(&body_bytes(body, &state.limits)?, &state.limits)?;
    non_empty("name", &f.name)?;
    let out = blocking(&state, move |s| {
        ds::create_folder(s, scope.home(), &f.name, f.parent_id.as_deref())
    })
    .await?;
    Ok((StatusCode::CREATED, json_of(&out)?))
}

async fn list_folders(
    AxState(state): AxState<State>,
    Auth(scope): Auth,
    Query(q): Query<PageQuery>,
) -> JsonResult {
    let list = blocking(&state, move |s| {
        ds::list_folders(s, &scope, q.parent_id.as_deref())
    })
    .await?;
    Ok(Json(json!({ "folders": list })))
}

async fn delete_folder(
    AxState(state): AxState<State>,
    Auth(scope): Auth,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    blocking(&state, move |s| ds::delete_folder(s, &scope, &id)).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Reads `field` (`input`, `output`, `attributes`, `name`, … then `.key.sub`) from a span.
fn source_value(span: &Value, field: &str) -> Option<Value> {
    let mut parts = field.split('.');
    let mut v = span.get(parts.next()?)?;
    for p in parts {
        v = v.get(p)?;
    }
    Some(v.clone())
}

/// `POST /v1/datasets/{id}/curate`: one entry per trace, filled from its root span.
async fn curate(
    AxState(state): AxState<State>,
    Auth(scope): Auth,
    Path(id): Path<String>,
    body: Body,
) -> JsonResult {
    let req: CurateRequest = decode(&body_bytes(body, &state.limits)?, &state.limits)?;
    let out = blocking(&state, move |s| {
        let mut entries = Vec::new();
        for tid in &req.trace_ids {
            let trace = traces::get(s, &scope, tid)?.ok_or_else(|| {
                crate::store::StoreError::Invalid(format!("trace_ids: trace {tid:?} not found"))
            })?;
            let spans = trace["spans"].as_array().cloned().unwrap_or_default();
            let Some(root) = spans
                .iter()
                .find(|sp| sp["parent_span_id"].is_null())
                .or(spans.first())
            else {
                continue;
            };
            let data = req
                .mappings
                .iter()
                .filter_map(|m| {
                    source_value(root, &m.source_field).map(|v| (m.target_column.clone(), v))
                })
                .collect();
            entries.push(NewEntry {
                data,
                split_id: None,
                source_type: "trace",
                source_trace_id: Some(tid.clone()),
                source_span_id: root["span_id"].as_str().map(str::to_owned),
            });
        }
        ds::add_entries(s, &scope, &id, entries)?;
        ds::get_dataset(s, &scope, &id)
    })
    .await?;
    json_of(&out)
}
