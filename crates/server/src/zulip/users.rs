//! `/api/v1/users…`: the user endpoints a group administrator needs.

use super::auth::ZulipUser;
use super::envelope::success;
use super::error::ZulipError;
use super::params::Params;
use super::views::user_json;
use super::{UserRef, ZulipResult};
use crate::AppState;
use axum::extract::State;
use cohort_core::command::{CreateUser, UpdateUser};
use cohort_core::permission::Gate;
use cohort_core::{validate, Command, Error, Reply, Role, Snapshot, User, UserId};
use cohort_engine::secrets;
use serde_json::{json, Value};
use std::sync::Arc;

/// A user named in the path by id or email.
fn target_user(snap: &Snapshot, user: &UserRef) -> Result<Arc<User>, ZulipError> {
    let found = match user {
        UserRef::Id(id) => snap.user(UserId(*id)),
        UserRef::Email(email) => snap.user_by_email(email),
    };
    found
        .cloned()
        .ok_or_else(|| ZulipError::bad_request("No such user"))
}

/// Zulip routes `/users/{email}` for GET and PATCH only.
fn id_only(user: &UserRef) -> Result<(), ZulipError> {
    match user {
        UserRef::Id(_) => Ok(()),
        UserRef::Email(_) => Err(ZulipError::method_not_allowed(&["GET", "PATCH"])),
    }
}

/// `GET /users`: every user, bots and deactivated users included.
pub async fn list(caller: ZulipUser, params: Params) -> ZulipResult {
    let client_gravatar = params.bool("client_gravatar")?.unwrap_or(true);
    params.bool("include_custom_profile_fields")?;
    let wanted = params.user_ids("user_ids")?;
    let snap = &caller.snapshot;
    let members: Vec<Value> = match wanted {
        Some(ids) => {
            validate::id_list("user_ids", &ids)?;
            let mut out = Vec::with_capacity(ids.len());
            for id in ids {
                let user = snap.user(id).ok_or(Error::InvalidMember(id))?;
                out.push(user_json(user, client_gravatar));
            }
            out
        }
        None => snap
            .users()
            .map(|u| user_json(u, client_gravatar))
            .collect(),
    };
    Ok(success(&params, json!({ "members": members })))
}

/// `GET /users/{user_id}` and `GET /users/{email}`.
pub async fn get(user: UserRef, caller: ZulipUser, params: Params) -> ZulipResult {
    let client_gravatar = params.bool("client_gravatar")?.unwrap_or(true);
    params.bool("include_custom_profile_fields")?;
    let snap = &caller.snapshot;
    let target = target_user(snap, &user)?;
    Ok(success(
        &params,
        json!({ "user": user_json(&target, client_gravatar) }),
    ))
}

/// `GET /users/me`: the caller's own record at the top level.
pub async fn me(caller: ZulipUser, params: Params) -> ZulipResult {
    let mut fields = user_json(&caller.user, false);
    if let Value::Object(map) = &mut fields {
        // cohort keeps no messages.
        map.insert("max_message_id".into(), json!(-1));
    }
    Ok(success(&params, fields))
}

/// `POST /users`: administrators with the `can_create_users` permission.
pub async fn create(
    State(state): State<AppState>,
    caller: ZulipUser,
    params: Params,
) -> ZulipResult {
    caller.gate(Gate::Administrator)?;
    let email = params.required_string("email")?;
    let full_name = params.required_string("full_name")?;
    // cohort has no password login; the password is required (as by Zulip) and
    // then dropped, never stored.
    params.required_string("password")?;
    let command = Command::CreateUser(CreateUser {
        email: Some(email.into()),
        full_name,
        role: Role::Member,
        is_bot: false,
        bot_owner: None,
        key: None,
        avatar_url: None,
        api_key: secrets::hash_key(&secrets::generate_key()),
        can_create_users: false,
    });
    let done = caller.execute(&state, command).await?;
    let Reply::User(id) = done.reply else {
        return Err(ZulipError::internal());
    };
    Ok(success(&params, json!({ "user_id": id.0 })))
}

/// `PATCH /users/{user_id}`: full name and role.
pub async fn update(
    State(state): State<AppState>,
    user: UserRef,
    caller: ZulipUser,
    params: Params,
) -> ZulipResult {
    let snap = &caller.snapshot;
    let target = target_user(snap, &user)?;
    let full_name = params.string("full_name");
    let role = match params.int("role")? {
        None => None,
        Some(code) => {
            Some(Role::from_code(code).ok_or_else(|| ZulipError::bad_request("Invalid role"))?)
        }
    };
    let command = Command::UpdateUser(
        target.id,
        UpdateUser {
            full_name,
            role,
            ..UpdateUser::default()
        },
    );
    caller.execute(&state, command).await?;
    Ok(success(&params, json!({})))
}

/// `DELETE /users/{user_id}`: deactivate (bots have their own endpoint in Zulip).
pub async fn deactivate(
    State(state): State<AppState>,
    user: UserRef,
    caller: ZulipUser,
    params: Params,
) -> ZulipResult {
    id_only(&user)?;
    let snap = &caller.snapshot;
    let target = target_user(snap, &user)?;
    if target.is_bot {
        return Err(Error::UserNotFound(target.id).into());
    }
    params.string("deactivation_notification_comment");
    caller
        .execute(&state, Command::DeactivateUser(target.id))
        .await?;
    Ok(success(&params, json!({})))
}

/// `DELETE /users/me`: deactivate one's own account.
pub async fn deactivate_me(
    State(state): State<AppState>,
    caller: ZulipUser,
    params: Params,
) -> ZulipResult {
    caller.execute(&state, Command::DeactivateSelf).await?;
    Ok(success(&params, json!({})))
}

/// `POST /users/{user_id}/reactivate`.
pub async fn reactivate(
    State(state): State<AppState>,
    user: UserRef,
    caller: ZulipUser,
    params: Params,
) -> ZulipResult {
    id_only(&user)?;
    let snap = &caller.snapshot;
    let target = target_user(snap, &user)?;
    caller
        .execute(&state, Command::ReactivateUser(target.id))
        .await?;
    Ok(success(&params, json!({})))
}
