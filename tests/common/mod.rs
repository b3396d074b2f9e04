//! Test harness for the black-box suites: real `cohort` processes on temporary
//! SQLite files, talked to over real HTTP on 127.0.0.1.
//!
//! `Realm::new()` creates a database with one user of every role (and a bot)
//! through the CLI, then starts `cohort serve` on a free port. `Api` speaks
//! Zulip's encoding as the official Python client does: query string for GET,
//! form body otherwise, non-string values JSON-encoded.

#![allow(dead_code)]

use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

pub const BIN: &str = env!("CARGO_BIN_EXE_cohort");

/// A user's credentials.
#[derive(Clone, Debug)]
pub struct Account {
    pub id: i64,
    pub email: String,
    pub key: String,
}

/// One database and (when started) one server process on it.
pub struct Cohort {
    pub dir: tempfile::TempDir,
    pub db: String,
    pub base: String,
    child: Option<Child>,
    extra_args: Vec<String>,
}

impl Cohort {
    /// A fresh database with one realm; returns its owner and platform key.
    pub fn init() -> (Cohort, Account, String) {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = format!("sqlite://{}", dir.path().join("cohort.db").display());
        let cohort = Cohort {
            dir,
            db,
            base: String::new(),
            child: None,
            extra_args: Vec::new(),
        };
        let zuliprc = cohort.path("zuliprc");
        let out = cohort.cli_json(&[
            "init",
            "--json",
            "--realm-name",
            "Test",
            "--owner-email",
            "owner@test.example",
            "--owner-name",
            "Olivia Owner",
            "--zuliprc",
            zuliprc.to_str().unwrap(),
        ]);
        let owner = Account {
            id: 0,
            email: out["email"].as_str().unwrap().to_string(),
            key: out["api_key"].as_str().unwrap().to_string(),
        };
        let platform = out["platform_key"].as_str().unwrap().to_string();
        let users = cohort.cli_json(&["user", "list", "--json"]);
        let owner = Account {
            id: users[0]["user_id"].as_i64().unwrap(),
            ..owner
        };
        (cohort, owner, platform)
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Run the CLI against this database.
    pub fn cli(&self, args: &[&str]) -> Output {
        Command::new(BIN)
            .arg("--db")
            .arg(&self.db)
            .args(args)
            .env("COHORT_LOG", "warn")
            .current_dir(self.dir.path())
            .output()
            .expect("run cohort")
    }

    pub fn cli_json(&self, args: &[&str]) -> Value {
        let out = self.cli(args);
        assert!(
            out.status.success(),
            "cohort {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "cohort {args:?} printed no JSON ({e}): {}",
                String::from_utf8_lossy(&out.stdout)
            )
        })
    }

    pub fn add_user(&self, email: &str, name: &str, role: &str, bot: bool) -> Account {
        let mut args = vec![
            "user", "add", "--json", "--email", email, "--name", name, "--role", role,
        ];
        if bot {
            args.push("--bot");
        }
        let out = self.cli_json(&args);
        Account {
            id: out["user_id"].as_i64().unwrap(),
            email: out["email"].as_str().unwrap().to_string(),
            key: out["api_key"].as_str().unwrap().to_string(),
        }
    }

    pub fn with_args(mut self, args: &[&str]) -> Cohort {
        self.extra_args = args.iter().map(|s| s.to_string()).collect();
        self
    }

    /// Start `cohort serve` on a free port and wait until it listens.
    pub fn start(&mut self) {
        assert!(self.child.is_none(), "already running");
        let mut child = Command::new(BIN)
            .arg("--db")
            .arg(&self.db)
            .args(["serve", "--listen", "127.0.0.1:0", "--poll-ms", "50"])
            .args(&self.extra_args)
            .env(
                "COHORT_LOG",
                std::env::var("COHORT_TEST_LOG").unwrap_or_else(|_| "warn".into()),
            )
            .current_dir(self.dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn cohort serve");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(rest) = line.strip_prefix("cohort listening on ") {
                    let url = rest.split_whitespace().next().unwrap_or("").to_string();
                    let _ = tx.send(url);
                }
            }
        });
        let base = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("cohort serve did not start listening");
        self.base = base;
        self.child = Some(child);
    }

    /// SIGKILL: no chance to flush or clean up.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGTERM and wait for a graceful exit; returns whether it exited cleanly.
    pub fn stop(&mut self) -> bool {
        match self.child.take() {
            Some(mut child) => {
                unsafe {
                    libc::kill(child.id() as i32, libc::SIGTERM);
                }
                child.wait().map(|s| s.success()).unwrap_or(false)
            }
            None => true,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub fn api(&self, account: &Account) -> Api {
        Api {
            base: self.base.clone(),
            email: account.email.clone(),
            key: account.key.clone(),
            http: reqwest::Client::new(),
        }
    }
}

impl Drop for Cohort {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A realm with one account of each role, served by a running `cohort`.
pub struct Realm {
    pub cohort: Cohort,
    pub owner: Account,
    pub admin: Account,
    pub moderator: Account,
    pub member: Account,
    pub member2: Account,
    pub guest: Account,
    pub bot: Account,
    pub platform_key: String,
}

impl Realm {
    pub fn new() -> Realm {
        Realm::with_server_args(&[])
    }

    pub fn with_server_args(args: &[&str]) -> Realm {
        let (cohort, owner, platform_key) = Cohort::init();
        let admin = cohort.add_user("admin@test.example", "Ada Admin", "administrator", false);
        let moderator = cohort.add_user("mod@test.example", "Moe Moderator", "moderator", false);
        let member = cohort.add_user("member@test.example", "Mia Member", "member", false);
        let member2 = cohort.add_user("member2@test.example", "Max Member", "member", false);
        let guest = cohort.add_user("guest@test.example", "Gus Guest", "guest", false);
        let bot = cohort.add_user("bot@test.example", "Bob Bot", "member", true);
        let mut cohort = cohort.with_args(args);
        cohort.start();
        Realm {
            cohort,
            owner,
            admin,
            moderator,
            member,
            member2,
            guest,
            bot,
            platform_key,
        }
    }

    pub fn api(&self, account: &Account) -> Api {
        self.cohort.api(account)
    }

    /// Ids of the system groups, by name.
    pub async fn system_group(&self, name: &str) -> i64 {
        let (_, body) = self.api(&self.owner).get("/user_groups", &[]).await;
        body["user_groups"]
            .as_array()
            .unwrap()
            .iter()
            .find(|g| g["name"] == name)
            .unwrap_or_else(|| panic!("no group {name}"))["id"]
            .as_i64()
            .unwrap()
    }

    /// Create a group as `who`; panics unless it succeeds.
    pub async fn create_group(&self, who: &Account, name: &str, members: &[i64]) -> i64 {
        let (status, body) = self
            .api(who)
            .post(
                "/user_groups/create",
                &[
                    ("name", name.to_string()),
                    ("description", format!("{name} description")),
                    ("members", serde_json::to_string(members).unwrap()),
                ],
            )
            .await;
        assert_eq!(status, 200, "create {name}: {body}");
        body["group_id"].as_i64().unwrap()
    }

    /// The group object from `GET /user_groups` (including deactivated ones).
    pub async fn group(&self, id: i64) -> Value {
        let (_, body) = self
            .api(&self.owner)
            .get(
                "/user_groups",
                &[("include_deactivated_groups", "true".into())],
            )
            .await;
        body["user_groups"]
            .as_array()
            .unwrap()
            .iter()
            .find(|g| g["id"] == id)
            .cloned()
            .unwrap_or(Value::Null)
    }

    /// The whole `GET /user_groups` body, to check that refused requests change nothing.
    pub async fn all_groups(&self) -> Value {
        let (_, body) = self
            .api(&self.owner)
            .get(
                "/user_groups",
                &[("include_deactivated_groups", "true".into())],
            )
            .await;
        body
    }
}

/// A Zulip API client for one account.
pub struct Api {
    pub base: String,
    pub email: String,
    pub key: String,
    pub http: reqwest::Client,
}

impl Api {
    fn url(&self, path: &str) -> String {
        format!("{}/api/v1{}", self.base, path)
    }

    pub async fn send(&self, request: reqwest::RequestBuilder) -> (u16, Value) {
        let response = request
            .basic_auth(&self.email, Some(&self.key))
            .send()
            .await
            .expect("request failed");
        let status = response.status().as_u16();
        let text = response.text().await.expect("body");
        let body = match serde_json::from_str(&text) {
            Ok(json) => json,
            Err(_) => Value::String(text),
        };
        (status, body)
    }

    pub async fn get(&self, path: &str, params: &[(&str, String)]) -> (u16, Value) {
        self.send(self.http.get(self.url(path)).query(params)).await
    }

    pub async fn post(&self, path: &str, params: &[(&str, String)]) -> (u16, Value) {
        self.send(self.http.post(self.url(path)).form(params)).await
    }

    pub async fn patch(&self, path: &str, params: &[(&str, String)]) -> (u16, Value) {
        self.send(self.http.patch(self.url(path)).form(params))
            .await
    }

    pub async fn delete(&self, path: &str, params: &[(&str, String)]) -> (u16, Value) {
        self.send(self.http.delete(self.url(path)).form(params))
            .await
    }

    /// A raw body with a content type of the caller's choosing.
    pub async fn raw(
        &self,
        method: &str,
        path: &str,
        content_type: &str,
        body: Vec<u8>,
    ) -> (u16, Value) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        self.send(
            self.http
                .request(method, self.url(path))
                .header("content-type", content_type)
                .body(body),
        )
        .await
    }
}

/// Assert a Zulip error envelope.
#[track_caller]
pub fn assert_error(got: &(u16, Value), status: u16, code: &str, msg: &str) {
    let (got_status, body) = got;
    assert_eq!(*got_status, status, "status; body {body}");
    assert_eq!(body["result"], "error", "{body}");
    assert_eq!(body["code"], code, "{body}");
    assert_eq!(body["msg"], msg, "{body}");
}

#[track_caller]
pub fn assert_success(got: &(u16, Value)) {
    let (status, body) = got;
    assert_eq!(*status, 200, "{body}");
    assert_eq!(body["result"], "success", "{body}");
    assert_eq!(body["msg"], "", "{body}");
}

pub fn json(value: impl serde::Serialize) -> String {
    serde_json::to_string(&value).unwrap()
}

pub fn exists(path: &Path) -> bool {
    path.exists()
}
