//! Memory and cold start: the huge data set (tiny in smoke mode) generated into
//! a fresh SQLite file, then the time from spawning `cohort serve` to its first
//! API answer and its resident memory once serving.

use super::{basic, fetch, Plan};
use crate::generate::{self, Size};
use anyhow::Result;
use std::time::{Duration, Instant};

/// The report's row for the data set.
pub(super) async fn huge_scenario(plan: &Plan) -> Result<String> {
    let size = if plan.smoke { Size::Tiny } else { Size::Huge };
    let name = format!("{size:?}").to_lowercase();
    let path = plan.work.join(format!("{name}-coldstart.db"));
    let _ = std::fs::remove_file(&path);
    let db = format!("sqlite://{}", path.display());
    let started = Instant::now();
    let info = {
        let store = cohort_store::open(
            &cohort_store::DbUrl::parse(&db).map_err(anyhow::Error::msg)?,
            true,
        )
        .await?;
        generate::generate(store.as_ref(), size).await?
    };
    let generated = started.elapsed();
    let auth = basic(
        info["email"].as_str().unwrap_or(""),
        info["api_key"].as_str().unwrap_or(""),
    );
    let spawned = Instant::now();
    let server = plan.cohort(&db, "warn")?;
    let url = format!("{}/api/v1/users/me", server.url);
    while fetch(&url, Some(&auth)).await.is_err() {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let cold = spawned.elapsed();
    let rss = server.rss_mib();
    let users = info["users"].as_f64().unwrap_or(1.0);
    let edges = info["edges"].as_f64().unwrap_or(1.0);
    Ok(format!(
        "| {name}: {} users, {} groups, {} membership edges (generated in {:.0} s) | cold start to first API answer {:.2} s (listening after {:.2} s); RSS {rss:.0} MiB = {:.0} B per user or {:.0} B per edge (all memory counted against each) | RSS ≤ 1 GiB; serving ≤ 10 s | {} |",
        info["users"], info["groups"], info["edges"],
        generated.as_secs_f64(),
        cold.as_secs_f64(),
        server.started.as_secs_f64(),
        rss * 1024.0 * 1024.0 / users,
        rss * 1024.0 * 1024.0 / edges,
        if rss <= 1024.0 && cold.as_secs_f64() <= 10.0 { "met" } else { "**not met**" }
    ))
}
