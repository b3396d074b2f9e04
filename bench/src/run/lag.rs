//! Replication lag on PostgreSQL: two `cohort serve` nodes on one database,
//! both polling effectively never (`--poll-ms 600000`), so only LISTEN/NOTIFY
//! moves node B. Each write on node A (add or remove one member, alternately)
//! is followed by reading node B back to back until it serves the change; the
//! lag runs from A's acknowledgement to the first answer from B that shows it
//! (so it includes one read's round trip).

use super::pg::Scratch;
use super::Plan;
use crate::generate::Size;
use anyhow::{bail, Context as _, Result};
use serde_json::Value;
use std::time::{Duration, Instant};

/// How long node B may take to show one write (or to start listening) before
/// the scenario fails: far beyond any lag worth reporting, far below the poll.
const DEADLINE: Duration = Duration::from_secs(10);

/// The measured lags of one run.
pub(super) struct Lag {
    pub(super) writes: usize,
    pub(super) median_ms: f64,
    pub(super) p99_ms: f64,
    pub(super) max_ms: f64,
}

/// `writes` writes on node A, each awaited on node B.
pub(super) async fn lag_scenario(plan: &Plan, server: &str, size: Size) -> Result<Lag> {
    let scratch = Scratch::create(server, "_lag", size).await?;
    let result = measure(plan, &scratch).await;
    scratch.drop().await?;
    result
}

async fn measure(plan: &Plan, scratch: &Scratch) -> Result<Lag> {
    let writes = if plan.smoke { 10 } else { 200 };
    let poll = ["--poll-ms", "600000"];
    let a = plan.cohort_with(&scratch.url, "warn", &poll)?;
    let b = plan.cohort_with(&scratch.url, "warn", &poll)?;
    let http = reqwest::Client::new();
    let auth = scratch.auth.as_str();
    // Without its LISTEN connection node B would only see writes at the poll.
    let started = Instant::now();
    while gauge(&http, &b.url, "cohort_postgres_listening").await != Some(1.0) {
        if started.elapsed() > DEADLINE {
            bail!("node B never started listening for notifications");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let group = scratch.info["group_ids"][0]
        .as_i64()
        .context("the data set has no group")?;
    let member = |base: &str, user: i64| {
        let request = http
            .get(format!(
                "{base}/api/v1/user_groups/{group}/members/{user}?direct_member_only=true"
            ))
            .header("authorization", auth);
        async move {
            let body: Value = serde_json::from_slice(&request.send().await?.bytes().await?)?;
            body["is_user_group_member"]
                .as_bool()
                .with_context(|| format!("membership answer: {body}"))
        }
    };
    // A user who is not yet a direct member, so the first add changes something.
    let mut user = None;
    for candidate in scratch.info["user_ids"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_i64)
    {
        if !member(&a.url, candidate).await? {
            user = Some(candidate);
            break;
        }
    }
    let user = user.context("every candidate is already a member")?;
    let mut lags = Vec::with_capacity(writes);
    for i in 0..writes {
        let add = i % 2 == 0;
        let write = http
            .post(format!("{}/api/v1/user_groups/{group}/members", a.url))
            .header("authorization", auth)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!(
                "{}=%5B{user}%5D",
                if add { "add" } else { "delete" }
            ))
            .send()
            .await?;
        let acked = Instant::now();
        if !write.status().is_success() {
            bail!("write {i} on node A failed: {}", write.text().await?);
        }
        while member(&b.url, user).await? != add {
            if acked.elapsed() > DEADLINE {
                bail!("node B did not show write {i} within {DEADLINE:?}");
            }
        }
        lags.push(acked.elapsed().as_secs_f64() * 1000.0);
    }
    lags.sort_by(|x, y| x.partial_cmp(y).unwrap_or(std::cmp::Ordering::Equal));
    let at = |p: f64| lags[((lags.len() - 1) as f64 * p).round() as usize];
    Ok(Lag {
        writes,
        median_ms: at(0.5),
        p99_ms: at(0.99),
        max_ms: at(1.0),
    })
}

/// The value of an unlabelled gauge in `base`'s `/metrics`.
async fn gauge(http: &reqwest::Client, base: &str, name: &str) -> Option<f64> {
    let text = http
        .get(format!("{base}/metrics"))
        .send()
        .await
        .ok()?
        .text()
        .await
        .ok()?;
    text.lines().find_map(|line| {
        line.strip_prefix(name)?
            .strip_prefix(' ')?
            .trim()
            .parse()
            .ok()
    })
}
