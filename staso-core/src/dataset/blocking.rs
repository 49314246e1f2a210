//! Blocking forms of the dataset functions, for synchronous programs: same names, same
//! parameters, same results as their `async` counterparts in [`super`].
//!
//! Each call runs the request to completion before returning. Called outside a tokio runtime it
//! uses a current-thread runtime of its own on the calling thread; called from inside a runtime
//! (where blocking on the runtime would panic or deadlock) it runs the request on a short-lived
//! helper thread with its own runtime and blocks the calling thread until it finishes. It never
//! panics and never deadlocks there, but it does block that runtime thread for the duration of the
//! request: in async code prefer the `async` functions.
//!
//! ```no_run
//! use staso_core::dataset::{self, blocking};
//! let ds = blocking::create("qa", Default::default())?;
//! blocking::add_entry(&ds.id, &serde_json::json!({"question": "2+2?"}), Default::default())?;
//! # Ok::<(), dataset::StasoDatasetError>(())
//! ```

use std::fmt::Display;
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::{Map, Value};

use super::http::run_blocking;
use super::{
    AddEntryOptions, CreateOptions, Dataset, DatasetEntry, DatasetFolder, EvalOptions, EvalSummary,
    FromTracesOptions, GenerateOptions, ListEntriesOptions, ListOptions, SplitType,
    StasoDatasetError, UpdateOptions,
};

type Result<T> = std::result::Result<T, StasoDatasetError>;

/// Blocking [`create`](super::create).
pub fn create(name: &str, options: CreateOptions) -> Result<Dataset> {
    run_blocking(super::create(name, options))?
}

/// Blocking [`get`](super::get).
pub fn get(dataset_id: &str) -> Result<Dataset> {
    run_blocking(super::get(dataset_id))?
}

/// Blocking [`list`](super::list).
pub fn list(options: ListOptions) -> Result<Vec<Dataset>> {
    run_blocking(super::list(options))?
}

/// Blocking [`update`](super::update).
pub fn update(dataset_id: &str, options: UpdateOptions) -> Result<Dataset> {
    run_blocking(super::update(dataset_id, options))?
}

/// Blocking [`delete`](super::delete).
pub fn delete(dataset_id: &str) -> Result<()> {
    run_blocking(super::delete(dataset_id))?
}

/// Blocking [`add_entry`](super::add_entry).
pub fn add_entry<T: Serialize + ?Sized>(
    dataset_id: &str,
    data: &T,
    options: AddEntryOptions,
) -> Result<DatasetEntry> {
    let data = super::decode::object_of(data, "entry data")?;
    run_blocking(super::add_entry_map(dataset_id, data, options))?
}

/// Blocking [`add_entries`](super::add_entries).
pub fn add_entries<I>(
    dataset_id: &str,
    entries: I,
    split: Option<SplitType>,
) -> Result<Vec<DatasetEntry>>
where
    I: IntoIterator,
    I::Item: Serialize,
{
    let maps = super::entries_of(entries)?;
    run_blocking(super::add_entries_maps(dataset_id, maps, split))?
}

/// Blocking [`list_entries`](super::list_entries).
pub fn list_entries(dataset_id: &str, options: ListEntriesOptions) -> Result<Vec<DatasetEntry>> {
    run_blocking(super::list_entries(dataset_id, options))?
}

/// Blocking [`update_entry`](super::update_entry).
pub fn update_entry<T: Serialize + ?Sized>(
    dataset_id: &str,
    entry_id: &str,
    data: &T,
) -> Result<DatasetEntry> {
    let data = super::decode::object_of(data, "entry data")?;
    run_blocking(super::update_entry_map(dataset_id, entry_id, data))?
}

/// Blocking [`delete_entry`](super::delete_entry).
pub fn delete_entry(dataset_id: &str, entry_id: &str) -> Result<()> {
    run_blocking(super::delete_entry(dataset_id, entry_id))?
}

/// Blocking [`upload_csv`](super::upload_csv).
pub fn upload_csv(
    dataset_id: &str,
    path: impl AsRef<Path>,
    split: Option<SplitType>,
) -> Result<u64> {
    let (bytes, file_name) = super::csv::read_upload(path.as_ref())?;
    run_blocking(super::csv::upload_csv_bytes(
        dataset_id, bytes, file_name, split,
    ))?
}

/// Blocking [`download_csv`](super::download_csv).
pub fn download_csv(
    dataset_id: &str,
    path: impl AsRef<Path>,
    split: Option<SplitType>,
) -> Result<PathBuf> {
    let bytes = run_blocking(super::csv::download_csv_bytes(dataset_id, split))??;
    super::csv::write_download(path.as_ref(), &bytes)
}

/// Blocking [`from_traces`](super::from_traces).
pub fn from_traces<I>(name: &str, trace_ids: I, options: FromTracesOptions) -> Result<Dataset>
where
    I: IntoIterator,
    I::Item: Into<String>,
{
    let ids: Vec<String> = trace_ids.into_iter().map(Into::into).collect();
    run_blocking(super::from_traces_ids(name, ids, options))?
}

/// Blocking [`generate`](super::generate).
pub fn generate(dataset_id: &str, options: GenerateOptions) -> Result<Vec<DatasetEntry>> {
    run_blocking(super::generate(dataset_id, options))?
}

/// Blocking [`create_folder`](super::create_folder).
pub fn create_folder(name: &str, parent_id: Option<&str>) -> Result<DatasetFolder> {
    run_blocking(super::create_folder(name, parent_id))?
}

/// Blocking [`list_folders`](super::list_folders).
pub fn list_folders(parent_id: Option<&str>) -> Result<Vec<DatasetFolder>> {
    run_blocking(super::list_folders(parent_id))?
}

/// Blocking [`delete_folder`](super::delete_folder).
pub fn delete_folder(folder_id: &str) -> Result<()> {
    run_blocking(super::delete_folder(folder_id))?
}

/// Blocking [`evaluate`](super::evaluate) for a sync function: `f` takes the entry's data and
/// returns `Result<T, E>`; up to `options.max_concurrency` entries run at once on scoped threads
/// (on the calling thread when 1), so `f` may borrow from the caller. Everything else is as
/// [`evaluate`](super::evaluate) says.
pub fn evaluate<F, T, E>(dataset_id: &str, f: F, options: EvalOptions) -> Result<EvalSummary>
where
    F: Fn(Map<String, Value>) -> std::result::Result<T, E> + Sync,
    T: Serialize,
    E: Display,
{
    super::evaluate::evaluate_blocking(dataset_id, f, options)
}
