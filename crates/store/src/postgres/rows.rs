//! PostgreSQL's dialect of the row mapping (shared pieces in `columns`): the
//! twin of `sqlite/rows.rs` (same tables, same meaning), with statements
//! pipelined so a batch costs a few round trips.

use super::pg_error;
use crate::columns::{
    self, corrupt, from_json, origin_columns, to_json, version_spans, CommitRow, Edges, GroupRow,
    UserRow, Value, COMMIT_COLUMNS, COMMIT_READ_COLUMNS, GROUP_COLUMNS, USER_COLUMNS,
    USER_READ_COLUMNS,
};
use crate::Result;
use cohort_core::change::{Change, Commit};
use cohort_core::model::{Group, Realm, User};
use cohort_core::{GroupId, RealmId, Snapshot, UserId, Version};
use std::collections::{BTreeMap, HashMap};
use tokio_postgres::types::ToSql;
use tokio_postgres::Transaction;

fn placeholder(n: usize) -> String {
    format!("${n}")
}

fn param(value: Value) -> Param {
    match value {
        Value::Text(text) => Box::new(text),
        Value::NullableText(text) => Box::new(text),
        Value::Int(n) => Box::new(n),
        Value::NullableInt(n) => Box::new(n),
        Value::Bool(flag) => Box::new(flag),
    }
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
        .query(&columns::select_sql("users", USER_READ_COLUMNS), &[])
        .await
        .map_err(pg_error)?
    {
        let (realm, user) = UserRow {
            id: row.get(0),
            realm: row.get(1),
            key: row.get(2),
            email: row.get(3),
            full_name: row.get(4),
            avatar_url: row.get(5),
            role: row.get(6),
            is_bot: row.get(7),
            bot_owner: row.get(8),
            active: row.get(9),
            can_create_users: row.get(10),
            api_key_hash: row.get(11),
            date_joined: row.get(12),
            updated_at: row.get(13),
            profile: row.get(14),
        }
        .into_user()?;
        users.entry(realm).or_default().push(user);
    }
    let mut edges = Edges::default();
    for row in tx
        .query(
            "SELECT group_id, user_id FROM group_members ORDER BY group_id, user_id",
            &[],
        )
        .await
        .map_err(pg_error)?
    {
        edges.member(row.get(0), row.get(1));
    }
    for row in tx
        .query(
            "SELECT group_id, subgroup_id FROM group_subgroups ORDER BY group_id, subgroup_id",
            &[],
        )
        .await
        .map_err(pg_error)?
    {
        edges.subgroup(row.get(0), row.get(1));
    }
    let mut groups: HashMap<RealmId, Vec<Group>> = HashMap::new();
    for row in tx
        .query(&columns::select_sql("groups", GROUP_COLUMNS), &[])
        .await
        .map_err(pg_error)?
    {
        let settings: [String; 6] = std::array::from_fn(|i| row.get(11 + i));
        let (realm, group) = GroupRow {
            id: row.get(0),
            realm: row.get(1),
            key: row.get(2),
            name: row.get(3),
            description: row.get(4),
            avatar_url: row.get(5),
            system_kind: row.get(6),
            deactivated: row.get(7),
            creator: row.get(8),
            created_at: row.get(9),
            updated_at: row.get(10),
            settings,
            external_id: row.get(17),
        }
        .into_group(&mut edges)?;
        groups.entry(realm).or_default().push(group);
    }
    crate::assemble(realms, users, groups)
}

/// Migration step: `users.email_key` from `users.email` (see `columns::email_key`).
pub async fn backfill_email_keys(tx: &Transaction<'_>) -> Result<()> {
    let rows = tx
        .query("SELECT id, email FROM users WHERE email IS NOT NULL", &[])
        .await
        .map_err(pg_error)?;
    let (ids, keys): (Vec<i64>, Vec<Option<String>>) = rows
        .iter()
        .map(|row| (row.get::<_, i64>(0), columns::email_key(Some(row.get(1)))))
        .unzip();
    tx.execute(
        "UPDATE users SET email_key = k.key FROM unnest($1::bigint[], $2::text[]) AS k(id, key)
         WHERE users.id = k.id",
        &[&ids, &keys],
    )
    .await
    .map_err(pg_error)?;
    Ok(())
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
            &format!(
                "SELECT {COMMIT_READ_COLUMNS} FROM changes
                 WHERE realm_id = $1 AND version > $2 AND version <= $3 ORDER BY version"
            ),
            &[&realm.0, &(after as i64), &up_to],
        )
        .await
        .map_err(pg_error)?;
    rows.iter()
        .map(|row| commit_row(row).into_commit(realm))
        .collect()
}

/// A realm's commits with exactly these versions (missing ones skipped),
/// oldest first: one statement, whatever the number.
pub async fn commits_at(
    tx: &Transaction<'_>,
    realm: RealmId,
    versions: Vec<Version>,
) -> Result<Vec<Commit>> {
    let versions: Vec<i64> = versions.into_iter().map(|v| v as i64).collect();
    let rows = tx
        .query(
            &format!(
                "SELECT {COMMIT_READ_COLUMNS} FROM changes
                 WHERE realm_id = $1 AND version = ANY($2::bigint[]) ORDER BY version"
            ),
            &[&realm.0, &versions],
        )
        .await
        .map_err(pg_error)?;
    rows.iter()
        .map(|row| commit_row(row).into_commit(realm))
        .collect()
}

fn commit_row(row: &tokio_postgres::Row) -> CommitRow {
    CommitRow {
        version: row.get(0),
        at: row.get(1),
        actor: row.get(2),
        changes: row.get(3),
        face: row.get(4),
        request_id: row.get(5),
        client: row.get(6),
    }
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

    /// Queue `UPDATE table SET … WHERE id = $1`, which must find its row.
    fn update_row(&mut self, table: &str, id: i64, sets: Vec<(&'static str, Value)>) {
        let names: Vec<&str> = sets.iter().map(|(name, _)| *name).collect();
        let sql = columns::update_sql(table, &names, placeholder);
        let mut params: Vec<Param> = vec![Box::new(id)];
        params.extend(sets.into_iter().map(|(_, value)| param(value)));
        self.push_checked(sql, params, 1, format!("{table} row {id} is missing"));
    }

    fn insert_row(&mut self, table: &str, names: &[&str], values: Vec<Value>) {
        self.push(
            columns::insert_sql(table, names, placeholder),
            values.into_iter().map(param).collect(),
        );
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
            let mut faces = Vec::with_capacity(commits.len());
            let mut request_ids = Vec::with_capacity(commits.len());
            let mut clients = Vec::with_capacity(commits.len());
            for commit in commits {
                realms.push(commit.realm.0);
                numbers.push(commit.version as i64);
                times.push(commit.at);
                actors.push(to_json(&commit.actor)?);
                bodies.push(to_json(&commit.changes)?);
                let (face, request_id, client) = origin_columns(&commit.origin);
                faces.push(face);
                request_ids.push(request_id.map(str::to_string));
                clients.push(client.map(str::to_string));
            }
            self.push(
                format!(
                    "INSERT INTO changes ({COMMIT_COLUMNS})
                     SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::text[],
                                          $5::text[], $6::text[], $7::text[], $8::text[])"
                ),
                vec![
                    Box::new(realms),
                    Box::new(numbers),
                    Box::new(times),
                    Box::new(actors),
                    Box::new(bodies),
                    Box::new(faces),
                    Box::new(request_ids),
                    Box::new(clients),
                ],
            );
        }
        self.write_edges();
        for (group, at) in touched {
            self.update_row("groups", group.0, vec![("updated_at", Value::Int(at))]);
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
                Change::TokenCreated { .. }
                | Change::TokenRevoked { .. }
                | Change::WebhookCreated { .. }
                | Change::WebhookUpdated { .. }
                | Change::WebhookSecretRotated { .. }
                | Change::WebhookRemoved { .. } => {
                    self.change_realm(commit.realm, |r| {
                        cohort_core::change::apply_realm_record_change(r, change, at)
                    })
                    .await?;
                    if let Change::WebhookCreated { webhook } = change {
                        // Its deliveries start after the commit that made it.
                        self.push(
                            "INSERT INTO webhook_state (webhook_id, realm_id, enqueued_through)
                             VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
                            vec![
                                Box::new(webhook.id.0),
                                Box::new(commit.realm.0),
                                Box::new(commit.version as i64),
                            ],
                        );
                    }
                }
                Change::UserCreated { user } => {
                    self.insert_row("users", USER_COLUMNS, UserRow::values(commit.realm, user, at)?)
                }
                Change::UserUpdated { id, patch } => {
                    self.update_row("users", id.0, columns::user_patch(patch, at)?)
                }
                Change::GroupCreated { group } => {
                    self.insert_row("groups", GROUP_COLUMNS, GroupRow::values(commit.realm, group, at)?);
                    self.insert_members(group.id, &group.members);
                    self.insert_subgroups(group.id, &group.subgroups);
                }
                // A group edited after an edge change in the same batch keeps
                // the later time: the batch's final `updated_at` is the last one.
                Change::GroupUpdated { id, patch } => {
                    self.update_row("groups", id.0, columns::group_patch(patch, at));
                    if touched.contains_key(id) {
                        touched.insert(*id, at);
                    }
                }
                Change::GroupSettingChanged { id, setting, value } => {
                    self.update_row("groups", id.0, columns::group_setting(*setting, value, at)?);
                    if touched.contains_key(id) {
                        touched.insert(*id, at);
                    }
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
                // `Store::prune` deletes and keeps in the same transaction.
                Change::LogPruned { .. } => {}
            }
        }
        // Keep a bound on what is held in memory.
        if self.queued.len() >= 2_000 {
            self.flush().await?;
        }
        Ok(())
    }
}
