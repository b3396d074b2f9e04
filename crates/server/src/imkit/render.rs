//! IMKIT's objects (Group, Client) and the cached group pages.
//!
//! `GET /admin/groups` slices a per-realm-version list of rendered groups; a
//! group is re-rendered only when it changed since the last version.

use axum::body::Bytes;
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use cohort_core::{Group, GroupId, RealmId, Snapshot, User, Version};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// ISO-8601 in UTC with exactly three fractional digits and `Z`.
pub fn iso(millis: i64) -> String {
    let format = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    );
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(millis) * 1_000_000)
        .ok()
        .and_then(|t| t.format(&format).ok())
        .unwrap_or_default()
}

/// Groups IMKIT sees: not Zulip's role groups, not deactivated ones.
pub fn visible(group: &Group) -> bool {
    !group.is_system() && !group.deactivated
}

pub fn group_json(snap: &Snapshot, group: &Group) -> Value {
    let members: Vec<&str> = snap
        .direct_members(group.id)
        .into_iter()
        .filter_map(|u| snap.user(u).map(|u| &*u.key))
        .collect();
    json!({
        "_id": &*group.key,
        "id": &*group.key,
        "nickname": &*group.name,
        "avatarUrl": group.avatar_url.as_deref().unwrap_or(""),
        "members": members,
        "createdAt": iso(group.created_at),
        "updatedAt": iso(group.updated_at),
    })
}

pub fn client_json(user: &User) -> Value {
    let mut client = json!({
        "_id": &*user.key,
        "id": &*user.key,
        "nickname": user.full_name,
        "avatarUrl": user.avatar_url.as_deref().unwrap_or(""),
        "isRobot": user.is_bot,
        "lastLoginTimeMS": 0,
        "createdAt": iso(user.date_joined),
        "updatedAt": iso(user.updated_at),
    });
    if let (Some(email), Value::Object(map)) = (&user.email, &mut client) {
        map.insert("email".into(), json!(&**email));
    }
    client
}

/// A JSON body as a response.
pub fn json_response(body: Bytes) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        body,
    )
        .into_response()
}

/// `{"RC":0,"RM":"OK","result":{"totalCount":n,"data":[...]}}` from rendered items.
pub fn page_response<'a>(total: usize, items: impl Iterator<Item = &'a [u8]>) -> Response {
    json_response(page_body(total, items))
}

/// The bytes of a page response.
pub fn page_body<'a>(total: usize, items: impl Iterator<Item = &'a [u8]>) -> Bytes {
    let mut body = Vec::with_capacity(4096);
    body.extend_from_slice(b"{\"RC\":0,\"RM\":\"OK\",\"result\":{\"totalCount\":");
    body.extend_from_slice(total.to_string().as_bytes());
    body.extend_from_slice(b",\"data\":[");
    for (i, item) in items.enumerate() {
        if i > 0 {
            body.push(b',');
        }
        body.extend_from_slice(item);
    }
    body.extend_from_slice(b"]}}");
    Bytes::from(body)
}

struct RenderedGroups {
    version: Version,
    /// Visible groups in creation (id) order.
    ordered: Arc<Vec<Bytes>>,
    fragments: HashMap<GroupId, (Version, Bytes)>,
}

/// Per realm: the visible groups, rendered, in order, for the current version.
#[derive(Default)]
pub struct GroupPageCache {
    realms: Mutex<HashMap<RealmId, RenderedGroups>>,
}

impl GroupPageCache {
    pub fn ordered(&self, snap: &Snapshot) -> Arc<Vec<Bytes>> {
        let mut realms = self.realms.lock().unwrap_or_else(|e| e.into_inner());
        let cached = realms
            .entry(snap.realm_id())
            .or_insert_with(|| RenderedGroups {
                version: Version::MAX,
                ordered: Arc::new(Vec::new()),
                fragments: HashMap::new(),
            });
        if cached.version != snap.version() {
            let mut fragments = HashMap::with_capacity(cached.fragments.len());
            let mut ordered = Vec::new();
            for group in snap.groups().filter(|g| visible(g)) {
                let rev = snap.group_rev(group.id);
                let bytes = match cached.fragments.remove(&group.id) {
                    Some((at, bytes)) if at == rev => bytes,
                    _ => Bytes::from(group_json(snap, group).to_string()),
                };
                ordered.push(bytes.clone());
                fragments.insert(group.id, (rev, bytes));
            }
            cached.version = snap.version();
            cached.ordered = Arc::new(ordered);
            cached.fragments = fragments;
        }
        cached.ordered.clone()
    }
}
