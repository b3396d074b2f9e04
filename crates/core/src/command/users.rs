//! Users: create, update, (de)activate, and the system groups that follow roles.

use super::groups::{chosen_key, default_key};
use super::{Context, CreateUser, Plan, Reply, UpdateUser};
use crate::change::{Change, UserPatch};
use crate::error::{Error, Result};
use crate::ids::{Actor, Millis, UserId};
use crate::model::{Realm, Role, SystemGroup, User};
use crate::permission::{self, acting_user, Gate};
use crate::snapshot::Snapshot;
use crate::validate;
use crate::values::Checked;
use std::sync::Arc;

/// The system groups a user with this role belongs to directly.
pub fn system_groups_for(
    realm: &Realm,
    role: Role,
    date_joined: Millis,
    now: Millis,
) -> Vec<SystemGroup> {
    let mut groups = vec![role.system_group()];
    if role == Role::Member {
        let wait = i64::from(realm.waiting_period_days) * 86_400_000;
        if now.saturating_sub(date_joined) >= wait {
            groups.push(SystemGroup::FullMembers);
        }
    }
    groups
}

pub(super) fn system_membership_changes(
    snap: &Snapshot,
    user: UserId,
    before: &[SystemGroup],
    after: &[SystemGroup],
) -> Result<Vec<Change>> {
    let mut changes = Vec::new();
    for which in before.iter().filter(|g| !after.contains(g)) {
        let group = snap
            .system_group_id(*which)
            .ok_or_else(|| Error::Internal(format!("missing {}", which.name())))?;
        changes.push(Change::MembersRemoved {
            group,
            users: vec![user],
        });
    }
    for which in after.iter().filter(|g| !before.contains(g)) {
        let group = snap
            .system_group_id(*which)
            .ok_or_else(|| Error::Internal(format!("missing {}", which.name())))?;
        changes.push(Change::MembersAdded {
            group,
            users: vec![user],
        });
    }
    Ok(changes)
}

pub(super) fn create_user(
    plan: &mut Plan,
    actor: Actor,
    cmd: &CreateUser,
    ctx: &mut Context,
) -> Result<Reply> {
    create_user_as(plan, actor, cmd, ctx, true)
}

/// `create_user`; `stands_in` says the email will stand in for a login name
/// (no provider names the user), so it must not be another user's.
pub(super) fn create_user_as(
    plan: &mut Plan,
    actor: Actor,
    cmd: &CreateUser,
    ctx: &mut Context,
    stands_in: bool,
) -> Result<Reply> {
    let snap = &plan.snap;
    // Also reached from `PutClients` and `create_realm`; the gate is run again
    // for them (it is cheap and keeps this function safe on its own).
    permission::check_gate(snap, actor, Gate::Administrator)?;
    if let Some(user) = acting_user(snap, actor)? {
        if !user.can_create_users {
            return Err(Error::CannotCreateUsers);
        }
        if cmd.role == Role::Owner && user.role != Role::Owner {
            return Err(Error::MustBeOwner);
        }
    }
    let full_name = validate::full_name(&cmd.full_name)?;
    let email = cmd.email.as_ref().map(Checked::value).transpose()?;
    if let Some(email) = email {
        // A user without a login name shows its email as one: it must not be
        // another user's.
        if snap.user_by_email(email.as_str()).is_some()
            || (stands_in && snap.user_with_login_name(email.as_str()).is_some())
        {
            return Err(Error::EmailTaken(email.to_string()));
        }
    }
    let key = cmd.key.as_ref().map(|k| chosen_key(snap, k)).transpose()?;
    // Without an email, the key stands in for the login name.
    if let (Some(key), None, true) = (&key, email, stands_in) {
        if snap.user_with_login_name(key).is_some() {
            return Err(Error::KeyTaken(key.to_string()));
        }
    }
    if let Some(url) = &cmd.avatar_url {
        validate::avatar_url(url)?;
    }
    if let Some(owner) = cmd.bot_owner {
        if snap.user(owner).is_none() {
            return Err(Error::UserNotFound(owner));
        }
    }
    let id = UserId(ctx.fresh_id()?);
    let user = User {
        id,
        key: key.unwrap_or_else(|| default_key(snap, id.0, "user")),
        email: email.map(|e| e.clone().into_arc()),
        full_name,
        avatar_url: cmd.avatar_url.clone(),
        role: cmd.role,
        is_bot: cmd.is_bot,
        bot_owner: cmd.bot_owner.filter(|_| cmd.is_bot),
        active: true,
        can_create_users: cmd.can_create_users && cmd.role.is_admin(),
        api_key: cmd.api_key,
        date_joined: ctx.now,
        updated_at: ctx.now,
        profile: Default::default(),
    };
    let groups = system_groups_for(snap.realm(), cmd.role, ctx.now, ctx.now);
    let memberships = system_membership_changes(snap, id, &[], &groups)?;
    plan.push(Change::UserCreated {
        user: Box::new(user),
    })?;
    for change in memberships {
        plan.push(change)?;
    }
    Ok(Reply::User(id))
}

/// Zulip's `access_user_by_id(..., for_admin=True)`.
pub(super) fn user_for_admin(snap: &Snapshot, actor: Actor, id: UserId) -> Result<Arc<User>> {
    let target = snap.user(id).ok_or(Error::UserNotFound(id))?.clone();
    let actor_user = acting_user(snap, actor)?;
    if !permission::can_admin_user(actor_user.map(|u| &**u), &target) {
        return Err(Error::InsufficientPermission);
    }
    Ok(target)
}

pub(super) fn active_owner_count(snap: &Snapshot) -> usize {
    snap.users()
        .filter(|u| u.active && u.role == Role::Owner && !u.is_bot)
        .count()
}

pub(super) fn acting_role(snap: &Snapshot, actor: Actor) -> Result<Option<Role>> {
    Ok(acting_user(snap, actor)?.map(|u| u.role))
}

pub(super) fn update_user(
    plan: &mut Plan,
    actor: Actor,
    id: UserId,
    cmd: &UpdateUser,
) -> Result<Reply> {
    let snap = &plan.snap;
    let target = user_for_admin(snap, actor, id)?;
    let mut patch = UserPatch::default();
    let mut memberships = Vec::new();
    if let Some(role) = cmd.role.filter(|r| *r != target.role) {
        // Roles are for administrators only, even on one's own bots.
        let actor_role = acting_role(snap, actor)?;
        let touches_owner = role == Role::Owner || target.role == Role::Owner;
        if touches_owner && actor_role.is_some_and(|r| r != Role::Owner) {
            return Err(Error::MustBeOwner);
        }
        if actor_role.is_some_and(|r| !r.is_admin()) {
            return Err(Error::MustBeAdmin);
        }
        if target.role == Role::Owner
            && !target.is_bot
            && target.active
            && active_owner_count(snap) <= 1
        {
            return Err(Error::LastOwner);
        }
        let before = system_groups_for(snap.realm(), target.role, target.date_joined, plan.at);
        let after = system_groups_for(snap.realm(), role, target.date_joined, plan.at);
        memberships = system_membership_changes(snap, id, &before, &after)?;
        patch.role = Some(role);
        if !role.is_admin() && target.can_create_users {
            patch.can_create_users = Some(false);
        }
    }
    if let Some(name) = &cmd.full_name {
        let name = validate::full_name(name)?;
        if name != target.full_name {
            patch.full_name = Some(name);
        }
    }
    if let Some(email) = &cmd.email {
        let email = email.value()?;
        if target.email.as_deref() != Some(email.as_str()) {
            let taken_by_other = |u: &Arc<User>| u.id != id;
            let stands_in = target.profile.user_name.is_none();
            if snap
                .user_by_email(email.as_str())
                .is_some_and(taken_by_other)
                || (stands_in
                    && snap
                        .user_with_login_name(email.as_str())
                        .is_some_and(taken_by_other))
            {
                return Err(Error::EmailTaken(email.to_string()));
            }
            patch.email = Some(email.to_string());
        }
    }
    if let Some(avatar) = cmd.avatar_url.as_ref().filter(|a| **a != target.avatar_url) {
        if let Some(url) = avatar {
            validate::avatar_url(url)?;
        }
        patch.avatar_url = Some(avatar.clone());
    }
    if let Some(flag) = cmd.can_create_users {
        let role = patch.role.unwrap_or(target.role);
        let flag = flag && role.is_admin();
        if flag != target.can_create_users {
            patch.can_create_users = Some(flag);
        }
    }
    patch.api_key = cmd.api_key;
    patch.profile = profile_following(&target, &patch);
    if !patch.is_empty() {
        plan.push(Change::UserUpdated { id, patch })?;
    }
    for change in memberships {
        plan.push(change)?;
    }
    Ok(Reply::Done)
}

/// A provisioned user's profile after another face renames it or changes its
/// email, so identity providers see what every face sees.
fn profile_following(target: &User, patch: &UserPatch) -> Option<crate::model::Profile> {
    let mut profile = target.profile.clone();
    if let Some(name) = &patch.full_name {
        // A provisioned user's full name is made from its display name (or
        // else its name parts): setting the display name keeps the new name
        // when a later SCIM edit recomputes it.
        if profile.display_name.is_some() || profile.user_name.is_some() {
            profile.display_name = Some(name.clone());
        }
    }
    if let Some(email) = &patch.email {
        let primary = profile
            .emails
            .iter()
            .position(|e| e.primary == Some(true))
            .or((!profile.emails.is_empty()).then_some(0));
        if let Some(i) = primary {
            profile.emails[i].value = email.clone();
        }
    }
    (profile != target.profile).then_some(profile)
}

pub(super) fn deactivate_user(plan: &mut Plan, actor: Actor, id: UserId) -> Result<Reply> {
    let snap = &plan.snap;
    let target = snap.user(id).ok_or(Error::UserNotFound(id))?.clone();
    if !target.active {
        return Err(Error::UserDeactivated(id));
    }
    user_for_admin(snap, actor, id)?;
    if target.role == Role::Owner {
        if acting_role(snap, actor)?.is_some_and(|r| r != Role::Owner) {
            return Err(Error::MustBeOwner);
        }
        if !target.is_bot && active_owner_count(snap) <= 1 {
            return Err(Error::DeactivateLastOwner);
        }
    }
    plan.push(Change::UserUpdated {
        id,
        patch: UserPatch {
            active: Some(false),
            ..UserPatch::default()
        },
    })?;
    Ok(Reply::Done)
}

pub(super) fn deactivate_self(plan: &mut Plan, actor: Actor) -> Result<Reply> {
    let Some(me) = acting_user(&plan.snap, actor)?.cloned() else {
        return Err(Error::Invalid {
            field: "actor",
            reason: "only a user can deactivate themselves".into(),
        });
    };
    if plan.snap.users().filter(|u| u.active).count() == 1 {
        return Err(Error::DeactivateLastUser { owner: false });
    }
    if me.role == Role::Owner && !me.is_bot && active_owner_count(&plan.snap) <= 1 {
        return Err(Error::DeactivateLastUser { owner: true });
    }
    plan.push(Change::UserUpdated {
        id: me.id,
        patch: UserPatch {
            active: Some(false),
            ..UserPatch::default()
        },
    })?;
    Ok(Reply::Done)
}

pub(super) fn reactivate_user(plan: &mut Plan, actor: Actor, id: UserId) -> Result<Reply> {
    let target = user_for_admin(&plan.snap, actor, id)?;
    if target.active {
        return Err(Error::UserAlreadyActive(id));
    }
    if let Some(email) = &target.email {
        if plan.snap.user_by_email(email).is_some_and(|u| u.id != id) {
            return Err(Error::EmailTaken(email.to_string()));
        }
    }
    // A user an identity provider deleted comes back to it too.
    let profile = target.profile.deleted.then(|| crate::model::Profile {
        deleted: false,
        ..target.profile.clone()
    });
    plan.push(Change::UserUpdated {
        id,
        patch: UserPatch {
            active: Some(true),
            profile,
            ..UserPatch::default()
        },
    })?;
    Ok(Reply::Done)
}

pub(super) fn sync_full_members(plan: &mut Plan) -> Result<()> {
    let snap = &plan.snap;
    let Some(full) = snap.system_group(SystemGroup::FullMembers).cloned() else {
        return Err(Error::Internal("realm has no role:fullmembers".into()));
    };
    let mut add = Vec::new();
    let mut remove = Vec::new();
    for user in snap.users() {
        let should = system_groups_for(snap.realm(), user.role, user.date_joined, plan.at)
            .contains(&SystemGroup::FullMembers);
        match (should, full.has_member(user.id)) {
            (true, false) => add.push(user.id),
            (false, true) => remove.push(user.id),
            _ => {}
        }
    }
    if !add.is_empty() {
        plan.push(Change::MembersAdded {
            group: full.id,
            users: add,
        })?;
    }
    if !remove.is_empty() {
        plan.push(Change::MembersRemoved {
            group: full.id,
            users: remove,
        })?;
    }
    Ok(())
}
