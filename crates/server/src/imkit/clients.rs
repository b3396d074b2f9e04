//! `/admin/clients…`: list and search (`q`), create-or-update one or many,
//! get by `_id`.

use super::render::{client_json, page_response};
use super::{ok, optional_string, query, ImkitApp, ImkitError, JsonObject, KeyPath, QueryParams};
use crate::AppState;
use axum::extract::State;
use axum::response::Response;
use cohort_core::command::PutClient;
use cohort_core::filter::Filter;
use cohort_core::{Command, Principal, Reply};
use cohort_engine::secrets;
use serde_json::{json, Map, Value};

type ImkitResult = Result<Response, ImkitError>;

/// `GET /admin/clients?q=&limit=&skip=`: active clients matching `q`, in
/// creation order; `totalCount` counts every match.
pub async fn list(app: ImkitApp, query: QueryParams) -> ImkitResult {
    let (limit, skip) = query.page()?;
    let filter = match query.get("q").map(str::trim).filter(|q| !q.is_empty()) {
        Some(text) => query::compile(text)?,
        None => Filter::All,
    };
    let snap = app.snapshot;
    let mut total = 0;
    let mut page = Vec::with_capacity(limit);
    for user in snap
        .users()
        .filter(|u| u.active && filter.matches(&snap, &***u))
    {
        if total >= skip && page.len() < limit {
            page.push(client_json(user).to_string().into_bytes());
        }
        total += 1;
    }
    Ok(page_response(total, page.iter().map(Vec::as_slice)))
}

/// One client of a `POST /admin/clients` or `/admin/clients/list` body.
fn client_input(body: &Map<String, Value>) -> Result<PutClient, ImkitError> {
    let key = optional_string(body, "_id")?.ok_or_else(|| ImkitError::missing("_id"))?;
    // cohort keeps the directory; access tokens belong to the chat service.
    let wants_token = matches!(body.get("issueAccessToken"), Some(Value::Bool(true)))
        || body.get("token").is_some_and(|t| !t.is_null());
    if wants_token {
        return Err(ImkitError::bad(
            "TOKENS_NOT_SUPPORTED",
            "cohort keeps the directory only and issues no access tokens; drop issueAccessToken/token",
        ));
    }
    Ok(PutClient {
        key: key.into(),
        full_name: optional_string(body, "nickname")?,
        email: optional_string(body, "email")?.map(Into::into),
        avatar_url: optional_string(body, "avatarUrl")?,
        api_key: secrets::hash_key(&secrets::generate_key()),
    })
}

/// `POST /admin/clients`: create the client, or update the fields sent.
pub async fn put(
    State(state): State<AppState>,
    app: ImkitApp,
    JsonObject(body): JsonObject,
) -> ImkitResult {
    let client = client_input(&body)?;
    let done = app
        .execute(&state, Command::PutClients(vec![client]))
        .await?;
    let Reply::Users(ids) = done.reply else {
        return Err(ImkitError::internal());
    };
    let user = ids
        .first()
        .and_then(|id| done.snapshot.user(*id))
        .ok_or_else(ImkitError::internal)?;
    Ok(ok(client_json(user)))
}

/// `POST /admin/clients/list`: `{"data": [client, ...]}`, all or nothing.
pub async fn put_many(
    State(state): State<AppState>,
    app: ImkitApp,
    JsonObject(body): JsonObject,
) -> ImkitResult {
    let Some(Value::Array(items)) = body.get("data") else {
        return Err(ImkitError::invalid("data must be an array of clients"));
    };
    let mut clients = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let Value::Object(item) = item else {
            return Err(ImkitError::invalid(format!("data[{i}] must be an object")));
        };
        clients.push(client_input(item).map_err(|e| ImkitError {
            message: format!("data[{i}]: {}", e.message),
            ..e
        })?);
    }
    let count = clients.len();
    app.execute(&state, Command::PutClients(clients)).await?;
    Ok(ok(json!({ "count": count })))
}

/// `GET /admin/clients/{_id}` (a cohort extension; IMKIT's way is `q={"_id":…}`).
pub async fn get(app: ImkitApp, KeyPath(key): KeyPath) -> ImkitResult {
    let snap = app.snapshot;
    match snap.principal(&key).and_then(|p| match p {
        Principal::User(id) => snap.user(id).filter(|u| u.active),
        Principal::Group(_) => None,
    }) {
        Some(user) => Ok(ok(client_json(user))),
        None => {
            tracing::info!(key, "no such client");
            Err(ImkitError::client_not_found())
        }
    }
}
