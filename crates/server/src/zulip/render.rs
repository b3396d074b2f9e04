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
use std::collections::BTreeSet;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

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

/// A pre-rendered success body in parts (its last part closes the object),
/// with `ignored_parameters_unsupported` spliced in when needed.
pub fn success_parts(params: &Params, parts: Arc<Vec<Bytes>>) -> Response {
    let ignored = params.ignored();
    let parts = if ignored.is_empty() {
        parts
    } else {
        let mut spliced = (*parts).clone();
        if let Some(last) = spliced.last_mut() {
            *last = splice_ignored(last, &ignored);
        }
        Arc::new(spliced)
    };
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        axum::body::Body::new(crate::body::Chunks::new(parts)),
    )
        .into_response()
}

/// A pre-rendered success body, with `ignored_parameters_unsupported` spliced in
/// when needed.
pub fn success_bytes(params: &Params, body: Bytes) -> Response {
    let ignored = params.ignored();
    let body = if ignored.is_empty() {
        body
    } else {
        splice_ignored(&body, &ignored)
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

/// `tail` (which closes the body's object) with `ignored_parameters_unsupported`
/// added as the object's last field.
fn splice_ignored(tail: &[u8], ignored: &[String]) -> Bytes {
    let mut spliced = tail[..tail.len().saturating_sub(1)].to_vec();
    spliced.extend_from_slice(b",\"ignored_parameters_unsupported\":");
    spliced.extend_from_slice(json!(ignored).to_string().as_bytes());
    spliced.push(b'}');
    Bytes::from(spliced)
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

/// Groups per segment of the cached list: a change re-renders one group and
/// re-joins one segment, never the whole body. Fewer, larger parts also mean
/// fewer iovecs per response (hyper writes at most 16 per `writev`).
const SEGMENT: usize = 128;
const HEAD: &[u8] = b"{\"result\":\"success\",\"msg\":\"\",\"user_groups\":[";
const TAIL: &[u8] = b"]}";

/// A run of consecutive groups, rendered and joined.
struct Segment {
    /// (group, revision rendered, deactivated, fragment), in id order.
    entries: Vec<(GroupId, Version, bool, Bytes)>,
    /// Every group's fragment, each preceded by a comma (the body's first
    /// part drops its leading comma by slicing, so no separator parts exist).
    all: Bytes,
    /// Only active groups'.
    active: Bytes,
}

impl Segment {
    fn build(entries: Vec<(GroupId, Version, bool, Bytes)>) -> Segment {
        let join = |active_only: bool| {
            let mut out = Vec::new();
            for (_, _, deactivated, fragment) in &entries {
                if active_only && *deactivated {
                    continue;
                }
                out.push(b',');
                out.extend_from_slice(fragment);
            }
            Bytes::from(out)
        };
        let all = join(false);
        let active = if entries.iter().any(|e| e.2) {
            join(true)
        } else {
            all.clone()
        };
        Segment {
            entries,
            all,
            active,
        }
    }
}

struct RenderedList {
    version: Version,
    segments: Vec<Segment>,
    /// The response bodies as parts: head, segments and commas, tail.
    with_deactivated: Arc<Vec<Bytes>>,
    active_only: Arc<Vec<Bytes>>,
}

/// Per-realm cache of the `GET /user_groups` bodies.
#[derive(Default)]
pub struct GroupListCache {
    realms: Mutex<HashMap<RealmId, RenderedList>>,
}

impl GroupListCache {
    /// The body's parts at `snap`'s version.
    pub fn body(&self, snap: &Snapshot, include_deactivated: bool) -> Arc<Vec<Bytes>> {
        let mut realms = self.realms.lock().unwrap_or_else(|e| e.into_inner());
        let cached = realms
            .entry(snap.realm_id())
            .or_insert_with(|| RenderedList {
                version: Version::MAX,
                segments: Vec::new(),
                with_deactivated: Arc::new(Vec::new()),
                active_only: Arc::new(Vec::new()),
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

fn render_group(snap: &Snapshot, id: GroupId) -> Bytes {
    snap.group(id)
        .map(|g| Bytes::from(serde_json::to_vec(&group_view(snap, g)).unwrap_or_default()))
        .unwrap_or_default()
}

/// Bring the cached body to `snap`'s version: in place when the snapshot can
/// say which groups changed since (re-rendering those, re-joining their
/// segments), else by walking every group (still reusing unchanged renders).
fn rebuild(cached: &mut RenderedList, snap: &Snapshot) {
    let incremental = cached.version < snap.version()
        && snap
            .groups_touched_since(cached.version)
            .is_some_and(|touched| update_in_place(cached, snap, &touched));
    if !incremental {
        rebuild_all(cached, snap);
    }
    let parts = |pick: fn(&Segment) -> &Bytes| {
        let mut parts = vec![Bytes::from_static(HEAD)];
        for segment in &cached.segments {
            let bytes = pick(segment);
            if bytes.is_empty() {
                continue;
            }
            parts.push(if parts.len() == 1 {
                bytes.slice(1..)
            } else {
                bytes.clone()
            });
        }
        parts.push(Bytes::from_static(TAIL));
        Arc::new(parts)
    };
    cached.with_deactivated = parts(|s| &s.all);
    cached.active_only = parts(|s| &s.active);
    cached.version = snap.version();
}

/// Where a touched group goes: an existing entry, or appended at the end (a
/// new group has the highest id).
enum Slot {
    At(usize, usize),
    Append,
}

fn update_in_place(
    cached: &mut RenderedList,
    snap: &Snapshot,
    touched: &BTreeSet<GroupId>,
) -> bool {
    let segments = &mut cached.segments;
    // First find every slot, so a failure leaves the cache untouched.
    let mut slots = Vec::with_capacity(touched.len());
    let mut last = segments.last().and_then(|s| s.entries.last()).map(|e| e.0);
    for id in touched {
        if snap.group(*id).is_none() {
            return false; // deleted: the segments shift
        }
        let seg = segments.partition_point(|s| s.entries.last().is_some_and(|e| e.0 < *id));
        match segments
            .get(seg)
            .map(|s| s.entries.binary_search_by_key(id, |e| e.0))
        {
            Some(Ok(pos)) => slots.push((*id, Slot::At(seg, pos))),
            _ if last.is_none_or(|l| l < *id) => {
                last = Some(*id);
                slots.push((*id, Slot::Append));
            }
            _ => return false,
        }
    }
    let mut dirty = BTreeSet::new();
    for (id, slot) in slots {
        let Some(group) = snap.group(id) else {
            return false;
        };
        let entry = (
            id,
            snap.group_rev(id),
            group.deactivated,
            render_group(snap, id),
        );
        match slot {
            Slot::At(seg, pos) => {
                segments[seg].entries[pos] = entry;
                dirty.insert(seg);
            }
            Slot::Append => {
                if segments.last().is_none_or(|s| s.entries.len() >= SEGMENT) {
                    segments.push(Segment::build(Vec::new()));
                }
                let seg = segments.len() - 1;
                segments[seg].entries.push(entry);
                dirty.insert(seg);
            }
        }
    }
    for seg in dirty {
        let entries = std::mem::take(&mut segments[seg].entries);
        segments[seg] = Segment::build(entries);
    }
    true
}

fn rebuild_all(cached: &mut RenderedList, snap: &Snapshot) {
    let current: Vec<(GroupId, Version, bool)> = snap
        .groups_with_revs()
        .map(|(g, rev)| (g.id, rev, g.deactivated))
        .collect();
    let old = std::mem::take(&mut cached.segments);
    // Fragments of the previous version, looked up only if something moved.
    let mut previous: Option<HashMap<GroupId, (Version, Bytes)>> = None;
    let mut segments = Vec::with_capacity(current.len().div_ceil(SEGMENT));
    let mut old_segments = old.into_iter();
    for chunk in current.chunks(SEGMENT) {
        let old_segment = old_segments.next();
        let same_ids = old_segment.as_ref().is_some_and(|s| {
            s.entries.len() == chunk.len() && s.entries.iter().zip(chunk).all(|(e, c)| e.0 == c.0)
        });
        if same_ids {
            if let Some(segment) = old_segment {
                if segment.entries.iter().zip(chunk).all(|(e, c)| e.1 == c.1) {
                    segments.push(segment);
                    continue;
                }
                // The same groups, some changed: re-render just those.
                let entries = segment
                    .entries
                    .into_iter()
                    .zip(chunk)
                    .map(|(old, (id, rev, deactivated))| {
                        let fragment = if old.1 == *rev {
                            old.3
                        } else {
                            render_group(snap, *id)
                        };
                        (*id, *rev, *deactivated, fragment)
                    })
                    .collect();
                segments.push(Segment::build(entries));
                continue;
            }
        }
        let previous = previous.get_or_insert_with(|| {
            segments
                .iter()
                .chain(old_segments.as_slice())
                .flat_map(|s: &Segment| s.entries.iter())
                .map(|(id, rev, _, bytes)| (*id, (*rev, bytes.clone())))
                .collect()
        });
        let entries = chunk
            .iter()
            .map(|(id, rev, deactivated)| {
                let fragment = match previous.get(id) {
                    Some((at, bytes)) if at == rev => bytes.clone(),
                    _ => render_group(snap, *id),
                };
                (*id, *rev, *deactivated, fragment)
            })
            .collect();
        segments.push(Segment::build(entries));
    }
    cached.segments = segments;
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

#[cfg(test)]
mod list_cache_tests {
    use super::*;
    use cohort_core::command::{
        self, ChangeMembers, Context, CreateGroup, CreateRealm, CreateUser, UpdateGroup,
    };
    use cohort_core::{Actor, Command, Commit, KeyHash, Role, UserId};

    struct Ids(i64);

    impl command::IdSource for Ids {
        fn next_id(&mut self) -> Option<i64> {
            self.0 += 1;
            Some(self.0)
        }
    }

    struct World {
        snap: Snapshot,
        ids: Ids,
    }

    impl World {
        fn run(&mut self, command: Command) -> cohort_core::Reply {
            let outcome = command::execute(
                &self.snap,
                Actor::Operator,
                &command,
                &mut Context {
                    now: 1,
                    ids: &mut self.ids,
                },
            )
            .expect("command");
            let commit = Commit {
                realm: self.snap.realm_id(),
                version: self.snap.version() + 1,
                at: 1,
                actor: Actor::Operator,
                changes: outcome.changes.clone(),
            };
            self.snap.apply(&commit).expect("apply");
            outcome.reply
        }
    }

    fn body(cache: &GroupListCache, snap: &Snapshot, all: bool) -> Vec<u8> {
        cache
            .body(snap, all)
            .iter()
            .flat_map(|b| b.iter().copied())
            .collect()
    }

    /// After any sequence of changes, the incrementally rebuilt body equals a
    /// body rendered from scratch, byte for byte (several segments deep).
    #[test]
    fn incremental_rebuilds_equal_fresh_renders() {
        let mut ids = Ids(0);
        let (_, outcome) = command::create_realm(
            &CreateRealm {
                name: "t".into(),
                owner: None,
            },
            &mut Context {
                now: 1,
                ids: &mut ids,
            },
        )
        .unwrap();
        let mut world = World {
            snap: outcome.seal(1),
            ids,
        };
        let mut users = Vec::new();
        for i in 0..10u8 {
            match world.run(Command::CreateUser(CreateUser {
                email: Some(format!("u{i}@t.example").into()),
                full_name: format!("User {i}"),
                role: Role::Member,
                is_bot: false,
                bot_owner: None,
                key: None,
                avatar_url: None,
                api_key: KeyHash([i; 32]),
                can_create_users: false,
            })) {
                cohort_core::Reply::User(id) => users.push(id),
                other => panic!("{other:?}"),
            }
        }
        let cache = GroupListCache::default();
        let mut groups = Vec::new();
        for i in 0..300 {
            let members: Vec<UserId> = users.iter().copied().skip(i % 7).take(3).collect();
            match world.run(Command::CreateGroup(CreateGroup {
                name: format!("g{i}").into(),
                description: String::new(),
                members,
                subgroups: vec![],
                settings: vec![],
                key: None,
                avatar_url: None,
            })) {
                cohort_core::Reply::Group(id) => groups.push(id),
                other => panic!("{other:?}"),
            }
            if i % 40 == 0 {
                // Render midway so later rebuilds are incremental.
                body(&cache, &world.snap, true);
            }
        }
        let check = |world: &World| {
            for all in [true, false] {
                let cached = body(&cache, &world.snap, all);
                assert_eq!(cached, body(&GroupListCache::default(), &world.snap, all));
                // And the parts join into the list itself: valid JSON, every
                // expected group once, in id order.
                let parsed: serde_json::Value = serde_json::from_slice(&cached).unwrap();
                let listed: Vec<i64> = parsed["user_groups"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|g| g["id"].as_i64().unwrap())
                    .collect();
                let expected: Vec<i64> = world
                    .snap
                    .groups_with_revs()
                    .filter(|(g, _)| all || !g.deactivated)
                    .map(|(g, _)| g.id.0)
                    .collect();
                assert_eq!(listed, expected);
            }
        };
        check(&world);
        let change = ChangeMembers {
            add: vec![users[9]],
            ..Default::default()
        };
        world.run(Command::ChangeMembers(groups[70], change));
        check(&world);
        let rename = UpdateGroup {
            name: Some("renamed".into()),
            ..Default::default()
        };
        world.run(Command::UpdateGroup(groups[3], rename));
        check(&world);
        world.run(Command::DeactivateGroup(groups[130]));
        check(&world);
        world.run(Command::DeactivateUser(users[4]));
        check(&world);
        world.run(Command::DeleteGroup(groups[10]));
        check(&world);
        let reactivate = UpdateGroup {
            reactivate: true,
            ..Default::default()
        };
        world.run(Command::UpdateGroup(groups[130], reactivate));
        check(&world);
    }
}
