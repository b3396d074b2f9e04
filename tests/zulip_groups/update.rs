//! PATCH /user_groups/{id}.

use super::*;

// ====================================================================== PATCH /user_groups/{id}

#[tokio::test]
async fn update_name_and_description() {
    let realm = Realm::new();
    let gid = realm.create_group(&realm.owner, "old-name", &[]).await;
    let other = realm.create_group(&realm.owner, "taken", &[]).await;
    let retired = realm.create_group(&realm.owner, "retired", &[]).await;
    plain_success(&deactivate(&realm, retired).await);
    let original = realm.group(gid).await;

    let got = patch(&realm, gid, &[p("name", "new-name")]).await;
    plain_success(&got);
    let g = realm.group(gid).await;
    assert_eq!(g["name"], "new-name");
    assert_eq!(g["description"], original["description"]);
    assert_eq!(g["date_created"], original["date_created"]);
    assert_eq!(g["creator_id"], original["creator_id"]);

    plain_success(&patch(&realm, gid, &[p("description", "Line 1\nLine 2")]).await);
    assert_eq!(realm.group(gid).await["description"], "Line 1\nLine 2");
    plain_success(&patch(&realm, gid, &[p("description", "")]).await);
    assert_eq!(realm.group(gid).await["description"], "");

    // Both at once; the same values again are a no-op success.
    let both = [p("name", "Both"), p("description", "both changed")];
    plain_success(&patch(&realm, gid, &both).await);
    plain_success(&patch(&realm, gid, &both).await);
    let g = realm.group(gid).await;
    assert_eq!(
        (g["name"].clone(), g["description"].clone()),
        (j!("Both"), j!("both changed"))
    );

    // Another case of a taken name is a different name.
    plain_success(&patch(&realm, gid, &[p("name", "TAKEN")]).await);
    assert_eq!(realm.group(gid).await["name"], "TAKEN");
    plain_success(&patch(&realm, gid, &[p("name", "é".repeat(100))]).await);
    assert_eq!(realm.group(gid).await["name"], "é".repeat(100));

    // The Python client's update_user_group() also sends group_id.
    let got = patch(
        &realm,
        gid,
        &[p("group_id", gid.to_string()), p("name", "from-python")],
    )
    .await;
    assert_eq!(
        got.1,
        j!({"result": "success", "msg": "", "ignored_parameters_unsupported": ["group_id"]})
    );
    assert_eq!(realm.group(gid).await["name"], "from-python");

    // Refused names and descriptions.
    let before = &realm.all_groups().await;
    let bad: Vec<(String, String)> = vec![
        ("".into(), "User group name can't be empty!".into()),
        ("  ".into(), "User group name can't be empty!".into()),
        (
            "x".repeat(101),
            "User group name cannot exceed 100 characters.".into(),
        ),
        (
            "@here".into(),
            "User group name cannot start with '@'.".into(),
        ),
        (
            "role:x".into(),
            "User group name cannot start with 'role:'.".into(),
        ),
        (
            "user:x".into(),
            "User group name cannot start with 'user:'.".into(),
        ),
        (
            "stream:x".into(),
            "User group name cannot start with 'stream:'.".into(),
        ),
        (
            "channel:x".into(),
            "User group name cannot start with 'channel:'.".into(),
        ),
        ("taken".into(), "User group 'taken' already exists.".into()),
        (
            "retired".into(),
            "User group 'retired' already exists.".into(),
        ),
        ("a\0".into(), "name contains NULL (0x00) characters.".into()),
    ];
    for (name, msg) in &bad {
        refused!(
            realm,
            before,
            patch(
                &realm,
                gid,
                &[p("name", name.as_str()), p("description", "changed")]
            )
            .await,
            400,
            "BAD_REQUEST",
            msg
        );
    }
    refused!(
        realm,
        before,
        patch(
            &realm,
            gid,
            &[p("name", "fine"), p("description", "d".repeat(10_001))]
        )
        .await,
        400,
        "BAD_REQUEST",
        "description is too long (limit: 10000 characters)."
    );
    refused!(
        realm,
        before,
        patch(&realm, gid, &[p("description", "a\0b")]).await,
        400,
        "BAD_REQUEST",
        "description contains NULL (0x00) characters."
    );
    // A deactivated group may be renamed; its old name is then free.
    plain_success(&patch(&realm, retired, &[p("name", "retired-2")]).await);
    plain_success(&patch(&realm, other, &[p("name", "retired")]).await);
    assert_eq!(realm.group(retired).await["name"], "retired-2");
    assert_eq!(realm.group(other).await["name"], "retired");
}

#[tokio::test]
async fn update_each_setting_with_new_and_old() {
    let realm = Realm::new();
    let s = sys(&realm).await;
    let (m, m2) = (realm.member.id, realm.member2.id);
    let gid = realm.create_group(&realm.member, "settings", &[]).await;
    let helper = realm.create_group(&realm.owner, "helper", &[]).await;

    for setting in SETTINGS {
        let current = realm.group(gid).await[setting].clone();
        // An id, with the right `old`.
        let got = patch(
            &realm,
            gid,
            &[p(setting, upd(j!(s.moderators), Some(current)))],
        )
        .await;
        plain_success(&got);
        assert_eq!(realm.group(gid).await[setting], s.moderators, "{setting}");

        // An anonymous value, sorted on output; `old` as an id.
        let value = anon(&[m2, m], &[helper, s.moderators]);
        plain_success(
            &patch(
                &realm,
                gid,
                &[p(setting, upd(value, Some(j!(s.moderators))))],
            )
            .await,
        );
        assert_eq!(
            realm.group(gid).await[setting],
            anon(&[m, m2], &[s.moderators, helper]),
            "{setting}"
        );

        // `old` compares as sets.
        let old = anon(&[m2, m, m], &[helper, s.moderators]);
        let value = anon(&[realm.admin.id], &[]);
        plain_success(&patch(&realm, gid, &[p(setting, upd(value.clone(), Some(old)))]).await);
        assert_eq!(realm.group(gid).await[setting], value, "{setting}");

        // Canonicalisation: one subgroup and no members is that group.
        plain_success(&patch(&realm, gid, &[p(setting, upd(anon(&[], &[helper]), None))]).await);
        assert_eq!(realm.group(gid).await[setting], helper, "{setting}");
        // An old value in the one-subgroup object form matches the id.
        plain_success(
            &patch(
                &realm,
                gid,
                &[p(setting, upd(anon(&[], &[]), Some(anon(&[], &[helper]))))],
            )
            .await,
        );
        assert_eq!(realm.group(gid).await[setting], s.nobody, "{setting}");

        // An empty object as `old` is role:nobody.
        plain_success(
            &patch(
                &realm,
                gid,
                &[p(setting, upd(j!(s.nobody), Some(anon(&[], &[]))))],
            )
            .await,
        );
        // `new` equal to the current value: success, nothing changes.
        let before = realm.all_groups().await;
        plain_success(
            &patch(
                &realm,
                gid,
                &[p(setting, upd(j!(s.nobody), Some(j!(s.nobody))))],
            )
            .await,
        );
        assert_eq!(realm.all_groups().await, before);

        // A stale `old`: EXPECTATION_MISMATCH, nothing applied, not even the name.
        for stale in [
            j!(s.moderators),
            anon(&[m], &[]),
            anon(&[m, m2], &[s.nobody]),
        ] {
            let got = refused!(
                realm,
                &before,
                patch(
                    &realm,
                    gid,
                    &[
                        p("name", "renamed"),
                        p("description", "changed"),
                        p(setting, upd(j!(s.members), Some(stale))),
                    ],
                )
                .await,
                400,
                "EXPECTATION_MISMATCH",
                "'old' value does not match the expected value."
            );
            assert_eq!(got.1["field_name"], "old", "{}", got.1);
        }
    }

    // Mismatch in one setting rolls back a valid change of another.
    let before = &realm.all_groups().await;
    let got = refused!(
        realm,
        before,
        patch(
            &realm,
            gid,
            &[
                p(
                    "can_add_members_group",
                    upd(j!(s.members), Some(j!(s.nobody)))
                ),
                p(
                    "can_remove_members_group",
                    upd(j!(s.members), Some(j!(s.owners)))
                ),
            ],
        )
        .await,
        400,
        "EXPECTATION_MISMATCH",
        "'old' value does not match the expected value."
    );
    assert_eq!(got.1["field_name"], "old");
    // An invalid `new` in a later setting rolls back earlier ones too.
    refused!(
        realm,
        before,
        patch(
            &realm,
            gid,
            &[
                p("name", "renamed"),
                p("can_add_members_group", upd(j!(s.members), None)),
                p("can_manage_group", upd(j!(s.everyone), None)),
            ],
        )
        .await,
        400,
        "BAD_REQUEST",
        "'can_manage_group' setting cannot be set to 'role:everyone' group."
    );
    // Processing order: the name first, then settings alphabetically.
    refused!(
        realm,
        before,
        patch(
            &realm,
            gid,
            &[
                p("name", "helper"),
                p(
                    "can_add_members_group",
                    upd(j!(s.members), Some(j!(s.owners)))
                ),
            ],
        )
        .await,
        400,
        "BAD_REQUEST",
        "User group 'helper' already exists."
    );
    refused!(
        realm,
        before,
        patch(
            &realm,
            gid,
            &[
                p("can_manage_group", upd(j!(s.everyone), None)),
                p("can_join_group", upd(j!(s.members), Some(j!(s.owners)))),
            ],
        )
        .await,
        400,
        "EXPECTATION_MISMATCH",
        "'old' value does not match the expected value."
    );

    // Invalid `new` values, and malformed updates.
    let bad_new: Vec<(&str, Value, String)> = vec![
        ("can_mention_group", j!(99_999), "Invalid user group".into()),
        (
            "can_mention_group",
            j!(s.internet),
            "'can_mention_group' setting cannot be set to 'role:internet' group.".into(),
        ),
        (
            "can_leave_group",
            j!(s.internet),
            "'can_leave_group' setting cannot be set to 'role:internet' group.".into(),
        ),
        (
            "can_add_members_group",
            j!(s.everyone),
            "'can_add_members_group' setting cannot be set to 'role:everyone' group.".into(),
        ),
        (
            "can_join_group",
            anon(&[], &[s.everyone]),
            "'can_join_group' setting cannot be set to 'role:everyone' group.".into(),
        ),
        (
            "can_remove_members_group",
            anon(&[99_999], &[]),
            "Invalid user ID: 99999".into(),
        ),
        (
            "can_manage_group",
            anon(&[m], &[99_999]),
            "Invalid user group ID: 99999".into(),
        ),
    ];
    for (setting, new, msg) in bad_new {
        refused!(
            realm,
            before,
            patch(&realm, gid, &[p(setting, upd(new, None))]).await,
            400,
            "BAD_REQUEST",
            &msg
        );
    }
    refused!(
        realm,
        before,
        patch(
            &realm,
            gid,
            &[p(
                "can_manage_group",
                json(j!({"new": s.members, "older": 1}))
            )]
        )
        .await,
        400,
        "BAD_REQUEST",
        "Argument \"older\" at can_manage_group is unexpected"
    );
    refused!(
        realm,
        before,
        patch(&realm, gid, &[p("can_manage_group", "{\"new\": 1")]).await,
        400,
        "BAD_REQUEST",
        "can_manage_group is not valid JSON"
    );
    // A bare value (accepted only before FL 260) and a missing `new`: 400
    // BAD_REQUEST (Zulip documents no text).
    for raw in [
        s.members.to_string(),
        json(anon(&[m], &[])),
        json(j!({"old": s.nobody})),
        "[1]".to_string(),
    ] {
        refused_any_msg!(
            realm,
            before,
            patch(&realm, gid, &[p("can_manage_group", raw)]).await
        );
    }
}

#[tokio::test]
async fn update_refusals_leave_no_trace() {
    let realm = Realm::new();
    let s = sys(&realm).await;
    let gid = realm.create_group(&realm.owner, "target", &[]).await;
    let before = &realm.all_groups().await;

    refused!(
        realm,
        before,
        patch(&realm, gid, &[]).await,
        400,
        "BAD_REQUEST",
        "No new data supplied"
    );
    // Only unread parameters are still no data.
    refused!(
        realm,
        before,
        patch(
            &realm,
            gid,
            &[p("group_id", gid.to_string()), p("color", "red")]
        )
        .await,
        400,
        "BAD_REQUEST",
        "No new data supplied"
    );
    for system in [s.nobody, s.owners, s.members, s.internet] {
        refused!(
            realm,
            before,
            patch(&realm, system, &[p("description", "mine now")]).await,
            400,
            "BAD_REQUEST",
            "Insufficient permission"
        );
        refused!(
            realm,
            before,
            patch(
                &realm,
                system,
                &[p("can_mention_group", upd(j!(s.members), None))]
            )
            .await,
            400,
            "BAD_REQUEST",
            "Insufficient permission"
        );
    }
    for unknown in [
        "99999".to_string(),
        "0".to_string(),
        realm.member.id.to_string(),
        "99999999999999999999".to_string(),
    ] {
        let got = realm
            .api(&realm.owner)
            .patch(&format!("/user_groups/{unknown}"), &[p("name", "x")])
            .await;
        refused!(realm, before, got, 400, "BAD_REQUEST", "Invalid user group");
    }
    for path in ["abc", "-1", "1.5", "1e3", "%201"] {
        let got = realm
            .api(&realm.owner)
            .patch(&format!("/user_groups/{path}"), &[p("name", "x")])
            .await;
        refused!(realm, before, got, 404, "BAD_REQUEST", "Not Found");
    }
    refused!(
        realm,
        before,
        patch(&realm, gid, &[p("deactivated", "1")]).await,
        400,
        "BAD_REQUEST",
        "deactivated is not a boolean"
    );
    // Parameters are parsed in Zulip's declared order (settings
    // alphabetically, then deactivated), all before the group is looked up.
    refused!(
        realm,
        before,
        patch(
            &realm,
            99_999,
            &[p("deactivated", "1"), p("can_remove_members_group", "{")]
        )
        .await,
        400,
        "BAD_REQUEST",
        "can_remove_members_group is not valid JSON"
    );
    refused!(
        realm,
        before,
        patch(
            &realm,
            99_999,
            &[p("can_mention_group", "{"), p("can_leave_group", "x")]
        )
        .await,
        400,
        "BAD_REQUEST",
        "can_leave_group is not valid JSON"
    );
    refused!(
        realm,
        before,
        patch(&realm, 99_999, &[p("deactivated", "yes")]).await,
        400,
        "BAD_REQUEST",
        "deactivated is not valid JSON"
    );
    // "No new data" comes before the group lookup too.
    refused!(
        realm,
        before,
        patch(&realm, 99_999, &[]).await,
        400,
        "BAD_REQUEST",
        "No new data supplied"
    );
    // Someone who may not manage the group.
    let got = realm
        .api(&realm.member)
        .patch(&format!("/user_groups/{gid}"), &[p("name", "mine")])
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
