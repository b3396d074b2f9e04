//! Member add/remove under 64 concurrent clients (SQLite and PostgreSQL).

use super::{pinned, Plan, Proc};
use anyhow::{Context as _, Result};
use serde_json::Value;

/// 64 clients adding and removing members; returns (ops/s, p50, p99).
pub(super) fn write_load(
    plan: &Plan,
    server: &Proc,
    auth: &str,
    info: &Value,
) -> Result<(f64, f64, f64)> {
    let groups: Vec<String> = info["group_ids"]
        .as_array()
        .into_iter()
        .flatten()
        .take(8)
        .map(|g| g.to_string())
        .collect();
    let users: Vec<String> = info["user_ids"]
        .as_array()
        .into_iter()
        .flatten()
        .take(64)
        .map(|u| u.to_string())
        .collect();
    let mut command = pinned(plan.client_cpu, &std::env::current_exe()?);
    command.args([
        "writes",
        "--base",
        &server.url,
        "--auth",
        auth,
        "--clients",
        "64",
    ]);
    command.args(["--groups", &groups.join(","), "--users", &users.join(",")]);
    command.args([
        "--millis",
        &((plan.run.as_secs_f64() * 1000.0 * if plan.smoke { 1.0 } else { 3.0 }) as u64)
            .to_string(),
    ]);
    let out = command.output()?;
    let result: Value = serde_json::from_slice(&out.stdout)
        .with_context(|| String::from_utf8_lossy(&out.stderr).to_string())?;
    anyhow::ensure!(
        result["acknowledged"].as_u64().unwrap_or(0) > 0,
        "no write was acknowledged: {result}"
    );
    Ok((
        result["ops_per_sec"].as_f64().unwrap_or(0.0),
        result["p50_ms"].as_f64().unwrap_or(0.0),
        result["p99_ms"].as_f64().unwrap_or(0.0),
    ))
}
