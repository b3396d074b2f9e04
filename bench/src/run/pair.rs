//! The write-then-read pair: add (or remove) one member, then read the whole
//! `GET /user_groups`, on one connection; the pair's p50 and p99.

use super::{human_bytes, pinned, Plan, Proc};
use anyhow::{Context as _, Result};
use serde_json::Value;

/// The report's row for `name`'s data set.
pub(super) fn pair_scenario(
    plan: &Plan,
    name: &str,
    server: &Proc,
    auth: &str,
    info: &Value,
) -> Result<String> {
    let group = info["group_ids"][0].as_i64().unwrap_or(0);
    let users: Vec<String> = info["user_ids"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|u| u.to_string())
        .collect();
    let mut command = pinned(plan.client_cpu, &std::env::current_exe()?);
    command.args([
        "pair",
        "--base",
        &server.url,
        "--auth",
        auth,
        "--group",
        &group.to_string(),
        "--users",
        &users.join(","),
    ]);
    command.args(["--iterations", if plan.smoke { "10" } else { "200" }]);
    let out = command.output()?;
    let pair: Value = serde_json::from_slice(&out.stdout)
        .with_context(|| String::from_utf8_lossy(&out.stderr).to_string())?;
    let p50 = pair["p50_ms"].as_f64().unwrap_or(0.0);
    Ok(format!(
        "| add one member, then GET /api/v1/user_groups ({name}, {} body) | p50 {p50:.2} ms, p99 {:.2} ms over {} pairs (one connection) | | | | | | | | | | | p50 ≤ 5 ms | {} |",
        human_bytes(pair["body_bytes"].as_f64().unwrap_or(0.0)),
        pair["p99_ms"].as_f64().unwrap_or(0.0),
        pair["iterations"],
        if p50 <= 5.0 { "met" } else { "**not met**" }
    ))
}
