//! A trace's summary columns from its spans, computed in one pass: over the rows read back for a
//! trace that already had spans, or over the request's spans for a new trace (then the `traces`
//! row is inserted once, complete, instead of inserted and updated, which would move its entries
//! in every index on `start_us` and `session_id`).
//!
//! The rules: the root is the span without a parent, final before provisional, earliest first;
//! the status is `error` if any span failed, else `timeout`, else `running` while a provisional
//! root is there, else `ok`; the duration is the final root's, else the spans' extent; the
//! timestamp is the earliest span's.

/// One span as the summary sees it.
pub(super) struct SpanFacts<'a> {
    pub is_root: bool,
    pub provisional: bool,
    pub start_us: i64,
    pub duration_ms: f64,
    pub timestamp: &'a str,
    pub name: &'a str,
    pub agent_name: &'a str,
    pub session_id: &'a str,
    pub status: &'a str,
}

/// The summary columns of a trace.
#[derive(Debug, Default)]
pub(super) struct Summary {
    pub span_count: i64,
    pub start_us: i64,
    pub end_us: i64,
    pub timestamp: String,
    pub root_name: String,
    pub agent_name: String,
    pub session_id: String,
    pub status: &'static str,
    pub duration_ms: f64,
}

/// The root candidate: its ordering key (not a root, provisional, start), name, agent, session.
type RootCandidate = ((bool, bool, i64), String, String, String);

/// Folds spans into a [`Summary`].
#[derive(Default)]
pub(super) struct Accumulator {
    count: i64,
    start: Option<i64>,
    end: i64,
    first: Option<(i64, String)>,
    root: Option<RootCandidate>,
    error: bool,
    timeout: bool,
    running: bool,
    final_root: Option<(i64, f64)>,
}

impl Accumulator {
    pub fn add(&mut self, s: &SpanFacts<'_>) {
        self.count += 1;
        self.start = Some(self.start.map_or(s.start_us, |v| v.min(s.start_us)));
        // As SQLite's CAST(duration_ms * 1000 AS INTEGER): truncated, saturating.
        let end = s.start_us.saturating_add((s.duration_ms * 1000.0) as i64);
        self.end = if self.count == 1 {
            end
        } else {
            self.end.max(end)
        };
        if self
            .first
            .as_ref()
            .is_none_or(|(us, ts)| (s.start_us, s.timestamp) < (*us, ts.as_str()))
        {
            self.first = Some((s.start_us, s.timestamp.to_owned()));
        }
        let key = (!s.is_root, s.provisional, s.start_us);
        if self.root.as_ref().is_none_or(|r| key < r.0) {
            self.root = Some((
                key,
                s.name.to_owned(),
                s.agent_name.to_owned(),
                s.session_id.to_owned(),
            ));
        }
        match s.status {
            "error" => self.error = true,
            "timeout" => self.timeout = true,
            _ => {}
        }
        self.running |= s.is_root && s.provisional;
        if s.is_root && !s.provisional && self.final_root.is_none_or(|(us, _)| s.start_us < us) {
            self.final_root = Some((s.start_us, s.duration_ms));
        }
    }

    /// The summary; `None` for a trace without spans.
    pub fn finish(self) -> Option<Summary> {
        let start_us = self.start?;
        let (_, timestamp) = self.first?;
        let (_, root_name, agent_name, session_id) = self.root?;
        let status = if self.error {
            "error"
        } else if self.timeout {
            "timeout"
        } else if self.running {
            "running"
        } else {
            "ok"
        };
        let duration_ms = self
            .final_root
            .map_or((self.end - start_us) as f64 / 1000.0, |(_, d)| d);
        Some(Summary {
            span_count: self.count,
            start_us,
            end_us: self.end,
            timestamp,
            root_name,
            agent_name,
            session_id,
            status,
            duration_ms,
        })
    }
}
