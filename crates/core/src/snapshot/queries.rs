//! Derived facts read from a snapshot: transitive subgroups and members,
//! membership tests, and what a permission setting's value contains.

use super::Snapshot;
use crate::ids::{GroupId, UserId};
use crate::model::SettingValue;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};
use std::sync::Arc;

impl Snapshot {
    pub fn is_active_user(&self, id: UserId) -> bool {
        self.user(id).is_some_and(|u| u.active)
    }

    /// `group` and every group below it, each once.
    pub fn closure_of(&self, roots: impl IntoIterator<Item = GroupId>) -> BTreeSet<GroupId> {
        let mut seen = BTreeSet::new();
        let mut stack: Vec<GroupId> = roots.into_iter().collect();
        while let Some(id) = stack.pop() {
            if !seen.insert(id) {
                continue;
            }
            if let Some(group) = self.groups.get(&id) {
                stack.extend(
                    group
                        .subgroups
                        .iter()
                        .copied()
                        .filter(|g| !seen.contains(g)),
                );
            }
        }
        seen
    }

    /// Every group below `group` (not `group` itself unless a cycle existed).
    pub fn recursive_subgroups(&self, group: GroupId) -> BTreeSet<GroupId> {
        let direct = self
            .groups
            .get(&group)
            .map(|g| g.subgroups.clone())
            .unwrap_or_default();
        self.closure_of(direct)
    }

    /// Active users who are members of `group` directly or through subgroups,
    /// sorted.
    pub fn recursive_members(&self, group: GroupId) -> Vec<UserId> {
        let closure = self.closure_of([group]);
        let mut out: Vec<UserId> = Vec::new();
        for id in &closure {
            if let Some(g) = self.groups.get(id) {
                out.extend(g.members.iter().copied());
            }
        }
        // One group's list is already sorted; several are sorted runs.
        if closure.len() > 1 {
            out.sort_unstable();
            out.dedup();
        }
        if self.inactive_users > 0 {
            out.retain(|u| self.is_active_user(*u));
        }
        out
    }

    /// How many active direct members `group` has (without copying them).
    pub fn direct_member_count(&self, group: GroupId) -> usize {
        let Some(g) = self.groups.get(&group) else {
            return 0;
        };
        if self.inactive_users == 0 {
            return g.members.len();
        }
        g.members
            .iter()
            .filter(|u| self.is_active_user(**u))
            .count()
    }

    /// Active direct members of `group`, sorted.
    pub fn direct_members(&self, group: GroupId) -> Vec<UserId> {
        let Some(g) = self.groups.get(&group) else {
            return Vec::new();
        };
        if self.inactive_users == 0 {
            return g.members.clone();
        }
        g.members
            .iter()
            .copied()
            .filter(|u| self.is_active_user(*u))
            .collect()
    }

    /// The groups `user` is a direct member of, in id order (a scan: there
    /// is no reverse index).
    pub fn groups_of(&self, user: UserId) -> Vec<GroupId> {
        self.groups()
            .filter(|g| g.has_member(user))
            .map(|g| g.id)
            .collect()
    }

    /// Whether `user` is in `group`, directly or through subgroups. Inactive users
    /// are in no group.
    pub fn is_member(&self, group: GroupId, user: UserId, direct_only: bool) -> bool {
        if !self.is_active_user(user) {
            return false;
        }
        if direct_only {
            return self.groups.get(&group).is_some_and(|g| g.has_member(user));
        }
        let mut seen = HashSet::new();
        let mut stack = vec![group];
        while let Some(id) = stack.pop() {
            if !seen.insert(id) {
                continue;
            }
            if let Some(g) = self.groups.get(&id) {
                if g.has_member(user) {
                    return true;
                }
                stack.extend(g.subgroups.iter().copied());
            }
        }
        false
    }

    /// Whether `user` is in the set a setting value describes.
    pub fn value_contains(&self, value: &SettingValue, user: UserId) -> bool {
        match value {
            SettingValue::Group(id) => self.is_member(*id, user, false),
            SettingValue::Anonymous { members, subgroups } => {
                (self.is_active_user(user) && members.binary_search(&user).is_ok())
                    || subgroups.iter().any(|g| self.is_member(*g, user, false))
            }
        }
    }

    /// The active members of `group`, directly or through subgroups, by
    /// user id, each once with why: the chain of subgroups from just below
    /// `group` down to the one they are a direct member of (empty for a
    /// direct member). Groups are walked breadth first in id order, so each
    /// chain is a shortest one and the answer is the same every time.
    pub fn members_with_via(&self, group: GroupId) -> Vec<(UserId, Arc<[GroupId]>)> {
        let mut found: BTreeMap<UserId, Arc<[GroupId]>> = BTreeMap::new();
        let mut seen = HashSet::from([group]);
        let mut queue = VecDeque::from([(group, Arc::<[GroupId]>::from([]))]);
        while let Some((id, path)) = queue.pop_front() {
            let Some(g) = self.groups.get(&id) else {
                continue;
            };
            for user in &g.members {
                if self.inactive_users == 0 || self.is_active_user(*user) {
                    found.entry(*user).or_insert_with(|| path.clone());
                }
            }
            for sub in &g.subgroups {
                if seen.insert(*sub) {
                    let chain: Arc<[GroupId]> = path.iter().copied().chain([*sub]).collect();
                    queue.push_back((*sub, chain));
                }
            }
        }
        found.into_iter().collect()
    }

    /// Every group `user` is in, directly or through subgroups, by group id,
    /// each with the chain of subgroups from just below it down to the group
    /// the user is a direct member of (empty: a direct member). None for an
    /// inactive user, who is in no group.
    pub fn groups_with_via(&self, user: UserId) -> Vec<(GroupId, Vec<GroupId>)> {
        if !self.is_active_user(user) {
            return Vec::new();
        }
        // No reverse index is kept: one pass finds every group's parents.
        let mut parents: HashMap<GroupId, Vec<GroupId>> = HashMap::new();
        let mut via: BTreeMap<GroupId, Vec<GroupId>> = BTreeMap::new();
        let mut queue = VecDeque::new();
        for g in self.groups.values() {
            for sub in &g.subgroups {
                parents.entry(*sub).or_default().push(g.id);
            }
            if g.has_member(user) {
                via.insert(g.id, Vec::new());
                queue.push_back(g.id);
            }
        }
        while let Some(id) = queue.pop_front() {
            let Some(above) = parents.get(&id) else {
                continue;
            };
            for parent in above {
                if via.contains_key(parent) {
                    continue;
                }
                let mut chain = vec![id];
                chain.extend(via[&id].iter().copied());
                via.insert(*parent, chain);
                queue.push_back(*parent);
            }
        }
        via.into_iter().collect()
    }
}
