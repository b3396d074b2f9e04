//! Rendered records by key, each valid while its revision stands: SCIM's
//! groups (with and without members) are rendered once per change of the
//! group and reused by every list page and lookup that shows them, so a
//! write re-renders only what it touched.
//!
//! Lookups for a whole page take the lock once; misses are rendered outside
//! it. A fragment rendered from an older snapshot never replaces one of a
//! newer revision.

use axum::body::Bytes;
use cohort_core::Version;
use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;

pub struct FragmentCache<K> {
    entries: Mutex<HashMap<K, (Version, Bytes)>>,
    /// Past this many fragments the cache starts over.
    capacity: usize,
}

impl<K: Hash + Eq + Clone> FragmentCache<K> {
    pub fn new(capacity: usize) -> Self {
        FragmentCache {
            entries: Mutex::new(HashMap::new()),
            capacity,
        }
    }

    /// The fragment of each `(key, revision)`, rendering the missing ones
    /// with `render` (called outside the lock), in the order asked.
    pub fn get_many<T>(
        &self,
        items: &[(K, Version, T)],
        render: impl Fn(&T) -> Bytes,
    ) -> Vec<Bytes> {
        let mut out: Vec<Option<Bytes>> = {
            let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
            items
                .iter()
                .map(|(key, rev, _)| {
                    entries
                        .get(key)
                        .filter(|(cached, _)| cached == rev)
                        .map(|(_, bytes)| bytes.clone())
                })
                .collect()
        };
        let mut fresh = Vec::new();
        for (slot, (key, rev, item)) in out.iter_mut().zip(items) {
            if slot.is_none() {
                let bytes = render(item);
                fresh.push((key.clone(), *rev, bytes.clone()));
                *slot = Some(bytes);
            }
        }
        if !fresh.is_empty() {
            let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
            if entries.len() + fresh.len() > self.capacity {
                entries.clear();
            }
            for (key, rev, bytes) in fresh {
                match entries.get(&key) {
                    Some((cached, _)) if *cached > rev => {}
                    _ => {
                        entries.insert(key, (rev, bytes));
                    }
                }
            }
        }
        out.into_iter().flatten().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    #[test]
    fn renders_once_per_revision_and_never_goes_back() {
        let cache: FragmentCache<u32> = FragmentCache::new(100);
        let renders = Cell::new(0);
        let render = |text: &&str| {
            renders.set(renders.get() + 1);
            Bytes::from(text.to_string())
        };
        let got = cache.get_many(&[(1, 5, "a5"), (2, 5, "b5")], render);
        assert_eq!(got, vec![Bytes::from("a5"), Bytes::from("b5")]);
        assert_eq!(renders.get(), 2);
        // Same revisions: served from the cache.
        cache.get_many(&[(1, 5, "x"), (2, 5, "y")], render);
        assert_eq!(renders.get(), 2);
        // A new revision of one: only it is rendered.
        let got = cache.get_many(&[(1, 6, "a6"), (2, 5, "y")], render);
        assert_eq!(got, vec![Bytes::from("a6"), Bytes::from("b5")]);
        assert_eq!(renders.get(), 3);
        // A reader on an older snapshot gets its own rendering, and the
        // newer fragment stays.
        let got = cache.get_many(&[(1, 5, "old")], render);
        assert_eq!(got, vec![Bytes::from("old")]);
        let got = cache.get_many(&[(1, 6, "z")], render);
        assert_eq!(got, vec![Bytes::from("a6")]);
    }
}
