//! Several nodes on one PostgreSQL database: coherence, lag, concurrency,
//! faults, and moving an SQLite deployment over with `cohort copy`.
//!
//! Each test makes its own database and drops it. Outside CI a missing
//! PostgreSQL is reported loudly and the test returns; in CI it fails.

mod common;

use common::*;
use serde_json::Value;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::net::{TcpListener, TcpStream};

/// A realm on a fresh PostgreSQL database, with node A started.
fn pg_realm() -> Option<(Cohort, Account, String)> {
    if !postgres_available() {
        return None;
    }
    let database = PgDatabase::create();
    let (mut cohort, owner, platform) = Cohort::init_on(database);
    cohort.start();
    Some((cohort, owner, platform))
}

async fn versions(cohort: &Cohort) -> Value {
    let body: Value = reqwest::get(cohort.url("/readyz"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    body["realm_versions"].clone()
}

/// Wait until both nodes serve the same versions.
async fn converge(a: &Cohort, b: &Cohort) {
    let started = Instant::now();
    loop {
        let (va, vb) = (versions(a).await, versions(b).await);
        if va == vb && !va.is_null() {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "nodes did not converge: {va} vs {vb}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn groups_body(cohort: &Cohort, owner: &Account) -> String {
    reqwest::Client::new()
        .get(cohort.url("/api/v1/user_groups?include_deactivated_groups=true"))
        .basic_auth(&owner.email, Some(&owner.key))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_on_one_node_is_read_on_the_other() {
    let Some((a, owner, _)) = pg_realm() else {
        return;
    };
    let mut b = a.node(&a.db);
    b.start();
    let (api_a, api_b) = (a.api(&owner), b.api(&owner));
    let mut lags = Vec::new();
    for i in 0..100 {
        let name = format!("lag-{i}");
        let (status, body) = api_a
            .post(
                "/user_groups/create",
                &[
                    ("name", name.clone()),
                    ("description", String::new()),
                    ("members", "[]".into()),
                ],
            )
            .await;
        assert_eq!(status, 200, "{body}");
        let id = body["group_id"].as_i64().unwrap();
        // Read-your-writes on A: the reply came after A's snapshot had it.
        let (_, own) = api_a.get(&format!("/user_groups/{id}/members"), &[]).await;
        assert_eq!(own["result"], "success", "{own}");
        let acked = Instant::now();
        loop {
            let (status, _) = api_b.get(&format!("/user_groups/{id}/members"), &[]).await;
            if status == 200 {
                break;
            }
            assert!(
                acked.elapsed() < Duration::from_secs(5),
                "node B never saw group {id}"
            );
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        lags.push(acked.elapsed());
    }
    lags.sort();
    println!(
        "cross-node visibility lag over {} writes: p50 {:?}, p90 {:?}, p99 {:?}, max {:?}",
        lags.len(),
        percentile(&lags, 0.5),
        percentile(&lags, 0.9),
        percentile(&lags, 0.99),
        lags[lags.len() - 1]
    );
    converge(&a, &b).await;
    assert_eq!(groups_body(&a, &owner).await, groups_body(&b, &owner).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writers_on_two_nodes_agree_with_the_log() {
    let Some((a, owner, _)) = pg_realm() else {
        return;
    };
    let users: Vec<Account> = (0..6)
        .map(|i| {
            a.add_user(
                &format!("u{i}@test.example"),
                &format!("User {i}"),
                "member",
                false,
            )
        })
        .collect();
    let mut b = a.node(&a.db);
    b.start();
    converge(&a, &b).await;
    // Shared groups both nodes fight over.
    let base = a.api(&owner);
    let mut shared = Vec::new();
    for i in 0..4 {
        let (status, body) = base
            .post(
                "/user_groups/create",
                &[
                    ("name", format!("shared-{i}")),
                    ("description", String::new()),
                    ("members", "[]".into()),
                ],
            )
            .await;
        assert_eq!(status, 200, "{body}");
        shared.push(body["group_id"].as_i64().unwrap());
    }
    let created: Arc<Mutex<Vec<(String, i64)>>> = Arc::default();
    let clash_wins: Arc<Mutex<Vec<String>>> = Arc::default();
    let mut tasks = Vec::new();
    for worker in 0..16 {
        let api = if worker % 2 == 0 {
            a.api(&owner)
        } else {
            b.api(&owner)
        };
        let (created, clash_wins) = (created.clone(), clash_wins.clone());
        let shared = shared.clone();
        let user_ids: Vec<i64> = users.iter().map(|u| u.id).collect();
        tasks.push(tokio::spawn(async move {
            for step in 0..25 {
                let group = shared[(worker + step) % shared.len()];
                let user = user_ids[(worker * 7 + step) % user_ids.len()];
                match step % 5 {
                    0 => {
                        // Every worker tries the same names: exactly one may win each.
                        let name = format!("clash-{}", step / 5);
                        let (status, body) = api
                            .post(
                                "/user_groups/create",
                                &[
                                    ("name", name.clone()),
                                    ("description", String::new()),
                                    ("members", "[]".into()),
                                ],
                            )
                            .await;
                        if status == 200 {
                            clash_wins.lock().unwrap().push(name);
                        } else {
                            assert_eq!(
                                body["msg"],
                                format!("User group '{name}' already exists."),
                                "{body}"
                            );
                        }
                    }
                    1 => {
                        let _ = api
                            .post(
                                &format!("/user_groups/{group}/members"),
                                &[("add", format!("[{user}]"))],
                            )
                            .await;
                    }
                    2 => {
                        let _ = api
                            .post(
                                &format!("/user_groups/{group}/members"),
                                &[("delete", format!("[{user}]"))],
                            )
                            .await;
                    }
                    3 => {
                        let name = format!("w{worker}-s{step}");
                        let (status, body) = api
                            .post(
                                "/user_groups/create",
                                &[
                                    ("name", name.clone()),
                                    ("description", String::new()),
                                    ("members", format!("[{user}]")),
                                ],
                            )
                            .await;
                        assert_eq!(status, 200, "{body}");
                        let id = body["group_id"].as_i64().unwrap();
                        created.lock().unwrap().push((name, id));
                        let _ = api
                            .post(
                                &format!("/user_groups/{group}/subgroups"),
                                &[("add", format!("[{id}]"))],
                            )
                            .await;
                    }
                    _ => {
                        let _ = api
                            .patch(
                                &format!("/user_groups/{group}"),
                                &[("description", format!("by {worker} at {step}"))],
                            )
                            .await;
                    }
                }
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    converge(&a, &b).await;
    let body_a = groups_body(&a, &owner).await;
    assert_eq!(body_a, groups_body(&b, &owner).await, "the nodes disagree");
    let groups: Value = serde_json::from_str(&body_a).unwrap();
    let groups = groups["user_groups"].as_array().unwrap();
    // Exactly one of each clashing create succeeded.
    let mut wins = clash_wins.lock().unwrap().clone();
    wins.sort();
    assert_eq!(
        wins,
        (0..5).map(|i| format!("clash-{i}")).collect::<Vec<_>>()
    );
    // No acknowledged create is missing.
    for (name, id) in created.lock().unwrap().iter() {
        assert!(
            groups
                .iter()
                .any(|g| g["id"] == *id && g["name"] == name.as_str()),
            "acknowledged group {name} ({id}) is missing"
        );
    }
    // The database's tables equal a serial replay of its change log.
    let report = a.cli_json(&["check", "--json"]);
    assert_eq!(report["ok"], true, "{report}");
}

/// A TCP proxy in front of PostgreSQL that the test can cut and restore.
struct Proxy {
    port: u16,
    up: Arc<AtomicBool>,
    connections: Arc<Mutex<Vec<tokio::task::JoinHandle<()>>>>,
}

impl Proxy {
    async fn start(upstream: u16) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let up = Arc::new(AtomicBool::new(true));
        let connections: Arc<Mutex<Vec<tokio::task::JoinHandle<()>>>> = Arc::default();
        let (flag, conns) = (up.clone(), connections.clone());
        tokio::spawn(async move {
            loop {
                let Ok((mut client, _)) = listener.accept().await else {
                    return;
                };
                if !flag.load(Ordering::SeqCst) {
                    drop(client);
                    continue;
                }
                let task = tokio::spawn(async move {
                    if let Ok(mut server) = TcpStream::connect(("127.0.0.1", upstream)).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
                conns.lock().unwrap().push(task);
            }
        });
        Proxy {
            port,
            up,
            connections,
        }
    }

    /// Drop every proxied connection and refuse new ones.
    fn cut(&self) {
        self.up.store(false, Ordering::SeqCst);
        for task in self.connections.lock().unwrap().drain(..) {
            task.abort();
        }
    }

    fn restore(&self) {
        self.up.store(true, Ordering::SeqCst);
    }
}

fn pg_port() -> u16 {
    pg_server()
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .unwrap_or(5432)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cut_database_connections_fail_writes_cleanly_and_recover() {
    let Some((a, owner, _)) = pg_realm() else {
        return;
    };
    let proxy = Proxy::start(pg_port()).await;
    let database = a.db.rsplit('/').next().unwrap().to_string();
    let via_proxy = format!("postgres://postgres@127.0.0.1:{}/{database}", proxy.port);
    let mut node = a.node(&via_proxy);
    node.start();
    let api = node.api(&owner);
    let member = a.add_user("m@test.example", "Mem Ber", "member", false);
    converge(&a, &node).await;

    let acked: Arc<Mutex<Vec<(i64, String)>>> = Arc::default();
    let refused: Arc<Mutex<Vec<String>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let mut writers = Vec::new();
    for w in 0..4 {
        let api = node.api(&owner);
        let (acked, refused, stop) = (acked.clone(), refused.clone(), stop.clone());
        writers.push(tokio::spawn(async move {
            let mut i = 0;
            while !stop.load(Ordering::SeqCst) {
                let name = format!("f{w}-{i}");
                i += 1;
                let (status, body) = api
                    .post(
                        "/user_groups/create",
                        &[
                            ("name", name.clone()),
                            ("description", "x".into()),
                            ("members", format!("[{}]", member.id)),
                        ],
                    )
                    .await;
                match status {
                    200 => acked
                        .lock()
                        .unwrap()
                        .push((body["group_id"].as_i64().unwrap(), name)),
                    503 => refused.lock().unwrap().push(name),
                    other => panic!("write answered {other}: {body}"),
                }
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(400)).await;
    proxy.cut();
    tokio::time::sleep(Duration::from_millis(2500)).await;
    // While the database is away: reads are served from memory, readiness says so.
    let (status, _) = api.get("/user_groups", &[]).await;
    assert_eq!(status, 200, "reads must go on during the outage");
    let ready = reqwest::get(node.url("/readyz")).await.unwrap();
    assert_eq!(
        ready.status().as_u16(),
        503,
        "readiness must report the outage"
    );
    proxy.restore();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    stop.store(true, Ordering::SeqCst);
    for writer in writers {
        writer.await.unwrap();
    }
    assert!(
        !refused.lock().unwrap().is_empty(),
        "the outage refused no write: the test proved nothing"
    );
    // Recovered: a new write goes through.
    let (status, body) = api
        .post(
            "/user_groups/create",
            &[
                ("name", "after-outage".into()),
                ("description", String::new()),
                ("members", "[]".into()),
            ],
        )
        .await;
    assert_eq!(status, 200, "{body}");
    converge(&a, &node).await;
    let groups: Value = serde_json::from_str(&groups_body(&a, &owner).await).unwrap();
    let groups = groups["user_groups"].as_array().unwrap();
    for (id, name) in acked.lock().unwrap().iter() {
        let group = groups
            .iter()
            .find(|g| g["id"] == *id)
            .unwrap_or_else(|| panic!("acknowledged {name} lost"));
        assert_eq!(
            group["members"],
            serde_json::json!([member.id]),
            "{name} half-written"
        );
    }
    // A refused write either never happened or happened whole.
    for name in refused.lock().unwrap().iter() {
        if let Some(group) = groups.iter().find(|g| g["name"] == name.as_str()) {
            assert_eq!(
                group["members"],
                serde_json::json!([member.id]),
                "{name} half-written"
            );
        }
    }
    let report = a.cli_json(&["check", "--json"]);
    assert_eq!(report["ok"], true, "{report}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_copied_to_postgres_serves_identical_bodies() {
    if !postgres_available() {
        return;
    }
    // An SQLite deployment with some history.
    let dir = tempfile::tempdir().unwrap();
    let sqlite = format!("sqlite://{}", dir.path().join("cohort.db").display());
    let mut source = Cohort::init_at(&sqlite);
    let (_, owner) = (
        source
            .0
            .add_user("x@test.example", "Xavier X", "member", false),
        source.1.clone(),
    );
    source.0.start();
    let api = source.0.api(&owner);
    for i in 0..5 {
        api.post(
            "/user_groups/create",
            &[
                ("name", format!("g{i}")),
                ("description", "copied".into()),
                ("members", format!("[{}]", owner.id)),
            ],
        )
        .await;
    }
    let (_, body) = api.get("/user_groups", &[]).await;
    let first = body["user_groups"][8]["id"].as_i64().unwrap();
    api.post(&format!("/user_groups/{first}/deactivate"), &[])
        .await;
    let before = groups_body(&source.0, &owner).await;
    source.0.stop();

    let target = PgDatabase::create();
    let out = source
        .0
        .cli(&["copy", "--from", &sqlite, "--to", &target.url()]);
    assert!(
        out.status.success(),
        "copy failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("verified"));
    let mut copied = source.0.node(&target.url());
    copied.start();
    assert_eq!(
        groups_body(&copied, &owner).await,
        before,
        "the copy serves different bytes"
    );
    // The copy keeps working, with fresh ids above the copied ones.
    let (status, body) = copied
        .api(&owner)
        .post(
            "/user_groups/create",
            &[
                ("name", "new".into()),
                ("description", String::new()),
                ("members", "[]".into()),
            ],
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert!(body["group_id"].as_i64().unwrap() > first);
    copied.kill();
    // Copying into a database that holds realms is refused.
    let again = source
        .0
        .cli(&["copy", "--from", &sqlite, "--to", &target.url()]);
    assert!(!again.status.success());
    drop(copied);
    drop(target);
}

#[test]
fn serve_refuses_a_schema_it_does_not_know() {
    if !postgres_available() {
        return;
    }
    let database = PgDatabase::create();
    let cli = |args: &[&str]| {
        std::process::Command::new(BIN)
            .arg("--db")
            .arg(database.url())
            .args(args)
            .env("COHORT_LOG", "warn")
            .output()
            .unwrap()
    };
    // Never migrated: serve asks for `cohort migrate`.
    let out = cli(&["serve", "--listen", "127.0.0.1:0"]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("cohort migrate"),
        "{out:?}"
    );
    assert!(cli(&["migrate"]).status.success());
    assert!(cli(&["migrate"]).status.success(), "migrate is idempotent");
    // A schema from a newer cohort: refused.
    let newer = std::process::Command::new("psql")
        .arg(database.url())
        .args([
            "-q",
            "-c",
            "INSERT INTO schema_migrations VALUES (999, 'future', 0)",
        ])
        .output()
        .unwrap();
    assert!(newer.status.success());
    let out = cli(&["serve", "--listen", "127.0.0.1:0"]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("newer than this cohort supports"),
        "{out:?}"
    );
}
