//! `Snapshot`: one realm's whole directory at one version, immutable once
//! published. Readers hold an `Arc<Snapshot>` and never block writers; a writer
//! clones the snapshot (cheap: the maps are persistent and share structure),
//! applies a commit, and publishes the result.
//!
//! `apply` is the only way a snapshot moves: after a local commit, when catching
//! up with another node's commits, and when replaying a log from scratch.
//!
//! Layout: this file holds the record, its indexes and lookups; `queries`
//! the derived facts (transitive membership); `apply` the moves; `revisions`
//! the per-group render revisions that caches key on.

mod apply;
mod queries;
mod revisions;

use crate::ids::{GroupId, RealmId, UserId, Version};
use crate::model::{Group, Principal, Realm, SystemGroup, User};
use imbl::{HashMap, OrdMap};

use std::sync::Arc;

#[derive(Clone, Debug)]
pub struct Snapshot {
    realm: Arc<Realm>,
    version: Version,
    users: OrdMap<UserId, Arc<User>>,
    groups: OrdMap<GroupId, Arc<Group>>,
    /// Lower-cased email → user.
    emails: HashMap<Arc<str>, UserId>,
    /// Folded SCIM `userName` → user (only users that have one).
    user_names: HashMap<Arc<str>, UserId>,
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
    Arc::from(crate::values::Email::fold(email))
}

/// User names follow the email case rule.
pub(crate) fn user_name_key(name: &str) -> Arc<str> {
    email_key(name)
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
            user_names: HashMap::new(),
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

    pub fn user_by_email(&self, email: &str) -> Option<&Arc<User>> {
        self.emails
            .get(&*email_key(email))
            .and_then(|id| self.users.get(id))
    }

    /// The user whose SCIM `userName` is `name` under the email case rule: a
    /// user's own login name, or else (for users no provider named) its email,
    /// or else its key (exactly) — what SCIM shows as their `userName`.
    pub fn user_by_user_name(&self, name: &str) -> Option<&Arc<User>> {
        if let Some(user) = self
            .user_names
            .get(&*user_name_key(name))
            .and_then(|id| self.users.get(id))
        {
            return Some(user);
        }
        if let Some(user) = self
            .user_by_email(name)
            .filter(|u| u.profile.user_name.is_none())
        {
            return Some(user);
        }
        match self.principal(name) {
            Some(Principal::User(id)) => self
                .users
                .get(&id)
                .filter(|u| u.profile.user_name.is_none() && u.email.is_none()),
            _ => None,
        }
    }

    /// The user whose own login name (one a provider set) is `name`.
    pub fn user_with_login_name(&self, name: &str) -> Option<&Arc<User>> {
        self.user_names
            .get(&*user_name_key(name))
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
