//! Rotating every credential on a running server, without a restart and
//! without a moment where the client has no working credential: realm API
//! tokens (a second token works beside the first, revoking the first ends
//! it at once), the IMKIT platform key (`cohort realm key rotate
//! --grace-secs`: the old key works until the grace ends, then never), and
//! a user's Zulip API key (`cohort user key`: the new key works as soon as
//! the server has the commit, the old one stops with it). Webhook signing
//! secrets are rotated with both signatures sent in the overlap in
//! `tests/native/webhooks.rs`
//! (`a_rotation_signs_with_both_secrets_until_the_old_one_expires`).

mod common;

use common::Realm;
use serde_json::Value;
use std::time::{Duration, Instant};

/// Poll `check` every 10 ms until it holds; panics after 10 s.
async fn until<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(10);
    while !check().await {
        assert!(Instant::now() < deadline, "never: {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn scim_status(http: &reqwest::Client, base: &str, token: &str) -> u16 {
    http.get(format!("{base}/scim/v2/Users?count=1"))
        .bearer_auth(token)
        .send()
        .await
        .expect("request")
        .status()
        .as_u16()
}

async fn imkit_status(http: &reqwest::Client, base: &str, key: &str) -> u16 {
    http.get(format!("{base}/admin/groups"))
        .header("IM-API-KEY", key)
        .send()
        .await
        .expect("request")
        .status()
        .as_u16()
}

#[tokio::test]
async fn tokens_rotate_with_an_overlap_and_revoke_at_once() {
    let realm = Realm::new();
    let http = reqwest::Client::new();
    let base = realm.cohort.base.clone();
    let old = realm.scim_token.clone();
    assert_eq!(scim_status(&http, &base, &old).await, 200);
    let made = realm.cohort.cli_json(&[
        "token",
        "create",
        "--scope",
        "scim",
        "--name",
        "scim-next",
        "--json",
    ]);
    let new = made["token"].as_str().expect("a token").to_string();
    // Until the server has the new token, the old one keeps working; once it
    // has it, both do.
    until("the new token works", || async {
        let now_new = scim_status(&http, &base, &new).await;
        assert_eq!(
            scim_status(&http, &base, &old).await,
            200,
            "the old token stopped"
        );
        now_new == 200
    })
    .await;
    let revoked = realm.cohort.cli(&["token", "revoke", "scim"]);
    assert!(revoked.status.success(), "{revoked:?}");
    until("the revoked token is refused", || async {
        let refused = scim_status(&http, &base, &old).await == 401;
        assert_eq!(
            scim_status(&http, &base, &new).await,
            200,
            "the new token stopped"
        );
        refused
    })
    .await;
    // And stays refused.
    for _ in 0..5 {
        assert_eq!(scim_status(&http, &base, &old).await, 401);
    }
}

#[tokio::test]
async fn the_platform_key_rotates_with_a_grace_period() {
    let realm = Realm::new();
    let http = reqwest::Client::new();
    let base = realm.cohort.base.clone();
    let first = realm.platform_key.clone();
    assert_eq!(imkit_status(&http, &base, &first).await, 200);

    // Too long a grace is refused, and nothing changes.
    let refused = realm
        .cohort
        .cli(&["realm", "key", "rotate", "--grace-secs", "604801", "--json"]);
    assert!(!refused.status.success());
    let words = String::from_utf8_lossy(&refused.stderr);
    assert!(words.contains("604800"), "{words}");
    assert_eq!(imkit_status(&http, &base, &first).await, 200);

    let grace = 3;
    let rotated = Instant::now();
    let out = realm.cohort.cli_json(&[
        "realm",
        "key",
        "rotate",
        "--grace-secs",
        &grace.to_string(),
        "--json",
    ]);
    let second = out["platform_key"].as_str().expect("a key").to_string();
    assert!(out["old_key_until"].is_string(), "{out}");
    until("the new platform key works", || async {
        let ok = imkit_status(&http, &base, &second).await == 200;
        if rotated.elapsed() < Duration::from_secs(grace - 1) {
            assert_eq!(
                imkit_status(&http, &base, &first).await,
                200,
                "the old key stopped early"
            );
        }
        ok
    })
    .await;
    // Both work within the grace period …
    assert!(
        rotated.elapsed() < Duration::from_secs(grace - 1),
        "the test was too slow"
    );
    assert_eq!(imkit_status(&http, &base, &first).await, 200);
    // … and after it only the new one, without a restart.
    tokio::time::sleep(Duration::from_secs(grace) + Duration::from_millis(200)).await;
    assert_eq!(imkit_status(&http, &base, &first).await, 401);
    assert_eq!(imkit_status(&http, &base, &second).await, 200);

    // A rotation without grace ends the previous key at once.
    let out = realm.cohort.cli_json(&["realm", "key", "rotate", "--json"]);
    let third = out["platform_key"].as_str().expect("a key").to_string();
    assert!(out["old_key_until"].is_null(), "{out}");
    until(
        "the newest key works and the previous one stopped",
        || async {
            imkit_status(&http, &base, &third).await == 200
                && imkit_status(&http, &base, &second).await == 401
        },
    )
    .await;
    assert_eq!(imkit_status(&http, &base, &first).await, 401);

    // Each rotation is in the audit trail, never with a key.
    let audit: Value = http
        .get(format!("{base}/cohort/v1/audit?type=realm.updated"))
        .basic_auth(&realm.owner.email, Some(&realm.owner.key))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let text = audit.to_string();
    let rotations = audit["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["field"] == "platform_key")
        .count();
    // `init` set the first key; then the two rotations.
    assert_eq!(rotations, 3, "{audit}");
    for key in [&first, &second, &third] {
        assert!(!text.contains(key.as_str()), "a key in the audit: {text}");
    }
}

#[tokio::test]
async fn a_users_api_key_is_replaced_on_the_running_server() {
    let realm = Realm::new();
    let old = realm.member.clone();
    assert_eq!(realm.api(&old).get("/users/me", &[]).await.0, 200);
    let out = realm
        .cohort
        .cli_json(&["user", "key", "--email", &old.email, "--json"]);
    let new = common::Account {
        key: out["api_key"].as_str().expect("a key").to_string(),
        ..old.clone()
    };
    until("the new key works", || async {
        realm.api(&new).get("/users/me", &[]).await.0 == 200
    })
    .await;
    // The old key stopped with the same commit.
    assert_eq!(realm.api(&old).get("/users/me", &[]).await.0, 401);
}
