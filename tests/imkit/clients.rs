//! /admin/clients: create, update, batches, lists, queries and reads.

use super::*;

// ---------------------------------------------------------------------------
// POST /admin/clients
// ---------------------------------------------------------------------------

#[tokio::test]
async fn client_create_and_partial_update() {
    let realm = Realm::new();
    let ik = Imkit::new(&realm);

    let t0 = now_ms();
    let alice = ik
        .client(
            j!({"_id": "alice", "nickname": "Alice", "email": "alice@example.com",
                    "avatarUrl": "https://img.example/a.png"}),
        )
        .await;
    let t1 = now_ms();
    check_client(&alice);
    assert_eq!(
        untimed(&alice),
        j!({"_id": "alice", "id": "alice", "nickname": "Alice", "email": "alice@example.com",
            "avatarUrl": "https://img.example/a.png", "isRobot": false, "lastLoginTimeMS": 0})
    );
    assert_between(&alice["createdAt"], t0, t1);
    assert_eq!(alice["createdAt"], alice["updatedAt"]);
    assert_eq!(ok(&ik.get("/admin/clients/alice", &[]).await), alice);

    // Only the fields sent change.
    tick().await;
    let v2 = ik
        .client(j!({"_id": "alice", "avatarUrl": "https://img.example/b.png"}))
        .await;
    check_client(&v2);
    assert_eq!(
        untimed(&v2),
        j!({"_id": "alice", "id": "alice", "nickname": "Alice", "email": "alice@example.com",
            "avatarUrl": "https://img.example/b.png", "isRobot": false, "lastLoginTimeMS": 0})
    );
    assert_eq!(v2["createdAt"], alice["createdAt"]);
    assert!(v2["updatedAt"].as_str() > alice["updatedAt"].as_str());
    tick().await;
    let v3 = ik
        .client(j!({"_id": "alice", "nickname": "Alice Liddell"}))
        .await;
    assert_eq!(v3["nickname"], "Alice Liddell");
    assert_eq!(v3["email"], "alice@example.com");
    assert_eq!(v3["avatarUrl"], "https://img.example/b.png");
    assert!(v3["updatedAt"].as_str() > v2["updatedAt"].as_str());
    // Null fields and a false issueAccessToken are "not sent".
    let v4 = ik
        .client(
            j!({"_id": "alice", "nickname": null, "email": null, "avatarUrl": null,
                    "issueAccessToken": false, "token": null}),
        )
        .await;
    assert_eq!(untimed(&v4), untimed(&v3));
    // Its own email again (in any case) is not "taken".
    let v5 = ik
        .client(j!({"_id": "alice", "email": "alice@example.com"}))
        .await;
    assert_eq!(v5["email"], "alice@example.com");
    let v6 = ik
        .client(j!({"_id": "alice", "email": "Alice@Example.com"}))
        .await;
    assert_eq!(v6["email"], "Alice@Example.com");
    assert_eq!(ok(&ik.get("/admin/clients/alice", &[]).await), v6);

    // Zulip's view follows.
    let za = zulip_user(&realm, "Alice Liddell").await;
    assert_eq!(za["delivery_email"], "Alice@Example.com");
    assert_eq!(za["email"], "Alice@Example.com");
    assert_eq!(za["avatar_url"], "https://img.example/b.png");
    assert_eq!(za["is_bot"], false);
    assert_eq!(za["role"], 400);
    assert_eq!(za["is_active"], true);

    // No nickname: it defaults from _id (Zulip's name rules applied).
    for (key, nickname) in [
        ("bob", "bob"),
        ("x", "Client x"),
        ("a@b", "a_b"),
        ("dept/ann", "dept/ann"),
    ] {
        let got = ik.client(j!({"_id": key})).await;
        check_client(&got);
        assert_eq!(
            untimed(&got),
            j!({"_id": key, "id": key, "nickname": nickname, "avatarUrl": "",
                "isRobot": false, "lastLoginTimeMS": 0}),
            "{key}"
        );
        let path = format!("/admin/clients/{}", percent(key));
        assert_eq!(ok(&ik.get(&path, &[]).await), got, "{key}");
    }
    // Custom fields (legacy docs) are accepted.
    let got = ik
        .client(j!({"_id": "carol", "nickname": "Carol", "description": "custom", "appID": "x"}))
        .await;
    assert_eq!(got["nickname"], "Carol");

    // An IMKIT client without email: Zulip shows a placeholder.
    let zb = zulip_user(&realm, "bob").await;
    let bob_id = zb["user_id"].as_i64().unwrap();
    assert_eq!(zb["email"], format!("user{bob_id}@cohort.invalid"));
    assert_eq!(zb["delivery_email"], Value::Null);
    let (status, body) = realm
        .api(&realm.member)
        .get(&format!("/users/{bob_id}"), &[])
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["user"]["email"],
        format!("user{bob_id}@cohort.invalid")
    );
    assert_eq!(body["user"]["delivery_email"], Value::Null);
    // Giving it an email later shows through.
    let got = ik
        .client(j!({"_id": "bob", "email": "bob@example.com"}))
        .await;
    assert_eq!(got["email"], "bob@example.com");
    assert_eq!(got["nickname"], "bob");
    let zb = zulip_user(&realm, "bob").await;
    assert_eq!(zb["email"], "bob@example.com");
    assert_eq!(zb["delivery_email"], "bob@example.com");

    // Zulip-created users are clients under their integer id, and can be updated.
    let member_key = realm.member.id.to_string();
    let got = ok(&ik.get(&format!("/admin/clients/{member_key}"), &[]).await);
    check_client(&got);
    assert_eq!(
        untimed(&got),
        j!({"_id": member_key, "id": member_key, "nickname": "Mia Member",
            "email": "member@test.example", "avatarUrl": "", "isRobot": false,
            "lastLoginTimeMS": 0})
    );
    let bot_key = realm.bot.id.to_string();
    let got = ok(&ik.get(&format!("/admin/clients/{bot_key}"), &[]).await);
    assert_eq!(got["isRobot"], true);
    assert_eq!(got["nickname"], "Bob Bot");
    let got = ik
        .client(j!({"_id": member_key, "nickname": "Mia Renamed"}))
        .await;
    assert_eq!(got["email"], "member@test.example");
    let zm = zulip_user(&realm, "Mia Renamed").await;
    assert_eq!(zm["user_id"], realm.member.id);
    assert_eq!(zm["role"], 400, "an IMKIT update keeps the Zulip role");
}

#[tokio::test]
async fn client_refusals_change_nothing() {
    let realm = Realm::new();
    let ik = Imkit::new(&realm);
    ik.client(j!({"_id": "alice", "nickname": "Alice", "email": "alice@example.com"}))
        .await;
    ik.client(j!({"_id": "gone", "nickname": "Gone Client"}))
        .await;
    ik.group(j!({"_id": "team", "nickname": "Team"})).await;
    let gone_id = zulip_user(&realm, "Gone Client").await["user_id"]
        .as_i64()
        .unwrap();
    assert_success(
        &realm
            .api(&realm.owner)
            .delete(&format!("/users/{gone_id}"), &[])
            .await,
    );
    let before = state(&realm, &ik).await;

    let (bad, pi) = ("Bad Request", "INVALID_PARAMETER");
    let tokens = "TOKENS_NOT_SUPPORTED";
    #[rustfmt::skip]
    let cases: Vec<(Value, u16, &str, &str, &str)> = vec![
        (j!({}), 400, bad, "MISSING_PARAMETER", "_id is required"),
        (j!({"_id": null, "nickname": "X"}), 400, bad, "MISSING_PARAMETER", "_id is required"),
        (j!({"nickname": "Alice"}), 400, bad, "MISSING_PARAMETER", "_id is required"),
        (j!({"_id": 5}), 400, bad, pi, "_id must be a string"),
        (j!({"_id": ["alice"]}), 400, bad, pi, "_id must be a string"),
        (j!({"_id": true}), 400, bad, pi, "_id must be a string"),
        (j!({"_id": "t1", "issueAccessToken": true}), 400, bad, tokens, "token"),
        (j!({"_id": "t1", "token": "abc"}), 400, bad, tokens, "token"),
        (j!({"_id": "t1", "token": "abc", "expirationDate": "2030-01-01T00:00:00.000Z"}), 400, bad, tokens, "token"),
        (j!({"_id": "alice", "nickname": "Changed", "issueAccessToken": true}), 400, bad, tokens, "token"),
        (j!({"_id": ""}), 400, bad, pi, "_id is invalid: empty"),
        (j!({"_id": "k".repeat(129)}), 400, bad, pi, "_id is invalid: longer than 128"),
        (j!({"_id": "a\tb"}), 400, bad, pi, "_id is invalid: contains control characters"),
        (j!({"_id": "trailing "}), 400, bad, pi, "_id is invalid: has leading or trailing whitespace"),
        (j!({"_id": "team"}), 409, "Conflict", "ID_ALREADY_IN_USE", "'team' is already the _id"),
        (j!({"_id": "team", "nickname": "Team Client"}), 409, "Conflict", "ID_ALREADY_IN_USE", "'team'"),
        (j!({"_id": "role:members"}), 409, "Conflict", "ID_ALREADY_IN_USE", "role:members"),
        (j!({"_id": "n1", "email": "not-an-email"}), 400, bad, pi, "email is not a valid address"),
        (j!({"_id": "n1", "email": "a@b"}), 400, bad, pi, "email is not a valid address"),
        (j!({"_id": "n1", "email": "a b@c.example"}), 400, bad, pi, "email is not a valid address"),
        (j!({"_id": "n1", "email": ""}), 400, bad, pi, "email is not a valid address"),
        (j!({"_id": "alice", "email": "bad@"}), 400, bad, pi, "email is not a valid address"),
        (j!({"_id": "n1", "email": 5}), 400, bad, pi, "email must be a string"),
        (j!({"_id": "n1", "email": "member@test.example"}), 409, "Conflict", "EMAIL_ALREADY_IN_USE", "email"),
        (j!({"_id": "n1", "email": "MEMBER@Test.Example"}), 409, "Conflict", "EMAIL_ALREADY_IN_USE", "email"),
        (j!({"_id": "alice", "email": "member@test.example"}), 409, "Conflict", "EMAIL_ALREADY_IN_USE", "email"),
        (j!({"_id": "n1", "nickname": "a@b"}), 400, bad, pi, "nickname contains characters that are not allowed"),
        (j!({"_id": "n1", "nickname": "a*b"}), 400, bad, pi, "nickname contains characters"),
        (j!({"_id": "alice", "nickname": "Alice @ home"}), 400, bad, pi, "nickname contains characters"),
        (j!({"_id": "n1", "nickname": "x"}), 400, bad, pi, "nickname is too short"),
        (j!({"_id": "n1", "nickname": "n".repeat(101)}), 400, bad, pi, "nickname is too long"),
        (j!({"_id": "n1", "nickname": 5}), 400, bad, pi, "nickname must be a string"),
        (j!({"_id": "n1", "avatarUrl": 5}), 400, bad, pi, "avatarUrl must be a string"),
        (j!({"_id": "n1", "avatarUrl": "a".repeat(2049)}), 400, bad, pi, "avatarUrl must be at most 2048"),
        (j!({"_id": "gone"}), 409, "Conflict", "CLIENT_DEACTIVATED", "deactivated"),
        (j!({"_id": "gone", "nickname": "Back"}), 409, "Conflict", "CLIENT_DEACTIVATED", "'gone'"),
    ];
    for (body, status, rm, code, message) in cases {
        let got = ik.post_json("/admin/clients", body.clone()).await;
        assert_err(&got, status, rm, code, message);
        assert_eq!(
            state(&realm, &ik).await,
            before,
            "POST /admin/clients {body} left a trace"
        );
    }
    for (body, message) in [
        (&b"{"[..], "not valid JSON"),
        (b"", "not valid JSON"),
        (b"[{\"_id\": \"arr\"}]", "must be a JSON object"),
        (b"\"arr\"", "must be a JSON object"),
    ] {
        refused!(
            &realm,
            &ik,
            &before,
            ik.raw("POST", "/admin/clients", "application/json", body.to_vec())
                .await,
            400,
            "Bad Request",
            "INVALID_REQUEST",
            message
        );
    }
}

// ---------------------------------------------------------------------------
// POST /admin/clients/list
// ---------------------------------------------------------------------------

#[tokio::test]
async fn client_batch_is_all_or_nothing() {
    let realm = Realm::new();
    let ik = Imkit::new(&realm);
    let alice = ik
        .client(j!({"_id": "alice", "nickname": "Alice", "email": "alice@example.com"}))
        .await;
    ik.group(j!({"_id": "team", "nickname": "Team"})).await;

    // Create two, update one (only the fields sent).
    tick().await;
    let got = ik
        .post_json(
            "/admin/clients/list",
            j!({"data": [
                {"_id": "b1", "nickname": "Bee One", "avatarUrl": "https://x/b1.png"},
                {"_id": "b2", "email": "b2@example.com"},
                {"_id": "alice", "nickname": "Alice Two"},
            ]}),
        )
        .await;
    assert_eq!(got.0, 200, "{}", got.1);
    assert_eq!(got.1, j!({"RC": 0, "RM": "OK", "result": {"count": 3}}));
    let b1 = ok(&ik.get("/admin/clients/b1", &[]).await);
    check_client(&b1);
    assert_eq!(
        untimed(&b1),
        j!({"_id": "b1", "id": "b1", "nickname": "Bee One", "avatarUrl": "https://x/b1.png",
            "isRobot": false, "lastLoginTimeMS": 0})
    );
    let b2 = ok(&ik.get("/admin/clients/b2", &[]).await);
    assert_eq!(b2["nickname"], "b2");
    assert_eq!(b2["email"], "b2@example.com");
    let a2 = ok(&ik.get("/admin/clients/alice", &[]).await);
    assert_eq!(a2["nickname"], "Alice Two");
    assert_eq!(a2["email"], "alice@example.com");
    assert_eq!(a2["createdAt"], alice["createdAt"]);
    assert!(a2["updatedAt"].as_str() > alice["updatedAt"].as_str());
    // In order of the batch, after the earlier clients.
    let (page, total) = client_page(&ik, &[]).await;
    assert_eq!(total, 10);
    assert_eq!(ids(&page)[7..], strs(&["alice", "b1", "b2"]));
    // Idempotent: the same batch again counts the same and changes nothing
    // visible (timestamps aside), on either face.
    let visible = || async {
        let (clients, _) = client_page(&ik, &[("limit", "100")]).await;
        let users = realm.api(&realm.owner).get("/users", &[]).await;
        assert_eq!(users.0, 200, "{}", users.1);
        (
            clients.iter().map(untimed).collect::<Vec<_>>(),
            realm.all_groups().await,
            users.1,
        )
    };
    let before_again = visible().await;
    let again = j!({"data": [{"_id": "b1", "nickname": "Bee One"}]});
    assert_eq!(
        ok(&ik.post_json("/admin/clients/list", again).await),
        j!({"count": 1})
    );
    assert_eq!(
        ok(&ik.post_json("/admin/clients/list", j!({"data": []})).await),
        j!({"count": 0})
    );
    assert_eq!(
        visible().await,
        before_again,
        "a repeated batch changed something"
    );
    assert_eq!(
        zulip_user(&realm, "Bee One").await["delivery_email"],
        Value::Null
    );

    let before = state(&realm, &ik).await;
    let (bad, pi) = ("Bad Request", "INVALID_PARAMETER");
    let many: Vec<Value> = (0..1001).map(|i| j!({"_id": format!("m{i}")})).collect();
    #[rustfmt::skip]
    let cases: Vec<(Value, u16, &str, &str, &str)> = vec![
        (j!({"data": [{"_id": "n1"}, {"_id": "n2"}, {"nickname": "No Id"}]}), 400, bad, "MISSING_PARAMETER", "data[2]: _id is required"),
        (j!({"data": [{"_id": "n1"}, {"_id": "n2"}, {"_id": "n3", "issueAccessToken": true}]}), 400, bad, "TOKENS_NOT_SUPPORTED", "data[2]:"),
        (j!({"data": [{"_id": "n1"}, {"_id": 7}]}), 400, bad, pi, "data[1]: _id must be a string"),
        (j!({"data": [{"_id": "n1"}, "n2"]}), 400, bad, pi, "data[1] must be an object"),
        (j!({"data": [{"_id": "n1"}, {"_id": "n2"}, {"_id": "n1"}]}), 400, bad, pi, "'n1' is listed more than once"),
        (j!({"data": [{"_id": "alice", "nickname": "X1"}, {"_id": "alice", "nickname": "X2"}]}), 400, bad, pi, "'alice' is listed more than once"),
        (j!({"data": [{"_id": "n1"}, {"_id": "n2"}, {"_id": "n3", "email": "nope"}]}), 400, bad, pi, "email is not a valid address"),
        (j!({"data": [{"_id": "n1"}, {"_id": "n2", "email": "member@test.example"}]}), 409, "Conflict", "EMAIL_ALREADY_IN_USE", "email"),
        (j!({"data": [{"_id": "n1", "email": "same@example.com"}, {"_id": "n2", "email": "same@example.com"}]}), 409, "Conflict", "EMAIL_ALREADY_IN_USE", "email"),
        (j!({"data": [{"_id": "n1"}, {"_id": "team"}]}), 409, "Conflict", "ID_ALREADY_IN_USE", "'team'"),
        (j!({"data": [{"_id": "alice", "nickname": "Changed"}, {"_id": ""}]}), 400, bad, pi, "_id is invalid"),
        (j!({"data": [{"_id": "n1"}, {"_id": "n2", "nickname": "@"}]}), 400, bad, pi, "nickname"),
        (j!({}), 400, bad, pi, "data must be an array"),
        (j!({"data": null}), 400, bad, pi, "data must be an array"),
        (j!({"data": {"_id": "n1"}}), 400, bad, pi, "data must be an array"),
        (j!({"data": "n1"}), 400, bad, pi, "data must be an array"),
        (j!({"clients": [{"_id": "n1"}]}), 400, bad, pi, "data must be an array"),
        (j!({"data": many}), 400, bad, pi, "at most 1000 items"),
    ];
    for (body, status, rm, code, message) in cases {
        let got = ik.post_json("/admin/clients/list", body.clone()).await;
        assert_err(&got, status, rm, code, message);
        assert_eq!(
            state(&realm, &ik).await,
            before,
            "POST /admin/clients/list {} left a trace",
            body.to_string().chars().take(200).collect::<String>()
        );
    }
    for body in [&b"{"[..], b"[{\"_id\": \"n1\"}]"] {
        let got = ik
            .raw(
                "POST",
                "/admin/clients/list",
                "application/json",
                body.to_vec(),
            )
            .await;
        refused!(
            &realm,
            &ik,
            &before,
            got,
            400,
            "Bad Request",
            "INVALID_REQUEST",
            "JSON"
        );
    }

    // 1000 is the largest batch.
    let thousand: Vec<Value> = (0..1000).map(|i| j!({"_id": format!("m{i:04}")})).collect();
    let got = ik
        .post_json("/admin/clients/list", j!({"data": thousand}))
        .await;
    assert_eq!(ok(&got), j!({"count": 1000}));
    let (page, total) = client_page(&ik, &[("skip", "1009"), ("limit", "5")]).await;
    assert_eq!(total, 1010);
    assert_eq!(ids(&page), strs(&["m0999"]));
}

// ---------------------------------------------------------------------------
// GET /admin/clients (paging and q)
// ---------------------------------------------------------------------------

#[tokio::test]
async fn client_list_and_queries() {
    let realm = Realm::new();
    let ik = Imkit::new(&realm);
    let zulip_ids: Vec<String> = [
        &realm.owner,
        &realm.admin,
        &realm.moderator,
        &realm.member,
        &realm.member2,
        &realm.guest,
        &realm.bot,
    ]
    .iter()
    .map(|a| a.id.to_string())
    .collect();
    let mut made = Vec::new();
    for body in [
        j!({"_id": "ann", "nickname": "Ann Admin-ish", "email": "ann@corp.example"}),
        j!({"_id": "bo", "nickname": "Bo", "avatarUrl": "https://x/bo.png"}),
        j!({"_id": "cy", "nickname": "cy the sysadmin"}),
        j!({"_id": "zed", "nickname": "Zed", "email": "zed@home.example"}),
    ] {
        tick().await;
        made.push(ik.client(body).await);
    }
    let all: Vec<String> = zulip_ids
        .iter()
        .cloned()
        .chain(strs(&["ann", "bo", "cy", "zed"]))
        .collect();
    let with = |keys: &[&str]| -> Vec<String> { strs(keys) };

    // The list: Zulip's users (by id), then IMKIT's clients, in creation order.
    let (page, total) = client_page(&ik, &[]).await;
    assert_eq!(total, 11);
    assert_eq!(ids(&page), all);
    assert_eq!(page[7..], made[..]);
    assert_eq!(
        untimed(&page[0]),
        j!({"_id": zulip_ids[0], "id": zulip_ids[0], "nickname": "Olivia Owner",
            "email": "owner@test.example", "avatarUrl": "", "isRobot": false,
            "lastLoginTimeMS": 0})
    );
    assert_eq!(page[6]["isRobot"], true);
    assert_eq!(page[5]["nickname"], "Gus Guest");
    // Paging.
    let mut walked = Vec::new();
    for skip in ["0", "3", "6", "9", "12"] {
        let (page, total) = client_page(&ik, &[("limit", "3"), ("skip", skip)]).await;
        assert_eq!(total, 11);
        walked.extend(ids(&page));
    }
    assert_eq!(walked, all);
    assert_eq!(client_page(&ik, &[("limit", "0")]).await, (vec![], 11));
    assert_eq!(client_page(&ik, &[("skip", "11")]).await, (vec![], 11));
    assert_eq!(ik.search("", &[]).await, (all.clone(), 11));
    assert_eq!(ik.search("  ", &[]).await, (all.clone(), 11));
    assert_eq!(ik.search("{}", &[]).await, (all.clone(), 11));

    let t_ann = made[0]["createdAt"].as_str().unwrap().to_string();
    let t_bo = made[1]["createdAt"].as_str().unwrap().to_string();
    let t_cy = made[2]["createdAt"].as_str().unwrap().to_string();
    let bo_ms = parse_iso(&t_bo).unwrap();
    let yesterday = &iso(now_ms() - 86_400_000)[..10];
    let tomorrow = &iso(now_ms() + 86_400_000)[..10];
    let first_ten: Vec<&str> = zulip_ids.iter().map(String::as_str).collect();
    let zulip_plus =
        |extra: &[&str]| -> Vec<String> { zulip_ids.iter().cloned().chain(strs(extra)).collect() };

    #[rustfmt::skip]
    let cases: Vec<(String, Vec<String>)> = vec![
        // Implicit equality.
        (r#"{"email": "ann@corp.example"}"#.into(), with(&["ann"])),
        (r#"{"nickname": "Bo"}"#.into(), with(&["bo"])),
        (r#"{"_id": "cy"}"#.into(), with(&["cy"])),
        (r#"{"id": "cy"}"#.into(), with(&["cy"])),
        (r#"{"_id": "nobody"}"#.into(), vec![]),
        (r#"{"avatarUrl": "https://x/bo.png"}"#.into(), with(&["bo"])),
        (r#"{"isRobot": true}"#.into(), vec![zulip_ids[6].clone()]),
        (format!(r#"{{"_id": "{}"}}"#, zulip_ids[3]), vec![zulip_ids[3].clone()]),
        (r#"{"email": null}"#.into(), with(&["bo", "cy"])),
        // $eq, $ne.
        (r#"{"nickname": {"$eq": "Zed"}}"#.into(), with(&["zed"])),
        (r#"{"_id": {"$ne": "ann"}}"#.into(), all.iter().filter(|k| *k != "ann").cloned().collect()),
        (r#"{"email": {"$ne": "ann@corp.example"}}"#.into(), all.iter().filter(|k| *k != "ann").cloned().collect()),
        (r#"{"isRobot": {"$ne": true}}"#.into(), all.iter() .filter(|k| **k != zulip_ids[6]) .cloned() .collect()),
        // $exists.
        (r#"{"email": {"$exists": true}}"#.into(), zulip_plus(&["ann", "zed"])),
        (r#"{"email": {"$exists": false}}"#.into(), with(&["bo", "cy"])),
        // $in, $nin.
        (r#"{"_id": {"$in": ["zed", "ann", "nope"]}}"#.into(), with(&["ann", "zed"])),
        (r#"{"_id": {"$in": []}}"#.into(), vec![]),
        (r#"{"email": {"$in": ["zed@home.example", null]}}"#.into(), with(&["bo", "cy", "zed"])),
        (format!(r#"{{"_id": {{"$nin": {}}}}}"#, json(&first_ten)), with(&["ann", "bo", "cy", "zed"])),
        (r#"{"_id": {"$nin": []}}"#.into(), all.clone()),
        // $regex, case-sensitive unless $options is "i".
        (r#"{"nickname": {"$regex": ".*admin.*"}}"#.into(), with(&["cy"])),
        (r#"{"nickname": {"$regex": ".*admin.*", "$options": ""}}"#.into(), with(&["cy"])),
        (r#"{"nickname": {"$regex": ".*admin.*", "$options": "i"}}"#.into(), vec![zulip_ids[1].clone(), "ann".into(), "cy".into()]),
        (r#"{"nickname": {"$regex": "^Z"}}"#.into(), with(&["zed"])),
        (r#"{"email": {"$regex": "@corp\\.example$"}}"#.into(), with(&["ann"])),
        (r#"{"email": {"$regex": "@TEST\\.EXAMPLE$", "$options": "i"}}"#.into(), zulip_ids.clone()),
        (r#"{"_id": {"$regex": "^[a-z]+$"}}"#.into(), with(&["ann", "bo", "cy", "zed"])),
        // Several keys: AND.
        (r#"{"nickname": {"$regex": "admin", "$options": "i"}, "email": {"$exists": true}}"# .into(), vec![zulip_ids[1].clone(), "ann".into()]),
        (r#"{"nickname": {"$regex": "admin", "$options": "i"}, "_id": {"$ne": "ann"}}"#.into(), vec![zulip_ids[1].clone(), "cy".into()]),
        // Dates compare as instants: date-only and full ISO strings, epoch ms.
        (format!(r#"{{"createdAt": {{"$gte": "{yesterday}"}}}}"#), all.clone()),
        (format!(r#"{{"createdAt": {{"$lt": "{tomorrow}"}}}}"#), all.clone()),
        (r#"{"createdAt": {"$gte": "2000-01-01"}}"#.into(), all.clone()),
        (r#"{"createdAt": {"$lt": "2000-01-01"}}"#.into(), vec![]),
        (r#"{"createdAt": {"$gt": "2999-12-31T00:00:00Z"}}"#.into(), vec![]),
        (format!(r#"{{"createdAt": {{"$gte": "{t_bo}"}}}}"#), with(&["bo", "cy", "zed"])),
        (format!(r#"{{"createdAt": {{"$gt": "{t_bo}"}}}}"#), with(&["cy", "zed"])),
        (format!(r#"{{"createdAt": {{"$lt": "{t_bo}"}}}}"#), zulip_plus(&["ann"])),
        (format!(r#"{{"createdAt": {{"$lte": "{t_bo}"}}}}"#), zulip_plus(&["ann", "bo"])),
        (format!(r#"{{"createdAt": {{"$gte": "{t_ann}", "$lt": "{t_cy}"}}}}"#), with(&["ann", "bo"])),
        (format!(r#"{{"createdAt": "{t_bo}"}}"#), with(&["bo"])),
        (format!(r#"{{"createdAt": {{"$eq": "{}"}}}}"#, t_bo.replace('Z', "+00:00")), with(&["bo"])),
        (format!(r#"{{"createdAt": {{"$gte": {bo_ms}}}}}"#), with(&["bo", "cy", "zed"])),
        (format!(r#"{{"updatedAt": {{"$gt": "{t_cy}"}}}}"#), with(&["zed"])),
        // Strings compare lexically (byte order).
        (r#"{"_id": {"$gt": "b", "$lt": "d"}}"#.into(), with(&["bo", "cy"])),
        (r#"{"nickname": {"$gte": "Zed"}}"#.into(), with(&["cy", "zed"])),
        (r#"{"nickname": {"$lte": "B"}}"#.into(), vec![zulip_ids[1].clone(), "ann".into()]),
        (r#"{"nickname": {"$lt": "Ann Admin-ish"}}"#.into(), vec![zulip_ids[1].clone()]),
        // lastLoginTimeMS is always 0 here.
        (r#"{"lastLoginTimeMS": {"$gte": 0}}"#.into(), all.clone()),
        (r#"{"lastLoginTimeMS": {"$gt": 0}}"#.into(), vec![]),
        (r#"{"lastLoginTimeMS": 0}"#.into(), all.clone()),
    ];
    for (q, expected) in &cases {
        let (found, total) = ik.search(q, &[("limit", "100")]).await;
        assert_eq!(&found, expected, "q={q}");
        assert_eq!(total as usize, expected.len(), "q={q}");
    }
    // totalCount counts every match; data is the page.
    let q = r#"{"email": {"$exists": true}}"#;
    let (found, total) = ik.search(q, &[("limit", "2"), ("skip", "1")]).await;
    assert_eq!(total, 9);
    assert_eq!(found, zulip_ids[1..3]);
    let (found, total) = ik.search(q, &[("skip", "8")]).await;
    assert_eq!((found, total), (with(&["zed"]), 9));
    let (found, total) = ik.search(q, &[("limit", "0")]).await;
    assert_eq!((found, total), (vec![], 9));

    // A pathological pattern for backtracking engines answers at once.
    ik.client(j!({"_id": "path", "nickname": format!("{}!", "a".repeat(99))}))
        .await;
    for pattern in ["(a+)+$", "(a|aa)+$", "^(a+)+b", "(a|a)*c$"] {
        let q = j!({"nickname": {"$regex": pattern}}).to_string();
        // A liveness bound: a backtracking engine would take astronomically
        // longer than this on 100 characters.
        let (found, total) = tokio::time::timeout(Duration::from_secs(60), ik.search(&q, &[]))
            .await
            .unwrap_or_else(|_| panic!("{pattern} did not answer within a minute"));
        assert_eq!((found, total), (vec![], 0), "{pattern}");
    }
    let (found, _) = ik
        .search(r#"{"nickname": {"$regex": "^a{99}!$"}}"#, &[])
        .await;
    assert_eq!(found, with(&["path"]));
}

#[tokio::test]
async fn bad_queries_are_invalid_query() {
    let realm = Realm::new();
    let ik = Imkit::new(&realm);
    ik.client(j!({"_id": "ann", "nickname": "Ann", "email": "ann@corp.example"}))
        .await;
    let before = state(&realm, &ik).await;
    // Each refusal's reason is logged (the query module's unit tests check
    // them); the client gets IMKIT's one documented message.
    let long_q = j!({"nickname": {"$in": vec!["x".repeat(100); 90]}}).to_string();
    let bad = [
        "not json".to_string(),
        "[1]".into(),
        r#"{"$or": [{"nickname": "Ann"}, {"nickname": "Bo"}]}"#.into(),
        r#"{"nickname": {"$where": "1"}}"#.into(),
        r#"{"password": "x"}"#.into(),
        r#"{"a": {"b": {"c": {"d": {"e": 1}}}}}"#.into(),
        r#"{"nickname": {"$regex": "("}}"#.into(),
        r#"{"createdAt": {"$gte": "yesterday"}}"#.into(),
        long_q,
    ];
    for q in &bad {
        for paging in [&[][..], &[("limit", "1")][..]] {
            let mut params = vec![("q", q.as_str())];
            params.extend_from_slice(paging);
            let got = ik.get("/admin/clients", &params).await;
            assert_err(&got, 400, "Invalid query syntax", "INVALID_QUERY", "");
            assert_eq!(
                got.1["error"]["message"], "MongoDB query syntax error",
                "{q}"
            );
        }
    }
    assert_eq!(state(&realm, &ik).await, before);
}

// ---------------------------------------------------------------------------
// GET /admin/clients/{id}
// ---------------------------------------------------------------------------

#[tokio::test]
async fn client_get_by_id() {
    let realm = Realm::new();
    let ik = Imkit::new(&realm);
    ik.group(j!({"_id": "team", "nickname": "Team"})).await;
    ik.client(j!({"_id": "gone", "nickname": "Gone Client"}))
        .await;
    let gone_id = zulip_user(&realm, "Gone Client").await["user_id"]
        .as_i64()
        .unwrap();
    assert_success(
        &realm
            .api(&realm.owner)
            .delete(&format!("/users/{gone_id}"), &[])
            .await,
    );
    let before = state(&realm, &ik).await;

    // Unknown ids, group ids and deactivated clients are not found.
    for key in [
        "nope",
        "team",
        "role:members",
        "gone",
        &gone_id.to_string(),
        "999999999",
        " ",
    ] {
        let got = ik
            .get(&format!("/admin/clients/{}", percent(key)), &[])
            .await;
        assert_eq!(got.1["RC"], 404, "{key}: {}", got.1);
        assert_eq!(got.1["error"]["code"], "CLIENT_NOT_FOUND");
        assert_eq!(got.0, 404);
        assert_eq!(
            got.1["error"]["message"], "The specified client does not exist",
            "{key}"
        );
    }
    assert_eq!(state(&realm, &ik).await, before);

    // Every Zulip-created user under its integer id, as a string.
    for (account, name) in [
        (&realm.owner, "Olivia Owner"),
        (&realm.admin, "Ada Admin"),
        (&realm.guest, "Gus Guest"),
        (&realm.bot, "Bob Bot"),
    ] {
        let key = account.id.to_string();
        let got = ok(&ik.get(&format!("/admin/clients/{key}"), &[]).await);
        check_client(&got);
        assert_eq!(
            untimed(&got),
            j!({"_id": key, "id": key, "nickname": name, "email": account.email,
                "avatarUrl": "", "isRobot": account.id == realm.bot.id,
                "lastLoginTimeMS": 0})
        );
        let (found, _) = ik.search(&j!({"_id": key}).to_string(), &[]).await;
        assert_eq!(found, vec![key]);
    }
}

/// IMKIT's documentation (https://github.com/imkit/api-doc) gives
/// `CLIENT_NOT_FOUND` the RM `"Client not found"`.
#[tokio::test]
async fn client_not_found_uses_the_documented_rm() {
    let realm = Realm::new();
    let ik = Imkit::new(&realm);
    assert_err(
        &ik.get("/admin/clients/nope", &[]).await,
        404,
        "Client not found",
        "CLIENT_NOT_FOUND",
        "The specified client does not exist",
    );
}
