//! Event queues, as Zulip's Tornado keeps them: one per `register`, owned by
//! the user who made it, holding the events that user may see until they are
//! acknowledged (`last_event_id`), collected after `IDLE` without a poll.
//!
//! Limits (documented in the README): `PER_USER` queues per user (a new one
//! evicts that user's least recently polled), `MAX_BUFFERED` unacknowledged
//! events per queue (a queue that falls further behind is dropped, and its
//! next poll gets `BAD_EVENT_QUEUE_ID`, so a client that stopped reading
//! costs bounded memory).
//!
//! Each realm with queues has a dispatcher task: it follows the realm's
//! version (`Engine::watch_version`), reads the new commits from the store,
//! applies each to its own copy of the snapshot to have the states before
//! and after, translates the commit (`translate.rs`) and pushes the events
//! to every queue of the realm. `register` takes its initial state from the
//! dispatcher's snapshot while holding its lock, so a queue's first event is
//! exactly the first change after the state it was given.

use super::translate::{translate, Kind, Outgoing};
use cohort_core::permission::{self, Gate};
use cohort_core::{Actor, RealmId, Snapshot, UserId, Version};
use cohort_engine::Engine;
use serde_json::Value;
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};
use tokio::sync::Notify;

/// A queue nobody polls for this long is collected (Zulip: 10 minutes).
pub const IDLE: Duration = Duration::from_secs(600);
/// Queues one user may hold.
pub const PER_USER: usize = 32;
/// Unacknowledged events one queue may hold.
pub const MAX_BUFFERED: usize = 10_000;
/// How often idle queues are collected.
const COLLECT_EVERY: Duration = Duration::from_secs(30);

/// What a queue asked for at `register`.
#[derive(Clone, Debug)]
pub struct Wants {
    /// `None`: every type.
    pub kinds: Option<Vec<Kind>>,
    pub include_deactivated_groups: bool,
}

/// An event rendered once for every queue that gets it: its JSON object
/// without the `id`, which each queue gives it when it is added.
pub type Event = Arc<str>;

/// One event of a realm, rendered for both kinds of clients.
pub struct Rendered {
    kind: Kind,
    event: Event,
    without_deactivated: Option<Event>,
}

impl Rendered {
    pub fn new(outgoing: &Outgoing) -> Rendered {
        let render = |v: &Value| -> Event { serde_json::to_string(v).unwrap_or_default().into() };
        Rendered {
            kind: outgoing.kind,
            event: render(&outgoing.event),
            without_deactivated: outgoing.without_deactivated.as_ref().map(render),
        }
    }
}

/// `{"id":N,…}`: an event as a queue hands it out.
pub fn with_id(out: &mut Vec<u8>, id: i64, event: &str) {
    use std::io::Write;
    let _ = write!(out, "{{\"id\":{id}");
    let rest = event.strip_prefix('{').unwrap_or(event);
    if rest != "}" {
        out.push(b',');
    }
    out.extend_from_slice(rest.as_bytes());
}

const HEARTBEAT: &str = r#"{"type":"heartbeat"}"#;

pub struct Queue {
    pub id: String,
    pub realm: RealmId,
    pub user: UserId,
    wants: Wants,
    state: Mutex<State>,
    notify: Notify,
}

struct State {
    events: VecDeque<(i64, Event)>,
    next_id: i64,
    last_poll: Instant,
    polling: usize,
    /// Fell behind by more than `MAX_BUFFERED`: dead.
    overflowed: bool,
}

impl Queue {
    fn new(id: String, realm: RealmId, user: UserId, wants: Wants) -> Queue {
        Queue {
            id,
            realm,
            user,
            wants,
            state: Mutex::new(State {
                events: VecDeque::new(),
                next_id: 0,
                last_poll: Instant::now(),
                polling: 0,
                overflowed: false,
            }),
            notify: Notify::new(),
        }
    }

    /// Add what this queue's user may see of `event`.
    fn push(&self, snap: &Snapshot, event: &Rendered) {
        if self
            .wants
            .kinds
            .as_ref()
            .is_some_and(|kinds| !kinds.contains(&event.kind))
        {
            return;
        }
        // The core's rule for who may read groups decides who hears of
        // them; directory and realm events go to every member.
        if event.kind == Kind::UserGroup
            && permission::check_gate(snap, Actor::User(self.user), Gate::GroupEndpoint).is_err()
        {
            return;
        }
        let body = if self.wants.include_deactivated_groups {
            Some(&event.event)
        } else {
            event.without_deactivated.as_ref()
        };
        if let Some(body) = body {
            self.append(body.clone());
        }
    }

    fn append(&self, event: Event) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if state.overflowed {
            return;
        }
        let id = state.next_id;
        state.next_id += 1;
        state.events.push_back((id, event));
        if state.events.len() > MAX_BUFFERED {
            state.overflowed = true;
            state.events.clear();
        }
        drop(state);
        self.notify.notify_waiters();
    }

    /// The highest event id handed out so far (-1 before the first).
    pub fn last_id(&self) -> i64 {
        self.state.lock().unwrap_or_else(|e| e.into_inner()).next_id - 1
    }

    /// `GET /events`: drop what `acknowledged` covers, then return what is
    /// left, waiting up to `wait` for something (a heartbeat if nothing
    /// comes). `None`: the queue is dead.
    pub async fn poll(
        &self,
        acknowledged: i64,
        wait: Option<Duration>,
    ) -> Option<Vec<(i64, Event)>> {
        {
            let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
            state.polling += 1;
            state.last_poll = Instant::now();
        }
        let answer = self.wait_for_events(acknowledged, wait).await;
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        state.polling -= 1;
        state.last_poll = Instant::now();
        answer
    }

    async fn wait_for_events(
        &self,
        acknowledged: i64,
        wait: Option<Duration>,
    ) -> Option<Vec<(i64, Event)>> {
        let deadline = wait.map(|w| tokio::time::Instant::now() + w);
        loop {
            let notified = self.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            {
                let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
                if state.overflowed {
                    return None;
                }
                while state
                    .events
                    .front()
                    .is_some_and(|(id, _)| *id <= acknowledged)
                {
                    state.events.pop_front();
                }
                if !state.events.is_empty() || deadline.is_none() {
                    return Some(state.events.iter().cloned().collect());
                }
            }
            let Some(deadline) = deadline else {
                return Some(Vec::new());
            };
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                self.append(HEARTBEAT.into());
            }
        }
    }

    fn idle_since(&self) -> Option<Instant> {
        let state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        (state.polling == 0).then_some(state.last_poll)
    }

    fn dead(&self) -> bool {
        self.state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .overflowed
    }
}

/// A realm's dispatcher: its snapshot as of the last commit dispatched, and
/// its queues.
struct Realm {
    snapshot: Arc<Snapshot>,
    /// By queue id (a removal is one lookup, not a scan).
    queues: HashMap<String, Arc<Queue>>,
}

#[derive(Default)]
pub struct Queues {
    by_id: Mutex<HashMap<String, Arc<Queue>>>,
    realms: Arc<Mutex<HashMap<RealmId, Realm>>>,
    collector: std::sync::OnceLock<()>,
}

impl Queues {
    /// Make a queue for `user` and hand `initial` the snapshot its state is
    /// to be read from (the one its first event follows).
    pub fn register<T>(
        self: &Arc<Self>,
        engine: &Arc<Engine>,
        realm: RealmId,
        user: UserId,
        wants: Wants,
        initial: impl FnOnce(&Snapshot) -> T,
    ) -> Option<(Arc<Queue>, T)> {
        self.start_collector();
        let id = uuid::Uuid::new_v4().simple().to_string();
        let queue = Arc::new(Queue::new(id, realm, user, wants));
        let mut realms = self.realms.lock().unwrap_or_else(|e| e.into_inner());
        let entry = match realms.entry(realm) {
            std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::hash_map::Entry::Vacant(e) => {
                let versions = engine.watch_version(realm)?;
                let snapshot = engine.snapshot(realm)?;
                tokio::spawn(dispatch(
                    Arc::downgrade(engine),
                    Arc::downgrade(self),
                    realm,
                    versions,
                ));
                e.insert(Realm {
                    snapshot,
                    queues: HashMap::new(),
                })
            }
        };
        let state = initial(&entry.snapshot);
        // The user's least recently polled queue makes room.
        let mine: Vec<&Arc<Queue>> = entry.queues.values().filter(|q| q.user == user).collect();
        let evicted = (mine.len() >= PER_USER)
            .then(|| {
                mine.iter()
                    .min_by_key(|q| q.idle_since().unwrap_or_else(Instant::now))
                    .map(|q| q.id.clone())
            })
            .flatten();
        entry.queues.insert(queue.id.clone(), queue.clone());
        if let Some(old) = &evicted {
            entry.queues.remove(old);
        }
        drop(realms);
        let mut by_id = self.by_id.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(old) = evicted {
            by_id.remove(&old);
        }
        by_id.insert(queue.id.clone(), queue.clone());
        Some((queue, state))
    }

    /// The caller's queue: `None` for an unknown, collected, dead or
    /// someone else's queue (Zulip cannot tell them apart either).
    pub fn get(&self, id: &str, realm: RealmId, user: UserId) -> Option<Arc<Queue>> {
        let queue = self
            .by_id
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(id)
            .cloned()?;
        if queue.realm != realm || queue.user != user {
            return None;
        }
        if queue.dead() {
            self.remove(&queue.id);
            return None;
        }
        Some(queue)
    }

    pub fn remove(&self, id: &str) -> bool {
        let Some(queue) = self
            .by_id
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(id)
        else {
            return false;
        };
        let mut realms = self.realms.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(realm) = realms.get_mut(&queue.realm) {
            realm.queues.remove(id);
        }
        true
    }

    /// How many queues are open (for the benchmark and the metrics).
    pub fn len(&self) -> usize {
        self.by_id.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    fn start_collector(self: &Arc<Self>) {
        let weak = Arc::downgrade(self);
        self.collector.get_or_init(|| {
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(COLLECT_EVERY);
                loop {
                    tick.tick().await;
                    let Some(queues) = weak.upgrade() else { return };
                    queues.collect(IDLE);
                }
            });
        });
    }

    /// Drop queues idle for `idle` or more, and dead ones.
    fn collect(&self, idle: Duration) {
        let expired: Vec<String> = self
            .by_id
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .filter(|q| q.dead() || q.idle_since().is_some_and(|t| t.elapsed() >= idle))
            .map(|q| q.id.clone())
            .collect();
        for id in expired {
            self.remove(&id);
        }
        metrics::gauge!("cohort_zulip_event_queues").set(self.len() as f64);
    }
}

/// Follow one realm's commits into its queues, until it has none.
async fn dispatch(
    engine: Weak<Engine>,
    queues: Weak<Queues>,
    realm: RealmId,
    mut versions: tokio::sync::watch::Receiver<Version>,
) {
    loop {
        let woken = tokio::time::timeout(COLLECT_EVERY, versions.changed()).await;
        let (Some(engine), Some(queues)) = (engine.upgrade(), queues.upgrade()) else {
            return;
        };
        let from = {
            let mut realms = queues.realms.lock().unwrap_or_else(|e| e.into_inner());
            match realms.get(&realm) {
                Some(r) if r.queues.is_empty() || matches!(woken, Ok(Err(_))) => {
                    realms.remove(&realm);
                    return;
                }
                Some(r) => r.snapshot.clone(),
                None => return,
            }
        };
        let current = *versions.borrow_and_update();
        if current <= from.version() {
            continue;
        }
        let commits = match engine
            .store()
            .commits(realm, from.version(), Some(current))
            .await
        {
            Ok(commits) => commits,
            Err(err) => {
                tracing::warn!(realm = realm.0, %err, "event queues: reading the log failed; retrying");
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
        };
        let mut snapshot = (*from).clone();
        let mut realms = queues.realms.lock().unwrap_or_else(|e| e.into_inner());
        let Some(entry) = realms.get_mut(&realm) else {
            return;
        };
        for commit in &commits {
            let before = snapshot.clone();
            if let Err(err) = snapshot.apply(commit) {
                tracing::error!(realm = realm.0, %err, "event queues: a commit does not apply");
                break;
            }
            let events: Vec<Rendered> = translate(&before, commit, &snapshot)
                .iter()
                .map(Rendered::new)
                .collect();
            for queue in entry.queues.values() {
                for event in &events {
                    queue.push(&snapshot, event);
                }
            }
        }
        entry.snapshot = Arc::new(snapshot);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn event(value: Value) -> Event {
        value.to_string().into()
    }

    fn rendered(events: &[(i64, Event)]) -> Vec<Value> {
        events
            .iter()
            .map(|(id, e)| {
                let mut out = Vec::new();
                with_id(&mut out, *id, e);
                serde_json::from_slice(&out).unwrap()
            })
            .collect()
    }

    fn queue(user: i64) -> Arc<Queue> {
        let wants = Wants {
            kinds: None,
            include_deactivated_groups: true,
        };
        Arc::new(Queue::new(
            format!("q{user}"),
            RealmId(1),
            UserId(user),
            wants,
        ))
    }

    #[tokio::test]
    async fn acknowledged_events_go_and_ids_increase() {
        let q = queue(1);
        for i in 0..3 {
            q.append(event(json!({"type": "realm", "n": i})));
        }
        let all = rendered(&q.poll(-1, None).await.unwrap());
        assert_eq!(
            all.iter()
                .map(|e| e["id"].as_i64().unwrap())
                .collect::<Vec<_>>(),
            [0, 1, 2]
        );
        let rest = rendered(&q.poll(1, None).await.unwrap());
        assert_eq!(rest.len(), 1);
        assert_eq!(rest[0]["id"], 2);
        assert_eq!(q.last_id(), 2);
    }

    #[tokio::test]
    async fn a_long_poll_wakes_on_an_event_or_answers_a_heartbeat() {
        let q = queue(1);
        let waiting = {
            let q = q.clone();
            tokio::spawn(async move { q.poll(-1, Some(Duration::from_secs(30))).await })
        };
        tokio::time::sleep(Duration::from_millis(20)).await;
        q.append(event(json!({"type": "realm"})));
        let got = rendered(&waiting.await.unwrap().unwrap());
        assert_eq!(got[0]["type"], "realm");
        let quiet = rendered(&q.poll(0, Some(Duration::from_millis(30))).await.unwrap());
        assert_eq!(quiet.len(), 1);
        assert_eq!(quiet[0]["type"], "heartbeat");
        assert_eq!(quiet[0]["id"], 1);
    }

    #[tokio::test]
    async fn a_queue_that_falls_too_far_behind_is_dropped() {
        let q = queue(1);
        for _ in 0..=MAX_BUFFERED {
            q.append(event(json!({"type": "realm"})));
        }
        assert!(q.dead());
        assert_eq!(q.poll(-1, None).await, None);
    }

    #[tokio::test]
    async fn idle_queues_are_collected_and_polled_ones_kept() {
        let queues = Queues::default();
        let (idle, busy) = (queue(1), queue(2));
        for q in [&idle, &busy] {
            queues.by_id.lock().unwrap().insert(q.id.clone(), q.clone());
        }
        busy.state.lock().unwrap().polling = 1;
        queues.collect(Duration::ZERO);
        assert!(queues.get("q1", RealmId(1), UserId(1)).is_none());
        assert!(queues.get("q2", RealmId(1), UserId(2)).is_some());
        // Someone else's queue is as unknown as a missing one.
        assert!(queues.get("q2", RealmId(1), UserId(1)).is_none());
        assert!(queues.get("q2", RealmId(2), UserId(2)).is_none());
    }
}
