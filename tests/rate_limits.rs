//! Rate limits over real HTTP: each face refuses in its own format with
//! `Retry-After`, a refused request changes nothing, credentials and
//! addresses have their own buckets, and a realm may set its own rate.

mod common;

use common::*;
use reqwest::header::HeaderMap;
use serde_json::Value;

fn header(headers: &HeaderMap, name: &str) -> Option<u64> {
    headers.get(name)?.to_str().ok()?.parse().ok()
}

fn version(cohort: &Cohort) -> i64 {
    cohort.realms()[0]["version"].as_i64().expect("a version")
}

async fn create_group(realm: &Realm, who: &Account, name: &str) -> (u16, HeaderMap, Value) {
    let response = reqwest::Client::new()
        .post(realm.cohort.url("/api/v1/user_groups/create"))
        .basic_auth(&who.email, Some(&who.key))
        .form(&[
            ("name", name.to_string()),
            ("description", String::new()),
            ("members", json([who.id])),
        ])
        .send()
        .await
        .expect("request");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    (status, headers, response.json().await.expect("json"))
}

async fn group_names(realm: &Realm, who: &Account) -> Vec<String> {
    let (status, body) = realm.api(who).get("/user_groups", &[]).await;
    assert_eq!(status, 200, "{body}");
    body["user_groups"]
        .as_array()
        .expect("groups")
        .iter()
        .filter_map(|g| g["name"].as_str().map(str::to_string))
        .collect()
}

#[tokio::test]
async fn zulip_refuses_past_the_limit_as_zulip_does_and_the_refused_write_does_nothing() {
    let realm = Realm::with_server_args(&["--rate-limit", "5/60s"]);
    let before = version(&realm.cohort);
    let started = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    for n in 0..5u64 {
        let (status, headers, body) = create_group(&realm, &realm.owner, &format!("g{n}")).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(header(&headers, "x-ratelimit-limit"), Some(5));
        assert_eq!(header(&headers, "x-ratelimit-remaining"), Some(4 - n));
        let reset = header(&headers, "x-ratelimit-reset").expect("a reset time");
        assert!(reset >= started && reset <= started + 61, "reset {reset}");
    }
    let (status, headers, body) = create_group(&realm, &realm.owner, "refused").await;
    assert_eq!(status, 429, "{body}");
    assert_eq!(body["result"], "error");
    assert_eq!(body["code"], "RATE_LIMIT_HIT");
    assert_eq!(body["msg"], "API usage exceeded rate limit");
    // One request per 12 s refills a bucket of 5 per minute.
    let retry = body["retry-after"]
        .as_f64()
        .expect("retry-after in seconds");
    assert!(retry > 10.0 && retry <= 12.0, "retry-after {retry}");
    assert_eq!(header(&headers, "retry-after"), Some(12));
    assert_eq!(header(&headers, "x-ratelimit-limit"), Some(5));
    assert_eq!(header(&headers, "x-ratelimit-remaining"), Some(0));
    // The refused create did nothing: five commits, five groups.
    assert_eq!(version(&realm.cohort), before + 5);
    let names = group_names(&realm, &realm.member).await;
    assert!(names.iter().any(|n| n == "g4"), "{names:?}");
    assert!(!names.iter().any(|n| n == "refused"), "{names:?}");
    // Reads by the same key are refused too; another user has a bucket of
    // their own.
    let (status, _) = realm.api(&realm.owner).get("/users/me", &[]).await;
    assert_eq!(status, 429);
    let (status, _, body) = create_group(&realm, &realm.admin, "admins").await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn every_face_refuses_in_its_own_format() {
    let realm = Realm::with_server_args(&["--rate-limit", "2/60s"]);
    let http = reqwest::Client::new();
    let url = |path: &str| realm.cohort.url(path);

    // IMKIT, by platform key.
    let imkit = || {
        http.get(url("/admin/groups"))
            .header("IM-API-KEY", &realm.platform_key)
    };
    for _ in 0..2 {
        assert_eq!(imkit().send().await.expect("imkit").status(), 200);
    }
    let refused = imkit().send().await.expect("imkit");
    assert_eq!(refused.status(), 429);
    assert!(header(refused.headers(), "retry-after").is_some_and(|s| s >= 1));
    let body: Value = refused.json().await.expect("json");
    assert_eq!(body["RC"], 429, "{body}");
    assert_eq!(body["error"]["code"], "RATE_LIMIT_EXCEEDED", "{body}");
    assert_eq!(body["retryAfter"], 30, "{body}");

    // SCIM, by token.
    let scim = || {
        http.get(url("/scim/v2/Groups"))
            .bearer_auth(&realm.scim_token)
    };
    for _ in 0..2 {
        assert_eq!(scim().send().await.expect("scim").status(), 200);
    }
    let refused = scim().send().await.expect("scim");
    assert_eq!(refused.status(), 429);
    assert_eq!(header(refused.headers(), "retry-after"), Some(30));
    assert_eq!(
        refused.headers()["content-type"],
        "application/scim+json",
        "SCIM's media type"
    );
    let body: Value = refused.json().await.expect("json");
    assert_eq!(
        body["schemas"],
        serde_json::json!(["urn:ietf:params:scim:api:messages:2.0:Error"])
    );
    assert_eq!(body["status"], "429", "{body}");

    // The native API, by the admin's key (the owner's bucket is untouched).
    let native = || {
        http.get(url("/cohort/v1/realm"))
            .basic_auth(&realm.admin.email, Some(&realm.admin.key))
    };
    for _ in 0..2 {
        assert_eq!(native().send().await.expect("native").status(), 200);
    }
    let refused = native().send().await.expect("native");
    assert_eq!(refused.status(), 429);
    assert!(refused.headers().contains_key("retry-after"));
    let body: Value = refused.json().await.expect("json");
    assert_eq!(body["code"], "rate_limited", "{body}");

    // The admin page, by session: a page in words.
    let key = String::from_utf8(
        realm
            .cohort
            .cli(&["login-link", "--email", &realm.member.email])
            .stdout,
    )
    .expect("utf-8");
    let key = key.trim().rsplit('/').next().expect("a key").to_string();
    let no_redirects = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let signed = no_redirects
        .post(url(&format!("/ui/login/{key}")))
        .header("origin", realm.cohort.url(""))
        .header("sec-fetch-site", "same-origin")
        .send()
        .await
        .expect("sign in");
    assert_eq!(signed.status(), 303);
    let cookie = signed.headers()["set-cookie"]
        .to_str()
        .expect("cookie")
        .split(';')
        .next()
        .expect("name=value")
        .to_string();
    let page = || {
        no_redirects
            .get(url("/ui/groups"))
            .header("cookie", &cookie)
    };
    for _ in 0..2 {
        assert_eq!(page().send().await.expect("page").status(), 200);
    }
    let refused = page().send().await.expect("page");
    assert_eq!(refused.status(), 429);
    assert!(refused.headers().contains_key("retry-after"));
    let html = refused.text().await.expect("html");
    assert!(html.contains("Too many requests"), "{html}");
}

#[tokio::test]
async fn failed_authentication_and_open_pages_are_charged_to_the_address() {
    let realm = Realm::with_server_args(&["--rate-limit-anonymous", "3/60s"]);
    let http = reqwest::Client::new();
    let wrong = Account {
        id: realm.owner.id,
        email: realm.owner.email.clone(),
        key: "x".repeat(32),
    };
    for _ in 0..3 {
        let (status, body) = realm.api(&wrong).get("/users/me", &[]).await;
        assert_eq!(status, 401, "{body}");
    }
    // The fourth guess is refused before the key is even looked at.
    let got = realm.api(&wrong).get("/users/me", &[]).await;
    assert_eq!(got.0, 429, "{}", got.1);
    assert_eq!(got.1["code"], "RATE_LIMIT_HIT");
    // Every other face's failures and open pages share the address's bucket.
    let imkit = http
        .get(realm.cohort.url("/admin/groups"))
        .header("IM-API-KEY", "forged")
        .send()
        .await
        .expect("imkit");
    assert_eq!(imkit.status(), 429);
    let body: Value = imkit.json().await.expect("json");
    assert_eq!(body["error"]["code"], "RATE_LIMIT_EXCEEDED");
    let login = http
        .get(realm.cohort.url("/ui/login"))
        .send()
        .await
        .expect("login page");
    assert_eq!(login.status(), 429);
    assert!(login
        .text()
        .await
        .expect("html")
        .contains("Too many requests"));
    let probe = http
        .get(realm.cohort.url("/healthz"))
        .send()
        .await
        .expect("healthz");
    assert_eq!(probe.status(), 429);
    // A valid key pays into its own bucket, not the address's.
    let (status, body) = realm.api(&realm.owner).get("/users/me", &[]).await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn a_realm_sets_its_own_rate_and_the_change_is_audited() {
    let realm = Realm::new();
    let out = realm.cohort.cli(&["realm", "set", "--rate-limit", "2/1h"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The server picks the setting up from the store like any commit.
    let http = reqwest::Client::new();
    let imkit = || {
        http.get(realm.cohort.url("/admin/groups"))
            .header("IM-API-KEY", &realm.platform_key)
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let mut statuses = Vec::new();
    loop {
        let status = imkit().send().await.expect("imkit").status().as_u16();
        statuses.push(status);
        if status == 429 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the realm's rate never applied: {statuses:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let refused = imkit().send().await.expect("imkit");
    assert_eq!(header(refused.headers(), "x-ratelimit-limit"), Some(2));
    assert_eq!(
        header(refused.headers(), "retry-after").map(|s| s > 1700),
        Some(true)
    );
    // Audited: who changed it, from what to what.
    let trail: Value = http
        .get(realm.cohort.url("/cohort/v1/audit?type=realm.updated"))
        .basic_auth(&realm.owner.email, Some(&realm.owner.key))
        .send()
        .await
        .expect("audit")
        .json()
        .await
        .expect("json");
    let events = trail["events"].as_array().expect("events");
    assert!(
        events.iter().any(|e| e["field"] == "rate_limit"
            && e["after"] == "2/3600s"
            && e["before"].is_null()),
        "{trail}"
    );
    // Back to the server's default; bad values are refused and change nothing.
    for bad in ["off", "0/60s", "5/2d", "many"] {
        let out = realm.cohort.cli(&["realm", "set", "--rate-limit", bad]);
        assert!(!out.status.success(), "{bad} was accepted");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("rate"),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let out = realm
        .cohort
        .cli(&["realm", "set", "--rate-limit", "default"]);
    assert!(out.status.success());
}

#[test]
fn bad_rate_flags_stop_the_server_with_a_reason() {
    let (cohort, _, _) = Cohort::init();
    for bad in ["--rate-limit=fast", "--rate-limit-anonymous=10/0s"] {
        let out = cohort.cli(&["serve", "--listen", "127.0.0.1:0", bad]);
        assert!(!out.status.success(), "{bad} was accepted");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("N/PERIOD") || stderr.contains("period"),
            "{stderr}"
        );
    }
}
