//! How long idempotency receipts are kept ([`ReceiptRetention`]).

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
