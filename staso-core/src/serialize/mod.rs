//! From `SpanRecord` to `WireSpan`: ids and timestamps formatted, the attributes map assembled and
//! the capture policy of PROTOCOL.md §2.5 applied. Runs on the worker thread (or in the in-memory
//! exporter), never on the caller's hot path.

use crate::config::ExportSettings;
use crate::record::SpanRecord;
use staso_wire::ingest::WireSpan;

mod attributes;
mod body;
mod json;
mod view;

pub use view::{SpanView, TraceBatch};

/// Converts a record to its wire form under the client's policy. Returns the trace id string
/// (moved to the trace level by the transport) and the span.
///
/// This goes through [`SpanView`]'s serialization, so the in-memory exporter and the HTTP transport
/// can never disagree on what a span looks like on the wire.
pub fn to_wire(record: &SpanRecord, ctx: &ExportSettings) -> (String, WireSpan) {
    let view = SpanView::new(record, ctx);
    let span = serde_json::to_value(&view)
        .and_then(serde_json::from_value)
        .unwrap_or_else(|e| {
            log::debug!("staso: span {} could not be converted: {e}", record.span_id);
            WireSpan::empty(view.span_id().to_owned())
        });
    (record.trace_id.to_string(), span)
}
