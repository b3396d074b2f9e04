//! Signing in and out: one-time links (used, reused, expired, forged),
//! the email + API key form, the session cookie, who is let in.

use super::*;

#[tokio::test]
async fn a_link_signs_in_once_and_the_cookie_is_locked_down() {
    let realm = Realm::new();
    let key = login_key(&realm.cohort, &realm.owner.email);
    let mut browser = Browser::new(&realm.cohort.url(""));

    // Opening the link only shows a button: a scanner's GET does not spend it.
    let shown = browser.get(&format!("/ui/login/{key}")).await;
    assert!(shown.ok().contains("Continue and sign in"));
    assert_eq!(shown.header("referrer-policy"), "same-origin");

    let opened = browser.post(&format!("/ui/login/{key}"), &[]).await;
    assert_eq!(opened.status, 303, "{}", opened.html);
    assert_eq!(opened.location(), "/ui/groups");
    let cookie = opened.header("set-cookie").to_string();
    for part in ["HttpOnly", "SameSite=Strict", "Path=/ui", "Max-Age="] {
        assert!(cookie.contains(part), "{part} missing from {cookie}");
    }
    assert!(!cookie.contains("Secure"), "plain HTTP: no Secure flag");
    browser.keep_cookie(&opened);
    let groups = browser.get("/ui/groups").await;
    assert!(
        groups.ok().contains("Olivia Owner"),
        "signed in as the owner"
    );

    // The same link again: refused, and no second session.
    let mut other = Browser::new(&realm.cohort.url(""));
    let again = other.post(&format!("/ui/login/{key}"), &[]).await;
    assert_eq!(again.status, 410);
    assert!(again.html.contains("already used"), "{}", again.html);
    assert!(again.header("set-cookie").is_empty());
    other.cookie = Some(key.clone());
    assert_eq!(
        other.get("/ui/groups").await.status,
        303,
        "a link key is no session key"
    );
}

#[tokio::test]
async fn expired_forged_and_malformed_links_are_refused() {
    let realm = Realm::new();
    let key = login_key(&realm.cohort, &realm.owner.email);
    realm
        .cohort
        .sql("UPDATE ui_login_links SET expires_at = created_at");
    let browser = Browser::new(&realm.cohort.url(""));
    let expired = browser.post(&format!("/ui/login/{key}"), &[]).await;
    assert_eq!(expired.status, 410);
    assert!(expired.html.contains("expired"), "{}", expired.html);

    let forged = "A".repeat(32);
    let page = browser.post(&format!("/ui/login/{forged}"), &[]).await;
    assert_eq!(page.status, 404);
    assert!(page.html.contains("not a valid sign-in link"));
    for bad in ["short", "%3Cscript%3E", &"x".repeat(5000)] {
        let page = browser.post(&format!("/ui/login/{bad}"), &[]).await;
        assert_eq!(page.status, 404, "{bad}");
        assert!(!page.html.contains("<script>"));
    }
}

#[tokio::test]
async fn the_key_form_signs_in_and_wrong_keys_do_not() {
    let realm = Realm::new();
    let mut browser = Browser::new(&realm.cohort.url(""));
    let wrong = browser
        .post(
            "/ui/login",
            &[("email", &realm.owner.email), ("api_key", &"x".repeat(32))],
        )
        .await;
    assert_eq!(wrong.status, 401);
    assert!(wrong.html.contains("do not match"));
    // Someone else's key with my email.
    let swapped = browser
        .post(
            "/ui/login",
            &[
                ("email", &realm.owner.email),
                ("api_key", &realm.member.key),
            ],
        )
        .await;
    assert_eq!(swapped.status, 401);

    let right = browser
        .post(
            "/ui/login",
            &[
                ("email", &realm.member.email.to_uppercase()),
                ("api_key", &realm.member.key),
                ("next", "/ui/people"),
            ],
        )
        .await;
    assert_eq!(right.status, 303, "{}", right.html);
    assert_eq!(right.location(), "/ui/people");
    browser.keep_cookie(&right);
    assert!(browser.get("/ui/people").await.ok().contains("Mia Member"));

    // `next` only ever leads to this face.
    for evil in [
        "https://evil.example/",
        "//evil.example/ui/",
        "/api/v1/users",
    ] {
        let page = Browser::new(&realm.cohort.url(""))
            .post(
                "/ui/login",
                &[
                    ("email", &realm.member.email),
                    ("api_key", &realm.member.key),
                    ("next", evil),
                ],
            )
            .await;
        assert_eq!(page.location(), "/ui/groups", "{evil}");
    }
}

#[tokio::test]
async fn guests_bots_and_deactivated_people_are_refused() {
    let realm = Realm::new();
    // No link is issued for a guest or a bot.
    for who in [&realm.guest, &realm.bot] {
        let out = realm.cohort.cli(&["login-link", "--email", &who.email]);
        assert!(!out.status.success(), "a link for {}", who.email);
    }
    for who in [&realm.guest, &realm.bot] {
        let page = Browser::new(&realm.cohort.url(""))
            .post("/ui/login", &[("email", &who.email), ("api_key", &who.key)])
            .await;
        assert_eq!(page.status, 401, "{}: {}", who.email, page.html);
        assert!(page.header("set-cookie").is_empty());
    }
    // A session ends at once when its user is deactivated.
    let browser = signed_in(&realm, &realm.member).await;
    assert_eq!(browser.get("/ui/groups").await.status, 200);
    let out = realm.cohort.cli(&[
        "user",
        "set",
        "--email",
        &realm.member.email,
        "--deactivated",
        "true",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The server hears of the CLI's write within its poll interval.
    let mut page = browser.get("/ui/groups").await;
    for _ in 0..100 {
        if page.status != 200 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        page = browser.get("/ui/groups").await;
    }
    assert_eq!(page.status, 403, "{}", page.html);
    assert!(page.html.contains("deactivated"), "{}", page.html);
}

#[tokio::test]
async fn signing_out_ends_the_session_everywhere() {
    let realm = Realm::new();
    let browser = signed_in(&realm, &realm.owner).await;
    let page = browser.get("/ui/groups").await;
    // Without the token, signing out is refused like any other write.
    let refused = browser.post("/ui/logout", &[]).await;
    assert_eq!(refused.status, 403);
    assert_eq!(browser.get("/ui/groups").await.status, 200);
    let out = browser.post("/ui/logout", &[("csrf", &page.csrf())]).await;
    assert_eq!(out.status, 303);
    assert!(out.location().starts_with("/ui/login"));
    assert!(out.header("set-cookie").contains("Max-Age=0"));
    // The old cookie opens nothing, on this node or after a restart.
    let after = browser.get("/ui/groups").await;
    assert_eq!(after.status, 303);
    assert!(after.location().starts_with("/ui/login?next="));
}

#[tokio::test]
async fn a_session_survives_a_restart_and_expires() {
    let mut realm = Realm::new();
    let browser = signed_in(&realm, &realm.owner).await;
    realm.cohort.restart_in_place();
    assert_eq!(
        browser.get("/ui/groups").await.status,
        200,
        "kept across a restart"
    );
    realm
        .cohort
        .sql("UPDATE ui_sessions SET expires_at = created_at");
    let page = browser.get("/ui/groups?q=x").await;
    assert_eq!(page.status, 303);
    assert_eq!(page.location(), "/ui/login?next=%2Fui%2Fgroups%3Fq%3Dx");
}

#[tokio::test]
async fn the_cookie_is_secure_when_cohort_is_reached_over_https() {
    let realm = Realm::with_server_args(&["--public-url", "https://cohort.example"]);
    let key = login_key(&realm.cohort, &realm.owner.email);
    let page = Browser::new(&realm.cohort.url(""))
        .post(&format!("/ui/login/{key}"), &[])
        .await;
    assert_eq!(page.status, 303);
    assert!(
        page.header("set-cookie").contains("; Secure"),
        "{}",
        page.header("set-cookie")
    );
    // A trusted proxy terminating TLS says so (from anyone else the header
    // is ignored: tests/proxy.rs).
    let plain = Realm::with_server_args(&["--trusted-proxy", "127.0.0.1"]);
    let key = login_key(&plain.cohort, &plain.owner.email);
    let page = Browser::new(&plain.cohort.url(""))
        .post_raw(
            &format!("/ui/login/{key}"),
            &[("x-forwarded-proto", "https")],
            String::new(),
        )
        .await;
    assert!(page.header("set-cookie").contains("; Secure"));
}
