//! The write path against a real SQLite file: commits are durable, the tables
//! reload into exactly the snapshot memory holds, and a second process's
//! commits are caught up from the change log.

use cohort_core::command::{ChangeMembers, CreateGroup, CreateRealm};
use cohort_core::{Actor, Command, Error, GroupId, Reply, Role, UserId};
use cohort_engine::{Engine, EngineConfig, EngineError};
use cohort_store::sqlite::SqliteStore;
use cohort_store::Store;
use std::sync::Arc;

mod support;
use support::new_user;

async fn open(path: &std::path::Path) -> Arc<Engine> {
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(path, true).await.unwrap());
    Engine::start(store, EngineConfig::default()).await.unwrap()
}

#[tokio::test]
async fn commits_survive_reopening_and_match_memory() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cohort.db");
    let engine = open(&path).await;
    let created = engine
        .create_realm(CreateRealm {
            name: "Acme".into(),
            owner: Some(new_user("owner@acme.test", Role::Owner)),
        })
        .await
        .unwrap();
    let realm = created.snapshot.realm_id();
    let owner = created
        .snapshot
        .user_by_email("owner@acme.test")
        .unwrap()
        .id;
    let member = match engine
        .execute(
            realm,
            Actor::Operator,
            Command::CreateUser(new_user("m@acme.test", Role::Member)),
        )
        .await
        .unwrap()
        .reply
    {
        Reply::User(id) => id,
        other => panic!("unexpected {other:?}"),
    };
    let group = match engine
        .execute(
            realm,
            Actor::User(owner),
            Command::CreateGroup(CreateGroup {
                name: "backend".into(),
                description: "Backend team".into(),
                members: vec![owner],
                subgroups: vec![],
                settings: vec![],
                key: None,
                avatar_url: None,
                external_id: None,
            }),
        )
        .await
        .unwrap()
        .reply
    {
        Reply::Group(id) => id,
        other => panic!("unexpected {other:?}"),
    };
    // Many concurrent adds in one go exercise group commit.
    let mut tasks = Vec::new();
    for i in 0..20 {
        let engine = engine.clone();
        tasks.push(tokio::spawn(async move {
            engine
                .execute(
                    realm,
                    Actor::Operator,
                    Command::CreateUser(new_user(&format!("u{i}@acme.test"), Role::Member)),
                )
                .await
        }));
    }
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    let refused = engine
        .execute(
            realm,
            Actor::User(owner),
            Command::ChangeMembers(
                group,
                ChangeMembers {
                    add: vec![owner],
                    ..Default::default()
                },
            ),
        )
        .await;
    assert!(matches!(refused, Err(EngineError::Domain(Error::AlreadyMember(id))) if id == owner));
    engine
        .execute(
            realm,
            Actor::User(owner),
            Command::ChangeMembers(
                group,
                ChangeMembers {
                    add: vec![member],
                    ..Default::default()
                },
            ),
        )
        .await
        .unwrap();
    let in_memory = engine.snapshot(realm).unwrap();
    drop(engine);

    let reloaded = SqliteStore::open(&path, false)
        .await
        .unwrap()
        .load()
        .await
        .unwrap();
    assert_eq!(reloaded.len(), 1);
    assert_eq!(reloaded[0], *in_memory, "tables and memory disagree");
    assert_eq!(
        reloaded[0].group(group).unwrap().members,
        vec![owner, member]
    );
    assert!(reloaded[0].version() >= 24);
}

#[tokio::test]
async fn another_process_commits_are_caught_up() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cohort.db");
    let first = open(&path).await;
    let created = first
        .create_realm(CreateRealm {
            name: "Acme".into(),
            owner: Some(new_user("owner@acme.test", Role::Owner)),
        })
        .await
        .unwrap();
    let realm = created.snapshot.realm_id();
    // A second engine on the same file stands in for a CLI process.
    let second = open(&path).await;
    second
        .execute(
            realm,
            Actor::Operator,
            Command::CreateUser(new_user("late@acme.test", Role::Member)),
        )
        .await
        .unwrap();
    // The first engine learns of it when it writes (catch-up inside the transaction)...
    let reply = first
        .execute(
            realm,
            Actor::Operator,
            Command::CreateUser(new_user("late@acme.test", Role::Member)),
        )
        .await;
    assert!(matches!(
        reply,
        Err(EngineError::Domain(Error::EmailTaken(_)))
    ));
    // ...and by polling.
    second
        .execute(
            realm,
            Actor::Operator,
            Command::CreateUser(new_user("later@acme.test", Role::Guest)),
        )
        .await
        .unwrap();
    first.catch_up().await.unwrap();
    let snap = first.snapshot(realm).unwrap();
    assert!(snap.user_by_email("later@acme.test").is_some());
    assert_eq!(*snap, *second.snapshot(realm).unwrap());
    let _ = (UserId(0), GroupId(0));
}
