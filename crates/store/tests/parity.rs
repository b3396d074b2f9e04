//! Store parity: the core's random command generator (the one the property
//! tests use) drives the engine's write path on SQLite and on PostgreSQL.
//! After every batch — whose commands are sent at once, so the writer groups
//! them into multi-job transactions — loading the store must give exactly the
//! engine's in-memory snapshots, replaying the change log (`cohort check`)
//! must reproduce the tables, and `Store::commits_at` must pick the same
//! commits out of the log as reading it whole. Every case works in a realm of its own,
//! so proptest's shrinking reruns a case from scratch.
//!
//! PostgreSQL: a fresh database per run on `COHORT_TEST_PG` (default
//! `postgres://postgres@127.0.0.1:5432`), dropped afterwards. Without it the
//! PostgreSQL half is skipped loudly, or fails when `CI=true`.
//! `COHORT_PARITY_CASES` sets the number of cases (default 24).

#[path = "../../core/tests/common/mod.rs"]
mod common;
#[path = "../../core/tests/common/gen.rs"]
mod gen;
mod support;

use cohort_core::command::{Command, CreateRealm, CreateToken};
use cohort_core::model::GroupSetting;
use cohort_core::{Actor, GroupId, KeyHash, RealmId, Role, Scope, Snapshot, UserId};
use cohort_engine::{check_log, Engine, EngineConfig, EngineError};
use cohort_store::{DbUrl, Store};
use common::{group_cmd, user_cmd, World};
use gen::{actor_of, command_of, steps, Op, Who};
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use support::PgDatabase;

/// The generator asks the permission oracle for a permitted actor; the parity
/// suite does not need one (any active user acts, refusals are fine).
fn may(_: &Snapshot, _: UserId, _: GroupId, _: GroupSetting) -> Option<bool> {
    None
}

/// Commands sent together, then checked.
const BATCH: usize = 8;

static KEYS: AtomicU64 = AtomicU64::new(1);

/// Accepted and refused commands over a run: parity on a directory that
/// never moves would prove nothing.
#[derive(Default)]
struct Tally {
    accepted: AtomicU64,
    refused: AtomicU64,
}

/// A distinct API key hash: the tables keep them unique, the test helpers
/// give every user the same one.
fn fresh_key() -> KeyHash {
    let mut bytes = [0u8; 32];
    bytes[..8].copy_from_slice(&KEYS.fetch_add(1, Ordering::SeqCst).to_be_bytes());
    bytes[8] = 0xc0;
    KeyHash(bytes)
}

fn with_fresh_keys(command: Command) -> Command {
    match command {
        Command::CreateUser(mut user) => {
            user.api_key = fresh_key();
            Command::CreateUser(user)
        }
        Command::ProvisionUser(mut user) => {
            user.api_key = fresh_key();
            Command::ProvisionUser(user)
        }
        other => other,
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime")
}

async fn engine_on(url: &str) -> (Arc<dyn Store>, Arc<Engine>) {
    let url = DbUrl::parse(url).expect("a database URL");
    let store = cohort_store::open(&url, true)
        .await
        .expect("open the store");
    let engine = Engine::start(
        store.clone(),
        EngineConfig {
            // Nothing but the test's own commands moves the directory.
            poll_interval: Duration::from_secs(3_600),
            maintenance_interval: Duration::from_secs(3_600),
            ..EngineConfig::default()
        },
    )
    .await
    .expect("start the engine");
    (store, engine)
}

/// Loading the store gives the engine's snapshots, and the log replays to
/// the tables.
async fn assert_parity(
    store: &dyn Store,
    engine: &Engine,
    when: &str,
) -> Result<(), TestCaseError> {
    let loaded = store.load().await.expect("load");
    let mut ids = engine.realm_ids();
    ids.sort();
    let loaded_ids: Vec<RealmId> = loaded.iter().map(|s| s.realm_id()).collect();
    proptest::prop_assert_eq!(&loaded_ids, &ids, "{}: realms differ", when);
    for stored in &loaded {
        let live = engine.snapshot(stored.realm_id()).expect("a live realm");
        proptest::prop_assert!(
            *stored == *live,
            "{}: realm {} loads differently from memory (stored version {}, memory {})",
            when,
            stored.realm_id(),
            stored.version(),
            live.version()
        );
    }
    // `commits_at` on a scattered selection (every third version, newest
    // first, one past the end) is the log's own commits, oldest first.
    for realm in &ids {
        let all = store.commits(*realm, 0, None).await.expect("commits");
        let wanted: Vec<u64> = (1..=all.len() as u64 + 1)
            .rev()
            .filter(|v| v % 3 != 2)
            .collect();
        let page = store
            .commits_at(*realm, wanted.clone())
            .await
            .expect("commits_at");
        let expected: Vec<_> = all
            .into_iter()
            .filter(|c| wanted.contains(&c.version))
            .collect();
        proptest::prop_assert!(
            page == expected,
            "{}: realm {}: commits_at differs from the log",
            when,
            realm
        );
    }
    for report in check_log(store).await.expect("check the log") {
        proptest::prop_assert!(
            report.problems.is_empty(),
            "{}: cohort check on realm {}: {:?}",
            when,
            report.realm,
            report.problems
        );
    }
    Ok(())
}

/// A new realm with one user of each role, a bot, two groups and two API
/// tokens (one with the `scim` scope), made
/// through the engine; returns it and a `World` mirroring it for the
/// generator.
async fn seeded_realm(engine: &Engine, case: u64) -> (RealmId, World) {
    let mut owner = user_cmd(
        &format!("owner{case}@example.com"),
        "Olive Owner",
        Role::Owner,
    );
    owner.api_key = fresh_key();
    let created = engine
        .create_realm(CreateRealm {
            name: format!("parity {case}"),
            owner: Some(owner),
        })
        .await
        .expect("create a realm");
    let realm = created.snapshot.realm_id();
    let owner = created
        .snapshot
        .users()
        .find(|u| u.role == Role::Owner)
        .expect("the owner")
        .id;
    let mut users = Vec::new();
    for (n, role) in [
        Role::Administrator,
        Role::Moderator,
        Role::Member,
        Role::Member,
        Role::Guest,
    ]
    .into_iter()
    .enumerate()
    {
        let mut cmd = user_cmd(&format!("seed{n}@example.com"), "Seed Person", role);
        cmd.api_key = fresh_key();
        let done = engine
            .execute(realm, Actor::Operator, Command::CreateUser(cmd))
            .await
            .expect("seed a user");
        users.push(match done.reply {
            cohort_core::Reply::User(id) => id,
            other => panic!("user creation replied {other:?}"),
        });
    }
    let mut bot = user_cmd("seedbot@example.com", "Seed Bot", Role::Member);
    bot.api_key = fresh_key();
    bot.is_bot = true;
    bot.bot_owner = Some(users[2]);
    engine
        .execute(realm, Actor::Operator, Command::CreateUser(bot))
        .await
        .expect("seed a bot");
    for (name, members) in [("team", &users[2..4]), ("admins' own", &users[..1])] {
        let mut cmd = group_cmd(name);
        cmd.members = members.to_vec();
        engine
            .execute(realm, Actor::User(owner), Command::CreateGroup(cmd))
            .await
            .expect("seed a group");
    }
    // Tokens with and without the scim scope, for the generator's token actors.
    for (name, scope) in [("idp", Scope::Scim), ("auditor", Scope::AuditRead)] {
        engine
            .execute(
                realm,
                Actor::Operator,
                Command::CreateToken(CreateToken {
                    name: name.into(),
                    scopes: vec![scope],
                    hash: fresh_key(),
                }),
            )
            .await
            .expect("seed a token");
    }
    let mut world = World::new();
    world.snap = (*engine.snapshot(realm).expect("the realm")).clone();
    world.owner = owner;
    (realm, world)
}

/// One case: a fresh realm, the steps in batches, parity after each.
async fn run_case(
    store: &dyn Store,
    engine: &Engine,
    case: u64,
    steps: &[(Who, Op)],
    tally: &Tally,
) -> Result<(), TestCaseError> {
    let (realm, mut world) = seeded_realm(engine, case).await;
    assert_parity(store, engine, "after seeding").await?;
    for (n, batch) in steps.chunks(BATCH).enumerate() {
        world.snap = (*engine.snapshot(realm).expect("the realm")).clone();
        let mut commands = Vec::new();
        for (who, op) in batch {
            let actor = match op {
                Op::Tick(_) => Actor::System,
                _ => actor_of(&world, who, op),
            };
            let command = with_fresh_keys(command_of(&mut world, op, actor));
            commands.push((actor, command));
        }
        let shown = format!("{commands:?}");
        let results = futures_util::future::join_all(
            commands
                .into_iter()
                .map(|(actor, command)| engine.execute(realm, actor, command)),
        )
        .await;
        for result in results {
            let counter = if result.is_ok() {
                &tally.accepted
            } else {
                &tally.refused
            };
            counter.fetch_add(1, Ordering::SeqCst);
            // Refusals are the core's; anything else means a store refused
            // what the core accepted.
            if let Err(err) = result {
                proptest::prop_assert!(
                    matches!(err, EngineError::Domain(_)),
                    "batch {}: the store failed a write: {:?} ({})",
                    n,
                    err,
                    shown
                );
            }
        }
        assert_parity(store, engine, &format!("after batch {n}")).await?;
    }
    check_pruning(store, engine, realm).await
}

/// Pruning the log up to the middle keeps the tables, `cohort check` clean,
/// and every answer about the checkpoint or later.
async fn check_pruning(
    store: &dyn Store,
    engine: &Engine,
    realm: RealmId,
) -> Result<(), TestCaseError> {
    let history = engine.history(realm).await.expect("history");
    let last = history.version();
    let middle = history
        .commit(last / 2 + 1)
        .map(|c| c.at)
        .expect("a middle commit");
    let groups: Vec<GroupId> = history.group_ids().collect();
    let cut = history.version_at(middle).expect("a version");
    let members: Vec<_> = groups
        .iter()
        .map(|g| history.members(*g, last, true))
        .collect();
    let review = history.access_review(cut, last, None);
    drop(history);
    let pruned = engine.prune_log(realm, middle).await.expect("prune");
    proptest::prop_assert_eq!(pruned.map(|p| p.checkpoint), Some(cut));
    proptest::prop_assert!(store
        .commits(realm, 0, Some(cut))
        .await
        .expect("log")
        .is_empty());
    let history = engine.history(realm).await.expect("history");
    let again: Vec<_> = groups
        .iter()
        .map(|g| history.members(*g, last, true))
        .collect();
    proptest::prop_assert_eq!(again, members);
    proptest::prop_assert_eq!(history.access_review(cut, last, None), review);
    drop(history);
    assert_parity(store, engine, "after pruning").await
}

fn run_on(url: &str, what: &str) {
    let rt = runtime();
    let (store, engine) = rt.block_on(engine_on(url));
    let cases = std::env::var("COHORT_PARITY_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(24);
    let mut runner = TestRunner::new(Config {
        cases,
        // Every shrink step builds a realm; keep the search bounded.
        max_shrink_iters: 64,
        failure_persistence: None,
        ..Config::default()
    });
    let case = AtomicU64::new(0);
    let tally = Tally::default();
    let result = runner.run(&steps(), |steps| {
        let n = case.fetch_add(1, Ordering::SeqCst);
        rt.block_on(run_case(store.as_ref(), &engine, n, &steps, &tally))
    });
    drop(engine);
    drop(store);
    if let Err(err) = result {
        panic!("{what}: {err}");
    }
    let (accepted, refused) = (
        tally.accepted.load(Ordering::SeqCst),
        tally.refused.load(Ordering::SeqCst),
    );
    eprintln!("{what}: {accepted} commands accepted, {refused} refused");
    assert!(
        accepted * 4 >= accepted + refused,
        "{what}: mostly refused ({accepted} accepted, {refused} refused)"
    );
}

#[test]
fn sqlite_matches_memory_and_its_log() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let url = format!("sqlite://{}", dir.path().join("parity.db").display());
    run_on(&url, "SQLite");
}

#[test]
fn postgres_matches_memory_and_its_log() {
    let Some(database) = PgDatabase::create() else {
        return;
    };
    run_on(&database.url(), "PostgreSQL");
}
