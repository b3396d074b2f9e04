//! Groups: create, update, deactivate, members and subgroups.

use super::settings::{changed_setting_value, checked_setting_value};
use super::{ChangeMembers, Context, CreateGroup, Plan, Reply, UpdateGroup};
use crate::change::{Change, GroupPatch};
use crate::error::{Error, Objection, Result};
use crate::ids::{Actor, GroupId, UserId};
use crate::model::{Group, GroupSetting, RealmSetting, SettingDefault, SettingValue, SystemGroup};
use crate::permission::{self, Gate};
use crate::snapshot::Snapshot;
use crate::validate;
use crate::values::{Checked, Key};
use std::collections::BTreeSet;
use std::sync::Arc;

/// The IMKIT key of an object created without one: its id as a string, unless a
/// caller already took that string as a key.
pub(super) fn default_key(snap: &Snapshot, id: i64, kind: &str) -> Arc<str> {
    let plain = id.to_string();
    if snap.principal(&plain).is_none() {
        return Arc::from(plain);
    }
    let mut n = 0u32;
    loop {
        let candidate = if n == 0 {
            format!("{kind}-{id}")
        } else {
            format!("{kind}-{id}-{n}")
        };
        if snap.principal(&candidate).is_none() {
            return Arc::from(candidate);
        }
        n += 1;
    }
}

pub(super) fn chosen_key(snap: &Snapshot, key: &Checked<Key>) -> Result<Arc<str>> {
    let key = key.value()?;
    if snap.principal(key.as_str()).is_some() {
        return Err(Error::KeyTaken(key.to_string()));
    }
    Ok(Arc::from(key.as_str()))
}

/// Who may be listed as a new group's members.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Listable {
    /// Active users (Zulip's and IMKIT's rule).
    Active,
    /// Any user a provider can see, deactivated ones included (SCIM).
    Provider,
}

pub(super) fn create_group(
    plan: &mut Plan,
    actor: Actor,
    cmd: &CreateGroup,
    ctx: &mut Context,
    listable: Listable,
) -> Result<Reply> {
    let snap = &plan.snap;
    // Also reached from `PutGroup`, whose gate is only the endpoint's.
    permission::check_gate(snap, actor, Gate::CreateGroups)?;
    validate::id_list("members", &cmd.members)?;
    validate::id_list("subgroups", &cmd.subgroups)?;
    match listable {
        Listable::Active => check_listed_users(snap, &cmd.members)?,
        Listable::Provider => super::provision::check_provider_users(snap, &cmd.members)?,
    }
    let name = cmd.name.value()?;
    validate::description(&cmd.description)?;
    if let Some(url) = &cmd.avatar_url {
        validate::avatar_url(url)?;
    }
    let creator = match actor {
        Actor::User(id) => Some(id),
        _ => None,
    };
    let nobody = snap
        .system_group_id(SystemGroup::Nobody)
        .ok_or_else(|| Error::Internal("realm has no role:nobody".into()))?;
    let mut settings: [Option<SettingValue>; 6] = Default::default();
    let mut given = cmd.settings.clone();
    given.sort_by_key(|(s, _)| *s);
    for (setting, value) in &given {
        settings[setting.index()] = Some(checked_setting_value(snap, value, &setting.config())?);
    }
    if snap.group_by_name(name.as_str()).is_some() {
        return Err(Error::NameTaken(name.to_string()));
    }
    let key = cmd.key.as_ref().map(|k| chosen_key(snap, k)).transpose()?;
    let subgroups = check_listed_groups(snap, &cmd.subgroups)?;
    let id = GroupId(ctx.fresh_id()?);
    let settings = GroupSetting::ALL.map(|setting| {
        settings[setting.index()]
            .take()
            .unwrap_or_else(|| match setting.config().default {
                SettingDefault::System(which) => {
                    SettingValue::Group(snap.system_group_id(which).unwrap_or(nobody))
                }
                SettingDefault::GroupCreator => match creator {
                    Some(user) => SettingValue::Anonymous {
                        members: vec![user],
                        subgroups: Vec::new(),
                    },
                    None => SettingValue::Group(nobody),
                },
            })
    });
    let mut members = cmd.members.clone();
    members.sort_unstable();
    members.dedup();
    let group = Group {
        id,
        key: key.unwrap_or_else(|| default_key(snap, id.0, "group")),
        name: name.clone().into_arc(),
        description: cmd.description.clone(),
        avatar_url: cmd.avatar_url.clone(),
        system: None,
        deactivated: false,
        creator,
        created_at: ctx.now,
        updated_at: ctx.now,
        settings,
        members,
        subgroups,
        external_id: cmd.external_id.clone(),
    };
    plan.push(Change::GroupCreated {
        group: Box::new(group),
    })?;
    Ok(Reply::Group(id))
}

pub(super) fn update_group(
    plan: &mut Plan,
    actor: Actor,
    id: GroupId,
    cmd: &UpdateGroup,
) -> Result<Reply> {
    let snap = &plan.snap;
    let group =
        permission::group_for_update(snap, actor, id, GroupSetting::CanManageGroup, true)?.clone();
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
    if let Some(description) = cmd
        .description
        .as_ref()
        .filter(|d| **d != group.description)
    {
        validate::description(description)?;
        patch.description = Some(description.clone());
    }
    if let Some(avatar) = cmd.avatar_url.as_ref().filter(|a| **a != group.avatar_url) {
        if let Some(url) = avatar {
            validate::avatar_url(url)?;
        }
        patch.avatar_url = Some(avatar.clone());
    }
    if cmd.reactivate && group.deactivated {
        patch.deactivated = Some(false);
    }
    let mut settings = cmd.settings.clone();
    settings.sort_by_key(|(s, _)| *s);
    let mut changes = Vec::new();
    for (setting, update) in &settings {
        if let Some(value) =
            changed_setting_value(snap, group.setting(*setting), update, &setting.config())?
        {
            changes.push(Change::GroupSettingChanged {
                id,
                setting: *setting,
                value,
            });
        }
    }
    if !patch.is_empty() {
        plan.push(Change::GroupUpdated { id, patch })?;
    }
    for change in changes {
        plan.push(change)?;
    }
    Ok(Reply::Done)
}

/// Where a group is still referenced (Zulip's `check_user_group_can_be_deactivated`).
pub fn objections(snap: &Snapshot, id: GroupId) -> Vec<Objection> {
    let mut objections = Vec::new();
    let supergroup_ids: Vec<GroupId> = snap
        .groups()
        .filter(|g| !g.deactivated && g.has_subgroup(id))
        .map(|g| g.id)
        .collect();
    if !supergroup_ids.is_empty() {
        objections.push(Objection::Subgroup { supergroup_ids });
    }
    let uses = |value: &SettingValue| value.groups().contains(&id);
    for group in snap.groups().filter(|g| !g.deactivated) {
        let settings: Vec<GroupSetting> = GroupSetting::ALL
            .into_iter()
            .filter(|s| uses(group.setting(*s)))
            .collect();
        if !settings.is_empty() {
            objections.push(Objection::UserGroup {
                group_id: group.id,
                settings,
            });
        }
    }
    let realm_settings: Vec<RealmSetting> = RealmSetting::ALL
        .into_iter()
        .filter(|s| uses(snap.realm().setting(*s)))
        .collect();
    if !realm_settings.is_empty() {
        objections.push(Objection::Realm {
            settings: realm_settings,
        });
    }
    objections
}

pub(super) fn deactivate_group(plan: &mut Plan, actor: Actor, id: GroupId) -> Result<Reply> {
    permission::group_for_update(&plan.snap, actor, id, GroupSetting::CanManageGroup, false)?;
    let objections = objections(&plan.snap, id);
    if !objections.is_empty() {
        return Err(Error::GroupInUse(objections));
    }
    plan.push(Change::GroupUpdated {
        id,
        patch: GroupPatch {
            deactivated: Some(true),
            ..GroupPatch::default()
        },
    })?;
    Ok(Reply::Done)
}

pub(super) fn unique(ids: &[UserId]) -> Vec<UserId> {
    let set: BTreeSet<UserId> = ids.iter().copied().collect();
    set.into_iter().collect()
}

pub(super) fn unique_groups(ids: &[GroupId]) -> Vec<GroupId> {
    let set: BTreeSet<GroupId> = ids.iter().copied().collect();
    set.into_iter().collect()
}

pub(super) fn change_members(
    plan: &mut Plan,
    actor: Actor,
    id: GroupId,
    cmd: &ChangeMembers,
) -> Result<Reply> {
    validate::id_list("add", &cmd.add)?;
    validate::id_list("delete", &cmd.delete)?;
    validate::id_list("add_subgroups", &cmd.add_subgroups)?;
    validate::id_list("delete_subgroups", &cmd.delete_subgroups)?;
    if !cmd.add.is_empty() {
        add_members(plan, actor, id, &cmd.add)?;
    }
    if !cmd.delete.is_empty() {
        remove_members(plan, actor, id, &cmd.delete)?;
    }
    if !cmd.add_subgroups.is_empty() {
        add_subgroups(plan, actor, id, &cmd.add_subgroups)?;
    }
    if !cmd.delete_subgroups.is_empty() {
        remove_subgroups(plan, actor, id, &cmd.delete_subgroups)?;
    }
    Ok(Reply::Done)
}

pub(super) fn only_self(actor: Actor, ids: &[UserId]) -> bool {
    matches!((actor, ids), (Actor::User(me), [only]) if me == *only)
}

pub(super) fn add_members(
    plan: &mut Plan,
    actor: Actor,
    id: GroupId,
    add: &[UserId],
) -> Result<()> {
    let snap = &plan.snap;
    let group = permission::group_for_self_or_other(
        snap,
        actor,
        id,
        only_self(actor, add),
        GroupSetting::CanJoinGroup,
        GroupSetting::CanAddMembersGroup,
    )?;
    check_listed_users(snap, add)?;
    let users = unique(add);
    if let Some(existing) = users.iter().find(|u| group.has_member(**u)) {
        return Err(Error::AlreadyMember(*existing));
    }
    plan.push(Change::MembersAdded { group: id, users })
}

pub(super) fn remove_members(
    plan: &mut Plan,
    actor: Actor,
    id: GroupId,
    delete: &[UserId],
) -> Result<()> {
    let snap = &plan.snap;
    check_listed_users(snap, delete)?;
    let group = permission::group_for_self_or_other(
        snap,
        actor,
        id,
        only_self(actor, delete),
        GroupSetting::CanLeaveGroup,
        GroupSetting::CanRemoveMembersGroup,
    )?;
    if let Some(missing) = delete.iter().find(|u| !group.has_member(**u)) {
        return Err(Error::NotMember(*missing));
    }
    plan.push(Change::MembersRemoved {
        group: id,
        users: unique(delete),
    })
}

/// The listed users must exist here and be active (the first one that is not
/// is reported).
pub(super) fn check_listed_users(snap: &Snapshot, listed: &[UserId]) -> Result<()> {
    match listed.iter().find(|u| !snap.is_active_user(**u)) {
        Some(user) => Err(Error::InvalidMember(*user)),
        None => Ok(()),
    }
}

/// The listed groups must exist (first unknown one reported) and be active;
/// returns them sorted, each once.
pub(super) fn check_listed_groups(snap: &Snapshot, listed: &[GroupId]) -> Result<Vec<GroupId>> {
    if let Some(missing) = listed.iter().find(|g| snap.group(**g).is_none()) {
        return Err(Error::SubgroupNotFound(*missing));
    }
    let groups = unique_groups(listed);
    if let Some(inactive) = groups
        .iter()
        .find(|g| snap.group(**g).is_some_and(|g| g.deactivated))
    {
        return Err(Error::GroupDeactivated(*inactive));
    }
    Ok(groups)
}

pub(super) fn add_subgroups(
    plan: &mut Plan,
    actor: Actor,
    id: GroupId,
    add: &[GroupId],
) -> Result<()> {
    let snap = &plan.snap;
    let group =
        permission::group_for_update(snap, actor, id, GroupSetting::CanAddMembersGroup, true)?;
    let subgroups = check_listed_groups(snap, add)?;
    if let Some(existing) = subgroups.iter().find(|g| group.has_subgroup(**g)) {
        return Err(Error::AlreadySubgroup(*existing));
    }
    if snap.closure_of(subgroups.iter().copied()).contains(&id) {
        return Err(Error::SubgroupCycle(id));
    }
    plan.push(Change::SubgroupsAdded {
        group: id,
        subgroups,
    })
}

pub(super) fn remove_subgroups(
    plan: &mut Plan,
    actor: Actor,
    id: GroupId,
    delete: &[GroupId],
) -> Result<()> {
    let snap = &plan.snap;
    let group = permission::group_for_update(snap, actor, id, GroupSetting::CanManageGroup, true)?;
    let subgroups = check_listed_groups(snap, delete)?;
    if let Some(missing) = subgroups.iter().find(|g| !group.has_subgroup(**g)) {
        return Err(Error::NotSubgroup(*missing));
    }
    plan.push(Change::SubgroupsRemoved {
        group: id,
        subgroups,
    })
}
