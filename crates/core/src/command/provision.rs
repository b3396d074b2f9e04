//! What identity providers do (SCIM's dialect): provision users by login
//! name, edit the attributes a request touches, delete, and edit a group's
//! name and members in one step. The rules are the ones every face shares —
//! the same checks `create_user`, `deactivate_user`, `add_members` and the
//! rest make — plus the login-name rule and conditional writes (`expect`).

use super::groups::{check_listed_groups, unique, unique_groups};
use super::keyed::settings_naming;
use super::users::{create_user_as, deactivate_user, reactivate_user, user_for_admin};
use super::{Context, CreateUser, EditGroup, EditUser, MemberEdit, Plan, ProvisionUser, Reply};
use crate::change::{Change, GroupPatch, UserPatch};
use crate::error::{Error, Result};
use crate::ids::{Actor, GroupId, UserId};
use crate::model::{GroupSetting, Principal, Profile, ProfileEmail, Role, User};
use crate::permission;
use crate::snapshot::Snapshot;
use crate::validate::{self, MAX_PROFILE_EMAILS, MAX_PROFILE_TEXT};
use crate::values::{Checked, Email, UserName};
use std::sync::Arc;

/// A conditional write: `expect` is the version the caller last saw.
fn check_expected(current: String, expect: &Option<String>) -> Result<()> {
    match expect {
        Some(seen) if *seen != current => Err(Error::VersionMismatch(seen.clone())),
        _ => Ok(()),
    }
}

/// The login name must be nobody else's (under the email case rule, and
/// counting the email or key that stands in for users without one).
fn free_user_name(snap: &Snapshot, name: &UserName, me: Option<UserId>) -> Result<()> {
    match snap.user_by_user_name(name.as_str()) {
        Some(other) if Some(other.id) != me => Err(Error::UserNameTaken(name.to_string())),
        _ => Ok(()),
    }
}

fn profile_text(field: &'static str, text: &Option<String>) -> Result<()> {
    match text {
        Some(t) => validate::profile_text(field, t, MAX_PROFILE_TEXT),
        None => Ok(()),
    }
}

/// The profile's texts within their limits, and its primary email a valid
/// address that no other user has.
fn check_profile(snap: &Snapshot, profile: &Profile, me: Option<UserId>) -> Result<Option<Email>> {
    profile_text("externalId", &profile.external_id)?;
    profile_text("displayName", &profile.display_name)?;
    profile_text("name.givenName", &profile.given_name)?;
    profile_text("name.familyName", &profile.family_name)?;
    if profile.emails.len() > MAX_PROFILE_EMAILS {
        return Err(Error::TooManyItems {
            max: MAX_PROFILE_EMAILS,
        });
    }
    for email in &profile.emails {
        validate::profile_text("emails.value", &email.value, MAX_PROFILE_TEXT)?;
        profile_text("emails.type", &email.kind)?;
    }
    let Some(primary) = profile.primary_email() else {
        return Ok(None);
    };
    let email = Email::parse(&primary.value)?;
    if snap
        .user_by_email(email.as_str())
        .is_some_and(|u| Some(u.id) != me)
    {
        return Err(Error::EmailTaken(email.to_string()));
    }
    Ok(Some(email))
}

/// The full name a provisioned user gets: the display name, else the name
/// parts, else the login name (`login_name`, which stands in when the
/// profile has none), made to fit Zulip's name rules.
fn full_name_from(profile: &Profile, login_name: &str) -> String {
    let parts: Vec<&str> = [&profile.given_name, &profile.family_name]
        .into_iter()
        .flatten()
        .map(|s| s.trim())
        .filter(|s| !s.is_empty())
        .collect();
    let chosen = match &profile.display_name {
        Some(name) if !name.trim().is_empty() => name.clone(),
        _ if !parts.is_empty() => parts.join(" "),
        _ => profile
            .user_name
            .as_deref()
            .unwrap_or(login_name)
            .to_string(),
    };
    validate::name_from_key(&chosen)
}

pub(super) fn provision_user(
    plan: &mut Plan,
    actor: Actor,
    cmd: &ProvisionUser,
    ctx: &mut Context,
) -> Result<Reply> {
    let name = cmd.user_name.value()?.clone();
    free_user_name(&plan.snap, &name, None)?;
    let profile = Profile {
        user_name: Some(name.clone().into_arc()),
        display_name: cmd.display_name.clone(),
        emails: cmd.emails.clone(),
        external_id: cmd.external_id.clone(),
        given_name: cmd.given_name.clone(),
        family_name: cmd.family_name.clone(),
        deleted: false,
    };
    let email = check_profile(&plan.snap, &profile, None)?;
    let Reply::User(id) = create_user_as(
        plan,
        actor,
        &CreateUser {
            email: email.map(Checked::from),
            full_name: full_name_from(&profile, name.as_str()),
            role: Role::Member,
            is_bot: false,
            bot_owner: None,
            key: None,
            avatar_url: None,
            api_key: cmd.api_key,
            can_create_users: false,
        },
        ctx,
        false,
    )?
    else {
        return Err(Error::Internal("create_user answered no user".into()));
    };
    plan.push(Change::UserUpdated {
        id,
        patch: UserPatch {
            profile: Some(profile),
            ..UserPatch::default()
        },
    })?;
    if !cmd.active {
        deactivate_user(plan, actor, id)?;
    }
    Ok(Reply::User(id))
}

/// The user as identity providers may address it: not deleted through SCIM.
fn provisioned_user(plan: &Plan, actor: Actor, id: UserId) -> Result<Arc<User>> {
    let target = user_for_admin(&plan.snap, actor, id)?;
    if target.profile.deleted {
        return Err(Error::UserNotFound(id));
    }
    Ok(target)
}

/// The profile a user shows identity providers before one has set it: its
/// full name and email as the display name and only email, and the email (or
/// key) that stands in for its login name — unless another user has that as
/// its own login name (the stand-in is not checked when the email is set), in
/// which case it stays a stand-in rather than become a duplicate.
fn starting_profile(snap: &Snapshot, user: &User) -> Profile {
    if user.profile.user_name.is_some() {
        return user.profile.clone();
    }
    let stand_in = user.login_name();
    let free = snap
        .user_by_user_name(stand_in)
        .is_none_or(|found| found.id == user.id);
    let (given_name, family_name) = user.name_parts();
    Profile {
        given_name,
        family_name,
        user_name: free.then(|| Arc::from(stand_in)),
        display_name: Some(user.full_name.clone()),
        emails: user
            .email
            .iter()
            .map(|e| ProfileEmail {
                value: e.to_string(),
                kind: Some("work".into()),
                primary: Some(true),
            })
            .collect(),
        ..user.profile.clone()
    }
}

pub(super) fn edit_user(
    plan: &mut Plan,
    actor: Actor,
    id: UserId,
    cmd: &EditUser,
) -> Result<Reply> {
    let target = provisioned_user(plan, actor, id)?;
    check_expected(target.version_tag(), &cmd.expect)?;
    // An edit naming no attribute (a PATCH that changed nothing) writes
    // nothing, not even the profile a provider would start from.
    let untouched = EditUser {
        expect: cmd.expect.clone(),
        ..EditUser::default()
    };
    if *cmd == untouched {
        return Ok(Reply::Done);
    }
    let mut profile = starting_profile(&plan.snap, &target);
    if let Some(name) = &cmd.user_name {
        let name = name.value()?;
        free_user_name(&plan.snap, name, Some(id))?;
        profile.user_name = Some(name.clone().into_arc());
    }
    for (given, stored) in [
        (&cmd.display_name, &mut profile.display_name),
        (&cmd.external_id, &mut profile.external_id),
        (&cmd.given_name, &mut profile.given_name),
        (&cmd.family_name, &mut profile.family_name),
    ] {
        if let Some(value) = given {
            *stored = value.clone();
        }
    }
    if let Some(emails) = &cmd.emails {
        profile.emails = emails.clone();
    }
    let email = check_profile(&plan.snap, &profile, Some(id))?;
    let mut patch = UserPatch::default();
    let full_name = full_name_from(&profile, target.login_name());
    if full_name != target.full_name {
        patch.full_name = Some(full_name);
    }
    // Without emails the user keeps the email it signs in with.
    if let Some(email) = email.filter(|e| target.email.as_deref() != Some(e.as_str())) {
        patch.email = Some(email.to_string());
    }
    if profile != target.profile {
        patch.profile = Some(profile);
    }
    if !patch.is_empty() {
        plan.push(Change::UserUpdated { id, patch })?;
    }
    match cmd.active {
        Some(false) if target.active => {
            deactivate_user(plan, actor, id)?;
        }
        Some(true) if !target.active => {
            reactivate_user(plan, actor, id)?;
        }
        _ => {}
    }
    Ok(Reply::Done)
}

/// SCIM's DELETE of a user: deactivated for every face, and gone from SCIM.
pub(super) fn delete_user(
    plan: &mut Plan,
    actor: Actor,
    id: UserId,
    expect: &Option<String>,
) -> Result<Reply> {
    let target = provisioned_user(plan, actor, id)?;
    check_expected(target.version_tag(), expect)?;
    if target.active {
        deactivate_user(plan, actor, id)?;
    }
    plan.push(Change::UserUpdated {
        id,
        patch: UserPatch {
            profile: Some(Profile {
                deleted: true,
                ..target.profile.clone()
            }),
            ..UserPatch::default()
        },
    })?;
    Ok(Reply::Done)
}

/// Split listed principals into users and groups, each once, in id order.
fn split(listed: &[Principal]) -> (Vec<UserId>, Vec<GroupId>) {
    let mut users = Vec::new();
    let mut groups = Vec::new();
    for p in listed {
        match p {
            Principal::User(u) => users.push(*u),
            Principal::Group(g) => groups.push(*g),
        }
    }
    (unique(&users), unique_groups(&groups))
}

/// What a group's membership edits come to.
struct Delta {
    add: Vec<UserId>,
    remove: Vec<UserId>,
    add_groups: Vec<GroupId>,
    remove_groups: Vec<GroupId>,
}

/// A user identity providers can see (and so list as a member): any user of
/// the realm, active or not, that no provider deleted.
fn provider_visible(snap: &Snapshot, user: UserId) -> bool {
    snap.user(user).is_some_and(|u| !u.profile.deleted)
}

/// Unlike Zulip's endpoints, a provider may list deactivated users: their
/// membership is kept, hidden from Zulip's views, and back on reactivation.
pub(super) fn check_provider_users(snap: &Snapshot, listed: &[UserId]) -> Result<()> {
    match listed.iter().find(|u| !provider_visible(snap, **u)) {
        Some(user) => Err(Error::InvalidMember(*user)),
        None => Ok(()),
    }
}

/// Members and subgroups to add and remove so that, applied in order, the
/// edits hold; adding a present member or removing an absent one is no change.
fn member_delta(snap: &Snapshot, id: GroupId, edits: &[MemberEdit]) -> Result<Delta> {
    let group = snap.group(id).ok_or(Error::GroupNotFound(id))?;
    // Members as identity providers see them: deactivated users included (a
    // provider keeps a disabled user's groups), users it deleted not (their
    // memberships are kept as they are, for a reactivation).
    let mut users: std::collections::BTreeSet<UserId> = group
        .members
        .iter()
        .copied()
        .filter(|u| provider_visible(snap, *u))
        .collect();
    let mut groups: std::collections::BTreeSet<GroupId> = group.subgroups.iter().copied().collect();
    let (before_users, before_groups) = (users.clone(), groups.clone());
    for edit in edits {
        let (listed, wanted) = match edit {
            MemberEdit::Add(p) | MemberEdit::Remove(p) | MemberEdit::Replace(p) => (p, split(p)),
        };
        validate::id_list("members", listed)?;
        match edit {
            MemberEdit::Add(_) => {
                check_provider_users(snap, &wanted.0)?;
                check_listed_groups(snap, &wanted.1)?;
                users.extend(wanted.0);
                groups.extend(wanted.1);
            }
            MemberEdit::Remove(_) => {
                for u in &wanted.0 {
                    users.remove(u);
                }
                for g in &wanted.1 {
                    groups.remove(g);
                }
            }
            MemberEdit::Replace(_) => {
                check_provider_users(snap, &wanted.0)?;
                check_listed_groups(snap, &wanted.1)?;
                users = wanted.0.into_iter().collect();
                groups = wanted.1.into_iter().collect();
            }
        }
    }
    Ok(Delta {
        add: users.difference(&before_users).copied().collect(),
        remove: before_users.difference(&users).copied().collect(),
        add_groups: groups.difference(&before_groups).copied().collect(),
        remove_groups: before_groups.difference(&groups).copied().collect(),
    })
}

pub(super) fn edit_group(
    plan: &mut Plan,
    actor: Actor,
    id: GroupId,
    cmd: &EditGroup,
) -> Result<Reply> {
    let snap = &plan.snap;
    let group =
        permission::group_for_update(snap, actor, id, GroupSetting::CanManageGroup, false)?.clone();
    check_expected(group.version_tag(), &cmd.expect)?;
    let mut patch = GroupPatch::default();
    if let Some(name) = &cmd.name {
        let name = name.value()?;
        if name.as_str() != &*group.name {
            if snap.group_by_name(name.as_str()).is_some() {
                return Err(Error::NameTaken(name.to_string()));
            }
            patch.name = Some(name.to_string());
        }
    }
    if let Some(external_id) = &cmd.external_id {
        profile_text("externalId", external_id)?;
        if *external_id != group.external_id {
            patch.external_id = Some(external_id.clone());
        }
    }
    let Delta {
        add,
        remove,
        add_groups,
        remove_groups,
    } = member_delta(snap, id, &cmd.members)?;
    if add_groups.contains(&id) || snap.closure_of(add_groups.iter().copied()).contains(&id) {
        return Err(Error::SubgroupCycle(id));
    }
    if !patch.is_empty() {
        plan.push(Change::GroupUpdated { id, patch })?;
    }
    if !remove.is_empty() {
        plan.push(Change::MembersRemoved {
            group: id,
            users: remove,
        })?;
    }
    if !add.is_empty() {
        plan.push(Change::MembersAdded {
            group: id,
            users: add,
        })?;
    }
    if !remove_groups.is_empty() {
        plan.push(Change::SubgroupsRemoved {
            group: id,
            subgroups: remove_groups,
        })?;
    }
    if !add_groups.is_empty() {
        plan.push(Change::SubgroupsAdded {
            group: id,
            subgroups: add_groups,
        })?;
    }
    Ok(Reply::Done)
}

/// SCIM's DELETE of a group: removed for good, and with it its place in
/// other groups (the provider owns the nesting it pushed); refused while a
/// permission setting names it, as IMKIT's delete is.
pub(super) fn remove_group(
    plan: &mut Plan,
    actor: Actor,
    id: GroupId,
    expect: &Option<String>,
) -> Result<Reply> {
    let group =
        permission::group_for_update(&plan.snap, actor, id, GroupSetting::CanManageGroup, true)?;
    check_expected(group.version_tag(), expect)?;
    let objections = settings_naming(&plan.snap, id);
    if !objections.is_empty() {
        return Err(Error::GroupInUse(objections));
    }
    plan.push(Change::GroupDeleted { id })?;
    Ok(Reply::Done)
}
