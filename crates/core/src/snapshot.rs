//! `Snapshot`: one realm's whole directory at one version, immutable once
//! published. Readers hold an `Arc<Snapshot>` and never block writers; a writer
//! clones the snapshot (cheap: the maps are persistent and share structure),
//! applies a commit, and publishes the result.
//!
//! `apply` is the only way a snapshot moves: after a local commit, when catching
//! up with another node's commits, and when replaying a log from scratch.

use crate::change::{Change, Commit};
use crate::ids::{GroupId, Millis, RealmId, UserId, Version};
use crate::model::{Group, Principal, Realm, SettingValue, SystemGroup, User};
use imbl::{HashMap, OrdMap};
use std::collections::{BTreeSet, HashSet};
use std::sync::Arc;

#[derive(Clone, Debug)]
pub struct Snapshot {
    realm: Arc<Realm>,
    version: Version,
    users: OrdMap<UserId, Arc<User>>,
    groups: OrdMap<GroupId, Arc<Group>>,
    /// Lower-cased email → user.
    emails: HashMap<Arc<str>, UserId>,
    /// IMKIT `_id` → user or group (one namespace).
    keys: HashMap<Arc<str>, Principal>,
    /// Exact group name → group (Zulip names are case-sensitive).
    names: HashMap<Arc<str>, GroupId>,
    /// Version at which each group's rendering last changed (its record, its
    /// edges, or the activity of a user it lists), so faces can cache per group.
    revs: OrdMap<GroupId, Version>,
    /// Deactivated users; when there are none, member lists need no filtering.
    inactive_users: usize,
    /// Recent (version, group) render changes, oldest first, so caches can
    /// re-render only what moved; it remembers back to `touched_floor`.
    touched: imbl::Vector<(Version, GroupId)>,
    touched_floor: Version,
}

/// How many recent group changes a snapshot remembers for caches.
const TOUCHED_WINDOW: usize = 16_384;

/// Why a commit could not be applied: the log and this snapshot disagree.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("cannot apply commit: {0}")]
pub struct ApplyError(pub String);

fn fail<T>(what: impl Into<String>) -> Result<T, ApplyError> {
    Err(ApplyError(what.into()))
}

pub fn email_key(email: &str) -> Arc<str> {
    Arc::from(email.trim().to_lowercase())
}

/// The index key for a stored email: the email itself when it is already in
/// index form (the usual case), so no second copy is kept.
fn stored_email_key(email: &Arc<str>) -> Arc<str> {
    let key = email_key(email);
    if key == *email {
        email.clone()
    } else {
        key
    }
}

impl Snapshot {
    /// A realm with no users and no groups, at version 0 (before `RealmCreated`).
    pub fn empty(realm: Realm) -> Snapshot {
        Snapshot {
            realm: Arc::new(realm),
            version: 0,
            users: OrdMap::new(),
            groups: OrdMap::new(),
            emails: HashMap::new(),
            keys: HashMap::new(),
            names: HashMap::new(),
            revs: OrdMap::new(),
            inactive_users: 0,
            touched: imbl::Vector::new(),
            touched_floor: 0,
        }
    }

    /// Build a snapshot from stored rows (start-up), without replaying the log.
    pub fn from_parts(
        realm: Realm,
        version: Version,
        users: impl IntoIterator<Item = User>,
        groups: impl IntoIterator<Item = Group>,
    ) -> Result<Snapshot, ApplyError> {
        let mut snap = Snapshot::empty(realm);
        snap.version = version;
        for user in users {
            snap.insert_user(user)?;
        }
        for group in groups {
            snap.insert_group(group, version)?;
        }
        // What happened before the loaded version is not known.
        snap.touched = imbl::Vector::new();
        snap.touched_floor = version;
        Ok(snap)
    }

    pub fn realm(&self) -> &Realm {
        &self.realm
    }

    pub fn realm_id(&self) -> RealmId {
        self.realm.id
    }

    pub fn version(&self) -> Version {
        self.version
    }

    pub fn user(&self, id: UserId) -> Option<&Arc<User>> {
        self.users.get(&id)
    }

    pub fn group(&self, id: GroupId) -> Option<&Arc<Group>> {
        self.groups.get(&id)
    }

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

    fn set_rev(&mut self, id: GroupId, version: Version) {
        self.revs.insert(id, version);
        self.note_touched(id, version);
    }

    fn note_touched(&mut self, id: GroupId, version: Version) {
        self.touched.push_back((version, id));
        if self.touched.len() > TOUCHED_WINDOW {
            if let Some((at, _)) = self.touched.pop_front() {
                self.touched_floor = self.touched_floor.max(at);
            }
        }
    }

    pub fn user_by_email(&self, email: &str) -> Option<&Arc<User>> {
        self.emails
            .get(&*email_key(email))
            .and_then(|id| self.users.get(id))
    }

    pub fn principal(&self, key: &str) -> Option<Principal> {
        self.keys.get(key).copied()
    }

    pub fn group_by_name(&self, name: &str) -> Option<&Arc<Group>> {
        self.names.get(name).and_then(|id| self.groups.get(id))
    }

    /// Users in id order.
    pub fn users(&self) -> impl Iterator<Item = &Arc<User>> + '_ {
        self.users.values()
    }

    pub fn user_count(&self) -> usize {
        self.users.len()
    }

    /// Groups in id order.
    pub fn groups(&self) -> impl Iterator<Item = &Arc<Group>> + '_ {
        self.groups.values()
    }

    /// Groups in id order with their render revisions (one ordered walk, no
    /// lookups).
    pub fn groups_with_revs(&self) -> impl Iterator<Item = (&Arc<Group>, Version)> + '_ {
        self.groups.values().zip(self.revs.values().copied())
    }

    pub fn group_count(&self) -> usize {
        self.groups.len()
    }

    pub fn system_group(&self, which: SystemGroup) -> Option<&Arc<Group>> {
        self.group_by_name(which.name())
            .filter(|g| g.system == Some(which))
    }

    pub fn system_group_id(&self, which: SystemGroup) -> Option<GroupId> {
        self.system_group(which).map(|g| g.id)
    }

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

    /// Move this snapshot forward by one commit.
    pub fn apply(&mut self, commit: &Commit) -> Result<(), ApplyError> {
        if commit.realm != self.realm.id {
            return fail(format!(
                "commit for realm {} applied to realm {}",
                commit.realm, self.realm.id
            ));
        }
        if commit.version != self.version + 1 {
            return fail(format!(
                "commit version {} does not follow {}",
                commit.version, self.version
            ));
        }
        for change in &commit.changes {
            self.apply_change(change, commit.at, commit.version)?;
        }
        self.version = commit.version;
        Ok(())
    }

    /// Apply one change ahead of its commit (commands build their result this
    /// way); the version moves only when the commit is sealed.
    pub(crate) fn stage(&mut self, change: &Change, at: Millis) -> Result<(), ApplyError> {
        self.apply_change(change, at, self.version + 1)
    }

    pub(crate) fn set_version(&mut self, version: Version) {
        self.version = version;
    }

    fn apply_change(
        &mut self,
        change: &Change,
        at: Millis,
        version: Version,
    ) -> Result<(), ApplyError> {
        match change {
            Change::RealmCreated { realm } => {
                if realm.id != self.realm.id {
                    return fail("realm id mismatch");
                }
                self.realm = Arc::new((**realm).clone());
            }
            Change::RealmUpdated { patch } => patch.apply_to(Arc::make_mut(&mut self.realm)),
            Change::RealmSettingChanged { setting, value } => {
                Arc::make_mut(&mut self.realm).settings[setting.index()] = value.clone();
            }
            Change::UserCreated { user } => {
                let mut user = (**user).clone();
                user.updated_at = at;
                self.insert_user(user)?;
            }
            Change::UserUpdated { id, patch } => {
                let Some(mut user) = self.users.get(id).cloned() else {
                    return fail(format!("unknown user {id}"));
                };
                let u = Arc::make_mut(&mut user);
                if let Some(email) = &patch.email {
                    if let Some(old) = &u.email {
                        self.emails.remove(&*email_key(old));
                    }
                    u.email = Some(Arc::from(email.as_str()));
                    self.emails.insert(email_key(email), u.id);
                }
                if let Some(name) = &patch.full_name {
                    u.full_name = name.clone();
                }
                if let Some(avatar) = &patch.avatar_url {
                    u.avatar_url = avatar.clone();
                }
                if let Some(role) = patch.role {
                    u.role = role;
                }
                if let Some(key) = patch.api_key {
                    u.api_key = key;
                }
                if let Some(flag) = patch.can_create_users {
                    u.can_create_users = flag;
                }
                if let Some(active) = patch.active {
                    if u.active != active {
                        u.active = active;
                        if active {
                            self.inactive_users -= 1;
                        } else {
                            self.inactive_users += 1;
                        }
                        self.touch_groups_listing(*id, version);
                    }
                }
                u.updated_at = at;
                self.users.insert(*id, user);
            }
            Change::GroupCreated { group } => {
                let mut group = (**group).clone();
                group.updated_at = at;
                self.insert_group(group, version)?;
            }
            Change::GroupUpdated { id, patch } => {
                if let Some(name) = &patch.name {
                    let Some(old) = self.groups.get(id).map(|g| g.name.clone()) else {
                        return fail(format!("unknown group {id}"));
                    };
                    self.names.remove(&*old);
                    self.names.insert(Arc::from(name.as_str()), *id);
                }
                self.edit_group(*id, at, version, |g| {
                    if let Some(name) = &patch.name {
                        g.name = Arc::from(name.as_str());
                    }
                    if let Some(description) = &patch.description {
                        g.description = description.clone();
                    }
                    if let Some(avatar) = &patch.avatar_url {
                        g.avatar_url = avatar.clone();
                    }
                    if let Some(deactivated) = patch.deactivated {
                        g.deactivated = deactivated;
                    }
                })?;
            }
            Change::GroupSettingChanged { id, setting, value } => {
                self.edit_group(*id, at, version, |g| {
                    g.settings[setting.index()] = value.clone();
                })?;
            }
            Change::GroupDeleted { id } => {
                let Some(group) = self.groups.remove(id) else {
                    return fail(format!("unknown group {id}"));
                };
                self.names.remove(&*group.name);
                self.keys.remove(&*group.key);
                self.revs.remove(id);
                self.note_touched(*id, version);
                // Edges into the deleted group go with it.
                let parents: Vec<GroupId> = self
                    .groups
                    .values()
                    .filter(|g| g.has_subgroup(*id))
                    .map(|g| g.id)
                    .collect();
                for parent in parents {
                    self.edit_group(parent, at, version, |g| g.subgroups.retain(|s| s != id))?;
                }
            }
            Change::MembersAdded { group, users } => {
                for user in users {
                    if !self.users.contains_key(user) {
                        return fail(format!("unknown user {user}"));
                    }
                }
                self.edit_group(*group, at, version, |g| {
                    g.members.extend(users.iter().copied());
                    g.members.sort_unstable();
                    g.members.dedup();
                })?;
            }
            Change::MembersRemoved { group, users } => {
                self.edit_group(*group, at, version, |g| {
                    g.members.retain(|u| !users.contains(u));
                })?;
            }
            Change::SubgroupsAdded { group, subgroups } => {
                for sub in subgroups {
                    if !self.groups.contains_key(sub) {
                        return fail(format!("unknown group {sub}"));
                    }
                }
                self.edit_group(*group, at, version, |g| {
                    g.subgroups.extend(subgroups.iter().copied());
                    g.subgroups.sort_unstable();
                    g.subgroups.dedup();
                })?;
            }
            Change::SubgroupsRemoved { group, subgroups } => {
                self.edit_group(*group, at, version, |g| {
                    g.subgroups.retain(|s| !subgroups.contains(s));
                })?;
            }
        }
        Ok(())
    }

    fn insert_user(&mut self, user: User) -> Result<(), ApplyError> {
        if self.users.contains_key(&user.id) {
            return fail(format!("duplicate user {}", user.id));
        }
        if let Some(email) = &user.email {
            self.emails.insert(stored_email_key(email), user.id);
        }
        if !user.active {
            self.inactive_users += 1;
        }
        self.keys.insert(user.key.clone(), Principal::User(user.id));
        self.users.insert(user.id, Arc::new(user));
        Ok(())
    }

    fn insert_group(&mut self, group: Group, version: Version) -> Result<(), ApplyError> {
        if self.groups.contains_key(&group.id) {
            return fail(format!("duplicate group {}", group.id));
        }
        self.names.insert(group.name.clone(), group.id);
        self.keys
            .insert(group.key.clone(), Principal::Group(group.id));
        self.set_rev(group.id, version);
        self.groups.insert(group.id, Arc::new(group));
        Ok(())
    }

    fn edit_group(
        &mut self,
        id: GroupId,
        at: Millis,
        version: Version,
        edit: impl FnOnce(&mut Group),
    ) -> Result<(), ApplyError> {
        let Some(mut group) = self.groups.get(&id).cloned() else {
            return fail(format!("unknown group {id}"));
        };
        let g = Arc::make_mut(&mut group);
        edit(g);
        g.updated_at = at;
        self.groups.insert(id, group);
        self.set_rev(id, version);
        Ok(())
    }

    /// A user's activity changed: every group that lists them (as a member or in
    /// an anonymous setting) renders differently now.
    fn touch_groups_listing(&mut self, user: UserId, version: Version) {
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

/// Two snapshots hold the same directory (ignoring render revisions).
impl PartialEq for Snapshot {
    fn eq(&self, other: &Snapshot) -> bool {
        self.realm == other.realm
            && self.version == other.version
            && self.users == other.users
            && self.groups == other.groups
    }
}
