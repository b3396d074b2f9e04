//! The engine: cohort's one write path and its in-memory read side.
//!
//! It owns every realm's current `Snapshot` (published through `ArcSwap`, so
//! readers never wait), the index from key hashes to users, and a single writer
//! task. Faces and the CLI call `Engine::execute`; the writer batches whatever
//! commands are queued, runs them through the core inside one store transaction
//! (group commit: one fsync for the batch), and only after the commit publishes
//! the new snapshots and answers. A write is therefore durable and visible on
//! this node before its caller hears "ok".
//!
//! Other writers (a CLI process on the same SQLite file, other nodes) are seen
//! in two ways: the store hands each write job the commits it missed, and a
//! poller catches idle realms up from the change log.

mod history;
pub mod secrets;
mod writer;

pub use history::{AuditPage, AuditRecord, HistoryGuard, Pruned};

use arc_swap::ArcSwap;
use cohort_core::command::CreateRealm;
use cohort_core::{
    Actor, Change, Command, Commit, Face, KeyHash, Millis, Origin, RealmId, Reply, Snapshot, Token,
    TokenId, UserId, Version,
};
use cohort_store::{Store, StoreError};
use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot, watch};

use writer::Request;

#[derive(Debug, Clone, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Domain(#[from] cohort_core::Error),
    #[error("no realm {0}")]
    RealmNotFound(RealmId),
    /// The database could not take the write; nothing was written.
    #[error("storage unavailable: {0}")]
    Unavailable(String),
    #[error("the server is shutting down")]
    ShuttingDown,
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<StoreError> for EngineError {
    fn from(err: StoreError) -> EngineError {
        match err {
            StoreError::Unavailable(msg) => EngineError::Unavailable(msg),
            other => EngineError::Internal(other.to_string()),
        }
    }
}

/// A command that committed (or changed nothing): its reply and the snapshot
/// that includes it.
#[derive(Debug, Clone)]
pub struct Executed {
    pub reply: Reply,
    pub snapshot: Arc<Snapshot>,
}

/// Settings of the engine's background work.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// How often to look for commits made by other processes.
    pub poll_interval: Duration,
    /// How often to move members across the waiting period into role:fullmembers.
    pub maintenance_interval: Duration,
    /// How often noted token uses are written to the store.
    pub token_use_interval: Duration,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            poll_interval: Duration::from_millis(500),
            maintenance_interval: Duration::from_secs(60),
            token_use_interval: Duration::from_secs(30),
        }
    }
}

/// Key hash → owner. Entries are never trusted alone: a hit is confirmed
/// against the current snapshot, so stale entries (rotated keys) are harmless.
/// User keys are indexed by the first 128 bits of their hash, which halves
/// the index at a million users (the full hash is compared on every hit).
#[derive(Default)]
struct KeyIndex {
    users: HashMap<u128, (RealmId, UserId)>,
    platforms: HashMap<KeyHash, RealmId>,
    tokens: HashMap<KeyHash, (RealmId, TokenId)>,
}

impl KeyIndex {
    fn add_snapshot(&mut self, snap: &Snapshot) {
        for user in snap.users() {
            self.users
                .insert(index_key(&user.api_key), (snap.realm_id(), user.id));
        }
        if let Some(key) = snap.realm().platform_key {
            self.platforms.insert(key, snap.realm_id());
        }
        if let Some(old) = snap.realm().retired_platform_key {
            self.platforms.insert(old.hash, snap.realm_id());
        }
        for token in &snap.realm().tokens {
            self.tokens.insert(token.hash, (snap.realm_id(), token.id));
        }
    }
}

pub struct Engine {
    store: Arc<dyn Store>,
    /// Realm id → its current snapshot. The map changes only when a realm is
    /// created; the snapshots inside change on every commit.
    realms: RwLock<HashMap<RealmId, Arc<ArcSwap<Snapshot>>>>,
    keys: RwLock<KeyIndex>,
    requests: mpsc::Sender<Request>,
    /// The newest version other nodes announced per realm, for the lag gauge.
    announced: std::sync::Mutex<HashMap<RealmId, Version>>,
    /// Tokens used since the last flush to the store, with the latest time.
    token_uses: std::sync::Mutex<HashMap<TokenId, (RealmId, Millis)>>,
    /// Each realm's history, built when first asked for.
    histories: history::Histories,
    /// Each realm's current version, for whoever follows its changes live.
    versions: std::sync::Mutex<HashMap<RealmId, watch::Sender<Version>>>,
}

impl Engine {
    /// Load every realm and start the writer and the background tasks.
    pub async fn start(
        store: Arc<dyn Store>,
        config: EngineConfig,
    ) -> Result<Arc<Engine>, EngineError> {
        let snapshots = store.load().await?;
        let (tx, rx) = mpsc::channel(4096);
        let engine = Arc::new(Engine {
            store,
            realms: RwLock::new(HashMap::new()),
            keys: RwLock::new(KeyIndex::default()),
            requests: tx,
            announced: std::sync::Mutex::new(HashMap::new()),
            token_uses: std::sync::Mutex::new(HashMap::new()),
            histories: history::Histories::default(),
            versions: std::sync::Mutex::new(HashMap::new()),
        });
        for snap in snapshots {
            engine
                .keys
                .write()
                .unwrap_or_else(|e| e.into_inner())
                .add_snapshot(&snap);
            engine.publish(snap, &[]);
        }
        release_freed_memory();
        tokio::spawn(writer::run(Arc::downgrade(&engine), rx));
        let weak = Arc::downgrade(&engine);
        engine.store.watch(Arc::new(move |realm, version| {
            if let Some(engine) = weak.upgrade() {
                engine.announced(realm, version);
            }
        }));
        tokio::spawn(poll_other_writers(
            Arc::downgrade(&engine),
            config.poll_interval,
        ));
        tokio::spawn(maintain(
            Arc::downgrade(&engine),
            config.maintenance_interval,
        ));
        tokio::spawn(flush_token_uses(
            Arc::downgrade(&engine),
            config.token_use_interval,
        ));
        Ok(engine)
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// The current snapshot of a realm: a cheap clone of an `Arc`.
    pub fn snapshot(&self, realm: RealmId) -> Option<Arc<Snapshot>> {
        let realms = self.realms.read().unwrap_or_else(|e| e.into_inner());
        realms.get(&realm).map(|cell| cell.load_full())
    }

    /// The realm's version as it moves: changes each time a commit of the
    /// realm (made here or by another node) becomes the current snapshot.
    pub fn watch_version(&self, realm: RealmId) -> Option<watch::Receiver<Version>> {
        let version = self.snapshot(realm)?.version();
        let mut versions = self.versions.lock().unwrap_or_else(|e| e.into_inner());
        Some(
            versions
                .entry(realm)
                .or_insert_with(|| watch::channel(version).0)
                .subscribe(),
        )
    }

    pub fn realm_ids(&self) -> Vec<RealmId> {
        let realms = self.realms.read().unwrap_or_else(|e| e.into_inner());
        let mut ids: Vec<RealmId> = realms.keys().copied().collect();
        ids.sort();
        ids
    }

    pub fn realm_versions(&self) -> Vec<(RealmId, Version)> {
        self.realm_ids()
            .into_iter()
            .filter_map(|id| self.snapshot(id).map(|s| (id, s.version())))
            .collect()
    }

    /// The active user an API key belongs to, with its realm's snapshot.
    pub fn user_for_key(&self, hash: &KeyHash) -> Option<(Arc<Snapshot>, Arc<cohort_core::User>)> {
        let found = {
            let keys = self.keys.read().unwrap_or_else(|e| e.into_inner());
            keys.users.get(&index_key(hash)).copied()
        };
        let (realm, user) = found?;
        let snap = self.snapshot(realm)?;
        let user = snap.user(user)?.clone();
        (user.api_key == *hash).then_some((snap, user))
    }

    /// The realm a platform key (IMKIT `IM-API-KEY`) opens: its current
    /// key, or the one the last rotation retired during its grace period.
    pub fn realm_for_platform_key(&self, hash: &KeyHash) -> Option<Arc<Snapshot>> {
        let found = {
            let keys = self.keys.read().unwrap_or_else(|e| e.into_inner());
            keys.platforms.get(hash).copied()
        };
        let snap = self.snapshot(found?)?;
        snap.realm()
            .platform_key_opens(hash, now_millis())
            .then_some(snap)
    }

    /// The live token a secret's hash belongs to, with its realm's snapshot;
    /// the use is noted for `cohort token list`. A revoked token stops at
    /// once: the hit is confirmed against the current snapshot.
    pub fn token_for_key(&self, hash: &KeyHash) -> Option<(Arc<Snapshot>, Token)> {
        let found = {
            let keys = self.keys.read().unwrap_or_else(|e| e.into_inner());
            keys.tokens.get(hash).copied()
        };
        let (realm, id) = found?;
        let snap = self.snapshot(realm)?;
        let token = snap
            .realm()
            .token(id)
            .filter(|t| t.hash == *hash && t.revoked_at.is_none())?
            .clone();
        self.token_uses
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id, (realm, now_millis()));
        Some((snap, token))
    }

    /// Write the noted token uses to the store (also done periodically).
    pub async fn flush_token_uses(&self) -> Result<(), EngineError> {
        let uses: Vec<(RealmId, TokenId, Millis)> = {
            let mut pending = self.token_uses.lock().unwrap_or_else(|e| e.into_inner());
            pending
                .drain()
                .map(|(id, (realm, at))| (realm, id, at))
                .collect()
        };
        if uses.is_empty() {
            return Ok(());
        }
        Ok(self.store.record_token_uses(uses).await?)
    }

    /// Run a command with no request behind it (the CLI, role bookkeeping):
    /// its commit's origin is the face the actor implies (`Face::Cli` for
    /// the operator, `Face::System` for cohort itself). A face serving a
    /// request calls `execute_from` with the request's origin.
    pub async fn execute(
        &self,
        realm: RealmId,
        actor: Actor,
        command: Command,
    ) -> Result<Executed, EngineError> {
        let origin = Origin::local(Face::implied_by(actor));
        self.execute_from(realm, actor, origin, command).await
    }

    /// Run a command through the write path; its commit records `origin`.
    /// Returns once it is durable and visible in this node's snapshot.
    pub async fn execute_from(
        &self,
        realm: RealmId,
        actor: Actor,
        origin: Origin,
        command: Command,
    ) -> Result<Executed, EngineError> {
        if self.snapshot(realm).is_none() {
            return Err(EngineError::RealmNotFound(realm));
        }
        let (reply, answer) = oneshot::channel();
        self.send(Request::Command {
            realm,
            actor,
            origin,
            command,
            reply,
        })
        .await?;
        answer.await.map_err(|_| abandoned())?
    }

    /// Create a realm (system groups, default settings, optional first owner);
    /// only the operator does, so its commit's face is `Face::Cli`.
    pub async fn create_realm(&self, command: CreateRealm) -> Result<Executed, EngineError> {
        let (reply, answer) = oneshot::channel();
        self.send(Request::CreateRealm { command, reply }).await?;
        answer.await.map_err(|_| abandoned())?
    }

    /// Catch up with commits other processes made; returns when done.
    pub async fn catch_up(&self) -> Result<(), EngineError> {
        let (done, answer) = oneshot::channel();
        self.send(Request::CatchUp { done: Some(done) }).await?;
        answer.await.map_err(|_| abandoned())?
    }

    async fn send(&self, request: Request) -> Result<(), EngineError> {
        self.requests
            .send(request)
            .await
            .map_err(|_| EngineError::ShuttingDown)
    }

    /// Another node committed `version` of `realm`: catch up if behind.
    fn announced(&self, realm: RealmId, version: Version) {
        {
            let mut announced = self.announced.lock().unwrap_or_else(|e| e.into_inner());
            let seen = announced.entry(realm).or_insert(0);
            *seen = (*seen).max(version);
        }
        let local = self.snapshot(realm).map(|s| s.version()).unwrap_or(0);
        record_lag(realm, version.saturating_sub(local));
        if version > local {
            // A full queue means a catch-up is coming anyway.
            let _ = self.requests.try_send(Request::CatchUp { done: None });
        }
    }

    /// Make `snap` the realm's current snapshot, indexing the keys that
    /// `commits` (which led to it) introduced. Writer task only.
    fn publish(&self, snap: Snapshot, commits: &[Commit]) -> Arc<Snapshot> {
        let snap = Arc::new(snap);
        if !commits.is_empty() {
            let mut keys = self.keys.write().unwrap_or_else(|e| e.into_inner());
            for commit in commits {
                keys.add_commit(commit);
            }
        }
        let realm = snap.realm_id();
        metrics::gauge!("cohort_snapshot_version", "realm" => realm.0.to_string())
            .set(snap.version() as f64);
        let announced = self
            .announced
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&realm)
            .copied()
            .unwrap_or(0);
        record_lag(realm, announced.saturating_sub(snap.version()));
        {
            let mut realms = self.realms.write().unwrap_or_else(|e| e.into_inner());
            match realms.get(&realm) {
                Some(cell) => cell.store(snap.clone()),
                None => {
                    realms.insert(realm, Arc::new(ArcSwap::new(snap.clone())));
                }
            }
        }
        // After the snapshot is current, so a follower woken here finds it.
        let versions = self.versions.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(watch) = versions.get(&realm) {
            watch.send_if_modified(|v| {
                let newer = snap.version() > *v;
                *v = (*v).max(snap.version());
                newer
            });
        }
        drop(versions);
        snap
    }
}

impl KeyIndex {
    fn add_commit(&mut self, commit: &Commit) {
        for change in &commit.changes {
            match change {
                Change::UserCreated { user } => {
                    self.users
                        .insert(index_key(&user.api_key), (commit.realm, user.id));
                }
                Change::UserUpdated { id, patch } => {
                    if let Some(key) = patch.api_key {
                        self.users.insert(index_key(&key), (commit.realm, *id));
                    }
                }
                Change::RealmCreated { realm } => {
                    if let Some(key) = realm.platform_key {
                        self.platforms.insert(key, commit.realm);
                    }
                }
                Change::RealmUpdated { patch } => {
                    if let Some(key) = patch.platform_key {
                        self.platforms.insert(key, commit.realm);
                    }
                    // A retired key stays indexed; whether it still opens
                    // the realm is the realm record's to say.
                    if let Some(old) = patch.retired_platform_key {
                        self.platforms.insert(old.hash, commit.realm);
                    }
                }
                Change::TokenCreated { token } => {
                    self.tokens.insert(token.hash, (commit.realm, token.id));
                }
                _ => {}
            }
        }
    }
}

fn index_key(hash: &KeyHash) -> u128 {
    let mut prefix = [0; 16];
    prefix.copy_from_slice(&hash.0[..16]);
    u128::from_le_bytes(prefix)
}

/// Wake the writer now and then to pick up other processes' commits.
async fn poll_other_writers(engine: std::sync::Weak<Engine>, every: Duration) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let Some(engine) = engine.upgrade() else {
            return;
        };
        if engine.send(Request::CatchUp { done: None }).await.is_err() {
            return;
        }
    }
}

/// Write token uses to the store now and then, so `last used` costs no
/// write per request.
async fn flush_token_uses(engine: std::sync::Weak<Engine>, every: Duration) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let Some(engine) = engine.upgrade() else {
            return;
        };
        if let Err(err) = engine.flush_token_uses().await {
            tracing::warn!(%err, "recording token uses failed");
        }
    }
}

/// Periodic bookkeeping: members who passed the waiting period join
/// role:fullmembers.
async fn maintain(engine: std::sync::Weak<Engine>, every: Duration) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let Some(engine) = engine.upgrade() else {
            return;
        };
        for realm in engine.realm_ids() {
            let waiting = engine
                .snapshot(realm)
                .is_some_and(|s| s.realm().waiting_period_days > 0);
            if waiting {
                if let Err(err) = engine
                    .execute(realm, Actor::System, Command::SyncFullMembers)
                    .await
                {
                    tracing::warn!(realm = realm.0, %err, "full-members sync failed");
                }
            }
        }
    }
}

/// How many commits this node's snapshot of `realm` is behind the newest one it
/// has heard of (`cohort_realm_lag_versions`).
fn record_lag(realm: RealmId, behind: Version) {
    metrics::gauge!("cohort_realm_lag_versions", "realm" => realm.0.to_string()).set(behind as f64);
}

fn abandoned() -> EngineError {
    EngineError::Internal("the writer dropped the request".into())
}

/// Loading builds large temporary structures; hand the memory they used back
/// to the system instead of keeping it in the allocator's free lists.
fn release_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only releases free heap pages; it has no
    // preconditions and touches no live allocation.
    unsafe {
        libc::malloc_trim(0);
    }
}

pub fn now_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// How one realm's change log compares with its tables.
#[derive(Debug, Clone)]
pub struct LogCheck {
    pub realm: RealmId,
    pub version: Version,
    pub commits: usize,
    /// Empty when replaying the log from nothing reproduces the tables exactly.
    pub problems: Vec<String>,
}

/// Replay every realm's change log from its first commit and compare the result
/// with the state the tables hold (`cohort check`).
pub async fn check_log(store: &dyn Store) -> Result<Vec<LogCheck>, EngineError> {
    let mut report = Vec::new();
    for stored in store.load().await? {
        let realm = stored.realm_id();
        // A pruned log starts after its checkpoint, from the state kept there.
        let checkpoint = store.checkpoint(realm).await?;
        let start = checkpoint.as_ref().map_or(0, |c| c.version);
        let commits = store.commits(realm, start, None).await?;
        let mut problems = Vec::new();
        for (i, commit) in commits.iter().enumerate() {
            if commit.version != start + i as Version + 1 {
                problems.push(format!(
                    "commit #{i} has version {} (expected {})",
                    commit.version,
                    start + i as Version + 1
                ));
                break;
            }
        }
        let last = commits.last().map(|c| c.version).unwrap_or(start);
        if last != stored.version() {
            problems.push(format!(
                "the log ends at version {last} but the realm is at {}",
                stored.version()
            ));
        }
        let replayed = match (checkpoint, commits.first().and_then(|c| c.changes.first())) {
            (Some(c), _) => Some(c.snapshot),
            (None, Some(Change::RealmCreated { realm: created })) => {
                Some(Snapshot::empty((**created).clone()))
            }
            (None, Some(_)) => {
                problems.push("the log does not start with the realm's creation".into());
                None
            }
            (None, None) => {
                problems.push("the realm has no change log".into());
                None
            }
        };
        if let (Some(mut replayed), true) = (replayed, problems.is_empty()) {
            for commit in &commits {
                if let Err(err) = replayed.apply(commit) {
                    problems.push(format!("version {}: {err}", commit.version));
                    break;
                }
            }
            if problems.is_empty() && replayed != stored {
                problems.push(describe_difference(&replayed, &stored));
            }
        }
        report.push(LogCheck {
            realm,
            version: stored.version(),
            commits: commits.len(),
            problems,
        });
    }
    Ok(report)
}

fn describe_difference(replayed: &Snapshot, stored: &Snapshot) -> String {
    if replayed.realm() != stored.realm() {
        return "realm settings differ between the log and the tables".into();
    }
    for user in stored.users() {
        if replayed.user(user.id) != Some(user) {
            return format!("user {} differs between the log and the tables", user.id);
        }
    }
    for group in stored.groups() {
        if replayed.group(group.id) != Some(group) {
            return format!("group {} differs between the log and the tables", group.id);
        }
    }
    if replayed.user_count() != stored.user_count()
        || replayed.group_count() != stored.group_count()
    {
        return "the log holds users or groups the tables do not".into();
    }
    "the log and the tables differ".into()
}
