//! The prompt cache: what `staso::prompts` fetched, kept per (base URL, workspace, name,
//! environment) so that a fresh hit does no I/O and an outage can be bridged with the last value.
//!
//! Bounded: at most [`MAX_ENTRIES`] prompts and [`MAX_BYTES`] of their text; an entry that would
//! exceed either evicts the ones fetched longest ago.
//! The lock is held only to look up or store, never across a request.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use super::prompt::Prompt;

/// Most prompts kept at once.
pub(crate) const MAX_ENTRIES: usize = 1_000;
/// Most bytes of prompt text kept at once (a prompt may be up to 1 MiB).
pub(crate) const MAX_BYTES: usize = 32 << 20;

/// What a cached prompt is filed under.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct Key {
    pub(crate) base_url: String,
    pub(crate) workspace: String,
    pub(crate) name: String,
    pub(crate) environment: String,
}

/// What the cache holds for a key.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Lookup {
    /// Fetched less than the TTL ago, or a refresh failed less than the retry delay ago: serve
    /// it.
    Fresh(Prompt),
    /// Older: refresh it, serve it only if the service cannot answer. Holds its age.
    Stale(Prompt, Duration),
    /// Nothing.
    Missing,
}

struct Entry {
    prompt: Prompt,
    fetched_at: Instant,
    /// Set when a refresh failed: no new attempt before then.
    retry_at: Option<Instant>,
}

impl Entry {
    /// What the entry counts against [`MAX_BYTES`].
    fn bytes(&self) -> usize {
        self.prompt.content.len() + self.prompt.name.len() + self.prompt.environment.len()
    }
}

#[derive(Default)]
struct Entries {
    map: HashMap<Key, Entry>,
    /// Sum of the entries' [`Entry::bytes`].
    bytes: usize,
}

impl Entries {
    fn remove(&mut self, key: &Key) {
        if let Some(e) = self.map.remove(key) {
            self.bytes -= e.bytes();
        }
    }
}

/// The cache; the process has one, [`global`].
pub(crate) struct PromptCache {
    entries: Mutex<Entries>,
    capacity: usize,
    max_bytes: usize,
}

impl PromptCache {
    pub(crate) fn new(capacity: usize, max_bytes: usize) -> Self {
        PromptCache {
            entries: Mutex::new(Entries::default()),
            capacity: capacity.max(1),
            max_bytes,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Entries> {
        // The map is consistent after any panic (each operation is one insert or remove).
        self.entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// What is cached under `key`: fresh when fetched less than `ttl` before `now`, or while a
    /// failed refresh's retry delay ([`retry_later`](Self::retry_later)) runs.
    pub(crate) fn lookup(&self, key: &Key, ttl: Duration, now: Instant) -> Lookup {
        match self.lock().map.get(key) {
            None => Lookup::Missing,
            Some(e) => {
                let age = now.saturating_duration_since(e.fetched_at);
                if age < ttl || e.retry_at.is_some_and(|at| now < at) {
                    Lookup::Fresh(e.prompt.clone())
                } else {
                    Lookup::Stale(e.prompt.clone(), age)
                }
            }
        }
    }

    /// Files `prompt` under `key` as fetched at `now`, evicting the oldest entries while the
    /// count or the bytes would exceed the bounds. A prompt larger than the byte bound alone is
    /// not kept.
    pub(crate) fn insert(&self, key: Key, prompt: Prompt, now: Instant) {
        let entry = Entry {
            prompt,
            fetched_at: now,
            retry_at: None,
        };
        let size = entry.bytes();
        let mut entries = self.lock();
        entries.remove(&key);
        if size > self.max_bytes {
            return;
        }
        while entries.map.len() >= self.capacity || entries.bytes + size > self.max_bytes {
            // A linear scan, only when the cache is full: cheaper overall than keeping a second
            // ordered index up to date on every refresh.
            let oldest = entries
                .map
                .iter()
                .min_by_key(|(_, e)| e.fetched_at)
                .map(|(k, _)| k.clone());
            match oldest {
                Some(k) => entries.remove(&k),
                None => break,
            }
        }
        entries.bytes += size;
        entries.map.insert(key, entry);
    }

    /// A refresh of `key` failed: its stale value is served without a new attempt until `at`
    /// (so that during an outage callers do not each wait for a request to fail).
    pub(crate) fn retry_later(&self, key: &Key, at: Instant) {
        if let Some(e) = self.lock().map.get_mut(key) {
            e.retry_at = Some(at);
        }
    }

    /// Forgets `key` (the service says the prompt is gone).
    pub(crate) fn remove(&self, key: &Key) {
        self.lock().remove(key);
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.lock().map.len()
    }
}

/// The process' prompt cache.
pub(crate) fn global() -> &'static PromptCache {
    static CACHE: OnceLock<PromptCache> = OnceLock::new();
    CACHE.get_or_init(|| PromptCache::new(MAX_ENTRIES, MAX_BYTES))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(name: &str) -> Key {
        Key {
            base_url: "http://127.0.0.1:1".into(),
            workspace: "default".into(),
            name: name.into(),
            environment: "production".into(),
        }
    }

    fn prompt(name: &str, version: u32) -> Prompt {
        Prompt {
            name: name.into(),
            version,
            environment: "production".into(),
            content: format!("{name} v{version}"),
        }
    }

    #[test]
    fn fresh_then_stale_then_replaced() {
        let cache = PromptCache::new(10, MAX_BYTES);
        let t0 = Instant::now();
        let ttl = Duration::from_secs(60);
        assert_eq!(cache.lookup(&key("a"), ttl, t0), Lookup::Missing);
        cache.insert(key("a"), prompt("a", 1), t0);
        assert_eq!(
            cache.lookup(&key("a"), ttl, t0 + Duration::from_secs(59)),
            Lookup::Fresh(prompt("a", 1))
        );
        assert_eq!(
            cache.lookup(&key("a"), ttl, t0 + ttl),
            Lookup::Stale(prompt("a", 1), ttl)
        );
        cache.insert(key("a"), prompt("a", 2), t0 + ttl);
        assert_eq!(
            cache.lookup(&key("a"), ttl, t0 + ttl),
            Lookup::Fresh(prompt("a", 2))
        );
        let mut other_env = key("a");
        other_env.environment = "staging".into();
        assert_eq!(cache.lookup(&other_env, ttl, t0), Lookup::Missing);
        cache.remove(&key("a"));
        assert_eq!(cache.lookup(&key("a"), ttl, t0), Lookup::Missing);
    }

    #[test]
    fn a_full_cache_evicts_the_oldest_fetch() {
        let cache = PromptCache::new(3, MAX_BYTES);
        let t0 = Instant::now();
        let at = |s| t0 + Duration::from_secs(s);
        cache.insert(key("a"), prompt("a", 1), at(0));
        cache.insert(key("b"), prompt("b", 1), at(1));
        cache.insert(key("c"), prompt("c", 1), at(2));
        // Refreshing `a` makes `b` the oldest.
        cache.insert(key("a"), prompt("a", 2), at(3));
        assert_eq!(cache.len(), 3);
        cache.insert(key("d"), prompt("d", 1), at(4));
        assert_eq!(cache.len(), 3);
        let ttl = Duration::from_secs(600);
        assert_eq!(cache.lookup(&key("b"), ttl, at(5)), Lookup::Missing);
        for n in ["a", "c", "d"] {
            assert!(
                matches!(cache.lookup(&key(n), ttl, at(5)), Lookup::Fresh(_)),
                "{n}"
            );
        }
    }

    #[test]
    fn the_text_held_is_bounded_too() {
        let size = |p: &Prompt| p.content.len() + p.name.len() + p.environment.len();
        let one = size(&prompt("a", 1));
        // Room for two entries' bytes, plenty of count.
        let cache = PromptCache::new(100, 2 * one);
        let t0 = Instant::now();
        let at = |s| t0 + Duration::from_secs(s);
        cache.insert(key("a"), prompt("a", 1), at(0));
        cache.insert(key("b"), prompt("b", 1), at(1));
        cache.insert(key("c"), prompt("c", 1), at(2));
        let ttl = Duration::from_secs(600);
        assert_eq!(cache.len(), 2);
        assert_eq!(cache.lookup(&key("a"), ttl, at(3)), Lookup::Missing);
        // Replacing an entry frees its bytes first: no eviction.
        cache.insert(key("c"), prompt("c", 2), at(3));
        assert!(matches!(
            cache.lookup(&key("b"), ttl, at(3)),
            Lookup::Fresh(_)
        ));
        // A prompt over the whole budget is not kept, and evicts nothing.
        let mut huge = prompt("h", 1);
        huge.content = "x".repeat(3 * one);
        cache.insert(key("h"), huge, at(4));
        assert_eq!(cache.lookup(&key("h"), ttl, at(4)), Lookup::Missing);
        assert_eq!(cache.len(), 2);
        assert_eq!(cache.lock().bytes, 2 * one);
    }

    #[test]
    fn a_failed_refresh_is_retried_after_the_delay() {
        let cache = PromptCache::new(10, MAX_BYTES);
        let t0 = Instant::now();
        let at = |s| t0 + Duration::from_secs(s);
        let ttl = Duration::from_secs(60);
        cache.insert(key("a"), prompt("a", 1), at(0));
        assert!(matches!(
            cache.lookup(&key("a"), ttl, at(61)),
            Lookup::Stale(..)
        ));
        cache.retry_later(&key("a"), at(66));
        assert_eq!(
            cache.lookup(&key("a"), ttl, at(65)),
            Lookup::Fresh(prompt("a", 1))
        );
        assert_eq!(
            cache.lookup(&key("a"), ttl, at(66)),
            Lookup::Stale(prompt("a", 1), Duration::from_secs(66))
        );
        // A successful refresh clears the delay.
        cache.insert(key("a"), prompt("a", 2), at(70));
        assert!(matches!(
            cache.lookup(&key("a"), ttl, at(131)),
            Lookup::Stale(..)
        ));
        // Nothing to delay for a key not cached.
        cache.retry_later(&key("zz"), at(200));
        assert_eq!(cache.lookup(&key("zz"), ttl, at(100)), Lookup::Missing);
    }
}
