//! What [`Span::current`](super::Span::current) writes to: changes made through a handle to a span
//! that lives elsewhere (an instrumented fn's span on the stack, a manual span owned by other
//! code), kept per span id until that span is emitted.
//!
//! The span's owner never has to look here unless some handle was opened: the table's size is kept
//! in one atomic, and emission reads it once (a relaxed load; a handle opened before the owner
//! emits is seen because opening happens before the span ends). Opening registers the span; the
//! span's emission (or discard) closes the entry, so a change made through a handle after its span
//! has ended is dropped, logged at debug level. The table is bounded: past [`MAX_OPEN_SPANS`] the
//! oldest entry is evicted (its changes are lost, logged), past [`MAX_CHANGES_PER_SPAN`] changes
//! to one span further changes are dropped (logged once per span).

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{LazyLock, Mutex, MutexGuard};

use crate::ids::SpanId;
use crate::record::SpanRecord;

/// A change to a span's record, applied when the span is emitted.
pub(crate) type Change = Box<dyn FnOnce(&mut SpanRecord) + Send>;

/// Spans with an open handle at once; the oldest is evicted past it.
pub(crate) const MAX_OPEN_SPANS: usize = 4096;
/// Changes kept for one span.
pub(crate) const MAX_CHANGES_PER_SPAN: usize = 1024;

struct Entry {
    opened: u64,
    changes: Vec<Change>,
    /// `drop_span` through a handle: the span is discarded when its owner emits it.
    dropped: bool,
    overflow_logged: bool,
}

#[derive(Default)]
struct Table {
    entries: HashMap<SpanId, Entry>,
    next: u64,
}

/// Entries in the table; read on every emission, so a span nobody opened pays one load.
static OPEN: AtomicUsize = AtomicUsize::new(0);
static TABLE: LazyLock<Mutex<Table>> = LazyLock::new(Mutex::default);

fn table() -> MutexGuard<'static, Table> {
    TABLE.lock().unwrap_or_else(|e| e.into_inner())
}

/// Registers a handle to `span` (a no-op when one is registered already).
pub(crate) fn open(span: SpanId) {
    let mut t = table();
    if t.entries.contains_key(&span) {
        return;
    }
    if t.entries.len() >= MAX_OPEN_SPANS {
        let oldest = t
            .entries
            .iter()
            .min_by_key(|(_, e)| e.opened)
            .map(|(k, _)| *k);
        if let Some(k) = oldest {
            t.entries.remove(&k);
            OPEN.fetch_sub(1, Ordering::Relaxed);
            log::warn!(
                "staso: more than {MAX_OPEN_SPANS} spans changed through Span::current() at once; \
                 the changes to span {k} are dropped"
            );
        }
    }
    let opened = t.next;
    t.next += 1;
    t.entries.insert(
        span,
        Entry {
            opened,
            changes: Vec::new(),
            dropped: false,
            overflow_logged: false,
        },
    );
    OPEN.fetch_add(1, Ordering::Relaxed);
}

/// Whether `span` has not been emitted (or discarded) since a handle opened it.
pub(crate) fn is_open(span: SpanId) -> bool {
    OPEN.load(Ordering::Relaxed) > 0 && table().entries.get(&span).is_some_and(|e| !e.dropped)
}

/// Queues `change` for `span`. Dropped (debug log) when the span has already been emitted.
pub(crate) fn push(span: SpanId, change: Change) {
    let mut t = table();
    let Some(e) = t.entries.get_mut(&span) else {
        log::debug!("staso: a change through Span::current() arrived after span {span} ended");
        return;
    };
    if e.changes.len() >= MAX_CHANGES_PER_SPAN {
        if !e.overflow_logged {
            e.overflow_logged = true;
            log::warn!(
                "staso: more than {MAX_CHANGES_PER_SPAN} changes to span {span} through \
                 Span::current(); later ones are dropped"
            );
        }
        return;
    }
    e.changes.push(change);
}

/// Marks `span` to be discarded when its owner emits it.
pub(crate) fn drop_span(span: SpanId) {
    if let Some(e) = table().entries.get_mut(&span) {
        e.dropped = true;
        e.changes.clear();
    }
}

/// Applies the queued changes to `record` before it is emitted and closes its entry. Returns
/// `false` when a handle dropped the span: the record must not be emitted. Provisional
/// snapshots read the entry without closing it (the span is still running).
#[inline]
pub(crate) fn settle(record: &mut SpanRecord) -> bool {
    if OPEN.load(Ordering::Relaxed) == 0 || record.provisional {
        return true;
    }
    settle_open(record)
}

#[cold]
fn settle_open(record: &mut SpanRecord) -> bool {
    let entry = {
        let mut t = table();
        let e = t.entries.remove(&record.span_id);
        if e.is_some() {
            OPEN.fetch_sub(1, Ordering::Relaxed);
        }
        e
    };
    let Some(entry) = entry else {
        return true;
    };
    for change in entry.changes {
        change(record);
    }
    !entry.dropped
}

/// Closes `span`'s entry without applying anything (its record was discarded).
pub(crate) fn close(span: SpanId) {
    if OPEN.load(Ordering::Relaxed) == 0 {
        return;
    }
    if table().entries.remove(&span).is_some() {
        OPEN.fetch_sub(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::TraceId;
    use crate::kind::SpanKind;
    use std::borrow::Cow;

    fn record(id: u64) -> SpanRecord {
        SpanRecord::new(
            TraceId(1),
            SpanId(id),
            None,
            Cow::Borrowed("s"),
            SpanKind::Chain,
            crate::time::now(),
        )
    }

    // Ids far from the ones other tests draw (random 64-bit), so parallel tests do not meet.
    const BASE: u64 = 0x5eed_0000_0000_0000;

    #[test]
    fn changes_apply_once_at_settle_then_the_entry_is_closed() {
        let id = SpanId(BASE + 1);
        open(id);
        push(id, Box::new(|r| r.model = "m1".into()));
        push(id, Box::new(|r| r.input_tokens = 7));
        let mut r = record(id.0);
        assert!(settle(&mut r));
        assert_eq!((r.model.as_str(), r.input_tokens), ("m1", 7));
        assert!(!is_open(id));
        push(id, Box::new(|r| r.model = "late".into()));
        let mut again = record(id.0);
        assert!(settle(&mut again));
        assert_eq!(again.model, "", "a change after the end is dropped");
    }

    #[test]
    fn provisional_snapshots_leave_the_entry_open() {
        let id = SpanId(BASE + 2);
        open(id);
        push(id, Box::new(|r| r.output_tokens = 3));
        let mut snap = record(id.0);
        snap.provisional = true;
        assert!(settle(&mut snap));
        assert_eq!(snap.output_tokens, 0);
        assert!(is_open(id));
        close(id);
        assert!(!is_open(id));
    }

    #[test]
    fn a_dropped_span_is_not_emitted() {
        let id = SpanId(BASE + 3);
        open(id);
        drop_span(id);
        assert!(!is_open(id));
        let mut r = record(id.0);
        assert!(!settle(&mut r));
    }

    #[test]
    fn changes_per_span_are_bounded() {
        let id = SpanId(BASE + 4);
        open(id);
        for _ in 0..MAX_CHANGES_PER_SPAN + 10 {
            push(id, Box::new(|r| r.total_tokens += 1));
        }
        let mut r = record(id.0);
        settle(&mut r);
        assert_eq!(r.total_tokens, MAX_CHANGES_PER_SPAN as u64);
    }
}
