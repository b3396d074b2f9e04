//! The sender. One task per node: every tick it turns new commits into
//! deliveries for each enabled endpoint (`enqueue`, a compare-and-set on the
//! endpoint's cursor, so nodes never enqueue twice), renews the leases of
//! the endpoints it sends for, and keeps one `send_loop` per leased
//! endpoint. A send loop takes the endpoint's pending deliveries in event
//! order, sends the first due one of every lane (the group an event is
//! about) at once, and records the attempts in one transaction: a lane's
//! next delivery waits for the one before it, so a receiver sees each
//! group's changes in order even across retries.

use super::payload::{deliveries, webhook_id};
use super::{guard, schedule, sign, WebhookConfig};
use cohort_core::audit::AuditQuery;
use cohort_core::{Actor, Command, RealmId, Version, Webhook, WebhookId};
use cohort_engine::{now_millis, Engine};
use cohort_store::webhooks::MAX_RESPONSE_EXCERPT;
use cohort_store::{Attempt, AttemptOutcome, Delivery, DeliveryState};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{watch, Notify};
use tokio::task::JoinSet;

const TICK: Duration = Duration::from_millis(200);
/// Commits turned into deliveries per step, and steps per tick per endpoint
/// (a backlog, as after an endpoint is enabled again, drains at up to
/// 25,000 commits a second while new commits keep coming).
const ENQUEUE_CHUNK: u64 = 1_000;
const ENQUEUE_STEPS: usize = 5;
/// How long a lease lasts, and how often it is renewed.
const LEASE: Duration = Duration::from_secs(30);
const RENEW: Duration = Duration::from_secs(5);
/// Pending deliveries a send loop looks at per round (lane heads are found
/// among them: any earlier delivery of a lane is in the window, since it is
/// read in event order), and the most it sends at once.
const WINDOW: usize = 256;
const MAX_IN_FLIGHT: usize = 64;
const PRUNE_EVERY: Duration = Duration::from_secs(3600);

struct Shared {
    engine: Arc<Engine>,
    config: WebhookConfig,
    client: reqwest::Client,
    node: String,
}

/// Start sending; the task ends (releasing its leases) when `closing` turns
/// true.
pub fn spawn(
    engine: Arc<Engine>,
    config: WebhookConfig,
    closing: watch::Receiver<bool>,
) -> Result<tokio::task::JoinHandle<()>, String> {
    let client = client(&config)?;
    let node = config
        .node
        .clone()
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let shared = Arc::new(Shared {
        engine,
        config,
        client,
        node,
    });
    Ok(tokio::spawn(run(shared, closing)))
}

fn client(config: &WebhookConfig) -> Result<reqwest::Client, String> {
    let mut builder = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(config.timeout)
        .connect_timeout(config.timeout.min(Duration::from_secs(10)))
        .no_proxy()
        .user_agent(concat!("cohort-webhooks/", env!("CARGO_PKG_VERSION")))
        .tls_backend_rustls();
    if !config.allow_private {
        builder = builder.dns_resolver(Arc::new(guard::Resolver));
    }
    builder.build().map_err(|e| format!("webhook client: {e}"))
}

struct Running {
    wake: Arc<Notify>,
    stop: watch::Sender<bool>,
}

async fn run(shared: Arc<Shared>, mut closing: watch::Receiver<bool>) {
    let store = shared.engine.store().clone();
    let mut cursors: HashMap<WebhookId, Version> = HashMap::new();
    let mut senders: HashMap<WebhookId, Running> = HashMap::new();
    let mut tasks = JoinSet::new();
    // Until when this node's lease of each endpoint surely holds (a claim
    // that skipped a row another node had locked does not end it).
    let mut leases: HashMap<WebhookId, Instant> = HashMap::new();
    let mut renewed: Option<Instant> = None;
    let mut claimed: Vec<WebhookId> = Vec::new();
    let mut pruned = Instant::now();
    // A commit in a realm with endpoints wakes the loop at once; the tick is
    // for leases, retries and realms that appear.
    let moved = Arc::new(Notify::new());
    let mut watched: HashMap<RealmId, tokio::task::JoinHandle<()>> = HashMap::new();
    loop {
        tokio::select! {
            _ = tokio::time::sleep(TICK) => {}
            _ = moved.notified() => {}
            _ = closing.changed() => {}
        }
        if *closing.borrow() {
            break;
        }
        let endpoints = enabled_endpoints(&shared.engine);
        watch_realms(&shared.engine, &endpoints, &mut watched, &moved);
        for (realm, version, webhook) in &endpoints {
            for _ in 0..ENQUEUE_STEPS {
                match enqueue(&shared, &mut cursors, *realm, *version, webhook).await {
                    Ok(true) => {
                        if let Some(sender) = senders.get(&webhook.id) {
                            sender.wake.notify_one();
                        }
                    }
                    Ok(false) => break,
                    Err(err) => {
                        tracing::warn!(webhook = webhook.id.0, %err, "webhooks: making deliveries failed; retrying");
                        break;
                    }
                }
            }
        }
        let ids: Vec<WebhookId> = endpoints.iter().map(|(_, _, w)| w.id).collect();
        // Renewed on schedule, and at once when an endpoint appears (or is
        // enabled again), so its first delivery does not wait.
        if renewed.is_none_or(|t| t.elapsed() >= RENEW) || ids != claimed {
            claimed = ids.clone();
            let now = now_millis();
            match store
                .claim_webhooks(
                    shared.node.clone(),
                    ids,
                    now,
                    now + LEASE.as_millis() as i64,
                )
                .await
            {
                Ok(ids) => {
                    let until = Instant::now() + (LEASE - RENEW);
                    for id in ids {
                        leases.insert(id, until);
                    }
                    renewed = Some(Instant::now());
                }
                Err(err) => tracing::warn!(%err, "webhooks: renewing leases failed"),
            }
        }
        // Stop sending before a lease not renewed can lapse.
        let now = Instant::now();
        leases.retain(|_, until| *until > now);
        let held: HashSet<WebhookId> = leases.keys().copied().collect();
        senders.retain(|id, sender| {
            let keep = held.contains(id) && !sender.stop.is_closed();
            if !keep {
                sender.stop.send_replace(true);
            }
            keep
        });
        for (realm, _, webhook) in &endpoints {
            if held.contains(&webhook.id) && !senders.contains_key(&webhook.id) {
                let wake = Arc::new(Notify::new());
                let (stop, stopped) = watch::channel(false);
                tasks.spawn(send_loop(
                    shared.clone(),
                    *realm,
                    webhook.id,
                    wake.clone(),
                    stopped,
                ));
                senders.insert(webhook.id, Running { wake, stop });
            }
        }
        while tasks.try_join_next().is_some() {}
        if pruned.elapsed() >= PRUNE_EVERY {
            pruned = Instant::now();
            let before = now_millis() - shared.config.retention.as_millis() as i64;
            if let Err(err) = store.prune_deliveries(before).await {
                tracing::warn!(%err, "webhooks: pruning the delivery log failed");
            }
        }
    }
    for watcher in watched.values() {
        watcher.abort();
    }
    for sender in senders.values() {
        sender.stop.send_replace(true);
    }
    // In-flight requests finish (they are bounded by the timeout) and are
    // recorded; then another node may take over at once.
    while tasks.join_next().await.is_some() {}
    if let Err(err) = store.release_webhooks(shared.node.clone()).await {
        tracing::warn!(%err, "webhooks: releasing leases failed; they lapse in {}s", LEASE.as_secs());
    }
}

/// Keep one watcher of `Engine::watch_version` per realm with endpoints,
/// each waking `moved` when its realm's version moves.
fn watch_realms(
    engine: &Engine,
    endpoints: &[(RealmId, Version, Webhook)],
    watched: &mut HashMap<RealmId, tokio::task::JoinHandle<()>>,
    moved: &Arc<Notify>,
) {
    let wanted: HashSet<RealmId> = endpoints.iter().map(|(r, _, _)| *r).collect();
    watched.retain(|realm, task| {
        let keep = wanted.contains(realm) && !task.is_finished();
        if !keep {
            task.abort();
        }
        keep
    });
    for realm in wanted {
        if watched.contains_key(&realm) {
            continue;
        }
        let Some(mut versions) = engine.watch_version(realm) else {
            continue;
        };
        let moved = moved.clone();
        watched.insert(
            realm,
            tokio::spawn(async move {
                while versions.changed().await.is_ok() {
                    moved.notify_one();
                }
            }),
        );
    }
}

/// Every realm's enabled endpoints, with the realm's version.
fn enabled_endpoints(engine: &Engine) -> Vec<(RealmId, Version, Webhook)> {
    let mut out = Vec::new();
    for realm in engine.realm_ids() {
        let Some(snapshot) = engine.snapshot(realm) else {
            continue;
        };
        for webhook in snapshot.realm().live_webhooks() {
            if webhook.disabled.is_none() {
                out.push((realm, snapshot.version(), webhook.clone()));
            }
        }
    }
    out
}

/// Turn the endpoint's next commits into deliveries; `true` when any were
/// made (or the cursor moved).
async fn enqueue(
    shared: &Shared,
    cursors: &mut HashMap<WebhookId, Version>,
    realm: RealmId,
    version: Version,
    webhook: &Webhook,
) -> Result<bool, String> {
    let store = shared.engine.store();
    let cursor = match cursors.get(&webhook.id) {
        Some(c) => *c,
        None => match store
            .webhook_cursor(webhook.id)
            .await
            .map_err(|e| e.to_string())?
        {
            Some(c) => c,
            None => return Err("the endpoint has no delivery cursor".into()),
        },
    };
    cursors.insert(webhook.id, cursor);
    if cursor >= version {
        return Ok(false);
    }
    let mut to = version.min(cursor + ENQUEUE_CHUNK);
    let query = AuditQuery {
        from: cursor + 1,
        to,
        ..AuditQuery::default()
    };
    let made = match shared.engine.audit(realm, &query, None, usize::MAX).await {
        Ok((history, page)) => deliveries(&history, webhook, &page.records, now_millis()),
        Err(err) => match log_start(shared, realm).await {
            // Pruned before it was sent (the endpoint was disabled past the
            // log's retention): those events are gone; carry on after them.
            Some(start) if start > cursor => {
                tracing::warn!(webhook = webhook.id.0, %err, skipped_to = start, "webhooks: events before the log's start were not sent");
                to = start;
                Vec::new()
            }
            _ => return Err(err.to_string()),
        },
    };
    let moved = store
        .enqueue_deliveries(webhook.id, cursor, to, made)
        .await
        .map_err(|e| e.to_string())?;
    if moved {
        cursors.insert(webhook.id, to);
    } else {
        // Another node enqueued these; read its cursor next time.
        cursors.remove(&webhook.id);
    }
    Ok(true)
}

/// The version the realm's log was pruned up to, if it was.
async fn log_start(shared: &Shared, realm: RealmId) -> Option<Version> {
    match shared.engine.store().checkpoint(realm).await {
        Ok(Some(checkpoint)) => Some(checkpoint.version),
        _ => None,
    }
}

/// Send one endpoint's deliveries until told to stop, or until the
/// endpoint is disabled or removed.
async fn send_loop(
    shared: Arc<Shared>,
    realm: RealmId,
    id: WebhookId,
    wake: Arc<Notify>,
    mut stop: watch::Receiver<bool>,
) {
    let store = shared.engine.store().clone();
    loop {
        if *stop.borrow() {
            return;
        }
        let Some(webhook) = shared
            .engine
            .snapshot(realm)
            .and_then(|s| s.realm().webhook(id).cloned())
            .filter(|w| w.disabled.is_none())
        else {
            return;
        };
        let pending = match store.pending_deliveries(id, WINDOW).await {
            Ok(pending) => pending,
            Err(err) => {
                tracing::warn!(webhook = id.0, %err, "webhooks: reading deliveries failed");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        let now = now_millis();
        let mut lanes = HashSet::new();
        let mut due = Vec::new();
        let mut next_at: Option<i64> = None;
        for delivery in pending {
            // Only the first pending delivery of a lane may go.
            if !lanes.insert(delivery.lane) {
                continue;
            }
            if delivery.next_at <= now {
                due.push(delivery);
                if due.len() == MAX_IN_FLIGHT {
                    break;
                }
            } else {
                next_at = Some(next_at.map_or(delivery.next_at, |t| t.min(delivery.next_at)));
            }
        }
        if due.is_empty() {
            let wait = next_at.map_or(Duration::from_secs(1), |t| {
                Duration::from_millis((t - now).clamp(1, 1000) as u64)
            });
            tokio::select! {
                _ = wake.notified() => {}
                _ = tokio::time::sleep(wait) => {}
                _ = stop.changed() => {}
            }
            continue;
        }
        let mut requests = JoinSet::new();
        for delivery in due {
            requests.spawn(attempt(shared.clone(), webhook.clone(), delivery));
        }
        let mut outcomes = Vec::new();
        let mut gone = false;
        while let Some(done) = requests.join_next().await {
            if let Ok((outcome, said_gone)) = done {
                gone |= said_gone;
                outcomes.push(outcome);
            }
        }
        record(&shared, outcomes).await;
        if gone {
            let command = Command::DisableWebhook(id, "the receiver answered 410 Gone".into());
            if let Err(err) = shared.engine.execute(realm, Actor::System, command).await {
                tracing::warn!(webhook = id.0, %err, "webhooks: disabling a gone endpoint failed");
            }
            return;
        }
    }
}

/// Keep the attempts; a failure here is retried, since until it is
/// recorded the deliveries would be sent again.
async fn record(shared: &Shared, outcomes: Vec<AttemptOutcome>) {
    for delay in [100, 500, 2000, 5000] {
        match shared
            .engine
            .store()
            .record_attempts(outcomes.clone())
            .await
        {
            Ok(()) => return,
            Err(err) => {
                tracing::warn!(%err, "webhooks: recording attempts failed; retrying");
                tokio::time::sleep(Duration::from_millis(delay)).await;
            }
        }
    }
    tracing::error!(
        attempts = outcomes.len(),
        "webhooks: attempts could not be recorded; they will be sent again"
    );
}

/// What one request came to.
enum Answer {
    Status {
        status: u16,
        retry_after: Option<Duration>,
        response: String,
    },
    Failed(String),
}

/// Make one request for `delivery`; the outcome, and whether the receiver
/// said the endpoint is gone.
async fn attempt(
    shared: Arc<Shared>,
    webhook: Webhook,
    delivery: Delivery,
) -> (AttemptOutcome, bool) {
    let started_at = now_millis();
    let started = Instant::now();
    let answer = request(&shared, &webhook, &delivery).await;
    let duration_ms = started.elapsed().as_millis().min(u32::MAX as u128) as u32;
    let number = delivery.attempts + 1;
    let failures = delivery.retries + 1;
    let spread = rand::random::<f64>() * 2.0 - 1.0;
    let retry = |retry_after: Option<Duration>| match schedule::wait_after(
        &shared.config.schedule,
        failures,
        retry_after,
        spread,
    ) {
        Some(wait) => (
            DeliveryState::Pending,
            failures,
            started_at + wait.as_millis() as i64,
        ),
        None => (DeliveryState::Failed, failures, started_at),
    };
    let (status, error, response, (state, retries, next_at), gone) = match answer {
        Answer::Status {
            status, response, ..
        } if (200..300).contains(&status) => (
            Some(status),
            None,
            response,
            (DeliveryState::Delivered, delivery.retries, started_at),
            false,
        ),
        // Sent again as soon as the endpoint is enabled again.
        Answer::Status {
            status: 410,
            response,
            ..
        } => (
            Some(410),
            None,
            response,
            (DeliveryState::Pending, delivery.retries, started_at),
            true,
        ),
        Answer::Status {
            status,
            retry_after,
            response,
        } => {
            let error = (300..400)
                .contains(&status)
                .then(|| "redirects are not followed".to_string());
            (Some(status), error, response, retry(retry_after), false)
        }
        Answer::Failed(error) => (None, Some(error), String::new(), retry(None), false),
    };
    let outcome = match state {
        DeliveryState::Delivered => "delivered",
        DeliveryState::Failed => "failed",
        DeliveryState::Pending => "retry",
    };
    metrics::counter!("cohort_webhook_attempts_total", "outcome" => outcome).increment(1);
    let attempt = Attempt {
        webhook: webhook.id,
        event: delivery.event,
        number,
        at: started_at,
        duration_ms,
        status,
        error,
        response,
    };
    (
        AttemptOutcome {
            attempt,
            state,
            retries,
            next_at,
        },
        gone,
    )
}

async fn request(shared: &Shared, webhook: &Webhook, delivery: &Delivery) -> Answer {
    let url = match url::Url::parse(&webhook.url) {
        Ok(url) => url,
        Err(err) => return Answer::Failed(format!("the URL does not parse: {err}")),
    };
    if !shared.config.allow_private {
        if let Some(host) = guard::internal_destination(&url) {
            return Answer::Failed(format!(
                "{host} is an internal address; refused (see --webhook-allow-private)"
            ));
        }
    }
    let id = webhook_id(delivery);
    let timestamp = now_millis() / 1000;
    let signature = sign::signature_header(
        webhook.signing_secrets(now_millis()),
        &id,
        timestamp,
        delivery.payload.as_bytes(),
    );
    let sent = shared
        .client
        .post(url)
        .header("content-type", "application/json")
        .header("webhook-id", &id)
        .header("webhook-timestamp", timestamp.to_string())
        .header("webhook-signature", signature)
        .body(delivery.payload.clone())
        .send()
        .await;
    let mut response = match sent {
        Ok(response) => response,
        Err(err) => return Answer::Failed(describe(&err, &shared.config)),
    };
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| schedule::retry_after(v, now_millis() / 1000));
    let mut excerpt = Vec::new();
    // The start of the body only; a receiver streaming forever is cut by
    // the timeout, and what came is kept.
    while excerpt.len() < MAX_RESPONSE_EXCERPT {
        match response.chunk().await {
            Ok(Some(chunk)) => excerpt.extend_from_slice(&chunk),
            Ok(None) | Err(_) => break,
        }
    }
    excerpt.truncate(MAX_RESPONSE_EXCERPT);
    let mut text = String::from_utf8_lossy(&excerpt).into_owned();
    if text.ends_with('\u{fffd}') && excerpt.len() == MAX_RESPONSE_EXCERPT {
        text.pop();
    }
    Answer::Status {
        status,
        retry_after,
        response: text,
    }
}

/// An error as the delivery log shows it: never the URL (its query may
/// hold a receiver's token), always the cause.
fn describe(err: &reqwest::Error, config: &WebhookConfig) -> String {
    if err.is_timeout() {
        return format!("no answer within {} s", config.timeout.as_secs());
    }
    let mut text = if err.is_connect() {
        "could not connect".to_string()
    } else {
        "the request failed".to_string()
    };
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
