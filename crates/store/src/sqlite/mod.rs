//! The embedded SQLite store: one file, WAL journal, `synchronous=FULL` so a
//! commit is on disk before a write is acknowledged.
//!
//! Concurrency: one writer connection behind a mutex, used from blocking
//! threads; `BEGIN IMMEDIATE` takes SQLite's write lock, which also serialises
//! cohort processes sharing the file (the CLI while a server runs). A second
//! connection serves reads (WAL lets them run beside the writer).

mod rows;
mod schema;
mod sessions;
mod webhooks;

use crate::columns::{behind, checkpoint_from_row, checkpoint_state, now_millis};
use crate::migrations::{self, Step};
use crate::sessions::{LoginLink, Redeemed, Session};
use crate::webhooks::{AttemptOutcome, Delivery, DeliveryLog, DeliveryState, EventKey};
use crate::{BoxFuture, Checkpoint, Counts, Job, Result, Store, StoreError, Target};
use cohort_core::{Commit, KeyHash, Millis, RealmId, Snapshot, TokenId, Version, WebhookId};
use rusqlite::{Connection, OpenFlags, OptionalExtension, TransactionBehavior};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

pub struct SqliteStore {
    path: PathBuf,
    writer: Arc<Mutex<Connection>>,
    reader: Arc<Mutex<Connection>>,
}

/// Highest schema version this build knows.
pub fn known_schema_version() -> i64 {
    migrations::known(schema::MIGRATIONS)
}

pub(crate) fn db_error(err: rusqlite::Error) -> StoreError {
    use rusqlite::ErrorCode::*;
    match err.sqlite_error_code() {
        Some(
            DatabaseBusy | DatabaseLocked | SystemIoFailure | DiskFull | CannotOpen | ReadOnly,
        ) => StoreError::Unavailable(err.to_string()),
        _ => StoreError::Other(err.to_string()),
    }
}

fn configure(conn: &Connection) -> Result<()> {
    conn.busy_timeout(std::time::Duration::from_secs(10))
        .map_err(db_error)?;
    conn.execute_batch(
        "PRAGMA journal_mode = WAL;
         PRAGMA synchronous = FULL;
         PRAGMA foreign_keys = ON;",
    )
    .map_err(db_error)
}

fn migrate(conn: &mut Connection) -> Result<()> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
             version    INTEGER PRIMARY KEY,
             name       TEXT    NOT NULL,
             applied_at INTEGER NOT NULL
         )",
    )
    .map_err(db_error)?;
    let current: i64 = conn
        .query_row(
            "SELECT COALESCE(MAX(version), 0) FROM schema_migrations",
            [],
            |r| r.get(0),
        )
        .map_err(db_error)?;
    for migration in migrations::pending(schema::MIGRATIONS, current)? {
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(db_error)?;
        for step in migration.steps {
            match step {
                Step::Sql(sql) => tx.execute_batch(sql).map_err(db_error)?,
                Step::BackfillEmailKeys => rows::backfill_email_keys(&tx)?,
            }
        }
        tx.execute(
            "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?1, ?2, ?3)",
            rusqlite::params![migration.version, migration.name, now_millis()],
        )
        .map_err(db_error)?;
        tx.commit().map_err(db_error)?;
        tracing::info!(
            version = migration.version,
            name = migration.name,
            "applied SQLite migration"
        );
    }
    Ok(())
}

async fn blocking<T: Send + 'static>(
    conn: &Arc<Mutex<Connection>>,
    work: impl FnOnce(&mut Connection) -> Result<T> + Send + 'static,
) -> Result<T> {
    let conn = conn.clone();
    tokio::task::spawn_blocking(move || {
        let mut guard = conn
            .lock()
            .map_err(|_| StoreError::Other("SQLite connection poisoned by a panic".into()))?;
        work(&mut guard)
    })
    .await
    .map_err(|e| StoreError::Other(format!("store task failed: {e}")))?
}

impl SqliteStore {
    /// Open (and migrate) the database at `path`. Without `create`, a missing file
    /// is an error rather than a new empty directory.
    pub async fn open(path: &Path, create: bool) -> Result<SqliteStore> {
        let path = path.to_path_buf();
        let opened = path.clone();
        let (writer, reader) = tokio::task::spawn_blocking(move || -> Result<(Connection, Connection)> {
            if !create && !opened.exists() {
                return Err(StoreError::Other(format!(
                    "no cohort database at {}; create one with `cohort init` (or `cohort serve --demo`)",
                    opened.display()
                )));
            }
            let mut flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
            if create {
                flags |= OpenFlags::SQLITE_OPEN_CREATE;
            }
            let mut writer = Connection::open_with_flags(&opened, flags).map_err(db_error)?;
            configure(&writer)?;
            migrate(&mut writer)?;
            let reader = Connection::open_with_flags(
                &opened,
                OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
            )
            .map_err(db_error)?;
            configure(&reader)?;
            Ok((writer, reader))
        })
        .await
        .map_err(|e| StoreError::Other(e.to_string()))??;
        Ok(SqliteStore {
            path,
            writer: Arc::new(Mutex::new(writer)),
            reader: Arc::new(Mutex::new(reader)),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Take `count` fresh ids from the shared counter.
fn reserve_ids(tx: &rusqlite::Transaction<'_>, count: usize) -> Result<Vec<i64>> {
    if count == 0 {
        return Ok(Vec::new());
    }
    let next: i64 = tx
        .query_row(
            "UPDATE ids SET next_id = next_id + ?1 WHERE singleton = 1 RETURNING next_id - ?1",
            [count as i64],
            |r| r.get(0),
        )
        .map_err(db_error)?;
    Ok((next..next + count as i64).collect())
}

fn stored_version(tx: &rusqlite::Transaction<'_>, realm: RealmId) -> Result<Version> {
    tx.query_row("SELECT version FROM realms WHERE id = ?1", [realm.0], |r| {
        r.get::<_, i64>(0)
    })
    .map(|v| v as Version)
    .map_err(|e| match e {
        rusqlite::Error::QueryReturnedNoRows => {
            StoreError::Corrupt(format!("realm {realm} is not in the database"))
        }
        other => db_error(other),
    })
}

/// Run every job inside one `BEGIN IMMEDIATE` transaction and commit it.
fn write_jobs(conn: &mut Connection, jobs: &mut [Job]) -> Result<()> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(db_error)?;
    for job in jobs.iter_mut() {
        let behind = match job.target() {
            Target::Realm { id, known } => match behind(id, stored_version(&tx, id)?, known)? {
                Some((after, up_to)) => rows::commits(&tx, id, after, Some(up_to))?,
                None => Vec::new(),
            },
            Target::NewRealm => Vec::new(),
        };
        let ids = reserve_ids(&tx, job.ids_needed())?;
        rows::persist_all(&tx, &job.run(behind, ids))?;
    }
    tx.commit().map_err(db_error)
}

impl Store for SqliteStore {
    fn load(&self) -> BoxFuture<'_, Result<Vec<Snapshot>>> {
        Box::pin(blocking(&self.reader, |conn| {
            let tx = conn.transaction().map_err(db_error)?;
            let snapshots = rows::load_all(&tx)?;
            tx.commit().map_err(db_error)?;
            Ok(snapshots)
        }))
    }

    fn write(&self, jobs: Vec<Job>) -> BoxFuture<'_, (Vec<Job>, Result<()>)> {
        let writer = self.writer.clone();
        Box::pin(async move {
            let outcome = tokio::task::spawn_blocking(move || {
                let mut jobs = jobs;
                let result = match writer.lock() {
                    Ok(mut conn) => write_jobs(&mut conn, &mut jobs),
                    Err(_) => Err(StoreError::Other(
                        "SQLite connection poisoned by a panic".into(),
                    )),
                };
                (jobs, result)
            })
            .await;
            match outcome {
                Ok(done) => done,
                Err(err) => (
                    Vec::new(),
                    Err(StoreError::Other(format!("store task failed: {err}"))),
                ),
            }
        })
    }

    fn commits(
        &self,
        realm: RealmId,
        after: Version,
        up_to: Option<Version>,
    ) -> BoxFuture<'_, Result<Vec<Commit>>> {
        Box::pin(blocking(&self.reader, move |conn| {
            let tx = conn.transaction().map_err(db_error)?;
            let commits = rows::commits(&tx, realm, after, up_to)?;
            tx.commit().map_err(db_error)?;
            Ok(commits)
        }))
    }

    fn commits_at(
        &self,
        realm: RealmId,
        versions: Vec<Version>,
    ) -> BoxFuture<'_, Result<Vec<Commit>>> {
        Box::pin(blocking(&self.reader, move |conn| {
            // One read transaction: every chunk sees the same log.
            let tx = conn.transaction().map_err(db_error)?;
            let commits = rows::commits_at(&tx, realm, versions)?;
            tx.commit().map_err(db_error)?;
            Ok(commits)
        }))
    }

    fn checkpoint(&self, realm: RealmId) -> BoxFuture<'_, Result<Option<Checkpoint>>> {
        Box::pin(blocking(&self.reader, move |conn| {
            let row: Option<(i64, i64, String)> = conn
                .query_row(
                    "SELECT version, at, state FROM checkpoints WHERE realm_id = ?1
                     ORDER BY version DESC LIMIT 1",
                    [realm.0],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                )
                .optional()
                .map_err(db_error)?;
            row.map(|(version, at, state)| checkpoint_from_row(realm, version, at, &state))
                .transpose()
        }))
    }

    fn prune(&self, checkpoint: Checkpoint, record: Commit) -> BoxFuture<'_, Result<u64>> {
        Box::pin(blocking(&self.writer, move |conn| {
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(db_error)?;
            let realm = checkpoint.realm.0;
            let version = checkpoint.version as i64;
            let current: i64 = tx
                .query_row("SELECT version FROM realms WHERE id = ?1", [realm], |r| {
                    r.get(0)
                })
                .map_err(db_error)?;
            if version > current || record.version as i64 != current + 1 {
                return Err(StoreError::Other(format!(
                    "realm {realm} moved to version {current} while pruning; try again"
                )));
            }
            tx.execute(
                "INSERT OR REPLACE INTO checkpoints (realm_id, version, at, state) VALUES (?1, ?2, ?3, ?4)",
                rusqlite::params![realm, version, checkpoint.at, checkpoint_state(&checkpoint.snapshot)?],
            )
            .map_err(db_error)?;
            let deleted = tx
                .execute(
                    "DELETE FROM changes WHERE realm_id = ?1 AND version <= ?2",
                    [realm, version],
                )
                .map_err(db_error)?;
            tx.execute(
                "DELETE FROM checkpoints WHERE realm_id = ?1 AND version < ?2",
                [realm, version],
            )
            .map_err(db_error)?;
            rows::persist_all(&tx, &[record])?;
            tx.commit().map_err(db_error)?;
            Ok(deleted as u64)
        }))
    }

    fn versions(&self) -> BoxFuture<'_, Result<Vec<(RealmId, Version)>>> {
        Box::pin(blocking(&self.reader, |conn| {
            let mut stmt = conn
                .prepare_cached("SELECT id, version FROM realms ORDER BY id")
                .map_err(db_error)?;
            let rows = stmt
                .query_map([], |r| {
                    Ok((RealmId(r.get(0)?), r.get::<_, i64>(1)? as Version))
                })
                .map_err(db_error)?;
            rows.collect::<std::result::Result<Vec<_>, _>>()
                .map_err(db_error)
        }))
    }

    fn ping(&self) -> BoxFuture<'_, Result<()>> {
        Box::pin(blocking(&self.reader, |conn| {
            conn.query_row("SELECT 1", [], |_| Ok(())).map_err(db_error)
        }))
    }

    fn import(&self, commits: Vec<Commit>) -> BoxFuture<'_, Result<()>> {
        Box::pin(blocking(&self.writer, move |conn| {
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(db_error)?;
            rows::persist_all(&tx, &commits)?;
            tx.commit().map_err(db_error)
        }))
    }

    fn next_id(&self) -> BoxFuture<'_, Result<i64>> {
        Box::pin(blocking(&self.reader, |conn| {
            conn.query_row("SELECT next_id FROM ids WHERE singleton = 1", [], |r| {
                r.get(0)
            })
            .map_err(db_error)
        }))
    }

    fn advance_ids(&self, next: i64) -> BoxFuture<'_, Result<()>> {
        Box::pin(blocking(&self.writer, move |conn| {
            conn.execute(
                "UPDATE ids SET next_id = MAX(next_id, ?1) WHERE singleton = 1",
                [next],
            )
            .map(|_| ())
            .map_err(db_error)
        }))
    }

    fn counts(&self) -> BoxFuture<'_, Result<Counts>> {
        Box::pin(blocking(&self.reader, |conn| {
            let count = |table: &str| -> Result<i64> {
                conn.query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |r| r.get(0))
                    .map_err(db_error)
            };
            Ok(Counts {
                realms: count("realms")?,
                users: count("users")?,
                groups: count("groups")?,
                members: count("group_members")?,
                subgroups: count("group_subgroups")?,
                commits: count("changes")?,
            })
        }))
    }

    fn record_token_uses(
        &self,
        uses: Vec<(RealmId, TokenId, Millis)>,
    ) -> BoxFuture<'_, Result<()>> {
        Box::pin(blocking(&self.writer, move |conn| {
            let tx = conn.transaction().map_err(db_error)?;
            for (realm, token, at) in uses {
                tx.prepare_cached(
                    "INSERT INTO token_uses (token_id, realm_id, last_used_at) VALUES (?1, ?2, ?3)
                     ON CONFLICT (token_id) DO UPDATE
                     SET last_used_at = max(last_used_at, excluded.last_used_at)",
                )
                .and_then(|mut s| s.execute(rusqlite::params![token.0, realm.0, at]))
                .map_err(db_error)?;
            }
            tx.commit().map_err(db_error)
        }))
    }

    fn token_uses(&self, realm: RealmId) -> BoxFuture<'_, Result<Vec<(TokenId, Millis)>>> {
        Box::pin(blocking(&self.reader, move |conn| {
            let mut stmt = conn
                .prepare_cached(
                    "SELECT token_id, last_used_at FROM token_uses WHERE realm_id = ?1 ORDER BY token_id",
                )
                .map_err(db_error)?;
            let rows = stmt
                .query_map([realm.0], |r| Ok((TokenId(r.get(0)?), r.get(1)?)))
                .map_err(db_error)?;
            rows.collect::<std::result::Result<Vec<_>, _>>()
                .map_err(db_error)
        }))
    }

    fn webhook_cursor(&self, webhook: WebhookId) -> BoxFuture<'_, Result<Option<Version>>> {
        Box::pin(blocking(&self.reader, move |conn| {
            webhooks::cursor(conn, webhook)
        }))
    }

    fn enqueue_deliveries(
        &self,
        webhook: WebhookId,
        from: Version,
        to: Version,
        deliveries: Vec<Delivery>,
    ) -> BoxFuture<'_, Result<bool>> {
        Box::pin(blocking(&self.writer, move |conn| {
            webhooks::enqueue(conn, webhook, from, to, &deliveries)
        }))
    }

    fn claim_webhooks(
        &self,
        node: String,
        webhooks: Vec<WebhookId>,
        now: Millis,
        until: Millis,
    ) -> BoxFuture<'_, Result<Vec<WebhookId>>> {
        Box::pin(blocking(&self.writer, move |conn| {
            webhooks::claim(conn, &node, &webhooks, now, until)
        }))
    }

    fn release_webhooks(&self, node: String) -> BoxFuture<'_, Result<()>> {
        Box::pin(blocking(&self.writer, move |conn| {
            webhooks::release(conn, &node)
        }))
    }

    fn pending_deliveries(
        &self,
        webhook: WebhookId,
        limit: usize,
    ) -> BoxFuture<'_, Result<Vec<Delivery>>> {
        Box::pin(blocking(&self.reader, move |conn| {
            webhooks::pending(conn, webhook, limit)
        }))
    }

    fn record_attempts(&self, outcomes: Vec<AttemptOutcome>) -> BoxFuture<'_, Result<()>> {
        Box::pin(blocking(&self.writer, move |conn| {
            webhooks::record(conn, &outcomes)
        }))
    }

    fn delivery_log(
        &self,
        webhook: WebhookId,
        before: Option<EventKey>,
        limit: usize,
        state: Option<DeliveryState>,
    ) -> BoxFuture<'_, Result<DeliveryLog>> {
        Box::pin(blocking(&self.reader, move |conn| {
            webhooks::log(conn, webhook, before, limit, state)
        }))
    }

    fn requeue_deliveries(
        &self,
        deliveries: Vec<Delivery>,
        resend: bool,
        now: Millis,
    ) -> BoxFuture<'_, Result<u64>> {
        Box::pin(blocking(&self.writer, move |conn| {
            webhooks::requeue(conn, &deliveries, resend, now)
        }))
    }

    fn prune_deliveries(&self, before: Millis) -> BoxFuture<'_, Result<u64>> {
        Box::pin(blocking(&self.writer, move |conn| {
            webhooks::prune(conn, before)
        }))
    }

    fn create_login_link(&self, link: LoginLink) -> BoxFuture<'_, Result<()>> {
        Box::pin(blocking(&self.writer, move |conn| {
            sessions::create_link(conn, &link)
        }))
    }

    fn redeem_login_link(&self, hash: KeyHash, now: Millis) -> BoxFuture<'_, Result<Redeemed>> {
        Box::pin(blocking(&self.writer, move |conn| {
            sessions::redeem(conn, hash, now)
        }))
    }

    fn create_session(&self, session: Session) -> BoxFuture<'_, Result<()>> {
        Box::pin(blocking(&self.writer, move |conn| {
            sessions::create_session(conn, &session)
        }))
    }

    fn session(&self, hash: KeyHash, now: Millis) -> BoxFuture<'_, Result<Option<Session>>> {
        Box::pin(blocking(&self.reader, move |conn| {
            sessions::session(conn, hash, now)
        }))
    }

    fn end_session(&self, hash: KeyHash) -> BoxFuture<'_, Result<()>> {
        Box::pin(blocking(&self.writer, move |conn| {
            sessions::end_session(conn, hash)
        }))
    }

    fn prune_sign_ins(&self, before: Millis) -> BoxFuture<'_, Result<u64>> {
        Box::pin(blocking(&self.writer, move |conn| {
            sessions::prune(conn, before)
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A commit is acknowledged only once it is on disk: both connections run
    /// WAL with `synchronous=FULL` (NORMAL would lose the last commits on a
    /// power cut).
    #[tokio::test]
    async fn connections_are_durable() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("sync.db"), true)
            .await
            .unwrap();
        for conn in [&store.writer, &store.reader] {
            let conn = conn.lock().unwrap();
            let synchronous: i64 = conn
                .query_row("PRAGMA synchronous", [], |r| r.get(0))
                .unwrap();
            assert_eq!(synchronous, 2, "synchronous is not FULL");
            let journal: String = conn
                .query_row("PRAGMA journal_mode", [], |r| r.get(0))
                .unwrap();
            assert_eq!(journal, "wal");
            let foreign_keys: i64 = conn
                .query_row("PRAGMA foreign_keys", [], |r| r.get(0))
                .unwrap();
            assert_eq!(foreign_keys, 1);
        }
    }
}
