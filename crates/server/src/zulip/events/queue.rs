//! Event queues, as Zulip's Tornado keeps them: one per `register`, owned by
//! the user who made it, handing out the events that user may see until they
//! are acknowledged (`last_event_id`), collected after `IDLE` without a poll.
//!
//! Storage: each realm with queues has one shared event log (`Log`) holding
//! the realm's last `LOG_CAPACITY` events, each stored once with what a queue
//! needs to decide whether it gets it: its kind, its rendering for clients
//! with and without `include_deactivated_groups`, and, for `user_group`
//! events, the snapshot the group gate is read from (the core's rule for who
//! may read groups decides who hears of them). An event costs one append
//! however many queues there are. A queue holds only its filter, its last
//! poll time and two positions in the log with the ids there: where its
//! oldest event not acknowledged is, and how far it has read; what it has
//! not had acknowledged is read again from the log, so a queue costs the
//! same however far behind it is. Ids are per queue and consecutive (0, 1,
//! 2, …, heartbeats included), given when a poll reads an event from the
//! log; `register`'s `last_event_id` is -1.
//!
//! Long polls wait on the log's notification for the kinds they asked for
//! (a `realm_user` queue does not wake for group changes), then filter the
//! log from their position.
//!
//! Limits (documented in the README): `PER_USER` queues per user (a new one
//! evicts that user's least recently polled); a queue dies, and its next
//! poll gets `BAD_EVENT_QUEUE_ID`, when an event of a kind it asked for
//! leaves the log before the client acknowledged it (the queue fell more
//! than `LOG_CAPACITY` of the realm's events behind) or when it has more
//! than `MAX_BUFFERED` events not acknowledged; so a client that stopped
//! reading costs a few hundred bytes, and the log bounded memory.
//!
//! Each realm with queues has a dispatcher task: it follows the realm's
//! version (`Engine::watch_version`), reads the new commits from the store,
//! applies each to its own copy of the snapshot to have the states before
//! and after, translates the commit (`translate.rs`) and appends the events
//! to the realm's log. `register` takes its initial state from the
//! dispatcher's snapshot and its position at the log's end while holding
//! the same lock, so a queue's first event is exactly the first change
//! after the state it was given.

use super::translate::{translate, Kind, Outgoing};
use cohort_core::permission::{self, Gate};
use cohort_core::{Actor, Change, Commit, RealmId, Snapshot, UserId, Version};
use cohort_engine::Engine;
use serde_json::Value;
use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, RwLock, Weak};
use std::task::Poll;
use std::time::{Duration, Instant};
use tokio::sync::Notify;

/// A queue nobody polls for this long is collected (Zulip: 10 minutes).
pub const IDLE: Duration = Duration::from_secs(600);
/// Queues one user may hold.
pub const PER_USER: usize = 32;
/// Events not acknowledged that one queue may have.
pub const MAX_BUFFERED: usize = 10_000;
/// Events a realm's log keeps (all kinds together): a queue that has not
/// had an event of a kind it wants acknowledged when the event leaves the
/// log is dead.
pub const LOG_CAPACITY: usize = 10_000;
/// How often idle queues are collected.
const COLLECT_EVERY: Duration = Duration::from_secs(30);

/// What a queue asked for at `register`.
#[derive(Clone, Debug)]
pub struct Wants {
    /// `None`: every type.
    pub kinds: Option<Vec<Kind>>,
    pub include_deactivated_groups: bool,
}

impl Wants {
    fn kind(&self, kind: Kind) -> bool {
        self.kinds
            .as_ref()
            .is_none_or(|kinds| kinds.contains(&kind))
    }
}

/// An event rendered once for every queue that gets it: its JSON object
/// without the `id`, which each queue gives it when it reads it.
pub type Event = Arc<str>;

/// One event of a realm's log, stored once for all its queues.
pub struct Entry {
    kind: Kind,
    event: Event,
    /// What clients without `include_deactivated_groups` get (`None`:
    /// nothing).
    without_deactivated: Option<Event>,
    /// `user_group` events: the snapshot the group gate is read from (the
    /// state after the commit, or an earlier one equal to it in everything
    /// the gate reads).
    audience: Option<Arc<Snapshot>>,
}

impl Entry {
    pub fn new(outgoing: &Outgoing, audience: Option<Arc<Snapshot>>) -> Entry {
        let render = |v: &Value| -> Event { serde_json::to_string(v).unwrap_or_default().into() };
        Entry {
            kind: outgoing.kind,
            event: render(&outgoing.event),
            without_deactivated: outgoing.without_deactivated.as_ref().map(render),
            audience: if outgoing.kind == Kind::UserGroup {
                audience
            } else {
                None
            },
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

/// A realm's shared event log: the last `LOG_CAPACITY` events, in order,
/// each with its sequence number (its place since the log began).
pub struct Log {
    entries: RwLock<Entries>,
    /// One per kind (`Kind::index`), woken when events of it are appended.
    arrived: [Notify; 3],
}

struct Entries {
    /// The sequence number of `events[0]`.
    start: u64,
    events: VecDeque<Entry>,
    /// Per kind: one past the sequence number of the newest event of that
    /// kind that left the log (0: none has).
    dropped: [u64; 3],
}

impl Entries {
    fn end(&self) -> u64 {
        self.start + self.events.len() as u64
    }

    /// Whether a queue whose oldest unacknowledged event is at `position`,
    /// wanting `wants`, lost an event it wanted off the log's start.
    fn missed(&self, position: u64, wants: &Wants) -> bool {
        position < self.start
            && Kind::ALL
                .iter()
                .any(|k| wants.kind(*k) && self.dropped[k.index()] > position)
    }
}

impl Default for Log {
    fn default() -> Log {
        Log {
            entries: RwLock::new(Entries {
                start: 0,
                events: VecDeque::new(),
                dropped: [0; 3],
            }),
            arrived: Default::default(),
        }
    }
}

impl Log {
    fn read(&self) -> std::sync::RwLockReadGuard<'_, Entries> {
        self.entries.read().unwrap_or_else(|e| e.into_inner())
    }

    /// The sequence number the next event will have.
    pub fn end(&self) -> u64 {
        self.read().end()
    }

    /// How many events the log holds.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.read().events.len()
    }

    /// Add `events` at the end (the oldest leave past `LOG_CAPACITY`), then
    /// wake the polls waiting for their kinds.
    pub fn append(&self, events: impl IntoIterator<Item = Entry>) {
        let mut kinds = [false; 3];
        {
            let mut log = self.entries.write().unwrap_or_else(|e| e.into_inner());
            for event in events {
                kinds[event.kind.index()] = true;
                log.events.push_back(event);
                if log.events.len() > LOG_CAPACITY {
                    if let Some(old) = log.events.pop_front() {
                        log.start += 1;
                        log.dropped[old.kind.index()] = log.start;
                    }
                }
            }
        }
        for kind in Kind::ALL {
            if kinds[kind.index()] {
                self.arrived[kind.index()].notify_waiters();
            }
        }
    }
}

pub struct Queue {
    pub id: String,
    pub realm: RealmId,
    pub user: UserId,
    wants: Wants,
    log: Arc<Log>,
    state: Mutex<State>,
}

struct State {
    /// The log position of the oldest event not acknowledged.
    from: u64,
    /// The id of the oldest item not acknowledged (the heartbeat, if any).
    first_id: i64,
    /// The oldest item not acknowledged is a heartbeat (there is at most
    /// one: it is only added when nothing else is pending).
    heartbeat: bool,
    /// The log has been read up to here, and ids given up to `next_id - 1`.
    scanned: u64,
    next_id: i64,
    last_poll: Instant,
    polling: usize,
    /// Fell behind (see the module's limits): dead.
    overflowed: bool,
    /// The group gate's last answer for this queue's user, and the
    /// snapshot it was read from (many events share one).
    gate: Option<(Weak<Snapshot>, bool)>,
}

impl Queue {
    fn new(
        id: String,
        realm: RealmId,
        user: UserId,
        wants: Wants,
        log: Arc<Log>,
        position: u64,
    ) -> Queue {
        Queue {
            id,
            realm,
            user,
            wants,
            log,
            state: Mutex::new(State {
                from: position,
                first_id: 0,
                heartbeat: false,
                scanned: position,
                next_id: 0,
                last_poll: Instant::now(),
                polling: 0,
                overflowed: false,
                gate: None,
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// What this queue's user gets of `entry`, if anything.
    fn body<'e>(
        &self,
        entry: &'e Entry,
        gate: &mut Option<(Weak<Snapshot>, bool)>,
    ) -> Option<&'e Event> {
        if !self.wants.kind(entry.kind) {
            return None;
        }
        if let Some(snap) = &entry.audience {
            let cached = gate
                .as_ref()
                .filter(|(seen, _)| std::ptr::eq(seen.as_ptr(), Arc::as_ptr(snap)))
                .map(|(_, answer)| *answer);
            let sees = cached.unwrap_or_else(|| {
                let answer =
                    permission::check_gate(snap, Actor::User(self.user), Gate::GroupEndpoint)
                        .is_ok();
                *gate = Some((Arc::downgrade(snap), answer));
                answer
            });
            if !sees {
                return None;
            }
        }
        if self.wants.include_deactivated_groups {
            Some(&entry.event)
        } else {
            entry.without_deactivated.as_ref()
        }
    }

    fn die(state: &mut State) -> bool {
        state.overflowed = true;
        false
    }

    /// Give ids to the log's events this queue wants, up to its end
    /// (false: dead).
    fn catch_up(&self, state: &mut State) -> bool {
        if state.overflowed {
            return false;
        }
        let log = self.log.read();
        if log.missed(state.from, &self.wants) {
            return Self::die(state);
        }
        let start = state.scanned.max(log.start);
        let mut gate = state.gate.take();
        let wanted = log
            .events
            .range((start - log.start) as usize..)
            .filter(|entry| self.body(entry, &mut gate).is_some())
            .count();
        state.gate = gate;
        state.next_id += wanted as i64;
        state.scanned = log.end();
        if state.next_id - state.first_id > MAX_BUFFERED as i64 {
            return Self::die(state);
        }
        true
    }

    /// Forget what `acknowledged` covers (false: dead).
    fn acknowledge(&self, state: &mut State, acknowledged: i64) -> bool {
        if state.overflowed {
            return false;
        }
        let log = self.log.read();
        if log.missed(state.from, &self.wants) {
            return Self::die(state);
        }
        if acknowledged < state.first_id {
            return true;
        }
        if acknowledged >= state.next_id - 1 {
            state.first_id = state.next_id;
            state.from = state.scanned;
            state.heartbeat = false;
            return true;
        }
        let mut id = state.first_id;
        if state.heartbeat {
            state.heartbeat = false;
            id += 1;
        }
        let start = state.from.max(log.start);
        let mut from = start;
        let mut gate = state.gate.take();
        let unread = (start - log.start) as usize..(state.scanned - log.start) as usize;
        for (seq, entry) in (start..).zip(log.events.range(unread)) {
            if self.body(entry, &mut gate).is_some() {
                if id > acknowledged {
                    break;
                }
                id += 1;
                from = seq + 1;
            }
        }
        state.gate = gate;
        state.from = from;
        state.first_id = id;
        true
    }

    /// What is not acknowledged, with its ids.
    fn pending(&self, state: &mut State) -> Vec<(i64, Event)> {
        let mut out = Vec::new();
        let mut id = state.first_id;
        if state.heartbeat {
            out.push((id, HEARTBEAT.into()));
            id += 1;
        }
        let log = self.log.read();
        let start = state.from.max(log.start);
        let mut gate = state.gate.take();
        let unread = (start - log.start) as usize..(state.scanned - log.start) as usize;
        for entry in log.events.range(unread) {
            if let Some(body) = self.body(entry, &mut gate) {
                out.push((id, body.clone()));
                id += 1;
            }
        }
        state.gate = gate;
        out
    }

    /// The highest event id this queue has (-1 before the first).
    pub fn last_id(&self) -> i64 {
        let mut state = self.lock();
        self.catch_up(&mut state);
        state.next_id - 1
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
            let mut state = self.lock();
            state.polling += 1;
            state.last_poll = Instant::now();
        }
        let answer = self.wait_for_events(acknowledged, wait).await;
        let mut state = self.lock();
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
            // Armed before reading the log, so nothing appended after the
            // read is missed.
            let mut arrivals: Vec<Pin<Box<tokio::sync::futures::Notified<'_>>>> = Kind::ALL
                .iter()
                .filter(|k| self.wants.kind(**k))
                .map(|k| Box::pin(self.log.arrived[k.index()].notified()))
                .collect();
            for arrival in &mut arrivals {
                arrival.as_mut().enable();
            }
            {
                let mut state = self.lock();
                if !self.acknowledge(&mut state, acknowledged) || !self.catch_up(&mut state) {
                    return None;
                }
                if state.next_id > state.first_id || deadline.is_none() {
                    return Some(self.pending(&mut state));
                }
            }
            let Some(deadline) = deadline else {
                return Some(Vec::new());
            };
            let any = std::future::poll_fn(|cx| {
                for arrival in &mut arrivals {
                    if arrival.as_mut().poll(cx).is_ready() {
                        return Poll::Ready(());
                    }
                }
                Poll::Pending
            });
            if tokio::time::timeout_at(deadline, any).await.is_err() {
                let mut state = self.lock();
                if self.catch_up(&mut state) && state.next_id == state.first_id {
                    state.heartbeat = true;
                    state.from = state.scanned;
                    state.next_id += 1;
                }
            }
        }
    }

    fn idle_since(&self) -> Option<Instant> {
        let state = self.lock();
        (state.polling == 0).then_some(state.last_poll)
    }

    fn dead(&self) -> bool {
        let state = self.lock();
        state.overflowed || self.log.read().missed(state.from, &self.wants)
    }
}

/// A realm's dispatcher: its snapshot as of the last commit dispatched, its
/// log, and its queues.
struct Realm {
    snapshot: Arc<Snapshot>,
    log: Arc<Log>,
    /// The snapshot `user_group` events are gated by, while commits change
    /// only groups (`None`: make one from the next commit's state).
    audience: Option<Arc<Snapshot>>,
    /// By queue id (a removal is one lookup, not a scan).
    queues: HashMap<String, Arc<Queue>>,
}

/// Whether `commit` changes only groups and their edges: then the group
/// gate (`permission::check_gate` with `Gate::GroupEndpoint`, which reads
/// the user's record and the realm's) answers after it as before it.
fn groups_only(commit: &Commit) -> bool {
    commit.changes.iter().all(|change| {
        matches!(
            change,
            Change::GroupCreated { .. }
                | Change::GroupUpdated { .. }
                | Change::GroupSettingChanged { .. }
                | Change::GroupDeleted { .. }
                | Change::MembersAdded { .. }
                | Change::MembersRemoved { .. }
                | Change::SubgroupsAdded { .. }
                | Change::SubgroupsRemoved { .. }
        )
    })
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
                    log: Arc::default(),
                    audience: None,
                    queues: HashMap::new(),
                })
            }
        };
        let state = initial(&entry.snapshot);
        let queue = Arc::new(Queue::new(
            id,
            realm,
            user,
            wants,
            entry.log.clone(),
            entry.log.end(),
        ));
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

/// Follow one realm's commits into its log, until it has no queue.
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
        let mut events = Vec::new();
        for commit in &commits {
            let before = snapshot.clone();
            if let Err(err) = snapshot.apply(commit) {
                tracing::error!(realm = realm.0, %err, "event queues: a commit does not apply");
                break;
            }
            if !groups_only(commit) {
                entry.audience = None;
            }
            for outgoing in translate(&before, commit, &snapshot) {
                let audience = (outgoing.kind == Kind::UserGroup).then(|| {
                    entry
                        .audience
                        .get_or_insert_with(|| Arc::new(snapshot.clone()))
                        .clone()
                });
                events.push(Entry::new(&outgoing, audience));
            }
        }
        // Under the realms lock, as `register` reads the log's end.
        entry.log.append(events);
        entry.snapshot = Arc::new(snapshot);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::test_world::World;
    use cohort_core::command::CreateUser;
    use cohort_core::{Command, KeyHash, Reply, Role};
    use serde_json::json;

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

    fn ids(events: &[(i64, Event)]) -> Vec<i64> {
        events.iter().map(|(id, _)| *id).collect()
    }

    fn all() -> Wants {
        Wants {
            kinds: None,
            include_deactivated_groups: true,
        }
    }

    fn queue_on(log: &Arc<Log>, user: i64, wants: Wants) -> Arc<Queue> {
        Arc::new(Queue::new(
            format!("q{user}"),
            RealmId(1),
            UserId(user),
            wants,
            log.clone(),
            log.end(),
        ))
    }

    fn queue(user: i64) -> Arc<Queue> {
        queue_on(&Arc::default(), user, all())
    }

    fn entry(kind: Kind, event: Value, without_deactivated: Option<Value>) -> Entry {
        Entry::new(
            &Outgoing {
                kind,
                event,
                without_deactivated,
            },
            None,
        )
    }

    fn realm_event(n: usize) -> Entry {
        let event = json!({"type": "realm", "n": n});
        entry(Kind::Realm, event.clone(), Some(event))
    }

    fn group_event(n: usize) -> Entry {
        let event = json!({"type": "user_group", "n": n});
        entry(Kind::UserGroup, event.clone(), Some(event))
    }

    #[tokio::test]
    async fn acknowledged_events_go_and_ids_increase() {
        let q = queue(1);
        q.log.append((0..3).map(realm_event));
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
        q.log.append([realm_event(0)]);
        let got = rendered(&waiting.await.unwrap().unwrap());
        assert_eq!(got[0]["type"], "realm");
        let quiet = rendered(&q.poll(0, Some(Duration::from_millis(30))).await.unwrap());
        assert_eq!(quiet.len(), 1);
        assert_eq!(quiet[0]["type"], "heartbeat");
        assert_eq!(quiet[0]["id"], 1);
    }

    #[tokio::test]
    async fn a_queue_that_falls_too_far_behind_is_dropped() {
        // Handed out and never acknowledged: more than MAX_BUFFERED kill it.
        let q = queue(1);
        for n in 0..=MAX_BUFFERED {
            q.log.append([realm_event(n)]);
            if n % 1000 == 0 && n < MAX_BUFFERED {
                assert!(q.poll(-1, None).await.is_some());
            }
        }
        assert_eq!(q.poll(-1, None).await, None);
        assert!(q.dead());
    }

    #[tokio::test]
    async fn one_append_serves_every_queue() {
        let log = Arc::new(Log::default());
        let queues: Vec<Arc<Queue>> = (0..1000).map(|u| queue_on(&log, u, all())).collect();
        log.append([realm_event(7)]);
        assert_eq!(log.len(), 1);
        let mut first: Option<Event> = None;
        for q in &queues {
            let got = q.poll(-1, None).await.unwrap();
            assert_eq!(ids(&got), [0]);
            // Every queue hands out the one stored rendering.
            let body = &got[0].1;
            if let Some(first) = &first {
                assert!(Arc::ptr_eq(first, body));
            }
            first = Some(body.clone());
        }
        assert_eq!(log.len(), 1);
    }

    #[tokio::test]
    async fn a_queue_reads_from_its_position_with_its_own_ids() {
        let log = Arc::new(Log::default());
        let early = queue_on(&log, 1, all());
        log.append([realm_event(0), realm_event(1)]);
        let late = queue_on(&log, 2, all());
        assert_eq!(late.last_id(), -1);
        log.append([realm_event(2)]);
        let got = rendered(&early.poll(-1, None).await.unwrap());
        assert_eq!(ids_of(&got), [0, 1, 2]);
        assert_eq!(got[2]["n"], 2);
        let got = rendered(&late.poll(-1, None).await.unwrap());
        assert_eq!(ids_of(&got), [0]);
        assert_eq!(got[0]["n"], 2);
        // Unacknowledged events come again with the same ids.
        let again = rendered(&early.poll(0, None).await.unwrap());
        assert_eq!(ids_of(&again), [1, 2]);
        assert_eq!(early.last_id(), 2);
    }

    fn ids_of(events: &[Value]) -> Vec<i64> {
        events.iter().map(|e| e["id"].as_i64().unwrap()).collect()
    }

    #[tokio::test]
    async fn falling_off_the_log_kills_only_queues_that_wanted_what_left() {
        let log = Arc::new(Log::default());
        let wants = |kinds: Vec<Kind>| Wants {
            kinds: Some(kinds),
            include_deactivated_groups: true,
        };
        let groups = queue_on(&log, 1, wants(vec![Kind::UserGroup]));
        let users = queue_on(&log, 2, wants(vec![Kind::RealmUser]));
        let reader = queue_on(&log, 3, wants(vec![Kind::UserGroup]));
        for n in 0..LOG_CAPACITY {
            log.append([group_event(n)]);
        }
        // Exactly full: nothing lost yet.
        assert!(!groups.dead());
        assert_eq!(
            reader.poll(-1, None).await.map(|e| e.len()),
            Some(LOG_CAPACITY)
        );
        // Acknowledged: what leaves the log now is nothing it still needs.
        let last = LOG_CAPACITY as i64 - 1;
        assert_eq!(reader.poll(last, None).await, Some(Vec::new()));
        log.append([group_event(LOG_CAPACITY)]);
        assert_eq!(log.len(), LOG_CAPACITY);
        assert!(groups.dead());
        assert_eq!(groups.poll(-1, None).await, None);
        let got = reader.poll(last, None).await.unwrap();
        assert_eq!(ids(&got), [LOG_CAPACITY as i64]);
        // Nothing it asked for left the log: it lives, and gets what comes.
        assert!(!users.dead());
        log.append([entry(
            Kind::RealmUser,
            json!({"type": "realm_user"}),
            Some(json!({"type": "realm_user"})),
        )]);
        let got = rendered(&users.poll(-1, None).await.unwrap());
        assert_eq!(ids_of(&got), [0]);
        assert_eq!(got[0]["type"], "realm_user");
    }

    #[tokio::test]
    async fn filters_and_variants() {
        let log = Arc::new(Log::default());
        let groups_only = queue_on(
            &log,
            1,
            Wants {
                kinds: Some(vec![Kind::UserGroup]),
                include_deactivated_groups: false,
            },
        );
        let everything = queue_on(&log, 2, all());
        let nothing = queue_on(
            &log,
            3,
            Wants {
                kinds: Some(vec![]),
                include_deactivated_groups: true,
            },
        );
        log.append([
            realm_event(0),
            // Deactivated: a variant for the capable, nothing for others.
            entry(
                Kind::UserGroup,
                json!({"type": "user_group", "op": "update", "deactivated": true}),
                None,
            ),
            entry(
                Kind::UserGroup,
                json!({"type": "user_group", "op": "add", "with": true}),
                Some(json!({"type": "user_group", "op": "add", "with": false})),
            ),
        ]);
        let got = rendered(&groups_only.poll(-1, None).await.unwrap());
        assert_eq!(ids_of(&got), [0]);
        assert_eq!(got[0]["with"], false);
        let got = rendered(&everything.poll(-1, None).await.unwrap());
        assert_eq!(ids_of(&got), [0, 1, 2]);
        assert_eq!(got[1]["deactivated"], true);
        assert_eq!(got[2]["with"], true);
        assert_eq!(nothing.poll(-1, None).await.unwrap(), []);
        assert_eq!(nothing.last_id(), -1);
    }

    #[tokio::test]
    async fn a_long_poll_does_not_wake_for_kinds_it_did_not_ask_for() {
        let log = Arc::new(Log::default());
        let q = queue_on(
            &log,
            1,
            Wants {
                kinds: Some(vec![Kind::RealmUser]),
                include_deactivated_groups: true,
            },
        );
        let waiting = {
            let q = q.clone();
            tokio::spawn(async move { q.poll(-1, Some(Duration::from_secs(30))).await })
        };
        tokio::time::sleep(Duration::from_millis(20)).await;
        log.append([group_event(0)]);
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!waiting.is_finished());
        log.append([entry(
            Kind::RealmUser,
            json!({"type": "realm_user"}),
            Some(json!({"type": "realm_user"})),
        )]);
        let got = rendered(&waiting.await.unwrap().unwrap());
        assert_eq!(ids_of(&got), [0]);
        assert_eq!(got[0]["type"], "realm_user");
    }

    #[tokio::test]
    async fn group_events_reach_only_users_the_group_gate_lets_read_groups() {
        let mut world = World::new();
        let member = world.user(1);
        let guest = match world.run(Command::CreateUser(CreateUser {
            email: Some("guest@t.example".into()),
            full_name: "Guest".into(),
            role: Role::Guest,
            is_bot: false,
            bot_owner: None,
            key: None,
            avatar_url: None,
            api_key: KeyHash([9; 32]),
            can_create_users: false,
        })) {
            Reply::User(id) => id,
            other => panic!("{other:?}"),
        };
        let audience = Arc::new(world.snap.clone());
        let log = Arc::new(Log::default());
        let of_member = queue_on(&log, member.0, all());
        let of_guest = queue_on(&log, guest.0, all());
        let event = json!({"type": "user_group", "op": "remove", "group_id": 1});
        let outgoing = Outgoing {
            kind: Kind::UserGroup,
            event: event.clone(),
            without_deactivated: Some(event),
        };
        log.append([
            Entry::new(&outgoing, Some(audience.clone())),
            Entry::new(&outgoing, Some(audience)),
            realm_event(0),
        ]);
        let got = rendered(&of_member.poll(-1, None).await.unwrap());
        assert_eq!(ids_of(&got), [0, 1, 2]);
        let got = rendered(&of_guest.poll(-1, None).await.unwrap());
        assert_eq!(ids_of(&got), [0]);
        assert_eq!(got[0]["type"], "realm");
    }

    #[tokio::test]
    async fn unacknowledged_events_are_read_again_from_the_log() {
        let log = Arc::new(Log::default());
        let q = queue_on(
            &log,
            1,
            Wants {
                kinds: Some(vec![Kind::Realm]),
                include_deactivated_groups: true,
            },
        );
        log.append([realm_event(0), group_event(0), realm_event(1)]);
        let got = rendered(&q.poll(-1, None).await.unwrap());
        assert_eq!(ids_of(&got), [0, 1]);
        log.append([group_event(1), realm_event(2)]);
        // Acknowledging the first only: the rest again, same ids, in order.
        let got = rendered(&q.poll(0, None).await.unwrap());
        assert_eq!(ids_of(&got), [1, 2]);
        assert_eq!(got[0]["n"], 1);
        assert_eq!(got[1]["n"], 2);
        // A heartbeat takes the next id; events after it follow it.
        let beat = rendered(&q.poll(2, Some(Duration::from_millis(20))).await.unwrap());
        assert_eq!(ids_of(&beat), [3]);
        assert_eq!(beat[0]["type"], "heartbeat");
        log.append([realm_event(3)]);
        let got = rendered(&q.poll(-1, None).await.unwrap());
        assert_eq!(ids_of(&got), [3, 4]);
        assert_eq!(got[1]["n"], 3);
        let got = rendered(&q.poll(3, None).await.unwrap());
        assert_eq!(ids_of(&got), [4]);
        assert_eq!(q.poll(4, None).await.unwrap(), []);
        assert_eq!(q.last_id(), 4);
    }

    #[tokio::test]
    async fn a_queue_dies_when_an_unacknowledged_event_leaves_the_log() {
        let log = Arc::new(Log::default());
        let q = queue_on(&log, 1, all());
        log.append([realm_event(0)]);
        // Read, not acknowledged.
        assert_eq!(ids(&q.poll(-1, None).await.unwrap()), [0]);
        log.append((1..LOG_CAPACITY).map(realm_event));
        assert!(!q.dead());
        log.append([realm_event(LOG_CAPACITY)]);
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
