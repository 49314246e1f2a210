//! The prompt cache: what `staso::prompts` fetched, kept per (base URL, workspace, name,
//! environment) so that a fresh hit does no I/O and an outage can be bridged with the last value.
//!
//! Bounded: at most [`MAX_ENTRIES`]; a new entry past that evicts the one fetched longest ago.
//! The lock is held only to look up or store, never across a request.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use super::Prompt;

/// Most prompts kept at once.
pub(crate) const MAX_ENTRIES: usize = 1_000;

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
    /// Fetched less than the TTL ago: serve it.
    Fresh(Prompt),
    /// Older: refresh it, serve it only if the service cannot answer. Holds its age.
    Stale(Prompt, Duration),
    /// Nothing.
    Missing,
}

struct Entry {
    prompt: Prompt,
    fetched_at: Instant,
}

/// The cache; the process has one, [`global`].
pub(crate) struct PromptCache {
    entries: Mutex<HashMap<Key, Entry>>,
    capacity: usize,
}

impl PromptCache {
    pub(crate) fn new(capacity: usize) -> Self {
        PromptCache {
            entries: Mutex::new(HashMap::new()),
            capacity: capacity.max(1),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Key, Entry>> {
        // The map is consistent after any panic (each operation is one insert or remove).
        self.entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// What is cached under `key`, fresh when fetched less than `ttl` before `now`.
    pub(crate) fn lookup(&self, key: &Key, ttl: Duration, now: Instant) -> Lookup {
        match self.lock().get(key) {
            None => Lookup::Missing,
            Some(e) => {
                let age = now.saturating_duration_since(e.fetched_at);
                if age < ttl {
                    Lookup::Fresh(e.prompt.clone())
                } else {
                    Lookup::Stale(e.prompt.clone(), age)
                }
            }
        }
    }

    /// Files `prompt` under `key` as fetched at `now`, evicting the oldest entry when a new key
    /// would exceed the capacity.
    pub(crate) fn insert(&self, key: Key, prompt: Prompt, now: Instant) {
        let mut map = self.lock();
        if !map.contains_key(&key) && map.len() >= self.capacity {
            // A linear scan, only when a new key arrives at a full cache: cheaper overall than
            // keeping a second ordered index up to date on every refresh.
            let oldest = map
                .iter()
                .min_by_key(|(_, e)| e.fetched_at)
                .map(|(k, _)| k.clone());
            if let Some(k) = oldest {
                map.remove(&k);
            }
        }
        map.insert(
            key,
            Entry {
                prompt,
                fetched_at: now,
            },
        );
    }

    /// Forgets `key` (the service says the prompt is gone).
    pub(crate) fn remove(&self, key: &Key) {
        self.lock().remove(key);
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.lock().len()
    }
}

/// The process' prompt cache.
pub(crate) fn global() -> &'static PromptCache {
    static CACHE: OnceLock<PromptCache> = OnceLock::new();
    CACHE.get_or_init(|| PromptCache::new(MAX_ENTRIES))
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
        let cache = PromptCache::new(10);
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
        let cache = PromptCache::new(3);
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
}
