//! The export contract: where finished spans go ([`SpanExporter`]) and where annotations go
//! ([`AnnotationSink`]). The exporters that implement them sit above (staso, OTLP, fan-out,
//! in-memory); the client holds them as trait objects.

use std::sync::Arc;
use std::time::Duration;

use crate::annotation::Annotation;
use crate::config::ExportSettings;
use crate::record::SpanRecord;
use crate::report::{DeliveryReport, EnqueueResult};

/// Receives finished spans. `export` is called on the thread that ended the span: it must not
/// block or do I/O (queue the record and return).
pub trait SpanExporter: Send + Sync + 'static {
    /// Called once by `init` with the client's serialization settings, before any export.
    fn attach(&self, _ctx: Arc<ExportSettings>) {}
    /// Accepts or rejects one record. The record arrives boxed (it was boxed once when the span
    /// started), so queueing it moves a pointer.
    fn export(&self, record: Box<SpanRecord>) -> EnqueueResult;
    /// Waits (up to `timeout`) until everything accepted before the call is settled.
    fn flush(&self, timeout: Duration) -> DeliveryReport;
    /// Stops accepting, drains within `timeout`, and returns the final report. Idempotent.
    fn shutdown(&self, timeout: Duration) -> DeliveryReport;
}

/// Receives validated annotations. `offer` is called on the annotating thread: it must not block
/// or do I/O (queue the annotation and return). Rejections are the sink's to count and log.
pub trait AnnotationSink: Send + Sync + 'static {
    /// Accepts or rejects one annotation.
    fn offer(&self, annotation: Annotation) -> EnqueueResult;
}
