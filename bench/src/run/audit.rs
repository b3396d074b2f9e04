//! The native admin API's history questions (`/cohort/v1`) on a realm with a
//! year of changes, each against the same-bytes floor, and what the richer
//! change log (commit origins) costs the write path.
//!
//! **Data.** The `large` data set dated 366 days ago (`generate_at`), then
//! 1,000,000 one-change commits spread evenly over the last 365 days
//! (`generate::history`: single members added to and removed from the
//! `group-*` groups, a few renames and subgroup edits), written through
//! `Store::import` like every data set, and replayed by `cohort check` once
//! after it is generated. The file (and its credentials, `.json` beside it)
//! is kept in the work directory and reused by later runs with the same
//! generator version, size and count, since it takes minutes to make.
//!
//! **Latency rows.** After one warm-up request (which builds the realm's
//! `History`; its time and the server's RSS before and after are reported),
//! each question is asked as N sequential requests on one keep-alive
//! connection by `cohort-bench sequential` (pinned to the client CPU), with
//! random groups, users and moments over the year, in rounds; in each round
//! the floor (the harness's same-bytes server holding a cohort answer of
//! median size) answers the same number of sequential requests first. p50
//! and p99 are over all requests of all rounds; the ratio is cohort's p99
//! over the floor's, per round, median [min–max].
//!
//! **Export.** The whole realm as CSV, downloaded in the harness while a
//! thread samples the server's VmRSS every 5 ms; the floor serves the same
//! bytes from memory.
//!
//! **Writes.** The SQLite member add/remove load of `writes.rs` (medium data
//! set, 64 clients) against this build and a baseline binary given with
//! `--cohort-baseline` (built from a commit before commit origins were
//! recorded), alternating rounds, each on a fresh copy of the same database.
//! The baseline's copy is taken back to its schema (3) first: the origin
//! columns and the checkpoints table dropped, their migrations forgotten.
//! Without a baseline the row is this build against itself (A/A).

use super::report::Report;
use super::sequential::Latency;
use super::writes::write_load;
use super::{basic, pinned, spawn_until, stats, Plan, Proc};
use crate::generate::{self, Rng, Size, DAY_MILLIS};
use anyhow::{bail, Context as _, Result};
use serde_json::{json, Value};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Bump when `generate::history` or `generate_at` change what they write, so
/// cached databases are made again.
const GENERATOR_VERSION: u32 = 1;

/// Milliseconds since the epoch as RFC 3339 (UTC, to the millisecond).
pub(super) fn rfc3339(millis: i64) -> String {
    let secs = millis.div_euclid(1000);
    let ms = millis.rem_euclid(1000);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{ms:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// The data set, from the cache or made now: (database URL, info).
async fn data(plan: &Plan) -> Result<(String, Value)> {
    let (size, changes, days) = if plan.smoke {
        (Size::Tiny, 5_000, 365)
    } else {
        (Size::Large, 1_000_000, 365)
    };
    let name = format!(
        "audit-v{GENERATOR_VERSION}-{}-{changes}",
        format!("{size:?}").to_lowercase()
    );
    let path = plan.work.join(format!("{name}.db"));
    let info_path = plan.work.join(format!("{name}.json"));
    let db = format!("sqlite://{}", path.display());
    if path.exists() && info_path.exists() && !plan.smoke {
        let info: Value = serde_json::from_slice(&std::fs::read(&info_path)?)?;
        eprintln!("audit: reusing {}", path.display());
        return Ok((db, info));
    }
    let _ = std::fs::remove_file(&info_path);
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(plan.work.join(format!("{name}.db{suffix}")));
    }
    let end = cohort_engine::now_millis();
    let started = Instant::now();
    let mut info = {
        let store = cohort_store::open(
            &cohort_store::DbUrl::parse(&db).map_err(anyhow::Error::msg)?,
            true,
        )
        .await?;
        let mut info = generate::generate_at(
            store.as_ref(),
            size,
            end - (i64::from(days) + 1) * DAY_MILLIS,
        )
        .await?;
        let made = started.elapsed();
        let realm = cohort_core::RealmId(info["realm_id"].as_i64().context("realm_id")?);
        let history = generate::history(store.as_ref(), realm, changes, days, end).await?;
        info["history"] = history;
        info["generated_secs"] = json!(made.as_secs_f64());
        info["history_secs"] = json!((started.elapsed() - made).as_secs_f64());
        info
    };
    // The log must replay clean.
    let checked = Instant::now();
    let out = std::process::Command::new(&plan.cohort)
        .args(["--db", &db, "check"])
        .output()?;
    if !out.status.success() {
        bail!(
            "cohort check on the audit data set failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    info["check_secs"] = json!(checked.elapsed().as_secs_f64());
    eprintln!(
        "audit: generated {name} in {:.1}s (+ history {:.1}s), cohort check clean in {:.1}s",
        info["generated_secs"].as_f64().unwrap_or(0.0),
        info["history_secs"].as_f64().unwrap_or(0.0),
        info["check_secs"].as_f64().unwrap_or(0.0)
    );
    std::fs::write(&info_path, serde_json::to_vec(&info)?)?;
    Ok((db, info))
}

/// Make (or find) the data set without measuring anything.
pub(super) async fn prepare(plan: &Plan) -> Result<()> {
    let (db, _) = data(plan).await?;
    eprintln!("audit: {db} ready");
    Ok(())
}

fn ids(info: &Value, field: &str) -> Vec<i64> {
    info["history"][field]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_i64)
        .collect()
}

/// One question: `paths` split into rounds, each round the floor (a median
/// body) then cohort.
#[allow(clippy::too_many_arguments)]
async fn latency(
    plan: &Plan,
    name: &str,
    label: &str,
    server: &Proc,
    auth: &str,
    paths: &[String],
    rounds: usize,
    target_ms: f64,
) -> Result<Latency> {
    // The floor's body: cohort's answer of median size among a sample.
    // (Sizes only, then the median one again: an access review is hundreds
    // of MB.)
    let mut sample = Vec::new();
    for path in paths.iter().take(25) {
        let body = super::fetch(&format!("{}{path}", server.url), Some(auth)).await?;
        sample.push((body.len(), path));
    }
    sample.sort_by_key(|(len, _)| *len);
    let median = sample[sample.len() / 2].1;
    let body = super::fetch(&format!("{}{median}", server.url), Some(auth)).await?;
    let file = plan.work.join(format!("body-audit-{name}"));
    std::fs::write(&file, &body)?;
    let floor = plan.floor(&file)?;
    let mut result = Latency::new(label, paths.len(), body.len(), target_ms);
    let header = format!("Authorization: {auth}");
    result.against_floor(
        plan,
        name,
        &floor.url,
        &server.url,
        Some(&header),
        paths,
        rounds,
    )?;
    Ok(result)
}

/// A whole access review, page after page.
struct Walk {
    ms: f64,
    pages: usize,
    bytes: usize,
    groups: usize,
    gained: usize,
    lost: usize,
}

/// Follow a review's `Link: <…>; rel="next"` headers to its end.
async fn walk(base: &str, first: &str, auth: &str) -> Result<Walk> {
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(1)
        .build()?;
    let mut bodies = Vec::new();
    let mut path = Some(first.to_string());
    let started = Instant::now();
    while let Some(p) = path.take() {
        let response = http
            .get(format!("{base}{p}"))
            .header("authorization", auth)
            .send()
            .await?;
        if !response.status().is_success() {
            bail!("GET {p}: {}", response.status());
        }
        path = response
            .headers()
            .get("link")
            .and_then(|l| l.to_str().ok())
            .and_then(|l| l.strip_prefix('<')?.split_once('>'))
            .map(|(next, _)| next.to_string());
        bodies.push(response.bytes().await?);
    }
    let ms = started.elapsed().as_secs_f64() * 1000.0;
    let mut walk = Walk {
        ms,
        pages: bodies.len(),
        bytes: bodies.iter().map(|b| b.len()).sum(),
        groups: 0,
        gained: 0,
        lost: 0,
    };
    for body in &bodies {
        let page: Value = serde_json::from_slice(body)?;
        for g in page["groups"].as_array().into_iter().flatten() {
            walk.groups += 1;
            walk.gained += g["gained"].as_array().map_or(0, Vec::len);
            walk.lost += g["lost"].as_array().map_or(0, Vec::len);
        }
    }
    Ok(walk)
}

/// VmRSS of a process in MiB.
fn rss_mib(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse::<f64>().ok())
        .map(|kb| kb / 1024.0)
        .unwrap_or(0.0)
}

/// Download `url` whole while sampling `pid`'s RSS: (bytes, seconds, RSS at
/// the start, peak RSS).
async fn download(url: &str, auth: Option<&str>, pid: u32) -> Result<(u64, f64, f64, f64)> {
    let before = rss_mib(pid);
    let done = Arc::new(AtomicBool::new(false));
    let sampler = {
        let done = done.clone();
        std::thread::spawn(move || {
            let mut peak = 0.0f64;
            while !done.load(Ordering::Relaxed) {
                peak = peak.max(rss_mib(pid));
                std::thread::sleep(Duration::from_millis(5));
            }
            peak.max(rss_mib(pid))
        })
    };
    let started = Instant::now();
    let mut request = reqwest::Client::new().get(url);
    if let Some(auth) = auth {
        request = request.header("authorization", auth);
    }
    let result = async {
        let mut response = request.send().await?;
        if !response.status().is_success() {
            bail!("GET {url}: {}", response.status());
        }
        let mut bytes = 0u64;
        while let Some(chunk) = response.chunk().await? {
            bytes += chunk.len() as u64;
        }
        Ok(bytes)
    }
    .await;
    let secs = started.elapsed().as_secs_f64();
    done.store(true, Ordering::Relaxed);
    let peak = sampler.join().unwrap_or(0.0);
    Ok((result?, secs, before, peak))
}

/// The scenario's report lines.
pub(super) async fn audit_scenario(plan: &Plan, baseline: Option<&Path>) -> Result<Vec<String>> {
    let (db, info) = data(plan).await?;
    let auth = basic(
        info["email"].as_str().unwrap_or(""),
        info["api_key"].as_str().unwrap_or(""),
    );
    let history = &info["history"];
    let (from, to) = (
        history["from"].as_i64().context("from")?,
        history["to"].as_i64().context("to")?,
    );
    let groups = ids(&info, "group_ids");
    let users = ids(&info, "user_ids");
    let server = plan.cohort(&db, "warn")?;
    let pid = server.child.id();

    // The warm-up: the first history question builds the index.
    let rss_cold = server.rss_mib();
    let warm = Instant::now();
    super::fetch(
        &format!("{}/cohort/v1/audit?limit=1", server.url),
        Some(&auth),
    )
    .await?;
    let build = warm.elapsed();
    let rss_warm = server.rss_mib();

    let mut rng = Rng(0xa0d17);
    let (n, rounds, review_rounds) = if plan.smoke {
        (50, 1, 1)
    } else {
        (2_000, plan.rounds.clamp(1, 5), plan.rounds.clamp(3, 7))
    };
    let moment = |rng: &mut Rng| rfc3339(from + (rng.next() % (to - from) as u64) as i64);
    let members: Vec<String> = (0..n)
        .map(|_| {
            format!(
                "/cohort/v1/groups/{}/members?as_of={}&transitive=true",
                groups[rng.below(groups.len())],
                moment(&mut rng)
            )
        })
        .collect();
    let user_groups: Vec<String> = (0..n)
        .map(|_| {
            format!(
                "/cohort/v1/users/{}/groups?as_of={}",
                users[rng.below(users.len())],
                moment(&mut rng)
            )
        })
        .collect();
    let month = 30 * DAY_MILLIS;
    let random_month = |rng: &mut Rng| {
        let start = from + (rng.next() % (to - from - month).max(1) as u64) as i64;
        format!(
            "/cohort/v1/access-review?from={}&to={}",
            rfc3339(start),
            rfc3339(start + month)
        )
    };
    let reviews: Vec<String> = (0..n / 4).map(|_| random_month(&mut rng)).collect();
    let whole_reviews: Vec<String> = (0..review_rounds).map(|_| random_month(&mut rng)).collect();
    let pages: Vec<String> = (0..n)
        .map(|_| format!("/cohort/v1/audit?limit=1000&since={}", moment(&mut rng)))
        .collect();
    let group_pages: Vec<String> = (0..n)
        .map(|_| {
            format!(
                "/cohort/v1/audit?limit=1000&group={}",
                groups[rng.below(groups.len())]
            )
        })
        .collect();

    let mut rows = Vec::new();
    rows.push(
        latency(
            plan,
            "members",
            "GET /cohort/v1/groups/{id}/members?as_of=T&transitive=true (random `group-*` group, ~100 direct members in a 10-deep chain; random T over the year)",
            &server,
            &auth,
            &members,
            rounds,
            5.0,
        )
        .await?,
    );
    rows.push(
        latency(
            plan,
            "user-groups",
            "GET /cohort/v1/users/{id}/groups?as_of=T (random user, random T)",
            &server,
            &auth,
            &user_groups,
            rounds,
            5.0,
        )
        .await?,
    );
    rows.push(
        latency(
            plan,
            "review",
            "GET /cohort/v1/access-review?from=T&to=T+30d (random month; its first page, 100 groups)",
            &server,
            &auth,
            &reviews,
            rounds,
            200.0,
        )
        .await?,
    );
    let mut walks = Vec::new();
    for path in &whole_reviews {
        walks.push(walk(&server.url, path, &auth).await?);
    }
    rows.push(
        latency(
            plan,
            "page",
            "GET /cohort/v1/audit?limit=1000&since=T (random T)",
            &server,
            &auth,
            &pages,
            rounds,
            20.0,
        )
        .await?,
    );
    rows.push(
        latency(
            plan,
            "group-page",
            "GET /cohort/v1/audit?limit=1000&group={id} (random `group-*` group: its whole year, ~100 events)",
            &server,
            &auth,
            &group_pages,
            rounds,
            20.0,
        )
        .await?,
    );

    // The export against the floor serving its bytes.
    let export_url = format!("{}/cohort/v1/export?format=csv", server.url);
    let body = super::fetch(&export_url, Some(&auth)).await?;
    let file = plan.work.join("body-audit-export.csv");
    std::fs::write(&file, &body)?;
    let export_len = body.len();
    drop(body);
    let floor = plan.floor(&file)?;
    let floor_pid = floor.child.id();
    let mut exports = Vec::new();
    for _ in 0..rounds.max(1) {
        let (fb, fs, _, _) = download(&floor.url, None, floor_pid).await?;
        let (cb, cs, before, peak) = download(&export_url, Some(&auth), pid).await?;
        if cb as usize != export_len || fb as usize != export_len {
            bail!("export: {cb} bytes from cohort, {fb} from the floor, {export_len} expected");
        }
        exports.push((cb as f64 / cs, fb as f64 / fs, before, peak));
    }
    drop(floor);
    let rss_after = server.rss_mib();
    drop(server);

    let writes = writes_cost(plan, baseline).await?;

    // ---- the report
    let mib = 1024.0 * 1024.0;
    let mut report = Report { lines: Vec::new() };
    let h = history;
    report.push(format!(
        "Data set: `{}` ({} users, {} groups, {} membership edges at the start) dated {} days before the run, plus {} one-change commits from {} to {} ({} members added, {} removed, {} renames, {} subgroup edits); generated through the store in {:.0} s + {:.0} s, `cohort check` clean in {:.0} s.",
        info["size"].as_str().unwrap_or(""),
        info["users"], info["groups"], info["edges"],
        ((to - from) / DAY_MILLIS) + 1,
        h["changes"], rfc3339(from), rfc3339(to),
        h["members_added"], h["members_removed"], h["renames"], h["subgroup_edits"],
        info["generated_secs"].as_f64().unwrap_or(0.0),
        info["history_secs"].as_f64().unwrap_or(0.0),
        info["check_secs"].as_f64().unwrap_or(0.0),
    ));
    report.push("");
    report.push(format!(
        "Warm-up (the first history question, `GET /cohort/v1/audit?limit=1`, which builds the realm's `History` from the log): {:.2} s; server RSS {rss_cold:.0} MiB before, {rss_warm:.0} MiB after (+{:.0} MiB), {rss_after:.0} MiB at the end of the scenario.",
        build.as_secs_f64(),
        rss_warm - rss_cold
    ));
    report.push("");
    report.push("Sequential requests on one keep-alive connection (`cohort-bench sequential`, pinned to the client CPU), in rounds; the floor answers the same number of requests with a cohort answer of median size, first in each round. Latencies over all requests; the ratio is cohort's p99 over the floor's, per round, median [min–max].");
    report.push("");
    report.push("| request | requests | body (floor's) | p50 ms | p99 ms | max ms | floor p50 / p99 / max ms | ratio to floor | target | verdict |");
    report.push("|---|---|---|---|---|---|---|---|---|---|");
    for row in &rows {
        report.push(row.row());
    }
    report.push("");
    let total: Vec<f64> = walks.iter().map(|w| w.ms).collect();
    let (median, lo, hi) = stats(&total);
    let pages: Vec<f64> = walks.iter().map(|w| w.pages as f64).collect();
    let bytes: Vec<f64> = walks.iter().map(|w| w.bytes as f64).collect();
    report.push("The whole review of a month: every page of a random month's review, following the `Link` headers on one keep-alive connection (in the harness, not pinned); the time from the first request to the last byte of the last page.");
    report.push("");
    report.push("| request | months | pages (median) | bytes (median) | groups / gains / losses (median) | total ms, median [min–max] | target | verdict |");
    report.push("|---|---|---|---|---|---|---|---|");
    report.push(format!(
        "| every page of GET /cohort/v1/access-review?from=T&to=T+30d | {} | {:.0} | {} | {} | {median:.0} [{lo:.0}–{hi:.0}] | ≤ 200 ms | {} |",
        walks.len(),
        stats(&pages).0,
        super::human_bytes(stats(&bytes).0),
        walks
            .get(walks.len() / 2)
            .map_or(String::new(), |w| format!("{} / {} / {}", w.groups, w.gained, w.lost)),
        if hi <= 200.0 { "met" } else { "**not met**" }
    ));
    report.push("");
    let cohort_rates: Vec<f64> = exports.iter().map(|e| e.0 / mib).collect();
    let floor_rates: Vec<f64> = exports.iter().map(|e| e.1 / mib).collect();
    let ratios: Vec<f64> = exports.iter().map(|e| e.0 / e.1).collect();
    let growth: Vec<f64> = exports.iter().map(|e| e.3 - e.2).collect();
    let (rate, rate_lo, rate_hi) = stats(&cohort_rates);
    let (frate, _, _) = stats(&floor_rates);
    let (ratio, lo, hi) = stats(&ratios);
    let max_growth = growth.iter().copied().fold(0.0f64, f64::max);
    report.push("| export | body | rounds | cohort MiB/s | floor MiB/s | ratio to floor | RSS growth during the download (max over rounds) | target | verdict |");
    report.push("|---|---|---|---|---|---|---|---|---|");
    report.push(format!(
        "| GET /cohort/v1/export?format=csv (the whole realm, now) | {} | {} | {rate:.0} [{rate_lo:.0}–{rate_hi:.0}] | {frate:.0} | {ratio:.2} [{lo:.2}–{hi:.2}] | {max_growth:.1} MiB (RSS {:.0} → peak {:.0} MiB in the last round) | ≥ 100 MB/s; RSS growth ≤ 50 MB | {} |",
        super::human_bytes(export_len as f64),
        exports.len(),
        exports.last().map(|e| e.2).unwrap_or(0.0),
        exports.last().map(|e| e.3).unwrap_or(0.0),
        if rate * mib >= 100e6 && max_growth * mib <= 50e6 { "met" } else { "**not met**" }
    ));
    report.push("");
    report.lines.extend(writes);
    Ok(report.lines)
}

/// Take a copy of a database made by this build back to schema 3 (before
/// commit origins and checkpoints), for the baseline binary.
fn downgrade(path: &Path) -> Result<()> {
    let db = rusqlite::Connection::open(path)?;
    db.execute_batch(
        "DROP TABLE IF EXISTS checkpoints;
         ALTER TABLE changes DROP COLUMN face;
         ALTER TABLE changes DROP COLUMN request_id;
         ALTER TABLE changes DROP COLUMN client_addr;
         DELETE FROM schema_migrations WHERE version > 3;
         PRAGMA wal_checkpoint(TRUNCATE);",
    )?;
    Ok(())
}

/// A fresh copy of `pristine` at `scratch` (WAL and all gone first).
fn fresh_copy(pristine: &Path, scratch: &Path) -> Result<String> {
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", scratch.display()));
    }
    std::fs::copy(pristine, scratch)?;
    Ok(format!("sqlite://{}", scratch.display()))
}

/// `cohort serve` from another binary (the baseline), pinned like the others.
fn serve_with(plan: &Plan, binary: &Path, db: &str) -> Result<Proc> {
    let mut command = pinned(plan.server_cpu, binary);
    command
        .args(["--db", db, "serve", "--listen", "127.0.0.1:0"])
        .env("COHORT_LOG", "warn");
    super::unlimited(&mut command);
    spawn_until(command, "cohort listening on ")
}

/// The write load against this build and the baseline, alternating.
async fn writes_cost(plan: &Plan, baseline: Option<&Path>) -> Result<Vec<String>> {
    let size = if plan.smoke { Size::Tiny } else { Size::Medium };
    let name = format!("{size:?}").to_lowercase();
    let new = plan.work.join(format!("writes-cost-{name}.db"));
    let old = plan.work.join(format!("writes-cost-{name}-schema3.db"));
    for path in [&new, &old] {
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
        }
    }
    let info = {
        let db = format!("sqlite://{}", new.display());
        let store = cohort_store::open(
            &cohort_store::DbUrl::parse(&db).map_err(anyhow::Error::msg)?,
            true,
        )
        .await?;
        generate::generate(store.as_ref(), size).await?
    };
    {
        // Fold the WAL in so a plain file copy is the whole database.
        let db = rusqlite::Connection::open(&new)?;
        db.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);")?;
    }
    std::fs::copy(&new, &old)?;
    let (label, baseline) = match baseline {
        Some(path) => {
            downgrade(&old)?;
            (format!("baseline `{}`", path.display()), path.to_path_buf())
        }
        None => (
            "this build again (A/A: no `--cohort-baseline` given)".to_string(),
            plan.cohort.clone(),
        ),
    };
    let old = if baseline == plan.cohort {
        new.clone()
    } else {
        old
    };
    let auth = basic(
        info["email"].as_str().unwrap_or(""),
        info["api_key"].as_str().unwrap_or(""),
    );
    let scratch = plan.work.join("writes-cost-scratch.db");
    let rounds = if plan.smoke {
        1
    } else {
        plan.rounds.clamp(2, 6)
    };
    let (mut ours, mut theirs, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..rounds {
        let mut pair = [(0.0, 0.0, 0.0); 2];
        // Alternate which goes first.
        let order: [usize; 2] = if round % 2 == 0 { [0, 1] } else { [1, 0] };
        for which in order {
            let (binary, pristine) = if which == 0 {
                (plan.cohort.clone(), &new)
            } else {
                (baseline.clone(), &old)
            };
            let db = fresh_copy(pristine, &scratch)?;
            let server = serve_with(plan, &binary, &db)?;
            pair[which] = write_load(plan, &server, &auth, &info)?;
        }
        ours.push(pair[0]);
        theirs.push(pair[1]);
        ratios.push(pair[0].0 / pair[1].0);
    }
    let med = |v: &[(f64, f64, f64)], f: fn(&(f64, f64, f64)) -> f64| {
        stats(&v.iter().map(f).collect::<Vec<_>>()).0
    };
    let (ratio, lo, hi) = stats(&ratios);
    Ok(vec![
        format!(
            "The richer log's cost on writes: the SQLite member add/remove load (`writes`: 64 clients, {name} data set, {:.1} s per run) against this build and {label}, alternating which goes first, each run on a fresh copy of the same database (the baseline's taken back to schema 3). Ratio per round, median [min–max].",
            plan.run.as_secs_f64() * if plan.smoke { 1.0 } else { 3.0 }
        ),
        String::new(),
        "| scenario | rounds | this build ops/s | p50 / p99 ms | baseline ops/s | p50 / p99 ms | ratio (this / baseline) | target | verdict |".into(),
        "|---|---|---|---|---|---|---|---|---|".into(),
        format!(
            "| member add/remove, 64 clients, SQLite ({name}) | {rounds} | {:.0} | {:.2} / {:.2} | {:.0} | {:.2} / {:.2} | {ratio:.3} [{lo:.3}–{hi:.3}] | cost ≤ 5% (ratio ≥ 0.95) | {} |",
            med(&ours, |w| w.0), med(&ours, |w| w.1), med(&ours, |w| w.2),
            med(&theirs, |w| w.0), med(&theirs, |w| w.1), med(&theirs, |w| w.2),
            if ratio >= 0.95 { "met" } else { "**not met**" }
        ),
    ])
}
