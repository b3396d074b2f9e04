//! The admin web page under `/ui/`: server-rendered HTML (maud templates
//! compiled into the binary), a small stylesheet and a small script for
//! progressive enhancement. Every page works without JavaScript; the script
//! adds search as you type and live updates.
//!
//! Signing in: `session.rs` (one-time login links from `cohort login-link`,
//! the email + API key form, server-side sessions, CSRF). Every page is
//! served to a `Viewer` (the signed-in user, checked against the snapshot on
//! every request) and every action runs *as that user* through the core;
//! what the page offers comes from `permission::group_rights`, the same
//! checks the commands make.
//!
//! What lives where: `layout.rs` (the page shell, shared bits of markup),
//! `error.rs` (`UiError`: an HTML page with the right status), `form.rs`
//! (posted forms, CSRF), `index.rs` (per-version sorted views of groups and
//! people, memoised effective members), `words.rs` (the core's errors in
//! plain words, with names), one module per page: `groups.rs` (the list and
//! creating), `group.rs` (a group and its actions), `people.rs`, `history.rs` (audit
//! trails, membership as of a moment, access reviews, CSV), `live.rs`
//! (the stream that tells pages the realm moved), `assets.rs`.

mod assets;
mod error;
pub(crate) mod form;
pub(crate) mod group;
pub(crate) mod groups;
pub(crate) mod history;
pub mod index;
mod layout;
mod live;
mod people;
mod session;
mod words;

use crate::limits::ByAddress;
use crate::AppState;
use axum::response::Redirect;
use axum::routing::{get, post};
use axum::Router;

pub(crate) use error::UiError;
pub use session::spawn_pruner as spawn_sign_in_pruner;

/// The face's path prefix.
pub const PREFIX: &str = "/ui";

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(|_: ByAddress| async { Redirect::to("/ui/") }))
        .route("/ui", get(|_: ByAddress| async { Redirect::to("/ui/") }))
        .route(
            "/ui/",
            get(|_: ByAddress| async { Redirect::to("/ui/groups") }),
        )
        .route("/ui/assets/{name}", get(assets::get))
        .route(
            "/ui/login",
            get(session::login_page).post(session::login_with_key),
        )
        .route(
            "/ui/login/{key}",
            get(session::link_page).post(session::login_with_link),
        )
        .route("/ui/logout", post(session::logout))
        .route("/ui/live", get(live::get))
        .route("/ui/groups", get(groups::list).post(groups::create))
        .route("/ui/groups/{id}", get(group::page))
        .route("/ui/groups/{id}/name", post(group::rename))
        .route("/ui/groups/{id}/description", post(group::describe))
        .route("/ui/groups/{id}/settings", post(group::settings))
        .route("/ui/groups/{id}/members", post(group::members))
        .route("/ui/groups/{id}/deactivate", post(group::deactivate))
        .route("/ui/groups/{id}/reactivate", post(group::reactivate))
        .route("/ui/groups/{id}/history", get(history::group))
        .route("/ui/groups/{id}/members.csv", get(history::members_csv))
        .route("/ui/people", get(people::list))
        .route("/ui/people/{id}", get(people::page))
        .route("/ui/people/{id}/history", get(history::person))
        .route("/ui/review", get(history::review))
        .route("/ui/review.csv", get(history::review_csv))
        .route("/ui/export.csv", get(history::export_csv))
}

/// Whether `path` belongs to this face (for its 404 page).
pub fn owns(path: &str) -> bool {
    path == PREFIX || path.starts_with("/ui/")
}

/// The face's 404: a page, not JSON.
pub fn not_found() -> error::UiError {
    error::UiError::not_found("page")
}
