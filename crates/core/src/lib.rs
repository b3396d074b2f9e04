//! cohort's directory core: the domain and its rules, with no I/O.
//!
//! Layout:
//! - `ids`: identifiers, versions, actors, key hashes.
//! - `model`: realms, users, groups, roles, system groups, permission settings.
//! - `snapshot`: one realm's immutable in-memory directory and `apply`.
//! - `change`: the facts commits are made of (the change log's vocabulary).
//! - `command`: every write, checked and turned into changes (`execute`).
//! - `permission`: Zulip's permission model as pure functions.
//! - `validate`: limits and free-text rules.
//! - `values`: `Email`, `GroupName`, `Key`, `UserName`: values that carry a rule.
//! - `filter`: the filter algebra that query dialects compile into.
//! - `error`: the domain error every face renders in its own dialect.

pub mod audit;
pub mod change;
pub mod command;
pub mod error;
pub mod filter;
pub mod history;
pub mod ids;
pub mod model;
pub mod permission;
pub mod snapshot;
pub mod validate;
pub mod values;

pub use change::{Change, Commit};
pub use command::{Command, Context, Outcome, Reply};
pub use error::{Error, Objection};
pub use ids::{
    Actor, Face, GroupId, KeyHash, Millis, Origin, RealmId, TokenId, UserId, Version, WebhookId,
};
pub use model::{
    Group, GroupSetting, Principal, Profile, ProfileEmail, RateLimit, Realm, RealmSetting, Role,
    Scope, SettingValue, SystemGroup, Token, User, Webhook,
};
pub use snapshot::Snapshot;
pub use values::{Checked, Email, GroupName, Key, UserName};
