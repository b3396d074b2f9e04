//! IMKIT's group page against its floor.

use super::{human_bytes, stats, Plan, Proc};
use crate::load;
use anyhow::Result;
use std::path::Path;

/// `GET /admin/groups?limit=50&skip=k` against its floor. The IMKIT key goes in
/// a header the load tools are given directly.
pub(super) async fn imkit_scenario(
    plan: &Plan,
    server: &Proc,
    url: &str,
    key: &str,
    body: &Path,
) -> Result<String> {
    let floor = plan.floor(body)?;
    let size = std::fs::metadata(body)?.len() as usize;
    let tool = plan.tool_for(size);
    let mut ratios = Vec::new();
    let mut ours = Vec::new();
    for _ in 0..plan.rounds {
        let base = load::run(tool, &floor.url, None, 32, plan.run, plan.client_cpu)?;
        let mine = load::run(
            tool,
            url,
            Some(("IM-API-KEY", key)),
            32,
            plan.run,
            plan.client_cpu,
        )?;
        anyhow::ensure!(mine.errors == 0, "IMKIT page requests failed");
        ratios.push(mine.requests_per_sec / base.requests_per_sec);
        ours.push(mine);
    }
    let (ratio, lo, hi) = stats(&ratios);
    let (rps, _, _) = stats(&ours.iter().map(|m| m.requests_per_sec).collect::<Vec<_>>());
    let (p50, _, _) = stats(&ours.iter().map(|m| m.p50_ms).collect::<Vec<_>>());
    let (p99, _, _) = stats(&ours.iter().map(|m| m.p99_ms).collect::<Vec<_>>());
    Ok(format!(
        "| GET /admin/groups?limit=50&skip=k (IMKIT page) | {} | {} | {rps:.0} | {ratio:.2} [{lo:.2}–{hi:.2}] | – | – | {p50:.2} | {p99:.2} | – | – | – | {:.0} MiB | ≥ 0.85× floor | {} |",
        human_bytes(size as f64),
        tool.name(),
        server.rss_mib(),
        if ratio >= 0.85 { "met" } else { "**not met**" }
    ))
}
