//! Several nodes on one PostgreSQL database: coherence, lag, concurrency,
//! faults, and moving an SQLite deployment over with `cohort copy`.
//!
//! Each test makes its own database and drops it. The tests are `#[ignore]`d
//! so that a run without PostgreSQL reports them as ignored, not passed;
//! `scripts/test.sh` runs them with `--include-ignored` (required in CI), and
//! an explicitly included test fails if PostgreSQL is not reachable.
//!
//! Multi-node servers run with polling effectively off
//! (`Cohort::without_polling`): only LISTEN/NOTIFY brings one node's commits
//! to the other, so these tests fail if notifications stop working.

mod common;

use common::*;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::net::{TcpListener, TcpStream};

/// How long a node may take to see another node's commit, or to notice an
/// outage or a recovery: a liveness bound, not a performance figure (the
/// benchmark measures lag).
const DEADLINE: Duration = Duration::from_secs(30);

/// These tests were asked for: without PostgreSQL they fail.
fn require_postgres() {
    assert!(
        postgres_available(),
        "PostgreSQL is not reachable at {}: the PostgreSQL tests cannot run",
        pg_server()
    );
}

/// A realm on a fresh PostgreSQL database, with node A started (not polling).
fn pg_realm() -> (Cohort, Account) {
    require_postgres();
    let database = PgDatabase::create();
    let (cohort, owner, _) = Cohort::init_on(database);
    let mut cohort = cohort.without_polling();
    cohort.start();
    (cohort, owner)
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
            started.elapsed() < DEADLINE,
            "nodes did not converge: {va} vs {vb}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn groups_body(cohort: &Cohort, owner: &Account) -> String {
    let response = reqwest::Client::new()
        .get(cohort.url("/api/v1/user_groups?include_deactivated_groups=true"))
        .basic_auth(&owner.email, Some(&owner.key))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "GET /user_groups");
    response.text().await.unwrap()
}

/// Wait until `cohort` serves group `id`.
async fn await_group(cohort: &Cohort, owner: &Account, id: i64) -> Duration {
    let api = cohort.api(owner);
    let started = Instant::now();
    loop {
        let (status, _) = api.get(&format!("/user_groups/{id}/members"), &[]).await;
        if status == 200 {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < DEADLINE,
            "node {} never saw group {id}",
            cohort.base
        );
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

async fn create(api: &Api, name: &str, members: &str) -> i64 {
    let (status, body) = api
        .post(
            "/user_groups/create",
            &[
                ("name", name.to_string()),
                ("description", String::new()),
                ("members", members.to_string()),
            ],
        )
        .await;
    assert_eq!(status, 200, "create {name}: {body}");
    body["group_id"].as_i64().unwrap()
}

/// The value of an unlabelled gauge in `/metrics`.
async fn gauge(cohort: &Cohort, name: &str) -> Option<f64> {
    let text = reqwest::get(cohort.url("/metrics"))
        .await
        .ok()?
        .text()
        .await
        .ok()?;
    text.lines().find_map(|line| {
        line.strip_prefix(name)?
            .strip_prefix(' ')?
            .trim()
            .parse()
            .ok()
    })
}

/// Wait until `cohort`'s LISTEN connection is up (`listening`) or down.
async fn await_listening(cohort: &Cohort, listening: bool) {
    let want = if listening { 1.0 } else { 0.0 };
    let started = Instant::now();
    while gauge(cohort, "cohort_postgres_listening").await != Some(want) {
        assert!(
            started.elapsed() < DEADLINE,
            "cohort_postgres_listening never became {want}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL: scripts/test.sh runs it with --include-ignored"]
async fn a_write_on_one_node_is_read_on_the_other() {
    let (a, owner) = pg_realm();
    let mut b = a.node(&a.db);
    b.start();
    converge(&a, &b).await;
    let api_a = a.api(&owner);
    let mut lags = Vec::new();
    for i in 0..100 {
        let id = create(&api_a, &format!("lag-{i}"), "[]").await;
        // Read-your-writes on A: the reply came after A's snapshot had it.
        let (_, own) = api_a.get(&format!("/user_groups/{id}/members"), &[]).await;
        assert_eq!(own["result"], "success", "{own}");
        lags.push(await_group(&b, &owner, id).await);
    }
    lags.sort();
    println!(
        "cross-node visibility lag (notifications only) over {} writes: p50 {:?}, p90 {:?}, p99 {:?}, max {:?}",
        lags.len(),
        percentile(&lags, 0.5),
        percentile(&lags, 0.9),
        percentile(&lags, 0.99),
        lags[lags.len() - 1]
    );
    converge(&a, &b).await;
    assert_eq!(groups_body(&a, &owner).await, groups_body(&b, &owner).await);
}

/// GET `/scim/v2/Users?count=1` on `cohort` with `token`: the status.
async fn scim_status(cohort: &Cohort, token: &str) -> u16 {
    reqwest::Client::new()
        .get(cohort.url("/scim/v2/Users?count=1"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL: scripts/test.sh runs it with --include-ignored"]
async fn a_revoked_token_stops_on_every_node_and_scim_writes_reach_both() {
    let (a, _owner) = pg_realm();
    let mut b = a.node(&a.db).without_polling();
    b.start();
    let made = a.cli_json(&[
        "token", "create", "--scope", "scim", "--name", "idp", "--json",
    ]);
    let token = made["token"].as_str().unwrap().to_string();
    // The token was created by another process (the CLI): both nodes learn
    // of it through notifications alone.
    for node in [&a, &b] {
        let started = Instant::now();
        while scim_status(node, &token).await != 200 {
            assert!(started.elapsed() < DEADLINE, "the new token never worked");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
    // A SCIM write on A is served by B.
    let created: Value = reqwest::Client::new()
        .post(a.url("/scim/v2/Groups"))
        .bearer_auth(&token)
        .json(&serde_json::json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
            "displayName": "from-the-idp",
        }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = created["id"].as_str().unwrap().to_string();
    let started = Instant::now();
    loop {
        let status = reqwest::Client::new()
            .get(b.url(&format!("/scim/v2/Groups/{id}")))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .status();
        if status == 200 {
            break;
        }
        assert!(
            started.elapsed() < DEADLINE,
            "node B never served the group"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // Revoked through the CLI: refused by both nodes, within the lag.
    let out = a.cli(&["token", "revoke", "idp"]);
    assert!(out.status.success(), "{out:?}");
    let revoked_at = Instant::now();
    let mut lags = Vec::new();
    for node in [&a, &b] {
        while scim_status(node, &token).await != 401 {
            assert!(
                revoked_at.elapsed() < DEADLINE,
                "a revoked token kept working"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        lags.push(revoked_at.elapsed());
    }
    println!(
        "revocation took effect on A after {:?}, on B after {:?}",
        lags[0], lags[1]
    );
}

/// One acknowledged description change: when it was sent and answered.
#[derive(Clone)]
struct Described {
    text: String,
    sent: Instant,
    acked: Instant,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL: scripts/test.sh runs it with --include-ignored"]
async fn concurrent_writers_on_two_nodes_agree_with_the_log() {
    const WORKERS: usize = 16;
    const STEPS: usize = 25;
    let (a, owner) = pg_realm();
    // One user per worker: only its worker changes its memberships, so every
    // answer and the final membership are known exactly, while all workers
    // still fight over the same groups.
    let users: Vec<i64> = (0..WORKERS)
        .map(|i| {
            a.add_user(
                &format!("u{i}@test.example"),
                &format!("User {i}"),
                "member",
                false,
            )
            .id
        })
        .collect();
    let mut b = a.node(&a.db);
    b.start();
    converge(&a, &b).await;
    let base = a.api(&owner);
    let mut shared = Vec::new();
    for i in 0..4 {
        shared.push(create(&base, &format!("shared-{i}"), "[]").await);
    }
    converge(&a, &b).await;

    let created: Arc<Mutex<Vec<(String, i64, i64)>>> = Arc::default();
    let clash_wins: Arc<Mutex<Vec<String>>> = Arc::default();
    let described: Arc<Mutex<BTreeMap<i64, Vec<Described>>>> = Arc::default();
    let mut tasks = Vec::new();
    for worker in 0..WORKERS {
        let api = if worker % 2 == 0 {
            a.api(&owner)
        } else {
            b.api(&owner)
        };
        let (created, clash_wins, described) =
            (created.clone(), clash_wins.clone(), described.clone());
        let shared = shared.clone();
        let user = users[worker];
        tasks.push(tokio::spawn(async move {
            // The groups this worker's user is in, as acknowledged.
            let mut member_of = BTreeSet::new();
            for step in 0..STEPS {
                let group = shared[(worker + step) % shared.len()];
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
                            assert_error(
                                &(status, body),
                                400,
                                "BAD_REQUEST",
                                &format!("User group '{name}' already exists."),
                            );
                        }
                    }
                    1 | 2 => {
                        let op = if member_of.contains(&group) {
                            "delete"
                        } else {
                            "add"
                        };
                        let got = api
                            .post(
                                &format!("/user_groups/{group}/members"),
                                &[(op, format!("[{user}]"))],
                            )
                            .await;
                        assert_success(&got);
                        if op == "add" {
                            member_of.insert(group);
                        } else {
                            member_of.remove(&group);
                        }
                    }
                    3 => {
                        let name = format!("w{worker}-s{step}");
                        let id = create(&api, &name, &format!("[{user}]")).await;
                        let got = api
                            .post(
                                &format!("/user_groups/{group}/subgroups"),
                                &[("add", format!("[{id}]"))],
                            )
                            .await;
                        assert_success(&got);
                        created.lock().unwrap().push((name, id, group));
                    }
                    _ => {
                        let text = format!("by {worker} at {step}");
                        let sent = Instant::now();
                        let got = api
                            .patch(
                                &format!("/user_groups/{group}"),
                                &[("description", text.clone())],
                            )
                            .await;
                        assert_success(&got);
                        let acked = Instant::now();
                        described
                            .lock()
                            .unwrap()
                            .entry(group)
                            .or_default()
                            .push(Described { text, sent, acked });
                    }
                }
            }
            (user, member_of)
        }));
    }
    let mut memberships = Vec::new();
    for task in tasks {
        memberships.push(task.await.unwrap());
    }
    converge(&a, &b).await;
    let body_a = groups_body(&a, &owner).await;
    assert_eq!(body_a, groups_body(&b, &owner).await, "the nodes disagree");
    let groups: Value = serde_json::from_str(&body_a).unwrap();
    let groups = groups["user_groups"].as_array().unwrap();
    let group = |id: i64| {
        groups
            .iter()
            .find(|g| g["id"] == id)
            .unwrap_or_else(|| panic!("group {id} is missing"))
    };
    // Exactly one of each clashing create succeeded.
    let mut wins = clash_wins.lock().unwrap().clone();
    wins.sort();
    assert_eq!(
        wins,
        (0..STEPS / 5)
            .map(|i| format!("clash-{i}"))
            .collect::<Vec<_>>()
    );
    // Every acknowledged create and subgroup addition is there.
    for (name, id, parent) in created.lock().unwrap().iter() {
        let g = group(*id);
        assert_eq!(g["name"], name.as_str(), "acknowledged group {id}");
        assert!(g["members"].as_array().unwrap().len() == 1, "{name}: {g}");
        assert!(
            group(*parent)["direct_subgroup_ids"]
                .as_array()
                .unwrap()
                .contains(&(*id).into()),
            "acknowledged subgroup {id} of {parent} is missing"
        );
    }
    // Every acknowledged member change: each user is in exactly the shared
    // groups its worker last put it in.
    for (user, member_of) in &memberships {
        for &g in &shared {
            let listed = group(g)["members"]
                .as_array()
                .unwrap()
                .contains(&(*user).into());
            assert_eq!(
                listed,
                member_of.contains(&g),
                "user {user} in group {g}: the last acknowledged change was lost"
            );
        }
    }
    // Descriptions: the final one was acknowledged, and no acknowledged
    // change was sent after it had been answered (that one would have won).
    for &g in &shared {
        let changes = described
            .lock()
            .unwrap()
            .get(&g)
            .cloned()
            .unwrap_or_default();
        let text = group(g)["description"].as_str().unwrap().to_string();
        if changes.is_empty() {
            assert_eq!(text, "", "group {g}");
            continue;
        }
        let last = changes
            .iter()
            .find(|c| c.text == text)
            .unwrap_or_else(|| panic!("group {g}'s description {text:?} was never acknowledged"));
        assert!(
            changes.iter().all(|c| c.sent <= last.acked),
            "group {g}: {text:?} won over a change sent after it was acknowledged"
        );
    }
    // Both nodes tell the same history: the same audit trail, event for
    // event (ids, names, faces, request ids), and the same export.
    converge(&a, &b).await;
    let trail_a = audit_trail(&a, &owner).await;
    assert!(
        trail_a.len() > WORKERS * STEPS / 2,
        "{} events",
        trail_a.len()
    );
    assert_eq!(
        trail_a,
        audit_trail(&b, &owner).await,
        "the nodes' audit trails differ"
    );
    let export = |node: &Cohort| {
        let url = node.url("/cohort/v1/export?format=jsonl");
        let owner = owner.clone();
        async move {
            reqwest::Client::new()
                .get(url)
                .basic_auth(&owner.email, Some(&owner.key))
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap()
        }
    };
    assert_eq!(
        export(&a).await,
        export(&b).await,
        "the nodes' exports differ"
    );
}

/// A node's whole audit trail, page by page.
async fn audit_trail(node: &Cohort, owner: &Account) -> Vec<Value> {
    let http = reqwest::Client::new();
    let mut url = node.url("/cohort/v1/audit?limit=500");
    let mut events = Vec::new();
    loop {
        let body: Value = http
            .get(&url)
            .basic_auth(&owner.email, Some(&owner.key))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        events.extend(body["events"].as_array().expect("events").iter().cloned());
        match body["next"].as_str() {
            Some(next) => url = node.url(next),
            None => return events,
        }
    }
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

/// A node reaching the database through `proxy`, not polling.
fn proxied_node(a: &Cohort, proxy: &Proxy) -> Cohort {
    let database = a.db.rsplit('/').next().unwrap().to_string();
    let via_proxy = format!("postgres://postgres@127.0.0.1:{}/{database}", proxy.port);
    let mut node = a.node(&via_proxy);
    node.start();
    node
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL: scripts/test.sh runs it with --include-ignored"]
async fn notifications_move_a_node_again_after_its_listen_connection_is_restored() {
    let (a, owner) = pg_realm();
    let proxy = Proxy::start(pg_port()).await;
    let b = proxied_node(&a, &proxy);
    await_listening(&b, true).await;
    converge(&a, &b).await;
    let api_a = a.api(&owner);
    let before = create(&api_a, "before-cut", "[]").await;
    await_group(&b, &owner, before).await;

    proxy.cut();
    await_listening(&b, false).await;
    // Committed while B hears nothing.
    let during = create(&api_a, "during-cut", "[]").await;
    proxy.restore();
    await_listening(&b, true).await;
    // The next notification brings B everything it missed.
    let after = create(&api_a, "after-restore", "[]").await;
    await_group(&b, &owner, after).await;
    await_group(&b, &owner, during).await;
    converge(&a, &b).await;
    assert_eq!(groups_body(&a, &owner).await, groups_body(&b, &owner).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL: scripts/test.sh runs it with --include-ignored"]
async fn cut_database_connections_fail_writes_cleanly_and_recover() {
    let (a, owner) = pg_realm();
    let proxy = Proxy::start(pg_port()).await;
    let member = a.add_user("m@test.example", "Mem Ber", "member", false);
    let node = proxied_node(&a, &proxy);
    let api = node.api(&owner);
    converge(&a, &node).await;

    let acked: Arc<Mutex<Vec<(i64, String)>>> = Arc::default();
    let refused: Arc<Mutex<Vec<String>>> = Arc::default();
    let acks = Arc::new(AtomicUsize::new(0));
    let refusals = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let mut writers = Vec::new();
    for w in 0..4 {
        let api = node.api(&owner);
        let (acked, refused, stop) = (acked.clone(), refused.clone(), stop.clone());
        let (acks, refusals) = (acks.clone(), refusals.clone());
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
                    200 => {
                        acked
                            .lock()
                            .unwrap()
                            .push((body["group_id"].as_i64().unwrap(), name));
                        acks.fetch_add(1, Ordering::SeqCst);
                    }
                    503 => {
                        refused.lock().unwrap().push(name);
                        refusals.fetch_add(1, Ordering::SeqCst);
                    }
                    other => panic!("write answered {other}: {body}"),
                }
            }
        }));
    }
    // Wait (liveness bounds, not timings) for writes, then for the outage to
    // be noticed: a refused write and a degraded readiness.
    let wait_for = |what: &'static str, done: Box<dyn Fn() -> bool + Send>| async move {
        let started = Instant::now();
        while !done() {
            assert!(started.elapsed() < DEADLINE, "never saw {what}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    let counter = acks.clone();
    wait_for(
        "a write before the outage",
        Box::new(move || counter.load(Ordering::SeqCst) > 0),
    )
    .await;
    proxy.cut();
    let counter = refusals.clone();
    wait_for(
        "a write refused during the outage",
        Box::new(move || counter.load(Ordering::SeqCst) > 0),
    )
    .await;
    let started = Instant::now();
    loop {
        let ready = reqwest::get(node.url("/readyz")).await.unwrap();
        if ready.status().as_u16() == 503 {
            break;
        }
        assert!(
            started.elapsed() < DEADLINE,
            "readiness never reported the outage"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // While the database is away: reads are served from memory.
    let (status, _) = api.get("/user_groups", &[]).await;
    assert_eq!(status, 200, "reads must go on during the outage");
    proxy.restore();
    let acked_at_restore = acks.load(Ordering::SeqCst);
    let counter = acks.clone();
    wait_for(
        "a write acknowledged after the database came back",
        Box::new(move || counter.load(Ordering::SeqCst) > acked_at_restore),
    )
    .await;
    stop.store(true, Ordering::SeqCst);
    for writer in writers {
        writer.await.unwrap();
    }
    // Recovered: a new write goes through.
    create(&api, "after-outage", "[]").await;
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
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL: scripts/test.sh runs it with --include-ignored"]
async fn sqlite_copied_to_postgres_serves_identical_bodies() {
    require_postgres();
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
#[ignore = "needs PostgreSQL: scripts/test.sh runs it with --include-ignored"]
fn serve_refuses_a_schema_it_does_not_know() {
    require_postgres();
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

/// A Zulip event queue on node B hears of writes made on node A (B learns
/// of them by LISTEN/NOTIFY only); the lag is printed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL: scripts/test.sh runs it with --include-ignored"]
async fn events_of_a_write_on_one_node_reach_queues_on_the_other() {
    let (a, owner) = pg_realm();
    let mut b = a.node(&a.db);
    b.start();
    converge(&a, &b).await;
    let api_a = a.api(&owner);
    let api_b = b.api(&owner);
    let (_, registered) = api_b
        .post("/register", &[("event_types", r#"["user_group"]"#.into())])
        .await;
    assert_eq!(registered["result"], "success", "{registered}");
    let queue = registered["queue_id"].as_str().unwrap().to_string();
    let mut last = -1;
    let mut lags = Vec::new();
    for i in 0..20 {
        let started = Instant::now();
        let id = create(&api_a, &format!("evt-{i}"), "[]").await;
        let event = loop {
            let (_, polled) = api_b
                .get(
                    "/events",
                    &[
                        ("queue_id", queue.clone()),
                        ("last_event_id", last.to_string()),
                    ],
                )
                .await;
            assert_eq!(polled["result"], "success", "{polled}");
            let events = polled["events"].as_array().unwrap().clone();
            if let Some(e) = events.iter().find(|e| e["op"] == "add") {
                break e.clone();
            }
            last = events
                .iter()
                .filter_map(|e| e["id"].as_i64())
                .max()
                .unwrap_or(last);
        };
        lags.push(started.elapsed());
        assert_eq!(event["group"]["id"], id, "{event}");
        last = event["id"].as_i64().unwrap();
    }
    lags.sort();
    println!(
        "write on A to event on B's queue over {} writes: p50 {:?}, p99 {:?}, max {:?}",
        lags.len(),
        percentile(&lags, 0.5),
        percentile(&lags, 0.99),
        lags[lags.len() - 1]
    );
}

/// A receiver that answers 200 at once and keeps every `webhook-id`.
async fn webhook_receiver() -> (String, Arc<Mutex<Vec<String>>>) {
    use axum::http::HeaderMap;
    let seen: Arc<Mutex<Vec<String>>> = Arc::default();
    let kept = seen.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: HeaderMap| {
            let kept = kept.clone();
            async move {
                let id = headers
                    .get("webhook-id")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("")
                    .to_string();
                kept.lock().unwrap().push(id);
                "ok"
            }
        }),
    );
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, seen)
}

/// Wait until the receiver holds every id of `expected`.
async fn await_webhooks(seen: &Mutex<Vec<String>>, expected: &BTreeSet<String>, within: Duration) {
    let started = Instant::now();
    loop {
        let got: BTreeSet<String> = seen.lock().unwrap().iter().cloned().collect();
        if expected.is_subset(&got) {
            return;
        }
        assert!(
            started.elapsed() < within,
            "{} of {} webhooks arrived",
            expected.intersection(&got).count(),
            expected.len()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The audit ids of the `group.created` events of the test's groups (not
/// the system groups'), through node `via`.
async fn created_ids(via: &Cohort, owner: &Account) -> BTreeSet<String> {
    audit_trail(via, owner)
        .await
        .into_iter()
        .filter(|e| e["type"] == "group.created")
        .filter(|e| {
            !e["group"]["name"]
                .as_str()
                .unwrap_or("")
                .starts_with("role:")
        })
        .map(|e| e["id"].as_str().unwrap().to_string())
        .collect()
}

/// Two nodes send one endpoint's deliveries: each exactly once while both
/// live (one node holds the endpoint's lease), and the survivor takes over
/// when the holder is killed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL: scripts/test.sh runs it with --include-ignored"]
async fn webhooks_are_sent_once_by_one_node_and_taken_over_when_it_dies() {
    require_postgres();
    let (a, owner, _) = Cohort::init_on(PgDatabase::create());
    let mut a = a.without_polling().with_args(&["--webhook-allow-private"]);
    a.start();
    let mut b = a.node(&a.db);
    b.start();
    converge(&a, &b).await;
    let (url, seen) = webhook_receiver().await;
    let made = reqwest::Client::new()
        .post(a.url("/cohort/v1/webhooks"))
        .basic_auth(&owner.email, Some(&owner.key))
        .body(json(
            serde_json::json!({"url": url, "types": ["group.created"]}),
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(made.status(), 201, "{}", made.text().await.unwrap());
    converge(&a, &b).await;
    // Writes on both nodes at once.
    let (api_a, api_b) = (a.api(&owner), b.api(&owner));
    let on = |api: &Api, side: &'static str| {
        let api = Api {
            base: api.base.clone(),
            email: api.email.clone(),
            key: api.key.clone(),
            http: api.http.clone(),
        };
        async move {
            for i in 0..20 {
                create(&api, &format!("hooked-{side}-{i}"), "[]").await;
            }
        }
    };
    tokio::join!(on(&api_a, "a"), on(&api_b, "b"));
    converge(&a, &b).await;
    let expected = created_ids(&a, &owner).await;
    assert_eq!(expected.len(), 40);
    await_webhooks(&seen, &expected, DEADLINE).await;
    // Let the last attempts be recorded, then kill one node: whichever held
    // the lease, the other sends what comes next.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let sent_once = seen.lock().unwrap().clone();
    let distinct: BTreeSet<&String> = sent_once.iter().collect();
    assert_eq!(
        distinct.len(),
        sent_once.len(),
        "a webhook was sent twice: {sent_once:?}"
    );
    a.kill();
    for i in 0..10 {
        create(&api_b, &format!("after-{i}"), "[]").await;
    }
    let expected = created_ids(&b, &owner).await;
    assert_eq!(expected.len(), 50);
    // The dead node's lease lapses within 30 s; then the survivor claims it.
    await_webhooks(&seen, &expected, DEADLINE * 2).await;
    let all = seen.lock().unwrap().clone();
    let distinct: BTreeSet<&String> = all.iter().collect();
    assert_eq!(
        distinct.len(),
        all.len(),
        "a webhook was sent twice: {all:?}"
    );
}
