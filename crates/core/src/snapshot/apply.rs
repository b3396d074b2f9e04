//! `apply`: the only way a snapshot moves, one commit (or one staged change)
//! at a time, keeping the indexes and render revisions in step.

use super::{email_key, fail, stored_email_key, user_name_key, ApplyError, Snapshot};
use crate::change::{Change, Commit};
use crate::ids::{GroupId, Millis, Version};
use crate::model::{Group, Principal, User};
use std::sync::Arc;

impl Snapshot {
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
            Change::TokenCreated { .. }
            | Change::TokenRevoked { .. }
            | Change::WebhookCreated { .. }
            | Change::WebhookUpdated { .. }
            | Change::WebhookSecretRotated { .. }
            | Change::WebhookRemoved { .. } => {
                crate::change::apply_realm_record_change(
                    Arc::make_mut(&mut self.realm),
                    change,
                    at,
                );
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
                if let Some(profile) = &patch.profile {
                    // SCIM lists a group's deactivated members but not the
                    // users it deleted: their groups render differently.
                    if profile.deleted != u.profile.deleted {
                        self.touch_groups_listing(*id, version);
                    }
                    if let Some(old) = &u.profile.user_name {
                        self.user_names.remove(&*user_name_key(old));
                    }
                    if let Some(new) = &profile.user_name {
                        self.user_names.insert(user_name_key(new), u.id);
                    }
                    u.profile = profile.clone();
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
                    if let Some(external_id) = &patch.external_id {
                        g.external_id = external_id.clone();
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
            Change::LogPruned { .. } => {}
        }
        Ok(())
    }

    pub(super) fn insert_user(&mut self, user: User) -> Result<(), ApplyError> {
        if self.users.contains_key(&user.id) {
            return fail(format!("duplicate user {}", user.id));
        }
        if let Some(email) = &user.email {
            self.emails.insert(stored_email_key(email), user.id);
        }
        if let Some(name) = &user.profile.user_name {
            self.user_names.insert(user_name_key(name), user.id);
        }
        if !user.active {
            self.inactive_users += 1;
        }
        self.keys.insert(user.key.clone(), Principal::User(user.id));
        self.users.insert(user.id, Arc::new(user));
        Ok(())
    }

    pub(super) fn insert_group(
        &mut self,
        group: Group,
        version: Version,
    ) -> Result<(), ApplyError> {
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
}
