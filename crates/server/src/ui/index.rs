//! What the pages sort, search and page through, built once per realm
//! version and shared by every request at that version: the groups in name
//! order with their counts, the people in name order, and (memoised per
//! group) a group's effective members with their `via` chains. A write
//! moves the version and the next request builds afresh; requests at an
//! older snapshot build their own and do not replace a newer one.

use cohort_core::{GroupId, RealmId, Snapshot, User, UserId, Version};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

/// Effective member lists memoised per version (the largest are the ones
/// worth keeping; past this many, the memo starts over).
const MEMO_GROUPS: usize = 64;

pub struct GroupRow {
    pub id: GroupId,
    /// Lower-cased name as shown: the sort key.
    pub key: String,
    /// Lower-cased name (as shown and as stored) and description: what a
    /// search looks in.
    pub haystack: String,
    pub direct: usize,
    pub subgroups: usize,
    pub system: bool,
    pub deactivated: bool,
}

pub struct PersonRow {
    pub id: UserId,
    pub key: String,
    pub haystack: String,
    pub active: bool,
    /// The record the row was made from: a newer version whose users are
    /// all the same records reuses the rows.
    user: Arc<User>,
}

/// An effective member of a group, and why. `row` is its place in
/// `RealmIndex::people`, whose sort keys and search text it shares.
pub struct Reach {
    pub user: UserId,
    pub via: Arc<[GroupId]>,
    pub row: usize,
}

pub struct RealmIndex {
    snap: Arc<Snapshot>,
    groups: OnceLock<Vec<GroupRow>>,
    people: OnceLock<Arc<Vec<PersonRow>>>,
    /// The previous version's people, if it had built them, to reuse
    /// (taken when this version's are built, so it is not kept twice).
    earlier_people: Mutex<Option<Arc<Vec<PersonRow>>>>,
    /// Effective member counts, parallel to `groups` (for sorting by them).
    effective_counts: OnceLock<Vec<usize>>,
    effective: Mutex<HashMap<GroupId, Arc<Vec<Reach>>>>,
    /// Effective member counts asked for one by one (a page's rows).
    counts: Mutex<HashMap<GroupId, usize>>,
}

fn lower(text: &str) -> String {
    text.to_lowercase()
}

impl RealmIndex {
    fn new(snap: Arc<Snapshot>, earlier: Option<&RealmIndex>) -> RealmIndex {
        RealmIndex {
            snap,
            groups: OnceLock::new(),
            people: OnceLock::new(),
            earlier_people: Mutex::new(earlier.and_then(|e| e.people.get().cloned())),
            effective_counts: OnceLock::new(),
            effective: Mutex::new(HashMap::new()),
            counts: Mutex::new(HashMap::new()),
        }
    }

    pub fn version(&self) -> Version {
        self.snap.version()
    }

    /// Every group, by (lower-cased name, id).
    pub fn groups(&self) -> &[GroupRow] {
        self.groups.get_or_init(|| {
            let mut rows: Vec<GroupRow> = self
                .snap
                .groups()
                .map(|g| GroupRow {
                    id: g.id,
                    // Sorted as shown: system groups by what they mean.
                    key: lower(&super::layout::group_name(&self.snap, g.id)),
                    haystack: lower(&format!(
                        "{}\n{}\n{}",
                        super::layout::group_name(&self.snap, g.id),
                        g.name,
                        g.description
                    )),
                    direct: self.snap.direct_member_count(g.id),
                    subgroups: g.subgroups.len(),
                    system: g.is_system(),
                    deactivated: g.deactivated,
                })
                .collect();
            rows.sort_by(|a, b| a.key.cmp(&b.key).then(a.id.cmp(&b.id)));
            rows
        })
    }

    /// Each group's effective member count, parallel to `groups()`.
    pub fn effective_counts(&self) -> &[usize] {
        self.effective_counts.get_or_init(|| {
            self.groups()
                .iter()
                .map(|row| self.effective_count(row.id))
                .collect()
        })
    }

    /// How many active users are in `group`, directly or through subgroups.
    pub fn effective_count(&self, group: GroupId) -> usize {
        if let Some(list) = self.memoised(group) {
            return list.len();
        }
        let known = self
            .counts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&group)
            .copied();
        if let Some(n) = known {
            return n;
        }
        let n = self.snap.recursive_members(group).len();
        self.counts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(group, n);
        n
    }

    fn memoised(&self, group: GroupId) -> Option<Arc<Vec<Reach>>> {
        self.effective
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&group)
            .cloned()
    }

    /// `group`'s effective members by (lower-cased name, id), with why:
    /// the people in their sorted order, kept if they are members, so no
    /// sort and no string is made per group.
    pub fn effective_members(&self, group: GroupId) -> Arc<Vec<Reach>> {
        if let Some(list) = self.memoised(group) {
            return list;
        }
        let members = self.snap.members_with_via(group);
        let list: Vec<Reach> = self
            .people()
            .iter()
            .enumerate()
            .filter_map(|(row, person)| {
                let at = members.binary_search_by_key(&person.id, |(u, _)| *u).ok()?;
                Some(Reach {
                    user: person.id,
                    via: members[at].1.clone(),
                    row,
                })
            })
            .collect();
        let list = Arc::new(list);
        let mut memo = self.effective.lock().unwrap_or_else(|e| e.into_inner());
        if memo.len() >= MEMO_GROUPS {
            memo.clear();
        }
        memo.insert(group, list.clone());
        list
    }

    /// Every person, by (lower-cased name, id).
    pub fn people(&self) -> &[PersonRow] {
        self.people.get_or_init(|| {
            let earlier = self
                .earlier_people
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .take();
            if let Some(earlier) = earlier {
                let same = earlier.len() == self.snap.user_count()
                    && earlier.iter().all(|row| {
                        self.snap
                            .user(row.id)
                            .is_some_and(|u| Arc::ptr_eq(u, &row.user))
                    });
                if same {
                    return earlier;
                }
            }
            let mut rows: Vec<PersonRow> = self
                .snap
                .users()
                .map(|u| PersonRow {
                    id: u.id,
                    key: lower(&u.full_name),
                    haystack: lower(&format!(
                        "{}\n{}",
                        u.full_name,
                        u.email.as_deref().unwrap_or("")
                    )),
                    active: u.active,
                    user: u.clone(),
                })
                .collect();
            rows.sort_by(|a, b| a.key.cmp(&b.key).then(a.id.cmp(&b.id)));
            Arc::new(rows)
        })
    }
}

/// Each realm's index at its newest version seen.
#[derive(Default)]
pub struct Indexes {
    realms: Mutex<HashMap<RealmId, Arc<RealmIndex>>>,
}

impl Indexes {
    /// The index for `snap`'s version.
    pub fn get(&self, snap: &Arc<Snapshot>) -> Arc<RealmIndex> {
        let mut realms = self.realms.lock().unwrap_or_else(|e| e.into_inner());
        let current = realms.get(&snap.realm_id()).cloned();
        match current {
            Some(index) if index.version() == snap.version() => index,
            // A request at an older snapshot must not replace a newer index.
            Some(index) if index.version() > snap.version() => {
                Arc::new(RealmIndex::new(snap.clone(), None))
            }
            earlier => {
                let index = Arc::new(RealmIndex::new(snap.clone(), earlier.as_deref()));
                realms.insert(snap.realm_id(), index.clone());
                drop(realms);
                // The old index is freed (when no reader holds it any more)
                // outside the lock.
                drop(earlier);
                index
            }
        }
    }
}

/// Keyset paging over rows sorted by `(value, id)`: the cursor is the last
/// row shown, as `{id}~{value}`, so a page is found by search, not counted
/// from the start, and stays right when rows before it come and go.
pub mod cursor {
    pub fn make(id: i64, value: &str) -> String {
        format!("{id}~{value}")
    }

    pub fn parse(text: &str) -> Option<(i64, &str)> {
        let (id, value) = text.split_once('~')?;
        Some((id.parse().ok()?, value))
    }
}
