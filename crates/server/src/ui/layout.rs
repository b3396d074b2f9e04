//! The page shell every page shares (landmarks, navigation, the signed-in
//! user, sign-out), the headers every page carries, and small pieces of
//! markup pages share: links to groups and people, `via` chains, pagers,
//! notices and field errors. maud escapes every value it interpolates, so
//! names and descriptions are always text, never markup.

use super::assets;
use super::session::Viewer;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use cohort_core::model::{Role, SystemGroup};
use cohort_core::{GroupId, Snapshot, User, UserId};
use maud::{html, Markup, DOCTYPE};

/// Which part of the navigation a page belongs to.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Section {
    Groups,
    People,
    Review,
}

/// Headers every HTML answer carries: nothing cached (pages show live
/// state and who is signed in), nothing framed, no `Referer` to other sites
/// (a login link's key is in its URL), no inline script.
pub fn headers(status: StatusCode, body: Markup) -> Response {
    let mut response = (status, body).into_response();
    let h = response.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
             connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
        ),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    response
}

fn head(title: &str) -> Markup {
    html! {
        head {
            meta charset="utf-8";
            meta name="viewport" content="width=device-width, initial-scale=1";
            title { (title) " · cohort" }
            link rel="stylesheet" href=(assets::url("app.css"));
            script src=(assets::url("app.js")) defer {}
        }
    }
}

/// A page for a signed-in user.
pub fn page(viewer: &Viewer, section: Section, title: &str, body: Markup) -> Response {
    page_with_status(viewer, section, title, StatusCode::OK, body)
}

pub fn page_with_status(
    viewer: &Viewer,
    section: Section,
    title: &str,
    status: StatusCode,
    body: Markup,
) -> Response {
    let snap = &viewer.snapshot;
    let current = |s: Section| if s == section { Some("page") } else { None };
    let markup = html! {
        (DOCTYPE)
        html lang="en" {
            (head(title))
            body data-live=(format!("/ui/live?version={}", snap.version())) {
                a.skip href="#main" { "Skip to content" }
                header.top {
                    nav aria-label="Main" {
                        a.brand href="/ui/groups" { (snap.realm().name) }
                        ul {
                            li { a href="/ui/groups" aria-current=[current(Section::Groups)] { "Groups" } }
                            li { a href="/ui/people" aria-current=[current(Section::People)] { "People" } }
                            @if viewer.may_audit() {
                                li { a href="/ui/review" aria-current=[current(Section::Review)] { "Access review" } }
                            }
                        }
                    }
                    div.me {
                        a href=(format!("/ui/people/{}", viewer.user.id.0)) {
                            (viewer.user.full_name)
                        }
                        span.role { (role_label(viewer.user.role)) }
                        form method="post" action="/ui/logout" {
                            (viewer.csrf_field())
                            button.link type="submit" { "Sign out" }
                        }
                    }
                }
                main #main tabindex="-1" {
                    h1 { (title) }
                    (body)
                }
                div #live-status .live role="status" aria-live="polite" {}
            }
        }
    };
    headers(status, markup)
}

/// A page outside a session (sign-in, errors before one exists).
pub fn bare(title: &str, message: &str) -> Response {
    bare_with(title, html! { p { (message) } }, StatusCode::OK)
}

pub fn bare_with(title: &str, body: Markup, status: StatusCode) -> Response {
    let markup = html! {
        (DOCTYPE)
        html lang="en" {
            (head(title))
            body {
                header.top {
                    nav aria-label="Main" { a.brand href="/ui/groups" { "cohort" } }
                }
                main #main .narrow {
                    h1 { (title) }
                    (body)
                }
            }
        }
    };
    let mut response = headers(status, markup);
    // Error pages made before a session exists must not stay in caches either.
    *response.status_mut() = status;
    response
}

pub fn role_label(role: Role) -> &'static str {
    match role {
        Role::Owner => "Owner",
        Role::Administrator => "Administrator",
        Role::Moderator => "Moderator",
        Role::Member => "Member",
        Role::Guest => "Guest",
    }
}

/// A system group's name as people say it.
pub fn system_label(which: SystemGroup) -> &'static str {
    match which {
        SystemGroup::Nobody => "Nobody",
        SystemGroup::Owners => "Owners",
        SystemGroup::Administrators => "Administrators",
        SystemGroup::Moderators => "Moderators",
        SystemGroup::FullMembers => "Full members",
        SystemGroup::Members => "Members",
        SystemGroup::Everyone => "Everyone",
        SystemGroup::Internet => "Everyone on the internet",
    }
}

/// A group's name for people: system groups by what they mean.
pub fn group_name(snap: &Snapshot, id: GroupId) -> String {
    match snap.group(id) {
        Some(g) => match g.system {
            Some(which) => system_label(which).to_string(),
            None => g.name.to_string(),
        },
        None => format!("group {}", id.0),
    }
}

pub fn group_link(snap: &Snapshot, id: GroupId) -> Markup {
    html! { a href=(format!("/ui/groups/{}", id.0)) { (group_name(snap, id)) } }
}

pub fn user_name(snap: &Snapshot, id: UserId) -> String {
    snap.user(id)
        .map_or_else(|| format!("user {}", id.0), |u| u.full_name.clone())
}

pub fn user_link(snap: &Snapshot, id: UserId) -> Markup {
    html! { a href=(format!("/ui/people/{}", id.0)) { (user_name(snap, id)) } }
}

pub fn email(user: &User) -> &str {
    user.email.as_deref().unwrap_or("")
}

/// Why someone is in a group: "direct", or the chain of subgroups.
pub fn via(snap: &Snapshot, chain: &[GroupId]) -> Markup {
    if chain.is_empty() {
        return html! { span.direct { "direct" } };
    }
    html! {
        span.via {
            "via "
            @for (i, id) in chain.iter().enumerate() {
                @if i > 0 { span aria-hidden="true" { " › " } span.sr { " then " } }
                (group_link(snap, *id))
            }
        }
    }
}

/// A notice after an action (`?done=…`), from a fixed list: the URL cannot
/// put words on the page.
pub fn notice(done: Option<&str>) -> Markup {
    let text = match done {
        Some("created") => "Group created.",
        Some("renamed") => "Name saved.",
        Some("described") => "Description saved.",
        Some("settings") => "Permissions saved.",
        Some("members") => "Membership saved.",
        Some("deactivated") => "Group deactivated.",
        Some("reactivated") => "Group reactivated.",
        _ => return html! {},
    };
    html! { p.notice role="status" { (text) } }
}

/// An error shown next to the field it is about.
pub fn field_error(id: &str, message: Option<&str>) -> Markup {
    match message {
        Some(message) => html! { p.error id=(id) role="alert" { (message) } },
        None => html! {},
    }
}

/// Previous/next links; `None` hides one.
pub fn pager(label: &str, first: Option<String>, next: Option<String>) -> Markup {
    html! {
        nav.pager aria-label=(label) {
            @if let Some(first) = first { a href=(first) { "First page" } }
            @if let Some(next) = next { a href=(next) rel="next" { "Next page" } }
        }
    }
}

/// A count as people read it: `10,010`.
pub fn count(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn counts_have_thousands_separators() {
        for (n, shown) in [
            (0, "0"),
            (999, "999"),
            (1000, "1,000"),
            (10010, "10,010"),
            (1234567, "1,234,567"),
        ] {
            assert_eq!(super::count(n), shown);
        }
    }
}
