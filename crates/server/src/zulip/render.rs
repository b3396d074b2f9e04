//! Zulip's JSON views of groups and users, and the success envelope.
//!
//! `GET /user_groups` is the hot read: its body is built once per realm version
//! from per-group fragments, and a fragment is re-rendered only when that group
//! changed (its revision moved), so a write costs one fragment plus a
//! concatenation, not a full render.

use super::params::Params;
use axum::body::Bytes;
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use cohort_core::command::visible_value;
use cohort_core::{Group, GroupId, RealmId, SettingValue, Snapshot, User, Version};
use md5::Digest;
use serde::Serialize;
use serde_json::{json, Map, Value};
use std::collections::HashMap;
use std::sync::Mutex;

/// `{"result": "success", "msg": "", ...fields}` plus `ignored_parameters_unsupported`.
pub fn success(params: &Params, fields: Value) -> Response {
    let mut body = Map::new();
    body.insert("result".into(), json!("success"));
    body.insert("msg".into(), json!(""));
    if let Value::Object(fields) = fields {
        body.extend(fields);
    }
    let ignored = params.ignored();
    if !ignored.is_empty() {
        body.insert("ignored_parameters_unsupported".into(), json!(ignored));
    }
    axum::Json(Value::Object(body)).into_response()
}

/// A pre-rendered success body, with `ignored_parameters_unsupported` spliced in
/// when needed.
pub fn success_bytes(params: &Params, body: Bytes) -> Response {
    let ignored = params.ignored();
    let body = if ignored.is_empty() {
        body
    } else {
        let mut spliced = body[..body.len() - 1].to_vec();
        spliced.extend_from_slice(b",\"ignored_parameters_unsupported\":");
        spliced.extend_from_slice(json!(ignored).to_string().as_bytes());
        spliced.push(b'}');
        Bytes::from(spliced)
    };
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        body,
    )
        .into_response()
}

/// `{"result":"success","msg":"","<field>":[ids…]}`, written directly (lists
/// can hold 100,000 ids).
pub fn id_list_body(field: &str, ids: impl Iterator<Item = i64>) -> Bytes {
    use std::io::Write;
    let mut body = Vec::with_capacity(64);
    let _ = write!(body, "{{\"result\":\"success\",\"msg\":\"\",\"{field}\":[");
    for (i, id) in ids.enumerate() {
        if i > 0 {
            body.push(b',');
        }
        let _ = write!(body, "{id}");
    }
    body.extend_from_slice(b"]}");
    Bytes::from(body)
}

/// A group-setting value as clients see it.
pub fn setting_json(snap: &Snapshot, value: &SettingValue) -> Value {
    match visible_value(snap, value) {
        SettingValue::Group(id) => json!(id.0),
        SettingValue::Anonymous { members, subgroups } => json!({
            "direct_members": members.iter().map(|u| u.0).collect::<Vec<_>>(),
            "direct_subgroups": subgroups.iter().map(|g| g.0).collect::<Vec<_>>(),
        }),
    }
}

#[derive(Serialize)]
struct GroupView<'a> {
    id: i64,
    name: &'a str,
    creator_id: Option<i64>,
    date_created: Option<i64>,
    description: &'a str,
    members: Vec<i64>,
    direct_subgroup_ids: Vec<i64>,
    is_system_group: bool,
    can_add_members_group: Value,
    can_join_group: Value,
    can_leave_group: Value,
    can_manage_group: Value,
    can_mention_group: Value,
    can_remove_members_group: Value,
    deactivated: bool,
}

fn group_view<'a>(snap: &Snapshot, group: &'a Group) -> GroupView<'a> {
    let setting = |i: usize| setting_json(snap, &group.settings[i]);
    GroupView {
        id: group.id.0,
        name: &group.name,
        creator_id: group.creator.map(|u| u.0),
        date_created: (!group.is_system()).then_some(group.created_at.div_euclid(1000)),
        description: &group.description,
        members: snap.direct_members(group.id).iter().map(|u| u.0).collect(),
        direct_subgroup_ids: group.subgroups.iter().map(|g| g.0).collect(),
        is_system_group: group.is_system(),
        can_add_members_group: setting(0),
        can_join_group: setting(1),
        can_leave_group: setting(2),
        can_manage_group: setting(3),
        can_mention_group: setting(4),
        can_remove_members_group: setting(5),
        deactivated: group.deactivated,
    }
}

struct RenderedList {
    version: Version,
    active_only: Bytes,
    with_deactivated: Bytes,
    /// Group → (revision it was rendered at, its JSON).
    fragments: HashMap<GroupId, (Version, Bytes)>,
}

/// Per-realm cache of the `GET /user_groups` bodies.
#[derive(Default)]
pub struct GroupListCache {
    realms: Mutex<HashMap<RealmId, RenderedList>>,
}

impl GroupListCache {
    pub fn body(&self, snap: &Snapshot, include_deactivated: bool) -> Bytes {
        let mut realms = self.realms.lock().unwrap_or_else(|e| e.into_inner());
        let cached = realms
            .entry(snap.realm_id())
            .or_insert_with(|| RenderedList {
                version: Version::MAX,
                active_only: Bytes::new(),
                with_deactivated: Bytes::new(),
                fragments: HashMap::new(),
            });
        if cached.version != snap.version() {
            rebuild(cached, snap);
        }
        if include_deactivated {
            cached.with_deactivated.clone()
        } else {
            cached.active_only.clone()
        }
    }
}

fn rebuild(cached: &mut RenderedList, snap: &Snapshot) {
    const HEAD: &[u8] = b"{\"result\":\"success\",\"msg\":\"\",\"user_groups\":[";
    let mut active = Vec::with_capacity(cached.active_only.len().max(1024));
    let mut all = Vec::with_capacity(cached.with_deactivated.len().max(1024));
    active.extend_from_slice(HEAD);
    all.extend_from_slice(HEAD);
    let mut fragments = HashMap::with_capacity(snap.group_count());
    for group in snap.groups() {
        let rev = snap.group_rev(group.id);
        let fragment = match cached.fragments.remove(&group.id) {
            Some((at, bytes)) if at == rev => bytes,
            _ => Bytes::from(serde_json::to_vec(&group_view(snap, group)).unwrap_or_default()),
        };
        if !group.deactivated {
            if active.len() > HEAD.len() {
                active.push(b',');
            }
            active.extend_from_slice(&fragment);
        }
        if all.len() > HEAD.len() {
            all.push(b',');
        }
        all.extend_from_slice(&fragment);
        fragments.insert(group.id, (rev, fragment));
    }
    active.extend_from_slice(b"]}");
    all.extend_from_slice(b"]}");
    cached.version = snap.version();
    cached.active_only = Bytes::from(active);
    cached.with_deactivated = Bytes::from(all);
    cached.fragments = fragments;
}

/// Zulip renders `date_joined` to the minute, e.g. `2019-10-20T07:50+00:00`.
fn date_joined(millis: i64) -> String {
    let format = time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]+00:00");
    time::OffsetDateTime::from_unix_timestamp(millis.div_euclid(1000))
        .ok()
        .and_then(|t| t.format(&format).ok())
        .unwrap_or_default()
}

/// Users without an avatar of their own use Gravatar, as on Zulip.
fn gravatar_url(email: &str) -> String {
    let digest = md5::Md5::digest(email.trim().to_lowercase().as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("https://secure.gravatar.com/avatar/{hex}?d=identicon&version=1")
}

/// Zulip's API email: the real one, or (for directory entries without one,
/// such as IMKIT clients) a placeholder in Zulip's `user{id}@…` style.
pub fn display_email(user: &User) -> String {
    match &user.email {
        Some(email) => email.to_string(),
        None => format!("user{}@cohort.invalid", user.id),
    }
}

/// Zulip's user object. cohort shows every user's real email to everyone (a
/// realm with Zulip's `email_address_visibility` set to "everyone").
pub fn user_json(user: &User, client_gravatar: bool) -> Value {
    let avatar_url = match &user.avatar_url {
        Some(url) => json!(url),
        None if client_gravatar => Value::Null,
        None => json!(gravatar_url(user.email.as_deref().unwrap_or(&user.key))),
    };
    let mut view = json!({
        "user_id": user.id.0,
        "email": display_email(user),
        "delivery_email": user.email.as_deref(),
        "full_name": user.full_name,
        "date_joined": date_joined(user.date_joined),
        "is_active": user.active,
        "is_owner": user.role == cohort_core::Role::Owner,
        "is_admin": user.role.is_admin(),
        "is_guest": user.role == cohort_core::Role::Guest,
        "is_bot": user.is_bot,
        "role": user.role.code(),
        "timezone": "",
        "avatar_url": avatar_url,
        "avatar_version": 1,
        "is_imported_stub": false,
    });
    if user.is_bot {
        if let Value::Object(map) = &mut view {
            // Generic bot (Zulip's bot_type 1).
            map.insert("bot_type".into(), json!(1));
            map.insert("bot_owner_id".into(), json!(user.bot_owner.map(|u| u.0)));
        }
    }
    view
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_and_gravatars() {
        assert_eq!(date_joined(1_571_557_852_301), "2019-10-20T07:50+00:00");
        assert_eq!(
            gravatar_url(" Test@Example.com "),
            "https://secure.gravatar.com/avatar/55502f40dc8b7c769880b10874abc9d0?d=identicon&version=1"
        );
    }
}
