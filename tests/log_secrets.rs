//! Secrets never reach a log, and every request's log lines carry its
//! `request_id`. A server runs with debug logs in JSON captured to a file,
//! many endpoints of both faces are exercised with API keys, the platform
//! key, a client token and (on PostgreSQL) a database URL holding a
//! password; then the logs are searched for every one of them.

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
        .env("COHORT_LOG", "debug")
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
