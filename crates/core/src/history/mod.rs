//! `History`: one realm's change log turned into an index of time, so that
//! "as of" questions (who was in this group on 1 March, and through which
//! subgroup; what was this group called then; who gained access between two
//! reviews) are answered from each entity's own history instead of by
//! replaying the log.
//!
//! It is built by applying commits in version order, like a `Snapshot`, but
//! forgets nothing: attributes are `Trail`s of values, memberships are
//! `Spans` of versions. Besides, for the audit trail, it remembers per commit
//! its time, actor, face and the kinds of event it holds, and per user and
//! group the versions whose events name them; the events themselves are
//! derived again from the stored commits when asked for (see `audit`), so
//! the index stays small: a few tens of bytes per change.
//!
//! Layout: this file holds the record and `apply`; `trail` the two shapes;
//! `asof` membership as of a version (with `via` paths); `review` the access
//! review between two versions.

mod asof;
mod review;
mod trail;

pub use asof::{Member, MemberOf};
pub use review::{GroupReview, ReviewEntry, ReviewPage};
pub use trail::{Span, Spans, Trail, OPEN};

use crate::audit;
use crate::change::{Change, Commit};
use crate::ids::{Actor, Face, GroupId, Millis, RealmId, UserId, Version};
use crate::model::{GroupSetting, Realm, Role, SettingValue, SystemGroup};
use crate::snapshot::{ApplyError, Snapshot};
// Integer keys handed out by the store, never chosen by a caller: a fast
// hash rather than SipHash's resistance to crafted keys.
use rustc_hash::FxHashMap as HashMap;
use std::sync::Arc;

/// What the audit index keeps of one commit.
#[derive(Clone, Copy, Debug)]
pub struct CommitMeta {
    pub version: Version,
    /// The commit's time, or a later commit's if clocks went backwards: the
    /// running maximum, so times are ordered like versions and a moment
    /// maps to one version by binary search.
    pub at: Millis,
    pub actor: Actor,
    pub face: Face,
    /// The `EventKind`s of the commit's events, as bits.
    pub kinds: u32,
}

/// A user's attributes over time.
#[derive(Clone, Debug)]
pub struct UserTrail {
    pub created: Version,
    pub is_bot: bool,
    pub email: Trail<Option<Arc<str>>>,
    pub full_name: Trail<Arc<str>>,
    pub role: Trail<Role>,
    pub active: Trail<bool>,
    /// Direct memberships.
    pub groups: Spans<GroupId>,
}

/// A group's attributes and edges over time.
#[derive(Clone, Debug)]
pub struct GroupTrail {
    pub created: Version,
    /// IMKIT's delete; a deleted group has no members from then on.
    pub deleted: Option<Version>,
    pub system: Option<SystemGroup>,
    pub name: Trail<Arc<str>>,
    pub description: Trail<Arc<str>>,
    pub deactivated: Trail<bool>,
    pub settings: [Trail<SettingValue>; 6],
    pub members: Spans<UserId>,
    pub subgroups: Spans<GroupId>,
    pub supergroups: Spans<GroupId>,
}

impl GroupTrail {
    pub fn exists_at(&self, version: Version) -> bool {
        self.created <= version && self.deleted.is_none_or(|d| version < d)
    }
}

/// A user as of a version, for display.
#[derive(Clone, Debug, PartialEq)]
pub struct UserAt {
    pub id: UserId,
    pub email: Option<Arc<str>>,
    pub full_name: Arc<str>,
    pub role: Role,
    pub active: bool,
    pub is_bot: bool,
}

/// A group as of a version, for display.
#[derive(Clone, Debug, PartialEq)]
pub struct GroupAt {
    pub id: GroupId,
    pub name: Arc<str>,
    pub description: Arc<str>,
    pub deactivated: bool,
    pub system: Option<SystemGroup>,
}

#[derive(Clone, Debug)]
pub struct History {
    realm: RealmId,
    version: Version,
    /// The checkpoint the history starts from (0: the realm's creation) and
    /// its moment: nothing before it is known.
    base: Version,
    base_at: Millis,
    /// Index `i` describes version `base + i + 1`.
    commits: Vec<CommitMeta>,
    realm_record: Trail<Arc<Realm>>,
    users: HashMap<UserId, UserTrail>,
    groups: HashMap<GroupId, GroupTrail>,
    /// Versions whose events name a user / a group, ascending.
    by_user: HashMap<UserId, Vec<Version>>,
    by_group: HashMap<GroupId, Vec<Version>>,
}

fn fail<T>(what: impl Into<String>) -> Result<T, ApplyError> {
    Err(ApplyError(what.into()))
}

impl History {
    /// The history of a realm from its first commit (`RealmCreated`).
    pub fn start(commit: &Commit) -> Result<History, ApplyError> {
        let Some(Change::RealmCreated { realm }) = commit.changes.first() else {
            return fail("a realm's history starts with its creation");
        };
        if commit.version != 1 || realm.id != commit.realm {
            return fail("a realm's first commit is version 1 of that realm");
        }
        let mut history = History {
            realm: commit.realm,
            version: 0,
            base: 0,
            base_at: Millis::MIN,
            commits: Vec::new(),
            realm_record: Trail::new(1, Arc::new((**realm).clone())),
            users: HashMap::default(),
            groups: HashMap::default(),
            by_user: HashMap::default(),
            by_group: HashMap::default(),
        };
        history.apply(commit)?;
        Ok(history)
    }

    /// The history of a realm from a checkpoint: the directory as it was at
    /// version `snap.version()`, made at moment `at`, after the log before it
    /// was pruned. Questions about earlier moments have no answer.
    pub fn from_checkpoint(snap: &Snapshot, at: Millis) -> History {
        let v = snap.version();
        let mut history = History {
            realm: snap.realm_id(),
            version: v,
            base: v,
            base_at: at,
            commits: Vec::new(),
            realm_record: Trail::new(v, Arc::new(snap.realm().clone())),
            users: HashMap::default(),
            groups: HashMap::default(),
            by_user: HashMap::default(),
            by_group: HashMap::default(),
        };
        for user in snap.users() {
            history.users.insert(
                user.id,
                UserTrail {
                    created: v,
                    is_bot: user.is_bot,
                    email: Trail::new(v, user.email.clone()),
                    full_name: Trail::new(v, Arc::from(user.full_name.as_str())),
                    role: Trail::new(v, user.role),
                    active: Trail::new(v, user.active),
                    groups: Spans::default(),
                },
            );
        }
        for group in snap.groups() {
            history.groups.insert(
                group.id,
                GroupTrail {
                    created: v,
                    deleted: None,
                    system: group.system,
                    name: Trail::new(v, group.name.clone()),
                    description: Trail::new(v, Arc::from(group.description.as_str())),
                    deactivated: Trail::new(v, group.deactivated),
                    settings: group.settings.clone().map(|s| Trail::new(v, s)),
                    members: Spans::default(),
                    subgroups: Spans::default(),
                    supergroups: Spans::default(),
                },
            );
        }
        for group in snap.groups() {
            // The snapshot is consistent, so every edge names a known record.
            let _ = history.add_members(group.id, &group.members, v);
            let _ = history.add_subgroups(group.id, &group.subgroups, v);
        }
        history
    }

    /// The first version and moment the history knows (a checkpoint's, or
    /// the realm's creation).
    pub fn retained_from(&self) -> (Version, Millis) {
        match self.base {
            0 => (1, self.commits.first().map_or(Millis::MIN, |c| c.at)),
            base => (base, self.base_at),
        }
    }

    /// Whether `commit` prunes history this one still holds (it should be
    /// rebuilt from the store's checkpoint).
    pub fn outdated_by(&self, commit: &Commit) -> bool {
        commit
            .changes
            .iter()
            .any(|c| matches!(c, Change::LogPruned { up_to } if *up_to > self.base))
    }

    /// The checkpoint's version and moment, when the log before it was pruned.
    pub fn pruned_at(&self) -> Option<(Version, Millis)> {
        (self.base > 0).then_some((self.base, self.base_at))
    }

    pub fn realm_id(&self) -> RealmId {
        self.realm
    }

    /// The last version applied.
    pub fn version(&self) -> Version {
        self.version
    }

    pub fn commit(&self, version: Version) -> Option<&CommitMeta> {
        version
            .checked_sub(self.base + 1)
            .and_then(|i| self.commits.get(i as usize))
    }

    /// The version current at moment `at`: the last commit made at or before
    /// it. `None` before the realm existed (or before the checkpoint the
    /// history starts from: see `retained_from`).
    pub fn version_at(&self, at: Millis) -> Option<Version> {
        let n = self.commits.partition_point(|c| c.at <= at) as Version;
        match n {
            0 if self.base > 0 && at >= self.base_at => Some(self.base),
            0 => None,
            n => Some(self.base + n),
        }
    }

    /// The first version made at or after moment `at` (`version + 1` when
    /// there is none).
    pub fn first_version_from(&self, at: Millis) -> Version {
        self.base + self.commits.partition_point(|c| c.at < at) as Version + 1
    }

    pub fn realm_at(&self, version: Version) -> Option<&Arc<Realm>> {
        self.realm_record.at(version)
    }

    pub fn user(&self, id: UserId) -> Option<&UserTrail> {
        self.users.get(&id)
    }

    pub fn group(&self, id: GroupId) -> Option<&GroupTrail> {
        self.groups.get(&id)
    }

    pub fn group_ids(&self) -> impl Iterator<Item = GroupId> + '_ {
        self.groups.keys().copied()
    }

    pub fn user_ids(&self) -> impl Iterator<Item = UserId> + '_ {
        self.users.keys().copied()
    }

    /// A user as of `version`; a version before the user existed gives the
    /// user as first recorded (names in old events stay readable).
    pub fn user_at(&self, id: UserId, version: Version) -> Option<UserAt> {
        let t = self.users.get(&id)?;
        let v = version.max(t.created);
        Some(UserAt {
            id,
            email: t.email.at(v).cloned().flatten(),
            full_name: t.full_name.at(v)?.clone(),
            role: *t.role.at(v)?,
            active: *t.active.at(v)?,
            is_bot: t.is_bot,
        })
    }

    /// A group as of `version` (as first recorded, for earlier versions).
    pub fn group_at(&self, id: GroupId, version: Version) -> Option<GroupAt> {
        let t = self.groups.get(&id)?;
        let v = version.max(t.created);
        Some(GroupAt {
            id,
            name: t.name.at(v)?.clone(),
            description: t.description.at(v)?.clone(),
            deactivated: *t.deactivated.at(v)?,
            system: t.system,
        })
    }

    /// Whether `user` exists and is active as of `version`.
    pub fn is_active(&self, user: UserId, version: Version) -> bool {
        self.users
            .get(&user)
            .is_some_and(|t| t.created <= version && t.active.at(version) == Some(&true))
    }

    /// Versions in `(after, up_to]` whose events name the user / group.
    pub fn versions_naming_user(&self, user: UserId) -> &[Version] {
        self.by_user.get(&user).map(Vec::as_slice).unwrap_or(&[])
    }

    pub fn versions_naming_group(&self, group: GroupId) -> &[Version] {
        self.by_group.get(&group).map(Vec::as_slice).unwrap_or(&[])
    }

    /// Move the history forward by one commit.
    pub fn apply(&mut self, commit: &Commit) -> Result<(), ApplyError> {
        if commit.realm != self.realm {
            return fail(format!(
                "commit for realm {} applied to the history of realm {}",
                commit.realm, self.realm
            ));
        }
        if commit.version != self.version + 1 {
            return fail(format!(
                "commit version {} does not follow {}",
                commit.version, self.version
            ));
        }
        let v = commit.version;
        for change in &commit.changes {
            self.apply_change(change, v, commit.at)?;
        }
        self.version = v;
        let at = self
            .commits
            .last()
            .map_or(commit.at, |c| c.at.max(commit.at));
        let mut kinds = 0u32;
        for event in audit::describe(self, commit) {
            kinds |= event.kind.bit();
            for user in &event.users {
                note(&mut self.by_user, *user, v);
            }
            for group in event.group.iter().chain(&event.subgroups) {
                note(&mut self.by_group, *group, v);
            }
        }
        self.commits.push(CommitMeta {
            version: v,
            at,
            actor: commit.actor,
            face: commit.origin.face,
            kinds,
        });
        Ok(())
    }

    fn user_mut(&mut self, id: UserId) -> Result<&mut UserTrail, ApplyError> {
        match self.users.get_mut(&id) {
            Some(t) => Ok(t),
            None => fail(format!("unknown user {id}")),
        }
    }

    fn group_mut(&mut self, id: GroupId) -> Result<&mut GroupTrail, ApplyError> {
        match self.groups.get_mut(&id) {
            Some(t) => Ok(t),
            None => fail(format!("unknown group {id}")),
        }
    }

    fn edit_realm(&mut self, v: Version, edit: impl FnOnce(&mut Realm)) {
        let mut realm = (**self.realm_record.current()).clone();
        edit(&mut realm);
        self.realm_record.set(v, Arc::new(realm));
    }

    fn apply_change(&mut self, change: &Change, v: Version, at: Millis) -> Result<(), ApplyError> {
        match change {
            Change::RealmCreated { realm } => {
                self.realm_record.set(v, Arc::new((**realm).clone()));
            }
            Change::RealmUpdated { patch } => self.edit_realm(v, |r| patch.apply_to(r)),
            Change::RealmSettingChanged { setting, value } => self.edit_realm(v, |r| {
                r.settings[setting.index()] = value.clone();
            }),
            Change::TokenCreated { .. }
            | Change::TokenRevoked { .. }
            | Change::WebhookCreated { .. }
            | Change::WebhookUpdated { .. }
            | Change::WebhookSecretRotated { .. }
            | Change::WebhookRemoved { .. } => self.edit_realm(v, |r| {
                crate::change::apply_realm_record_change(r, change, at);
            }),
            Change::UserCreated { user } => {
                if self.users.contains_key(&user.id) {
                    return fail(format!("duplicate user {}", user.id));
                }
                self.users.insert(
                    user.id,
                    UserTrail {
                        created: v,
                        is_bot: user.is_bot,
                        email: Trail::new(v, user.email.clone()),
                        full_name: Trail::new(v, Arc::from(user.full_name.as_str())),
                        role: Trail::new(v, user.role),
                        active: Trail::new(v, user.active),
                        groups: Spans::default(),
                    },
                );
            }
            Change::UserUpdated { id, patch } => {
                let t = self.user_mut(*id)?;
                if let Some(email) = &patch.email {
                    t.email.set(v, Some(Arc::from(email.as_str())));
                }
                if let Some(name) = &patch.full_name {
                    t.full_name.set(v, Arc::from(name.as_str()));
                }
                if let Some(role) = patch.role {
                    t.role.set(v, role);
                }
                if let Some(active) = patch.active {
                    t.active.set(v, active);
                }
            }
            Change::GroupCreated { group } => {
                if self.groups.contains_key(&group.id) {
                    return fail(format!("duplicate group {}", group.id));
                }
                let settings = group.settings.clone().map(|s| Trail::new(v, s));
                self.groups.insert(
                    group.id,
                    GroupTrail {
                        created: v,
                        deleted: None,
                        system: group.system,
                        name: Trail::new(v, group.name.clone()),
                        description: Trail::new(v, Arc::from(group.description.as_str())),
                        deactivated: Trail::new(v, group.deactivated),
                        settings,
                        members: Spans::default(),
                        subgroups: Spans::default(),
                        supergroups: Spans::default(),
                    },
                );
                self.add_members(group.id, &group.members, v)?;
                self.add_subgroups(group.id, &group.subgroups, v)?;
            }
            Change::GroupUpdated { id, patch } => {
                let t = self.group_mut(*id)?;
                if let Some(name) = &patch.name {
                    t.name.set(v, Arc::from(name.as_str()));
                }
                if let Some(description) = &patch.description {
                    t.description.set(v, Arc::from(description.as_str()));
                }
                if let Some(deactivated) = patch.deactivated {
                    t.deactivated.set(v, deactivated);
                }
            }
            Change::GroupSettingChanged { id, setting, value } => {
                self.group_mut(*id)?.settings[setting.index()].set(v, value.clone());
            }
            Change::GroupDeleted { id } => {
                let t = self.group_mut(*id)?;
                t.deleted = Some(v);
                let members: Vec<UserId> = t.members.current().collect();
                let subgroups: Vec<GroupId> = t.subgroups.current().collect();
                let parents: Vec<GroupId> = t.supergroups.current().collect();
                self.remove_members(*id, &members, v)?;
                self.remove_subgroups(*id, &subgroups, v)?;
                for parent in parents {
                    self.remove_subgroups(parent, &[*id], v)?;
                }
            }
            Change::MembersAdded { group, users } => self.add_members(*group, users, v)?,
            Change::MembersRemoved { group, users } => self.remove_members(*group, users, v)?,
            Change::SubgroupsAdded { group, subgroups } => {
                self.add_subgroups(*group, subgroups, v)?
            }
            Change::SubgroupsRemoved { group, subgroups } => {
                self.remove_subgroups(*group, subgroups, v)?
            }
            // What a prune deleted is the engine's to forget (it rebuilds
            // the history from the checkpoint); the directory is unchanged.
            Change::LogPruned { .. } => {}
        }
        Ok(())
    }

    fn add_members(
        &mut self,
        group: GroupId,
        users: &[UserId],
        v: Version,
    ) -> Result<(), ApplyError> {
        for user in users {
            if self.user_mut(*user)?.groups.open(group, v) {
                self.group_mut(group)?.members.open(*user, v);
            }
        }
        Ok(())
    }

    fn remove_members(
        &mut self,
        group: GroupId,
        users: &[UserId],
        v: Version,
    ) -> Result<(), ApplyError> {
        for user in users {
            if let Some(t) = self.users.get_mut(user) {
                if t.groups.close(group, v) {
                    self.group_mut(group)?.members.close(*user, v);
                }
            }
        }
        Ok(())
    }

    fn add_subgroups(
        &mut self,
        group: GroupId,
        subs: &[GroupId],
        v: Version,
    ) -> Result<(), ApplyError> {
        for sub in subs {
            if self.group_mut(*sub)?.supergroups.open(group, v) {
                self.group_mut(group)?.subgroups.open(*sub, v);
            }
        }
        Ok(())
    }

    fn remove_subgroups(
        &mut self,
        group: GroupId,
        subs: &[GroupId],
        v: Version,
    ) -> Result<(), ApplyError> {
        for sub in subs {
            if let Some(t) = self.groups.get_mut(sub) {
                if t.supergroups.close(group, v) {
                    self.group_mut(group)?.subgroups.close(*sub, v);
                }
            }
        }
        Ok(())
    }

    /// A group setting as of a version.
    pub fn group_setting_at(
        &self,
        id: GroupId,
        setting: GroupSetting,
        version: Version,
    ) -> Option<&SettingValue> {
        self.groups.get(&id)?.settings[setting.index()].at(version)
    }
}

fn note<K: std::hash::Hash + Eq>(index: &mut HashMap<K, Vec<Version>>, key: K, v: Version) {
    let list = index.entry(key).or_default();
    if list.last() != Some(&v) {
        list.push(v);
    }
}
