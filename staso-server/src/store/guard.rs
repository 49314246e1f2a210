//! Guard decisions (idempotent by decision id) and escalations awaiting a person.

use rusqlite::types::Value as SqlValue;
use rusqlite::{OptionalExtension, params};
use serde::Serialize;
use serde_json::Value;
use staso_wire::guard::{EscalationDecision, EscalationStatus, escalation_status};

use super::{Store, StoreError, StoreResult, scope_filter};
use crate::keys::Scope;
use crate::timefmt;

/// A stored decision: the request it answered and the response.
#[derive(Debug, Clone)]
pub struct StoredDecision {
    /// Workspace it was made for.
    pub workspace_slug: String,
    /// The canonical request (tool name, source, input) as JSON text.
    pub request: String,
    /// The response JSON.
    pub response: Value,
}

/// An escalation as listed for people.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EscalationRow {
    /// Id polled by the SDK.
    pub escalation_id: String,
    /// `pending|approved|rejected`.
    pub status: String,
    /// Workspace.
    pub workspace_slug: String,
    /// The guard decision that escalated.
    pub decision_id: String,
    /// Tool held.
    pub tool_name: String,
    /// Its input.
    pub tool_input: Value,
    /// Escalating rule.
    pub rule_name: String,
    /// Why it escalated.
    pub escalation_reason: String,
    /// Who decided.
    pub decided_by: Option<String>,
    /// Their reason.
    pub reason: Option<String>,
    /// Approved input, if changed.
    pub modified_input: Option<Value>,
    /// RFC 3339.
    pub created_at: String,
}

impl EscalationRow {
    /// The decision-2 status body polled by the SDK.
    pub fn status_body(&self) -> EscalationStatus {
        EscalationStatus {
            escalation_id: self.escalation_id.clone(),
            status: self.status.clone(),
            decided_by: self.decided_by.clone(),
            reason: self.reason.clone(),
            modified_input: self.modified_input.clone(),
        }
    }
}

/// The earlier decision with this id, if any.
pub fn find_decision(store: &Store, decision_id: &str) -> StoreResult<Option<StoredDecision>> {
    store.read(|tx| {
        let row = tx
            .query_row(
                "SELECT workspace_slug, request, response FROM guard_decisions WHERE decision_id = ?1",
                [decision_id],
                |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, String>(2)?)),
            )
            .optional()?;
        row.map(|(ws, request, response)| {
            Ok(StoredDecision {
                workspace_slug: ws,
                request,
                response: serde_json::from_str(&response)?,
            })
        })
        .transpose()
    })
}

/// An escalation to file together with its decision.
#[derive(Debug, Clone)]
pub struct NewEscalation {
    /// Id.
    pub id: String,
    /// Tool held.
    pub tool_name: String,
    /// Its input.
    pub tool_input: Value,
    /// Escalating rule.
    pub rule_name: String,
    /// Why.
    pub reason: String,
}

/// Stores a decision (and its escalation) in one transaction. A concurrent twin with the same id
/// wins; its response is returned instead.
pub fn save_decision(
    store: &Store,
    decision_id: &str,
    d: &StoredDecision,
    escalation: Option<&NewEscalation>,
) -> StoreResult<Value> {
    store.write(|tx| {
        let now = timefmt::now_rfc3339();
        let inserted = tx.execute(
            "INSERT INTO guard_decisions(decision_id, workspace_slug, request, response, created_at) \
             VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT(decision_id) DO NOTHING",
            params![decision_id, d.workspace_slug, d.request, serde_json::to_string(&d.response)?, now],
        )?;
        if inserted == 0 {
            let earlier: String = tx.query_row(
                "SELECT response FROM guard_decisions WHERE decision_id = ?1",
                [decision_id],
                |r| r.get(0),
            )?;
            return Ok(serde_json::from_str(&earlier)?);
        }
        if let Some(e) = escalation {
            tx.execute(
                "INSERT INTO escalations(id, workspace_slug, decision_id, tool_name, tool_input, \
                 rule_name, reason, status, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                params![
                    e.id,
                    d.workspace_slug,
                    decision_id,
                    e.tool_name,
                    serde_json::to_string(&e.tool_input)?,
                    e.rule_name,
                    e.reason,
                    escalation_status::PENDING,
                    now
                ],
            )?;
        }
        Ok(d.response.clone())
    })
}

const ESC_COLUMNS: &str = "id, status, workspace_slug, decision_id, tool_name, tool_input, rule_name, \
    reason, decided_by, decision_reason, modified_input, created_at";

fn esc_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<(EscalationRow, String, Option<String>)> {
    Ok((
        EscalationRow {
            escalation_id: r.get(0)?,
            status: r.get(1)?,
            workspace_slug: r.get(2)?,
            decision_id: r.get(3)?,
            tool_name: r.get(4)?,
            tool_input: Value::Null,
            rule_name: r.get(6)?,
            escalation_reason: r.get(7)?,
            decided_by: r.get(8)?,
            reason: r.get(9)?,
            modified_input: None,
            created_at: r.get(11)?,
        },
        r.get(5)?,
        r.get(10)?,
    ))
}

fn finish(row: (EscalationRow, String, Option<String>)) -> StoreResult<EscalationRow> {
    let (mut e, input, modified) = row;
    e.tool_input = serde_json::from_str(&input)?;
    e.modified_input = modified.map(|m| serde_json::from_str(&m)).transpose()?;
    Ok(e)
}

/// Escalations visible to `scope`, oldest first, optionally only those with `status`.
pub fn list_escalations(
    store: &Store,
    scope: &Scope,
    status: Option<&str>,
) -> StoreResult<Vec<EscalationRow>> {
    let mut p: Vec<SqlValue> = Vec::new();
    let ws = scope_filter(scope, "workspace_slug", &mut p);
    let mut sql = format!("SELECT {ESC_COLUMNS} FROM escalations WHERE {ws}");
    if let Some(s) = status {
        p.push(SqlValue::Text(s.to_owned()));
        sql.push_str(&format!(" AND status = ?{}", p.len()));
    }
    sql.push_str(" ORDER BY created_at, id");
    store.read(|tx| {
        let mut stmt = tx.prepare(&sql)?;
        let rows = stmt.query_map(rusqlite::params_from_iter(p.iter()), esc_row)?;
        rows.map(|r| finish(r?)).collect()
    })
}

/// One escalation visible to `scope`.
pub fn get_escalation(store: &Store, scope: &Scope, id: &str) -> StoreResult<EscalationRow> {
    let mut p = vec![SqlValue::Text(id.to_owned())];
    let ws = scope_filter(scope, "workspace_slug", &mut p);
    let sql = format!("SELECT {ESC_COLUMNS} FROM escalations WHERE id = ?1 AND {ws}");
    let row = store.read(|tx| {
        Ok(tx
            .query_row(&sql, rusqlite::params_from_iter(p.iter()), esc_row)
            .optional()?)
    })?;
    match row {
        Some(r) => finish(r),
        None => Err(StoreError::NotFound(format!("escalation {id:?} not found"))),
    }
}

/// Records a person's decision on a pending escalation (409 if already decided).
pub fn decide(
    store: &Store,
    scope: &Scope,
    id: &str,
    approve: bool,
    d: &EscalationDecision,
) -> StoreResult<EscalationRow> {
    let current = get_escalation(store, scope, id)?;
    if current.status != escalation_status::PENDING {
        return Err(StoreError::Conflict(format!(
            "escalation {id:?} is already {}",
            current.status
        )));
    }
    let status = if approve {
        escalation_status::APPROVED
    } else {
        escalation_status::REJECTED
    };
    let modified = d
        .modified_input
        .as_ref()
        .map(serde_json::to_string)
        .transpose()?;
    let changed = store.write(|tx| {
        Ok(tx.execute(
            "UPDATE escalations SET status = ?2, decided_by = ?3, decision_reason = ?4, \
             modified_input = ?5, decided_at = ?6 WHERE id = ?1 AND status = 'pending'",
            params![
                id,
                status,
                d.decided_by,
                d.reason,
                modified,
                timefmt::now_rfc3339()
            ],
        )?)
    })?;
    if changed == 0 {
        return Err(StoreError::Conflict(format!(
            "escalation {id:?} was decided concurrently"
        )));
    }
    get_escalation(store, scope, id)
}
