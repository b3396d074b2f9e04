//! IMKIT's objects (Group, Client) and page bodies.

use axum::body::Bytes;
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use cohort_core::{Group, Snapshot, User};
use serde_json::{json, Value};

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
