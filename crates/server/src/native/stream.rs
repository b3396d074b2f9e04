//! `GET /cohort/v1/stream`: the realm's audit events as Server-Sent Events,
//! live and resumable. Each event is the audit API's (`EventView`), with its
//! id (`{realm}-{version}-{index}`) as the SSE `id` and its type as the SSE
//! `event`. A client that reconnects with `Last-Event-ID` (browsers'
//! `EventSource` does so by itself) gets exactly the events after it, read
//! from the change log, then the live ones: nothing lost, nothing twice.
//!
//! - Without `Last-Event-ID` (header, or the `last_event_id` parameter for
//!   clients that cannot set headers) the stream starts at the realm's
//!   current version.
//! - An id older than what the log keeps (`cohort log prune`) gets one
//!   `reset` event (`{"reason":"pruned","resumed_after":…}`) and the stream
//!   goes on from the oldest version kept.
//! - A comment (`: keep-alive`) every `KEEP_ALIVE` when idle, so proxies
//!   keep the connection.
//! - A client that leaves an event untaken for `SLOW_CONSUMER` is
//!   disconnected; its own buffer is `BUFFER` events, the realm's feed keeps
//!   a bounded number of batches, and a client that falls behind those reads
//!   from the log instead. It reconnects and resumes like any other.
//! - The caller's right is checked again before every batch (a revoked
//!   token or a demoted administrator's stream ends), and the stream ends
//!   when the server shuts down.
//!
//! Who may follow: `permission::may_follow_events` (owners, administrators,
//! tokens with scope `events`).

use super::auth::NativeCaller;
use super::error::{ErrorBody, NativeError};
use super::params::Query;
use crate::events::feed::{self, end_of, Batch};
use crate::AppState;
use axum::body::Body;
use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use cohort_core::audit::EventId;
use cohort_core::{permission, Actor, RealmId};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{broadcast, mpsc};

/// A comment is sent after this long without an event.
const KEEP_ALIVE: Duration = Duration::from_secs(15);
/// A client that takes no event for this long is disconnected.
const SLOW_CONSUMER: Duration = Duration::from_secs(30);
/// Events (frames) buffered for one client.
const BUFFER: usize = 256;
/// What the client waits before reconnecting (`retry:`), in milliseconds.
const RETRY_MS: u32 = 2000;

#[utoipa::path(
    get,
    path = "/cohort/v1/stream",
    tag = "events",
    operation_id = "stream_events",
    params(
        ("Last-Event-ID" = Option<String>, Header, description = "Resume after this event id (`{realm}-{version}-{index}`)"),
        ("last_event_id" = Option<String>, Query, description = "The same, for clients that cannot set headers; the header wins"),
    ),
    responses(
        (status = 200, description = "`text/event-stream`: one SSE event per audit event (`id`, `event` = its type, `data` = the event as `GET /cohort/v1/audit` gives it), `: keep-alive` comments, and `reset` when the id asked for is older than the log", content_type = "text/event-stream", body = String),
        (status = 400, description = "`Last-Event-ID` is not an event id of this realm, or is ahead of its log (`invalid_parameter`)", body = ErrorBody),
    ),
)]
pub async fn get(
    State(state): State<AppState>,
    caller: NativeCaller,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Response, NativeError> {
    let actor = caller.actor();
    permission::may_follow_events(&caller.snapshot, actor)?;
    let params = Query::parse(raw.as_deref(), &["last_event_id"])?;
    let realm = caller.snapshot.realm_id();
    let asked = match headers.get("last-event-id") {
        Some(value) => Some(value.to_str().map_err(|_| bad_id())?.to_string()),
        None => params.get("last_event_id").map(str::to_string),
    };
    let history = state.engine.history(realm).await?;
    let mut reset = None;
    let start = match asked.as_deref().map(str::trim) {
        None | Some("") => end_of(caller.snapshot.version()),
        Some(text) => {
            let id = parse_event_id(realm, text)?;
            if id.version > history.version() {
                return Err(NativeError::invalid_parameter(
                    "last_event_id",
                    "Last-Event-ID is ahead of this realm's log",
                ));
            }
            let (kept_from, _) = history.retained_from();
            if id.version < kept_from {
                reset = Some(reset_frame(text));
                end_of(kept_from)
            } else {
                id
            }
        }
    };
    drop(history);
    let feed = state
        .feeds
        .subscribe(&state.engine, realm)
        .ok_or_else(|| NativeError::not_found("No such realm"))?;
    let (out, body) = mpsc::channel(BUFFER);
    let follower = Follower {
        state: state.clone(),
        realm,
        actor,
        covered: start,
        out,
    };
    tokio::spawn(follower.run(feed, reset));
    let mut response = Body::new(crate::body::Channel(body)).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    // Reverse proxies (nginx) must not hold events back to fill a buffer.
    headers.insert("x-accel-buffering", HeaderValue::from_static("no"));
    Ok(response)
}

fn bad_id() -> NativeError {
    NativeError::invalid_parameter(
        "last_event_id",
        "Last-Event-ID must be an event id of this realm ({realm}-{version}-{index})",
    )
}

/// `{realm}-{version}-{index}` of this realm. Another realm's id gets the
/// same answer as garbage: whether it exists there is not this realm's to
/// say.
pub(crate) fn parse_event_id(realm: RealmId, text: &str) -> Result<EventId, NativeError> {
    let mut parts = text.split('-');
    let (Some(r), Some(v), Some(i), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(bad_id());
    };
    let (Ok(r), Ok(version), Ok(index)) = (r.parse::<i64>(), v.parse(), i.parse()) else {
        return Err(bad_id());
    };
    if r != realm.0 {
        return Err(bad_id());
    }
    Ok(EventId { version, index })
}

fn reset_frame(asked: &str) -> Bytes {
    let data = serde_json::json!({
        "reason": "pruned",
        "message": "The events after this id were pruned from the log; the stream goes on from the oldest kept",
        "resumed_after": asked,
    });
    Bytes::from(format!("event: reset\ndata: {data}\n\n"))
}

/// One client's stream.
struct Follower {
    state: AppState,
    realm: RealmId,
    actor: Actor,
    /// Every event up to this position has been sent.
    covered: EventId,
    out: mpsc::Sender<Bytes>,
}

/// The stream ends: the client left or was too slow, the caller may no
/// longer follow, or the log could not be read.
struct Ended;

impl Follower {
    async fn run(mut self, mut feed: broadcast::Receiver<Arc<Batch>>, reset: Option<Bytes>) {
        let mut closing = self.state.closing.subscribe();
        // A request that arrived as the server began to stop.
        if *closing.borrow_and_update() {
            return;
        }
        let first = Bytes::from(format!("retry: {RETRY_MS}\n\n"));
        if self.send(first).await.is_err() {
            return;
        }
        if let Some(reset) = reset {
            if self.send(reset).await.is_err() {
                return;
            }
        }
        if self.read_log().await.is_err() {
            return;
        }
        loop {
            let next = tokio::select! {
                batch = feed.recv() => batch,
                _ = tokio::time::sleep(KEEP_ALIVE) => {
                    if self.send(Bytes::from_static(b": keep-alive\n\n")).await.is_err() {
                        return;
                    }
                    continue;
                }
                _ = closing.changed() => return,
            };
            let done = match next {
                Ok(batch) => self.take(&batch).await,
                // Behind the feed's buffer: what was missed is in the log.
                Err(broadcast::error::RecvError::Lagged(_)) => {
                    metrics::counter!("cohort_stream_caught_up_from_log_total").increment(1);
                    self.read_log().await
                }
                Err(broadcast::error::RecvError::Closed) => {
                    match self.state.feeds.subscribe(&self.state.engine, self.realm) {
                        Some(again) => feed = again,
                        None => return,
                    }
                    self.read_log().await
                }
            };
            if done.is_err() {
                return;
            }
        }
    }

    /// A live batch: read the log first if it starts after what was sent.
    async fn take(&mut self, batch: &Batch) -> Result<(), Ended> {
        self.allowed()?;
        if batch.after > self.covered {
            self.read_log().await?;
        }
        self.send_batch(batch).await
    }

    /// Everything the log holds after `covered`, batch by batch.
    async fn read_log(&mut self) -> Result<(), Ended> {
        loop {
            self.allowed()?;
            let batch = feed::read(&self.state.engine, self.realm, self.covered)
                .await
                .map_err(|err| {
                    tracing::warn!(realm = self.realm.0, %err, "event stream: reading the log failed");
                    Ended
                })?;
            self.send_batch(&batch).await?;
            if !batch.more {
                return Ok(());
            }
        }
    }

    async fn send_batch(&mut self, batch: &Batch) -> Result<(), Ended> {
        for frame in &batch.frames {
            if frame.id > self.covered {
                self.send(frame.bytes.clone()).await?;
                self.covered = frame.id;
            }
        }
        self.covered = self.covered.max(batch.through);
        Ok(())
    }

    async fn send(&self, bytes: Bytes) -> Result<(), Ended> {
        match tokio::time::timeout(SLOW_CONSUMER, self.out.send(bytes)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_)) => Err(Ended),
            Err(_) => {
                metrics::counter!("cohort_stream_slow_clients_cut_total").increment(1);
                tracing::info!(
                    realm = self.realm.0,
                    "event stream: a client too slow for {SLOW_CONSUMER:?} was disconnected"
                );
                Err(Ended)
            }
        }
    }

    fn allowed(&self) -> Result<(), Ended> {
        let snapshot = self.state.engine.snapshot(self.realm).ok_or(Ended)?;
        permission::may_follow_events(&snapshot, self.actor).map_err(|_| Ended)
    }
}
