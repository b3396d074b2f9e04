//! Mapping between PostgreSQL rows and the core's records, and each `Change`
//! as row updates; the twin of `sqlite/rows.rs` (same tables, same meaning).

use super::pg_error;
use crate::columns::{corrupt, from_json, system_kind, to_json, version_spans};
use crate::Result;
use cohort_core::change::{Change, Commit};
use cohort_core::model::{Group, GroupSetting, Realm, Role, SettingValue, SystemGroup, User};
use cohort_core::{Actor, GroupId, KeyHash, RealmId, Snapshot, UserId, Version};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use tokio_postgres::types::ToSql;
use tokio_postgres::Transaction;

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

/// A queued statement: SQL, parameters, and the rows it must touch (with what
/// it means if it does not), when that is checked.
type Queued = (String, Vec<Param>, Option<(u64, String)>);

/// Statements queued for one round trip: tokio-postgres pipelines queries
/// that are in flight together on one connection, so a batch of commits costs
/// a few round trips instead of several per change.
pub struct Pipeline<'t> {
    /// The pool's transaction type, for its per-connection statement cache.
    tx: &'t deadpool_postgres::Transaction<'t>,
    queued: Vec<Queued>,
    /// Membership edges changed in this batch: (subgroup edge?, group,
    /// member) → present afterwards. Only the net effect reaches the tables,
    /// in two statements, however many commits added and removed.
    edges: BTreeMap<(bool, i64, i64), bool>,
}

impl<'t> Pipeline<'t> {
    pub fn new(tx: &'t deadpool_postgres::Transaction<'t>) -> Pipeline<'t> {
        Pipeline {
            tx,
            queued: Vec::new(),
            edges: BTreeMap::new(),
        }
    }

    fn push(&mut self, sql: impl Into<String>, params: Vec<Param>) {
        self.queued.push((sql.into(), params, None));
    }

    /// Queue a statement that must touch exactly `rows` rows (else: corrupt).
    fn push_checked(
        &mut self,
        sql: impl Into<String>,
        params: Vec<Param>,
        rows: u64,
        what: String,
    ) {
        self.queued.push((sql.into(), params, Some((rows, what))));
    }

    /// Send everything queued and wait for all of it.
    pub async fn flush(&mut self) -> Result<()> {
        if self.queued.is_empty() {
            return Ok(());
        }
        let queued = std::mem::take(&mut self.queued);
        let tx = self.tx;
        // Each distinct statement is prepared once per flush (all in one round
        // trip), then every execution goes out in the next.
        let mut distinct: Vec<&str> = queued.iter().map(|(sql, _, _)| sql.as_str()).collect();
        distinct.sort_unstable();
        distinct.dedup();
        let prepared =
            futures_util::future::try_join_all(distinct.iter().map(|sql| tx.prepare_cached(sql)))
                .await
                .map_err(pg_error)?;
        let by_sql: HashMap<&str, &tokio_postgres::Statement> =
            distinct.iter().copied().zip(&prepared).collect();
        let statements: Vec<&tokio_postgres::Statement> = queued
            .iter()
            .map(|(sql, _, _)| by_sql[sql.as_str()])
            .collect();
        let results = futures_util::future::try_join_all(queued.iter().zip(statements).map(
            |((_, params, _), statement)| {
                let params: Vec<&(dyn ToSql + Sync)> = params
                    .iter()
                    .map(|p| p.as_ref() as &(dyn ToSql + Sync))
                    .collect();
                async move { tx.execute(statement, &params).await }
            },
        ))
        .await
        .map_err(pg_error)?;
        for ((_, _, check), touched) in queued.iter().zip(results) {
            if let Some((rows, what)) = check {
                if touched != *rows {
                    return Err(corrupt(what));
                }
            }
        }
        Ok(())
    }

    /// Queue `UPDATE table SET a = $2, … WHERE id = $1` (column names come from
    /// this module, never from input).
    fn update_row(&mut self, table: &str, id: i64, sets: Vec<(&str, Param)>) {
        let assignments: Vec<String> = sets
            .iter()
            .enumerate()
            .map(|(i, (column, _))| format!("{column} = ${}", i + 2))
            .collect();
        let sql = format!(
            "UPDATE {table} SET {} WHERE id = $1",
            assignments.join(", ")
        );
        let mut params: Vec<Param> = vec![Box::new(id)];
        params.extend(sets.into_iter().map(|(_, value)| value));
        self.push_checked(sql, params, 1, format!("{table} row {id} is missing"));
    }

    fn insert_members(&mut self, group: GroupId, users: &[UserId]) {
        if !users.is_empty() {
            let ids: Vec<i64> = users.iter().map(|u| u.0).collect();
            self.push(
                "INSERT INTO group_members (group_id, user_id) SELECT $1, unnest($2::bigint[]) ON CONFLICT DO NOTHING",
                vec![Box::new(group.0), Box::new(ids)],
            );
        }
    }

    fn insert_subgroups(&mut self, group: GroupId, subgroups: &[GroupId]) {
        if !subgroups.is_empty() {
            let ids: Vec<i64> = subgroups.iter().map(|g| g.0).collect();
            self.push(
                "INSERT INTO group_subgroups (group_id, subgroup_id) SELECT $1, unnest($2::bigint[]) ON CONFLICT DO NOTHING",
                vec![Box::new(group.0), Box::new(ids)],
            );
        }
    }

    /// Read-modify-write of the realm record (rare: settings and keys); runs
    /// after everything queued before it.
    async fn change_realm(&mut self, id: RealmId, change: impl FnOnce(&mut Realm)) -> Result<()> {
        self.flush().await?;
        let row = self
            .tx
            .query_opt("SELECT data FROM realms WHERE id = $1", &[&id.0])
            .await
            .map_err(pg_error)?
            .ok_or_else(|| corrupt(format!("realm {id} is missing")))?;
        let mut realm: Realm = from_json(&row.get::<_, String>(0))?;
        change(&mut realm);
        self.push(
            "UPDATE realms SET name = $2, data = $3 WHERE id = $1",
            vec![
                Box::new(realm.id.0),
                Box::new(realm.name.clone()),
                Box::new(to_json(&realm)?),
            ],
        );
        Ok(())
    }

    /// The net membership changes of the batch: at most four statements.
    fn write_edges(&mut self) {
        let edges = std::mem::take(&mut self.edges);
        for subgroup in [false, true] {
            let (table, column) = if subgroup {
                ("group_subgroups", "subgroup_id")
            } else {
                ("group_members", "user_id")
            };
            for present in [true, false] {
                let (groups, members): (Vec<i64>, Vec<i64>) = edges
                    .iter()
                    .filter(|((s, _, _), p)| *s == subgroup && **p == present)
                    .map(|((_, g, m), _)| (*g, *m))
                    .unzip();
                if groups.is_empty() {
                    continue;
                }
                let sql = if present {
                    format!(
                        "INSERT INTO {table} (group_id, {column})
                         SELECT * FROM unnest($1::bigint[], $2::bigint[]) ON CONFLICT DO NOTHING"
                    )
                } else {
                    format!(
                        "DELETE FROM {table} t USING unnest($1::bigint[], $2::bigint[]) AS d(g, m)
                         WHERE t.group_id = d.g AND t.{column} = d.m"
                    )
                };
                self.push(sql, vec![Box::new(groups), Box::new(members)]);
            }
        }
    }

    /// Queue `NOTIFY channel, payload` (sent when the transaction commits).
    pub fn notify(&mut self, channel: &str, payload: String) {
        self.push(
            "SELECT pg_notify($1, $2)",
            vec![Box::new(channel.to_string()), Box::new(payload)],
        );
    }

    /// Queue commits: their changes to the tables, their log rows, and the
    /// realms' versions. Work the commits share is done once: a group's
    /// `updated_at` is written once (its last value), the log rows go in one
    /// statement, each realm's version moves once.
    pub async fn persist_all(&mut self, commits: &[Commit]) -> Result<()> {
        let versions = version_spans(commits)?;
        let mut touched: BTreeMap<GroupId, i64> = BTreeMap::new();
        for commit in commits {
            self.apply_commit(commit, &mut touched).await?;
        }
        if !commits.is_empty() {
            let mut realms = Vec::with_capacity(commits.len());
            let mut numbers = Vec::with_capacity(commits.len());
            let mut times = Vec::with_capacity(commits.len());
            let mut actors = Vec::with_capacity(commits.len());
            let mut bodies = Vec::with_capacity(commits.len());
            for commit in commits {
                realms.push(commit.realm.0);
                numbers.push(commit.version as i64);
                times.push(commit.at);
                actors.push(to_json(&commit.actor)?);
                bodies.push(to_json(&commit.changes)?);
            }
            self.push(
                "INSERT INTO changes (realm_id, version, at, actor, changes)
                 SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::text[], $5::text[])",
                vec![Box::new(realms), Box::new(numbers), Box::new(times), Box::new(actors), Box::new(bodies)],
            );
        }
        self.write_edges();
        for (group, at) in touched {
            self.update_row("groups", group.0, vec![("updated_at", Box::new(at))]);
        }
        for (realm, (before, after)) in versions {
            self.push_checked(
                "UPDATE realms SET version = $2 WHERE id = $1 AND version = $3",
                vec![
                    Box::new(realm.0),
                    Box::new(after as i64),
                    Box::new(before as i64),
                ],
                1,
                format!("realm {realm} is not at version {before} in the database"),
            );
        }
        Ok(())
    }

    /// One commit's changes as queued row updates; `touched` collects the
    /// groups whose `updated_at` moves.
    async fn apply_commit(
        &mut self,
        commit: &Commit,
        touched: &mut BTreeMap<GroupId, i64>,
    ) -> Result<()> {
        let at = commit.at;
        for change in &commit.changes {
            match change {
                Change::RealmCreated { realm } => self.push(
                    "INSERT INTO realms (id, name, version, created_at, data) VALUES ($1, $2, 0, $3, $4)",
                    vec![
                        Box::new(realm.id.0),
                        Box::new(realm.name.clone()),
                        Box::new(realm.created_at),
                        Box::new(to_json(realm)?),
                    ],
                ),
                Change::RealmUpdated { patch } => self.change_realm(commit.realm, |r| patch.apply_to(r)).await?,
                Change::RealmSettingChanged { setting, value } => {
                    let value = value.clone();
                    self.change_realm(commit.realm, |r| r.settings[setting.index()] = value).await?
                }
                Change::UserCreated { user } => self.push(
                    "INSERT INTO users (id, realm_id, key, email, full_name, avatar_url, role, is_bot,
                        bot_owner_id, active, can_create_users, api_key_hash, date_joined, updated_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
                    vec![
                        Box::new(user.id.0),
                        Box::new(commit.realm.0),
                        Box::new(user.key.to_string()),
                        Box::new(user.email.as_deref().map(str::to_string)),
                        Box::new(user.full_name.clone()),
                        Box::new(user.avatar_url.clone()),
                        Box::new(i64::from(user.role.code())),
                        Box::new(user.is_bot),
                        Box::new(user.bot_owner.map(|u| u.0)),
                        Box::new(user.active),
                        Box::new(user.can_create_users),
                        Box::new(user.api_key.to_hex()),
                        Box::new(user.date_joined),
                        Box::new(at),
                    ],
                ),
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
                    self.update_row("users", id.0, sets);
                }
                Change::GroupCreated { group } => {
                    let mut params: Vec<Param> = vec![
                        Box::new(group.id.0),
                        Box::new(commit.realm.0),
                        Box::new(group.key.to_string()),
                        Box::new(group.name.to_string()),
                        Box::new(group.description.clone()),
                        Box::new(group.avatar_url.clone()),
                        Box::new(system_kind(group.system)?),
                        Box::new(group.deactivated),
                        Box::new(group.creator.map(|u| u.0)),
                        Box::new(group.created_at),
                        Box::new(at),
                    ];
                    for setting in &group.settings {
                        params.push(Box::new(to_json(setting)?));
                    }
                    self.push(
                        "INSERT INTO groups (id, realm_id, key, name, description, avatar_url, system_kind,
                            deactivated, creator_id, created_at, updated_at, can_add_members_group,
                            can_join_group, can_leave_group, can_manage_group, can_mention_group,
                            can_remove_members_group)
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)",
                        params,
                    );
                    self.insert_members(group.id, &group.members);
                    self.insert_subgroups(group.id, &group.subgroups);
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
                    self.update_row("groups", id.0, sets);
                }
                Change::GroupSettingChanged { id, setting, value } => {
                    let column: &str = GroupSetting::name(*setting);
                    self.update_row(
                        "groups",
                        id.0,
                        vec![(column, Box::new(to_json(value)?)), ("updated_at", Box::new(at))],
                    );
                }
                Change::GroupDeleted { id } => {
                    // Parents of the deleted group get a new updated_at (rare: a read).
                    self.flush().await?;
                    let parents = self
                        .tx
                        .query("SELECT group_id FROM group_subgroups WHERE subgroup_id = $1", &[&id.0])
                        .await
                        .map_err(pg_error)?;
                    for parent in parents {
                        touched.insert(GroupId(parent.get(0)), at);
                    }
                    touched.remove(id);
                    // Its pending edges go with it.
                    self.edges.retain(|(subgroup, group, member), _| *group != id.0 && !(*subgroup && *member == id.0));
                    self.push("DELETE FROM group_members WHERE group_id = $1", vec![Box::new(id.0)]);
                    self.push(
                        "DELETE FROM group_subgroups WHERE group_id = $1 OR subgroup_id = $1",
                        vec![Box::new(id.0)],
                    );
                    self.push_checked(
                        "DELETE FROM groups WHERE id = $1",
                        vec![Box::new(id.0)],
                        1,
                        format!("group {id} is missing"),
                    );
                }
                Change::MembersAdded { group, users } | Change::MembersRemoved { group, users } => {
                    let present = matches!(change, Change::MembersAdded { .. });
                    for user in users {
                        self.edges.insert((false, group.0, user.0), present);
                    }
                    touched.insert(*group, at);
                }
                Change::SubgroupsAdded { group, subgroups } | Change::SubgroupsRemoved { group, subgroups } => {
                    let present = matches!(change, Change::SubgroupsAdded { .. });
                    for sub in subgroups {
                        self.edges.insert((true, group.0, sub.0), present);
                    }
                    touched.insert(*group, at);
                }
            }
        }
        // Keep a bound on what is held in memory.
        if self.queued.len() >= 2_000 {
            self.flush().await?;
        }
        Ok(())
    }
}
