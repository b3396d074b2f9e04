//! IMKIT's visible groups, rendered, in page order, per realm version.
//! `GET /admin/groups` slices this list; a group is re-rendered only when it
//! changed (its revision moved) since the rendering the list starts from.

use super::{Latest, Versioned};
use crate::imkit::render::{group_json, visible};
use axum::body::Bytes;
use cohort_core::{GroupId, Snapshot, Version};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// One version's groups.
struct RenderedGroups {
    version: Version,
    /// Visible groups in creation (id) order.
    ordered: Arc<Vec<Bytes>>,
    fragments: HashMap<GroupId, (Version, Bytes)>,
}

impl Versioned for RenderedGroups {
    fn version(&self) -> Version {
        self.version
    }
}

/// Per realm: the visible groups, rendered, in order.
#[derive(Default)]
pub struct GroupPageCache {
    latest: Latest<RenderedGroups>,
    /// Groups rendered so far (what a cache hit saves).
    fragments_rendered: AtomicU64,
}

impl GroupPageCache {
    pub fn ordered(&self, snap: &Snapshot) -> Arc<Vec<Bytes>> {
        self.latest
            .get_or_render(snap.realm_id(), snap.version(), |base| {
                self.render(base, snap)
            })
            .ordered
            .clone()
    }

    #[cfg(test)]
    fn fragments_rendered(&self) -> u64 {
        self.fragments_rendered.load(Ordering::Relaxed)
    }

    /// `snap`'s groups, reusing `base`'s renders (of any version) whose
    /// revision matches.
    fn render(&self, base: Option<&RenderedGroups>, snap: &Snapshot) -> RenderedGroups {
        let mut fragments = HashMap::with_capacity(base.map_or(0, |b| b.fragments.len()));
        let mut ordered = Vec::new();
        for group in snap.groups().filter(|g| visible(g)) {
            let rev = snap.group_rev(group.id);
            let bytes = match base.and_then(|b| b.fragments.get(&group.id)) {
                Some((at, bytes)) if *at == rev => bytes.clone(),
                _ => {
                    self.fragments_rendered.fetch_add(1, Ordering::Relaxed);
                    Bytes::from(group_json(snap, group).to_string())
                }
            };
            ordered.push(bytes.clone());
            fragments.insert(group.id, (rev, bytes));
        }
        RenderedGroups {
            version: snap.version(),
            ordered: Arc::new(ordered),
            fragments,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_world::World;
    use super::*;
    use cohort_core::command::ChangeMembers;
    use cohort_core::{Command, UserId};

    fn joined(cache: &GroupPageCache, snap: &Snapshot) -> Vec<Bytes> {
        cache.ordered(snap).to_vec()
    }

    fn fresh(snap: &Snapshot) -> Vec<Bytes> {
        joined(&GroupPageCache::default(), snap)
    }

    /// Interleaved old and new readers each get their version's groups; an
    /// old reader does not replace the newer entry.
    #[test]
    fn old_readers_get_old_groups_and_never_evict_newer() {
        let mut world = World::new();
        let users: Vec<UserId> = (0..5).map(|i| world.user(i)).collect();
        let groups: Vec<GroupId> = (0..50)
            .map(|i| world.group(format!("g{i}"), vec![users[i % 5]]))
            .collect();
        let old = world.snap.clone();
        let change = ChangeMembers {
            add: vec![users[4]],
            ..Default::default()
        };
        world.run(Command::ChangeMembers(groups[1], change));
        let new = world.snap.clone();
        assert_ne!(fresh(&old), fresh(&new));

        let cache = GroupPageCache::default();
        assert_eq!(joined(&cache, &new), fresh(&new));
        let first = cache.fragments_rendered();
        assert_eq!(first, 50);
        assert_eq!(joined(&cache, &old), fresh(&old));
        assert_eq!(
            cache.fragments_rendered() - first,
            1,
            "only the changed group"
        );
        for _ in 0..3 {
            assert_eq!(joined(&cache, &old), fresh(&old));
            // After an old reader, the new one renders nothing.
            let before = cache.fragments_rendered();
            assert_eq!(joined(&cache, &new), fresh(&new));
            assert_eq!(
                cache.fragments_rendered(),
                before,
                "the newer entry was evicted"
            );
        }
    }
}
