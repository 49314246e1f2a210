//! Dataset bodies (PROTOCOL.md §7).
//!
//! Column types are kept as strings so that a newer peer never makes an older one fail to parse.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// A dataset column (§7.2); `is_required` is the wire name of the SDK's `required`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DatasetColumn {
    /// Column name.
    pub name: String,
    /// `variable` (default), `input`, `output`, `expected_output`, ….
    #[serde(default = "default_variable")]
    pub column_type: String,
    /// Description.
    #[serde(default)]
    pub description: String,
    /// Whether entries must carry it.
    #[serde(default)]
    pub is_required: bool,
}

fn default_variable() -> String {
    "variable".to_owned()
}

/// A dataset (§7.2).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Dataset {
    /// Server-assigned id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Description.
    #[serde(default)]
    pub description: String,
    /// Containing folder.
    #[serde(default)]
    pub folder_id: Option<String>,
    /// `custom` for SDK-created datasets.
    #[serde(default)]
    pub template: String,
    /// `tabular` or `agent_run`.
    #[serde(default)]
    pub kind: String,
    /// Columns in creation order.
    #[serde(default)]
    pub columns: Vec<DatasetColumn>,
    /// Number of entries.
    #[serde(default)]
    pub entry_count: u64,
    /// RFC 3339.
    #[serde(default)]
    pub created_at: String,
    /// RFC 3339.
    #[serde(default)]
    pub updated_at: String,
}

/// A dataset entry (§7.2); the SDK's `split` is the wire `split_id`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DatasetEntry {
    /// Server-assigned id.
    pub id: String,
    /// Owning dataset.
    pub dataset_id: String,
    /// The entry's fields.
    #[serde(default)]
    pub data: Map<String, Value>,
    /// `train|test|validation` or null.
    #[serde(default)]
    pub split_id: Option<String>,
    /// `manual`, `bulk`, `csv`, `trace`.
    #[serde(default)]
    pub source_type: String,
    /// RFC 3339.
    #[serde(default)]
    pub created_at: String,
}

/// A dataset folder (§7.2).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DatasetFolder {
    /// Server-assigned id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Parent folder.
    #[serde(default)]
    pub parent_id: Option<String>,
}

/// `POST /v1/datasets` body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DatasetCreate {
    /// Name.
    pub name: String,
    /// `custom`.
    #[serde(default)]
    pub template: Option<String>,
    /// Description.
    #[serde(default)]
    pub description: Option<String>,
    /// Folder.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub folder_id: Option<String>,
}

/// `PATCH /v1/datasets/{id}` body: only the given keys change.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DatasetUpdate {
    /// New name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// New description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// `POST /v1/datasets/{id}/columns` body (`required` is not sent by 0.5.25).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ColumnCreate {
    /// Name.
    pub name: String,
    /// Column type, default `variable`.
    #[serde(default)]
    pub column_type: Option<String>,
    /// Description.
    #[serde(default)]
    pub description: Option<String>,
    /// Accepted for forward compatibility.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_required: Option<bool>,
}

/// `POST /v1/datasets/{id}/entries` body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EntryCreate {
    /// The entry's fields.
    pub data: Map<String, Value>,
    /// Split.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub split_id: Option<String>,
}

/// `POST /v1/datasets/{id}/entries/bulk` body: each entry is the caller's map verbatim.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EntriesBulkCreate {
    /// The entries.
    pub entries: Vec<Map<String, Value>>,
    /// Split for all of them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub split_id: Option<String>,
}

/// `PATCH /v1/datasets/{id}/entries/{entry_id}` body.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EntryUpdate {
    /// Replacement data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<Map<String, Value>>,
}

/// `DELETE /v1/datasets/{id}/entries` body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EntriesDelete {
    /// Entries to delete.
    pub entry_ids: Vec<String>,
}

/// `POST /v1/datasets/folders` body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FolderCreate {
    /// Name.
    pub name: String,
    /// Parent folder.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_id: Option<String>,
}

/// One `source_field → target_column` mapping of a curate call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CurateMapping {
    /// `input`, `output`, `attributes`, `name`, … optionally followed by `.key.sub` into the value.
    pub source_field: String,
    /// Column to fill.
    pub target_column: String,
}

/// `POST /v1/datasets/{id}/curate` body (§7.3 `from_traces`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CurateRequest {
    /// Traces to turn into entries (one entry per trace, from its root span).
    pub trace_ids: Vec<String>,
    /// How fields become columns.
    pub mappings: Vec<CurateMapping>,
}

/// `POST /v1/datasets/{id}/generate` body (§7.3); the answer is `{"entries": [...]}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DatasetGenerate {
    /// Entries to generate.
    #[serde(default = "default_generate_count")]
    pub count: u32,
    /// The caller's prompt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instructions: Option<String>,
    /// Entries to imitate.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub seed_entry_ids: Vec<String>,
}

fn default_generate_count() -> u32 {
    10
}
