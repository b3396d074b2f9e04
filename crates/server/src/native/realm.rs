//! `GET /cohort/v1/realm`: the realm the caller belongs to, at the version
//! the answer was read from, and who the caller is.

use super::auth::{Auditor, Caller};
use super::error::{ErrorBody, NativeError};
use super::params::Query;
use axum::extract::RawQuery;
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;

/// The caller's realm.
#[derive(Debug, Serialize, ToSchema)]
pub struct RealmView {
    /// The realm's id.
    pub id: i64,
    pub name: String,
    /// The realm's version (the number of commits in its change log) this
    /// answer was read at.
    #[schema(minimum = 1)]
    pub version: u64,
    pub caller: CallerView,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CallerKind {
    /// A person, with their email and API key.
    User,
    /// A realm API token.
    Token,
}

/// Who is calling.
#[derive(Debug, Serialize, ToSchema)]
pub struct CallerView {
    pub kind: CallerKind,
    /// The user's or the token's id.
    pub id: i64,
    /// The user's full name, or the token's name.
    pub name: String,
}

/// The caller's realm, its version, and who the caller is.
#[utoipa::path(
    get,
    path = "/cohort/v1/realm",
    tag = "realm",
    operation_id = "get_realm",
    responses(
        (status = 200, description = "The caller's realm", body = RealmView),
        (status = 400, description = "A query parameter was sent; this endpoint takes none (`invalid_parameter`)", body = ErrorBody),
    ),
)]
pub async fn get(
    auditor: Auditor,
    RawQuery(raw): RawQuery,
) -> Result<Json<RealmView>, NativeError> {
    Query::parse(raw.as_deref(), &[])?;
    let snap = &auditor.snapshot;
    let caller = match &auditor.caller {
        Caller::User(user) => CallerView {
            kind: CallerKind::User,
            id: user.id.0,
            name: user.full_name.clone(),
        },
        Caller::Token(token) => CallerView {
            kind: CallerKind::Token,
            id: token.id.0,
            name: snap
                .realm()
                .token(token.id)
                .map_or_else(|| token.name.clone(), |t| t.name.clone()),
        },
    };
    Ok(Json(RealmView {
        id: snap.realm_id().0,
        name: snap.realm().name.clone(),
        version: snap.version(),
        caller,
    }))
}
