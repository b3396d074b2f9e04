//! The kill matrix, per store: `cohort serve` is SIGKILLed at a random moment
//! while writers drive mixed writes through three faces at once (Zulip group
//! creation and member adds and removals, IMKIT client and group writes, SCIM
//! group creation, PATCH and PUT), then restarted; after every kill `cohort
//! check` must be clean, every write that got a success answer must be
//! visible through the faces, and the realm's version must count at least
//! every acknowledged commit.
//!
//! Cycles: `COHORT_CRASH_CYCLES` (default 25 per store, well under a minute
//! each; the reported runs use 100); the seed of the kill moments is
//! printed, and `COHORT_CRASH_SEED` replays one. Both stores run in every build: SQLite
//! on a temporary file, PostgreSQL on a fresh database (`COHORT_TEST_PG`);
//! without PostgreSQL the PostgreSQL test fails in CI and is reported
//! skipped elsewhere.

mod common;

use common::*;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const GROUP_URN: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
const PATCH_URN: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

/// What the writers were told, so far, over every cycle.
#[derive(Default)]
struct Ledger {
    /// Groups (Zulip ids, from the Zulip and SCIM faces) whose creation was
    /// acknowledged: their name, or `None` while a rename is unsettled (sent,
    /// not acknowledged).
    names: HashMap<i64, Option<String>>,
    /// (group, user): whether the last write of that membership left the user
    /// in, or `None` if it was sent and never answered.
    members: HashMap<(i64, i64), Option<bool>>,
    /// IMKIT clients whose creation was acknowledged.
    clients: Vec<String>,
    /// IMKIT groups whose creation was acknowledged, with their members.
    imkit_groups: HashMap<String, Vec<String>>,
    /// Acknowledged writes per face (each is at least one commit).
    acked: HashMap<&'static str, usize>,
    /// Requests sent per face (for the rate-limit figures).
    sent: HashMap<&'static str, usize>,
    /// Answers that were neither success nor a lost connection.
    unexpected: Vec<String>,
}

impl Ledger {
    fn ack(&mut self, face: &'static str) {
        *self.acked.entry(face).or_default() += 1;
    }

    fn total_acked(&self) -> usize {
        self.acked.values().sum()
    }
}

type Shared = Arc<Mutex<Ledger>>;

/// One request's outcome: the answer, or `None` if the connection was lost
/// (the server was killed: the write may or may not have happened).
async fn send(
    ledger: &Shared,
    face: &'static str,
    request: reqwest::RequestBuilder,
) -> Option<(u16, Value)> {
    *ledger.lock().unwrap().sent.entry(face).or_default() += 1;
    let response = request.send().await.ok()?;
    let status = response.status().as_u16();
    let text = response.text().await.ok()?;
    Some((
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    ))
}

fn unexpected(ledger: &Shared, what: String, got: &(u16, Value)) {
    ledger
        .lock()
        .unwrap()
        .unexpected
        .push(format!("{what}: {} {}", got.0, got.1));
}

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap()
}

/// Zulip: create a group with `member`, add `member2`, remove `member` (every
/// other group), until the server goes away.
async fn zulip_writer(realm: Arc<RealmInfo>, ledger: Shared, tag: String) {
    let http = http();
    let base = format!("{}/api/v1", realm.base);
    let (owner, m1, m2) = (&realm.owner, realm.member, realm.member2);
    for i in 0.. {
        let name = format!("z{tag}-{i}");
        let create = http
            .post(format!("{base}/user_groups/create"))
            .basic_auth(&owner.email, Some(&owner.key))
            .form(&[
                ("name", name.as_str()),
                ("description", "crash matrix"),
                ("members", &format!("[{m1}]")),
            ]);
        let Some(got) = send(&ledger, "zulip", create).await else {
            return;
        };
        let Some(id) = got.1["group_id"].as_i64().filter(|_| got.0 == 200) else {
            return unexpected(&ledger, format!("zulip create {name}"), &got);
        };
        {
            let mut l = ledger.lock().unwrap();
            l.names.insert(id, Some(name.clone()));
            l.members.insert((id, m1), Some(true));
            l.ack("zulip");
        }
        let steps: &[(&str, i64, bool)] = if i % 2 == 0 {
            &[("add", m2, true), ("delete", m1, false)]
        } else {
            &[("add", m2, true)]
        };
        for &(op, user, present) in steps {
            ledger.lock().unwrap().members.insert((id, user), None);
            let request = http
                .post(format!("{base}/user_groups/{id}/members"))
                .basic_auth(&owner.email, Some(&owner.key))
                .form(&[(op, format!("[{user}]"))]);
            let Some(got) = send(&ledger, "zulip", request).await else {
                return;
            };
            if got.0 != 200 {
                return unexpected(&ledger, format!("zulip {op} {user} in {id}"), &got);
            }
            let mut l = ledger.lock().unwrap();
            l.members.insert((id, user), Some(present));
            l.ack("zulip");
        }
    }
}

/// SCIM: create a group with `member`, PATCH `member2` in, then PUT a new
/// name with `member2` alone.
async fn scim_writer(realm: Arc<RealmInfo>, ledger: Shared, tag: String) {
    let http = http();
    let base = format!("{}/scim/v2", realm.base);
    let auth = format!("Bearer {}", realm.scim_token);
    let (m1, m2) = (realm.member, realm.member2);
    let scim = |request: reqwest::RequestBuilder, body: Value| {
        request
            .header("authorization", &auth)
            .header("content-type", "application/scim+json")
            .body(body.to_string())
    };
    for i in 0.. {
        let name = format!("s{tag}-{i}");
        let body = json!({"schemas": [GROUP_URN], "displayName": name,
                          "members": [{"value": m1.to_string()}]});
        let Some(got) = send(
            &ledger,
            "scim",
            scim(http.post(format!("{base}/Groups")), body),
        )
        .await
        else {
            return;
        };
        let Some(id) = got.1["id"]
            .as_str()
            .and_then(|s| s.parse::<i64>().ok())
            .filter(|_| got.0 == 201)
        else {
            return unexpected(&ledger, format!("scim create {name}"), &got);
        };
        {
            let mut l = ledger.lock().unwrap();
            l.names.insert(id, Some(name.clone()));
            l.members.insert((id, m1), Some(true));
            l.ack("scim");
        }
        ledger.lock().unwrap().members.insert((id, m2), None);
        let patch = json!({"schemas": [PATCH_URN], "Operations": [
            {"op": "add", "path": "members", "value": [{"value": m2.to_string()}]}]});
        let Some(got) = send(
            &ledger,
            "scim",
            scim(http.patch(format!("{base}/Groups/{id}")), patch),
        )
        .await
        else {
            return;
        };
        if !matches!(got.0, 200 | 204) {
            return unexpected(&ledger, format!("scim patch {id}"), &got);
        }
        {
            let mut l = ledger.lock().unwrap();
            l.members.insert((id, m2), Some(true));
            l.ack("scim");
        }
        let renamed = format!("{name}-r");
        {
            let mut l = ledger.lock().unwrap();
            l.names.insert(id, None);
            l.members.insert((id, m1), None);
        }
        let put = json!({"schemas": [GROUP_URN], "displayName": renamed,
                         "members": [{"value": m2.to_string()}]});
        let Some(got) = send(
            &ledger,
            "scim",
            scim(http.put(format!("{base}/Groups/{id}")), put),
        )
        .await
        else {
            return;
        };
        if got.0 != 200 {
            return unexpected(&ledger, format!("scim put {id}"), &got);
        }
        let mut l = ledger.lock().unwrap();
        l.names.insert(id, Some(renamed));
        l.members.insert((id, m1), Some(false));
        l.ack("scim");
    }
}

/// IMKIT: create a client, then a group holding it.
async fn imkit_writer(realm: Arc<RealmInfo>, ledger: Shared, tag: String) {
    let http = http();
    let key = realm.platform_key.clone();
    for i in 0.. {
        let client = format!("c{tag}-{i}");
        let request = http
            .post(format!("{}/admin/clients", realm.base))
            .header("IM-API-KEY", &key)
            .json(&json!({"_id": client, "nickname": format!("Client {client}")}));
        let Some(got) = send(&ledger, "imkit", request).await else {
            return;
        };
        if got.0 != 200 {
            return unexpected(&ledger, format!("imkit client {client}"), &got);
        }
        {
            let mut l = ledger.lock().unwrap();
            l.clients.push(client.clone());
            l.ack("imkit");
        }
        let group = format!("k{tag}-{i}");
        let request = http
            .post(format!("{}/admin/groups", realm.base))
            .header("IM-API-KEY", &key)
            .json(&json!({"_id": group, "nickname": group, "members": [client]}));
        let Some(got) = send(&ledger, "imkit", request).await else {
            return;
        };
        if got.0 != 200 {
            return unexpected(&ledger, format!("imkit group {group}"), &got);
        }
        let mut l = ledger.lock().unwrap();
        l.imkit_groups.insert(group, vec![client]);
        l.ack("imkit");
    }
}

/// What a writer needs of the realm (cheap to share with its task).
struct RealmInfo {
    base: String,
    owner: Account,
    member: i64,
    member2: i64,
    platform_key: String,
    scim_token: String,
}

/// IMKIT's whole paged list at `path` (`/admin/groups` or `/admin/clients`).
async fn imkit_all(base: &str, key: &str, path: &str) -> Vec<Value> {
    let http = http();
    let mut all = Vec::new();
    loop {
        let response = http
            .get(format!("{base}{path}"))
            .header("IM-API-KEY", key)
            .query(&[("limit", "100"), ("skip", &all.len().to_string())])
            .send()
            .await
            .expect("IMKIT list");
        assert_eq!(response.status(), 200, "GET {path}");
        let body: Value = response.json().await.expect("IMKIT JSON");
        let data = body["result"]["data"].as_array().expect("data").clone();
        let total = body["result"]["totalCount"].as_u64().expect("totalCount") as usize;
        all.extend(data);
        if all.len() >= total {
            return all;
        }
    }
}

/// Every acknowledged write is visible through the restarted server.
async fn assert_acknowledged_present(realm: &Realm, ledger: &Ledger) -> usize {
    let groups = realm.all_groups().await;
    let by_id: HashMap<i64, &Value> = groups["user_groups"]
        .as_array()
        .expect("user_groups")
        .iter()
        .map(|g| (g["id"].as_i64().unwrap(), g))
        .collect();
    let mut checked = 0;
    for (id, name) in &ledger.names {
        let group = by_id
            .get(id)
            .unwrap_or_else(|| panic!("acknowledged group {id} ({name:?}) was lost"));
        if let Some(name) = name {
            assert_eq!(
                group["name"],
                name.as_str(),
                "group {id}'s acknowledged name"
            );
        }
        checked += 1;
    }
    for ((id, user), present) in &ledger.members {
        let Some(present) = present else { continue };
        let members = by_id[id]["members"].as_array().unwrap();
        assert_eq!(
            members.contains(&(*user).into()),
            *present,
            "acknowledged membership of {user} in group {id} (expected {present}) was lost"
        );
        checked += 1;
    }
    let base = &realm.cohort.base;
    let clients: Vec<String> = imkit_all(base, &realm.platform_key, "/admin/clients")
        .await
        .iter()
        .map(|c| c["_id"].as_str().unwrap().to_string())
        .collect();
    for client in &ledger.clients {
        assert!(
            clients.contains(client),
            "acknowledged IMKIT client {client} was lost"
        );
        checked += 1;
    }
    let imkit_groups: HashMap<String, Value> =
        imkit_all(base, &realm.platform_key, "/admin/groups")
            .await
            .into_iter()
            .map(|g| (g["_id"].as_str().unwrap_or("").to_string(), g))
            .collect();
    for (group, members) in &ledger.imkit_groups {
        let got = imkit_groups
            .get(group)
            .unwrap_or_else(|| panic!("acknowledged IMKIT group {group} was lost"));
        assert_eq!(
            got["members"],
            json!(members),
            "IMKIT group {group}'s members"
        );
        checked += 1;
    }
    checked
}

fn realm_version(cohort: &Cohort) -> u64 {
    let realms = cohort.realms();
    realms[0]["version"]
        .as_u64()
        .unwrap_or_else(|| panic!("no realm version in {realms}"))
}

fn cycles() -> usize {
    std::env::var("COHORT_CRASH_CYCLES")
        .ok()
        .map(|v| v.parse().expect("COHORT_CRASH_CYCLES is a number"))
        .unwrap_or(25)
}

async fn kill_matrix(mut realm: Realm, store: &str) {
    let seed = std::env::var("COHORT_CRASH_SEED")
        .ok()
        .map(|v| v.parse().expect("COHORT_CRASH_SEED is a number"))
        .unwrap_or_else(|| fastrand::u64(..));
    let mut rng = fastrand::Rng::with_seed(seed);
    let cycles = cycles();
    eprintln!("crash matrix on {store}: {cycles} cycles, COHORT_CRASH_SEED={seed}");
    let ledger: Shared = Arc::default();
    let initial_version = realm_version(&realm.cohort);
    let started = Instant::now();
    let mut load_time = Duration::ZERO;
    for cycle in 0..cycles {
        let info = Arc::new(RealmInfo {
            base: realm.cohort.base.clone(),
            owner: realm.owner.clone(),
            member: realm.member.id,
            member2: realm.member2.id,
            platform_key: realm.platform_key.clone(),
            scim_token: realm.scim_token.clone(),
        });
        let mut writers = Vec::new();
        for w in 0..2 {
            let tag = format!("{cycle}-{w}");
            writers.push(tokio::spawn(zulip_writer(
                info.clone(),
                ledger.clone(),
                tag.clone(),
            )));
            writers.push(tokio::spawn(scim_writer(
                info.clone(),
                ledger.clone(),
                tag.clone(),
            )));
            writers.push(tokio::spawn(imkit_writer(
                info.clone(),
                ledger.clone(),
                tag,
            )));
        }
        // A random moment: anywhere from before the first commit to well
        // into the load.
        let load = Duration::from_millis(rng.u64(0..800));
        tokio::time::sleep(load).await;
        load_time += load;
        realm.cohort.kill();
        for writer in writers {
            writer.await.expect("writer task");
        }
        {
            let l = ledger.lock().unwrap();
            assert!(
                l.unexpected.is_empty(),
                "cycle {cycle}: answers that were neither success nor a lost connection: {:?}",
                l.unexpected
            );
        }
        // The database as the kill left it.
        realm.cohort.assert_consistent();
        let version = realm_version(&realm.cohort);
        let acked = ledger.lock().unwrap().total_acked();
        assert!(
            version >= initial_version + acked as u64,
            "cycle {cycle}: the realm is at version {version}, but {acked} writes \
             were acknowledged since version {initial_version}"
        );
        realm.cohort.start();
        let l = std::mem::take(&mut *ledger.lock().unwrap());
        assert_acknowledged_present(&realm, &l).await;
        *ledger.lock().unwrap() = l;
    }
    let elapsed = started.elapsed();
    let l = ledger.lock().unwrap();
    let minutes = elapsed.as_secs_f64() / 60.0;
    eprintln!(
        "crash matrix on {store}: {cycles} cycles in {:.1} s ({:.0} ms per cycle, {:.0} ms of it under load), \
         {} writes acknowledged ({:?}), 0 lost; requests sent {:?} \
         (per credential per minute: {:?})",
        elapsed.as_secs_f64(),
        elapsed.as_millis() as f64 / cycles as f64,
        load_time.as_millis() as f64 / cycles as f64,
        l.total_acked(),
        l.acked,
        l.sent,
        l.sent
            .iter()
            .map(|(face, n)| (*face, (*n as f64 / minutes) as u64))
            .collect::<HashMap<_, _>>()
    );
    // A matrix where some face never got a write through proves nothing
    // about that face.
    for face in ["zulip", "scim", "imkit"] {
        assert!(
            l.acked.get(face).copied().unwrap_or(0) > 0,
            "no {face} write was acknowledged in {cycles} cycles"
        );
    }
}

/// A realm on a fresh SQLite file, with its server running.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_survives_kill_matrix() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("crash.db").display());
    kill_matrix(realm_at(&db), "SQLite").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_survives_kill_matrix() {
    if !postgres_available() {
        return;
    }
    let database = PgDatabase::create();
    let url = database.url();
    let realm = realm_at(&url);
    kill_matrix(realm, "PostgreSQL").await;
    drop(database);
}

/// `Realm::new`'s accounts, on the database at `db`.
fn realm_at(db: &str) -> Realm {
    let (cohort, owner, platform_key) = Cohort::init_at(db);
    let member = cohort.add_user("member@test.example", "Mia Member", "member", false);
    let member2 = cohort.add_user("member2@test.example", "Max Member", "member", false);
    // Six writers on three credentials, far past any sane rate limit.
    let mut cohort = cohort.with_args(&["--rate-limit", "off"]);
    cohort.start();
    let scim_token = cohort
        .scim_token
        .clone()
        .expect("init printed a scim_token");
    Realm {
        scim_token,
        admin: owner.clone(),
        moderator: owner.clone(),
        guest: owner.clone(),
        bot: owner.clone(),
        cohort,
        owner,
        member,
        member2,
        platform_key,
    }
}
