//! Realm isolation and read-your-writes consistency.

use super::*;

// ====================================================================== realms and consistency

#[tokio::test]
async fn another_realms_ids_are_unknown_here() {
    let realm = Realm::new();
    let mine = realm.create_group(&realm.owner, "mine", &[]).await;
    let (stranger, their_groups) = other_realm(&realm).await;
    let theirs = their_groups[0]["id"].as_i64().unwrap();
    let their_members = realm
        .cohort
        .cli_json(&["user", "list", "--json", "--realm", "Other"]);
    assert_eq!(their_members[0]["user_id"], stranger.id);
    // The other realm sees only its own groups, and we only ours.
    assert_eq!(their_groups.len(), 8);
    let ours = listed_ids(&realm, &realm.owner).await;
    assert!(ours.contains(&mine));
    assert!(their_groups
        .iter()
        .all(|g| !ours.contains(&g["id"].as_i64().unwrap())));
    let before = &realm.all_groups().await;

    refused!(
        realm,
        before,
        create(&realm, &realm.owner, &create_params("g", &[stranger.id])).await,
        400,
        "BAD_REQUEST",
        &format!("Invalid user ID: {}", stranger.id)
    );
    let mut params = create_params("g", &[]);
    params.push(p("subgroups", ids(&[theirs])));
    refused!(
        realm,
        before,
        create(&realm, &realm.owner, &params).await,
        400,
        "BAD_REQUEST",
        &format!("Invalid user group ID: {theirs}")
    );
    let mut params = create_params("g", &[]);
    params.push(p("can_mention_group", theirs.to_string()));
    refused!(
        realm,
        before,
        create(&realm, &realm.owner, &params).await,
        400,
        "BAD_REQUEST",
        "Invalid user group"
    );
    refused!(
        realm,
        before,
        patch(&realm, theirs, &[p("name", "hijacked")]).await,
        400,
        "BAD_REQUEST",
        "Invalid user group"
    );
    refused!(
        realm,
        before,
        deactivate(&realm, theirs).await,
        400,
        "BAD_REQUEST",
        "Invalid user group"
    );
    refused!(
        realm,
        before,
        change_members(&realm, mine, &[p("add", ids(&[stranger.id]))]).await,
        400,
        "BAD_REQUEST",
        &format!("Invalid user ID: {}", stranger.id)
    );
    refused!(
        realm,
        before,
        change_subgroups(&realm, mine, &[p("add", ids(&[theirs]))]).await,
        400,
        "BAD_REQUEST",
        &format!("Invalid user group ID: {theirs}")
    );
    let api = realm.api(&realm.member);
    assert_error(
        &api.get(&format!("/user_groups/{theirs}/members"), &[])
            .await,
        400,
        "BAD_REQUEST",
        "Invalid user group",
    );
    assert_error(
        &api.get(&format!("/user_groups/{mine}/members/{}", stranger.id), &[])
            .await,
        400,
        "BAD_REQUEST",
        "No such user",
    );
    // Their realm is untouched too.
    let (_, body) = realm.api(&stranger).get("/user_groups", &[]).await;
    assert_eq!(body["user_groups"].as_array().unwrap(), &their_groups);
}

#[tokio::test]
async fn every_write_is_visible_to_the_next_read() {
    let realm = Realm::new();
    let writer = realm.api(&realm.owner);
    let reader = realm.api(&realm.member2);
    for i in 0..15 {
        let name = format!("ryw-{i}");
        let got = writer
            .post(
                "/user_groups/create",
                &[
                    p("name", name.as_str()),
                    p("description", ""),
                    p("members", "[]"),
                ],
            )
            .await;
        assert_eq!(got.0, 200, "{}", got.1);
        let gid = got.1["group_id"].as_i64().unwrap();
        let listed = reader.get("/user_groups", &[]).await.1;
        assert!(
            listed["user_groups"]
                .as_array()
                .unwrap()
                .iter()
                .any(|g| g["id"] == gid && g["name"] == name.as_str()),
            "round {i}: created group missing"
        );

        plain_success(
            &writer
                .patch(
                    &format!("/user_groups/{gid}"),
                    &[p("name", format!("{name}-x"))],
                )
                .await,
        );
        let listed = reader.get("/user_groups", &[]).await.1;
        assert!(
            listed["user_groups"]
                .as_array()
                .unwrap()
                .iter()
                .any(|g| g["id"] == gid && g["name"] == format!("{name}-x").as_str()),
            "round {i}: rename not visible"
        );

        plain_success(
            &writer
                .post(
                    &format!("/user_groups/{gid}/members"),
                    &[p("add", ids(&[realm.member.id]))],
                )
                .await,
        );
        let got = reader
            .get(
                &format!("/user_groups/{gid}/members/{}", realm.member.id),
                &[],
            )
            .await;
        assert_eq!(got.1["is_user_group_member"], true, "round {i}: {}", got.1);

        plain_success(
            &writer
                .post(&format!("/user_groups/{gid}/deactivate"), &[])
                .await,
        );
        let got = reader
            .get(&format!("/user_groups/{gid}/members"), &[])
            .await;
        assert_error(&got, 400, "BAD_REQUEST", "User group is deactivated.");
    }
}

/// Zulip checks `name.strip() == ""` in Python, whose whitespace includes the
/// ASCII information separators U+001C..U+001F (Rust's `trim` does not strip
/// them).
#[tokio::test]
async fn names_of_python_whitespace_only_are_empty() {
    let realm = Realm::new();
    let gid = realm.create_group(&realm.owner, "sep", &[]).await;
    let before = &realm.all_groups().await;
    for name in ["\u{1c}", "\u{1d}\u{1e}", " \u{1f} ", "\u{85}\u{a0}\u{3000}"] {
        refused!(
            realm,
            before,
            create(&realm, &realm.owner, &create_params(name, &[])).await,
            400,
            "BAD_REQUEST",
            "User group name can't be empty!"
        );
        refused!(
            realm,
            before,
            patch(&realm, gid, &[p("name", name)]).await,
            400,
            "BAD_REQUEST",
            "User group name can't be empty!"
        );
    }
}
