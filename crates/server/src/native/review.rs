//! `GET /cohort/v1/access-review`: who gained and who lost effective
//! membership of each group between two moments, and the changes that did it.

use super::audit::group_id;
use super::auth::Auditor;
use super::error::{ErrorBody, NativeError};
use super::memberships::moment;
use super::params::{ensure_ordered, format_timestamp, Query};
use super::views::{review_view, GroupReviewView};
use crate::AppState;
use axum::extract::{RawQuery, State};
use axum::Json;
use cohort_core::history::{GroupReview, History};
use cohort_core::{Millis, Version};
use cohort_engine::AuditRecord;
use serde::Serialize;
use std::collections::HashMap;
use utoipa::ToSchema;

#[derive(Debug, Serialize, ToSchema)]
pub struct AccessReviewView {
    pub from: String,
    pub to: String,
    /// The realm's versions at the two moments (0: before the realm existed).
    pub from_version: u64,
    pub to_version: u64,
    /// Groups whose effective membership changed, by id.
    pub groups: Vec<GroupReviewView>,
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
    ),
    responses(
        (status = 200, description = "Gains and losses of effective membership, with the changes responsible", body = AccessReviewView),
        (status = 400, description = "A parameter is missing or not valid (`invalid_parameter`)", body = ErrorBody),
        (status = 404, description = "No such group in this realm (`not_found`)", body = ErrorBody),
    ),
)]
pub async fn get(
    State(state): State<AppState>,
    auditor: Auditor,
    RawQuery(raw): RawQuery,
) -> Result<Json<AccessReviewView>, NativeError> {
    let params = Query::parse(raw.as_deref(), &["from", "to", "group"])?;
    let from = params
        .timestamp("from")?
        .ok_or_else(|| NativeError::invalid_parameter("from", "from is required"))?;
    let to = params.timestamp("to")?;
    ensure_ordered(("from", Some(from)), ("to", to))?;
    let realm = auditor.snapshot.realm_id();
    let history = state.engine.history(realm).await?;
    let group = params
        .get("group")
        .map(|g| group_id(&history, g))
        .transpose()?;
    let from_v = moment(&history, "from", from)?;
    let (to_v, to_at) = match to {
        Some(t) => (moment(&history, "to", t)?, t),
        None => (
            history.version(),
            history
                .commit(history.version())
                .map_or(from, |c| c.at.max(from)),
        ),
    };
    drop(history);
    let (history, review, causes) = state
        .engine
        .access_review(realm, from_v, to_v, group)
        .await?;
    Ok(Json(access_review_view(
        &history,
        &review,
        &causes,
        (from, from_v),
        (to_at, to_v),
    )))
}

/// Render a review between two (moment, version) pairs.
pub fn access_review_view(
    history: &History,
    review: &[GroupReview],
    causes: &HashMap<Version, Vec<AuditRecord>>,
    (from, from_v): (Millis, Version),
    (to, to_v): (Millis, Version),
) -> AccessReviewView {
    AccessReviewView {
        from: format_timestamp(from),
        to: format_timestamp(to),
        from_version: from_v,
        to_version: to_v,
        groups: review
            .iter()
            .map(|r| review_view(history, r, from_v, to_v, causes))
            .collect(),
    }
}
