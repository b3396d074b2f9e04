//! POST /user_groups/create.

use super::*;

// ====================================================================== POST /user_groups/create

#[tokio::test]
async fn create_uses_the_documented_defaults() {
    let realm = Realm::new();
    let s = sys(&realm).await;
    let start = now_secs();
    let got = create(
        &realm,
        &realm.member,
        &[
            p("name", "Backend"),
            p("description", "Backend team"),
            p("members", ids(&[realm.bot.id, realm.member2.id])),
        ],
    )
    .await;
    let end = now_secs();
    assert_eq!(got.0, 200, "{}", got.1);
    let gid = got.1["group_id"].as_i64().expect("group_id");
    assert_eq!(
        got.1,
        j!({"result": "success", "msg": "", "group_id": gid}),
        "exactly the documented body"
    );
    assert!(gid > s.internet, "a fresh id: {gid}");

    // Read-your-writes: the very next list shows it, last (highest id).
    let listed = realm.api(&realm.member2).get("/user_groups", &[]).await;
    let groups = listed.1["user_groups"].as_array().unwrap();
    let group = groups.last().unwrap().clone();
    assert_eq!(group["id"], gid);
    let created = group["date_created"].as_i64().expect("date_created");
    assert!(
        (start - 1..=end + 1).contains(&created),
        "date_created {created} outside [{start}, {end}]"
    );
    let creator_only = anon(&[realm.member.id], &[]);
    assert_eq!(
        group,
        j!({
            "id": gid,
            "name": "Backend",
            "creator_id": realm.member.id,
            "date_created": created,
            "description": "Backend team",
            // The creator is not a member unless listed; members sorted.
            "members": sorted(vec![realm.bot.id, realm.member2.id]),
            "direct_subgroup_ids": [],
            "is_system_group": false,
            "can_add_members_group": creator_only,
            "can_join_group": s.nobody,
            "can_leave_group": s.everyone,
            "can_manage_group": creator_only,
            "can_mention_group": s.everyone,
            "can_remove_members_group": s.nobody,
            "deactivated": false,
        })
    );
    assert_eq!(keys(&group), GROUP_KEYS);

    // Empty members and empty description are allowed; a second group gets a
    // higher id and its own creator.
    let got = create(
        &realm,
        &realm.admin,
        &[p("name", "empty"), p("description", ""), p("members", "[]")],
    )
    .await;
    assert_eq!(got.0, 200, "{}", got.1);
    let empty = got.1["group_id"].as_i64().unwrap();
    assert!(empty > gid);
    let g = realm.group(empty).await;
    assert_eq!(g["members"], j!([]));
    assert_eq!(g["description"], "");
    assert_eq!(g["creator_id"], realm.admin.id);
    assert_eq!(g["can_manage_group"], anon(&[realm.admin.id], &[]));
    assert_eq!(g["can_add_members_group"], anon(&[realm.admin.id], &[]));

    // Unknown parameters are reported next to group_id.
    let got = create(
        &realm,
        &realm.owner,
        &[
            p("name", "extra"),
            p("description", ""),
            p("members", "[]"),
            p("color", "red"),
            p("group_id", "5"),
        ],
    )
    .await;
    assert_eq!(got.0, 200, "{}", got.1);
    let extra = got.1["group_id"].as_i64().unwrap();
    assert_eq!(
        got.1,
        j!({"result": "success", "msg": "", "group_id": extra,
            "ignored_parameters_unsupported": ["color", "group_id"]})
    );
}

#[tokio::test]
async fn create_with_explicit_settings_and_subgroups() {
    let realm = Realm::new();
    let s = sys(&realm).await;
    let base = realm.create_group(&realm.owner, "base", &[]).await;
    let (m, m2) = (realm.member.id, realm.member2.id);
    assert!(m < m2);

    let mut params = create_params("explicit", &[m]);
    params.extend([
        // A plain group id.
        p("can_manage_group", s.moderators.to_string()),
        // An anonymous group: members deduplicated and sorted.
        p("can_add_members_group", json(anon(&[m2, m, m2], &[base]))),
        // No members and one subgroup: that group.
        p("can_join_group", json(anon(&[], &[base]))),
        // Empty: role:nobody.
        p("can_leave_group", json(anon(&[], &[]))),
        p("can_mention_group", s.nobody.to_string()),
        p(
            "can_remove_members_group",
            json(anon(&[realm.admin.id], &[s.moderators, base])),
        ),
        // System groups may be subgroups; duplicates collapse; sorted.
        p("subgroups", ids(&[base, s.members, base])),
    ]);
    let got = create(&realm, &realm.member, &params).await;
    assert_eq!(got.0, 200, "{}", got.1);
    let gid = got.1["group_id"].as_i64().unwrap();
    assert_eq!(got.1, j!({"result": "success", "msg": "", "group_id": gid}));
    let g = realm.group(gid).await;
    assert_eq!(g["members"], j!([m]));
    assert_eq!(g["direct_subgroup_ids"], j!([s.members, base]));
    assert_eq!(g["can_manage_group"], s.moderators);
    assert_eq!(g["can_add_members_group"], anon(&[m, m2], &[base]));
    assert_eq!(g["can_join_group"], base);
    assert_eq!(g["can_leave_group"], s.nobody);
    assert_eq!(g["can_mention_group"], s.nobody);
    assert_eq!(
        g["can_remove_members_group"],
        anon(&[realm.admin.id], &[s.moderators, base])
    );
    assert_eq!(g["creator_id"], m);

    // role:everyone is allowed where the setting allows it, role:nobody everywhere.
    let mut params = create_params("everyone-ok", &[]);
    params.extend([
        p("can_leave_group", s.everyone.to_string()),
        p("can_mention_group", s.everyone.to_string()),
        p("can_manage_group", s.nobody.to_string()),
        p("can_add_members_group", s.nobody.to_string()),
        p("can_join_group", s.members.to_string()),
        p("can_remove_members_group", s.owners.to_string()),
    ]);
    let got = create(&realm, &realm.owner, &params).await;
    assert_eq!(got.0, 200, "{}", got.1);
    let g = realm.group(got.1["group_id"].as_i64().unwrap()).await;
    assert_eq!(g["can_leave_group"], s.everyone);
    assert_eq!(g["can_mention_group"], s.everyone);
    assert_eq!(g["can_manage_group"], s.nobody);
    assert_eq!(g["can_add_members_group"], s.nobody);
    assert_eq!(g["can_join_group"], s.members);
    assert_eq!(g["can_remove_members_group"], s.owners);

    // Only a plain id is checked against the setting's allowed system groups:
    // an anonymous value may hold role:everyone or role:internet next to users.
    let mut params = create_params("anonymous-everyone", &[]);
    params.extend([
        p("can_manage_group", json(anon(&[m], &[s.everyone]))),
        p("can_add_members_group", json(anon(&[m], &[s.internet]))),
    ]);
    let got = create(&realm, &realm.owner, &params).await;
    assert_eq!(got.0, 200, "{}", got.1);
    let g = realm.group(got.1["group_id"].as_i64().unwrap()).await;
    assert_eq!(g["can_manage_group"], anon(&[m], &[s.everyone]));
    assert_eq!(g["can_add_members_group"], anon(&[m], &[s.internet]));

    // Canonicalisation looks at the lists as sent: the same subgroup twice is
    // not "one subgroup", so the value stays an (deduplicated) object.
    let mut params = create_params("twice", &[]);
    params.push(p("can_mention_group", json(anon(&[], &[base, base]))));
    let got = create(&realm, &realm.owner, &params).await;
    assert_eq!(got.0, 200, "{}", got.1);
    let g = realm.group(got.1["group_id"].as_i64().unwrap()).await;
    assert_eq!(g["can_mention_group"], anon(&[], &[base]));

    // Subgroups on create need no permission on the new group: a group whose
    // managers are nobody still gets its subgroups.
    let mut params = create_params("nested-at-birth", &[]);
    params.extend([
        p("can_manage_group", s.nobody.to_string()),
        p("can_add_members_group", s.nobody.to_string()),
        p("subgroups", ids(&[base])),
    ]);
    let got = create(&realm, &realm.member2, &params).await;
    assert_eq!(got.0, 200, "{}", got.1);
    let nested = got.1["group_id"].as_i64().unwrap();
    assert_eq!(subgroups_of(&realm, nested, true).await, [base]);
}

#[tokio::test]
async fn create_refuses_missing_and_malformed_parameters() {
    let realm = Realm::new();
    let before = &realm.all_groups().await;
    let full = create_params("g", &[realm.member.id]);

    for missing in ["name", "description", "members"] {
        let params: Vec<Param> = full
            .iter()
            .filter(|(n, _)| *n != missing)
            .cloned()
            .collect();
        let got = refused!(
            realm,
            before,
            create(&realm, &realm.owner, &params).await,
            400,
            "REQUEST_VARIABLE_MISSING",
            &format!("Missing '{missing}' argument")
        );
        assert_eq!(got.1["var_name"], missing, "{}", got.1);
    }

    let with = |name: &'static str, value: &str| -> Vec<Param> {
        let mut params: Vec<Param> = full.iter().filter(|(n, _)| *n != name).cloned().collect();
        params.push(p(name, value));
        params
    };
    let cases: &[(&'static str, &str, &str)] = &[
        ("members", "[1,2", "members is not valid JSON"),
        ("members", "abc", "members is not valid JSON"),
        ("members", "1,2", "members is not valid JSON"),
        ("members", "", "members is not valid JSON"),
        ("members", "[1.5]", "members[0] is not an integer"),
        ("members", "[1, \"2\"]", "members[1] is not an integer"),
        ("members", "[[1]]", "members[0] is not an integer"),
        ("members", "true", "members is not a list"),
        ("members", "7", "members is not a list"),
        ("members", "\"[1]\"", "members is not a list"),
        ("members", "{\"a\": 1}", "members is not a list"),
        ("subgroups", "[1", "subgroups is not valid JSON"),
        ("subgroups", "[\"x\"]", "subgroups[0] is not an integer"),
        ("subgroups", "false", "subgroups is not a list"),
        (
            "can_manage_group",
            "{",
            "can_manage_group is not valid JSON",
        ),
        (
            "can_mention_group",
            "abc",
            "can_mention_group is not valid JSON",
        ),
    ];
    for (name, value, msg) in cases {
        refused!(
            realm,
            before,
            create(&realm, &realm.owner, &with(name, value)).await,
            400,
            "BAD_REQUEST",
            msg
        );
    }
    // Only the first bad parameter is reported, in Zulip's declared
    // (alphabetical) order: the six settings, description, members, name,
    // subgroups.
    let order_cases: Vec<(Vec<Param>, &str)> = vec![
        (
            vec![p("description", ""), p("members", "[1")],
            "members is not valid JSON",
        ),
        (
            vec![p("name", "g"), p("members", "[1")],
            "Missing 'description' argument",
        ),
        (
            vec![
                p("description", ""),
                p("members", "[]"),
                p("subgroups", "[x"),
            ],
            "Missing 'name' argument",
        ),
        (
            vec![p("name", "g"), p("can_remove_members_group", "{")],
            "can_remove_members_group is not valid JSON",
        ),
        (
            vec![
                p("name", "g"),
                p("description", ""),
                p("members", "[]"),
                p("can_mention_group", "{"),
                p("can_join_group", "x"),
            ],
            "can_join_group is not valid JSON",
        ),
    ];
    for (params, msg) in &order_cases {
        let got = create(&realm, &realm.owner, params).await;
        let code = if msg.starts_with("Missing") {
            "REQUEST_VARIABLE_MISSING"
        } else {
            "BAD_REQUEST"
        };
        refused!(realm, before, got, 400, code, msg);
    }

    // Wrongly shaped group-setting values: 400 BAD_REQUEST (Zulip documents
    // no text for these).
    for value in [
        "true",
        "\"5\"",
        "[5]",
        "1.5",
        "{\"direct_members\": []}",
        "{\"direct_subgroups\": []}",
        "{\"direct_members\": [\"x\"], \"direct_subgroups\": []}",
    ] {
        refused_any_msg!(
            realm,
            before,
            create(&realm, &realm.owner, &with("can_manage_group", value)).await
        );
    }
}

#[tokio::test]
async fn create_refuses_bad_member_ids() {
    let realm = Realm::new();
    let s = sys(&realm).await;
    let gone = add_user(&realm, "gone@test.example", "Gone User").await;
    deactivate_user(&realm, gone.id).await;
    let (_, other_groups) = other_realm(&realm).await;
    let users = realm
        .cohort
        .cli_json(&["user", "list", "--json", "--realm", "Other"]);
    let stranger = users[0]["user_id"].as_i64().unwrap();
    assert!(!other_groups.is_empty());
    let before = &realm.all_groups().await;

    let cases: Vec<(Vec<i64>, i64)> = vec![
        (vec![-1], -1),
        (vec![0], 0),
        (vec![i64::MAX], i64::MAX),
        (vec![99_999], 99_999),
        // The first bad id is named.
        (vec![realm.member.id, 99_998, 99_999], 99_998),
        // A group id is not a user id.
        (vec![s.members], s.members),
        (vec![realm.member.id, gone.id], gone.id),
        (vec![stranger], stranger),
    ];
    for (members, bad) in cases {
        refused!(
            realm,
            before,
            create(&realm, &realm.owner, &create_params("g", &members)).await,
            400,
            "BAD_REQUEST",
            &format!("Invalid user ID: {bad}")
        );
    }
    // Beyond 64 bits: refused (Zulip documents no text for it).
    for raw in ["[99999999999999999999]", "[-99999999999999999999]"] {
        let mut params = create_params("g", &[]);
        params[2] = p("members", raw);
        refused_any_msg!(realm, before, create(&realm, &realm.owner, &params).await);
    }

    // Members are checked before the name (check 5 before 6).
    let got = create(
        &realm,
        &realm.owner,
        &[
            p("name", " "),
            p("description", ""),
            p("members", ids(&[gone.id])),
        ],
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

    // Duplicates collapse; guests and bots may be members.
    let (m, m2) = (realm.member.id, realm.member2.id);
    let got = create(
        &realm,
        &realm.owner,
        &create_params("dups", &[m2, m, m2, m, realm.guest.id, realm.bot.id]),
    )
    .await;
    assert_eq!(got.0, 200, "{}", got.1);
    let gid = got.1["group_id"].as_i64().unwrap();
    assert_eq!(
        int_list(&realm.group(gid).await["members"]),
        sorted(vec![m, m2, realm.guest.id, realm.bot.id])
    );
}

#[tokio::test]
async fn create_validates_names() {
    let realm = Realm::new();
    let s = sys(&realm).await;
    let existing = realm.create_group(&realm.owner, "Marketing", &[]).await;
    let retired = realm.create_group(&realm.owner, "Retired", &[]).await;
    plain_success(&deactivate(&realm, retired).await);
    let before = &realm.all_groups().await;

    let bad: Vec<(String, String)> = vec![
        ("".into(), "User group name can't be empty!".into()),
        ("   ".into(), "User group name can't be empty!".into()),
        ("\t\n ".into(), "User group name can't be empty!".into()),
        (
            "a".repeat(101),
            "User group name cannot exceed 100 characters.".into(),
        ),
        (
            "é".repeat(101),
            "User group name cannot exceed 100 characters.".into(),
        ),
        (
            "😀".repeat(101),
            "User group name cannot exceed 100 characters.".into(),
        ),
        (
            "@team".into(),
            "User group name cannot start with '@'.".into(),
        ),
        ("@".into(), "User group name cannot start with '@'.".into()),
        (
            "role:admins".into(),
            "User group name cannot start with 'role:'.".into(),
        ),
        (
            "role:nobody".into(),
            "User group name cannot start with 'role:'.".into(),
        ),
        (
            "user:42".into(),
            "User group name cannot start with 'user:'.".into(),
        ),
        (
            "stream:general".into(),
            "User group name cannot start with 'stream:'.".into(),
        ),
        (
            "channel:general".into(),
            "User group name cannot start with 'channel:'.".into(),
        ),
        (
            "Marketing".into(),
            "User group 'Marketing' already exists.".into(),
        ),
        // Names of deactivated groups stay reserved.
        (
            "Retired".into(),
            "User group 'Retired' already exists.".into(),
        ),
        // cohort's text (Zulip's documentation does not cover NUL in names).
        (
            "nul\0name".into(),
            "name contains NULL (0x00) characters.".into(),
        ),
    ];
    for (name, msg) in &bad {
        refused!(
            realm,
            before,
            create(&realm, &realm.owner, &create_params(name, &[])).await,
            400,
            "BAD_REQUEST",
            msg
        );
    }

    // Order: an invalid setting is reported before a taken name (checks 9, 10),
    // a taken name before an unknown subgroup (10, 11).
    let mut params = create_params("Marketing", &[]);
    params.push(p("can_manage_group", s.everyone.to_string()));
    refused!(
        realm,
        before,
        create(&realm, &realm.owner, &params).await,
        400,
        "BAD_REQUEST",
        "'can_manage_group' setting cannot be set to 'role:everyone' group."
    );
    let mut params = create_params("Marketing", &[]);
    params.push(p("subgroups", ids(&[99_999])));
    refused!(
        realm,
        before,
        create(&realm, &realm.owner, &params).await,
        400,
        "BAD_REQUEST",
        "User group 'Marketing' already exists."
    );
    // A name error comes before a setting error (checks 8, 9).
    let mut params = create_params("@x", &[]);
    params.push(p("can_manage_group", s.everyone.to_string()));
    refused!(
        realm,
        before,
        create(&realm, &realm.owner, &params).await,
        400,
        "BAD_REQUEST",
        "User group name cannot start with '@'."
    );

    // Accepted: exactly 100 characters (multi-byte ones count once), another
    // case of a taken name, prefixes in another case or elsewhere in the name,
    // surrounding whitespace (stored as given).
    let good = [
        "a".repeat(100),
        "é".repeat(100),
        "😀".repeat(100),
        "日本語".repeat(33) + "x",
        "marketing".to_string(),
        "MARKETING".to_string(),
        "Role:admins".to_string(),
        "roles".to_string(),
        "team@example".to_string(),
        "User:1".to_string(),
        " Marketing ".to_string(),
        "\"quoted\"".to_string(),
        // Exact, byte-wise uniqueness: NFC and NFD spellings are two names.
        "caf\u{e9}".to_string(),
        "cafe\u{301}".to_string(),
    ];
    for name in &good {
        let got = create(&realm, &realm.owner, &create_params(name, &[])).await;
        assert_eq!(got.0, 200, "{name:?}: {}", got.1);
        let g = realm.group(got.1["group_id"].as_i64().unwrap()).await;
        assert_eq!(g["name"], name.as_str(), "stored exactly as sent");
    }
    assert_eq!(realm.group(existing).await["name"], "Marketing");
}

#[tokio::test]
async fn create_validates_descriptions() {
    let realm = Realm::new();
    let before = &realm.all_groups().await;
    for text in ["x".repeat(10_001), "é".repeat(10_001)] {
        refused!(
            realm,
            before,
            create(
                &realm,
                &realm.owner,
                &[p("name", "g"), p("description", text), p("members", "[]")]
            )
            .await,
            400,
            "BAD_REQUEST",
            "description is too long (limit: 10000 characters)."
        );
    }
    refused!(
        realm,
        before,
        create(
            &realm,
            &realm.owner,
            &[p("name", "g"), p("description", "a\0b"), p("members", "[]")]
        )
        .await,
        400,
        "BAD_REQUEST",
        "description contains NULL (0x00) characters."
    );
    for (name, text) in [
        ("ascii", "x".repeat(10_000)),
        ("multibyte", "é".repeat(10_000)),
        ("newlines", "  line one\nline two  ".to_string()),
    ] {
        let got = create(
            &realm,
            &realm.owner,
            &[
                p("name", name),
                p("description", text.clone()),
                p("members", "[]"),
            ],
        )
        .await;
        assert_eq!(got.0, 200, "{}", got.1);
        let g = realm.group(got.1["group_id"].as_i64().unwrap()).await;
        assert_eq!(g["description"], text.as_str(), "stored as sent");
    }
}

#[tokio::test]
async fn create_validates_setting_values() {
    let realm = Realm::new();
    let s = sys(&realm).await;
    let retired = realm.create_group(&realm.owner, "retired", &[]).await;
    plain_success(&deactivate(&realm, retired).await);
    let gone = add_user(&realm, "gone@test.example", "Gone User").await;
    deactivate_user(&realm, gone.id).await;
    let before = &realm.all_groups().await;

    let with = |setting: &'static str, value: Value| -> Vec<Param> {
        let mut params = create_params("g", &[]);
        params.push(p(setting, json(value)));
        params
    };
    let refusals_for_all: Vec<(Value, String)> = vec![
        (j!(99_999), "Invalid user group".into()),
        (j!(-3), "Invalid user group".into()),
        // A user id is not a group id.
        (j!(realm.member.id), "Invalid user group".into()),
        (j!(retired), "User group is deactivated.".into()),
        (
            j!(s.internet),
            "'{}' setting cannot be set to 'role:internet' group.".into(),
        ),
        (anon(&[99_999], &[]), "Invalid user ID: 99999".into()),
        (
            anon(&[realm.member.id, gone.id], &[]),
            format!("Invalid user ID: {}", gone.id),
        ),
        (
            anon(&[realm.member.id], &[99_999]),
            "Invalid user group ID: 99999".into(),
        ),
        (
            anon(&[realm.member.id], &[retired]),
            "User group is deactivated.".into(),
        ),
        // Canonicalised to the deactivated group itself.
        (anon(&[], &[retired]), "User group is deactivated.".into()),
        (anon(&[], &[99_999]), "Invalid user group".into()),
    ];
    for setting in SETTINGS {
        for (value, msg) in &refusals_for_all {
            let msg = msg.replace("{}", setting);
            refused!(
                realm,
                before,
                create(&realm, &realm.owner, &with(setting, value.clone())).await,
                400,
                "BAD_REQUEST",
                &msg
            );
        }
    }
    // role:everyone is refused where the setting does not allow it, whether
    // sent as an id or as an anonymous value holding only it.
    for setting in [
        "can_add_members_group",
        "can_join_group",
        "can_manage_group",
        "can_remove_members_group",
    ] {
        for value in [j!(s.everyone), anon(&[], &[s.everyone])] {
            refused!(
                realm,
                before,
                create(&realm, &realm.owner, &with(setting, value)).await,
                400,
                "BAD_REQUEST",
                &format!("'{setting}' setting cannot be set to 'role:everyone' group.")
            );
        }
    }

    // Subgroups: unknown ids (first one named), deactivated groups.
    let mut params = create_params("g", &[]);
    params.push(p("subgroups", ids(&[s.members, 99_998, 99_999])));
    refused!(
        realm,
        before,
        create(&realm, &realm.owner, &params).await,
        400,
        "BAD_REQUEST",
        "Invalid user group ID: 99998"
    );
    let mut params = create_params("g", &[]);
    params.push(p("subgroups", ids(&[realm.member.id])));
    refused!(
        realm,
        before,
        create(&realm, &realm.owner, &params).await,
        400,
        "BAD_REQUEST",
        &format!("Invalid user group ID: {}", realm.member.id)
    );
    let mut params = create_params("g", &[]);
    params.push(p("subgroups", ids(&[retired])));
    refused!(
        realm,
        before,
        create(&realm, &realm.owner, &params).await,
        400,
        "BAD_REQUEST",
        "User group is deactivated."
    );
}
