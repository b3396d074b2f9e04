//! Membership as of a moment: `GET /cohort/v1/groups/{id}/members` (who was
//! in the group, and through which subgroups) and `GET
//! /cohort/v1/users/{id}/groups` (every group a user was in, and why).

use super::audit::{group_id, user_id};
use super::auth::Auditor;
use super::error::{ErrorBody, NativeError};
use super::params::{format_timestamp, Query};
use super::views::{
    group_ref, member_views, membership_view, user_ref, GroupRef, MemberView, MembershipView,
    UserRef,
};
use crate::AppState;
use axum::extract::{Path, RawQuery, State};
use axum::Json;
use cohort_core::history::History;
use cohort_core::{GroupId, UserId, Version};
use serde::Serialize;
use utoipa::ToSchema;

/// The moment asked for, as a version: `as_of` absent means now; a moment
/// before the realm existed is version 0, when nothing existed.
pub fn as_of(history: &History, params: &Query) -> Result<(Version, String), NativeError> {
    match params.timestamp("as_of")? {
        Some(t) => Ok((moment(history, "as_of", t)?, format_timestamp(t))),
        None => {
            let v = history.version();
            let at = history.commit(v).map_or(0, |c| c.at);
            Ok((v, format_timestamp(at)))
        }
    }
}

/// The version current at moment `t` (0 before the realm existed); refused
/// for a moment before the checkpoint of a pruned log, whose answer is gone.
pub fn moment(
    history: &History,
    param: &str,
    t: cohort_core::Millis,
) -> Result<Version, NativeError> {
    if let Some((_, at)) = history.pruned_at() {
        if t < at {
            return Err(NativeError::invalid_parameter(
                param,
                format!(
                    "{param} is before {}, the oldest moment this realm's history keeps (the log before it was pruned)",
                    format_timestamp(at)
                ),
            ));
        }
    }
    Ok(history.version_at(t).unwrap_or(0))
}

fn flag(params: &Query, name: &str, default: bool) -> Result<bool, NativeError> {
    match params.get(name) {
        None => Ok(default),
        Some("true") => Ok(true),
        Some("false") => Ok(false),
        Some(_) => Err(NativeError::invalid_parameter(
            name,
            format!("{name} must be true or false"),
        )),
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct GroupMembersView {
    /// The group, named as it was then (or as first known, if it did not exist yet).
    pub group: GroupRef,
    /// The moment the answer is about (RFC 3339).
    pub as_of: String,
    /// The realm's version at that moment (0: before the realm existed).
    pub version: u64,
    pub transitive: bool,
    /// Whether the group existed then; if not, it had no members.
    pub existed: bool,
    pub members: Vec<MemberView>,
}

#[utoipa::path(
    get,
    path = "/cohort/v1/groups/{id}/members",
    tag = "memberships",
    operation_id = "get_group_members_as_of",
    params(
        ("id" = i64, Path, description = "The group's id"),
        ("as_of" = Option<String>, Query, description = "RFC 3339; default now. Before the realm existed: no members"),
        ("transitive" = Option<bool>, Query, description = "Include members through subgroups, each with its `via` chain (default true)"),
    ),
    responses(
        (status = 200, description = "The group's active members at that moment", body = GroupMembersView),
        (status = 400, description = "A parameter is not valid (`invalid_parameter`)", body = ErrorBody),
        (status = 404, description = "No such group in this realm (`not_found`)", body = ErrorBody),
    ),
)]
pub async fn group_members(
    State(state): State<AppState>,
    auditor: Auditor,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Json<GroupMembersView>, NativeError> {
    let params = Query::parse(raw.as_deref(), &["as_of", "transitive"])?;
    let transitive = flag(&params, "transitive", true)?;
    let history = state.engine.history(auditor.snapshot.realm_id()).await?;
    let id = group_id(&history, &id).map_err(not_found_path)?;
    let (v, at) = as_of(&history, &params)?;
    Ok(Json(group_members_view(&history, id, v, at, transitive)))
}

/// A group's members as of version `v` (`at`: that moment, as shown).
pub fn group_members_view(
    history: &History,
    id: GroupId,
    v: Version,
    at: String,
    transitive: bool,
) -> GroupMembersView {
    let members = history.members(id, v, transitive);
    GroupMembersView {
        group: group_ref(history, id, v),
        as_of: at,
        version: v,
        transitive,
        existed: members.is_some(),
        members: member_views(history, &members.unwrap_or_default(), v),
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UserGroupsView {
    pub user: UserRef,
    pub as_of: String,
    pub version: u64,
    /// Whether the user existed then.
    pub existed: bool,
    /// Whether the user was active then (a deactivated user is in no group).
    pub active: bool,
    pub groups: Vec<MembershipView>,
}

#[utoipa::path(
    get,
    path = "/cohort/v1/users/{id}/groups",
    tag = "memberships",
    operation_id = "get_user_groups_as_of",
    params(
        ("id" = i64, Path, description = "The user's id"),
        ("as_of" = Option<String>, Query, description = "RFC 3339; default now"),
    ),
    responses(
        (status = 200, description = "Every group the user was in, directly or through which subgroups", body = UserGroupsView),
        (status = 400, description = "A parameter is not valid (`invalid_parameter`)", body = ErrorBody),
        (status = 404, description = "No such user in this realm (`not_found`)", body = ErrorBody),
    ),
)]
pub async fn user_groups(
    State(state): State<AppState>,
    auditor: Auditor,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Json<UserGroupsView>, NativeError> {
    let params = Query::parse(raw.as_deref(), &["as_of"])?;
    let history = state.engine.history(auditor.snapshot.realm_id()).await?;
    let id = user_id(&history, &id).map_err(not_found_path)?;
    let (v, at) = as_of(&history, &params)?;
    Ok(Json(user_groups_view(&history, id, v, at)))
}

/// Every group a user was in as of version `v`.
pub fn user_groups_view(history: &History, id: UserId, v: Version, at: String) -> UserGroupsView {
    let groups = history.groups_of(id, v);
    UserGroupsView {
        user: user_ref(history, id, v),
        as_of: at,
        version: v,
        existed: groups.is_some(),
        active: history.is_active(id, v),
        groups: groups
            .unwrap_or_default()
            .iter()
            .map(|m| membership_view(history, m, v))
            .collect(),
    }
}

/// A path id that is not a number names nothing: 404, like an unknown one.
fn not_found_path(err: NativeError) -> NativeError {
    if err.body.code == super::error::ErrorCode::InvalidParameter {
        NativeError::not_found("No such resource in this realm")
    } else {
        err
    }
}
