//! SQLite's dialect of the row mapping (shared pieces in `columns`): each
//! `Change` as row updates. `persist` must leave the tables exactly as
//! `Snapshot::apply` leaves memory; the parity suite checks that they agree.

use super::db_error;
use crate::columns::{
    self, corrupt, from_json, origin_columns, to_json, version_spans, CommitRow, Edges, GroupRow,
    UserRow, Value, COMMIT_READ_COLUMNS, GROUP_COLUMNS, USER_COLUMNS, USER_READ_COLUMNS,
};
use crate::{Result, StoreError};
use cohort_core::change::{Change, Commit};
use cohort_core::model::{Group, Realm, User};
use cohort_core::{GroupId, RealmId, Snapshot, UserId, Version};
use rusqlite::{params, OptionalExtension, Transaction};
use std::collections::{BTreeMap, HashMap};

fn placeholder(n: usize) -> String {
    format!("?{n}")
}

fn sql_value(value: Value) -> rusqlite::types::Value {
    use rusqlite::types::Value as V;
    match value {
        Value::Text(text) => V::Text(text),
        Value::NullableText(text) => text.map(V::Text).unwrap_or(V::Null),
        Value::Int(n) => V::Integer(n),
        Value::NullableInt(n) => n.map(V::Integer).unwrap_or(V::Null),
        Value::Bool(flag) => V::Integer(i64::from(flag)),
    }
}

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
            .prepare(&columns::select_sql("users", USER_READ_COLUMNS))
            .map_err(db_error)?;
        let mut rows = stmt.query([]).map_err(db_error)?;
        while let Some(row) = rows.next().map_err(db_error)? {
            let (realm, user) = UserRow {
                id: row.get(0).map_err(db_error)?,
                realm: row.get(1).map_err(db_error)?,
                key: row.get(2).map_err(db_error)?,
                email: row.get(3).map_err(db_error)?,
                full_name: row.get(4).map_err(db_error)?,
                avatar_url: row.get(5).map_err(db_error)?,
                role: row.get(6).map_err(db_error)?,
                is_bot: row.get(7).map_err(db_error)?,
                bot_owner: row.get(8).map_err(db_error)?,
                active: row.get(9).map_err(db_error)?,
                can_create_users: row.get(10).map_err(db_error)?,
                api_key_hash: row.get(11).map_err(db_error)?,
                date_joined: row.get(12).map_err(db_error)?,
                updated_at: row.get(13).map_err(db_error)?,
                profile: row.get(14).map_err(db_error)?,
            }
            .into_user()?;
            users.entry(realm).or_default().push(user);
        }
    }
    let mut edges = Edges::default();
    {
        let mut stmt = tx
            .prepare("SELECT group_id, user_id FROM group_members ORDER BY group_id, user_id")
            .map_err(db_error)?;
        let mut rows = stmt.query([]).map_err(db_error)?;
        while let Some(row) = rows.next().map_err(db_error)? {
            edges.member(row.get(0).map_err(db_error)?, row.get(1).map_err(db_error)?);
        }
    }
    {
        let mut stmt = tx
            .prepare(
                "SELECT group_id, subgroup_id FROM group_subgroups ORDER BY group_id, subgroup_id",
            )
            .map_err(db_error)?;
        let mut rows = stmt.query([]).map_err(db_error)?;
        while let Some(row) = rows.next().map_err(db_error)? {
            edges.subgroup(row.get(0).map_err(db_error)?, row.get(1).map_err(db_error)?);
        }
    }
    let mut groups: HashMap<RealmId, Vec<Group>> = HashMap::new();
    {
        let mut stmt = tx
            .prepare(&columns::select_sql("groups", GROUP_COLUMNS))
            .map_err(db_error)?;
        let mut rows = stmt.query([]).map_err(db_error)?;
        while let Some(row) = rows.next().map_err(db_error)? {
            let mut settings: [String; 6] = Default::default();
            for (i, setting) in settings.iter_mut().enumerate() {
                *setting = row.get(11 + i).map_err(db_error)?;
            }
            let (realm, group) = GroupRow {
                id: row.get(0).map_err(db_error)?,
                realm: row.get(1).map_err(db_error)?,
                key: row.get(2).map_err(db_error)?,
                name: row.get(3).map_err(db_error)?,
                description: row.get(4).map_err(db_error)?,
                avatar_url: row.get(5).map_err(db_error)?,
                system_kind: row.get(6).map_err(db_error)?,
                deactivated: row.get(7).map_err(db_error)?,
                creator: row.get(8).map_err(db_error)?,
                created_at: row.get(9).map_err(db_error)?,
                updated_at: row.get(10).map_err(db_error)?,
                settings,
                external_id: row.get(17).map_err(db_error)?,
            }
            .into_group(&mut edges)?;
            groups.entry(realm).or_default().push(group);
        }
    }
    crate::assemble(realms, users, groups)
}

/// Migration step: `users.email_key` from `users.email` (see `columns::email_key`).
pub fn backfill_email_keys(tx: &Transaction<'_>) -> Result<()> {
    let emails: Vec<(i64, String)> = {
        let mut stmt = tx
            .prepare("SELECT id, email FROM users WHERE email IS NOT NULL")
            .map_err(db_error)?;
        let rows = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .map_err(db_error)?;
        rows.collect::<std::result::Result<_, _>>()
            .map_err(db_error)?
    };
    let mut stmt = tx
        .prepare("UPDATE users SET email_key = ?2 WHERE id = ?1")
        .map_err(db_error)?;
    for (id, email) in emails {
        stmt.execute(params![id, columns::email_key(Some(&email))])
            .map_err(db_error)?;
    }
    Ok(())
}

pub fn commits(
    tx: &Transaction<'_>,
    realm: RealmId,
    after: Version,
    up_to: Option<Version>,
) -> Result<Vec<Commit>> {
    let up_to = up_to.map(|v| v as i64).unwrap_or(i64::MAX);
    let mut stmt = tx
        .prepare_cached(&format!(
            "SELECT {COMMIT_READ_COLUMNS} FROM changes
             WHERE realm_id = ?1 AND version > ?2 AND version <= ?3 ORDER BY version"
        ))
        .map_err(db_error)?;
    let mut rows = stmt
        .query(params![realm.0, after as i64, up_to])
        .map_err(db_error)?;
    let mut out = Vec::new();
    while let Some(row) = rows.next().map_err(db_error)? {
        out.push(commit_row(row)?.into_commit(realm)?);
    }
    Ok(out)
}

/// Versions looked up per statement by `commits_at`: one cached statement of
/// this many placeholders (a short last chunk repeats its last version).
const AT_CHUNK: usize = 100;

/// A realm's commits with exactly these versions (missing ones skipped),
/// oldest first.
pub fn commits_at(
    tx: &Transaction<'_>,
    realm: RealmId,
    mut versions: Vec<Version>,
) -> Result<Vec<Commit>> {
    versions.sort_unstable();
    versions.dedup();
    let placeholders: Vec<String> = (2..AT_CHUNK + 2).map(placeholder).collect();
    let sql = format!(
        "SELECT {COMMIT_READ_COLUMNS} FROM changes
         WHERE realm_id = ?1 AND version IN ({}) ORDER BY version",
        placeholders.join(", ")
    );
    let mut stmt = tx.prepare_cached(&sql).map_err(db_error)?;
    let mut out = Vec::with_capacity(versions.len());
    for chunk in versions.chunks(AT_CHUNK) {
        let last = chunk[chunk.len() - 1];
        let mut bound: Vec<i64> = Vec::with_capacity(AT_CHUNK + 1);
        bound.push(realm.0);
        bound.extend(chunk.iter().map(|&v| v as i64));
        bound.resize(AT_CHUNK + 1, last as i64);
        let mut rows = stmt
            .query(rusqlite::params_from_iter(bound))
            .map_err(db_error)?;
        while let Some(row) = rows.next().map_err(db_error)? {
            out.push(commit_row(row)?.into_commit(realm)?);
        }
    }
    Ok(out)
}

fn commit_row(row: &rusqlite::Row<'_>) -> Result<CommitRow> {
    Ok(CommitRow {
        version: row.get(0).map_err(db_error)?,
        at: row.get(1).map_err(db_error)?,
        actor: row.get(2).map_err(db_error)?,
        changes: row.get(3).map_err(db_error)?,
        face: row.get(4).map_err(db_error)?,
        request_id: row.get(5).map_err(db_error)?,
        client: row.get(6).map_err(db_error)?,
    })
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
        let (face, request_id, client) = origin_columns(&commit.origin);
        // Literal SQL (the columns of `COMMIT_COLUMNS`): built once per
        // commit, a `format!` would cost an allocation on the hot path.
        tx.prepare_cached(
            "INSERT INTO changes (realm_id, version, at, actor, changes, face, request_id, client_addr)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        )
        .and_then(|mut s| {
            s.execute(params![
                commit.realm.0,
                commit.version as i64,
                commit.at,
                to_json(&commit.actor).map_err(to_sql)?,
                to_json(&commit.changes).map_err(to_sql)?,
                face,
                request_id,
                client,
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
            Change::TokenCreated { .. }
            | Change::TokenRevoked { .. }
            | Change::WebhookCreated { .. }
            | Change::WebhookUpdated { .. }
            | Change::WebhookSecretRotated { .. }
            | Change::WebhookRemoved { .. } => {
                let mut realm = load_realm(tx, commit.realm)?;
                cohort_core::change::apply_realm_record_change(&mut realm, change, at);
                save_realm(tx, &realm)?;
                if let Change::WebhookCreated { webhook } = change {
                    // Its deliveries start after the commit that made it.
                    tx.execute(
                        "INSERT INTO webhook_state (webhook_id, realm_id, enqueued_through)
                         VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING",
                        params![webhook.id.0, commit.realm.0, commit.version as i64],
                    )
                    .map_err(db_error)?;
                }
            }
            Change::UserCreated { user } => {
                insert_row(
                    tx,
                    "users",
                    USER_COLUMNS,
                    UserRow::values(commit.realm, user, at)?,
                )?;
            }
            Change::UserUpdated { id, patch } => {
                update_row(tx, "users", id.0, columns::user_patch(patch, at)?)?;
            }
            Change::GroupCreated { group } => {
                insert_row(
                    tx,
                    "groups",
                    GROUP_COLUMNS,
                    GroupRow::values(commit.realm, group, at)?,
                )?;
                insert_members(tx, group.id, &group.members)?;
                insert_subgroups(tx, group.id, &group.subgroups)?;
            }
            // A group edited after an edge change in the same batch keeps the
            // later time: the batch's final `updated_at` is the last one.
            Change::GroupUpdated { id, patch } => {
                update_row(tx, "groups", id.0, columns::group_patch(patch, at))?;
                if touched.contains_key(id) {
                    touched.insert(*id, at);
                }
            }
            Change::GroupSettingChanged { id, setting, value } => {
                update_row(
                    tx,
                    "groups",
                    id.0,
                    columns::group_setting(*setting, value, at)?,
                )?;
                if touched.contains_key(id) {
                    touched.insert(*id, at);
                }
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
            // `Store::prune` deletes and keeps in the same transaction.
            Change::LogPruned { .. } => {}
        }
    }
    Ok(())
}

fn to_sql(err: StoreError) -> rusqlite::Error {
    rusqlite::Error::ToSqlConversionFailure(Box::new(err))
}

fn insert_row(tx: &Transaction<'_>, table: &str, names: &[&str], values: Vec<Value>) -> Result<()> {
    tx.prepare_cached(&columns::insert_sql(table, names, placeholder))
        .and_then(|mut s| {
            s.execute(rusqlite::params_from_iter(
                values.into_iter().map(sql_value),
            ))
        })
        .map_err(db_error)?;
    Ok(())
}

/// `UPDATE table SET … WHERE id = ?1`, which must find its row.
fn update_row(
    tx: &Transaction<'_>,
    table: &str,
    id: i64,
    sets: Vec<(&'static str, Value)>,
) -> Result<()> {
    let names: Vec<&str> = sets.iter().map(|(name, _)| *name).collect();
    let sql = columns::update_sql(table, &names, placeholder);
    let mut values = vec![rusqlite::types::Value::Integer(id)];
    values.extend(sets.into_iter().map(|(_, v)| sql_value(v)));
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
