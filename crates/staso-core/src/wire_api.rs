//! JSON bodies of the Staso APIs other than ingest: annotations (PROTOCOL.md §5), guard (§6 and
//! decision 2's escalation endpoint) and datasets (§7). Defined once, used by the SDK (to send and
//! parse) and by `staso-server` (to parse and answer).
//!
//! Enumerated values that the service may extend (actions, statuses, column types) are kept as
//! strings so that a newer peer never makes an older one fail to parse; the constants below name
//! the values this version knows.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::wire::CaptureMap;

fn default_numeric() -> String {
    "numeric".to_owned()
}

fn default_payload_version() -> u32 {
    1
}

/// `POST /v1/traces/{trace_id}/annotations` body (§5.3).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AnnotationRequest {
    /// Non-empty annotation name.
    pub name: String,
    /// bool for `boolean`, number for `numeric`, string for `categorical`; anything for other types.
    pub value: Value,
    /// `numeric` (default), `boolean`, `categorical`, or any other string (sent unvalidated).
    #[serde(default = "default_numeric")]
    pub data_type: String,
    /// The annotated span, when the annotation targets one span.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub span_id: Option<String>,
    /// Free-text comment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
}

/// A stored annotation, as returned by the server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Annotation {
    /// Server-assigned id.
    pub id: String,
    /// The annotated trace.
    pub trace_id: String,
    /// The annotated span, if any.
    pub span_id: Option<String>,
    /// Annotation name.
    pub name: String,
    /// The value as sent.
    pub value: Value,
    /// The data type as sent.
    pub data_type: String,
    /// The comment, if any.
    pub comment: Option<String>,
    /// RFC 3339 creation time.
    pub created_at: String,
}

/// Guard actions a server may answer (decision 2). 0.5.25 accepts only `allow` and `block` at the
/// top level, and `allow`, `block`, `audit` per rule.
pub mod guard_action {
    /// Let the tool call run.
    pub const ALLOW: &str = "allow";
    /// Stop the tool call.
    pub const BLOCK: &str = "block";
    /// Rule level only: would block, reported and not enforced.
    pub const AUDIT: &str = "audit";
    /// Run the tool call with `modified_input` instead of the original input.
    pub const MODIFY: &str = "modify";
    /// Ask a person: poll the escalation named by `escalation_id`.
    pub const ESCALATE: &str = "escalate";
}

/// `POST /v1/guard/evaluate` body (§6.2).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GuardEvaluateRequest {
    /// Always 1.
    #[serde(default = "default_payload_version")]
    pub payload_version: u32,
    /// The tool about to be called.
    pub tool_name: String,
    /// Its input (`{}` when tool-argument capture is off).
    #[serde(default)]
    pub tool_input: Map<String, Value>,
    /// Merged context (§6.1, §6.3); `workspace_id` names the workspace.
    #[serde(default)]
    pub context: Map<String, Value>,
    /// Lowercase hyphenated UUID, echoed in the response.
    pub decision_id: String,
    /// `manual|openai|anthropic|litellm|sdk|claude-code|codex`, echoed in the response.
    pub decision_source: String,
    /// `fail_open|fail_closed`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_mode: Option<String>,
    /// The caller's capture map.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capture: Option<CaptureMap>,
    /// Time the server may spend, in ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deadline_ms: Option<u64>,
}

/// One rule's verdict inside a guard response (§6.4).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GuardRuleResult {
    /// Rule id.
    pub rule_id: String,
    /// Rule name.
    pub rule_name: String,
    /// `allow|block|audit` (and, for staso-rs peers, `modify|escalate`).
    pub action: String,
    /// `evaluated|skipped|abstained|unavailable`.
    pub evaluation_status: String,
    /// Why the rule decided so.
    #[serde(default)]
    pub reason: String,
    /// `low|medium|high|critical`.
    #[serde(default)]
    pub severity: String,
    /// Optional score in [0, 1].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub score: Option<f64>,
    /// Structured findings.
    #[serde(default)]
    pub violations: Vec<Value>,
    /// Server-side evaluation time.
    #[serde(default)]
    pub latency_ms: f64,
}

/// `POST /v1/guard/evaluate` 2xx body. `decision_id` and `decision_source` echo the request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GuardEvaluateResponse {
    /// See [`guard_action`].
    pub action: String,
    /// Echo of the request's decision id.
    pub decision_id: String,
    /// Echo of the request's decision source.
    pub decision_source: String,
    /// Human-readable reason.
    #[serde(default)]
    pub reason: String,
    /// Severity of the decision.
    #[serde(default)]
    pub severity: String,
    /// Per-rule verdicts.
    #[serde(default)]
    pub results: Vec<GuardRuleResult>,
    /// Names of rules whose action is not `allow`.
    #[serde(default)]
    pub rules_triggered: Vec<String>,
    /// False when the server could not decide.
    #[serde(default = "default_true")]
    pub decision_available: bool,
    /// `evaluated|skipped|abstained|unavailable`.
    pub evaluation_status: String,
    /// Echo of the caller's failure mode.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_mode: Option<String>,
    /// Set when `decision_available` is false.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_kind: Option<String>,
    /// Whether retrying could help.
    #[serde(default)]
    pub retryable: bool,
    /// `modify`: the input to run the tool with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub modified_input: Option<Value>,
    /// `modify`: the JSON Patch (RFC 6902) operations that produced `modified_input`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub modifications: Option<Vec<Value>>,
    /// `escalate`: poll `GET /v1/guard/escalations/{escalation_id}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub escalation_id: Option<String>,
}

fn default_true() -> bool {
    true
}

/// Escalation statuses of decision 2.
pub mod escalation_status {
    /// Waiting for a person.
    pub const PENDING: &str = "pending";
    /// Approved: the call is allowed (with `modified_input` if given).
    pub const APPROVED: &str = "approved";
    /// Rejected: the call is blocked.
    pub const REJECTED: &str = "rejected";
}

/// `GET /v1/guard/escalations/{escalation_id}` body (decision 2).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EscalationStatus {
    /// The escalation id.
    pub escalation_id: String,
    /// See [`escalation_status`].
    pub status: String,
    /// Who decided.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decided_by: Option<String>,
    /// Why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Approved with a different input.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub modified_input: Option<Value>,
}

/// Body of a person's approve/reject call on an escalation.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EscalationDecision {
    /// Who decides.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decided_by: Option<String>,
    /// Why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Approve with this input instead of the original.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub modified_input: Option<Value>,
}

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
