//! Latency against the same-bytes floor, one request at a time: `cohort-bench
//! sequential` GETs a list of URLs in turn on one keep-alive connection
//! (pinned to the client CPU), and a `Latency` keeps a question's rounds —
//! in each round the floor answers the round's requests first, then cohort
//! — with cohort's p99 over the floor's per round. Used by the history
//! questions (`audit.rs`) and the admin page (`ui.rs`).

use super::{pinned, stats, Plan};
use anyhow::{bail, Context as _, Result};
use serde_json::{json, Value};
use std::path::PathBuf;
use std::time::Instant;

pub(super) fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted
        .get(((sorted.len().saturating_sub(1)) as f64 * p).round() as usize)
        .copied()
        .unwrap_or(0.0)
}

pub(super) fn sorted(values: &[f64]) -> Vec<f64> {
    let mut v = values.to_vec();
    v.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
    v
}

/// `cohort-bench sequential`: GET every URL of the file in turn on one
/// keep-alive connection, reading each body whole; JSON with the latencies.
pub async fn sequential(urls: PathBuf, header: Option<String>) -> Result<Value> {
    let text = std::fs::read_to_string(&urls)?;
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(1)
        .build()?;
    let header = header.map(|h| {
        let (name, value) = h.split_once(':').unwrap_or((&h, ""));
        (name.trim().to_string(), value.trim().to_string())
    });
    let mut latencies = Vec::new();
    let (mut bytes, mut errors) = (0u64, 0u64);
    let mut first_error = None;
    for url in text.lines().filter(|l| !l.is_empty()) {
        let mut request = http.get(url);
        if let Some((name, value)) = &header {
            request = request.header(name.as_str(), value.as_str());
        }
        let started = Instant::now();
        let response = request.send().await?;
        let status = response.status();
        let body = response.bytes().await?;
        let elapsed = started.elapsed().as_secs_f64() * 1000.0;
        if !status.is_success() {
            errors += 1;
            first_error.get_or_insert_with(|| {
                format!(
                    "{url}: {status}: {}",
                    String::from_utf8_lossy(&body[..body.len().min(300)])
                )
            });
            continue;
        }
        bytes += body.len() as u64;
        latencies.push(elapsed);
    }
    Ok(json!({
        "count": latencies.len(),
        "errors": errors,
        "first_error": first_error,
        "bytes": bytes,
        "latencies_ms": latencies,
    }))
}

/// Run `cohort-bench sequential` pinned to the client CPU over `urls`, with
/// one request header (`Name: value`); the latencies in request order.
pub(super) fn run_sequential(
    plan: &Plan,
    name: &str,
    urls: &[String],
    header: Option<&str>,
) -> Result<Vec<f64>> {
    let file = plan.work.join(format!("urls-{name}.txt"));
    std::fs::write(&file, urls.join("\n") + "\n")?;
    let mut command = pinned(plan.client_cpu, &std::env::current_exe()?);
    command.arg("sequential").arg("--urls").arg(&file);
    if let Some(header) = header {
        command.args(["--header", header]);
    }
    let out = command.output()?;
    let result: Value = serde_json::from_slice(&out.stdout)
        .with_context(|| String::from_utf8_lossy(&out.stderr).to_string())?;
    if result["errors"].as_u64().unwrap_or(0) > 0 {
        bail!(
            "{name}: {} failed requests: {}",
            result["errors"],
            result["first_error"]
        );
    }
    Ok(result["latencies_ms"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_f64)
        .collect())
}

/// One question's rounds: cohort's and the floor's latencies.
pub(super) struct Latency {
    pub(super) label: String,
    pub(super) requests: usize,
    pub(super) body: usize,
    pub(super) cohort: Vec<f64>,
    pub(super) floor: Vec<f64>,
    /// cohort's p99 over the floor's, per round.
    pub(super) ratios: Vec<f64>,
    /// The target for cohort's p99.
    pub(super) target_ms: f64,
}

impl Latency {
    pub(super) fn new(label: &str, requests: usize, body: usize, target_ms: f64) -> Latency {
        Latency {
            label: label.to_string(),
            requests,
            body,
            cohort: Vec::new(),
            floor: Vec::new(),
            ratios: Vec::new(),
            target_ms,
        }
    }

    /// `paths` split into `rounds`; in each, the floor (at `floor`) answers
    /// the round's requests, then cohort (at `server`, with `header`).
    #[allow(clippy::too_many_arguments)]
    pub(super) fn against_floor(
        &mut self,
        plan: &Plan,
        name: &str,
        floor: &str,
        server: &str,
        header: Option<&str>,
        paths: &[String],
        rounds: usize,
    ) -> Result<()> {
        let per_round = paths.len().div_ceil(rounds.max(1)).max(1);
        for (round, chunk) in paths.chunks(per_round).enumerate() {
            let base: Vec<String> = chunk.iter().map(|p| format!("{floor}{p}")).collect();
            let ours: Vec<String> = chunk.iter().map(|p| format!("{server}{p}")).collect();
            let f = run_sequential(plan, &format!("{name}-floor-{round}"), &base, None)?;
            let c = run_sequential(plan, &format!("{name}-{round}"), &ours, header)?;
            let ratio = percentile(&sorted(&c), 0.99) / percentile(&sorted(&f), 0.99).max(1e-6);
            self.ratios.push(ratio);
            self.cohort.extend(c);
            self.floor.extend(f);
        }
        Ok(())
    }

    /// cohort's p99 over every round.
    pub(super) fn p99(&self) -> f64 {
        percentile(&sorted(&self.cohort), 0.99)
    }

    pub(super) fn row(&self) -> String {
        let (ours, base) = (sorted(&self.cohort), sorted(&self.floor));
        let (ratio, lo, hi) = stats(&self.ratios);
        let (p50, p99, max) = (
            percentile(&ours, 0.5),
            percentile(&ours, 0.99),
            ours.last().copied().unwrap_or(0.0),
        );
        let (fp50, fp99, fmax) = (
            percentile(&base, 0.5),
            percentile(&base, 0.99),
            base.last().copied().unwrap_or(0.0),
        );
        format!(
            "| {} | {} | {} | {p50:.2} | {p99:.2} | {max:.2} | {fp50:.2} / {fp99:.2} / {fmax:.2} | {ratio:.1}× [{lo:.1}–{hi:.1}] | p99 ≤ {} ms | {} |",
            self.label,
            self.requests,
            super::human_bytes(self.body as f64),
            self.target_ms,
            if p99 <= self.target_ms { "met" } else { "**not met**" }
        )
    }
}
