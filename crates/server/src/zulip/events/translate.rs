//! One commit as Zulip's events, in Zulip's shapes (`zerver/lib/event_types.py`
//! at the feature level cohort claims): `user_group` (`add`, `update` with
//! only the changed keys, `add_members`, `remove_members`, `add_subgroups`,
//! `remove_subgroups`, `remove`), `realm_user` (`add`, `update`) and `realm`
//! (`update_dict` for the group-valued settings, `update` for the name).
//! Each event is rendered from the snapshots just before and just after the
//! commit, so names and settings are those the change produced.

use crate::zulip::views::{group_view, setting_json, user_json};
use cohort_core::{Change, Commit, GroupId, Snapshot, UserId};
use serde_json::{json, Value};

/// The event types cohort serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    UserGroup,
    RealmUser,
    Realm,
}

impl Kind {
    pub const ALL: [Kind; 3] = [Kind::UserGroup, Kind::RealmUser, Kind::Realm];

    /// Its place in `ALL`.
    pub fn index(self) -> usize {
        match self {
            Kind::UserGroup => 0,
            Kind::RealmUser => 1,
            Kind::Realm => 2,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Kind::UserGroup => "user_group",
            Kind::RealmUser => "realm_user",
            Kind::Realm => "realm",
        }
    }

    pub fn parse(name: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.name() == name)
    }
}

/// An event for every queue wanting its kind, and what clients without
/// `include_deactivated_groups` get instead (`None`: nothing).
#[derive(Clone, Debug, PartialEq)]
pub struct Outgoing {
    pub kind: Kind,
    pub event: Value,
    pub without_deactivated: Option<Value>,
}

impl Outgoing {
    fn same(kind: Kind, event: Value) -> Outgoing {
        Outgoing {
            kind,
            without_deactivated: Some(event.clone()),
            event,
        }
    }
}

fn group_json(snap: &Snapshot, id: GroupId) -> Value {
    snap.group(id)
        .map(|g| serde_json::to_value(group_view(snap, g)).unwrap_or(Value::Null))
        .unwrap_or(Value::Null)
}

/// Whether `group` is deactivated in `snap` (clients without the
/// capability do not hear of deactivated groups).
fn deactivated(snap: &Snapshot, group: GroupId) -> bool {
    snap.group(group).is_none_or(|g| g.deactivated)
}

/// The events of `commit`, which took the realm from `before` to `after`.
pub fn translate(before: &Snapshot, commit: &Commit, after: &Snapshot) -> Vec<Outgoing> {
    let mut out = Vec::new();
    for change in &commit.changes {
        match change {
            Change::GroupCreated { group } => {
                out.push(Outgoing::same(
                    Kind::UserGroup,
                    json!({"type": "user_group", "op": "add", "group": group_json(after, group.id)}),
                ));
            }
            Change::GroupUpdated { id, patch } => {
                let mut data = serde_json::Map::new();
                if let Some(name) = &patch.name {
                    data.insert("name".into(), json!(name));
                }
                if let Some(description) = &patch.description {
                    data.insert("description".into(), json!(description));
                }
                let was = deactivated(before, *id);
                if let Some(now) = patch.deactivated.filter(|now| *now != was) {
                    data.insert("deactivated".into(), json!(now));
                }
                if data.is_empty() {
                    continue;
                }
                let event =
                    json!({"type": "user_group", "op": "update", "group_id": id.0, "data": data});
                let without_deactivated = match (was, deactivated(after, *id)) {
                    (false, true) => {
                        Some(json!({"type": "user_group", "op": "remove", "group_id": id.0}))
                    }
                    (true, false) => Some(
                        json!({"type": "user_group", "op": "add", "group": group_json(after, *id)}),
                    ),
                    (true, true) => None,
                    (false, false) => Some(event.clone()),
                };
                out.push(Outgoing {
                    kind: Kind::UserGroup,
                    event,
                    without_deactivated,
                });
            }
            Change::GroupSettingChanged { id, setting, value } => {
                let event = json!({
                    "type": "user_group", "op": "update", "group_id": id.0,
                    "data": {setting.name(): setting_json(after, value)},
                });
                out.push(on_group(after, *id, event));
            }
            Change::GroupDeleted { id } => {
                // Zulip never deletes a group; its clients drop a removed one.
                out.push(Outgoing::same(
                    Kind::UserGroup,
                    json!({"type": "user_group", "op": "remove", "group_id": id.0}),
                ));
            }
            Change::MembersAdded { group, users } => {
                let event = json!({"type": "user_group", "op": "add_members", "group_id": group.0, "user_ids": ids(users)});
                out.push(on_group(after, *group, event));
            }
            Change::MembersRemoved { group, users } => {
                let event = json!({"type": "user_group", "op": "remove_members", "group_id": group.0, "user_ids": ids(users)});
                out.push(on_group(after, *group, event));
            }
            Change::SubgroupsAdded { group, subgroups } => {
                let event = json!({"type": "user_group", "op": "add_subgroups", "group_id": group.0, "direct_subgroup_ids": group_ids(subgroups)});
                out.push(on_group(after, *group, event));
            }
            Change::SubgroupsRemoved { group, subgroups } => {
                let event = json!({"type": "user_group", "op": "remove_subgroups", "group_id": group.0, "direct_subgroup_ids": group_ids(subgroups)});
                out.push(on_group(after, *group, event));
            }
            Change::UserCreated { user } => {
                if let Some(user) = after.user(user.id) {
                    out.push(Outgoing::same(
                        Kind::RealmUser,
                        json!({"type": "realm_user", "op": "add", "person": user_json(user, false)}),
                    ));
                }
            }
            Change::UserUpdated { id, patch } => {
                let person = |fields: Value| {
                    let mut person = json!({"user_id": id.0});
                    if let (Value::Object(p), Value::Object(f)) = (&mut person, fields) {
                        p.extend(f);
                    }
                    Outgoing::same(
                        Kind::RealmUser,
                        json!({"type": "realm_user", "op": "update", "person": person}),
                    )
                };
                if let Some(name) = &patch.full_name {
                    out.push(person(json!({"full_name": name})));
                }
                if let Some(email) = &patch.email {
                    out.push(person(json!({"delivery_email": email})));
                    out.push(person(json!({"new_email": email})));
                }
                if let Some(role) = patch.role {
                    out.push(person(json!({"role": role.code()})));
                }
                if patch.avatar_url.is_some() {
                    if let Some(user) = after.user(*id) {
                        let view = user_json(user, false);
                        out.push(person(json!({
                            "avatar_source": if user.avatar_url.is_some() { "U" } else { "G" },
                            "avatar_url": view["avatar_url"],
                            "avatar_url_medium": view["avatar_url"],
                            "avatar_version": view["avatar_version"],
                        })));
                    }
                }
                if let Some(active) = patch.active {
                    out.push(person(json!({"is_active": active})));
                    // A reactivated user is in their groups again (FL 303).
                    if active {
                        out.extend(rejoined(after, *id));
                    }
                }
            }
            Change::RealmSettingChanged { setting, value } => {
                out.push(Outgoing::same(
                    Kind::Realm,
                    json!({"type": "realm", "op": "update_dict", "property": "default",
                           "data": {setting.name(): setting_json(after, value)}}),
                ));
            }
            Change::RealmUpdated { patch } => {
                if let Some(name) = &patch.name {
                    out.push(Outgoing::same(
                        Kind::Realm,
                        json!({"type": "realm", "op": "update", "property": "name", "value": name}),
                    ));
                }
            }
            Change::RealmCreated { .. }
            | Change::TokenCreated { .. }
            | Change::TokenRevoked { .. }
            | Change::WebhookCreated { .. }
            | Change::WebhookUpdated { .. }
            | Change::WebhookSecretRotated { .. }
            | Change::WebhookRemoved { .. }
            | Change::LogPruned { .. } => {}
        }
    }
    out
}

/// An event about `group`, which clients without the capability hear of
/// only while the group is active.
fn on_group(after: &Snapshot, group: GroupId, event: Value) -> Outgoing {
    Outgoing {
        kind: Kind::UserGroup,
        without_deactivated: (!deactivated(after, group)).then(|| event.clone()),
        event,
    }
}

/// `add_members` for each group a reactivated user is a direct member of.
fn rejoined(after: &Snapshot, user: UserId) -> Vec<Outgoing> {
    let mut groups: Vec<GroupId> = after
        .groups()
        .filter(|g| g.members.contains(&user))
        .map(|g| g.id)
        .collect();
    groups.sort_unstable();
    groups
        .into_iter()
        .map(|g| {
            on_group(
                after,
                g,
                json!({"type": "user_group", "op": "add_members", "group_id": g.0, "user_ids": [user.0]}),
            )
        })
        .collect()
}

fn ids(users: &[UserId]) -> Vec<i64> {
    users.iter().map(|u| u.0).collect()
}

fn group_ids(groups: &[GroupId]) -> Vec<i64> {
    groups.iter().map(|g| g.0).collect()
}
