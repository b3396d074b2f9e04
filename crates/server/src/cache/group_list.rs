//! Zulip's `GET /user_groups` bodies, per realm version.
//!
//! The body is built from per-group fragments in segments of consecutive
//! groups; a fragment is re-rendered only when that group changed (its
//! revision moved), so a write costs one fragment and one segment re-join plus
//! a list of parts, not a full render.

use super::{Latest, Versioned};
use crate::zulip::views::group_fragment;
use axum::body::Bytes;
use cohort_core::{GroupId, Snapshot, Version};
use std::collections::BTreeSet;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// Groups per segment of the cached list: a change re-renders one group and
/// re-joins one segment, never the whole body. Fewer, larger parts also mean
/// fewer iovecs per response (hyper writes at most 16 per `writev`).
const SEGMENT: usize = 128;
const HEAD: &[u8] = b"{\"result\":\"success\",\"msg\":\"\",\"user_groups\":[";
const TAIL: &[u8] = b"]}";

/// (group, revision rendered, deactivated, fragment).
type Entry = (GroupId, Version, bool, Bytes);

/// A run of consecutive groups, rendered and joined. Immutable once built, so
/// renderings of different versions share the segments that did not change.
struct Segment {
    /// In id order.
    entries: Vec<Entry>,
    /// Every group's fragment, each preceded by a comma (the body's first
    /// part drops its leading comma by slicing, so no separator parts exist).
    all: Bytes,
    /// Only active groups'.
    active: Bytes,
}

impl Segment {
    fn build(entries: Vec<Entry>) -> Arc<Segment> {
        let join = |active_only: bool| {
            let mut out = Vec::new();
            for (_, _, deactivated, fragment) in &entries {
                if active_only && *deactivated {
                    continue;
                }
                out.push(b',');
                out.extend_from_slice(fragment);
            }
            Bytes::from(out)
        };
        let all = join(false);
        let active = if entries.iter().any(|e| e.2) {
            join(true)
        } else {
            all.clone()
        };
        Arc::new(Segment {
            entries,
            all,
            active,
        })
    }
}

/// One version's list.
struct RenderedList {
    version: Version,
    segments: Vec<Arc<Segment>>,
    /// The response bodies as parts: head, segments, tail.
    with_deactivated: Arc<Vec<Bytes>>,
    active_only: Arc<Vec<Bytes>>,
}

impl Versioned for RenderedList {
    fn version(&self) -> Version {
        self.version
    }
}

/// Per-realm cache of the `GET /user_groups` bodies.
#[derive(Default)]
pub struct GroupListCache {
    latest: Latest<RenderedList>,
    /// Group fragments rendered so far (what a cache hit saves).
    fragments_rendered: AtomicU64,
}

impl GroupListCache {
    /// The body's parts at `snap`'s version.
    pub fn body(&self, snap: &Snapshot, include_deactivated: bool) -> Arc<Vec<Bytes>> {
        let list = self
            .latest
            .get_or_render(snap.realm_id(), snap.version(), |base| {
                self.render(base, snap)
            });
        if include_deactivated {
            list.with_deactivated.clone()
        } else {
            list.active_only.clone()
        }
    }

    #[cfg(test)]
    fn fragments_rendered(&self) -> u64 {
        self.fragments_rendered.load(Ordering::Relaxed)
    }

    fn fragment(&self, snap: &Snapshot, id: GroupId) -> Bytes {
        self.fragments_rendered.fetch_add(1, Ordering::Relaxed);
        group_fragment(snap, id)
    }

    /// `snap`'s list, from `base` (another version's, older or newer): in
    /// place when the snapshot can say which groups changed since an older
    /// base (re-rendering those, re-joining their segments), else by walking
    /// every group (still reusing every fragment whose revision matches).
    fn render(&self, base: Option<&RenderedList>, snap: &Snapshot) -> RenderedList {
        let incremental = base.filter(|b| b.version < snap.version()).and_then(|b| {
            let touched = snap.groups_touched_since(b.version)?;
            self.update_in_place(&b.segments, snap, &touched)
        });
        let segments = match incremental {
            Some(segments) => segments,
            None => self.render_all(base.map_or(&[], |b| &b.segments[..]), snap),
        };
        let parts = |pick: fn(&Segment) -> &Bytes| {
            let mut parts = vec![Bytes::from_static(HEAD)];
            for segment in &segments {
                let bytes = pick(segment);
                if bytes.is_empty() {
                    continue;
                }
                parts.push(if parts.len() == 1 {
                    bytes.slice(1..)
                } else {
                    bytes.clone()
                });
            }
            parts.push(Bytes::from_static(TAIL));
            Arc::new(parts)
        };
        RenderedList {
            version: snap.version(),
            with_deactivated: parts(|s| &s.all),
            active_only: parts(|s| &s.active),
            segments,
        }
    }

    /// `base` with the `touched` groups re-rendered, or `None` when that
    /// cannot be done in place (a group was deleted, or one appears in the
    /// middle).
    fn update_in_place(
        &self,
        base: &[Arc<Segment>],
        snap: &Snapshot,
        touched: &BTreeSet<GroupId>,
    ) -> Option<Vec<Arc<Segment>>> {
        /// Where a touched group goes: an existing entry, or appended at the
        /// end (a new group has the highest id).
        enum Slot {
            At(usize, usize),
            Append,
        }
        // First find every slot, so nothing is rendered for a failed attempt.
        let mut slots = Vec::with_capacity(touched.len());
        let mut last = base.last().and_then(|s| s.entries.last()).map(|e| e.0);
        for id in touched {
            snap.group(*id)?; // deleted: the segments shift
            let seg = base.partition_point(|s| s.entries.last().is_some_and(|e| e.0 < *id));
            match base
                .get(seg)
                .map(|s| s.entries.binary_search_by_key(id, |e| e.0))
            {
                Some(Ok(pos)) => slots.push((*id, Slot::At(seg, pos))),
                _ if last.is_none_or(|l| l < *id) => {
                    last = Some(*id);
                    slots.push((*id, Slot::Append));
                }
                _ => return None,
            }
        }
        // Segments being changed, as entry lists; the rest are shared.
        let mut dirty: HashMap<usize, Vec<Entry>> = HashMap::new();
        let mut appended: Vec<Entry> = Vec::new();
        for (id, slot) in slots {
            let group = snap.group(id)?;
            let entry = (
                id,
                snap.group_rev(id),
                group.deactivated,
                self.fragment(snap, id),
            );
            match slot {
                Slot::At(seg, pos) => {
                    dirty
                        .entry(seg)
                        .or_insert_with(|| base[seg].entries.clone())[pos] = entry;
                }
                Slot::Append => appended.push(entry),
            }
        }
        // New groups first fill the last segment, then make new ones.
        let mut appended = appended.into_iter().peekable();
        if let Some(last) = base.len().checked_sub(1) {
            if appended.peek().is_some() && base[last].entries.len() < SEGMENT {
                let entries = dirty
                    .entry(last)
                    .or_insert_with(|| base[last].entries.clone());
                while entries.len() < SEGMENT {
                    let Some(entry) = appended.next() else { break };
                    entries.push(entry);
                }
            }
        }
        let mut segments: Vec<Arc<Segment>> = base
            .iter()
            .enumerate()
            .map(|(i, s)| match dirty.remove(&i) {
                Some(entries) => Segment::build(entries),
                None => s.clone(),
            })
            .collect();
        let rest: Vec<Entry> = appended.collect();
        segments.extend(rest.chunks(SEGMENT).map(|c| Segment::build(c.to_vec())));
        Some(segments)
    }

    /// Every group of `snap` in segments, reusing `base`'s segments and
    /// fragments wherever the groups and their revisions match.
    fn render_all(&self, base: &[Arc<Segment>], snap: &Snapshot) -> Vec<Arc<Segment>> {
        let current: Vec<(GroupId, Version, bool)> = snap
            .groups_with_revs()
            .map(|(g, rev)| (g.id, rev, g.deactivated))
            .collect();
        // The base's fragments, looked up only if the segments moved.
        let mut previous: Option<HashMap<GroupId, (Version, Bytes)>> = None;
        let mut segments = Vec::with_capacity(current.len().div_ceil(SEGMENT));
        for (i, chunk) in current.chunks(SEGMENT).enumerate() {
            let old = base.get(i).filter(|s| {
                s.entries.len() == chunk.len()
                    && s.entries.iter().zip(chunk).all(|(e, c)| e.0 == c.0)
            });
            if let Some(old) = old {
                if old
                    .entries
                    .iter()
                    .zip(chunk)
                    .all(|(e, c)| e.1 == c.1 && e.2 == c.2)
                {
                    segments.push(old.clone());
                    continue;
                }
                // The same groups, some changed: re-render just those.
                let entries = old
                    .entries
                    .iter()
                    .zip(chunk)
                    .map(|(old, (id, rev, deactivated))| {
                        let fragment = if old.1 == *rev {
                            old.3.clone()
                        } else {
                            self.fragment(snap, *id)
                        };
                        (*id, *rev, *deactivated, fragment)
                    })
                    .collect();
                segments.push(Segment::build(entries));
                continue;
            }
            let previous = previous.get_or_insert_with(|| {
                base.iter()
                    .flat_map(|s| s.entries.iter())
                    .map(|(id, rev, _, bytes)| (*id, (*rev, bytes.clone())))
                    .collect()
            });
            let entries = chunk
                .iter()
                .map(|(id, rev, deactivated)| {
                    let fragment = match previous.get(id) {
                        Some((at, bytes)) if at == rev => bytes.clone(),
                        _ => self.fragment(snap, *id),
                    };
                    (*id, *rev, *deactivated, fragment)
                })
                .collect();
            segments.push(Segment::build(entries));
        }
        segments
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_world::World;
    use super::*;
    use cohort_core::command::{ChangeMembers, UpdateGroup};
    use cohort_core::{Command, UserId};

    fn body(cache: &GroupListCache, snap: &Snapshot, all: bool) -> Vec<u8> {
        cache
            .body(snap, all)
            .iter()
            .flat_map(|b| b.iter().copied())
            .collect()
    }

    fn fresh(snap: &Snapshot, all: bool) -> Vec<u8> {
        body(&GroupListCache::default(), snap, all)
    }

    /// Ten users and `groups` groups (several segments), with a few members each.
    fn world(groups: usize) -> (World, Vec<UserId>, Vec<GroupId>) {
        let mut world = World::new();
        let users: Vec<UserId> = (0..10).map(|i| world.user(i)).collect();
        let ids = (0..groups)
            .map(|i| {
                let members = users.iter().copied().skip(i % 7).take(3).collect();
                world.group(format!("g{i}"), members)
            })
            .collect();
        (world, users, ids)
    }

    /// After any sequence of changes, the incrementally rebuilt body equals a
    /// body rendered from scratch, byte for byte (several segments deep).
    #[test]
    fn incremental_rebuilds_equal_fresh_renders() {
        let mut world = World::new();
        let users: Vec<UserId> = (0..10).map(|i| world.user(i)).collect();
        let cache = GroupListCache::default();
        let mut groups = Vec::new();
        for i in 0..300 {
            let members = users.iter().copied().skip(i % 7).take(3).collect();
            groups.push(world.group(format!("g{i}"), members));
            if i % 40 == 0 {
                // Render midway so later rebuilds are incremental.
                body(&cache, &world.snap, true);
            }
        }
        let check = |world: &World| {
            for all in [true, false] {
                let cached = body(&cache, &world.snap, all);
                assert_eq!(cached, fresh(&world.snap, all));
                // And the parts join into the list itself: valid JSON, every
                // expected group once, in id order.
                let parsed: serde_json::Value = serde_json::from_slice(&cached).unwrap();
                let listed: Vec<i64> = parsed["user_groups"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|g| g["id"].as_i64().unwrap())
                    .collect();
                let expected: Vec<i64> = world
                    .snap
                    .groups_with_revs()
                    .filter(|(g, _)| all || !g.deactivated)
                    .map(|(g, _)| g.id.0)
                    .collect();
                assert_eq!(listed, expected);
            }
        };
        check(&world);
        let change = ChangeMembers {
            add: vec![users[9]],
            ..Default::default()
        };
        world.run(Command::ChangeMembers(groups[70], change));
        check(&world);
        let rename = UpdateGroup {
            name: Some("renamed".into()),
            ..Default::default()
        };
        world.run(Command::UpdateGroup(groups[3], rename));
        check(&world);
        world.run(Command::DeactivateGroup(groups[130]));
        check(&world);
        world.run(Command::DeactivateUser(users[4]));
        check(&world);
        world.run(Command::DeleteGroup(groups[10]));
        check(&world);
        let reactivate = UpdateGroup {
            reactivate: true,
            ..Default::default()
        };
        world.run(Command::UpdateGroup(groups[130], reactivate));
        check(&world);
        // Appending groups fills the last segment, then opens new ones.
        for i in 0..200 {
            world.group(format!("late{i}"), vec![users[i % 3]]);
        }
        check(&world);
    }

    /// Readers holding old and new snapshots, interleaved: each gets its own
    /// version's bytes; an old reader neither replaces the newer entry (the
    /// newer reader afterwards renders nothing) nor re-renders more than the
    /// groups that differ between the versions.
    #[test]
    fn old_readers_get_old_bytes_and_never_evict_newer() {
        let (mut world, users, groups) = world(300);
        let mut snaps = vec![world.snap.clone()];
        for (group, user) in [
            (groups[5], users[9]),
            (groups[200], users[8]),
            (groups[5], users[0]),
        ] {
            let change = ChangeMembers {
                add: vec![user],
                ..Default::default()
            };
            world.run(Command::ChangeMembers(group, change));
            snaps.push(world.snap.clone());
        }
        let (v0, v1, v3) = (&snaps[0], &snaps[1], &snaps[3]);
        assert_ne!(fresh(v0, true), fresh(v3, true));

        let cache = GroupListCache::default();
        assert_eq!(body(&cache, v3, true), fresh(v3, true));
        let rendered = cache.fragments_rendered();
        let all_groups = v3.groups().count() as u64;
        assert_eq!(rendered, all_groups, "a first render renders every group");

        // An old reader: its own bytes, rendering only the two changed groups.
        assert_eq!(body(&cache, v0, true), fresh(v0, true));
        assert_eq!(body(&cache, v0, false), fresh(v0, false));
        let old_renders = cache.fragments_rendered() - rendered;
        assert!(old_renders <= 4, "{old_renders} renders for an old reader");
        // The newer entry is still there: the new reader renders nothing.
        let before = cache.fragments_rendered();
        assert_eq!(body(&cache, v3, true), fresh(v3, true));
        assert_eq!(body(&cache, v3, false), fresh(v3, false));
        assert_eq!(cache.fragments_rendered(), before);

        // Interleaved old, new and middle readers, many times: the same.
        for _ in 0..5 {
            for snap in [v1, v3, v0, v3, v1] {
                assert_eq!(body(&cache, snap, true), fresh(snap, true));
            }
        }
        let before = cache.fragments_rendered();
        body(&cache, v3, true);
        assert_eq!(cache.fragments_rendered(), before, "v3 was evicted");

        // A newer reader moves the entry forward, incrementally.
        world.run(Command::ChangeMembers(
            groups[7],
            ChangeMembers {
                add: vec![users[9]],
                ..Default::default()
            },
        ));
        let v4 = world.snap.clone();
        let before = cache.fragments_rendered();
        assert_eq!(body(&cache, &v4, true), fresh(&v4, true));
        assert_eq!(cache.fragments_rendered() - before, 1);
        body(&cache, v3, true);
        let before = cache.fragments_rendered();
        body(&cache, &v4, true);
        assert_eq!(cache.fragments_rendered(), before, "v4 was evicted");
    }
}
