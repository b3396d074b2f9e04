//! `/scim/v2/Groups`: list and query, create, read, replace, modify, delete.
//! Members are users (`type` User) and nested groups (`type` Group); a
//! membership PATCH becomes one command — the members it adds and removes —
//! so other faces' concurrent changes to other members are kept. Role groups
//! can be read but not changed (400 `mutability`, from the core's rule).

use super::error::{ScimError, ScimType};
use super::input::{self, GroupInput};
use super::resource::{self, Select};
use super::schema::Resource;
use super::search::{self, ListQuery};
use super::{patch, ScimBody, ScimBytes, ScimClient};
use crate::AppState;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use cohort_core::command::{CreateGroup, EditGroup, MemberEdit};
use cohort_core::{Command, GroupId, Principal, Reply, Snapshot};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

type Params = Query<HashMap<String, String>>;

fn found(snap: &Snapshot, id: &str) -> Result<Arc<cohort_core::Group>, ScimError> {
    resource::find_group(snap, id).ok_or_else(|| ScimError::not_found(format!("No group {id:?}")))
}

fn answer(
    state: &AppState,
    snap: &Snapshot,
    client: &ScimClient,
    id: GroupId,
    select: &Select,
    status: StatusCode,
) -> Result<Response, ScimError> {
    let group = snap
        .group(id)
        .filter(|g| resource::visible_group(g))
        .ok_or_else(|| ScimError::not_found("The group is gone"))?;
    let location = resource::location(&client.base, Resource::Group, id.0);
    let body = resource::groups_bytes(
        &state.scim_groups,
        snap,
        &client.base,
        std::slice::from_ref(group),
        select,
    )
    .pop()
    .unwrap_or_default();
    let etag = resource::group_etag(group);
    let created = (status == StatusCode::CREATED).then_some(location.as_str());
    Ok(super::resource_response(status, body, &etag, created))
}

/// GET /scim/v2/Groups
pub async fn list(
    State(state): State<AppState>,
    client: ScimClient,
    Query(params): Params,
) -> Result<ScimBytes, ScimError> {
    search::list(&state, Resource::Group, client, params).await
}

/// POST /scim/v2/Groups/.search
pub async fn search(
    State(state): State<AppState>,
    client: ScimClient,
    ScimBody(body): ScimBody,
) -> Result<ScimBytes, ScimError> {
    let query = ListQuery::from_body(Resource::Group, &body)?;
    search::search(&state, Resource::Group, client, query)
}

/// GET /scim/v2/Groups/{id}
pub async fn get(
    State(state): State<AppState>,
    client: ScimClient,
    Path(id): Path<String>,
    Query(params): Params,
    headers: HeaderMap,
) -> Result<Response, ScimError> {
    let group = found(&client.snapshot, &id)?;
    let etag = resource::group_etag(&group);
    if super::not_modified(&headers, &etag) {
        return Ok(super::not_modified_response(&etag));
    }
    answer(
        &state,
        &client.snapshot,
        &client,
        group.id,
        &Select::from_params(Resource::Group, &params)?,
        StatusCode::OK,
    )
}

fn split(members: &[Principal]) -> (Vec<cohort_core::UserId>, Vec<GroupId>) {
    let mut users = Vec::new();
    let mut groups = Vec::new();
    for member in members {
        match member {
            Principal::User(u) => users.push(*u),
            Principal::Group(g) => groups.push(*g),
        }
    }
    (users, groups)
}

/// POST /scim/v2/Groups
pub async fn create(
    State(state): State<AppState>,
    client: ScimClient,
    Query(params): Params,
    ScimBody(body): ScimBody,
) -> Result<Response, ScimError> {
    let select = Select::from_params(Resource::Group, &params)?;
    let given = input::group(&client.snapshot, &body)?;
    let (members, subgroups) = split(&given.members);
    let command = Command::ProvisionGroup(CreateGroup {
        name: given.display_name.as_str().into(),
        description: String::new(),
        members,
        subgroups,
        settings: Vec::new(),
        key: None,
        avatar_url: None,
        external_id: given.external_id,
    });
    let done = client.execute(&state, command).await?;
    let Reply::Group(id) = done.reply else {
        return Err(ScimError::from(cohort_core::Error::Internal(
            "no group created".into(),
        )));
    };
    answer(
        &state,
        &done.snapshot,
        &client,
        id,
        &select,
        StatusCode::CREATED,
    )
}

/// PUT /scim/v2/Groups/{id}: the whole group, members included (missing
/// members means none).
pub async fn replace(
    State(state): State<AppState>,
    client: ScimClient,
    Path(id): Path<String>,
    Query(params): Params,
    headers: HeaderMap,
    ScimBody(body): ScimBody,
) -> Result<Response, ScimError> {
    let select = Select::from_params(Resource::Group, &params)?;
    let group = found(&client.snapshot, &id)?;
    if input::id_of(&body).is_some_and(|sent| sent != id) {
        return Err(ScimError::bad(ScimType::Mutability, "id cannot be changed"));
    }
    let given = input::group(&client.snapshot, &body)?;
    let command = Command::EditGroup(
        group.id,
        EditGroup {
            name: Some(given.display_name.as_str().into()),
            external_id: Some(given.external_id),
            members: vec![MemberEdit::Replace(given.members)],
            expect: super::if_match(&headers),
        },
    );
    let done = client.execute(&state, command).await?;
    answer(
        &state,
        &done.snapshot,
        &client,
        group.id,
        &select,
        StatusCode::OK,
    )
}

/// What a PATCH changed: the name, the external id, and the members it
/// added and removed.
fn changed(before: GroupInput, after: GroupInput, expect: Option<String>) -> EditGroup {
    let was: HashSet<Principal> = before.members.iter().copied().collect();
    let now: HashSet<Principal> = after.members.iter().copied().collect();
    let added: Vec<Principal> = after
        .members
        .iter()
        .filter(|m| !was.contains(m))
        .copied()
        .collect();
    let removed: Vec<Principal> = before
        .members
        .iter()
        .filter(|m| !now.contains(m))
        .copied()
        .collect();
    let mut members = Vec::new();
    if !removed.is_empty() {
        members.push(MemberEdit::Remove(removed));
    }
    if !added.is_empty() {
        members.push(MemberEdit::Add(added));
    }
    EditGroup {
        name: (before.display_name != after.display_name)
            .then(|| after.display_name.as_str().into()),
        external_id: (before.external_id != after.external_id).then_some(after.external_id),
        members,
        expect,
    }
}

/// PATCH /scim/v2/Groups/{id}
pub async fn patch(
    State(state): State<AppState>,
    client: ScimClient,
    Path(id): Path<String>,
    Query(params): Params,
    headers: HeaderMap,
    ScimBody(body): ScimBody,
) -> Result<Response, ScimError> {
    let select = Select::from_params(Resource::Group, &params)?;
    let group = found(&client.snapshot, &id)?;
    let ops = patch::parse(&body)?;
    let snap = &client.snapshot;
    let before = resource::group_doc(&group, snap, &client.base, true);
    let mut after = before.clone();
    let ignored = patch::apply(&mut after, Resource::Group, &ops)?;
    if !ignored.is_empty() {
        tracing::info!(?ignored, "PATCH named attributes cohort does not keep");
    }
    let expect = super::if_match(&headers);
    let edit = changed(
        input::group(snap, &before)?,
        input::group(snap, &after)?,
        expect,
    );
    // Even a PATCH that changes nothing goes to the core, which checks the
    // version and the caller (role groups are refused) and writes nothing.
    let done = client
        .execute(&state, Command::EditGroup(group.id, edit))
        .await?;
    answer(
        &state,
        &done.snapshot,
        &client,
        group.id,
        &select,
        StatusCode::OK,
    )
}

/// DELETE /scim/v2/Groups/{id}
pub async fn delete(
    State(state): State<AppState>,
    client: ScimClient,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ScimError> {
    let group = found(&client.snapshot, &id)?;
    client
        .execute(
            &state,
            Command::RemoveGroup(group.id, super::if_match(&headers)),
        )
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
