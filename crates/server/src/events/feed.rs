//! Each realm's audit events as they are committed, rendered once however
//! many follow them. A realm's feed starts with its first follower and stops
//! soon after its last: it waits for the realm's version to move
//! (`Engine::watch_version`, which moves for this node's writes and for
//! those it catches up from other nodes), reads the new events from the log
//! (`Engine::audit`, the same derivation as the audit API) and broadcasts
//! them as ready Server-Sent Events frames.
//!
//! The broadcast keeps the last `BUFFERED` batches; a follower that falls
//! further behind is told so (`Lagged`) and reads what it missed from the
//! log itself (`native/stream.rs`), so a slow follower costs memory only in its
//! own connection's buffers and never loses an event.

use crate::native::views::event_view;
use bytes::Bytes;
use cohort_core::audit::{AuditQuery, EventId};
use cohort_core::{RealmId, Version};
use cohort_engine::{Engine, EngineError};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::broadcast;

/// Batches a realm's feed keeps for followers that are behind.
const BUFFERED: usize = 64;
/// Events read from the log per batch.
const BATCH: usize = 500;
/// How often an idle feed checks whether anyone still follows it.
const IDLE_CHECK: Duration = Duration::from_secs(5);

/// The position after every event of `version` (what "all of it" means for
/// positions compared with event ids).
pub fn end_of(version: Version) -> EventId {
    EventId {
        version,
        index: u32::MAX,
    }
}

/// One event, ready to send.
#[derive(Clone, Debug)]
pub struct Frame {
    pub id: EventId,
    /// `id: …\nevent: …\ndata: …\n\n`.
    pub bytes: Bytes,
}

/// The events after position `after`, up to and including position
/// `through`, in order; `more` when the log held more than one batch.
#[derive(Debug)]
pub struct Batch {
    pub after: EventId,
    pub through: EventId,
    pub frames: Vec<Frame>,
    pub more: bool,
}

type Senders = Arc<Mutex<HashMap<RealmId, broadcast::Sender<Arc<Batch>>>>>;

#[derive(Default)]
pub struct Feeds {
    realms: Senders,
}

impl Feeds {
    /// Follow the realm's events from now on (starting its feed if needed).
    pub fn subscribe(
        &self,
        engine: &Arc<Engine>,
        realm: RealmId,
    ) -> Option<broadcast::Receiver<Arc<Batch>>> {
        let mut realms = self.realms.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(sender) = realms.get(&realm) {
            return Some(sender.subscribe());
        }
        let versions = engine.watch_version(realm)?;
        let (sender, receiver) = broadcast::channel(BUFFERED);
        realms.insert(realm, sender.clone());
        let feed = Feed {
            engine: Arc::downgrade(engine),
            realm,
            senders: self.realms.clone(),
            sender,
        };
        tokio::spawn(feed.run(versions));
        Some(receiver)
    }
}

/// One realm's running feed.
struct Feed {
    engine: std::sync::Weak<Engine>,
    realm: RealmId,
    senders: Senders,
    sender: broadcast::Sender<Arc<Batch>>,
}

impl Feed {
    async fn run(self, mut versions: tokio::sync::watch::Receiver<Version>) {
        let realm = self.realm;
        let mut position = end_of(*versions.borrow_and_update());
        loop {
            let woken = tokio::time::timeout(IDLE_CHECK, versions.changed()).await;
            let closed = matches!(woken, Ok(Err(_)));
            if (closed || self.sender.receiver_count() == 0) && self.retire(closed) {
                return;
            }
            let Some(engine) = self.engine.upgrade() else {
                self.retire(true);
                return;
            };
            let current = *versions.borrow_and_update();
            while position < end_of(current) {
                match read(&engine, realm, position).await {
                    Ok(batch) if batch.through > position => {
                        position = batch.through;
                        // Nobody listening: the next check ends the feed.
                        let _ = self.sender.send(Arc::new(batch));
                    }
                    Ok(_) => break,
                    Err(err) => {
                        tracing::warn!(realm = realm.0, %err, "event feed: reading the log failed; retrying");
                        tokio::time::sleep(Duration::from_millis(200)).await;
                        break;
                    }
                }
            }
        }
    }

    /// Leave the registry if nobody follows (or `always`). Decided under its
    /// lock, where `subscribe` also runs, so a follower arriving now either
    /// joins this feed before the check or starts a new one after.
    fn retire(&self, always: bool) -> bool {
        let mut senders = self.senders.lock().unwrap_or_else(|e| e.into_inner());
        if !always && self.sender.receiver_count() > 0 {
            return false;
        }
        if senders
            .get(&self.realm)
            .is_some_and(|s| s.same_channel(&self.sender))
        {
            senders.remove(&self.realm);
        }
        true
    }
}

/// Read and render the events of `(after, …]`, at most one batch: the
/// batch and where it ends (`through`).
pub async fn read(engine: &Engine, realm: RealmId, after: EventId) -> Result<Batch, EngineError> {
    let query = AuditQuery {
        to: Version::MAX,
        ..AuditQuery::default()
    };
    let (history, page) = engine.audit(realm, &query, Some(after), BATCH).await?;
    let frames: Vec<Frame> = page
        .records
        .iter()
        .map(|record| Frame {
            id: record.event.id,
            bytes: sse_frame(&event_view(&history, record)),
        })
        .collect();
    let through = match page.next {
        Some(last) => last,
        // Everything the history holds has been read.
        None => end_of(history.version()).max(after),
    };
    Ok(Batch {
        after,
        through,
        frames,
        more: page.next.is_some(),
    })
}

/// One event as a Server-Sent Events frame: its id, its type as the SSE
/// event name, its JSON (the audit API's shape, on one line) as the data.
fn sse_frame(view: &crate::native::views::EventView) -> Bytes {
    let json = serde_json::to_string(view).unwrap_or_else(|_| "{}".into());
    Bytes::from(format!(
        "id: {}\nevent: {}\ndata: {json}\n\n",
        view.id, view.kind
    ))
}
