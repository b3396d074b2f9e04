//! Write load: concurrent member add/remove clients (group commit at work),
//! and the write-then-read pair.

use anyhow::Result;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    sorted
        .get(((sorted.len().saturating_sub(1)) as f64 * p).round() as usize)
        .map(|d| d.as_secs_f64() * 1000.0)
        .unwrap_or(0.0)
}

/// `clients` tasks, each toggling its own user in and out of a group, until
/// the deadline. Every 200 is an acknowledged, durable write.
pub async fn members(
    base: String,
    auth: String,
    groups: Vec<i64>,
    users: Vec<i64>,
    clients: usize,
    duration: Duration,
) -> Result<Value> {
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(clients)
        .build()?;
    let deadline = Instant::now() + duration;
    let started = Instant::now();
    let mut tasks = Vec::new();
    for i in 0..clients {
        let (http, base, auth) = (http.clone(), base.clone(), auth.clone());
        let user = users[i % users.len()];
        let group = groups[i % groups.len()];
        tasks.push(tokio::spawn(async move {
            let (mut acked, mut failed) = (0u64, 0u64);
            let mut latencies = Vec::new();
            let mut add = true;
            while Instant::now() < deadline {
                let op = if add { "add" } else { "delete" };
                let t = Instant::now();
                let response = http
                    .post(format!("{base}/api/v1/user_groups/{group}/members"))
                    .header("authorization", &auth)
                    .header("content-type", "application/x-www-form-urlencoded")
                    .body(format!("{op}=%5B{user}%5D"))
                    .send()
                    .await;
                match response {
                    Ok(r) if r.status().is_success() => {
                        acked += 1;
                        add = !add;
                    }
                    Ok(r) => {
                        failed += 1;
                        // Re-sync if the toggle got out of step.
                        let body = r.text().await.unwrap_or_default();
                        if body.contains("already a member") || body.contains("no member") {
                            add = !add;
                        }
                        continue;
                    }
                    Err(_) => failed += 1,
                }
                latencies.push(t.elapsed());
            }
            (acked, failed, latencies)
        }));
    }
    let (mut acked, mut failed, mut latencies) = (0, 0, Vec::new());
    for task in tasks {
        let (a, f, l) = task.await?;
        acked += a;
        failed += f;
        latencies.extend(l);
    }
    let elapsed = started.elapsed().as_secs_f64();
    latencies.sort();
    Ok(json!({
        "ops_per_sec": acked as f64 / elapsed,
        "acknowledged": acked,
        "failed": failed,
        "p50_ms": percentile(&latencies, 0.5),
        "p99_ms": percentile(&latencies, 0.99),
    }))
}

/// Add (or remove) one member, then read the whole `GET /user_groups`: the time
/// for the pair, `iterations` times.
pub async fn pair(
    base: String,
    auth: String,
    group: i64,
    users: Vec<i64>,
    iterations: usize,
) -> Result<Value> {
    let http = reqwest::Client::new();
    // A user who is not yet a direct member, so the first add succeeds.
    let members: Value = serde_json::from_slice(
        &http
            .get(format!(
                "{base}/api/v1/user_groups/{group}/members?direct_member_only=true"
            ))
            .header("authorization", &auth)
            .send()
            .await?
            .bytes()
            .await?,
    )?;
    let current: Vec<i64> = members["members"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_i64)
        .collect();
    let user = users
        .into_iter()
        .find(|u| !current.contains(u))
        .ok_or_else(|| anyhow::anyhow!("every candidate is already a member"))?;
    let mut pairs = Vec::with_capacity(iterations);
    let mut bytes = 0usize;
    for i in 0..iterations {
        let op = if i % 2 == 0 { "add" } else { "delete" };
        let t = Instant::now();
        let write = http
            .post(format!("{base}/api/v1/user_groups/{group}/members"))
            .header("authorization", &auth)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!("{op}=%5B{user}%5D"))
            .send()
            .await?;
        anyhow::ensure!(
            write.status().is_success(),
            "write failed: {}",
            write.text().await?
        );
        let read = http
            .get(format!("{base}/api/v1/user_groups"))
            .header("authorization", &auth)
            .send()
            .await?;
        anyhow::ensure!(read.status().is_success(), "read failed");
        // Read the body as a fast client would: chunk by chunk, not into one buffer.
        let mut read = read;
        bytes = 0;
        while let Some(chunk) = read.chunk().await? {
            bytes += chunk.len();
        }
        pairs.push(t.elapsed());
    }
    pairs.sort();
    Ok(json!({
        "iterations": iterations,
        "body_bytes": bytes,
        "p50_ms": percentile(&pairs, 0.5),
        "p99_ms": percentile(&pairs, 0.99),
    }))
}
