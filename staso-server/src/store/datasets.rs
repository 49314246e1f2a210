//! Datasets, folders, columns and entries (PROTOCOL.md §7). Every call checks that the dataset's
//! workspace is visible to the caller; an invisible dataset is "not found".

use rusqlite::types::Value as SqlValue;
use rusqlite::{OptionalExtension, Transaction, params};
use serde_json::{Map, Value};
use staso_wire::dataset::{
    ColumnCreate, Dataset, DatasetColumn, DatasetCreate, DatasetEntry, DatasetFolder, DatasetUpdate,
};

use super::{Store, StoreError, StoreResult, scope_filter};
use crate::keys::Scope;
use crate::timefmt;

fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

fn visible(tx: &Transaction<'_>, scope: &Scope, table: &str, id: &str) -> StoreResult<()> {
    let ws: Option<String> = tx
        .query_row(
            &format!("SELECT workspace_slug FROM {table} WHERE id = ?1"),
            [id],
            |r| r.get(0),
        )
        .optional()?;
    match ws {
        Some(w) if scope.allows(&w) => Ok(()),
        _ => Err(StoreError::NotFound(format!(
            "{} {id:?} not found",
            &table[..table.len() - 1]
        ))),
    }
}

/// Creates a folder in `workspace`.
pub fn create_folder(
    store: &Store,
    workspace: &str,
    name: &str,
    parent: Option<&str>,
) -> StoreResult<DatasetFolder> {
    let f = DatasetFolder {
        id: new_id(),
        name: name.to_owned(),
        parent_id: parent.map(str::to_owned),
    };
    store.write(|tx| {
        tx.execute(
            "INSERT INTO dataset_folders(id, workspace_slug, name, parent_id, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![f.id, workspace, f.name, f.parent_id, timefmt::now_rfc3339()],
        )?;
        Ok(f.clone())
    })
}

/// Folders visible to `scope`, optionally under `parent`.
pub fn list_folders(
    store: &Store,
    scope: &Scope,
    parent: Option<&str>,
) -> StoreResult<Vec<DatasetFolder>> {
    let mut p: Vec<SqlValue> = Vec::new();
    let mut sql = format!(
        "SELECT id, name, parent_id FROM dataset_folders WHERE {}",
        scope_filter(scope, "workspace_slug", &mut p)
    );
    if let Some(parent) = parent {
        p.push(SqlValue::Text(parent.to_owned()));
        sql.push_str(&format!(" AND parent_id = ?{}", p.len()));
    }
    sql.push_str(" ORDER BY created_at, id");
    store.read(|tx| {
        let mut stmt = tx.prepare(&sql)?;
        let rows = stmt.query_map(rusqlite::params_from_iter(p.iter()), |r| {
            Ok(DatasetFolder {
                id: r.get(0)?,
                name: r.get(1)?,
                parent_id: r.get(2)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    })
}

/// Deletes a folder; its datasets move to the top level.
pub fn delete_folder(store: &Store, scope: &Scope, id: &str) -> StoreResult<()> {
    store.write(|tx| {
        visible(tx, scope, "dataset_folders", id)?;
        tx.execute(
            "UPDATE datasets SET folder_id = NULL WHERE folder_id = ?1",
            [id],
        )?;
        tx.execute(
            "UPDATE dataset_folders SET parent_id = NULL WHERE parent_id = ?1",
            [id],
        )?;
        tx.execute("DELETE FROM dataset_folders WHERE id = ?1", [id])?;
        Ok(())
    })
}

/// Creates a dataset in `workspace`.
pub fn create_dataset(
    store: &Store,
    scope: &Scope,
    workspace: &str,
    c: &DatasetCreate,
) -> StoreResult<Dataset> {
    let id = new_id();
    store.write(|tx| {
        if let Some(f) = &c.folder_id {
            visible(tx, scope, "dataset_folders", f)
                .map_err(|_| StoreError::Invalid(format!("folder_id: folder {f:?} not found")))?;
        }
        let now = timefmt::now_rfc3339();
        tx.execute(
            "INSERT INTO datasets(id, workspace_slug, name, description, folder_id, template, kind, created_at, updated_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'tabular', ?7, ?7)",
            params![id, workspace, c.name, c.description.clone().unwrap_or_default(), c.folder_id,
                    c.template.clone().unwrap_or_else(|| "custom".to_owned()), now],
        )?;
        load(tx, &id)
    })
}

fn load(tx: &Transaction<'_>, id: &str) -> StoreResult<Dataset> {
    let mut d = tx.query_row(
        "SELECT id, name, description, folder_id, template, kind, created_at, updated_at, \
         (SELECT COUNT(*) FROM dataset_entries e WHERE e.dataset_id = datasets.id) FROM datasets WHERE id = ?1",
        [id],
        |r| {
            Ok(Dataset {
                id: r.get(0)?, name: r.get(1)?, description: r.get(2)?, folder_id: r.get(3)?,
                template: r.get(4)?, kind: r.get(5)?, columns: Vec::new(),
                entry_count: r.get::<_, i64>(8)?.max(0) as u64, created_at: r.get(6)?, updated_at: r.get(7)?,
            })
        },
    )?;
    let mut stmt = tx.prepare(
        "SELECT name, column_type, description, is_required FROM dataset_columns WHERE dataset_id = ?1 ORDER BY position",
    )?;
    let cols = stmt.query_map([id], |r| {
        Ok(DatasetColumn {
            name: r.get(0)?,
            column_type: r.get(1)?,
            description: r.get(2)?,
            is_required: r.get(3)?,
        })
    })?;
    d.columns = cols.collect::<Result<_, _>>()?;
    Ok(d)
}

/// One dataset.
pub fn get_dataset(store: &Store, scope: &Scope, id: &str) -> StoreResult<Dataset> {
    store.read(|tx| {
        visible(tx, scope, "datasets", id)?;
        load(tx, id)
    })
}

/// Datasets visible to `scope`, oldest first.
pub fn list_datasets(
    store: &Store,
    scope: &Scope,
    folder: Option<&str>,
    limit: u32,
    offset: u32,
) -> StoreResult<Vec<Dataset>> {
    let mut p: Vec<SqlValue> = Vec::new();
    let mut sql = format!(
        "SELECT id FROM datasets WHERE {}",
        scope_filter(scope, "workspace_slug", &mut p)
    );
    if let Some(f) = folder {
        p.push(SqlValue::Text(f.to_owned()));
        sql.push_str(&format!(" AND folder_id = ?{}", p.len()));
    }
    sql.push_str(&format!(
        " ORDER BY created_at, id LIMIT {limit} OFFSET {offset}"
    ));
    store.read(|tx| {
        let ids: Vec<String> = {
            let mut stmt = tx.prepare(&sql)?;
            let rows = stmt.query_map(rusqlite::params_from_iter(p.iter()), |r| r.get(0))?;
            rows.collect::<Result<_, _>>()?
        };
        ids.iter().map(|id| load(tx, id)).collect()
    })
}

/// Changes the given fields.
pub fn update_dataset(
    store: &Store,
    scope: &Scope,
    id: &str,
    u: &DatasetUpdate,
) -> StoreResult<Dataset> {
    store.write(|tx| {
        visible(tx, scope, "datasets", id)?;
        tx.execute(
            "UPDATE datasets SET name = COALESCE(?2, name), description = COALESCE(?3, description), updated_at = ?4 WHERE id = ?1",
            params![id, u.name, u.description, timefmt::now_rfc3339()],
        )?;
        load(tx, id)
    })
}

/// Deletes a dataset with its columns and entries.
pub fn delete_dataset(store: &Store, scope: &Scope, id: &str) -> StoreResult<()> {
    store.write(|tx| {
        visible(tx, scope, "datasets", id)?;
        tx.execute("DELETE FROM datasets WHERE id = ?1", [id])?;
        Ok(())
    })
}

/// Adds (or redefines) a column.
pub fn add_column(
    store: &Store,
    scope: &Scope,
    id: &str,
    c: &ColumnCreate,
) -> StoreResult<DatasetColumn> {
    let col = DatasetColumn {
        name: c.name.clone(),
        column_type: c
            .column_type
            .clone()
            .unwrap_or_else(|| "variable".to_owned()),
        description: c.description.clone().unwrap_or_default(),
        is_required: c.is_required.unwrap_or(false),
    };
    store.write(|tx| {
        visible(tx, scope, "datasets", id)?;
        tx.execute(
            "INSERT INTO dataset_columns(dataset_id, position, name, column_type, description, is_required) \
             VALUES (?1, (SELECT COALESCE(MAX(position), 0) + 1 FROM dataset_columns WHERE dataset_id = ?1), ?2, ?3, ?4, ?5) \
             ON CONFLICT(dataset_id, name) DO UPDATE SET column_type = excluded.column_type, \
             description = excluded.description, is_required = excluded.is_required",
            params![id, col.name, col.column_type, col.description, col.is_required],
        )?;
        tx.execute("UPDATE datasets SET updated_at = ?2 WHERE id = ?1", params![id, timefmt::now_rfc3339()])?;
        Ok(col.clone())
    })
}

/// A new entry: data, split, source kind, and the trace/span it came from.
#[derive(Debug, Clone)]
pub struct NewEntry {
    /// Fields.
    pub data: Map<String, Value>,
    /// Split.
    pub split_id: Option<String>,
    /// `manual|bulk|csv|trace`.
    pub source_type: &'static str,
    /// Source trace.
    pub source_trace_id: Option<String>,
    /// Source span.
    pub source_span_id: Option<String>,
}

/// Adds entries in one transaction, in order.
pub fn add_entries(
    store: &Store,
    scope: &Scope,
    id: &str,
    entries: Vec<NewEntry>,
) -> StoreResult<Vec<DatasetEntry>> {
    store.write(|tx| {
        visible(tx, scope, "datasets", id)?;
        let now = timefmt::now_rfc3339();
        let mut seq: i64 = tx.query_row(
            "SELECT COALESCE(MAX(seq), 0) FROM dataset_entries WHERE dataset_id = ?1", [id], |r| r.get(0))?;
        let mut out = Vec::with_capacity(entries.len());
        for e in entries {
            seq += 1;
            let entry = DatasetEntry {
                id: new_id(), dataset_id: id.to_owned(), data: e.data, split_id: e.split_id,
                source_type: e.source_type.to_owned(), created_at: now.clone(),
            };
            tx.execute(
                "INSERT INTO dataset_entries(id, dataset_id, seq, data, split_id, source_type, source_trace_id, source_span_id, created_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                params![entry.id, id, seq, serde_json::to_string(&entry.data)?, entry.split_id,
                        entry.source_type, e.source_trace_id, e.source_span_id, now],
            )?;
            out.push(entry);
        }
        tx.execute("UPDATE datasets SET updated_at = ?2 WHERE id = ?1", params![id, now])?;
        Ok(out)
    })
}

const ENTRY_COLUMNS: &str = "id, dataset_id, data, split_id, source_type, created_at";

fn entry_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<(DatasetEntry, String)> {
    Ok((
        DatasetEntry {
            id: r.get(0)?,
            dataset_id: r.get(1)?,
            data: Map::new(),
            split_id: r.get(3)?,
            source_type: r.get(4)?,
            created_at: r.get(5)?,
        },
        r.get(2)?,
    ))
}

fn finish((mut e, data): (DatasetEntry, String)) -> StoreResult<DatasetEntry> {
    e.data = serde_json::from_str(&data)?;
    Ok(e)
}

/// Entries in insertion order, optionally of one split.
pub fn list_entries(
    store: &Store,
    scope: &Scope,
    id: &str,
    split: Option<&str>,
    limit: u32,
    offset: u32,
) -> StoreResult<Vec<DatasetEntry>> {
    store.read(|tx| {
        visible(tx, scope, "datasets", id)?;
        let mut stmt = tx.prepare(&format!(
            "SELECT {ENTRY_COLUMNS} FROM dataset_entries WHERE dataset_id = ?1 AND (?2 IS NULL OR split_id = ?2) \
             ORDER BY seq LIMIT ?3 OFFSET ?4"
        ))?;
        let rows = stmt.query_map(params![id, split, limit, offset], entry_row)?;
        rows.map(|r| finish(r?)).collect()
    })
}

/// Replaces an entry's data (when given) and returns it.
pub fn update_entry(
    store: &Store,
    scope: &Scope,
    id: &str,
    entry_id: &str,
    data: Option<&Map<String, Value>>,
) -> StoreResult<DatasetEntry> {
    store.write(|tx| {
        visible(tx, scope, "datasets", id)?;
        if let Some(d) = data {
            tx.execute(
                "UPDATE dataset_entries SET data = ?3 WHERE dataset_id = ?1 AND id = ?2",
                params![id, entry_id, serde_json::to_string(d)?],
            )?;
        }
        let row = tx
            .query_row(
                &format!(
                    "SELECT {ENTRY_COLUMNS} FROM dataset_entries WHERE dataset_id = ?1 AND id = ?2"
                ),
                [id, entry_id],
                entry_row,
            )
            .optional()?;
        row.map(finish)
            .transpose()?
            .ok_or_else(|| StoreError::NotFound(format!("entry {entry_id:?} not found")))
    })
}

/// Deletes entries by id; returns how many existed.
pub fn delete_entries(
    store: &Store,
    scope: &Scope,
    id: &str,
    entry_ids: &[String],
) -> StoreResult<usize> {
    store.write(|tx| {
        visible(tx, scope, "datasets", id)?;
        let mut n = 0;
        for e in entry_ids {
            n += tx.execute(
                "DELETE FROM dataset_entries WHERE dataset_id = ?1 AND id = ?2",
                [id, e.as_str()],
            )?;
        }
        Ok(n)
    })
}
