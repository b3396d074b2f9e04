//! Derived facts read from a snapshot: transitive subgroups and members,
//! membership tests, and what a permission setting's value contains.

use super::Snapshot;
use crate::ids::{GroupId, UserId};
use crate::model::SettingValue;
use std::collections::{BTreeSet, HashSet};

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

    /// Whether `user` is in `group`, directly or through subgroups. Inactive users
    /// are in no group.
    /// The groups `user` is a direct member of, in id order (a scan: there
    /// is no reverse index).
    pub fn groups_of(&self, user: UserId) -> Vec<GroupId> {
        self.groups()
            .filter(|g| g.has_member(user))
            .map(|g| g.id)
            .collect()
    }

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
}
