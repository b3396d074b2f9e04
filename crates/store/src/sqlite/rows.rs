//! Mapping between SQLite rows and the core's records, and the translation of
//! each `Change` into row updates. `persist` must leave the tables exactly as
//! `Snapshot::apply` leaves memory; the store tests check that they agree.

use super::db_error;
use crate::columns::{corrupt, from_json, system_kind, to_json, version_spans};
use crate::{Result, StoreError};
use cohort_core::change::{Change, Commit};
use cohort_core::model::{Group, GroupSetting, Realm, Role, SettingValue, SystemGroup, User};
use cohort_core::{Actor, GroupId, KeyHash, RealmId, Snapshot, UserId, Version};
use rusqlite::{params, OptionalExtension, Transaction};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

pub fn load_all(tx: &Transaction<'_>) -> Result<Vec<Snapshot>> {
    let mut realms: Vec<(Realm, Version)> = Vec::new();
    {
        let mut stmt = tx
            .prepare("SELECT version, data FROM realms ORDER BY id")
            .map_err(db_error)?;
        let mut rows = stmt.query([]).map_err(db_error)?;
        while let Some(row) = rows.next().map_err(db_error)? {
            let version: i64 = row.get(0).map_err(db_error)?;
            let data: String = row.get(1).map_err(db_error)?;
            realms.push((from_json(&data)?, version as Version));
        }
    }
    let mut users: HashMap<RealmId, Vec<User>> = HashMap::new();
    {
        let mut stmt = tx
            .prepare(
                "SELECT id, realm_id, key, email, full_name, avatar_url, role, is_bot, bot_owner_id,
                        active, can_create_users, api_key_hash, date_joined, updated_at
                 FROM users ORDER BY id",
            )
            .map_err(db_error)?;
        let mut rows = stmt.query([]).map_err(db_error)?;
        while let Some(row) = rows.next().map_err(db_error)? {
            let get_err = |e: rusqlite::Error| db_error(e);
            let role: i64 = row.get(6).map_err(get_err)?;
            let hash: String = row.get(11).map_err(get_err)?;
            let user = User {
                id: UserId(row.get(0).map_err(get_err)?),
                key: Arc::from(row.get::<_, String>(2).map_err(get_err)?),
                email: row
                    .get::<_, Option<String>>(3)
                    .map_err(get_err)?
                    .map(Arc::from),
                full_name: row.get(4).map_err(get_err)?,
                avatar_url: row.get(5).map_err(get_err)?,
                role: Role::from_code(role)
                    .ok_or_else(|| corrupt(format!("unknown role {role}")))?,
                is_bot: row.get(7).map_err(get_err)?,
                bot_owner: row.get::<_, Option<i64>>(8).map_err(get_err)?.map(UserId),
                active: row.get(9).map_err(get_err)?,
                can_create_users: row.get(10).map_err(get_err)?,
                api_key: KeyHash::from_hex(&hash).ok_or_else(|| corrupt("bad api key hash"))?,
                date_joined: row.get(12).map_err(get_err)?,
                updated_at: row.get(13).map_err(get_err)?,
            };
            let realm = RealmId(row.get(1).map_err(get_err)?);
            users.entry(realm).or_default().push(user);
        }
    }
    let mut members: HashMap<GroupId, Vec<UserId>> = HashMap::new();
    {
        let mut stmt = tx
            .prepare("SELECT group_id, user_id FROM group_members ORDER BY group_id, user_id")
            .map_err(db_error)?;
        let mut rows = stmt.query([]).map_err(db_error)?;
        while let Some(row) = rows.next().map_err(db_error)? {
            let group = GroupId(row.get(0).map_err(db_error)?);
            members
                .entry(group)
                .or_default()
                .push(UserId(row.get(1).map_err(db_error)?));
        }
    }
    let mut subgroups: HashMap<GroupId, Vec<GroupId>> = HashMap::new();
    {
        let mut stmt = tx
            .prepare(
                "SELECT group_id, subgroup_id FROM group_subgroups ORDER BY group_id, subgroup_id",
            )
            .map_err(db_error)?;
        let mut rows = stmt.query([]).map_err(db_error)?;
        while let Some(row) = rows.next().map_err(db_error)? {
            let group = GroupId(row.get(0).map_err(db_error)?);
            subgroups
                .entry(group)
                .or_default()
                .push(GroupId(row.get(1).map_err(db_error)?));
        }
    }
    let mut groups: HashMap<RealmId, Vec<Group>> = HashMap::new();
    {
        let mut stmt = tx
            .prepare(
                "SELECT id, realm_id, key, name, description, avatar_url, system_kind, deactivated,
                        creator_id, created_at, updated_at, can_add_members_group, can_join_group,
                        can_leave_group, can_manage_group, can_mention_group, can_remove_members_group
                 FROM groups ORDER BY id",
            )
            .map_err(db_error)?;
        let mut rows = stmt.query([]).map_err(db_error)?;
        while let Some(row) = rows.next().map_err(db_error)? {
            let id = GroupId(row.get(0).map_err(db_error)?);
            let system: Option<String> = row.get(6).map_err(db_error)?;
            let system: Option<SystemGroup> =
                system.map(|s| from_json(&format!("\"{s}\""))).transpose()?;
            let mut settings = Vec::with_capacity(6);
            for column in 11..17 {
                let text: String = row.get(column).map_err(db_error)?;
                settings.push(from_json::<SettingValue>(&text)?);
            }
            let settings: [SettingValue; 6] =
                settings.try_into().map_err(|_| corrupt("group settings"))?;
            let group = Group {
                id,
                key: Arc::from(row.get::<_, String>(2).map_err(db_error)?),
                name: Arc::from(row.get::<_, String>(3).map_err(db_error)?),
                description: row.get(4).map_err(db_error)?,
                avatar_url: row.get(5).map_err(db_error)?,
                system,
                deactivated: row.get(7).map_err(db_error)?,
                creator: row.get::<_, Option<i64>>(8).map_err(db_error)?.map(UserId),
                created_at: row.get(9).map_err(db_error)?,
                updated_at: row.get(10).map_err(db_error)?,
                settings,
                members: members.remove(&id).unwrap_or_default(),
                subgroups: subgroups.remove(&id).unwrap_or_default(),
            };
            let realm = RealmId(row.get(1).map_err(db_error)?);
            groups.entry(realm).or_default().push(group);
        }
    }
    crate::assemble(realms, users, groups)
}

pub fn commits(
    tx: &Transaction<'_>,
    realm: RealmId,
    after: Version,
    up_to: Option<Version>,
) -> Result<Vec<Commit>> {
    let up_to = up_to.map(|v| v as i64).unwrap_or(i64::MAX);
    let mut stmt = tx
        .prepare_cached(
            "SELECT version, at, actor, changes FROM changes
             WHERE realm_id = ?1 AND version > ?2 AND version <= ?3 ORDER BY version",
        )
        .map_err(db_error)?;
    let mut rows = stmt
        .query(params![realm.0, after as i64, up_to])
        .map_err(db_error)?;
    let mut out = Vec::new();
    while let Some(row) = rows.next().map_err(db_error)? {
        let actor: String = row.get(2).map_err(db_error)?;
        let changes: String = row.get(3).map_err(db_error)?;
        out.push(Commit {
            realm,
            version: row.get::<_, i64>(0).map_err(db_error)? as Version,
            at: row.get(1).map_err(db_error)?,
            actor: from_json::<Actor>(&actor)?,
            changes: from_json(&changes)?,
        });
    }
    Ok(out)
}

fn setting_json(value: &SettingValue) -> Result<String> {
    to_json(value)
}

fn load_realm(tx: &Transaction<'_>, id: RealmId) -> Result<Realm> {
    let data: Option<String> = tx
        .query_row("SELECT data FROM realms WHERE id = ?1", [id.0], |r| {
            r.get(0)
        })
        .optional()
        .map_err(db_error)?;
    from_json(&data.ok_or_else(|| corrupt(format!("realm {id} is missing")))?)
}

fn save_realm(tx: &Transaction<'_>, realm: &Realm) -> Result<()> {
    tx.execute(
        "UPDATE realms SET name = ?2, data = ?3 WHERE id = ?1",
        params![realm.id.0, realm.name, to_json(realm)?],
    )
    .map_err(db_error)?;
    Ok(())
}

/// Append commits to the log and apply them to the tables. Work that many
/// commits of one batch share is done once: a group's `updated_at` is written
/// once (its last value) and each realm's version moves once.
pub fn persist_all(tx: &Transaction<'_>, commits: &[Commit]) -> Result<()> {
    let versions = version_spans(commits)?;
    let mut touched: BTreeMap<GroupId, i64> = BTreeMap::new();
    for commit in commits {
        apply_commit(tx, commit, &mut touched)?;
        tx.prepare_cached(
            "INSERT INTO changes (realm_id, version, at, actor, changes) VALUES (?1, ?2, ?3, ?4, ?5)",
        )
        .and_then(|mut s| {
            s.execute(params![
                commit.realm.0,
                commit.version as i64,
                commit.at,
                to_json(&commit.actor).map_err(to_sql)?,
                to_json(&commit.changes).map_err(to_sql)?,
            ])
        })
        .map_err(db_error)?;
    }
    for (group, at) in touched {
        let updated = tx
            .prepare_cached("UPDATE groups SET updated_at = ?2 WHERE id = ?1")
            .and_then(|mut s| s.execute(params![group.0, at]))
            .map_err(db_error)?;
        if updated != 1 {
            return Err(corrupt(format!("group {group} is missing")));
        }
    }
    for (realm, (before, after)) in versions {
        let moved = tx
            .prepare_cached("UPDATE realms SET version = ?2 WHERE id = ?1 AND version = ?3")
            .and_then(|mut s| s.execute(params![realm.0, after as i64, before as i64]))
            .map_err(db_error)?;
        if moved != 1 {
            return Err(corrupt(format!(
                "realm {realm} is not at version {before} in the database"
            )));
        }
    }
    Ok(())
}

/// One commit's changes as row updates; `touched` collects the groups whose
/// `updated_at` moves (written once per batch by `persist_all`).
fn apply_commit(
    tx: &Transaction<'_>,
    commit: &Commit,
    touched: &mut BTreeMap<GroupId, i64>,
) -> Result<()> {
    let at = commit.at;
    for change in &commit.changes {
        match change {
            Change::RealmCreated { realm } => {
                tx.execute(
                    "INSERT INTO realms (id, name, version, created_at, data) VALUES (?1, ?2, 0, ?3, ?4)",
                    params![realm.id.0, realm.name, realm.created_at, to_json(realm)?],
                )
                .map_err(db_error)?;
            }
            Change::RealmUpdated { patch } => {
                let mut realm = load_realm(tx, commit.realm)?;
                patch.apply_to(&mut realm);
                save_realm(tx, &realm)?;
            }
            Change::RealmSettingChanged { setting, value } => {
                let mut realm = load_realm(tx, commit.realm)?;
                realm.settings[setting.index()] = value.clone();
                save_realm(tx, &realm)?;
            }
            Change::UserCreated { user } => {
                tx.prepare_cached(
                    "INSERT INTO users (id, realm_id, key, email, full_name, avatar_url, role, is_bot,
                        bot_owner_id, active, can_create_users, api_key_hash, date_joined, updated_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
                )
                .and_then(|mut s| {
                    s.execute(params![
                        user.id.0,
                        commit.realm.0,
                        &*user.key,
                        user.email.as_deref(),
                        user.full_name,
                        user.avatar_url,
                        user.role.code(),
                        user.is_bot,
                        user.bot_owner.map(|u| u.0),
                        user.active,
                        user.can_create_users,
                        user.api_key.to_hex(),
                        user.date_joined,
                        at,
                    ])
                })
                .map_err(db_error)?;
            }
            Change::UserUpdated { id, patch } => {
                let mut sets: Vec<(&str, rusqlite::types::Value)> = Vec::new();
                use rusqlite::types::Value;
                if let Some(email) = &patch.email {
                    sets.push(("email", Value::Text(email.clone())));
                }
                if let Some(name) = &patch.full_name {
                    sets.push(("full_name", Value::Text(name.clone())));
                }
                if let Some(avatar) = &patch.avatar_url {
                    sets.push((
                        "avatar_url",
                        avatar.clone().map(Value::Text).unwrap_or(Value::Null),
                    ));
                }
                if let Some(role) = patch.role {
                    sets.push(("role", Value::Integer(i64::from(role.code()))));
                }
                if let Some(active) = patch.active {
                    sets.push(("active", Value::Integer(i64::from(active))));
                }
                if let Some(key) = patch.api_key {
                    sets.push(("api_key_hash", Value::Text(key.to_hex())));
                }
                if let Some(flag) = patch.can_create_users {
                    sets.push(("can_create_users", Value::Integer(i64::from(flag))));
                }
                sets.push(("updated_at", Value::Integer(at)));
                update_row(tx, "users", id.0, &sets)?;
            }
            Change::GroupCreated { group } => {
                tx.prepare_cached(
                    "INSERT INTO groups (id, realm_id, key, name, description, avatar_url, system_kind,
                        deactivated, creator_id, created_at, updated_at, can_add_members_group,
                        can_join_group, can_leave_group, can_manage_group, can_mention_group,
                        can_remove_members_group)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)",
                )
                .and_then(|mut s| {
                    s.execute(params![
                        group.id.0,
                        commit.realm.0,
                        &*group.key,
                        &*group.name,
                        group.description,
                        group.avatar_url,
                        system_kind(group.system).map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))?,
                        group.deactivated,
                        group.creator.map(|u| u.0),
                        group.created_at,
                        at,
                        setting_json(&group.settings[0]).map_err(to_sql)?,
                        setting_json(&group.settings[1]).map_err(to_sql)?,
                        setting_json(&group.settings[2]).map_err(to_sql)?,
                        setting_json(&group.settings[3]).map_err(to_sql)?,
                        setting_json(&group.settings[4]).map_err(to_sql)?,
                        setting_json(&group.settings[5]).map_err(to_sql)?,
                    ])
                })
                .map_err(db_error)?;
                insert_members(tx, group.id, &group.members)?;
                insert_subgroups(tx, group.id, &group.subgroups)?;
            }
            Change::GroupUpdated { id, patch } => {
                use rusqlite::types::Value;
                let mut sets: Vec<(&str, Value)> = Vec::new();
                if let Some(name) = &patch.name {
                    sets.push(("name", Value::Text(name.clone())));
                }
                if let Some(description) = &patch.description {
                    sets.push(("description", Value::Text(description.clone())));
                }
                if let Some(avatar) = &patch.avatar_url {
                    sets.push((
                        "avatar_url",
                        avatar.clone().map(Value::Text).unwrap_or(Value::Null),
                    ));
                }
                if let Some(flag) = patch.deactivated {
                    sets.push(("deactivated", Value::Integer(i64::from(flag))));
                }
                sets.push(("updated_at", Value::Integer(at)));
                update_row(tx, "groups", id.0, &sets)?;
            }
            Change::GroupSettingChanged { id, setting, value } => {
                let sets = [
                    (
                        setting_column(*setting),
                        rusqlite::types::Value::Text(setting_json(value)?),
                    ),
                    ("updated_at", rusqlite::types::Value::Integer(at)),
                ];
                update_row(tx, "groups", id.0, &sets)?;
            }
            Change::GroupDeleted { id } => {
                let parents: Vec<i64> = {
                    let mut stmt = tx
                        .prepare_cached(
                            "SELECT group_id FROM group_subgroups WHERE subgroup_id = ?1",
                        )
                        .map_err(db_error)?;
                    let rows = stmt.query_map([id.0], |r| r.get(0)).map_err(db_error)?;
                    rows.collect::<std::result::Result<_, _>>()
                        .map_err(db_error)?
                };
                tx.execute("DELETE FROM group_members WHERE group_id = ?1", [id.0])
                    .map_err(db_error)?;
                tx.execute(
                    "DELETE FROM group_subgroups WHERE group_id = ?1 OR subgroup_id = ?1",
                    [id.0],
                )
                .map_err(db_error)?;
                tx.execute("DELETE FROM groups WHERE id = ?1", [id.0])
                    .map_err(db_error)?;
                // Gone: no `updated_at` to write for it any more.
                touched.remove(id);
                for parent in parents {
                    touched.insert(GroupId(parent), at);
                }
            }
            Change::MembersAdded { group, users } => {
                insert_members(tx, *group, users)?;
                touched.insert(*group, at);
            }
            Change::MembersRemoved { group, users } => {
                let mut stmt = tx
                    .prepare_cached(
                        "DELETE FROM group_members WHERE group_id = ?1 AND user_id = ?2",
                    )
                    .map_err(db_error)?;
                for user in users {
                    stmt.execute(params![group.0, user.0]).map_err(db_error)?;
                }
                touched.insert(*group, at);
            }
            Change::SubgroupsAdded { group, subgroups } => {
                insert_subgroups(tx, *group, subgroups)?;
                touched.insert(*group, at);
            }
            Change::SubgroupsRemoved { group, subgroups } => {
                let mut stmt = tx
                    .prepare_cached(
                        "DELETE FROM group_subgroups WHERE group_id = ?1 AND subgroup_id = ?2",
                    )
                    .map_err(db_error)?;
                for sub in subgroups {
                    stmt.execute(params![group.0, sub.0]).map_err(db_error)?;
                }
                touched.insert(*group, at);
            }
        }
    }
    Ok(())
}

fn to_sql(err: StoreError) -> rusqlite::Error {
    rusqlite::Error::ToSqlConversionFailure(Box::new(err))
}

fn setting_column(setting: GroupSetting) -> &'static str {
    // Column names equal the setting names (see the schema).
    setting.name()
}

/// `UPDATE table SET a = ?, b = ? WHERE id = ?`; column names come from this
/// module, never from input.
fn update_row(
    tx: &Transaction<'_>,
    table: &str,
    id: i64,
    sets: &[(&str, rusqlite::types::Value)],
) -> Result<()> {
    let assignments: Vec<String> = sets
        .iter()
        .enumerate()
        .map(|(i, (column, _))| format!("{column} = ?{}", i + 2))
        .collect();
    let sql = format!(
        "UPDATE {table} SET {} WHERE id = ?1",
        assignments.join(", ")
    );
    let mut values: Vec<rusqlite::types::Value> = vec![rusqlite::types::Value::Integer(id)];
    values.extend(sets.iter().map(|(_, v)| v.clone()));
    let updated = tx
        .prepare_cached(&sql)
        .and_then(|mut s| s.execute(rusqlite::params_from_iter(values)))
        .map_err(db_error)?;
    if updated != 1 {
        return Err(corrupt(format!("{table} row {id} is missing")));
    }
    Ok(())
}

fn insert_members(tx: &Transaction<'_>, group: GroupId, users: &[UserId]) -> Result<()> {
    let mut stmt = tx
        .prepare_cached("INSERT OR IGNORE INTO group_members (group_id, user_id) VALUES (?1, ?2)")
        .map_err(db_error)?;
    for user in users {
        stmt.execute(params![group.0, user.0]).map_err(db_error)?;
    }
    Ok(())
}

fn insert_subgroups(tx: &Transaction<'_>, group: GroupId, subgroups: &[GroupId]) -> Result<()> {
    let mut stmt = tx
        .prepare_cached(
            "INSERT OR IGNORE INTO group_subgroups (group_id, subgroup_id) VALUES (?1, ?2)",
        )
        .map_err(db_error)?;
    for sub in subgroups {
        stmt.execute(params![group.0, sub.0]).map_err(db_error)?;
    }
    Ok(())
}
