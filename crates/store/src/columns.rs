//! What both stores' row mappings share, so each engine keeps only its SQL
//! dialect: the column lists, rows ↔ records (`UserRow`, `GroupRow`), each
//! patch as column assignments (`Value`), JSON columns, the error for rows
//! that do not decode, the catch-up rule, the change log's rows (`CommitRow`,
//! the origin columns) and the per-realm version span of a batch of commits.

use crate::{Result, StoreError};
use cohort_core::change::{Commit, GroupPatch, UserPatch};
use cohort_core::model::{Group, GroupSetting, Profile, Role, SettingValue, SystemGroup, User};
use cohort_core::{Actor, Face, GroupId, KeyHash, Origin, RealmId, UserId, Version};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

pub(crate) fn corrupt(what: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(what.to_string())
}

pub(crate) fn to_json<T: serde::Serialize>(value: &T) -> Result<String> {
    serde_json::to_string(value).map_err(|e| StoreError::Other(e.to_string()))
}

pub(crate) fn from_json<T: serde::de::DeserializeOwned>(text: &str) -> Result<T> {
    serde_json::from_str(text).map_err(corrupt)
}

/// Wall-clock milliseconds, for `schema_migrations.applied_at`.
pub(crate) fn now_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// The `users.email_key` column: the email under the core's case rule, so the
/// unique index means exactly what the snapshot's email index means (SQLite's
/// `NOCASE` and PostgreSQL's `lower()` each fold case their own way).
pub(crate) fn email_key(email: Option<&str>) -> Option<String> {
    email.map(cohort_core::Email::fold)
}

/// The `system_kind` column: the system group's wire name, bare.
pub(crate) fn system_kind(which: Option<SystemGroup>) -> Result<Option<String>> {
    which
        .map(|w| to_json(&w).map(|s| s.trim_matches('"').to_string()))
        .transpose()
}

fn system_group(kind: Option<String>) -> Result<Option<SystemGroup>> {
    kind.map(|s| from_json(&format!("\"{s}\""))).transpose()
}

/// The catch-up rule: a realm stored at `stored` and known to the caller at
/// `known` needs the commits in `(known, stored]` first (`None`: none). A
/// caller ahead of the database means memory and tables disagree.
pub(crate) fn behind(
    realm: RealmId,
    stored: Version,
    known: Version,
) -> Result<Option<(Version, Version)>> {
    if stored < known {
        return Err(corrupt(format!(
            "realm {realm} is at version {stored} in the database but {known} in memory"
        )));
    }
    Ok((stored > known).then_some((known, stored)))
}

/// `changes` columns read back, in `CommitRow`'s field order.
pub(crate) const COMMIT_READ_COLUMNS: &str =
    "version, at, actor, changes, face, request_id, client_addr";

/// `changes` columns written: the realm, `COMMIT_READ_COLUMNS`' fields.
pub(crate) const COMMIT_COLUMNS: &str =
    "realm_id, version, at, actor, changes, face, request_id, client_addr";

/// One `changes` row as read (`COMMIT_READ_COLUMNS`).
pub(crate) struct CommitRow {
    pub version: i64,
    pub at: i64,
    pub actor: String,
    pub changes: String,
    pub face: Option<String>,
    pub request_id: Option<String>,
    pub client: Option<String>,
}

impl CommitRow {
    pub fn into_commit(self, realm: RealmId) -> Result<Commit> {
        let actor: Actor = from_json(&self.actor)?;
        Ok(Commit {
            realm,
            version: self.version as Version,
            at: self.at,
            origin: origin(actor, self.face.as_deref(), self.request_id, self.client)?,
            actor,
            changes: from_json(&self.changes)?,
        })
    }
}

/// A commit's origin from its columns. Rows written before migration 4 have
/// no face: each kind of actor then had one way in, so the actor implies it.
fn origin(
    actor: Actor,
    face: Option<&str>,
    request_id: Option<String>,
    client: Option<String>,
) -> Result<Origin> {
    let face = match face {
        None => Face::implied_by(actor),
        Some(text) => Face::parse(text).ok_or_else(|| corrupt(format!("unknown face {text:?}")))?,
    };
    Ok(Origin {
        face,
        request_id,
        client,
    })
}

/// A commit's origin columns (`face`, `request_id`, `client_addr`), borrowed
/// for binding: every new row names its face.
pub(crate) fn origin_columns(origin: &Origin) -> (&'static str, Option<&str>, Option<&str>) {
    (
        origin.face.as_str(),
        origin.request_id.as_deref(),
        origin.client.as_deref(),
    )
}

/// A column value, whichever engine binds it.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Value {
    Text(String),
    NullableText(Option<String>),
    Int(i64),
    NullableInt(Option<i64>),
    Bool(bool),
}

/// `users` columns, in the order of `UserRow`'s fields.
pub(crate) const USER_COLUMNS: &[&str] = &[
    "id",
    "realm_id",
    "key",
    "email",
    "full_name",
    "avatar_url",
    "role",
    "is_bot",
    "bot_owner_id",
    "active",
    "can_create_users",
    "api_key_hash",
    "date_joined",
    "updated_at",
    "profile",
    // Derived on write, never read back: the unique indexes' keys.
    "email_key",
    "user_name_key",
];

/// The `users` columns read back (`USER_COLUMNS` without the derived keys).
pub(crate) const USER_READ_COLUMNS: &[&str] = USER_COLUMNS.split_at(15).0;

/// `groups` columns, in the order of `GroupRow`'s fields (the six settings
/// last, in `GroupSetting` order; their columns are named after them).
pub(crate) const GROUP_COLUMNS: &[&str] = &[
    "id",
    "realm_id",
    "key",
    "name",
    "description",
    "avatar_url",
    "system_kind",
    "deactivated",
    "creator_id",
    "created_at",
    "updated_at",
    "can_add_members_group",
    "can_join_group",
    "can_leave_group",
    "can_manage_group",
    "can_mention_group",
    "can_remove_members_group",
    "external_id",
];

/// `SELECT <columns> FROM table ORDER BY id`.
pub(crate) fn select_sql(table: &str, columns: &[&str]) -> String {
    format!("SELECT {} FROM {table} ORDER BY id", columns.join(", "))
}

/// `INSERT INTO table (<columns>) VALUES (<placeholders>)`, with the engine's
/// placeholder for the n-th parameter (1-based).
pub(crate) fn insert_sql(
    table: &str,
    columns: &[&str],
    placeholder: fn(usize) -> String,
) -> String {
    let values: Vec<String> = (1..=columns.len()).map(placeholder).collect();
    format!(
        "INSERT INTO {table} ({}) VALUES ({})",
        columns.join(", "),
        values.join(", ")
    )
}

/// `UPDATE table SET a = <2>, b = <3> WHERE id = <1>`; column names come from
/// this crate, never from input.
pub(crate) fn update_sql(
    table: &str,
    columns: &[&str],
    placeholder: fn(usize) -> String,
) -> String {
    let assignments: Vec<String> = columns
        .iter()
        .enumerate()
        .map(|(i, column)| format!("{column} = {}", placeholder(i + 2)))
        .collect();
    format!(
        "UPDATE {table} SET {} WHERE id = {}",
        assignments.join(", "),
        placeholder(1)
    )
}

/// `users.profile`: the identity-provider profile as JSON, `NULL` when empty.
fn profile_json(profile: &Profile) -> Result<Option<String>> {
    (!profile.is_empty()).then(|| to_json(profile)).transpose()
}

/// `users.user_name_key`: the login name under the email case rule, for the
/// unique index (as `email_key`).
fn user_name_key(profile: &Profile) -> Option<String> {
    profile.user_name.as_deref().map(cohort_core::Email::fold)
}

/// One `users` row (`email_key` and `user_name_key` are derived on write and
/// not read back).
pub(crate) struct UserRow {
    pub id: i64,
    pub realm: i64,
    pub key: String,
    pub email: Option<String>,
    pub full_name: String,
    pub avatar_url: Option<String>,
    pub role: i64,
    pub is_bot: bool,
    pub bot_owner: Option<i64>,
    pub active: bool,
    pub can_create_users: bool,
    pub api_key_hash: String,
    pub date_joined: i64,
    pub updated_at: i64,
    pub profile: Option<String>,
}

impl UserRow {
    pub fn into_user(self) -> Result<(RealmId, User)> {
        let role = self.role;
        let user = User {
            id: UserId(self.id),
            key: Arc::from(self.key),
            email: self.email.map(Arc::from),
            full_name: self.full_name,
            avatar_url: self.avatar_url,
            role: Role::from_code(role).ok_or_else(|| corrupt(format!("unknown role {role}")))?,
            is_bot: self.is_bot,
            bot_owner: self.bot_owner.map(UserId),
            active: self.active,
            can_create_users: self.can_create_users,
            api_key: KeyHash::from_hex(&self.api_key_hash)
                .ok_or_else(|| corrupt("bad api key hash"))?,
            date_joined: self.date_joined,
            updated_at: self.updated_at,
            profile: match &self.profile {
                Some(text) => from_json(text)?,
                None => Profile::default(),
            },
        };
        Ok((RealmId(self.realm), user))
    }

    /// The values of a new user's row, in `USER_COLUMNS` order.
    pub fn values(realm: RealmId, user: &User, at: i64) -> Result<Vec<Value>> {
        Ok(vec![
            Value::Int(user.id.0),
            Value::Int(realm.0),
            Value::Text(user.key.to_string()),
            Value::NullableText(user.email.as_deref().map(str::to_string)),
            Value::Text(user.full_name.clone()),
            Value::NullableText(user.avatar_url.clone()),
            Value::Int(i64::from(user.role.code())),
            Value::Bool(user.is_bot),
            Value::NullableInt(user.bot_owner.map(|u| u.0)),
            Value::Bool(user.active),
            Value::Bool(user.can_create_users),
            Value::Text(user.api_key.to_hex()),
            Value::Int(user.date_joined),
            Value::Int(at),
            Value::NullableText(profile_json(&user.profile)?),
            Value::NullableText(email_key(user.email.as_deref())),
            Value::NullableText(user_name_key(&user.profile)),
        ])
    }
}

/// One `groups` row; members and subgroups live in their own tables.
pub(crate) struct GroupRow {
    pub id: i64,
    pub realm: i64,
    pub key: String,
    pub name: String,
    pub description: String,
    pub avatar_url: Option<String>,
    pub system_kind: Option<String>,
    pub deactivated: bool,
    pub creator: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
    pub settings: [String; 6],
    pub external_id: Option<String>,
}

impl GroupRow {
    pub fn into_group(self, edges: &mut Edges) -> Result<(RealmId, Group)> {
        let id = GroupId(self.id);
        let mut settings = Vec::with_capacity(6);
        for text in &self.settings {
            settings.push(from_json::<SettingValue>(text)?);
        }
        let settings: [SettingValue; 6] =
            settings.try_into().map_err(|_| corrupt("group settings"))?;
        let group = Group {
            id,
            key: Arc::from(self.key),
            name: Arc::from(self.name),
            description: self.description,
            avatar_url: self.avatar_url,
            system: system_group(self.system_kind)?,
            deactivated: self.deactivated,
            creator: self.creator.map(UserId),
            created_at: self.created_at,
            updated_at: self.updated_at,
            settings,
            members: edges.members.remove(&id).unwrap_or_default(),
            subgroups: edges.subgroups.remove(&id).unwrap_or_default(),
            external_id: self.external_id,
        };
        Ok((RealmId(self.realm), group))
    }

    /// The values of a new group's row, in `GROUP_COLUMNS` order.
    pub fn values(realm: RealmId, group: &Group, at: i64) -> Result<Vec<Value>> {
        let mut values = vec![
            Value::Int(group.id.0),
            Value::Int(realm.0),
            Value::Text(group.key.to_string()),
            Value::Text(group.name.to_string()),
            Value::Text(group.description.clone()),
            Value::NullableText(group.avatar_url.clone()),
            Value::NullableText(system_kind(group.system)?),
            Value::Bool(group.deactivated),
            Value::NullableInt(group.creator.map(|u| u.0)),
            Value::Int(group.created_at),
            Value::Int(at),
        ];
        for setting in &group.settings {
            values.push(Value::Text(to_json(setting)?));
        }
        values.push(Value::NullableText(group.external_id.clone()));
        Ok(values)
    }
}

/// Membership edges read before the groups they belong to.
#[derive(Default)]
pub(crate) struct Edges {
    members: HashMap<GroupId, Vec<UserId>>,
    subgroups: HashMap<GroupId, Vec<GroupId>>,
}

impl Edges {
    pub fn member(&mut self, group: i64, user: i64) {
        self.members
            .entry(GroupId(group))
            .or_default()
            .push(UserId(user));
    }

    pub fn subgroup(&mut self, group: i64, subgroup: i64) {
        self.subgroups
            .entry(GroupId(group))
            .or_default()
            .push(GroupId(subgroup));
    }
}

/// A user patch as column assignments (with `updated_at`).
pub(crate) fn user_patch(patch: &UserPatch, at: i64) -> Result<Vec<(&'static str, Value)>> {
    let mut sets = Vec::new();
    if let Some(profile) = &patch.profile {
        sets.push(("profile", Value::NullableText(profile_json(profile)?)));
        sets.push(("user_name_key", Value::NullableText(user_name_key(profile))));
    }
    if let Some(email) = &patch.email {
        sets.push(("email", Value::NullableText(Some(email.clone()))));
        sets.push(("email_key", Value::NullableText(email_key(Some(email)))));
    }
    if let Some(name) = &patch.full_name {
        sets.push(("full_name", Value::Text(name.clone())));
    }
    if let Some(avatar) = &patch.avatar_url {
        sets.push(("avatar_url", Value::NullableText(avatar.clone())));
    }
    if let Some(role) = patch.role {
        sets.push(("role", Value::Int(i64::from(role.code()))));
    }
    if let Some(active) = patch.active {
        sets.push(("active", Value::Bool(active)));
    }
    if let Some(key) = patch.api_key {
        sets.push(("api_key_hash", Value::Text(key.to_hex())));
    }
    if let Some(flag) = patch.can_create_users {
        sets.push(("can_create_users", Value::Bool(flag)));
    }
    sets.push(("updated_at", Value::Int(at)));
    Ok(sets)
}

/// A group patch as column assignments (with `updated_at`).
pub(crate) fn group_patch(patch: &GroupPatch, at: i64) -> Vec<(&'static str, Value)> {
    let mut sets = Vec::new();
    if let Some(name) = &patch.name {
        sets.push(("name", Value::Text(name.clone())));
    }
    if let Some(description) = &patch.description {
        sets.push(("description", Value::Text(description.clone())));
    }
    if let Some(avatar) = &patch.avatar_url {
        sets.push(("avatar_url", Value::NullableText(avatar.clone())));
    }
    if let Some(flag) = patch.deactivated {
        sets.push(("deactivated", Value::Bool(flag)));
    }
    if let Some(external_id) = &patch.external_id {
        sets.push(("external_id", Value::NullableText(external_id.clone())));
    }
    sets.push(("updated_at", Value::Int(at)));
    sets
}

/// A group setting change as column assignments (columns are named after the
/// settings; see the schema).
pub(crate) fn group_setting(
    setting: GroupSetting,
    value: &SettingValue,
    at: i64,
) -> Result<Vec<(&'static str, Value)>> {
    Ok(vec![
        (setting.name(), Value::Text(to_json(value)?)),
        ("updated_at", Value::Int(at)),
    ])
}

/// Each realm's version before and after `commits`, which must follow one
/// another without gaps within each realm.
pub(crate) fn version_spans(commits: &[Commit]) -> Result<BTreeMap<RealmId, (Version, Version)>> {
    let mut spans: BTreeMap<RealmId, (Version, Version)> = BTreeMap::new();
    for commit in commits {
        let before = commit
            .version
            .checked_sub(1)
            .ok_or_else(|| corrupt("commit at version 0"))?;
        let span = spans.entry(commit.realm).or_insert((before, before));
        if span.1 != before {
            return Err(corrupt(format!(
                "commit {} of realm {} is out of order",
                commit.version, commit.realm
            )));
        }
        span.1 = commit.version;
    }
    Ok(spans)
}

/// A checkpoint's state column: the realm record, users and groups as JSON.
pub(crate) fn checkpoint_state(snapshot: &cohort_core::Snapshot) -> Result<String> {
    let users: Vec<&User> = snapshot.users().map(|u| &**u).collect();
    let groups: Vec<&Group> = snapshot.groups().map(|g| &**g).collect();
    to_json(&(snapshot.realm(), users, groups))
}

/// A checkpoint read back from its row.
pub(crate) fn checkpoint_from_row(
    realm: RealmId,
    version: i64,
    at: i64,
    state: &str,
) -> Result<crate::Checkpoint> {
    let (record, users, groups): (cohort_core::Realm, Vec<User>, Vec<Group>) = from_json(state)?;
    let snapshot = cohort_core::Snapshot::from_parts(record, version as Version, users, groups)
        .map_err(|e| corrupt(format!("checkpoint of realm {realm} at {version}: {e}")))?;
    Ok(crate::Checkpoint {
        realm,
        version: version as Version,
        at,
        snapshot,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_name_every_column_once() {
        let ph = |n: usize| format!("${n}");
        assert_eq!(
            update_sql("users", &["a", "b"], ph),
            "UPDATE users SET a = $2, b = $3 WHERE id = $1"
        );
        assert_eq!(
            insert_sql("t", &["a", "b"], ph),
            "INSERT INTO t (a, b) VALUES ($1, $2)"
        );
    }

    #[test]
    fn email_key_is_the_cores_rule() {
        // Not ASCII-only: `NOCASE` would keep these apart.
        assert_eq!(
            email_key(Some(" ÉVA@X.example ")).as_deref(),
            Some("éva@x.example")
        );
        assert_eq!(email_key(None), None);
    }

    #[test]
    fn catching_up() {
        let r = RealmId(1);
        assert_eq!(behind(r, 5, 5).unwrap(), None);
        assert_eq!(behind(r, 7, 5).unwrap(), Some((5, 7)));
        assert!(matches!(behind(r, 4, 5), Err(StoreError::Corrupt(_))));
    }
}
