//! What authentication costs: a wrong key against a right one, and SHA-256's
//! share of a request.

use super::{basic, stats, Plan, Proc};
use crate::load;
use anyhow::Result;
use serde_json::Value;
use std::time::Instant;

/// A wrong key against a right one (same endpoint), and SHA-256's share of a
/// request's time.
pub(super) fn auth_cost(
    plan: &Plan,
    server: &Proc,
    info: &Value,
    auth: &str,
    rps: f64,
) -> Result<Vec<String>> {
    let url = format!("{}/api/v1/users/me", server.url);
    let wrong = basic(
        info["email"].as_str().unwrap_or(""),
        "0123456789abcdefghijABCDEFGHIJ01",
    );
    let tool = plan.small_tool;
    let mut right_p50 = Vec::new();
    let mut wrong_p50 = Vec::new();
    let mut right_rps = Vec::new();
    let mut wrong_rps = Vec::new();
    for _ in 0..plan.rounds.min(5) {
        let r = load::run(
            tool,
            &url,
            Some(("Authorization", auth)),
            32,
            plan.run,
            plan.client_cpu,
        )?;
        let w = load::run(
            tool,
            &url,
            Some(("Authorization", &wrong)),
            32,
            plan.run,
            plan.client_cpu,
        )?;
        right_p50.push(r.p50_ms);
        wrong_p50.push(w.p50_ms);
        right_rps.push(r.requests_per_sec);
        wrong_rps.push(w.requests_per_sec);
    }
    let iterations = 1_000_000;
    let started = Instant::now();
    let mut sink = 0u8;
    for i in 0..iterations {
        sink ^= cohort_engine::secrets::hash_key(if i % 2 == 0 {
            "0123456789abcdefghijABCDEFGHIJ01"
        } else {
            "abcdefghijABCDEFGHIJ0123456789xy"
        })
        .0[0];
    }
    let hash_ns = started.elapsed().as_nanos() as f64 / iterations as f64;
    let share = if rps > 0.0 { hash_ns * rps / 1e9 } else { 0.0 };
    let (rr, _, _) = stats(&right_rps);
    let (wr, _, _) = stats(&wrong_rps);
    let (rp, _, _) = stats(&right_p50);
    let (wp, _, _) = stats(&wrong_p50);
    Ok(vec![
        "| measure | right key | wrong key | target | verdict |".into(),
        "|---|---|---|---|---|".into(),
        format!(
            "| GET /api/v1/users/me, requests/s (401 for the wrong key) | {rr:.0} | {wr:.0} | a wrong key costs no more than a right one | {} |",
            if wr >= rr * 0.9 { "met" } else { "**not met**" }
        ),
        format!("| p50 latency | {rp:.3} ms | {wp:.3} ms | | |"),
        format!(
            "| SHA-256 of the presented key | {hash_ns:.0} ns per request (sink {sink}) = {:.1}% of a small-list request at {rps:.0} req/s on one core | | hashing adds ≤ 5% | {} |",
            share * 100.0,
            if share <= 0.05 { "met" } else { "**not met**" }
        ),
        "".into(),
        "Keys are looked up by their SHA-256 in a hash map, never compared byte by byte, so the time to reject a key reveals nothing about valid keys; a wrong key does less work than a right one (no snapshot or response rendering).".into(),
    ])
}
