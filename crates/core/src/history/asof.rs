//! Membership as of a version: a group's members (direct, or through
//! subgroups with the chain that grants each), and every group a user was
//! in. The rules are the snapshot's: deactivated users are in no group, a
//! deleted group has no members, cycles are walked once.

use super::History;
use crate::ids::{GroupId, UserId, Version};
use std::collections::{BTreeMap, BTreeSet, VecDeque};

/// A member of a group as of a version. `via` is the chain of subgroups
/// from just below the group down to the one the user is a direct member
/// of; empty for a direct member.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Member {
    pub user: UserId,
    pub via: Vec<GroupId>,
}

/// A group a user was in as of a version. `via` is the chain of subgroups
/// from just below `group` down to the group the user is a direct member
/// of; empty when the user is a direct member of `group`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemberOf {
    pub group: GroupId,
    pub via: Vec<GroupId>,
}

impl History {
    /// The groups below `group` as of `version`, breadth first (so each
    /// path is a shortest one), each with its path from `group`; `group`
    /// itself comes first with an empty path.
    pub fn descendants_at(&self, group: GroupId, version: Version) -> Vec<(GroupId, Vec<GroupId>)> {
        let mut paths: BTreeMap<GroupId, Vec<GroupId>> = BTreeMap::new();
        let mut order = Vec::new();
        let mut queue = VecDeque::from([(group, Vec::new())]);
        paths.insert(group, Vec::new());
        while let Some((id, path)) = queue.pop_front() {
            order.push((id, path.clone()));
            let Some(t) = self.groups.get(&id) else {
                continue;
            };
            let mut subs: Vec<GroupId> = t.subgroups.at(version).collect();
            subs.sort_unstable();
            for sub in subs {
                if paths.contains_key(&sub) {
                    continue;
                }
                let mut next = path.clone();
                next.push(sub);
                paths.insert(sub, next.clone());
                queue.push_back((sub, next));
            }
        }
        order
    }

    /// The active members of `group` as of `version`, by user id; with
    /// `transitive`, also those of every group below it, each once with a
    /// shortest chain. `None` if the group did not exist then.
    pub fn members(
        &self,
        group: GroupId,
        version: Version,
        transitive: bool,
    ) -> Option<Vec<Member>> {
        let t = self.groups.get(&group)?;
        if !t.exists_at(version) {
            return None;
        }
        let mut found: BTreeMap<UserId, Vec<GroupId>> = BTreeMap::new();
        let groups = if transitive {
            self.descendants_at(group, version)
        } else {
            vec![(group, Vec::new())]
        };
        for (id, path) in groups {
            let Some(g) = self.groups.get(&id) else {
                continue;
            };
            for user in g.members.at(version) {
                if self.is_active(user, version) {
                    found.entry(user).or_insert_with(|| path.clone());
                }
            }
        }
        Some(
            found
                .into_iter()
                .map(|(user, via)| Member { user, via })
                .collect(),
        )
    }

    /// Every group `user` was in as of `version`, directly or through
    /// subgroups, by group id. Empty while the user was deactivated;
    /// `None` if the user did not exist yet.
    pub fn groups_of(&self, user: UserId, version: Version) -> Option<Vec<MemberOf>> {
        let t = self.users.get(&user)?;
        if version < t.created {
            return None;
        }
        if !self.is_active(user, version) {
            return Some(Vec::new());
        }
        let mut via: BTreeMap<GroupId, Vec<GroupId>> = BTreeMap::new();
        let mut direct: Vec<GroupId> = t.groups.at(version).collect();
        direct.sort_unstable();
        let mut queue: VecDeque<GroupId> = VecDeque::new();
        for id in direct {
            via.insert(id, Vec::new());
            queue.push_back(id);
        }
        while let Some(id) = queue.pop_front() {
            let Some(g) = self.groups.get(&id) else {
                continue;
            };
            let mut parents: Vec<GroupId> = g.supergroups.at(version).collect();
            parents.sort_unstable();
            for parent in parents {
                if via.contains_key(&parent) {
                    continue;
                }
                let mut chain = vec![id];
                chain.extend(via[&id].iter().copied());
                via.insert(parent, chain);
                queue.push_back(parent);
            }
        }
        Some(
            via.into_iter()
                .map(|(group, via)| MemberOf { group, via })
                .collect(),
        )
    }

    /// The groups whose effective membership could differ between two
    /// versions: those with an edge change in between, those holding a user
    /// whose activity changed (`activity_changed`), and every group above them at
    /// either end.
    pub(super) fn affected_groups(
        &self,
        from: Version,
        to: Version,
        activity_changed: &[UserId],
    ) -> BTreeSet<GroupId> {
        let in_window = |versions: &[Version]| {
            let i = versions.partition_point(|v| *v <= from);
            versions.get(i).is_some_and(|v| *v <= to)
        };
        let mut seeds: Vec<GroupId> = self
            .by_group
            .iter()
            .filter(|(_, versions)| in_window(versions))
            .map(|(g, _)| *g)
            .collect();
        for t in activity_changed.iter().filter_map(|u| self.users.get(u)) {
            seeds.extend(t.groups.at(from));
            seeds.extend(t.groups.at(to));
        }
        let mut affected = BTreeSet::new();
        while let Some(id) = seeds.pop() {
            if !affected.insert(id) {
                continue;
            }
            if let Some(g) = self.groups.get(&id) {
                seeds.extend(g.supergroups.at(from));
                seeds.extend(g.supergroups.at(to));
            }
        }
        affected
    }
}
