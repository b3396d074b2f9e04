//! Whole response bodies by key, per realm version: a body is rendered once
//! (outside the lock) and served as bytes until the realm's version moves.

use axum::body::Bytes;
use cohort_core::{RealmId, Snapshot, Version};
use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;

/// One realm's entries and the version they belong to.
type Entries<K> = (Version, HashMap<K, Bytes>);

pub struct VersionedCache<K> {
    realms: Mutex<HashMap<RealmId, Entries<K>>>,
    /// Entries kept per realm version; past it the cache starts over.
    capacity: usize,
}

impl<K: Hash + Eq + Clone> VersionedCache<K> {
    pub fn new(capacity: usize) -> Self {
        VersionedCache {
            realms: Mutex::new(HashMap::new()),
            capacity,
        }
    }

    /// The bytes for `key` at `snap`'s version, rendering them on a miss
    /// (outside the lock, so other readers are not held up).
    pub fn get_or_render(&self, snap: &Snapshot, key: K, render: impl FnOnce() -> Bytes) -> Bytes {
        {
            let realms = self.realms.lock().unwrap_or_else(|e| e.into_inner());
            if let Some((version, entries)) = realms.get(&snap.realm_id()) {
                if *version == snap.version() {
                    if let Some(bytes) = entries.get(&key) {
                        return bytes.clone();
                    }
                }
            }
        }
        let bytes = render();
        let mut realms = self.realms.lock().unwrap_or_else(|e| e.into_inner());
        let (version, entries) = realms
            .entry(snap.realm_id())
            .or_insert_with(|| (snap.version(), HashMap::new()));
        if *version != snap.version() {
            if *version > snap.version() {
                // A newer version is cached already; do not go back.
                return bytes;
            }
            *version = snap.version();
            entries.clear();
        }
        if entries.len() >= self.capacity {
            entries.clear();
        }
        entries.insert(key, bytes.clone());
        bytes
    }
}
