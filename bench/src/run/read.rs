//! Read scenarios (`GET /user_groups` at each size, transitive members): rounds
//! of cohort against the same-bytes floor and nginx, back to back.

use super::{fetch, stats, Plan, Proc};
use crate::load::{Measured, Tool};
use anyhow::Result;

/// One read scenario's rounds against cohort, the floor, and nginx.
pub(super) struct ReadResult {
    pub(super) tool: Tool,
    pub(super) body: usize,
    pub(super) cohort: Vec<Measured>,
    pub(super) floor: Vec<Measured>,
    /// p99 (ms) with one connection, no queueing: (cohort, floor).
    pub(super) single: Option<(f64, f64)>,
    pub(super) ratios: Vec<f64>,
    pub(super) aa: Vec<f64>,
    pub(super) nginx_ratios: Vec<f64>,
    pub(super) rss_mib: f64,
}

impl ReadResult {
    pub(super) fn median(&self, f: impl Fn(&Measured) -> f64) -> f64 {
        stats(&self.cohort.iter().map(f).collect::<Vec<_>>()).0
    }
}

pub(super) async fn read_scenario(
    plan: &Plan,
    name: &str,
    cohort: &Proc,
    path: &str,
    auth: Option<&str>,
    aa: bool,
    latency: bool,
) -> Result<ReadResult> {
    let url = format!("{}{path}", cohort.url);
    let body = fetch(&url, auth).await?;
    let file = plan.work.join(format!("body-{name}.json"));
    std::fs::write(&file, &body)?;
    let floor = plan.floor(&file)?;
    let nginx = plan.nginx(&file, name)?;
    let tool = plan.tool_for(body.len());
    let mut result = ReadResult {
        tool,
        body: body.len(),
        cohort: Vec::new(),
        floor: Vec::new(),
        single: None,
        ratios: Vec::new(),
        aa: Vec::new(),
        nginx_ratios: Vec::new(),
        rss_mib: 0.0,
    };
    for _ in 0..plan.rounds {
        let base = plan.load(tool, &floor.url, None)?;
        let ours = plan.load(tool, &url, auth)?;
        result
            .ratios
            .push(ours.requests_per_sec / base.requests_per_sec);
        if aa {
            let again = plan.load(tool, &floor.url, None)?;
            result
                .aa
                .push(again.requests_per_sec / base.requests_per_sec);
        }
        if let Some(nginx) = &nginx {
            let static_server = plan.load(tool, &nginx.url, None)?;
            result
                .nginx_ratios
                .push(ours.requests_per_sec / static_server.requests_per_sec);
        }
        result.cohort.push(ours);
        result.floor.push(base);
    }
    if latency {
        let mut ours = Vec::new();
        let mut base = Vec::new();
        for _ in 0..plan.rounds.min(5) {
            ours.push(plan.load_with(tool, &url, auth, 1)?.p99_ms);
            base.push(plan.load_with(tool, &floor.url, None, 1)?.p99_ms);
        }
        result.single = Some((stats(&ours).0, stats(&base).0));
    }
    result.rss_mib = cohort.rss_mib();
    Ok(result)
}
