//! POST /user_groups/{id}/deactivate and reactivation.

use super::*;

// ====================================================================== deactivation

#[tokio::test]
async fn deactivate_reactivate_and_no_delete() {
    let realm = Realm::new();
    let s = sys(&realm).await;
    let gid = realm
        .create_group(&realm.owner, "team", &[realm.member.id])
        .await;
    let live = realm.create_group(&realm.owner, "live", &[]).await;

    // DELETE is gone: 405 listing PATCH, nothing changed.
    let before = &realm.all_groups().await;
    let response = reqwest::Client::new()
        .delete(realm.cohort.url(&format!("/api/v1/user_groups/{gid}")))
        .basic_auth(&realm.owner.email, Some(&realm.owner.key))
        .form(&[("name", "x")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 405);
    assert_eq!(response.headers()["allow"], "PATCH");
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        body,
        j!({"result": "error", "msg": "Method Not Allowed", "allowed_methods": ["PATCH"]})
    );
    let got = realm
        .api(&realm.owner)
        .delete(&format!("/user_groups/{gid}"), &[])
        .await;
    assert_eq!(got.0, 405);
    assert_eq!(got.1["allowed_methods"], j!(["PATCH"]));
    assert!(got.1.get("code").is_none(), "405 has no code: {}", got.1);
    assert_eq!(realm.all_groups().await, *before);

    // Refusals before the group is deactivated.
    for system in [s.nobody, s.everyone, s.internet] {
        refused!(
            realm,
            before,
            deactivate(&realm, system).await,
            400,
            "BAD_REQUEST",
            "Insufficient permission"
        );
    }
    for unknown in [99_999, realm.member.id] {
        refused!(
            realm,
            before,
            deactivate(&realm, unknown).await,
            400,
            "BAD_REQUEST",
            "Invalid user group"
        );
    }
    let got = realm
        .api(&realm.owner)
        .post("/user_groups/abc/deactivate", &[])
        .await;
    refused!(realm, before, got, 404, "BAD_REQUEST", "Not Found");

    // Deactivate: plain success (it reads no parameters), visible at once.
    let got = realm
        .api(&realm.owner)
        .post(
            &format!("/user_groups/{gid}/deactivate"),
            &[p("deactivated", "true")],
        )
        .await;
    assert_eq!(
        got.1,
        j!({"result": "success", "msg": "", "ignored_parameters_unsupported": ["deactivated"]})
    );
    assert!(!listed_ids(&realm, &realm.member).await.contains(&gid));
    let g = realm.group(gid).await;
    assert_eq!(g["deactivated"], true);
    assert_eq!(g["members"], j!([realm.member.id]), "members are kept");
    assert!(listed_ids(&realm, &realm.member).await.contains(&live));

    let before = &realm.all_groups().await;
    refused!(
        realm,
        before,
        deactivate(&realm, gid).await,
        400,
        "BAD_REQUEST",
        "User group is deactivated."
    );
    // Reads of a deactivated group are refused.
    for path in [
        "members",
        "subgroups",
        &format!("members/{}", realm.member.id),
    ] {
        let got = realm
            .api(&realm.member)
            .get(&format!("/user_groups/{gid}/{path}"), &[])
            .await;
        assert_error(&got, 400, "BAD_REQUEST", "User group is deactivated.");
    }
    // It cannot be used as a subgroup or a setting value.
    refused!(
        realm,
        before,
        change_subgroups(&realm, live, &[p("add", ids(&[gid]))]).await,
        400,
        "BAD_REQUEST",
        "User group is deactivated."
    );
    refused!(
        realm,
        before,
        patch(&realm, live, &[p("can_mention_group", upd(j!(gid), None))]).await,
        400,
        "BAD_REQUEST",
        "User group is deactivated."
    );

    // But it can still be edited: description, settings, members, subgroups.
    plain_success(&patch(&realm, gid, &[p("description", "resting")]).await);
    plain_success(
        &patch(
            &realm,
            gid,
            &[p("can_mention_group", upd(j!(s.nobody), None))],
        )
        .await,
    );
    plain_success(&change_members(&realm, gid, &[p("add", ids(&[realm.member2.id]))]).await);
    plain_success(&change_subgroups(&realm, gid, &[p("add", ids(&[live]))]).await);
    let g = realm.group(gid).await;
    assert_eq!(g["description"], "resting");
    assert_eq!(g["can_mention_group"], s.nobody);
    assert_eq!(
        g["members"],
        j!(sorted(vec![realm.member.id, realm.member2.id]))
    );
    assert_eq!(g["direct_subgroup_ids"], j!([live]));
    assert_eq!(g["deactivated"], true);

    // `deactivated=true` through PATCH is accepted and does nothing.
    plain_success(&patch(&realm, live, &[p("deactivated", "true")]).await);
    assert_eq!(realm.group(live).await["deactivated"], false);
    // `deactivated=false` on an active group: nothing to do, success.
    plain_success(&patch(&realm, live, &[p("deactivated", "false")]).await);
    assert_eq!(realm.group(live).await["deactivated"], false);

    // Reactivate with `deactivated=false`, together with a rename.
    plain_success(
        &patch(
            &realm,
            gid,
            &[p("deactivated", "false"), p("name", "team-again")],
        )
        .await,
    );
    let g = realm.group(gid).await;
    assert_eq!(g["deactivated"], false);
    assert_eq!(g["name"], "team-again");
    assert!(listed_ids(&realm, &realm.member).await.contains(&gid));
    assert_eq!(
        members_of(&realm, gid, true).await,
        sorted(vec![realm.member.id, realm.member2.id])
    );
}

#[tokio::test]
async fn deactivate_refuses_groups_in_use() {
    let realm = Realm::new();
    let s = sys(&realm).await;
    let g = realm.create_group(&realm.owner, "used", &[]).await;
    let sup1 = realm.create_group(&realm.owner, "sup1", &[]).await;
    let sup2 = realm.create_group(&realm.owner, "sup2", &[]).await;
    let user = realm.create_group(&realm.owner, "user", &[]).await;
    let selfish = realm.create_group(&realm.owner, "selfish", &[]).await;
    let in_use = "Cannot deactivate user group in use.";
    let code = "CANNOT_DEACTIVATE_GROUP_IN_USE";

    // As a subgroup of active groups.
    plain_success(&change_subgroups(&realm, sup2, &[p("add", ids(&[g]))]).await);
    plain_success(&change_subgroups(&realm, sup1, &[p("add", ids(&[g]))]).await);
    let before = &realm.all_groups().await;
    let got = refused!(
        realm,
        before,
        deactivate(&realm, g).await,
        400,
        code,
        in_use
    );
    let mut objections = got.1["objections"].clone();
    let mut supers = int_list(&objections[0]["supergroup_ids"]);
    supers.sort_unstable();
    objections[0]["supergroup_ids"] = j!(supers);
    assert_eq!(
        objections,
        j!([{"type": "subgroup", "supergroup_ids": [sup1, sup2]}])
    );
    // A deactivated supergroup does not count.
    plain_success(&deactivate(&realm, sup2).await);
    let before = &realm.all_groups().await;
    let got = refused!(
        realm,
        before,
        deactivate(&realm, g).await,
        400,
        code,
        in_use
    );
    assert_eq!(
        got.1["objections"],
        j!([{"type": "subgroup", "supergroup_ids": [sup1]}])
    );
    plain_success(&change_subgroups(&realm, sup1, &[p("delete", ids(&[g]))]).await);

    // As (part of) another group's setting values.
    plain_success(
        &patch(
            &realm,
            user,
            &[
                p("can_mention_group", upd(j!(g), None)),
                p(
                    "can_join_group",
                    upd(anon(&[realm.member.id], &[g, s.moderators]), None),
                ),
            ],
        )
        .await,
    );
    let before = &realm.all_groups().await;
    let got = refused!(
        realm,
        before,
        deactivate(&realm, g).await,
        400,
        code,
        in_use
    );
    assert_eq!(
        got.1["objections"],
        j!([{"type": "user_group", "group_id": user,
             "settings": ["can_join_group", "can_mention_group"]}])
    );
    plain_success(
        &patch(
            &realm,
            user,
            &[
                p("can_mention_group", upd(j!(s.everyone), None)),
                p("can_join_group", upd(j!(s.nobody), None)),
            ],
        )
        .await,
    );

    // As a realm setting.
    let api = realm.api(&realm.owner);
    plain_success(
        &api.patch("/realm", &[p("can_create_groups", upd(j!(g), None))])
            .await,
    );
    let before = &realm.all_groups().await;
    let got = refused!(
        realm,
        before,
        deactivate(&realm, g).await,
        400,
        code,
        in_use
    );
    assert_eq!(
        got.1["objections"],
        j!([{"type": "realm", "settings": ["can_create_groups"]}])
    );
    plain_success(
        &api.patch(
            "/realm",
            &[p(
                "can_manage_all_groups",
                upd(anon(&[realm.owner.id], &[g]), None),
            )],
        )
        .await,
    );
    let before = &realm.all_groups().await;
    let got = refused!(
        realm,
        before,
        deactivate(&realm, g).await,
        400,
        code,
        in_use
    );
    assert_eq!(
        got.1["objections"],
        j!([{"type": "realm", "settings": ["can_create_groups", "can_manage_all_groups"]}])
    );

    // All three kinds at once (order not asserted).
    plain_success(&change_subgroups(&realm, sup1, &[p("add", ids(&[g]))]).await);
    plain_success(&patch(&realm, user, &[p("can_manage_group", upd(j!(g), None))]).await);
    let before = &realm.all_groups().await;
    let got = refused!(
        realm,
        before,
        deactivate(&realm, g).await,
        400,
        code,
        in_use
    );
    let mut found: Vec<String> = got.1["objections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o.to_string())
        .collect();
    found.sort();
    let mut expected: Vec<String> = [
        j!({"type": "subgroup", "supergroup_ids": [sup1]}),
        j!({"type": "user_group", "group_id": user, "settings": ["can_manage_group"]}),
        j!({"type": "realm", "settings": ["can_create_groups", "can_manage_all_groups"]}),
    ]
    .iter()
    .map(|o| o.to_string())
    .collect();
    expected.sort();
    assert_eq!(found, expected);

    // A group whose own setting names it is in use by itself.
    plain_success(
        &patch(
            &realm,
            selfish,
            &[
                p("can_mention_group", upd(j!(selfish), None)),
                p(
                    "can_remove_members_group",
                    upd(anon(&[realm.member.id], &[selfish]), None),
                ),
            ],
        )
        .await,
    );
    let before = &realm.all_groups().await;
    let got = refused!(
        realm,
        before,
        deactivate(&realm, selfish).await,
        400,
        code,
        in_use
    );
    assert_eq!(
        got.1["objections"],
        j!([{"type": "user_group", "group_id": selfish,
             "settings": ["can_mention_group", "can_remove_members_group"]}])
    );

    // Once nothing uses it, it deactivates. A setting of a deactivated group
    // does not count.
    plain_success(&change_subgroups(&realm, sup1, &[p("delete", ids(&[g]))]).await);
    plain_success(&deactivate(&realm, user).await);
    plain_success(
        &api.patch(
            "/realm",
            &[
                p("can_create_groups", upd(j!(s.members), Some(j!(g)))),
                p("can_manage_all_groups", upd(j!(s.owners), None)),
            ],
        )
        .await,
    );
    plain_success(&deactivate(&realm, g).await);
    assert_eq!(realm.group(g).await["deactivated"], true);
}
