//! Bad input, each refused with a page saying why and nothing changed:
//! forged and missing CSRF tokens, other sites' forms, another realm's
//! ids, a member's admin action, huge inputs, double submits.

use super::*;

#[tokio::test]
async fn forged_missing_and_cross_site_writes_change_nothing() {
    let realm = Realm::new();
    let browser = signed_in(&realm, &realm.owner).await;
    let csrf = browser.get("/ui/groups").await.csrf();
    let before = version(&realm);
    let forged = "B".repeat(32);
    for (label, fields) in [
        ("missing", vec![("name", "Sneaky")]),
        (
            "forged",
            vec![("csrf", forged.as_str()), ("name", "Sneaky")],
        ),
        ("empty", vec![("csrf", ""), ("name", "Sneaky")]),
    ] {
        let page = browser.post("/ui/groups", &fields).await;
        assert_eq!(page.status, 403, "{label}: {}", page.html);
        assert!(
            page.html.contains("security token"),
            "{label}: {}",
            page.html
        );
    }
    // Another session's token is no good either.
    let other = signed_in(&realm, &realm.admin).await;
    let theirs = other.get("/ui/groups").await.csrf();
    assert_ne!(theirs, csrf);
    let page = browser
        .post("/ui/groups", &[("csrf", &theirs), ("name", "Sneaky")])
        .await;
    assert_eq!(page.status, 403);
    // The right token from another site's page: refused before it is read.
    let body = format!("csrf={csrf}&name=Sneaky");
    for headers in [
        vec![("origin", "https://evil.example")],
        vec![("origin", "null")],
        vec![("origin", "null"), ("sec-fetch-site", "same-site")],
        vec![("origin", "null"), ("sec-fetch-site", "none")],
        vec![("sec-fetch-site", "cross-site")],
        vec![("sec-fetch-site", "same-site")],
    ] {
        let page = browser.post_raw("/ui/groups", &headers, body.clone()).await;
        assert_eq!(page.status, 403, "{headers:?}: {}", page.html);
    }
    // The login forms check where they come from too.
    let key = login_key(&realm.cohort, &realm.owner.email);
    let page = Browser::new(&realm.cohort.url(""))
        .post_raw(
            &format!("/ui/login/{key}"),
            &[("origin", "https://evil.example")],
            String::new(),
        )
        .await;
    assert_eq!(page.status, 403);
    assert_eq!(version(&realm), before, "nothing was written");
    assert!(realm
        .all_groups()
        .await
        .to_string()
        .find("Sneaky")
        .is_none());
    // And the genuine form works.
    let page = browser
        .post("/ui/groups", &[("csrf", &csrf), ("name", "Genuine")])
        .await;
    assert_eq!(page.status, 303, "{}", page.html);
    // Also as Chromium sends it from a page served with
    // `Referrer-Policy: no-referrer`: `Origin: null`, `Sec-Fetch-Site: same-origin`.
    let page = browser
        .post_raw(
            "/ui/groups",
            &[("origin", "null"), ("sec-fetch-site", "same-origin")],
            format!("csrf={csrf}&name=Genuine+too"),
        )
        .await;
    assert_eq!(page.status, 303, "{}", page.html);
}

#[tokio::test]
async fn another_realms_ids_are_not_found_and_cannot_be_used() {
    let realm = Realm::new();
    let other = realm.cohort.cli_json(&[
        "realm",
        "add",
        "--name",
        "Other",
        "--owner-email",
        "o@other.example",
        "--json",
    ]);
    let other_owner = Account {
        id: other["user_id"].as_i64().unwrap_or(0),
        email: "o@other.example".into(),
        key: other["api_key"].as_str().expect("api_key").to_string(),
    };
    let other_api = realm.cohort.api(&other_owner);
    let mut theirs = None;
    for _ in 0..100 {
        let (status, body) = other_api
            .post(
                "/user_groups/create",
                &[
                    ("name", "Theirs".into()),
                    ("description", "secret".into()),
                    ("members", "[]".into()),
                ],
            )
            .await;
        if status == 200 {
            theirs = body["group_id"].as_i64();
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let theirs = theirs.expect("a group in the other realm");
    let users = realm
        .cohort
        .cli_json(&["user", "list", "--realm", "Other", "--json"]);
    let their_user = users[0]["user_id"].as_i64().unwrap();
    let mine = realm.create_group(&realm.owner, "Mine", &[]).await;

    let browser = signed_in(&realm, &realm.owner).await;
    for path in [
        format!("/ui/groups/{theirs}"),
        format!("/ui/people/{their_user}"),
    ] {
        let page = browser.get(&path).await;
        assert_eq!(page.status, 404, "{path}");
        assert!(!page.html.contains("secret") && !page.html.contains("Theirs"));
    }
    let csrf = browser.get("/ui/groups").await.csrf();
    let before = realm.cohort.realms();
    let page = browser
        .post(
            &format!("/ui/groups/{theirs}/name"),
            &[("csrf", &csrf), ("name", "Taken")],
        )
        .await;
    assert_eq!(page.status, 404);
    let page = browser
        .post(
            &format!("/ui/groups/{mine}/members"),
            &[("csrf", &csrf), ("add_user", &their_user.to_string())],
        )
        .await;
    assert_eq!(page.status, 400, "{}", page.html);
    assert!(page.html.contains("cannot be a member"), "{}", page.html);
    let page = browser
        .post(
            &format!("/ui/groups/{mine}/members"),
            &[("csrf", &csrf), ("add_group", &theirs.to_string())],
        )
        .await;
    assert_eq!(page.status, 400, "{}", page.html);
    assert_eq!(realm.cohort.realms(), before, "no realm moved");
    assert!(!browser.get("/ui/groups").await.html.contains("Theirs"));
}

#[tokio::test]
async fn a_member_trying_an_admin_action_is_told_why_and_nothing_changes() {
    let realm = Realm::new();
    let group = realm
        .create_group(&realm.owner, "Locked", &[realm.member.id])
        .await;
    let member = signed_in(&realm, &realm.member).await;
    let from = format!("/ui/groups/{group}");
    let before = version(&realm);
    let admin_user = realm.admin.id.to_string();
    for (action, fields) in [
        ("name", vec![("name", "Mine now")]),
        ("description", vec![("description", "mine")]),
        ("deactivate", vec![]),
        ("members", vec![("add_user", admin_user.as_str())]),
        (
            "settings",
            vec![
                ("setting", "can_manage_group"),
                ("old", "g:1"),
                ("new", "g:1"),
            ],
        ),
    ] {
        let page = member
            .submit(&from, &format!("/ui/groups/{group}/{action}"), &fields)
            .await;
        assert!(
            page.status == 403 || page.status == 400,
            "{action}: {} {}",
            page.status,
            page.html
        );
        assert!(
            page.html.contains("not allowed") || page.html.contains("changed this setting"),
            "{action}: the page says why: {}",
            page.html
        );
    }
    assert_eq!(version(&realm), before, "nothing was written");
    assert_eq!(realm.group(group).await["name"], "Locked");
}

#[tokio::test]
async fn huge_inputs_are_refused_whole() {
    let realm = Realm::new();
    let browser = signed_in(&realm, &realm.owner).await;
    let before = version(&realm);
    let long = "n".repeat(10_000);
    let page = browser.get(&format!("/ui/groups?q={long}")).await;
    assert_eq!(page.status, 400);
    assert!(page.html.contains("at most 200 characters"));
    let page = browser.get(&format!("/ui/people?q={long}")).await;
    assert_eq!(page.status, 400);
    let page = browser
        .submit(
            "/ui/groups",
            "/ui/groups",
            &[("name", &long), ("description", "x")],
        )
        .await;
    assert_eq!(page.status, 400, "{}", page.html);
    assert!(page.html.contains("longer than"), "{}", page.html);
    let group = realm.create_group(&realm.owner, "Target", &[]).await;
    let huge_description = "d".repeat(100_000);
    let page = browser
        .submit(
            &format!("/ui/groups/{group}"),
            &format!("/ui/groups/{group}/description"),
            &[("description", &huge_description)],
        )
        .await;
    assert_eq!(page.status, 400, "{}", page.html);
    // More ids than a form may carry, and a body over the limit.
    let csrf = browser.get("/ui/groups").await.csrf();
    let ids: Vec<String> = (0..1001).map(|i| i.to_string()).collect();
    let mut fields = vec![("csrf", csrf.as_str())];
    fields.extend(ids.iter().map(|i| ("add_user", i.as_str())));
    let page = browser
        .post(&format!("/ui/groups/{group}/members"), &fields)
        .await;
    assert_eq!(page.status, 400);
    assert!(page.html.contains("At most 1000"), "{}", page.html);
    let body = format!("csrf={csrf}&description={}", "x".repeat(2 * 1024 * 1024));
    let page = browser
        .post_raw(&format!("/ui/groups/{group}/description"), &[], body)
        .await;
    assert!(page.status == 400 || page.status == 413, "{}", page.status);
    let page = browser
        .post(
            &format!("/ui/groups/{group}/members"),
            &[("csrf", &csrf), ("add_user", "12abc")],
        )
        .await;
    assert_eq!(page.status, 400);
    assert_eq!(
        version(&realm),
        before + 1,
        "only the group made for the test"
    );
}

#[tokio::test]
async fn a_double_submit_is_applied_once() {
    let realm = Realm::new();
    let browser = signed_in(&realm, &realm.owner).await;
    let group = realm.create_group(&realm.owner, "Once", &[]).await;
    let csrf = browser.get("/ui/groups").await.csrf();
    let add = [
        ("csrf", csrf.as_str()),
        ("add_user", &*realm.member.id.to_string()),
    ];
    let path = format!("/ui/groups/{group}/members");
    let before = version(&realm);
    let (first, second) = tokio::join!(browser.post(&path, &add), browser.post(&path, &add));
    let mut statuses = [first.status, second.status];
    statuses.sort();
    assert_eq!(statuses, [303, 409], "{} / {}", first.html, second.html);
    let refused = if first.status == 409 { &first } else { &second };
    assert!(
        refused.html.contains("already a member"),
        "{}",
        refused.html
    );
    assert_eq!(version(&realm), before + 1);

    // Creating twice: the second is refused by name.
    let create = [("csrf", csrf.as_str()), ("name", "Twice")];
    let one = browser.post("/ui/groups", &create).await;
    let two = browser.post("/ui/groups", &create).await;
    assert_eq!((one.status, two.status), (303, 409), "{}", two.html);
    assert!(two.html.contains("already exists"));
    // The refused form keeps what was typed.
    assert!(two.html.contains(r#"value="Twice""#));
}
