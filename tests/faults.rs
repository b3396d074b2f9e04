//! Storage faults under a running server: a full disk (SQLite on a small
//! tmpfs; PostgreSQL with its database in a tablespace on one), a database
//! that turns read-only (SQLite on a loop-mounted ext4 that the kernel
//! forces read-only), and PostgreSQL restarted mid-load (a private cluster,
//! so no one else's database is disturbed).
//!
//! In each case: writes through every face fail with 503 in that face's own
//! error format, reads keep being served from memory with the state from
//! before the failures (nothing half-written), `cohort check` is clean, and
//! where the fault can go away while the server runs (space returns, the
//! database comes back) writes succeed again without a restart. Every write
//! acknowledged along the way is there after a final SIGKILL and restart.
//!
//! The tests mount filesystems and run `initdb`, so they need root and
//! PostgreSQL's server binaries; in CI (`CI=true`) a missing prerequisite
//! fails the test, elsewhere it is reported as skipped.

mod common;

use common::*;
use serde_json::{json, Value};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const GROUP_URN: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
const ERROR_URN: &str = "urn:ietf:params:scim:api:messages:2.0:Error";

// ---------------------------------------------------------------------------
// Prerequisites: mounts and a private PostgreSQL cluster, undone on drop.
// ---------------------------------------------------------------------------

/// A missing prerequisite: fails in CI, is reported loudly elsewhere.
fn prerequisite(what: &str, detail: &str) {
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "{what} failed and CI=true: the fault tests must run in CI: {detail}"
    );
    eprintln!("\n!!!!!!!!\n!!! {what} failed: this fault test did NOT run ({detail})\n!!!!!!!!\n");
}

fn run(program: &str, args: &[&str]) -> Result<String, String> {
    let out = Command::new(program)
        .args(args)
        .output()
        .map_err(|e| format!("{program}: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    } else {
        Err(format!(
            "{program} {args:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

/// A filesystem mounted for one test; unmounted (lazily if it is still
/// busy) and removed on drop, also when the test fails.
struct Mount {
    dir: tempfile::TempDir,
    /// A loop-mounted image, deleted after the unmount.
    image: Option<PathBuf>,
}

impl Mount {
    /// A tmpfs of `size` (as `mount -o size=` takes it).
    fn tmpfs(size: &str) -> Option<Mount> {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().to_str().unwrap().to_string();
        match run(
            "mount",
            &["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs", &path],
        ) {
            Ok(_) => Some(Mount { dir, image: None }),
            Err(e) => {
                prerequisite("mounting a tmpfs", &e);
                None
            }
        }
    }

    /// An ext4 image of `megabytes`, loop-mounted with `errors=remount-ro`.
    fn ext4(megabytes: u64) -> Option<Mount> {
        let dir = tempfile::tempdir().expect("tempdir");
        let image = PathBuf::from(format!("{}.img", dir.path().display()));
        let path = dir.path().to_str().unwrap().to_string();
        let made = std::fs::File::create(&image)
            .and_then(|f| f.set_len(megabytes << 20))
            .map_err(|e| e.to_string())
            .and_then(|_| run("mkfs.ext4", &["-q", "-F", image.to_str().unwrap()]))
            .and_then(|_| {
                run(
                    "mount",
                    &[
                        "-o",
                        "loop,errors=remount-ro",
                        image.to_str().unwrap(),
                        &path,
                    ],
                )
            });
        match made {
            Ok(_) => Some(Mount {
                dir,
                image: Some(image),
            }),
            Err(e) => {
                let _ = std::fs::remove_file(&image);
                prerequisite("loop-mounting an ext4 image", &e);
                None
            }
        }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Fill the filesystem with a file until the kernel says it is full.
    fn fill(&self) -> PathBuf {
        let filler = self.path().join("filler");
        let mut file = std::fs::File::create(&filler).expect("create the filler");
        for chunk in [1 << 20, 4096, 512] {
            let block = vec![0xa5u8; chunk];
            while file.write_all(&block).is_ok() {}
        }
        let _ = file.sync_all();
        filler
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let path = self.dir.path().to_str().unwrap().to_string();
        if run("umount", &[&path]).is_err() {
            let _ = run("umount", &["-l", &path]);
        }
        if let Some(image) = &self.image {
            let _ = std::fs::remove_file(image);
        }
    }
}

/// The PostgreSQL server binaries (the newest installed major version).
fn pg_bin(name: &str) -> Option<PathBuf> {
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    versions.sort();
    versions
        .into_iter()
        .rev()
        .map(|v| v.join("bin").join(name))
        .find(|p| p.exists())
}

/// A PostgreSQL cluster of this test's own, run as the `postgres` OS user on
/// a free port; stopped (immediately) and deleted on drop.
struct PrivatePg {
    dir: tempfile::TempDir,
    port: u16,
}

impl PrivatePg {
    fn start() -> Option<PrivatePg> {
        match PrivatePg::try_start() {
            Ok(pg) => Some(pg),
            Err(e) => {
                prerequisite("starting a private PostgreSQL cluster", &e);
                None
            }
        }
    }

    fn try_start() -> Result<PrivatePg, String> {
        let initdb = pg_bin("initdb").ok_or("no initdb under /usr/lib/postgresql")?;
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        run(
            "chown",
            &["postgres:postgres", dir.path().to_str().unwrap()],
        )?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| e.to_string())?
            .port();
        let pg = PrivatePg { dir, port };
        pg.as_postgres(
            initdb.to_str().unwrap(),
            &[
                "-D",
                pg.data().to_str().unwrap(),
                "-U",
                "postgres",
                "--auth=trust",
                "--no-sync",
            ],
        )?;
        pg.ctl(&["start", "-w"])?;
        Ok(pg)
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn as_postgres(&self, program: &str, args: &[&str]) -> Result<String, String> {
        let mut all = vec!["-u", "postgres", "--", program];
        all.extend_from_slice(args);
        run("runuser", &all)
    }

    fn ctl(&self, args: &[&str]) -> Result<String, String> {
        let pg_ctl = pg_bin("pg_ctl").ok_or("no pg_ctl")?;
        let options = format!(
            "-p {} -c listen_addresses=127.0.0.1 -k {} -c fsync=on",
            self.port,
            self.dir.path().display()
        );
        let log = self.dir.path().join("server.log");
        let data = self.data();
        let mut all = vec![
            "-D",
            data.to_str().unwrap(),
            "-l",
            log.to_str().unwrap(),
            "-o",
            &options,
        ];
        all.extend_from_slice(args);
        self.as_postgres(pg_ctl.to_str().unwrap(), &all)
    }

    fn server(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}", self.port)
    }

    /// Run SQL on the cluster's `postgres` database.
    fn sql(&self, statement: &str) {
        sql(&format!("{}/postgres", self.server()), statement);
    }

    fn stop(&self, mode: &str) {
        self.ctl(&["stop", "-w", "-m", mode])
            .expect("stop the private PostgreSQL");
    }

    fn resume(&self) {
        self.ctl(&["start", "-w"])
            .expect("start the private PostgreSQL again");
    }
}

impl Drop for PrivatePg {
    fn drop(&mut self) {
        let _ = self.ctl(&["stop", "-w", "-m", "immediate"]);
    }
}

// ---------------------------------------------------------------------------
// One write and one read per face, and each face's error format.
// ---------------------------------------------------------------------------

type Reply = (u16, Value);

async fn answer(request: reqwest::RequestBuilder) -> Reply {
    let response = request.send().await.expect("cohort answers");
    let status = response.status().as_u16();
    let text = response.text().await.expect("body");
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Face {
    Zulip,
    Imkit,
    Scim,
    /// cohort's own API: a webhook endpoint made with a `webhooks` token.
    Native,
    /// The admin page: a group's description set by a signed-in owner.
    Ui,
}

const FACES: [Face; 5] = [Face::Zulip, Face::Imkit, Face::Scim, Face::Native, Face::Ui];

/// The test's realm, with a token for the native face's writes and a
/// signed-in admin page.
struct Site {
    realm: Realm,
    hooks: String,
    ui: UiSession,
}

/// The owner signed in on the admin page, with the group it describes.
struct UiSession {
    cookie: String,
    csrf: String,
    group: i64,
}

impl std::ops::Deref for Site {
    type Target = Realm;
    fn deref(&self) -> &Realm {
        &self.realm
    }
}

impl std::ops::DerefMut for Site {
    fn deref_mut(&mut self) -> &mut Realm {
        &mut self.realm
    }
}

/// A write through `face` that creates something named `name` (a group; for
/// IMKIT, a client; for the native face, a webhook endpoint).
async fn write(realm: &Site, face: Face, name: &str) -> Reply {
    let http = http();
    let base = &realm.cohort.base;
    match face {
        Face::Zulip => {
            answer(
                http.post(format!("{base}/api/v1/user_groups/create"))
                    .basic_auth(&realm.owner.email, Some(&realm.owner.key))
                    .form(&[
                        ("name", name),
                        ("description", &"d".repeat(2000)),
                        ("members", &format!("[{}]", realm.member.id)),
                    ]),
            )
            .await
        }
        Face::Imkit => {
            answer(
                http.post(format!("{base}/admin/clients"))
                    .header("IM-API-KEY", &realm.platform_key)
                    .json(&json!({"_id": name, "nickname": name})),
            )
            .await
        }
        Face::Scim => {
            answer(
                http.post(format!("{base}/scim/v2/Groups"))
                    .header("authorization", format!("Bearer {}", realm.scim_token))
                    .header("content-type", "application/scim+json")
                    .body(
                        json!({"schemas": [GROUP_URN], "displayName": name,
                               "members": [{"value": realm.member.id.to_string()}]})
                        .to_string(),
                    ),
            )
            .await
        }
        Face::Ui => {
            let ui = &realm.ui;
            answer(
                browser()
                    .post(format!("{base}/ui/groups/{}/description", ui.group))
                    .header("origin", base.as_str())
                    .header("cookie", format!("cohort_session={}", ui.cookie))
                    .form(&[("csrf", ui.csrf.as_str()), ("description", name)]),
            )
            .await
        }
        Face::Native => {
            answer(
                http.post(format!("{base}/cohort/v1/webhooks"))
                    .bearer_auth(&realm.hooks)
                    .json(&json!({"url": format!("http://127.0.0.1:9/{name}"),
                                  "description": name})),
            )
            .await
        }
    }
}

fn succeeded(face: Face, got: &Reply) -> bool {
    match face {
        Face::Zulip | Face::Imkit => got.0 == 200,
        Face::Scim | Face::Native => got.0 == 201,
        Face::Ui => got.0 == 303,
    }
}

/// An HTTP client that sees the admin page's redirects instead of
/// following them.
fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// A 503 in `face`'s own error format.
#[track_caller]
fn assert_unavailable(face: Face, got: &Reply) {
    let (status, body) = got;
    assert_eq!(*status, 503, "{face:?} write during the fault: {body}");
    match face {
        Face::Zulip => {
            assert_eq!(body["result"], "error", "{body}");
            assert_eq!(body["code"], "BAD_REQUEST", "{body}");
            assert!(
                body["msg"].as_str().is_some_and(|m| !m.is_empty()),
                "{body}"
            );
        }
        Face::Imkit => {
            assert_eq!(body["RC"], 503, "{body}");
            assert_eq!(body["RM"], "Service Unavailable", "{body}");
            assert_eq!(body["error"]["code"], "SERVICE_UNAVAILABLE", "{body}");
        }
        Face::Scim => {
            assert_eq!(body["schemas"], json!([ERROR_URN]), "{body}");
            assert_eq!(body["status"], "503", "{body}");
            assert!(
                body["detail"].as_str().is_some_and(|d| !d.is_empty()),
                "{body}"
            );
        }
        Face::Ui => {
            let page = body.as_str().unwrap_or("");
            assert!(page.contains("Try again in a moment"), "{page}");
        }
        Face::Native => {
            assert_eq!(body["code"], "unavailable", "{body}");
            assert!(
                body["message"].as_str().is_some_and(|m| !m.is_empty()),
                "{body}"
            );
        }
    }
}

/// What every face reads: Zulip's groups, IMKIT's clients, SCIM's groups,
/// the native face's webhook endpoints.
async fn state(realm: &Site) -> Value {
    let http = http();
    let base = &realm.cohort.base;
    let zulip = answer(
        http.get(format!("{base}/api/v1/user_groups"))
            .basic_auth(&realm.owner.email, Some(&realm.owner.key))
            .query(&[("include_deactivated_groups", "true")]),
    )
    .await;
    let imkit = answer(
        http.get(format!("{base}/admin/clients"))
            .header("IM-API-KEY", &realm.platform_key)
            .query(&[("limit", "100")]),
    )
    .await;
    let scim = answer(
        http.get(format!("{base}/scim/v2/Groups"))
            .header("authorization", format!("Bearer {}", realm.scim_token))
            .query(&[("count", "1000")]),
    )
    .await;
    let native = answer(
        http.get(format!("{base}/cohort/v1/webhooks"))
            .bearer_auth(&realm.hooks),
    )
    .await;
    for (face, got) in [
        ("zulip", &zulip),
        ("imkit", &imkit),
        ("scim", &scim),
        ("native", &native),
    ] {
        assert_eq!(got.0, 200, "{face} read during the fault: {}", got.1);
    }
    json!({"zulip": zulip.1, "imkit": imkit.1, "scim": scim.1, "native": native.1})
}

/// Names whose creation was acknowledged, per face.
#[derive(Default, Clone)]
struct Acked(Vec<(Face, String)>);

impl Acked {
    async fn write(&mut self, realm: &Site, face: Face, name: &str) -> Reply {
        let got = write(realm, face, name).await;
        if succeeded(face, &got) {
            self.0.push((face, name.to_string()));
        }
        got
    }

    /// Every acknowledged creation is visible through `realm`'s server.
    async fn assert_present(&self, realm: &Site) {
        let now = state(realm).await;
        let groups: Vec<&str> = now["zulip"]["user_groups"]
            .as_array()
            .unwrap()
            .iter()
            .map(|g| g["name"].as_str().unwrap())
            .collect();
        let clients = imkit_clients(realm).await;
        let webhooks: Vec<&str> = now["native"]["webhooks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|w| w["description"].as_str().unwrap())
            .collect();
        let described = now["zulip"]["user_groups"]
            .as_array()
            .unwrap()
            .iter()
            .find(|g| g["id"] == realm.ui.group)
            .map(|g| g["description"].clone());
        let last_ui = self.0.iter().rev().find(|(face, _)| *face == Face::Ui);
        if let Some((_, name)) = last_ui {
            assert_eq!(
                described,
                Some(json!(name)),
                "the admin page's last acknowledged write was lost"
            );
        }
        for (face, name) in &self.0 {
            let present = match face {
                Face::Ui => true,
                Face::Zulip | Face::Scim => groups.contains(&name.as_str()),
                Face::Imkit => clients.contains(name),
                Face::Native => webhooks.contains(&name.as_str()),
            };
            assert!(present, "acknowledged {face:?} write {name} was lost");
        }
    }
}

async fn imkit_clients(realm: &Site) -> Vec<String> {
    let mut all = Vec::new();
    loop {
        let got = answer(
            http()
                .get(format!("{}/admin/clients", realm.cohort.base))
                .header("IM-API-KEY", &realm.platform_key)
                .query(&[("limit", "100"), ("skip", &all.len().to_string())]),
        )
        .await;
        assert_eq!(got.0, 200, "{}", got.1);
        let data = got.1["result"]["data"].as_array().unwrap();
        all.extend(data.iter().map(|c| c["_id"].as_str().unwrap().to_string()));
        if data.is_empty() || all.len() as u64 >= got.1["result"]["totalCount"].as_u64().unwrap() {
            return all;
        }
    }
}

/// The test's realm on the database at `db`, served (webhook endpoints on
/// 127.0.0.1 allowed: they are only made, never reached).
async fn realm_at(db: &str) -> Site {
    let (cohort, owner, platform_key) = Cohort::init_at(db);
    let member = cohort.add_user("member@test.example", "Mia Member", "member", false);
    let made = cohort.cli_json(&[
        "token", "create", "--scope", "webhooks", "--name", "hooks", "--json",
    ]);
    let hooks = made["token"]
        .as_str()
        .expect("a webhooks token")
        .to_string();
    // The restart test's load goes past the default rate limit.
    let mut cohort = cohort.with_args(&["--webhook-allow-private", "--rate-limit", "off"]);
    cohort.start();
    let scim_token = cohort
        .scim_token
        .clone()
        .expect("init printed a scim_token");
    let realm = Realm {
        scim_token,
        admin: owner.clone(),
        moderator: owner.clone(),
        member2: member.clone(),
        guest: owner.clone(),
        bot: owner.clone(),
        cohort,
        owner,
        member,
        platform_key,
    };
    let group = realm.create_group(&realm.owner, "described", &[]).await;
    let ui = sign_in(&realm, group).await;
    Site { realm, hooks, ui }
}

/// Sign the owner in on the admin page through a one-time link.
async fn sign_in(realm: &Realm, group: i64) -> UiSession {
    let out = realm.cohort.cli(&[
        "login-link",
        "--realm",
        "Test",
        "--email",
        &realm.owner.email,
    ]);
    assert!(out.status.success(), "login-link failed");
    let link = String::from_utf8(out.stdout).expect("utf-8");
    let key = link.trim().rsplit('/').next().expect("a key").to_string();
    let base = &realm.cohort.base;
    let response = browser()
        .post(format!("{base}/ui/login/{key}"))
        .header("origin", base.as_str())
        .send()
        .await
        .expect("sign in");
    assert_eq!(response.status(), 303, "signing in");
    let set = response
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .expect("a session cookie")
        .to_string();
    let cookie = set
        .strip_prefix("cohort_session=")
        .and_then(|rest| rest.split(';').next())
        .expect("cohort_session")
        .to_string();
    let page = browser()
        .get(format!("{base}/ui/groups/{group}"))
        .header("cookie", format!("cohort_session={cookie}"))
        .send()
        .await
        .expect("the group's page")
        .text()
        .await
        .expect("HTML");
    let marker = r#"name="csrf" value=""#;
    let at = page.find(marker).expect("a CSRF field") + marker.len();
    let csrf = page[at..at + page[at..].find('"').expect("end")].to_string();
    UiSession {
        cookie,
        csrf,
        group,
    }
}

/// How a fault lets writes through.
#[derive(Clone, Copy, PartialEq)]
enum Fault {
    /// No write can succeed; the database still answers the CLI's reads.
    Refuses,
    /// No write can succeed and the database answers no one.
    Down,
    /// A write that fits in space the database already holds may succeed
    /// (PostgreSQL fills pages it has before it extends a file); the others
    /// are refused.
    Full,
}

/// The fault is on: every face's write fails with 503 in its format (or,
/// on a full PostgreSQL tablespace, succeeds whole), and a refused write
/// leaves the faces' reads and (when the database answers) the realm's
/// version exactly as they were.
async fn assert_writes_refused(realm: &Site, acked: &mut Acked, round: &str, fault: Fault) {
    let mut refused = 0;
    for face in FACES {
        let before = state(realm).await;
        let version = (fault != Fault::Down).then(|| realm.cohort.realms()[0]["version"].clone());
        let got = acked
            .write(realm, face, &format!("refused-{round}-{face:?}"))
            .await;
        if fault == Fault::Full && succeeded(face, &got) {
            eprintln!("a {face:?} write fitted in the full tablespace's allocated pages");
            continue;
        }
        assert_unavailable(face, &got);
        refused += 1;
        assert_eq!(
            state(realm).await,
            before,
            "a refused {face:?} write left a trace"
        );
        if let Some(version) = version {
            assert_eq!(
                realm.cohort.realms()[0]["version"],
                version,
                "a refused {face:?} write moved the realm's version"
            );
        }
    }
    assert!(refused > 0, "no write was refused during the fault");
}

/// After the fault: every face writes again, on the same server process
/// (within a liveness bound: PostgreSQL's pool reconnects on demand).
async fn assert_writes_resume(realm: &Site, acked: &mut Acked, round: &str) {
    for face in FACES {
        let started = Instant::now();
        let mut attempt = 0;
        loop {
            let name = format!("resumed-{round}-{face:?}-{attempt}");
            let got = acked.write(realm, face, &name).await;
            if succeeded(face, &got) {
                break;
            }
            assert_unavailable(face, &got);
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "{face:?} writes did not resume after the fault: {}",
                got.1
            );
            attempt += 1;
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

/// SIGKILL, `cohort check`, restart: every acknowledged write is there.
async fn assert_durable_after_restart(realm: &mut Site, acked: &Acked) {
    realm.cohort.kill();
    realm.cohort.assert_consistent();
    realm.cohort.start();
    acked.assert_present(realm).await;
}

// ---------------------------------------------------------------------------
// The tests
// ---------------------------------------------------------------------------

/// SQLite (database and WAL) on a 16 MiB tmpfs that fills up: writes fail
/// with 503 in each face's format until the filler is deleted, then succeed
/// on the same server process.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_full_disk_refuses_writes_and_recovers() {
    let Some(mount) = Mount::tmpfs("16m") else {
        return;
    };
    let db = format!("sqlite://{}", mount.path().join("cohort.db").display());
    let mut realm = realm_at(&db).await;
    let mut acked = Acked::default();
    for face in FACES {
        let got = acked.write(&realm, face, &format!("before-{face:?}")).await;
        assert!(succeeded(face, &got), "{face:?}: {}", got.1);
    }
    let filler = mount.fill();
    // Space already allocated (the WAL's frames, the database's free pages)
    // may take a few more writes; the first refusal comes soon after.
    let mut refused = None;
    for i in 0..2000 {
        let got = acked
            .write(&realm, Face::Zulip, &format!("filling-{i}"))
            .await;
        if !succeeded(Face::Zulip, &got) {
            eprintln!("first write refused on the full disk: number {i} after filling");
            refused = Some(got);
            break;
        }
    }
    let refused = refused.expect("2000 writes fitted on a full 16 MiB filesystem");
    assert_unavailable(Face::Zulip, &refused);
    for round in 0..2 {
        assert_writes_refused(&realm, &mut acked, &format!("full-{round}"), Fault::Refuses).await;
    }
    realm.cohort.assert_consistent();

    std::fs::remove_file(&filler).expect("delete the filler");
    assert_writes_resume(&realm, &mut acked, "space").await;
    assert_durable_after_restart(&mut realm, &acked).await;
    drop(realm);
    drop(mount);
}

/// SQLite on an ext4 filesystem that the kernel turns read-only under the
/// running server (`errors=remount-ro` after a filesystem error): writes
/// fail with 503 in each face's format, reads go on, nothing is
/// half-written. (`mount -o remount,ro` is refused with EBUSY while cohort
/// holds the database open for writing, so this is how a database turns
/// read-only under a running server; the kernel then refuses to remount it
/// read-write, so recovery is an unmount, a mount and a restart.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_read_only_filesystem_refuses_writes() {
    let Some(mount) = Mount::ext4(64) else {
        return;
    };
    let db_path = mount.path().join("cohort.db");
    let db = format!("sqlite://{}", db_path.display());
    let mut realm = realm_at(&db).await;
    let mut acked = Acked::default();
    for face in FACES {
        let got = acked.write(&realm, face, &format!("before-{face:?}")).await;
        assert!(succeeded(face, &got), "{face:?}: {}", got.1);
    }
    let device = run(
        "findmnt",
        &["-n", "-o", "SOURCE", mount.path().to_str().unwrap()],
    )
    .expect("findmnt");
    let device = device.trim_start_matches("/dev/");
    std::fs::write(
        format!("/sys/fs/ext4/{device}/trigger_fs_error"),
        "cohort fault test",
    )
    .expect("trigger an ext4 error");
    let started = Instant::now();
    while std::fs::write(mount.path().join("probe"), b"x").is_ok() {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the filesystem did not turn read-only"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let before = state(&realm).await;
    for round in 0..2 {
        for face in FACES {
            let got = acked
                .write(&realm, face, &format!("refused-{round}-{face:?}"))
                .await;
            assert_unavailable(face, &got);
        }
        assert_eq!(state(&realm).await, before, "a refused write left a trace");
    }
    // Recovery: the server goes, the filesystem is mounted again (ext4
    // replays its journal), the database is whole and has every
    // acknowledged write.
    realm.cohort.kill();
    let path = mount.path().to_str().unwrap().to_string();
    run("umount", &[&path]).expect("unmount the read-only filesystem");
    run(
        "mount",
        &[
            "-o",
            "loop",
            mount.image.as_ref().unwrap().to_str().unwrap(),
            &path,
        ],
    )
    .expect("mount it again");
    realm.cohort.assert_consistent();
    realm.cohort.start();
    acked.assert_present(&realm).await;
    assert_writes_resume(&realm, &mut acked, "remounted").await;
    realm.cohort.kill();
    realm.cohort.assert_consistent();
    drop(realm);
    drop(mount);
}

/// A Zulip writer that keeps writing through faults, recording what was
/// acknowledged; any answer but success or 503 is a failure.
fn start_load(
    realm: &Site,
    stop: Arc<AtomicBool>,
) -> (Arc<Mutex<Acked>>, tokio::task::JoinHandle<usize>) {
    let acked = Arc::new(Mutex::new(Acked::default()));
    let (base, owner, member) = (
        realm.cohort.base.clone(),
        realm.owner.clone(),
        realm.member.id,
    );
    let record = acked.clone();
    let task = tokio::spawn(async move {
        let http = http();
        let mut refused = 0;
        for i in 0.. {
            if stop.load(Ordering::SeqCst) {
                break;
            }
            let name = format!("load-{i}");
            let got = answer(
                http.post(format!("{base}/api/v1/user_groups/create"))
                    .basic_auth(&owner.email, Some(&owner.key))
                    .form(&[
                        ("name", name.as_str()),
                        ("description", "under load"),
                        ("members", &format!("[{member}]")),
                    ]),
            )
            .await;
            if got.0 == 200 {
                record.lock().unwrap().0.push((Face::Zulip, name));
            } else {
                assert_unavailable(Face::Zulip, &got);
                refused += 1;
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
        refused
    });
    (acked, task)
}

async fn await_load(acked: &Mutex<Acked>, more: usize) {
    let target = acked.lock().unwrap().0.len() + more;
    let started = Instant::now();
    while acked.lock().unwrap().0.len() < target {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the load never got {more} more writes acknowledged"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// A private PostgreSQL stopped under load (fast, then immediate: a crash
/// and recovery) and started again: during each outage writes fail with 503
/// in each face's format and reads are served; afterwards writes succeed on
/// the same server process; nothing acknowledged is lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_restart_mid_load() {
    let Some(pg) = PrivatePg::start() else {
        return;
    };
    pg.sql("CREATE DATABASE cohort");
    let mut realm = realm_at(&format!("{}/cohort", pg.server())).await;
    let mut acked = Acked::default();
    let stop = Arc::new(AtomicBool::new(false));
    let (load, task) = start_load(&realm, stop.clone());
    await_load(&load, 20).await;
    for mode in ["fast", "immediate"] {
        pg.stop(mode);
        assert_writes_refused(&realm, &mut acked, mode, Fault::Down).await;
        // The admin page keeps its sessions in the database: with the
        // database down its pages are refused too, in its own format.
        let page = answer(
            browser()
                .get(format!(
                    "{}/ui/groups/{}",
                    realm.cohort.base, realm.ui.group
                ))
                .header("cookie", format!("cohort_session={}", realm.ui.cookie)),
        )
        .await;
        assert_unavailable(Face::Ui, &page);
        pg.resume();
        assert_writes_resume(&realm, &mut acked, mode).await;
        await_load(&load, 20).await;
    }
    stop.store(true, Ordering::SeqCst);
    let refused = task.await.expect("load task");
    eprintln!(
        "PostgreSQL restarts: {} writes acknowledged under load, {refused} refused with 503 during the outages",
        load.lock().unwrap().0.len()
    );
    acked.0.extend(load.lock().unwrap().0.clone());
    assert_durable_after_restart(&mut realm, &acked).await;
    drop(realm);
    drop(pg);
}

/// PostgreSQL with the test's database in a tablespace on a small tmpfs
/// that fills up: writes fail with 503 in each face's format, reads go on,
/// and once the filler is gone writes succeed on the same server process.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_full_tablespace_refuses_writes_and_recovers() {
    let Some(pg) = PrivatePg::start() else {
        return;
    };
    let Some(mount) = Mount::tmpfs("24m") else {
        return;
    };
    run(
        "chown",
        &["postgres:postgres", mount.path().to_str().unwrap()],
    )
    .expect("chown");
    pg.sql(&format!(
        "CREATE TABLESPACE small LOCATION '{}'",
        mount.path().display()
    ));
    pg.sql("CREATE DATABASE cohort TABLESPACE small");
    let mut realm = realm_at(&format!("{}/cohort", pg.server())).await;
    let mut acked = Acked::default();
    for face in FACES {
        let got = acked.write(&realm, face, &format!("before-{face:?}")).await;
        assert!(succeeded(face, &got), "{face:?}: {}", got.1);
    }
    let filler = mount.fill();
    let mut refused = None;
    for i in 0..5000 {
        let got = acked
            .write(&realm, Face::Zulip, &format!("filling-{i}"))
            .await;
        if !succeeded(Face::Zulip, &got) {
            eprintln!("first write refused on the full disk: number {i} after filling");
            refused = Some(got);
            break;
        }
    }
    let refused = refused.expect("5000 writes fitted on a full tablespace");
    assert_unavailable(Face::Zulip, &refused);
    for round in 0..2 {
        assert_writes_refused(&realm, &mut acked, &format!("full-{round}"), Fault::Full).await;
    }
    std::fs::remove_file(&filler).expect("delete the filler");
    assert_writes_resume(&realm, &mut acked, "space").await;
    assert_durable_after_restart(&mut realm, &acked).await;
    drop(realm);
    drop(pg);
    drop(mount);
}
