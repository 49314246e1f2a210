//! Annotations of traces and spans (PROTOCOL.md §5).

use std::sync::LazyLock;

use rusqlite::params;
use rusqlite::types::Value as SqlValue;
use staso_wire::annotation::Annotation;

use super::traces::span_key;
use super::{Store, StoreError, StoreResult, scope_filter};
use crate::keys::Scope;

/// The workspaces holding span `?2` of trace `?1`, newest trace first. Through the trace's rows
/// (the key of `traces`, trace id first), then each trace's range of the spans' key.
pub(crate) static SPAN_WORKSPACES_SQL: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT t.workspace_slug FROM traces t JOIN spans s ON {} AND s.span_id = ?2 \
         WHERE t.trace_id = ?1 ORDER BY t.start_us DESC",
        span_key::in_trace("s.span_key", "t.seq")
    )
});

/// The workspaces holding trace `?1`, newest first.
pub(crate) const TRACE_WORKSPACES_SQL: &str =
    "SELECT workspace_slug FROM traces WHERE trace_id = ?1 ORDER BY start_us DESC";

/// The workspace an annotation of `trace_id` (and `span_id`) by `scope` is filed under.
///
/// The workspace of the stored span (when `span_id` is given and stored) or else of the stored
/// trace, among those `scope` sees; the scope's home workspace when neither is stored anywhere yet
/// (the SDK annotates spans before they are sent). When they are stored only in workspaces `scope`
/// does not see, [`StoreError::NotFound`], as a read of that trace would be.
pub fn target_workspace(
    store: &Store,
    scope: &Scope,
    trace_id: &str,
    span_id: Option<&str>,
) -> StoreResult<String> {
    let (span_ws, trace_ws) = store.read(|tx| {
        let span_ws = match span_id {
            None => Vec::new(),
            Some(sid) => {
                let mut stmt = tx.prepare_cached(&SPAN_WORKSPACES_SQL)?;
                stmt.query_map([trace_id, sid], |r| r.get::<_, String>(0))?
                    .collect::<Result<Vec<_>, _>>()?
            }
        };
        let mut stmt = tx.prepare_cached(TRACE_WORKSPACES_SQL)?;
        let trace_ws = stmt
            .query_map([trace_id], |r| r.get::<_, String>(0))?
            .collect::<Result<Vec<_>, _>>()?;
        Ok((span_ws, trace_ws))
    })?;
    let visible = |list: &[String]| list.iter().find(|w| scope.allows(w)).cloned();
    if !span_ws.is_empty() {
        return visible(&span_ws).ok_or_else(|| {
            StoreError::NotFound(format!(
                "span {:?} of trace {trace_id:?} not found",
                span_id.unwrap_or_default()
            ))
        });
    }
    if !trace_ws.is_empty() {
        return visible(&trace_ws)
            .ok_or_else(|| StoreError::NotFound(format!("trace {trace_id:?} not found")));
    }
    Ok(scope.home().to_owned())
}

/// Stores `a` under `workspace` and returns it.
pub fn insert(store: &Store, workspace: &str, a: &Annotation) -> StoreResult<()> {
    store.write(|tx| {
        tx.execute(
            "INSERT INTO annotations(id, workspace_slug, trace_id, span_id, name, value, data_type, \
             comment, created_at, seq) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, \
             (SELECT COALESCE(MAX(seq), 0) + 1 FROM annotations))",
            params![
                a.id,
                workspace,
                a.trace_id,
                a.span_id,
                a.name,
                serde_json::to_string(&a.value)?,
                a.data_type,
                a.comment,
                a.created_at
            ],
        )?;
        Ok(())
    })
}

/// The annotations of `trace_id` visible to `scope`, oldest first.
pub fn list(store: &Store, scope: &Scope, trace_id: &str) -> StoreResult<Vec<Annotation>> {
    let mut p = vec![SqlValue::Text(trace_id.to_owned())];
    let ws = scope_filter(scope, "workspace_slug", &mut p);
    let sql = format!(
        "SELECT id, trace_id, span_id, name, value, data_type, comment, created_at \
         FROM annotations WHERE trace_id = ?1 AND {ws} ORDER BY seq"
    );
    store.read(|tx| {
        let mut stmt = tx.prepare(&sql)?;
        let rows = stmt.query_map(rusqlite::params_from_iter(p.iter()), |r| {
            Ok((
                Annotation {
                    id: r.get(0)?,
                    trace_id: r.get(1)?,
                    span_id: r.get(2)?,
                    name: r.get(3)?,
                    value: serde_json::Value::Null,
                    data_type: r.get(5)?,
                    comment: r.get(6)?,
                    created_at: r.get(7)?,
                },
                r.get::<_, String>(4)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (mut a, value) = row?;
            a.value = serde_json::from_str(&value)?;
            out.push(a);
        }
        Ok(out)
    })
}
