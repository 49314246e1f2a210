//! The key of a span row (schema v7): its trace's sequence number in the high bits and its
//! ordinal within the trace in the low [`ORDINAL_BITS`]. It is the rowid of `spans`, so a trace's
//! spans are one range of the table's own B-tree (no second index), and a new trace's spans are
//! appended at its end.

use super::super::{StoreError, StoreResult};

/// Bits of a span key below its trace's sequence number: at most 16 777 216 spans per trace,
/// and sequence numbers up to 2^39 (hundreds of billions of traces).
pub(crate) const ORDINAL_BITS: u32 = 24;

/// Spans a trace may hold (its ordinals).
pub(crate) const MAX_SPANS_PER_TRACE: i64 = 1 << ORDINAL_BITS;

/// The first key of trace `seq`'s spans.
pub(crate) fn first(seq: i64) -> i64 {
    seq << ORDINAL_BITS
}

/// The last key trace `seq`'s spans may use.
pub(crate) fn last(seq: i64) -> i64 {
    first(seq) + MAX_SPANS_PER_TRACE - 1
}

/// The key of the span with ordinal `ordinal` of trace `seq`, or an error naming the trace when
/// it would hold more spans than a trace may.
pub(crate) fn key(seq: i64, ordinal: i64, trace_id: &str) -> StoreResult<i64> {
    if !(0..MAX_SPANS_PER_TRACE).contains(&ordinal) {
        return Err(StoreError::Invalid(format!(
            "trace {trace_id}: more than {MAX_SPANS_PER_TRACE} spans"
        )));
    }
    Ok(first(seq) + ordinal)
}

/// SQL: `column` (a span key, e.g. `s.span_key`) is one of trace `seq`'s (an SQL expression, e.g.
/// `t.seq` or a subquery), written as a range SQLite searches the table's key with.
pub(crate) fn in_trace(column: &str, seq: &str) -> String {
    format!(
        "{column} BETWEEN ({seq}) * {MAX_SPANS_PER_TRACE} \
         AND ({seq}) * {MAX_SPANS_PER_TRACE} + {}",
        MAX_SPANS_PER_TRACE - 1
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_of_a_trace_are_one_range_and_an_overfull_trace_is_refused() {
        assert_eq!(key(3, 0, "t").unwrap(), first(3));
        assert_eq!(key(3, MAX_SPANS_PER_TRACE - 1, "t").unwrap(), last(3));
        assert_eq!(last(3) + 1, first(4));
        let err = key(3, MAX_SPANS_PER_TRACE, "t-full").unwrap_err();
        assert!(err.to_string().contains("t-full"), "{err}");
        assert!(key(3, -1, "t").is_err());
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        let inside = |k: i64| -> bool {
            conn.query_row(&format!("SELECT {}", in_trace("?1", "3")), [k], |r| {
                r.get(0)
            })
            .unwrap()
        };
        assert!(inside(first(3)) && inside(last(3)));
        assert!(!inside(first(3) - 1) && !inside(first(4)));
    }
}
