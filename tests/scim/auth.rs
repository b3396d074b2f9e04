//! Authentication and tenancy (`scim/mod.rs` `ScimClient`, RFC 7644 §2,
//! RFC 6750): a realm API token with the `scim` scope, sent as `Bearer`.
//! Anything else is 401 with `WWW-Authenticate: Bearer` and a SCIM error
//! body; a token without `scim` is 403; a revoked token stops working at
//! once (as soon as the server has seen the revocation, within its poll
//! interval); a token opens its own realm only.

use super::*;
use std::time::Instant;

#[track_caller]
fn assert_unauthorized(reply: &Reply) {
    assert_scim_error(reply, 401, None);
    assert!(
        reply
            .header("www-authenticate")
            .is_some_and(|v| v.starts_with("Bearer")),
        "WWW-Authenticate: {:?}",
        reply.header("www-authenticate")
    );
}

#[tokio::test]
async fn missing_bad_or_basic_credentials_are_401_with_bearer_challenge() {
    let realm = Realm::new();
    let base = &realm.cohort.base;
    let before = world(&realm).await;
    let basic = format!(
        "Basic {}",
        base64_encode(&format!("{}:{}", realm.owner.email, realm.owner.key))
    );
    for authorization in [
        None,
        Some("Bearer cohort_not_a_real_token".to_string()),
        Some("Bearer".to_string()),
        Some(realm.scim_token.clone()),
        Some(basic),
    ] {
        let scim = Scim::with_authorization(base, authorization.clone());
        assert_unauthorized(&scim.get("/Users", &[]).await);
        assert_unauthorized(&scim.get("/ServiceProviderConfig", &[]).await);
        let created = scim
            .post(
                "/Users",
                j!({"schemas": [USER_URN], "userName": "intruder"}),
            )
            .await;
        assert_unauthorized(&created);
    }
    assert_eq!(world(&realm).await, before);
}

/// Standard base64 (the tests need it for one header only).
fn base64_encode(text: &str) -> String {
    const TABLE: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let bytes = text.as_bytes();
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().fold(0u32, |n, b| (n << 8) | u32::from(*b)) << (8 * (3 - chunk.len()));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(TABLE[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[tokio::test]
async fn token_without_scim_scope_is_403() {
    let realm = Realm::new();
    let made = realm.cohort.cli_json(&[
        "token",
        "create",
        "--scope",
        "audit:read",
        "--name",
        "auditor",
        "--json",
    ]);
    let scim = Scim::with_token(&realm.cohort.base, made["token"].as_str().unwrap());
    // The server learns of CLI-made tokens by polling the store (50 ms).
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut reply = scim.get("/Users", &[]).await;
    while reply.status == 401 {
        assert!(
            Instant::now() < deadline,
            "the new token never became known"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
        reply = scim.get("/Users", &[]).await;
    }
    let before = world(&realm).await;
    assert_scim_error(&reply, 403, None);
    let created = scim
        .post(
            "/Users",
            j!({"schemas": [USER_URN], "userName": "auditor-made"}),
        )
        .await;
    assert_scim_error(&created, 403, None);
    assert_eq!(world(&realm).await, before);
}

#[tokio::test]
async fn revoked_token_is_refused_within_the_poll_interval() {
    let realm = Realm::new();
    let made = realm.cohort.cli_json(&[
        "token", "create", "--scope", "scim", "--name", "okta", "--json",
    ]);
    let token = made["token"].as_str().unwrap();
    let scim = Scim::with_token(&realm.cohort.base, token);
    // The server learns of CLI-made tokens by polling the store too.
    let deadline = Instant::now() + Duration::from_secs(5);
    while scim.get("/Users", &[]).await.status != 200 {
        assert!(Instant::now() < deadline, "the new token never worked");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    let out = realm.cohort.cli(&["token", "revoke", "okta"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let revoked = Instant::now();
    // Bounded: the test server polls every 50 ms.
    loop {
        let reply = scim.get("/Users", &[]).await;
        if reply.status == 401 {
            assert_unauthorized(&reply);
            break;
        }
        assert_eq!(reply.status, 200, "{}", reply.body);
        assert!(
            revoked.elapsed() < Duration::from_secs(2),
            "revoked token still accepted after {:?}",
            revoked.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert!(revoked.elapsed() < Duration::from_millis(1000));
    // And it stays refused; the realm's own token still works.
    assert_unauthorized(&scim.get("/Groups", &[]).await);
    assert_eq!(Scim::new(&realm).get("/Users", &[]).await.status, 200);
}

#[tokio::test]
async fn another_realms_token_sees_nothing_of_this_realm() {
    let realm = Realm::new();
    let mine = Scim::new(&realm);
    let user = mine.user("alice").await;
    let group = mine.group("Alice's team", &[&user]).await;

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
        "token", "create", "--realm", "Other", "--scope", "scim", "--name", "other", "--json",
    ]);
    let theirs = Scim::with_token(&realm.cohort.base, made["token"].as_str().unwrap());
    let deadline = Instant::now() + Duration::from_secs(5);
    while theirs.get("/Users", &[]).await.status != 200 {
        assert!(
            Instant::now() < deadline,
            "the other realm's token never worked"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let before = world(&realm).await;

    assert_scim_error(&theirs.get(&format!("/Users/{user}"), &[]).await, 404, None);
    assert_scim_error(
        &theirs.get(&format!("/Groups/{group}"), &[]).await,
        404,
        None,
    );
    let users = theirs.get("/Users", &[]).await;
    assert!(!users.ids().contains(&user), "{}", users.body);
    let names: Vec<&str> = users.body["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["userName"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["other-owner@other.example"]);
    assert!(!theirs.get("/Groups", &[]).await.ids().contains(&group));
    assert_eq!(
        theirs
            .filter("/Users", "userName eq \"alice@idp.example\"")
            .await
            .body["totalResults"],
        0
    );
    // Writes to this realm's ids are 404 too, and change nothing.
    assert_scim_error(
        &theirs
            .patch(
                &format!("/Groups/{group}"),
                j!([{"op": "replace", "path": "displayName", "value": "Stolen"}]),
            )
            .await,
        404,
        None,
    );
    assert_scim_error(&theirs.delete(&format!("/Users/{user}")).await, 404, None);
    // This realm's user named as a member there names nothing there: it is
    // dropped (`input.rs`: ids naming nothing are ignored), not joined.
    let theirs_group = theirs
        .post(
            "/Groups",
            j!({"schemas": [GROUP_URN], "displayName": "Theirs", "members": [{"value": user}]}),
        )
        .await;
    let body = theirs_group.ok(201);
    assert!(body.get("members").is_none_or(|m| m == &j!([])), "{body}");
    let mut after = world(&realm).await;
    let mut before = before;
    // Only the other realm's row of `realm list` may differ (it did nothing either).
    after["realms"] = Value::Null;
    before["realms"] = Value::Null;
    assert_eq!(after, before);
    assert_eq!(mine.members(&group).await, vec![user.clone()]);
}
