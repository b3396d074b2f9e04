//! Authentication with the platform key.

use super::*;

// ---------------------------------------------------------------------------
// Authentication
// ---------------------------------------------------------------------------

#[tokio::test]
async fn api_key_is_required_checked_per_realm_and_rotatable() {
    let realm = Realm::new();
    let ik = Imkit::new(&realm);
    let base = realm.cohort.base.clone();

    // A fresh realm: Zulip's system groups only, which IMKIT does not see.
    let result = ok(&ik.get("/admin/groups", &[]).await);
    assert_eq!(result, j!({"totalCount": 0, "data": []}));
    let group = ik.group(j!({"_id": "ops", "nickname": "Ops"})).await;
    let before = state(&realm, &ik).await;

    // Missing, empty, wrong and Zulip-style credentials, on every endpoint;
    // authentication comes before the body is even looked at.
    let wrong = format!("{}x", realm.platform_key);
    let callers = [
        ("missing", Imkit::with_key(&base, None)),
        ("empty", Imkit::with_key(&base, Some(""))),
        ("blank", Imkit::with_key(&base, Some("   "))),
        ("wrong", Imkit::with_key(&base, Some(&wrong))),
        (
            "a user's api key",
            Imkit::with_key(&base, Some(&realm.owner.key)),
        ),
    ];
    for (what, caller) in &callers {
        let requests = [
            caller.get("/admin/groups", &[]).await,
            caller.get("/admin/groups/ops", &[]).await,
            caller
                .post_json("/admin/groups", j!({"_id": "x", "nickname": "X"}))
                .await,
            caller.delete("/admin/groups/ops").await,
            caller.get("/admin/clients", &[]).await,
            caller.get("/admin/clients", &[("q", "not json")]).await,
            caller
                .get(&format!("/admin/clients/{}", realm.owner.id), &[])
                .await,
            caller.post_json("/admin/clients", j!({"_id": "x"})).await,
            caller
                .post_json("/admin/clients/list", j!({"data": [{"_id": "x"}]}))
                .await,
            caller
                .raw("POST", "/admin/groups", "application/json", b"{".to_vec())
                .await,
        ];
        for got in requests {
            let (status, rm, code, message) = UNAUTHORIZED;
            assert_err(&got, status, rm, code, message);
            assert_eq!(got.1["error"]["message"], message, "{what}");
        }
    }
    // Zulip's Basic auth does not open IMKIT.
    let got = ik
        .send(
            reqwest::Client::new()
                .get(format!("{base}/admin/groups"))
                .basic_auth(&realm.owner.email, Some(&realm.owner.key)),
        )
        .await;
    assert_eq!(got.0, 200, "sent with the right IM-API-KEY too: {}", got.1);
    let got = Imkit::with_key(&base, None)
        .send(
            reqwest::Client::new()
                .get(format!("{base}/admin/groups"))
                .basic_auth(&realm.owner.email, Some(&realm.owner.key)),
        )
        .await;
    assert_err(&got, 401, "Unauthorized", "INVALID_API_KEY", "API key");
    assert_eq!(
        state(&realm, &ik).await,
        before,
        "refused requests left a trace"
    );

    // Header names are case-insensitive (spelled exactly as written here).
    for header in ["IM-API-KEY", "im-api-key", "Im-Api-Key", "iM-aPi-KeY"] {
        let request = format!(
            "GET /admin/groups/ops HTTP/1.1\r\nHost: x\r\n{header}: {}\r\nConnection: close\r\n\r\n",
            realm.platform_key
        );
        let got = raw_http(&base, request.as_bytes()).await;
        assert_eq!(ok(&got), group, "{header}");
    }

    // Another realm's key opens that realm only.
    let other = realm.cohort.cli_json(&[
        "realm",
        "add",
        "--name",
        "Other",
        "--owner-email",
        "o@other.example",
        "--json",
    ]);
    let other_key = other["platform_key"].as_str().unwrap().to_string();
    let oik = Imkit::with_key(&base, Some(&other_key));
    eventually!(
        "the server to learn the new realm's key",
        oik.get("/admin/clients", &[]).await.0 == 200
    );
    let (clients, total) = client_page(&oik, &[]).await;
    assert_eq!(total, 1);
    assert_eq!(clients[0]["email"], "o@other.example");
    assert_eq!(clients[0]["nickname"], "Owner");
    assert_eq!(group_page(&oik, &[]).await, (vec![], 0));
    assert_err(
        &oik.get("/admin/groups/ops", &[]).await,
        404,
        "Not Found",
        "GROUP_NOT_FOUND",
        "The specified group does not exist",
    );
    assert_err(
        &oik.get(&format!("/admin/clients/{}", realm.bot.id), &[])
            .await,
        404,
        "Client not found",
        "CLIENT_NOT_FOUND",
        "",
    );
    assert_err(
        &oik.delete("/admin/groups/ops").await,
        404,
        "Not Found",
        "GROUP_NOT_FOUND",
        "The specified group does not exist",
    );
    // Its own namespace: the same _id and nickname are free there...
    let theirs = oik.group(j!({"_id": "ops", "nickname": "Ops"})).await;
    assert_eq!(theirs["members"], j!([]));
    // ... and a member of this realm is unknown there.
    assert_err(
        &oik.post_json(
            "/admin/groups",
            j!({"nickname": "Mixed", "members": [realm.bot.id.to_string()]}),
        )
        .await,
        400,
        "Bad Request",
        "INVALID_PARAMETER",
        "no client with _id",
    );
    assert_eq!(
        state(&realm, &ik).await,
        before,
        "writes through another realm's key changed this realm"
    );

    // Rotating the key: the old one stops working, the new one works.
    let rotated = realm
        .cohort
        .cli_json(&["realm", "key", "rotate", "--realm", "Test", "--json"]);
    let new_key = rotated["platform_key"].as_str().unwrap().to_string();
    assert_ne!(new_key, realm.platform_key);
    eventually!(
        "the old key to stop working",
        ik.get("/admin/groups", &[]).await.0 == 401
    );
    let (status, rm, code, message) = UNAUTHORIZED;
    assert_err(
        &ik.get("/admin/groups", &[]).await,
        status,
        rm,
        code,
        message,
    );
    assert_err(
        &ik.post_json("/admin/groups", j!({"nickname": "Late"}))
            .await,
        status,
        rm,
        code,
        message,
    );
    let nik = Imkit::with_key(&base, Some(&new_key));
    assert_eq!(group_page(&nik, &[]).await, (vec![group.clone()], 1));
    assert_eq!(state(&realm, &nik).await, before);
    // The other realm is unaffected.
    assert_eq!(group_page(&oik, &[]).await, (vec![theirs], 1));
}
