//! `GET /ui/groups`: every group, searched by name and description, sorted
//! by name, size or id, paged by keyset (the state is in the URL, so a view
//! can be bookmarked and shared); `POST /ui/groups` creates one.

use super::error::{engine_failure, UiError};
use super::form::{self, Posted};
use super::index::{cursor, GroupRow, RealmIndex};
use super::layout::{self, Section};
use super::session::Viewer;
use super::words::{self, Field};
use crate::AppState;
use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use cohort_core::command::CreateGroup;
use cohort_core::{permission, Command, Reply};
use cohort_engine::EngineError;
use maud::{html, Markup};
use std::cmp::Ordering;

/// Longest search accepted, in characters.
pub const MAX_SEARCH: usize = 200;
const DEFAULT_LIMIT: usize = 50;
const MAX_LIMIT: usize = 500;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Sort {
    Name,
    Members,
    Effective,
    Id,
}

impl Sort {
    fn parse(text: &str) -> Option<Sort> {
        Some(match text {
            "name" => Sort::Name,
            "members" => Sort::Members,
            "effective" => Sort::Effective,
            "id" => Sort::Id,
            _ => return None,
        })
    }

    fn name(self) -> &'static str {
        match self {
            Sort::Name => "name",
            Sort::Members => "members",
            Sort::Effective => "effective",
            Sort::Id => "id",
        }
    }
}

/// A list view: everything that is in its URL.
#[derive(Clone)]
pub struct View {
    q: String,
    sort: Sort,
    desc: bool,
    after: Option<String>,
    deactivated: bool,
    limit: usize,
    done: Option<String>,
}

impl View {
    pub(crate) fn parse(raw: Option<&str>) -> Result<View, UiError> {
        let p = Posted::parse(raw.unwrap_or("").as_bytes());
        let q = p.get("q").unwrap_or("").to_string();
        search_length(&q)?;
        let sort = match p.get("sort") {
            None | Some("") => Sort::Name,
            Some(s) => Sort::parse(s).ok_or_else(|| {
                UiError::bad_request("sort must be name, members, effective or id.")
            })?,
        };
        let desc = match p.get("dir") {
            None | Some("") | Some("asc") => false,
            Some("desc") => true,
            Some(_) => return Err(UiError::bad_request("dir must be asc or desc.")),
        };
        let limit = match p.get("limit") {
            None | Some("") => DEFAULT_LIMIT,
            Some(n) => n
                .parse::<usize>()
                .ok()
                .filter(|n| (1..=MAX_LIMIT).contains(n))
                .ok_or_else(|| {
                    UiError::bad_request(format!("limit must be a number from 1 to {MAX_LIMIT}."))
                })?,
        };
        let after = p.get("after").filter(|a| !a.is_empty()).map(str::to_string);
        if let Some(a) = &after {
            cursor::parse(a)
                .ok_or_else(|| UiError::bad_request("after is not a page position."))?;
        }
        Ok(View {
            q,
            sort,
            desc,
            after,
            deactivated: p.get("deactivated").is_some_and(|v| v == "1"),
            limit,
            done: p.get("done").map(str::to_string),
        })
    }

    /// This view's URL with some parts changed.
    fn url(&self, sort: Sort, desc: bool, after: Option<&str>) -> String {
        let mut query = url::form_urlencoded::Serializer::new(String::new());
        if !self.q.is_empty() {
            query.append_pair("q", &self.q);
        }
        if sort != Sort::Name {
            query.append_pair("sort", sort.name());
        }
        if desc {
            query.append_pair("dir", "desc");
        }
        if self.deactivated {
            query.append_pair("deactivated", "1");
        }
        if self.limit != DEFAULT_LIMIT {
            query.append_pair("limit", &self.limit.to_string());
        }
        if let Some(after) = after {
            query.append_pair("after", after);
        }
        let query = query.finish();
        if query.is_empty() {
            "/ui/groups".into()
        } else {
            format!("/ui/groups?{query}")
        }
    }
}

pub fn search_length(q: &str) -> Result<(), UiError> {
    if q.chars().count() > MAX_SEARCH {
        return Err(UiError::bad_request(format!(
            "A search is at most {MAX_SEARCH} characters."
        )));
    }
    Ok(())
}

/// A row's place in the sort: a number or a name, then the id.
#[derive(PartialEq, Eq, PartialOrd, Ord)]
enum Key<'a> {
    Num(usize),
    Text(&'a str),
}

fn key<'a>(sort: Sort, row: &'a GroupRow, effective: usize) -> Key<'a> {
    match sort {
        Sort::Name => Key::Text(&row.key),
        Sort::Members => Key::Num(row.direct),
        Sort::Effective => Key::Num(effective),
        Sort::Id => Key::Num(row.id.0 as usize),
    }
}

fn cursor_key(sort: Sort, value: &str) -> Option<Key<'_>> {
    match sort {
        Sort::Name => Some(Key::Text(value)),
        _ => value.parse().ok().map(Key::Num),
    }
}

fn key_text(k: &Key<'_>) -> String {
    match k {
        Key::Num(n) => n.to_string(),
        Key::Text(t) => t.to_string(),
    }
}

struct Page<'a> {
    rows: Vec<&'a GroupRow>,
    next: Option<String>,
    total: usize,
}

fn select<'a>(index: &'a RealmIndex, view: &View) -> Result<Page<'a>, UiError> {
    let rows = index.groups();
    let needle = view.q.to_lowercase();
    let effective = (view.sort == Sort::Effective).then(|| index.effective_counts());
    let count = |i: usize| effective.map_or(0, |e| e[i]);
    let mut chosen: Vec<usize> = (0..rows.len())
        .filter(|&i| view.deactivated || !rows[i].deactivated)
        .filter(|&i| needle.is_empty() || rows[i].haystack.contains(&needle))
        .collect();
    let total = chosen.len();
    let order = |a: &usize, b: &usize| -> Ordering {
        let ka = (key(view.sort, &rows[*a], count(*a)), rows[*a].id);
        let kb = (key(view.sort, &rows[*b], count(*b)), rows[*b].id);
        if view.desc {
            kb.cmp(&ka)
        } else {
            ka.cmp(&kb)
        }
    };
    // Rows come in name order; other sorts reorder them.
    if view.sort != Sort::Name || view.desc {
        chosen.sort_by(order);
    }
    let start = match &view.after {
        None => 0,
        Some(after) => {
            let (id, value) = cursor::parse(after)
                .ok_or_else(|| UiError::bad_request("after is not a page position."))?;
            let at = (
                cursor_key(view.sort, value)
                    .ok_or_else(|| UiError::bad_request("after is not a page position."))?,
                cohort_core::GroupId(id),
            );
            chosen.partition_point(|&i| {
                let k = (key(view.sort, &rows[i], count(i)), rows[i].id);
                if view.desc {
                    k > at
                } else {
                    k <= at
                }
            })
        }
    };
    let end = (start + view.limit).min(chosen.len());
    let shown: Vec<usize> = chosen[start..end].to_vec();
    let next = (end < chosen.len()).then(|| {
        let last = *shown.last().unwrap_or(&chosen[end - 1]);
        cursor::make(
            rows[last].id.0,
            &key_text(&key(view.sort, &rows[last], count(last))),
        )
    });
    Ok(Page {
        rows: shown.into_iter().map(|i| &rows[i]).collect(),
        next,
        total,
    })
}

/// The create form's state after a refused attempt.
#[derive(Default)]
struct Draft {
    name: String,
    description: String,
    error: Option<(Field, String)>,
}

fn render(
    state: &AppState,
    viewer: &Viewer,
    view: &View,
    draft: Option<Draft>,
    status: StatusCode,
) -> Result<Response, UiError> {
    let snap = &viewer.snapshot;
    let index = state.ui_index.get(snap);
    let page = select(&index, view)?;
    let sort_link = |sort: Sort, label: &str| -> Markup {
        let active = view.sort == sort;
        let desc = active && !view.desc;
        let aria = active.then_some(if view.desc { "descending" } else { "ascending" });
        html! {
            th scope="col" aria-sort=[aria] {
                a href=(view.url(sort, desc, None)) { (label) @if active { span aria-hidden="true" { @if view.desc { " ↓" } @else { " ↑" } } } }
            }
        }
    };
    let may_create = permission::may_create_groups(snap, viewer.actor());
    let draft_open = draft.is_some();
    let draft = draft.unwrap_or_default();
    let error_for = |f: Field| {
        draft
            .error
            .as_ref()
            .filter(|(field, _)| *field == f)
            .map(|(_, m)| m.as_str())
    };
    let body = html! {
        (layout::notice(view.done.as_deref()))
        form.search role="search" method="get" action="/ui/groups" data-live-search="#group-results" {
            label for="q" { "Search groups" }
            input #q type="search" name="q" value=(view.q) maxlength=(MAX_SEARCH) autocomplete="off"
                placeholder="Name or description";
            @if view.sort != Sort::Name { input type="hidden" name="sort" value=(view.sort.name()); }
            @if view.desc { input type="hidden" name="dir" value="desc"; }
            label.inline {
                input type="checkbox" name="deactivated" value="1" checked[view.deactivated];
                " Show deactivated groups"
            }
            button type="submit" { "Search" }
        }
        @if may_create {
            details.create open[draft_open] {
                summary { "New group" }
                form.stack method="post" action="/ui/groups" {
                    (viewer.csrf_field())
                    label for="new-name" { "Name" }
                    input #new-name name="name" value=(draft.name) required maxlength="100"
                        aria-describedby=[error_for(Field::Name).map(|_| "new-name-error")];
                    (layout::field_error("new-name-error", error_for(Field::Name)))
                    label for="new-description" { "Description" }
                    textarea #new-description name="description" rows="2" maxlength="1024"
                        aria-describedby=[error_for(Field::Description).map(|_| "new-description-error")] { (draft.description) }
                    (layout::field_error("new-description-error", error_for(Field::Description)))
                    (layout::field_error("new-error", error_for(Field::Group).or(error_for(Field::Members)).or(error_for(Field::Settings))))
                    button type="submit" { "Create group" }
                }
            }
        }
        div #group-results {
            p.count { (layout::count(page.total)) @if page.total == 1 { " group" } @else { " groups" } @if !view.q.is_empty() { " match “" (view.q) "”" } }
            table.groups {
                caption.sr { "Groups, sorted by " (view.sort.name()) }
                thead {
                    tr {
                        (sort_link(Sort::Name, "Name"))
                        th scope="col" { "Description" }
                        (sort_link(Sort::Members, "Direct members"))
                        (sort_link(Sort::Effective, "Effective members"))
                        th scope="col" { "Subgroups" }
                    }
                }
                tbody {
                    @for row in &page.rows {
                        @let g = snap.group(row.id);
                        tr {
                            th scope="row" {
                                (layout::group_link(snap, row.id))
                                @if row.system { " " span.badge { "system" } }
                                @if row.deactivated { " " span.badge.off { "deactivated" } }
                            }
                            td.description { (g.map_or("", |g| short(&g.description))) }
                            // The labels stand in for the column heads on phones.
                            td.num data-label="Direct" { (layout::count(row.direct)) }
                            td.num data-label="Effective" { (layout::count(index.effective_count(row.id))) }
                            td.num data-label="Subgroups" { (row.subgroups) }
                        }
                    }
                }
            }
            @if page.rows.is_empty() { p { "No group matches." } }
            (layout::pager("Groups pages", view.after.as_ref().map(|_| view.url(view.sort, view.desc, None)), page.next.as_deref().map(|n| view.url(view.sort, view.desc, Some(n)))))
        }
    };
    Ok(layout::page_with_status(
        viewer,
        Section::Groups,
        "Groups",
        status,
        body,
    ))
}

/// The first 140 characters of a description.
fn short(text: &str) -> &str {
    match text.char_indices().nth(140) {
        Some((at, _)) => &text[..at],
        None => text,
    }
}

/// `GET /ui/groups`.
pub async fn list(
    State(state): State<AppState>,
    viewer: Viewer,
    RawQuery(raw): RawQuery,
) -> Result<Response, UiError> {
    let view = View::parse(raw.as_deref())?;
    render(&state, &viewer, &view, None, StatusCode::OK)
}

/// `POST /ui/groups`: create a group as the signed-in user.
pub async fn create(
    State(state): State<AppState>,
    viewer: Viewer,
    headers: HeaderMap,
    posted: Posted,
) -> Result<Response, UiError> {
    form::check(&viewer, &headers, &posted)?;
    let name = posted.get("name").unwrap_or("").to_string();
    let description = posted.get("description").unwrap_or("").to_string();
    let command = Command::CreateGroup(CreateGroup {
        name: name.clone().into(),
        description: description.clone(),
        members: Vec::new(),
        subgroups: Vec::new(),
        settings: Vec::new(),
        key: None,
        avatar_url: None,
        external_id: None,
    });
    match viewer.execute(&state, command).await {
        Ok(done) => {
            let Reply::Group(id) = done.reply else {
                return Err(UiError::internal());
            };
            Ok((
                StatusCode::SEE_OTHER,
                [(
                    header::LOCATION,
                    format!("/ui/groups/{}?done=created", id.0),
                )],
            )
                .into_response())
        }
        Err(EngineError::Domain(e)) => {
            let view = View::parse(None)?;
            let draft = Draft {
                name,
                description,
                error: Some((
                    words::field_of(&e),
                    words::sentence(Some(&viewer.snapshot), &e),
                )),
            };
            render(&state, &viewer, &view, Some(draft), refusal_status(&e))
        }
        Err(other) => Err(engine_failure(other)),
    }
}

/// The status a refused action's page carries.
pub fn refusal_status(err: &cohort_core::Error) -> StatusCode {
    use cohort_core::Error as E;
    match err {
        E::InsufficientPermission
        | E::GuestNotAllowed
        | E::BotNotAllowed
        | E::MustBeAdmin
        | E::MustBeOwner => StatusCode::FORBIDDEN,
        E::GroupNotFound(_) | E::UserNotFound(_) => StatusCode::NOT_FOUND,
        E::NameTaken(_)
        | E::SettingMismatch { .. }
        | E::AlreadyMember(_)
        | E::AlreadySubgroup(_) => StatusCode::CONFLICT,
        _ => StatusCode::BAD_REQUEST,
    }
}
