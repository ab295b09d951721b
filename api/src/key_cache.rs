//! Which client a key belongs to, remembered for a while (`API_KEY_CACHE_SECS`, default 60), so
//! that an authenticated request does not need a database query to know its caller.
//!
//! Only keys that were found are kept: an unknown or wrong key goes to the database every time
//! and counts against its peer's failures ([`crate::auth_failures`]). An entry is used for at
//! most the configured time; the cache holds at most [`MAX_ENTRIES`] keys (when full, expired
//! entries are dropped, and if that is not enough, all of them), so a flood of distinct valid
//! keys cannot make it grow.
//!
//! A replaced key must stop working at once, so entries are also dropped when the database
//! says so: [`KeyCache::follow`] hears the live-changes broadcast ([`crate::live`]) and drops a
//! client's entries on [`Announcement::KeyChanged`], and everything on
//! [`Announcement::Resync`] (the listener was away and may have missed changes) and when it
//! fell behind the broadcast. A lookup that raced an invalidation must not put back what was
//! just dropped: it notes the [`Generation`] before asking the database, and its answer is kept
//! only if no invalidation happened since.
//!
//! The cache is per process. A listener that is disconnected leaves its instance trusting a
//! replaced key for at most `API_KEY_CACHE_SECS`.

use std::{
    collections::HashMap,
    sync::{Mutex, PoisonError},
    time::{Duration, Instant},
};

use entity::clients;
use store::events::Announcement;
use tokio::sync::broadcast::{Receiver, error::RecvError};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// The most keys kept: far more than clients in use, little memory (about 300 bytes each).
pub const MAX_ENTRIES: usize = 10_000;

/// Successful key lookups of this process, by key hash.
#[derive(Debug)]
pub struct KeyCache {
    /// How long an entry is used; zero turns the cache off.
    ttl: Duration,
    capacity: usize,
    state: Mutex<CacheState>,
}

#[derive(Debug, Default)]
struct CacheState {
    by_key_hash: HashMap<String, Entry>,
    /// Bumped by every invalidation.
    generation: u64,
}

#[derive(Debug)]
struct Entry {
    client: clients::Model,
    fetched: Instant,
}

/// The cache's invalidation count when a lookup began: see [`KeyCache::insert`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Generation(u64);

impl KeyCache {
    /// A cache whose entries are used for `ttl`, holding at most [`MAX_ENTRIES`]; a zero `ttl`
    /// keeps nothing.
    pub fn new(ttl: Duration) -> Self {
        Self::with_capacity(ttl, MAX_ENTRIES)
    }

    fn with_capacity(ttl: Duration, capacity: usize) -> Self {
        Self {
            ttl,
            capacity,
            state: Mutex::new(CacheState::default()),
        }
    }

    /// The client of `key_hash`, if it was found within the last `ttl` and not invalidated.
    pub fn get(&self, key_hash: &str) -> Option<clients::Model> {
        self.get_at(key_hash, Instant::now())
    }

    fn get_at(&self, key_hash: &str, now: Instant) -> Option<clients::Model> {
        if self.ttl.is_zero() {
            return None;
        }
        let mut state = self.lock();
        let entry = state.by_key_hash.get(key_hash)?;
        if self.is_fresh(entry, now) {
            return Some(entry.client.clone());
        }
        state.by_key_hash.remove(key_hash);
        None
    }

    /// What to pass to [`Self::insert`] with the answer of a lookup that starts now.
    pub fn generation(&self) -> Generation {
        Generation(self.lock().generation)
    }

    /// Remembers that `key_hash` belongs to `client`, as a lookup that began at `noted` found,
    /// unless an invalidation happened since (the answer may predate it).
    pub fn insert(&self, key_hash: &str, client: clients::Model, noted: Generation) {
        self.insert_at(key_hash, client, noted, Instant::now());
    }

    fn insert_at(&self, key_hash: &str, client: clients::Model, noted: Generation, now: Instant) {
        if self.ttl.is_zero() {
            return;
        }
        let mut state = self.lock();
        if state.generation != noted.0 {
            return;
        }
        if state.by_key_hash.len() >= self.capacity && !state.by_key_hash.contains_key(key_hash) {
            state
                .by_key_hash
                .retain(|_, entry| self.is_fresh(entry, now));
            if state.by_key_hash.len() >= self.capacity {
                state.by_key_hash.clear();
            }
        }
        state.by_key_hash.insert(
            key_hash.to_owned(),
            Entry {
                client,
                fetched: now,
            },
        );
    }

    /// Drops every key of `client_id` (its key was replaced, or it was deleted).
    pub fn forget_client(&self, client_id: Uuid) {
        let mut state = self.lock();
        state.generation += 1;
        state
            .by_key_hash
            .retain(|_, entry| entry.client.id != client_id);
    }

    /// Drops every key (changes may have been missed).
    pub fn clear(&self) {
        let mut state = self.lock();
        state.generation += 1;
        state.by_key_hash.clear();
    }

    /// Applies what the live-changes broadcast says until `shutdown` or the broadcast closes.
    /// Subscribe (`changes`) before the first request is served, so no change is missed.
    pub async fn follow(&self, mut changes: Receiver<Announcement>, shutdown: CancellationToken) {
        loop {
            let heard = tokio::select! {
                () = shutdown.cancelled() => return,
                heard = changes.recv() => heard,
            };
            if !self.heard(heard) {
                return;
            }
        }
    }

    /// Applies one item of the broadcast; `false` when it closed.
    fn heard(&self, heard: Result<Announcement, RecvError>) -> bool {
        match heard {
            Ok(Announcement::KeyChanged { client_id }) => self.forget_client(client_id),
            Ok(Announcement::Resync) => self.clear(),
            Ok(Announcement::Changed { .. } | Announcement::Deleted { .. }) => {}
            Err(RecvError::Lagged(missed)) => {
                tracing::warn!(
                    announcements.missed = missed,
                    "the API key cache fell behind {missed} announcements; forgetting every key"
                );
                self.clear();
            }
            Err(RecvError::Closed) => return false,
        }
        true
    }

    fn is_fresh(&self, entry: &Entry, now: Instant) -> bool {
        now.saturating_duration_since(entry.fetched) < self.ttl
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, CacheState> {
        // Every critical section leaves the map and counter valid; a poisoned lock still holds
        // a usable cache.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use chrono::Utc;

    use super::*;

    const TTL: Duration = Duration::from_secs(60);

    fn client() -> clients::Model {
        clients::Model {
            id: Uuid::now_v7(),
            name: "c".to_owned(),
            api_key_hash: "h".to_owned(),
            created_at: Utc::now(),
            updated_at: Utc::now(),
        }
    }

    fn cached(cache: &KeyCache, key_hash: &str, now: Instant) -> Option<Uuid> {
        cache.get_at(key_hash, now).map(|client| client.id)
    }

    #[test]
    fn an_entry_is_used_until_it_expires() {
        let cache = KeyCache::new(TTL);
        let start = Instant::now();
        let alice = client();
        assert_eq!(cached(&cache, "a", start), None);
        cache.insert_at("a", alice.clone(), cache.generation(), start);
        assert_eq!(cached(&cache, "a", start), Some(alice.id));
        assert_eq!(
            cached(&cache, "a", start + TTL - Duration::from_millis(1)),
            Some(alice.id)
        );
        assert_eq!(cached(&cache, "a", start + TTL), None);
        assert_eq!(
            cache.lock().by_key_hash.len(),
            0,
            "the expired entry is dropped"
        );
    }

    #[test]
    fn a_zero_ttl_keeps_nothing() {
        let cache = KeyCache::new(Duration::ZERO);
        let now = Instant::now();
        cache.insert_at("a", client(), cache.generation(), now);
        assert_eq!(cached(&cache, "a", now), None);
        assert!(cache.lock().by_key_hash.is_empty());
    }

    #[test]
    fn a_full_cache_drops_expired_entries_then_everything() {
        let cache = KeyCache::with_capacity(TTL, 3);
        let start = Instant::now();
        let later = start + TTL / 2;
        let generation = cache.generation();
        cache.insert_at("old", client(), generation, start);
        cache.insert_at("recent", client(), generation, later);
        cache.insert_at("latest", client(), generation, later);
        // Refreshing a key already held does not count as a new one.
        cache.insert_at("latest", client(), generation, later);
        assert_eq!(cache.lock().by_key_hash.len(), 3);

        // Full: the expired entry makes room.
        let expiry = start + TTL;
        cache.insert_at("fourth", client(), generation, expiry);
        let mut held: Vec<String> = cache.lock().by_key_hash.keys().cloned().collect();
        held.sort();
        assert_eq!(held, ["fourth", "latest", "recent"]);

        // Full of live entries: all go.
        cache.insert_at("fifth", client(), generation, expiry);
        let held: Vec<String> = cache.lock().by_key_hash.keys().cloned().collect();
        assert_eq!(held, ["fifth"]);
    }

    #[test]
    fn forgetting_a_client_drops_its_keys_only() {
        let cache = KeyCache::new(TTL);
        let now = Instant::now();
        let (alice, bob) = (client(), client());
        let generation = cache.generation();
        cache.insert_at("alice-old", alice.clone(), generation, now);
        cache.insert_at("alice-new", alice.clone(), generation, now);
        cache.insert_at("bob", bob.clone(), generation, now);
        cache.forget_client(alice.id);
        assert_eq!(cached(&cache, "alice-old", now), None);
        assert_eq!(cached(&cache, "alice-new", now), None);
        assert_eq!(cached(&cache, "bob", now), Some(bob.id));
        cache.clear();
        assert_eq!(cached(&cache, "bob", now), None);
    }

    #[test]
    fn a_lookup_that_raced_an_invalidation_is_not_kept() {
        let cache = KeyCache::new(TTL);
        let now = Instant::now();
        let alice = client();
        // A lookup begins, the key is replaced while the database answers, then the (now
        // stale) answer arrives: it must not be kept.
        let noted = cache.generation();
        cache.forget_client(alice.id);
        cache.insert_at("alice", alice.clone(), noted, now);
        assert_eq!(cached(&cache, "alice", now), None);
        // Even an invalidation of another client counts: the generation is the whole cache's.
        let noted = cache.generation();
        cache.forget_client(Uuid::now_v7());
        cache.insert_at("alice", alice.clone(), noted, now);
        assert_eq!(cached(&cache, "alice", now), None);
        let noted = cache.generation();
        cache.clear();
        cache.insert_at("alice", alice.clone(), noted, now);
        assert_eq!(cached(&cache, "alice", now), None);
        // A lookup that began after the invalidation is kept.
        cache.insert_at("alice", alice.clone(), cache.generation(), now);
        assert_eq!(cached(&cache, "alice", now), Some(alice.id));
    }

    #[test]
    fn announcements_invalidate_as_they_say() {
        let cache = KeyCache::new(TTL);
        let now = Instant::now();
        let (alice, bob) = (client(), client());
        let fill = |cache: &KeyCache| {
            let generation = cache.generation();
            cache.insert_at("alice", alice.clone(), generation, now);
            cache.insert_at("bob", bob.clone(), generation, now);
        };
        fill(&cache);
        assert!(cache.heard(Ok(Announcement::Changed {
            file_id: Uuid::now_v7(),
            client_id: alice.id,
            change_seq: 1
        })));
        assert!(cache.heard(Ok(Announcement::Deleted {
            file_id: Uuid::now_v7(),
            client_id: alice.id
        })));
        assert_eq!(
            cached(&cache, "alice", now),
            Some(alice.id),
            "files are not keys"
        );
        assert!(cache.heard(Ok(Announcement::KeyChanged {
            client_id: alice.id
        })));
        assert_eq!(cached(&cache, "alice", now), None);
        assert_eq!(cached(&cache, "bob", now), Some(bob.id));

        assert!(cache.heard(Ok(Announcement::Resync)));
        assert_eq!(cached(&cache, "bob", now), None);

        fill(&cache);
        assert!(cache.heard(Err(RecvError::Lagged(3))));
        assert_eq!(cached(&cache, "alice", now), None);
        assert_eq!(cached(&cache, "bob", now), None);

        assert!(!cache.heard(Err(RecvError::Closed)));
    }

    #[tokio::test]
    async fn following_the_broadcast_applies_it_until_shutdown() {
        let cache = std::sync::Arc::new(KeyCache::new(TTL));
        let alice = client();
        cache.insert("alice", alice.clone(), cache.generation());
        let (announce, changes) = tokio::sync::broadcast::channel(4);
        let shutdown = CancellationToken::new();
        let follower = tokio::spawn({
            let cache = std::sync::Arc::clone(&cache);
            let shutdown = shutdown.clone();
            async move { cache.follow(changes, shutdown).await }
        });
        announce
            .send(Announcement::KeyChanged {
                client_id: alice.id,
            })
            .expect("the follower listens");
        let deadline = Instant::now() + Duration::from_secs(5);
        while cache.get("alice").is_some() {
            assert!(Instant::now() < deadline, "the key was not forgotten");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        shutdown.cancel();
        follower.await.expect("the follower ends");
    }
}
