//! The IMKIT face: IMKIT's server-side admin API (`/admin/groups`,
//! `/admin/clients`) over the same directory the Zulip face serves.
//!
//! Where each request is handled: `groups.rs` (`/admin/groups…`), `clients.rs`
//! (`/admin/clients…`); the dialect itself is in `error.rs` (the RC/RM
//! envelope), `query.rs` (the MongoDB-style `q`), `render.rs` (objects, pages)
//! and below (the `IM-API-KEY` check, JSON bodies, paging parameters).
//!
//! Ids: every group and client has a string `_id` (its key). Objects created
//! here keep the `_id` the caller chose; objects created through Zulip get their
//! integer id as a string. Groups and clients share one `_id` namespace.

mod clients;
mod error;
mod groups;
pub(crate) mod query;
pub(crate) mod render;

pub use error::ImkitError;

use crate::limits::Credential;
use crate::ops::{self, RequestContext};
use crate::AppState;
use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, MethodRouter};
use axum::Router;
use cohort_core::validate::{DEFAULT_PAGE, MAX_PAGE};
use cohort_core::{Actor, Command, Face, Snapshot};
use cohort_engine::{secrets, EngineError, Executed};
use serde_json::{Map, Value};
use std::sync::Arc;

pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/admin/groups",
            methods(get(groups::list).post(groups::put), &["GET", "POST"]),
        )
        .route(
            "/admin/groups/{id}",
            methods(get(groups::get).delete(groups::delete), &["DELETE", "GET"]),
        )
        .route(
            "/admin/clients",
            methods(get(clients::list).post(clients::put), &["GET", "POST"]),
        )
        .route(
            "/admin/clients/list",
            methods(post(clients::put_many), &["POST"]),
        )
        .route("/admin/clients/{id}", methods(get(clients::get), &["GET"]))
}

fn methods(
    router: MethodRouter<AppState>,
    allowed: &'static [&'static str],
) -> MethodRouter<AppState> {
    router.fallback(move |method: Method| async move {
        let mut response = if method == Method::OPTIONS {
            StatusCode::NO_CONTENT.into_response()
        } else {
            ImkitError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "Method Not Allowed",
                "METHOD_NOT_ALLOWED",
                format!("Use {}", allowed.join(" or ")),
            )
            .into_response()
        };
        if let Ok(value) = HeaderValue::from_str(&allowed.join(", ")) {
            response.headers_mut().insert(header::ALLOW, value);
        }
        response
    })
}

/// The realm whose platform key is in `IM-API-KEY`.
pub struct ImkitApp {
    pub snapshot: Arc<Snapshot>,
    /// The request's id and client, recorded with its writes.
    pub context: Option<RequestContext>,
}

impl FromRequestParts<AppState> for ImkitApp {
    type Rejection = ImkitError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ImkitError> {
        let key = parts
            .headers
            .get("im-api-key")
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .filter(|k| !k.is_empty());
        // Always hash, so a wrong key costs what a right one does.
        let Some(snapshot) =
            key.and_then(|key| state.engine.realm_for_platform_key(&secrets::hash_key(key)))
        else {
            return Err(state.limits.after_failure(
                parts,
                ImkitError::unauthorized(),
                ImkitError::rate_limited,
            ));
        };
        let who = Credential::Platform(snapshot.realm_id());
        state
            .limits
            .admit(who, snapshot.realm())
            .map_err(|l| ImkitError::rate_limited(&l))?;
        Ok(ImkitApp {
            snapshot,
            context: RequestContext::from_parts(parts),
        })
    }
}

impl ImkitApp {
    /// Run `command` through the write path as the platform, in this realm.
    pub async fn execute(
        &self,
        state: &AppState,
        command: Command,
    ) -> Result<Executed, EngineError> {
        let realm = self.snapshot.realm_id();
        let origin = ops::origin(self.context.as_ref(), Face::Imkit);
        state
            .engine
            .execute_from(realm, Actor::Platform, origin, command)
            .await
    }
}

/// A JSON object body (`Content-Type` is not insisted on: IMKIT's examples
/// send `application/json` with and without a charset).
pub struct JsonObject(pub Map<String, Value>);

impl<S: Send + Sync> FromRequest<S> for JsonObject {
    type Rejection = ImkitError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ImkitError> {
        let body = Bytes::from_request(req, state).await.map_err(|e| {
            if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ImkitError::body_too_large()
            } else {
                ImkitError::bad("INVALID_REQUEST", "Could not read the request body")
            }
        })?;
        match serde_json::from_slice::<Value>(&body) {
            Ok(Value::Object(map)) => Ok(JsonObject(map)),
            Ok(_) => Err(ImkitError::bad(
                "INVALID_REQUEST",
                "The request body must be a JSON object",
            )),
            Err(_) => Err(ImkitError::bad(
                "INVALID_REQUEST",
                "The request body is not valid JSON",
            )),
        }
    }
}

/// The `_id` in a path, or an IMKIT error when it does not decode.
pub struct KeyPath(pub String);

impl<S: Send + Sync> FromRequestParts<S> for KeyPath {
    type Rejection = ImkitError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ImkitError> {
        axum::extract::Path::<String>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Path(key)| KeyPath(key))
            .map_err(|_| ImkitError::invalid("the _id in the path is not valid UTF-8"))
    }
}

/// IMKIT's 404 for paths under `/admin` that match nothing.
pub async fn no_such_endpoint() -> ImkitError {
    ImkitError::not_found("NOT_FOUND", "No such endpoint")
}

/// Query-string parameters, decoded strictly.
pub struct QueryParams(pub Vec<(String, String)>);

impl<S: Send + Sync> FromRequestParts<S> for QueryParams {
    type Rejection = ImkitError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ImkitError> {
        let raw = parts.uri.query().unwrap_or("");
        crate::form::decode(raw.as_bytes())
            .map(QueryParams)
            .map_err(|_| ImkitError::invalid("query parameters are not valid UTF-8"))
    }
}

impl QueryParams {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    fn number(&self, name: &str, default: u64) -> Result<u64, ImkitError> {
        match self.get(name) {
            None => Ok(default),
            Some(text) => {
                let text = text.trim();
                if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(ImkitError::invalid(format!(
                        "{name} must be a non-negative integer"
                    )));
                }
                text.parse::<u64>()
                    .map_err(|_| ImkitError::invalid(format!("{name} is too large")))
            }
        }
    }

    /// `limit` and `skip`, with IMKIT's default and maximum page size.
    pub fn page(&self) -> Result<(usize, usize), ImkitError> {
        let limit = self.number("limit", DEFAULT_PAGE)?;
        if limit > MAX_PAGE {
            return Err(ImkitError::too_large_result(limit, MAX_PAGE));
        }
        let skip = self.number("skip", 0)?;
        let skip = usize::try_from(skip).map_err(|_| ImkitError::invalid("skip is too large"))?;
        Ok((limit as usize, skip))
    }
}

/// `{"RC": 0, "RM": "OK", "result": ...}`.
pub fn ok(result: Value) -> Response {
    axum::Json(serde_json::json!({"RC": 0, "RM": "OK", "result": result})).into_response()
}

/// An optional string field of a body: absent or null is `None`.
fn optional_string(body: &Map<String, Value>, field: &str) -> Result<Option<String>, ImkitError> {
    match body.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(ImkitError::invalid(format!("{field} must be a string"))),
    }
}

/// A list of client ids (`members`): an array of strings.
fn string_list(body: &Map<String, Value>, field: &str) -> Result<Option<Vec<String>>, ImkitError> {
    match body.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(i, item)| match item {
                Value::String(s) => Ok(s.clone()),
                _ => Err(ImkitError::invalid(format!(
                    "{field}[{i}] must be a string (a client _id)"
                ))),
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        Some(_) => Err(ImkitError::invalid(format!(
            "{field} must be an array of client ids"
        ))),
    }
}
