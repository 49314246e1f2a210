//! staso → `tracing`: the current staso span's ids, to put on `tracing` events so that log lines
//! can be matched with the trace they were written in.

use std::fmt;

use crate::{SpanId, TraceId, current_span_ref};

/// The trace and span ids of the current staso span (see [`ids`]); both `None` outside a
/// recording span.
///
/// `Display` writes `<trace id>/<span id>` (the wire forms shown by the Staso UI), or `-`
/// outside a span; [`trace`](Self::trace) and [`span`](Self::span) display one id each.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StasoIds {
    trace_id: Option<TraceId>,
    span_id: Option<SpanId>,
}

impl StasoIds {
    /// The trace id.
    pub fn trace_id(&self) -> Option<TraceId> {
        self.trace_id
    }

    /// The span id.
    pub fn span_id(&self) -> Option<SpanId> {
        self.span_id
    }

    /// Whether a recording staso span was current.
    pub fn is_some(&self) -> bool {
        self.trace_id.is_some()
    }

    /// The trace id for a log field: its wire form, or `-`.
    pub fn trace(&self) -> impl fmt::Display + fmt::Debug + '_ {
        OrDash(self.trace_id)
    }

    /// The span id for a log field: its wire form, or `-`.
    pub fn span(&self) -> impl fmt::Display + fmt::Debug + '_ {
        OrDash(self.span_id)
    }
}

struct OrDash<T>(Option<T>);

impl<T: fmt::Display> fmt::Display for OrDash<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Some(v) => v.fmt(f),
            None => f.write_str("-"),
        }
    }
}

impl<T: fmt::Display> fmt::Debug for OrDash<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for StasoIds {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.trace_id, self.span_id) {
            (Some(t), Some(s)) => write!(f, "{t}/{s}"),
            _ => f.write_str("-"),
        }
    }
}

/// The current staso span's ids (no allocation): put them on `tracing` events so that logs line
/// up with traces.
///
/// ```
/// use std::sync::Arc;
/// use staso::{InMemoryExporter, SpanKind};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let config = staso::Config::builder().api_key("ak_test").agent_name("demo").capture_git(false).build_with_env(|_| None)?;
/// let _staso = staso::init_with_exporter(config, Arc::new(InMemoryExporter::new()))?;
///
/// assert_eq!(staso::tracing::ids().to_string(), "-");
/// staso::span("charge", SpanKind::Tool, |span| {
///     let ids = staso::tracing::ids();
///     // One field per id (fmt output: `trace_id=… span_id=…`) …
///     tracing::info!(trace_id = %ids.trace(), span_id = %ids.span(), "charged");
///     // … or both in one (`staso=<trace id>/<span id>`).
///     tracing::info!(staso = %ids, "charged");
///     assert_eq!(ids.trace_id().map(|t| t.to_string()), span.trace_id());
///     assert_eq!(ids.span_id().map(|s| s.to_string()), span.span_id());
/// });
/// # Ok(())
/// # }
/// ```
pub fn ids() -> StasoIds {
    match current_span_ref() {
        Some(p) => StasoIds {
            trace_id: Some(p.trace_id),
            span_id: Some(p.span_id),
        },
        None => StasoIds::default(),
    }
}
