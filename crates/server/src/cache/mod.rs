//! Rendered responses, kept per realm version. Every cache here follows one
//! discipline: rendering happens outside any lock (a lock is held only to read
//! or swap a pointer), and a reader whose snapshot is older than the cached
//! entry is served its own version without replacing the newer entry, so a
//! cache never goes back.
//!
//! - `versioned.rs`: whole bodies by key (`GET /user_groups/{id}/members`,
//!   IMKIT group pages, SCIM group list pages).
//! - `group_list.rs`: Zulip's `GET /user_groups`, re-rendering only the groups
//!   that changed.
//! - `group_page.rs`: IMKIT's visible groups in page order, likewise.
//! - `fragments.rs`: single records by revision (SCIM's groups), assembled
//!   into any page or filter result.

mod fragments;
mod group_list;
mod group_page;
mod versioned;

pub use fragments::FragmentCache;
pub use group_list::GroupListCache;
pub use group_page::GroupPageCache;
pub use versioned::VersionedCache;

use cohort_core::{RealmId, Version};
use std::collections::hash_map::Entry;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// A rendering that belongs to one realm version.
trait Versioned {
    fn version(&self) -> Version;
}

/// Per realm, the newest rendering seen. The lock guards only the map of
/// pointers; what they point to is immutable.
struct Latest<T> {
    realms: Mutex<HashMap<RealmId, Arc<T>>>,
}

impl<T> Default for Latest<T> {
    fn default() -> Self {
        Latest {
            realms: Mutex::new(HashMap::new()),
        }
    }
}

impl<T: Versioned> Latest<T> {
    fn get(&self, realm: RealmId) -> Option<Arc<T>> {
        let realms = self.realms.lock().unwrap_or_else(|e| e.into_inner());
        realms.get(&realm).cloned()
    }

    /// Keep `fresh` unless an equal or newer rendering got there first.
    fn offer(&self, realm: RealmId, fresh: Arc<T>) {
        let mut realms = self.realms.lock().unwrap_or_else(|e| e.into_inner());
        match realms.entry(realm) {
            Entry::Occupied(mut cached) => {
                if cached.get().version() < fresh.version() {
                    cached.insert(fresh);
                }
            }
            Entry::Vacant(slot) => {
                slot.insert(fresh);
            }
        }
    }

    /// The rendering for `version`: the cached one if it matches, else
    /// `render(base)` from the cached one (which may be older or newer),
    /// kept only if it is newer than what is cached.
    fn get_or_render(
        &self,
        realm: RealmId,
        version: Version,
        render: impl FnOnce(Option<&T>) -> T,
    ) -> Arc<T> {
        let base = self.get(realm);
        if let Some(cached) = &base {
            if cached.version() == version {
                return cached.clone();
            }
        }
        let fresh = Arc::new(render(base.as_deref()));
        if base.as_ref().is_none_or(|b| b.version() < version) {
            self.offer(realm, fresh.clone());
        }
        fresh
    }
}

#[cfg(test)]
mod tests {
    use super::{Latest, Versioned};
    use cohort_core::{RealmId, Version};
    use std::sync::Arc;

    struct At(Version);

    impl Versioned for At {
        fn version(&self) -> Version {
            self.0
        }
    }

    fn cached(latest: &Latest<At>, realm: RealmId) -> Option<Version> {
        latest.get(realm).map(|a| a.0)
    }

    /// Two renderings racing: the older one offered last does not replace
    /// the newer; an older reader is rendered its own version and keeps
    /// nothing.
    #[test]
    fn an_older_rendering_never_replaces_a_newer_entry() {
        let latest = Latest::<At>::default();
        let realm = RealmId(1);
        latest.offer(realm, Arc::new(At(7)));
        latest.offer(realm, Arc::new(At(5)));
        assert_eq!(cached(&latest, realm), Some(7));
        latest.offer(realm, Arc::new(At(9)));
        assert_eq!(cached(&latest, realm), Some(9));
        let got = latest.get_or_render(realm, 3, |base| {
            assert_eq!(base.map(|b| b.0), Some(9));
            At(3)
        });
        assert_eq!(got.0, 3);
        assert_eq!(cached(&latest, realm), Some(9));
    }
}

/// A realm driven through the core's commands, for the caches' tests.
#[cfg(test)]
pub(crate) mod test_world {
    use cohort_core::command::{self, Context, CreateGroup, CreateRealm, CreateUser};
    use cohort_core::{Actor, Command, Commit, GroupId, KeyHash, Reply, Role, Snapshot, UserId};

    struct Ids(i64);

    impl command::IdSource for Ids {
        fn next_id(&mut self) -> Option<i64> {
            self.0 += 1;
            Some(self.0)
        }
    }

    pub struct World {
        pub snap: Snapshot,
        ids: Ids,
    }

    impl World {
        pub fn new() -> World {
            let mut ids = Ids(0);
            let (_, outcome) = command::create_realm(
                &CreateRealm {
                    name: "t".into(),
                    owner: None,
                },
                &mut Context {
                    now: 1,
                    ids: &mut ids,
                },
            )
            .expect("realm");
            World {
                snap: outcome.seal(1),
                ids,
            }
        }

        pub fn run(&mut self, command: Command) -> Reply {
            let outcome = command::execute(
                &self.snap,
                Actor::Operator,
                &command,
                &mut Context {
                    now: 1,
                    ids: &mut self.ids,
                },
            )
            .expect("command");
            let commit = Commit {
                realm: self.snap.realm_id(),
                version: self.snap.version() + 1,
                at: 1,
                actor: Actor::Operator,
                origin: Default::default(),
                changes: outcome.changes.clone(),
            };
            self.snap.apply(&commit).expect("apply");
            outcome.reply
        }

        pub fn user(&mut self, i: usize) -> UserId {
            match self.run(Command::CreateUser(CreateUser {
                email: Some(format!("u{i}@t.example").into()),
                full_name: format!("User {i}"),
                role: Role::Member,
                is_bot: false,
                bot_owner: None,
                key: None,
                avatar_url: None,
                api_key: KeyHash([i as u8; 32]),
                can_create_users: false,
            })) {
                Reply::User(id) => id,
                other => panic!("{other:?}"),
            }
        }

        pub fn group(&mut self, name: String, members: Vec<UserId>) -> GroupId {
            match self.run(Command::CreateGroup(CreateGroup {
                name: name.into(),
                description: String::new(),
                members,
                subgroups: vec![],
                settings: vec![],
                key: None,
                avatar_url: None,
                external_id: None,
            })) {
                Reply::Group(id) => id,
                other => panic!("{other:?}"),
            }
        }
    }
}
