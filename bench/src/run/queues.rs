//! Zulip's event queues at scale: 10,000 queues (one per user of the
//! `medium` data set), each held by a long poll (`GET /events`) from the
//! harness. Reported: the server's memory per queue (registered and idle,
//! then with its long poll waiting), how long one change takes to reach all
//! of them (from sending the write to each poll's answer) next to the floor
//! (`cohort-bench poll-floor`: a minimal server that parks the same 10,000
//! polls and answers them all with one of cohort's answers when triggered),
//! and the SQLite member add/remove load (`writes`, 64 clients, 8 groups)
//! with the 10,000 attached and polling, with 10,000 others attached and
//! polling but not interested (registered for `realm_user` only), then on
//! the same server once they are all deleted.

use super::writes::write_load;
use super::{basic, Plan};
use crate::generate::{user_key, Size};
use anyhow::{bail, Context as _, Result};
use serde_json::Value;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted
        .get(((sorted.len().saturating_sub(1)) as f64 * p).round() as usize)
        .copied()
        .unwrap_or(0.0)
}

/// Hold a long poll on `queue` until it is gone, reporting when each
/// answer with a `user_group` event arrived.
async fn poller(
    http: reqwest::Client,
    base: String,
    auth: String,
    queue: String,
    report: mpsc::UnboundedSender<Instant>,
    polling: Arc<AtomicUsize>,
    sample: Arc<std::sync::Mutex<Option<bytes::Bytes>>>,
) {
    let mut last = -1i64;
    let mut counted = false;
    loop {
        let request = http
            .get(format!(
                "{base}/api/v1/events?queue_id={queue}&last_event_id={last}"
            ))
            .header("authorization", &auth);
        if !counted {
            polling.fetch_add(1, Ordering::Relaxed);
            counted = true;
        }
        let Ok(response) = request.send().await else {
            return;
        };
        let Ok(bytes) = response.bytes().await else {
            return;
        };
        let Ok(body) = serde_json::from_slice::<Value>(&bytes) else {
            return;
        };
        let at = Instant::now();
        let Some(events) = body["events"].as_array() else {
            return;
        };
        if events.iter().any(|e| e["type"] == "user_group") {
            let _ = report.send(at);
            let mut sample = sample.lock().unwrap_or_else(|e| e.into_inner());
            if sample.is_none() {
                *sample = Some(bytes.clone());
            }
        }
        last = events
            .iter()
            .filter_map(|e| e["id"].as_i64())
            .max()
            .unwrap_or(last);
    }
}

pub(super) async fn queues_scenario(plan: &Plan) -> Result<Vec<String>> {
    let (size, count, changes) = if plan.smoke {
        (Size::Tiny, 5, 2)
    } else {
        (Size::Medium, 10_000, 5)
    };
    let (db, info) = super::fresh_data_set(plan, "queues.db", size).await?;
    let owner = basic(
        info["email"].as_str().unwrap_or(""),
        info["api_key"].as_str().unwrap_or(""),
    );
    let group = info["group_ids"][0].as_i64().context("a group")?;
    let server = plan.cohort(&db, "warn")?;
    let base = server.url.clone();
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(usize::MAX)
        .build()?;

    // One queue per member (the owner's first), registered 64 at a time.
    let users: Value = serde_json::from_slice(
        &http
            .get(format!("{base}/api/v1/users"))
            .header("authorization", &owner)
            .send()
            .await?
            .bytes()
            .await?,
    )?;
    let mut people: Vec<String> = users["members"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|u| u["is_bot"] == false && u["email"] != info["email"])
        .map(|u| {
            basic(
                u["email"].as_str().unwrap_or(""),
                &user_key(u["user_id"].as_i64().unwrap_or(0)),
            )
        })
        .collect();
    people.insert(0, owner.clone());
    people.truncate(count);
    if people.len() < count {
        bail!("only {} users for {count} queues", people.len());
    }
    let rss_before = server.rss_mib();
    let started = Instant::now();
    let queues = register_all(&http, &base, &people, "%5B%22user_group%22%5D").await?;
    let register_secs = started.elapsed().as_secs_f64();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let rss_idle = server.rss_mib();

    let (report, mut arrivals) = mpsc::unbounded_channel();
    let sample = Arc::new(std::sync::Mutex::new(None));
    // The polls' connections are their own client's, closed with it once
    // the polls end: the harness may hold 20,000 files, and the floor's
    // polls and the uninterested ones come later, each with 10,000.
    let polls = poll_client()?;
    let pollers = hold_polls(&polls, &base, &queues, &report, &sample).await;
    drop(report);
    let rss_polling = server.rss_mib();

    let mut latencies = Vec::new();
    let mut delivered = Vec::new();
    for i in 0..changes {
        let sent = Instant::now();
        let response = http
            .patch(format!("{base}/api/v1/user_groups/{group}"))
            .header("authorization", &owner)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!("name=queues-bench-{i}"))
            .send()
            .await?;
        if !response.status().is_success() {
            bail!("rename: {}", response.text().await?);
        }
        let mut got = 0;
        let wait_until = tokio::time::Instant::now() + Duration::from_secs(20);
        while got < count {
            match tokio::time::timeout_at(wait_until, arrivals.recv()).await {
                Ok(Some(at)) => {
                    latencies.push(at.duration_since(sent).as_secs_f64() * 1000.0);
                    got += 1;
                }
                _ => break,
            }
        }
        delivered.push(got);
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    latencies.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));

    let with_queues = write_load(plan, &server, &owner, &info)?;
    let rss_after = server.rss_mib();
    drop(arrivals);
    // Every queue deleted: their polls end with BAD_EVENT_QUEUE_ID.
    delete_all(&http, &base, &queues).await?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    // Polls still waiting on a deleted queue are cut (their connections
    // close).
    drop(pollers);
    drop(polls);

    // The floor: the same number of polls, answered with one of cohort's
    // answers to them, parsed by the same pollers.
    let body = sample
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone()
        .context("no answer with a user_group event to serve from the floor")?;
    let (floor_latencies, floor_delivered) = floor_run(plan, &body, count, changes).await?;

    // The same load with as many queues attached and polling that do not
    // want what it changes, then with none.
    let idle = register_all(&http, &base, &people, "%5B%22realm_user%22%5D").await?;
    let (report, mut quiet) = mpsc::unbounded_channel();
    let polls = poll_client()?;
    let pollers = hold_polls(&polls, &base, &idle, &report, &Arc::default()).await;
    let uninterested = write_load(plan, &server, &owner, &info)?;
    let woken = {
        let mut n = 0;
        while quiet.try_recv().is_ok() {
            n += 1;
        }
        n
    };
    drop(report);
    drop(quiet);
    delete_all(&http, &base, &idle).await?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    drop(pollers);
    drop(polls);
    let alone = write_load(plan, &server, &owner, &info)?;

    let per = |mib: f64| mib * 1024.0 / count as f64;
    let mut lines = Vec::new();
    lines.push(format!(
        "{count} queues (`POST /register` with `event_types=[\"user_group\"]`, one per user of the `{}` data set, 64 at a time: {register_secs:.1} s), each then held by a long poll from the harness; {changes} group renames through the Zulip API, 0.5 s apart. Delivery latency is from sending the write to each poll's answer, over every (queue, rename) pair; deliveries per rename: {delivered:?}.",
        format!("{size:?}").to_lowercase()
    ));
    lines.push(String::new());
    lines.push("| measure | value | target | verdict |".into());
    lines.push("|---|---|---|---|".into());
    lines.push(format!(
        "| server RSS: no queue / {count} idle queues / {count} long polls waiting | {rss_before:.0} / {rss_idle:.0} / {rss_polling:.0} MiB ({:.1} KiB per queue, {:.1} KiB with its poll) | – | – |",
        per(rss_idle - rss_before),
        per(rss_polling - rss_before)
    ));
    let p99 = percentile(&latencies, 0.99);
    lines.push(format!(
        "| one change to every queue: p50 / p99 / max ms | {:.1} / {p99:.1} / {:.1} | p99 ≤ 100 ms | {} |",
        percentile(&latencies, 0.5),
        latencies.last().copied().unwrap_or(0.0),
        if p99 <= 100.0 && delivered.iter().all(|d| *d == count) { "met" } else { "**not met**" }
    ));
    let floor_p99 = percentile(&floor_latencies, 0.99);
    lines.push(format!(
        "| the floor (`poll-floor`, {count} parked polls answered with one {}-byte answer of cohort's): p50 / p99 / max ms; deliveries per trigger {floor_delivered:?} | {:.1} / {floor_p99:.1} / {:.1}; cohort's p99 / the floor's = {:.2}× | – | – |",
        body.len(),
        percentile(&floor_latencies, 0.5),
        floor_latencies.last().copied().unwrap_or(0.0),
        p99 / floor_p99.max(1e-9)
    ));
    let ratio = with_queues.0 / alone.0.max(1e-9);
    lines.push(format!(
        "| member add/remove, 64 clients: ops/s without queues / with {count} polling (p99 ms) | {:.0} ({:.2}) / {:.0} ({:.2}) = {ratio:.2}× | ≥ 0.9× | {} |",
        alone.0, alone.2, with_queues.0, with_queues.2,
        if ratio >= 0.9 { "met" } else { "**not met**" }
    ));
    let ratio = uninterested.0 / alone.0.max(1e-9);
    lines.push(format!(
        "| member add/remove, 64 clients: ops/s without queues / with {count} polling for `realm_user` only (p99 ms); `user_group` answers they got: {woken} | {:.0} ({:.2}) / {:.0} ({:.2}) = {ratio:.2}× | ≥ 0.9× | {} |",
        alone.0, alone.2, uninterested.0, uninterested.2,
        if ratio >= 0.9 { "met" } else { "**not met**" }
    ));
    lines.push(format!(
        "| server RSS after the writes with the interested queues | {rss_after:.0} MiB | – | – |"
    ));
    lines.push(String::new());
    Ok(lines)
}

fn poll_client() -> Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .pool_max_idle_per_host(usize::MAX)
        .build()?)
}

/// One queue per person, `event_types` (URL-encoded JSON) and no initial
/// state, registered 64 at a time.
async fn register_all(
    http: &reqwest::Client,
    base: &str,
    people: &[String],
    event_types: &str,
) -> Result<Vec<(String, String)>> {
    let mut queues = Vec::with_capacity(people.len());
    for chunk in people.chunks(64) {
        let mut registrations = tokio::task::JoinSet::new();
        for auth in chunk {
            let http = http.clone();
            let base = base.to_string();
            let auth = auth.clone();
            let form = format!("event_types={event_types}&fetch_event_types=%5B%5D");
            registrations.spawn(async move {
                let body: Value = serde_json::from_slice(
                    &http
                        .post(format!("{base}/api/v1/register"))
                        .header("authorization", &auth)
                        .header("content-type", "application/x-www-form-urlencoded")
                        .body(form)
                        .send()
                        .await?
                        .bytes()
                        .await?,
                )?;
                let queue = body["queue_id"].as_str().map(str::to_string);
                anyhow::Ok((auth, queue.with_context(|| format!("register: {body}"))?))
            });
        }
        while let Some(result) = registrations.join_next().await {
            queues.push(result??);
        }
    }
    Ok(queues)
}

/// A long poll on every queue, reporting answers with a `user_group` event;
/// returns once all are sent (or after 60 s) and 2 s more, with the polls'
/// tasks (dropping them cuts the polls).
async fn hold_polls(
    http: &reqwest::Client,
    base: &str,
    queues: &[(String, String)],
    report: &mpsc::UnboundedSender<Instant>,
    sample: &Arc<std::sync::Mutex<Option<bytes::Bytes>>>,
) -> tokio::task::JoinSet<()> {
    let polling = Arc::new(AtomicUsize::new(0));
    let mut tasks = tokio::task::JoinSet::new();
    for (auth, queue) in queues {
        tasks.spawn(poller(
            http.clone(),
            base.to_string(),
            auth.clone(),
            queue.clone(),
            report.clone(),
            polling.clone(),
            sample.clone(),
        ));
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    while polling.load(Ordering::Relaxed) < queues.len() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    tasks
}

async fn delete_all(http: &reqwest::Client, base: &str, queues: &[(String, String)]) -> Result<()> {
    for (auth, queue) in queues {
        http.delete(format!("{base}/api/v1/events"))
            .header("authorization", auth)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!("queue_id={queue}"))
            .send()
            .await?;
    }
    Ok(())
}

/// `count` pollers parked on the long-poll floor, `changes` triggers 0.5 s
/// apart (each once all are parked again); latencies from sending the
/// trigger to each poll's answer, and deliveries per trigger.
async fn floor_run(
    plan: &Plan,
    body: &bytes::Bytes,
    count: usize,
    changes: usize,
) -> Result<(Vec<f64>, Vec<usize>)> {
    let file = plan.work.join("queues-floor-body.json");
    std::fs::write(&file, body)?;
    let floor = plan.poll_floor(&file)?;
    let base = floor.url.clone();
    let http = &poll_client()?;
    let parked = || async {
        let text = http
            .get(format!("{base}/parked"))
            .send()
            .await?
            .text()
            .await?;
        anyhow::Ok(text.trim().parse::<usize>().unwrap_or(0))
    };
    let (report, mut arrivals) = mpsc::unbounded_channel();
    let mut pollers = tokio::task::JoinSet::new();
    for i in 0..count {
        pollers.spawn(poller(
            http.clone(),
            base.clone(),
            String::new(),
            format!("floor{i}"),
            report.clone(),
            Arc::default(),
            Arc::default(),
        ));
    }
    drop(report);
    let mut latencies = Vec::new();
    let mut delivered = Vec::new();
    for _ in 0..changes {
        let deadline = Instant::now() + Duration::from_secs(60);
        while parked().await? < count && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
        let sent = Instant::now();
        http.post(format!("{base}/trigger")).send().await?;
        let mut got = 0;
        let wait_until = tokio::time::Instant::now() + Duration::from_secs(20);
        while got < count {
            match tokio::time::timeout_at(wait_until, arrivals.recv()).await {
                Ok(Some(at)) => {
                    latencies.push(at.duration_since(sent).as_secs_f64() * 1000.0);
                    got += 1;
                }
                _ => break,
            }
        }
        delivered.push(got);
    }
    drop(pollers);
    drop(floor);
    latencies.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
    Ok((latencies, delivered))
}
