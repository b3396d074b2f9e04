//! Realm boundaries, adversarially: one server, two realms (Alpha and
//! Bravo), each with owners, members, groups and a subgroup, realm API
//! tokens of every scope, an IMKIT platform key, a webhook endpoint, an
//! admin page session and a pending login link, a Zulip event queue and
//! audit positions (cursors, event ids).
//!
//! A table of request templates covers every route of every face that takes
//! an id (path, query, form or JSON body, cursor, queue id, `Last-Event-ID`,
//! CSRF token). Each template is sent with one realm's credentials twice:
//! once with the other realm's ids and once with ids that exist in no realm
//! ("ghosts"). Then, for every probe:
//!
//! - no byte of the other realm: no response body or header holds any of
//!   its distinctive strings (names, emails, descriptions, IMKIT keys, the
//!   webhook URL, token names);
//! - indistinguishable: the answer for the other realm's id equals the
//!   answer for the ghost (status, headers but `date`, `x-request-id`,
//!   `content-length` and the rate limit's count, and body once each id is replaced by a placeholder),
//!   so no error shape tells that an id exists elsewhere;
//! - and, once the whole table ran both ways, neither realm changed: same
//!   version, same export, same webhooks, the pending link still opens, the
//!   session, the event queue and every credential still work.
//!
//! The count of probes is printed. Runs on PostgreSQL with
//! `COHORT_TEST_STORE=postgres`.

mod common;

use common::{Account, Cohort};
use reqwest::header::HeaderMap;
use reqwest::Method;
use serde_json::{json, Value};
use std::time::Duration;

/// Everything one realm holds that another realm's caller might try.
#[derive(Clone, Debug)]
struct Ids {
    user: i64,
    user_email: String,
    /// IMKIT client `_id` of `user`.
    client_key: String,
    group: i64,
    /// IMKIT `_id` of `group`.
    group_key: String,
    subgroup: i64,
    webhook: i64,
    /// A Zulip event queue of the realm's owner.
    queue: String,
    /// An audit event id (`{realm}-{version}-{index}`).
    event: String,
    /// An audit page cursor.
    audit_cursor: String,
    /// An access-review page cursor.
    review_cursor: String,
    token_name: String,
    /// The admin page session's CSRF token.
    csrf: String,
    /// Not an id: a word that makes the names of things a probe may create
    /// in the caller's realm differ between its two runs.
    nonce: String,
}

/// A realm's credentials and its own ids (used as the caller's side).
struct Side {
    name: &'static str,
    owner: Account,
    platform_key: String,
    /// A token with every scope.
    token: String,
    /// The admin page session cookie of the owner.
    cookie: String,
    csrf: String,
    /// The realm's own group and user, to put the other's ids next to.
    own_group: i64,
    own_user: i64,
    own_webhook: i64,
    ids: Ids,
    /// Strings that belong to this realm only.
    distinctive: Vec<String>,
}

/// One HTTP answer.
#[derive(Debug)]
struct Answer {
    status: u16,
    headers: HeaderMap,
    body: String,
}

enum Body {
    None,
    Form(Vec<(String, String)>),
    Json(Value),
}

/// One request to make.
struct Request {
    method: Method,
    path: String,
    headers: Vec<(&'static str, String)>,
    body: Body,
}

/// What credential a template uses.
#[derive(Clone, Copy, Debug)]
enum Cred {
    Zulip,
    Imkit,
    Bearer,
    Basic,
    Cookie,
}

type Template = fn(&Side, &Ids) -> (Cred, Method, String, Body, Vec<(&'static str, String)>);

fn form(pairs: &[(&str, String)]) -> Body {
    Body::Form(
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect(),
    )
}

fn q(text: &str) -> String {
    percent(text)
}

fn percent(text: &str) -> String {
    let mut out = String::new();
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The table: every route that takes an id, with the other realm's id in
/// each position it takes one.
fn templates() -> Vec<(&'static str, Template)> {
    use Cred::*;
    vec![
        // ---- Zulip (`/api/v1`) ----
        ("zulip GET users/{id}", |_, o| {
            (
                Zulip,
                Method::GET,
                format!("/api/v1/users/{}", o.user),
                Body::None,
                vec![],
            )
        }),
        ("zulip GET users/{email}", |_, o| {
            (
                Zulip,
                Method::GET,
                format!("/api/v1/users/{}", o.user_email),
                Body::None,
                vec![],
            )
        }),
        ("zulip PATCH users/{id}", |_, o| {
            (
                Zulip,
                Method::PATCH,
                format!("/api/v1/users/{}", o.user),
                form(&[("full_name", "Renamed Across".into())]),
                vec![],
            )
        }),
        ("zulip PATCH users/{id} role", |_, o| {
            (
                Zulip,
                Method::PATCH,
                format!("/api/v1/users/{}", o.user),
                form(&[("role", "100".into())]),
                vec![],
            )
        }),
        ("zulip DELETE users/{id}", |_, o| {
            (
                Zulip,
                Method::DELETE,
                format!("/api/v1/users/{}", o.user),
                Body::None,
                vec![],
            )
        }),
        ("zulip POST users/{id}/reactivate", |_, o| {
            (
                Zulip,
                Method::POST,
                format!("/api/v1/users/{}/reactivate", o.user),
                Body::None,
                vec![],
            )
        }),
        ("zulip GET users?user_ids", |_, o| {
            (
                Zulip,
                Method::GET,
                format!("/api/v1/users?user_ids={}", q(&format!("[{}]", o.user))),
                Body::None,
                vec![],
            )
        }),
        ("zulip PATCH user_groups/{id}", |_, o| {
            (
                Zulip,
                Method::PATCH,
                format!("/api/v1/user_groups/{}", o.group),
                form(&[("name", "Taken Across".into())]),
                vec![],
            )
        }),
        ("zulip PATCH user_groups/{id} description", |_, o| {
            (
                Zulip,
                Method::PATCH,
                format!("/api/v1/user_groups/{}", o.group),
                form(&[("description", "defaced".into())]),
                vec![],
            )
        }),
        ("zulip PATCH user_groups/{id} deactivated=false", |_, o| {
            (
                Zulip,
                Method::PATCH,
                format!("/api/v1/user_groups/{}", o.group),
                form(&[("deactivated", "false".into())]),
                vec![],
            )
        }),
        ("zulip POST user_groups/{id}/deactivate", |_, o| {
            (
                Zulip,
                Method::POST,
                format!("/api/v1/user_groups/{}/deactivate", o.group),
                Body::None,
                vec![],
            )
        }),
        ("zulip GET user_groups/{id}/members", |_, o| {
            (
                Zulip,
                Method::GET,
                format!("/api/v1/user_groups/{}/members", o.group),
                Body::None,
                vec![],
            )
        }),
        ("zulip GET user_groups/{id}/members?direct", |_, o| {
            (
                Zulip,
                Method::GET,
                format!(
                    "/api/v1/user_groups/{}/members?direct_member_only=true",
                    o.group
                ),
                Body::None,
                vec![],
            )
        }),
        ("zulip POST user_groups/{id}/members", |s, o| {
            (
                Zulip,
                Method::POST,
                format!("/api/v1/user_groups/{}/members", o.group),
                form(&[("add", format!("[{}]", s.own_user))]),
                vec![],
            )
        }),
        ("zulip POST user_groups/{id}/members delete", |_, o| {
            (
                Zulip,
                Method::POST,
                format!("/api/v1/user_groups/{}/members", o.group),
                form(&[("delete", format!("[{}]", o.user))]),
                vec![],
            )
        }),
        ("zulip GET user_groups/{id}/members/{user}", |s, o| {
            (
                Zulip,
                Method::GET,
                format!("/api/v1/user_groups/{}/members/{}", o.group, s.own_user),
                Body::None,
                vec![],
            )
        }),
        ("zulip GET user_groups/{own}/members/{user}", |s, o| {
            (
                Zulip,
                Method::GET,
                format!("/api/v1/user_groups/{}/members/{}", s.own_group, o.user),
                Body::None,
                vec![],
            )
        }),
        ("zulip GET user_groups/{id}/subgroups", |_, o| {
            (
                Zulip,
                Method::GET,
                format!("/api/v1/user_groups/{}/subgroups", o.group),
                Body::None,
                vec![],
            )
        }),
        ("zulip POST user_groups/{id}/subgroups", |s, o| {
            (
                Zulip,
                Method::POST,
                format!("/api/v1/user_groups/{}/subgroups", o.group),
                form(&[("add", format!("[{}]", s.own_group))]),
                vec![],
            )
        }),
        ("zulip POST user_groups/{own}/subgroups add", |s, o| {
            (
                Zulip,
                Method::POST,
                format!("/api/v1/user_groups/{}/subgroups", s.own_group),
                form(&[("add", format!("[{}]", o.group))]),
                vec![],
            )
        }),
        ("zulip POST user_groups/{own}/subgroups delete", |s, o| {
            (
                Zulip,
                Method::POST,
                format!("/api/v1/user_groups/{}/subgroups", s.own_group),
                form(&[("delete", format!("[{}]", o.subgroup))]),
                vec![],
            )
        }),
        ("zulip POST user_groups/{own}/members add", |s, o| {
            (
                Zulip,
                Method::POST,
                format!("/api/v1/user_groups/{}/members", s.own_group),
                form(&[("add", format!("[{}]", o.user))]),
                vec![],
            )
        }),
        ("zulip POST user_groups/{own}/members delete", |s, o| {
            (
                Zulip,
                Method::POST,
                format!("/api/v1/user_groups/{}/members", s.own_group),
                form(&[("delete", format!("[{}]", o.user))]),
                vec![],
            )
        }),
        (
            "zulip POST user_groups/{own}/members add_subgroups",
            |s, o| {
                (
                    Zulip,
                    Method::POST,
                    format!("/api/v1/user_groups/{}/members", s.own_group),
                    form(&[("add_subgroups", format!("[{}]", o.group))]),
                    vec![],
                )
            },
        ),
        ("zulip POST user_groups/create members", |_, o| {
            (
                Zulip,
                Method::POST,
                "/api/v1/user_groups/create".into(),
                form(&[
                    ("name", "Probe One".into()),
                    ("description", "d".into()),
                    ("members", format!("[{}]", o.user)),
                ]),
                vec![],
            )
        }),
        ("zulip POST user_groups/create subgroups", |_, o| {
            (
                Zulip,
                Method::POST,
                "/api/v1/user_groups/create".into(),
                form(&[
                    ("name", "Probe Two".into()),
                    ("description", "d".into()),
                    ("members", "[]".into()),
                    ("subgroups", format!("[{}]", o.group)),
                ]),
                vec![],
            )
        }),
        (
            "zulip POST user_groups/create can_manage_group=id",
            |_, o| {
                (
                    Zulip,
                    Method::POST,
                    "/api/v1/user_groups/create".into(),
                    form(&[
                        ("name", "Probe Three".into()),
                        ("description", "d".into()),
                        ("members", "[]".into()),
                        ("can_manage_group", o.group.to_string()),
                    ]),
                    vec![],
                )
            },
        ),
        (
            "zulip POST user_groups/create can_manage_group=members",
            |_, o| {
                (
                    Zulip,
                    Method::POST,
                    "/api/v1/user_groups/create".into(),
                    form(&[
                        ("name", "Probe Four".into()),
                        ("description", "d".into()),
                        ("members", "[]".into()),
                        (
                            "can_join_group",
                            json!({"direct_members": [o.user], "direct_subgroups": [o.subgroup]})
                                .to_string(),
                        ),
                    ]),
                    vec![],
                )
            },
        ),
        ("zulip PATCH user_groups/{own} can_manage_group", |s, o| {
            (
                Zulip,
                Method::PATCH,
                format!("/api/v1/user_groups/{}", s.own_group),
                form(&[("can_manage_group", json!({"new": o.group}).to_string())]),
                vec![],
            )
        }),
        (
            "zulip PATCH user_groups/{own} can_join_group members",
            |s, o| {
                (
                    Zulip,
                    Method::PATCH,
                    format!("/api/v1/user_groups/{}", s.own_group),
                    form(&[(
                        "can_join_group",
                        json!({"new": {"direct_members": [o.user], "direct_subgroups": []}})
                            .to_string(),
                    )]),
                    vec![],
                )
            },
        ),
        ("zulip GET events queue_id", |_, o| {
            (
                Zulip,
                Method::GET,
                format!(
                    "/api/v1/events?queue_id={}&last_event_id=-1&dont_block=true",
                    q(&o.queue)
                ),
                Body::None,
                vec![],
            )
        }),
        ("zulip DELETE events queue_id", |_, o| {
            (
                Zulip,
                Method::DELETE,
                "/api/v1/events".into(),
                form(&[("queue_id", o.queue.clone())]),
                vec![],
            )
        }),
        // ---- IMKIT (`/admin`) ----
        ("imkit GET clients/{_id}", |_, o| {
            (
                Imkit,
                Method::GET,
                format!("/admin/clients/{}", q(&o.client_key)),
                Body::None,
                vec![],
            )
        }),
        ("imkit GET groups/{_id}", |_, o| {
            (
                Imkit,
                Method::GET,
                format!("/admin/groups/{}", q(&o.group_key)),
                Body::None,
                vec![],
            )
        }),
        ("imkit DELETE groups/{_id}", |_, o| {
            (
                Imkit,
                Method::DELETE,
                format!("/admin/groups/{}", q(&o.group_key)),
                Body::None,
                vec![],
            )
        }),
        ("imkit GET groups?q=_id", |_, o| {
            (
                Imkit,
                Method::GET,
                format!(
                    "/admin/groups?q={}",
                    q(&json!({"_id": o.group_key}).to_string())
                ),
                Body::None,
                vec![],
            )
        }),
        ("imkit GET groups?q=members", |_, o| {
            (
                Imkit,
                Method::GET,
                format!(
                    "/admin/groups?q={}",
                    q(&json!({"members": o.client_key}).to_string())
                ),
                Body::None,
                vec![],
            )
        }),
        ("imkit GET clients?q=_id", |_, o| {
            (
                Imkit,
                Method::GET,
                format!(
                    "/admin/clients?q={}",
                    q(&json!({"_id": o.client_key}).to_string())
                ),
                Body::None,
                vec![],
            )
        }),
        ("imkit POST groups members", |_, o| {
            (
                Imkit,
                Method::POST,
                "/admin/groups".into(),
                Body::Json(
                    json!({"_id": "probe-imkit", "nickname": "Probe", "members": [o.client_key]}),
                ),
                vec![],
            )
        }),
        // ---- SCIM (`/scim/v2`) ----
        ("scim GET Users/{id}", |_, o| {
            (
                Bearer,
                Method::GET,
                format!("/scim/v2/Users/{}", o.user),
                Body::None,
                vec![],
            )
        }),
        ("scim PUT Users/{id}", |_, o| {
            (
                Bearer,
                Method::PUT,
                format!("/scim/v2/Users/{}", o.user),
                Body::Json(
                    json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                               "userName": "probe@across.example", "active": false}),
                ),
                vec![],
            )
        }),
        ("scim PATCH Users/{id}", |_, o| {
            (
                Bearer,
                Method::PATCH,
                format!("/scim/v2/Users/{}", o.user),
                Body::Json(
                    json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                               "Operations": [{"op": "replace", "path": "active", "value": false}]}),
                ),
                vec![],
            )
        }),
        ("scim DELETE Users/{id}", |_, o| {
            (
                Bearer,
                Method::DELETE,
                format!("/scim/v2/Users/{}", o.user),
                Body::None,
                vec![],
            )
        }),
        ("scim GET Groups/{id}", |_, o| {
            (
                Bearer,
                Method::GET,
                format!("/scim/v2/Groups/{}", o.group),
                Body::None,
                vec![],
            )
        }),
        ("scim PUT Groups/{id}", |_, o| {
            (
                Bearer,
                Method::PUT,
                format!("/scim/v2/Groups/{}", o.group),
                Body::Json(
                    json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
                               "displayName": "Taken Across"}),
                ),
                vec![],
            )
        }),
        ("scim PATCH Groups/{id}", |_, o| {
            (
                Bearer,
                Method::PATCH,
                format!("/scim/v2/Groups/{}", o.group),
                Body::Json(
                    json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                               "Operations": [{"op": "replace", "path": "displayName", "value": "X"}]}),
                ),
                vec![],
            )
        }),
        ("scim DELETE Groups/{id}", |_, o| {
            (
                Bearer,
                Method::DELETE,
                format!("/scim/v2/Groups/{}", o.group),
                Body::None,
                vec![],
            )
        }),
        ("scim GET Users?filter=id", |_, o| {
            (
                Bearer,
                Method::GET,
                format!(
                    "/scim/v2/Users?filter={}",
                    q(&format!("id eq \"{}\"", o.user))
                ),
                Body::None,
                vec![],
            )
        }),
        ("scim GET Users?filter=userName", |_, o| {
            (
                Bearer,
                Method::GET,
                format!(
                    "/scim/v2/Users?filter={}",
                    q(&format!("userName eq \"{}\"", o.user_email))
                ),
                Body::None,
                vec![],
            )
        }),
        ("scim GET Groups?filter=id", |_, o| {
            (
                Bearer,
                Method::GET,
                format!(
                    "/scim/v2/Groups?filter={}",
                    q(&format!("id eq \"{}\"", o.group))
                ),
                Body::None,
                vec![],
            )
        }),
        ("scim GET Groups?filter=members", |_, o| {
            (
                Bearer,
                Method::GET,
                format!(
                    "/scim/v2/Groups?filter={}",
                    q(&format!("members.value eq \"{}\"", o.user))
                ),
                Body::None,
                vec![],
            )
        }),
        ("scim POST Users/.search", |_, o| {
            (
                Bearer,
                Method::POST,
                "/scim/v2/Users/.search".into(),
                Body::Json(
                    json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
                               "filter": format!("id eq \"{}\"", o.user)}),
                ),
                vec![],
            )
        }),
        ("scim POST .search", |_, o| {
            (
                Bearer,
                Method::POST,
                "/scim/v2/.search".into(),
                Body::Json(
                    json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
                               "filter": format!("id eq \"{}\"", o.group)}),
                ),
                vec![],
            )
        }),
        ("scim PATCH Groups/{own} add member", |s, o| {
            (
                Bearer,
                Method::PATCH,
                format!("/scim/v2/Groups/{}", s.own_group),
                Body::Json(
                    json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                               "Operations": [{"op": "add", "path": "members",
                                               "value": [{"value": o.user.to_string()}]}]}),
                ),
                vec![],
            )
        }),
        ("scim PATCH Groups/{own} remove member", |s, o| {
            (
                Bearer,
                Method::PATCH,
                format!("/scim/v2/Groups/{}", s.own_group),
                Body::Json(
                    json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                               "Operations": [{"op": "remove",
                                               "path": format!("members[value eq \"{}\"]", o.user)}]}),
                ),
                vec![],
            )
        }),
        ("scim POST Groups members", |_, o| {
            (
                Bearer,
                Method::POST,
                "/scim/v2/Groups".into(),
                Body::Json(
                    json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
                               "displayName": format!("Probe Scim {}", o.nonce),
                               "members": [{"value": o.user.to_string()}]}),
                ),
                vec![],
            )
        }),
        ("scim POST Groups subgroup member", |_, o| {
            (
                Bearer,
                Method::POST,
                "/scim/v2/Groups".into(),
                Body::Json(
                    json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
                               "displayName": format!("Probe Scim Two {}", o.nonce),
                               "members": [{"value": o.group.to_string(), "type": "Group"}]}),
                ),
                vec![],
            )
        }),
        // ---- native (`/cohort/v1`) ----
        ("native GET groups/{id}/members", |_, o| {
            (
                Bearer,
                Method::GET,
                format!("/cohort/v1/groups/{}/members", o.group),
                Body::None,
                vec![],
            )
        }),
        ("native GET groups/{id}/members (basic)", |_, o| {
            (
                Basic,
                Method::GET,
                format!("/cohort/v1/groups/{}/members?transitive=true", o.group),
                Body::None,
                vec![],
            )
        }),
        ("native GET users/{id}/groups", |_, o| {
            (
                Bearer,
                Method::GET,
                format!("/cohort/v1/users/{}/groups", o.user),
                Body::None,
                vec![],
            )
        }),
        ("native GET audit?group", |_, o| {
            (
                Bearer,
                Method::GET,
                format!("/cohort/v1/audit?group={}", o.group),
                Body::None,
                vec![],
            )
        }),
        ("native GET audit?user", |_, o| {
            (
                Bearer,
                Method::GET,
                format!("/cohort/v1/audit?user={}", o.user),
                Body::None,
                vec![],
            )
        }),
        ("native GET audit?actor=user", |_, o| {
            (
                Bearer,
                Method::GET,
                format!("/cohort/v1/audit?actor=user:{}", o.user),
                Body::None,
                vec![],
            )
        }),
        ("native GET audit?actor=token", |_, o| {
            (
                Bearer,
                Method::GET,
                format!("/cohort/v1/audit?actor=token:{}", q(&o.token_name)),
                Body::None,
                vec![],
            )
        }),
        ("native GET audit?cursor", |_, o| {
            (
                Bearer,
                Method::GET,
                format!("/cohort/v1/audit?limit=1&cursor={}", q(&o.audit_cursor)),
                Body::None,
                vec![],
            )
        }),
        ("native GET access-review?group", |_, o| {
            (
                Bearer,
                Method::GET,
                format!(
                    "/cohort/v1/access-review?from=2000-01-01T00:00:00Z&group={}",
                    o.group
                ),
                Body::None,
                vec![],
            )
        }),
        ("native GET access-review?cursor", |_, o| {
            (
                Bearer,
                Method::GET,
                format!(
                    "/cohort/v1/access-review?from=2000-01-01T00:00:00Z&limit=1&cursor={}",
                    q(&o.review_cursor)
                ),
                Body::None,
                vec![],
            )
        }),
        ("native GET stream Last-Event-ID", |_, o| {
            (
                Bearer,
                Method::GET,
                "/cohort/v1/stream".into(),
                Body::None,
                vec![("last-event-id", o.event.clone())],
            )
        }),
        ("native GET stream ?last_event_id", |_, o| {
            (
                Bearer,
                Method::GET,
                format!("/cohort/v1/stream?last_event_id={}", q(&o.event)),
                Body::None,
                vec![],
            )
        }),
        ("native GET webhooks/{id}", |_, o| {
            (
                Bearer,
                Method::GET,
                format!("/cohort/v1/webhooks/{}", o.webhook),
                Body::None,
                vec![],
            )
        }),
        ("native PATCH webhooks/{id}", |_, o| {
            (
                Bearer,
                Method::PATCH,
                format!("/cohort/v1/webhooks/{}", o.webhook),
                Body::Json(json!({"enabled": false})),
                vec![],
            )
        }),
        ("native DELETE webhooks/{id}", |_, o| {
            (
                Bearer,
                Method::DELETE,
                format!("/cohort/v1/webhooks/{}", o.webhook),
                Body::None,
                vec![],
            )
        }),
        ("native POST webhooks/{id}/rotate-secret", |_, o| {
            (
                Bearer,
                Method::POST,
                format!("/cohort/v1/webhooks/{}/rotate-secret", o.webhook),
                Body::Json(json!({})),
                vec![],
            )
        }),
        ("native GET webhooks/{id}/deliveries", |_, o| {
            (
                Bearer,
                Method::GET,
                format!("/cohort/v1/webhooks/{}/deliveries", o.webhook),
                Body::None,
                vec![],
            )
        }),
        (
            "native POST webhooks/{id}/deliveries/{event}/resend",
            |_, o| {
                (
                    Bearer,
                    Method::POST,
                    format!(
                        "/cohort/v1/webhooks/{}/deliveries/{}/resend",
                        o.webhook,
                        q(&o.event)
                    ),
                    Body::None,
                    vec![],
                )
            },
        ),
        (
            "native POST webhooks/{own}/deliveries/{event}/resend",
            |s, o| {
                (
                    Bearer,
                    Method::POST,
                    format!(
                        "/cohort/v1/webhooks/{}/deliveries/{}/resend",
                        s.own_webhook,
                        q(&o.event)
                    ),
                    Body::None,
                    vec![],
                )
            },
        ),
        ("native POST webhooks/{id}/recover", |_, o| {
            (
                Bearer,
                Method::POST,
                format!("/cohort/v1/webhooks/{}/recover", o.webhook),
                Body::Json(json!({})),
                vec![],
            )
        }),
        // ---- admin page (`/ui`) ----
        ("ui GET groups/{id}", |_, o| {
            (
                Cookie,
                Method::GET,
                format!("/ui/groups/{}", o.group),
                Body::None,
                vec![],
            )
        }),
        ("ui GET groups/{id}/history", |_, o| {
            (
                Cookie,
                Method::GET,
                format!("/ui/groups/{}/history", o.group),
                Body::None,
                vec![],
            )
        }),
        ("ui GET groups/{id}/members.csv", |_, o| {
            (
                Cookie,
                Method::GET,
                format!("/ui/groups/{}/members.csv", o.group),
                Body::None,
                vec![],
            )
        }),
        ("ui GET people/{id}", |_, o| {
            (
                Cookie,
                Method::GET,
                format!("/ui/people/{}", o.user),
                Body::None,
                vec![],
            )
        }),
        ("ui GET people/{id}/history", |_, o| {
            (
                Cookie,
                Method::GET,
                format!("/ui/people/{}/history", o.user),
                Body::None,
                vec![],
            )
        }),
        ("ui GET review?group", |_, o| {
            (
                Cookie,
                Method::GET,
                format!("/ui/review?from=2000-01-01T00:00&group={}", o.group),
                Body::None,
                vec![],
            )
        }),
        ("ui POST groups/{id}/name", |s, o| {
            (
                Cookie,
                Method::POST,
                format!("/ui/groups/{}/name", o.group),
                form(&[("csrf", s.csrf.clone()), ("name", "Taken Across".into())]),
                vec![],
            )
        }),
        ("ui POST groups/{id}/description", |s, o| {
            (
                Cookie,
                Method::POST,
                format!("/ui/groups/{}/description", o.group),
                form(&[("csrf", s.csrf.clone()), ("description", "defaced".into())]),
                vec![],
            )
        }),
        ("ui POST groups/{id}/members", |s, o| {
            (
                Cookie,
                Method::POST,
                format!("/ui/groups/{}/members", o.group),
                form(&[
                    ("csrf", s.csrf.clone()),
                    ("add_user", s.own_user.to_string()),
                ]),
                vec![],
            )
        }),
        ("ui POST groups/{id}/deactivate", |s, o| {
            (
                Cookie,
                Method::POST,
                format!("/ui/groups/{}/deactivate", o.group),
                form(&[("csrf", s.csrf.clone())]),
                vec![],
            )
        }),
        ("ui POST groups/{id}/reactivate", |s, o| {
            (
                Cookie,
                Method::POST,
                format!("/ui/groups/{}/reactivate", o.group),
                form(&[("csrf", s.csrf.clone())]),
                vec![],
            )
        }),
        ("ui POST groups/{id}/settings", |s, o| {
            (
                Cookie,
                Method::POST,
                format!("/ui/groups/{}/settings", o.group),
                form(&[
                    ("csrf", s.csrf.clone()),
                    ("setting", "can_join_group".into()),
                    ("old", "role:nobody".into()),
                    ("new", "role:everyone".into()),
                ]),
                vec![],
            )
        }),
        ("ui POST groups/{own}/members add_user", |s, o| {
            (
                Cookie,
                Method::POST,
                format!("/ui/groups/{}/members", s.own_group),
                form(&[("csrf", s.csrf.clone()), ("add_user", o.user.to_string())]),
                vec![],
            )
        }),
        ("ui POST groups/{own}/members remove_user", |s, o| {
            (
                Cookie,
                Method::POST,
                format!("/ui/groups/{}/members", s.own_group),
                form(&[
                    ("csrf", s.csrf.clone()),
                    ("remove_user", o.user.to_string()),
                ]),
                vec![],
            )
        }),
        ("ui POST groups/{own}/members add_group", |s, o| {
            (
                Cookie,
                Method::POST,
                format!("/ui/groups/{}/members", s.own_group),
                form(&[("csrf", s.csrf.clone()), ("add_group", o.group.to_string())]),
                vec![],
            )
        }),
        ("ui POST groups/{own}/members remove_group", |s, o| {
            (
                Cookie,
                Method::POST,
                format!("/ui/groups/{}/members", s.own_group),
                form(&[
                    ("csrf", s.csrf.clone()),
                    ("remove_group", o.subgroup.to_string()),
                ]),
                vec![],
            )
        }),
        ("ui POST groups/{own}/name with other csrf", |s, o| {
            (
                Cookie,
                Method::POST,
                format!("/ui/groups/{}/name", s.own_group),
                form(&[("csrf", o.csrf.clone()), ("name", "Forged Across".into())]),
                vec![],
            )
        }),
        ("ui POST logout with other csrf", |_, o| {
            (
                Cookie,
                Method::POST,
                "/ui/logout".into(),
                form(&[("csrf", o.csrf.clone())]),
                vec![],
            )
        }),
        ("ui GET live Last-Event-ID", |_, o| {
            (
                Cookie,
                Method::GET,
                "/ui/live".into(),
                Body::None,
                vec![("last-event-id", o.event.clone())],
            )
        }),
    ]
}

/// Send one probe; an event stream is read for a moment only.
async fn send(http: &reqwest::Client, base: &str, side: &Side, cred: Cred, req: Request) -> Answer {
    let mut builder = http.request(req.method, format!("{base}{}", req.path));
    builder = match cred {
        Cred::Zulip | Cred::Basic => builder.basic_auth(&side.owner.email, Some(&side.owner.key)),
        Cred::Imkit => builder.header("IM-API-KEY", &side.platform_key),
        Cred::Bearer => builder.bearer_auth(&side.token),
        Cred::Cookie => builder
            .header("cookie", format!("cohort_session={}", side.cookie))
            .header("origin", base),
    };
    for (name, value) in req.headers {
        builder = builder.header(name, value);
    }
    builder = match req.body {
        Body::None => builder,
        Body::Form(pairs) => builder.form(&pairs),
        Body::Json(value) => builder
            .header("content-type", "application/json")
            .body(value.to_string()),
    };
    let mut response = builder.send().await.expect("request");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let streaming = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.starts_with("text/event-stream"));
    let body = if streaming {
        // What a stream sends within a moment (a resumed stream sends its
        // backlog at once).
        let mut bytes = Vec::new();
        let deadline = tokio::time::Instant::now() + Duration::from_millis(400);
        while let Ok(Ok(Some(chunk))) = tokio::time::timeout_at(deadline, response.chunk()).await {
            bytes.extend_from_slice(&chunk);
        }
        String::from_utf8_lossy(&bytes).into_owned()
    } else {
        response.text().await.expect("body")
    };
    Answer {
        status,
        headers,
        body,
    }
}

/// Replace `needle` where it stands alone (not inside a longer word or
/// number), so `12` in `112` or `2012` stays.
fn replace_word(text: &str, needle: &str, with: &str) -> String {
    if needle.is_empty() {
        return text.to_string();
    }
    let word = |c: char| c.is_ascii_alphanumeric();
    let mut out = String::new();
    let mut rest = text;
    while let Some(at) = rest.find(needle) {
        let before = rest[..at].chars().next_back();
        let after = rest[at + needle.len()..].chars().next();
        let alone = !before.is_some_and(word) && !after.is_some_and(word);
        out.push_str(&rest[..at]);
        out.push_str(if alone { with } else { needle });
        rest = &rest[at + needle.len()..];
    }
    out.push_str(rest);
    out
}

/// Timestamps (`2026-12-01T23:48:24.035Z`, `2026-12-01 23:48`) as `{TIME}`:
/// they differ between two runs and their digits look like ids.
fn mask_times(text: &str) -> String {
    let b = text.as_bytes();
    let digits = |from: usize, n: usize| {
        from + n <= b.len() && b[from..from + n].iter().all(u8::is_ascii_digit)
    };
    let mut out = String::new();
    let mut i = 0;
    let mut copied = 0;
    while i < b.len() {
        let date = digits(i, 4)
            && b.get(i + 4) == Some(&b'-')
            && digits(i + 5, 2)
            && b.get(i + 7) == Some(&b'-')
            && digits(i + 8, 2);
        if !date {
            i += 1;
            continue;
        }
        let mut end = i + 10;
        if matches!(b.get(end), Some(b'T' | b' '))
            && digits(end + 1, 2)
            && b.get(end + 3) == Some(&b':')
            && digits(end + 4, 2)
        {
            end += 6;
            if b.get(end) == Some(&b':') && digits(end + 1, 2) {
                end += 3;
            }
            if b.get(end) == Some(&b'.') {
                end += 1;
                while end < b.len() && b[end].is_ascii_digit() {
                    end += 1;
                }
            }
            if b.get(end) == Some(&b'Z') {
                end += 1;
            }
        }
        out.push_str(&text[copied..i]);
        out.push_str("{TIME}");
        copied = end;
        i = end;
    }
    out.push_str(&text[copied..]);
    out
}

/// Probes that create something in the caller's own realm (SCIM drops
/// member ids naming nothing, as providers expect): the two runs make two
/// things, so their ids, versions and locations differ; what must match is
/// the status and what was made of the other realm's ids (nothing).
fn creates(name: &str) -> bool {
    matches!(
        name,
        "scim POST Groups members" | "scim POST Groups subgroup member"
    )
}

/// The answer with the probe's ids replaced (in the body and headers, also
/// percent-encoded), and without the headers that differ on every request.
fn normalise(answer: &Answer, ids: &Ids) -> (u16, Vec<(String, String)>, String) {
    let mut swaps: Vec<(String, &str)> = vec![
        (ids.user.to_string(), "{USER}"),
        (ids.user_email.clone(), "{EMAIL}"),
        (ids.client_key.clone(), "{CLIENT}"),
        (ids.group.to_string(), "{GROUP}"),
        (ids.group_key.clone(), "{GROUPKEY}"),
        (ids.subgroup.to_string(), "{SUBGROUP}"),
        (ids.webhook.to_string(), "{WEBHOOK}"),
        (ids.queue.clone(), "{QUEUE}"),
        (ids.event.clone(), "{EVENT}"),
        (ids.audit_cursor.clone(), "{CURSOR}"),
        (ids.review_cursor.clone(), "{RCURSOR}"),
        (ids.token_name.clone(), "{TOKEN}"),
        (ids.csrf.clone(), "{CSRF}"),
        (ids.nonce.clone(), "{NONCE}"),
    ];
    // Longest first, so an id inside another (an event id holds the realm
    // id) is replaced whole.
    let encoded: Vec<(String, &str)> = swaps.iter().map(|(s, p)| (percent(s), *p)).collect();
    swaps.extend(encoded);
    swaps.sort_by_key(|(s, _)| std::cmp::Reverse(s.len()));
    let apply = |text: &str| {
        swaps
            .iter()
            .fold(text.to_string(), |t, (s, p)| replace_word(&t, s, p))
    };
    let request_id = answer
        .headers
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let body = apply(&mask_times(&answer.body.replace(&request_id, "{REQUEST}")));
    let mut headers: Vec<(String, String)> = answer
        .headers
        .iter()
        // The bucket's remaining count and refill time move with every
        // request, whatever its ids.
        .filter(|(name, _)| {
            !matches!(
                name.as_str(),
                "date"
                    | "x-request-id"
                    | "content-length"
                    | "x-ratelimit-remaining"
                    | "x-ratelimit-reset"
            )
        })
        .map(|(name, value)| {
            (
                name.to_string(),
                apply(&String::from_utf8_lossy(value.as_bytes())),
            )
        })
        .collect();
    headers.sort();
    (answer.status, headers, body)
}

/// Run the whole table as `caller` against `other`'s ids and against
/// ghosts; returns the number of probes and every failure found.
async fn probe(base: &str, caller: &Side, other: &Side, ghost: &Ids) -> (usize, Vec<String>) {
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client");
    let mut failures = Vec::new();
    let mut probes = 0;

    for (name, template) in templates() {
        let mut answers = Vec::new();
        for (run, ids) in [&other.ids, ghost].into_iter().enumerate() {
            let ids = &Ids {
                nonce: format!("{}-{run}", ids.nonce),
                ..ids.clone()
            };
            let (cred, method, path, body, headers) = template(caller, ids);
            let answer = send(
                &http,
                base,
                caller,
                cred,
                Request {
                    method,
                    path,
                    headers,
                    body,
                },
            )
            .await;
            probes += 1;
            answers.push(answer);
        }
        let theirs = &answers[0];

        // (a) Not a byte of the other realm: its strings are nowhere but in
        // the echo of what the probe itself sent.
        let echo = normalise(theirs, &other.ids);
        let seen = format!("{:?}\n{}", echo.1, echo.2);
        for secret in &other.distinctive {
            if seen.contains(secret.as_str()) {
                failures.push(format!(
                    "{} as {}: the answer holds {}'s {secret:?}: {} {}",
                    name, caller.name, other.name, theirs.status, theirs.body
                ));
            }
        }
        // (c) Indistinguishable from an id that exists nowhere.
        let ghostly = normalise(&answers[1], ghost);
        if creates(name) {
            let made = |a: &Answer| {
                let body: Value = serde_json::from_str(&a.body).unwrap_or(Value::Null);
                (a.status, body["members"].clone())
            };
            if made(theirs) != made(&answers[1]) || made(theirs) != (201, Value::Null) {
                failures.push(format!(
                    "{} as {}: made with {}'s ids {:?}, with ghosts {:?}",
                    name,
                    caller.name,
                    other.name,
                    made(theirs),
                    made(&answers[1])
                ));
            }
            continue;
        }
        if echo != ghostly {
            failures.push(format!(
                "{} as {}: {}'s ids answer differently from ids of no realm:\n  theirs: {:?}\n  ghost:  {:?}",
                name, caller.name, other.name, echo, ghostly
            ));
        }
        if theirs.status / 100 == 2 && theirs.status != 200 {
            failures.push(format!(
                "{} as {}: {}'s ids were accepted ({}): {}",
                name, caller.name, other.name, theirs.status, theirs.body
            ));
        }
    }
    (probes, failures)
}

/// What must not move: the realm's version, export, webhooks and tokens.
fn state(cohort: &Cohort, realm: &str) -> Value {
    let realms = cohort.realms();
    let row = realms
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == realm)
        .cloned()
        .expect("the realm");
    let out = cohort.path(&format!("{realm}.jsonl"));
    cohort.cli_json(&["realm", "list", "--json"]);
    let exported = cohort.cli(&[
        "export",
        "--realm",
        realm,
        "--format",
        "jsonl",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(
        exported.status.success(),
        "{}",
        String::from_utf8_lossy(&exported.stderr)
    );
    // The header line says when the export was made.
    let export = mask_times(&std::fs::read_to_string(&out).expect("export"));
    let mut tokens = cohort.cli_json(&["token", "list", "--realm", realm, "--all", "--json"]);
    // When a token was last used moves with every use (and both realms'
    // tokens are used here); everything else must not.
    if let Some(list) = tokens.as_array_mut() {
        for token in list {
            if let Some(obj) = token.as_object_mut() {
                obj.retain(|k, _| !k.contains("used"));
            }
        }
    }
    let webhooks = cohort.cli_json(&["webhook", "list", "--realm", realm, "--json"]);
    json!({"realm": row, "export": export, "tokens": tokens, "webhooks": webhooks})
}

fn cli_json(cohort: &Cohort, args: &[&str]) -> Value {
    cohort.cli_json(args)
}

/// A login link's key, from the CLI.
fn login_key(cohort: &Cohort, realm: &str, email: &str) -> String {
    let out = cohort.cli(&["login-link", "--realm", realm, "--email", email]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .rsplit('/')
        .next()
        .expect("a key")
        .to_string()
}

struct Made {
    side: Side,
    login_link: String,
}

/// Fill one realm: users (CLI), groups, a webhook, a queue, a session,
/// cursors; returns it as a caller and as a target.
async fn make_side(
    cohort: &Cohort,
    name: &'static str,
    owner: Account,
    platform_key: String,
    tag: &str,
) -> Made {
    let base = cohort.base.clone();
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let api = cohort.api(&owner);
    let member_email = format!("member@{tag}.example");
    let member = cli_json(
        cohort,
        &[
            "user",
            "add",
            "--realm",
            name,
            "--json",
            "--email",
            &member_email,
            "--name",
            &format!("{tag} Quentin Member"),
            "--key",
            &format!("{tag}-client-qx"),
        ],
    );
    let member_id = member["user_id"].as_i64().unwrap();
    let token_name = format!("{tag}-all-scopes");
    let made = cli_json(
        cohort,
        &[
            "token",
            "create",
            "--realm",
            name,
            "--scope",
            "scim,audit:read,events,webhooks",
            "--name",
            &token_name,
            "--json",
        ],
    );
    let token = made["token"].as_str().unwrap().to_string();
    // The server learns of CLI writes by polling.
    let mut seen = false;
    for _ in 0..500 {
        if api.get(&format!("/users/{member_id}"), &[]).await.0 == 200
            && http
                .get(format!("{base}/cohort/v1/realm"))
                .bearer_auth(&token)
                .send()
                .await
                .unwrap()
                .status()
                == 200
        {
            seen = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(seen, "the server never saw {name}'s member and token");
    let create = |group: String, description: String, members: Vec<i64>, subgroups: Vec<i64>| {
        let api = cohort.api(&owner);
        async move {
            let (status, body) = api
                .post(
                    "/user_groups/create",
                    &[
                        ("name", group),
                        ("description", description),
                        ("members", json!(members).to_string()),
                        ("subgroups", json!(subgroups).to_string()),
                    ],
                )
                .await;
            assert_eq!(status, 200, "{body}");
            body["group_id"].as_i64().unwrap()
        }
    };
    let subgroup = create(
        format!("{tag} Yonder Subgroup"),
        format!("{tag} sub description"),
        vec![member_id],
        vec![],
    )
    .await;
    let group = create(
        format!("{tag} Zephyr Group"),
        format!("{tag} secret description"),
        vec![member_id, owner.id],
        vec![subgroup],
    )
    .await;
    let groups = cli_json(cohort, &["group", "list", "--realm", name, "--json"]);
    let group_key = groups
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["id"] == group)
        .and_then(|g| g["key"].as_str())
        .expect("the group's key")
        .to_string();
    // A webhook endpoint (never reachable: nothing is delivered, which is
    // not what this suite is about).
    let hook = http
        .post(format!("{base}/cohort/v1/webhooks"))
        .bearer_auth(&token)
        .json(&json!({"url": format!("https://hooks.{tag}.example/in")}))
        .send()
        .await
        .unwrap();
    assert_eq!(hook.status(), 201);
    let hook: Value = hook.json().await.unwrap();
    let webhook = hook["webhook"]["id"].as_i64().unwrap();
    // An event queue of the owner.
    let (status, registered) = api
        .post("/register", &[("event_types", "[\"user_group\"]".into())])
        .await;
    assert_eq!(status, 200, "{registered}");
    let queue = registered["queue_id"].as_str().unwrap().to_string();
    // Audit positions: an event id, an audit cursor, a review cursor.
    let page: Value = http
        .get(format!("{base}/cohort/v1/audit?limit=1"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let event = page["events"][0]["id"].as_str().unwrap().to_string();
    let cursor_of = |page: &Value| -> String {
        let next = page["next"].as_str().expect("a next page");
        let encoded = next.rsplit("cursor=").next().unwrap();
        percent_decode(encoded)
    };
    let audit_cursor = cursor_of(&page);
    let review: Value = http
        .get(format!(
            "{base}/cohort/v1/access-review?from=2000-01-01T00:00:00Z&limit=1"
        ))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let review_cursor = cursor_of(&review);
    // An admin page session, and a pending link.
    let key = login_key(cohort, name, &owner.email);
    let opened = http
        .post(format!("{base}/ui/login/{key}"))
        .send()
        .await
        .unwrap();
    assert_eq!(opened.status(), 303);
    let cookie = opened
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .and_then(|c| c.strip_prefix("cohort_session="))
        .and_then(|c| c.split(';').next())
        .expect("a session cookie")
        .to_string();
    let page = http
        .get(format!("{base}/ui/groups"))
        .header("cookie", format!("cohort_session={cookie}"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let marker = r#"name="csrf" value=""#;
    let at = page.find(marker).expect("a CSRF field") + marker.len();
    let csrf = page[at..at + page[at..].find('"').unwrap()].to_string();
    let login_link = login_key(cohort, name, &owner.email);
    let mut distinctive = vec![
        tag.to_string(),
        member_email.clone(),
        owner.email.clone(),
        format!("{tag}-client-qx"),
        token_name.clone(),
        name.to_string(),
    ];
    // A key that is a number (the default, the group's id) is found by
    // the comparison with ghosts instead.
    if !group_key.bytes().all(|b| b.is_ascii_digit()) {
        distinctive.push(group_key.clone());
    }
    let ids = Ids {
        user: member_id,
        user_email: member_email,
        client_key: format!("{tag}-client-qx"),
        group,
        group_key,
        subgroup,
        webhook,
        queue,
        event,
        audit_cursor,
        review_cursor,
        token_name,
        csrf: csrf.clone(),
        nonce: tag.to_string(),
    };
    Made {
        side: Side {
            name,
            own_group: group,
            own_user: member_id,
            own_webhook: webhook,
            owner,
            platform_key,
            token,
            cookie,
            csrf,
            ids,
            distinctive,
        },
        login_link,
    }
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() + 1 {
            if let Ok(b) = u8::from_str_radix(&text[i + 1..i + 3], 16) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8(out).unwrap()
}

/// Ids of the same shapes as a realm's, that exist in no realm.
fn ghost_of(real: &Ids, salt: i64) -> Ids {
    let far = 900_000 + salt;
    // Same shape: a realm id no realm has, the same version and index.
    let mut parts = real.event.splitn(2, '-');
    let _realm = parts.next();
    let event = format!("{}-{}", 977_000 + salt, parts.next().unwrap_or("1-0"));
    // A cursor of the same length, with its characters shifted: well
    // formed as text, valid for no realm.
    let shift = |c: &str| -> String {
        c.chars()
            .map(|ch| match ch {
                'a'..='y' | 'A'..='Y' | '0'..='8' => (ch as u8 + 1) as char,
                'z' => 'a',
                'Z' => 'A',
                '9' => '0',
                other => other,
            })
            .collect()
    };
    Ids {
        user: far + 1,
        user_email: format!("nobody{salt}@ghost.example"),
        client_key: format!("ghost-client-{salt}"),
        group: far + 2,
        group_key: format!("ghost-group-{salt}"),
        subgroup: far + 3,
        webhook: far + 4,
        queue: format!("{salt:032x}"),
        event,
        audit_cursor: shift(&real.audit_cursor),
        review_cursor: shift(&real.review_cursor),
        token_name: format!("ghost-token-{salt}"),
        csrf: shift(&real.csrf),
        nonce: "ghost".into(),
    }
}

#[tokio::test]
async fn no_realm_reaches_another() {
    let (mut cohort, alpha_owner, alpha_platform) = Cohort::init();
    let bravo = cohort.cli_json(&[
        "realm",
        "add",
        "--name",
        "Bravo",
        "--owner-email",
        "owner@bravozq.example",
        "--owner-name",
        "Bravozq Zoltan Owner",
        "--json",
    ]);
    let bravo_users = cohort.cli_json(&["user", "list", "--realm", "Bravo", "--json"]);
    let bravo_owner = Account {
        id: bravo_users[0]["user_id"].as_i64().unwrap(),
        email: bravo["email"].as_str().unwrap().to_string(),
        key: bravo["api_key"].as_str().unwrap().to_string(),
    };
    let bravo_platform = bravo["platform_key"].as_str().unwrap().to_string();
    cohort.start();
    let alpha = make_side(&cohort, "Test", alpha_owner, alpha_platform, "alphayx").await;
    let bravo = make_side(&cohort, "Bravo", bravo_owner, bravo_platform, "bravozq").await;
    // The realm name "Test" is too common to grep for in Alpha's answers.
    let mut alpha_side = alpha.side;
    alpha_side.distinctive.retain(|s| s != "Test");
    let bravo_side = bravo.side;

    // Let the webhook sender make its first attempts, so its bookkeeping
    // is not what moves during the probes.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let base = cohort.base.clone();
    // Alpha's caller against Bravo's ids: Bravo must not move (Alpha may:
    // a probe may make something of its own there).
    let before = state(&cohort, "Bravo");
    let (a_probes, mut failures) = probe(
        &base,
        &alpha_side,
        &bravo_side,
        &ghost_of(&bravo_side.ids, 1),
    )
    .await;
    let after = state(&cohort, "Bravo");
    if before != after {
        failures.push(format!(
            "Bravo changed:\n  before {before}\n  after  {after}"
        ));
    }
    // And the other way round.
    let before = state(&cohort, "Test");
    let (b_probes, more) = probe(
        &base,
        &bravo_side,
        &alpha_side,
        &ghost_of(&alpha_side.ids, 2),
    )
    .await;
    failures.extend(more);
    let after = state(&cohort, "Test");
    if before != after {
        failures.push(format!(
            "Alpha changed:\n  before {before}\n  after  {after}"
        ));
    }
    println!(
        "cross-realm probes: {} ({} templates, both directions, each with the other realm's ids and with ghosts)",
        a_probes + b_probes,
        templates().len()
    );

    // Every credential, session, queue and pending link still works.
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    for (side, link) in [
        (&alpha_side, &alpha.login_link),
        (&bravo_side, &bravo.login_link),
    ] {
        let (status, body) = cohort
            .api(&side.owner)
            .get(
                "/events",
                &[
                    ("queue_id", side.ids.queue.clone()),
                    ("last_event_id", "-1".into()),
                    ("dont_block", "true".into()),
                ],
            )
            .await;
        assert_eq!(status, 200, "{}'s queue: {body}", side.name);
        let page = http
            .get(format!("{base}/ui/groups/{}", side.own_group))
            .header("cookie", format!("cohort_session={}", side.cookie))
            .send()
            .await
            .unwrap();
        assert_eq!(page.status(), 200, "{}'s session", side.name);
        let imkit = http
            .get(format!("{base}/admin/groups/{}", side.ids.group_key))
            .header("IM-API-KEY", &side.platform_key)
            .send()
            .await
            .unwrap();
        assert_eq!(imkit.status(), 200, "{}'s platform key", side.name);
        let scim = http
            .get(format!("{base}/scim/v2/Groups/{}", side.own_group))
            .bearer_auth(&side.token)
            .send()
            .await
            .unwrap();
        assert_eq!(scim.status(), 200, "{}'s token", side.name);
        let opened = http
            .post(format!("{base}/ui/login/{link}"))
            .send()
            .await
            .unwrap();
        assert_eq!(opened.status(), 303, "{}'s pending link", side.name);
    }
    assert!(
        failures.is_empty(),
        "{} problem(s) across realms:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
