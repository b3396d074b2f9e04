//! The IMKIT and Zulip faces over one directory.

use super::*;

// ---------------------------------------------------------------------------
// Both faces
// ---------------------------------------------------------------------------

#[tokio::test]
async fn both_faces_see_one_directory() {
    let realm = Realm::new();
    let ik = Imkit::new(&realm);
    let owner = realm.api(&realm.owner);
    let alice = ik.client(j!({"_id": "alice", "nickname": "Alice"})).await;
    let alice_id = zulip_user(&realm, "Alice").await["user_id"]
        .as_i64()
        .unwrap();
    let member_key = realm.member.id.to_string();
    let member2_key = realm.member2.id.to_string();

    // IMKIT → Zulip: same members (integer ids), no creator.
    let imkit_made = ik
        .group(j!({"_id": "squad", "nickname": "Squad", "members": ["alice", member_key]}))
        .await;
    let zg = zulip_group(&realm, "Squad").await;
    let squad_id = zg["id"].as_i64().unwrap();
    let mut expected = vec![alice_id, realm.member.id];
    expected.sort_unstable();
    assert_eq!(sorted_ints(&zg["members"]), expected);
    assert_eq!(zg["creator_id"], Value::Null);
    let (status, body) = realm
        .api(&realm.member)
        .get(&format!("/user_groups/{squad_id}/members/{alice_id}"), &[])
        .await;
    assert_eq!(
        (status, &body["is_user_group_member"]),
        (200, &j!(true)),
        "{body}"
    );

    // Zulip → IMKIT: `_id` is the integer id, members are the users' `_id`s.
    let guild = realm
        .create_group(&realm.owner, "Guild", &[realm.member.id, realm.member2.id])
        .await;
    let got = ok(&ik.get(&format!("/admin/groups/{guild}"), &[]).await);
    check_group(&got);
    assert_eq!(
        untimed(&got),
        j!({"_id": guild.to_string(), "id": guild.to_string(), "nickname": "Guild",
            "avatarUrl": "", "members": [member_key, member2_key]})
    );
    let (page, total) = group_page(&ik, &[]).await;
    assert_eq!(total, 2);
    assert_eq!(page, [imkit_made.clone(), got.clone()]);

    // A member added through Zulip shows in IMKIT (and updatedAt moves).
    tick().await;
    assert_success(
        &owner
            .post(
                &format!("/user_groups/{guild}/members"),
                &[
                    ("add", json([alice_id])),
                    ("delete", json([realm.member.id])),
                ],
            )
            .await,
    );
    let after = ok(&ik.get(&format!("/admin/groups/{guild}"), &[]).await);
    assert_eq!(
        sorted_strs(&after["members"]),
        sorted_strs(&j!([member2_key, "alice"]))
    );
    assert_eq!(after["createdAt"], got["createdAt"]);
    assert!(after["updatedAt"].as_str() > got["updatedAt"].as_str());
    // A rename through Zulip, too.
    assert_success(
        &owner
            .patch(
                &format!("/user_groups/{guild}"),
                &[("name", "Guild 2".into())],
            )
            .await,
    );
    let renamed = ok(&ik.get(&format!("/admin/groups/{guild}"), &[]).await);
    assert_eq!(renamed["nickname"], "Guild 2");
    assert_eq!(group_page(&ik, &[]).await.0[1], renamed);

    // A member set through IMKIT (legacy upsert) shows in Zulip.
    cli_ok(&realm, &["realm", "set", "--group-upsert", "update"]);
    let update = j!({"_id": "squad", "nickname": "Squad", "members": ["alice", member2_key]});
    eventually!(
        "the server to pick up --group-upsert update",
        ik.post_json("/admin/groups", update.clone()).await.0 == 200
    );
    let mut expected = vec![alice_id, realm.member2.id];
    expected.sort_unstable();
    assert_eq!(
        sorted_ints(&zulip_group(&realm, "Squad").await["members"]),
        expected
    );

    // A user deactivated through Zulip leaves IMKIT's lists and groups...
    let (_, clients_before) = client_page(&ik, &[]).await;
    assert_success(&owner.delete(&format!("/users/{alice_id}"), &[]).await);
    let (clients, total) = client_page(&ik, &[("limit", "100")]).await;
    assert_eq!(total, clients_before - 1);
    assert!(!ids(&clients).contains(&"alice".to_string()));
    assert_err(
        &ik.get("/admin/clients/alice", &[]).await,
        404,
        "Client not found",
        "CLIENT_NOT_FOUND",
        "The specified client does not exist",
    );
    assert_eq!(ik.search(r#"{"_id": "alice"}"#, &[]).await, (vec![], 0));
    assert_eq!(
        ik.search(r#"{"nickname": {"$regex": "^Ali"}}"#, &[]).await,
        (vec![], 0)
    );
    let squad = ok(&ik.get("/admin/groups/squad", &[]).await);
    assert_eq!(squad["members"], j!([member2_key]));
    let guild_now = ok(&ik.get(&format!("/admin/groups/{guild}"), &[]).await);
    assert_eq!(guild_now["members"], j!([member2_key]));
    let (page, _) = group_page(&ik, &[]).await;
    assert_eq!(page, [squad.clone(), guild_now.clone()]);
    // ... can't be named as a member or updated while deactivated ...
    let before = state(&realm, &ik).await;
    refused!(
        &realm,
        &ik,
        &before,
        ik.post_json(
            "/admin/groups",
            j!({"nickname": "New", "members": ["alice"]})
        )
        .await,
        409,
        "Conflict",
        "CLIENT_DEACTIVATED",
        "alice"
    );
    refused!(
        &realm,
        &ik,
        &before,
        ik.post_json(
            "/admin/clients",
            j!({"_id": "alice", "nickname": "Alice Back"})
        )
        .await,
        409,
        "Conflict",
        "CLIENT_DEACTIVATED",
        "alice"
    );
    // ... and comes back with its memberships when reactivated.
    assert_success(
        &owner
            .post(&format!("/users/{alice_id}/reactivate"), &[])
            .await,
    );
    let back = ok(&ik.get("/admin/clients/alice", &[]).await);
    assert_eq!(untimed(&back), untimed(&alice));
    assert_eq!(
        sorted_strs(&ok(&ik.get("/admin/groups/squad", &[]).await)["members"]),
        sorted_strs(&j!(["alice", member2_key]))
    );
    let (page, _) = group_page(&ik, &[]).await;
    assert_eq!(
        sorted_strs(&page[1]["members"]),
        sorted_strs(&j!(["alice", member2_key]))
    );

    // An IMKIT client has no email; Zulip shows a placeholder.
    let za = zulip_user(&realm, "Alice").await;
    assert_eq!(za["email"], format!("user{alice_id}@cohort.invalid"));
    assert_eq!(za["delivery_email"], Value::Null);
    assert!(back.get("email").is_none());

    // A Zulip-created user renamed in Zulip shows in IMKIT.
    assert_success(
        &owner
            .patch(
                &format!("/users/{}", realm.member2.id),
                &[("full_name", "Max Renamed".into())],
            )
            .await,
    );
    let m2 = ok(&ik.get(&format!("/admin/clients/{member2_key}"), &[]).await);
    assert_eq!(m2["nickname"], "Max Renamed");

    // Deleting through IMKIT removes it from Zulip.
    ok(&ik.delete("/admin/groups/squad").await);
    assert!(realm.group(squad_id).await.is_null());
    assert_eq!(zulip_group(&realm, "Squad").await, Value::Null);
}

/// Undecodable path segments are still answered in IMKIT's envelope.
#[tokio::test]
async fn undecodable_ids_get_the_imkit_envelope() {
    let realm = Realm::new();
    let ik = Imkit::new(&realm);
    let before = state(&realm, &ik).await;
    for (method, path, not_found) in [
        ("GET", "/admin/groups/%FF", "GROUP_NOT_FOUND"),
        ("DELETE", "/admin/groups/%FF", "GROUP_NOT_FOUND"),
        ("GET", "/admin/clients/%FF", "CLIENT_NOT_FOUND"),
        ("GET", "/admin/clients/a%C3", "CLIENT_NOT_FOUND"),
    ] {
        let (status, body) = ik.raw(method, path, "", Vec::new()).await;
        assert!(
            body.is_object(),
            "{method} {path}: not IMKIT's envelope: {status} {body}"
        );
        assert_eq!(keys(&body), ["RC", "RM", "error"], "{body}");
        assert_eq!(body["RC"], status, "{body}");
        let code = body["error"]["code"].as_str().unwrap_or("");
        assert!(
            (status == 400 && code == "INVALID_PARAMETER") || (status == 404 && code == not_found),
            "{method} {path}: {status} {body}"
        );
    }
    assert_eq!(state(&realm, &ik).await, before);
}

/// `/admin/` is an IMKIT path: its 404 is IMKIT's, not Zulip's.
#[tokio::test]
async fn admin_root_with_slash_gets_the_imkit_envelope() {
    let realm = Realm::new();
    let ik = Imkit::new(&realm);
    for method in ["GET", "POST"] {
        let got = ik.raw(method, "/admin/", "", Vec::new()).await;
        assert_err(&got, 404, "Not Found", "NOT_FOUND", "No such endpoint");
    }
}
