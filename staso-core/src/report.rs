//! Delivery outcomes: `EnqueueResult`, `DeliveryFailureKind` and `DeliveryReport` (PROTOCOL.md §3.5–3.6).

use std::fmt;

/// Why a record or a batch was not delivered.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DeliveryFailureKind {
    /// No client, or the client is disabled.
    Disabled,
    /// The client was shut down.
    Shutdown,
    /// The queue was full when the record was offered.
    QueueFull,
    /// HTTP 401.
    InvalidKey,
    /// HTTP 402.
    PlanExpired,
    /// HTTP 403.
    Forbidden,
    /// HTTP 429.
    RateLimited,
    /// A bad acknowledgement, a 3xx, or another 4xx.
    MalformedResponse,
    /// HTTP 5xx, or the worker died.
    BackendUnavailable,
    /// Connection or I/O failure.
    NetworkUnavailable,
    /// The request or a flush deadline timed out.
    Timeout,
}

impl DeliveryFailureKind {
    /// The wire/report string (`"queue_full"`, …).
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Disabled => "disabled",
            Self::Shutdown => "shutdown",
            Self::QueueFull => "queue_full",
            Self::InvalidKey => "invalid_key",
            Self::PlanExpired => "plan_expired",
            Self::Forbidden => "forbidden",
            Self::RateLimited => "rate_limited",
            Self::MalformedResponse => "malformed_response",
            Self::BackendUnavailable => "backend_unavailable",
            Self::NetworkUnavailable => "network_unavailable",
            Self::Timeout => "timeout",
        }
    }
}

impl fmt::Display for DeliveryFailureKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What happened when a finished span was handed to the exporter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EnqueueResult {
    /// The record was accepted for delivery.
    pub accepted: bool,
    /// Why it was not, when it was not.
    pub failure_kind: Option<DeliveryFailureKind>,
    /// Whether trying again later could succeed.
    pub retryable: bool,
}

impl EnqueueResult {
    /// An accepted record.
    pub const ACCEPTED: EnqueueResult = EnqueueResult {
        accepted: true,
        failure_kind: None,
        retryable: false,
    };

    /// A rejection of the given kind.
    pub const fn rejected(kind: DeliveryFailureKind, retryable: bool) -> Self {
        EnqueueResult {
            accepted: false,
            failure_kind: Some(kind),
            retryable,
        }
    }
}

/// Cumulative delivery counts of one client, returned by `flush` and `shutdown` (PROTOCOL.md §3.6).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct DeliveryReport {
    /// Records accepted into the queue up to the barrier.
    pub accepted: u64,
    /// Of those, records in acknowledged batches.
    pub delivered: u64,
    /// Of those, records in batches that failed for good.
    pub failed: u64,
    /// `accepted - delivered - failed`.
    pub pending: u64,
    /// Records refused at enqueue (queue full, after shutdown); not part of `accepted`.
    pub rejected: u64,
    /// Spans of traces dropped by sampling, never sent and not part of `accepted`: the roots of
    /// traces head sampling dropped (their other spans are never recorded), and every span of a
    /// held trace the tail rules then dropped (or that was evicted from the held set).
    pub sampled_out: u64,
    /// Captured fields (inputs, outputs, metadata values) cut to a payload budget
    /// (`max_field_bytes`, `max_span_bytes`) before sending, counted once per field and exporter
    /// when the worker serializes the span. The span itself is sent.
    pub truncated_fields: u64,
    /// Values the mask callback panicked on: each was replaced by a marker and its span sent.
    pub masked_values_dropped: u64,
    /// The flush deadline or the shutdown join deadline expired.
    pub timed_out: bool,
    /// The most relevant failure (see PROTOCOL.md §3.6 for the precedence).
    pub last_failure: Option<DeliveryFailureKind>,
    /// Whether `last_failure` is retryable.
    pub retryable: bool,
    /// The most recent rejection kind.
    pub last_rejection: Option<DeliveryFailureKind>,
    /// Whether `last_rejection` is retryable.
    pub rejection_retryable: bool,
    /// Annotations, counted apart from spans so the span counts above mean exactly what they mean
    /// in the official SDK (decision 7), which does not queue annotations. They still decide
    /// [`ok`](Self::ok), and `timed_out` covers them.
    pub annotations: AnnotationReport,
    /// With several exporters (e.g. Staso and OTLP): each one's report by name (`"staso"`,
    /// `"otlp"`); the fields above are then their total, counted per delivery (a span sent to two
    /// exporters counts twice). Empty with a single exporter.
    pub per_exporter: Vec<(String, DeliveryReport)>,
}

/// Cumulative delivery counts of the annotations of one client, up to the same barrier as the
/// [`DeliveryReport`] that holds them; the fields mean what the report's span fields mean.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct AnnotationReport {
    /// Annotations queued for delivery since the client started, up to the barrier.
    pub accepted: u64,
    /// Of those, annotations the service acknowledged (2xx).
    pub delivered: u64,
    /// Of those, annotations that failed for good (after retries, or not retryable).
    pub failed: u64,
    /// `accepted - delivered - failed`.
    pub pending: u64,
    /// Annotations refused at the queue (full, after shutdown); not part of `accepted`.
    pub rejected: u64,
    /// The most relevant failure, with the precedence of [`DeliveryReport::last_failure`].
    pub last_failure: Option<DeliveryFailureKind>,
    /// Whether `last_failure` is retryable.
    pub retryable: bool,
}

impl AnnotationReport {
    /// `failed == 0 && pending == 0 && rejected == 0`.
    pub fn ok(&self) -> bool {
        self.failed == 0 && self.pending == 0 && self.rejected == 0
    }
}

impl DeliveryReport {
    /// The report of a missing or disabled client: all zero, `last_failure = disabled`, and `ok()`.
    pub fn disabled() -> Self {
        DeliveryReport {
            last_failure: Some(DeliveryFailureKind::Disabled),
            ..Default::default()
        }
    }

    /// The total of several exporters' reports: counts summed, `timed_out` if any timed out, the
    /// failure and rejection of the first exporter that has one; `parts` kept in `per_exporter`.
    pub fn combine(parts: Vec<(String, DeliveryReport)>) -> Self {
        let mut total = DeliveryReport::default();
        for (_, r) in &parts {
            total.accepted += r.accepted;
            total.delivered += r.delivered;
            total.failed += r.failed;
            total.pending += r.pending;
            total.rejected += r.rejected;
            total.sampled_out += r.sampled_out;
            total.truncated_fields += r.truncated_fields;
            total.masked_values_dropped += r.masked_values_dropped;
            total.timed_out |= r.timed_out;
            if total.last_failure.is_none() && r.last_failure.is_some() {
                total.last_failure = r.last_failure;
                total.retryable = r.retryable;
            }
            if total.last_rejection.is_none() && r.last_rejection.is_some() {
                total.last_rejection = r.last_rejection;
                total.rejection_retryable = r.rejection_retryable;
            }
            // Only the Staso exporter delivers annotations.
            if r.annotations != AnnotationReport::default() {
                total.annotations = r.annotations.clone();
            }
        }
        total.per_exporter = parts;
        total
    }

    /// The report of the exporter named `name` (see [`per_exporter`](Self::per_exporter)).
    pub fn exporter(&self, name: &str) -> Option<&DeliveryReport> {
        self.per_exporter
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, r)| r)
    }

    /// `!timed_out && failed == 0 && pending == 0 && rejected == 0`, for spans and for
    /// [`annotations`](Self::annotations).
    pub fn ok(&self) -> bool {
        !self.timed_out
            && self.failed == 0
            && self.pending == 0
            && self.rejected == 0
            && self.annotations.ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn disabled_report_is_ok() {
        let r = DeliveryReport::disabled();
        assert!(r.ok());
        assert_eq!(r.last_failure, Some(DeliveryFailureKind::Disabled));
    }

    #[test]
    fn combined_reports_sum_and_keep_the_parts() {
        let staso = DeliveryReport {
            accepted: 3,
            delivered: 3,
            ..Default::default()
        };
        let otlp = DeliveryReport {
            accepted: 3,
            pending: 3,
            timed_out: true,
            last_failure: Some(DeliveryFailureKind::Timeout),
            retryable: true,
            ..Default::default()
        };
        let r = DeliveryReport::combine(vec![("staso".into(), staso), ("otlp".into(), otlp)]);
        assert_eq!((r.accepted, r.delivered, r.pending), (6, 3, 3));
        assert!(r.timed_out && !r.ok());
        assert_eq!(r.last_failure, Some(DeliveryFailureKind::Timeout));
        assert!(r.exporter("staso").is_some_and(DeliveryReport::ok));
        assert!(r.exporter("otlp").is_some_and(|o| !o.ok()));
    }

    #[test]
    fn any_failure_makes_it_not_ok() {
        let r = DeliveryReport {
            accepted: 3,
            delivered: 2,
            failed: 1,
            ..Default::default()
        };
        assert!(!r.ok());
        let r = DeliveryReport {
            rejected: 1,
            ..Default::default()
        };
        assert!(!r.ok());
        let r = DeliveryReport {
            annotations: AnnotationReport {
                accepted: 1,
                failed: 1,
                ..Default::default()
            },
            ..Default::default()
        };
        assert!(!r.ok());
    }
}
