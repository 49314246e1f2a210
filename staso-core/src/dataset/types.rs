//! The dataset types the SDK hands out (PROTOCOL.md §7.2) and the options of the operations.
//!
//! The wire shapes live in [`crate::wire_api`] (shared with `staso-server`) and keep enumerated
//! values as strings; these types are their typed face: `split_id` becomes [`DatasetEntry::split`],
//! `is_required` becomes [`DatasetColumn::required`], and column types and splits are enums that
//! keep unknown values in an `Other` variant so a newer server never makes parsing fail.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use staso_wire::dataset as wire_api;

macro_rules! string_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident { $($(#[$vmeta:meta])* $variant:ident = $wire:literal,)* }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Debug, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$vmeta])* $variant,)*
            /// A value this version does not know (sent and received verbatim).
            Other(String),
        }

        impl $name {
            /// The wire string.
            pub fn as_str(&self) -> &str {
                match self {
                    $($name::$variant => $wire,)*
                    $name::Other(s) => s,
                }
            }
        }

        impl From<&str> for $name {
            fn from(s: &str) -> Self {
                match s {
                    $($wire => $name::$variant,)*
                    other => $name::Other(other.to_owned()),
                }
            }
        }

        impl FromStr for $name {
            type Err = std::convert::Infallible;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Ok($name::from(s))
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                Ok($name::from(String::deserialize(d)?.as_str()))
            }
        }
    };
}

string_enum! {
    /// The role of a dataset column (§7.2). `Variable` is the default.
    #[derive(Default)]
    pub enum ColumnType {
        /// `variable`.
        #[default]
        Variable = "variable",
        /// `input`.
        Input = "input",
        /// `output`.
        Output = "output",
        /// `expected_output`.
        ExpectedOutput = "expected_output",
        /// `expected_tool_calls`.
        ExpectedToolCalls = "expected_tool_calls",
        /// `scenario`.
        Scenario = "scenario",
        /// `expected_steps`.
        ExpectedSteps = "expected_steps",
        /// `conversation_history`.
        ConversationHistory = "conversation_history",
        /// `files`.
        Files = "files",
        /// `custom`.
        Custom = "custom",
    }
}

string_enum! {
    /// The split an entry belongs to (§7.2); sent as the wire `split_id`.
    pub enum SplitType {
        /// `train`.
        Train = "train",
        /// `test`.
        Test = "test",
        /// `validation`.
        Validation = "validation",
    }
}

/// A dataset column.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DatasetColumn {
    /// Column name.
    pub name: String,
    /// Its role (default [`ColumnType::Variable`]).
    pub column_type: ColumnType,
    /// Description (default "").
    pub description: String,
    /// Whether entries must carry it. Read back from the wire `is_required`; like the official
    /// SDK, [`create`](super::create) does not send it.
    pub required: bool,
}

impl DatasetColumn {
    /// A `variable` column with no description.
    pub fn new(name: impl Into<String>) -> Self {
        DatasetColumn {
            name: name.into(),
            column_type: ColumnType::Variable,
            description: String::new(),
            required: false,
        }
    }

    /// Sets the column type.
    pub fn column_type(mut self, t: ColumnType) -> Self {
        self.column_type = t;
        self
    }

    /// Sets the description.
    pub fn description(mut self, d: impl Into<String>) -> Self {
        self.description = d.into();
        self
    }
}

impl From<wire_api::DatasetColumn> for DatasetColumn {
    fn from(c: wire_api::DatasetColumn) -> Self {
        DatasetColumn {
            name: c.name,
            column_type: ColumnType::from(c.column_type.as_str()),
            description: c.description,
            required: c.is_required,
        }
    }
}

/// A dataset (§7.2).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Dataset {
    /// Server-assigned id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Description (default "").
    pub description: String,
    /// Containing folder.
    pub folder_id: Option<String>,
    /// `custom` for SDK-created datasets.
    pub template: String,
    /// `tabular` (default) or `agent_run`.
    pub kind: String,
    /// Columns in creation order.
    pub columns: Vec<DatasetColumn>,
    /// Number of entries.
    pub entry_count: u64,
    /// RFC 3339 creation time ("" when the server sends none).
    pub created_at: String,
    /// RFC 3339 last update time ("" when the server sends none).
    pub updated_at: String,
}

impl From<wire_api::Dataset> for Dataset {
    fn from(d: wire_api::Dataset) -> Self {
        let or = |s: String, default: &str| {
            if s.is_empty() { default.to_owned() } else { s }
        };
        Dataset {
            id: d.id,
            name: d.name,
            description: d.description,
            folder_id: d.folder_id,
            template: or(d.template, "custom"),
            kind: or(d.kind, "tabular"),
            columns: d.columns.into_iter().map(DatasetColumn::from).collect(),
            entry_count: d.entry_count,
            created_at: d.created_at,
            updated_at: d.updated_at,
        }
    }
}

/// One dataset entry (§7.2).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DatasetEntry {
    /// Server-assigned id.
    pub id: String,
    /// Owning dataset.
    pub dataset_id: String,
    /// The entry's fields.
    pub data: Map<String, Value>,
    /// The split (the wire `split_id`).
    pub split: Option<SplitType>,
    /// `manual`, `bulk`, `csv`, `trace`, ….
    pub source_type: String,
    /// RFC 3339 creation time.
    pub created_at: String,
}

impl From<wire_api::DatasetEntry> for DatasetEntry {
    fn from(e: wire_api::DatasetEntry) -> Self {
        DatasetEntry {
            id: e.id,
            dataset_id: e.dataset_id,
            data: e.data,
            split: e
                .split_id
                .filter(|s| !s.is_empty())
                .map(|s| SplitType::from(s.as_str())),
            source_type: e.source_type,
            created_at: e.created_at,
        }
    }
}

/// A dataset folder (§7.2).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DatasetFolder {
    /// Server-assigned id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Parent folder.
    pub parent_id: Option<String>,
}

impl From<wire_api::DatasetFolder> for DatasetFolder {
    fn from(f: wire_api::DatasetFolder) -> Self {
        DatasetFolder {
            id: f.id,
            name: f.name,
            parent_id: f.parent_id,
        }
    }
}

/// How one trace field becomes a column in [`from_traces`](super::from_traces): `source` is
/// `input`, `output`, `attributes`, `name`, … optionally followed by `.key.sub` into the value.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TraceColumnMapping {
    /// The trace (root span) field to read.
    pub source: String,
    /// The column to fill.
    pub target: String,
}

impl TraceColumnMapping {
    /// Maps `source` to the column `target`.
    pub fn new(source: impl Into<String>, target: impl Into<String>) -> Self {
        TraceColumnMapping {
            source: source.into(),
            target: target.into(),
        }
    }
}

/// Optional parameters of [`create`](super::create).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CreateOptions {
    /// Description (default "").
    pub description: String,
    /// Columns to add, each with its own request, in order.
    pub columns: Vec<DatasetColumn>,
    /// Folder to create the dataset in.
    pub folder_id: Option<String>,
}

/// Optional parameters of [`list`](super::list).
#[derive(Clone, Debug, PartialEq)]
pub struct ListOptions {
    /// Only datasets in this folder.
    pub folder_id: Option<String>,
    /// Page size (default 100).
    pub limit: u32,
    /// Datasets to skip (default 0).
    pub offset: u32,
}

impl Default for ListOptions {
    fn default() -> Self {
        ListOptions {
            folder_id: None,
            limit: 100,
            offset: 0,
        }
    }
}

/// Optional parameters of [`update`](super::update): only the fields set are changed.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct UpdateOptions {
    /// New name.
    pub name: Option<String>,
    /// New description.
    pub description: Option<String>,
}

/// Optional parameters of [`add_entry`](super::add_entry).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct AddEntryOptions {
    /// Split of the new entry.
    pub split: Option<SplitType>,
    /// Accepted for parity with the official SDK, which does not send it either (§9.1 item 3).
    pub source_trace_id: Option<String>,
    /// Accepted for parity with the official SDK, which does not send it either (§9.1 item 3).
    pub source_span_id: Option<String>,
}

/// Optional parameters of [`list_entries`](super::list_entries).
#[derive(Clone, Debug, PartialEq)]
pub struct ListEntriesOptions {
    /// Only entries of this split.
    pub split: Option<SplitType>,
    /// Page size (default 100).
    pub limit: u32,
    /// Entries to skip (default 0).
    pub offset: u32,
}

impl Default for ListEntriesOptions {
    fn default() -> Self {
        ListEntriesOptions {
            split: None,
            limit: 100,
            offset: 0,
        }
    }
}

/// Optional parameters of [`from_traces`](super::from_traces).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FromTracesOptions {
    /// How trace fields become columns; without any, the dataset is created empty.
    pub mapping: Vec<TraceColumnMapping>,
    /// Description (default "").
    pub description: String,
}

/// Optional parameters of [`generate`](super::generate).
#[derive(Clone, Debug, PartialEq)]
pub struct GenerateOptions {
    /// Entries to generate (default 10).
    pub count: u32,
    /// Instructions for the generator (sent as `instructions`).
    pub prompt: Option<String>,
    /// Entries to imitate.
    pub seed_entry_ids: Vec<String>,
}

impl Default for GenerateOptions {
    fn default() -> Self {
        GenerateOptions {
            count: 10,
            prompt: None,
            seed_entry_ids: Vec::new(),
        }
    }
}
