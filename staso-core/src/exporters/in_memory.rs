//! An exporter that keeps every span in memory, in its wire form: for tests and examples.

use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use crate::config::ExportSettings;
use crate::export::SpanExporter;
use crate::record::SpanRecord;
use crate::report::{DeliveryReport, EnqueueResult};
use crate::serialize::to_wire;
use staso_wire::ingest::WireSpan;

/// A span as the in-memory exporter keeps it: the wire form plus its trace id.
#[derive(Clone, Debug, PartialEq)]
pub struct ExportedSpan {
    /// Trace id (8-4-4-4-12).
    pub trace_id: String,
    /// The span exactly as it would be sent.
    pub span: WireSpan,
}

/// Keeps every exported span in memory, converted to its wire form under the client's capture
/// policy. For tests and examples.
#[derive(Clone, Default)]
pub struct InMemoryExporter {
    inner: Arc<InMemoryInner>,
}

#[derive(Default)]
struct InMemoryInner {
    ctx: OnceLock<Arc<ExportSettings>>,
    spans: Mutex<Vec<ExportedSpan>>,
    closed: std::sync::atomic::AtomicBool,
}

impl InMemoryExporter {
    /// An empty exporter.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<ExportedSpan>> {
        self.inner.spans.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Every span exported so far, in export order (provisional snapshots included).
    pub fn spans(&self) -> Vec<ExportedSpan> {
        self.lock().clone()
    }

    /// The final records only (provisional snapshots left out), in export order.
    pub fn finished(&self) -> Vec<ExportedSpan> {
        self.lock()
            .iter()
            .filter(|s| !s.span.is_provisional_root())
            .cloned()
            .collect()
    }

    /// Removes everything.
    pub fn clear(&self) {
        self.lock().clear();
    }

    /// Renders the finished spans of every trace as indented trees, one line per span:
    /// `kind name [status] in=… out=…`, children under their parent in export-start order.
    pub fn render(&self) -> String {
        render_trees(&self.finished())
    }
}

impl SpanExporter for InMemoryExporter {
    fn attach(&self, ctx: Arc<ExportSettings>) {
        let _ = self.inner.ctx.set(ctx);
    }

    fn export(&self, record: Box<SpanRecord>) -> EnqueueResult {
        use crate::report::DeliveryFailureKind;
        if self.inner.closed.load(std::sync::atomic::Ordering::Acquire) {
            return EnqueueResult::rejected(DeliveryFailureKind::Shutdown, false);
        }
        let Some(ctx) = self.inner.ctx.get() else {
            return EnqueueResult::rejected(DeliveryFailureKind::Disabled, false);
        };
        let (trace_id, span) = to_wire(&record, ctx);
        self.lock().push(ExportedSpan { trace_id, span });
        EnqueueResult::ACCEPTED
    }

    fn flush(&self, _timeout: Duration) -> DeliveryReport {
        let n = self.lock().len() as u64;
        DeliveryReport {
            accepted: n,
            delivered: n,
            ..Default::default()
        }
    }

    fn shutdown(&self, timeout: Duration) -> DeliveryReport {
        self.inner
            .closed
            .store(true, std::sync::atomic::Ordering::Release);
        self.flush(timeout)
    }
}

/// Renders spans as indented trees (see [`InMemoryExporter::render`]). Spans are ordered by start
/// timestamp within each parent; traces by their root's timestamp.
pub fn render_trees(spans: &[ExportedSpan]) -> String {
    let mut sorted: Vec<&ExportedSpan> = spans.iter().collect();
    sorted.sort_by(|a, b| a.span.timestamp.cmp(&b.span.timestamp));
    let ids: std::collections::HashSet<(&str, &str)> = sorted
        .iter()
        .map(|s| (s.trace_id.as_str(), s.span.span_id.as_str()))
        .collect();
    let mut out = String::new();
    fn walk(all: &[&ExportedSpan], parent: &ExportedSpan, depth: usize, out: &mut String) {
        line(parent, depth, out);
        for c in all.iter().filter(|c| {
            c.trace_id == parent.trace_id
                && c.span.parent_span_id.as_deref() == Some(parent.span.span_id.as_str())
        }) {
            walk(all, c, depth + 1, out);
        }
    }
    fn line(s: &ExportedSpan, depth: usize, out: &mut String) {
        use std::fmt::Write;
        let _ = write!(
            out,
            "{}{} {} [{}]",
            "  ".repeat(depth),
            s.span.kind,
            s.span.name,
            s.span.status
        );
        if !s.span.input.is_empty() {
            let _ = write!(out, " in={}", s.span.input);
        }
        if !s.span.output.is_empty() {
            let _ = write!(out, " out={}", s.span.output);
        }
        if let Some(e) = &s.span.error_message {
            let _ = write!(out, " err={e:?}");
        }
        out.push('\n');
    }
    for root in sorted.iter().filter(|s| match &s.span.parent_span_id {
        None => true,
        Some(p) => !ids.contains(&(s.trace_id.as_str(), p.as_str())),
    }) {
        walk(&sorted, root, 0, &mut out);
    }
    out
}
