//! The writer task: the only code that moves snapshots.
//!
//! It drains the request queue into batches (group commit), builds one write
//! job per realm, lets the store run them in a single transaction, and only
//! then publishes snapshots and answers callers. A failed transaction answers
//! every caller in the batch with the storage error; nothing was written and
//! nothing is published.

use crate::{now_millis, Engine, EngineError, Executed};
use cohort_core::command::{self, Context, CreateRealm};
use cohort_core::{Actor, Command, Commit, Face, Origin, RealmId, Reply, Snapshot};
use cohort_store::{Job, Target, WriteJob};
use std::any::Any;
use std::collections::BTreeMap;
use std::sync::{Arc, Weak};
use std::time::Instant;
use tokio::sync::{mpsc, oneshot};

/// Most requests folded into one transaction.
const MAX_BATCH: usize = 512;

type Answer = oneshot::Sender<Result<Executed, EngineError>>;

pub enum Request {
    Command {
        realm: RealmId,
        actor: Actor,
        origin: Origin,
        command: Command,
        reply: Answer,
    },
    CreateRealm {
        command: CreateRealm,
        reply: Answer,
    },
    CatchUp {
        done: Option<oneshot::Sender<Result<(), EngineError>>>,
    },
}

struct Pending {
    actor: Actor,
    origin: Origin,
    command: Command,
    reply: Answer,
    result: Option<Result<Reply, EngineError>>,
}

/// All queued commands of one realm, run in order against an evolving snapshot.
struct RealmJob {
    realm: RealmId,
    base: Arc<Snapshot>,
    now: i64,
    pending: Vec<Pending>,
    /// Commits that lead from `base` to `result`: other writers' first, then ours.
    commits: Vec<Commit>,
    result: Option<Snapshot>,
    failure: Option<EngineError>,
}

impl WriteJob for RealmJob {
    fn target(&self) -> Target {
        Target::Realm {
            id: self.realm,
            known: self.base.version(),
        }
    }

    fn ids_needed(&self) -> usize {
        self.pending.iter().map(|p| p.command.ids_needed()).sum()
    }

    fn run(&mut self, behind: Vec<Commit>, ids: Vec<i64>) -> Vec<Commit> {
        let mut snap = (*self.base).clone();
        for commit in &behind {
            if let Err(err) = snap.apply(commit) {
                self.failure = Some(EngineError::Internal(format!(
                    "cannot catch up realm {}: {err}",
                    self.realm
                )));
                return Vec::new();
            }
        }
        self.commits = behind;
        let mut ids = ids.into_iter();
        let mut ours = Vec::new();
        for pending in &mut self.pending {
            let mut ctx = Context {
                now: self.now,
                ids: &mut ids,
            };
            let outcome = match command::execute(&snap, pending.actor, &pending.command, &mut ctx) {
                Ok(outcome) => outcome,
                Err(err) => {
                    pending.result = Some(Err(EngineError::Domain(err)));
                    continue;
                }
            };
            pending.result = Some(Ok(outcome.reply.clone()));
            if outcome.changes.is_empty() {
                continue;
            }
            let commit = Commit {
                realm: self.realm,
                version: snap.version() + 1,
                at: self.now,
                actor: pending.actor,
                origin: pending.origin.clone(),
                changes: outcome.changes.clone(),
            };
            snap = outcome.seal(commit.version);
            ours.push(commit);
        }
        self.commits.extend(ours.iter().cloned());
        self.result = Some(snap);
        ours
    }

    fn into_any(self: Box<Self>) -> Box<dyn Any + Send> {
        self
    }
}

/// A realm being created.
struct NewRealmJob {
    command: CreateRealm,
    now: i64,
    reply: Answer,
    commit: Option<Commit>,
    result: Option<Result<Snapshot, EngineError>>,
}

impl WriteJob for NewRealmJob {
    fn target(&self) -> Target {
        Target::NewRealm
    }

    fn ids_needed(&self) -> usize {
        // The realm, its eight system groups, and its first owner.
        1 + cohort_core::SystemGroup::ALL.len() + 1
    }

    fn run(&mut self, _behind: Vec<Commit>, ids: Vec<i64>) -> Vec<Commit> {
        let mut ids = ids.into_iter();
        let mut ctx = Context {
            now: self.now,
            ids: &mut ids,
        };
        match command::create_realm(&self.command, &mut ctx) {
            Ok((realm, outcome)) => {
                let commit = Commit {
                    realm,
                    version: 1,
                    at: self.now,
                    actor: Actor::Operator,
                    origin: Origin::local(Face::Cli),
                    changes: outcome.changes.clone(),
                };
                self.result = Some(Ok(outcome.seal(1)));
                self.commit = Some(commit.clone());
                vec![commit]
            }
            Err(err) => {
                self.result = Some(Err(EngineError::Domain(err)));
                Vec::new()
            }
        }
    }

    fn into_any(self: Box<Self>) -> Box<dyn Any + Send> {
        self
    }
}

pub(crate) async fn run(engine: Weak<Engine>, mut requests: mpsc::Receiver<Request>) {
    let mut last_now = 0i64;
    while let Some(first) = requests.recv().await {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match requests.try_recv() {
                Ok(request) => batch.push(request),
                Err(_) => break,
            }
        }
        let Some(engine) = engine.upgrade() else {
            return;
        };
        // Commit times never go backwards, whatever the wall clock does.
        last_now = now_millis().max(last_now);
        process(&engine, batch, last_now).await;
    }
}

async fn process(engine: &Engine, batch: Vec<Request>, now: i64) {
    let mut realm_jobs: BTreeMap<RealmId, RealmJob> = BTreeMap::new();
    let mut new_realms = Vec::new();
    let mut catch_up_waiters = Vec::new();
    for request in batch {
        match request {
            Request::Command {
                realm,
                actor,
                origin,
                command,
                reply,
            } => {
                let Some(base) = engine.snapshot(realm) else {
                    let _ = reply.send(Err(EngineError::RealmNotFound(realm)));
                    continue;
                };
                realm_jobs
                    .entry(realm)
                    .or_insert_with(|| RealmJob {
                        realm,
                        base,
                        now,
                        pending: Vec::new(),
                        commits: Vec::new(),
                        result: None,
                        failure: None,
                    })
                    .pending
                    .push(Pending {
                        actor,
                        origin,
                        command,
                        reply,
                        result: None,
                    });
            }
            Request::CreateRealm { command, reply } => new_realms.push(NewRealmJob {
                command,
                now,
                reply,
                commit: None,
                result: None,
            }),
            Request::CatchUp { done } => catch_up_waiters.push(done),
        }
    }

    if !catch_up_waiters.is_empty() {
        let result = catch_up(engine).await;
        if let Err(err) = &result {
            tracing::warn!(%err, "catching up with the change log failed");
        }
        for done in catch_up_waiters.into_iter().flatten() {
            let _ = done.send(result.clone());
        }
    }

    let command_count: usize =
        realm_jobs.values().map(|j| j.pending.len()).sum::<usize>() + new_realms.len();
    if command_count == 0 {
        return;
    }
    let mut jobs: Vec<Job> = Vec::new();
    for job in realm_jobs.into_values() {
        jobs.push(Box::new(job));
    }
    for job in new_realms {
        jobs.push(Box::new(job));
    }
    let started = Instant::now();
    let (jobs, written) = engine.store().write(jobs).await;
    metrics::histogram!("cohort_write_batch_seconds").record(started.elapsed().as_secs_f64());
    metrics::histogram!("cohort_write_batch_commands").record(command_count as f64);
    let failure = written.err().map(|err| {
        let err = EngineError::from(err);
        tracing::error!(%err, commands = command_count, "write batch failed; nothing was written");
        err
    });
    for job in jobs {
        finish(engine, job.into_any(), failure.as_ref());
    }
}

/// Publish a committed job's snapshot and answer its callers.
/// `failure` is set when the transaction did not commit: then nothing is
/// published and every caller hears the storage error.
fn finish(engine: &Engine, job: Box<dyn Any + Send>, failure: Option<&EngineError>) {
    let job = match job.downcast::<RealmJob>() {
        Ok(mut job) => {
            if let Some(err) = failure {
                job.failure = Some(err.clone());
            }
            return finish_realm(engine, *job);
        }
        Err(other) => other,
    };
    if let Ok(job) = job.downcast::<NewRealmJob>() {
        let job = *job;
        let answer = match (failure, job.result) {
            (Some(err), _) => Err(err.clone()),
            (None, Some(Ok(snap))) => {
                let commits: Vec<Commit> = job.commit.into_iter().collect();
                metrics::counter!("cohort_commits_total").increment(commits.len() as u64);
                let snapshot = engine.publish(snap, &commits);
                Ok(Executed {
                    reply: cohort_core::Reply::Realm(snapshot.realm_id()),
                    snapshot,
                })
            }
            (None, Some(Err(err))) => Err(err),
            (None, None) => Err(EngineError::Internal("realm job did not run".into())),
        };
        let _ = job.reply.send(answer);
    }
}

fn finish_realm(engine: &Engine, job: RealmJob) {
    if let Some(err) = job.failure {
        for pending in job.pending {
            let _ = pending.reply.send(Err(err.clone()));
        }
        return;
    }
    let snapshot = match job.result {
        Some(snap) if !job.commits.is_empty() => {
            metrics::counter!("cohort_commits_total").increment(job.commits.len() as u64);
            engine.publish(snap, &job.commits)
        }
        _ => job.base.clone(),
    };
    for pending in job.pending {
        let answer = match pending.result {
            Some(Ok(reply)) => Ok(Executed {
                reply,
                snapshot: snapshot.clone(),
            }),
            Some(Err(err)) => Err(err),
            None => Err(EngineError::Internal("command did not run".into())),
        };
        let _ = pending.reply.send(answer);
    }
}

/// Apply commits that other processes wrote, realm by realm, from the log.
async fn catch_up(engine: &Engine) -> Result<(), EngineError> {
    let stored = engine.store().versions().await?;
    for (realm, version) in stored {
        let local = engine.snapshot(realm);
        let local_version = local.as_ref().map(|s| s.version()).unwrap_or(0);
        if version <= local_version {
            continue;
        }
        let commits = engine
            .store()
            .commits(realm, local_version, Some(version))
            .await?;
        let mut snap = match local {
            Some(snap) => (*snap).clone(),
            None => match commits.first().and_then(|c| c.changes.first()) {
                Some(cohort_core::Change::RealmCreated { realm }) => {
                    Snapshot::empty((**realm).clone())
                }
                _ => {
                    return Err(EngineError::Internal(format!(
                        "realm {realm}'s log does not start with its creation"
                    )))
                }
            },
        };
        let now = now_millis();
        for commit in &commits {
            snap.apply(commit)
                .map_err(|e| EngineError::Internal(format!("realm {realm}: {e}")))?;
            // Time from another node's commit to this node serving it.
            metrics::histogram!("cohort_catch_up_lag_seconds")
                .record((now - commit.at).max(0) as f64 / 1000.0);
        }
        metrics::counter!("cohort_commits_caught_up_total").increment(commits.len() as u64);
        engine.publish(snap, &commits);
    }
    Ok(())
}
