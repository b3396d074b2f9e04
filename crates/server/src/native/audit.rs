//! `GET /cohort/v1/audit`: the realm's audit trail, filtered and paged.
//! The filters become an `AuditQuery` (the core decides what matches), the
//! engine finds and derives the events, and this file renders them.

use super::auth::Auditor;
use super::cursor::{Cursor, Direction, LogPosition};
use super::error::{ErrorBody, NativeError};
use super::params::{ensure_ordered, next_url, with_next_link, Query};
use super::views::{event_view, EventView};
use crate::AppState;
use axum::extract::{RawQuery, State};
use axum::response::{IntoResponse, Response};
use axum::Json;
use cohort_core::audit::{AuditQuery, EventId, EventKind};
use cohort_core::history::History;
use cohort_core::{Actor, Face, GroupId, UserId};
use serde::Serialize;
use utoipa::ToSchema;

const PARAMS: &[&str] = &[
    "since", "until", "actor", "group", "user", "type", "face", "order", "limit", "cursor",
];

/// A page of the audit trail.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditPageView {
    pub events: Vec<EventView>,
    /// The next page's URL (also in the `Link` header), or null on the last.
    pub next: Option<String>,
    /// The cursor inside `next`.
    pub next_cursor: Option<String>,
}

#[utoipa::path(
    get,
    path = "/cohort/v1/audit",
    tag = "audit",
    operation_id = "list_audit_events",
    params(
        ("since" = Option<String>, Query, description = "RFC 3339; events at or after this moment"),
        ("until" = Option<String>, Query, description = "RFC 3339; events at or before this moment (not before `since`)"),
        ("actor" = Option<String>, Query, description = "`user:ID`, `token:NAME`, `platform`, `operator` or `system`"),
        ("group" = Option<i64>, Query, description = "Events naming this group (as the group or as a subgroup)"),
        ("user" = Option<i64>, Query, description = "Events naming this user, memberships included"),
        ("type" = Option<String>, Query, description = "Comma-separated event types, e.g. `group.member_added,group.member_removed`"),
        ("face" = Option<String>, Query, description = "`zulip`, `imkit`, `scim`, `native`, `ui`, `cli` or `system`"),
        ("order" = Option<String>, Query, description = "`oldest` (default) or `newest` first"),
        ("limit" = Option<u32>, Query, description = "1 to 1000, default 100"),
        ("cursor" = Option<String>, Query, description = "From a previous page's `next`; only with the same other parameters"),
    ),
    responses(
        (status = 200, description = "A page of events", body = AuditPageView),
        (status = 400, description = "A parameter or the cursor is not valid (`invalid_parameter`, `invalid_cursor`)", body = ErrorBody),
        (status = 404, description = "The group, user or actor is not in this realm (`not_found`)", body = ErrorBody),
    ),
)]
pub async fn list(
    State(state): State<AppState>,
    auditor: Auditor,
    RawQuery(raw): RawQuery,
) -> Result<Response, NativeError> {
    let body = page(&state, auditor.snapshot.realm_id(), raw.as_deref()).await?;
    let next = body.next.clone();
    Ok(with_next_link(Json(body).into_response(), next.as_deref()))
}

/// A page of the realm's audit trail for the query `raw` (this endpoint's
/// parameters), for any caller the face has let read it.
pub(crate) async fn page(
    state: &AppState,
    realm: cohort_core::RealmId,
    raw: Option<&str>,
) -> Result<AuditPageView, NativeError> {
    let params = Query::parse(raw, PARAMS)?;
    let since = params.timestamp("since")?;
    let until = params.timestamp("until")?;
    ensure_ordered(("since", since), ("until", until))?;
    let limit = params.limit()? as usize;
    let newest_first = match params.get("order") {
        None | Some("oldest") => false,
        Some("newest") => true,
        Some(_) => {
            return Err(NativeError::invalid_parameter(
                "order",
                "order must be oldest or newest",
            ))
        }
    };
    let scope = params.cursor_scope("audit", realm);
    let cursor = params.cursor::<LogPosition>(&scope)?;
    let direction = if newest_first {
        Direction::Backward
    } else {
        Direction::Forward
    };
    if cursor.is_some_and(|c| c.direction != direction) {
        return Err(NativeError::invalid_cursor(
            "The cursor was issued for the other order",
        ));
    }
    let history = state.engine.history(realm).await?;
    let mut query = AuditQuery {
        from: since.map_or(1, |t| history.first_version_from(t)),
        to: match until {
            // Before the realm existed: nothing.
            Some(t) => history.version_at(t).unwrap_or(0),
            None => history.version(),
        },
        newest_first,
        ..AuditQuery::default()
    };
    query.group = params
        .get("group")
        .map(|g| group_id(&history, g))
        .transpose()?;
    query.user = params
        .get("user")
        .map(|u| user_id(&history, u))
        .transpose()?;
    query.actor = params
        .get("actor")
        .map(|a| actor(&history, a))
        .transpose()?;
    query.face = params
        .get("face")
        .map(|f| {
            Face::parse(f).ok_or_else(|| {
                NativeError::invalid_parameter(
                    "face",
                    "face must be zulip, imkit, scim, native, ui, cli or system",
                )
            })
        })
        .transpose()?;
    if let Some(types) = params.get("type") {
        query.kinds = EventKind::bits_of(types).map_err(|name| {
            NativeError::invalid_parameter(
                "type",
                format!("unknown event type {name:?}; the OpenAPI document lists them"),
            )
        })?;
    }
    if let Some(c) = &cursor {
        if c.position.version > history.version() {
            return Err(NativeError::invalid_cursor(
                "The cursor points past the end of this realm's log",
            ));
        }
        if history
            .pruned_at()
            .is_some_and(|(base, _)| c.position.version <= base)
        {
            return Err(NativeError::invalid_cursor(
                "The cursor has expired: the log it points into was pruned; start the query again",
            ));
        }
    }
    drop(history);
    let after = cursor.map(|c| EventId {
        version: c.position.version,
        index: c.position.index,
    });
    let (history, page) = state.engine.audit(realm, &query, after, limit).await?;
    let events = page
        .records
        .iter()
        .map(|r| event_view(&history, r))
        .collect();
    let next_cursor = page.next.map(|id| {
        Cursor::new(
            LogPosition {
                version: id.version,
                index: id.index,
            },
            direction,
        )
        .encode(&scope)
    });
    let next = next_cursor.as_ref().map(|c| next_url("audit", &params, c));
    Ok(AuditPageView {
        events,
        next,
        next_cursor,
    })
}

fn number(param: &str, text: &str) -> Result<i64, NativeError> {
    text.parse::<i64>()
        .map_err(|_| NativeError::invalid_parameter(param, format!("{param} must be an id")))
}

/// A group of this realm (ever): another realm's ids are simply unknown.
pub fn group_id(history: &History, text: &str) -> Result<GroupId, NativeError> {
    let id = GroupId(number("group", text)?);
    match history.group(id) {
        Some(_) => Ok(id),
        None => Err(NativeError::not_found(format!(
            "No group {id} in this realm"
        ))),
    }
}

pub fn user_id(history: &History, text: &str) -> Result<UserId, NativeError> {
    let id = UserId(number("user", text)?);
    match history.user(id) {
        Some(_) => Ok(id),
        None => Err(NativeError::not_found(format!(
            "No user {id} in this realm"
        ))),
    }
}

fn actor(history: &History, text: &str) -> Result<Actor, NativeError> {
    let bad = || {
        NativeError::invalid_parameter(
            "actor",
            "actor must be user:ID, token:NAME, platform, operator or system",
        )
    };
    match text.split_once(':') {
        None => match text {
            "platform" => Ok(Actor::Platform),
            "operator" => Ok(Actor::Operator),
            "system" => Ok(Actor::System),
            _ => Err(bad()),
        },
        Some(("user", id)) => {
            let id = UserId(number("actor", id)?);
            match history.user(id) {
                Some(_) => Ok(Actor::User(id)),
                None => Err(NativeError::not_found(format!(
                    "No user {id} in this realm"
                ))),
            }
        }
        Some(("token", name)) => history
            .realm_at(history.version())
            .and_then(|r| r.tokens.iter().rev().find(|t| t.name == name).map(|t| t.id))
            .map(Actor::Token)
            .ok_or_else(|| NativeError::not_found(format!("No token {name:?} in this realm"))),
        Some(_) => Err(bad()),
    }
}
