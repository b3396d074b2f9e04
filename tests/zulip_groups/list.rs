//! GET /user_groups.

use super::*;

// ====================================================================== GET /user_groups

#[tokio::test]
async fn list_shows_the_system_groups_sorted_by_id() {
    let realm = Realm::new();
    let got = realm.api(&realm.member).get("/user_groups", &[]).await;
    assert_success(&got);
    assert_eq!(keys(&got.1), ["msg", "result", "user_groups"]);
    let groups = got.1["user_groups"].as_array().unwrap();
    assert_eq!(
        groups.len(),
        8,
        "a fresh realm has exactly the system groups"
    );
    let gids: Vec<i64> = groups.iter().map(|g| g["id"].as_i64().unwrap()).collect();
    assert!(
        gids.windows(2).all(|w| w[0] < w[1]),
        "sorted by id: {gids:?}"
    );

    let id = |i: usize| gids[i];
    let nobody = id(0);
    let plain_members = sorted(vec![realm.member.id, realm.member2.id, realm.bot.id]);
    let expected = [
        ("role:nobody", "Nobody", vec![], vec![]),
        (
            "role:owners",
            "Owners of this organization",
            vec![realm.owner.id],
            vec![],
        ),
        (
            "role:administrators",
            "Administrators of this organization, including owners",
            vec![realm.admin.id],
            vec![id(1)],
        ),
        (
            "role:moderators",
            "Moderators of this organization, including administrators",
            vec![realm.moderator.id],
            vec![id(2)],
        ),
        (
            "role:fullmembers",
            "Members of this organization, not including new accounts and guests",
            plain_members.clone(),
            vec![id(3)],
        ),
        (
            "role:members",
            "Members of this organization, not including guests",
            plain_members.clone(),
            vec![id(4)],
        ),
        (
            "role:everyone",
            "Everyone in this organization, including guests",
            vec![realm.guest.id],
            vec![id(5)],
        ),
        (
            "role:internet",
            "Everyone on the Internet",
            vec![],
            vec![id(6)],
        ),
    ];
    for (i, (name, description, members, subgroups)) in expected.into_iter().enumerate() {
        assert_eq!(
            groups[i],
            j!({
                "id": id(i),
                "name": name,
                "creator_id": null,
                "date_created": null,
                "description": description,
                "members": members,
                "direct_subgroup_ids": subgroups,
                "is_system_group": true,
                "can_add_members_group": nobody,
                "can_join_group": nobody,
                "can_leave_group": nobody,
                "can_manage_group": nobody,
                "can_mention_group": nobody,
                "can_remove_members_group": nobody,
                "deactivated": false,
            }),
            "system group {name}"
        );
        assert_eq!(
            keys(&groups[i]),
            GROUP_KEYS,
            "exactly the documented fields"
        );
    }

    // Unknown parameters are listed on success, sorted; `client` never is.
    let got = realm
        .api(&realm.owner)
        .get(
            "/user_groups",
            &[p("zz", "1"), p("aa", "2"), p("client", "test")],
        )
        .await;
    assert_success(&got);
    assert_eq!(got.1["ignored_parameters_unsupported"], j!(["aa", "zz"]));
    assert_eq!(got.1["user_groups"].as_array().unwrap().len(), 8);
}

#[tokio::test]
async fn list_includes_deactivated_groups_only_when_asked() {
    let realm = Realm::new();
    let a = realm.create_group(&realm.owner, "alpha", &[]).await;
    let b = realm.create_group(&realm.owner, "beta", &[]).await;
    let c = realm.create_group(&realm.owner, "gamma", &[]).await;
    plain_success(&deactivate(&realm, b).await);

    let api = realm.api(&realm.member);
    let list = |v: &Value| -> Vec<(i64, bool)> {
        v["user_groups"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|g| g["is_system_group"] == false)
            .map(|g| {
                (
                    g["id"].as_i64().unwrap(),
                    g["deactivated"].as_bool().unwrap(),
                )
            })
            .collect()
    };
    let default = api.get("/user_groups", &[]).await;
    assert_success(&default);
    assert_eq!(list(&default.1), [(a, false), (c, false)]);
    let off = api
        .get("/user_groups", &[p("include_deactivated_groups", "false")])
        .await;
    assert_success(&off);
    assert_eq!(off.1, default.1);
    let on = api
        .get("/user_groups", &[p("include_deactivated_groups", "true")])
        .await;
    assert_success(&on);
    assert_eq!(list(&on.1), [(a, false), (b, true), (c, false)]);
    let all: Vec<i64> = on.1["user_groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["id"].as_i64().unwrap())
        .collect();
    assert!(all.windows(2).all(|w| w[0] < w[1]), "sorted by id: {all:?}");
    assert_eq!(all.len(), 11);

    // Booleans are JSON literals; nothing else passes.
    for bad in ["1", "0", "\"true\"", "null", "[]"] {
        let got = api
            .get("/user_groups", &[p("include_deactivated_groups", bad)])
            .await;
        assert_error(
            &got,
            400,
            "BAD_REQUEST",
            "include_deactivated_groups is not a boolean",
        );
    }
    for bad in ["True", "yes", ""] {
        let got = api
            .get("/user_groups", &[p("include_deactivated_groups", bad)])
            .await;
        assert_error(
            &got,
            400,
            "BAD_REQUEST",
            "include_deactivated_groups is not valid JSON",
        );
    }
}
