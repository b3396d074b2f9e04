//! The PostgreSQL store, for several `cohort serve` nodes on one database.
//!
//! Serialisation: a write transaction locks each realm it touches with
//! `SELECT … FOR UPDATE` on the realm's row (in realm-id order, so two batches
//! cannot deadlock), reads the commits other nodes made since its snapshot,
//! runs the jobs, persists, and `NOTIFY`s the new versions; notifications are
//! delivered only if the transaction commits. Every node `LISTEN`s (see
//! `watch`) and catches up from the change log.
//!
//! Failure: connections come from a pool with short timeouts, and every
//! statement has a time limit, so an unreachable database fails writes in a
//! couple of seconds instead of hanging them.

mod rows;
mod schema;
mod sessions;
mod webhooks;

use crate::columns::{behind, checkpoint_from_row, checkpoint_state, now_millis};
use crate::migrations::{self, Step};
use crate::sessions::{LoginLink, Redeemed, Session};
use crate::webhooks::{AttemptOutcome, Delivery, DeliveryLog, DeliveryState, EventKey};
use crate::{BoxFuture, Checkpoint, Counts, Job, Notify, Result, Store, StoreError, Target};
use cohort_core::{Commit, KeyHash, Millis, RealmId, Snapshot, TokenId, Version, WebhookId};
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use std::sync::Mutex;
use std::time::Duration;
use tokio_postgres::error::SqlState;
use tokio_postgres::{AsyncMessage, NoTls};

/// The channel commits are announced on.
const CHANNEL: &str = "cohort_commits";
/// How long a caller waits for a connection before the write fails (503).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// Per-statement limit on every pooled connection.
const STATEMENT_TIMEOUT_MS: u64 = 5_000;

pub struct PgStore {
    pool: Pool,
    config: tokio_postgres::Config,
    /// The LISTEN task, stopped when the store goes.
    listener: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

pub fn known_schema_version() -> i64 {
    migrations::known(schema::MIGRATIONS)
}

/// Connection trouble, timeouts, lock waits, serialisation failures, a
/// server that is short of a resource (class 53: a full disk, memory,
/// connections), shutting down or restarting (57P01-57P03), failing I/O
/// (58030) or read-only (25006: a standby, `default_transaction_read_only`)
/// are "unavailable" (retry later, nothing was written); anything else is
/// a bug.
pub(crate) fn pg_error(err: tokio_postgres::Error) -> StoreError {
    let Some(db) = err.as_db_error() else {
        // Not the server's answer: a lost connection or I/O trouble is
        // transient; anything else (a parameter that cannot be encoded) is ours.
        let mut source = std::error::Error::source(&err);
        let mut io = false;
        while let Some(cause) = source {
            io |= cause.is::<std::io::Error>();
            source = cause.source();
        }
        return if err.is_closed() || io {
            StoreError::Unavailable(err.to_string())
        } else {
            StoreError::Other(err.to_string())
        };
    };
    let code = db.code();
    let transient = code == &SqlState::QUERY_CANCELED
        || code == &SqlState::LOCK_NOT_AVAILABLE
        || code == &SqlState::T_R_SERIALIZATION_FAILURE
        || code == &SqlState::T_R_DEADLOCK_DETECTED
        || code == &SqlState::ADMIN_SHUTDOWN
        || code == &SqlState::CRASH_SHUTDOWN
        || code == &SqlState::CANNOT_CONNECT_NOW
        || code == &SqlState::IO_ERROR
        || code == &SqlState::READ_ONLY_SQL_TRANSACTION
        || code.code().starts_with("53")
        || code.code().starts_with("08");
    if transient {
        StoreError::Unavailable(db.to_string())
    } else {
        StoreError::Other(db.to_string())
    }
}

fn pool_error(err: deadpool_postgres::PoolError) -> StoreError {
    StoreError::Unavailable(format!("no database connection: {err}"))
}

impl PgStore {
    /// Connect. With `migrate`, bring the schema up to date first; without it,
    /// refuse a schema that is older or newer than this build knows.
    pub async fn open(url: &str, display: String, migrate: bool) -> Result<PgStore> {
        let mut config: tokio_postgres::Config = url
            .parse()
            .map_err(|e| StoreError::Other(format!("bad PostgreSQL URL {display}: {e}")))?;
        config.connect_timeout(CONNECT_TIMEOUT);
        config.options(format!(
            "-c statement_timeout={STATEMENT_TIMEOUT_MS} -c lock_timeout={STATEMENT_TIMEOUT_MS} \
             -c idle_in_transaction_session_timeout=30000"
        ));
        config.application_name("cohort");
        let manager = Manager::from_config(
            config.clone(),
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(16)
            .wait_timeout(Some(CONNECT_TIMEOUT))
            .create_timeout(Some(CONNECT_TIMEOUT))
            .recycle_timeout(Some(CONNECT_TIMEOUT))
            .runtime(Runtime::Tokio1)
            .build()
            .map_err(|e| StoreError::Other(format!("cannot build the connection pool: {e}")))?;
        let store = PgStore {
            pool,
            config,
            listener: Mutex::new(None),
        };
        if migrate {
            store.migrate().await?;
        } else {
            migrations::require_current(schema::MIGRATIONS, store.schema_version().await?)?;
        }
        Ok(store)
    }

    async fn schema_version(&self) -> Result<i64> {
        let client = self.pool.get().await.map_err(pool_error)?;
        let exists: bool = client
            .query_one("SELECT to_regclass('schema_migrations') IS NOT NULL", &[])
            .await
            .map_err(pg_error)?
            .get(0);
        if !exists {
            return Ok(0);
        }
        client
            .query_one(
                "SELECT COALESCE(MAX(version), 0) FROM schema_migrations",
                &[],
            )
            .await
            .map(|row| row.get(0))
            .map_err(pg_error)
    }

    /// Apply pending migrations, all in one transaction; returns how many ran.
    /// Safe to run from several nodes at once: the transaction first takes an
    /// advisory lock, so one migrates while the others wait, then find
    /// nothing left to do.
    pub async fn migrate(&self) -> Result<usize> {
        let mut client = self.pool.get().await.map_err(pool_error)?;
        let mut applied = 0;
        let tx = client.transaction().await.map_err(pg_error)?;
        tx.batch_execute(
            "SELECT pg_advisory_xact_lock(727079);
             CREATE TABLE IF NOT EXISTS schema_migrations (
                 version    BIGINT PRIMARY KEY,
                 name       TEXT   NOT NULL,
                 applied_at BIGINT NOT NULL
             );",
        )
        .await
        .map_err(pg_error)?;
        let current: i64 = tx
            .query_one(
                "SELECT COALESCE(MAX(version), 0) FROM schema_migrations",
                &[],
            )
            .await
            .map_err(pg_error)?
            .get(0);
        for migration in migrations::pending(schema::MIGRATIONS, current)? {
            for step in migration.steps {
                match step {
                    Step::Sql(sql) => tx.batch_execute(sql).await.map_err(pg_error)?,
                    Step::BackfillEmailKeys => rows::backfill_email_keys(&tx).await?,
                }
            }
            tx.execute(
                "INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)",
                &[&migration.version, &migration.name, &now_millis()],
            )
            .await
            .map_err(pg_error)?;
            tracing::info!(
                version = migration.version,
                name = migration.name,
                "applied PostgreSQL migration"
            );
            applied += 1;
        }
        tx.commit().await.map_err(pg_error)?;
        Ok(applied)
    }
}

impl Drop for PgStore {
    fn drop(&mut self) {
        if let Some(task) = self.listener.lock().ok().and_then(|mut l| l.take()) {
            task.abort();
        }
    }
}

/// Run the jobs inside `tx`, announcing each realm's new version.
async fn write_jobs(tx: &deadpool_postgres::Transaction<'_>, jobs: &mut [Job]) -> Result<()> {
    for job in jobs.iter_mut() {
        let behind = match job.target() {
            Target::Realm { id, known } => {
                let row = tx
                    .query_opt(
                        "SELECT version FROM realms WHERE id = $1 FOR UPDATE",
                        &[&id.0],
                    )
                    .await
                    .map_err(pg_error)?
                    .ok_or_else(|| {
                        StoreError::Corrupt(format!("realm {id} is not in the database"))
                    })?;
                match behind(id, row.get::<_, i64>(0) as Version, known)? {
                    Some((after, up_to)) => rows::commits(tx, id, after, Some(up_to)).await?,
                    None => Vec::new(),
                }
            }
            Target::NewRealm => Vec::new(),
        };
        let wanted = job.ids_needed() as i64;
        let ids: Vec<i64> = if wanted == 0 {
            Vec::new()
        } else {
            tx.query(
                "SELECT nextval('ids') FROM generate_series(1, $1::bigint)",
                &[&wanted],
            )
            .await
            .map_err(pg_error)?
            .iter()
            .map(|row| row.get(0))
            .collect()
        };
        let commits = job.run(behind, ids);
        // All of a job's statements, and its announcement, in one round trip.
        let mut pipeline = rows::Pipeline::new(tx);
        pipeline.persist_all(&commits).await?;
        if let Some(last) = commits.last() {
            pipeline.notify(CHANNEL, format!("{}:{}", last.realm.0, last.version));
        }
        pipeline.flush().await?;
    }
    Ok(())
}

impl Store for PgStore {
    fn load(&self) -> BoxFuture<'_, Result<Vec<Snapshot>>> {
        Box::pin(async move {
            let mut client = self.pool.get().await.map_err(pool_error)?;
            // One consistent view of every table.
            let tx = client
                .build_transaction()
                .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
                .read_only(true)
                .start()
                .await
                .map_err(pg_error)?;
            let snapshots = rows::load_all(&tx).await?;
            tx.commit().await.map_err(pg_error)?;
            Ok(snapshots)
        })
    }

    fn write(&self, jobs: Vec<Job>) -> BoxFuture<'_, (Vec<Job>, Result<()>)> {
        Box::pin(async move {
            let mut jobs = jobs;
            let result = async {
                let mut client = self.pool.get().await.map_err(pool_error)?;
                let tx = client.transaction().await.map_err(pg_error)?;
                write_jobs(&tx, &mut jobs).await?;
                tx.commit().await.map_err(pg_error)
            }
            .await;
            (jobs, result)
        })
    }

    fn commits(
        &self,
        realm: RealmId,
        after: Version,
        up_to: Option<Version>,
    ) -> BoxFuture<'_, Result<Vec<Commit>>> {
        Box::pin(async move {
            let mut client = self.pool.get().await.map_err(pool_error)?;
            let tx = client.transaction().await.map_err(pg_error)?;
            let commits = rows::commits(&tx, realm, after, up_to).await?;
            tx.commit().await.map_err(pg_error)?;
            Ok(commits)
        })
    }

    fn commits_at(
        &self,
        realm: RealmId,
        versions: Vec<Version>,
    ) -> BoxFuture<'_, Result<Vec<Commit>>> {
        Box::pin(async move {
            let mut client = self.pool.get().await.map_err(pool_error)?;
            let tx = client.transaction().await.map_err(pg_error)?;
            let commits = rows::commits_at(&tx, realm, versions).await?;
            tx.commit().await.map_err(pg_error)?;
            Ok(commits)
        })
    }

    fn checkpoint(&self, realm: RealmId) -> BoxFuture<'_, Result<Option<Checkpoint>>> {
        Box::pin(async move {
            let client = self.pool.get().await.map_err(pool_error)?;
            let row = client
                .query_opt(
                    "SELECT version, at, state FROM checkpoints WHERE realm_id = $1
                     ORDER BY version DESC LIMIT 1",
                    &[&realm.0],
                )
                .await
                .map_err(pg_error)?;
            row.map(|r| checkpoint_from_row(realm, r.get(0), r.get(1), r.get::<_, &str>(2)))
                .transpose()
        })
    }

    fn prune(&self, checkpoint: Checkpoint, record: Commit) -> BoxFuture<'_, Result<u64>> {
        Box::pin(async move {
            let state = checkpoint_state(&checkpoint.snapshot)?;
            let mut client = self.pool.get().await.map_err(pool_error)?;
            let tx = client.transaction().await.map_err(pg_error)?;
            let realm = checkpoint.realm.0;
            let version = checkpoint.version as i64;
            // The realm's row lock orders this against its writers.
            let current: i64 = tx
                .query_one(
                    "SELECT version FROM realms WHERE id = $1 FOR UPDATE",
                    &[&realm],
                )
                .await
                .map_err(pg_error)?
                .get(0);
            if version > current || record.version as i64 != current + 1 {
                return Err(StoreError::Other(format!(
                    "realm {realm} moved to version {current} while pruning; try again"
                )));
            }
            tx.execute(
                "INSERT INTO checkpoints (realm_id, version, at, state) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (realm_id, version) DO UPDATE SET at = EXCLUDED.at, state = EXCLUDED.state",
                &[&realm, &version, &checkpoint.at, &state],
            )
            .await
            .map_err(pg_error)?;
            let deleted = tx
                .execute(
                    "DELETE FROM changes WHERE realm_id = $1 AND version <= $2",
                    &[&realm, &version],
                )
                .await
                .map_err(pg_error)?;
            tx.execute(
                "DELETE FROM checkpoints WHERE realm_id = $1 AND version < $2",
                &[&realm, &version],
            )
            .await
            .map_err(pg_error)?;
            let mut pipeline = rows::Pipeline::new(&tx);
            pipeline.persist_all(&[record]).await?;
            pipeline.flush().await?;
            tx.commit().await.map_err(pg_error)?;
            Ok(deleted)
        })
    }

    fn versions(&self) -> BoxFuture<'_, Result<Vec<(RealmId, Version)>>> {
        Box::pin(async move {
            let client = self.pool.get().await.map_err(pool_error)?;
            let rows = client
                .query("SELECT id, version FROM realms ORDER BY id", &[])
                .await
                .map_err(pg_error)?;
            Ok(rows
                .iter()
                .map(|r| (RealmId(r.get(0)), r.get::<_, i64>(1) as Version))
                .collect())
        })
    }

    fn ping(&self) -> BoxFuture<'_, Result<()>> {
        Box::pin(async move {
            let client = self.pool.get().await.map_err(pool_error)?;
            client.query_one("SELECT 1", &[]).await.map_err(pg_error)?;
            Ok(())
        })
    }

    fn import(&self, commits: Vec<Commit>) -> BoxFuture<'_, Result<()>> {
        Box::pin(async move {
            let mut client = self.pool.get().await.map_err(pool_error)?;
            let tx = client.transaction().await.map_err(pg_error)?;
            let mut pipeline = rows::Pipeline::new(&tx);
            pipeline.persist_all(&commits).await?;
            pipeline.flush().await?;
            tx.commit().await.map_err(pg_error)
        })
    }

    fn next_id(&self) -> BoxFuture<'_, Result<i64>> {
        Box::pin(async move {
            let client = self.pool.get().await.map_err(pool_error)?;
            let row = client
                .query_one("SELECT last_value, is_called FROM ids", &[])
                .await
                .map_err(pg_error)?;
            let (last, called): (i64, bool) = (row.get(0), row.get(1));
            Ok(if called { last + 1 } else { last })
        })
    }

    fn advance_ids(&self, next: i64) -> BoxFuture<'_, Result<()>> {
        Box::pin(async move {
            if next > self.next_id().await? {
                let client = self.pool.get().await.map_err(pool_error)?;
                client
                    .execute("SELECT setval('ids', $1, false)", &[&next])
                    .await
                    .map_err(pg_error)?;
            }
            Ok(())
        })
    }

    fn counts(&self) -> BoxFuture<'_, Result<Counts>> {
        Box::pin(async move {
            let client = self.pool.get().await.map_err(pool_error)?;
            let row = client
                .query_one(
                    "SELECT (SELECT COUNT(*) FROM realms), (SELECT COUNT(*) FROM users),
                            (SELECT COUNT(*) FROM groups), (SELECT COUNT(*) FROM group_members),
                            (SELECT COUNT(*) FROM group_subgroups), (SELECT COUNT(*) FROM changes)",
                    &[],
                )
                .await
                .map_err(pg_error)?;
            Ok(Counts {
                realms: row.get(0),
                users: row.get(1),
                groups: row.get(2),
                members: row.get(3),
                subgroups: row.get(4),
                commits: row.get(5),
            })
        })
    }

    fn record_token_uses(
        &self,
        uses: Vec<(RealmId, TokenId, Millis)>,
    ) -> BoxFuture<'_, Result<()>> {
        Box::pin(async move {
            let client = self.pool.get().await.map_err(pool_error)?;
            for (realm, token, at) in uses {
                client
                    .execute(
                        "INSERT INTO token_uses (token_id, realm_id, last_used_at) VALUES ($1, $2, $3)
                         ON CONFLICT (token_id) DO UPDATE
                         SET last_used_at = GREATEST(token_uses.last_used_at, excluded.last_used_at)",
                        &[&token.0, &realm.0, &at],
                    )
                    .await
                    .map_err(pg_error)?;
            }
            Ok(())
        })
    }

    fn token_uses(&self, realm: RealmId) -> BoxFuture<'_, Result<Vec<(TokenId, Millis)>>> {
        Box::pin(async move {
            let client = self.pool.get().await.map_err(pool_error)?;
            let rows = client
                .query(
                    "SELECT token_id, last_used_at FROM token_uses WHERE realm_id = $1 ORDER BY token_id",
                    &[&realm.0],
                )
                .await
                .map_err(pg_error)?;
            Ok(rows.iter().map(|r| (TokenId(r.get(0)), r.get(1))).collect())
        })
    }

    fn webhook_cursor(&self, webhook: WebhookId) -> BoxFuture<'_, Result<Option<Version>>> {
        Box::pin(async move {
            let client = self.pool.get().await.map_err(pool_error)?;
            webhooks::cursor(&client, webhook).await
        })
    }

    fn enqueue_deliveries(
        &self,
        webhook: WebhookId,
        from: Version,
        to: Version,
        deliveries: Vec<Delivery>,
    ) -> BoxFuture<'_, Result<bool>> {
        Box::pin(async move {
            let mut client = self.pool.get().await.map_err(pool_error)?;
            webhooks::enqueue(&mut client, webhook, from, to, &deliveries).await
        })
    }

    fn claim_webhooks(
        &self,
        node: String,
        webhooks: Vec<WebhookId>,
        now: Millis,
        until: Millis,
    ) -> BoxFuture<'_, Result<Vec<WebhookId>>> {
        Box::pin(async move {
            let client = self.pool.get().await.map_err(pool_error)?;
            self::webhooks::claim(&client, &node, &webhooks, now, until).await
        })
    }

    fn release_webhooks(&self, node: String) -> BoxFuture<'_, Result<()>> {
        Box::pin(async move {
            let client = self.pool.get().await.map_err(pool_error)?;
            webhooks::release(&client, &node).await
        })
    }

    fn pending_deliveries(
        &self,
        webhook: WebhookId,
        limit: usize,
    ) -> BoxFuture<'_, Result<Vec<Delivery>>> {
        Box::pin(async move {
            let client = self.pool.get().await.map_err(pool_error)?;
            webhooks::pending(&client, webhook, limit).await
        })
    }

    fn record_attempts(&self, outcomes: Vec<AttemptOutcome>) -> BoxFuture<'_, Result<()>> {
        Box::pin(async move {
            let mut client = self.pool.get().await.map_err(pool_error)?;
            webhooks::record(&mut client, &outcomes).await
        })
    }

    fn delivery_log(
        &self,
        webhook: WebhookId,
        before: Option<EventKey>,
        limit: usize,
        state: Option<DeliveryState>,
    ) -> BoxFuture<'_, Result<DeliveryLog>> {
        Box::pin(async move {
            let mut client = self.pool.get().await.map_err(pool_error)?;
            webhooks::log(&mut client, webhook, before, limit, state).await
        })
    }

    fn requeue_deliveries(
        &self,
        deliveries: Vec<Delivery>,
        resend: bool,
        now: Millis,
    ) -> BoxFuture<'_, Result<u64>> {
        Box::pin(async move {
            let mut client = self.pool.get().await.map_err(pool_error)?;
            webhooks::requeue(&mut client, &deliveries, resend, now).await
        })
    }

    fn prune_deliveries(&self, before: Millis) -> BoxFuture<'_, Result<u64>> {
        Box::pin(async move {
            let client = self.pool.get().await.map_err(pool_error)?;
            webhooks::prune(&client, before).await
        })
    }

    fn create_login_link(&self, link: LoginLink) -> BoxFuture<'_, Result<()>> {
        Box::pin(async move {
            let client = self.pool.get().await.map_err(pool_error)?;
            sessions::create_link(&client, &link).await
        })
    }

    fn redeem_login_link(&self, hash: KeyHash, now: Millis) -> BoxFuture<'_, Result<Redeemed>> {
        Box::pin(async move {
            let client = self.pool.get().await.map_err(pool_error)?;
            sessions::redeem(&client, hash, now).await
        })
    }

    fn create_session(&self, session: Session) -> BoxFuture<'_, Result<()>> {
        Box::pin(async move {
            let client = self.pool.get().await.map_err(pool_error)?;
            sessions::create_session(&client, &session).await
        })
    }

    fn session(&self, hash: KeyHash, now: Millis) -> BoxFuture<'_, Result<Option<Session>>> {
        Box::pin(async move {
            let client = self.pool.get().await.map_err(pool_error)?;
            sessions::session(&client, hash, now).await
        })
    }

    fn end_session(&self, hash: KeyHash) -> BoxFuture<'_, Result<()>> {
        Box::pin(async move {
            let client = self.pool.get().await.map_err(pool_error)?;
            sessions::end_session(&client, hash).await
        })
    }

    fn prune_sign_ins(&self, before: Millis) -> BoxFuture<'_, Result<u64>> {
        Box::pin(async move {
            let client = self.pool.get().await.map_err(pool_error)?;
            sessions::prune(&client, before).await
        })
    }

    fn watch(&self, changed: Notify) {
        let config = self.config.clone();
        let task = tokio::spawn(listen(config, changed));
        if let Ok(mut listener) = self.listener.lock() {
            if let Some(old) = listener.replace(task) {
                old.abort();
            }
        }
    }
}

/// Keep a `LISTEN` connection open, reconnecting after failures. A lost
/// notification only delays an update: the engine also polls versions.
async fn listen(config: tokio_postgres::Config, changed: Notify) {
    loop {
        match config.connect(NoTls).await {
            Ok((client, mut connection)) => {
                let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
                let driver = tokio::spawn(async move {
                    while let Some(message) =
                        std::future::poll_fn(|cx| connection.poll_message(cx)).await
                    {
                        match message {
                            Ok(AsyncMessage::Notification(n)) => {
                                if tx.send(n.payload().to_string()).is_err() {
                                    return;
                                }
                            }
                            Ok(_) => {}
                            Err(err) => {
                                tracing::warn!(%err, "PostgreSQL notification connection failed");
                                return;
                            }
                        }
                    }
                });
                match client.batch_execute(&format!("LISTEN {CHANNEL}")).await {
                    Ok(()) => {
                        metrics::gauge!("cohort_postgres_listening").set(1.0);
                        tracing::info!("listening for other nodes' commits");
                        // Commits made before LISTEN took effect (at start-up,
                        // or while reconnecting) were announced to nobody:
                        // report every realm's version now, so the engine
                        // catches up without waiting for the next commit.
                        match client.query("SELECT id, version FROM realms", &[]).await {
                            Ok(rows) => {
                                for row in rows {
                                    changed(RealmId(row.get(0)), row.get::<_, i64>(1) as Version);
                                }
                            }
                            Err(err) => tracing::warn!(%err, "cannot read realm versions"),
                        }
                        while let Some(payload) = rx.recv().await {
                            let parsed = payload.split_once(':').and_then(|(r, v)| {
                                Some((RealmId(r.parse().ok()?), v.parse::<Version>().ok()?))
                            });
                            if let Some((realm, version)) = parsed {
                                changed(realm, version);
                            }
                        }
                    }
                    Err(err) => tracing::warn!(%err, "LISTEN failed"),
                }
                metrics::gauge!("cohort_postgres_listening").set(0.0);
                driver.abort();
            }
            Err(err) => tracing::warn!(%err, "cannot open the notification connection; retrying"),
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}
