//! `GET /ui/groups/{id}`: one group: what it is, who may do what with it
//! (its permission settings, by name), its members — direct and through
//! subgroups, each with the chain that puts them there — paged and
//! searchable, its subgroups, and the actions the signed-in user is allowed
//! (`permission::group_rights`). Each action is one form, one command, one
//! commit: adding three people and a subgroup is one change, not four.
//! A refused action shows the page again with the core's reason next to
//! the field it is about, and nothing changed.

use super::error::{engine_failure, UiError};
use super::form::{self, Posted};
use super::groups::{refusal_status, search_length, MAX_SEARCH};
use super::index::cursor;
use super::layout::{self, Section};
use super::session::Viewer;
use super::words::{self, Field};
use crate::AppState;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use cohort_core::command::{ChangeMembers, SettingUpdate, UpdateGroup};
use cohort_core::model::GroupSetting;
use cohort_core::permission::{self, GroupRights};
use cohort_core::{Command, GroupId, SettingValue, Snapshot, UserId};
use cohort_engine::EngineError;
use maud::{html, Markup};

const MEMBERS_PER_PAGE: usize = 50;
/// Candidates offered per kind when adding.
const CANDIDATES: usize = 20;
/// Most people and groups one form may add or remove at once.
const MAX_EDIT: usize = 1000;

fn setting_label(setting: GroupSetting) -> &'static str {
    match setting {
        GroupSetting::CanManageGroup => "Who can manage this group",
        GroupSetting::CanAddMembersGroup => "Who can add members",
        GroupSetting::CanRemoveMembersGroup => "Who can remove members",
        GroupSetting::CanJoinGroup => "Who can join",
        GroupSetting::CanLeaveGroup => "Who can leave",
        GroupSetting::CanMentionGroup => "Who can mention this group",
    }
}

/// What the page's URL says: the member list's search, filter and page,
/// and the add-members search.
#[derive(Default)]
pub(crate) struct View {
    mq: String,
    direct_only: bool,
    after: Option<String>,
    add_q: String,
    done: Option<String>,
}

impl View {
    pub(crate) fn parse(raw: Option<&str>) -> Result<View, UiError> {
        let p = Posted::parse(raw.unwrap_or("").as_bytes());
        let mq = p.get("mq").unwrap_or("").to_string();
        let add_q = p.get("add_q").unwrap_or("").to_string();
        search_length(&mq)?;
        search_length(&add_q)?;
        let after = p.get("after").filter(|a| !a.is_empty()).map(str::to_string);
        if let Some(a) = &after {
            cursor::parse(a)
                .ok_or_else(|| UiError::bad_request("after is not a page position."))?;
        }
        Ok(View {
            mq,
            direct_only: p.get("show").is_some_and(|v| v == "direct"),
            after,
            add_q,
            done: p.get("done").map(str::to_string),
        })
    }

    fn url(&self, id: GroupId, after: Option<&str>) -> String {
        let mut q = url::form_urlencoded::Serializer::new(String::new());
        if !self.mq.is_empty() {
            q.append_pair("mq", &self.mq);
        }
        if self.direct_only {
            q.append_pair("show", "direct");
        }
        if let Some(after) = after {
            q.append_pair("after", after);
        }
        let q = q.finish();
        if q.is_empty() {
            format!("/ui/groups/{}#members", id.0)
        } else {
            format!("/ui/groups/{}?{q}#members", id.0)
        }
    }
}

/// A refused action: what was typed, and why it was refused.
struct Problem {
    field: Field,
    message: String,
    /// The setting a refused settings form was about.
    setting: Option<GroupSetting>,
    name: Option<String>,
    description: Option<String>,
}

impl Problem {
    fn at(&self, field: Field) -> Option<&str> {
        (self.field == field).then_some(self.message.as_str())
    }
}

fn group_id(snap: &Snapshot, raw: &str) -> Result<GroupId, UiError> {
    raw.parse::<i64>()
        .ok()
        .map(GroupId)
        .filter(|id| snap.group(*id).is_some())
        .ok_or_else(|| UiError::not_found("group"))
}

/// A setting's value in names: a group, or the people and groups listed.
fn value_names(snap: &Snapshot, value: &SettingValue) -> Markup {
    match value {
        SettingValue::Group(id) => layout::group_link(snap, *id),
        SettingValue::Anonymous { members, subgroups } => {
            let members: Vec<UserId> = members
                .iter()
                .copied()
                .filter(|u| snap.is_active_user(*u))
                .collect();
            if members.is_empty() && subgroups.is_empty() {
                return html! { "Nobody" };
            }
            html! {
                @for (i, user) in members.iter().enumerate() {
                    @if i > 0 { ", " }
                    (layout::user_link(snap, *user))
                }
                @if !members.is_empty() && !subgroups.is_empty() { ", and " }
                @if !subgroups.is_empty() {
                    "members of "
                    @for (i, g) in subgroups.iter().enumerate() {
                        @if i > 0 { ", " }
                        (layout::group_link(snap, *g))
                    }
                }
            }
        }
    }
}

/// A value as a form field (what the page saw, sent back as `old`).
fn encode_value(value: &SettingValue) -> String {
    match value {
        SettingValue::Group(id) => format!("g:{}", id.0),
        SettingValue::Anonymous { members, subgroups } => {
            let join = |ids: Vec<i64>| ids.iter().map(i64::to_string).collect::<Vec<_>>().join(",");
            format!(
                "a:{}|{}",
                join(members.iter().map(|u| u.0).collect()),
                join(subgroups.iter().map(|g| g.0).collect())
            )
        }
    }
}

fn decode_value(text: &str) -> Option<SettingValue> {
    if let Some(id) = text.strip_prefix("g:") {
        return id.parse().ok().map(|id| SettingValue::Group(GroupId(id)));
    }
    let (members, subgroups) = text.strip_prefix("a:")?.split_once('|')?;
    let ids = |list: &str| -> Option<Vec<i64>> {
        list.split(',')
            .filter(|s| !s.is_empty())
            .map(|s| s.parse().ok())
            .collect()
    };
    Some(SettingValue::Anonymous {
        members: ids(members)?.into_iter().map(UserId).collect(),
        subgroups: ids(subgroups)?.into_iter().map(GroupId).collect(),
    })
}

fn render(
    state: &AppState,
    viewer: &Viewer,
    id: GroupId,
    view: &View,
    problem: Option<Problem>,
    status: StatusCode,
) -> Result<Response, UiError> {
    let snap = &viewer.snapshot;
    let group = snap.group(id).ok_or_else(|| UiError::not_found("group"))?;
    let rights: GroupRights = permission::group_rights(snap, viewer.actor(), id);
    let index = state.ui_index.get(snap);
    let effective = index.effective_members(id);
    let people = index.people();
    let needle = view.mq.to_lowercase();
    let matching: Vec<&super::index::Reach> = effective
        .iter()
        .filter(|r| !view.direct_only || r.via.is_empty())
        .filter(|r| needle.is_empty() || people[r.row].haystack.contains(&needle))
        .collect();
    let start = match view.after.as_deref().and_then(cursor::parse) {
        None => 0,
        Some((uid, key)) => {
            matching.partition_point(|r| (people[r.row].key.as_str(), r.user.0) <= (key, uid))
        }
    };
    let end = (start + MEMBERS_PER_PAGE).min(matching.len());
    let shown = &matching[start..end];
    let next = (end < matching.len())
        .then(|| {
            shown
                .last()
                .map(|r| cursor::make(r.user.0, &people[r.row].key))
        })
        .flatten();
    let direct_count = snap.direct_member_count(id);
    let me = viewer.user.id;
    let is_member = group.has_member(me);
    // Managing a group includes removing its members (`group_for_update`).
    let may_remove_any = rights.remove_members;
    let problem_at = |f: Field| problem.as_ref().and_then(|p| p.at(f));
    let title = layout::group_name(snap, id);
    let body = html! {
        (layout::notice(view.done.as_deref()))
        p.meta {
            @if group.is_system() { span.badge { "system group" } " " }
            @if group.deactivated { span.badge.off { "deactivated" } " " }
            "Group " (group.id.0)
            @if let Some(creator) = group.creator { ", created by " (layout::user_link(snap, creator)) }
            " · " (layout::count(direct_count)) " direct members · " (layout::count(effective.len())) " effective members · " (group.subgroups.len()) " subgroups"
        }
        @if viewer.may_audit() { p { a href=(format!("/ui/groups/{}/history", id.0)) { "History: changes, and members as of a date" } } }
        @if !group.description.is_empty() { p.description { (group.description) } }
        (layout::field_error("group-error", problem_at(Field::Group)))
        @if rights.join && !is_member || rights.leave && is_member {
            form.inline method="post" action=(format!("/ui/groups/{}/members", id.0)) {
                (viewer.csrf_field())
                @if is_member {
                    input type="hidden" name="remove_user" value=(me.0);
                    button type="submit" { "Leave this group" }
                } @else {
                    input type="hidden" name="add_user" value=(me.0);
                    button type="submit" { "Join this group" }
                }
            }
        }
        @if rights.manage {
            section.card aria-labelledby="edit-heading" {
                h2 #edit-heading { "Name and description" }
                form.stack method="post" action=(format!("/ui/groups/{}/name", id.0)) {
                    (viewer.csrf_field())
                    label for="name" { "Name" }
                    input #name name="name" required maxlength="100"
                        value=(problem.as_ref().and_then(|p| p.name.as_deref()).unwrap_or(&group.name))
                        aria-describedby=[problem_at(Field::Name).map(|_| "name-error")];
                    (layout::field_error("name-error", problem_at(Field::Name)))
                    button type="submit" { "Rename" }
                }
                form.stack method="post" action=(format!("/ui/groups/{}/description", id.0)) {
                    (viewer.csrf_field())
                    label for="description" { "Description" }
                    textarea #description name="description" rows="3" maxlength="1024"
                        aria-describedby=[problem_at(Field::Description).map(|_| "description-error")] {
                        (problem.as_ref().and_then(|p| p.description.as_deref()).unwrap_or(&group.description))
                    }
                    (layout::field_error("description-error", problem_at(Field::Description)))
                    button type="submit" { "Save description" }
                }
                @if group.deactivated {
                    form.inline method="post" action=(format!("/ui/groups/{}/reactivate", id.0)) {
                        (viewer.csrf_field())
                        button type="submit" { "Reactivate group" }
                    }
                } @else {
                    form.inline method="post" action=(format!("/ui/groups/{}/deactivate", id.0)) {
                        (viewer.csrf_field())
                        button.danger type="submit" { "Deactivate group" }
                    }
                }
            }
        }
        section.card aria-labelledby="settings-heading" {
            h2 #settings-heading { "Permissions" }
            // A refusal about one setting is shown at that setting's form
            // instead, when there is one.
            (layout::field_error("settings-error", problem.as_ref().filter(|p| p.setting.is_none() || !rights.manage).and_then(|p| p.at(Field::Settings))))
            dl.settings {
                @for setting in GroupSetting::ALL {
                    @let value = cohort_core::command::visible_value(snap, group.setting(setting));
                    dt { (setting_label(setting)) }
                    dd {
                        (value_names(snap, &value))
                        @if rights.manage && !group.is_system() {
                            (setting_form(snap, viewer, id, setting, &value, problem.as_ref().filter(|p| p.setting == Some(setting))))
                        }
                    }
                }
            }
        }
        section.card aria-labelledby="subgroups-heading" {
            h2 #subgroups-heading { "Subgroups" }
            @if group.subgroups.is_empty() { p { "No subgroups." } }
            @else {
                form method="post" action=(format!("/ui/groups/{}/members", id.0)) {
                    (viewer.csrf_field())
                    ul.plain {
                        @for sub in &group.subgroups {
                            li {
                                @if rights.manage {
                                    label.inline {
                                        input type="checkbox" name="remove_group" value=(sub.0);
                                        span.sr { "Select " (layout::group_name(snap, *sub)) }
                                    }
                                    " "
                                }
                                (layout::group_link(snap, *sub))
                                " (" (index.effective_count(*sub)) " effective)"
                            }
                        }
                    }
                    @if rights.manage { button type="submit" { "Remove selected subgroups" } }
                }
            }
        }
        section.card #members aria-labelledby="members-heading" {
            h2 #members-heading { "Members" }
            form.search role="search" aria-label="Members" method="get" action=(format!("/ui/groups/{}", id.0)) data-live-search="#member-results" {
                label for="mq" { "Search members" }
                input #mq type="search" name="mq" value=(view.mq) maxlength=(MAX_SEARCH) autocomplete="off" placeholder="Name or email";
                label.inline {
                    input type="checkbox" name="show" value="direct" checked[view.direct_only];
                    " Direct members only"
                }
                button type="submit" { "Search" }
            }
            div #member-results {
                (layout::field_error("members-error", problem_at(Field::Members)))
                p.count { (layout::count(matching.len())) " of " (layout::count(effective.len())) " effective members" }
                form method="post" action=(format!("/ui/groups/{}/members", id.0)) {
                    (viewer.csrf_field())
                    table.members {
                        caption.sr { "Members of " (title) ", with how each is a member" }
                        thead { tr {
                            @if may_remove_any { th scope="col" { span.sr { "Select" } } }
                            th scope="col" { "Name" } th scope="col" { "Email" } th scope="col" { "Membership" }
                        } }
                        tbody {
                            @for reach in shown {
                                @let user = snap.user(reach.user);
                                tr {
                                    @if may_remove_any {
                                        td {
                                            @if reach.via.is_empty() && (rights.remove_members || reach.user == me && rights.leave) {
                                                input type="checkbox" name="remove_user" value=(reach.user.0)
                                                    aria-label=(format!("Select {}", layout::user_name(snap, reach.user)));
                                            }
                                        }
                                    }
                                    th scope="row" { (layout::user_link(snap, reach.user)) }
                                    td { (user.map_or("", |u| layout::email(u))) }
                                    td { (layout::via(snap, &reach.via)) }
                                }
                            }
                        }
                    }
                    @if shown.is_empty() { p { "No member matches." } }
                    @if may_remove_any && !shown.is_empty() { button type="submit" { "Remove selected members" } }
                }
                (layout::pager("Member pages", view.after.as_ref().map(|_| view.url(id, None)), next.as_deref().map(|n| view.url(id, Some(n)))))
            }
        }
        @if rights.add_members {
            (add_form(snap, viewer, id, view, &index))
        }
    };
    Ok(layout::page_with_status(
        viewer,
        Section::Groups,
        &title,
        status,
        body,
    ))
}

fn setting_form(
    snap: &Snapshot,
    viewer: &Viewer,
    id: GroupId,
    setting: GroupSetting,
    value: &SettingValue,
    problem: Option<&Problem>,
) -> Markup {
    let field = format!("set-{}", setting.name());
    let current = match value {
        SettingValue::Group(g) => Some(*g),
        SettingValue::Anonymous { .. } => None,
    };
    let (people, groups) = match value {
        SettingValue::Anonymous { members, subgroups } => (
            members
                .iter()
                .filter_map(|u| {
                    snap.user(*u)
                        .and_then(|u| u.email.as_deref().map(str::to_string))
                })
                .collect::<Vec<_>>()
                .join("\n"),
            subgroups
                .iter()
                .filter_map(|g| snap.group(*g).map(|g| g.name.to_string()))
                .collect::<Vec<_>>()
                .join("\n"),
        ),
        SettingValue::Group(_) => (String::new(), String::new()),
    };
    // System groups are offered by name; any other group is typed (a list
    // of every group would make the page as large as the realm).
    let named = current.filter(|g| snap.group(*g).is_some_and(|g| !g.is_system()));
    let system: Vec<GroupId> = snap
        .groups()
        .filter(|g| g.is_system() && !g.deactivated)
        .map(|g| g.id)
        .collect();
    html! {
        details.edit open[problem.is_some()] {
            summary { "Change" span.sr { " " (setting_label(setting)) } }
            form.stack method="post" action=(format!("/ui/groups/{}/settings", id.0)) {
                (viewer.csrf_field())
                input type="hidden" name="setting" value=(setting.name());
                input type="hidden" name="old" value=(encode_value(value));
                label for=(field) { (setting_label(setting)) }
                select id=(field) name="new" {
                    @for g in &system {
                        option value=(format!("g:{}", g.0)) selected[current == Some(*g)] { (layout::group_name(snap, *g)) }
                    }
                    option value="named" selected[named.is_some()] { "The group named below" }
                    option value="custom" selected[current.is_none()] { "The people and groups listed below" }
                }
                label for=(format!("{field}-group")) { "Group name (for “The group named below”)" }
                input id=(format!("{field}-group")) name="group_name" maxlength="100"
                    value=(named.map(|g| layout::group_name(snap, g)).unwrap_or_default());
                label for=(format!("{field}-people")) { "People (one email per line)" }
                textarea id=(format!("{field}-people")) name="people" rows="2" { (people) }
                label for=(format!("{field}-groups")) { "Groups (one name per line)" }
                textarea id=(format!("{field}-groups")) name="groups" rows="2" { (groups) }
                @if let Some(p) = problem { (layout::field_error(&format!("{field}-error"), Some(&p.message))) }
                button type="submit" { "Save" }
            }
        }
    }
}

fn add_form(
    snap: &Snapshot,
    viewer: &Viewer,
    id: GroupId,
    view: &View,
    index: &super::index::RealmIndex,
) -> Markup {
    let group = snap.group(id);
    let needle = view.add_q.to_lowercase();
    let people: Vec<UserId> = if needle.is_empty() {
        Vec::new()
    } else {
        index
            .people()
            .iter()
            .filter(|p| p.active && p.haystack.contains(&needle))
            .filter(|p| !group.is_some_and(|g| g.has_member(p.id)))
            .take(CANDIDATES)
            .map(|p| p.id)
            .collect()
    };
    let groups: Vec<GroupId> = if needle.is_empty() {
        Vec::new()
    } else {
        index
            .groups()
            .iter()
            .filter(|g| !g.deactivated && g.id != id && g.key.contains(&needle))
            .filter(|g| !group.is_some_and(|grp| grp.has_subgroup(g.id)))
            .take(CANDIDATES)
            .map(|g| g.id)
            .collect()
    };
    html! {
        section.card #add aria-labelledby="add-heading" {
            h2 #add-heading { "Add members and subgroups" }
            form.search role="search" aria-label="People and groups to add" method="get" action=(format!("/ui/groups/{}#add", id.0)) data-live-search="#candidates" {
                label for="add_q" { "Find people and groups to add" }
                input #add_q type="search" name="add_q" value=(view.add_q) maxlength=(MAX_SEARCH) autocomplete="off" placeholder="Name or email";
                button type="submit" { "Find" }
            }
            div #candidates {
                @if !needle.is_empty() {
                    form method="post" action=(format!("/ui/groups/{}/members", id.0)) {
                        (viewer.csrf_field())
                        fieldset {
                            legend { "People" }
                            @if people.is_empty() { p { "Nobody else matches." } }
                            @for user in &people {
                                label.option {
                                    input type="checkbox" name="add_user" value=(user.0);
                                    " " (layout::user_name(snap, *user))
                                    @if let Some(u) = snap.user(*user) { " " span.muted { (layout::email(u)) } }
                                }
                            }
                        }
                        fieldset {
                            legend { "Groups (added as subgroups)" }
                            @if groups.is_empty() { p { "No other group matches." } }
                            @for g in &groups {
                                label.option {
                                    input type="checkbox" name="add_group" value=(g.0);
                                    " " (layout::group_name(snap, *g))
                                }
                            }
                        }
                        @if !people.is_empty() || !groups.is_empty() { button type="submit" { "Add selected" } }
                    }
                }
            }
        }
    }
}

fn see_other(id: GroupId, done: &str) -> Response {
    (
        StatusCode::SEE_OTHER,
        [(header::LOCATION, format!("/ui/groups/{}?done={done}", id.0))],
    )
        .into_response()
}

/// Run `command`; on success back to the group page with a notice, on a
/// refusal the page again with the reason next to its field.
async fn act(
    state: &AppState,
    viewer: &Viewer,
    id: GroupId,
    command: Command,
    done: &str,
    draft: impl FnOnce(Problem) -> Problem,
) -> Result<Response, UiError> {
    match viewer.execute(state, command).await {
        Ok(_) => Ok(see_other(id, done)),
        Err(EngineError::Domain(e)) => {
            let problem = draft(Problem {
                field: words::field_of(&e),
                message: words::sentence(Some(&viewer.snapshot), &e),
                setting: None,
                name: None,
                description: None,
            });
            render(
                state,
                viewer,
                id,
                &View::default(),
                Some(problem),
                refusal_status(&e),
            )
        }
        Err(other) => Err(engine_failure(other)),
    }
}

/// `GET /ui/groups/{id}`.
pub async fn page(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, UiError> {
    let id = group_id(&viewer.snapshot, &id)?;
    let view = View::parse(raw.as_deref())?;
    render(&state, &viewer, id, &view, None, StatusCode::OK)
}

/// The group a form is about, after the form's own checks.
fn posted_group(
    viewer: &Viewer,
    headers: &HeaderMap,
    posted: &Posted,
    id: &str,
) -> Result<GroupId, UiError> {
    form::check(viewer, headers, posted)?;
    group_id(&viewer.snapshot, id)
}

/// `POST /ui/groups/{id}/name`.
pub async fn rename(
    State(state): State<AppState>,
    viewer: Viewer,
    headers: HeaderMap,
    Path(id): Path<String>,
    posted: Posted,
) -> Result<Response, UiError> {
    let id = posted_group(&viewer, &headers, &posted, &id)?;
    let name = posted.get("name").unwrap_or("").to_string();
    let command = Command::UpdateGroup(
        id,
        UpdateGroup {
            name: Some(name.clone().into()),
            ..UpdateGroup::default()
        },
    );
    act(&state, &viewer, id, command, "renamed", |mut p| {
        p.name = Some(name);
        p
    })
    .await
}

/// `POST /ui/groups/{id}/description`.
pub async fn describe(
    State(state): State<AppState>,
    viewer: Viewer,
    headers: HeaderMap,
    Path(id): Path<String>,
    posted: Posted,
) -> Result<Response, UiError> {
    let id = posted_group(&viewer, &headers, &posted, &id)?;
    let description = posted.get("description").unwrap_or("").to_string();
    let command = Command::UpdateGroup(
        id,
        UpdateGroup {
            description: Some(description.clone()),
            ..UpdateGroup::default()
        },
    );
    act(&state, &viewer, id, command, "described", |mut p| {
        p.description = Some(description);
        p
    })
    .await
}

/// `POST /ui/groups/{id}/deactivate`.
pub async fn deactivate(
    State(state): State<AppState>,
    viewer: Viewer,
    headers: HeaderMap,
    Path(id): Path<String>,
    posted: Posted,
) -> Result<Response, UiError> {
    let id = posted_group(&viewer, &headers, &posted, &id)?;
    act(
        &state,
        &viewer,
        id,
        Command::DeactivateGroup(id),
        "deactivated",
        |p| p,
    )
    .await
}

/// `POST /ui/groups/{id}/reactivate`.
pub async fn reactivate(
    State(state): State<AppState>,
    viewer: Viewer,
    headers: HeaderMap,
    Path(id): Path<String>,
    posted: Posted,
) -> Result<Response, UiError> {
    let id = posted_group(&viewer, &headers, &posted, &id)?;
    let command = Command::UpdateGroup(
        id,
        UpdateGroup {
            reactivate: true,
            ..UpdateGroup::default()
        },
    );
    act(&state, &viewer, id, command, "reactivated", |p| p).await
}

/// `POST /ui/groups/{id}/members`: people and subgroups added and removed,
/// in one command (all or nothing).
pub async fn members(
    State(state): State<AppState>,
    viewer: Viewer,
    headers: HeaderMap,
    Path(id): Path<String>,
    posted: Posted,
) -> Result<Response, UiError> {
    let id = posted_group(&viewer, &headers, &posted, &id)?;
    let change = ChangeMembers {
        add: posted.ids("add_user")?.into_iter().map(UserId).collect(),
        delete: posted.ids("remove_user")?.into_iter().map(UserId).collect(),
        add_subgroups: posted.ids("add_group")?.into_iter().map(GroupId).collect(),
        delete_subgroups: posted
            .ids("remove_group")?
            .into_iter()
            .map(GroupId)
            .collect(),
    };
    let listed = change.add.len()
        + change.delete.len()
        + change.add_subgroups.len()
        + change.delete_subgroups.len();
    if listed == 0 {
        return act_refused(
            &state,
            &viewer,
            id,
            "Select at least one person or group first.",
        );
    }
    if listed > MAX_EDIT {
        return act_refused(
            &state,
            &viewer,
            id,
            &format!("At most {MAX_EDIT} people and groups at once."),
        );
    }
    act(
        &state,
        &viewer,
        id,
        Command::ChangeMembers(id, change),
        "members",
        |p| p,
    )
    .await
}

fn act_refused(
    state: &AppState,
    viewer: &Viewer,
    id: GroupId,
    message: &str,
) -> Result<Response, UiError> {
    let problem = Problem {
        field: Field::Members,
        message: message.to_string(),
        setting: None,
        name: None,
        description: None,
    };
    render(
        state,
        viewer,
        id,
        &View::default(),
        Some(problem),
        StatusCode::BAD_REQUEST,
    )
}

/// `POST /ui/groups/{id}/settings`: one permission setting, with the value
/// the page showed as `old`, so a concurrent change is refused, not lost.
pub async fn settings(
    State(state): State<AppState>,
    viewer: Viewer,
    headers: HeaderMap,
    Path(id): Path<String>,
    posted: Posted,
) -> Result<Response, UiError> {
    let id = posted_group(&viewer, &headers, &posted, &id)?;
    let snap = &viewer.snapshot;
    let setting = posted
        .get("setting")
        .and_then(GroupSetting::from_name)
        .ok_or_else(|| UiError::bad_request("The form names no permission setting."))?;
    let old = posted
        .get("old")
        .and_then(decode_value)
        .ok_or_else(|| UiError::bad_request("The form does not say what the setting was."))?;
    let refused = |message: String| {
        let problem = Problem {
            field: Field::Settings,
            message,
            setting: Some(setting),
            name: None,
            description: None,
        };
        render(
            &state,
            &viewer,
            id,
            &View::default(),
            Some(problem),
            StatusCode::BAD_REQUEST,
        )
    };
    let new = match posted.get("new") {
        Some("custom") => {
            let mut members = Vec::new();
            for email in posted
                .get("people")
                .unwrap_or("")
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
            {
                match snap.user_by_email(email) {
                    Some(user) => members.push(user.id),
                    None => return refused(format!("No one here has the email “{email}”.")),
                }
            }
            let mut subgroups = Vec::new();
            for name in posted
                .get("groups")
                .unwrap_or("")
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
            {
                match snap.group_by_name(name) {
                    Some(group) => subgroups.push(group.id),
                    None => return refused(format!("There is no group named “{name}”.")),
                }
            }
            members.sort_unstable();
            members.dedup();
            subgroups.sort_unstable();
            subgroups.dedup();
            SettingValue::Anonymous { members, subgroups }
        }
        Some("named") => {
            let name = posted.get("group_name").unwrap_or("");
            match snap.group_by_name(name) {
                Some(group) => SettingValue::Group(group.id),
                None => return refused(format!("There is no group named “{name}”.")),
            }
        }
        Some(other) => decode_value(other)
            .filter(|v| matches!(v, SettingValue::Group(_)))
            .ok_or_else(|| UiError::bad_request("The chosen value is not a group."))?,
        None => return Err(UiError::bad_request("The form has no new value.")),
    };
    let command = Command::UpdateGroup(
        id,
        UpdateGroup {
            settings: vec![(
                setting,
                SettingUpdate {
                    new,
                    old: Some(old),
                },
            )],
            ..UpdateGroup::default()
        },
    );
    act(&state, &viewer, id, command, "settings", |mut p| {
        p.setting = Some(setting);
        if p.field == Field::Group || p.field == Field::Members {
            p.field = Field::Settings;
        }
        p
    })
    .await
}
