//! Giving memory back after a burst (issue 12, item 2).
//!
//! SQLite keeps every page a connection has read or written in that connection's page cache, up to
//! its `cache_size` (64 MiB for the writer, 16 MiB for each reader), for the life of the
//! connection. After a burst of large bodies the writer's cache is full of pages nobody will read
//! again, and the process stays that much larger. [`trim_when_idle`] watches the store's activity
//! counter and, once a whole interval has passed without a read or a write, asks every connection it
//! can take without waiting to free its unused cache (`PRAGMA shrink_memory`). The allocator then
//! returns the pages to the system (the server binary uses jemalloc with its background thread).
//!
//! A busy server is never trimmed (a cold cache would cost its next transactions), and a trim takes
//! no lock that a request holds: a connection in use is skipped until the next idle interval.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use super::Store;

/// Default time without any read or write after which the store's caches are trimmed.
pub const DEFAULT_TRIM_IDLE: Duration = Duration::from_secs(1);

/// The outcome of one [`Store::trim_memory_if_idle`] call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trim {
    /// Requests ran since the activity count the caller saw: nothing was done.
    Busy,
    /// Nothing ran since the last trim: the caches are already small.
    AlreadyTrimmed,
    /// This many connections freed their unused cache (the others were in use and are left for the
    /// next idle interval).
    Trimmed {
        /// Connections that freed their cache.
        connections: usize,
    },
}

impl Store {
    /// How many reads and writes the store has started: a count that only grows. Two equal
    /// readings mean the store was idle in between.
    pub fn activity(&self) -> u64 {
        self.activity.load(Ordering::Relaxed)
    }

    /// Notes the start of a read or a write.
    pub(super) fn touch(&self) {
        self.activity.fetch_add(1, Ordering::Relaxed);
    }

    /// How many times [`Store::trim_memory_if_idle`] freed caches.
    pub fn memory_trims(&self) -> u64 {
        self.trims.load(Ordering::Relaxed)
    }

    /// Frees the unused page cache of every connection not in use, if the store's
    /// [`activity`](Store::activity) is still `seen` (nothing started since the caller looked) and
    /// it was not already trimmed at that count. Never waits for a connection.
    pub fn trim_memory_if_idle(&self, seen: u64) -> Trim {
        if self.activity() != seen {
            return Trim::Busy;
        }
        if self.trimmed_at.load(Ordering::Relaxed) == seen {
            return Trim::AlreadyTrimmed;
        }
        let mut connections = 0;
        let mut skipped = false;
        for conn in std::iter::once(&*self.writer).chain(self.readers.iter()) {
            match conn.try_lock() {
                Ok(c) => match c.execute_batch("PRAGMA shrink_memory") {
                    Ok(()) => connections += 1,
                    Err(e) => log::debug!("PRAGMA shrink_memory failed: {e}"),
                },
                Err(_) => skipped = true,
            }
        }
        if !skipped {
            self.trimmed_at.store(seen, Ordering::Relaxed);
        }
        if connections > 0 {
            self.trims.fetch_add(1, Ordering::Relaxed);
        }
        Trim::Trimmed { connections }
    }
}

/// Every `idle` (at least 10 ms), trims the store's caches if no read or write started during the
/// whole interval; forever: spawn it on the server's runtime (it ends with it).
pub async fn trim_when_idle(store: Arc<Store>, idle: Duration) {
    let mut ticks = tokio::time::interval(idle.max(Duration::from_millis(10)));
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last = store.activity();
    loop {
        ticks.tick().await;
        let now = store.activity();
        if now == last && store.trimmed_at.load(Ordering::Relaxed) != now {
            let s = Arc::clone(&store);
            match tokio::task::spawn_blocking(move || s.trim_memory_if_idle(now)).await {
                Ok(Trim::Trimmed { connections }) => {
                    log::debug!("idle: freed the page cache of {connections} connections")
                }
                Ok(_) => {}
                Err(e) => log::warn!("trimming the store's memory failed: {e}"),
            }
        }
        last = now;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path().join("t.db")).unwrap();
        (dir, store)
    }

    #[test]
    fn an_idle_store_is_trimmed_once_and_a_busy_one_not_at_all() {
        let (_dir, store) = store();
        store.meta_get_or_insert("k", "v").unwrap();
        let seen = store.activity();
        assert!(seen > 0, "reads and writes count as activity");

        // Something ran after the caller looked: busy, nothing freed.
        store.meta("k").unwrap();
        assert_eq!(store.trim_memory_if_idle(seen), Trim::Busy);
        assert_eq!(store.memory_trims(), 0);

        let seen = store.activity();
        assert_eq!(
            store.trim_memory_if_idle(seen),
            Trim::Trimmed {
                connections: 1 + super::super::READERS
            }
        );
        assert_eq!(store.memory_trims(), 1);
        // Nothing ran since: not trimmed twice.
        assert_eq!(store.trim_memory_if_idle(seen), Trim::AlreadyTrimmed);
        assert_eq!(store.memory_trims(), 1);
    }

    #[test]
    fn a_connection_in_use_is_skipped_and_tried_again_next_time() {
        let (_dir, store) = store();
        let seen = store.activity();
        let held = store.writer.lock().unwrap();
        assert_eq!(
            store.trim_memory_if_idle(seen),
            Trim::Trimmed {
                connections: super::super::READERS
            }
        );
        drop(held);
        assert_eq!(
            store.trim_memory_if_idle(seen),
            Trim::Trimmed {
                connections: 1 + super::super::READERS
            },
            "the skipped writer is trimmed at the next idle check"
        );
    }

    #[tokio::test(flavor = "current_thread")]
    async fn the_background_task_trims_after_a_quiet_interval() {
        let (_dir, store) = store();
        let store = Arc::new(store);
        store.meta_get_or_insert("k", "v").unwrap();
        let idle = Duration::from_millis(20);
        let task = tokio::spawn(trim_when_idle(Arc::clone(&store), idle));
        // The first tick only notes the activity count; a later one finds it unchanged.
        for _ in 0..500 {
            if store.memory_trims() > 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(store.memory_trims(), 1);
        // Idle on: not trimmed again.
        tokio::time::sleep(idle * 10).await;
        assert_eq!(store.memory_trims(), 1);
        // Activity, then quiet again: trimmed again.
        store.meta("k").unwrap();
        for _ in 0..500 {
            if store.memory_trims() > 1 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(store.memory_trims(), 2);
        task.abort();
    }
}
