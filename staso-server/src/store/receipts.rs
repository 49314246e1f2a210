//! Idempotency receipts of ingest (PROTOCOL.md §3.1): the ack answered for an `Idempotency-Key`
//! within a key scope, a hash of the request body it answered, and its age; old receipts are purged.
//!
//! The SDKs reuse a key only for the retries of one batch (seconds apart), so a receipt needs to
//! outlive the retries, not the data: [`ReceiptRetention`](super::ReceiptRetention) keeps it for a day by default.

use std::sync::Arc;
use std::time::Duration;

use rusqlite::{OptionalExtension, Transaction, params};
use staso_wire::ingest::IngestAck;

use super::{Store, StoreError, StoreResult};

/// A stable 128-bit hash of a request body, as stored in a receipt: `fnv1a128:<32 hex digits>`.
///
/// Written by hand (FNV-1a, 128-bit, as specified by its authors) because it must never change
/// between builds — std's hashers promise no stability — and the crate has no digest dependency.
/// It only tells a retry (identical bytes) from a different body reusing the key within the same
/// key scope, where only the key's own holder can choose both bodies; accidental collisions of two
/// different bodies are of the order of 2^-128, so a cryptographic digest buys nothing here.
pub fn body_hash(body: &[u8]) -> String {
    const OFFSET: u128 = 0x6c62272e07bb014262b821756295c58d;
    const PRIME: u128 = 0x0000000001000000000000000000013b;
    let h = body
        .iter()
        .fold(OFFSET, |h, &b| (h ^ u128::from(b)).wrapping_mul(PRIME));
    format!("fnv1a128:{h:032x}")
}

/// The ack of an earlier request with `idempotency_key` in partition `scope_label`.
///
/// `Ok(None)` when there is none; [`StoreError::IdempotencyConflict`] when there is one for a
/// different body (a receipt written before body hashes were recorded matches any body).
pub fn find(
    tx: &Transaction<'_>,
    scope_label: &str,
    idempotency_key: &str,
    body_hash: &str,
) -> StoreResult<Option<IngestAck>> {
    let earlier: Option<(String, Option<String>)> = tx
        .query_row(
            "SELECT ack, body_hash FROM receipts WHERE scope = ?1 AND idempotency_key = ?2",
            [scope_label, idempotency_key],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    match earlier {
        None => Ok(None),
        Some((_, Some(stored))) if stored != body_hash => {
            Err(StoreError::IdempotencyConflict(format!(
                "Idempotency-Key {idempotency_key:?} was already used for a different request body; \
                 a retry must resend the same bytes, a new batch needs a new key"
            )))
        }
        Some((ack, _)) => Ok(Some(serde_json::from_str(&ack)?)),
    }
}

/// Records `ack` as the answer to `idempotency_key` for a body hashing to `body_hash`.
pub fn record(
    tx: &Transaction<'_>,
    scope_label: &str,
    idempotency_key: &str,
    body_hash: &str,
    ack: &IngestAck,
) -> StoreResult<()> {
    let now = time::OffsetDateTime::now_utc();
    let created_us = i64::try_from(now.unix_timestamp_nanos() / 1000).unwrap_or(i64::MAX);
    tx.execute(
        "INSERT INTO receipts(scope, idempotency_key, ack, created_at, body_hash, created_us) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![
            scope_label,
            idempotency_key,
            serde_json::to_string(ack)?,
            crate::timefmt::now_rfc3339(),
            body_hash,
            created_us
        ],
    )?;
    Ok(())
}

impl Store {
    /// Deletes receipts written more than `max_age` ago; returns how many were deleted.
    ///
    /// A request retried after its receipt is gone is stored again, which ingest's upserts make
    /// harmless; the retention only has to outlast the SDK's retries.
    pub fn purge_receipts_older_than(&self, max_age: Duration) -> StoreResult<usize> {
        let now_us = i64::try_from(time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1000)
            .unwrap_or(i64::MAX);
        let age_us = i64::try_from(max_age.as_micros()).unwrap_or(i64::MAX);
        let cutoff = now_us.saturating_sub(age_us);
        self.write(|tx| {
            Ok(tx.execute(
                "DELETE FROM receipts WHERE created_us < ?1",
                params![cutoff],
            )?)
        })
    }
}

/// Purges receipts older than the store's
/// [`ReceiptRetention::max_age`](super::ReceiptRetention::max_age) every
/// [`ReceiptRetention::interval`](super::ReceiptRetention::interval), forever; spawn it on the
/// server's runtime (it ends with it).
/// The first purge runs at once. A failed purge is logged and retried at the next interval.
pub async fn purge_periodically(store: Arc<Store>) {
    let retention = store.receipt_retention();
    let mut ticks = tokio::time::interval(retention.interval.max(Duration::from_millis(1)));
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        let s = Arc::clone(&store);
        match tokio::task::spawn_blocking(move || s.purge_receipts_older_than(retention.max_age))
            .await
        {
            Ok(Ok(0)) => {}
            Ok(Ok(n)) => log::debug!("purged {n} idempotency receipts"),
            Ok(Err(e)) => log::warn!("purging idempotency receipts failed: {e}"),
            Err(e) => log::warn!("purging idempotency receipts failed: {e}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_hash_is_fnv1a_128() {
        // Reference values of FNV-1a 128 (offset basis for the empty input).
        assert_eq!(body_hash(b""), "fnv1a128:6c62272e07bb014262b821756295c58d");
        assert_eq!(body_hash(b"a"), "fnv1a128:d228cb696f1a8caf78912b704e4a8964");
        assert_ne!(
            body_hash(b"{\"traces\":[]}"),
            body_hash(b"{\"traces\": []}")
        );
    }
}
