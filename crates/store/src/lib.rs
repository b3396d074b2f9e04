//! Persistence: the `Store` trait and its engines.
//!
//! A store keeps, for every realm, its current state as tables and its change
//! log, and moves both in one transaction per write batch. It knows nothing of
//! the rules: commands are checked by the core inside `WriteJob::run`, which the
//! store calls with the realm locked, after handing it any commits other
//! processes made since the caller's snapshot (so the caller validates against
//! the true latest state).
//!
//! Layout: `sqlite/` (the embedded default) and `postgres/` (several nodes on
//! one database), each with its schema and its dialect of the row mapping;
//! `columns` (rows ↔ records, patches → columns, the catch-up rule) and
//! `migrations` (the runner's rules) are what both engines share.

mod columns;
mod migrations;
pub mod postgres;
pub mod sessions;
pub mod sqlite;
mod url;
pub mod webhooks;

pub use sessions::{LoginLink, Redeemed, Session};
pub use url::DbUrl;
pub use webhooks::{Attempt, AttemptOutcome, Delivery, DeliveryLog, DeliveryState, EventKey};

use cohort_core::{Commit, KeyHash, Millis, RealmId, Snapshot, TokenId, Version, WebhookId};
use std::future::Future;
use std::pin::Pin;

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    /// The database cannot be reached or refused the write; nothing was written.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    #[error("database schema version {found} is newer than this cohort supports ({known}); upgrade cohort")]
    SchemaTooNew { found: i64, known: i64 },
    #[error("database schema version {found} is older than this cohort needs ({known}); run `cohort migrate`")]
    SchemaTooOld { found: i64, known: i64 },
    /// Stored data that cannot be read back into the domain.
    #[error("stored data is inconsistent: {0}")]
    Corrupt(String),
    #[error("{0}")]
    Other(String),
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Which realm a write job targets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// An existing realm; `known` is the version of the caller's snapshot.
    Realm { id: RealmId, known: Version },
    /// A realm being created (its id comes from the reserved ids).
    NewRealm,
}

/// The caller's half of a write: run inside the store's transaction.
pub trait WriteJob: Send + 'static {
    fn target(&self) -> Target;

    /// Fresh ids the job may use (an upper bound; unused ones are skipped).
    fn ids_needed(&self) -> usize;

    /// Called once, with the realm locked. `behind` holds the realm's commits
    /// newer than the caller's snapshot, oldest first. Returns the commits to
    /// persist, in version order, continuing from the last of `behind` (or from
    /// `known`). Returning nothing writes nothing.
    fn run(&mut self, behind: Vec<Commit>, ids: Vec<i64>) -> Vec<Commit>;

    /// Lets the caller take its job back after `Store::write`.
    fn into_any(self: Box<Self>) -> Box<dyn std::any::Any + Send>;
}

pub type Job = Box<dyn WriteJob>;

/// Callback for `Store::watch`.
pub type Notify = std::sync::Arc<dyn Fn(RealmId, Version) + Send + Sync>;

/// The persistence port every engine implements.
pub trait Store: Send + Sync + 'static {
    /// Every realm's state, as of the moment of reading.
    fn load(&self) -> BoxFuture<'_, Result<Vec<Snapshot>>>;

    /// Run the jobs and persist what they return, all in one transaction: every
    /// job's commits are durable when the result is `Ok`, none are on `Err`.
    /// The jobs come back either way, so their callers can be answered.
    fn write(&self, jobs: Vec<Job>) -> BoxFuture<'_, (Vec<Job>, Result<()>)>;

    /// A realm's commits with versions in `(after, up_to]` (all newer ones when
    /// `up_to` is `None`), oldest first.
    fn commits(
        &self,
        realm: RealmId,
        after: Version,
        up_to: Option<Version>,
    ) -> BoxFuture<'_, Result<Vec<Commit>>>;

    /// A realm's commits with exactly these versions (missing ones skipped,
    /// repeats once), oldest first: a page of scattered commits, such as an
    /// audit view's, in a few statements rather than one per commit.
    fn commits_at(
        &self,
        realm: RealmId,
        versions: Vec<Version>,
    ) -> BoxFuture<'_, Result<Vec<Commit>>>;

    /// The realm's newest checkpoint (see `prune`), if its log was pruned.
    fn checkpoint(&self, realm: RealmId) -> BoxFuture<'_, Result<Option<Checkpoint>>>;

    /// In one transaction: keep `checkpoint` as the realm's state at its
    /// version, delete the realm's commits up to that version (and any older
    /// checkpoint), and append `record` (the `LogPruned` commit, which must
    /// be the realm's next version; `StoreError::Other` if another write came
    /// first). Returns how many commits were deleted.
    fn prune(&self, checkpoint: Checkpoint, record: Commit) -> BoxFuture<'_, Result<u64>>;

    /// Every realm's current version (cheap; used to notice other writers).
    fn versions(&self) -> BoxFuture<'_, Result<Vec<(RealmId, Version)>>>;

    /// Whether the database answers at all.
    fn ping(&self) -> BoxFuture<'_, Result<()>>;

    /// Persist commits exactly as given, in one transaction, with no jobs and
    /// no catch-up: copying a database, loading generated data. A realm's
    /// first commit creates it.
    fn import(&self, commits: Vec<Commit>) -> BoxFuture<'_, Result<()>>;

    /// The next fresh id the store would hand out.
    fn next_id(&self) -> BoxFuture<'_, Result<i64>>;

    /// Make sure no id below `next` is handed out again.
    fn advance_ids(&self, next: i64) -> BoxFuture<'_, Result<()>>;

    /// Rows per table.
    fn counts(&self) -> BoxFuture<'_, Result<Counts>>;

    /// Remember when tokens were last used (a later time wins; never moves
    /// back). Bookkeeping outside the change log.
    fn record_token_uses(&self, uses: Vec<(RealmId, TokenId, Millis)>)
        -> BoxFuture<'_, Result<()>>;

    /// When each of a realm's tokens was last used, for those ever used.
    fn token_uses(&self, realm: RealmId) -> BoxFuture<'_, Result<Vec<(TokenId, Millis)>>>;

    // ---- webhook deliveries (see `webhooks`) ----

    /// How far the endpoint's deliveries have been made from the log: the
    /// version of its creation at first. `None` for an unknown endpoint.
    fn webhook_cursor(&self, webhook: WebhookId) -> BoxFuture<'_, Result<Option<Version>>>;

    /// In one transaction, if the endpoint's cursor is still `from`: add
    /// `deliveries` (ones already there are kept as they are) and move the
    /// cursor to `to`. `false` (and nothing written) when another node moved
    /// it first.
    fn enqueue_deliveries(
        &self,
        webhook: WebhookId,
        from: Version,
        to: Version,
        deliveries: Vec<Delivery>,
    ) -> BoxFuture<'_, Result<bool>>;

    /// Take or renew the lease of each endpoint that is free, expired
    /// (`lease_until` before `now`) or already this `node`'s, until `until`;
    /// the ones now held. On PostgreSQL rows another node is claiming are
    /// skipped, not waited for.
    fn claim_webhooks(
        &self,
        node: String,
        webhooks: Vec<WebhookId>,
        now: Millis,
        until: Millis,
    ) -> BoxFuture<'_, Result<Vec<WebhookId>>>;

    /// Give up this node's leases (a clean stop), so another node need not
    /// wait for them to expire.
    fn release_webhooks(&self, node: String) -> BoxFuture<'_, Result<()>>;

    /// The endpoint's first `limit` pending deliveries, in event order.
    fn pending_deliveries(
        &self,
        webhook: WebhookId,
        limit: usize,
    ) -> BoxFuture<'_, Result<Vec<Delivery>>>;

    /// Keep the attempts and move their deliveries on, in one transaction.
    fn record_attempts(&self, outcomes: Vec<AttemptOutcome>) -> BoxFuture<'_, Result<()>>;

    /// The endpoint's deliveries, newest first, from just before `before`,
    /// with their attempts (oldest first); only those in `state` if given.
    fn delivery_log(
        &self,
        webhook: WebhookId,
        before: Option<EventKey>,
        limit: usize,
        state: Option<DeliveryState>,
    ) -> BoxFuture<'_, Result<DeliveryLog>>;

    /// Queue deliveries (again), due at `now`: missing ones are added;
    /// existing ones become pending with a fresh schedule unless they were
    /// delivered and `resend` is false. Returns how many are now pending
    /// because of this call.
    fn requeue_deliveries(
        &self,
        deliveries: Vec<Delivery>,
        resend: bool,
        now: Millis,
    ) -> BoxFuture<'_, Result<u64>>;

    /// Forget finished deliveries (delivered or failed) done before
    /// `before`, with their attempts. Returns how many.
    fn prune_deliveries(&self, before: Millis) -> BoxFuture<'_, Result<u64>>;

    // ---- the admin page's sign-in state (see `sessions`) ----

    /// Keep a freshly issued login link.
    fn create_login_link(&self, link: LoginLink) -> BoxFuture<'_, Result<()>>;

    /// Use the link with this hash at `now`, once: `Opened` the first time
    /// within its life (and it is marked used in the same statement, so of
    /// two concurrent redeemers exactly one opens), otherwise why not.
    fn redeem_login_link(&self, hash: KeyHash, now: Millis) -> BoxFuture<'_, Result<Redeemed>>;

    /// Keep a new session.
    fn create_session(&self, session: Session) -> BoxFuture<'_, Result<()>>;

    /// The session with this hash, if it exists and has not expired at `now`.
    fn session(&self, hash: KeyHash, now: Millis) -> BoxFuture<'_, Result<Option<Session>>>;

    /// Sign out: forget the session (nothing if it is gone already).
    fn end_session(&self, hash: KeyHash) -> BoxFuture<'_, Result<()>>;

    /// Forget links and sessions that expired before `before`. Returns how
    /// many rows went.
    fn prune_sign_ins(&self, before: Millis) -> BoxFuture<'_, Result<u64>>;

    /// Call `changed` with (realm, version) whenever another process commits,
    /// for as long as the store lives; engines that cannot tell (SQLite) do
    /// nothing and callers fall back on polling `versions`.
    fn watch(&self, changed: Notify) {
        let _ = changed;
    }
}

/// Build snapshots from rows read out of any engine's tables.
pub(crate) fn assemble(
    realms: Vec<(cohort_core::Realm, Version)>,
    mut users: std::collections::HashMap<RealmId, Vec<cohort_core::User>>,
    mut groups: std::collections::HashMap<RealmId, Vec<cohort_core::Group>>,
) -> Result<Vec<Snapshot>> {
    realms
        .into_iter()
        .map(|(realm, version)| {
            let id = realm.id;
            Snapshot::from_parts(
                realm,
                version,
                users.remove(&id).unwrap_or_default(),
                groups.remove(&id).unwrap_or_default(),
            )
            .map_err(|e| StoreError::Corrupt(e.to_string()))
        })
        .collect()
}

/// A realm's whole state at one version, kept when the log before it is
/// pruned: the history (and `cohort check`) start from it.
#[derive(Clone, Debug)]
pub struct Checkpoint {
    pub realm: RealmId,
    pub version: Version,
    /// When the commit of `version` was made.
    pub at: Millis,
    pub snapshot: Snapshot,
}

/// Row counts, to verify a copy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Counts {
    pub realms: i64,
    pub users: i64,
    pub groups: i64,
    pub members: i64,
    pub subgroups: i64,
    pub commits: i64,
}

/// Open the store a URL names. With `create`, a missing SQLite file is created
/// and a PostgreSQL schema is migrated; without it, PostgreSQL refuses a schema
/// that does not match this build (`cohort migrate` brings it up to date),
/// while the embedded SQLite file is migrated in place.
pub async fn open(url: &DbUrl, create: bool) -> Result<std::sync::Arc<dyn Store>> {
    match url {
        DbUrl::Sqlite(path) => Ok(std::sync::Arc::new(
            sqlite::SqliteStore::open(path, create).await?,
        )),
        DbUrl::Postgres(raw) => Ok(std::sync::Arc::new(
            postgres::PgStore::open(raw, url.to_string(), create).await?,
        )),
    }
}
