//! The stores' unique email index follows the core's case rule
//! (`snapshot::email_key`: trimmed, Unicode lowercase), on both engines: two
//! emails the core treats as one cannot both reach the tables, even when a
//! write skips the core (`Store::import`), and SQLite's old ASCII-only
//! `NOCASE` index is replaced with the same rule (migration 2, which fills the
//! key column for existing rows).

mod support;

use cohort_core::change::{Change, Commit};
use cohort_core::command::CreateRealm;
use cohort_core::{Actor, KeyHash, Role, User, UserId};
use cohort_engine::{Engine, EngineConfig};
use cohort_store::DbUrl;
use std::sync::Arc;
use std::time::Duration;

fn user(id: i64, email: &str, key: u8) -> User {
    User {
        id: UserId(id),
        key: Arc::from(format!("k{id}")),
        email: Some(Arc::from(email)),
        full_name: "Eva".into(),
        avatar_url: None,
        role: Role::Member,
        is_bot: false,
        bot_owner: None,
        active: true,
        can_create_users: false,
        api_key: KeyHash([key; 32]),
        date_joined: 1,
        updated_at: 1,
        profile: Default::default(),
    }
}

/// A realm whose owner is `ÉVA@x.example`; then an import of `éva@x.example`,
/// which the core's index calls the same email.
async fn second_spelling_is_refused(url: &str) {
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
    let mut owner = parity_owner("ÉVA@x.example");
    owner.api_key = KeyHash([1; 32]);
    let created = engine
        .create_realm(CreateRealm {
            name: "emails".into(),
            owner: Some(owner),
        })
        .await
        .expect("realm");
    let snap = created.snapshot;
    assert!(
        snap.user_by_email("éva@x.example").is_some(),
        "the core's index treats both spellings as one"
    );
    let next = |id: i64, email: &str, key: u8| Commit {
        realm: snap.realm_id(),
        version: snap.version() + 1,
        at: 2,
        actor: Actor::Operator,
        origin: Default::default(),
        changes: vec![Change::UserCreated {
            user: user(id, email, key).into(),
        }],
    };
    let refused = store.import(vec![next(900_001, "éva@x.example", 2)]).await;
    assert!(
        refused.is_err(),
        "{url}: a second spelling of one email reached the tables"
    );
    let refused = store.import(vec![next(900_002, " Éva@X.example", 3)]).await;
    assert!(
        refused.is_err(),
        "{url}: surrounding space made a new email"
    );
    // A different email still goes in: the index is not refusing everything.
    store
        .import(vec![next(900_003, "eva@x.example", 4)])
        .await
        .expect("a different email is accepted");
}

fn parity_owner(email: &str) -> cohort_core::command::CreateUser {
    cohort_core::command::CreateUser {
        email: Some(email.into()),
        full_name: "Eva Owner".into(),
        role: Role::Owner,
        is_bot: false,
        bot_owner: None,
        key: None,
        avatar_url: None,
        api_key: KeyHash([1; 32]),
        can_create_users: true,
    }
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn sqlite_emails_are_unique_under_the_core_rule() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("e.db").display());
    rt().block_on(second_spelling_is_refused(&url));
}

#[test]
fn postgres_emails_are_unique_under_the_core_rule() {
    let Some(database) = support::PgDatabase::create() else {
        return;
    };
    rt().block_on(second_spelling_is_refused(&database.url()));
}

/// A schema-1 SQLite file (as released: `NOCASE` index, no key column) is
/// brought to the current schema on open, its existing emails keyed by the
/// core's rule and its rows readable with the columns migration 3 adds.
#[test]
fn sqlite_migration_2_keys_existing_emails() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.db");
    let url = format!("sqlite://{}", path.display());
    rt().block_on(second_spelling_is_refused(&url));
    // Back to schema 1: drop what migrations 7, 6, 5, 4, 3 and 2 added, restore
    // the old index (reopening then runs them over existing rows).
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute_batch(
        "DROP TABLE ui_sessions; DROP TABLE ui_login_links;
         DELETE FROM schema_migrations WHERE version = 7;
         DROP TABLE webhook_attempts; DROP TABLE webhook_deliveries; DROP TABLE webhook_state;
         DELETE FROM schema_migrations WHERE version = 6;
         DROP TABLE checkpoints;
         DELETE FROM schema_migrations WHERE version = 5;
         ALTER TABLE changes DROP COLUMN face;
         ALTER TABLE changes DROP COLUMN request_id;
         ALTER TABLE changes DROP COLUMN client_addr;
         DELETE FROM schema_migrations WHERE version = 4;
         DROP INDEX users_realm_user_name;
         ALTER TABLE users DROP COLUMN profile;
         ALTER TABLE users DROP COLUMN user_name_key;
         ALTER TABLE groups DROP COLUMN external_id;
         DROP TABLE token_uses;
         DELETE FROM schema_migrations WHERE version = 3;
         DROP INDEX users_realm_email;
         ALTER TABLE users DROP COLUMN email_key;
         CREATE UNIQUE INDEX users_realm_email ON users (realm_id, email COLLATE NOCASE);
         DELETE FROM schema_migrations WHERE version = 2;",
    )
    .unwrap();
    drop(conn);
    rt().block_on(async {
        cohort_store::open(&DbUrl::parse(&url).unwrap(), false)
            .await
            .expect("reopen migrates");
    });
    let conn = rusqlite::Connection::open(&path).unwrap();
    let key: String = conn
        .query_row(
            "SELECT email_key FROM users WHERE email = 'ÉVA@x.example'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(key, "éva@x.example");
    let version: i64 = conn
        .query_row("SELECT MAX(version) FROM schema_migrations", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(version, cohort_store::sqlite::known_schema_version());
}

/// The same on PostgreSQL: a schema-1 database (no key column, no email
/// index) gets both, its existing emails keyed by the core's rule.
#[test]
fn postgres_migration_2_keys_existing_emails() {
    let Some(database) = support::PgDatabase::create() else {
        return;
    };
    let url = database.url();
    rt().block_on(second_spelling_is_refused(&url));
    support::psql_on(
        &url,
        "DROP TABLE ui_sessions, ui_login_links;
         DROP TABLE webhook_attempts, webhook_deliveries, webhook_state;
         DROP TABLE checkpoints;
         ALTER TABLE changes DROP COLUMN face, DROP COLUMN request_id, DROP COLUMN client_addr;
         ALTER TABLE users DROP COLUMN profile, DROP COLUMN user_name_key;
         ALTER TABLE groups DROP COLUMN external_id; DROP TABLE token_uses;
         ALTER TABLE users DROP COLUMN email_key;
         DELETE FROM schema_migrations WHERE version IN (2, 3, 4, 5, 6, 7);",
    );
    rt().block_on(async {
        cohort_store::open(&DbUrl::parse(&url).unwrap(), true)
            .await
            .expect("migrate");
    });
    assert_eq!(
        support::psql_on(
            &url,
            "SELECT email_key FROM users WHERE email = 'ÉVA@x.example'"
        ),
        "éva@x.example"
    );
    assert_eq!(
        support::psql_on(
            &url,
            "SELECT COUNT(*) FROM pg_indexes WHERE indexname = 'users_realm_email'"
        ),
        "1"
    );
}
