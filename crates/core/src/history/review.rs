//! The access review: between two versions, who gained and who lost
//! effective membership of each group, and the commits responsible: for a
//! gain, the edges of the new path (and the reactivation) made in between;
//! for a loss, the edges of the old path (and the deactivation or deletion)
//! ended in between.

use super::{History, Member};
use crate::ids::{GroupId, UserId, Version};
use std::collections::{BTreeMap, BTreeSet};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReviewEntry {
    pub user: UserId,
    /// The path that grants the membership (at the later version for a gain,
    /// the earlier one for a loss).
    pub via: Vec<GroupId>,
    /// Versions of the commits responsible, ascending; never empty.
    pub because: Vec<Version>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupReview {
    pub group: GroupId,
    pub gained: Vec<ReviewEntry>,
    pub lost: Vec<ReviewEntry>,
}

impl History {
    /// Effective membership changes between `from` and `to` (`from < to`),
    /// for every group (or just `only`), groups without changes left out.
    pub fn access_review(
        &self,
        from: Version,
        to: Version,
        only: Option<GroupId>,
    ) -> Vec<GroupReview> {
        let affected = self.affected_groups(from, to);
        let groups: Vec<GroupId> = match only {
            Some(g) => affected.into_iter().filter(|id| *id == g).collect(),
            None => affected.into_iter().collect(),
        };
        let mut out = Vec::new();
        for group in groups {
            let before = as_map(self.members(group, from, true));
            let after = as_map(self.members(group, to, true));
            let gained: Vec<ReviewEntry> = after
                .iter()
                .filter(|(u, _)| !before.contains_key(u))
                .map(|(user, via)| ReviewEntry {
                    user: *user,
                    via: via.clone(),
                    because: self.why_gained(group, *user, via, from, to),
                })
                .collect();
            let lost: Vec<ReviewEntry> = before
                .iter()
                .filter(|(u, _)| !after.contains_key(u))
                .map(|(user, via)| ReviewEntry {
                    user: *user,
                    via: via.clone(),
                    because: self.why_lost(group, *user, via, from, to),
                })
                .collect();
            if !gained.is_empty() || !lost.is_empty() {
                out.push(GroupReview {
                    group,
                    gained,
                    lost,
                });
            }
        }
        out
    }

    /// The edges of a path: (group, subgroup) pairs down the chain, then
    /// the holding group's edge to the user.
    fn path_edges(group: GroupId, via: &[GroupId]) -> (Vec<(GroupId, GroupId)>, GroupId) {
        let mut edges = Vec::new();
        let mut parent = group;
        for sub in via {
            edges.push((parent, *sub));
            parent = *sub;
        }
        (edges, parent)
    }

    fn why_gained(
        &self,
        group: GroupId,
        user: UserId,
        via: &[GroupId],
        from: Version,
        to: Version,
    ) -> Vec<Version> {
        let mut because = BTreeSet::new();
        let inside = |v: Version| v > from && v <= to;
        let (edges, holder) = Self::path_edges(group, via);
        for (parent, sub) in edges {
            if let Some(t) = self.groups.get(&parent) {
                because.extend(
                    t.subgroups
                        .of(sub)
                        .filter(|s| s.covers(to) && inside(s.from))
                        .map(|s| s.from),
                );
            }
        }
        if let Some(t) = self.groups.get(&holder) {
            because.extend(
                t.members
                    .of(user)
                    .filter(|s| s.covers(to) && inside(s.from))
                    .map(|s| s.from),
            );
        }
        if let Some(t) = self.users.get(&user) {
            because.extend(t.active.changes_in(from, to));
        }
        because.into_iter().collect()
    }

    fn why_lost(
        &self,
        group: GroupId,
        user: UserId,
        via: &[GroupId],
        from: Version,
        to: Version,
    ) -> Vec<Version> {
        let mut because = BTreeSet::new();
        let inside = |v: Version| v > from && v <= to;
        let (edges, holder) = Self::path_edges(group, via);
        for (parent, sub) in edges {
            if let Some(t) = self.groups.get(&parent) {
                because.extend(
                    t.subgroups
                        .of(sub)
                        .filter(|s| s.covers(from) && inside(s.to))
                        .map(|s| s.to),
                );
            }
        }
        if let Some(t) = self.groups.get(&holder) {
            because.extend(
                t.members
                    .of(user)
                    .filter(|s| s.covers(from) && inside(s.to))
                    .map(|s| s.to),
            );
        }
        if let Some(t) = self.users.get(&user) {
            because.extend(t.active.changes_in(from, to));
        }
        if let Some(d) = self.groups.get(&group).and_then(|t| t.deleted) {
            if inside(d) {
                because.insert(d);
            }
        }
        because.into_iter().collect()
    }
}

fn as_map(members: Option<Vec<Member>>) -> BTreeMap<UserId, Vec<GroupId>> {
    members
        .unwrap_or_default()
        .into_iter()
        .map(|m| (m.user, m.via))
        .collect()
}
