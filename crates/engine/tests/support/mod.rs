//! What the engine's tests share.

use cohort_core::command::{CreateRealm, CreateUser};
use cohort_core::{RealmId, Role};
use cohort_engine::{secrets, Engine, EngineConfig};
use cohort_store::sqlite::SqliteStore;
use cohort_store::Store;
use std::path::Path;
use std::sync::Arc;

/// A new SQLite database at `path`, an engine on it, and a realm "Acme"
/// with its owner `owner@acme.test`.
#[allow(dead_code)] // not every test file uses it
pub async fn acme(path: &Path) -> (Arc<dyn Store>, Arc<Engine>, RealmId) {
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(path, true).await.unwrap());
    let engine = Engine::start(store.clone(), EngineConfig::default())
        .await
        .unwrap();
    let created = engine
        .create_realm(CreateRealm {
            name: "Acme".into(),
            owner: Some(new_user("owner@acme.test", Role::Owner)),
        })
        .await
        .unwrap();
    let realm = created.snapshot.realm_id();
    (store, engine, realm)
}

/// A human user with a fresh API key.
pub fn new_user(email: &str, role: Role) -> CreateUser {
    CreateUser {
        email: Some(email.into()),
        full_name: format!("User {}", email.split('@').next().unwrap()),
        role,
        is_bot: false,
        bot_owner: None,
        key: None,
        avatar_url: None,
        api_key: secrets::hash_key(&secrets::generate_key()),
        can_create_users: true,
    }
}
