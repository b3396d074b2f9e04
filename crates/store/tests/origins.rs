//! Commit origins in the change log (migration 4), on both engines: each
//! commit's face, request id and client address are written with it and read
//! back as written, also after reopening; rows from before migration 4 read
//! back with the face their actor implies and no request id or address; a
//! face the build does not know is corrupt data; `Store::commits_at` returns
//! exactly the commits asked for, across its SQLite chunks; a group edited
//! after an edge change in one batch keeps the later time.

mod support;

use cohort_core::command::{CreateGroup, CreateRealm, CreateUser};
use cohort_core::{Actor, Command, Commit, Face, KeyHash, Origin, RealmId, Role, Version};
use cohort_engine::{check_log, Engine, EngineConfig};
use cohort_store::{DbUrl, Store, StoreError};
use std::sync::Arc;
use std::time::Duration;

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

async fn engine_on(url: &str) -> (Arc<dyn Store>, Arc<Engine>) {
    let store = cohort_store::open(&DbUrl::parse(url).unwrap(), true)
        .await
        .expect("open");
    let engine = Engine::start(
        store.clone(),
        EngineConfig {
            poll_interval: Duration::from_secs(3_600),
            maintenance_interval: Duration::from_secs(3_600),
            ..EngineConfig::default()
        },
    )
    .await
    .expect("engine");
    (store, engine)
}

fn owner() -> CreateUser {
    CreateUser {
        email: Some("olive@origins.example".into()),
        full_name: "Olive Owner".into(),
        role: Role::Owner,
        is_bot: false,
        bot_owner: None,
        key: None,
        avatar_url: None,
        api_key: KeyHash([0x0a; 32]),
        can_create_users: true,
    }
}

fn group(name: &str) -> Command {
    Command::CreateGroup(CreateGroup {
        name: name.into(),
        description: String::new(),
        members: Vec::new(),
        subgroups: Vec::new(),
        settings: Vec::new(),
        key: None,
        avatar_url: None,
        external_id: None,
    })
}

fn from(face: Face, request_id: &str, client: &str) -> Origin {
    Origin {
        face,
        request_id: Some(request_id.into()),
        client: Some(client.into()),
    }
}

/// A realm (operator, `Face::Cli`) and one commit per face the engine is
/// asked for: returns the realm and the origins expected, by version.
async fn write_one_of_each(engine: &Engine) -> (RealmId, Vec<(Actor, Origin)>) {
    let created = engine
        .create_realm(CreateRealm {
            name: "origins".into(),
            owner: Some(owner()),
        })
        .await
        .expect("realm");
    let realm = created.snapshot.realm_id();
    let owner = created
        .snapshot
        .users()
        .find(|u| u.role == Role::Owner)
        .expect("owner")
        .id;
    let mut expected = vec![(Actor::Operator, Origin::local(Face::Cli))];
    let writes = [
        (
            Actor::User(owner),
            from(Face::Zulip, "zulip-req-1", "127.0.0.1"),
        ),
        (
            Actor::Platform,
            from(Face::Imkit, "imkit-req-2", "2001:db8::7"),
        ),
        // A face other than the one the actor implies is kept as given.
        (
            Actor::Platform,
            Origin {
                face: Face::Native,
                request_id: Some("n".repeat(128)),
                client: None,
            },
        ),
        (Actor::Operator, Origin::local(Face::Cli)),
    ];
    for (n, (actor, origin)) in writes.into_iter().enumerate() {
        engine
            .execute_from(realm, actor, origin.clone(), group(&format!("g{n}")))
            .await
            .expect("a write");
        expected.push((actor, origin));
    }
    // `execute` records the face the actor implies, with no request.
    engine
        .execute(realm, Actor::Operator, group("by execute"))
        .await
        .expect("a local write");
    expected.push((Actor::Operator, Origin::local(Face::Cli)));
    (realm, expected)
}

fn assert_origins(commits: &[Commit], expected: &[(Actor, Origin)], what: &str) {
    let got: Vec<(Version, Actor, Origin)> = commits
        .iter()
        .map(|c| (c.version, c.actor, c.origin.clone()))
        .collect();
    let want: Vec<(Version, Actor, Origin)> = expected
        .iter()
        .enumerate()
        .map(|(i, (actor, origin))| (i as Version + 1, *actor, origin.clone()))
        .collect();
    assert_eq!(got, want, "{what}");
}

async fn origins_round_trip(url: &str) {
    let (store, engine) = engine_on(url).await;
    let (realm, expected) = write_one_of_each(&engine).await;
    let commits = store.commits(realm, 0, None).await.expect("commits");
    assert_origins(&commits, &expected, &format!("{url}: as written"));
    drop(engine);
    drop(store);

    let (store, engine) = engine_on(url).await;
    let commits = store.commits(realm, 0, None).await.expect("commits");
    assert_origins(&commits, &expected, &format!("{url}: after reopening"));
    for report in check_log(store.as_ref()).await.expect("check") {
        assert!(report.problems.is_empty(), "{url}: {:?}", report.problems);
    }

    // `commits_at`: exactly the versions asked for, oldest first, whatever
    // the order, repeats and versions past the log's end.
    let at = store
        .commits_at(realm, vec![5, 2, 999, 2, 1])
        .await
        .expect("commits_at");
    let by_version = |v: &[Version]| -> Vec<Commit> {
        commits
            .iter()
            .filter(|c| v.contains(&c.version))
            .cloned()
            .collect()
    };
    assert_eq!(at, by_version(&[1, 2, 5]), "{url}: commits_at");
    assert!(store
        .commits_at(realm, Vec::new())
        .await
        .expect("none")
        .is_empty());
    assert!(store
        .commits_at(RealmId(realm.0 + 10_000), vec![1, 2])
        .await
        .expect("another realm")
        .is_empty());

    // Enough commits that a scattered page spans several SQLite chunks.
    let writes = (0..250).map(|n| {
        engine.execute_from(
            realm,
            Actor::Platform,
            from(Face::Imkit, &format!("bulk-{n}"), "10.0.0.1"),
            group(&format!("bulk {n}")),
        )
    });
    for done in futures_util::future::join_all(writes).await {
        done.expect("a bulk write");
    }
    let all = store.commits(realm, 0, None).await.expect("commits");
    let wanted: Vec<Version> = (1..=all.len() as Version + 5)
        .rev()
        .filter(|v| v % 3 != 0)
        .collect();
    let page = store
        .commits_at(realm, wanted.clone())
        .await
        .expect("a page");
    let expected: Vec<Commit> = all
        .iter()
        .filter(|c| wanted.contains(&c.version))
        .cloned()
        .collect();
    assert!(expected.len() > 150);
    assert_eq!(page, expected, "{url}: a scattered page");
}

#[test]
fn sqlite_origins_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("o.db").display());
    rt().block_on(origins_round_trip(&url));
}

#[test]
fn postgres_origins_round_trip() {
    let Some(database) = support::PgDatabase::create() else {
        return;
    };
    rt().block_on(origins_round_trip(&database.url()));
}

/// A log written at schema 3 (made here by writing through this build and
/// then taking migration 4 back out: its columns dropped, its record
/// removed), then opened: migration 4 runs, the old commits read back with
/// the faces their actors imply and no request id or address, new commits
/// carry theirs, and the log still replays to the tables.
async fn schema_3_log_reads(url: &str, downgrade: impl Fn()) {
    let (store, engine) = engine_on(url).await;
    let (realm, written) = write_one_of_each(&engine).await;
    drop(engine);
    drop(store);
    downgrade();

    let (store, engine) = engine_on(url).await;
    let mut expected: Vec<(Actor, Origin)> = written
        .iter()
        .map(|(actor, _)| (*actor, Origin::local(Face::implied_by(*actor))))
        .collect();
    let commits = store.commits(realm, 0, None).await.expect("commits");
    assert_origins(&commits, &expected, &format!("{url}: schema-3 rows"));
    // The Zulip write's user implies Zulip, the platform's IMKIT (the
    // Native one reads back as IMKIT: nothing recorded it).
    assert_eq!(commits[1].origin.face, Face::Zulip);
    assert_eq!(commits[3].origin.face, Face::Imkit);

    let origin = from(Face::Scim, "after-4", "192.0.2.1");
    engine
        .execute_from(realm, Actor::Platform, origin.clone(), group("after"))
        .await
        .expect("a write after migrating");
    expected.push((Actor::Platform, origin));
    let commits = store.commits(realm, 0, None).await.expect("commits");
    assert_origins(&commits, &expected, &format!("{url}: old and new rows"));
    for report in check_log(store.as_ref()).await.expect("check") {
        assert!(report.problems.is_empty(), "{url}: {:?}", report.problems);
    }
}

const DOWNGRADE: &str = "DROP TABLE ui_sessions; DROP TABLE ui_login_links;
     DELETE FROM schema_migrations WHERE version = 7;
     DROP TABLE webhook_attempts; DROP TABLE webhook_deliveries; DROP TABLE webhook_state;
     DELETE FROM schema_migrations WHERE version = 6;
     DROP TABLE checkpoints;
     DELETE FROM schema_migrations WHERE version = 5;
     ALTER TABLE changes DROP COLUMN face;
     ALTER TABLE changes DROP COLUMN request_id;
     ALTER TABLE changes DROP COLUMN client_addr;
     DELETE FROM schema_migrations WHERE version = 4;";

#[test]
fn sqlite_schema_3_log_reads_with_implied_faces() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.db");
    let url = format!("sqlite://{}", path.display());
    rt().block_on(schema_3_log_reads(&url, || {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch(DOWNGRADE).unwrap();
        let version: i64 = conn
            .query_row("SELECT MAX(version) FROM schema_migrations", [], |r| {
                r.get(0)
            })
            .unwrap();
        assert_eq!(version, 3);
    }));
}

#[test]
fn postgres_schema_3_log_reads_with_implied_faces() {
    let Some(database) = support::PgDatabase::create() else {
        return;
    };
    let url = database.url();
    rt().block_on(schema_3_log_reads(&url, || {
        support::psql_on(&url, DOWNGRADE);
        assert_eq!(
            support::psql_on(&url, "SELECT MAX(version) FROM schema_migrations"),
            "3"
        );
    }));
}

/// A face this build does not know (written by a newer one, or by hand) is
/// corrupt data, not a guess.
async fn unknown_face_is_corrupt(url: &str, spoil: impl Fn()) {
    let (store, engine) = engine_on(url).await;
    let (realm, _) = write_one_of_each(&engine).await;
    spoil();
    let read = store.commits(realm, 0, None).await;
    assert!(
        matches!(read, Err(StoreError::Corrupt(ref m)) if m.contains("martian")),
        "{url}: {read:?}"
    );
    let read = store.commits_at(realm, vec![2]).await;
    assert!(
        matches!(read, Err(StoreError::Corrupt(_))),
        "{url}: {read:?}"
    );
    // Other commits still read.
    assert_eq!(store.commits_at(realm, vec![1]).await.expect("v1").len(), 1);
}

const SPOIL: &str = "UPDATE changes SET face = 'martian' WHERE version = 2";

#[test]
fn sqlite_unknown_face_is_corrupt() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("u.db");
    let url = format!("sqlite://{}", path.display());
    rt().block_on(unknown_face_is_corrupt(&url, || {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch(SPOIL).unwrap();
    }));
}

#[test]
fn postgres_unknown_face_is_corrupt() {
    let Some(database) = support::PgDatabase::create() else {
        return;
    };
    let url = database.url();
    rt().block_on(unknown_face_is_corrupt(&url, || {
        support::psql_on(&url, SPOIL);
    }));
}

/// A batch holding a member change of a group and then a later rename of it
/// (an import of commits made at different times; `cohort copy` does this)
/// leaves the group's `updated_at` at the rename's time, as the log says.
async fn later_edits_in_a_batch_keep_their_time(url: &str) {
    let (store, engine) = engine_on(url).await;
    let (realm, _) = write_one_of_each(&engine).await;
    let snap = engine.snapshot(realm).expect("realm");
    let group = snap.groups().find(|g| &*g.name == "g0").expect("g0").id;
    let owner = snap.users().next().expect("a user").id;
    let v = snap.version();
    let at = snap.group(group).expect("g0").updated_at;
    let commit = |version: Version, at: i64, change: cohort_core::Change| Commit {
        realm,
        version,
        at,
        actor: Actor::Operator,
        origin: Origin::local(Face::Cli),
        changes: vec![change],
    };
    store
        .import(vec![
            commit(
                v + 1,
                at + 1_000,
                cohort_core::Change::MembersAdded {
                    group,
                    users: vec![owner],
                },
            ),
            commit(
                v + 2,
                at + 2_000,
                cohort_core::Change::GroupUpdated {
                    id: group,
                    patch: cohort_core::change::GroupPatch {
                        name: Some("renamed".into()),
                        ..Default::default()
                    },
                },
            ),
        ])
        .await
        .expect("import");
    for report in check_log(store.as_ref()).await.expect("check") {
        assert!(report.problems.is_empty(), "{url}: {:?}", report.problems);
    }
}

#[test]
fn sqlite_later_edits_in_a_batch_keep_their_time() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("batch.db").display());
    rt().block_on(later_edits_in_a_batch_keep_their_time(&url));
}

#[test]
fn postgres_later_edits_in_a_batch_keep_their_time() {
    let Some(database) = support::PgDatabase::create() else {
        return;
    };
    rt().block_on(later_edits_in_a_batch_keep_their_time(&database.url()));
}
