//! Key-addressed writes (IMKIT's dialect): groups and users named by their
//! string `_id`, created or updated in one call, members given as client keys.
//! The rules are the same ones the integer-id commands use.

use super::groups::{change_members, create_group, objections, update_group, Listable};
use super::users::{create_user, update_user};
use super::{
    ChangeMembers, Context, CreateGroup, CreateUser, Plan, PutClient, PutGroup, Reply, UpdateGroup,
    UpdateUser,
};
use crate::change::Change;
use crate::error::{Error, Objection, Result};
use crate::ids::{Actor, GroupId, UserId};
use crate::model::{GroupSetting, GroupUpsert, Principal, Role};
use crate::permission;
use crate::snapshot::Snapshot;
use crate::validate;
use crate::values::{Checked, Key};
use std::collections::BTreeSet;

/// Resolve member keys to active users, in order, refusing duplicates, groups
/// and unknown keys.
fn member_ids(snap: &Snapshot, keys: &[String]) -> Result<Vec<UserId>> {
    validate::id_list("members", keys)?;
    let mut seen = BTreeSet::new();
    let mut ids = Vec::with_capacity(keys.len());
    for key in keys {
        if !seen.insert(key.as_str()) {
            return Err(Error::DuplicateKey(key.clone()));
        }
        match snap.principal(key) {
            Some(Principal::User(id)) if snap.is_active_user(id) => ids.push(id),
            Some(Principal::User(_)) => return Err(Error::UserKeyDeactivated(key.clone())),
            Some(Principal::Group(_)) => return Err(Error::MemberKeyIsGroup(key.clone())),
            None => return Err(Error::UnknownMemberKey(key.clone())),
        }
    }
    Ok(ids)
}

pub(super) fn put_group(
    plan: &mut Plan,
    actor: Actor,
    cmd: &PutGroup,
    ctx: &mut Context,
) -> Result<Reply> {
    let members = cmd
        .members
        .as_deref()
        .map(|keys| member_ids(&plan.snap, keys))
        .transpose()?;
    let key = cmd.key.as_ref().and_then(Checked::ok);
    let existing = match key.and_then(|k| plan.snap.principal(k.as_str())) {
        Some(Principal::Group(id)) => {
            let group = plan.snap.group(id).ok_or(Error::GroupNotFound(id))?;
            if group.is_system() || group.deactivated {
                return Err(Error::KeyTaken(group.key.to_string()));
            }
            if plan.snap.realm().group_upsert == GroupUpsert::Reject {
                return Err(Error::GroupExists(group.key.to_string()));
            }
            Some(id)
        }
        Some(Principal::User(_)) => {
            return Err(Error::KeyTaken(key.map(Key::to_string).unwrap_or_default()))
        }
        None => None,
    };
    let Some(id) = existing else {
        return create_group(
            plan,
            actor,
            &CreateGroup {
                name: cmd.name.clone(),
                description: String::new(),
                members: members.unwrap_or_default(),
                subgroups: Vec::new(),
                settings: Vec::new(),
                key: cmd.key.clone(),
                avatar_url: cmd.avatar_url.clone(),
                external_id: None,
            },
            ctx,
            Listable::Active,
        );
    };
    update_group(
        plan,
        actor,
        id,
        &UpdateGroup {
            name: Some(cmd.name.clone()),
            avatar_url: cmd.avatar_url.clone().map(Some),
            ..UpdateGroup::default()
        },
    )?;
    if let Some(wanted) = members {
        let group = plan.snap.group(id).ok_or(Error::GroupNotFound(id))?;
        // Replace the visible members; a deactivated user's membership is kept
        // (it is invisible, and Zulip restores it on reactivation).
        let current = plan.snap.direct_members(id);
        let add: Vec<UserId> = wanted
            .iter()
            .copied()
            .filter(|u| !group.has_member(*u))
            .collect();
        let remove: Vec<UserId> = current
            .into_iter()
            .filter(|u| !wanted.contains(u))
            .collect();
        let change = ChangeMembers {
            add,
            delete: remove,
            ..ChangeMembers::default()
        };
        change_members(plan, actor, id, &change)?;
    }
    Ok(Reply::Group(id))
}

/// Settings anywhere (active or deactivated groups, the realm) that name `id`:
/// a deleted group must leave none dangling.
pub(super) fn settings_naming(snap: &Snapshot, id: GroupId) -> Vec<Objection> {
    // The group's own settings go with it, so they do not hold it back.
    let mut found: Vec<Objection> = objections(snap, id)
        .into_iter()
        .filter(|o| match o {
            Objection::Subgroup { .. } => false,
            Objection::UserGroup { group_id, .. } => *group_id != id,
            Objection::Realm { .. } => true,
        })
        .collect();
    for group in snap.groups().filter(|g| g.deactivated && g.id != id) {
        let settings: Vec<GroupSetting> = GroupSetting::ALL
            .into_iter()
            .filter(|s| group.setting(*s).groups().contains(&id))
            .collect();
        if !settings.is_empty() {
            found.push(Objection::UserGroup {
                group_id: group.id,
                settings,
            });
        }
    }
    found
}

pub(super) fn delete_group(plan: &mut Plan, actor: Actor, id: GroupId) -> Result<Reply> {
    permission::group_for_update(&plan.snap, actor, id, GroupSetting::CanManageGroup, true)?;
    let mut objections: Vec<Objection> = objections(&plan.snap, id)
        .into_iter()
        .filter(|o| matches!(o, Objection::Subgroup { .. }))
        .collect();
    objections.extend(settings_naming(&plan.snap, id));
    if !objections.is_empty() {
        return Err(Error::GroupInUse(objections));
    }
    plan.push(Change::GroupDeleted { id })?;
    Ok(Reply::Done)
}

pub(super) fn put_clients(
    plan: &mut Plan,
    actor: Actor,
    clients: &[PutClient],
    ctx: &mut Context,
) -> Result<Reply> {
    if clients.len() > validate::MAX_BATCH {
        return Err(Error::TooManyItems {
            max: validate::MAX_BATCH,
        });
    }
    let mut seen = BTreeSet::new();
    for key in clients.iter().filter_map(|c| c.key.ok()) {
        if !seen.insert(key.as_str()) {
            return Err(Error::DuplicateKey(key.to_string()));
        }
    }
    let mut ids = Vec::with_capacity(clients.len());
    for client in clients {
        let key = client.key.value()?;
        let id = match plan.snap.principal(key.as_str()) {
            Some(Principal::Group(_)) => return Err(Error::KeyTaken(key.to_string())),
            Some(Principal::User(id)) => {
                if !plan.snap.is_active_user(id) {
                    return Err(Error::UserKeyDeactivated(key.to_string()));
                }
                update_user(
                    plan,
                    actor,
                    id,
                    &UpdateUser {
                        full_name: client.full_name.clone(),
                        email: client.email.clone(),
                        avatar_url: client.avatar_url.clone().map(Some),
                        ..UpdateUser::default()
                    },
                )?;
                id
            }
            None => {
                let created = create_user(
                    plan,
                    actor,
                    &CreateUser {
                        email: client.email.clone(),
                        full_name: client
                            .full_name
                            .clone()
                            .unwrap_or_else(|| validate::name_from_key(key.as_str())),
                        role: Role::Member,
                        is_bot: false,
                        bot_owner: None,
                        key: Some(key.clone().into()),
                        avatar_url: client.avatar_url.clone(),
                        api_key: client.api_key,
                        can_create_users: false,
                    },
                    ctx,
                )?;
                match created {
                    Reply::User(id) => id,
                    _ => return Err(Error::Internal("create_user returned no user".into())),
                }
            }
        };
        ids.push(id);
    }
    Ok(Reply::Users(ids))
}
