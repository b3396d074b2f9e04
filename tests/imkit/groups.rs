//! /admin/groups: list, create, upsert, get and delete.

use super::*;

// ---------------------------------------------------------------------------
// GET /admin/groups
// ---------------------------------------------------------------------------

#[tokio::test]
async fn group_list_pages_in_creation_order() {
    let realm = Realm::new();
    let ik = Imkit::new(&realm);

    // 120 groups whose _id and nickname orders both differ from creation order.
    let mut created = Vec::new();
    for i in 0..120 {
        let got = ik
            .group(j!({
                "_id": format!("g{}", (i * 37) % 120),
                "nickname": format!("Team {:03}", (i * 53) % 120),
            }))
            .await;
        check_group(&got);
        created.push(got);
    }
    let all_ids = ids(&created);

    // Default page: the first 50.
    let (page, total) = group_page(&ik, &[]).await;
    assert_eq!(total, 120);
    assert_eq!(page, created[..50]);

    // limit/skip paging covers everything once, in creation order.
    let mut walked = Vec::new();
    for skip in (0..140).step_by(20) {
        let skip = skip.to_string();
        let (page, total) = group_page(&ik, &[("limit", "20"), ("skip", &skip)]).await;
        assert_eq!(total, 120);
        walked.extend(page);
    }
    assert_eq!(walked, created);
    for (query, expected) in [
        (vec![("limit", "100")], &created[..100]),
        (vec![("skip", "100")], &created[100..]),
        (vec![("skip", "110"), ("limit", "50")], &created[110..]),
        (vec![("skip", "7"), ("limit", "3")], &created[7..10]),
        (vec![("skip", "120")], &created[..0]),
        (vec![("skip", "100000")], &created[..0]),
        (vec![("skip", "18446744073709551615")], &created[..0]),
        (vec![("limit", "0")], &created[..0]),
        (vec![("limit", "0"), ("skip", "5")], &created[..0]),
        (vec![("limit", "1"), ("skip", "119")], &created[119..]),
        (vec![("limit", "007")], &created[..7]),
    ] {
        let (page, total) = group_page(&ik, &query).await;
        assert_eq!(total, 120, "{query:?}");
        assert_eq!(ids(&page), ids(expected), "{query:?}");
    }
    // Zulip sees the same 120 (besides its system groups).
    let zulip = realm.all_groups().await;
    let mine: Vec<&Value> = zulip["user_groups"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|g| g["is_system_group"] == false)
        .collect();
    assert_eq!(mine.len(), 120);
    assert_eq!(
        mine.iter().map(|g| g["name"].clone()).collect::<Vec<_>>(),
        created
            .iter()
            .map(|g| g["nickname"].clone())
            .collect::<Vec<_>>()
    );
    // Each is also served by its own id, as listed.
    for (id, group) in all_ids.iter().zip(&created) {
        let got = ok(&ik.get(&format!("/admin/groups/{id}"), &[]).await);
        assert_eq!(&got, group, "GET /admin/groups/{id}");
    }

    // Bad paging parameters, on both lists.
    let before = state(&realm, &ik).await;
    for path in ["/admin/groups", "/admin/clients"] {
        for name in ["limit", "skip"] {
            for bad in [
                "-1",
                "abc",
                "1.5",
                "99999999999999999999999",
                "",
                "1e2",
                "+5",
                "0x10",
                "5 6",
            ] {
                let got = ik.get(path, &[(name, bad)]).await;
                let got = refused!(
                    &realm,
                    &ik,
                    &before,
                    got,
                    400,
                    "Bad Request",
                    "INVALID_PARAMETER",
                    name
                );
                assert!(got.1.get("result").is_none());
            }
        }
        for too_many in ["101", "1000", "18446744073709551615"] {
            refused!(
                &realm,
                &ik,
                &before,
                ik.get(path, &[("limit", too_many)]).await,
                413,
                "Query result too large",
                "RESULT_TOO_LARGE",
                "Please use more specific query or smaller limit"
            );
        }
        // 100 is the largest page.
        ok(&ik.get(path, &[("limit", "100")]).await);
    }
}

// ---------------------------------------------------------------------------
// POST /admin/groups, GET /admin/groups/{id}
// ---------------------------------------------------------------------------

#[tokio::test]
async fn group_create_shapes_and_reads() {
    let realm = Realm::new();
    let ik = Imkit::new(&realm);
    ik.client(j!({"_id": "c1", "nickname": "Cee One"})).await;
    ik.client(j!({"_id": "c2", "nickname": "Cee Two"})).await;
    let member_key = realm.member.id.to_string();

    // With _id, avatarUrl and members (IMKIT clients and a Zulip user).
    let t0 = now_ms();
    let got = ik
        .group(j!({
            "_id": "eng",
            "nickname": "Engineering",
            "avatarUrl": "https://img.example/eng.png",
            "members": ["c1", member_key, "c2"],
        }))
        .await;
    let t1 = now_ms();
    check_group(&got);
    // Members are client ids; cohort keeps them in id (creation) order.
    assert_eq!(
        untimed(&got),
        j!({
            "_id": "eng",
            "id": "eng",
            "nickname": "Engineering",
            "avatarUrl": "https://img.example/eng.png",
            "members": [member_key, "c1", "c2"],
        })
    );
    assert_between(&got["createdAt"], t0, t1);
    assert_eq!(got["createdAt"], got["updatedAt"]);
    assert_eq!(ok(&ik.get("/admin/groups/eng", &[]).await), got);
    assert_eq!(group_page(&ik, &[]).await, (vec![got.clone()], 1));

    // Zulip's view of it: integer members, no creator.
    let zg = zulip_group(&realm, "Engineering").await;
    let mut zulip_members = vec![
        realm.member.id,
        zulip_user(&realm, "Cee One").await["user_id"]
            .as_i64()
            .unwrap(),
        zulip_user(&realm, "Cee Two").await["user_id"]
            .as_i64()
            .unwrap(),
    ];
    zulip_members.sort_unstable();
    assert_eq!(sorted_ints(&zg["members"]), zulip_members);
    assert_eq!(zg["creator_id"], Value::Null);
    assert_eq!(zg["description"], "");
    assert_eq!(zg["is_system_group"], false);
    assert_eq!(zg["deactivated"], false);
    assert_eq!(zg["direct_subgroup_ids"], j!([]));

    // Without _id: one is generated (the group's integer id, as for Zulip's).
    let bare = ik.group(j!({"nickname": "Bare"})).await;
    check_group(&bare);
    let zid = zulip_group(&realm, "Bare").await["id"].as_i64().unwrap();
    assert_eq!(
        untimed(&bare),
        j!({"_id": zid.to_string(), "id": zid.to_string(), "nickname": "Bare",
            "avatarUrl": "", "members": []})
    );
    assert_eq!(
        ok(&ik.get(&format!("/admin/groups/{zid}"), &[]).await),
        bare
    );
    // Null is the same as absent.
    let nulls = ik
        .group(j!({"_id": null, "nickname": "Nulls", "avatarUrl": null, "members": null}))
        .await;
    assert_eq!(nulls["avatarUrl"], "");
    assert_eq!(nulls["members"], j!([]));
    assert_ne!(nulls["_id"], bare["_id"]);
    // Empty members; a bot is a client too.
    let bots = ik
        .group(j!({"_id": "bots", "nickname": "Bots", "members": [realm.bot.id.to_string()]}))
        .await;
    assert_eq!(bots["members"], j!([realm.bot.id.to_string()]));

    // Any printable _id up to 128 characters, addressed percent-encoded.
    let long = "k".repeat(128);
    let wide = "é".repeat(128);
    let odd = "Team A/β?#%";
    for key in [long.as_str(), wide.as_str(), odd] {
        let got = ik
            .group(j!({"_id": key, "nickname": format!("n-{}", key.len()), "members": ["c2"]}))
            .await;
        assert_eq!(got["_id"], key);
        let path = format!("/admin/groups/{}", percent(key));
        assert_eq!(ok(&ik.get(&path, &[]).await), got, "{key}");
    }

    // Content types: with a charset, bare, none at all.
    for (i, content_type) in ["application/json; charset=utf-8", "application/json", ""]
        .into_iter()
        .enumerate()
    {
        let body = j!({"_id": format!("ct{i}"), "nickname": format!("CT {i}")});
        let got = ik
            .raw(
                "POST",
                "/admin/groups",
                content_type,
                body.to_string().into_bytes(),
            )
            .await;
        assert_eq!(ok(&got)["_id"], format!("ct{i}"), "{content_type:?}");
    }

    // The list holds them all, in creation order.
    let (page, total) = group_page(&ik, &[]).await;
    assert_eq!(total, 10);
    assert_eq!(
        ids(&page)[..4],
        strs(&[
            "eng",
            &zid.to_string(),
            nulls["_id"].as_str().unwrap(),
            "bots"
        ])
    );
}

#[tokio::test]
async fn group_create_refusals_change_nothing() {
    let realm = Realm::new();
    let ik = Imkit::new(&realm);
    ik.client(j!({"_id": "c1", "nickname": "Cee One"})).await;
    ik.group(j!({"_id": "alpha", "nickname": "Alpha", "members": ["c1"]}))
        .await;
    // A group deactivated through Zulip keeps its _id and name.
    ik.group(j!({"_id": "gone", "nickname": "Gone"})).await;
    let gone_id = zulip_group(&realm, "Gone").await["id"].as_i64().unwrap();
    assert_success(
        &realm
            .api(&realm.owner)
            .post(&format!("/user_groups/{gone_id}/deactivate"), &[])
            .await,
    );
    let before = state(&realm, &ik).await;
    let owner_key = realm.owner.id.to_string();
    let too_many: Vec<String> = (0..10_001).map(|i| format!("m{i}")).collect();

    let (bad, mp, pi) = ("Bad Request", "MISSING_PARAMETER", "INVALID_PARAMETER");
    #[rustfmt::skip]
    let cases: Vec<(Value, u16, &str, &str, &str)> = vec![
        // nickname is required and must be text.
        (j!({}), 400, bad, mp, "nickname is required"),
        (j!({"nickname": ""}), 400, bad, mp, "nickname is required"),
        (j!({"nickname": "   "}), 400, bad, mp, "nickname is required"),
        (j!({"nickname": null}), 400, bad, mp, "nickname is required"),
        (j!({"_id": "x", "members": ["c1"]}), 400, bad, mp, "nickname is required"),
        (j!({"nickname": 5}), 400, bad, pi, "nickname must be a string"),
        (j!({"nickname": ["N"]}), 400, bad, pi, "nickname must be a string"),
        // members: an array of existing, distinct client ids.
        (j!({"nickname": "N", "members": "c1"}), 400, bad, pi, "members must be an array"),
        (j!({"nickname": "N", "members": {"c1": true}}), 400, bad, pi, "members must be an array"),
        (j!({"nickname": "N", "members": 1}), 400, bad, pi, "members must be an array"),
        (j!({"nickname": "N", "members": ["c1", 5]}), 400, bad, pi, "members[1] must be a string"),
        (j!({"nickname": "N", "members": [null]}), 400, bad, pi, "members[0] must be a string"),
        (j!({"nickname": "N", "members": [["c1"]]}), 400, bad, pi, "members[0] must be a string"),
        (j!({"nickname": "N", "members": ["c1", "nobody"]}), 400, bad, pi, "no client with _id 'nobody'"),
        (j!({"nickname": "N", "members": ["c1", "c1"]}), 400, bad, pi, "'c1' is listed more than once"),
        (j!({"nickname": "N", "members": ["alpha"]}), 400, bad, pi, "'alpha' is a group, not a client"),
        (j!({"nickname": "N", "members": ["role:members"]}), 400, bad, pi, "is a group, not a client"),
        (j!({"nickname": "N", "members": too_many}), 400, bad, pi, "members lists more than 10000 ids"),
        // _id: a printable string of 1..=128 characters, not in use.
        (j!({"_id": "", "nickname": "N"}), 400, bad, pi, "_id is invalid: empty"),
        (j!({"_id": "k".repeat(129), "nickname": "N"}), 400, bad, pi, "_id is invalid: longer than 128"),
        (j!({"_id": "é".repeat(129), "nickname": "N"}), 400, bad, pi, "_id is invalid: longer than 128"),
        (j!({"_id": "a\u{7}b", "nickname": "N"}), 400, bad, pi, "_id is invalid: contains control characters"),
        (j!({"_id": "a\nb", "nickname": "N"}), 400, bad, pi, "_id is invalid: contains control characters"),
        (j!({"_id": "a\u{0}b", "nickname": "N"}), 400, bad, pi, "_id is invalid"),
        (j!({"_id": " padded", "nickname": "N"}), 400, bad, pi, "_id is invalid: has leading or trailing whitespace"),
        (j!({"_id": 5, "nickname": "N"}), 400, bad, pi, "_id must be a string"),
        (j!({"_id": {"a": 1}, "nickname": "N"}), 400, bad, pi, "_id must be a string"),
        (j!({"_id": "c1", "nickname": "N"}), 409, "Conflict", "ID_ALREADY_IN_USE", "'c1' is already the _id"),
        (j!({"_id": owner_key, "nickname": "N"}), 409, "Conflict", "ID_ALREADY_IN_USE", "already the _id"),
        (j!({"_id": "role:members", "nickname": "N"}), 409, "Conflict", "ID_ALREADY_IN_USE", "already the _id"),
        (j!({"_id": "gone", "nickname": "N"}), 409, "Conflict", "ID_ALREADY_IN_USE", "already the _id"),
        (j!({"_id": "alpha", "nickname": "N"}), 409, "Conflict", "GROUP_ALREADY_EXISTS", "A group with this ID already exists"),
        (j!({"_id": "alpha", "nickname": "Alpha"}), 409, "Conflict", "GROUP_ALREADY_EXISTS", "A group with this ID already exists"),
        // nickname: unique, Zulip's group-name rules.
        (j!({"nickname": "Alpha"}), 409, "Conflict", "NICKNAME_TAKEN", "Another group is already named 'Alpha'"),
        (j!({"_id": "beta", "nickname": "Alpha", "members": ["c1"]}), 409, "Conflict", "NICKNAME_TAKEN", "'Alpha'"),
        (j!({"nickname": "Gone"}), 409, "Conflict", "NICKNAME_TAKEN", "'Gone'"),
        (j!({"nickname": "role:x"}), 400, bad, pi, "nickname cannot start with 'role:'"),
        (j!({"nickname": "role:members"}), 400, bad, pi, "nickname cannot start with 'role:'"),
        (j!({"nickname": "@x"}), 400, bad, pi, "nickname cannot start with '@'"),
        (j!({"nickname": "user:x"}), 400, bad, pi, "nickname cannot start with 'user:'"),
        (j!({"nickname": "channel:x"}), 400, bad, pi, "nickname cannot start with 'channel:'"),
        (j!({"nickname": "n".repeat(101)}), 400, bad, pi, "nickname must be at most 100 characters"),
        (j!({"nickname": "a\u{0}b"}), 400, bad, pi, "NUL"),
        // avatarUrl: a bounded string.
        (j!({"nickname": "N", "avatarUrl": 5}), 400, bad, pi, "avatarUrl must be a string"),
        (j!({"nickname": "N", "avatarUrl": "https://x/\n.png"}), 400, bad, pi, "avatarUrl"),
        (j!({"nickname": "N", "avatarUrl": format!("https://x/{}", "a".repeat(2048))}), 400, bad, pi, "avatarUrl must be at most 2048"),
    ];
    for (body, status, rm, code, message) in cases {
        let got = ik.post_json("/admin/groups", body.clone()).await;
        assert_err(&got, status, rm, code, message);
        assert_eq!(
            state(&realm, &ik).await,
            before,
            "POST /admin/groups {body} left a trace"
        );
    }
    // A 128-character _id and a 100-character nickname are fine (boundaries).
    let fine = ik
        .group(j!({"_id": "k".repeat(128), "nickname": "n".repeat(100)}))
        .await;
    assert_eq!(fine["nickname"], "n".repeat(100));
    assert_success(
        &realm
            .api(&realm.owner)
            .delete(&format!("/users/{}", realm.member2.id), &[])
            .await,
    );
    ok(&ik
        .delete(&format!("/admin/groups/{}", "k".repeat(128)))
        .await);
    let before = state(&realm, &ik).await;

    // A deactivated user is no longer a valid member.
    refused!(
        &realm,
        &ik,
        &before,
        ik.post_json(
            "/admin/groups",
            j!({"nickname": "N", "members": [realm.member2.id.to_string()]})
        )
        .await,
        409,
        "Conflict",
        "CLIENT_DEACTIVATED",
        "deactivated"
    );

    // Bodies that are not one JSON object.
    for (body, message) in [
        (&b"{"[..], "not valid JSON"),
        (b"", "not valid JSON"),
        (b"nickname=N", "not valid JSON"),
        (b"{\"nickname\": \"N\"} trailing", "not valid JSON"),
        (b"\xff\xfe{}", "not valid JSON"),
        (b"[{\"nickname\": \"N\"}]", "must be a JSON object"),
        (b"\"N\"", "must be a JSON object"),
        (b"null", "must be a JSON object"),
        (b"42", "must be a JSON object"),
    ] {
        refused!(
            &realm,
            &ik,
            &before,
            ik.raw("POST", "/admin/groups", "application/json", body.to_vec())
                .await,
            400,
            "Bad Request",
            "INVALID_REQUEST",
            message
        );
    }
}

#[tokio::test]
async fn group_upsert_mode_updates_existing_ids() {
    let realm = Realm::new();
    let ik = Imkit::new(&realm);
    for key in ["c1", "c2", "c3"] {
        ik.client(j!({"_id": key, "nickname": format!("Client {key}")}))
            .await;
    }
    let created = ik
        .group(
            j!({"_id": "up", "nickname": "Up", "avatarUrl": "https://a/1.png",
                   "members": ["c1", "c2"]}),
        )
        .await;
    ik.group(j!({"_id": "other", "nickname": "Other"})).await;
    let before = state(&realm, &ik).await;

    // Default (current IMKIT docs): an existing _id is a conflict.
    refused!(
        &realm,
        &ik,
        &before,
        ik.post_json(
            "/admin/groups",
            j!({"_id": "up", "nickname": "Up 2", "members": ["c3"]})
        )
        .await,
        409,
        "Conflict",
        "GROUP_ALREADY_EXISTS",
        "A group with this ID already exists"
    );

    // Legacy docs: create or update.
    cli_ok(&realm, &["realm", "set", "--group-upsert", "update"]);
    tick().await;
    let update = j!({"_id": "up", "nickname": "Up 2", "members": ["c3", "c1"]});
    let mut got = ik.post_json("/admin/groups", update.clone()).await;
    eventually!("the server to pick up --group-upsert update", {
        if got.0 == 409 {
            got = ik.post_json("/admin/groups", update.clone()).await;
        }
        got.0 != 409
    });
    let updated = ok(&got);
    check_group(&updated);
    assert_eq!(
        untimed(&updated),
        j!({"_id": "up", "id": "up", "nickname": "Up 2",
            "avatarUrl": "https://a/1.png", "members": ["c1", "c3"]})
    );
    assert_eq!(
        updated["createdAt"], created["createdAt"],
        "createdAt is kept"
    );
    assert!(
        updated["updatedAt"].as_str() > created["updatedAt"].as_str(),
        "updatedAt moves: {created} -> {updated}"
    );
    assert_eq!(ok(&ik.get("/admin/groups/up", &[]).await), updated);
    let (page, total) = group_page(&ik, &[]).await;
    assert_eq!(total, 2);
    assert_eq!(page[0], updated, "an update keeps the group's place");
    // Zulip sees the new name and members.
    assert_eq!(zulip_group(&realm, "Up").await, Value::Null);
    let zg = zulip_group(&realm, "Up 2").await;
    let mut expected = vec![
        zulip_user(&realm, "Client c1").await["user_id"]
            .as_i64()
            .unwrap(),
        zulip_user(&realm, "Client c3").await["user_id"]
            .as_i64()
            .unwrap(),
    ];
    expected.sort_unstable();
    assert_eq!(sorted_ints(&zg["members"]), expected);

    // Its own nickname again is not "taken"; members left out are kept;
    // avatarUrl is replaced when sent; an empty list empties the group.
    tick().await;
    let same = ok(&ik
        .post_json(
            "/admin/groups",
            j!({"_id": "up", "nickname": "Up 2", "avatarUrl": "https://a/2.png"}),
        )
        .await);
    assert_eq!(same["members"], j!(["c1", "c3"]));
    assert_eq!(same["avatarUrl"], "https://a/2.png");
    let emptied = ok(&ik
        .post_json(
            "/admin/groups",
            j!({"_id": "up", "nickname": "Up 2", "members": []}),
        )
        .await);
    assert_eq!(emptied["members"], j!([]));
    assert_eq!(zulip_group(&realm, "Up 2").await["members"], j!([]));
    assert_eq!(emptied["createdAt"], created["createdAt"]);

    // Refusals in update mode change nothing (all or nothing).
    let before = state(&realm, &ik).await;
    #[rustfmt::skip]
    let cases: Vec<(Value, u16, &str, &str, &str)> = vec![
        (j!({"_id": "up", "nickname": "Other"}), 409, "Conflict", "NICKNAME_TAKEN", "'Other'"),
        (j!({"_id": "up", "nickname": "Up 3", "members": ["c1", "nobody"]}), 400, "Bad Request", "INVALID_PARAMETER", "nobody"),
        (j!({"_id": "up", "nickname": "Up 3", "members": ["c1", "c1"]}), 400, "Bad Request", "INVALID_PARAMETER", "more than once"),
        (j!({"_id": "up", "nickname": "Up 3", "members": ["other"]}), 400, "Bad Request", "INVALID_PARAMETER", "is a group"),
        (j!({"_id": "up"}), 400, "Bad Request", "MISSING_PARAMETER", "nickname is required"),
        (j!({"_id": "up", "nickname": "role:up"}), 400, "Bad Request", "INVALID_PARAMETER", "role:"),
        (j!({"_id": "c1", "nickname": "C"}), 409, "Conflict", "ID_ALREADY_IN_USE", "'c1'"),
        (j!({"_id": "role:members", "nickname": "C"}), 409, "Conflict", "ID_ALREADY_IN_USE", "role:members"),
    ];
    for (body, status, rm, code, message) in cases {
        let got = ik.post_json("/admin/groups", body.clone()).await;
        assert_err(&got, status, rm, code, message);
        assert_eq!(state(&realm, &ik).await, before, "{body} left a trace");
    }
    // A new _id still creates.
    let fresh = ik
        .group(j!({"_id": "fresh", "nickname": "Fresh", "members": ["c2"]}))
        .await;
    assert_eq!(fresh["members"], j!(["c2"]));
    assert_eq!(fresh["createdAt"], fresh["updatedAt"]);

    // Back to the default.
    cli_ok(&realm, &["realm", "set", "--group-upsert", "reject"]);
    let again = j!({"_id": "fresh", "nickname": "Fresh 2"});
    eventually!(
        "the server to pick up --group-upsert reject",
        ik.post_json("/admin/groups", again.clone()).await.0 == 409
    );
    assert_err(
        &ik.post_json("/admin/groups", again).await,
        409,
        "Conflict",
        "GROUP_ALREADY_EXISTS",
        "already exists",
    );
}

#[tokio::test]
async fn bodies_over_the_size_limit_are_413() {
    let realm = Realm::with_server_args(&["--max-body-bytes", "4096"]);
    let ik = Imkit::new(&realm);
    let before = state(&realm, &ik).await;
    let big = "x".repeat(5000);
    for (path, body) in [
        ("/admin/groups", j!({"nickname": "Big", "avatarUrl": big})),
        ("/admin/clients", j!({"_id": "big", "avatarUrl": big})),
        (
            "/admin/clients/list",
            j!({"data": (0..300).map(|i| j!({"_id": format!("b{i}")})).collect::<Vec<_>>()}),
        ),
    ] {
        refused!(
            &realm,
            &ik,
            &before,
            ik.post_json(path, body).await,
            413,
            "Payload Too Large",
            "PAYLOAD_TOO_LARGE",
            "too large"
        );
    }
    // Without a Content-Length (chunked), too.
    let body = j!({"nickname": "Big", "avatarUrl": big}).to_string();
    let request = format!(
        "POST /admin/groups HTTP/1.1\r\nHost: x\r\nIM-API-KEY: {}\r\n\
         Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\
         Connection: close\r\n\r\n{:x}\r\n{body}\r\n0\r\n\r\n",
        realm.platform_key,
        body.len()
    );
    let got = raw_http(&realm.cohort.base, request.as_bytes()).await;
    refused!(
        &realm,
        &ik,
        &before,
        got,
        413,
        "Payload Too Large",
        "PAYLOAD_TOO_LARGE",
        "too large"
    );
    // Just under the limit is fine.
    let under = "y".repeat(2000);
    let got = ik
        .group(j!({"nickname": "Under", "avatarUrl": under}))
        .await;
    assert_eq!(got["avatarUrl"], under);
    let got = ik.client(j!({"_id": "under", "avatarUrl": under})).await;
    assert_eq!(got["avatarUrl"], under);
}

// ---------------------------------------------------------------------------
// GET and DELETE /admin/groups/{id}
// ---------------------------------------------------------------------------

#[tokio::test]
async fn group_get_and_delete() {
    let realm = Realm::new();
    let ik = Imkit::new(&realm);
    let owner = realm.api(&realm.owner);
    ik.client(j!({"_id": "c1", "nickname": "Cee One"})).await;
    let doomed = ik
        .group(j!({"_id": "doomed", "nickname": "Doomed", "members": ["c1"]}))
        .await;
    let keep = ik.group(j!({"_id": "keep", "nickname": "Keep"})).await;
    let before = state(&realm, &ik).await;
    let members_id = realm.system_group("role:members").await;

    // Unknown ids and Zulip's system groups are not IMKIT groups.
    for key in [
        "nope".to_string(),
        "role:members".to_string(),
        "role:everyone".to_string(),
        members_id.to_string(),
        "c1".to_string(),
        realm.owner.id.to_string(),
    ] {
        let path = format!("/admin/groups/{}", percent(&key));
        for got in [ik.get(&path, &[]).await, ik.delete(&path).await] {
            refused!(
                &realm,
                &ik,
                &before,
                got,
                404,
                "Not Found",
                "GROUP_NOT_FOUND",
                "The specified group does not exist"
            );
        }
    }

    // DELETE answers with the group as it was, and it is gone from both faces.
    let zid = zulip_group(&realm, "Doomed").await["id"].as_i64().unwrap();
    let got = ok(&ik.delete("/admin/groups/doomed").await);
    assert_eq!(got, doomed);
    assert_eq!(group_page(&ik, &[]).await, (vec![keep.clone()], 1));
    assert_eq!(zulip_group(&realm, "Doomed").await, Value::Null);
    assert!(realm.group(zid).await.is_null());
    for got in [
        ik.get("/admin/groups/doomed", &[]).await,
        ik.delete("/admin/groups/doomed").await,
    ] {
        assert_err(
            &got,
            404,
            "Not Found",
            "GROUP_NOT_FOUND",
            "The specified group does not exist",
        );
    }
    // Its members are untouched, and its _id and nickname are free again.
    assert_eq!(ok(&ik.get("/admin/clients/c1", &[]).await)["_id"], "c1");
    tick().await;
    let reborn = ik.group(j!({"_id": "doomed", "nickname": "Doomed"})).await;
    assert!(reborn["createdAt"].as_str() > doomed["createdAt"].as_str());
    ok(&ik.delete("/admin/groups/doomed").await);

    // A Zulip-created group is addressed by its integer id.
    let zulip_made = realm
        .create_group(&realm.owner, "Zulip made", &[realm.member.id])
        .await;
    let got = ok(&ik.get(&format!("/admin/groups/{zulip_made}"), &[]).await);
    check_group(&got);
    assert_eq!(
        untimed(&got),
        j!({"_id": zulip_made.to_string(), "id": zulip_made.to_string(),
            "nickname": "Zulip made", "avatarUrl": "",
            "members": [realm.member.id.to_string()]})
    );

    // In use as a Zulip subgroup: 409 GROUP_IN_USE, nothing changes.
    let sub = ik.group(j!({"_id": "sub", "nickname": "Sub"})).await;
    let sub_zid = zulip_group(&realm, "Sub").await["id"].as_i64().unwrap();
    assert_success(
        &owner
            .post(
                &format!("/user_groups/{zulip_made}/subgroups"),
                &[("add", json([sub_zid]))],
            )
            .await,
    );
    let before = state(&realm, &ik).await;
    for _ in 0..2 {
        refused!(
            &realm,
            &ik,
            &before,
            ik.delete("/admin/groups/sub").await,
            409,
            "Conflict",
            "GROUP_IN_USE",
            "subgroup"
        );
    }
    assert_eq!(ok(&ik.get("/admin/groups/sub", &[]).await), sub);
    // The supergroup itself can go; then the subgroup is free.
    ok(&ik.delete(&format!("/admin/groups/{zulip_made}")).await);
    assert!(realm.group(zulip_made).await.is_null());
    ok(&ik.delete("/admin/groups/sub").await);

    // Named by another group's permission setting.
    let named = ik.group(j!({"_id": "named", "nickname": "Named"})).await;
    let named_zid = zulip_group(&realm, "Named").await["id"].as_i64().unwrap();
    let keep_zid = zulip_group(&realm, "Keep").await["id"].as_i64().unwrap();
    assert_success(
        &owner
            .patch(
                &format!("/user_groups/{keep_zid}"),
                &[("can_mention_group", json(j!({"new": named_zid})))],
            )
            .await,
    );
    let before = state(&realm, &ik).await;
    let got = refused!(
        &realm,
        &ik,
        &before,
        ik.delete("/admin/groups/named").await,
        409,
        "Conflict",
        "GROUP_IN_USE",
        "can_mention_group"
    );
    assert!(
        got.1["error"]["message"]
            .as_str()
            .unwrap()
            .contains(&keep_zid.to_string()),
        "{}",
        got.1
    );
    assert_eq!(ok(&ik.get("/admin/groups/named", &[]).await), named);

    // Named inside an anonymous setting value, and by a deactivated group's setting.
    let anon = ik.group(j!({"_id": "anon", "nickname": "Anon"})).await;
    let anon_zid = zulip_group(&realm, "Anon").await["id"].as_i64().unwrap();
    let holder = realm.create_group(&realm.owner, "Holder", &[]).await;
    assert_success(
        &owner
            .patch(
                &format!("/user_groups/{holder}"),
                &[(
                    "can_join_group",
                    json(j!({"new": {"direct_members": [realm.member.id],
                                     "direct_subgroups": [anon_zid]}})),
                )],
            )
            .await,
    );
    assert_success(
        &owner
            .post(&format!("/user_groups/{holder}/deactivate"), &[])
            .await,
    );
    let before = state(&realm, &ik).await;
    refused!(
        &realm,
        &ik,
        &before,
        ik.delete("/admin/groups/anon").await,
        409,
        "Conflict",
        "GROUP_IN_USE",
        "can_join_group"
    );
    assert_eq!(ok(&ik.get("/admin/groups/anon", &[]).await), anon);

    // Named by a realm setting (changed through the CLI; a canary client,
    // added after it, shows when the server has caught up).
    let realm_named = ik
        .group(j!({"_id": "realm-named", "nickname": "Realm named"}))
        .await;
    let realm_named_zid = zulip_group(&realm, "Realm named").await["id"]
        .as_i64()
        .unwrap();
    cli_ok(
        &realm,
        &[
            "realm",
            "set",
            "--can-create-groups",
            &realm_named_zid.to_string(),
        ],
    );
    realm
        .cohort
        .add_user("canary@test.example", "Canary Bird", "member", false);
    eventually!(
        "the server to catch up with the CLI",
        ik.search(r#"{"nickname": "Canary Bird"}"#, &[]).await.1 == 1
    );
    let before = state(&realm, &ik).await;
    refused!(
        &realm,
        &ik,
        &before,
        ik.delete("/admin/groups/realm-named").await,
        409,
        "Conflict",
        "GROUP_IN_USE",
        "realm"
    );
    assert_eq!(
        ok(&ik.get("/admin/groups/realm-named", &[]).await),
        realm_named
    );

    // A group deactivated through Zulip is invisible to IMKIT.
    let deact = ik.group(j!({"_id": "deact", "nickname": "Deact"})).await;
    let deact_zid = zulip_group(&realm, "Deact").await["id"].as_i64().unwrap();
    assert!(ids(&group_page(&ik, &[]).await.0).contains(&"deact".to_string()));
    assert_success(
        &owner
            .post(&format!("/user_groups/{deact_zid}/deactivate"), &[])
            .await,
    );
    let before = state(&realm, &ik).await;
    assert!(!ids(&group_page(&ik, &[]).await.0).contains(&"deact".to_string()));
    for got in [
        ik.get("/admin/groups/deact", &[]).await,
        ik.delete("/admin/groups/deact").await,
    ] {
        refused!(
            &realm,
            &ik,
            &before,
            got,
            404,
            "Not Found",
            "GROUP_NOT_FOUND",
            "The specified group does not exist"
        );
    }
    assert_eq!(realm.group(deact_zid).await["deactivated"], true);
    let _ = deact;
}
