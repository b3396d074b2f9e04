//! The event stream (`GET /cohort/v1/stream`) with many clients at once:
//! what an open stream costs the server, and how long one change takes to
//! reach every client.
//!
//! **Data.** The `small` data set. **Clients.** N streams (1,000; 20 in a
//! smoke run), each on its own connection from the harness, reading frames
//! as they arrive. Once all are following, C groups are renamed through the
//! Zulip API one at a time, 50 ms apart; for each rename, every client's
//! arrival time of its `group.renamed` event is taken against the moment the
//! write was sent (so the write itself is inside the figure). **Reference.**
//! The same renames' write latency with no stream open, in the same run.
//! **Memory.** The server's RSS before the clients connect and once all
//! follow; the difference over N is the cost of one open stream.

use super::{basic, stats, Plan};
use crate::generate::Size;
use anyhow::{bail, Context as _, Result};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// Each client reports when it follows, then when each rename arrives.
enum Seen {
    Following,
    Renamed(Instant),
}

async fn client(url: String, auth: String, report: mpsc::UnboundedSender<Seen>) -> Result<()> {
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()?;
    let mut response = http.get(url).header("authorization", auth).send().await?;
    if !response.status().is_success() {
        bail!("stream: {}", response.status());
    }
    let mut buffer = String::new();
    let mut following = false;
    while let Some(chunk) = response.chunk().await? {
        let now = Instant::now();
        buffer.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(end) = buffer.find("\n\n") {
            let block: String = buffer.drain(..end + 2).collect();
            if !following && block.starts_with("retry:") {
                following = true;
                let _ = report.send(Seen::Following);
            }
            if block.contains("\nevent: group.renamed\n") {
                let _ = report.send(Seen::Renamed(now));
            }
        }
    }
    Ok(())
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted
        .get(((sorted.len().saturating_sub(1)) as f64 * p).round() as usize)
        .copied()
        .unwrap_or(0.0)
}

/// Rename `group` `count` times, 50 ms apart; the moment each was sent and
/// its latency.
async fn renames(
    base: &str,
    auth: &str,
    group: i64,
    round: usize,
    count: usize,
) -> Result<Vec<(Instant, f64)>> {
    let http = reqwest::Client::new();
    let mut sent = Vec::new();
    for i in 0..count {
        let started = Instant::now();
        let response = http
            .patch(format!("{base}/api/v1/user_groups/{group}"))
            .header("authorization", auth)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!("name=stream-bench-{round}-{i}"))
            .send()
            .await?;
        if !response.status().is_success() {
            bail!("rename: {} {}", response.status(), response.text().await?);
        }
        sent.push((started, started.elapsed().as_secs_f64() * 1000.0));
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(sent)
}

pub(super) async fn stream_scenario(plan: &Plan) -> Result<Vec<String>> {
    let (clients, changes) = if plan.smoke { (20, 5) } else { (1_000, 40) };
    let size = if plan.smoke { Size::Tiny } else { Size::Small };
    let (db, info) = super::fresh_data_set(plan, "stream-small.db", size).await?;
    let auth = basic(
        info["email"].as_str().unwrap_or(""),
        info["api_key"].as_str().unwrap_or(""),
    );
    let group = info["group_ids"][0].as_i64().context("a group")?;
    let server = plan.cohort(&db, "warn")?;

    // The reference: the renames with nobody following.
    let alone = renames(&server.url, &auth, group, 0, changes).await?;
    let rss_before = server.rss_mib();

    let (report, mut seen) = mpsc::unbounded_channel();
    let url = format!("{}/cohort/v1/stream", server.url);
    let started = Instant::now();
    let tasks: Vec<_> = (0..clients)
        .map(|_| tokio::spawn(client(url.clone(), auth.clone(), report.clone())))
        .collect();
    drop(report);
    let mut following = 0;
    while following < clients {
        match tokio::time::timeout(Duration::from_secs(60), seen.recv()).await {
            Ok(Some(Seen::Following)) => following += 1,
            Ok(Some(Seen::Renamed(_))) => {}
            _ => bail!("only {following} of {clients} streams started"),
        }
    }
    let connect_secs = started.elapsed().as_secs_f64();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss_following = server.rss_mib();

    let sent = renames(&server.url, &auth, group, 1, changes).await?;
    let mut arrivals = Vec::with_capacity(clients * changes);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while arrivals.len() < clients * changes {
        match tokio::time::timeout_at(deadline, seen.recv()).await {
            Ok(Some(Seen::Renamed(at))) => arrivals.push(at),
            Ok(Some(Seen::Following)) => {}
            _ => break,
        }
    }
    for task in &tasks {
        task.abort();
    }
    // Arrivals in order: the k-th arrival overall belongs to rename
    // k / clients only approximately, so each is matched to the latest
    // rename sent before it.
    let mut latencies: Vec<f64> = arrivals
        .iter()
        .filter_map(|at| {
            sent.iter()
                .rev()
                .find(|(t, _)| t <= at)
                .map(|(t, _)| at.duration_since(*t).as_secs_f64() * 1000.0)
        })
        .collect();
    latencies.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
    let mut write_alone: Vec<f64> = alone.iter().map(|(_, ms)| *ms).collect();
    write_alone.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
    let mut write_followed: Vec<f64> = sent.iter().map(|(_, ms)| *ms).collect();
    write_followed.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
    let per_client_kib = (rss_following - rss_before).max(0.0) * 1024.0 / clients as f64;
    let (alone_median, _, _) = stats(&write_alone);

    let mut lines = Vec::new();
    lines.push(format!(
        "{clients} streams opened from the harness (all following after {connect_secs:.2} s); then {changes} group renames through the Zulip API, 50 ms apart. Delivery latency is from sending the write to a client reading the event, over every (client, rename) pair; {} of {} arrived.",
        arrivals.len(),
        clients * changes
    ));
    lines.push(String::new());
    lines.push("| measure | value |".into());
    lines.push("|---|---|".into());
    lines.push(format!(
        "| delivery to all streams: p50 / p99 / max ms | {:.2} / {:.2} / {:.2} |",
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.99),
        latencies.last().copied().unwrap_or(0.0)
    ));
    lines.push(format!(
        "| the rename's own latency, no stream open: p50 / p99 ms | {alone_median:.2} / {:.2} |",
        percentile(&write_alone, 0.99)
    ));
    lines.push(format!(
        "| the rename's own latency, {clients} streams open: p50 / p99 ms | {:.2} / {:.2} |",
        percentile(&write_followed, 0.5),
        percentile(&write_followed, 0.99)
    ));
    lines.push(format!(
        "| server RSS: before / with {clients} streams | {rss_before:.0} / {rss_following:.0} MiB ({per_client_kib:.1} KiB per stream) |"
    ));
    lines.push(String::new());
    Ok(lines)
}
