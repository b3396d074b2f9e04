//! PATCH protocol edge cases (RFC 7644 §3.5.2, `scim/patch/mod.rs`): a
//! request is all or nothing, and each kind of bad operation has its
//! `scimType` (tooMany, invalidPath, invalidFilter, noTarget, invalidValue,
//! mutability). A path that does not parse is invalidPath; a value filter in
//! a path that does not parse, or that the attribute cannot answer, is
//! invalidFilter (RFC 7644 Table 9, "PATCH (Path Filter)"). Role groups
//! cannot be patched. A large membership add (up to `MAX_VALUES` = 10,000
//! values) is one command: one commit.

use super::*;
use std::time::Instant;

#[tokio::test]
async fn patch_whose_second_op_is_invalid_changes_nothing() {
    let realm = Realm::new();
    let scim = Scim::new(&realm);
    let a = scim.user("a").await;
    let b = scim.user("b").await;
    let g = scim.group("Atomic", &[&a]).await;
    let before = world(&realm).await;

    let group = scim
        .patch(
            &format!("/Groups/{g}"),
            j!([
                {"op": "add", "path": "members", "value": [{"value": b}]},
                {"op": "replace", "path": "displayName", "value": "Renamed"},
                {"op": "add", "path": "members", "value": [{"value": 999999}]},
            ]),
        )
        .await;
    assert_scim_error(&group, 400, Some("invalidValue"));

    let user = scim
        .patch(
            &format!("/Users/{a}"),
            j!([
                {"op": "replace", "path": "displayName", "value": "Changed"},
                {"op": "replace", "path": "userName", "value": 17},
            ]),
        )
        .await;
    assert_scim_error(&user, 400, Some("invalidValue"));
    assert_eq!(world(&realm).await, before);
    assert_eq!(scim.members(&g).await, [a]);
}

#[tokio::test]
async fn more_than_100_operations_is_too_many() {
    let realm = Realm::new();
    let scim = Scim::new(&realm);
    let a = scim.user("a").await;
    let before = world(&realm).await;
    let ops: Vec<Value> = (0..101)
        .map(|i| j!({"op": "replace", "path": "displayName", "value": format!("n{i}")}))
        .collect();
    let reply = scim.patch(&format!("/Users/{a}"), j!(ops)).await;
    assert_scim_error(&reply, 400, Some("tooMany"));
    assert_eq!(world(&realm).await, before);
    // 100 is allowed.
    let ops: Vec<Value> = (0..100)
        .map(|i| j!({"op": "replace", "path": "displayName", "value": format!("n{i}")}))
        .collect();
    let reply = scim.patch(&format!("/Users/{a}"), j!(ops)).await;
    assert_eq!(reply.ok(200)["displayName"], "n99");
}

#[tokio::test]
async fn bad_paths_filters_targets_values_and_mutability_have_their_scim_type() {
    let realm = Realm::new();
    let scim = Scim::new(&realm);
    let a = scim.user("a").await;
    let g = scim.group("Edges", &[&a]).await;
    let user = format!("/Users/{a}");
    let group = format!("/Groups/{g}");
    let before = world(&realm).await;
    let cases: Vec<(&str, Value, &str)> = vec![
        (
            &user,
            j!([{"op": "replace", "path": "name..givenName", "value": "x"}]),
            "invalidPath",
        ),
        // A malformed value filter is invalidFilter (RFC 7644 Table 9)…
        (
            &group,
            j!([{"op": "remove", "path": "members[value zz \"x\"]"}]),
            "invalidFilter",
        ),
        (
            &group,
            j!([{"op": "remove", "path": "members[value eq"}]),
            "invalidFilter",
        ),
        // …and so is a well-formed one naming what the attribute lacks.
        (
            &user,
            j!([{"op": "remove", "path": "emails[display eq \"x\"]"}]),
            "invalidFilter",
        ),
        (
            &user,
            j!([{"op": "remove", "path": "emails[primary gt true]"}]),
            "invalidFilter",
        ),
        (
            &group,
            j!([{"op": "remove", "path": "members[nickname eq \"x\"]"}]),
            "invalidFilter",
        ),
        (&group, j!([{"op": "remove"}]), "noTarget"),
        (&user, j!([{"op": "remove"}]), "noTarget"),
        (
            &user,
            j!([{"op": "replace", "path": "active", "value": 42}]),
            "invalidValue",
        ),
        (
            &user,
            j!([{"op": "replace", "path": "displayName", "value": {"x": 1}}]),
            "invalidValue",
        ),
        (
            &group,
            j!([{"op": "add", "path": "members", "value": "not-an-array-of-objects"}]),
            "invalidValue",
        ),
        (
            &user,
            j!([{"op": "remove", "path": "userName"}]),
            "mutability",
        ),
        (
            &user,
            j!([{"op": "replace", "path": "id", "value": "5"}]),
            "mutability",
        ),
        (
            &group,
            j!([{"op": "replace", "value": {"id": "424242", "displayName": "x"}}]),
            "mutability",
        ),
    ];
    for (path, ops, kind) in cases {
        let reply = scim.patch(path, ops.clone()).await;
        assert_scim_error(&reply, 400, Some(kind));
        assert_eq!(
            world(&realm).await,
            before,
            "{path} {ops} changed something"
        );
    }
}

#[tokio::test]
async fn role_groups_cannot_be_patched() {
    let realm = Realm::new();
    let scim = Scim::new(&realm);
    let a = scim.user("a").await;
    let role = scim
        .filter("/Groups", "displayName eq \"role:members\"")
        .await;
    let role = role.ids().pop().expect("role:members is listed");
    let before = world(&realm).await;
    for ops in [
        j!([{"op": "add", "path": "members", "value": [{"value": realm.guest.id.to_string()}]}]),
        j!([{"op": "remove", "path": format!("members[value eq \"{a}\"]")}]),
        j!([{"op": "replace", "path": "displayName", "value": "members"}]),
        // Even one that would change nothing.
        j!([{"op": "add", "path": "members", "value": [{"value": a}]}]),
    ] {
        let reply = scim.patch(&format!("/Groups/{role}"), ops).await;
        assert_scim_error(&reply, 400, Some("mutability"));
    }
    assert_scim_error(
        &scim
            .put(
                &format!("/Groups/{role}"),
                j!({"schemas": [GROUP_URN], "displayName": "role:members", "members": []}),
            )
            .await,
        400,
        Some("mutability"),
    );
    assert_eq!(world(&realm).await, before);
}

#[tokio::test]
async fn ten_thousand_member_add_is_one_commit() {
    let started = Instant::now();
    let realm = Realm::new();
    let scim = Scim::new(&realm);
    let imkit = reqwest::Client::new();
    for batch in 0..10 {
        let data: Vec<Value> = (0..1000)
            .map(|i| j!({"_id": format!("bulk{}", batch * 1000 + i), "nickname": format!("Bulk {i}")}))
            .collect();
        let reply = imkit
            .post(format!("{}/admin/clients/list", realm.cohort.base))
            .header("IM-API-KEY", &realm.platform_key)
            .json(&j!({"data": data}))
            .send()
            .await
            .unwrap();
        assert_eq!(reply.status(), 200, "{}", reply.text().await.unwrap());
    }
    // Their SCIM ids (IMKIT's `_id` is the userName).
    let mut ids = Vec::new();
    let mut start = 1;
    loop {
        let page = scim
            .get(
                "/Users",
                &[
                    ("filter", "userName sw \"bulk\""),
                    ("attributes", "userName"),
                    ("startIndex", &start.to_string()),
                    ("count", "1000"),
                ],
            )
            .await;
        let got = page.ids();
        if got.is_empty() {
            break;
        }
        start += got.len();
        ids.extend(got);
    }
    assert_eq!(ids.len(), 10_000);
    let g = scim.group("Huge", &[]).await;

    let before = version(&realm);
    let members: Vec<Value> = ids.iter().map(|id| j!({"value": id})).collect();
    let reply = scim
        .patch(
            &format!("/Groups/{g}?excludedAttributes=members"),
            j!([{"op": "add", "path": "members", "value": members}]),
        )
        .await;
    reply.ok(200);
    assert_eq!(version(&realm), before + 1, "one PATCH, one commit");
    assert_eq!(scim.members(&g).await.len(), 10_000);
    let zulip = realm.group(g.parse().unwrap()).await;
    assert_eq!(zulip["members"].as_array().unwrap().len(), 10_000);

    // One more value than the limit is refused whole.
    let mut over: Vec<Value> = ids.iter().map(|id| j!({"value": id})).collect();
    over.push(j!({"value": realm.member.id.to_string()}));
    let reply = scim
        .patch(
            &format!("/Groups/{g}"),
            j!([{"op": "replace", "path": "members", "value": over}]),
        )
        .await;
    assert_scim_error(&reply, 400, Some("tooMany"));
    assert_eq!(version(&realm), before + 1);
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "took {:?}",
        started.elapsed()
    );
}
