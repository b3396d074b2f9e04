//! What the pages show: the group list (search, sort, keyset paging,
//! counts, system and deactivated groups), a group's effective members
//! with `via`, a person's groups, the actions each role is offered, live
//! updates, and that every name is text, never markup.

use super::*;

/// Every group name on a list page, in order.
fn names_on(html: &str) -> Vec<String> {
    html.split(r#"<th scope="row"><a href="/ui/groups/"#)
        .skip(1)
        .map(|rest| {
            let start = rest.find('>').expect("link text") + 1;
            let end = rest.find("</a>").expect("end of link");
            rest[start..end].to_string()
        })
        .collect()
}

/// The `href` of the link with `rel` (the pager's next page).
fn next_link(html: &str) -> Option<String> {
    let at = html.find(r#"rel="next""#)?;
    let before = &html[..at];
    let href = before.rfind("href=\"")? + 6;
    let end = before[href..].find('"')? + href;
    Some(before[href..end].replace("&amp;", "&"))
}

#[tokio::test]
async fn the_group_list_searches_sorts_and_pages_without_gaps() {
    let realm = Realm::new();
    let api = realm.api(&realm.owner);
    for i in 0..120 {
        realm
            .create_group(&realm.owner, &format!("Team {i:03}"), &[realm.member.id])
            .await;
    }
    let (status, _) = api
        .post(
            "/user_groups/create",
            &[
                ("name", "Zeta".into()),
                ("description", "finance people".into()),
                ("members", "[]".into()),
            ],
        )
        .await;
    assert_eq!(status, 200);
    let browser = signed_in(&realm, &realm.owner).await;

    // Page through by name with the pager's links: every group once.
    let mut seen = Vec::new();
    let mut next = Some("/ui/groups?q=team".to_string());
    while let Some(url) = next {
        let page = browser.get(&url).await;
        let html = page.ok();
        seen.extend(names_on(html));
        next = next_link(html);
    }
    let expected: Vec<String> = (0..120).map(|i| format!("Team {i:03}")).collect();
    assert_eq!(seen, expected);

    // Descending, and by size; a search in descriptions too.
    let page = browser.get("/ui/groups?q=team&dir=desc&limit=3").await;
    assert_eq!(names_on(page.ok()), ["Team 119", "Team 118", "Team 117"]);
    let page = browser.get("/ui/groups?q=finance").await;
    assert_eq!(names_on(page.ok()), ["Zeta"]);
    let page = browser
        .get("/ui/groups?sort=members&dir=desc&limit=1")
        .await;
    // The system group with everyone in it comes first.
    assert!(page.ok().contains("system"), "{}", page.html);

    // System groups are marked; deactivated ones only on request.
    let list = browser.get("/ui/groups?q=role%3A").await;
    assert!(list.ok().contains(r#"<span class="badge">system</span>"#));
    let zeta = names_on(browser.get("/ui/groups?q=zeta").await.ok());
    assert_eq!(zeta, ["Zeta"]);

    // Sorted by the names shown (system groups by what they mean).
    let all = names_on(browser.get("/ui/groups?limit=500").await.ok());
    assert_eq!(all.len(), 121 + 8, "{all:?}");
    let mut sorted = all.clone();
    sorted.sort_by_key(|n| n.to_lowercase());
    assert_eq!(all, sorted);
    assert!(all.contains(&"Everyone on the internet".to_string()));

    for bad in [
        "sort=size",
        "dir=up",
        "limit=0",
        "limit=abc",
        "after=nonsense",
    ] {
        let page = browser.get(&format!("/ui/groups?{bad}")).await;
        assert_eq!(page.status, 400, "{bad}: {}", page.html);
    }
}

#[tokio::test]
async fn a_group_shows_effective_members_with_the_chain_that_puts_them_there() {
    let realm = Realm::new();
    let leaf = realm
        .create_group(&realm.owner, "Leaf", &[realm.member.id])
        .await;
    let middle = realm
        .create_group(&realm.owner, "Middle", &[realm.member2.id])
        .await;
    let top = realm
        .create_group(&realm.owner, "Top", &[realm.admin.id])
        .await;
    let api = realm.api(&realm.owner);
    for (parent, child) in [(middle, leaf), (top, middle)] {
        let (status, body) = api
            .post(
                &format!("/user_groups/{parent}/subgroups"),
                &[("add", format!("[{child}]"))],
            )
            .await;
        assert_eq!(status, 200, "{body}");
    }
    let browser = signed_in(&realm, &realm.owner).await;
    let page = browser.get(&format!("/ui/groups/{top}")).await;
    let html = page.ok();
    assert!(html.contains("3 of 3 effective members"), "{html}");
    // Mia is in Top through Middle, then Leaf.
    let mia = html.find("Mia Member").expect("Mia listed");
    let row_end = html[mia..].find("</tr>").unwrap() + mia;
    let row = &html[mia..row_end];
    assert!(row.contains("via "), "{row}");
    let middle_at = row.find(">Middle<").expect("via Middle");
    let leaf_at = row.find(">Leaf<").expect("then Leaf");
    assert!(middle_at < leaf_at, "{row}");
    let ada = html.find("Ada Admin").unwrap();
    assert!(html[ada..].find("direct").unwrap() < html[ada..].find("</tr>").unwrap());

    // Search and the direct-only filter.
    let only = browser.get(&format!("/ui/groups/{top}?show=direct")).await;
    assert!(only.ok().contains("1 of 3 effective members"));
    let search = browser.get(&format!("/ui/groups/{top}?mq=MAX")).await;
    assert!(search.ok().contains("Max Member"));
    assert!(!search.html.contains("Mia Member"));

    // A person's page: every group they reach, and how.
    let person = browser
        .get(&format!("/ui/people/{}", realm.member.id))
        .await;
    let html = person.ok();
    for name in ["Leaf", "Middle", "Top"] {
        assert!(
            html.contains(&format!(">{name}<")),
            "{name} missing: {html}"
        );
    }
}

#[tokio::test]
async fn three_people_added_in_one_action_are_one_change() {
    let realm = Realm::new();
    let group = realm.create_group(&realm.owner, "Crew", &[]).await;
    let browser = signed_in(&realm, &realm.owner).await;
    let from = format!("/ui/groups/{group}?add_q=member");
    let candidates = browser.get(&from).await;
    assert!(candidates.ok().contains("Mia Member"));
    let before = version(&realm);
    let ids = [realm.member.id, realm.member2.id, realm.moderator.id].map(|i| i.to_string());
    let done = browser
        .submit(
            &from,
            &format!("/ui/groups/{group}/members"),
            &[
                ("add_user", &ids[0]),
                ("add_user", &ids[1]),
                ("add_user", &ids[2]),
            ],
        )
        .await;
    assert_eq!(done.status, 303, "{}", done.html);
    assert_eq!(done.location(), format!("/ui/groups/{group}?done=members"));
    assert_eq!(version(&realm), before + 1, "one commit");
    let members = realm.group(group).await["members"].clone();
    assert_eq!(members.as_array().unwrap().len(), 3, "{members}");
    let page = browser.get(done.location()).await;
    assert!(page.ok().contains("Membership saved."));

    // The audit trail says it was the page, as the owner.
    let audit = audit(&realm, &format!("group={group}")).await;
    let added: Vec<&serde_json::Value> = audit["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["type"] == "group.member_added")
        .collect();
    let versions: std::collections::BTreeSet<i64> = added
        .iter()
        .map(|e| e["version"].as_i64().unwrap())
        .collect();
    assert_eq!(versions.len(), 1, "one commit: {audit}");
    let users: usize = added
        .iter()
        .map(|e| e["users"].as_array().unwrap().len())
        .sum();
    assert_eq!(users, 3, "{audit}");
    for event in &added {
        assert_eq!(event["actor"]["face"], "ui", "{event}");
        assert_eq!(event["actor"]["id"], realm.owner.id, "{event}");
    }
}

#[tokio::test]
async fn a_member_sees_no_admin_actions() {
    let realm = Realm::new();
    let group = realm
        .create_group(&realm.owner, "Owners only", &[realm.member.id])
        .await;
    let member = signed_in(&realm, &realm.member).await;
    let page = member.get(&format!("/ui/groups/{group}")).await;
    let html = page.ok();
    for action in [
        "/name\"",
        "/description\"",
        "/settings\"",
        "/deactivate\"",
        "Add members",
    ] {
        assert!(
            !html.contains(action),
            "{action} offered to a member: {html}"
        );
    }
    let owner = signed_in(&realm, &realm.owner).await;
    let html = owner.get(&format!("/ui/groups/{group}")).await.html;
    for action in [
        "/name\"",
        "/description\"",
        "/settings\"",
        "/deactivate\"",
        "Add members",
    ] {
        assert!(html.contains(action), "{action} not offered to the owner");
    }
}

#[tokio::test]
async fn names_and_descriptions_are_text_everywhere() {
    let realm = Realm::new();
    let evil = r#"<script>alert("x")</script><img src=x onerror=alert(1)>"#;
    let api = realm.api(&realm.owner);
    let (status, body) = api
        .post(
            "/user_groups/create",
            &[
                ("name", evil.into()),
                ("description", format!("{evil} \" ' & end")),
                ("members", format!("[{}]", realm.member.id)),
            ],
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let id = body["group_id"].as_i64().unwrap();
    let browser = signed_in(&realm, &realm.owner).await;
    for path in [
        "/ui/groups".to_string(),
        format!("/ui/groups/{id}"),
        format!("/ui/groups/{id}?add_q=max"),
        format!(
            "/ui/groups/{}?add_q=script",
            realm.create_group(&realm.owner, "Plain", &[]).await
        ),
        format!("/ui/people/{}", realm.member.id),
        "/ui/people".to_string(),
        "/ui/groups?q=%3Cscript%3E".to_string(),
    ] {
        let page = browser.get(&path).await;
        let html = page.ok();
        assert!(!html.contains("<script>alert"), "{path}: raw script");
        assert!(!html.contains("<img src=x"), "{path}: raw img");
        assert!(
            page.header("content-security-policy")
                .contains("script-src 'self'"),
            "{path}"
        );
    }
    let html = browser.get(&format!("/ui/groups/{id}")).await.html;
    assert!(
        html.contains("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;"),
        "{html}"
    );
}

#[tokio::test]
async fn a_page_hears_of_writes_from_other_faces() {
    let realm = Realm::new();
    let browser = signed_in(&realm, &realm.member).await;
    let page = browser.get("/ui/groups").await;
    let html = page.ok();
    let at = html
        .find("/ui/live?version=")
        .expect("the page follows the stream");
    let rest = &html[at..];
    let url = &rest[..rest.find('"').unwrap()];
    let client = reqwest::Client::new();
    let mut stream = client
        .get(realm.cohort.url(url))
        .header(
            COOKIE,
            format!("cohort_session={}", browser.cookie.as_ref().unwrap()),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), 200);
    assert_eq!(stream.headers()["content-type"], "text/event-stream");
    realm.create_group(&realm.owner, "From Zulip", &[]).await;
    let mut got = String::new();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !got.contains("event: version") {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        let chunk = tokio::time::timeout(left, stream.chunk())
            .await
            .expect("an event within 10 s")
            .unwrap()
            .expect("stream open");
        got.push_str(&String::from_utf8_lossy(&chunk));
    }
    // Without a session, no stream.
    let anonymous = Browser::new(&realm.cohort.url("")).get("/ui/live").await;
    assert_eq!(anonymous.status, 303);
}

#[tokio::test]
async fn the_root_leads_to_the_page_and_other_faces_are_unchanged() {
    let realm = Realm::new();
    let browser = Browser::new(&realm.cohort.url(""));
    assert_eq!(browser.get("/").await.location(), "/ui/");
    assert_eq!(browser.get("/ui/").await.location(), "/ui/groups");
    let page = browser.get("/ui/groups").await;
    assert_eq!(page.status, 303);
    assert_eq!(page.location(), "/ui/login?next=%2Fui%2Fgroups");
    let missing = browser.get("/ui/nothing-here").await;
    assert_eq!(missing.status, 404);
    assert!(missing.header("content-type").starts_with("text/html"));
    let zulip = browser.get("/api/v1/nothing").await;
    assert_eq!(zulip.status, 404);
    assert!(zulip.header("content-type").starts_with("application/json"));
    let css = browser.get("/ui/assets/app.css").await;
    assert_eq!(css.status, 200);
    assert!(css.header("cache-control").contains("immutable"));
}

#[tokio::test]
async fn permissions_are_shown_by_name_and_changed_with_the_value_seen() {
    let realm = Realm::new();
    let group = realm.create_group(&realm.owner, "Gated", &[]).await;
    let helpers = realm
        .create_group(&realm.owner, "Helpers", &[realm.member.id])
        .await;
    let browser = signed_in(&realm, &realm.owner).await;
    let from = format!("/ui/groups/{group}");
    let page = browser.get(&from).await;
    let html = page.ok();
    assert!(html.contains("Who can join"));
    // The value the page saw goes back as `old`.
    let marker = r#"name="setting" value="can_join_group"><input type="hidden" name="old" value=""#;
    let at = html.find(marker).expect("the join setting's form") + marker.len();
    let old = html[at..at + html[at..].find('"').unwrap()].to_string();

    let set = |new: &'static str, name: &'static str| {
        vec![
            ("setting", "can_join_group"),
            ("new", new),
            ("group_name", name),
        ]
    };
    let mut fields = set("named", "Helpers");
    fields.push(("old", &old));
    let done = browser
        .submit(&from, &format!("/ui/groups/{group}/settings"), &fields)
        .await;
    assert_eq!(done.status, 303, "{}", done.html);
    assert_eq!(
        realm.group(group).await["can_join_group"],
        serde_json::json!(helpers)
    );
    let html = browser.get(&from).await.html;
    let join = html.find("Who can join").unwrap();
    assert!(
        html[join..join + 200].contains(">Helpers<"),
        "shown by name"
    );

    // The same form again carries a stale `old`: refused, said so, not applied.
    let mut stale = set("custom", "");
    stale.push(("old", &old));
    stale.push(("people", "member2@test.example"));
    let page = browser
        .submit(&from, &format!("/ui/groups/{group}/settings"), &stale)
        .await;
    assert_eq!(page.status, 409, "{}", page.html);
    assert!(page.html.contains("changed this setting"), "{}", page.html);
    assert_eq!(
        realm.group(group).await["can_join_group"],
        serde_json::json!(helpers)
    );
    // An unknown group or email is named in the error.
    let mut unknown = set("named", "No such group");
    unknown.push(("old", "g:1"));
    let page = browser
        .submit(&from, &format!("/ui/groups/{group}/settings"), &unknown)
        .await;
    assert_eq!(page.status, 400);
    assert!(
        page.html.contains("no group named “No such group”"),
        "{}",
        page.html
    );
}

#[tokio::test]
async fn the_owner_renames_describes_removes_deactivates_and_reactivates() {
    let realm = Realm::new();
    let ids = [realm.member.id, realm.member2.id, realm.moderator.id];
    let group = realm.create_group(&realm.owner, "Before", &ids).await;
    let sub = realm.create_group(&realm.owner, "Sub", &[]).await;
    let (status, _) = realm
        .api(&realm.owner)
        .post(
            &format!("/user_groups/{group}/subgroups"),
            &[("add", format!("[{sub}]"))],
        )
        .await;
    assert_eq!(status, 200);
    let browser = signed_in(&realm, &realm.owner).await;
    let from = format!("/ui/groups/{group}");
    let at = |action: &str| format!("/ui/groups/{group}/{action}");

    let done = browser
        .submit(&from, &at("name"), &[("name", "After")])
        .await;
    assert_eq!(done.location(), format!("{from}?done=renamed"));
    let done = browser
        .submit(&from, &at("description"), &[("description", "New words")])
        .await;
    assert_eq!(done.location(), format!("{from}?done=described"));
    let g = realm.group(group).await;
    assert_eq!(
        (g["name"].as_str(), g["description"].as_str()),
        (Some("After"), Some("New words"))
    );

    // Bulk remove: two of the three, and the subgroup, in one form each.
    let (a, b) = (ids[0].to_string(), ids[1].to_string());
    let done = browser
        .submit(
            &from,
            &at("members"),
            &[("remove_user", &a), ("remove_user", &b)],
        )
        .await;
    assert_eq!(done.status, 303, "{}", done.html);
    assert_eq!(
        realm.group(group).await["members"],
        serde_json::json!([ids[2]])
    );
    let done = browser
        .submit(&from, &at("members"), &[("remove_group", &sub.to_string())])
        .await;
    assert_eq!(done.status, 303, "{}", done.html);
    assert_eq!(
        realm.group(group).await["direct_subgroup_ids"],
        serde_json::json!([])
    );

    // Deactivated: hidden from the list unless asked for, marked, and back.
    let done = browser.submit(&from, &at("deactivate"), &[]).await;
    assert_eq!(done.location(), format!("{from}?done=deactivated"));
    assert_eq!(realm.group(group).await["deactivated"], true);
    let list = browser.get("/ui/groups?q=after").await;
    assert!(names_on(list.ok()).is_empty());
    let list = browser.get("/ui/groups?q=after&deactivated=1").await;
    assert_eq!(names_on(list.ok()), ["After"]);
    assert!(list.html.contains("deactivated</span>"));
    let page = browser.get(&from).await;
    assert!(page.ok().contains("Reactivate group"));
    let done = browser.submit(&from, &at("reactivate"), &[]).await;
    assert_eq!(done.location(), format!("{from}?done=reactivated"));
    assert_eq!(realm.group(group).await["deactivated"], false);
}

#[tokio::test]
async fn a_member_joins_and_leaves_where_the_group_allows_it() {
    let realm = Realm::new();
    let group = realm.create_group(&realm.owner, "Open", &[]).await;
    let members = realm.system_group("role:members").await;
    let (status, body) = realm
        .api(&realm.owner)
        .patch(
            &format!("/user_groups/{group}"),
            &[("can_join_group", format!("{{\"new\": {members}}}"))],
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let browser = signed_in(&realm, &realm.member).await;
    let from = format!("/ui/groups/{group}");
    let page = browser.get(&from).await;
    assert!(page.ok().contains("Join this group"));
    assert!(
        !page.html.contains("Add selected"),
        "joining is not adding others"
    );
    let me = realm.member.id.to_string();
    let done = browser
        .submit(&from, &format!("{from}/members"), &[("add_user", &me)])
        .await;
    assert_eq!(done.status, 303, "{}", done.html);
    assert_eq!(
        realm.group(group).await["members"],
        serde_json::json!([realm.member.id])
    );
    let page = browser.get(&from).await;
    assert!(page.ok().contains("Leave this group"));
    // Adding someone else is still refused.
    let other = realm.member2.id.to_string();
    let refused = browser
        .submit(&from, &format!("{from}/members"), &[("add_user", &other)])
        .await;
    assert_eq!(refused.status, 403, "{}", refused.html);
    let done = browser
        .submit(&from, &format!("{from}/members"), &[("remove_user", &me)])
        .await;
    assert_eq!(done.status, 303, "{}", done.html);
    assert_eq!(realm.group(group).await["members"], serde_json::json!([]));
}
