//! Who may call (`native/auth.rs`, `permission::may_read_audit`): owners and
//! administrators over HTTP Basic, tokens with `audit:read` over Bearer.
//! No credentials and wrong ones are 401 with both challenges; a known
//! caller without the right is 403; a revoked token is 401 at once.

use super::*;

#[track_caller]
fn assert_unauthorized(reply: &Reply) {
    assert_error(reply, 401, "unauthorized", None);
    assert_eq!(
        reply.header("www-authenticate"),
        Some("Basic realm=\"cohort\", Bearer"),
        "{reply:?}"
    );
}

#[tokio::test]
async fn no_credentials_are_401_with_both_challenges() {
    let realm = Realm::new();
    let reply = Native::anonymous(&realm.cohort.base).get("/realm").await;
    assert_unauthorized(&reply);
}

#[tokio::test]
async fn wrong_credentials_are_401() {
    let realm = Realm::new();
    let base = &realm.cohort.base;
    let wrong_key = Account {
        key: "A".repeat(32),
        ..realm.owner.clone()
    };
    let wrong_email = Account {
        email: "admin@test.example".into(),
        ..realm.owner.clone()
    };
    let clients = [
        Native::basic(base, &wrong_key),
        Native::basic(base, &wrong_email),
        Native::bearer(base, "cohort_not_a_real_token"),
        Native::with_authorization(base, Some("Bearer".into())),
        Native::with_authorization(base, Some("Bearer ".into())),
        Native::with_authorization(base, Some("Basic !!!".into())),
        Native::with_authorization(base, Some(format!("Basic {}", base64_encode("no-colon")))),
        Native::with_authorization(base, Some(realm.scim_token.clone())),
        Native::with_authorization(base, Some(format!("Token {}", realm.scim_token))),
    ];
    for client in clients {
        let reply = client.get("/realm").await;
        assert_unauthorized(&reply);
    }
}

#[tokio::test]
async fn owners_and_administrators_read_the_realm() {
    let realm = Realm::new();
    let base = &realm.cohort.base;
    let version = realm.cohort.realms()[0]["version"].as_i64().unwrap();
    for (account, name) in [(&realm.owner, "Olivia Owner"), (&realm.admin, "Ada Admin")] {
        let reply = Native::basic(base, account).get("/realm").await;
        let body = reply.ok(200);
        assert_eq!(body["name"], "Test", "{body}");
        assert!(body["id"].as_i64().is_some(), "{body}");
        assert_eq!(body["version"], version, "{body}");
        assert_eq!(body["caller"]["kind"], "user", "{body}");
        assert_eq!(body["caller"]["id"], account.id, "{body}");
        assert_eq!(body["caller"]["name"], name, "{body}");
    }
}

#[tokio::test]
async fn other_roles_and_bots_are_403() {
    let realm = Realm::new();
    let base = &realm.cohort.base;
    for account in [&realm.moderator, &realm.member, &realm.guest, &realm.bot] {
        let reply = Native::basic(base, account).get("/realm").await;
        assert_error(&reply, 403, "forbidden", None);
        assert!(reply.header("www-authenticate").is_none(), "{reply:?}");
    }
}

#[tokio::test]
async fn a_deactivated_administrator_is_401() {
    let realm = Realm::new();
    let out = realm.cohort.cli(&[
        "user",
        "set",
        "--email",
        "admin@test.example",
        "--deactivated",
        "true",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let client = Native::basic(&realm.cohort.base, &realm.admin);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let reply = client.get("/realm").await;
        if reply.status == 401 {
            assert_unauthorized(&reply);
            break;
        }
        assert_eq!(reply.status, 200, "{}", reply.body);
        assert!(
            Instant::now() < deadline,
            "still accepted after deactivation"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn a_token_with_audit_read_reads_the_realm() {
    let realm = Realm::new();
    let secret = token(&realm, "auditor", "audit:read").await;
    let reply = Native::bearer(&realm.cohort.base, &secret)
        .get("/realm")
        .await;
    let body = reply.ok(200);
    assert_eq!(body["name"], "Test", "{body}");
    assert_eq!(body["caller"]["kind"], "token", "{body}");
    assert_eq!(body["caller"]["name"], "auditor", "{body}");
    assert!(body["caller"]["id"].as_i64().is_some(), "{body}");
}

#[tokio::test]
async fn a_scim_only_token_is_403() {
    let realm = Realm::new();
    let reply = Native::bearer(&realm.cohort.base, &realm.scim_token)
        .get("/realm")
        .await;
    assert_error(&reply, 403, "forbidden", None);
    let events = token(&realm, "events", "events").await;
    let reply = Native::bearer(&realm.cohort.base, &events)
        .get("/realm")
        .await;
    assert_error(&reply, 403, "forbidden", None);
}

#[tokio::test]
async fn a_revoked_token_is_401() {
    let realm = Realm::new();
    let secret = token(&realm, "auditor", "audit:read").await;
    let client = Native::bearer(&realm.cohort.base, &secret);
    assert_eq!(client.get("/realm").await.status, 200);
    let out = realm.cohort.cli(&["token", "revoke", "auditor"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The test server polls every 50 ms.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let reply = client.get("/realm").await;
        if reply.status == 401 {
            assert_unauthorized(&reply);
            break;
        }
        assert_eq!(reply.status, 200, "{}", reply.body);
        assert!(Instant::now() < deadline, "revoked token still accepted");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_unauthorized(&client.get("/realm").await);
}

#[tokio::test]
async fn a_token_opens_its_own_realm_only() {
    let realm = Realm::new();
    realm.cohort.cli_json(&[
        "realm",
        "add",
        "--name",
        "Other",
        "--owner-email",
        "other-owner@other.example",
        "--json",
    ]);
    let made = realm.cohort.cli_json(&[
        "token",
        "create",
        "--realm",
        "Other",
        "--scope",
        "audit:read",
        "--name",
        "theirs",
        "--json",
    ]);
    let theirs = Native::bearer(&realm.cohort.base, made["token"].as_str().unwrap());
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut reply = theirs.get("/realm").await;
    while reply.status == 401 {
        assert!(
            Instant::now() < deadline,
            "the other realm's token never worked"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
        reply = theirs.get("/realm").await;
    }
    assert_eq!(reply.ok(200)["name"], "Other");
    let mine = Native::basic(&realm.cohort.base, &realm.owner)
        .get("/realm")
        .await;
    assert_eq!(mine.ok(200)["name"], "Test");
    assert_ne!(mine.body["id"], reply.body["id"]);
}
