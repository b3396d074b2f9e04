//! Webhooks: how fast cohort delivers signed requests to a receiver on
//! loopback, against what the receiver takes from a plain client.
//!
//! **Data.** The `small` data set; one endpoint for `group.renamed`.
//! **Receiver.** A minimal hyper server in the harness answering 200 at
//! once, noting each `webhook-id`, when it arrived and the event's time.
//! **Backlog drain.** With the endpoint disabled, B renames are made (32
//! groups, so 32 ordering lanes); then it is enabled and the time until the
//! last delivery arrives gives cohort's delivery rate. **Floor.** The same
//! bodies posted to the same receiver by the harness (reqwest, 32 at once):
//! what the receiver and loopback allow. **Sustained.** Renames at a steady
//! rate R for S seconds with the endpoint enabled: deliveries per second
//! over the window, and each event's lag (its commit time to its arrival;
//! one machine, one clock). Duplicates are counted (they would be allowed,
//! at least once, but none are expected here).

use super::{basic, Plan};
use crate::generate::Size;
use anyhow::{bail, Context as _, Result};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::Response;
use hyper_util::rt::TokioIo;
use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::net::TcpListener;

/// Renaming groups at once, each its own lane.
const WRITERS: usize = 32;

#[derive(Default)]
struct Received {
    /// (webhook-id, arrival, event time in Unix ms, body).
    seen: Vec<(String, Instant, i64, Bytes)>,
}

async fn receiver() -> Result<(String, Arc<Mutex<Received>>)> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/hook", listener.local_addr()?);
    let received = Arc::new(Mutex::new(Received::default()));
    let shared = received.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let _ = stream.set_nodelay(true);
            let shared = shared.clone();
            tokio::spawn(async move {
                let service = service_fn(move |request: hyper::Request<hyper::body::Incoming>| {
                    let shared = shared.clone();
                    async move {
                        let id = request
                            .headers()
                            .get("webhook-id")
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or("")
                            .to_string();
                        let body = request
                            .into_body()
                            .collect()
                            .await
                            .map(|b| b.to_bytes())
                            .unwrap_or_default();
                        let at = Instant::now();
                        let time = event_time(&body).unwrap_or(0);
                        if let Ok(mut r) = shared.lock() {
                            r.seen.push((id, at, time, body));
                        }
                        Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(b"ok"))))
                    }
                });
                let _ = http1::Builder::new()
                    .keep_alive(true)
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    Ok((url, received))
}

/// The event's time (`timestamp`, RFC 3339 with milliseconds) as Unix ms.
fn event_time(body: &[u8]) -> Option<i64> {
    let value: serde_json::Value = serde_json::from_slice(body).ok()?;
    let text = value["timestamp"].as_str()?;
    let at =
        time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339).ok()?;
    Some((at.unix_timestamp_nanos() / 1_000_000) as i64)
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

fn count(received: &Mutex<Received>) -> usize {
    received.lock().map(|r| r.seen.len()).unwrap_or(0)
}

async fn wait_for(received: &Mutex<Received>, n: usize, within: Duration) -> Result<Instant> {
    let deadline = Instant::now() + within;
    loop {
        let got = count(received);
        if got >= n {
            return Ok(received
                .lock()
                .map(|r| r.seen[n - 1].1)
                .unwrap_or_else(|_| Instant::now()));
        }
        if Instant::now() > deadline {
            bail!("only {got} of {n} webhooks arrived within {within:?}");
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// `total` renames over `WRITERS` groups, as fast as they go or, with
/// `rate`, at that many per second in all.
async fn renames(
    base: &str,
    auth: &str,
    groups: &[i64],
    total: usize,
    rate: Option<f64>,
    tag: &str,
) -> Result<()> {
    let http = reqwest::Client::new();
    let started = Instant::now();
    let mut tasks = Vec::new();
    for (w, group) in groups.iter().copied().enumerate().take(WRITERS) {
        let (http, base, auth, tag) = (
            http.clone(),
            base.to_string(),
            auth.to_string(),
            tag.to_string(),
        );
        let mine: Vec<usize> = (0..total).filter(|i| i % WRITERS == w).collect();
        tasks.push(tokio::spawn(async move {
            for i in mine {
                if let Some(rate) = rate {
                    let due = started + Duration::from_secs_f64(i as f64 / rate);
                    tokio::time::sleep_until(due.into()).await;
                }
                let response = http
                    .patch(format!("{base}/api/v1/user_groups/{group}"))
                    .header("authorization", &auth)
                    .header("content-type", "application/x-www-form-urlencoded")
                    .body(format!("name=hook-{tag}-{i}"))
                    .send()
                    .await?;
                if !response.status().is_success() {
                    bail!("rename: {} {}", response.status(), response.text().await?);
                }
            }
            Ok(())
        }));
    }
    for task in tasks {
        task.await??;
    }
    Ok(())
}

async fn json(request: reqwest::RequestBuilder) -> Result<serde_json::Value> {
    let response = request.send().await?;
    let status = response.status();
    let body = response.text().await?;
    if !status.is_success() {
        bail!("{status}: {body}");
    }
    Ok(serde_json::from_str(&body)?)
}

/// The receiver's rate for the same bodies from a plain client, 32 at once.
async fn floor(url: &str, bodies: Vec<Bytes>) -> Result<f64> {
    let http = reqwest::Client::new();
    let queue = Arc::new(Mutex::new(bodies));
    let started = Instant::now();
    let mut tasks = Vec::new();
    let mut sent = 0;
    for _ in 0..WRITERS {
        let (http, queue, url) = (http.clone(), queue.clone(), url.to_string());
        tasks.push(tokio::spawn(async move {
            let mut n = 0usize;
            loop {
                let next = queue.lock().ok().and_then(|mut q| q.pop());
                let Some(body) = next else { break };
                http.post(&url)
                    .header("content-type", "application/json")
                    .header("webhook-id", "floor")
                    .body(body)
                    .send()
                    .await?
                    .bytes()
                    .await?;
                n += 1;
            }
            Ok::<usize, anyhow::Error>(n)
        }));
    }
    for task in tasks {
        sent += task.await??;
    }
    Ok(sent as f64 / started.elapsed().as_secs_f64())
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted
        .get(((sorted.len().saturating_sub(1)) as f64 * p).round() as usize)
        .copied()
        .unwrap_or(0.0)
}

pub(super) async fn webhooks_scenario(plan: &Plan) -> Result<Vec<String>> {
    let (backlog, rate, secs) = if plan.smoke {
        (200, 200.0, 1.0)
    } else {
        (20_000, 1_250.0, 10.0)
    };
    let size = if plan.smoke { Size::Tiny } else { Size::Small };
    let (db, info) = super::fresh_data_set(plan, "webhooks-small.db", size).await?;
    let auth = basic(
        info["email"].as_str().unwrap_or(""),
        info["api_key"].as_str().unwrap_or(""),
    );
    let (url, received) = receiver().await?;
    let server = plan.cohort_with(&db, "warn", &["--webhook-allow-private"])?;
    let http = reqwest::Client::new();
    let mut groups = Vec::with_capacity(WRITERS);
    for i in 0..WRITERS {
        let made = json(
            http.post(format!("{}/api/v1/user_groups/create", server.url))
                .header("authorization", &auth)
                .header("content-type", "application/x-www-form-urlencoded")
                .body(format!("name=hook-lane-{i}&description=&members=%5B%5D")),
        )
        .await?;
        groups.push(made["group_id"].as_i64().context("group id")?);
    }
    let hooks = format!("{}/cohort/v1/webhooks", server.url);
    let made = json(
        http.post(&hooks)
            .header("authorization", &auth)
            .body(format!(r#"{{"url":"{url}","types":["group.renamed"]}}"#)),
    )
    .await?;
    let id = made["webhook"]["id"].as_i64().context("webhook id")?;
    let endpoint = format!("{hooks}/{id}");
    let enable = |on: bool| {
        http.patch(&endpoint)
            .header("authorization", &auth)
            .body(format!(r#"{{"enabled":{on}}}"#))
    };
    json(enable(false)).await?;

    // The backlog, then its drain.
    renames(&server.url, &auth, &groups, backlog, None, "backlog").await?;
    let enabled_at = Instant::now();
    json(enable(true)).await?;
    let last = wait_for(&received, backlog, Duration::from_secs(300)).await?;
    let drain_secs = last.duration_since(enabled_at).as_secs_f64();
    let drain_rate = backlog as f64 / drain_secs;
    let bodies: Vec<Bytes> = received
        .lock()
        .map(|r| r.seen.iter().map(|s| s.3.clone()).collect())
        .unwrap_or_default();

    // Sustained, at a steady rate.
    let before = count(&received);
    let sustained = (rate * secs) as usize;
    let window_start = Instant::now();
    renames(&server.url, &auth, &groups, sustained, Some(rate), "steady").await?;
    let writes_secs = window_start.elapsed().as_secs_f64();
    let last = wait_for(&received, before + sustained, Duration::from_secs(120)).await?;
    let delivered_secs = last.duration_since(window_start).as_secs_f64();
    let (mut lags, duplicates) = {
        let r = received
            .lock()
            .map_err(|_| anyhow::anyhow!("receiver poisoned"))?;
        let mut ids: HashMap<&str, usize> = HashMap::new();
        for s in &r.seen {
            *ids.entry(s.0.as_str()).or_default() += 1;
        }
        let duplicates = ids.values().filter(|n| **n > 1).count();
        // Arrival as wall-clock time: now, less how long ago it was.
        let now_wall = now_ms();
        let now_mono = Instant::now();
        let lags: Vec<f64> = r.seen[before..]
            .iter()
            .map(|s| {
                let at = now_wall - now_mono.duration_since(s.1).as_millis() as i64;
                (at - s.2) as f64
            })
            .collect();
        (lags, duplicates)
    };
    lags.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
    let floor_rate = floor(&url, bodies).await?;
    let steady_rate = sustained as f64 / delivered_secs;

    let verdict = |ok: bool| if ok { "met" } else { "**not met**" };
    let mut lines = vec![
        format!(
            "One endpoint (`group.renamed`) on a local receiver; renames of {WRITERS} groups through the Zulip API ({WRITERS} ordering lanes). Backlog: {backlog} renames made while the endpoint was disabled, then enabled. Sustained: {sustained} renames at {rate:.0}/s (the writes took {writes_secs:.2} s). Floor: the same bodies posted to the same receiver by the harness, {WRITERS} at once."
        ),
        String::new(),
        "| measure | value | target | verdict |".into(),
        "|---|---|---|---|".into(),
        format!(
            "| backlog drain: deliveries/s (ratio to the floor's {floor_rate:.0}/s) | {drain_rate:.0} ({:.2}×) | ≥ 1,000/s | {} |",
            drain_rate / floor_rate,
            verdict(drain_rate >= 1_000.0)
        ),
        format!(
            "| sustained at {rate:.0} renames/s: deliveries/s over the window | {steady_rate:.0} | ≥ 1,000/s | {} |",
            verdict(steady_rate >= 1_000.0 || plan.smoke)
        ),
        format!(
            "| sustained: lag from commit to arrival, p50 / p99 / max ms | {:.0} / {:.0} / {:.0} | – | – |",
            percentile(&lags, 0.5),
            percentile(&lags, 0.99),
            lags.last().copied().unwrap_or(0.0)
        ),
        format!("| webhook-ids received twice | {duplicates} | 0 | {} |", verdict(duplicates == 0)),
        String::new(),
    ];
    if plan.smoke {
        lines.push("(smoke run: tiny data, rates not comparable)".into());
        lines.push(String::new());
    }
    Ok(lines)
}
