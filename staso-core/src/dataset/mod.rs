//! Datasets (PROTOCOL.md §7) and local evaluation over them (§8.1).
//!
//! Every operation is an `async fn` (it needs a tokio runtime with I/O and time enabled, as
//! reqwest does); [`blocking`] has the same functions for synchronous code. The API key and base
//! URL come from the global client ([`init`](crate::init)) when one with a key is
//! installed, else from `STASO_API_KEY` and `STASO_BASE_URL`.
//!
//! Parameters the official SDK takes as keywords are an options struct with `Default` (or an
//! `Option` where there is only one), so a call names only what it changes:
//!
//! ```no_run
//! use staso_core::dataset::{self, ColumnType, CreateOptions, DatasetColumn, SplitType};
//! use serde_json::json;
//!
//! # async fn demo() -> Result<(), dataset::StasoDatasetError> {
//! let ds = dataset::create("qa", CreateOptions {
//!     description: "questions".into(),
//!     columns: vec![DatasetColumn::new("question").column_type(ColumnType::Input)],
//!     ..Default::default()
//! })
//! .await?;
//! dataset::add_entries(&ds.id, [json!({"question": "2+2?", "answer": "4"})], Some(SplitType::Test))
//!     .await?;
//! let page = dataset::list_entries(&ds.id, Default::default()).await?;
//! # let _ = page;
//! # Ok(())
//! # }
//! ```
//!
//! Requests follow §7.1: `X-API-Key`, `User-Agent: staso-rust/<version>`, a 30 s timeout, and up
//! to 3 attempts for 429, ≥ 500 and network errors (honouring `Retry-After`); the CSV calls make
//! one attempt.
//!
//! With the cargo feature `progress` (off by default), `EvalOptions::progress_bar` draws a
//! one-line progress bar of an evaluation on stderr.

pub mod blocking;
mod csv;
mod decode;
mod entries;
mod error;
mod eval_run;
mod eval_types;
mod evaluate;
mod http;
#[cfg(feature = "progress")]
mod progress;
mod types;

use reqwest::Method;
use serde_json::{Value, json};

pub use csv::{download_csv, upload_csv};
pub use entries::{add_entries, add_entry, delete_entry, list_entries, update_entry};
use entries::{add_entries_maps, add_entry_map, entries_of, update_entry_map};
pub use error::{DatasetErrorKind, StasoDatasetError};
pub use eval_types::{EvalOptions, EvalProgress, EvalResult, EvalSummary, Scorer};
pub use evaluate::{AsyncEval, EvalFn, SyncEval, evaluate};
pub use types::{
    AddEntryOptions, ColumnType, CreateOptions, Dataset, DatasetColumn, DatasetEntry,
    DatasetFolder, FromTracesOptions, GenerateOptions, ListEntriesOptions, ListOptions, SplitType,
    TraceColumnMapping, UpdateOptions,
};

use http::{DatasetHttp, Feature};
use staso_wire::dataset as wire_api;

use decode::{Result, many, object_of, one, split_query};

/// Creates a dataset (template `custom`), then adds `options.columns` one request each and
/// re-reads it.
pub async fn create(name: &str, options: CreateOptions) -> Result<Dataset> {
    create_with(&DatasetHttp::from_environment()?, name, options).await
}

async fn create_with(http: &DatasetHttp, name: &str, options: CreateOptions) -> Result<Dataset> {
    let mut body = json!({"name": name, "template": "custom", "description": options.description});
    if let Some(f) = options.folder_id.filter(|f| !f.is_empty()) {
        body["folder_id"] = Value::String(f);
    }
    let created = http
        .call(Method::POST, &[], &[], Some(&body), Feature::Plain)
        .await?;
    let dataset: Dataset = one::<wire_api::Dataset, _>(created, "dataset")?;
    if options.columns.is_empty() {
        return Ok(dataset);
    }
    for c in &options.columns {
        // The column's `required` flag is not sent (§9.1 item 3).
        let col =
            json!({"name": c.name, "column_type": c.column_type, "description": c.description});
        http.call(
            Method::POST,
            &[&dataset.id, "columns"],
            &[],
            Some(&col),
            Feature::Plain,
        )
        .await?;
    }
    get_with(http, &dataset.id).await
}

/// Reads a dataset.
pub async fn get(dataset_id: &str) -> Result<Dataset> {
    get_with(&DatasetHttp::from_environment()?, dataset_id).await
}

async fn get_with(http: &DatasetHttp, dataset_id: &str) -> Result<Dataset> {
    let v = http
        .call(Method::GET, &[dataset_id], &[], None, Feature::Plain)
        .await?;
    one::<wire_api::Dataset, _>(v, "dataset")
}

/// Lists one page of datasets (no automatic pagination).
pub async fn list(options: ListOptions) -> Result<Vec<Dataset>> {
    let http = DatasetHttp::from_environment()?;
    let mut query = vec![
        ("limit", options.limit.to_string()),
        ("offset", options.offset.to_string()),
    ];
    if let Some(f) = options.folder_id.filter(|f| !f.is_empty()) {
        query.push(("folder_id", f));
    }
    let v = http
        .call(Method::GET, &[], &query, None, Feature::Plain)
        .await?;
    many::<wire_api::Dataset, _>(v, "datasets")
}

/// Changes the name and/or description (only the fields set are sent).
pub async fn update(dataset_id: &str, options: UpdateOptions) -> Result<Dataset> {
    let http = DatasetHttp::from_environment()?;
    let body = serde_json::to_value(wire_api::DatasetUpdate {
        name: options.name,
        description: options.description,
    })
    .map_err(|e| StasoDatasetError::invalid_argument(e.to_string()))?;
    let v = http
        .call(
            Method::PATCH,
            &[dataset_id],
            &[],
            Some(&body),
            Feature::Plain,
        )
        .await?;
    one::<wire_api::Dataset, _>(v, "dataset")
}

/// Deletes a dataset and its entries.
pub async fn delete(dataset_id: &str) -> Result<()> {
    let http = DatasetHttp::from_environment()?;
    http.call(Method::DELETE, &[dataset_id], &[], None, Feature::Plain)
        .await
        .map(drop)
}

/// Creates a dataset from traces: one entry per trace, filled from its root span through
/// `options.mapping`. Without a mapping or without trace ids the dataset is created empty.
pub async fn from_traces<I>(name: &str, trace_ids: I, options: FromTracesOptions) -> Result<Dataset>
where
    I: IntoIterator,
    I::Item: Into<String>,
{
    let ids: Vec<String> = trace_ids.into_iter().map(Into::into).collect();
    from_traces_ids(name, ids, options).await
}

async fn from_traces_ids(
    name: &str,
    trace_ids: Vec<String>,
    options: FromTracesOptions,
) -> Result<Dataset> {
    let http = DatasetHttp::from_environment()?;
    let create = CreateOptions {
        description: options.description,
        ..CreateOptions::default()
    };
    let dataset = create_with(&http, name, create).await?;
    if options.mapping.is_empty() || trace_ids.is_empty() {
        return Ok(dataset);
    }
    let body = serde_json::to_value(wire_api::CurateRequest {
        trace_ids,
        mappings: options
            .mapping
            .into_iter()
            .map(|m| wire_api::CurateMapping {
                source_field: m.source,
                target_column: m.target,
            })
            .collect(),
    })
    .map_err(|e| StasoDatasetError::invalid_argument(e.to_string()))?;
    http.call(
        Method::POST,
        &[&dataset.id, "curate"],
        &[],
        Some(&body),
        Feature::Plain,
    )
    .await?;
    get_with(&http, &dataset.id).await
}

/// Asks the server to generate `options.count` synthetic entries. A server without a generator
/// answers an error, surfaced as is (a 404 reads "Synthetic generation is not available …").
pub async fn generate(dataset_id: &str, options: GenerateOptions) -> Result<Vec<DatasetEntry>> {
    let http = DatasetHttp::from_environment()?;
    let body = serde_json::to_value(wire_api::DatasetGenerate {
        count: options.count,
        instructions: options.prompt.filter(|p| !p.is_empty()),
        seed_entry_ids: options.seed_entry_ids,
    })
    .map_err(|e| StasoDatasetError::invalid_argument(e.to_string()))?;
    let v = http
        .call(
            Method::POST,
            &[dataset_id, "generate"],
            &[],
            Some(&body),
            Feature::Generation,
        )
        .await?;
    // A non-object answer gives no entries (§7.3).
    match v {
        Some(Value::Object(_)) => many::<wire_api::DatasetEntry, _>(v, "entries"),
        _ => Ok(Vec::new()),
    }
}

/// Creates a folder, optionally inside `parent_id`.
pub async fn create_folder(name: &str, parent_id: Option<&str>) -> Result<DatasetFolder> {
    let http = DatasetHttp::from_environment()?;
    let mut body = json!({"name": name});
    if let Some(p) = parent_id.filter(|p| !p.is_empty()) {
        body["parent_id"] = Value::String(p.to_owned());
    }
    let v = http
        .call(
            Method::POST,
            &["folders"],
            &[],
            Some(&body),
            Feature::Folders,
        )
        .await?;
    one::<wire_api::DatasetFolder, _>(v, "folder")
}

/// Lists folders, optionally only the children of `parent_id`.
pub async fn list_folders(parent_id: Option<&str>) -> Result<Vec<DatasetFolder>> {
    let http = DatasetHttp::from_environment()?;
    let query: Vec<(&str, String)> = parent_id
        .filter(|p| !p.is_empty())
        .map(|p| ("parent_id", p.to_owned()))
        .into_iter()
        .collect();
    let v = http
        .call(Method::GET, &["folders"], &query, None, Feature::Folders)
        .await?;
    many::<wire_api::DatasetFolder, _>(v, "folders")
}

/// Deletes a folder.
pub async fn delete_folder(folder_id: &str) -> Result<()> {
    let http = DatasetHttp::from_environment()?;
    http.call(
        Method::DELETE,
        &["folders", folder_id],
        &[],
        None,
        Feature::Folders,
    )
    .await
    .map(drop)
}
