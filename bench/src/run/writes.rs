//! Member add/remove under 64 concurrent clients (SQLite and PostgreSQL), and
//! the writers' command that the reads-under-writes scenario also runs.

use super::{pinned, Plan, Proc};
use anyhow::{Context as _, Result};
use serde_json::Value;
use std::process::{Command, Output};

/// The first `n` ids of `info[field]` (the data set's `group_ids` or `user_ids`).
fn first_ids(info: &Value, field: &str, n: usize) -> Vec<String> {
    info[field]
        .as_array()
        .into_iter()
        .flatten()
        .take(n)
        .map(|id| id.to_string())
        .collect()
}

/// `cohort-bench writes`: 64 clients adding and removing the data set's first
/// 64 users as members of its first `groups` groups, for `millis`.
pub(super) fn writers(
    plan: &Plan,
    server: &Proc,
    auth: &str,
    info: &Value,
    groups: usize,
    millis: u64,
) -> Result<Command> {
    let groups = first_ids(info, "group_ids", groups);
    let users = first_ids(info, "user_ids", 64);
    let mut command = pinned(plan.client_cpu, &std::env::current_exe()?);
    command.args(["writes", "--base", &server.url, "--auth", auth]);
    command.args(["--clients", "64", "--groups", &groups.join(",")]);
    command.args(["--users", &users.join(","), "--millis", &millis.to_string()]);
    Ok(command)
}

/// The writers' report: (ops/s, p50, p99), refusing a run that acknowledged
/// no write.
pub(super) fn writers_result(out: &Output) -> Result<(f64, f64, f64)> {
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

/// 64 clients adding and removing members of 8 groups; returns (ops/s, p50, p99).
pub(super) fn write_load(
    plan: &Plan,
    server: &Proc,
    auth: &str,
    info: &Value,
) -> Result<(f64, f64, f64)> {
    let millis = plan.run.as_secs_f64() * 1000.0 * if plan.smoke { 1.0 } else { 3.0 };
    let out = writers(plan, server, auth, info, 8, millis as u64)?.output()?;
    writers_result(&out)
}
