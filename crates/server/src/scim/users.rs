//! `/scim/v2/Users`: list and query, create, read, replace, modify, delete.
//! A user's DELETE deactivates it for every face and hides it from SCIM
//! (404 afterwards); `active: false` deactivates and keeps it visible.

use super::error::{ScimError, ScimType};
use super::input::{self, UserInput};
use super::resource::{self, Select};
use super::schema::Resource;
use super::search::{self, ListQuery};
use super::{patch, ScimBody, ScimBytes, ScimClient};
use crate::AppState;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use cohort_core::command::{EditUser, ProvisionUser};
use cohort_core::{Command, Reply, Snapshot, UserId};
use cohort_engine::secrets;
use std::collections::HashMap;

type Params = Query<HashMap<String, String>>;

fn found(snap: &Snapshot, id: &str) -> Result<std::sync::Arc<cohort_core::User>, ScimError> {
    resource::find_user(snap, id).ok_or_else(|| ScimError::not_found(format!("No user {id:?}")))
}

/// The user as it is in `snap`, answered with `status`.
fn answer(
    snap: &Snapshot,
    client: &ScimClient,
    id: UserId,
    select: &Select,
    status: StatusCode,
) -> Result<Response, ScimError> {
    let user = snap
        .user(id)
        .filter(|u| resource::visible_user(u))
        .ok_or_else(|| ScimError::not_found("The user is gone"))?;
    let location = resource::location(&client.base, Resource::User, id.0);
    let body = serde_json::to_vec(&resource::user_json(user, snap, &client.base, select))
        .unwrap_or_default()
        .into();
    let etag = resource::user_etag(user);
    let created = (status == StatusCode::CREATED).then_some(location.as_str());
    Ok(super::resource_response(status, body, &etag, created))
}

/// GET /scim/v2/Users
pub async fn list(
    State(state): State<AppState>,
    client: ScimClient,
    Query(params): Params,
) -> Result<ScimBytes, ScimError> {
    search::list(&state, Resource::User, client, params).await
}

/// POST /scim/v2/Users/.search
pub async fn search(
    State(state): State<AppState>,
    client: ScimClient,
    ScimBody(body): ScimBody,
) -> Result<ScimBytes, ScimError> {
    let query = ListQuery::from_body(Resource::User, &body)?;
    search::search(&state, Resource::User, client, query)
}

/// GET /scim/v2/Users/{id}
pub async fn get(
    client: ScimClient,
    Path(id): Path<String>,
    Query(params): Params,
    headers: HeaderMap,
) -> Result<Response, ScimError> {
    let user = found(&client.snapshot, &id)?;
    let etag = resource::user_etag(&user);
    if super::not_modified(&headers, &etag) {
        return Ok(super::not_modified_response(&etag));
    }
    answer(
        &client.snapshot,
        &client,
        user.id,
        &Select::from_params(Resource::User, &params)?,
        StatusCode::OK,
    )
}

/// POST /scim/v2/Users
pub async fn create(
    State(state): State<AppState>,
    client: ScimClient,
    Query(params): Params,
    ScimBody(body): ScimBody,
) -> Result<Response, ScimError> {
    let select = Select::from_params(Resource::User, &params)?;
    let given = input::user(&body)?;
    let command = Command::ProvisionUser(ProvisionUser {
        user_name: given.user_name.as_str().into(),
        display_name: given.display_name,
        given_name: given.given_name,
        family_name: given.family_name,
        emails: given.emails,
        external_id: given.external_id,
        active: given.active.unwrap_or(true),
        // Nobody knows this key; an operator hands out a real one if the
        // user is to use the Zulip API.
        api_key: secrets::hash_key(&secrets::generate_key()),
    });
    let done = client.execute(&state, command).await?;
    let Reply::User(id) = done.reply else {
        return Err(ScimError::from(cohort_core::Error::Internal(
            "no user created".into(),
        )));
    };
    answer(&done.snapshot, &client, id, &select, StatusCode::CREATED)
}

/// Every attribute of a PUT (missing ones become unassigned; `active`
/// missing stays as it is).
fn replacing(given: UserInput, expect: Option<String>) -> EditUser {
    EditUser {
        user_name: Some(given.user_name.as_str().into()),
        display_name: Some(given.display_name),
        given_name: Some(given.given_name),
        family_name: Some(given.family_name),
        emails: Some(given.emails),
        external_id: Some(given.external_id),
        active: given.active,
        expect,
    }
}

/// Only what a PATCH changed, so a concurrent change to another attribute
/// through another face is kept.
fn changed(before: UserInput, after: UserInput, expect: Option<String>) -> EditUser {
    fn diff<T: PartialEq>(before: T, after: T) -> Option<T> {
        (before != after).then_some(after)
    }
    EditUser {
        user_name: diff(before.user_name, after.user_name).map(|n| n.as_str().into()),
        display_name: diff(before.display_name, after.display_name),
        given_name: diff(before.given_name, after.given_name),
        family_name: diff(before.family_name, after.family_name),
        emails: diff(before.emails, after.emails),
        external_id: diff(before.external_id, after.external_id),
        active: diff(before.active, after.active).flatten(),
        expect,
    }
}

/// PUT /scim/v2/Users/{id}
pub async fn replace(
    State(state): State<AppState>,
    client: ScimClient,
    Path(id): Path<String>,
    Query(params): Params,
    headers: HeaderMap,
    ScimBody(body): ScimBody,
) -> Result<Response, ScimError> {
    let select = Select::from_params(Resource::User, &params)?;
    let user = found(&client.snapshot, &id)?;
    if let Some(sent) = input::id_of(&body) {
        if sent != id {
            return Err(ScimError::bad(ScimType::Mutability, "id cannot be changed"));
        }
    }
    let command = Command::EditUser(
        user.id,
        replacing(input::user(&body)?, super::if_match(&headers)),
    );
    let done = client.execute(&state, command).await?;
    answer(&done.snapshot, &client, user.id, &select, StatusCode::OK)
}

/// PATCH /scim/v2/Users/{id}: the operations applied to the user as SCIM
/// shows it, then what changed sent as one command (all or nothing).
pub async fn patch(
    State(state): State<AppState>,
    client: ScimClient,
    Path(id): Path<String>,
    Query(params): Params,
    headers: HeaderMap,
    ScimBody(body): ScimBody,
) -> Result<Response, ScimError> {
    let select = Select::from_params(Resource::User, &params)?;
    let user = found(&client.snapshot, &id)?;
    let ops = patch::parse(&body)?;
    let before = resource::user_doc(&user, &client.snapshot, &client.base, false);
    let mut after = before.clone();
    let ignored = patch::apply(&mut after, Resource::User, &ops)?;
    if !ignored.is_empty() {
        tracing::info!(?ignored, "PATCH named attributes cohort does not keep");
    }
    let expect = super::if_match(&headers);
    let edit = changed(input::user(&before)?, input::user(&after)?, expect);
    // Even a PATCH that changes nothing goes to the core, which checks the
    // version and the caller and then writes nothing.
    let done = client
        .execute(&state, Command::EditUser(user.id, edit))
        .await?;
    answer(&done.snapshot, &client, user.id, &select, StatusCode::OK)
}

/// DELETE /scim/v2/Users/{id}
pub async fn delete(
    State(state): State<AppState>,
    client: ScimClient,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ScimError> {
    let user = found(&client.snapshot, &id)?;
    client
        .execute(
            &state,
            Command::DeleteUser(user.id, super::if_match(&headers)),
        )
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
