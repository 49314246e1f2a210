//! Several exporters at once: [`FanOutExporter`] hands every span to each of them, and
//! `start_exporters` (used by `init`) builds what a [`Config`]'s exporter selection asks for.
//!
//! Each member keeps its own queue, worker and retry state, so a down OTLP collector never delays
//! Staso delivery, nor the reverse. OTLP members share one `Arc<SpanRecord>`; an exporter that
//! takes records by value (the Staso transport) gets its own copy.

use std::sync::Arc;
use std::time::Duration;

use crate::config::ExportSettings;
use crate::export::SpanExporter;
use crate::exporters::otlp::OtlpExporter;
use crate::record::SpanRecord;
use crate::report::{DeliveryReport, EnqueueResult};

enum Member {
    /// Takes shared records.
    Otlp(Arc<OtlpExporter>),
    /// Takes records by value.
    Owned(Arc<dyn SpanExporter>),
}

impl Member {
    fn as_exporter(&self) -> &dyn SpanExporter {
        match self {
            Member::Otlp(e) => e.as_ref(),
            Member::Owned(e) => e.as_ref(),
        }
    }
}

/// Delivers every span to each of its exporters; `flush` and `shutdown` run on all of them at
/// once and return the total with [`DeliveryReport::per_exporter`] filled in.
///
/// ```no_run
/// use std::sync::Arc;
/// use staso_core::__internal::FanOutExporter;
/// use staso_core::InMemoryExporter;
/// let both = FanOutExporter::new()
///     .with("a", Arc::new(InMemoryExporter::new()))
///     .with("b", Arc::new(InMemoryExporter::new()));
/// ```
#[derive(Default)]
pub struct FanOutExporter {
    members: Vec<(String, Member)>,
}

impl std::fmt::Debug for FanOutExporter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FanOutExporter")
            .field(
                "exporters",
                &self.members.iter().map(|(n, _)| n).collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl FanOutExporter {
    /// How many exporters it sends to.
    pub(crate) fn len(&self) -> usize {
        self.members.len()
    }

    /// Its only exporter, when it has exactly one (no fan-out needed).
    pub(crate) fn into_only(mut self) -> Option<Arc<dyn SpanExporter>> {
        if self.members.len() != 1 {
            return None;
        }
        self.members.pop().map(|(_, m)| match m {
            Member::Owned(e) => e,
            Member::Otlp(e) => e as Arc<dyn SpanExporter>,
        })
    }

    /// No exporters yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds an exporter under `name` (the name in [`DeliveryReport::per_exporter`]).
    pub fn with(mut self, name: impl Into<String>, exporter: Arc<dyn SpanExporter>) -> Self {
        self.members.push((name.into(), Member::Owned(exporter)));
        self
    }

    /// Adds an OTLP exporter, which shares records with the other OTLP members instead of
    /// copying them.
    pub fn with_otlp(mut self, name: impl Into<String>, exporter: Arc<OtlpExporter>) -> Self {
        self.members.push((name.into(), Member::Otlp(exporter)));
        self
    }

    /// Runs `f` on every member at once (so one slow member does not eat the others' timeout).
    fn each(&self, f: impl Fn(&dyn SpanExporter) -> DeliveryReport + Sync) -> DeliveryReport {
        let parts: Vec<(String, DeliveryReport)> = std::thread::scope(|s| {
            let handles: Vec<_> = self
                .members
                .iter()
                .map(|(name, m)| {
                    let f = &f;
                    (name, s.spawn(move || f(m.as_exporter())))
                })
                .collect();
            handles
                .into_iter()
                .map(|(name, h)| {
                    let report = h.join().unwrap_or_else(|_| DeliveryReport {
                        last_failure: Some(crate::report::DeliveryFailureKind::BackendUnavailable),
                        retryable: true,
                        ..Default::default()
                    });
                    (name.clone(), report)
                })
                .collect()
        });
        DeliveryReport::combine(parts)
    }
}

impl SpanExporter for FanOutExporter {
    fn attach(&self, ctx: Arc<ExportSettings>) {
        for (_, m) in &self.members {
            m.as_exporter().attach(ctx.clone());
        }
    }

    /// Accepted when every member accepted; otherwise the first member's rejection.
    fn export(&self, record: Box<SpanRecord>) -> EnqueueResult {
        let owned = self
            .members
            .iter()
            .filter(|(_, m)| matches!(m, Member::Owned(_)))
            .count();
        let shares = self.members.len() > owned;
        let mut result = EnqueueResult::ACCEPTED;
        let mut keep = |r: EnqueueResult| {
            if result.accepted && !r.accepted {
                result = r;
            }
        };
        let mut copies_left = if shares {
            owned
        } else {
            owned.saturating_sub(1)
        };
        let mut last_owned = None;
        for (_, m) in &self.members {
            if let Member::Owned(e) = m {
                if copies_left > 0 {
                    copies_left -= 1;
                    keep(e.export(record.clone()));
                } else {
                    last_owned = Some(e);
                }
            }
        }
        match last_owned {
            Some(e) => keep(e.export(record)),
            None if shares => {
                let shared: Arc<SpanRecord> = Arc::from(record);
                for (_, m) in &self.members {
                    if let Member::Otlp(e) = m {
                        keep(e.export_shared(shared.clone()));
                    }
                }
            }
            None => {}
        }
        result
    }

    fn flush(&self, timeout: Duration) -> DeliveryReport {
        self.each(|e| e.flush(timeout))
    }

    fn shutdown(&self, timeout: Duration) -> DeliveryReport {
        self.each(|e| e.shutdown(timeout))
    }
}
