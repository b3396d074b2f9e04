//! Render revisions: the version at which each group's rendering last changed,
//! and a window of recent changes, so response caches re-render only what moved.

use super::{Snapshot, TOUCHED_WINDOW};
use crate::ids::{GroupId, UserId, Version};
use crate::model::SettingValue;
use std::collections::BTreeSet;

impl Snapshot {
    pub fn group_rev(&self, id: GroupId) -> Version {
        self.revs.get(&id).copied().unwrap_or(0)
    }

    /// The groups whose rendering changed (or which appeared or went) after
    /// `version`; `None` when this snapshot no longer remembers that far back.
    pub fn groups_touched_since(&self, version: Version) -> Option<BTreeSet<GroupId>> {
        if version < self.touched_floor {
            return None;
        }
        let mut touched = BTreeSet::new();
        for (at, id) in self.touched.iter().rev() {
            if *at <= version {
                break;
            }
            touched.insert(*id);
        }
        Some(touched)
    }

    pub(super) fn set_rev(&mut self, id: GroupId, version: Version) {
        self.revs.insert(id, version);
        self.note_touched(id, version);
    }

    pub(super) fn note_touched(&mut self, id: GroupId, version: Version) {
        self.touched.push_back((version, id));
        if self.touched.len() > TOUCHED_WINDOW {
            if let Some((at, _)) = self.touched.pop_front() {
                self.touched_floor = self.touched_floor.max(at);
            }
        }
    }

    /// A user's activity changed: every group that lists them (as a member or in
    /// an anonymous setting) renders differently now.
    pub(super) fn touch_groups_listing(&mut self, user: UserId, version: Version) {
        let touched: Vec<GroupId> = self
            .groups
            .values()
            .filter(|g| {
                g.has_member(user)
                    || g.settings.iter().any(|v| match v {
                        SettingValue::Anonymous { members, .. } => members.contains(&user),
                        SettingValue::Group(_) => false,
                    })
            })
            .map(|g| g.id)
            .collect();
        for id in touched {
            self.set_rev(id, version);
        }
    }
}
