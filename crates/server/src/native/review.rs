//! `GET /cohort/v1/access-review`: who gained and who lost effective
//! membership of each group between two moments, and the changes that did it.
//! Paged by group (`limit` groups a page, by id); each page names each
//! responsible event, each user and each subgroup on a path once, in
//! `events`, `users` and `subgroups`, and the entries refer to them by id.

use super::audit::group_id;
use super::auth::Auditor;
use super::cursor::{Cursor, Direction, Position};
use super::error::{ErrorBody, NativeError};
use super::memberships::moment;
use super::params::{ensure_ordered, format_timestamp, next_url, with_next_link, Query};
use super::views::{review_view, EventView, GroupRef, GroupReviewView, ReviewRefs, UserRef};
use crate::AppState;
use axum::extract::{RawQuery, State};
use axum::response::{IntoResponse, Response};
use axum::Json;
use cohort_core::history::{History, ReviewPage};
use cohort_core::{GroupId, Millis, Version};
use cohort_engine::AuditRecord;
use serde::Serialize;
use std::collections::HashMap;
use utoipa::ToSchema;

/// Where the next page of a review starts: the two versions the first page
/// resolved (so a review "to now" stays the same review across pages) and
/// the last group reviewed.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct ReviewPosition {
    from: Version,
    to: Version,
    after: GroupId,
}

impl Position for ReviewPosition {
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.from.to_be_bytes());
        out.extend_from_slice(&self.to.to_be_bytes());
        out.extend_from_slice(&self.after.0.to_be_bytes());
    }

    fn decode(bytes: &[u8]) -> Option<Self> {
        let (from, rest) = bytes.split_first_chunk::<8>()?;
        let (to, rest) = rest.split_first_chunk::<8>()?;
        let after: [u8; 8] = rest.try_into().ok()?;
        Some(ReviewPosition {
            from: u64::from_be_bytes(*from),
            to: u64::from_be_bytes(*to),
            after: GroupId(i64::from_be_bytes(after)),
        })
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AccessReviewView {
    pub from: String,
    pub to: String,
    /// The realm's versions at the two moments (0: before the realm existed).
    pub from_version: u64,
    pub to_version: u64,
    /// Groups whose effective membership changed, by id.
    pub groups: Vec<GroupReviewView>,
    /// Every event a `because` on this page names, once, oldest first.
    pub events: Vec<EventView>,
    /// Every user an entry on this page names, once, by id, as they were at
    /// `to`.
    pub users: Vec<UserRef>,
    /// Every group a `via` on this page names, once, by id, as it was at
    /// `to` (at `from` if it was deleted in between).
    pub subgroups: Vec<GroupRef>,
    /// The next page's URL (also in the `Link` header), or null on the last.
    pub next: Option<String>,
    /// The cursor inside `next`.
    pub next_cursor: Option<String>,
}

#[utoipa::path(
    get,
    path = "/cohort/v1/access-review",
    tag = "memberships",
    operation_id = "access_review",
    params(
        ("from" = String, Query, description = "RFC 3339; the earlier moment (the last review)"),
        ("to" = Option<String>, Query, description = "RFC 3339; the later moment, default now; not before `from`"),
        ("group" = Option<i64>, Query, description = "Only this group"),
        ("limit" = Option<u32>, Query, description = "Groups per page: 1 to 1000, default 100"),
        ("cursor" = Option<String>, Query, description = "From a previous page's `next`; only with the same other parameters"),
    ),
    responses(
        (status = 200, description = "Gains and losses of effective membership, with the changes responsible", body = AccessReviewView),
        (status = 400, description = "A parameter or the cursor is not valid (`invalid_parameter`, `invalid_cursor`)", body = ErrorBody),
        (status = 404, description = "No such group in this realm (`not_found`)", body = ErrorBody),
    ),
)]
pub async fn get(
    State(state): State<AppState>,
    auditor: Auditor,
    RawQuery(raw): RawQuery,
) -> Result<Response, NativeError> {
    let view = review(&state, auditor.snapshot.realm_id(), raw.as_deref()).await?;
    let next = view.next.clone();
    Ok(with_next_link(Json(view).into_response(), next.as_deref()))
}

/// A page of the access review the query `raw` (this endpoint's
/// parameters) asks for, for any caller the face has let read it.
pub(crate) async fn review(
    state: &AppState,
    realm: cohort_core::RealmId,
    raw: Option<&str>,
) -> Result<AccessReviewView, NativeError> {
    let params = Query::parse(raw, &["from", "to", "group", "limit", "cursor"])?;
    let from = params
        .timestamp("from")?
        .ok_or_else(|| NativeError::invalid_parameter("from", "from is required"))?;
    let to = params.timestamp("to")?;
    ensure_ordered(("from", Some(from)), ("to", to))?;
    let limit = params.limit()? as usize;
    let scope = params.cursor_scope("access-review", realm);
    let cursor = params.cursor::<ReviewPosition>(&scope)?;
    let history = state.engine.history(realm).await?;
    let group = params
        .get("group")
        .map(|g| group_id(&history, g))
        .transpose()?;
    let (from_v, to_v, after) = match cursor {
        Some(c) => {
            let c = c.position;
            if c.to > history.version() || c.from > c.to {
                return Err(NativeError::invalid_cursor(
                    "The cursor points past the end of this realm's log",
                ));
            }
            if history.pruned_at().is_some_and(|(base, _)| c.from < base) {
                return Err(NativeError::invalid_cursor(
                    "The cursor has expired: the log it points into was pruned; start the review again",
                ));
            }
            (c.from, c.to, Some(c.after))
        }
        None => {
            let from_v = moment(&history, "from", from)?;
            let to_v = match to {
                Some(t) => moment(&history, "to", t)?,
                None => history.version(),
            };
            (from_v, to_v, None)
        }
    };
    let to_at = to.unwrap_or_else(|| history.commit(to_v).map_or(from, |c| c.at.max(from)));
    drop(history);
    let (history, page, causes) = state
        .engine
        .access_review(realm, (from_v, to_v), group, (after, limit))
        .await?;
    let next = page.next;
    let mut view = access_review_view(&history, page, &causes, (from, from_v), (to_at, to_v));
    view.next_cursor = next.map(|after| {
        Cursor::new(
            ReviewPosition {
                from: from_v,
                to: to_v,
                after,
            },
            Direction::Forward,
        )
        .encode(&scope)
    });
    view.next = view
        .next_cursor
        .as_ref()
        .map(|c| next_url("access-review", &params, c));
    Ok(view)
}

/// Render a page of a review between two (moment, version) pairs.
pub fn access_review_view(
    history: &History,
    page: ReviewPage,
    causes: &HashMap<Version, Vec<AuditRecord>>,
    (from, from_v): (Millis, Version),
    (to, to_v): (Millis, Version),
) -> AccessReviewView {
    let mut refs = ReviewRefs::default();
    let groups = page
        .groups
        .into_iter()
        .map(|r| review_view(history, r, (from_v, to_v), causes, &mut refs))
        .collect();
    let names = refs.render(history, causes, (from_v, to_v));
    AccessReviewView {
        from: format_timestamp(from),
        to: format_timestamp(to),
        from_version: from_v,
        to_version: to_v,
        groups,
        events: names.events,
        users: names.users,
        subgroups: names.subgroups,
        next: None,
        next_cursor: None,
    }
}
