//! Okta's requests, replayed (Okta's "Okta and SCIM Version 2.0" guide): the steps and
//! assertions of Okta's SCIM 2.0 spec test, then group push, rename,
//! membership PATCH, paging and deactivation as Okta sends them.

use super::*;

/// The user body Okta's spec test posts (with `password`, `groups`, `locale`).
fn okta_user(user_name: &str) -> Value {
    j!({
        "schemas": [USER_URN],
        "userName": user_name,
        "name": {"givenName": "Test", "familyName": "User"},
        "emails": [{"primary": true, "value": user_name, "type": "work"}],
        "displayName": "Test User",
        "locale": "en-US",
        "externalId": "00u1dhhb1fkIGP7RL1d8",
        "groups": [],
        "password": "1mz050nq",
        "active": true,
    })
}

/// As Okta sends: `Content-Type: application/json`, its User-Agent.
async fn okta_post(scim: &Scim, path: &str, body: Value) -> Reply {
    scim.send(
        scim.request("POST", path)
            .header("content-type", "application/json")
            .header("user-agent", "OKTA SCIM Integration")
            .body(body.to_string()),
    )
    .await
}

#[track_caller]
fn assert_user_fields(user: &Value) {
    for field in ["id", "userName", "active"] {
        assert!(!user[field].is_null(), "{field} missing: {user}");
    }
    assert!(user["name"]["familyName"].is_string(), "{user}");
    assert!(user["name"]["givenName"].is_string(), "{user}");
    assert!(user["emails"][0]["value"].is_string(), "{user}");
}

#[tokio::test]
async fn okta_spec_test_sequence_passes() {
    let realm = Realm::new();
    let scim = Scim::new(&realm);
    scim.user("seed").await;

    // 1. The first page of one.
    let page = scim
        .get("/Users", &[("count", "1"), ("startIndex", "1")])
        .await;
    let body = page.ok(200);
    assert_eq!(body["schemas"], j!([LIST_URN]));
    assert!(body["itemsPerPage"].is_u64(), "{body}");
    assert!(body["startIndex"].is_u64(), "{body}");
    assert!(body["totalResults"].is_u64(), "{body}");
    assert_eq!(body["itemsPerPage"], 1);
    assert_eq!(body["startIndex"], 1);
    assert!(body["totalResults"].as_u64().unwrap() >= 2, "{body}");
    assert_eq!(body["Resources"].as_array().map(Vec::len), Some(1));
    // The fields Okta checks, on the first user a provider made (users
    // made by the CLI carry no `name`: `resource.rs` documents that only a
    // provider's `name` is shown).
    let total = body["totalResults"].as_u64().unwrap().to_string();
    let last = scim
        .get("/Users", &[("count", "1"), ("startIndex", &total)])
        .await;
    let first = &last.ok(200)["Resources"][0];
    assert_eq!(first["userName"], "seed@idp.example", "{first}");
    assert_user_fields(first);

    // 2. That user by id.
    let id = first["id"].as_str().unwrap();
    let got = scim.read(&format!("/Users/{id}")).await;
    assert_user_fields(&got);
    assert_eq!(got["id"], id);

    // 3 and 5. Misses are empty lists.
    for missing in [
        "invalid-user@okta.local",
        "c3d9b8b5-6b0e-4e85-9c36-2b3a2d0f9e11@x",
    ] {
        let miss = scim
            .get(
                "/Users",
                &[
                    ("filter", &format!("userName eq \"{missing}\"")),
                    ("startIndex", "1"),
                    ("count", "100"),
                ],
            )
            .await;
        assert_eq!(
            miss.ok(200),
            &j!({"schemas": [LIST_URN], "totalResults": 0, "startIndex": 1, "itemsPerPage": 0, "Resources": []})
        );
    }

    // 4. An unknown id.
    assert_scim_error(&scim.get("/Users/999999", &[]).await, 404, None);

    // 6. Create, as application/json.
    let before = version(&realm);
    let created = okta_post(&scim, "/Users", okta_user("test.user@okta.local")).await;
    let body = created.ok(201).clone();
    assert_eq!(body["active"], true);
    assert_eq!(body["userName"], "test.user@okta.local");
    assert_eq!(body["name"]["givenName"], "Test");
    assert_eq!(body["name"]["familyName"], "User");
    assert!(body["schemas"].as_array().unwrap().contains(&j!(USER_URN)));
    assert!(body.get("password").is_none(), "{body}");
    let new_id = body["id"].as_str().unwrap().to_string();
    assert_eq!(
        created.header("location"),
        Some(format!("{}/Users/{new_id}", scim.url("")).as_str())
    );
    assert_eq!(
        body["meta"]["location"],
        created.header("location").unwrap()
    );
    assert_eq!(version(&realm), before + 1);

    // 7. Re-GET.
    let again = scim.read(&format!("/Users/{new_id}")).await;
    assert_eq!(again, body);

    // 8. Re-POST: 409 uniqueness, nothing changed.
    let world_before = world(&realm).await;
    let dup = okta_post(&scim, "/Users", okta_user("test.user@okta.local")).await;
    assert_scim_error(&dup, 409, Some("uniqueness"));
    // Another spelling of the same userName is the same user.
    let dup = okta_post(&scim, "/Users", okta_user("TEST.USER@okta.local")).await;
    assert_scim_error(&dup, 409, Some("uniqueness"));
    assert_eq!(world(&realm).await, world_before);

    // 9. userName is case-insensitive.
    let found = scim
        .filter("/Users", "userName eq \"TEST.USER@OKTA.LOCAL\"")
        .await;
    assert_eq!(found.ids(), vec![new_id.clone()]);

    // 10. Groups answer.
    assert_eq!(scim.get("/Groups", &[]).await.status, 200);

    // 11. Bad Authorization.
    let bad = Scim::with_token(&realm.cohort.base, "not-the-token");
    let reply = bad.get("/Users", &[]).await;
    assert_scim_error(&reply, 401, None);
    assert_eq!(reply.body["status"], "401");

    // 12. Okta's nonexistent id.
    let reply = scim.get("/Users/00919288221112222", &[]).await;
    assert_scim_error(&reply, 404, None);
    assert_eq!(reply.body["status"], "404");
}

#[tokio::test]
async fn okta_group_push_rename_and_membership_patches() {
    let realm = Realm::new();
    let scim = Scim::new(&realm);
    let u1 = scim.user("u1").await;
    let u2 = scim.user("u2").await;
    let u3 = scim.user("u3").await;

    // Push.
    let pushed = okta_post(
        &scim,
        "/Groups",
        j!({"schemas": [GROUP_URN], "displayName": "Okta Pushed", "members": []}),
    )
    .await;
    let body = pushed.ok(201);
    let g = body["id"].as_str().unwrap().to_string();
    assert_eq!(body["displayName"], "Okta Pushed");
    assert!(scim.members(&g).await.is_empty());

    // Rename: path-less replace carrying the group's own id.
    let renamed = scim
        .patch(
            &format!("/Groups/{g}"),
            j!([{"op": "replace", "value": {"id": g, "displayName": "Okta Renamed"}}]),
        )
        .await;
    assert_eq!(renamed.ok(200)["displayName"], "Okta Renamed");
    assert_eq!(
        realm.group(g.parse().unwrap()).await["name"],
        "Okta Renamed"
    );

    // Membership: add u1 u2, then a mixed remove-by-filter and add.
    scim.patch(
        &format!("/Groups/{g}"),
        j!([{"op": "add", "path": "members", "value": [
            {"value": u1, "display": "u1"}, {"value": u2, "display": "u2"}]}]),
    )
    .await
    .ok(200);
    let mut want = vec![u1.clone(), u2.clone()];
    want.sort();
    assert_eq!(scim.members(&g).await, want);
    scim.patch(
        &format!("/Groups/{g}"),
        j!([
            {"op": "remove", "path": format!("members[value eq \"{u1}\"]")},
            {"op": "add", "path": "members", "value": [{"value": u3, "display": "u3"}]},
        ]),
    )
    .await
    .ok(200);
    let mut want = vec![u2.clone(), u3.clone()];
    want.sort();
    assert_eq!(scim.members(&g).await, want);

    // Full push: replace members.
    scim.patch(
        &format!("/Groups/{g}"),
        j!([{"op": "replace", "path": "members", "value": [{"value": u1, "display": "u1"}]}]),
    )
    .await
    .ok(200);
    assert_eq!(scim.members(&g).await, vec![u1.clone()]);
    let zulip = realm.group(g.parse().unwrap()).await;
    assert_eq!(zulip["members"], j!([u1.parse::<i64>().unwrap()]));

    // Unlink: DELETE, then 404.
    let deleted = scim.delete(&format!("/Groups/{g}")).await;
    assert_eq!(deleted.status, 204, "{}", deleted.body);
    assert_eq!(deleted.body, Value::Null);
    assert_scim_error(&scim.get(&format!("/Groups/{g}"), &[]).await, 404, None);
    assert!(!scim.get("/Groups", &[]).await.ids().contains(&g));
}

#[tokio::test]
async fn okta_paging_is_stable_and_complete() {
    let realm = Realm::new();
    let scim = Scim::new(&realm);
    let existing = scim.get("/Users", &[]).await.ok(200)["totalResults"]
        .as_u64()
        .unwrap() as usize;
    for i in 0..7 {
        scim.user(&format!("pager{i}")).await;
    }
    let all = scim.get("/Users", &[("count", "1000")]).await;
    let total = all.body["totalResults"].as_u64().unwrap() as usize;
    assert_eq!(total, existing + 7, "{}", all.body);
    let everyone = all.ids();

    let mut paged = Vec::new();
    let mut start = 1;
    while start <= total {
        let page = scim
            .get(
                "/Users",
                &[("startIndex", &start.to_string()), ("count", "3")],
            )
            .await;
        let body = page.ok(200);
        assert_eq!(body["startIndex"], start);
        assert_eq!(body["totalResults"], total);
        assert_eq!(body["itemsPerPage"], (total - start + 1).min(3));
        paged.extend(page.ids());
        start += 3;
    }
    assert_eq!(paged, everyone, "pages are the full list, in order, once");
    // The same again: the order is stable.
    let again = scim
        .get("/Users", &[("startIndex", "4"), ("count", "3")])
        .await;
    assert_eq!(again.ids(), everyone[3..6]);
    // Past the end: an empty page with the total.
    let past = scim
        .get("/Users", &[("startIndex", "100"), ("count", "3")])
        .await;
    assert_eq!(past.ok(200)["totalResults"], total);
    assert_eq!(past.ok(200)["Resources"], j!([]));
}

#[tokio::test]
async fn okta_deactivation_by_pathless_replace_keeps_user_findable() {
    let realm = Realm::new();
    let scim = Scim::new(&realm);
    let id = scim.user("leaver").await;
    let reply = scim
        .patch(
            &format!("/Users/{id}"),
            j!([{"op": "replace", "value": {"active": false}}]),
        )
        .await;
    assert_eq!(reply.ok(200)["active"], false);
    assert_eq!(scim.read(&format!("/Users/{id}")).await["active"], false);
    let found = scim
        .filter("/Users", "userName eq \"leaver@idp.example\"")
        .await;
    assert_eq!(found.ids(), vec![id.clone()]);
    assert_eq!(found.body["Resources"][0]["active"], false);
    // And back.
    let reply = scim
        .patch(
            &format!("/Users/{id}"),
            j!([{"op": "replace", "value": {"active": true}}]),
        )
        .await;
    assert_eq!(reply.ok(200)["active"], true);
}
