//! Signing in and out, and who is signed in. cohort keeps no passwords, so
//! there are two ways in: a one-time link from `cohort login-link` (its key
//! is used once, within minutes; opening the link shows a button, so a link
//! scanner that fetches it does not spend it), and the form taking an email
//! and that person's API key (the Zulip face's credentials).
//!
//! A session is a row in the store (only the cookie's SHA-256 is kept), so
//! it survives a restart and works on every node of one database. The
//! cookie is `HttpOnly; SameSite=Strict; Path=/ui`, `Secure` when cohort is
//! reached over HTTPS. Every request re-reads the user from the current
//! snapshot and asks the core whether they may use the page, so a
//! deactivation or a demotion to guest takes effect at once.

use super::error::UiError;
use super::form::{self, Posted};
use super::layout;
use super::words;
use crate::limits::{ByAddress, Credential};
use crate::ops::{self, RequestContext};
use crate::AppState;
use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use cohort_core::{
    permission, Actor, Command, Email, Face, Millis, RealmId, Snapshot, User, UserId,
};
use cohort_engine::{now_millis, secrets, EngineError, Executed};
use cohort_store::{Redeemed, Session};
use maud::{html, Markup};
use serde::Deserialize;
use std::sync::Arc;

pub const COOKIE: &str = "cohort_session";

/// The signed-in user, as of the snapshot this request is served from.
pub struct Viewer {
    pub snapshot: Arc<Snapshot>,
    pub user: Arc<User>,
    pub session: Session,
    pub context: Option<RequestContext>,
}

impl Viewer {
    pub fn actor(&self) -> Actor {
        Actor::User(self.user.id)
    }

    /// Whether the core lets this user read the history (audit trail).
    pub fn may_audit(&self) -> bool {
        permission::may_read_audit(&self.snapshot, self.actor()).is_ok()
    }

    /// The hidden field every form carries.
    pub fn csrf_field(&self) -> Markup {
        html! { input type="hidden" name="csrf" value=(self.session.csrf); }
    }

    /// Run `command` as this user, in their realm; the core decides.
    pub async fn execute(
        &self,
        state: &AppState,
        command: Command,
    ) -> Result<Executed, EngineError> {
        let origin = ops::origin(self.context.as_ref(), Face::Ui);
        state
            .engine
            .execute_from(self.snapshot.realm_id(), self.actor(), origin, command)
            .await
    }
}

fn cookie_value(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|pair| {
            let (name, value) = pair.trim().split_once('=')?;
            (name == COOKIE).then_some(value)
        })
}

impl FromRequestParts<AppState> for Viewer {
    type Rejection = UiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, UiError> {
        let viewer = match signed_in(parts, state).await {
            Ok(viewer) => viewer,
            Err(err @ UiError::SignIn { .. }) => {
                return Err(state
                    .limits
                    .after_failure(parts, err, UiError::rate_limited))
            }
            Err(err) => return Err(err),
        };
        state
            .limits
            .admit(
                Credential::Session(viewer.session.hash),
                viewer.snapshot.realm(),
            )
            .map_err(|l| UiError::rate_limited(&l))?;
        Ok(viewer)
    }
}

/// The session the cookie names, and its user, who may still use the page.
async fn signed_in(parts: &Parts, state: &AppState) -> Result<Viewer, UiError> {
    // After signing in, back to the page asked for (a form's target is
    // no page: its form's page is not known, so the group list).
    let next = match parts.method {
        axum::http::Method::GET => parts
            .uri
            .path_and_query()
            .map_or("/ui/groups", |p| p.as_str()),
        _ => "/ui/groups",
    }
    .to_string();
    let back = || UiError::SignIn { next: next.clone() };
    let key = cookie_value(&parts.headers).ok_or_else(back)?;
    if !secrets::is_well_formed_api_key(key) {
        return Err(back());
    }
    let session = state
        .engine
        .store()
        .session(secrets::hash_key(key), now_millis())
        .await?
        .ok_or_else(back)?;
    let snapshot = state.engine.snapshot(session.realm).ok_or_else(back)?;
    let user = snapshot.user(session.user).cloned().ok_or_else(back)?;
    permission::may_use_admin_page(&snapshot, user.id)
        .map_err(|e| UiError::forbidden(words::sentence(Some(&snapshot), &e)))?;
    Ok(Viewer {
        snapshot,
        user,
        session,
        context: RequestContext::from_parts(parts),
    })
}

/// Where to go after signing in: a page of this face only.
fn local_next(next: Option<&str>) -> String {
    match next {
        Some(n) if n.starts_with("/ui/") && !n.contains("//") && !n.contains('\\') => n.to_string(),
        _ => "/ui/groups".to_string(),
    }
}

#[derive(Deserialize)]
pub struct LoginQuery {
    next: Option<String>,
    signed_out: Option<String>,
}

fn login_form(next: &str, email: &str, error: Option<&str>, signed_out: bool) -> Markup {
    html! {
        @if signed_out { p.notice role="status" { "You are signed out." } }
        p {
            "Ask an operator for a sign-in link ("
            code { "cohort login-link --email you@example.com" }
            "), or sign in with your email and API key."
        }
        form.stack method="post" action="/ui/login" {
            input type="hidden" name="next" value=(next);
            label for="email" { "Email" }
            input #email type="email" name="email" value=(email) autocomplete="username" required maxlength="254"
                aria-describedby=[error.map(|_| "login-error")];
            label for="api_key" { "API key" }
            input #api_key type="password" name="api_key" autocomplete="current-password" required maxlength="64";
            (layout::field_error("login-error", error))
            button type="submit" { "Sign in" }
        }
    }
}

/// `GET /ui/login`.
pub async fn login_page(_: ByAddress, Query(q): Query<LoginQuery>) -> Response {
    let next = local_next(q.next.as_deref());
    layout::bare_with(
        "Sign in",
        login_form(&next, "", None, q.signed_out.is_some()),
        StatusCode::OK,
    )
}

/// `POST /ui/login`: email and API key, checked as the Zulip face checks them.
pub async fn login_with_key(
    _: ByAddress,
    State(state): State<AppState>,
    context: Option<Extension<RequestContext>>,
    headers: HeaderMap,
    posted: Posted,
) -> Result<Response, UiError> {
    form::same_origin(&headers)?;
    let next = local_next(posted.get("next"));
    let email = posted.get("email").unwrap_or("");
    let key = posted.get("api_key").unwrap_or("");
    let refused = |message: &str| {
        layout::bare_with(
            "Sign in",
            login_form(&next, email, Some(message), false),
            StatusCode::UNAUTHORIZED,
        )
    };
    let found = secrets::is_well_formed_api_key(key)
        .then(|| state.engine.user_for_key(&secrets::hash_key(key)))
        .flatten()
        .filter(|(_, user)| {
            user.active
                && user
                    .email
                    .as_deref()
                    .is_some_and(|mine| Email::same(mine, email))
        });
    let Some((snapshot, user)) = found else {
        return Ok(refused(
            "That email and API key do not match an active account.",
        ));
    };
    if let Err(e) = permission::may_use_admin_page(&snapshot, user.id) {
        return Ok(refused(&words::sentence(Some(&snapshot), &e)));
    }
    open(
        &state,
        context.as_deref(),
        snapshot.realm_id(),
        user.id,
        &next,
    )
    .await
}

fn link_refused(status: StatusCode, message: String) -> Response {
    layout::bare_with(
        "This sign-in link cannot be used",
        html! {
            p { (message) }
            p { "Ask an operator for a new one, or " a href="/ui/login" { "sign in with your API key" } "." }
        },
        status,
    )
}

/// `GET /ui/login/{key}`: a button that spends the link (a GET never does).
pub async fn link_page(_: ByAddress, Path(key): Path<String>) -> Response {
    if !secrets::is_well_formed_api_key(&key) {
        return link_refused(
            StatusCode::NOT_FOUND,
            "This is not a valid sign-in link.".into(),
        );
    }
    layout::bare_with(
        "Sign in",
        html! {
            p { "This link signs you in once." }
            form method="post" action=(format!("/ui/login/{key}")) {
                button type="submit" autofocus { "Continue and sign in" }
            }
        },
        StatusCode::OK,
    )
}

fn when(at: Millis) -> String {
    crate::native::params::format_timestamp(at)
}

/// `POST /ui/login/{key}`: spend the link, open a session.
pub async fn login_with_link(
    _: ByAddress,
    State(state): State<AppState>,
    context: Option<Extension<RequestContext>>,
    headers: HeaderMap,
    Path(key): Path<String>,
) -> Result<Response, UiError> {
    form::same_origin(&headers)?;
    if !secrets::is_well_formed_api_key(&key) {
        return Ok(link_refused(
            StatusCode::NOT_FOUND,
            "This is not a valid sign-in link.".into(),
        ));
    }
    let now = now_millis();
    match state
        .engine
        .store()
        .redeem_login_link(secrets::hash_key(&key), now)
        .await?
    {
        Redeemed::Opened { realm, user } => {
            let snapshot = state
                .engine
                .snapshot(realm)
                .ok_or_else(|| UiError::not_found("organization"))?;
            if let Err(e) = permission::may_use_admin_page(&snapshot, user) {
                return Ok(link_refused(
                    StatusCode::FORBIDDEN,
                    words::sentence(Some(&snapshot), &e),
                ));
            }
            open(&state, context.as_deref(), realm, user, "/ui/groups").await
        }
        Redeemed::AlreadyUsed { at } => Ok(link_refused(
            StatusCode::GONE,
            format!(
                "This sign-in link was already used (at {}). Each link works once.",
                when(at)
            ),
        )),
        Redeemed::Expired { at } => Ok(link_refused(
            StatusCode::GONE,
            format!("This sign-in link expired at {}.", when(at)),
        )),
        Redeemed::Unknown => Ok(link_refused(
            StatusCode::NOT_FOUND,
            "This is not a valid sign-in link.".into(),
        )),
    }
}

/// Whether the browser reached cohort over HTTPS (directly, through a
/// trusted proxy saying so — `ops::track` decides — or as its public URL
/// says).
fn over_tls(state: &AppState, context: Option<&RequestContext>) -> bool {
    state
        .config
        .public_url
        .as_deref()
        .is_some_and(|u| u.starts_with("https://"))
        || context.is_some_and(RequestContext::https)
}

/// Start a session for `user` and send the browser to `next`.
async fn open(
    state: &AppState,
    context: Option<&RequestContext>,
    realm: RealmId,
    user: UserId,
    next: &str,
) -> Result<Response, UiError> {
    let key = secrets::generate_key();
    let now = now_millis();
    let life = state.config.ui_session;
    let session = Session {
        hash: secrets::hash_key(&key),
        realm,
        user,
        csrf: secrets::generate_key(),
        created_at: now,
        expires_at: now.saturating_add(i64::try_from(life.as_millis()).unwrap_or(i64::MAX)),
    };
    state.engine.store().create_session(session).await?;
    let secure = if over_tls(state, context) {
        "; Secure"
    } else {
        ""
    };
    let cookie = format!(
        "{COOKIE}={key}; Path=/ui; HttpOnly; SameSite=Strict; Max-Age={}{secure}",
        life.as_secs()
    );
    redirect_with_cookie(next, &cookie)
}

fn redirect_with_cookie(to: &str, cookie: &str) -> Result<Response, UiError> {
    let mut response =
        (StatusCode::SEE_OTHER, [(header::LOCATION, to.to_string())]).into_response();
    let value = HeaderValue::from_str(cookie).map_err(|_| UiError::internal())?;
    response.headers_mut().insert(header::SET_COOKIE, value);
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

/// `POST /ui/logout`: the session ends here and now, on every node.
pub async fn logout(
    State(state): State<AppState>,
    viewer: Viewer,
    headers: HeaderMap,
    posted: Posted,
) -> Result<Response, UiError> {
    form::check(&viewer, &headers, &posted)?;
    state
        .engine
        .store()
        .end_session(viewer.session.hash)
        .await?;
    redirect_with_cookie(
        "/ui/login?signed_out=1",
        &format!("{COOKIE}=; Path=/ui; HttpOnly; SameSite=Strict; Max-Age=0"),
    )
}

/// How often expired links and sessions are removed from the store.
const PRUNE_EVERY: std::time::Duration = std::time::Duration::from_secs(600);

/// Remove expired login links and sessions now and every `PRUNE_EVERY`
/// until the server closes (they are refused when expired anyway; this
/// keeps the tables small). On PostgreSQL every node prunes; the deletes
/// are idempotent.
pub fn spawn_pruner(
    engine: Arc<cohort_engine::Engine>,
    mut closing: tokio::sync::watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            match engine.store().prune_sign_ins(now_millis()).await {
                Ok(0) => {}
                Ok(n) => tracing::debug!(rows = n, "admin page: expired sign-ins pruned"),
                Err(err) => tracing::warn!(%err, "admin page: pruning expired sign-ins failed"),
            }
            tokio::select! {
                _ = tokio::time::sleep(PRUNE_EVERY) => {}
                _ = closing.changed() => return,
            }
        }
    })
}
