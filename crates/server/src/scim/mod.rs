//! The SCIM 2.0 face (RFC 7643/7644) under `/scim/v2`: identity providers
//! (Okta, Microsoft Entra, any SCIM client) provision users and groups into
//! the same directory the other faces serve, with a realm API token.
//!
//! Where each request is handled: `discovery.rs` (`/ServiceProviderConfig`,
//! `/ResourceTypes`, `/Schemas`), `users.rs` (`/Users…`), `groups.rs`
//! (`/Groups…`), `search.rs` (list queries and every `/.search`). The dialect
//! itself: `schema.rs` (what the resources hold, which the discovery documents
//! are rendered from), `resource.rs` (directory records → SCIM JSON, attribute
//! selection, versions), `input.rs` (SCIM JSON → the core's commands),
//! `patch.rs` (PATCH operations), `filter/` (the filter grammar) and
//! `compile.rs` (filters → the core's filter algebra), `error.rs`. Below: the
//! bearer-token check, bodies, and the `application/scim+json` response.
//!
//! Ids: a resource's `id` is its directory id as a decimal string. Users and
//! groups share one id space, so a member `value` names one or the other.

pub(crate) mod compile;
mod discovery;
mod error;
pub(crate) mod filter;
mod groups;
pub(crate) mod input;
pub(crate) mod patch;
pub(crate) mod resource;
pub(crate) mod schema;
pub(crate) mod search;
mod users;

pub use error::ScimError;
pub use search::PageKey;

use crate::limits::{ByAddress, Credential};
use crate::ops::{self, RequestContext};
use crate::AppState;
use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post, MethodRouter};
use axum::Router;
use cohort_core::{Actor, Command, Face, Scope, Snapshot, Token};
use cohort_engine::{secrets, Executed};
use error::ScimType;
use serde_json::{Map, Value};
use std::sync::Arc;

/// A cached group rendering: (group, with members, base URL).
pub type GroupKey = (cohort_core::GroupId, bool, Arc<str>);

/// A body already rendered to JSON, served as `application/scim+json`.
pub struct ScimBytes(pub Bytes);

impl IntoResponse for ScimBytes {
    fn into_response(self) -> Response {
        (
            [(header::CONTENT_TYPE, HeaderValue::from_static(MEDIA_TYPE))],
            self.0,
        )
            .into_response()
    }
}

/// The face's path prefix.
pub const PREFIX: &str = "/scim/v2";

pub fn router() -> Router<AppState> {
    let read_only = |handler: MethodRouter<AppState>| methods(handler, "GET");
    Router::new()
        .route(
            "/scim/v2/ServiceProviderConfig",
            read_only(get(discovery::service_provider_config)),
        )
        .route(
            "/scim/v2/ResourceTypes",
            read_only(get(discovery::resource_types)),
        )
        .route(
            "/scim/v2/ResourceTypes/{name}",
            read_only(get(discovery::resource_type)),
        )
        .route("/scim/v2/Schemas", read_only(get(discovery::schemas)))
        .route("/scim/v2/Schemas/{urn}", read_only(get(discovery::schema)))
        .route(
            "/scim/v2/Users",
            methods(get(users::list).post(users::create), "GET, POST"),
        )
        .route(
            "/scim/v2/Users/.search",
            methods(post(users::search), "POST"),
        )
        .route(
            "/scim/v2/Users/{id}",
            methods(
                get(users::get)
                    .put(users::replace)
                    .patch(users::patch)
                    .delete(users::delete),
                "GET, PUT, PATCH, DELETE",
            ),
        )
        .route(
            "/scim/v2/Groups",
            methods(get(groups::list).post(groups::create), "GET, POST"),
        )
        .route(
            "/scim/v2/Groups/.search",
            methods(post(groups::search), "POST"),
        )
        .route(
            "/scim/v2/Groups/{id}",
            methods(
                get(groups::get)
                    .put(groups::replace)
                    .patch(groups::patch)
                    .delete(groups::delete),
                "GET, PUT, PATCH, DELETE",
            ),
        )
        .route("/scim/v2/.search", methods(post(search::root), "POST"))
        .route("/scim/v2/Me", any(not_implemented))
        .route("/scim/v2/Bulk", any(not_implemented))
}

/// 405 (with `Allow`) for other methods, 204 for `OPTIONS`, in SCIM's format.
fn methods(router: MethodRouter<AppState>, allowed: &'static str) -> MethodRouter<AppState> {
    router.fallback(move |method: Method| async move {
        let mut response = if method == Method::OPTIONS {
            StatusCode::NO_CONTENT.into_response()
        } else {
            ScimError::method_not_allowed(allowed).into_response()
        };
        response
            .headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static(allowed));
        response
    })
}

async fn not_implemented(_: ByAddress) -> ScimError {
    ScimError::new(
        StatusCode::NOT_IMPLEMENTED,
        None,
        "Not supported by this service provider (see /ServiceProviderConfig)",
    )
}

/// Any other path under the prefix.
pub async fn no_such_endpoint() -> ScimError {
    ScimError::not_found("No such SCIM endpoint")
}

/// A JSON body served as `application/scim+json`.
pub struct ScimJson(pub Value);

pub const MEDIA_TYPE: &str = "application/scim+json";

impl IntoResponse for ScimJson {
    fn into_response(self) -> Response {
        let body = serde_json::to_vec(&self.0).unwrap_or_default();
        (
            [(header::CONTENT_TYPE, HeaderValue::from_static(MEDIA_TYPE))],
            body,
        )
            .into_response()
    }
}

/// The realm a bearer token opens, and the token (which must hold `scim`).
pub struct ScimClient {
    pub snapshot: Arc<Snapshot>,
    pub token: Token,
    /// The absolute URL of `/scim/v2` as this client reaches it, for
    /// `meta.location` and `$ref`s.
    pub base: Arc<str>,
    /// The request's id and client, recorded with its writes.
    pub context: Option<RequestContext>,
}

impl FromRequestParts<AppState> for ScimClient {
    type Rejection = ScimError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ScimError> {
        let client = authenticate(parts, state).map_err(|err| {
            state
                .limits
                .after_failure(parts, err, ScimError::rate_limited)
        })?;
        state
            .limits
            .admit(Credential::Token(client.token.id), client.snapshot.realm())
            .map_err(|l| ScimError::rate_limited(&l))?;
        cohort_core::permission::require_scope(&client.snapshot, client.actor(), Scope::Scim)?;
        Ok(client)
    }
}

fn authenticate(parts: &Parts, state: &AppState) -> Result<ScimClient, ScimError> {
    let presented = parts
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, rest) = v.trim().split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
        })
        .ok_or_else(ScimError::unauthorized)?;
    // Always hash, so a wrong token costs what a right one does; the
    // lookup is by hash, so timing tells nothing about the secret.
    let hash = secrets::hash_key(presented);
    let (snapshot, token) = state
        .engine
        .token_for_key(&hash)
        .ok_or_else(ScimError::unauthorized)?;
    let base = base_url(&parts.headers, state);
    Ok(ScimClient {
        snapshot,
        token,
        base,
        context: RequestContext::from_parts(parts),
    })
}

/// `--public-url` if set, else `http://` and the request's `Host`.
fn base_url(headers: &HeaderMap, state: &AppState) -> Arc<str> {
    if let Some(url) = &state.config.public_url {
        return Arc::from(format!("{}{PREFIX}", url.trim_end_matches('/')));
    }
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| !h.is_empty() && h.bytes().all(|b| b.is_ascii_graphic()))
        .unwrap_or("localhost");
    Arc::from(format!("http://{host}{PREFIX}"))
}

impl ScimClient {
    pub fn actor(&self) -> Actor {
        Actor::Token(self.token.id)
    }

    /// Run `command` as this token, in its realm.
    pub async fn execute(&self, state: &AppState, command: Command) -> Result<Executed, ScimError> {
        let realm = self.snapshot.realm_id();
        let origin = ops::origin(self.context.as_ref(), Face::Scim);
        Ok(state
            .engine
            .execute_from(realm, self.actor(), origin, command)
            .await?)
    }
}

/// A resource answer: the body, its `ETag`, and `Location` when created.
pub fn resource_response(
    status: StatusCode,
    body: Bytes,
    etag: &str,
    location: Option<&str>,
) -> Response {
    let mut response = (status, ScimBytes(body)).into_response();
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(etag) {
        headers.insert(header::ETAG, value);
    }
    if let Some(value) = location.and_then(|l| HeaderValue::from_str(l).ok()) {
        headers.insert(header::LOCATION, value);
    }
    response
}

/// The version an `If-Match` asks for (`*` asks for none).
pub fn if_match(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::IF_MATCH)?.to_str().ok()?.trim();
    (value != "*" && !value.is_empty()).then(|| resource::tag_from_header(value))
}

/// Whether `If-None-Match` names the current version (→ 304).
pub fn not_modified(headers: &HeaderMap, etag: &str) -> bool {
    let Some(value) = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let current = resource::tag_from_header(etag);
    value
        .split(',')
        .any(|v| v.trim() == "*" || resource::tag_from_header(v) == current)
}

/// 304 with the current `ETag`.
pub fn not_modified_response(etag: &str) -> Response {
    let mut response = StatusCode::NOT_MODIFIED.into_response();
    if let Ok(value) = HeaderValue::from_str(etag) {
        response.headers_mut().insert(header::ETAG, value);
    }
    response
}

/// A JSON object body. `application/scim+json` and `application/json` (what
/// Okta and most clients send) are both accepted; so is a missing type.
pub struct ScimBody(pub Map<String, Value>);

impl<S: Send + Sync> FromRequest<S> for ScimBody {
    type Rejection = ScimError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ScimError> {
        let content_type = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|v| {
                v.split(';')
                    .next()
                    .unwrap_or("")
                    .trim()
                    .to_ascii_lowercase()
            });
        if let Some(kind) = content_type.as_deref() {
            if kind != MEDIA_TYPE && kind != "application/json" && !kind.is_empty() {
                return Err(ScimError::new(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    None,
                    "Send application/scim+json (or application/json)",
                ));
            }
        }
        let body = Bytes::from_request(req, state).await.map_err(|e| {
            if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ScimError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    None,
                    "The request body is too large",
                )
            } else {
                ScimError::bad(ScimType::InvalidSyntax, "Could not read the request body")
            }
        })?;
        match serde_json::from_slice::<Value>(&body) {
            Ok(Value::Object(map)) => Ok(ScimBody(map)),
            Ok(_) => Err(ScimError::bad(
                ScimType::InvalidSyntax,
                "The request body must be a JSON object",
            )),
            Err(e) => Err(ScimError::bad(
                ScimType::InvalidSyntax,
                format!("The request body is not valid JSON: {e}"),
            )),
        }
    }
}
