//! Behind a reverse proxy: `X-Forwarded-For` and `X-Forwarded-Proto` are
//! believed only from a `--trusted-proxy` peer — the audit trail's client
//! address and the admin page's `Secure` cookie follow them then, and
//! ignore them from anyone else — and `serve` refuses plain HTTP on a
//! non-loopback address unless `--behind-proxy` says a proxy terminates TLS.

mod common;

use common::*;
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

/// Create a group through the Zulip face with these extra headers; return
/// the client address the audit trail recorded for it.
async fn recorded_client(realm: &Realm, name: &str, headers: &[(&str, &str)]) -> Value {
    let http = reqwest::Client::new();
    let mut request = http
        .post(realm.cohort.url("/api/v1/user_groups/create"))
        .basic_auth(&realm.owner.email, Some(&realm.owner.key))
        .form(&[("name", name), ("description", "d"), ("members", "[]")]);
    for (header, value) in headers {
        request = request.header(*header, *value);
    }
    let response = request.send().await.expect("create");
    assert_eq!(
        response.status(),
        200,
        "{}",
        response.text().await.unwrap_or_default()
    );
    let audit: Value = http
        .get(realm.cohort.url("/cohort/v1/audit"))
        .query(&[("type", "group.created"), ("limit", "1000")])
        .basic_auth(&realm.owner.email, Some(&realm.owner.key))
        .send()
        .await
        .expect("audit")
        .json()
        .await
        .expect("JSON");
    let events = audit["events"].as_array().expect("events");
    let event = events
        .iter()
        .find(|e| e["group"]["name"] == name)
        .unwrap_or_else(|| panic!("no group.created for {name}: {audit}"));
    event["client"].clone()
}

#[tokio::test]
async fn a_trusted_proxy_names_the_client_in_the_audit_trail() {
    let realm = Realm::with_server_args(&[
        "--trusted-proxy",
        "10.0.0.0/8",
        "--trusted-proxy",
        "127.0.0.1",
    ]);
    let client = recorded_client(&realm, "one hop", &[("x-forwarded-for", "203.0.113.7")]).await;
    assert_eq!(client, "203.0.113.7");
    // The client forged an entry; the trusted hops each appended one: the
    // rightmost untrusted address is the client.
    let client = recorded_client(
        &realm,
        "two hops",
        &[("x-forwarded-for", "192.0.2.66, 198.51.100.4, 10.1.2.3")],
    )
    .await;
    assert_eq!(client, "198.51.100.4");
    // No header: the peer itself.
    let client = recorded_client(&realm, "direct", &[]).await;
    assert_eq!(client, "127.0.0.1");
}

#[tokio::test]
async fn forwarding_headers_from_an_untrusted_peer_are_ignored() {
    // 127.0.0.1 (the test) is not in the trusted network.
    let realm = Realm::with_server_args(&["--trusted-proxy", "10.0.0.0/8"]);
    let client = recorded_client(&realm, "forged", &[("x-forwarded-for", "203.0.113.7")]).await;
    assert_eq!(client, "127.0.0.1");
    let realm = Realm::new();
    let client = recorded_client(&realm, "forged too", &[("x-forwarded-for", "203.0.113.7")]).await;
    assert_eq!(client, "127.0.0.1");
}

/// Sign in to the admin page with these extra headers; the cookie set.
async fn session_cookie(realm: &Realm, headers: &[(&str, &str)]) -> String {
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("a client");
    let mut request = http
        .post(realm.cohort.url("/ui/login"))
        .form(&[("email", &realm.owner.email), ("api_key", &realm.owner.key)]);
    for (header, value) in headers {
        request = request.header(*header, *value);
    }
    let response = request.send().await.expect("sign in");
    assert_eq!(response.status(), 303);
    response
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .expect("a cookie")
        .to_string()
}

#[tokio::test]
async fn the_secure_cookie_believes_only_a_trusted_proxy() {
    let https = [("x-forwarded-proto", "https")];
    let trusting = Realm::with_server_args(&["--trusted-proxy", "127.0.0.0/8"]);
    assert!(session_cookie(&trusting, &https).await.contains("; Secure"));
    assert!(!session_cookie(&trusting, &[]).await.contains("Secure"));
    let untrusting = Realm::new();
    let cookie = session_cookie(&untrusting, &https).await;
    assert!(!cookie.contains("Secure"), "{cookie}");
}

/// `cohort serve` with these arguments on a fresh database: whether it
/// started listening (then it is stopped) and what it wrote to stderr.
fn serve(cohort: &Cohort, args: &[&str]) -> (bool, String) {
    let mut child = Command::new(BIN)
        .arg("--db")
        .arg(&cohort.db)
        .arg("serve")
        .args(args)
        .env("COHORT_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn cohort serve");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if line.starts_with("cohort listening on ") {
                let _ = tx.send(line);
            }
        }
    });
    let listening = rx.recv_timeout(Duration::from_secs(30)).is_ok();
    if listening {
        let _ = child.kill();
    }
    let out = child.wait_with_output().expect("wait");
    if !listening {
        assert!(!out.status.success(), "exited 0 without listening");
    }
    (listening, String::from_utf8_lossy(&out.stderr).to_string())
}

#[test]
fn plain_http_off_loopback_needs_behind_proxy() {
    let (cohort, _owner, _platform) = Cohort::init();
    for address in ["0.0.0.0:0", "[::]:0"] {
        let (listening, stderr) = serve(&cohort, &["--listen", address]);
        assert!(!listening, "{address} served plain HTTP");
        for flag in ["--tls-cert", "--tls-key", "--behind-proxy"] {
            assert!(stderr.contains(flag), "{address}: {stderr}");
        }
        let (listening, stderr) = serve(&cohort, &["--listen", address, "--behind-proxy"]);
        assert!(listening, "{address} --behind-proxy: {stderr}");
    }
    // Loopback is always allowed.
    for address in ["127.0.0.1:0", "127.0.0.2:0", "[::1]:0"] {
        let (listening, stderr) = serve(&cohort, &["--listen", address]);
        assert!(listening, "{address}: {stderr}");
    }
}
