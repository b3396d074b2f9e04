//! Operator commands on the store, black-box: `cohort check` catches a
//! corrupted table row and a corrupted log entry (with a report naming what
//! differs, and a non-zero exit); `cohort copy` survives being killed midway
//! (rerun, it resumes and yields the same directory) and carries several
//! realms with their keys; two `cohort migrate` at once on a fresh
//! PostgreSQL database both succeed and leave the schema whole.
//!
//! Runs on the store `COHORT_TEST_STORE` names (see `tests/common`); the
//! migrate race needs PostgreSQL whatever the store.

mod common;

use common::*;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

fn cohort_at(db: &str, args: &[&str]) -> std::process::Output {
    Command::new(BIN)
        .arg("--db")
        .arg(db)
        .args(args)
        .env("COHORT_LOG", "warn")
        .output()
        .expect("run cohort")
}

/// `cohort check` on `db`: (success, stdout).
fn check(db: &str) -> (bool, String) {
    let out = cohort_at(db, &["check"]);
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

/// A second database of the same kind as the tests' store, empty.
fn empty_target(dir: &std::path::Path) -> (String, Option<PgDatabase>) {
    if testing_postgres() {
        let database = PgDatabase::create();
        (database.url(), Some(database))
    } else {
        (
            format!("sqlite://{}", dir.join("target.db").display()),
            None,
        )
    }
}

#[test]
fn check_reports_a_corrupted_table_row() {
    let (mut cohort, _, _) = Cohort::init();
    // The database is damaged on purpose: the harness's final check would fail.
    cohort.skip_final_check();
    let xavier = cohort.add_user("xavier@test.example", "Xavier", "member", false);
    let (ok, report) = check(&cohort.db);
    assert!(ok, "a fresh database checks clean: {report}");
    assert!(report.contains(": ok ("), "{report}");
    sql(
        &cohort.db,
        &format!(
            "UPDATE users SET full_name = 'Mallory' WHERE id = {}",
            xavier.id
        ),
    );
    let (ok, report) = check(&cohort.db);
    assert!(!ok, "check passed on a corrupted row: {report}");
    assert!(
        report.contains("MISMATCH")
            && report.contains(&format!(
                "user {} differs between the log and the tables",
                xavier.id
            )),
        "the report names the user: {report}"
    );
}

#[test]
fn check_reports_a_corrupted_log_entry() {
    let (mut cohort, _, _) = Cohort::init();
    // The database is damaged on purpose: the harness's final check would fail.
    cohort.skip_final_check();
    let xavier = cohort.add_user("xavier@test.example", "Xavier", "member", false);
    assert!(check(&cohort.db).0);
    // The commit that created Xavier now says someone else was created.
    let touched = sql(
        &cohort.db,
        "UPDATE changes SET changes = replace(changes, '\"Xavier\"', '\"Yannick\"') \
         WHERE changes LIKE '%\"Xavier\"%' RETURNING version",
    );
    assert!(!touched.is_empty(), "no log entry named Xavier");
    let (ok, report) = check(&cohort.db);
    assert!(!ok, "check passed on a corrupted log: {report}");
    assert!(
        report.contains(&format!(
            "user {} differs between the log and the tables",
            xavier.id
        )),
        "the report names the user: {report}"
    );
    // A log that stops short of the realm's version is caught as well.
    sql(
        &cohort.db,
        &format!("DELETE FROM changes WHERE version = {touched}"),
    );
    let (ok, report) = check(&cohort.db);
    assert!(!ok, "check passed on a log with a hole: {report}");
    assert!(report.contains("MISMATCH"), "{report}");
}

/// A directory with some history: a realm and a dozen users.
fn busy_source() -> (Cohort, Account) {
    let (cohort, owner, _) = Cohort::init();
    for n in 0..12 {
        cohort.add_user(&format!("u{n}@test.example"), "User", "member", false);
    }
    (cohort, owner)
}

fn directory(db: &str) -> (String, String) {
    let users = cohort_at(db, &["user", "list", "--json"]);
    let groups = cohort_at(db, &["group", "list", "--json"]);
    assert!(users.status.success() && groups.status.success());
    (
        String::from_utf8_lossy(&users.stdout).into_owned(),
        String::from_utf8_lossy(&groups.stdout).into_owned(),
    )
}

#[test]
fn an_interrupted_copy_resumes_and_yields_the_same_directory() {
    let (source, _) = busy_source();
    let version: u64 = sql(&source.db, "SELECT version FROM realms")
        .parse()
        .expect("a version");
    assert!(
        version >= 10,
        "the source is too small to interrupt: {version} commits"
    );
    let dir = tempfile::tempdir().unwrap();
    let (target, _database) = empty_target(dir.path());
    // Two commits per transaction, pausing after each: killed after the
    // second chunk, the target holds four commits of many.
    let mut copy = Command::new(BIN)
        .args([
            "copy", "--from", &source.db, "--to", &target, "--chunk", "2",
        ])
        .env("COHORT_COPY_PAUSE_MS", "2000")
        .env("COHORT_LOG", "warn")
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("start the copy");
    let mut lines = BufReader::new(copy.stderr.take().unwrap()).lines();
    let mut chunks = 0;
    while chunks < 2 {
        let line = lines.next().expect("the copy reports its chunks").unwrap();
        if line.starts_with("copy: realm") {
            chunks += 1;
        }
    }
    copy.kill().expect("kill the copy");
    let _ = copy.wait();
    let copied: u64 = sql(&target, "SELECT COUNT(*) FROM changes")
        .parse()
        .unwrap();
    assert_eq!(copied, 4, "the kill left whole chunks only");
    let out = cohort_at("unused", &["copy", "--from", &source.db, "--to", &target]);
    assert!(
        out.status.success(),
        "the rerun resumes: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("verified"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert_eq!(directory(&source.db), directory(&target));
    assert!(check(&target).0, "the resumed copy checks clean");
    // A second rerun finds nothing to do and still verifies.
    let out = cohort_at("unused", &["copy", "--from", &source.db, "--to", &target]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // A target that is not a copy of this source is still refused.
    let (other, _) = busy_source();
    other.add_user("extra@test.example", "Extra", "member", false);
    let out = cohort_at("unused", &["copy", "--from", &other.db, "--to", &target]);
    assert!(!out.status.success(), "copied over a foreign target");
}

#[tokio::test]
async fn a_copy_of_several_realms_keeps_their_keys() {
    let (source, owner, platform) = Cohort::init();
    let member = source.add_user("m@test.example", "Member", "member", false);
    let other = source.cli_json(&[
        "realm",
        "add",
        "--name",
        "Other",
        "--owner-email",
        "o@other.example",
        "--json",
    ]);
    let other_platform = other["platform_key"].as_str().unwrap().to_string();
    let out = source.cli(&[
        "user",
        "add",
        "--realm",
        "Other",
        "--json",
        "--email",
        "x@other.example",
        "--name",
        "Xena",
        "--role",
        "member",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let xena: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let xena = Account {
        id: xena["user_id"].as_i64().unwrap(),
        email: "x@other.example".into(),
        key: xena["api_key"].as_str().unwrap().to_string(),
    };
    let dir = tempfile::tempdir().unwrap();
    let (target, _database) = empty_target(dir.path());
    let out = cohort_at("unused", &["copy", "--from", &source.db, "--to", &target]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("Copied 2 realm(s)"));
    let mut copy = source.node(&target);
    copy.start();
    // Every user key authenticates in its own realm on the copy.
    for account in [&owner, &member, &xena] {
        let (status, me) = copy.api(account).get("/users/me", &[]).await;
        assert_eq!(status, 200, "{}: {me}", account.email);
        assert_eq!(
            me["user_id"].as_i64(),
            Some(account.id),
            "{}",
            account.email
        );
    }
    // And each platform key opens its realm's IMKIT admin API.
    let http = reqwest::Client::new();
    for key in [&platform, &other_platform] {
        let status = http
            .get(copy.url("/admin/clients"))
            .header("IM-API-KEY", key.as_str())
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(status.as_u16(), 200);
    }
    let wrong = http
        .get(copy.url("/admin/clients"))
        .header("IM-API-KEY", format!("{platform}x"))
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(wrong.as_u16(), 401, "a wrong platform key is refused");
}

#[test]
fn two_migrations_at_once_leave_one_whole_schema() {
    if !postgres_available() {
        return;
    }
    for _ in 0..3 {
        let database = PgDatabase::create();
        let url = database.url();
        let start = |url: &str| {
            Command::new(BIN)
                .args(["--db", url, "migrate"])
                .env("COHORT_LOG", "warn")
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("start cohort migrate")
        };
        let (a, b) = (start(&url), start(&url));
        let mut reported = Vec::new();
        for out in [a.wait_with_output().unwrap(), b.wait_with_output().unwrap()] {
            assert!(
                out.status.success(),
                "a concurrent migrate failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            let stdout = String::from_utf8_lossy(&out.stdout).to_string();
            let version: u32 = stdout
                .split("schema at version ")
                .nth(1)
                .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
                .and_then(|n| n.parse().ok())
                .unwrap_or_else(|| panic!("no schema version in {stdout:?}"));
            reported.push(version);
        }
        assert_eq!(reported[0], reported[1], "both report the same schema");
        let applied = sql(
            &url,
            "SELECT string_agg(version::text, ',' ORDER BY version) FROM schema_migrations",
        );
        let every: Vec<String> = (1..=reported[0]).map(|v| v.to_string()).collect();
        assert!(reported[0] >= 6, "the webhook tables' migration is known");
        assert_eq!(applied, every.join(","), "each migration recorded once");
        assert_eq!(
            sql(
                &url,
                "SELECT COUNT(*) FROM pg_indexes WHERE indexname = 'users_realm_email'"
            ),
            "1"
        );
        // And the schema serves: a realm can be created on it.
        let (cohort, _, _) = Cohort::init_at(&url);
        assert!(check(&cohort.db).0);
        drop(cohort);
        drop(database);
    }
}
