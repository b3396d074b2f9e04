//! Zulip's JSON views of groups and users.

use axum::body::Bytes;
use cohort_core::command::visible_value;
use cohort_core::{Group, GroupId, SettingValue, Snapshot, User};
use md5::Digest;
use serde::Serialize;
use serde_json::{json, Value};

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
pub(crate) struct GroupView<'a> {
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

pub(crate) fn group_view<'a>(snap: &Snapshot, group: &'a Group) -> GroupView<'a> {
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

/// One group's JSON object, as listed by `GET /user_groups` (empty if the
/// group is not in `snap`).
pub(crate) fn group_fragment(snap: &Snapshot, id: GroupId) -> Bytes {
    snap.group(id)
        .map(|g| Bytes::from(serde_json::to_vec(&group_view(snap, g)).unwrap_or_default()))
        .unwrap_or_default()
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
