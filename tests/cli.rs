//! The `cohort` command line: init, users, groups, realms, check, and the
//! `serve --demo` first run a newcomer meets.

mod common;

use common::*;
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

#[test]
fn help_documents_every_command() {
    let out = Command::new(BIN).arg("--help").output().unwrap();
    let help = String::from_utf8_lossy(&out.stdout);
    for command in [
        "init",
        "serve",
        "user",
        "group",
        "realm",
        "token",
        "check",
        "login-link",
    ] {
        assert!(
            help.contains(command),
            "--help does not mention {command}:\n{help}"
        );
    }
    for (args, needles) in [
        (
            vec!["serve", "--help"],
            vec![
                "--listen",
                "--demo",
                "--db",
                "COHORT_LISTEN",
                "--max-body-bytes",
                "--ui-session-hours",
                "COHORT_UI_SESSION_HOURS",
                "--tls-cert",
                "--tls-key",
                "--trusted-proxy",
                "--behind-proxy",
                "--max-connections",
                "--header-timeout-secs",
                "--idle-timeout-secs",
                "--body-timeout-secs",
            ],
        ),
        (
            vec!["login-link", "--help"],
            vec!["--email", "--realm", "--minutes", "--url"],
        ),
        (
            vec!["user", "add", "--help"],
            vec!["--email", "--name", "--role", "--bot", "--json"],
        ),
        (
            vec!["realm", "set", "--help"],
            vec![
                "--can-create-groups",
                "--can-manage-all-groups",
                "--waiting-period-days",
                "--bots-may-manage-groups",
            ],
        ),
        (
            vec!["init", "--help"],
            vec!["--json", "--owner-email", "--zuliprc"],
        ),
        (
            vec!["token", "create", "--help"],
            vec!["--scope", "--name", "--realm", "--json", "audit:read"],
        ),
        (vec!["token", "list", "--help"], vec!["--all", "--json"]),
    ] {
        let out = Command::new(BIN).args(&args).output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        for needle in needles {
            assert!(
                text.contains(needle),
                "`cohort {}` lacks {needle}:\n{text}",
                args.join(" ")
            );
        }
    }
}

/// The harness's own guarantee: a test whose database fails `cohort check`
/// fails when its `Cohort` is dropped, whatever else it asserted.
#[test]
fn the_final_check_fails_a_test_whose_log_and_tables_disagree() {
    let (cohort, _owner, _) = Cohort::init();
    cohort.assert_consistent();
    cohort.sql("UPDATE users SET full_name = 'Not In The Log'");
    let dropped = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || drop(cohort)));
    let panic = dropped.expect_err("dropping a Cohort on an inconsistent database did not fail");
    let message = panic.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(message.contains("cohort check failed"), "{message}");
}

#[test]
fn init_refuses_to_clobber_and_prints_credentials() {
    let (cohort, owner, platform) = Cohort::init();
    assert_eq!(owner.key.len(), 32);
    assert_eq!(platform.len(), 32);
    let zuliprc = std::fs::read_to_string(cohort.path("zuliprc")).unwrap();
    assert!(zuliprc.contains("[api]") && zuliprc.contains(&owner.key));
    let again = cohort.cli(&["init"]);
    assert!(!again.status.success());
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("refusing"),
        "{again:?}"
    );
    // Human-readable output names the keys.
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(BIN)
        .args(["init"])
        .current_dir(dir.path())
        .env("COHORT_LOG", "warn")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success());
    assert!(
        text.contains("owner API key") && text.contains("IMKIT platform key"),
        "{text}"
    );
    assert!(
        dir.path().join("cohort.db").exists(),
        "default database path"
    );
    assert!(dir.path().join("zuliprc").exists());
}

#[test]
fn users_groups_and_realms_from_the_command_line() {
    let (cohort, _owner, _) = Cohort::init();
    let member = cohort.add_user("m@test.example", "Mo Member", "member", false);
    assert_eq!(member.key.len(), 32);
    let users = cohort.cli_json(&["user", "list", "--json"]);
    assert_eq!(users.as_array().unwrap().len(), 2);
    let realms_before = cohort.realms();
    let bad = cohort.cli(&[
        "user",
        "add",
        "--email",
        "m@test.example",
        "--name",
        "Dup Licate",
    ]);
    assert!(!bad.status.success(), "duplicate email accepted");
    let bad = cohort.cli(&[
        "user",
        "add",
        "--email",
        "x@test.example",
        "--name",
        "X Y",
        "--role",
        "emperor",
    ]);
    assert!(!bad.status.success());
    // Refused commands commit nothing.
    assert_eq!(cohort.cli_json(&["user", "list", "--json"]), users);
    assert_eq!(cohort.realms(), realms_before);

    let groups = cohort.cli_json(&["group", "list", "--json"]);
    let names: Vec<&str> = groups
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["name"].as_str().unwrap())
        .collect();
    assert_eq!(names[0], "role:nobody");
    assert_eq!(names.len(), 8);
    let members_group = &groups.as_array().unwrap()[5];
    assert_eq!(members_group["name"], "role:members");
    assert_eq!(members_group["members"], serde_json::json!([member.id]));

    // Role changes keep system groups in step.
    let set = cohort.cli(&[
        "user",
        "set",
        "--email",
        "m@test.example",
        "--role",
        "moderator",
    ]);
    assert!(set.status.success(), "{set:?}");
    let groups = cohort.cli_json(&["group", "list", "--json"]);
    assert_eq!(groups[3]["name"], "role:moderators");
    assert_eq!(groups[3]["members"], serde_json::json!([member.id]));
    assert_eq!(groups[5]["members"], serde_json::json!([]));

    // A second realm: its own users and groups.
    let other = cohort.cli_json(&[
        "realm",
        "add",
        "--name",
        "Other",
        "--owner-email",
        "o@other.example",
        "--json",
    ]);
    assert!(other["api_key"].as_str().unwrap().len() == 32);
    let realms = cohort.cli_json(&["realm", "list", "--json"]);
    assert_eq!(realms.as_array().unwrap().len(), 2);
    let ambiguous = cohort.cli(&["user", "list"]);
    assert!(!ambiguous.status.success(), "several realms need --realm");
    let theirs = cohort.cli_json(&["user", "list", "--json", "--realm", "Other"]);
    assert_eq!(theirs.as_array().unwrap().len(), 1);
    // The same email may exist in two realms.
    let out = cohort.cli(&[
        "user",
        "add",
        "--realm",
        "Other",
        "--email",
        "m@test.example",
        "--name",
        "Mo Again",
    ]);
    assert!(out.status.success(), "{out:?}");

    // Realm settings.
    let out = cohort.cli(&[
        "realm",
        "set",
        "--realm",
        "Test",
        "--can-create-groups",
        "role:administrators",
        "--waiting-period-days",
        "3",
        "--bots-may-manage-groups",
        "true",
    ]);
    assert!(out.status.success(), "{out:?}");
    let realms_before = cohort.realms();
    for refused in [
        vec!["--can-manage-all-groups", "role:nobody"],
        vec!["--can-create-groups", "role:internet"],
        vec!["--can-create-groups", "no-such-group"],
        vec!["--waiting-period-days", "-1"],
    ] {
        let mut args = vec!["realm", "set", "--realm", "Test"];
        args.extend(&refused);
        let out = cohort.cli(&args);
        assert!(!out.status.success(), "realm set {refused:?} accepted");
        assert_eq!(
            cohort.realms(),
            realms_before,
            "the refused realm set {refused:?} committed"
        );
    }
    let rotated = cohort.cli_json(&["realm", "key", "rotate", "--realm", "Test", "--json"]);
    assert_eq!(rotated["platform_key"].as_str().unwrap().len(), 32);
    assert_ne!(
        cohort.realms(),
        realms_before,
        "a committed command moves its realm's version (what the refusals above rely on)"
    );

    let check = cohort.cli_json(&["check", "--json"]);
    assert_eq!(check["ok"], true, "{check}");
    assert_eq!(check["realms"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn realms_never_see_each_other() {
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
        id: realm
            .cohort
            .cli_json(&["user", "list", "--json", "--realm", "Other"])[0]["user_id"]
            .as_i64()
            .unwrap(),
        email: other["email"].as_str().unwrap().into(),
        key: other["api_key"].as_str().unwrap().into(),
    };
    // The running server picks the new realm up from the change log.
    let theirs = realm.cohort.api(&other_owner);
    let mut listed = (0, Value::Null);
    for _ in 0..100 {
        listed = theirs.get("/user_groups", &[]).await;
        if listed.0 == 200 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_success(&listed);
    let their_groups: Vec<i64> = listed.1["user_groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["id"].as_i64().unwrap())
        .collect();
    let ours = realm.all_groups().await;
    let our_groups: Vec<i64> = ours["user_groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["id"].as_i64().unwrap())
        .collect();
    assert!(
        their_groups.iter().all(|g| !our_groups.contains(g)),
        "group ids shared across realms"
    );

    let mine = realm
        .create_group(&realm.owner, "ours", &[realm.member.id])
        .await;
    // Their owner cannot see or touch our group or our users.
    assert_error(
        &theirs
            .get(&format!("/user_groups/{mine}/members"), &[])
            .await,
        400,
        "BAD_REQUEST",
        "Invalid user group",
    );
    // (Our own group, not a system group: those refuse everyone.)
    assert_error(
        &theirs
            .post(
                &format!("/user_groups/{mine}/members"),
                &[("add", format!("[{}]", other_owner.id))],
            )
            .await,
        400,
        "BAD_REQUEST",
        "Invalid user group",
    );
    let created = theirs
        .post(
            "/user_groups/create",
            &[
                ("name", "theirs".into()),
                ("description", "".into()),
                ("members", format!("[{}]", realm.member.id)),
            ],
        )
        .await;
    assert_error(
        &created,
        400,
        "BAD_REQUEST",
        &format!("Invalid user ID: {}", realm.member.id),
    );
    assert_error(
        &theirs
            .get(&format!("/users/{}", realm.member.id), &[])
            .await,
        400,
        "BAD_REQUEST",
        "No such user",
    );
    let users = theirs.get("/users", &[]).await.1;
    assert_eq!(users["members"].as_array().unwrap().len(), 1);

    // Writes on our users and settings from their realm: refused, and no
    // realm moves (no commit in either).
    let ours = realm.api(&realm.owner);
    assert_success(
        &ours
            .delete(&format!("/users/{}", realm.member2.id), &[])
            .await,
    );
    let realms_before = realm.cohort.realms();
    let users_before = ours.get("/users", &[]).await;
    assert_success(&users_before);
    let member = realm.member.id;
    let gone = realm.member2.id;
    let admins = realm.system_group("role:administrators").await;
    for (what, got) in [
        (
            "PATCH /users/{id}",
            theirs
                .patch(
                    &format!("/users/{member}"),
                    &[("full_name", "Taken Over".into())],
                )
                .await,
        ),
        (
            "PATCH /users/{id} role",
            theirs
                .patch(&format!("/users/{member}"), &[("role", "100".into())])
                .await,
        ),
        (
            "DELETE /users/{id}",
            theirs.delete(&format!("/users/{member}"), &[]).await,
        ),
        (
            "POST /users/{id}/reactivate",
            theirs.post(&format!("/users/{gone}/reactivate"), &[]).await,
        ),
    ] {
        assert_error(&got, 400, "BAD_REQUEST", "No such user");
        assert_eq!(realm.cohort.realms(), realms_before, "{what} committed");
    }
    // Our group as their realm's setting.
    let got = theirs
        .patch(
            "/realm",
            &[(
                "can_create_groups",
                serde_json::json!({"new": admins}).to_string(),
            )],
        )
        .await;
    assert_eq!(got.0, 400, "PATCH /realm with our group: {}", got.1);
    assert_eq!(got.1["result"], "error", "{}", got.1);
    assert_eq!(
        realm.cohort.realms(),
        realms_before,
        "PATCH /realm committed"
    );
    assert_eq!(ours.get("/users", &[]).await, users_before);
    // And ours cannot use theirs.
    let ours = realm.api(&realm.owner);
    assert_error(
        &ours
            .post(
                &format!("/user_groups/{mine}/members"),
                &[("add", format!("[{}]", other_owner.id))],
            )
            .await,
        400,
        "BAD_REQUEST",
        &format!("Invalid user ID: {}", other_owner.id),
    );
}

/// Start `serve --demo` in `dir`; the child, the base URL it printed and
/// every line it printed up to it.
fn serve_demo(dir: &std::path::Path) -> (std::process::Child, String, Vec<String>) {
    let mut child = Command::new(BIN)
        .args(["serve", "--demo", "--listen", "127.0.0.1:0"])
        .current_dir(dir)
        .env("COHORT_LOG", "warn")
        .env_remove("COHORT_DB")
        .env_remove("COHORT_PUBLIC_URL")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut printed = Vec::new();
    let base = loop {
        let line = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("serve --demo printed nothing");
        printed.push(line.clone());
        if let Some(rest) = line.strip_prefix("cohort listening on ") {
            break rest.split_whitespace().next().unwrap().to_string();
        }
    };
    (child, base, printed)
}

/// The admin page link `serve --demo` printed for its owner: its key.
fn demo_login_key(printed: &[String], base: &str) -> String {
    let line = printed
        .iter()
        .find_map(|l| l.strip_prefix("admin page: sign in at "))
        .unwrap_or_else(|| panic!("no admin page link printed:\n{}", printed.join("\n")));
    let link = line
        .strip_suffix(" (one-time, 15 minutes)")
        .unwrap_or_else(|| panic!("{line:?}"));
    login_key(link, base).to_string()
}

#[tokio::test]
async fn serve_demo_on_a_fresh_machine_shows_real_groups() {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, base, printed) = serve_demo(dir.path());
    let text = printed.join("\n");
    assert!(
        text.contains("owner API key") && text.contains("IMKIT platform key"),
        "{text}"
    );
    let scim_token = text
        .lines()
        .find_map(|l| l.strip_prefix("SCIM token: "))
        .unwrap_or_else(|| panic!("no SCIM token printed:\n{text}"));
    assert!(is_token(scim_token), "{scim_token:?}");
    assert!(
        text.contains(&format!("SCIM base URL: {base}/scim/v2")),
        "{text}"
    );
    let zuliprc = std::fs::read_to_string(dir.path().join("zuliprc")).unwrap();
    let field = |name: &str| {
        zuliprc
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{name}=")))
            .unwrap()
            .to_string()
    };
    assert_eq!(
        field("site"),
        base,
        "the zuliprc points at the running server"
    );
    let api = Api {
        base: base.clone(),
        email: field("email"),
        key: field("key"),
        http: reqwest::Client::new(),
    };
    let groups = api.get("/user_groups", &[]).await;
    assert_success(&groups);
    let names: Vec<&str> = groups.1["user_groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["name"].as_str().unwrap())
        .collect();
    for name in ["hamletcharacters", "backend", "engineering", "role:owners"] {
        assert!(
            names.contains(&name),
            "{name} missing from the demo: {names:?}"
        );
    }
    let users = api.get("/users", &[]).await.1;
    assert!(users["members"].as_array().unwrap().len() >= 9);
    let first_link = demo_login_key(&printed, &base);
    let _ = child.kill();
    let _ = child.wait();

    // Started again on the demo database it made: served as it is, with a
    // fresh admin page link (the first one may have been used).
    let (mut child, base, printed) = serve_demo(dir.path());
    let text = printed.join("\n");
    assert!(
        text.contains("exists; serving it as it is") && !text.contains("owner API key"),
        "{text}"
    );
    let again = demo_login_key(&printed, &base);
    assert_ne!(first_link, again, "the same link twice");
    let _ = child.kill();
    let _ = child.wait();
}

/// A realm API token's shape: `cohort_` and 40 letters and digits.
fn is_token(text: &str) -> bool {
    text.strip_prefix("cohort_")
        .is_some_and(|rest| rest.len() == 40 && rest.bytes().all(|b| b.is_ascii_alphanumeric()))
}

fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// `token list --json`, by name.
fn tokens(cohort: &Cohort, all: bool) -> Vec<Value> {
    let mut args = vec!["token", "list", "--json"];
    if all {
        args.push("--all");
    }
    cohort.cli_json(&args).as_array().unwrap().clone()
}

fn names(tokens: &[Value]) -> Vec<&str> {
    tokens.iter().map(|t| t["name"].as_str().unwrap()).collect()
}

#[test]
fn init_issues_a_scim_token() {
    let (cohort, _owner, _) = Cohort::init();
    // The harness keeps only some of `init --json`'s output: run it again on a
    // second database (of the same kind) to see the token itself.
    let dir = tempfile::tempdir().unwrap();
    let pg = testing_postgres().then(PgDatabase::create);
    let db = match &pg {
        Some(database) => database.url(),
        None => format!("sqlite://{}", dir.path().join("t.db").display()),
    };
    let out = Command::new(BIN)
        .args(["--db", &db, "init", "--json"])
        .current_dir(dir.path())
        .env("COHORT_LOG", "warn")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let init: Value = serde_json::from_slice(&out.stdout).unwrap();
    let token = init["scim_token"].as_str().unwrap_or_default();
    assert!(is_token(token), "{init}");
    for key in [
        "realm_id",
        "realm",
        "database",
        "site",
        "email",
        "api_key",
        "platform_key",
        "zuliprc",
    ] {
        assert!(init.get(key).is_some(), "init --json lost {key}: {init}");
    }
    let listed = tokens(&cohort, false);
    assert_eq!(names(&listed), ["scim"]);
    assert_eq!(listed[0]["scopes"], serde_json::json!(["scim"]));
}

#[test]
fn tokens_are_created_listed_and_revoked() {
    let (cohort, _owner, _) = Cohort::init();

    // Plain: a short text with the token alone on its line.
    let out = cohort.cli(&[
        "token",
        "create",
        "--scope",
        "scim",
        "--scope",
        "audit:read,events",
        "--name",
        "okta",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let secret = text
        .lines()
        .find(|l| is_token(l))
        .unwrap_or_else(|| panic!("no token on its own line:\n{text}"))
        .to_string();
    assert!(text.contains("okta"), "{text}");

    // JSON, with a default name.
    let made = cohort.cli_json(&["token", "create", "--scope", "scim", "--json"]);
    assert_eq!(made["name"], "token-1", "{made}");
    assert_eq!(made["scopes"], serde_json::json!(["scim"]));
    assert!(is_token(made["token"].as_str().unwrap()), "{made}");
    assert!(
        made["created_at"].as_str().unwrap().ends_with('Z'),
        "{made}"
    );
    let second = made["token"].as_str().unwrap().to_string();
    let made = cohort.cli_json(&["token", "create", "--scope", "events", "--json"]);
    assert_eq!(made["name"], "token-2", "{made}");

    // Listed without secrets, never used.
    let listed = tokens(&cohort, false);
    assert_eq!(names(&listed), ["scim", "okta", "token-1", "token-2"]);
    let okta = &listed[1];
    assert_eq!(
        okta["scopes"],
        serde_json::json!(["scim", "audit:read", "events"])
    );
    assert_eq!(okta["last_used_at"], Value::Null);
    assert_eq!(okta["revoked_at"], Value::Null);
    let out = cohort.cli(&["token", "list"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let plain = stdout(&out);
    let row = plain
        .lines()
        .find(|l| l.starts_with("okta "))
        .unwrap_or_else(|| panic!("okta not listed:\n{plain}"));
    assert!(
        row.contains("scim,audit:read,events") && row.contains("never"),
        "{row}"
    );
    for shown in [plain, listed.iter().map(|t| t.to_string()).collect()] {
        assert!(
            !shown.contains(&secret) && !shown.contains(&second),
            "a secret is listed: {shown}"
        );
        assert!(!shown.contains("cohort_"), "{shown}");
    }

    // Refusals commit nothing.
    let realms_before = cohort.realms();
    let dup = cohort.cli(&["token", "create", "--scope", "scim", "--name", "okta"]);
    assert!(!dup.status.success(), "a duplicate name was accepted");
    assert!(stderr(&dup).contains("already exists"), "{}", stderr(&dup));
    let unknown = cohort.cli(&["token", "create", "--scope", "scim,admin", "--name", "x"]);
    assert!(!unknown.status.success(), "an unknown scope was accepted");
    let why = stderr(&unknown);
    assert!(
        why.contains("admin")
            && ["scim", "audit:read", "events", "webhooks"]
                .iter()
                .all(|s| why.contains(s)),
        "{why}"
    );
    let gone = cohort.cli(&["token", "revoke", "no-such-token"]);
    assert!(
        !gone.status.success(),
        "revoking an unknown token succeeded"
    );
    assert!(stderr(&gone).contains("no-such-token"), "{}", stderr(&gone));
    assert_eq!(cohort.realms(), realms_before);
    assert_eq!(
        names(&tokens(&cohort, true)),
        ["scim", "okta", "token-1", "token-2"]
    );

    // Revoked: gone from the list, kept with --all.
    let out = cohort.cli(&["token", "revoke", "okta"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        names(&tokens(&cohort, false)),
        ["scim", "token-1", "token-2"]
    );
    let all = tokens(&cohort, true);
    assert_eq!(names(&all), ["scim", "okta", "token-1", "token-2"]);
    assert!(
        all[1]["revoked_at"].as_str().unwrap().ends_with('Z'),
        "{}",
        all[1]
    );
    let plain = stdout(&cohort.cli(&["token", "list", "--all"]));
    let row = plain.lines().find(|l| l.starts_with("okta ")).unwrap();
    assert!(row.trim_end().ends_with('Z'), "revoked time missing: {row}");
    let again = cohort.cli(&["token", "revoke", "okta"]);
    assert!(!again.status.success(), "revoking twice succeeded");
    // The name is free again once revoked.
    let reused = cohort.cli_json(&[
        "token", "create", "--scope", "webhooks", "--name", "okta", "--json",
    ]);
    assert_eq!(reused["name"], "okta");
    assert_eq!(
        names(&tokens(&cohort, true)),
        ["scim", "okta", "token-1", "token-2", "okta"]
    );
}

/// A login link's shape: `{url}/ui/login/` and a 32-letter key; the key.
fn login_key<'t>(line: &'t str, url: &str) -> &'t str {
    let key = line
        .strip_prefix(&format!("{url}/ui/login/"))
        .unwrap_or_else(|| panic!("not a login link on {url}: {line:?}"));
    assert!(
        key.len() == 32 && key.bytes().all(|b| b.is_ascii_alphanumeric()),
        "{key:?}"
    );
    key
}

/// SHA-256 of a key, hex: what the store keeps of it.
fn sha256_hex(key: &str) -> String {
    use sha2::Digest as _;
    sha2::Sha256::digest(key.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[test]
fn login_links_are_printed_once_and_only_for_who_may_sign_in() {
    let (cohort, owner, _) = Cohort::init();
    let guest = cohort.add_user("guest@test.example", "Gus Guest", "guest", false);
    let bot = cohort.add_user("bot@test.example", "Bo Bot", "member", true);
    let gone = cohort.add_user("gone@test.example", "Gone Member", "member", false);
    let out = cohort.cli(&[
        "user",
        "set",
        "--email",
        &gone.email,
        "--deactivated",
        "true",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let before = cohort.realms();

    // One line on stdout, on the default URL; a new key every time.
    let out = cohort.cli(&["login-link", "--email", &owner.email]);
    assert!(out.status.success(), "{}", stderr(&out));
    let printed = stdout(&out);
    assert_eq!(printed.lines().count(), 1, "{printed:?}");
    let first = login_key(printed.trim_end(), "http://127.0.0.1:9991").to_string();
    // Another URL (its trailing slash dropped), the longest life, the email
    // in another case.
    let out = cohort.cli(&[
        "login-link",
        "--email",
        &owner.email.to_uppercase(),
        "--url",
        "https://cohort.example.com/",
        "--minutes",
        "1440",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let second = login_key(stdout(&out).trim_end(), "https://cohort.example.com").to_string();
    assert_ne!(first, second, "two links, one key");

    // Only the keys' hashes are kept, with their lives; the directory and
    // its log did not move.
    let hex = if testing_postgres() {
        "encode(hash, 'hex')"
    } else {
        "lower(hex(hash))"
    };
    let rows = cohort.sql(&format!(
        "SELECT {hex} || ' ' || (expires_at - created_at) || ' ' || user_id || ' ' || \
         COALESCE(used_at, -1) FROM ui_login_links ORDER BY created_at, expires_at"
    ));
    assert_eq!(
        rows.lines().collect::<Vec<_>>(),
        [
            format!("{} {} {} -1", sha256_hex(&first), 15 * 60_000, owner.id),
            format!("{} {} {} -1", sha256_hex(&second), 1440 * 60_000, owner.id),
        ],
        "stored links"
    );
    assert_eq!(cohort.realms(), before, "a login link committed something");

    // Refusals: non-zero, nothing on stdout, the reason on stderr.
    for (args, reason) in [
        (
            vec!["--email", "nobody@test.example"],
            "no user with email \"nobody@test.example\"",
        ),
        (
            vec!["--email", &guest.email],
            "guest@test.example may not use the admin page: guests may not do this",
        ),
        (
            vec!["--email", &bot.email],
            "bot@test.example may not use the admin page: bots may not do this",
        ),
        (
            vec!["--email", &gone.email],
            &format!(
                "gone@test.example may not use the admin page: user {} is deactivated",
                gone.id
            ),
        ),
        (
            vec!["--email", &owner.email, "--minutes", "0"],
            "--minutes must be from 1 to 1440 (a day), not 0",
        ),
        (
            vec!["--email", &owner.email, "--minutes", "1441"],
            "--minutes must be from 1 to 1440 (a day), not 1441",
        ),
        (
            vec!["--email", &owner.email, "--minutes", "-5"],
            "--minutes must be from 1 to 1440 (a day), not -5",
        ),
    ] {
        let mut all = vec!["login-link"];
        all.extend(args.iter().copied());
        let out = cohort.cli(&all);
        assert!(!out.status.success(), "{all:?} succeeded: {}", stdout(&out));
        assert_eq!(stdout(&out), "", "{all:?} printed a link");
        assert!(
            stderr(&out).contains(reason),
            "{all:?}: expected {reason:?} in {}",
            stderr(&out)
        );
    }
    assert_eq!(
        cohort.sql("SELECT COUNT(*) FROM ui_login_links"),
        "2",
        "a refused link was stored"
    );
}
