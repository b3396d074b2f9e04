//! `ZulipUser`: HTTP Basic `email:api_key`, checked in Zulip's order and with
//! Zulip's messages. The key alone finds the user (a hash lookup); the email
//! must then match. A wrong key and a right key cost the same work: one SHA-256
//! and one map lookup.

use super::error::ZulipError;
use crate::limits::Credential;
use crate::ops::{self, RequestContext};
use crate::AppState;
use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use base64::Engine as _;
use cohort_core::permission::{self, Gate};
use cohort_core::{Actor, Command, Email, Face, Snapshot, User};
use cohort_engine::{secrets, EngineError, Executed};
use std::sync::Arc;

/// The authenticated caller and the snapshot their request is served from.
pub struct ZulipUser {
    pub snapshot: Arc<Snapshot>,
    pub user: Arc<User>,
    /// The request's id and client, recorded with its writes.
    pub context: Option<RequestContext>,
}

impl FromRequestParts<AppState> for ZulipUser {
    type Rejection = ZulipError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ZulipError> {
        // As Zulip: the user's budget is charged after authentication; a
        // failed attempt is charged to the address.
        match authenticate(parts, state) {
            Ok(caller) => {
                let who = Credential::User(caller.user.id);
                state
                    .limits
                    .admit(who, caller.snapshot.realm())
                    .map_err(|l| ZulipError::rate_limited(&l))?;
                Ok(caller)
            }
            Err(err) => Err(state
                .limits
                .after_failure(parts, err, ZulipError::rate_limited)),
        }
    }
}

fn authenticate(parts: &Parts, state: &AppState) -> Result<ZulipUser, ZulipError> {
    let header = parts.headers.get(AUTHORIZATION).ok_or_else(|| {
        ZulipError::unauthorized("Not logged in: API authentication or user session required")
    })?;
    let header = header
        .to_str()
        .map_err(|_| ZulipError::unauthorized("Invalid authorization header for basic auth"))?;
    let mut tokens = header.split_ascii_whitespace();
    let (scheme, credentials) = (tokens.next().unwrap_or(""), tokens.next());
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(ZulipError::bad_request(
            "This endpoint requires HTTP basic authentication.",
        ));
    }
    let invalid_header = || ZulipError::unauthorized("Invalid authorization header for basic auth");
    let credentials = match (credentials, tokens.next()) {
        (Some(c), None) => c,
        _ => return Err(invalid_header()),
    };
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(credentials)
        .map_err(|_| invalid_header())?;
    let decoded = String::from_utf8(decoded).map_err(|_| invalid_header())?;
    let mut pieces = decoded.split(':');
    let (email, key) = match (pieces.next(), pieces.next(), pieces.next()) {
        (Some(email), Some(key), None) => (email.trim(), key.trim()),
        _ => return Err(invalid_header()),
    };
    if !secrets::is_well_formed_api_key(key) {
        return Err(ZulipError::unauthorized("Malformed API key"));
    }
    let hash = secrets::hash_key(key);
    let (snapshot, user) = state
        .engine
        .user_for_key(&hash)
        .ok_or_else(|| ZulipError::unauthorized("Invalid API key"))?;
    let matches = user
        .email
        .as_deref()
        .is_some_and(|mine| Email::same(mine, email));
    if !matches {
        return Err(ZulipError::unauthorized("Invalid API key"));
    }
    if !user.active {
        return Err(ZulipError::unauthorized("Account is deactivated"));
    }
    Ok(ZulipUser {
        snapshot,
        user,
        context: RequestContext::from_parts(parts),
    })
}

impl ZulipUser {
    /// Run the core's `gate` for this caller now, before the request's
    /// parameters are read, so errors come in Zulip's order (the core runs
    /// it again in `execute`; reads rely on this call alone).
    pub fn gate(&self, gate: Gate) -> Result<(), ZulipError> {
        permission::check_gate(&self.snapshot, Actor::User(self.user.id), gate)?;
        Ok(())
    }

    /// Run `command` through the write path as this caller, in their realm.
    pub async fn execute(
        &self,
        state: &AppState,
        command: Command,
    ) -> Result<Executed, EngineError> {
        let actor = Actor::User(self.user.id);
        let origin = ops::origin(self.context.as_ref(), Face::Zulip);
        state
            .engine
            .execute_from(self.snapshot.realm_id(), actor, origin, command)
            .await
    }
}
