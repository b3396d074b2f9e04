//! Test harness for the black-box suites: real `cohort` processes on temporary
//! SQLite files, talked to over real HTTP on 127.0.0.1.
//!
//! `Realm::new()` creates a database with one user of every role (and a bot)
//! through the CLI, then starts `cohort serve` on a free port. `Api` speaks
//! Zulip's encoding as the official Python client does: query string for GET,
//! form body otherwise, non-string values JSON-encoded.
//!
//! The store is SQLite unless `COHORT_TEST_STORE=postgres`: then every test
//! gets a fresh PostgreSQL database (on `COHORT_TEST_PG`, default
//! `postgres://postgres@127.0.0.1:5432`), dropped when the test ends.
//!
//! Every database a `Cohort` initialised is checked with `cohort check` when
//! the `Cohort` is dropped (after its server is killed): a test whose change
//! log and tables disagree fails even if all its own assertions held.

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
    /// `--poll-ms` for `cohort serve`.
    poll_ms: u64,
    /// Run `cohort check` on the database when dropped (the `Cohort` that
    /// initialised the database does; other nodes on it do not).
    check_on_drop: bool,
    /// A PostgreSQL database this test created (dropped on drop).
    pg_database: Option<PgDatabase>,
    /// The realm's SCIM token as `init --json` printed it (`None` on a node).
    pub scim_token: Option<String>,
}

/// How often test servers poll for other processes' commits.
const TEST_POLL_MS: u64 = 50;
/// A poll interval long enough that only LISTEN/NOTIFY can move a node
/// within a test (the first poll runs at start-up).
pub const NO_POLL_MS: u64 = 3_600_000;

/// PostgreSQL server URL for tests (no database part).
pub fn pg_server() -> String {
    std::env::var("COHORT_TEST_PG").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into())
}

fn psql(database: &str, sql: &str) -> Output {
    Command::new("psql")
        .arg(format!("{}/{database}", pg_server()))
        .args(["-v", "ON_ERROR_STOP=1", "-q", "-c", sql])
        .output()
        .expect("run psql")
}

/// Whether PostgreSQL answers. In CI (`CI=true`) it must: its absence fails
/// the calling test instead of skipping it.
pub fn postgres_available() -> bool {
    let ok = Command::new("psql")
        .arg(format!("{}/postgres", pg_server()))
        .args(["-q", "-c", "SELECT 1"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "PostgreSQL is not reachable at {} and CI=true: PostgreSQL tests must run in CI",
            pg_server()
        );
        eprintln!(
            "\n!!!!!!!!\n!!! PostgreSQL is NOT reachable at {}: the PostgreSQL tests did NOT run.\n!!!!!!!!\n",
            pg_server()
        );
    }
    ok
}

/// A throwaway PostgreSQL database.
pub struct PgDatabase {
    pub name: String,
}

impl PgDatabase {
    pub fn create() -> PgDatabase {
        static COUNTER: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        let name = format!("cohort_test_{}_{}_{}", std::process::id(), n, nanos);
        let out = psql("postgres", &format!("CREATE DATABASE {name}"));
        assert!(
            out.status.success(),
            "CREATE DATABASE failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        PgDatabase { name }
    }

    pub fn url(&self) -> String {
        format!("{}/{}", pg_server(), self.name)
    }
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        let _ = psql(
            "postgres",
            &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name),
        );
    }
}

/// Run one SQL statement directly on the database behind `db` (`psql` or
/// `sqlite3`), asserting it succeeded; returns what it printed, trimmed.
pub fn sql(db: &str, statement: &str) -> String {
    let out = if db.starts_with("postgres") {
        Command::new("psql")
            .arg(db)
            .args(["-v", "ON_ERROR_STOP=1", "-qtA", "-c", statement])
            .output()
            .expect("run psql")
    } else {
        let path = db.strip_prefix("sqlite://").unwrap_or(db);
        Command::new("sqlite3")
            .args([path, statement])
            .output()
            .expect("run sqlite3")
    };
    assert!(
        out.status.success(),
        "{statement}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Which store the black-box suites run on.
pub fn testing_postgres() -> bool {
    std::env::var("COHORT_TEST_STORE").as_deref() == Ok("postgres")
}

impl Cohort {
    /// A realm on this PostgreSQL database (owned by the returned `Cohort`).
    pub fn init_on(database: PgDatabase) -> (Cohort, Account, String) {
        let (mut cohort, owner, platform) = Cohort::init_at(&database.url());
        cohort.pg_database = Some(database);
        (cohort, owner, platform)
    }

    /// A realm on the database at `db`.
    pub fn init_at(db: &str) -> (Cohort, Account, String) {
        let cohort = Cohort {
            dir: tempfile::tempdir().expect("tempdir"),
            db: db.to_string(),
            base: String::new(),
            child: None,
            extra_args: Vec::new(),
            poll_ms: TEST_POLL_MS,
            check_on_drop: true,
            pg_database: None,
            scim_token: None,
        };
        cohort.init_realm()
    }

    /// A fresh database with one realm; returns its owner and platform key.
    pub fn init() -> (Cohort, Account, String) {
        let dir = tempfile::tempdir().expect("tempdir");
        let (db, pg_database) = if testing_postgres() {
            assert!(
                postgres_available(),
                "COHORT_TEST_STORE=postgres but PostgreSQL is not reachable"
            );
            let database = PgDatabase::create();
            (database.url(), Some(database))
        } else {
            (
                format!("sqlite://{}", dir.path().join("cohort.db").display()),
                None,
            )
        };
        let cohort = Cohort {
            dir,
            db,
            base: String::new(),
            child: None,
            extra_args: Vec::new(),
            poll_ms: TEST_POLL_MS,
            check_on_drop: true,
            pg_database,
            scim_token: None,
        };
        cohort.init_realm()
    }

    fn init_realm(self) -> (Cohort, Account, String) {
        let mut cohort = self;
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
        cohort.scim_token = out["scim_token"].as_str().map(str::to_string);
        let users = cohort.cli_json(&["user", "list", "--json"]);
        let owner = Account {
            id: users[0]["user_id"].as_i64().unwrap(),
            ..owner
        };
        (cohort, owner, platform)
    }

    /// Another server process on the same database (reached at `db`, which may
    /// be a proxy in front of it). The database stays owned by `self`.
    pub fn node(&self, db: &str) -> Cohort {
        Cohort {
            dir: tempfile::tempdir().expect("tempdir"),
            db: db.to_string(),
            base: String::new(),
            child: None,
            extra_args: self.extra_args.clone(),
            poll_ms: self.poll_ms,
            check_on_drop: false,
            pg_database: None,
            scim_token: None,
        }
    }

    /// Serve with polling effectively off: only notifications from other
    /// processes' commits (PostgreSQL's LISTEN/NOTIFY) bring their changes in.
    pub fn without_polling(mut self) -> Cohort {
        self.poll_ms = NO_POLL_MS;
        self
    }

    /// Do not run `cohort check` when dropped: for a test that damages the
    /// database on purpose (and checks the damage itself).
    pub fn skip_final_check(&mut self) {
        self.check_on_drop = false;
    }

    /// Run one SQL statement on this database behind cohort's back, for
    /// tests that damage it on purpose; returns what it printed.
    pub fn sql(&self, statement: &str) -> String {
        sql(&self.db, statement)
    }

    /// Run `cohort check` on this database now; panics with its report unless
    /// the change log replays to exactly the stored tables.
    #[track_caller]
    pub fn assert_consistent(&self) {
        let out = self.cli(&["check", "--json"]);
        let report: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
        assert!(
            out.status.success() && report["ok"] == true,
            "cohort check failed on {} (exit {:?}): {report} {}",
            self.db,
            out.status.code(),
            String::from_utf8_lossy(&out.stderr)
        );
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

    /// `cohort realm list --json`: every realm with its version, so a refused
    /// command can be shown to have committed nothing.
    pub fn realms(&self) -> Value {
        self.cli_json(&["realm", "list", "--json"])
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
        self.start_on("127.0.0.1:0");
    }

    /// SIGKILL, then start again on the same address (clients that
    /// reconnect by themselves find it again).
    pub fn restart_in_place(&mut self) {
        let address = self
            .base
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_string();
        self.kill();
        self.start_on(&address);
    }

    fn start_on(&mut self, address: &str) {
        assert!(self.child.is_none(), "already running");
        let mut child = Command::new(BIN)
            .arg("--db")
            .arg(&self.db)
            .args(["serve", "--listen", address])
            .arg(format!("--poll-ms={}", self.poll_ms))
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

    /// SIGTERM, without waiting for the exit (`stop` waits).
    pub fn terminate(&self) {
        if let Some(child) = &self.child {
            unsafe {
                libc::kill(child.id() as i32, libc::SIGTERM);
            }
        }
    }

    /// SIGTERM and wait for a graceful exit; returns whether it exited cleanly.
    pub fn stop(&mut self) -> bool {
        self.terminate();
        match self.child.take() {
            Some(mut child) => child.wait().map(|s| s.success()).unwrap_or(false),
            None => true,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// The running server's process id (for signals and /proc).
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
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
        // The database goes after the server that used it and after the
        // check (also when the check panics: it is a local by then).
        let _database = self.pg_database.take();
        if self.check_on_drop && !std::thread::panicking() {
            self.assert_consistent();
        }
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
    /// The realm's SCIM bearer token (made by `init`).
    pub scim_token: String,
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
        let scim_token = cohort
            .scim_token
            .clone()
            .expect("init printed a scim_token");
        Realm {
            scim_token,
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
        let (status, body) = self.api(&self.owner).get("/user_groups", &[]).await;
        assert_eq!(status, 200, "GET /user_groups: {body}");
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
        let (status, body) = self
            .api(&self.owner)
            .get(
                "/user_groups",
                &[("include_deactivated_groups", "true".into())],
            )
            .await;
        assert_eq!(status, 200, "GET /user_groups: {body}");
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
        let (status, body) = self
            .api(&self.owner)
            .get(
                "/user_groups",
                &[("include_deactivated_groups", "true".into())],
            )
            .await;
        assert_eq!(status, 200, "GET /user_groups: {body}");
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

/// A node_modules directory holding `package` at `version`: the one
/// `COHORT_NODE_PATH` names (the test script installs the pinned packages
/// there; a wrong version there fails the test), or else one installed now
/// under the target directory. A failed install fails the test: never
/// skipped.
pub fn node_package(package: &str, version: &str) -> PathBuf {
    let installed = |modules: &Path| -> Option<String> {
        let text = std::fs::read_to_string(modules.join(package).join("package.json")).ok()?;
        let manifest: Value = serde_json::from_str(&text).ok()?;
        manifest["version"].as_str().map(str::to_string)
    };
    if let Ok(path) = std::env::var("COHORT_NODE_PATH") {
        let modules = PathBuf::from(path);
        assert_eq!(
            installed(&modules).as_deref(),
            Some(version),
            "COHORT_NODE_PATH ({}) must hold {package} {version}",
            modules.display()
        );
        return modules;
    }
    let prefix = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("node-{package}"));
    let modules = prefix.join("node_modules");
    // A cached install of another version (the pin moved) is replaced.
    if installed(&modules).as_deref() != Some(version) {
        let _ = std::fs::remove_dir_all(&prefix);
        std::fs::create_dir_all(&prefix).unwrap();
        let status = Command::new("npm")
            .args([
                "install",
                "--no-save",
                "--no-audit",
                "--no-fund",
                "--prefix",
            ])
            .arg(&prefix)
            .arg(format!("{package}@{version}"))
            .status();
        assert!(
            status.is_ok_and(|s| s.success()),
            "npm install {package}@{version} failed; set COHORT_NODE_PATH to a node_modules holding it"
        );
    }
    modules
}
