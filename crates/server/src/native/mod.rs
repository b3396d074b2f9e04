//! The native admin API under `/cohort/v1`: cohort's own API for audits (the
//! realm, its change history, memberships as of a time, access reviews,
//! exports, the event stream) and for webhook endpoints. Callers are owners
//! and administrators with their Zulip credentials, or realm API tokens with
//! `audit:read` (`events`, `webhooks` for those parts); who may do what is
//! the core's rule (`permission::may_read_audit`, `may_manage_webhooks`).
//!
//! What lives where: `auth.rs` (`NativeCaller`, `Auditor`: the credentials),
//! `error.rs` (`NativeError`: `{"code", "message", "param"?}` and the code
//! vocabulary), `params.rs` (`Query`: strict query parameters, timestamps,
//! `limit`), `cursor.rs` (opaque paging cursors bound to realm and query),
//! `openapi.rs` (the OpenAPI 3.1 document, generated from the handlers).
//! One module per resource holds its handlers: `realm.rs`, `audit.rs`,
//! `webhooks.rs`, ….
//!
//! Adding an endpoint (`GET /cohort/v1/audit`, say): a handler file taking
//! an `Auditor` and `RawQuery` (parsed with `Query::parse` and the names it
//! accepts), annotated with `#[utoipa::path]`; its route below, wrapped in
//! `methods`; its handler and response schemas in `openapi.rs`'s `ApiDoc`.

pub(crate) mod audit;
mod auth;
pub(crate) mod cursor;
pub(crate) mod error;
pub(crate) mod export;
pub mod export_writer;
pub mod memberships;
mod openapi;
pub mod params;
mod realm;
pub mod review;
pub(crate) mod stream;
pub mod views;
mod webhooks;

pub(crate) use error::NativeError;

use crate::AppState;
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post, MethodRouter};
use axum::Router;

/// The face's path prefix.
pub const PREFIX: &str = "/cohort/v1";

pub fn router() -> Router<AppState> {
    let read_only = |handler: MethodRouter<AppState>| methods(handler, "GET");
    Router::new()
        .route(openapi::DOCUMENT_PATH, read_only(get(openapi::document)))
        .route("/cohort/v1/realm", read_only(get(realm::get)))
        .route("/cohort/v1/audit", read_only(get(audit::list)))
        .route(
            "/cohort/v1/groups/{id}/members",
            read_only(get(memberships::group_members)),
        )
        .route(
            "/cohort/v1/users/{id}/groups",
            read_only(get(memberships::user_groups)),
        )
        .route("/cohort/v1/access-review", read_only(get(review::get)))
        .route("/cohort/v1/export", read_only(get(export::get)))
        .route("/cohort/v1/stream", read_only(get(stream::get)))
        .route(
            "/cohort/v1/webhooks",
            methods(get(webhooks::list).post(webhooks::create), "GET, POST"),
        )
        .route(
            "/cohort/v1/webhooks/{id}",
            methods(
                get(webhooks::get)
                    .patch(webhooks::update)
                    .delete(webhooks::remove),
                "GET, PATCH, DELETE",
            ),
        )
        .route(
            "/cohort/v1/webhooks/{id}/rotate-secret",
            methods(post(webhooks::rotate), "POST"),
        )
        .route(
            "/cohort/v1/webhooks/{id}/deliveries",
            methods(get(webhooks::deliveries), "GET"),
        )
        .route(
            "/cohort/v1/webhooks/{id}/deliveries/{event}/resend",
            methods(post(webhooks::resend), "POST"),
        )
        .route(
            "/cohort/v1/webhooks/{id}/recover",
            methods(post(webhooks::recover), "POST"),
        )
}

/// Whether `path` belongs to this face (for the 404 of unknown paths).
pub fn owns(path: &str) -> bool {
    path == "/cohort" || path.starts_with("/cohort/")
}

/// 405 (with `Allow`) for other methods, 204 for `OPTIONS`, in this face's
/// format.
fn methods(router: MethodRouter<AppState>, allowed: &'static str) -> MethodRouter<AppState> {
    router.fallback(move |method: Method| async move {
        if method == Method::OPTIONS {
            let mut response = StatusCode::NO_CONTENT.into_response();
            response
                .headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static(allowed));
            response
        } else {
            NativeError::method_not_allowed(allowed).into_response()
        }
    })
}

/// Any other path under the prefix.
pub async fn no_such_endpoint() -> NativeError {
    NativeError::not_found(format!(
        "No such endpoint; GET {PREFIX}/openapi.json lists them"
    ))
}
