//! The Zulip face: `/api/v1`, speaking Zulip's dialect (HTTP Basic, form values
//! holding JSON, `{"result": ...}` envelopes, Zulip's messages and codes).
//!
//! Where each request is handled:
//! - `groups.rs`: `/user_groups…` (list, create, update, deactivate, members, subgroups)
//! - `users.rs`: `/users…`
//! - `realm.rs`: `PATCH /realm`, `GET /server_settings`
//! - `events/`: `POST /register`, `GET /events`, `DELETE /events` (the
//!   real-time events API and its queues)
//! - `auth.rs`, `params.rs`, `envelope.rs`, `views.rs`, `error.rs`: the dialect
//!   itself (the cached `GET /user_groups` body is in the crate's `cache/`).
//!
//! Handlers only translate: parse, call the core (reads) or the engine (writes),
//! render. Rules live in `cohort_core`.

mod auth;
mod envelope;
pub(crate) mod error;
pub mod events;
mod groups;
pub(crate) mod params;
mod realm;
mod users;
pub(crate) mod views;

pub use error::ZulipError;

use crate::AppState;
use axum::extract::{FromRequestParts, RawPathParams};
use axum::http::request::Parts;
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, patch, post, MethodRouter};
use axum::Router;

/// Zulip's API feature level that cohort's user-group API matches (see README).
pub const FEATURE_LEVEL: u32 = 458;
pub const ZULIP_VERSION: &str = concat!("12.0-dev+cohort-", env!("CARGO_PKG_VERSION"));

pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/api/v1/server_settings",
            methods(get(realm::server_settings), &["GET"]),
        )
        .route(
            "/api/v1/realm",
            methods(patch(realm::update_realm), &["PATCH"]),
        )
        .route(
            "/api/v1/register",
            methods(post(events::register), &["POST"]),
        )
        .route(
            "/api/v1/events",
            methods(
                get(events::get_events).delete(events::delete_queue),
                &["DELETE", "GET"],
            ),
        )
        .route("/api/v1/user_groups", methods(get(groups::list), &["GET"]))
        .route(
            "/api/v1/user_groups/create",
            methods(post(groups::create), &["POST"]),
        )
        .route(
            "/api/v1/user_groups/{group}",
            methods(patch(groups::update), &["PATCH"]),
        )
        .route(
            "/api/v1/user_groups/{group}/deactivate",
            methods(post(groups::deactivate), &["POST"]),
        )
        .route(
            "/api/v1/user_groups/{group}/members",
            methods(
                get(groups::members).post(groups::change_members),
                &["GET", "POST"],
            ),
        )
        .route(
            "/api/v1/user_groups/{group}/members/{user}",
            methods(get(groups::is_member), &["GET"]),
        )
        .route(
            "/api/v1/user_groups/{group}/subgroups",
            methods(
                get(groups::subgroups).post(groups::change_subgroups),
                &["GET", "POST"],
            ),
        )
        .route(
            "/api/v1/users",
            methods(get(users::list).post(users::create), &["GET", "POST"]),
        )
        .route(
            "/api/v1/users/me",
            methods(
                get(users::me).delete(users::deactivate_me),
                &["DELETE", "GET"],
            ),
        )
        .route(
            "/api/v1/users/{user}",
            methods(
                get(users::get)
                    .patch(users::update)
                    .delete(users::deactivate),
                &["DELETE", "GET", "PATCH"],
            ),
        )
        .route(
            "/api/v1/users/{user}/reactivate",
            methods(post(users::reactivate), &["POST"]),
        )
}

/// Zulip answers a known path with an unknown method with 405 and the allowed
/// methods (before authentication), and `OPTIONS` with 204 and `Allow`.
fn methods(
    router: MethodRouter<AppState>,
    allowed: &'static [&'static str],
) -> MethodRouter<AppState> {
    router.fallback(move |method: Method, params: RawPathParams| async move {
        if !params
            .iter()
            .all(|(name, value)| path_segment_matches(name, value))
        {
            return ZulipError::not_found().into_response();
        }
        if method == Method::OPTIONS {
            let mut response = StatusCode::NO_CONTENT.into_response();
            if let Ok(value) = HeaderValue::from_str(&allowed.join(", ")) {
                response.headers_mut().insert(header::ALLOW, value);
            }
            return response;
        }
        ZulipError::method_not_allowed(allowed).into_response()
    })
}

/// An id in the path: digits only (anything else matches no Zulip route);
/// numbers too large for any id are simply unknown.
fn path_id(raw: &str) -> Result<i64, ZulipError> {
    if raw.is_empty() || !raw.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ZulipError::not_found());
    }
    Ok(raw.parse::<i64>().unwrap_or(i64::MAX))
}

/// Whether a path segment can match Zulip's routes at all: an integer, or (for
/// `/users/{email}`) an email address.
fn path_segment_matches(name: &str, value: &str) -> bool {
    path_id(value).is_ok() || (name == "user" && value.contains('@'))
}

/// The ids in a request's path, checked before authentication (as routing is
/// in Zulip): a segment that is not a number is a 404.
pub struct PathIds(pub Vec<i64>);

impl<S: Send + Sync> FromRequestParts<S> for PathIds {
    type Rejection = ZulipError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ZulipError> {
        let params = RawPathParams::from_request_parts(parts, state)
            .await
            .map_err(|_| ZulipError::not_found())?;
        params
            .iter()
            .map(|(_, value)| path_id(value))
            .collect::<Result<_, _>>()
            .map(PathIds)
    }
}

/// `/users/{user}`: an id, or an email address where Zulip routes one.
pub enum UserRef {
    Id(i64),
    Email(String),
}

impl<S: Send + Sync> FromRequestParts<S> for UserRef {
    type Rejection = ZulipError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ZulipError> {
        let params = RawPathParams::from_request_parts(parts, state)
            .await
            .map_err(|_| ZulipError::not_found())?;
        let value = params
            .iter()
            .next()
            .map(|(_, v)| v.to_string())
            .unwrap_or_default();
        match path_id(&value) {
            Ok(id) => Ok(UserRef::Id(id)),
            Err(_) if value.contains('@') => Ok(UserRef::Email(value)),
            Err(not_found) => Err(not_found),
        }
    }
}

type ZulipResult = Result<Response, ZulipError>;
