//! `GET /ui/people`: everyone in the organization, searched by name or
//! email, paged by keyset; `GET /ui/people/{id}`: one person's role and
//! status, the groups they are directly in, and every group they reach
//! through subgroups, with the chain that grants each.

use super::error::UiError;
use super::form::Posted;
use super::groups::{search_length, MAX_SEARCH};
use super::index::cursor;
use super::layout::{self, Section};
use super::session::Viewer;
use crate::AppState;
use axum::extract::{Path, RawQuery, State};
use axum::response::Response;
use cohort_core::UserId;
use maud::html;

const PER_PAGE: usize = 50;

fn list_url(q: &str, after: Option<&str>) -> String {
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    if !q.is_empty() {
        query.append_pair("q", q);
    }
    if let Some(after) = after {
        query.append_pair("after", after);
    }
    let query = query.finish();
    if query.is_empty() {
        "/ui/people".into()
    } else {
        format!("/ui/people?{query}")
    }
}

/// `GET /ui/people`.
pub async fn list(
    State(state): State<AppState>,
    viewer: Viewer,
    RawQuery(raw): RawQuery,
) -> Result<Response, UiError> {
    let p = Posted::parse(raw.as_deref().unwrap_or("").as_bytes());
    let q = p.get("q").unwrap_or("").to_string();
    search_length(&q)?;
    let after = p.get("after").filter(|a| !a.is_empty());
    let position = match after {
        Some(a) => Some(
            cursor::parse(a)
                .ok_or_else(|| UiError::bad_request("after is not a page position."))?,
        ),
        None => None,
    };
    let snap = &viewer.snapshot;
    let index = state.ui_index.get(snap);
    let needle = q.to_lowercase();
    let matching: Vec<_> = index
        .people()
        .iter()
        .filter(|p| needle.is_empty() || p.haystack.contains(&needle))
        .collect();
    let start = position.map_or(0, |(id, key)| {
        matching.partition_point(|p| (p.key.as_str(), p.id.0) <= (key, id))
    });
    let end = (start + PER_PAGE).min(matching.len());
    let shown = &matching[start..end];
    let next = (end < matching.len())
        .then(|| shown.last().map(|p| cursor::make(p.id.0, &p.key)))
        .flatten();
    let body = html! {
        form.search role="search" method="get" action="/ui/people" data-live-search="#people-results" {
            label for="q" { "Search people" }
            input #q type="search" name="q" value=(q) maxlength=(MAX_SEARCH) autocomplete="off" placeholder="Name or email";
            button type="submit" { "Search" }
        }
        div #people-results {
            p.count { (layout::count(matching.len())) @if matching.len() == 1 { " person" } @else { " people" } }
            table.people {
                caption.sr { "People, by name" }
                thead { tr { th scope="col" { "Name" } th scope="col" { "Email" } th scope="col" { "Role" } th scope="col" { "Status" } } }
                tbody {
                    @for row in shown {
                        @if let Some(user) = snap.user(row.id) {
                            tr {
                                th scope="row" { (layout::user_link(snap, row.id)) }
                                td { (layout::email(user)) }
                                td { (layout::role_label(user.role)) @if user.is_bot { " (bot)" } }
                                td { @if user.active { "Active" } @else { span.badge.off { "deactivated" } } }
                            }
                        }
                    }
                }
            }
            @if shown.is_empty() { p { "Nobody matches." } }
            (layout::pager("People pages", after.map(|_| list_url(&q, None)), next.as_deref().map(|n| list_url(&q, Some(n)))))
        }
    };
    Ok(layout::page(&viewer, Section::People, "People", body))
}

/// `GET /ui/people/{id}`.
pub async fn page(
    State(_state): State<AppState>,
    viewer: Viewer,
    Path(id): Path<String>,
) -> Result<Response, UiError> {
    let snap = &viewer.snapshot;
    let user = id
        .parse::<i64>()
        .ok()
        .and_then(|id| snap.user(UserId(id)))
        .ok_or_else(|| UiError::not_found("person"))?;
    let reach = snap.groups_with_via(user.id);
    let direct: Vec<_> = reach.iter().filter(|(_, via)| via.is_empty()).collect();
    let body = html! {
        @if viewer.may_audit() { p { a href=(format!("/ui/people/{}/history", user.id.0)) { "History: changes, and groups as of a date" } } }
        dl.facts {
            dt { "Email" } dd { (layout::email(user)) }
            dt { "Role" } dd { (layout::role_label(user.role)) @if user.is_bot { " (bot)" } }
            dt { "Status" } dd { @if user.active { "Active" } @else { "Deactivated: in no group until reactivated" } }
            dt { "User id" } dd { (user.id.0) }
        }
        section.card aria-labelledby="direct-heading" {
            h2 #direct-heading { "Direct groups (" (direct.len()) ")" }
            @if direct.is_empty() { p { "None." } }
            ul.plain {
                @for (group, _) in &direct { li { (layout::group_link(snap, *group)) } }
            }
        }
        section.card aria-labelledby="effective-heading" {
            h2 #effective-heading { "Every group, and why (" (reach.len()) ")" }
            @if reach.is_empty() { p { "None." } }
            @else {
                table.reach {
                    caption.sr { "Every group " (user.full_name) " is in, with how" }
                    thead { tr { th scope="col" { "Group" } th scope="col" { "Membership" } } }
                    tbody {
                        @for (group, via) in &reach {
                            tr {
                                th scope="row" {
                                    (layout::group_link(snap, *group))
                                    @if snap.group(*group).is_some_and(|g| g.deactivated) { " " span.badge.off { "deactivated" } }
                                }
                                td { (layout::via(snap, via)) }
                            }
                        }
                    }
                }
            }
        }
    };
    Ok(layout::page(
        &viewer,
        Section::People,
        &user.full_name,
        body,
    ))
}
