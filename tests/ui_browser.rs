//! The admin page (`/ui/`) in a real browser: Debian's Chromium driven by
//! `playwright-core` (npm) from `tests/node/ui_browser.cjs`, with axe-core
//! (npm) checking accessibility. This file owns the setup: a realm seeded
//! through the Zulip API with 10,000 groups (and a supergroup, a group
//! with a hostile name, three people to add), one-time sign-in links from
//! the CLI, and the run of the script; the scenarios themselves (signing in,
//! search as you type, adding members, effective members, what a member
//! sees, escaping, CSRF, live updates, keyboard, phone width, axe, page
//! weight and DOMContentLoaded times, screenshots) are the script's.
//!
//! Screenshots go to `$CARGO_TARGET_DIR/ui-screenshots/` (full pages, and
//! 1280×800 views under `viewport/`, the ones `docs/screenshots/` copies).
//!
//! Chromium is `COHORT_CHROMIUM` (default `/usr/bin/chromium`); the npm
//! packages come from `common::node_package` (`COHORT_NODE_PATH`, or
//! installed now). In CI (`CI=true`) a missing Chromium fails the test;
//! elsewhere it is skipped with a loud message.

mod common;

use common::*;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

/// The versions `scripts/test.sh` pins (the script checks them too).
const PLAYWRIGHT_VERSION: &str = "1.65.1";
const AXE_VERSION: &str = "4.14.1";

/// How many groups the realm holds for the browser to search through.
const GROUPS: usize = 10_000;
/// Requests in flight while seeding (the server commits them in batches).
const IN_FLIGHT: usize = 32;
/// The group the script looks for, by number.
const TARGET: usize = 7321;

const WORDS: [&str; 16] = [
    "Falcon", "Harbor", "Maple", "Quartz", "Nimbus", "Cedar", "Orbit", "Willow", "Ember", "Delta",
    "Juniper", "Summit", "Coral", "Tundra", "Aurora", "Basalt",
];

fn group_name(i: usize) -> String {
    format!(
        "Team {i:04} {} {}",
        WORDS[i % WORDS.len()],
        WORDS[(i / WORDS.len()) % WORDS.len()]
    )
}

/// Chromium's path, or `None` (outside CI only) when it is not installed.
fn chromium() -> Option<PathBuf> {
    let path = PathBuf::from(
        std::env::var("COHORT_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into()),
    );
    if path.exists() {
        return Some(path);
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "Chromium is not at {} and CI=true: the browser tests must run in CI \
         (scripts/test.sh installs Debian's chromium)",
        path.display()
    );
    eprintln!(
        "\n!!! Chromium is NOT installed at {} (set COHORT_CHROMIUM, or apt-get install chromium):\n\
         !!! the real-browser tests of the admin page are SKIPPED, not passed.\n",
        path.display()
    );
    None
}

/// A one-time sign-in link for `email`, from the CLI.
fn login_link(cohort: &Cohort, email: &str) -> String {
    let out = cohort.cli(&[
        "login-link",
        "--realm",
        "Test",
        "--email",
        email,
        "--url",
        &cohort.base,
    ]);
    assert!(
        out.status.success(),
        "login-link failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let link = String::from_utf8(out.stdout).expect("utf-8");
    let link = link.trim().to_string();
    assert!(
        link.starts_with(&format!("{}/ui/login/", cohort.base)),
        "not a link to this server: {link}"
    );
    link
}

/// Create the numbered groups through the Zulip API, `IN_FLIGHT` at a time.
async fn seed_groups(realm: &Realm, people: &[i64]) {
    let next = Arc::new(AtomicUsize::new(0));
    let mut workers = Vec::new();
    for _ in 0..IN_FLIGHT {
        let api = realm.api(&realm.owner);
        let next = next.clone();
        let people = people.to_vec();
        workers.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= GROUPS {
                    break;
                }
                // One to three members, varied by number.
                let members: Vec<i64> = (0..1 + i % 3)
                    .map(|k| people[(i + k * 7) % people.len()])
                    .collect();
                let (status, body) = api
                    .post(
                        "/user_groups/create",
                        &[
                            ("name", group_name(i)),
                            (
                                "description",
                                format!("Group number {i} of the {} chapter", WORDS[i % 5]),
                            ),
                            ("members", json(&members)),
                        ],
                    )
                    .await;
                assert_eq!(status, 200, "create {}: {body}", group_name(i));
            }
        }));
    }
    for worker in workers {
        worker.await.expect("a seeding worker failed");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_admin_page_in_a_real_browser() {
    let Some(chromium) = chromium() else {
        return;
    };
    let playwright = node_package("playwright-core", PLAYWRIGHT_VERSION);
    let axe = node_package("axe-core", AXE_VERSION);
    let started = Instant::now();
    // 10,000 groups are seeded through one key in seconds.
    let realm = Realm::with_server_args(&["--rate-limit", "off"]);
    let api = realm.api(&realm.owner);

    // Three people to find and add, through the Zulip API.
    let mut quinns = Vec::new();
    for (n, who) in ["Alpha", "Bravo", "Charlie"].iter().enumerate() {
        let (status, body) = api
            .post(
                "/users",
                &[
                    ("email", format!("quinn{n}@test.example")),
                    ("full_name", format!("Quinn {who}")),
                    ("password", "unused-by-cohort".into()),
                ],
            )
            .await;
        assert_eq!(status, 200, "create Quinn {who}: {body}");
        quinns.push(body["user_id"].as_i64().unwrap());
    }

    let seeding = Instant::now();
    let everyone = [
        realm.owner.id,
        realm.admin.id,
        realm.moderator.id,
        realm.member.id,
    ];
    seed_groups(&realm, &everyone).await;
    let seed_ms = seeding.elapsed().as_millis();
    eprintln!("seeded {GROUPS} groups in {seed_ms} ms ({IN_FLIGHT} requests in flight)");

    let target_name = group_name(TARGET);
    let groups = realm.all_groups().await;
    let list = groups["user_groups"].as_array().expect("groups");
    let id_of = |name: &str| {
        list.iter()
            .find(|g| g["name"] == name)
            .unwrap_or_else(|| panic!("no group {name}"))["id"]
            .as_i64()
            .unwrap()
    };
    let target = id_of(&target_name);
    assert_eq!(
        list.iter()
            .filter(|g| g["name"].as_str().is_some_and(|n| n.starts_with("Team ")))
            .count(),
        GROUPS
    );

    // A supergroup with the target as its subgroup, and a group whose
    // name and description are markup.
    let supergroup = realm
        .create_group(&realm.owner, "Division North", &[realm.admin.id])
        .await;
    let added = api
        .post(
            &format!("/user_groups/{supergroup}/subgroups"),
            &[("add", json([target]))],
        )
        .await;
    assert_success(&added);
    let (status, body) = api
        .post(
            "/user_groups/create",
            &[
                ("name", r#"<img src=x onerror="window.__xss=1">"#.into()),
                ("description", "<script>window.__xss=1</script>".into()),
                ("members", json([realm.member.id])),
            ],
        )
        .await;
    assert_eq!(status, 200, "create the hostile group: {body}");
    let hostile = body["group_id"].as_i64().unwrap();

    let screenshots = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .expect("the target directory")
        .join("ui-screenshots");
    std::fs::create_dir_all(screenshots.join("viewport")).expect("screenshot directory");

    let setup_ms = started.elapsed().as_millis();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/node/ui_browser.cjs");
    let config = serde_json::json!({
        "base": realm.cohort.base,
        "chromium": chromium,
        "axe": axe.join("axe-core/axe.min.js"),
        "screenshots": screenshots,
        "owner_link": login_link(&realm.cohort, &realm.owner.email),
        "member_link": login_link(&realm.cohort, &realm.member.email),
        "owner": { "email": realm.owner.email, "key": realm.owner.key },
        "target": { "id": target, "name": target_name, "search": format!("Team {TARGET:04}") },
        "supergroup": { "id": supergroup, "name": "Division North" },
        "hostile": hostile,
        "quinns": quinns,
        "late_member": { "id": realm.member2.id, "name": "Max Member" },
        "groups": GROUPS,
    });
    let browsing = Instant::now();
    let out = Command::new("node")
        .arg(&script)
        .env("COHORT_UI_CONFIG", config.to_string())
        .env(
            "NODE_PATH",
            std::env::join_paths([&playwright, &axe]).expect("NODE_PATH"),
        )
        .output()
        .expect("run node");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    eprintln!("{stdout}");
    assert!(
        out.status.success(),
        "the browser tests failed:\n{stdout}\n{stderr}"
    );
    assert!(stdout.contains("ui browser checks passed"), "{stdout}");
    eprintln!(
        "timings: {{\"seed_ms\":{seed_ms},\"setup_ms\":{setup_ms},\"browser_ms\":{},\"total_ms\":{}}}",
        browsing.elapsed().as_millis(),
        started.elapsed().as_millis()
    );
}
