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

/// A stable 128-bit hash of a request body, as stored in a receipt: `xxh3-128:<32 hex digits>`.
///
/// XXH3-128 is specified by its authors and never changes between builds (std's hashers promise
/// no stability), and runs at memory speed (earlier builds of staso-server stored FNV-1a 128,
/// `fnv1a128:…`, which costs a 128-bit multiply per byte). It only tells a retry (identical bytes) from a
/// different body reusing the key within the same key scope, where only the key's own holder can
/// choose both bodies; accidental collisions of two different bodies are of the order of 2^-128,
/// so a cryptographic digest buys nothing here.
pub fn body_hash(body: &[u8]) -> String {
    format!("{HASH_PREFIX}{:032x}", xxhash_rust::xxh3::xxh3_128(body))
}

/// The prefix of [`body_hash`]; a stored hash with another one was written by an older server.
const HASH_PREFIX: &str = "xxh3-128:";

/// The ack of an earlier request with `idempotency_key` in partition `scope_label`.
///
/// `Ok(None)` when there is none; [`StoreError::IdempotencyConflict`] when there is one for a
/// different body. A receipt written before body hashes were recorded, or with the hash of an
/// older server (another prefix than [`body_hash`]'s; receipts live a day), matches any body: the
/// key alone identifies the retry, as it did when that receipt was written.
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
        Some((_, Some(stored))) if stored.starts_with(HASH_PREFIX) && stored != body_hash => {
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
    fn body_hash_is_xxh3_128() {
        // Reference values of XXH3-128 (Python's `xxhash.xxh3_128_hexdigest`).
        assert_eq!(body_hash(b""), "xxh3-128:99aa06d3014798d86001c324468d497f");
        assert_eq!(body_hash(b"a"), "xxh3-128:a96faf705af16834e6c632b61e964e1f");
        assert_eq!(
            body_hash(b"{\"traces\":[]}"),
            "xxh3-128:e59d1c88124ea5c59f46660c4eb30e07"
        );
        assert_ne!(
            body_hash(b"{\"traces\":[]}"),
            body_hash(b"{\"traces\": []}")
        );
    }

    /// A receipt of an earlier build (FNV-1a hash) answers a retry by its key alone; one of
    /// this build tells another body apart.
    #[test]
    fn receipts_of_an_older_hash_match_on_the_key() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path().join("r.db")).unwrap();
        let ack = IngestAck {
            accepted: 1,
            rejected: 0,
            spans_dropped: 0,
            receipt_id: "k".to_owned(),
        };
        store
            .write(|tx| {
                record(
                    tx,
                    "s",
                    "old",
                    "fnv1a128:6c62272e07bb014262b821756295c58d",
                    &ack,
                )?;
                record(tx, "s", "new", &body_hash(b"one"), &ack)
            })
            .unwrap();
        let other = body_hash(b"two");
        let found = store.write(|tx| find(tx, "s", "old", &other)).unwrap();
        assert_eq!(found, Some(ack.clone()));
        let conflict = store.write(|tx| find(tx, "s", "new", &other));
        assert!(matches!(conflict, Err(StoreError::IdempotencyConflict(_))));
        let retry = store
            .write(|tx| find(tx, "s", "new", &body_hash(b"one")))
            .unwrap();
        assert_eq!(retry, Some(ack));
    }
}
