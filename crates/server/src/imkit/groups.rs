//! `/admin/groups…`: list (paged from the cached ordering), create or update
//! (`POST`), get and delete by `_id`.

use super::render::{group_json, json_response, page_body, visible};
use super::{
    ok, optional_string, string_list, ImkitApp, ImkitError, JsonObject, KeyPath, QueryParams,
};
use crate::AppState;
use axum::extract::State;
use axum::response::Response;
use cohort_core::command::PutGroup;
use cohort_core::{Command, GroupId, Principal, Reply, Snapshot};

type ImkitResult = Result<Response, ImkitError>;

fn group_by_key(snap: &Snapshot, key: &str) -> Result<GroupId, ImkitError> {
    match snap.principal(key) {
        Some(Principal::Group(id)) if snap.group(id).is_some_and(|g| visible(g)) => Ok(id),
        _ => {
            tracing::info!(key, "no such group");
            Err(ImkitError::group_not_found())
        }
    }
}

/// `GET /admin/groups?limit=&skip=`: groups in creation order.
pub async fn list(State(state): State<AppState>, app: ImkitApp, query: QueryParams) -> ImkitResult {
    let (limit, skip) = query.page()?;
    let snap = app.snapshot;
    let body = state.imkit_pages.get_or_render(&snap, (limit, skip), || {
        let ordered = state.imkit_groups.ordered(&snap);
        page_body(
            ordered.len(),
            ordered.iter().skip(skip).take(limit).map(|b| b.as_ref()),
        )
    });
    Ok(json_response(body))
}

/// `POST /admin/groups`: `{_id?, nickname, avatarUrl?, members?}`. An existing
/// `_id` is refused (409) or updated, as the realm's `group_upsert` says.
pub async fn put(
    State(state): State<AppState>,
    app: ImkitApp,
    JsonObject(body): JsonObject,
) -> ImkitResult {
    let key = optional_string(&body, "_id")?;
    // A blank nickname is the core's to refuse (rendered as missing).
    let name =
        optional_string(&body, "nickname")?.ok_or_else(|| ImkitError::missing("nickname"))?;
    let avatar_url = optional_string(&body, "avatarUrl")?;
    let members = string_list(&body, "members")?;
    let command = Command::PutGroup(PutGroup {
        key: key.map(Into::into),
        name: name.into(),
        avatar_url,
        members,
    });
    let done = app.execute(&state, command).await?;
    let Reply::Group(id) = done.reply else {
        return Err(ImkitError::internal());
    };
    let group = done.snapshot.group(id).ok_or_else(ImkitError::internal)?;
    Ok(ok(group_json(&done.snapshot, group)))
}

/// `GET /admin/groups/{_id}` (a cohort extension: IMKIT documents no single-group read).
pub async fn get(app: ImkitApp, KeyPath(key): KeyPath) -> ImkitResult {
    let snap = app.snapshot;
    let id = group_by_key(&snap, &key)?;
    let group = snap.group(id).ok_or_else(ImkitError::internal)?;
    Ok(ok(group_json(&snap, group)))
}

/// `DELETE /admin/groups/{_id}` (a cohort extension): removes the group for
/// good; refused (409 `GROUP_IN_USE`) while it is a subgroup or named by a
/// permission setting. Answers with the group as it was.
pub async fn delete(
    State(state): State<AppState>,
    app: ImkitApp,
    KeyPath(key): KeyPath,
) -> ImkitResult {
    let snap = &app.snapshot;
    let id = group_by_key(snap, &key)?;
    let before = snap
        .group(id)
        .map(|g| group_json(snap, g))
        .ok_or_else(ImkitError::internal)?;
    app.execute(&state, Command::DeleteGroup(id)).await?;
    Ok(ok(before))
}
