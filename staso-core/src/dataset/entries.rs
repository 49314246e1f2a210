//! Entry operations (§7.3): add one or many, list a page, replace data, delete.

use reqwest::Method;
use serde::Serialize;
use serde_json::{Map, Value, json};

use super::http::{DatasetHttp, Feature};
use super::{
    AddEntryOptions, DatasetEntry, ListEntriesOptions, Result, SplitType, many, object_of, one,
    split_query,
};
use staso_wire::dataset as wire_api;

/// Adds one entry. `data` is any value serializing to a JSON object (a `serde_json::Value`
/// object, a map, your own struct).
pub async fn add_entry<T: Serialize + ?Sized>(
    dataset_id: &str,
    data: &T,
    options: AddEntryOptions,
) -> Result<DatasetEntry> {
    let data = object_of(data, "entry data")?;
    add_entry_map(dataset_id, data, options).await
}

pub(super) async fn add_entry_map(
    dataset_id: &str,
    data: Map<String, Value>,
    options: AddEntryOptions,
) -> Result<DatasetEntry> {
    let http = DatasetHttp::from_environment()?;
    let mut body = json!({"data": data});
    if let Some((_, s)) = split_query(options.split.as_ref()) {
        body["split_id"] = Value::String(s);
    }
    let v = http
        .call(
            Method::POST,
            &[dataset_id, "entries"],
            &[],
            Some(&body),
            Feature::Plain,
        )
        .await?;
    one::<wire_api::DatasetEntry, _>(v, "entry")
}

/// Adds many entries in one request; each item must serialize to a JSON object and is sent
/// verbatim. Returns the stored entries.
pub async fn add_entries<I>(
    dataset_id: &str,
    entries: I,
    split: Option<SplitType>,
) -> Result<Vec<DatasetEntry>>
where
    I: IntoIterator,
    I::Item: Serialize,
{
    let maps = entries_of(entries)?;
    add_entries_maps(dataset_id, maps, split).await
}

pub(super) fn entries_of<I>(entries: I) -> Result<Vec<Map<String, Value>>>
where
    I: IntoIterator,
    I::Item: Serialize,
{
    entries
        .into_iter()
        .enumerate()
        .map(|(i, e)| object_of(&e, &format!("entries[{i}]")))
        .collect()
}

pub(super) async fn add_entries_maps(
    dataset_id: &str,
    entries: Vec<Map<String, Value>>,
    split: Option<SplitType>,
) -> Result<Vec<DatasetEntry>> {
    let http = DatasetHttp::from_environment()?;
    let mut body = json!({"entries": entries});
    if let Some((_, s)) = split_query(split.as_ref()) {
        body["split_id"] = Value::String(s);
    }
    let v = http
        .call(
            Method::POST,
            &[dataset_id, "entries", "bulk"],
            &[],
            Some(&body),
            Feature::Plain,
        )
        .await?;
    many::<wire_api::DatasetEntry, _>(v, "entries")
}

/// Lists one page of entries, optionally of one split.
pub async fn list_entries(
    dataset_id: &str,
    options: ListEntriesOptions,
) -> Result<Vec<DatasetEntry>> {
    list_entries_with(&DatasetHttp::from_environment()?, dataset_id, &options).await
}

pub(super) async fn list_entries_with(
    http: &DatasetHttp,
    dataset_id: &str,
    options: &ListEntriesOptions,
) -> Result<Vec<DatasetEntry>> {
    let mut query = vec![
        ("limit", options.limit.to_string()),
        ("offset", options.offset.to_string()),
    ];
    query.extend(split_query(options.split.as_ref()));
    let v = http
        .call(
            Method::GET,
            &[dataset_id, "entries"],
            &query,
            None,
            Feature::Plain,
        )
        .await?;
    many::<wire_api::DatasetEntry, _>(v, "entries")
}

/// Replaces an entry's data (any value serializing to a JSON object).
///
/// The official SDK's `data` is optional and an update without it sends `{}`, which changes
/// nothing; here it is required.
pub async fn update_entry<T: Serialize + ?Sized>(
    dataset_id: &str,
    entry_id: &str,
    data: &T,
) -> Result<DatasetEntry> {
    let data = object_of(data, "entry data")?;
    update_entry_map(dataset_id, entry_id, data).await
}

pub(super) async fn update_entry_map(
    dataset_id: &str,
    entry_id: &str,
    data: Map<String, Value>,
) -> Result<DatasetEntry> {
    let http = DatasetHttp::from_environment()?;
    let body = json!({"data": data});
    let v = http
        .call(
            Method::PATCH,
            &[dataset_id, "entries", entry_id],
            &[],
            Some(&body),
            Feature::Plain,
        )
        .await?;
    one::<wire_api::DatasetEntry, _>(v, "entry")
}

/// Deletes one entry (a `DELETE` with a JSON body, §7.3).
pub async fn delete_entry(dataset_id: &str, entry_id: &str) -> Result<()> {
    let http = DatasetHttp::from_environment()?;
    let body = json!({"entry_ids": [entry_id]});
    http.call(
        Method::DELETE,
        &[dataset_id, "entries"],
        &[],
        Some(&body),
        Feature::Plain,
    )
    .await
    .map(drop)
}
