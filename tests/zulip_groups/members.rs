//! POST /user_groups/{id}/members and the member reads.

use super::*;

// ====================================================================== POST /user_groups/{id}/members

#[tokio::test]
async fn change_members_adds_and_deletes() {
    let realm = Realm::new();
    let s = sys(&realm).await;
    let (m, m2, bot, guest) = (
        realm.member.id,
        realm.member2.id,
        realm.bot.id,
        realm.guest.id,
    );
    let gid = realm.create_group(&realm.owner, "team", &[m2]).await;
    let sub = realm.create_group(&realm.owner, "sub", &[]).await;

    // add: duplicates collapse; bots and guests may be members; sorted.
    plain_success(&change_members(&realm, gid, &[p("add", ids(&[bot, m, bot, guest]))]).await);
    assert_eq!(
        int_list(&realm.group(gid).await["members"]),
        sorted(vec![m, m2, bot, guest])
    );
    assert_eq!(
        members_of(&realm, gid, true).await,
        sorted(vec![m, m2, bot, guest])
    );

    // delete.
    plain_success(&change_members(&realm, gid, &[p("delete", ids(&[guest, bot, guest]))]).await);
    assert_eq!(
        int_list(&realm.group(gid).await["members"]),
        sorted(vec![m, m2])
    );

    // add_subgroups / delete_subgroups through /members; system groups allowed.
    plain_success(
        &change_members(
            &realm,
            gid,
            &[p("add_subgroups", ids(&[sub, s.moderators]))],
        )
        .await,
    );
    assert_eq!(
        realm.group(gid).await["direct_subgroup_ids"],
        j!([s.moderators, sub])
    );
    plain_success(
        &change_members(&realm, gid, &[p("delete_subgroups", ids(&[s.moderators]))]).await,
    );
    assert_eq!(realm.group(gid).await["direct_subgroup_ids"], j!([sub]));

    // All four in one request.
    plain_success(
        &change_members(
            &realm,
            gid,
            &[
                p("add", ids(&[guest])),
                p("delete", ids(&[m2])),
                p("add_subgroups", ids(&[s.administrators])),
                p("delete_subgroups", ids(&[sub])),
            ],
        )
        .await,
    );
    let g = realm.group(gid).await;
    assert_eq!(int_list(&g["members"]), sorted(vec![m, guest]));
    assert_eq!(g["direct_subgroup_ids"], j!([s.administrators]));

    // add runs before delete: adding and deleting the same user succeeds and
    // leaves them out; likewise for subgroups.
    plain_success(
        &change_members(
            &realm,
            gid,
            &[
                p("add", ids(&[m2])),
                p("delete", ids(&[m2])),
                p("add_subgroups", ids(&[sub])),
                p("delete_subgroups", ids(&[sub])),
            ],
        )
        .await,
    );
    let g = realm.group(gid).await;
    assert_eq!(int_list(&g["members"]), sorted(vec![m, guest]));
    assert_eq!(g["direct_subgroup_ids"], j!([s.administrators]));

    // A user who is only an indirect member may be added directly.
    assert!(is_member(&realm, gid, realm.admin.id, false).await);
    assert!(!is_member(&realm, gid, realm.admin.id, true).await);
    plain_success(&change_members(&realm, gid, &[p("add", ids(&[realm.admin.id]))]).await);
    assert!(is_member(&realm, gid, realm.admin.id, true).await);

    // Empty lists next to a non-empty one are fine; unknown params are listed.
    let got = change_members(
        &realm,
        gid,
        &[
            p("add", "[]"),
            p("delete", ids(&[realm.admin.id])),
            p("subgroups", "[]"),
        ],
    )
    .await;
    assert_eq!(
        got.1,
        j!({"result": "success", "msg": "", "ignored_parameters_unsupported": ["subgroups"]})
    );
    assert!(!is_member(&realm, gid, realm.admin.id, true).await);
}

#[tokio::test]
async fn change_members_refusals_roll_back() {
    let realm = Realm::new();
    let s = sys(&realm).await;
    let (m, m2) = (realm.member.id, realm.member2.id);
    let gone = add_user(&realm, "gone@test.example", "Gone User").await;
    let gid = realm
        .create_group(&realm.owner, "team", &[m, gone.id])
        .await;
    let sub = realm
        .create_group(&realm.owner, "sub", &[realm.moderator.id])
        .await;
    let retired = realm.create_group(&realm.owner, "retired", &[]).await;
    plain_success(&deactivate(&realm, retired).await);
    deactivate_user(&realm, gone.id).await;
    plain_success(&change_members(&realm, gid, &[p("add_subgroups", ids(&[sub]))]).await);
    let before = &realm.all_groups().await;
    let nothing = "Nothing to do. Specify at least one of \"add\", \"delete\", \"add_subgroups\" or \"delete_subgroups\".";

    refused!(
        realm,
        before,
        change_members(&realm, gid, &[]).await,
        400,
        "BAD_REQUEST",
        nothing
    );
    refused!(
        realm,
        before,
        change_members(
            &realm,
            gid,
            &[
                p("add", "[]"),
                p("delete", "[]"),
                p("add_subgroups", "[]"),
                p("delete_subgroups", "[]"),
            ]
        )
        .await,
        400,
        "BAD_REQUEST",
        nothing
    );
    refused!(
        realm,
        before,
        change_members(&realm, gid, &[p("subgroups", ids(&[sub]))]).await,
        400,
        "BAD_REQUEST",
        nothing
    );

    let cases: Vec<(Vec<Param>, String)> = vec![
        (
            vec![p("add", ids(&[m2, m]))],
            format!("User {m} is already a member of this group"),
        ),
        (
            vec![p("delete", ids(&[m, m2]))],
            format!("There is no member '{m2}' in this user group"),
        ),
        // An indirect member (through `sub`) is not a member for delete.
        (
            vec![p("delete", ids(&[realm.moderator.id]))],
            format!(
                "There is no member '{}' in this user group",
                realm.moderator.id
            ),
        ),
        (
            vec![p("add", ids(&[gone.id]))],
            format!("Invalid user ID: {}", gone.id),
        ),
        // A deactivated direct member cannot be removed either.
        (
            vec![p("delete", ids(&[gone.id]))],
            format!("Invalid user ID: {}", gone.id),
        ),
        (
            vec![p("add", ids(&[99_999]))],
            "Invalid user ID: 99999".into(),
        ),
        (vec![p("add", ids(&[-1]))], "Invalid user ID: -1".into()),
        (
            vec![p("delete", ids(&[99_999]))],
            "Invalid user ID: 99999".into(),
        ),
        (
            vec![p("add", ids(&[s.members]))],
            format!("Invalid user ID: {}", s.members),
        ),
        // The second operation fails: the first is rolled back.
        (
            vec![p("add", ids(&[m2])), p("delete", ids(&[realm.admin.id]))],
            format!("There is no member '{}' in this user group", realm.admin.id),
        ),
        (
            vec![p("add", ids(&[m2])), p("add_subgroups", ids(&[99_999]))],
            "Invalid user group ID: 99999".into(),
        ),
        (
            vec![
                p("add", ids(&[m2])),
                p("delete", ids(&[m])),
                p("add_subgroups", ids(&[s.owners])),
                p("delete_subgroups", ids(&[s.members])),
            ],
            format!("User group {} is not a subgroup of this group.", s.members),
        ),
        (
            vec![p("delete", ids(&[m])), p("add_subgroups", ids(&[sub]))],
            format!("User group {sub} is already a subgroup of this group."),
        ),
        (
            vec![p("add", ids(&[m2])), p("add_subgroups", ids(&[retired]))],
            "User group is deactivated.".into(),
        ),
        (
            vec![p("add_subgroups", ids(&[gid]))],
            format!("User group {gid} is already a subgroup of one of the passed subgroups."),
        ),
        (vec![p("add", "[1,")], "add is not valid JSON".into()),
        (
            vec![p("delete", "[\"1\"]")],
            "delete[0] is not an integer".into(),
        ),
        (
            vec![p("add_subgroups", "{}")],
            "add_subgroups is not a list".into(),
        ),
        (
            vec![p("delete_subgroups", "[1.5]")],
            "delete_subgroups[0] is not an integer".into(),
        ),
    ];
    for (params, msg) in &cases {
        refused!(
            realm,
            before,
            change_members(&realm, gid, params).await,
            400,
            "BAD_REQUEST",
            msg
        );
    }

    // Parse order: add, add_subgroups, delete, delete_subgroups; all before
    // the group is looked up.
    refused!(
        realm,
        before,
        change_members(
            &realm,
            99_999,
            &[
                p("delete", "x"),
                p("add_subgroups", "[\"a\"]"),
                p("delete_subgroups", "1")
            ]
        )
        .await,
        400,
        "BAD_REQUEST",
        "add_subgroups[0] is not an integer"
    );
    refused!(
        realm,
        before,
        change_members(
            &realm,
            99_999,
            &[p("delete_subgroups", "1"), p("delete", "x")]
        )
        .await,
        400,
        "BAD_REQUEST",
        "delete is not valid JSON"
    );

    // The group itself: system, unknown, not numeric.
    for system in [s.members, s.nobody] {
        refused!(
            realm,
            before,
            change_members(&realm, system, &[p("add", ids(&[m2]))]).await,
            400,
            "BAD_REQUEST",
            "Insufficient permission"
        );
    }
    refused!(
        realm,
        before,
        change_members(&realm, 99_999, &[p("add", ids(&[m2]))]).await,
        400,
        "BAD_REQUEST",
        "Invalid user group"
    );
    let got = realm
        .api(&realm.owner)
        .post("/user_groups/x/members", &[p("add", ids(&[m2]))])
        .await;
    refused!(realm, before, got, 404, "BAD_REQUEST", "Not Found");

    // Users to delete are checked before the group is looked up.
    for group in [99_999, s.members] {
        refused!(
            realm,
            before,
            change_members(&realm, group, &[p("delete", ids(&[99_998]))]).await,
            400,
            "BAD_REQUEST",
            "Invalid user ID: 99998"
        );
    }
    // Nothing to do is reported before the group is looked up.
    refused!(
        realm,
        before,
        change_members(&realm, 99_999, &[p("add", "[]")]).await,
        400,
        "BAD_REQUEST",
        nothing
    );
    // Adding: permission first, then the user ids.
    let got = realm
        .api(&realm.member2)
        .post(
            &format!("/user_groups/{gid}/members"),
            &[p("add", ids(&[99_999]))],
        )
        .await;
    refused!(
        realm,
        before,
        got,
        400,
        "BAD_REQUEST",
        "Insufficient permission"
    );

    // Deleting a deactivated user is refused before permissions are checked.
    let got = realm
        .api(&realm.member2)
        .post(
            &format!("/user_groups/{gid}/members"),
            &[p("delete", ids(&[gone.id]))],
        )
        .await;
    refused!(
        realm,
        before,
        got,
        400,
        "BAD_REQUEST",
        &format!("Invalid user ID: {}", gone.id)
    );
    let got = realm
        .api(&realm.member2)
        .post(
            &format!("/user_groups/{gid}/members"),
            &[p("delete", ids(&[m]))],
        )
        .await;
    refused!(
        realm,
        before,
        got,
        400,
        "BAD_REQUEST",
        "Insufficient permission"
    );
}

// ====================================================================== GET members / is-member

#[tokio::test]
async fn members_reads_direct_and_recursive() {
    let realm = Realm::new();
    let s = sys(&realm).await;
    let (m, m2) = (realm.member.id, realm.member2.id);
    let top = realm.create_group(&realm.owner, "top", &[m]).await;
    let mid = realm.create_group(&realm.owner, "mid", &[m2, m]).await;
    let low = realm
        .create_group(&realm.owner, "low", &[realm.bot.id])
        .await;
    plain_success(&change_subgroups(&realm, top, &[p("add", ids(&[mid]))]).await);
    plain_success(&change_subgroups(&realm, mid, &[p("add", ids(&[low, s.administrators]))]).await);

    assert_eq!(members_of(&realm, top, true).await, [m]);
    let all = sorted(vec![m, m2, realm.bot.id, realm.admin.id, realm.owner.id]);
    assert_eq!(members_of(&realm, top, false).await, all);
    // The default is recursive.
    let got = realm
        .api(&realm.member)
        .get(&format!("/user_groups/{top}/members"), &[])
        .await;
    assert_success(&got);
    assert_eq!(sorted(int_list(&got.1["members"])), all);
    assert_eq!(members_of(&realm, low, false).await, [realm.bot.id]);

    // System groups: direct and recursive.
    assert_eq!(
        members_of(&realm, s.members, true).await,
        sorted(vec![m, m2, realm.bot.id])
    );
    assert_eq!(
        members_of(&realm, s.members, false).await,
        sorted(vec![
            m,
            m2,
            realm.bot.id,
            realm.owner.id,
            realm.admin.id,
            realm.moderator.id
        ])
    );
    assert_eq!(
        members_of(&realm, s.internet, true).await,
        Vec::<i64>::new()
    );
    assert_eq!(members_of(&realm, s.internet, false).await.len(), 7);
    assert_eq!(members_of(&realm, s.nobody, false).await, Vec::<i64>::new());

    // The membership check.
    assert!(is_member(&realm, top, m, true).await);
    assert!(!is_member(&realm, top, m2, true).await);
    assert!(is_member(&realm, top, m2, false).await);
    assert!(is_member(&realm, top, realm.owner.id, false).await);
    assert!(!is_member(&realm, top, realm.guest.id, false).await);
    assert!(!is_member(&realm, top, realm.moderator.id, false).await);
    // Bots are valid targets.
    assert!(is_member(&realm, low, realm.bot.id, true).await);
    assert!(is_member(&realm, top, realm.bot.id, false).await);
    assert!(!is_member(&realm, top, realm.bot.id, true).await);
    assert!(is_member(&realm, s.everyone, realm.guest.id, true).await);
    let got = realm
        .api(&realm.member)
        .get(&format!("/user_groups/{top}/members/{m}"), &[])
        .await;
    assert_eq!(
        got.1,
        j!({"result": "success", "msg": "", "is_user_group_member": true}),
        "recursive by default"
    );

    // Unread parameters are listed.
    let got = realm
        .api(&realm.member)
        .get(
            &format!("/user_groups/{top}/members"),
            &[
                p("direct_subgroup_only", "true"),
                p("direct_member_only", "true"),
            ],
        )
        .await;
    assert_eq!(
        got.1,
        j!({"result": "success", "msg": "", "members": [m],
            "ignored_parameters_unsupported": ["direct_subgroup_only"]})
    );

    // Refusals.
    let api = realm.api(&realm.member);
    let cases: Vec<(String, &str)> = vec![
        (format!("/user_groups/{top}/members/99999"), "No such user"),
        (
            format!("/user_groups/{top}/members/{}", s.members),
            "No such user",
        ),
        (
            format!("/user_groups/99999/members/{m}"),
            "Invalid user group",
        ),
        (
            format!("/user_groups/{m}/members/{m}"),
            "Invalid user group",
        ),
        (
            "/user_groups/99999/members".to_string(),
            "Invalid user group",
        ),
        (format!("/user_groups/{m}/members"), "Invalid user group"),
        // The group is checked before the user.
        (
            "/user_groups/99999/members/99999".to_string(),
            "Invalid user group",
        ),
    ];
    for (path, msg) in cases {
        assert_error(&api.get(&path, &[]).await, 400, "BAD_REQUEST", msg);
    }
    for path in [
        format!("/user_groups/{top}/members/abc"),
        format!("/user_groups/{top}/members/-1"),
        "/user_groups/abc/members".to_string(),
    ] {
        assert_error(&api.get(&path, &[]).await, 404, "BAD_REQUEST", "Not Found");
    }
    for path in [
        format!("/user_groups/{top}/members"),
        format!("/user_groups/{top}/members/{m}"),
        // The flag is parsed before the group is looked up.
        "/user_groups/99999/members".to_string(),
        "/user_groups/99999/members/99999".to_string(),
    ] {
        assert_error(
            &api.get(&path, &[p("direct_member_only", "1")]).await,
            400,
            "BAD_REQUEST",
            "direct_member_only is not a boolean",
        );
    }
}

#[tokio::test]
async fn deactivated_users_are_invisible_in_groups() {
    let realm = Realm::new();
    let s = sys(&realm).await;
    let m = realm.member.id;
    let gone = add_user(&realm, "gone@test.example", "Gone User").await;
    let gid = realm
        .create_group(&realm.owner, "team", &[m, gone.id])
        .await;
    let sub = realm.create_group(&realm.owner, "sub", &[gone.id]).await;
    plain_success(&change_subgroups(&realm, gid, &[p("add", ids(&[sub]))]).await);
    plain_success(
        &patch(
            &realm,
            gid,
            &[p("can_mention_group", upd(anon(&[gone.id, m], &[]), None))],
        )
        .await,
    );
    assert!(members_of(&realm, s.members, true).await.contains(&gone.id));

    deactivate_user(&realm, gone.id).await;
    // Read-your-writes: the next reads already leave the user out.
    let g = realm.group(gid).await;
    assert_eq!(g["members"], j!([m]));
    assert_eq!(g["can_mention_group"], anon(&[m], &[]));
    assert_eq!(realm.group(sub).await["members"], j!([]));
    assert_eq!(members_of(&realm, gid, true).await, [m]);
    assert_eq!(members_of(&realm, gid, false).await, [m]);
    assert!(!members_of(&realm, s.members, true).await.contains(&gone.id));
    assert!(!members_of(&realm, s.internet, false)
        .await
        .contains(&gone.id));
    let got = realm
        .api(&realm.member)
        .get(&format!("/user_groups/{gid}/members/{}", gone.id), &[])
        .await;
    assert_error(&got, 400, "BAD_REQUEST", "User is deactivated");

    // `old` compares against the visible value.
    plain_success(
        &patch(
            &realm,
            gid,
            &[p(
                "can_mention_group",
                upd(anon(&[m, realm.member2.id], &[]), Some(anon(&[m], &[]))),
            )],
        )
        .await,
    );
    assert_eq!(
        realm.group(gid).await["can_mention_group"],
        anon(&[m, realm.member2.id], &[])
    );

    // Reactivation restores the memberships.
    plain_success(
        &realm
            .api(&realm.owner)
            .post(&format!("/users/{}/reactivate", gone.id), &[])
            .await,
    );
    assert_eq!(
        int_list(&realm.group(gid).await["members"]),
        sorted(vec![m, gone.id])
    );
    assert_eq!(realm.group(sub).await["members"], j!([gone.id]));
    assert!(is_member(&realm, gid, gone.id, true).await);
    assert!(members_of(&realm, s.members, true).await.contains(&gone.id));
}
