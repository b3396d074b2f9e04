//! POST /user_groups/{id}/subgroups and the subgroup reads.

use super::*;

// ====================================================================== subgroups

#[tokio::test]
async fn change_subgroups_adds_and_deletes() {
    let realm = Realm::new();
    let s = sys(&realm).await;
    let a = realm.create_group(&realm.owner, "a", &[]).await;
    let b = realm.create_group(&realm.owner, "b", &[]).await;
    let c = realm.create_group(&realm.owner, "c", &[]).await;
    let d = realm.create_group(&realm.owner, "d", &[]).await;

    plain_success(&change_subgroups(&realm, a, &[p("add", ids(&[d]))]).await);
    assert_eq!(realm.group(a).await["direct_subgroup_ids"], j!([d]));
    // Several at once, duplicates collapse, output sorted; system groups allowed.
    plain_success(&change_subgroups(&realm, a, &[p("add", ids(&[c, b, c, s.owners]))]).await);
    assert_eq!(
        realm.group(a).await["direct_subgroup_ids"],
        j!([s.owners, b, c, d])
    );
    assert_eq!(subgroups_of(&realm, a, true).await, [s.owners, b, c, d]);

    plain_success(&change_subgroups(&realm, a, &[p("delete", ids(&[c, s.owners]))]).await);
    assert_eq!(realm.group(a).await["direct_subgroup_ids"], j!([b, d]));

    // add then delete in one request.
    plain_success(
        &change_subgroups(&realm, a, &[p("add", ids(&[c])), p("delete", ids(&[b, c]))]).await,
    );
    assert_eq!(realm.group(a).await["direct_subgroup_ids"], j!([d]));

    // A diamond is not a cycle.
    plain_success(&change_subgroups(&realm, b, &[p("add", ids(&[d]))]).await);
    plain_success(&change_subgroups(&realm, a, &[p("add", ids(&[b]))]).await);
    assert_eq!(realm.group(a).await["direct_subgroup_ids"], j!([b, d]));

    // Unknown parameters are listed.
    let got = change_subgroups(
        &realm,
        c,
        &[p("add", ids(&[s.members])), p("subgroups", "[]")],
    )
    .await;
    assert_eq!(
        got.1,
        j!({"result": "success", "msg": "", "ignored_parameters_unsupported": ["subgroups"]})
    );
    assert_eq!(realm.group(c).await["direct_subgroup_ids"], j!([s.members]));
}

#[tokio::test]
async fn change_subgroups_refusals() {
    let realm = Realm::new();
    let s = sys(&realm).await;
    let a = realm.create_group(&realm.owner, "a", &[]).await;
    let b = realm.create_group(&realm.owner, "b", &[]).await;
    let c = realm.create_group(&realm.owner, "c", &[]).await;
    let free = realm.create_group(&realm.owner, "free", &[]).await;
    let retired = realm.create_group(&realm.owner, "retired", &[]).await;
    plain_success(&deactivate(&realm, retired).await);
    // a ⊂ b ⊂ c.
    plain_success(&change_subgroups(&realm, b, &[p("add", ids(&[a]))]).await);
    plain_success(&change_subgroups(&realm, c, &[p("add", ids(&[b]))]).await);
    let before = &realm.all_groups().await;
    let cycle = |sup: i64| {
        format!("User group {sup} is already a subgroup of one of the passed subgroups.")
    };

    let cases: Vec<(i64, Vec<Param>, String)> = vec![
        (
            a,
            vec![],
            "Nothing to do. Specify at least one of \"add\" or \"delete\".".into(),
        ),
        (
            a,
            vec![p("add", "[]"), p("delete", "[]")],
            "Nothing to do. Specify at least one of \"add\" or \"delete\".".into(),
        ),
        // Cycles: direct, through two levels, and the group itself.
        (a, vec![p("add", ids(&[b]))], cycle(a)),
        (a, vec![p("add", ids(&[c]))], cycle(a)),
        (b, vec![p("add", ids(&[free, c]))], cycle(b)),
        (free, vec![p("add", ids(&[free]))], cycle(free)),
        (
            b,
            vec![p("add", ids(&[a]))],
            format!("User group {a} is already a subgroup of this group."),
        ),
        (
            a,
            vec![p("delete", ids(&[free]))],
            format!("User group {free} is not a subgroup of this group."),
        ),
        // Only direct subgroups can be deleted.
        (
            c,
            vec![p("delete", ids(&[a]))],
            format!("User group {a} is not a subgroup of this group."),
        ),
        (
            a,
            vec![p("add", ids(&[retired]))],
            "User group is deactivated.".into(),
        ),
        (
            a,
            vec![p("delete", ids(&[retired]))],
            "User group is deactivated.".into(),
        ),
        (
            a,
            vec![p("add", ids(&[99_999]))],
            "Invalid user group ID: 99999".into(),
        ),
        (
            a,
            vec![p("add", ids(&[free, 99_998, 99_999]))],
            "Invalid user group ID: 99998".into(),
        ),
        (
            a,
            vec![p("delete", ids(&[99_999]))],
            "Invalid user group ID: 99999".into(),
        ),
        (
            a,
            vec![p("add", ids(&[realm.member.id]))],
            format!("Invalid user group ID: {}", realm.member.id),
        ),
        // add runs first and is rolled back when delete fails.
        (
            a,
            vec![p("add", ids(&[free])), p("delete", ids(&[s.members]))],
            format!("User group {} is not a subgroup of this group.", s.members),
        ),
        // System groups are never the supergroup.
        (
            s.members,
            vec![p("add", ids(&[free]))],
            "Insufficient permission".into(),
        ),
        (
            s.moderators,
            vec![p("delete", ids(&[s.administrators]))],
            "Insufficient permission".into(),
        ),
        (
            99_999,
            vec![p("add", ids(&[free]))],
            "Invalid user group".into(),
        ),
        (a, vec![p("add", "[1")], "add is not valid JSON".into()),
        (a, vec![p("delete", "7")], "delete is not a list".into()),
        (
            a,
            vec![p("add", "[true]")],
            "add[0] is not an integer".into(),
        ),
    ];
    for (gid, params, msg) in &cases {
        refused!(
            realm,
            before,
            change_subgroups(&realm, *gid, params).await,
            400,
            "BAD_REQUEST",
            msg
        );
    }
    let got = realm
        .api(&realm.owner)
        .post("/user_groups/x/subgroups", &[p("add", ids(&[free]))])
        .await;
    refused!(realm, before, got, 404, "BAD_REQUEST", "Not Found");
    // Parse order (add, delete) and nothing-to-do, before the group lookup.
    refused!(
        realm,
        before,
        change_subgroups(&realm, 99_999, &[p("delete", "x"), p("add", "{}")]).await,
        400,
        "BAD_REQUEST",
        "add is not a list"
    );
    refused!(
        realm,
        before,
        change_subgroups(&realm, 99_999, &[p("add", "[]")]).await,
        400,
        "BAD_REQUEST",
        "Nothing to do. Specify at least one of \"add\" or \"delete\"."
    );
}

#[tokio::test]
async fn subgroups_reads_direct_and_recursive() {
    let realm = Realm::new();
    let s = sys(&realm).await;
    let a = realm.create_group(&realm.owner, "a", &[]).await;
    let b = realm.create_group(&realm.owner, "b", &[]).await;
    let c = realm.create_group(&realm.owner, "c", &[]).await;
    let d = realm.create_group(&realm.owner, "d", &[]).await;
    plain_success(&change_subgroups(&realm, a, &[p("add", ids(&[b, d]))]).await);
    plain_success(&change_subgroups(&realm, b, &[p("add", ids(&[c, d, s.moderators]))]).await);

    assert_eq!(subgroups_of(&realm, a, true).await, [b, d]);
    assert_eq!(
        subgroups_of(&realm, a, false).await,
        sorted(vec![b, c, d, s.moderators, s.administrators, s.owners])
    );
    let got = realm
        .api(&realm.member)
        .get(&format!("/user_groups/{a}/subgroups"), &[])
        .await;
    assert_success(&got);
    assert_eq!(
        sorted(int_list(&got.1["subgroups"])),
        sorted(vec![b, c, d, s.moderators, s.administrators, s.owners]),
        "recursive by default, the group itself excluded, each once"
    );
    assert_eq!(subgroups_of(&realm, c, false).await, Vec::<i64>::new());
    assert_eq!(
        subgroups_of(&realm, s.administrators, true).await,
        [s.owners]
    );
    assert_eq!(
        subgroups_of(&realm, s.internet, false).await,
        [
            s.owners,
            s.administrators,
            s.moderators,
            s.fullmembers,
            s.members,
            s.everyone
        ]
    );
    assert_eq!(
        subgroups_of(&realm, s.nobody, false).await,
        Vec::<i64>::new()
    );

    let api = realm.api(&realm.member);
    assert_error(
        &api.get("/user_groups/99999/subgroups", &[]).await,
        400,
        "BAD_REQUEST",
        "Invalid user group",
    );
    assert_error(
        &api.get(
            &format!("/user_groups/{a}/subgroups"),
            &[p("direct_subgroup_only", "yes")],
        )
        .await,
        400,
        "BAD_REQUEST",
        "direct_subgroup_only is not valid JSON",
    );
    assert_error(
        &api.get(
            &format!("/user_groups/{a}/subgroups"),
            &[p("direct_subgroup_only", "1")],
        )
        .await,
        400,
        "BAD_REQUEST",
        "direct_subgroup_only is not a boolean",
    );
}
