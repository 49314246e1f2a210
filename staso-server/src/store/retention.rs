//! How long idempotency receipts are kept ([`ReceiptRetention`]), and how much trace data
//! ([`TraceRetention`]: `serve --retain-days`, `--max-db-mb`; enforced by
//! [`trace_retention`](super::trace_retention)).

use std::time::Duration;

/// How long receipts are kept and how often old ones are purged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReceiptRetention {
    /// Receipts older than this are purged (default [`ReceiptRetention::DEFAULT_MAX_AGE`]).
    pub max_age: Duration,
    /// Time between two purges (default [`ReceiptRetention::DEFAULT_INTERVAL`]).
    pub interval: Duration,
}

impl ReceiptRetention {
    /// Default age after which a receipt is purged: 24 hours, far beyond any retry of a batch.
    pub const DEFAULT_MAX_AGE: Duration = Duration::from_secs(24 * 60 * 60);
    /// Default time between purges: 10 minutes.
    pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(10 * 60);
}

impl Default for ReceiptRetention {
    fn default() -> Self {
        ReceiptRetention {
            max_age: Self::DEFAULT_MAX_AGE,
            interval: Self::DEFAULT_INTERVAL,
        }
    }
}

/// How much trace data the server keeps ([`Store::enforce_retention`](super::Store::enforce_retention)): traces older than
/// `max_age`, then the oldest traces while the database is larger than `max_db_bytes`, are deleted
/// in the background every `interval`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TraceRetention {
    /// Traces that started longer ago than this are deleted (`None`: kept whatever their age).
    pub max_age: Option<Duration>,
    /// The database's size in use is kept under this many bytes (`None`: no limit); see
    /// [`Store::used_bytes`](super::Store::used_bytes) for how it is measured.
    pub max_db_bytes: Option<u64>,
    /// Time between two passes (default [`TraceRetention::DEFAULT_INTERVAL`]).
    pub interval: Duration,
}

impl TraceRetention {
    /// Default time between two passes: one minute.
    pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(60);

    /// Whether any limit is set.
    pub fn is_active(&self) -> bool {
        self.max_age.is_some() || self.max_db_bytes.is_some()
    }
}

impl Default for TraceRetention {
    fn default() -> Self {
        TraceRetention {
            max_age: None,
            max_db_bytes: None,
            interval: Self::DEFAULT_INTERVAL,
        }
    }
}
