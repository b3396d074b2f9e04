//! `/api/v1/user_groups…`: Zulip's user-group endpoints.

use super::auth::ZulipUser;
use super::envelope::{id_list_body, success, success_bytes, success_parts};
use super::error::ZulipError;
use super::params::Params;
use super::{PathIds, ZulipResult};
use crate::AppState;
use axum::extract::State;
use cohort_core::command::{ChangeMembers, CreateGroup, UpdateGroup};
use cohort_core::permission::Gate;
use cohort_core::{Command, Error, GroupId, GroupSetting, Reply, Snapshot, UserId};
use serde_json::json;

/// A group that reads may look at: it exists here and is active.
fn readable_group(snap: &Snapshot, id: GroupId) -> Result<GroupId, ZulipError> {
    let group = snap.group(id).ok_or(Error::GroupNotFound(id))?;
    if group.deactivated {
        return Err(Error::GroupDeactivated(id).into());
    }
    Ok(id)
}

/// `GET /user_groups`: every group of the realm, from the cached body.
pub async fn list(State(state): State<AppState>, caller: ZulipUser, params: Params) -> ZulipResult {
    caller.gate(Gate::GroupEndpoint)?;
    let include_deactivated = params.bool("include_deactivated_groups")?.unwrap_or(false);
    // Taken when the caller authenticated, after any write it was told of.
    let snap = caller.snapshot;
    Ok(success_parts(
        &params,
        state.zulip_groups.body(&snap, include_deactivated),
    ))
}

/// `POST /user_groups/create`.
pub async fn create(
    State(state): State<AppState>,
    caller: ZulipUser,
    params: Params,
) -> ZulipResult {
    caller.gate(Gate::CreateGroups)?;
    let mut settings = Vec::new();
    for setting in GroupSetting::ALL {
        if let Some(value) = params.setting_value(setting.name())? {
            settings.push((setting, value));
        }
    }
    let description = params.required_string("description")?;
    let members = params
        .user_ids("members")?
        .ok_or_else(|| ZulipError::missing("members"))?;
    let name = params.required_string("name")?;
    let subgroups = params.group_ids("subgroups")?.unwrap_or_default();
    let command = Command::CreateGroup(CreateGroup {
        name: name.into(),
        description,
        members,
        subgroups,
        settings,
        key: None,
        avatar_url: None,
        external_id: None,
    });
    let done = caller.execute(&state, command).await?;
    let Reply::Group(id) = done.reply else {
        return Err(ZulipError::internal());
    };
    Ok(success(&params, json!({ "group_id": id.0 })))
}

/// `PATCH /user_groups/{id}`: name, description, settings (`{new, old}`), and
/// reactivation with `deactivated=false`.
pub async fn update(
    State(state): State<AppState>,
    PathIds(ids): PathIds,
    caller: ZulipUser,
    params: Params,
) -> ZulipResult {
    let id = GroupId(ids[0]);
    caller.gate(Gate::GroupEndpoint)?;
    let mut settings = Vec::new();
    for setting in GroupSetting::ALL {
        if let Some(update) = params.setting_update(setting.name())? {
            settings.push((setting, update));
        }
    }
    let deactivated = params.bool("deactivated")?;
    let description = params.string("description");
    let name = params.string("name").map(Into::into);
    if settings.is_empty() && deactivated.is_none() && description.is_none() && name.is_none() {
        return Err(Error::NothingToChange.into());
    }
    let command = Command::UpdateGroup(
        id,
        UpdateGroup {
            name,
            description,
            avatar_url: None,
            reactivate: deactivated == Some(false),
            settings,
        },
    );
    caller.execute(&state, command).await?;
    Ok(success(&params, json!({})))
}

/// `POST /user_groups/{id}/deactivate` (no guest gate in Zulip: the permission
/// check refuses guests).
pub async fn deactivate(
    State(state): State<AppState>,
    PathIds(ids): PathIds,
    caller: ZulipUser,
    params: Params,
) -> ZulipResult {
    let id = GroupId(ids[0]);
    caller.execute(&state, Command::DeactivateGroup(id)).await?;
    Ok(success(&params, json!({})))
}

/// `POST /user_groups/{id}/members`: add/delete users and subgroups.
pub async fn change_members(
    State(state): State<AppState>,
    PathIds(ids): PathIds,
    caller: ZulipUser,
    params: Params,
) -> ZulipResult {
    let id = GroupId(ids[0]);
    caller.gate(Gate::GroupEndpoint)?;
    let change = ChangeMembers {
        add: params.user_ids("add")?.unwrap_or_default(),
        add_subgroups: params.group_ids("add_subgroups")?.unwrap_or_default(),
        delete: params.user_ids("delete")?.unwrap_or_default(),
        delete_subgroups: params.group_ids("delete_subgroups")?.unwrap_or_default(),
    };
    if change == ChangeMembers::default() {
        return Err(ZulipError::bad_request(
            "Nothing to do. Specify at least one of \"add\", \"delete\", \"add_subgroups\" or \"delete_subgroups\".",
        ));
    }
    caller
        .execute(&state, Command::ChangeMembers(id, change))
        .await?;
    Ok(success(&params, json!({})))
}

/// `POST /user_groups/{id}/subgroups`: add/delete subgroups.
pub async fn change_subgroups(
    State(state): State<AppState>,
    PathIds(ids): PathIds,
    caller: ZulipUser,
    params: Params,
) -> ZulipResult {
    let id = GroupId(ids[0]);
    caller.gate(Gate::GroupEndpoint)?;
    let change = ChangeMembers {
        add_subgroups: params.group_ids("add")?.unwrap_or_default(),
        delete_subgroups: params.group_ids("delete")?.unwrap_or_default(),
        ..ChangeMembers::default()
    };
    if change == ChangeMembers::default() {
        return Err(ZulipError::bad_request(
            "Nothing to do. Specify at least one of \"add\" or \"delete\".",
        ));
    }
    caller
        .execute(&state, Command::ChangeMembers(id, change))
        .await?;
    Ok(success(&params, json!({})))
}

/// `GET /user_groups/{id}/members`: recursive (or direct) member ids.
pub async fn members(
    State(state): State<AppState>,
    PathIds(ids): PathIds,
    caller: ZulipUser,
    params: Params,
) -> ZulipResult {
    let id = GroupId(ids[0]);
    caller.gate(Gate::GroupEndpoint)?;
    let direct_only = params.bool("direct_member_only")?.unwrap_or(false);
    let snap = &caller.snapshot;
    let id = readable_group(snap, id)?;
    let body = state
        .zulip_members
        .get_or_render(snap, (id, direct_only), || {
            let members = if direct_only {
                snap.direct_members(id)
            } else {
                snap.recursive_members(id)
            };
            id_list_body("members", members.iter().map(|u| u.0))
        });
    Ok(success_bytes(&params, body))
}

/// `GET /user_groups/{id}/subgroups`: recursive (or direct) subgroup ids.
pub async fn subgroups(PathIds(ids): PathIds, caller: ZulipUser, params: Params) -> ZulipResult {
    let id = GroupId(ids[0]);
    caller.gate(Gate::GroupEndpoint)?;
    let direct_only = params.bool("direct_subgroup_only")?.unwrap_or(false);
    let snap = &caller.snapshot;
    let id = readable_group(snap, id)?;
    let subgroups: Vec<i64> = if direct_only {
        snap.group(id)
            .map(|g| g.subgroups.iter().map(|s| s.0).collect())
            .unwrap_or_default()
    } else {
        snap.recursive_subgroups(id)
            .into_iter()
            .filter(|g| *g != id)
            .map(|g| g.0)
            .collect()
    };
    Ok(success(&params, json!({ "subgroups": subgroups })))
}

/// `GET /user_groups/{id}/members/{user_id}`.
pub async fn is_member(PathIds(ids): PathIds, caller: ZulipUser, params: Params) -> ZulipResult {
    let (group, user) = (GroupId(ids[0]), UserId(ids[1]));
    caller.gate(Gate::GroupEndpoint)?;
    let direct_only = params.bool("direct_member_only")?.unwrap_or(false);
    let snap = &caller.snapshot;
    let group = readable_group(snap, group)?;
    let target = snap.user(user).ok_or(Error::UserNotFound(user))?;
    if !target.active {
        return Err(Error::UserDeactivated(user).into());
    }
    Ok(success(
        &params,
        json!({ "is_user_group_member": snap.is_member(group, user, direct_only) }),
    ))
}
