//! Who calls the native API. `NativeCaller` authenticates: a person with their
//! Zulip credentials over HTTP Basic (`email:api_key`, looked up exactly as the
//! Zulip face does, through `Engine::user_for_key`), or a realm API token as
//! `Authorization: Bearer cohort_…` (through `Engine::token_for_key`).
//! `Auditor` is a `NativeCaller` that the core lets read the audit
//! (`permission::may_read_audit`); the face decides nothing itself.
//!
//! Missing or wrong credentials are 401 with both challenges; a known caller
//! without the right is 403. A wrong key costs what a right one does: one
//! SHA-256 and one map lookup.

use super::error::NativeError;
use crate::limits::Credential;
use crate::ops::{self, RequestContext};
use crate::AppState;
use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use base64::Engine as _;
use cohort_core::{permission, Actor, Command, Email, Face, Snapshot, Token, User};
use cohort_engine::{secrets, Executed};
use std::sync::Arc;

/// The authenticated principal.
#[derive(Clone, Debug)]
pub enum Caller {
    User(Arc<User>),
    Token(Token),
}

/// An authenticated caller and the snapshot of their realm the request is
/// served from.
pub struct NativeCaller {
    pub snapshot: Arc<Snapshot>,
    pub caller: Caller,
    /// The request behind a write, for its commit's origin.
    pub context: Option<RequestContext>,
}

impl NativeCaller {
    pub fn actor(&self) -> Actor {
        match &self.caller {
            Caller::User(user) => Actor::User(user.id),
            Caller::Token(token) => Actor::Token(token.id),
        }
    }

    /// Run `command` as this caller, in its realm; the core decides.
    pub async fn execute(
        &self,
        state: &AppState,
        command: Command,
    ) -> Result<Executed, NativeError> {
        let origin = ops::origin(self.context.as_ref(), Face::Native);
        Ok(state
            .engine
            .execute_from(self.snapshot.realm_id(), self.actor(), origin, command)
            .await?)
    }
}

fn invalid() -> NativeError {
    NativeError::unauthorized("The credentials are not valid")
}

impl FromRequestParts<AppState> for NativeCaller {
    type Rejection = NativeError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, NativeError> {
        let mut caller = authenticate(parts, state).map_err(|err| {
            state
                .limits
                .after_failure(parts, err, NativeError::rate_limited)
        })?;
        let who = match &caller.caller {
            Caller::User(user) => Credential::User(user.id),
            Caller::Token(token) => Credential::Token(token.id),
        };
        state
            .limits
            .admit(who, caller.snapshot.realm())
            .map_err(|l| NativeError::rate_limited(&l))?;
        caller.context = RequestContext::from_parts(parts);
        Ok(caller)
    }
}

fn authenticate(parts: &Parts, state: &AppState) -> Result<NativeCaller, NativeError> {
    let header = parts.headers.get(AUTHORIZATION).ok_or_else(|| {
        NativeError::unauthorized(
            "Authentication required: HTTP Basic (email and API key) or a Bearer token",
        )
    })?;
    let header = header.to_str().map_err(|_| invalid())?.trim();
    let (scheme, credentials) = header.split_once(' ').ok_or_else(invalid)?;
    let credentials = credentials.trim();
    if scheme.eq_ignore_ascii_case("basic") {
        basic(credentials, state)
    } else if scheme.eq_ignore_ascii_case("bearer") {
        bearer(credentials, state)
    } else {
        Err(invalid())
    }
}

/// `email:api_key`, checked as the Zulip face checks it.
fn basic(credentials: &str, state: &AppState) -> Result<NativeCaller, NativeError> {
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(credentials)
        .map_err(|_| invalid())?;
    let decoded = String::from_utf8(decoded).map_err(|_| invalid())?;
    let (email, key) = decoded.split_once(':').ok_or_else(invalid)?;
    let (email, key) = (email.trim(), key.trim());
    if !secrets::is_well_formed_api_key(key) {
        return Err(invalid());
    }
    let (snapshot, user) = state
        .engine
        .user_for_key(&secrets::hash_key(key))
        .ok_or_else(invalid)?;
    let matches = user
        .email
        .as_deref()
        .is_some_and(|mine| Email::same(mine, email));
    // A deactivated account's key opens nothing (as on the Zulip face).
    if !matches || !user.active {
        return Err(invalid());
    }
    Ok(NativeCaller {
        snapshot,
        caller: Caller::User(user),
        context: None,
    })
}

/// A realm API token; the engine only returns live ones.
fn bearer(presented: &str, state: &AppState) -> Result<NativeCaller, NativeError> {
    if presented.is_empty() {
        return Err(invalid());
    }
    let (snapshot, token) = state
        .engine
        .token_for_key(&secrets::hash_key(presented))
        .ok_or_else(invalid)?;
    Ok(NativeCaller {
        snapshot,
        caller: Caller::Token(token),
        context: None,
    })
}

/// A caller the core lets read the audit trail; every endpoint of this face
/// but the OpenAPI document takes one.
pub struct Auditor(pub NativeCaller);

impl std::ops::Deref for Auditor {
    type Target = NativeCaller;
    fn deref(&self) -> &NativeCaller {
        &self.0
    }
}

impl FromRequestParts<AppState> for Auditor {
    type Rejection = NativeError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, NativeError> {
        let caller = NativeCaller::from_request_parts(parts, state).await?;
        permission::may_read_audit(&caller.snapshot, caller.actor())?;
        Ok(Auditor(caller))
    }
}

/// A caller the core lets manage webhook endpoints and read their delivery
/// logs (`permission::may_manage_webhooks`).
pub struct WebhookManager(pub NativeCaller);

impl std::ops::Deref for WebhookManager {
    type Target = NativeCaller;
    fn deref(&self) -> &NativeCaller {
        &self.0
    }
}

impl FromRequestParts<AppState> for WebhookManager {
    type Rejection = NativeError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, NativeError> {
        let caller = NativeCaller::from_request_parts(parts, state).await?;
        permission::may_manage_webhooks(&caller.snapshot, caller.actor())?;
        Ok(WebhookManager(caller))
    }
}
