//! Message ids seen recently, so that a replayed webhook is refused.
//!
//! An id is taken when its request starts (a concurrent duplicate is
//! refused), kept when the lead was delivered or refused for good (2xx,
//! 422), and released when the answer asks the sender to retry (5xx), so the
//! retry, which carries the same id, is accepted.
//!
//! Limits: an id is remembered for its scheme's window (twice the timestamp
//! tolerance: after that a replay fails the timestamp check anyway) and then
//! forgotten, oldest first, in constant time per request. Ids are kept as
//! 128-bit digests, so every entry has the same small size, and a route
//! remembers at most `capacity` of them (`limits.replay_capacity`). A cache
//! that is full of ids still inside their window never refuses a genuine
//! webhook as replayed (senders treat 401 as final and the lead would be
//! lost): it answers a retryable 503 until room frees up.

use std::collections::hash_map::Entry;
use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

/// An id as it is kept.
type Key = [u8; 16];

/// Ids a route remembers at most by default.
pub const DEFAULT_REPLAY_CAPACITY: usize = 1_000_000;

/// What [`ReplayCache::take`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Taken {
    /// Not seen within its window: taken now.
    Fresh,
    /// Seen within its window: a replay.
    Seen,
    /// Not seen, but the cache is full of ids still inside their window:
    /// the sender should retry after this long.
    Full(Duration),
}

/// A route's recently seen ids.
#[derive(Debug)]
pub struct ReplayCache {
    capacity: usize,
    seen: Mutex<Seen>,
}

#[derive(Debug, Default)]
struct Seen {
    /// Each id and when it is forgotten.
    until: HashMap<Key, Instant>,
    /// Ids in the order they were taken, with their expiry: expiries grow
    /// along the queue for one window, so expired ids are at its front. An
    /// entry whose id was released or taken again later is skipped.
    order: VecDeque<(Instant, Key)>,
}

fn key(id: &str) -> Key {
    let digest = Sha256::new()
        .chain_update(b"leadfilter replay id\0")
        .chain_update(id.as_bytes())
        .finalize();
    let mut key = [0; 16];
    key.copy_from_slice(&digest[..16]);
    key
}

impl ReplayCache {
    /// A cache remembering at most `capacity` ids.
    pub fn new(capacity: usize) -> ReplayCache {
        ReplayCache {
            capacity: capacity.max(1),
            seen: Mutex::new(Seen::default()),
        }
    }

    /// Takes `id` for `window`.
    pub fn take(&self, id: &str, window: Duration) -> Taken {
        self.take_at(id, window, Instant::now())
    }

    fn take_at(&self, id: &str, window: Duration, now: Instant) -> Taken {
        let Ok(mut seen) = self.seen.lock() else {
            return Taken::Full(Duration::from_secs(1));
        };
        seen.expire(now);
        let key = key(id);
        if seen.until.get(&key).is_some_and(|until| *until > now) {
            return Taken::Seen;
        }
        if seen.until.len() >= self.capacity {
            let wait = seen
                .order
                .front()
                .map_or(Duration::from_secs(1), |(until, _)| {
                    until.saturating_duration_since(now)
                });
            return Taken::Full(wait.max(Duration::from_secs(1)));
        }
        let until = now + window;
        seen.until.insert(key, until);
        seen.order.push_back((until, key));
        Taken::Fresh
    }

    /// Releases an id whose request asked for a retry.
    pub fn release(&self, id: &str) {
        if let Ok(mut seen) = self.seen.lock() {
            seen.until.remove(&key(id));
        }
    }

    /// Ids remembered now.
    pub fn len(&self) -> usize {
        self.seen.lock().map_or(0, |seen| seen.until.len())
    }

    /// Whether no id is remembered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Seen {
    /// Forgets every id whose window is over (and queue entries of ids
    /// released or taken again).
    fn expire(&mut self, now: Instant) {
        while let Some(&(until, key)) = self.order.front() {
            let current = self.until.get(&key).copied();
            if current.is_some_and(|c| c > until) || current.is_none() {
                // Released, or taken again later (a later queue entry).
                self.order.pop_front();
                continue;
            }
            if until > now {
                break;
            }
            self.order.pop_front();
            if let Entry::Occupied(entry) = self.until.entry(key)
                && *entry.get() <= now
            {
                entry.remove();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WINDOW: Duration = Duration::from_secs(600);

    #[test]
    fn replayed_ids_are_refused_until_released() {
        let cache = ReplayCache::new(10);
        assert_eq!(cache.take("a", WINDOW), Taken::Fresh);
        assert_eq!(cache.take("a", WINDOW), Taken::Seen);
        cache.release("a");
        assert_eq!(cache.take("a", WINDOW), Taken::Fresh);
    }

    /// Hardening (item 6): a cache full of ids answered every new genuine
    /// webhook `replayed` (401, final for senders). Ids now expire with
    /// their window, and a cache truly full says "retry".
    #[test]
    fn ids_expire_with_their_window_and_a_full_cache_asks_to_retry() {
        let cache = ReplayCache::new(3);
        let start = Instant::now();
        for id in ["a", "b", "c"] {
            assert_eq!(cache.take_at(id, WINDOW, start), Taken::Fresh);
        }
        let later = start + Duration::from_secs(100);
        assert_eq!(
            cache.take_at("d", WINDOW, later),
            Taken::Full(Duration::from_secs(500))
        );
        assert_eq!(cache.take_at("a", WINDOW, later), Taken::Seen);
        // After the window the old ids are forgotten, room is made, and a
        // replay of an old id is the timestamp check's to refuse.
        let after = start + WINDOW + Duration::from_secs(1);
        assert_eq!(cache.take_at("d", WINDOW, after), Taken::Fresh);
        assert_eq!(cache.take_at("a", WINDOW, after), Taken::Fresh);
        assert_eq!(cache.len(), 2);
    }

    /// From mutation testing: the ends of windows, ids with different
    /// windows, and released ids in the queue.
    #[test]
    fn an_id_is_forgotten_exactly_when_its_window_ends() {
        let start = Instant::now();
        let short = Duration::from_secs(10);

        // A short window behind a long one at the front of the queue.
        let cache = ReplayCache::new(10);
        assert!(cache.is_empty());
        assert_eq!(cache.take_at("long", WINDOW, start), Taken::Fresh);
        assert_eq!(cache.take_at("short", short, start), Taken::Fresh);
        assert!(!cache.is_empty());
        assert_eq!(cache.take_at("short", WINDOW, start + short), Taken::Fresh);

        // One place: the id that held it is forgotten when its window ends,
        // not a moment later.
        let cache = ReplayCache::new(1);
        assert_eq!(cache.take_at("a", short, start), Taken::Fresh);
        assert_eq!(cache.take_at("b", short, start + short), Taken::Fresh);
        assert_eq!(cache.len(), 1);

        // A released id's entry at the front does not keep a later id that
        // has expired.
        let cache = ReplayCache::new(1);
        assert_eq!(cache.take_at("a", WINDOW, start), Taken::Fresh);
        cache.release("a");
        assert!(cache.is_empty());
        assert_eq!(cache.take_at("b", short, start), Taken::Fresh);
        let later = start + short + Duration::from_secs(1);
        assert_eq!(cache.take_at("c", short, later), Taken::Fresh);
    }

    #[test]
    fn memory_stays_bounded_under_a_flood_of_ids() {
        let cache = ReplayCache::new(1000);
        let start = Instant::now();
        for i in 0..100_000u32 {
            let now = start + Duration::from_millis(u64::from(i) * 10);
            let taken = cache.take_at(&format!("msg_{i}"), Duration::from_secs(5), now);
            assert_eq!(taken, Taken::Fresh, "id {i}");
        }
        // 5 s of ids at 100 a second.
        assert!(cache.len() <= 501, "{}", cache.len());
        let seen = cache.seen.lock().unwrap();
        assert!(seen.order.len() <= 501, "{}", seen.order.len());
    }
}
