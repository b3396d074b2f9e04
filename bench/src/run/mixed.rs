//! Reads under writes: `GET /user_groups` loaded alone, then while 64 writers
//! add and remove members of the listed groups. Every write moves the realm's
//! version, so this is what the list cache does when readers hold snapshots
//! of many versions at once.

use super::writes::{writers, writers_result};
use super::{fetch, human_bytes, stats, Plan, Proc};
use anyhow::Result;
use serde_json::Value;
use std::process::Stdio;
use std::time::Duration;

/// The report's rows for `name`'s data set.
pub(super) async fn mixed_scenario(
    plan: &Plan,
    name: &str,
    server: &Proc,
    auth: &str,
    info: &Value,
) -> Result<Vec<String>> {
    let url = format!("{}/api/v1/user_groups", server.url);
    let body = fetch(&url, Some(auth)).await?;
    let tool = plan.tool_for(body.len());
    // Writers spread over 64 groups, so changes land in many segments.
    const GROUPS: usize = 64;
    let (mut alone, mut mixed, mut writes) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..plan.rounds.min(5) {
        alone.push(plan.load(tool, &url, Some(auth))?);
        // The writers start first and outlast the read load.
        let millis = plan.run.as_millis() as u64 + 600;
        let mut command = writers(plan, server, auth, info, GROUPS, millis)?;
        let writers = command
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()?;
        tokio::time::sleep(Duration::from_millis(300)).await;
        let read = plan.load(tool, &url, Some(auth));
        let out = writers.wait_with_output()?;
        mixed.push(read?);
        writes.push(writers_result(&out)?.0);
    }
    let median = |runs: &[crate::load::Measured], f: fn(&crate::load::Measured) -> f64| {
        stats(&runs.iter().map(f).collect::<Vec<_>>()).0
    };
    let (rps_alone, rps_mixed) = (
        median(&alone, |m| m.requests_per_sec),
        median(&mixed, |m| m.requests_per_sec),
    );
    let (p99_alone, p99_mixed) = (median(&alone, |m| m.p99_ms), median(&mixed, |m| m.p99_ms));
    Ok(vec![format!(
        "| GET /api/v1/user_groups ({name}) while 64 writers add/remove members of {} groups | {} | {} | {rps_alone:.0} / {p99_alone:.2} | {rps_mixed:.0} / {p99_mixed:.2} | {:.2} | {:.1}× | {:.0} |",
        info["group_ids"].as_array().map_or(0, Vec::len).min(GROUPS),
        human_bytes(body.len() as f64),
        tool.name(),
        rps_mixed / rps_alone.max(f64::MIN_POSITIVE),
        p99_mixed / p99_alone.max(f64::MIN_POSITIVE),
        stats(&writes).0,
    )])
}
