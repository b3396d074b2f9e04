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
                    because: self.blame(group, *user, via, true, from, to),
                })
                .collect();
            let lost: Vec<ReviewEntry> = before
                .iter()
                .filter(|(u, _)| !after.contains_key(u))
                .map(|(user, via)| ReviewEntry {
                    user: *user,
                    via: via.clone(),
                    because: self.blame(group, *user, via, false, from, to),
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
        let mut because = BTreeSet::new();
        let mut note = |(began, ended): (Version, Version)| {
            let v = if gain { began } else { ended };
            if began <= held_at && held_at < ended && inside(v) {
                because.insert(v);
            }
        };
        let mut parent = group;
        for sub in via {
            if let Some(t) = self.groups.get(&parent) {
                t.subgroups.of(*sub).for_each(|s| note((s.from, s.to)));
            }
            parent = *sub;
        }
        if let Some(t) = self.groups.get(&parent) {
            t.members.of(user).for_each(|s| note((s.from, s.to)));
        }
        if let Some(t) = self.users.get(&user) {
            because.extend(t.active.changes_in(from, to));
        }
        let deleted = self.groups.get(&group).and_then(|t| t.deleted);
        if let Some(d) = deleted.filter(|d| !gain && inside(*d)) {
            because.insert(d);
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
