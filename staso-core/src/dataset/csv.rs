//! CSV import and export (§7.3). One attempt each, no retry. The upload is a real
//! `multipart/form-data` body (decision 3), not the official SDK's mislabelled one.

use std::path::{Path, PathBuf};

use reqwest::Method;
use reqwest::multipart::{Form, Part};

use super::error::{DatasetErrorKind, StasoDatasetError};
use super::http::{DatasetHttp, error_chain};
use super::{SplitType, split_query};

fn io_error(what: &str, path: &Path, e: &std::io::Error) -> StasoDatasetError {
    StasoDatasetError::new(
        DatasetErrorKind::Io,
        format!("{what} {}: {e}", path.display()),
    )
}

fn network_error(what: &str, e: &reqwest::Error) -> StasoDatasetError {
    StasoDatasetError::new(
        DatasetErrorKind::Network,
        format!("{what}: {}", error_chain(e)),
    )
}

/// Uploads the CSV file at `path` (its header row names the columns); every row becomes an
/// entry, in `split` when given. Returns the number of entries imported.
pub async fn upload_csv(
    dataset_id: &str,
    path: impl AsRef<Path>,
    split: Option<SplitType>,
) -> Result<u64, StasoDatasetError> {
    let (bytes, file_name) = read_upload(path.as_ref())?;
    upload_csv_bytes(dataset_id, bytes, file_name, split).await
}

/// The file's bytes and the part's file name (the path's basename).
pub(super) fn read_upload(path: &Path) -> Result<(Vec<u8>, String), StasoDatasetError> {
    // A plain read: CSV datasets are small, and this keeps the call free of tokio's `fs`.
    let bytes = std::fs::read(path).map_err(|e| io_error("could not read", path, &e))?;
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "data.csv".to_owned());
    Ok((bytes, file_name))
}

pub(super) async fn upload_csv_bytes(
    dataset_id: &str,
    bytes: Vec<u8>,
    file_name: String,
    split: Option<SplitType>,
) -> Result<u64, StasoDatasetError> {
    let http = DatasetHttp::from_environment()?;
    let part = Part::bytes(bytes)
        .file_name(file_name)
        .mime_str("text/csv")
        .map_err(|e| network_error("CSV upload", &e))?;
    let query: Vec<_> = split_query(split.as_ref()).into_iter().collect();
    let url = http.url(&[dataset_id, "import", "csv"], &query);
    let resp = http
        .request(Method::POST, url)
        .multipart(Form::new().part("file", part))
        .send()
        .await
        .map_err(|e| network_error("CSV upload", &e))?;
    let status = resp.status().as_u16();
    let text = resp
        .text()
        .await
        .map_err(|e| network_error("CSV upload", &e))?;
    if status >= 400 {
        return Err(StasoDatasetError::http(
            format!("CSV upload error: {status}"),
            status,
            text,
        ));
    }
    if text.trim().is_empty() {
        return Ok(0);
    }
    let v: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| StasoDatasetError::invalid_response("CSV upload", e, &text))?;
    Ok(v.get("imported")
        .and_then(serde_json::Value::as_u64)
        .unwrap_or(0))
}

/// Downloads the dataset (or one split of it) as CSV and writes the bytes to `path` unchanged.
/// Returns `path`.
pub async fn download_csv(
    dataset_id: &str,
    path: impl AsRef<Path>,
    split: Option<SplitType>,
) -> Result<PathBuf, StasoDatasetError> {
    let bytes = download_csv_bytes(dataset_id, split).await?;
    write_download(path.as_ref(), &bytes)
}

pub(super) fn write_download(path: &Path, bytes: &[u8]) -> Result<PathBuf, StasoDatasetError> {
    std::fs::write(path, bytes).map_err(|e| io_error("could not write", path, &e))?;
    Ok(path.to_path_buf())
}

pub(super) async fn download_csv_bytes(
    dataset_id: &str,
    split: Option<SplitType>,
) -> Result<Vec<u8>, StasoDatasetError> {
    let http = DatasetHttp::from_environment()?;
    let query: Vec<_> = split_query(split.as_ref()).into_iter().collect();
    let url = http.url(&[dataset_id, "export", "csv"], &query);
    let resp = http
        .request(Method::GET, url)
        .send()
        .await
        .map_err(|e| network_error("CSV download", &e))?;
    let status = resp.status().as_u16();
    let bytes = resp
        .bytes()
        .await
        .map_err(|e| network_error("CSV download", &e))?;
    if status >= 400 {
        return Err(StasoDatasetError::http(
            format!("CSV download error: {status}"),
            status,
            String::from_utf8_lossy(&bytes).into_owned(),
        ));
    }
    Ok(bytes.to_vec())
}
