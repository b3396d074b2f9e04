//! The access review: between two versions, who gained and who lost
//! effective membership of each group, and the commits responsible: for a
//! gain, the edges of the new path (and the reactivation) made in between;
//! for a loss, the edges of the old path (and the deactivation or deletion)
//! ended in between.
//!
//! A group whose tree of subgroups is the same at both ends (the common
//! case) is reviewed from what changed in between: only users with a
//! membership edge in the tree that began or ended in the window, or whose
//! activity changed, can differ, so the cost follows the window's changes,
//! not the groups' sizes. A group whose tree changed, or that was created or
//! deleted in between, is compared whole.

use super::{History, Member};
use crate::ids::{GroupId, UserId, Version};
use rustc_hash::FxHashMap as HashMap;
use std::collections::BTreeMap;
use std::ops::Bound;

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

impl GroupReview {
    /// The review, or `None` when it has neither gains nor losses.
    fn of(group: GroupId, gained: Vec<ReviewEntry>, lost: Vec<ReviewEntry>) -> Option<GroupReview> {
        (!gained.is_empty() || !lost.is_empty()).then_some(GroupReview {
            group,
            gained,
            lost,
        })
    }
}

/// One page of a review: the groups reviewed and, when more may follow,
/// the last group of the page to continue after.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReviewPage {
    pub groups: Vec<GroupReview>,
    pub next: Option<GroupId>,
}

/// A group's tree of subgroups at one version: each group below it (itself
/// first) with its position in breadth-first order and its shortest path.
struct Tree {
    order: Vec<(GroupId, Vec<GroupId>)>,
    position: HashMap<GroupId, usize>,
}

impl Tree {
    fn new(order: Vec<(GroupId, Vec<GroupId>)>) -> Tree {
        let position = order
            .iter()
            .enumerate()
            .map(|(i, (g, _))| (*g, i))
            .collect();
        Tree { order, position }
    }

    fn same_groups(&self, other: &Tree) -> bool {
        self.order.len() == other.order.len()
            && self.position.keys().all(|g| other.position.contains_key(g))
    }
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
        self.access_review_page(from, to, only, None, usize::MAX)
            .groups
    }

    /// Up to `limit` (≥ 1) groups of the review, by id, after group `after`.
    pub fn access_review_page(
        &self,
        from: Version,
        to: Version,
        only: Option<GroupId>,
        after: Option<GroupId>,
        limit: usize,
    ) -> ReviewPage {
        let activity_changed: Vec<UserId> = {
            let mut users: Vec<UserId> = self
                .users
                .iter()
                .filter(|(_, t)| t.active.changes_in(from, to).next().is_some())
                .map(|(id, _)| *id)
                .collect();
            users.sort_unstable();
            users
        };
        let affected = self.affected_groups(from, to, &activity_changed);
        let start = after.map_or(Bound::Unbounded, Bound::Excluded);
        let mut groups = Vec::new();
        for group in affected.range((start, Bound::Unbounded)) {
            if only.is_some_and(|g| g != *group) {
                continue;
            }
            let Some(review) = self.review_group(*group, from, to, &activity_changed) else {
                continue;
            };
            if groups.len() == limit {
                let next = groups.last().map(|r: &GroupReview| r.group);
                return ReviewPage { groups, next };
            }
            groups.push(review);
        }
        ReviewPage { groups, next: None }
    }

    /// One group's gains and losses; `None` when it has neither.
    fn review_group(
        &self,
        group: GroupId,
        from: Version,
        to: Version,
        activity_changed: &[UserId],
    ) -> Option<GroupReview> {
        let t = self.groups.get(&group)?;
        if t.exists_at(from) && t.exists_at(to) {
            let before = Tree::new(self.descendants_at(group, from));
            let after = Tree::new(self.descendants_at(group, to));
            if before.same_groups(&after) {
                return self.review_from_changes(
                    group,
                    from,
                    to,
                    (&before, &after),
                    activity_changed,
                );
            }
        }
        self.review_whole(group, from, to)
    }

    /// The review of a group whose tree is the same at both ends.
    fn review_from_changes(
        &self,
        group: GroupId,
        from: Version,
        to: Version,
        (before, after): (&Tree, &Tree),
        activity_changed: &[UserId],
    ) -> Option<GroupReview> {
        let mut candidates: Vec<UserId> = activity_changed.to_vec();
        for (id, _) in &before.order {
            if let Some(g) = self.groups.get(id) {
                candidates.extend(g.members.changed_in(from, to));
            }
        }
        candidates.sort_unstable();
        candidates.dedup();
        let (mut gained, mut lost) = (Vec::new(), Vec::new());
        for user in candidates {
            match (
                self.path_in(user, from, before),
                self.path_in(user, to, after),
            ) {
                (None, Some(via)) => gained.push(self.entry(group, user, via, true, from, to)),
                (Some(via), None) => lost.push(self.entry(group, user, via, false, from, to)),
                _ => {}
            }
        }
        GroupReview::of(group, gained, lost)
    }

    /// The shortest path by which `user` is in the group whose tree is
    /// `tree` at `version` (the one `members` reports), if they are.
    fn path_in<'t>(&self, user: UserId, version: Version, tree: &'t Tree) -> Option<&'t [GroupId]> {
        if !self.is_active(user, version) {
            return None;
        }
        let t = self.users.get(&user)?;
        let nearest = t
            .groups
            .at(version)
            .filter_map(|g| tree.position.get(&g).copied())
            .min()?;
        Some(&tree.order[nearest].1)
    }

    /// The review of a group compared whole at both ends.
    fn review_whole(&self, group: GroupId, from: Version, to: Version) -> Option<GroupReview> {
        let before = as_map(self.members(group, from, true));
        let after = as_map(self.members(group, to, true));
        let gained: Vec<ReviewEntry> = after
            .iter()
            .filter(|(u, _)| !before.contains_key(u))
            .map(|(user, via)| self.entry(group, *user, via, true, from, to))
            .collect();
        let lost: Vec<ReviewEntry> = before
            .iter()
            .filter(|(u, _)| !after.contains_key(u))
            .map(|(user, via)| self.entry(group, *user, via, false, from, to))
            .collect();
        GroupReview::of(group, gained, lost)
    }

    fn entry(
        &self,
        group: GroupId,
        user: UserId,
        via: &[GroupId],
        gain: bool,
        from: Version,
        to: Version,
    ) -> ReviewEntry {
        ReviewEntry {
            user,
            via: via.to_vec(),
            because: self.blame(group, user, via, gain, from, to),
        }
    }

    /// The commits in `(from, to]` that made (`gain`) or broke the path `via`
    /// from `group` down to `user`: the path's edges that began in between
    /// (held at `to`) or ended in between (held at `from`), the user's
    /// activity changes and, for a loss, the group's deletion.
    fn blame(
        &self,
        group: GroupId,
        user: UserId,
        via: &[GroupId],
        gain: bool,
        from: Version,
        to: Version,
    ) -> Vec<Version> {
        let inside = |v: Version| v > from && v <= to;
        let held_at = if gain { to } else { from };
        let mut because = Vec::new();
        let mut note = |(began, ended): (Version, Version)| {
            let v = if gain { began } else { ended };
            if began <= held_at && held_at < ended && inside(v) {
                because.push(v);
            }
        };
        let mut parent = group;
        for sub in via {
            if let Some(t) = self.groups.get(&parent) {
                t.subgroups.of(*sub).for_each(|s| note((s.from, s.to)));
            }
            parent = *sub;
        }
        if let Some(t) = self.users.get(&user) {
            // The user's side of the last edge: a user has far fewer
            // memberships than a group has members.
            t.groups.of(parent).for_each(|s| note((s.from, s.to)));
            because.extend(t.active.changes_in(from, to));
        }
        let deleted = self.groups.get(&group).and_then(|t| t.deleted);
        if let Some(d) = deleted.filter(|d| !gain && inside(*d)) {
            because.push(d);
        }
        because.sort_unstable();
        because.dedup();
        because
    }
}

fn as_map(members: Option<Vec<Member>>) -> BTreeMap<UserId, Vec<GroupId>> {
    members
        .unwrap_or_default()
        .into_iter()
        .map(|m| (m.user, m.via))
        .collect()
}
