//! The history pages: a group's changes and members as of a moment, a
//! person's, the access review between two moments, and their CSVs; only
//! for those who may read the audit trail.

use super::*;

#[tokio::test]
async fn a_group_s_history_shows_its_changes_and_its_members_then() {
    let realm = Realm::new();
    let group = realm
        .create_group(&realm.owner, "Auditors", &[realm.member.id])
        .await;
    // The moment the group was made, as the audit trail says.
    let created = audit(&realm, &format!("group={group}&type=group.created")).await;
    let then = created["events"][0]["time"].as_str().unwrap().to_string();
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let (status, body) = realm
        .api(&realm.owner)
        .post(
            &format!("/user_groups/{group}/members"),
            &[("add", format!("[{}]", realm.member2.id))],
        )
        .await;
    assert_eq!(status, 200, "{body}");

    let owner = signed_in(&realm, &realm.owner).await;
    let page = owner.get(&format!("/ui/groups/{group}")).await;
    assert!(page.ok().contains(&format!("/ui/groups/{group}/history")));
    let now = owner.get(&format!("/ui/groups/{group}/history")).await;
    let html = now.ok();
    assert!(html.contains("2 effective members"), "{html}");
    assert!(html.contains("group.member_added") && html.contains("group.created"));
    assert!(html.contains("Olivia Owner"), "who acted");

    let at = owner
        .get(&format!("/ui/groups/{group}/history?as_of={then}"))
        .await;
    let html = at.ok();
    let then_section = &html[..html.find("trail-heading").expect("the changes")];
    assert!(then_section.contains("1 effective members"), "{html}");
    assert!(then_section.contains("Mia Member") && !then_section.contains("Max Member"));

    let csv = owner
        .get(&format!("/ui/groups/{group}/members.csv?as_of={then}"))
        .await;
    assert_eq!(csv.status, 200);
    assert!(csv.header("content-type").starts_with("text/csv"));
    assert!(csv.header("content-disposition").contains("attachment"));
    let lines: Vec<&str> = csv.html.lines().collect();
    assert_eq!(lines.len(), 2, "header and Mia: {}", csv.html);
    assert!(lines[1].contains("member@test.example"));

    // A person's history lists the group.
    let person = owner
        .get(&format!("/ui/people/{}/history", realm.member2.id))
        .await;
    assert!(person.ok().contains(">Auditors<"));
    let before = owner
        .get(&format!(
            "/ui/people/{}/history?as_of={then}",
            realm.member2.id
        ))
        .await;
    let html = before.ok();
    let then_section = &html[..html.find("trail-heading").expect("the changes")];
    assert!(!then_section.contains(">Auditors<"), "not yet in it then");
    assert!(
        html.contains(">Auditors<"),
        "but the change that put them there is listed"
    );

    for bad in ["as_of=yesterday", "as_of=2026-13-45T99:99"] {
        let page = owner
            .get(&format!("/ui/groups/{group}/history?{bad}"))
            .await;
        assert_eq!(page.status, 400, "{bad}: {}", page.html);
    }
}

#[tokio::test]
async fn the_access_review_lists_who_gained_access_and_exports_it() {
    let realm = Realm::new();
    let group = realm.create_group(&realm.owner, "Payroll", &[]).await;
    let created = audit(&realm, &format!("group={group}&type=group.created")).await;
    let from = created["events"][0]["time"].as_str().unwrap().to_string();
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let (status, _) = realm
        .api(&realm.owner)
        .post(
            &format!("/user_groups/{group}/members"),
            &[("add", format!("[{}]", realm.member.id))],
        )
        .await;
    assert_eq!(status, 200);
    let owner = signed_in(&realm, &realm.owner).await;
    let page = owner.get(&format!("/ui/review?from={from}")).await;
    let html = page.ok();
    assert!(html.contains("Gained access (1)"), "{html}");
    assert!(html.contains("Mia Member"));
    let csv = owner.get(&format!("/ui/review.csv?from={from}")).await;
    assert_eq!(csv.status, 200);
    assert!(
        csv.html
            .lines()
            .any(|l| l.contains("Payroll") && l.contains("gained")),
        "{}",
        csv.html
    );
    let export = owner.get("/ui/export.csv").await;
    assert_eq!(export.status, 200);
    assert!(export.html.contains("Payroll"));
}

#[tokio::test]
async fn members_and_moderators_cannot_read_the_history() {
    let realm = Realm::new();
    let group = realm
        .create_group(&realm.owner, "Quiet", &[realm.member.id])
        .await;
    for who in [&realm.member, &realm.moderator] {
        let browser = signed_in(&realm, who).await;
        let page = browser.get(&format!("/ui/groups/{group}")).await;
        assert!(!page.ok().contains("/history"), "no link offered");
        assert!(!page.html.contains("/ui/review"));
        for path in [
            format!("/ui/groups/{group}/history"),
            format!("/ui/groups/{group}/members.csv"),
            format!("/ui/people/{}/history", who.id),
            "/ui/review?from=2026-01-01T00:00".into(),
            "/ui/review.csv?from=2026-01-01T00:00".into(),
            "/ui/export.csv".into(),
        ] {
            let page = browser.get(&path).await;
            assert_eq!(page.status, 403, "{path}");
            assert!(page.html.contains("owners and administrators"));
        }
    }
}

#[tokio::test]
async fn csv_cells_cannot_become_spreadsheet_formulas() {
    let realm = Realm::new();
    let group = realm
        .create_group(&realm.owner, "=HYPERLINK(\"http://x\")", &[])
        .await;
    let (status, _) = realm
        .api(&realm.owner)
        .post(
            &format!("/user_groups/{group}/members"),
            &[("add", format!("[{}]", realm.member.id))],
        )
        .await;
    assert_eq!(status, 200);
    let owner = signed_in(&realm, &realm.owner).await;
    let csv = owner.get(&format!("/ui/groups/{group}/members.csv")).await;
    assert!(
        csv.html.contains("\"'=HYPERLINK(\"\"http://x\"\")\""),
        "{}",
        csv.html
    );
}
