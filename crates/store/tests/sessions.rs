//! The admin page's sign-in state (migration 7), on both engines: one
//! scenario runs against SQLite and PostgreSQL, checks every answer against
//! what the `Store` trait promises, and the two engines' transcripts must be
//! equal.
//!
//! Covered: a link opens once (`Opened` with its realm and user), then says
//! when it was used (also once it has expired); a link redeemed at or after
//! `expires_at` is `Expired` and stays unused; an unknown hash is `Unknown`;
//! a hash cannot be issued twice; sessions are read back whole until they
//! expire (not at `expires_at`), and ending one (twice) forgets it; pruning
//! deletes links and sessions that expired strictly before the cutoff,
//! counts them, and keeps the live ones. Then, on both, eight tasks over two
//! stores (two pools on PostgreSQL, two connections to one file on SQLite)
//! redeem one link at once, for 20 links: exactly one opens each, the others
//! are told the winner's moment.
//!
//! PostgreSQL: a fresh database per run on `COHORT_TEST_PG` (see `support`);
//! without it the PostgreSQL half is skipped loudly, or fails when `CI=true`.

mod support;

use cohort_core::model::GroupUpsert;
use cohort_core::{
    Actor, Change, Commit, Face, GroupId, KeyHash, Millis, Origin, Realm, RealmId, RealmSetting,
    SettingValue, UserId,
};
use cohort_store::{DbUrl, LoginLink, Redeemed, Session, Store};
use std::sync::Arc;
use support::PgDatabase;

const REALM: RealmId = RealmId(2_000);
const USER: UserId = UserId(2_010);
const OTHER: UserId = UserId(2_011);

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .expect("a runtime")
}

async fn open(url: &str) -> Arc<dyn Store> {
    cohort_store::open(&DbUrl::parse(url).expect("a database URL"), true)
        .await
        .expect("open the store")
}

/// The realm the rows belong to (their `realm_id` references it).
fn realm_created() -> Commit {
    Commit {
        realm: REALM,
        version: 1,
        at: 10,
        actor: Actor::Operator,
        origin: Origin::local(Face::Cli),
        changes: vec![Change::RealmCreated {
            realm: Box::new(Realm {
                id: REALM,
                name: "sign-ins".into(),
                created_at: 10,
                settings: RealmSetting::ALL.map(|_| SettingValue::Group(GroupId(2_001))),
                waiting_period_days: 0,
                bots_may_manage_groups: false,
                group_upsert: GroupUpsert::default(),
                rate_limit: None,
                platform_key: None,
                retired_platform_key: None,
                tokens: Vec::new(),
                webhooks: Vec::new(),
            }),
        }],
    }
}

/// A distinct hash per number (what `secrets::hash_key` makes of a key).
fn hash(n: u32) -> KeyHash {
    let mut bytes = [0u8; 32];
    bytes[..4].copy_from_slice(&n.to_be_bytes());
    bytes[31] = 0xa5;
    KeyHash(bytes)
}

fn link(n: u32, user: UserId, created_at: Millis, expires_at: Millis) -> LoginLink {
    LoginLink {
        hash: hash(n),
        realm: REALM,
        user,
        created_at,
        expires_at,
    }
}

fn session(n: u32, created_at: Millis, expires_at: Millis) -> Session {
    Session {
        hash: hash(n),
        realm: REALM,
        user: USER,
        csrf: format!("csrf-{n}"),
        created_at,
        expires_at,
    }
}

/// Every answer the scenario got, in order: equal on both engines.
#[derive(Debug, PartialEq)]
enum Seen {
    Redeemed(u32, Redeemed),
    Session(u32, Option<Session>),
    Pruned(u64),
}

struct Run<'s> {
    store: &'s dyn Store,
    what: &'static str,
    seen: Vec<Seen>,
}

impl Run<'_> {
    async fn issue(&mut self, link: LoginLink) {
        self.store
            .create_login_link(link)
            .await
            .unwrap_or_else(|e| panic!("{}: create a login link: {e}", self.what));
    }

    async fn redeem(&mut self, n: u32, now: Millis, expected: Redeemed) {
        let got = self
            .store
            .redeem_login_link(hash(n), now)
            .await
            .unwrap_or_else(|e| panic!("{}: redeem link {n}: {e}", self.what));
        assert_eq!(got, expected, "{}: link {n} redeemed at {now}", self.what);
        self.seen.push(Seen::Redeemed(n, got));
    }

    async fn session(&mut self, n: u32, now: Millis, expected: Option<&Session>) {
        let got = self
            .store
            .session(hash(n), now)
            .await
            .unwrap_or_else(|e| panic!("{}: read session {n}: {e}", self.what));
        assert_eq!(
            got.as_ref(),
            expected,
            "{}: session {n} at {now}",
            self.what
        );
        self.seen.push(Seen::Session(n, got));
    }

    async fn prune(&mut self, before: Millis, expected: u64) {
        let got = self
            .store
            .prune_sign_ins(before)
            .await
            .unwrap_or_else(|e| panic!("{}: prune: {e}", self.what));
        assert_eq!(got, expected, "{}: pruned before {before}", self.what);
        self.seen.push(Seen::Pruned(got));
    }
}

/// The whole scenario on one store; its transcript.
async fn scenario(store: &dyn Store, what: &'static str) -> Vec<Seen> {
    store
        .import(vec![realm_created()])
        .await
        .expect("import the realm");
    let mut run = Run {
        store,
        what,
        seen: Vec::new(),
    };
    let opened = |user| Redeemed::Opened { realm: REALM, user };

    // Opens once; then says when it was used, also past its expiry.
    run.issue(link(1, USER, 1_000, 2_000)).await;
    run.redeem(1, 1_500, opened(USER)).await;
    run.redeem(1, 1_600, Redeemed::AlreadyUsed { at: 1_500 })
        .await;
    run.redeem(1, 2_500, Redeemed::AlreadyUsed { at: 1_500 })
        .await;

    // At exactly `expires_at` it is expired, and that changes nothing: the
    // same link still opens at a moment within its life.
    run.issue(link(2, OTHER, 1_000, 2_000)).await;
    run.redeem(2, 2_000, Redeemed::Expired { at: 2_000 }).await;
    run.redeem(2, 3_000, Redeemed::Expired { at: 2_000 }).await;
    run.redeem(2, 1_999, opened(OTHER)).await;
    run.redeem(2, 3_000, Redeemed::AlreadyUsed { at: 1_999 })
        .await;

    run.issue(link(3, USER, 1_000, 2_000)).await;
    run.redeem(3, 4_000, Redeemed::Expired { at: 2_000 }).await;

    // Unknown, and a hash is issued once.
    run.redeem(99, 1_500, Redeemed::Unknown).await;
    assert!(
        store
            .create_login_link(link(1, OTHER, 1_000, 9_000))
            .await
            .is_err(),
        "{what}: a second link with the same hash was kept"
    );
    run.redeem(1, 1_700, Redeemed::AlreadyUsed { at: 1_500 })
        .await;

    // Sessions: whole until they expire, gone once ended.
    let s1 = session(11, 1_000, 5_000);
    store.create_session(s1.clone()).await.expect("a session");
    run.session(11, 1_000, Some(&s1)).await;
    run.session(11, 4_999, Some(&s1)).await;
    run.session(11, 5_000, None).await;
    run.session(98, 1_000, None).await;
    store.end_session(hash(11)).await.expect("sign out");
    run.session(11, 1_000, None).await;
    store
        .end_session(hash(11))
        .await
        .expect("signing out twice is fine");
    store.end_session(hash(98)).await.expect("an unknown one");
    assert!(
        store
            .create_session(session(12, 1_000, 3_000))
            .await
            .is_ok()
            && store
                .create_session(session(13, 1_000, 9_000))
                .await
                .is_ok(),
        "{what}: sessions"
    );
    assert!(
        store
            .create_session(session(13, 1_000, 9_000))
            .await
            .is_err(),
        "{what}: a second session with the same hash was kept"
    );
    run.issue(link(4, USER, 1_000, 9_000)).await;

    // Pruning: strictly before the cutoff, links and sessions alike.
    run.prune(2_000, 0).await;
    run.prune(2_001, 3).await; // links 1, 2 and 3
    run.redeem(1, 1_500, Redeemed::Unknown).await;
    run.prune(2_001, 0).await;
    run.prune(3_001, 1).await; // session 12
    run.session(12, 1_000, None).await;
    run.session(13, 8_999, Some(&session(13, 1_000, 9_000)))
        .await;
    run.redeem(4, 8_000, opened(USER)).await;
    run.prune(9_001, 2).await; // link 4 (used or not) and session 13
    run.session(13, 1_000, None).await;
    run.prune(Millis::MAX, 0).await;
    run.seen
}

/// Eight tasks, alternating between two stores on one database, redeem the
/// same link at once, for 20 links: exactly one opens each; the others are
/// told the moment the winner used it.
async fn concurrent_redeems(a: Arc<dyn Store>, b: Arc<dyn Store>, what: &'static str) {
    const TASKS: u32 = 8;
    let mut contested = 0;
    for round in 0..20u32 {
        let n = 1_000 + round;
        a.create_login_link(link(n, USER, 1_000, 900_000))
            .await
            .expect("a link");
        let start = Arc::new(tokio::sync::Barrier::new(TASKS as usize));
        let tasks: Vec<_> = (0..TASKS)
            .map(|task| {
                let store = if task % 2 == 0 { a.clone() } else { b.clone() };
                let start = start.clone();
                tokio::spawn(async move {
                    start.wait().await;
                    let now = 10_000 + Millis::from(task);
                    (now, store.redeem_login_link(hash(n), now).await)
                })
            })
            .collect();
        let mut answers = Vec::new();
        for task in tasks {
            let (now, answer) = task.await.expect("a redeeming task");
            let answer = answer.unwrap_or_else(|e| panic!("{what}: redeem: {e}"));
            answers.push((now, answer));
        }
        let winners: Vec<Millis> = answers
            .iter()
            .filter(|(_, a)| matches!(a, Redeemed::Opened { .. }))
            .map(|(now, _)| *now)
            .collect();
        assert_eq!(
            winners.len(),
            1,
            "{what}: round {round}: {} redeemers opened link {n}: {answers:?}",
            winners.len()
        );
        let winner = winners[0];
        for (now, answer) in &answers {
            let expected = if *now == winner {
                Redeemed::Opened {
                    realm: REALM,
                    user: USER,
                }
            } else {
                Redeemed::AlreadyUsed { at: winner }
            };
            assert_eq!(answer, &expected, "{what}: round {round}");
        }
        if winner != 10_000 {
            contested += 1;
        }
    }
    eprintln!("{what}: in {contested} of 20 rounds the first task spawned did not win");
}

#[test]
fn sign_ins_are_the_same_on_both_engines() {
    let rt = rt();
    let dir = tempfile::tempdir().expect("a temp dir");
    let sqlite_url = format!("sqlite://{}", dir.path().join("sessions.db").display());
    let sqlite = rt.block_on(async {
        let store = open(&sqlite_url).await;
        let seen = scenario(store.as_ref(), "SQLite").await;
        // Two processes on one file: two stores, two writer connections.
        let other = open(&sqlite_url).await;
        concurrent_redeems(store, other, "SQLite").await;
        seen
    });
    let Some(database) = PgDatabase::create() else {
        return;
    };
    let postgres = rt.block_on(async {
        let store = open(&database.url()).await;
        let seen = scenario(store.as_ref(), "PostgreSQL").await;
        // Two nodes: two stores, two pools, one database.
        let other = open(&database.url()).await;
        concurrent_redeems(store, other, "PostgreSQL").await;
        seen
    });
    assert_eq!(sqlite.len(), postgres.len(), "transcripts differ in length");
    for (n, (s, p)) in sqlite.iter().zip(&postgres).enumerate() {
        assert_eq!(s, p, "answer {n} differs between SQLite and PostgreSQL");
    }
    drop(rt);
    drop(database);
}

/// The schema keeps only 32-byte hashes and rows of a realm it holds, on
/// both engines (what the migration promises beyond the trait).
#[test]
fn the_tables_refuse_what_the_domain_cannot_hold() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let path = dir.path().join("shape.db");
    rt().block_on(async {
        let store = open(&format!("sqlite://{}", path.display())).await;
        store.import(vec![realm_created()]).await.expect("realm");
    });
    let conn = rusqlite::Connection::open(&path).expect("open the file");
    conn.execute_batch("PRAGMA foreign_keys = ON").expect("fk");
    for sql in [
        "INSERT INTO ui_login_links VALUES (x'00', 2000, 1, 1, 2, NULL)",
        "INSERT INTO ui_sessions VALUES (x'00', 2000, 1, 'c', 1, 2)",
        "INSERT INTO ui_login_links VALUES (zeroblob(32), 7, 1, 1, 2, NULL)",
    ] {
        assert!(conn.execute_batch(sql).is_err(), "SQLite kept: {sql}");
    }
    drop(conn);
    let Some(database) = PgDatabase::create() else {
        return;
    };
    rt().block_on(async {
        let store = open(&database.url()).await;
        store.import(vec![realm_created()]).await.expect("realm");
    });
    for sql in [
        "INSERT INTO ui_login_links VALUES ('\\x00', 2000, 1, 1, 2, NULL)",
        "INSERT INTO ui_sessions VALUES ('\\x00', 2000, 1, 'c', 1, 2)",
        "INSERT INTO ui_login_links VALUES (decode(repeat('00', 32), 'hex'), 7, 1, 1, 2, NULL)",
    ] {
        let out = std::process::Command::new("psql")
            .arg(database.url())
            .args(["-v", "ON_ERROR_STOP=1", "-qtA", "-c", sql])
            .output()
            .expect("run psql");
        assert!(!out.status.success(), "PostgreSQL kept: {sql}");
    }
}
