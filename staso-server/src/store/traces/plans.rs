//! `EXPLAIN QUERY PLAN` of the hot reads: each one reads through an index (no full scan of
//! `traces` or `spans`), and the trace list needs no sort of the workspace.

use rusqlite::types::Value as SqlValue;

use super::TraceFilter;
use super::query::{conversation_sql, list_sql, spans_sql, workspace_of_sql};
use crate::keys::Scope;
use crate::store::Store;

fn plan(store: &Store, sql: &str, params: &[SqlValue]) -> String {
    store
        .read(|tx| {
            let mut stmt = tx.prepare(&format!("EXPLAIN QUERY PLAN {sql}"))?;
            let rows = stmt.query_map(rusqlite::params_from_iter(params.iter()), |r| {
                r.get::<_, String>(3)
            })?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?.join("\n"))
        })
        .unwrap()
}

/// No line of `plan` scans a table without an index.
fn indexed(what: &str, plan: &str) {
    for line in plan.lines() {
        let scan = line.starts_with("SCAN traces") || line.starts_with("SCAN spans");
        assert!(
            !scan || line.contains("USING"),
            "{what}: full scan in\n{plan}"
        );
    }
}

fn store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().join("plans.db")).unwrap();
    (dir, store)
}

#[test]
fn trace_lists_read_an_index_in_order() {
    let (_dir, store) = store();
    let all = Scope::everything();
    let one = crate::keys::ApiKey::scoped("k", ["ws1"]);
    let one = crate::keys::KeyRing::new(vec![one])
        .authenticate("k")
        .unwrap();
    let two = crate::keys::ApiKey::scoped("k", ["ws1", "ws2"]);
    let two = crate::keys::KeyRing::new(vec![two])
        .authenticate("k")
        .unwrap();
    let cursor = Some((5, "t".to_owned()));
    let filtered = TraceFilter {
        agent_name: Some("a".into()),
        status: Some("error".into()),
        ..Default::default()
    };
    for (what, scope, filter, cursor, index) in [
        ("all", &all, TraceFilter::default(), None, "traces_by_start"),
        (
            "all, cursor",
            &all,
            TraceFilter::default(),
            cursor.clone(),
            "traces_by_start",
        ),
        (
            "all, filtered",
            &all,
            filtered.clone(),
            None,
            "traces_by_start",
        ),
        (
            "one workspace",
            &one,
            TraceFilter::default(),
            None,
            "traces_by_workspace",
        ),
        (
            "one workspace, cursor",
            &one,
            filtered,
            cursor.clone(),
            "traces_by_workspace",
        ),
        (
            "two workspaces",
            &two,
            TraceFilter::default(),
            cursor,
            "traces_by_workspace",
        ),
    ] {
        let (sql, p) = list_sql(scope, &filter, 50, cursor).unwrap();
        let got = plan(&store, &sql, &p);
        indexed(what, &got);
        assert!(got.contains(index), "{what}: {index} not used in\n{got}");
        // Each arm stops after the page: no sort of a workspace's traces. (Two workspaces merge
        // two pages of at most 51 rows.)
        if !what.starts_with("two") {
            assert!(!got.contains("TEMP B-TREE"), "{what}: sorts in\n{got}");
        }
    }
}

#[test]
fn trace_page_and_conversation_read_indexes() {
    let (_dir, store) = store();
    let all = Scope::everything();
    let (sql, p) = workspace_of_sql(&all, "t");
    let by_id = plan(&store, &sql, &p);
    indexed("trace by id", &by_id);
    assert!(by_id.contains("sqlite_autoindex_traces_1"), "{by_id}");
    let p = [SqlValue::Text("w".into()), SqlValue::Text("t".into())];
    let spans = plan(&store, &spans_sql(), &p);
    indexed("spans of a trace", &spans);
    // The trace's sequence number through the key of `traces`, then its spans as a range of the
    // spans' own key.
    assert!(
        spans.contains("SEARCH spans USING INTEGER PRIMARY KEY (rowid>? AND rowid<?)"),
        "{spans}"
    );
    assert!(spans.contains("sqlite_autoindex_traces_1"), "{spans}");
    let (sql, p) = conversation_sql(&all, "s");
    let conv = plan(&store, &sql, &p);
    indexed("conversation", &conv);
    assert!(conv.contains("traces_by_session"), "{conv}");
}

#[test]
fn annotation_targets_are_found_through_indexes() {
    let (_dir, store) = store();
    let params = [SqlValue::Text("t".into()), SqlValue::Text("s".into())];
    let p = plan(
        &store,
        &crate::store::annotations::SPAN_WORKSPACES_SQL,
        &params,
    );
    indexed("span of an annotation", &p);
    assert!(p.contains("sqlite_autoindex_traces_1"), "{p}");
    assert!(
        p.contains("SEARCH s USING INTEGER PRIMARY KEY (rowid>? AND rowid<?)"),
        "{p}"
    );
    let p = plan(
        &store,
        crate::store::annotations::TRACE_WORKSPACES_SQL,
        &params[..1],
    );
    indexed("trace of an annotation", &p);
}
