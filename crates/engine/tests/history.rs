//! The engine's history against a real SQLite file: built on first use from
//! the log, caught up before every question, and audit pages that walk the
//! whole trail in order with the origins the commits were made with.

use cohort_core::audit::{AuditQuery, EventKind};
use cohort_core::command::{ChangeMembers, CreateGroup};
use cohort_core::{Actor, Command, Face, GroupId, Origin, Reply, Role};
use cohort_engine::{Engine, EngineConfig};

mod support;
use support::{acme, new_user};

fn group(name: &str) -> CreateGroup {
    CreateGroup {
        name: name.into(),
        description: String::new(),
        members: Vec::new(),
        subgroups: Vec::new(),
        settings: Vec::new(),
        key: None,
        avatar_url: None,
        external_id: None,
    }
}

#[tokio::test]
async fn audit_pages_walk_the_trail_and_catch_up() {
    let dir = tempfile::tempdir().unwrap();
    let (_, engine, realm) = acme(&dir.path().join("c.db")).await;
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
    let mut groups: Vec<GroupId> = Vec::new();
    for i in 0..7 {
        let origin = Origin {
            face: Face::Imkit,
            request_id: Some(format!("req-{i}")),
            client: Some("127.0.0.1".into()),
        };
        let reply = engine
            .execute_from(
                realm,
                Actor::Platform,
                origin,
                Command::CreateGroup(group(&format!("g{i}"))),
            )
            .await
            .unwrap()
            .reply;
        let Reply::Group(id) = reply else {
            panic!("{reply:?}")
        };
        groups.push(id);
    }
    let all = AuditQuery {
        to: u64::MAX,
        ..AuditQuery::default()
    };
    let (history, whole) = engine.audit(realm, &all, None, 1000).await.unwrap();
    assert_eq!(history.version(), engine.snapshot(realm).unwrap().version());
    assert!(whole.next.is_none());
    drop(history);
    // Small pages give the same events in the same order.
    let mut paged = Vec::new();
    let mut after = None;
    loop {
        let (_, page) = engine.audit(realm, &all, after, 3).await.unwrap();
        assert!(page.records.len() <= 3);
        paged.extend(page.records.into_iter().map(|r| r.event));
        match page.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    let events: Vec<_> = whole.records.iter().map(|r| r.event.clone()).collect();
    assert_eq!(paged, events);
    // The origins come back with the events.
    let made: Vec<_> = whole
        .records
        .iter()
        .filter(|r| r.event.kind == EventKind::GroupCreated && r.event.face == Face::Imkit)
        .collect();
    assert_eq!(made.len(), 7);
    assert_eq!(made[0].request_id.as_deref(), Some("req-0"));
    assert_eq!(made[6].client.as_deref(), Some("127.0.0.1"));
    // A later write is in the next answer (the history catches up).
    let change = ChangeMembers {
        add: vec![member],
        ..ChangeMembers::default()
    };
    engine
        .execute(
            realm,
            Actor::Operator,
            Command::ChangeMembers(groups[3], change),
        )
        .await
        .unwrap();
    let by_user = AuditQuery {
        to: u64::MAX,
        user: Some(member),
        kinds: EventKind::GroupMemberAdded.bit(),
        ..AuditQuery::default()
    };
    let (history, page) = engine.audit(realm, &by_user, None, 10).await.unwrap();
    let groups_named: Vec<_> = page.records.iter().filter_map(|r| r.event.group).collect();
    assert!(groups_named.contains(&groups[3]), "{groups_named:?}");
    let v = history.version();
    let members = history.members(groups[3], v, false).unwrap();
    assert_eq!(members.len(), 1);
    assert_eq!(members[0].user, member);
}

#[tokio::test]
async fn pruning_keeps_every_answer_from_the_checkpoint_on() {
    let dir = tempfile::tempdir().unwrap();
    let (store, engine, realm) = acme(&dir.path().join("c.db")).await;
    let mut groups = Vec::new();
    for i in 0..4 {
        let Reply::Group(id) = engine
            .execute(
                realm,
                Actor::Operator,
                Command::CreateGroup(group(&format!("g{i}"))),
            )
            .await
            .unwrap()
            .reply
        else {
            panic!("a group")
        };
        groups.push(id);
    }
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let cut = cohort_engine::now_millis();
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let change = ChangeMembers {
        add_subgroups: vec![groups[1]],
        ..ChangeMembers::default()
    };
    engine
        .execute(
            realm,
            Actor::Operator,
            Command::ChangeMembers(groups[0], change),
        )
        .await
        .unwrap();
    let before = engine.history(realm).await.unwrap();
    let cut_version = before.version_at(cut).unwrap();
    let last = before.version();
    let expected_members = before.members(groups[0], last, true);
    let expected_review = before.access_review(cut_version, last, None);
    drop(before);

    let pruned = engine
        .prune_log(realm, cut)
        .await
        .unwrap()
        .expect("something to prune");
    assert_eq!(pruned.checkpoint, cut_version);
    assert_eq!(pruned.commits_deleted, cut_version);
    // Pruning the same moment again finds nothing older.
    assert_eq!(engine.prune_log(realm, cut).await.unwrap(), None);
    let report = cohort_engine::check_log(&*store).await.unwrap();
    assert!(report.iter().all(|r| r.problems.is_empty()), "{report:?}");

    // A fresh process builds its history from the checkpoint.
    drop(engine);
    let engine = Engine::start(store.clone(), EngineConfig::default())
        .await
        .unwrap();
    let after = engine.history(realm).await.unwrap();
    assert_eq!(after.retained_from().0, cut_version);
    assert_eq!(
        after.version_at(cut - 1_000),
        None,
        "before the checkpoint: unknown"
    );
    assert_eq!(after.members(groups[0], last, true), expected_members);
    assert_eq!(
        after.access_review(cut_version, last, None),
        expected_review
    );
    drop(after);
    let all = AuditQuery {
        to: u64::MAX,
        ..AuditQuery::default()
    };
    let (_, page) = engine.audit(realm, &all, None, 1000).await.unwrap();
    assert!(!page.records.is_empty());
    assert!(page
        .records
        .iter()
        .all(|r| r.event.id.version > cut_version));
}

/// A big commit (here a group created with 300 members) is kept decoded
/// between pages: the second page answers the same, and after a prune the
/// same engine serves none of what the prune removed.
#[tokio::test]
async fn big_commits_are_cached_until_pruned() {
    let dir = tempfile::tempdir().unwrap();
    let (_, engine, realm) = acme(&dir.path().join("c.db")).await;
    let mut users = Vec::new();
    for i in 0..300 {
        let reply = engine
            .execute(
                realm,
                Actor::Operator,
                Command::CreateUser(new_user(&format!("u{i}@acme.test"), Role::Member)),
            )
            .await
            .unwrap()
            .reply;
        let Reply::User(id) = reply else {
            panic!("a user: {reply:?}")
        };
        users.push(id);
    }
    let mut big = group("everyone we know");
    big.members = users.clone();
    let Reply::Group(id) = engine
        .execute(realm, Actor::Operator, Command::CreateGroup(big))
        .await
        .unwrap()
        .reply
    else {
        panic!("a group")
    };
    let by_group = AuditQuery {
        to: u64::MAX,
        group: Some(id),
        ..AuditQuery::default()
    };
    let added = |page: &cohort_engine::AuditPage| {
        page.records
            .iter()
            .filter(|r| r.event.kind == EventKind::GroupMemberAdded)
            .flat_map(|r| r.event.users.clone())
            .collect::<Vec<_>>()
    };
    let (_, first) = engine.audit(realm, &by_group, None, 1000).await.unwrap();
    let (_, second) = engine.audit(realm, &by_group, None, 1000).await.unwrap();
    let mut members = added(&first);
    members.sort_unstable();
    assert_eq!(members, users);
    assert_eq!(added(&second), added(&first));
    assert_eq!(second.records.len(), first.records.len());

    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let cut = cohort_engine::now_millis();
    let pruned = engine.prune_log(realm, cut).await.unwrap().expect("pruned");
    let (_, after) = engine.audit(realm, &by_group, None, 1000).await.unwrap();
    assert!(
        after
            .records
            .iter()
            .all(|r| r.event.id.version > pruned.checkpoint),
        "a pruned commit was served: {:?}",
        after.records.first().map(|r| r.event.id)
    );
}
