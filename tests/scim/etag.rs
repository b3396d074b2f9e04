//! Versions (RFC 7644 §3.14, `scim/mod.rs`, `resource.rs`): the `ETag`
//! header is `meta.version` (a weak tag); `If-None-Match` with the current
//! tag is 304, with a stale one 200; `If-Match` with a stale tag on PUT,
//! PATCH or DELETE is 412 and changes nothing; with the current tag it
//! succeeds.

use super::*;

async fn with_header(
    scim: &Scim,
    method: &str,
    path: &str,
    name: &str,
    tag: &str,
    body: Option<Value>,
) -> Reply {
    let mut request = scim.request(method, path).header(name, tag);
    if let Some(body) = body {
        request = request
            .header("content-type", "application/scim+json")
            .body(body.to_string());
    }
    scim.send(request).await
}

#[tokio::test]
async fn etag_header_equals_meta_version() {
    let realm = Realm::new();
    let scim = Scim::new(&realm);
    let u = scim.user("tagged").await;
    let g = scim.group("Tagged", &[&u]).await;
    for path in [format!("/Users/{u}"), format!("/Groups/{g}")] {
        let reply = scim.get(&path, &[]).await;
        let etag = reply.header("etag").expect("ETag").to_string();
        assert!(etag.starts_with("W/\""), "{etag}");
        assert_eq!(reply.ok(200)["meta"]["version"], etag);
    }
    // A change moves the tag.
    let before = scim.get(&format!("/Users/{u}"), &[]).await;
    let changed = scim
        .patch(
            &format!("/Users/{u}"),
            j!([{"op": "replace", "path": "displayName", "value": "Retagged"}]),
        )
        .await;
    assert_ne!(changed.header("etag"), before.header("etag"));
    assert_eq!(
        changed.ok(200)["meta"]["version"],
        changed.header("etag").unwrap()
    );
}

#[tokio::test]
async fn if_none_match_current_is_304_and_stale_is_200() {
    let realm = Realm::new();
    let scim = Scim::new(&realm);
    let u = scim.user("cached").await;
    let path = format!("/Users/{u}");
    let first = scim.get(&path, &[]).await;
    let old = first.header("etag").unwrap().to_string();

    let cached = with_header(&scim, "GET", &path, "if-none-match", &old, None).await;
    assert_eq!(cached.status, 304);
    assert_eq!(cached.body, Value::Null);
    assert_eq!(cached.header("etag"), Some(old.as_str()));

    scim.patch(
        &path,
        j!([{"op": "replace", "path": "displayName", "value": "New"}]),
    )
    .await
    .ok(200);
    let fresh = with_header(&scim, "GET", &path, "if-none-match", &old, None).await;
    assert_eq!(fresh.ok(200)["displayName"], "New");
    assert_ne!(fresh.header("etag"), Some(old.as_str()));

    let g = scim.group("Cached", &[]).await;
    let reply = scim.get(&format!("/Groups/{g}"), &[]).await;
    let tag = reply.header("etag").unwrap().to_string();
    let cached = with_header(
        &scim,
        "GET",
        &format!("/Groups/{g}"),
        "if-none-match",
        &tag,
        None,
    )
    .await;
    assert_eq!(cached.status, 304);
}

#[tokio::test]
async fn if_match_stale_is_412_on_every_write_and_changes_nothing() {
    let realm = Realm::new();
    let scim = Scim::new(&realm);
    let u = scim.user("guarded").await;
    let g = scim.group("Guarded", &[&u]).await;
    let user = format!("/Users/{u}");
    let group = format!("/Groups/{g}");
    let stale_user = scim
        .get(&user, &[])
        .await
        .header("etag")
        .unwrap()
        .to_string();
    let stale_group = scim
        .get(&group, &[])
        .await
        .header("etag")
        .unwrap()
        .to_string();
    scim.patch(
        &user,
        j!([{"op": "replace", "path": "displayName", "value": "Moved on"}]),
    )
    .await
    .ok(200);
    scim.patch(
        &group,
        j!([{"op": "replace", "path": "displayName", "value": "Guarded 2"}]),
    )
    .await
    .ok(200);
    let before = world(&realm).await;

    let put_user = j!({"schemas": [USER_URN], "userName": "guarded@idp.example", "displayName": "Overwritten"});
    let put_group = j!({"schemas": [GROUP_URN], "displayName": "Overwritten", "members": []});
    let rename = j!({"schemas": [PATCH_URN], "Operations": [{"op": "replace", "path": "displayName", "value": "Overwritten"}]});
    let noop = j!({"schemas": [PATCH_URN], "Operations": [{"op": "add", "path": "members", "value": [{"value": u}]}]});
    for (method, path, tag, body) in [
        ("PUT", &user, &stale_user, Some(put_user.clone())),
        ("PATCH", &user, &stale_user, Some(rename.clone())),
        ("DELETE", &user, &stale_user, None),
        ("PUT", &group, &stale_group, Some(put_group.clone())),
        ("PATCH", &group, &stale_group, Some(rename.clone())),
        // A PATCH that would change nothing still checks the version.
        ("PATCH", &group, &stale_group, Some(noop.clone())),
        ("DELETE", &group, &stale_group, None),
    ] {
        let reply = with_header(&scim, method, path, "if-match", tag, body).await;
        assert_scim_error(&reply, 412, None);
        assert_eq!(world(&realm).await, before, "{method} {path}");
    }

    // With the current tags each succeeds.
    let current = |path: String| {
        let scim = scim.clone();
        async move {
            scim.get(&path, &[])
                .await
                .header("etag")
                .unwrap()
                .to_string()
        }
    };
    let reply = with_header(
        &scim,
        "PATCH",
        &user,
        "if-match",
        &current(user.clone()).await,
        Some(rename.clone()),
    )
    .await;
    assert_eq!(reply.ok(200)["displayName"], "Overwritten");
    let reply = with_header(
        &scim,
        "PUT",
        &user,
        "if-match",
        &current(user.clone()).await,
        Some(put_user),
    )
    .await;
    assert_eq!(reply.ok(200)["displayName"], "Overwritten");
    let reply = with_header(
        &scim,
        "PUT",
        &group,
        "if-match",
        &current(group.clone()).await,
        Some(put_group),
    )
    .await;
    assert_eq!(reply.ok(200)["displayName"], "Overwritten");
    let reply = with_header(
        &scim,
        "PATCH",
        &group,
        "if-match",
        &current(group.clone()).await,
        Some(rename),
    )
    .await;
    assert_eq!(reply.ok(200)["displayName"], "Overwritten");
    let reply = with_header(
        &scim,
        "DELETE",
        &group,
        "if-match",
        &current(group.clone()).await,
        None,
    )
    .await;
    assert_eq!(reply.status, 204, "{}", reply.body);
    let reply = with_header(
        &scim,
        "DELETE",
        &user,
        "if-match",
        &current(user.clone()).await,
        None,
    )
    .await;
    assert_eq!(reply.status, 204, "{}", reply.body);
    // `*` matches anything.
    let other = scim.user("star").await;
    let reply = with_header(
        &scim,
        "DELETE",
        &format!("/Users/{other}"),
        "if-match",
        "*",
        None,
    )
    .await;
    assert_eq!(reply.status, 204, "{}", reply.body);
}
