//! Each realm's `History` (the change log as an index of time), built on
//! first use from the store and caught up from it before every question, so
//! it always answers as of at least the node's current snapshot. Audit pages
//! read their commits back from the store (the index keeps only what finds
//! them) and derive the events again; big commits (imports, provisioning
//! batches) are kept decoded in a small cache, since one event of theirs
//! would otherwise cost decoding thousands of changes.

use crate::{Engine, EngineError};
use cohort_core::audit::{self, AuditEvent, AuditQuery, EventId};
use cohort_core::history::{History, ReviewPage};
use cohort_core::{Commit, RealmId, Version};
use std::collections::HashMap;
use std::sync::Arc;
use tokio::sync::{OwnedRwLockReadGuard, RwLock};

/// Commits read from the store per round trip while building or paging.
const CHUNK: u64 = 20_000;
/// Commits fetched at a time for an audit page.
const PAGE_CHUNK: usize = 256;

/// A commit is kept decoded when it carries at least this many ids...
const CACHED_FROM: u64 = 256;
/// ...while the cache holds fewer than this many (about 8 bytes each).
const CACHE_CAPACITY: u64 = 4_000_000;

type Slot = Arc<RwLock<Option<History>>>;

pub(crate) struct Histories {
    slots: std::sync::Mutex<HashMap<RealmId, Slot>>,
    /// Decoded big commits, with their weight. Commits never change once
    /// written; a prune drops its realm's entries.
    commits: quick_cache::sync::Cache<(RealmId, Version), (u64, Arc<Commit>), ByWeight>,
}

impl Default for Histories {
    fn default() -> Self {
        Histories {
            slots: Default::default(),
            commits: quick_cache::sync::Cache::with_weighter(1024, CACHE_CAPACITY, ByWeight),
        }
    }
}

#[derive(Clone)]
struct ByWeight;

impl quick_cache::Weighter<(RealmId, Version), (u64, Arc<Commit>)> for ByWeight {
    fn weight(&self, _: &(RealmId, Version), value: &(u64, Arc<Commit>)) -> u64 {
        value.0
    }
}

/// What a decoded commit holds, roughly: its changes and the ids they carry.
fn weight(commit: &Commit) -> u64 {
    use cohort_core::Change;
    let ids = |c: &Change| match c {
        Change::GroupCreated { group } => group.members.len() + group.subgroups.len(),
        Change::MembersAdded { users, .. } | Change::MembersRemoved { users, .. } => users.len(),
        Change::SubgroupsAdded { subgroups, .. } | Change::SubgroupsRemoved { subgroups, .. } => {
            subgroups.len()
        }
        _ => 0,
    };
    commit.changes.iter().map(|c| 1 + ids(c) as u64).sum()
}

/// A realm's history, held for reading (writers of the history wait; the
/// directory's writes do not).
pub struct HistoryGuard(OwnedRwLockReadGuard<Option<History>, History>);

impl std::ops::Deref for HistoryGuard {
    type Target = History;
    fn deref(&self) -> &History {
        &self.0
    }
}

/// An audit event with where its commit came from.
#[derive(Clone, Debug)]
pub struct AuditRecord {
    pub event: AuditEvent,
    pub request_id: Option<String>,
    pub client: Option<String>,
}

pub struct AuditPage {
    pub records: Vec<AuditRecord>,
    /// The position to continue after, when more events may follow.
    pub next: Option<EventId>,
}

impl Engine {
    /// The realm's history, up to date with this node's snapshot.
    pub async fn history(&self, realm: RealmId) -> Result<HistoryGuard, EngineError> {
        let target = self
            .snapshot(realm)
            .ok_or(EngineError::RealmNotFound(realm))?
            .version();
        let slot = {
            let mut slots = self
                .histories
                .slots
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            slots.entry(realm).or_default().clone()
        };
        {
            let read = slot.clone().read_owned().await;
            if read.as_ref().is_some_and(|h| h.version() >= target) {
                return ready(read);
            }
        }
        let mut write = slot.write_owned().await;
        // A pruned log starts from its checkpoint; a history built before a
        // prune (seen as a gap in the log, or its `LogPruned` record) starts
        // again from the new one.
        let mut rebuilds = 0;
        let mut fresh = write.is_none();
        loop {
            if fresh {
                *write = self
                    .store()
                    .checkpoint(realm)
                    .await?
                    .map(|c| History::from_checkpoint(&c.snapshot, c.at));
                fresh = false;
            }
            let after = write.as_ref().map_or(0, |h| h.version());
            if after >= target {
                break;
            }
            let commits = self
                .store()
                .commits(realm, after, Some(target.min(after + CHUNK)))
                .await?;
            let gap = commits.first().is_none_or(|c| c.version != after + 1);
            let outdated = write
                .as_ref()
                .is_some_and(|h| commits.iter().any(|c| h.outdated_by(c)));
            if gap || outdated {
                rebuilds += 1;
                if rebuilds > 2 {
                    *write = None;
                    return Err(pruned());
                }
                fresh = true;
                continue;
            }
            apply_all(&mut write, &commits)?;
        }
        ready(write.downgrade())
    }

    /// One page of the audit trail: up to `limit` events matching `query`,
    /// after position `after`, in the query's order.
    pub async fn audit(
        &self,
        realm: RealmId,
        query: &AuditQuery,
        after: Option<EventId>,
        limit: usize,
    ) -> Result<(HistoryGuard, AuditPage), EngineError> {
        let history = self.history(realm).await?;
        let mut records = Vec::new();
        let mut next = None;
        let mut candidates = query.candidates(&history, after);
        'pages: loop {
            let versions: Vec<Version> = candidates.by_ref().take(PAGE_CHUNK).collect();
            if versions.is_empty() {
                break;
            }
            let mut commits = self.commits_at(realm, &versions).await?;
            if query.newest_first {
                commits.reverse();
            }
            if commits.len() != versions.len() {
                self.forget_history(realm);
                return Err(pruned());
            }
            for commit in &commits {
                let mut events = audit::describe(&history, commit);
                if query.newest_first {
                    events.reverse();
                }
                for event in events {
                    let beyond = match after {
                        None => true,
                        Some(pos) if query.newest_first => event.id < pos,
                        Some(pos) => event.id > pos,
                    };
                    if !beyond || !query.matches(&event) {
                        continue;
                    }
                    if records.len() == limit {
                        next = records.last().map(|r: &AuditRecord| r.event.id);
                        break 'pages;
                    }
                    records.push(record(event, commit));
                }
            }
        }
        drop(candidates);
        Ok((history, AuditPage { records, next }))
    }
}

impl Engine {
    /// A page of the access review between two versions (up to `limit`
    /// groups after `after`), with the audit records of every commit it
    /// blames (by version), for rendering the causes.
    pub async fn access_review(
        &self,
        realm: RealmId,
        (from, to): (Version, Version),
        group: Option<cohort_core::GroupId>,
        (after, limit): (Option<cohort_core::GroupId>, usize),
    ) -> Result<(HistoryGuard, ReviewPage, HashMap<Version, Vec<AuditRecord>>), EngineError> {
        let history = self.history(realm).await?;
        let page = history.access_review_page(from, to.min(history.version()), group, after, limit);
        let mut blamed: Vec<Version> = page
            .groups
            .iter()
            .flat_map(|r| r.gained.iter().chain(&r.lost))
            .flat_map(|e| e.because.iter().copied())
            .collect();
        blamed.sort_unstable();
        blamed.dedup();
        let mut causes = HashMap::new();
        for chunk in blamed.chunks(PAGE_CHUNK) {
            for commit in self.commits_at(realm, chunk).await? {
                let records = audit::describe(&history, &commit)
                    .into_iter()
                    .map(|e| record(e, &commit))
                    .collect();
                causes.insert(commit.version, records);
            }
        }
        Ok((history, page, causes))
    }
}

impl Engine {
    /// The commits at `versions`, ascending, big ones from the cache; any
    /// the log no longer holds are missing from the answer.
    async fn commits_at(
        &self,
        realm: RealmId,
        versions: &[Version],
    ) -> Result<Vec<Arc<Commit>>, EngineError> {
        let mut versions = versions.to_vec();
        versions.sort_unstable();
        versions.dedup();
        let cache = &self.histories.commits;
        let cached: Vec<Option<Arc<Commit>>> = versions
            .iter()
            .map(|v| cache.get(&(realm, *v)).map(|(_, c)| c))
            .collect();
        let missing: Vec<Version> = versions
            .iter()
            .zip(&cached)
            .filter(|(_, c)| c.is_none())
            .map(|(v, _)| *v)
            .collect();
        let mut read = Vec::new();
        if !missing.is_empty() {
            read = self.store().commits_at(realm, missing).await?;
        }
        let mut read = read.into_iter().map(Arc::new).peekable();
        let mut commits = Vec::with_capacity(versions.len());
        for (v, hit) in versions.iter().zip(cached) {
            if let Some(commit) = hit {
                commits.push(commit);
            } else if let Some(commit) = read.next_if(|c| c.version == *v) {
                let weight = weight(&commit);
                if weight >= CACHED_FROM {
                    cache.insert((realm, *v), (weight, commit.clone()));
                }
                commits.push(commit);
            }
        }
        Ok(commits)
    }
}

/// What `Engine::prune_log` did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pruned {
    /// The version the realm's history now starts from.
    pub checkpoint: Version,
    pub commits_deleted: u64,
}

impl Engine {
    /// `cohort log prune --before T`: keep a checkpoint at the version current
    /// at `before` (so every question about `before` or later keeps its
    /// answer) and delete the log up to it. `None` when nothing is older.
    pub async fn prune_log(
        &self,
        realm: RealmId,
        before: cohort_core::Millis,
    ) -> Result<Option<Pruned>, EngineError> {
        let history = self.history(realm).await?;
        let Some(version) = history.version_at(before) else {
            return Ok(None);
        };
        let at = history.commit(version).map_or(before, |c| c.at);
        drop(history);
        let checkpoint = self.store().checkpoint(realm).await?;
        let start = checkpoint.as_ref().map_or(0, |c| c.version);
        if version <= start {
            return Ok(None);
        }
        let commits = self.store().commits(realm, start, Some(version)).await?;
        let mut state = match checkpoint {
            Some(c) => c.snapshot,
            None => match commits.first().and_then(|c| c.changes.first()) {
                Some(cohort_core::Change::RealmCreated { realm }) => {
                    cohort_core::Snapshot::empty((**realm).clone())
                }
                _ => {
                    return Err(EngineError::Internal(format!(
                        "realm {realm}'s log has no start"
                    )))
                }
            },
        };
        for commit in &commits {
            state
                .apply(commit)
                .map_err(|e| EngineError::Internal(e.to_string()))?;
        }
        if state.version() != version {
            return Err(pruned());
        }
        let now = crate::now_millis();
        let record = Commit {
            realm,
            version: self
                .snapshot(realm)
                .ok_or(EngineError::RealmNotFound(realm))?
                .version()
                + 1,
            at: now,
            actor: cohort_core::Actor::Operator,
            origin: cohort_core::Origin::local(cohort_core::Face::Cli),
            changes: vec![cohort_core::Change::LogPruned { up_to: version }],
        };
        let checkpoint = cohort_store::Checkpoint {
            realm,
            version,
            at,
            snapshot: state,
        };
        let deleted = self.store().prune(checkpoint, record).await?;
        // The record moves the realm's version: take it in like any commit.
        self.catch_up().await?;
        self.forget_history(realm);
        Ok(Some(Pruned {
            checkpoint: version,
            commits_deleted: deleted,
        }))
    }

    /// Drop a realm's history; the next question rebuilds it.
    fn forget_history(&self, realm: RealmId) {
        let mut slots = self
            .histories
            .slots
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        slots.remove(&realm);
        drop(slots);
        self.histories.commits.retain(|(r, _), _| *r != realm);
    }
}

fn pruned() -> EngineError {
    EngineError::Unavailable("the change log was pruned while it was read; ask again".into())
}

fn record(event: AuditEvent, commit: &Commit) -> AuditRecord {
    AuditRecord {
        event,
        request_id: commit.origin.request_id.clone(),
        client: commit.origin.client.clone(),
    }
}

fn apply_all(slot: &mut Option<History>, commits: &[Commit]) -> Result<(), EngineError> {
    let corrupt = |e: cohort_core::snapshot::ApplyError| EngineError::Internal(e.to_string());
    let mut rest = commits;
    if slot.is_none() {
        let Some((first, tail)) = commits.split_first() else {
            return Ok(());
        };
        *slot = Some(History::start(first).map_err(corrupt)?);
        rest = tail;
    }
    if let Some(history) = slot.as_mut() {
        for commit in rest {
            history.apply(commit).map_err(corrupt)?;
        }
    }
    Ok(())
}

fn ready(guard: OwnedRwLockReadGuard<Option<History>>) -> Result<HistoryGuard, EngineError> {
    OwnedRwLockReadGuard::try_map(guard, |h| h.as_ref())
        .map(HistoryGuard)
        .map_err(|_| EngineError::Internal("the realm has no history".into()))
}
