//! Every stored prompt version with the environment labels pointing at it.

use rusqlite::params_from_iter;
use rusqlite::types::Value as SqlValue;
use serde::Serialize;

use crate::keys::Scope;
use crate::store::{Store, StoreResult, scope_filter};

/// One stored version of a prompt.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PromptVersionRow {
    /// Workspace.
    pub workspace_slug: String,
    /// Prompt name.
    pub name: String,
    /// Version, from 1.
    pub version: i64,
    /// The text.
    pub content: String,
    /// RFC 3339.
    pub created_at: String,
    /// Environments whose label points at this version.
    pub labels: Vec<String>,
}

/// Every prompt version visible to `scope`, by workspace and name, newest version first.
pub fn prompt_versions(store: &Store, scope: &Scope) -> StoreResult<Vec<PromptVersionRow>> {
    let mut p: Vec<SqlValue> = Vec::new();
    let ws = scope_filter(scope, "v.workspace_slug", &mut p);
    let sql = format!(
        "SELECT v.workspace_slug, v.name, v.version, v.content, v.created_at, \
         (SELECT group_concat(l.environment, ' ') FROM prompt_labels l \
          WHERE l.workspace_slug = v.workspace_slug AND l.name = v.name AND l.version = v.version) \
         FROM prompt_versions v WHERE {ws} \
         ORDER BY v.workspace_slug, v.name, v.version DESC LIMIT 2000"
    );
    store.read(|tx| {
        let mut stmt = tx.prepare(&sql)?;
        let rows = stmt.query_map(params_from_iter(p.iter()), |r| {
            let labels: Option<String> = r.get(5)?;
            let mut labels: Vec<String> = labels
                .unwrap_or_default()
                .split(' ')
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect();
            labels.sort();
            Ok(PromptVersionRow {
                workspace_slug: r.get(0)?,
                name: r.get(1)?,
                version: r.get(2)?,
                content: r.get(3)?,
                created_at: r.get(4)?,
                labels,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    })
}
