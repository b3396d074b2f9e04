//! Mapping between PostgreSQL rows and the core's records, and each `Change`
//! as row updates; the twin of `sqlite/rows.rs` (same tables, same meaning).

use super::pg_error;
use crate::{Result, StoreError};
use cohort_core::change::{Change, Commit};
use cohort_core::model::{Group, GroupSetting, Realm, Role, SettingValue, SystemGroup, User};
use cohort_core::{Actor, GroupId, KeyHash, RealmId, Snapshot, UserId, Version};
use std::collections::HashMap;
use std::sync::Arc;
use tokio_postgres::types::ToSql;
use tokio_postgres::Transaction;

fn corrupt(what: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(what.to_string())
}

fn to_json<T: serde::Serialize>(value: &T) -> Result<String> {
    serde_json::to_string(value).map_err(|e| StoreError::Other(e.to_string()))
}

fn from_json<T: serde::de::DeserializeOwned>(text: &str) -> Result<T> {
    serde_json::from_str(text).map_err(corrupt)
}

fn system_kind(which: Option<SystemGroup>) -> Result<Option<String>> {
    which
        .map(|w| to_json(&w).map(|s| s.trim_matches('"').to_string()))
        .transpose()
}

pub async fn load_all(tx: &Transaction<'_>) -> Result<Vec<Snapshot>> {
    let mut realms = Vec::new();
    for row in tx
        .query("SELECT version, data FROM realms ORDER BY id", &[])
        .await
        .map_err(pg_error)?
    {
        let data: String = row.get(1);
        realms.push((from_json::<Realm>(&data)?, row.get::<_, i64>(0) as Version));
    }
    let mut users: HashMap<RealmId, Vec<User>> = HashMap::new();
    for row in tx
        .query(
            "SELECT id, realm_id, key, email, full_name, avatar_url, role, is_bot, bot_owner_id,
                    active, can_create_users, api_key_hash, date_joined, updated_at
             FROM users ORDER BY id",
            &[],
        )
        .await
        .map_err(pg_error)?
    {
        let role: i64 = row.get(6);
        let hash: String = row.get(11);
        let user = User {
            id: UserId(row.get(0)),
            key: Arc::from(row.get::<_, String>(2)),
            email: row.get::<_, Option<String>>(3).map(Arc::from),
            full_name: row.get(4),
            avatar_url: row.get(5),
            role: Role::from_code(role).ok_or_else(|| corrupt(format!("unknown role {role}")))?,
            is_bot: row.get(7),
            bot_owner: row.get::<_, Option<i64>>(8).map(UserId),
            active: row.get(9),
            can_create_users: row.get(10),
            api_key: KeyHash::from_hex(&hash).ok_or_else(|| corrupt("bad api key hash"))?,
            date_joined: row.get(12),
            updated_at: row.get(13),
        };
        users.entry(RealmId(row.get(1))).or_default().push(user);
    }
    let mut members: HashMap<GroupId, Vec<UserId>> = HashMap::new();
    for row in tx
        .query(
            "SELECT group_id, user_id FROM group_members ORDER BY group_id, user_id",
            &[],
        )
        .await
        .map_err(pg_error)?
    {
        members
            .entry(GroupId(row.get(0)))
            .or_default()
            .push(UserId(row.get(1)));
    }
    let mut subgroups: HashMap<GroupId, Vec<GroupId>> = HashMap::new();
    for row in tx
        .query(
            "SELECT group_id, subgroup_id FROM group_subgroups ORDER BY group_id, subgroup_id",
            &[],
        )
        .await
        .map_err(pg_error)?
    {
        subgroups
            .entry(GroupId(row.get(0)))
            .or_default()
            .push(GroupId(row.get(1)));
    }
    let mut groups: HashMap<RealmId, Vec<Group>> = HashMap::new();
    for row in tx
        .query(
            "SELECT id, realm_id, key, name, description, avatar_url, system_kind, deactivated,
                    creator_id, created_at, updated_at, can_add_members_group, can_join_group,
                    can_leave_group, can_manage_group, can_mention_group, can_remove_members_group
             FROM groups ORDER BY id",
            &[],
        )
        .await
        .map_err(pg_error)?
    {
        let id = GroupId(row.get(0));
        let system: Option<String> = row.get(6);
        let system: Option<SystemGroup> =
            system.map(|s| from_json(&format!("\"{s}\""))).transpose()?;
        let mut settings = Vec::with_capacity(6);
        for column in 11..17 {
            let text: String = row.get(column);
            settings.push(from_json::<SettingValue>(&text)?);
        }
        let settings: [SettingValue; 6] =
            settings.try_into().map_err(|_| corrupt("group settings"))?;
        let group = Group {
            id,
            key: Arc::from(row.get::<_, String>(2)),
            name: Arc::from(row.get::<_, String>(3)),
            description: row.get(4),
            avatar_url: row.get(5),
            system,
            deactivated: row.get(7),
            creator: row.get::<_, Option<i64>>(8).map(UserId),
            created_at: row.get(9),
            updated_at: row.get(10),
            settings,
            members: members.remove(&id).unwrap_or_default(),
            subgroups: subgroups.remove(&id).unwrap_or_default(),
        };
        groups.entry(RealmId(row.get(1))).or_default().push(group);
    }
    crate::assemble(realms, users, groups)
}

pub async fn commits(
    tx: &Transaction<'_>,
    realm: RealmId,
    after: Version,
    up_to: Option<Version>,
) -> Result<Vec<Commit>> {
    let up_to = up_to.map(|v| v as i64).unwrap_or(i64::MAX);
    let rows = tx
        .query(
            "SELECT version, at, actor, changes FROM changes
             WHERE realm_id = $1 AND version > $2 AND version <= $3 ORDER BY version",
            &[&realm.0, &(after as i64), &up_to],
        )
        .await
        .map_err(pg_error)?;
    rows.iter()
        .map(|row| {
            let actor: String = row.get(2);
            let changes: String = row.get(3);
            Ok(Commit {
                realm,
                version: row.get::<_, i64>(0) as Version,
                at: row.get(1),
                actor: from_json::<Actor>(&actor)?,
                changes: from_json(&changes)?,
            })
        })
        .collect()
}

type Param = Box<dyn ToSql + Sync + Send>;

/// `UPDATE table SET a = $2, … WHERE id = $1`; column names come from this
/// module, never from input.
async fn update_row(
    tx: &Transaction<'_>,
    table: &str,
    id: i64,
    sets: Vec<(&str, Param)>,
) -> Result<()> {
    let assignments: Vec<String> = sets
        .iter()
        .enumerate()
        .map(|(i, (column, _))| format!("{column} = ${}", i + 2))
        .collect();
    let sql = format!(
        "UPDATE {table} SET {} WHERE id = $1",
        assignments.join(", ")
    );
    let mut params: Vec<&(dyn ToSql + Sync)> = vec![&id];
    for (_, value) in &sets {
        params.push(value.as_ref() as &(dyn ToSql + Sync));
    }
    let updated = tx.execute(sql.as_str(), &params).await.map_err(pg_error)?;
    if updated != 1 {
        return Err(corrupt(format!("{table} row {id} is missing")));
    }
    Ok(())
}

async fn touch_group(tx: &Transaction<'_>, group: GroupId, at: i64) -> Result<()> {
    update_row(tx, "groups", group.0, vec![("updated_at", Box::new(at))]).await
}

async fn load_realm(tx: &Transaction<'_>, id: RealmId) -> Result<Realm> {
    let row = tx
        .query_opt("SELECT data FROM realms WHERE id = $1", &[&id.0])
        .await
        .map_err(pg_error)?
        .ok_or_else(|| corrupt(format!("realm {id} is missing")))?;
    from_json(&row.get::<_, String>(0))
}

async fn save_realm(tx: &Transaction<'_>, realm: &Realm) -> Result<()> {
    tx.execute(
        "UPDATE realms SET name = $2, data = $3 WHERE id = $1",
        &[&realm.id.0, &realm.name, &to_json(realm)?],
    )
    .await
    .map_err(pg_error)?;
    Ok(())
}

async fn insert_members(tx: &Transaction<'_>, group: GroupId, users: &[UserId]) -> Result<()> {
    if users.is_empty() {
        return Ok(());
    }
    let ids: Vec<i64> = users.iter().map(|u| u.0).collect();
    tx.execute(
        "INSERT INTO group_members (group_id, user_id) SELECT $1, unnest($2::bigint[]) ON CONFLICT DO NOTHING",
        &[&group.0, &ids],
    )
    .await
    .map_err(pg_error)?;
    Ok(())
}

async fn insert_subgroups(
    tx: &Transaction<'_>,
    group: GroupId,
    subgroups: &[GroupId],
) -> Result<()> {
    if subgroups.is_empty() {
        return Ok(());
    }
    let ids: Vec<i64> = subgroups.iter().map(|g| g.0).collect();
    tx.execute(
        "INSERT INTO group_subgroups (group_id, subgroup_id) SELECT $1, unnest($2::bigint[]) ON CONFLICT DO NOTHING",
        &[&group.0, &ids],
    )
    .await
    .map_err(pg_error)?;
    Ok(())
}

/// Append a commit to the log and apply it to the tables.
pub async fn persist(tx: &Transaction<'_>, commit: &Commit) -> Result<()> {
    let at = commit.at;
    for change in &commit.changes {
        match change {
            Change::RealmCreated { realm } => {
                tx.execute(
                    "INSERT INTO realms (id, name, version, created_at, data) VALUES ($1, $2, 0, $3, $4)",
                    &[&realm.id.0, &realm.name, &realm.created_at, &to_json(realm)?],
                )
                .await
                .map_err(pg_error)?;
            }
            Change::RealmUpdated { patch } => {
                let mut realm = load_realm(tx, commit.realm).await?;
                patch.apply_to(&mut realm);
                save_realm(tx, &realm).await?;
            }
            Change::RealmSettingChanged { setting, value } => {
                let mut realm = load_realm(tx, commit.realm).await?;
                realm.settings[setting.index()] = value.clone();
                save_realm(tx, &realm).await?;
            }
            Change::UserCreated { user } => {
                let role = i64::from(user.role.code());
                tx.execute(
                    "INSERT INTO users (id, realm_id, key, email, full_name, avatar_url, role, is_bot,
                        bot_owner_id, active, can_create_users, api_key_hash, date_joined, updated_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
                    &[
                        &user.id.0,
                        &commit.realm.0,
                        &&*user.key,
                        &user.email.as_deref(),
                        &user.full_name,
                        &user.avatar_url,
                        &role,
                        &user.is_bot,
                        &user.bot_owner.map(|u| u.0),
                        &user.active,
                        &user.can_create_users,
                        &user.api_key.to_hex(),
                        &user.date_joined,
                        &at,
                    ],
                )
                .await
                .map_err(pg_error)?;
            }
            Change::UserUpdated { id, patch } => {
                let mut sets: Vec<(&str, Param)> = Vec::new();
                if let Some(email) = &patch.email {
                    sets.push(("email", Box::new(Some(email.clone()))));
                }
                if let Some(name) = &patch.full_name {
                    sets.push(("full_name", Box::new(name.clone())));
                }
                if let Some(avatar) = &patch.avatar_url {
                    sets.push(("avatar_url", Box::new(avatar.clone())));
                }
                if let Some(role) = patch.role {
                    sets.push(("role", Box::new(i64::from(role.code()))));
                }
                if let Some(active) = patch.active {
                    sets.push(("active", Box::new(active)));
                }
                if let Some(key) = patch.api_key {
                    sets.push(("api_key_hash", Box::new(key.to_hex())));
                }
                if let Some(flag) = patch.can_create_users {
                    sets.push(("can_create_users", Box::new(flag)));
                }
                sets.push(("updated_at", Box::new(at)));
                update_row(tx, "users", id.0, sets).await?;
            }
            Change::GroupCreated { group } => {
                let settings: Vec<String> =
                    group.settings.iter().map(to_json).collect::<Result<_>>()?;
                tx.execute(
                    "INSERT INTO groups (id, realm_id, key, name, description, avatar_url, system_kind,
                        deactivated, creator_id, created_at, updated_at, can_add_members_group,
                        can_join_group, can_leave_group, can_manage_group, can_mention_group,
                        can_remove_members_group)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)",
                    &[
                        &group.id.0,
                        &commit.realm.0,
                        &&*group.key,
                        &&*group.name,
                        &group.description,
                        &group.avatar_url,
                        &system_kind(group.system)?,
                        &group.deactivated,
                        &group.creator.map(|u| u.0),
                        &group.created_at,
                        &at,
                        &settings[0],
                        &settings[1],
                        &settings[2],
                        &settings[3],
                        &settings[4],
                        &settings[5],
                    ],
                )
                .await
                .map_err(pg_error)?;
                insert_members(tx, group.id, &group.members).await?;
                insert_subgroups(tx, group.id, &group.subgroups).await?;
            }
            Change::GroupUpdated { id, patch } => {
                let mut sets: Vec<(&str, Param)> = Vec::new();
                if let Some(name) = &patch.name {
                    sets.push(("name", Box::new(name.clone())));
                }
                if let Some(description) = &patch.description {
                    sets.push(("description", Box::new(description.clone())));
                }
                if let Some(avatar) = &patch.avatar_url {
                    sets.push(("avatar_url", Box::new(avatar.clone())));
                }
                if let Some(flag) = patch.deactivated {
                    sets.push(("deactivated", Box::new(flag)));
                }
                sets.push(("updated_at", Box::new(at)));
                update_row(tx, "groups", id.0, sets).await?;
            }
            Change::GroupSettingChanged { id, setting, value } => {
                let column: &str = GroupSetting::name(*setting);
                update_row(
                    tx,
                    "groups",
                    id.0,
                    vec![
                        (column, Box::new(to_json(value)?)),
                        ("updated_at", Box::new(at)),
                    ],
                )
                .await?;
            }
            Change::GroupDeleted { id } => {
                let parents: Vec<i64> = tx
                    .query(
                        "SELECT group_id FROM group_subgroups WHERE subgroup_id = $1",
                        &[&id.0],
                    )
                    .await
                    .map_err(pg_error)?
                    .iter()
                    .map(|r| r.get(0))
                    .collect();
                tx.execute("DELETE FROM group_members WHERE group_id = $1", &[&id.0])
                    .await
                    .map_err(pg_error)?;
                tx.execute(
                    "DELETE FROM group_subgroups WHERE group_id = $1 OR subgroup_id = $1",
                    &[&id.0],
                )
                .await
                .map_err(pg_error)?;
                tx.execute("DELETE FROM groups WHERE id = $1", &[&id.0])
                    .await
                    .map_err(pg_error)?;
                for parent in parents {
                    touch_group(tx, GroupId(parent), at).await?;
                }
            }
            Change::MembersAdded { group, users } => {
                insert_members(tx, *group, users).await?;
                touch_group(tx, *group, at).await?;
            }
            Change::MembersRemoved { group, users } => {
                let ids: Vec<i64> = users.iter().map(|u| u.0).collect();
                tx.execute(
                    "DELETE FROM group_members WHERE group_id = $1 AND user_id = ANY($2)",
                    &[&group.0, &ids],
                )
                .await
                .map_err(pg_error)?;
                touch_group(tx, *group, at).await?;
            }
            Change::SubgroupsAdded { group, subgroups } => {
                insert_subgroups(tx, *group, subgroups).await?;
                touch_group(tx, *group, at).await?;
            }
            Change::SubgroupsRemoved { group, subgroups } => {
                let ids: Vec<i64> = subgroups.iter().map(|g| g.0).collect();
                tx.execute(
                    "DELETE FROM group_subgroups WHERE group_id = $1 AND subgroup_id = ANY($2)",
                    &[&group.0, &ids],
                )
                .await
                .map_err(pg_error)?;
                touch_group(tx, *group, at).await?;
            }
        }
    }
    tx.execute(
        "INSERT INTO changes (realm_id, version, at, actor, changes) VALUES ($1, $2, $3, $4, $5)",
        &[
            &commit.realm.0,
            &(commit.version as i64),
            &at,
            &to_json(&commit.actor)?,
            &to_json(&commit.changes)?,
        ],
    )
    .await
    .map_err(pg_error)?;
    let moved = tx
        .execute(
            "UPDATE realms SET version = $2 WHERE id = $1 AND version = $3",
            &[
                &commit.realm.0,
                &(commit.version as i64),
                &(commit.version as i64 - 1),
            ],
        )
        .await
        .map_err(pg_error)?;
    if moved != 1 {
        return Err(corrupt(format!(
            "realm {} is not at version {} in the database",
            commit.realm,
            commit.version - 1
        )));
    }
    Ok(())
}
