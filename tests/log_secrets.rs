//! Secrets never reach a log, and every request's log lines carry its
//! `request_id`. A server runs with debug logs in JSON captured to a file,
//! many endpoints of both faces are exercised with API keys, the platform
//! key, a client token and (on PostgreSQL) a database URL holding a
//! password; then the logs are searched for every one of them. A second
//! test runs at `trace` with every other kind of secret (realm API tokens,
//! webhook signing secrets, a rotated platform key, forged tokens, cookies
//! and links) through every face, and searches the log, `/metrics` and
//! every error body.

mod common;

use common::{Cohort, BIN};
use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A password PostgreSQL's trust authentication ignores, so it can be put in
/// the URL without changing what the server can do.
const DB_PASSWORD: &str = "pw-Zq81vXk3mTe";
const QUERY_PASSWORD: &str = "pw-Qp55rWn0sLa";

/// `url` with `DB_PASSWORD` as the user's password.
fn with_password(url: &str) -> String {
    url.replacen("postgres@", &format!("postgres:{DB_PASSWORD}@"), 1)
}

struct Server {
    child: Child,
    base: String,
    log: std::path::PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve(cohort: &Cohort, db: &str) -> Server {
    serve_at(cohort, db, "debug", &[])
}

fn serve_at(cohort: &Cohort, db: &str, level: &str, args: &[&str]) -> Server {
    let log = cohort.path("server.log");
    let mut child = Command::new(BIN)
        .args([
            "--db",
            db,
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--poll-ms",
            "50",
        ])
        .args(args)
        .env("COHORT_LOG", level)
        .env("COHORT_LOG_FORMAT", "json")
        .current_dir(cohort.dir.path())
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&log).expect("log file"))
        .spawn()
        .expect("spawn cohort serve");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            // The banner may print credentials for the operator; it is
            // standard output, not the log, and is not searched here.
            if let Some(rest) = line.strip_prefix("cohort listening on ") {
                let _ = tx.send(rest.split_whitespace().next().unwrap_or("").to_string());
            }
        }
    });
    let base = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("cohort serve did not start");
    Server { child, base, log }
}

/// Every secret used, and where it appeared in the logs.
fn leaks(text: &str, secrets: &[&str]) -> Vec<String> {
    secrets
        .iter()
        .filter(|s| !s.is_empty() && text.contains(*s))
        .map(|s| s.to_string())
        .collect()
}

#[tokio::test]
async fn logs_hold_no_secret_and_every_request_line_its_id() {
    let (cohort, owner, platform) = Cohort::init();
    let member = cohort.add_user("member@test.example", "Mia Member", "member", false);
    let bot = cohort.add_user("bot@test.example", "Bob Bot", "member", true);
    let postgres = cohort.db.starts_with("postgres");
    let db = if postgres {
        with_password(&cohort.db)
    } else {
        cohort.db.clone()
    };
    let server = serve(&cohort, &db);
    let http = reqwest::Client::new();
    let base = server.base.clone();
    let zulip = |method: reqwest::Method, path: &str, who: &common::Account| {
        http.request(method, format!("{base}/api/v1{path}"))
            .basic_auth(&who.email, Some(&who.key))
    };
    let imkit = |method: reqwest::Method, path: &str, key: &str| {
        http.request(method, format!("{base}{path}"))
            .header("IM-API-KEY", key)
    };
    use reqwest::Method;
    let wrong = common::Account {
        key: format!("{}x", owner.key),
        ..owner.clone()
    };
    let mut requests: Vec<reqwest::RequestBuilder> = vec![
        zulip(Method::GET, "/users/me", &owner),
        zulip(Method::GET, "/users/me", &member),
        zulip(Method::GET, "/users/me", &bot),
        zulip(Method::GET, "/users/me", &wrong),
        zulip(Method::GET, "/users", &owner),
        zulip(Method::GET, "/user_groups", &member),
        zulip(Method::GET, "/server_settings", &owner),
        zulip(Method::POST, "/user_groups/create", &owner).form(&[
            ("name", "Logged".to_string()),
            ("description", "d".to_string()),
            ("members", json!([member.id]).to_string()),
        ]),
        zulip(Method::POST, "/user_groups/create", &member)
            .form(&[("name", "x".to_string()), ("members", "[1,".to_string())]),
        zulip(Method::PATCH, "/users/999999", &owner).form(&[("full_name", "N")]),
        zulip(Method::PATCH, "/realm", &member).form(&[("bots_may_manage_groups", "true")]),
        zulip(Method::DELETE, "/users/999999", &member),
        imkit(Method::GET, "/admin/groups", &platform),
        imkit(Method::GET, "/admin/groups?limit=1000", &platform),
        imkit(Method::GET, "/admin/groups", &format!("{platform}x")),
        imkit(Method::POST, "/admin/groups", &platform)
            .json(&json!({"_id": "team", "nickname": "Team"})),
        imkit(Method::GET, "/admin/clients?q=%7Bnot%20json", &platform),
        imkit(Method::GET, "/admin/clients/nobody", &platform),
        http.get(format!("{base}/healthz")),
        http.get(format!("{base}/readyz")),
        http.get(format!("{base}/api/v1/no/such/route"))
            .basic_auth(&owner.email, Some(&owner.key)),
    ];
    // cohort issues no access tokens and refuses a caller's; a token sent
    // anyway is a secret all the same.
    let token = "tok-Hs72kLq0Zr4wY".to_string();
    requests.push(
        imkit(Method::POST, "/admin/clients", &platform)
            .json(&json!({"_id": "c2", "nickname": "Client Two", "token": token})),
    );
    requests.push(
        imkit(Method::POST, "/admin/clients", &platform)
            .json(&json!({"_id": "c3", "nickname": "Client Three", "issueAccessToken": true})),
    );
    // The admin page: a sign-in link (a secret until used, in the path),
    // opened and spent, and the session cookie it gives.
    let link = cohort.cli(&["login-link", "--email", &owner.email]);
    assert!(
        link.status.success(),
        "{}",
        String::from_utf8_lossy(&link.stderr)
    );
    let link_key = String::from_utf8_lossy(&link.stdout)
        .trim()
        .rsplit('/')
        .next()
        .expect("a key")
        .to_string();
    let no_redirects = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    requests.push(http.get(format!("{base}/ui/login/{link_key}")));
    let opened = no_redirects
        .post(format!("{base}/ui/login/{link_key}"))
        .send()
        .await
        .expect("sign in");
    assert_eq!(opened.status(), 303);
    let session = opened
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .and_then(|c| c.strip_prefix("cohort_session="))
        .and_then(|c| c.split(';').next())
        .expect("a session cookie")
        .to_string();
    requests.push(
        http.get(format!("{base}/ui/groups"))
            .header("cookie", format!("cohort_session={session}")),
    );
    requests.push(http.post(format!("{base}/ui/login/{link_key}")));
    let mut ids = Vec::new();
    // The requests below, and the sign-in above.
    let sent = requests.len() + 1;
    for request in requests {
        let response = request.send().await.expect("request");
        let id = response
            .headers()
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .expect("x-request-id")
            .to_string();
        ids.push(id);
    }
    // A refused command-line call with a password in the URL's query: its
    // error output is a log too.
    let refused = Command::new(BIN)
        .args([
            "--db",
            &format!("postgres://cohort:{DB_PASSWORD}@127.0.0.1:1/none?password={QUERY_PASSWORD}"),
            "check",
        ])
        .env("COHORT_LOG", "debug")
        .output()
        .expect("run cohort");
    assert!(!refused.status.success());
    // Give the last request lines time to be written.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let log = std::fs::read_to_string(&server.log).expect("read log");
    drop(server);

    let secrets = [
        owner.key.as_str(),
        member.key.as_str(),
        bot.key.as_str(),
        wrong.key.as_str(),
        platform.as_str(),
        token.as_str(),
        DB_PASSWORD,
        QUERY_PASSWORD,
        link_key.as_str(),
        session.as_str(),
    ];
    let found = leaks(&log, &secrets);
    assert!(
        found.is_empty(),
        "secrets in the server log: {found:?}\n{log}"
    );
    let cli_err = String::from_utf8_lossy(&refused.stderr).to_string()
        + &String::from_utf8_lossy(&refused.stdout);
    let found = leaks(&cli_err, &secrets);
    assert!(
        found.is_empty(),
        "secrets in the CLI's output: {found:?}\n{cli_err}"
    );

    // One `request` line per request, each with its id.
    let lines: Vec<Value> = log
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let request_lines: Vec<&Value> = lines
        .iter()
        .filter(|l| l["fields"]["message"] == "request")
        .collect();
    assert_eq!(request_lines.len(), sent, "{log}");
    for id in &ids {
        assert!(
            request_lines
                .iter()
                .any(|l| l["fields"]["request_id"].as_str() == Some(id)),
            "no request line for {id}:\n{log}"
        );
    }
    // Whatever a handler logs carries its request's id: the refused page
    // size is logged (its detail is not in IMKIT's message).
    let refused_page = lines
        .iter()
        .find(|l| l["fields"]["message"] == "page size refused")
        .unwrap_or_else(|| panic!("no log line for the refused page size:\n{log}"));
    assert_eq!(
        refused_page["span"]["request_id"].as_str(),
        Some(ids[13].as_str()),
        "{refused_page}"
    );
    assert_eq!(refused_page["fields"]["limit"], 1000);
    // And every line logged inside a request span names the request.
    for line in &lines {
        if let Some(spans) = line["spans"].as_array() {
            for span in spans.iter().filter(|s| s["name"] == "request") {
                assert!(span["request_id"].is_string(), "{line}");
            }
        }
    }
}

/// Every kind of secret, real and forged, through every face at `trace`:
/// none is in the log, in `/metrics`, or in any answer that is not the one
/// place a new secret is shown (the webhook creation and rotation bodies).
#[tokio::test]
async fn no_secret_of_any_kind_in_trace_logs_metrics_or_error_bodies() {
    let (cohort, owner, platform) = Cohort::init();
    let scim = cohort.scim_token.clone().expect("a scim token");
    let made = cohort.cli_json(&[
        "token",
        "create",
        "--scope",
        "audit:read,webhooks,events",
        "--name",
        "ops",
        "--json",
    ]);
    let token = made["token"].as_str().expect("a token").to_string();
    let rotated = cohort.cli_json(&["realm", "key", "rotate", "--grace-secs", "600", "--json"]);
    let new_platform = rotated["platform_key"].as_str().unwrap().to_string();
    let link = cohort.cli(&["login-link", "--email", &owner.email]);
    let link_key = String::from_utf8_lossy(&link.stdout)
        .trim()
        .rsplit('/')
        .next()
        .expect("a key")
        .to_string();
    let server = serve_at(
        &cohort,
        &cohort.db.clone(),
        // Even asked for explicitly, the database driver's statement
        // parameters (webhook secrets among them) are not logged.
        "trace,tokio_postgres=trace",
        &["--webhook-allow-private"],
    );
    let base = server.base.clone();
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    // Forged ones: well formed, and not.
    let forged_token = format!("cohort_{}", "Zx9".repeat(13) + "Q");
    let forged_key = "Fk3mQ9pLx2Vb7Nc4Rt8Wy1Zs6Hd0Jg5K".to_string();
    let forged_cookie = "ck-Forged-7Hq2Lm9Xw4".to_string();
    let forged_link = "lk-Forged-3Vn8Pq1Zr6".to_string();
    let mut secrets: Vec<String> = vec![
        owner.key.clone(),
        platform.clone(),
        new_platform.clone(),
        scim.clone(),
        token.clone(),
        link_key.clone(),
        forged_token.clone(),
        forged_key.clone(),
        forged_cookie.clone(),
        forged_link.clone(),
    ];
    let mut bodies: Vec<(String, u16, String)> = Vec::new();
    let mut record = |what: &str, status: u16, body: String| {
        bodies.push((what.to_string(), status, body));
    };

    // A webhook endpoint: its secret, and the one a rotation makes.
    let hook = http
        .post(format!("{base}/cohort/v1/webhooks"))
        .bearer_auth(&token)
        .json(&json!({"url": "http://127.0.0.1:9/in"}))
        .send()
        .await
        .unwrap();
    assert_eq!(hook.status(), 201);
    let hook: Value = hook.json().await.unwrap();
    let hook_id = hook["webhook"]["id"].as_i64().unwrap();
    secrets.push(hook["secret"].as_str().unwrap().to_string());
    let turned = http
        .post(format!("{base}/cohort/v1/webhooks/{hook_id}/rotate-secret"))
        .bearer_auth(&token)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(turned.status(), 200, "rotate");
    let turned: Value = turned.json().await.unwrap();
    secrets.push(turned["secret"].as_str().unwrap().to_string());

    // A session from the link, then every credential on every face.
    let opened = http
        .post(format!("{base}/ui/login/{link_key}"))
        .send()
        .await
        .unwrap();
    assert_eq!(opened.status(), 303);
    let session = opened
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .and_then(|c| c.strip_prefix("cohort_session="))
        .and_then(|c| c.split(';').next())
        .unwrap()
        .to_string();
    secrets.push(session.clone());
    let ui_page = http
        .get(format!("{base}/ui/groups"))
        .header("cookie", format!("cohort_session={session}"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let marker = r#"name="csrf" value=""#;
    let at = ui_page.find(marker).expect("a CSRF field") + marker.len();
    let csrf = ui_page[at..at + ui_page[at..].find('"').unwrap()].to_string();
    secrets.push(csrf.clone());

    use reqwest::Method;
    let mut requests: Vec<(&str, reqwest::RequestBuilder)> = Vec::new();
    for key in [&owner.key, &forged_key] {
        requests.push((
            "zulip me",
            http.get(format!("{base}/api/v1/users/me"))
                .basic_auth(&owner.email, Some(key)),
        ));
        requests.push((
            "zulip create",
            http.post(format!("{base}/api/v1/user_groups/create"))
                .basic_auth(&owner.email, Some(key))
                .form(&[("name", "Traced"), ("description", "d"), ("members", "[1,")]),
        ));
        requests.push((
            "zulip register",
            http.post(format!("{base}/api/v1/register"))
                .basic_auth(&owner.email, Some(key)),
        ));
        requests.push((
            "zulip events",
            http.get(format!("{base}/api/v1/events?queue_id=no-such-queue"))
                .basic_auth(&owner.email, Some(key)),
        ));
        requests.push((
            "native basic",
            http.get(format!("{base}/cohort/v1/realm"))
                .basic_auth(&owner.email, Some(key)),
        ));
        // A key where a user name goes, and in a query string.
        requests.push((
            "zulip key as email",
            http.get(format!("{base}/api/v1/users/me?api_key={key}"))
                .basic_auth(key, Some(key)),
        ));
    }
    for key in [&platform, &new_platform, &forged_key] {
        requests.push((
            "imkit groups",
            http.get(format!("{base}/admin/groups"))
                .header("IM-API-KEY", key),
        ));
        requests.push((
            "imkit bad q",
            http.get(format!("{base}/admin/clients?q=%7Bnot"))
                .header("IM-API-KEY", key),
        ));
        requests.push((
            "imkit put",
            http.request(Method::POST, format!("{base}/admin/clients"))
                .header("IM-API-KEY", key)
                .json(&json!({"_id": "c9", "nickname": "Nine", "token": key})),
        ));
    }
    for bearer in [&scim, &token, &forged_token, &forged_key] {
        requests.push((
            "scim users",
            http.get(format!("{base}/scim/v2/Users"))
                .bearer_auth(bearer),
        ));
        requests.push((
            "scim bad filter",
            http.get(format!("{base}/scim/v2/Users?filter=userName%20eq"))
                .bearer_auth(bearer),
        ));
        requests.push((
            "scim create",
            http.post(format!("{base}/scim/v2/Users"))
                .bearer_auth(bearer)
                .header("content-type", "application/scim+json")
                .body(r#"{"userName": 12}"#),
        ));
        requests.push((
            "native realm",
            http.get(format!("{base}/cohort/v1/realm"))
                .bearer_auth(bearer),
        ));
        requests.push((
            "native audit",
            http.get(format!("{base}/cohort/v1/audit?cursor={bearer}"))
                .bearer_auth(bearer),
        ));
        requests.push((
            "native webhook",
            http.get(format!("{base}/cohort/v1/webhooks/{hook_id}"))
                .bearer_auth(bearer),
        ));
        requests.push((
            "native webhooks",
            http.get(format!("{base}/cohort/v1/webhooks"))
                .bearer_auth(bearer),
        ));
        requests.push((
            "native bad webhook",
            http.post(format!("{base}/cohort/v1/webhooks"))
                .bearer_auth(bearer)
                .json(&json!({"url": format!("http://{bearer}.invalid/x"), "secret": bearer})),
        ));
        requests.push((
            "stream bad id",
            http.get(format!("{base}/cohort/v1/stream"))
                .bearer_auth(bearer)
                .header("last-event-id", bearer.as_str()),
        ));
    }
    for cookie in [&session, &forged_cookie] {
        requests.push((
            "ui groups",
            http.get(format!("{base}/ui/groups"))
                .header("cookie", format!("cohort_session={cookie}")),
        ));
        requests.push((
            "ui forged csrf",
            http.post(format!("{base}/ui/groups"))
                .header("cookie", format!("cohort_session={cookie}"))
                .header("origin", &base)
                .form(&[("csrf", forged_cookie.as_str()), ("name", "X")]),
        ));
        requests.push((
            "ui right csrf bad name",
            http.post(format!("{base}/ui/groups"))
                .header("cookie", format!("cohort_session={cookie}"))
                .header("origin", &base)
                .form(&[("csrf", csrf.as_str()), ("name", "")]),
        ));
    }
    for key in [&link_key, &forged_link] {
        requests.push(("ui link page", http.get(format!("{base}/ui/login/{key}"))));
        requests.push(("ui link reuse", http.post(format!("{base}/ui/login/{key}"))));
    }
    requests.push((
        "ui key form",
        http.post(format!("{base}/ui/login"))
            .header("origin", &base)
            .form(&[
                ("email", owner.email.as_str()),
                ("key", forged_key.as_str()),
            ]),
    ));
    requests.push((
        "ui key form ok",
        http.post(format!("{base}/ui/login"))
            .header("origin", &base)
            .form(&[("email", owner.email.as_str()), ("key", owner.key.as_str())]),
    ));
    let sent = requests.len();
    for (what, request) in requests {
        let response = request
            .timeout(Duration::from_secs(10))
            .send()
            .await
            .expect("request");
        let status = response.status().as_u16();
        let headers = format!("{:?}", response.headers());
        let streaming = headers.contains("text/event-stream");
        let body = if streaming {
            String::new()
        } else {
            response.text().await.unwrap_or_default()
        };
        record(what, status, format!("{headers}\n{body}"));
    }
    let metrics = http
        .get(format!("{base}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let log = std::fs::read_to_string(&server.log).expect("read log");
    drop(server);

    let secrets: Vec<&str> = secrets.iter().map(String::as_str).collect();
    let found = leaks(&log, &secrets);
    let lines: Vec<&str> = log
        .lines()
        .filter(|l| found.iter().any(|s| l.contains(s.as_str())))
        .take(5)
        .collect();
    assert!(
        found.is_empty(),
        "secrets in the trace log: {found:?}\n{}",
        lines.join("\n")
    );
    let found = leaks(&metrics, &secrets);
    assert!(
        found.is_empty(),
        "secrets in /metrics: {found:?}\n{metrics}"
    );
    let mut errors = 0;
    for (what, status, body) in &bodies {
        // Only answers that refused something: a 2xx may show the caller
        // what the caller sent (an IMKIT client's echo) or made.
        if *status < 300 {
            continue;
        }
        errors += 1;
        // The session's own pages carry its CSRF token in every form: that
        // one is searched for in the log and the metrics only.
        let found: Vec<String> = leaks(body, &secrets)
            .into_iter()
            .filter(|s| *s != csrf)
            .collect();
        assert!(
            found.is_empty(),
            "{what} ({status}) answered with {found:?}: {body}"
        );
    }
    println!(
        "{sent} requests, {errors} refusals searched, {} secrets",
        secrets.len()
    );
    assert!(errors > sent / 2, "most of these requests must be refused");
    // The log did see the requests: it is not empty by accident.
    assert!(
        log.lines().count() > sent,
        "a trace log of {} lines",
        log.lines().count()
    );
}
