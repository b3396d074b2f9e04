//! One directory behind every face (docs/ARCHITECTURE.md; `scim/mod.rs`
//! ids, `users.rs`, `groups.rs`): what SCIM makes is the same user or group
//! in Zulip's API and IMKIT's, changes made through Zulip show in SCIM,
//! nested groups are Zulip subgroups, and SCIM's DELETE / `active:false`
//! are deactivations Zulip sees.

use super::*;

async fn zulip_group(realm: &Realm, id: &str) -> Value {
    realm.group(id.parse().unwrap()).await
}

fn sorted_ids(values: &Value) -> Vec<String> {
    let mut ids: Vec<String> = values
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.to_string())
        .collect();
    ids.sort();
    ids
}

#[tokio::test]
async fn scim_group_is_the_same_group_in_zulip_and_imkit() {
    let realm = Realm::new();
    let scim = Scim::new(&realm);
    let a = scim.user("a").await;
    let b = scim.user("b").await;
    let g = scim.group("Shared Team", &[&a, &b]).await;

    let zulip = zulip_group(&realm, &g).await;
    assert_eq!(zulip["name"], "Shared Team", "{zulip}");
    let mut want = vec![a.clone(), b.clone()];
    want.sort();
    assert_eq!(sorted_ids(&zulip["members"]), want);

    let imkit = reqwest::Client::new()
        .get(format!("{}/admin/groups", realm.cohort.base))
        .header("IM-API-KEY", &realm.platform_key)
        .send()
        .await
        .unwrap();
    assert_eq!(imkit.status(), 200);
    let body: Value = imkit.json().await.unwrap();
    let groups = body["result"]["data"].as_array().expect("IMKIT page");
    let found = groups
        .iter()
        .find(|grp| grp["nickname"] == "Shared Team")
        .unwrap_or_else(|| panic!("not in IMKIT: {body}"));
    assert_eq!(
        found["members"].as_array().map(Vec::len),
        Some(2),
        "{found}"
    );
}

#[tokio::test]
async fn scim_user_appears_in_zulip_users() {
    let realm = Realm::new();
    let scim = Scim::new(&realm);
    let id = scim.user("zed").await;
    let user = zulip_user(&realm, &id).await;
    assert_eq!(user["full_name"], "zed Tester", "{user}");
    assert_eq!(user["delivery_email"], "zed@idp.example", "{user}");
    assert_eq!(user["is_active"], true);
}

#[tokio::test]
async fn zulip_member_change_shows_in_scim() {
    let realm = Realm::new();
    let scim = Scim::new(&realm);
    let a = scim.user("a").await;
    let g = scim.group("Zulip Edited", &[&a]).await;
    let (status, body) = realm
        .api(&realm.owner)
        .post(
            &format!("/user_groups/{g}/members"),
            &[
                ("add", json([realm.member.id])),
                ("delete", json([a.parse::<i64>().unwrap()])),
            ],
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(scim.members(&g).await, [realm.member.id.to_string()]);
    let group = scim.read(&format!("/Groups/{g}")).await;
    assert_eq!(group["members"][0]["type"], "User", "{group}");
}

#[tokio::test]
async fn nested_groups_round_trip_as_zulip_subgroups() {
    let realm = Realm::new();
    let scim = Scim::new(&realm);
    let a = scim.user("a").await;
    let inner = scim.group("Inner", &[&a]).await;
    let created = scim
        .post(
            "/Groups",
            j!({"schemas": [GROUP_URN], "displayName": "Outer",
                "members": [{"value": inner, "type": "Group"}, {"value": realm.member.id.to_string()}]}),
        )
        .await;
    let outer = created.ok(201)["id"].as_str().unwrap().to_string();
    let zulip = zulip_group(&realm, &outer).await;
    assert_eq!(
        sorted_ids(&zulip["direct_subgroup_ids"]),
        vec![inner.clone()],
        "{zulip}"
    );
    assert_eq!(
        sorted_ids(&zulip["members"]),
        [realm.member.id.to_string()],
        "{zulip}"
    );

    let body = scim.read(&format!("/Groups/{outer}")).await;
    let members = body["members"].as_array().unwrap();
    let sub = members
        .iter()
        .find(|m| m["value"] == inner.as_str())
        .expect("subgroup listed");
    assert_eq!(sub["type"], "Group", "{body}");
    assert!(
        sub["$ref"]
            .as_str()
            .is_some_and(|r| r.ends_with(&format!("/Groups/{inner}"))),
        "{body}"
    );

    // A subgroup added through Zulip shows in SCIM.
    let other = scim.group("Other", &[]).await;
    let (status, reply) = realm
        .api(&realm.owner)
        .post(
            &format!("/user_groups/{outer}/subgroups"),
            &[("add", json([other.parse::<i64>().unwrap()]))],
        )
        .await;
    assert_eq!(status, 200, "{reply}");
    let mut want = vec![inner.clone(), other.clone(), realm.member.id.to_string()];
    want.sort();
    assert_eq!(scim.members(&outer).await, want);
    // And a SCIM remove of the subgroup shows in Zulip.
    scim.patch(
        &format!("/Groups/{outer}"),
        j!([{"op": "remove", "path": format!("members[value eq \"{inner}\"]")}]),
    )
    .await
    .ok(200);
    let zulip = zulip_group(&realm, &outer).await;
    assert_eq!(
        sorted_ids(&zulip["direct_subgroup_ids"]),
        [other],
        "{zulip}"
    );
}

#[tokio::test]
async fn scim_delete_deactivates_in_zulip_and_hides_from_scim() {
    let realm = Realm::new();
    let scim = Scim::new(&realm);
    let id = scim.user("gone").await;
    let reply = scim.delete(&format!("/Users/{id}")).await;
    assert_eq!(reply.status, 204, "{}", reply.body);
    assert_eq!(zulip_user(&realm, &id).await["is_active"], false);
    assert_scim_error(&scim.get(&format!("/Users/{id}"), &[]).await, 404, None);
    assert_eq!(
        scim.filter("/Users", "userName eq \"gone@idp.example\"")
            .await
            .body["totalResults"],
        0
    );
    assert!(!scim
        .get("/Users", &[("count", "1000")])
        .await
        .ids()
        .contains(&id));
    assert_scim_error(&scim.delete(&format!("/Users/{id}")).await, 404, None);
}

#[tokio::test]
async fn scim_active_false_deactivates_in_zulip_and_stays_listed() {
    let realm = Realm::new();
    let scim = Scim::new(&realm);
    let id = scim.user("paused").await;
    scim.patch(
        &format!("/Users/{id}"),
        j!([{"op": "replace", "path": "active", "value": false}]),
    )
    .await
    .ok(200);
    assert_eq!(zulip_user(&realm, &id).await["is_active"], false);
    let list = scim.get("/Users", &[("count", "1000")]).await;
    assert!(list.ids().contains(&id));
    let inactive = scim.filter("/Users", "active eq false").await;
    assert_eq!(inactive.ids(), vec![id.clone()]);
    // Reactivation through SCIM shows in Zulip too.
    scim.patch(
        &format!("/Users/{id}"),
        j!([{"op": "replace", "path": "active", "value": true}]),
    )
    .await
    .ok(200);
    assert_eq!(zulip_user(&realm, &id).await["is_active"], true);
}
