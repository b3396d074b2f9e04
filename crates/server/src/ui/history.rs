//! History, for the people who may read the audit trail (owners and
//! administrators, `permission::may_read_audit`): a group's or a person's
//! audit trail (newest first, paged), who was in a group (or which groups a
//! person was in) as of a chosen moment, the access review between two
//! moments, and CSV downloads of each. The answers are the native API's
//! (`/cohort/v1`), computed by the same functions; this module only lays
//! them out and turns their cursors into links.

use super::error::UiError;
use super::form::Posted;
use super::layout::{self, Section};
use super::session::Viewer;
use crate::native::error::NativeError;
use crate::native::memberships::{as_of, group_members_view, user_groups_view};
use crate::native::params::Query;
use crate::native::views::{EventView, GroupRef, UserRef};
use crate::AppState;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use cohort_core::history::History;
use cohort_core::{GroupId, UserId, Version};
use maud::{html, Markup};

const EVENTS_PER_PAGE: usize = 50;

impl From<NativeError> for UiError {
    fn from(err: NativeError) -> UiError {
        let status = err.status();
        let message = err.body.message;
        match status {
            StatusCode::NOT_FOUND => UiError::Page {
                status,
                title: "Not found",
                message,
            },
            StatusCode::SERVICE_UNAVAILABLE => UiError::unavailable(),
            s if s.is_client_error() => UiError::bad_request(message),
            _ => UiError::internal(),
        }
    }
}

fn auditor(viewer: &Viewer) -> Result<(), UiError> {
    if viewer.may_audit() {
        return Ok(());
    }
    Err(UiError::forbidden(
        "Only organization owners and administrators can read the history.",
    ))
}

/// A moment as typed: a `datetime-local` value (`2026-12-01T09:30`, read
/// as UTC) or RFC 3339; empty is none.
fn moment(text: Option<&str>) -> Option<String> {
    let text = text.map(str::trim).filter(|t| !t.is_empty())?;
    let bare = text.len() == 16 && text.as_bytes().get(10) == Some(&b'T');
    Some(if bare {
        format!("{text}:00Z")
    } else {
        text.to_string()
    })
}

/// The `datetime-local` form of an RFC 3339 moment (for the input's value).
fn local(rfc3339: &str) -> String {
    rfc3339.get(..16).unwrap_or("").to_string()
}

fn query(pairs: &[(&str, Option<&str>)]) -> String {
    let mut q = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        if let Some(v) = v {
            q.append_pair(k, v);
        }
    }
    q.finish()
}

fn user_label(user: &UserRef) -> Markup {
    html! {
        a href=(format!("/ui/people/{}", user.id)) { (user.full_name) }
    }
}

fn group_label(group: &GroupRef) -> Markup {
    html! { a href=(format!("/ui/groups/{}", group.id)) { (group.name) } }
}

/// Why someone was in a group then: "direct", or the chain of subgroups.
fn via(chain: &[GroupRef]) -> Markup {
    html! {
        @if chain.is_empty() { span.direct { "direct" } }
        @else { "via " @for (i, g) in chain.iter().enumerate() { @if i > 0 { " › " } (group_label(g)) } }
    }
}

fn value_text(value: &Option<serde_json::Value>) -> String {
    match value {
        None | Some(serde_json::Value::Null) => "–".into(),
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    }
}

fn events_table(events: &[EventView]) -> Markup {
    html! {
        table.events {
            caption.sr { "Changes, newest first" }
            thead { tr { th scope="col" { "When (UTC)" } th scope="col" { "Who" } th scope="col" { "What" } th scope="col" { "Details" } } }
            tbody {
                @for e in events {
                    tr {
                        td { time datetime=(e.time) { (e.time.replace('T', " ").trim_end_matches('Z')) } }
                        td { (e.actor.name) " " span.muted { "(" (e.actor.face) ")" } }
                        th scope="row" { (e.kind) }
                        td {
                            @if let Some(g) = &e.group { "Group " (group_label(g)) ". " }
                            @if !e.users.is_empty() {
                                @for (i, u) in e.users.iter().enumerate() { @if i > 0 { ", " } (user_label(u)) }
                                ". "
                            }
                            @if !e.subgroups.is_empty() {
                                "Subgroups "
                                @for (i, g) in e.subgroups.iter().enumerate() { @if i > 0 { ", " } (group_label(g)) }
                                ". "
                            }
                            @if let Some(field) = e.field {
                                (field) ": " (value_text(&e.before)) " → " (value_text(&e.after))
                            }
                        }
                    }
                }
            }
        }
        @if events.is_empty() { p { "No changes." } }
    }
}

/// The audit page for `filter` (`group=ID` or `user=ID`), newest first.
async fn trail(
    state: &AppState,
    viewer: &Viewer,
    filter: (&str, String),
    cursor: Option<&str>,
) -> Result<(Vec<EventView>, Option<String>), UiError> {
    let limit = EVENTS_PER_PAGE.to_string();
    let raw = query(&[
        (filter.0, Some(&filter.1)),
        ("order", Some("newest")),
        ("limit", Some(&limit)),
        ("cursor", cursor),
    ]);
    let page = crate::native::audit::page(state, viewer.snapshot.realm_id(), Some(&raw)).await?;
    Ok((page.events, page.next_cursor))
}

/// A page of changes, newest first, with its pager.
fn changes(events: &[EventView], next: Option<String>, base: &str, view: &HistoryView) -> Markup {
    let next = next.map(|c| {
        format!(
            "{base}?{}",
            query(&[("as_of", view.as_of.as_deref()), ("cursor", Some(&c))])
        )
    });
    html! {
        section.card aria-labelledby="trail-heading" {
            h2 #trail-heading { "Changes" }
            (events_table(events))
            (layout::pager("Change pages", view.cursor.as_ref().map(|_| base.to_string()), next))
        }
    }
}

/// The moment form shared by the history pages.
fn moment_form(action: &str, label: &str, value: &str) -> Markup {
    html! {
        form.search method="get" action=(action) {
            label for="as_of" { (label) }
            input #as_of type="datetime-local" name="as_of" value=(value) step="60";
            button type="submit" { "Show" }
        }
    }
}

/// A group this realm ever had (another realm's ids are unknown here).
fn known_group(history: &History, id: &str) -> Result<GroupId, UiError> {
    id.parse::<i64>()
        .ok()
        .map(GroupId)
        .filter(|g| history.group(*g).is_some())
        .ok_or_else(|| UiError::not_found("group"))
}

pub(crate) struct HistoryView {
    as_of: Option<String>,
    cursor: Option<String>,
}

impl HistoryView {
    /// The version the page is about and its moment as shown (now when no
    /// moment was asked for); the native API's rule and messages.
    fn version(&self, history: &History) -> Result<(Version, String), UiError> {
        let params = Query::parse(
            Some(&query(&[("as_of", self.as_of.as_deref())])),
            &["as_of"],
        )?;
        Ok(as_of(history, &params)?)
    }
}

pub(crate) fn parse(raw: Option<&str>) -> HistoryView {
    let p = Posted::parse(raw.unwrap_or("").as_bytes());
    HistoryView {
        as_of: moment(p.get("as_of")),
        cursor: p
            .get("cursor")
            .filter(|c| !c.is_empty())
            .map(str::to_string),
    }
}

/// `GET /ui/groups/{id}/history`.
pub async fn group(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, UiError> {
    auditor(&viewer)?;
    let view = parse(raw.as_deref());
    let realm = viewer.snapshot.realm_id();
    let history = state.engine.history(realm).await?;
    let id = known_group(&history, &id)?;
    let (v, at) = view.version(&history)?;
    let members = group_members_view(&history, id, v, at.clone(), true);
    drop(history);
    let (events, next) = trail(
        &state,
        &viewer,
        ("group", id.0.to_string()),
        view.cursor.as_deref(),
    )
    .await?;
    let base = format!("/ui/groups/{}/history", id.0);
    let csv = format!(
        "/ui/groups/{}/members.csv?{}",
        id.0,
        query(&[("as_of", view.as_of.as_deref())])
    );
    let body = html! {
        p { a href=(format!("/ui/groups/{}", id.0)) { "Back to the group" } }
        section.card aria-labelledby="asof-heading" {
            h2 #asof-heading { "Members as of " (at) }
            (moment_form(&base, "Moment (UTC)", &local(&at)))
            @if !members.existed { p { "The group did not exist then." } }
            @else {
                p.count { (members.members.len()) " effective members" " · " a href=(csv) download { "Download CSV" } }
                table.members {
                    caption.sr { "Members as of " (at) }
                    thead { tr { th scope="col" { "Name" } th scope="col" { "Email" } th scope="col" { "Membership" } } }
                    tbody {
                        @for m in &members.members {
                            tr {
                                th scope="row" { a href=(format!("/ui/people/{}", m.id)) { (m.full_name) } }
                                td { (m.email.as_deref().unwrap_or("")) }
                                td { (via(&m.via)) }
                            }
                        }
                    }
                }
            }
        }
        (changes(&events, next, &base, &view))
    };
    let title = format!("History of {}", members.group.name);
    Ok(layout::page(&viewer, Section::Groups, &title, body))
}

/// `GET /ui/people/{id}/history`.
pub async fn person(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, UiError> {
    auditor(&viewer)?;
    let view = parse(raw.as_deref());
    let history = state.engine.history(viewer.snapshot.realm_id()).await?;
    let id = id
        .parse::<i64>()
        .ok()
        .map(UserId)
        .filter(|u| history.user(*u).is_some())
        .ok_or_else(|| UiError::not_found("person"))?;
    let (v, at) = view.version(&history)?;
    let groups = user_groups_view(&history, id, v, at.clone());
    drop(history);
    let (events, next) = trail(
        &state,
        &viewer,
        ("user", id.0.to_string()),
        view.cursor.as_deref(),
    )
    .await?;
    let base = format!("/ui/people/{}/history", id.0);
    let body = html! {
        p { a href=(format!("/ui/people/{}", id.0)) { "Back to the person" } }
        section.card aria-labelledby="asof-heading" {
            h2 #asof-heading { "Groups as of " (at) }
            (moment_form(&base, "Moment (UTC)", &local(&at)))
            @if !groups.existed { p { "This person did not exist then." } }
            @else if !groups.active { p { "Deactivated then: in no group." } }
            @else {
                ul.plain {
                    @for m in &groups.groups {
                        li {
                            (group_label(&m.group)) " — " (via(&m.via))
                        }
                    }
                }
            }
        }
        (changes(&events, next, &base, &view))
    };
    let title = format!("History of {}", groups.user.full_name);
    Ok(layout::page(&viewer, Section::People, &title, body))
}

/// `GET /ui/review`: who gained and lost access between two moments.
pub async fn review(
    State(state): State<AppState>,
    viewer: Viewer,
    RawQuery(raw): RawQuery,
) -> Result<Response, UiError> {
    auditor(&viewer)?;
    let p = Posted::parse(raw.as_deref().unwrap_or("").as_bytes());
    let from = moment(p.get("from"));
    let to = moment(p.get("to"));
    let cursor = p.get("cursor").filter(|c| !c.is_empty());
    let form = html! {
        form.search method="get" action="/ui/review" {
            label for="from" { "From (UTC)" }
            input #from type="datetime-local" name="from" required value=(from.as_deref().map(local).unwrap_or_default());
            label for="to" { "To (UTC, empty: now)" }
            input #to type="datetime-local" name="to" value=(to.as_deref().map(local).unwrap_or_default());
            button type="submit" { "Review" }
        }
    };
    let Some(from) = from else {
        let body = html! { p { "Pick the moment of the last review; cohort lists every access gained or lost since, and why." } (form) };
        return Ok(layout::page(
            &viewer,
            Section::Review,
            "Access review",
            body,
        ));
    };
    let raw = query(&[
        ("from", Some(&from)),
        ("to", to.as_deref()),
        ("limit", Some("100")),
        ("cursor", cursor),
    ]);
    let view =
        crate::native::review::review(&state, viewer.snapshot.realm_id(), Some(&raw)).await?;
    let user = |id: i64| view.users.iter().find(|u| u.id == id);
    let sub = |id: GroupId| view.subgroups.iter().find(|g| g.id == id.0);
    let entry = |e: &crate::native::views::ReviewEntryView| {
        html! {
            li {
                @if let Some(u) = user(e.user) { (user_label(u)) } @else { "user " (e.user) }
                @if !e.via.is_empty() {
                    " via "
                    @for (i, g) in e.via.iter().enumerate() {
                        @if i > 0 { " › " }
                        @if let Some(g) = sub(*g) { (group_label(g)) } @else { "group " (g.0) }
                    }
                }
            }
        }
    };
    let csv = format!(
        "/ui/review.csv?{}",
        query(&[("from", Some(&from)), ("to", to.as_deref())])
    );
    let body = html! {
        (form)
        p { a href="/ui/export.csv" download { "Download the whole directory as CSV (now)" } }
        p.count { "From " (view.from) " to " (view.to) ": " (view.groups.len()) " groups changed on this page · " a href=(csv) download { "Download CSV" } }
        @for g in &view.groups {
            section.card {
                h2 { (group_label(&g.group)) }
                @if !g.gained.is_empty() { h3 { "Gained access (" (g.gained.len()) ")" } ul.plain { @for e in &g.gained { (entry(e)) } } }
                @if !g.lost.is_empty() { h3 { "Lost access (" (g.lost.len()) ")" } ul.plain { @for e in &g.lost { (entry(e)) } } }
            }
        }
        @if view.groups.is_empty() { p { "No one gained or lost access in this period." } }
        (layout::pager("Review pages", cursor.map(|_| format!("/ui/review?{}", query(&[("from", Some(&from)), ("to", to.as_deref())]))),
            view.next_cursor.as_ref().map(|c| format!("/ui/review?{}", query(&[("from", Some(&from)), ("to", to.as_deref()), ("cursor", Some(c))])))))
    };
    Ok(layout::page(
        &viewer,
        Section::Review,
        "Access review",
        body,
    ))
}

/// A CSV field, quoted when it must be (and neutralised against formula
/// injection when opened in a spreadsheet).
fn csv_field(out: &mut String, text: &str) {
    let risky = text.starts_with(['=', '+', '-', '@']);
    let text = if risky {
        format!("'{text}")
    } else {
        text.to_string()
    };
    if text.contains([',', '"', '\n', '\r']) {
        out.push('"');
        out.push_str(&text.replace('"', "\"\""));
        out.push('"');
    } else {
        out.push_str(&text);
    }
}

fn csv_row(out: &mut String, fields: &[&str]) {
    for (i, f) in fields.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        csv_field(out, f);
    }
    out.push_str("\r\n");
}

fn csv_response(name: &str, body: String) -> Response {
    let mut response = body.into_response();
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/csv; charset=utf-8"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{name}\"")) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    response
}

/// `GET /ui/groups/{id}/members.csv`: effective members as of a moment.
pub async fn members_csv(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, UiError> {
    auditor(&viewer)?;
    let view = parse(raw.as_deref());
    let history = state.engine.history(viewer.snapshot.realm_id()).await?;
    let id = known_group(&history, &id)?;
    let (v, at) = view.version(&history)?;
    let members = group_members_view(&history, id, v, at.clone(), true);
    let mut out = String::new();
    csv_row(
        &mut out,
        &[
            "group_id",
            "group",
            "as_of",
            "user_id",
            "full_name",
            "email",
            "role",
            "direct",
            "via",
        ],
    );
    for m in &members.members {
        let via: Vec<&str> = m.via.iter().map(|g| &*g.name).collect();
        csv_row(
            &mut out,
            &[
                &id.0.to_string(),
                &members.group.name,
                &at,
                &m.id.to_string(),
                &m.full_name,
                m.email.as_deref().unwrap_or(""),
                m.role,
                if m.direct { "true" } else { "false" },
                &via.join(" > "),
            ],
        );
    }
    Ok(csv_response(
        &format!("cohort-group-{}-{}.csv", id.0, at.replace(':', "")),
        out,
    ))
}

/// `GET /ui/review.csv`: the whole access review, every page.
pub async fn review_csv(
    State(state): State<AppState>,
    viewer: Viewer,
    RawQuery(raw): RawQuery,
) -> Result<Response, UiError> {
    auditor(&viewer)?;
    let p = Posted::parse(raw.as_deref().unwrap_or("").as_bytes());
    let from = moment(p.get("from")).ok_or_else(|| UiError::bad_request("from is required."))?;
    let to = moment(p.get("to"));
    let mut out = String::new();
    csv_row(
        &mut out,
        &[
            "group_id",
            "group",
            "change",
            "user_id",
            "full_name",
            "email",
            "via",
            "because",
        ],
    );
    let mut cursor: Option<String> = None;
    loop {
        let raw = query(&[
            ("from", Some(&from)),
            ("to", to.as_deref()),
            ("limit", Some("1000")),
            ("cursor", cursor.as_deref()),
        ]);
        let view =
            crate::native::review::review(&state, viewer.snapshot.realm_id(), Some(&raw)).await?;
        for g in &view.groups {
            for (change, entries) in [("gained", &g.gained), ("lost", &g.lost)] {
                for e in entries {
                    let user = view.users.iter().find(|u| u.id == e.user);
                    let via: Vec<String> = e
                        .via
                        .iter()
                        .map(|id| {
                            view.subgroups
                                .iter()
                                .find(|s| s.id == id.0)
                                .map_or(id.0.to_string(), |s| s.name.to_string())
                        })
                        .collect();
                    let because: Vec<String> = e.because.iter().map(|b| b.to_string()).collect();
                    csv_row(
                        &mut out,
                        &[
                            &g.group.id.to_string(),
                            &g.group.name,
                            change,
                            &e.user.to_string(),
                            user.map_or("", |u| &u.full_name),
                            user.and_then(|u| u.email.as_deref()).unwrap_or(""),
                            &via.join(" > "),
                            &because.join(" "),
                        ],
                    );
                }
            }
        }
        match view.next_cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    Ok(csv_response("cohort-access-review.csv", out))
}

/// `GET /ui/export.csv`: the whole directory as of a moment (the native
/// export, one row per effective membership).
pub async fn export_csv(
    State(state): State<AppState>,
    viewer: Viewer,
    RawQuery(raw): RawQuery,
) -> Result<Response, UiError> {
    auditor(&viewer)?;
    let view = parse(raw.as_deref());
    let raw = query(&[("as_of", view.as_of.as_deref()), ("format", Some("csv"))]);
    Ok(crate::native::export::export(&state, viewer.snapshot.realm_id(), Some(&raw)).await?)
}
