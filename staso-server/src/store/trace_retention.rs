//! Trace retention: the pass that deletes old traces and keeps the database under its size
//! ([`Store::enforce_retention`]), and the background task that runs it.

use std::sync::Arc;
use std::time::Duration;

use super::traces::{TRACE_SEQ, span_key};
use super::{Store, StoreResult, TraceRetention};

/// Deletes the spans of trace `?2` in workspace `?1` (a range of the spans' key).
static DELETE_SPANS_SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
        "DELETE FROM spans WHERE {}",
        span_key::in_trace("span_key", TRACE_SEQ)
    )
});

/// What one pass of [`Store::enforce_retention`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RetentionReport {
    /// Traces deleted for their age.
    pub expired: u64,
    /// Traces deleted to bring the database under its size.
    pub evicted: u64,
    /// [`Store::used_bytes`] after the pass.
    pub used_bytes: u64,
}

/// Traces deleted per transaction: short enough that ingest (which shares the write connection)
/// waits at most milliseconds between two.
const CHUNK: i64 = 500;

fn now_us() -> i64 {
    i64::try_from(time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1000).unwrap_or(i64::MAX)
}

impl Store {
    /// Bytes of the database file in use: `(page_count - freelist_count) * page_size`. Pages freed
    /// by deletes are reused before the file grows, so this is the size the data needs; the file
    /// itself shrinks to it where `auto_vacuum = INCREMENTAL` is on (databases created by this
    /// version; older ones keep their file size and reuse the free pages). The WAL is not counted:
    /// it is checkpointed back into the file and kept under `journal_size_limit`.
    pub fn used_bytes(&self) -> StoreResult<u64> {
        self.read(|tx| {
            let pages: i64 = tx.query_row("PRAGMA page_count", [], |r| r.get(0))?;
            let free: i64 = tx.query_row("PRAGMA freelist_count", [], |r| r.get(0))?;
            let size: i64 = tx.query_row("PRAGMA page_size", [], |r| r.get(0))?;
            Ok(u64::try_from((pages - free).max(0) * size).unwrap_or(0))
        })
    }

    /// One pass of `retention`: deletes traces (with their spans and annotations) that started
    /// before now − `max_age`, then the oldest traces, a chunk at a time, while
    /// [`used_bytes`](Store::used_bytes) is over `max_db_bytes`; then returns freed pages to the
    /// file system (`incremental_vacuum`).
    pub fn enforce_retention(&self, retention: &TraceRetention) -> StoreResult<RetentionReport> {
        let mut report = RetentionReport::default();
        if let Some(age) = retention.max_age {
            let cutoff =
                now_us().saturating_sub(i64::try_from(age.as_micros()).unwrap_or(i64::MAX));
            loop {
                let n = self.delete_oldest(Some(cutoff), CHUNK)?;
                report.expired += n;
                if n == 0 {
                    break;
                }
            }
        }
        if let Some(max) = retention.max_db_bytes {
            loop {
                let used = self.used_bytes()?;
                if used <= max {
                    break;
                }
                // As many of the oldest traces as the excess holds at the average trace size
                // (plus one), at most a chunk.
                let traces: i64 = self.read(|tx| {
                    Ok(tx.query_row("SELECT COUNT(*) FROM traces", [], |r| r.get(0))?)
                })?;
                let per_trace = used / u64::try_from(traces.max(1)).unwrap_or(1);
                let want = ((used - max) / per_trace.max(1) + 1).min(CHUNK as u64);
                let n = self.delete_oldest(None, want as i64)?;
                report.evicted += n;
                if n == 0 {
                    break;
                }
            }
        }
        if report.expired + report.evicted > 0 {
            // One page is freed per step (the pragma yields a row for each): step to the end.
            self.write(|tx| {
                let mut stmt = tx.prepare("PRAGMA incremental_vacuum")?;
                let mut rows = stmt.query([])?;
                while rows.next()?.is_some() {}
                Ok(())
            })?;
        }
        report.used_bytes = self.used_bytes()?;
        Ok(report)
    }

    /// Deletes up to `limit` of the oldest traces (those starting before `before`, when given);
    /// returns how many.
    fn delete_oldest(&self, before: Option<i64>, limit: i64) -> StoreResult<u64> {
        self.write(|tx| {
            let victims: Vec<(String, String)> = {
                let mut stmt = tx.prepare_cached(
                    "SELECT workspace_slug, trace_id FROM traces WHERE start_us < ?1 \
                     ORDER BY start_us ASC, trace_id ASC LIMIT ?2",
                )?;
                let rows = stmt
                    .query_map(rusqlite::params![before.unwrap_or(i64::MAX), limit], |r| {
                        Ok((r.get(0)?, r.get(1)?))
                    })?;
                rows.collect::<Result<_, _>>()?
            };
            for (ws, trace_id) in &victims {
                for sql in [
                    &*DELETE_SPANS_SQL,
                    "DELETE FROM annotations WHERE workspace_slug = ?1 AND trace_id = ?2",
                    "DELETE FROM traces WHERE workspace_slug = ?1 AND trace_id = ?2",
                ] {
                    tx.prepare_cached(sql)?.execute([ws, trace_id])?;
                }
            }
            Ok(victims.len() as u64)
        })
    }
}

/// Runs [`Store::enforce_retention`] every `retention.interval`, forever (the first pass at once);
/// spawn it on the server's runtime (it ends with it). A failed pass is logged and retried at the
/// next interval.
pub async fn enforce_periodically(store: Arc<Store>, retention: TraceRetention) {
    let mut ticks = tokio::time::interval(retention.interval.max(Duration::from_millis(1)));
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        let s = Arc::clone(&store);
        match tokio::task::spawn_blocking(move || s.enforce_retention(&retention)).await {
            Ok(Ok(r)) if r.expired + r.evicted > 0 => log::info!(
                "retention: deleted {} expired and {} evicted traces; {} bytes in use",
                r.expired,
                r.evicted,
                r.used_bytes
            ),
            Ok(Ok(_)) => {}
            Ok(Err(e)) => log::warn!("retention pass failed: {e}"),
            Err(e) => log::warn!("retention pass failed: {e}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::Scope;
    use crate::store::traces::{self, CheckedGroup, CheckedSpan, TraceFilter};
    use staso_wire::ingest::WireSpan;

    const DAY_US: i64 = 86_400_000_000;

    /// A trace of `spans` spans starting `age_us` ago, each with `payload` bytes of input.
    fn trace(n: usize, age_us: i64, spans: usize, payload: usize) -> CheckedGroup {
        let start = now_us() - age_us;
        CheckedGroup {
            trace_id: format!("t{n:06}"),
            environment: "test".into(),
            workspace_slug: "default".into(),
            spans: (0..spans)
                .map(|i| {
                    let mut s = WireSpan::empty(format!("s{i}"));
                    s.parent_span_id = (i > 0).then(|| "s0".to_owned());
                    s.name = format!("step {i}");
                    s.kind = "tool".into();
                    s.status = "ok".into();
                    s.timestamp = "2026-01-01T00:00:00+00:00".into();
                    s.input = format!("\"{}\"", "x".repeat(payload));
                    CheckedSpan {
                        span: s,
                        start_us: start + i as i64,
                    }
                })
                .collect(),
        }
    }

    fn ids(store: &Store) -> Vec<String> {
        let (page, _) = traces::list(
            store,
            &Scope::everything(),
            &TraceFilter::default(),
            500,
            None,
        )
        .unwrap();
        page.into_iter().map(|t| t.trace_id).collect()
    }

    #[test]
    fn traces_older_than_the_age_go_with_their_spans_and_annotations() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path().join("r.db")).unwrap();
        let groups = vec![
            trace(1, 40 * DAY_US, 3, 10),
            trace(2, 31 * DAY_US, 3, 10),
            trace(3, 29 * DAY_US, 3, 10),
            trace(4, 0, 3, 10),
        ];
        traces::store_groups(&store, groups).unwrap();
        store
            .write(|tx| {
                tx.execute(
                    "INSERT INTO annotations(id, workspace_slug, trace_id, name, value, data_type, \
                     created_at, seq) VALUES ('a1', 'default', 't000001', 'q', '1', 'NUMERIC', '', 1)",
                    [],
                )?;
                Ok(())
            })
            .unwrap();
        let keep_30_days = TraceRetention {
            max_age: Some(Duration::from_secs(30 * 86_400)),
            ..Default::default()
        };
        let r = store.enforce_retention(&keep_30_days).unwrap();
        assert_eq!((r.expired, r.evicted), (2, 0));
        assert_eq!(ids(&store), ["t000004", "t000003"]);
        let (spans, annotations): (i64, i64) = store
            .read(|tx| {
                Ok(tx.query_row(
                    "SELECT (SELECT COUNT(*) FROM spans), (SELECT COUNT(*) FROM annotations)",
                    [],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )?)
            })
            .unwrap();
        assert_eq!((spans, annotations), (6, 0));
        // A second pass finds nothing to do.
        assert_eq!(store.enforce_retention(&keep_30_days).unwrap().expired, 0);
    }

    #[test]
    fn the_oldest_traces_go_until_the_database_fits_and_the_file_shrinks() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.db");
        let store = Store::open(&path).unwrap();
        let auto_vacuum: i64 = store
            .read(|tx| Ok(tx.query_row("PRAGMA auto_vacuum", [], |r| r.get(0))?))
            .unwrap();
        assert_eq!(auto_vacuum, 2, "INCREMENTAL on a new database");
        // 1,000 traces of 4 spans with 2 KiB inputs: about 8 MiB; the newest is trace 999.
        for chunk in 0..10 {
            let groups = (0..100)
                .map(|i| {
                    let n = chunk * 100 + i;
                    trace(n, (1000 - n as i64) * 1_000_000, 4, 2048)
                })
                .collect();
            traces::store_groups(&store, groups).unwrap();
        }
        // Outside any transaction: the WAL copied into the file, then truncated.
        let checkpoint = |_: &Store| {
            rusqlite::Connection::open(&path)
                .unwrap()
                .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
                .unwrap();
        };
        checkpoint(&store);
        let before = store.used_bytes().unwrap();
        let file_before = std::fs::metadata(&path).unwrap().len();
        assert!(before > 8_000_000, "{before}");
        let max = before / 2;
        let r = store
            .enforce_retention(&TraceRetention {
                max_db_bytes: Some(max),
                ..Default::default()
            })
            .unwrap();
        assert!(r.evicted >= 450 && r.evicted < 600, "{r:?}");
        assert!(r.used_bytes <= max, "{r:?} over {max}");
        let left = ids(&store);
        assert_eq!(left.len() as u64, 1000 - r.evicted);
        // The newest were kept.
        assert_eq!(left[0], "t000999");
        assert_eq!(
            left.last().map(String::as_str),
            Some(format!("t{:06}", r.evicted).as_str())
        );
        checkpoint(&store);
        let file_after = std::fs::metadata(&path).unwrap().len();
        assert!(
            file_after <= max + max / 10,
            "file {file_before} → {file_after}, max {max}"
        );
    }
}
