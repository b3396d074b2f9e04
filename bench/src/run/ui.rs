//! The admin web page (`/ui/`): how long its heaviest pages take on a large
//! realm, against the same-bytes floor, warm and right after a write.
//!
//! **Data.** The `large` data set (100,000 users, 10,010 groups; its
//! `reach-0` group has every user as an effective member through a 10-deep
//! chain). The harness signs in as the owner with the email + API key form
//! (`POST /ui/login`) and sends the session cookie with every request.
//!
//! **Warm rows.** Each page is fetched once (which builds the realm's
//! per-version index, `ui/index.rs`), its bytes written for the floor, then
//! asked for as N sequential requests on one keep-alive connection by
//! `cohort-bench sequential` (pinned to the client CPU), in rounds; in each
//! round the floor answers the same number of requests with those exact
//! bytes first. p50 and p99 are over all requests; the ratio is cohort's p99
//! over the floor's, per round, median [min–max]. Pages: the group list's
//! first page, a search matching a few groups, the `reach-0` group's page
//! (its first 50 effective members), a later page of it (the "Next page"
//! link followed several times, so the `after=` cursor is a real one), and
//! a member search on it.
//!
//! **Cold rows.** A write moves the realm's version and the next page
//! rebuilds the index. Each sample toggles one member of a small group
//! through the Zulip API, then asks for the page twice on one new
//! connection: the first answer is the cold one, the second is warm again.

use super::sequential::{percentile, run_sequential, sorted, Latency};
use super::{basic, fetch_with, Plan, Proc};
use crate::generate::Size;
use anyhow::{bail, Context as _, Result};
use serde_json::Value;
use std::time::Instant;

/// The issue's targets for p99, in ms.
const LIST_TARGET_MS: f64 = 20.0;
const GROUP_TARGET_MS: f64 = 30.0;

/// Sign in with the email + API key form: the `Cookie` header to send.
async fn sign_in(base: &str, email: &str, key: &str) -> Result<String> {
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let body = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("email", email)
        .append_pair("api_key", key)
        .finish();
    let response = http
        .post(format!("{base}/ui/login"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await?;
    if response.status() != reqwest::StatusCode::SEE_OTHER {
        bail!("POST /ui/login: {}", response.status());
    }
    let cookie = response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("cohort_session="))
        .and_then(|v| v.split(';').next())
        .context("POST /ui/login set no session cookie")?;
    Ok(format!("Cookie: {cookie}"))
}

/// A page's "Next page" link (`<a href="…" rel="next">`), without its
/// fragment.
fn next_link(html: &str) -> Option<String> {
    let end = html.find("\" rel=\"next\"")?;
    let start = html[..end].rfind("href=\"")? + "href=\"".len();
    let href = html[start..end].replace("&amp;", "&");
    Some(href.split('#').next()?.to_string())
}

/// One page, warm, against the floor serving its exact bytes.
#[allow(clippy::too_many_arguments)]
async fn warm(
    plan: &Plan,
    name: &str,
    label: &str,
    server: &Proc,
    cookie: &str,
    path: &str,
    requests: usize,
    target_ms: f64,
) -> Result<Latency> {
    let body = fetch_with(&format!("{}{path}", server.url), Some(cookie)).await?;
    if !body.starts_with(b"<!DOCTYPE html>") || body.windows(7).any(|w| w == b"Sign in") {
        bail!("{path}: not the page (signed out?)");
    }
    let file = plan.work.join(format!("body-ui-{name}.html"));
    std::fs::write(&file, &body)?;
    let floor = plan.floor(&file)?;
    let mut result = Latency::new(label, requests, body.len(), target_ms);
    let paths = vec![path.to_string(); requests];
    let rounds = if plan.smoke { 1 } else { plan.rounds.max(1) };
    result.against_floor(
        plan,
        &format!("ui-{name}"),
        &floor.url,
        &server.url,
        Some(cookie),
        &paths,
        rounds,
    )?;
    Ok(result)
}

/// The first page after each of `samples` writes, and the one after it.
struct Cold {
    label: String,
    first: Vec<f64>,
    next: Vec<f64>,
    /// The same page's warm p99 from its row.
    warm_p99: f64,
}

/// Toggles one member of one group through the Zulip API.
struct Toggle {
    http: reqwest::Client,
    url: String,
    auth: String,
    user: i64,
    added: bool,
}

impl Toggle {
    async fn new(base: &str, auth: &str, group: i64, candidates: &[i64]) -> Result<Toggle> {
        let http = reqwest::Client::new();
        let members: Value = serde_json::from_slice(
            &fetch_with(
                &format!("{base}/api/v1/user_groups/{group}/members?direct_member_only=true"),
                Some(&format!("Authorization: {auth}")),
            )
            .await?,
        )?;
        let current: Vec<i64> = members["members"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_i64)
            .collect();
        let user = candidates
            .iter()
            .copied()
            .find(|u| !current.contains(u))
            .context("every candidate is already a member")?;
        Ok(Toggle {
            http,
            url: format!("{base}/api/v1/user_groups/{group}/members"),
            auth: auth.to_string(),
            user,
            added: false,
        })
    }

    /// One write: a new realm version.
    async fn flip(&mut self) -> Result<()> {
        let op = if self.added { "delete" } else { "add" };
        let response = self
            .http
            .post(&self.url)
            .header("authorization", &self.auth)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!("{op}=%5B{}%5D", self.user))
            .send()
            .await?;
        if !response.status().is_success() {
            bail!("member {op}: {}", response.text().await?);
        }
        self.added = !self.added;
        Ok(())
    }
}

async fn cold(
    plan: &Plan,
    name: &str,
    server: &Proc,
    cookie: &str,
    path: &str,
    toggle: &mut Toggle,
    warm: &Latency,
) -> Result<Cold> {
    let samples = if plan.smoke { 2 } else { 20 };
    let url = format!("{}{path}", server.url);
    let mut result = Cold {
        label: warm.label.clone(),
        first: Vec::new(),
        next: Vec::new(),
        warm_p99: warm.p99(),
    };
    for i in 0..samples {
        toggle.flip().await?;
        let both = run_sequential(
            plan,
            &format!("ui-cold-{name}-{i}"),
            &[url.clone(), url.clone()],
            Some(cookie),
        )?;
        result.first.push(both[0]);
        result.next.push(both[1]);
    }
    Ok(result)
}

fn cold_row(c: &Cold) -> String {
    let (first, next) = (sorted(&c.first), sorted(&c.next));
    let p50 = percentile(&first, 0.5);
    format!(
        "| {} | {} | {p50:.2} / {:.2} / {:.2} | {:.2} / {:.2} | {:.2} | {:.1}× |",
        c.label,
        first.len(),
        percentile(&first, 0.9),
        first.last().copied().unwrap_or(0.0),
        percentile(&next, 0.5),
        next.last().copied().unwrap_or(0.0),
        c.warm_p99,
        p50 / percentile(&next, 0.5).max(1e-6),
    )
}

/// The scenario's report lines.
pub(super) async fn ui_scenario(plan: &Plan) -> Result<Vec<String>> {
    let size = if plan.smoke { Size::Tiny } else { Size::Large };
    let started = Instant::now();
    let (db, info) = super::fresh_data_set(plan, "ui.db", size).await?;
    let generated = started.elapsed().as_secs_f64();
    let (email, key) = (
        info["email"].as_str().unwrap_or(""),
        info["api_key"].as_str().unwrap_or(""),
    );
    let auth = basic(email, key);
    let top = info["reach_top"].as_i64().context("reach_top")?;
    let server = plan.cohort(&db, "warn")?;
    let rss_start = server.rss_mib();
    let cookie = sign_in(&server.url, email, key).await?;

    // Searches that match a few rows at either size.
    let (group_q, member_q) = if plan.smoke {
        ("group-3", "user 42")
    } else {
        ("group-999", "user 4242")
    };
    let requests = if plan.smoke {
        20
    } else {
        100 * plan.rounds.max(1)
    };
    let group_page = format!("/ui/groups/{top}");
    let mut later = group_page.clone();
    let hops = if plan.smoke { 2 } else { 20 };
    for _ in 0..hops {
        let html = fetch_with(&format!("{}{later}", server.url), Some(&cookie)).await?;
        later = next_link(&String::from_utf8_lossy(&html))
            .with_context(|| format!("{later}: no Next page link"))?;
    }
    let member_search = format!(
        "/ui/groups/{top}?{}",
        url::form_urlencoded::Serializer::new(String::new())
            .append_pair("mq", member_q)
            .finish()
    );
    let members = info["users"].as_u64().unwrap_or(0).saturating_sub(1);
    let pages: Vec<(&str, String, String, f64)> = vec![
        (
            "list",
            "GET /ui/groups (the first page: 50 of every group, by name)".into(),
            "/ui/groups".into(),
            LIST_TARGET_MS,
        ),
        (
            "search",
            format!("GET /ui/groups?q={group_q} (a search matching a few groups)"),
            format!("/ui/groups?q={group_q}"),
            LIST_TARGET_MS,
        ),
        (
            "group",
            format!(
                "GET /ui/groups/{{id}}: `reach-0`, {members} effective members (first page, 50)"
            ),
            group_page.clone(),
            GROUP_TARGET_MS,
        ),
        (
            "group-later",
            format!(
                "the same group, page {} (its `after=` cursor from the Next page link)",
                hops + 1
            ),
            later.clone(),
            GROUP_TARGET_MS,
        ),
        (
            "member-search",
            format!("the same group, `?mq={member_q}` (a member search)"),
            member_search,
            GROUP_TARGET_MS,
        ),
    ];
    let mut rows = Vec::new();
    for (name, label, path, target) in &pages {
        rows.push(warm(plan, name, label, &server, &cookie, path, requests, *target).await?);
    }
    let rss_warm = server.rss_mib();

    let group = info["group_ids"][0].as_i64().context("group_ids")?;
    let candidates: Vec<i64> = info["user_ids"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_i64)
        .collect();
    let mut toggle = Toggle::new(&server.url, &auth, group, &candidates).await?;
    let colds = [
        cold(
            plan,
            "list",
            &server,
            &cookie,
            "/ui/groups",
            &mut toggle,
            &rows[0],
        )
        .await?,
        cold(
            plan,
            "group",
            &server,
            &cookie,
            &group_page,
            &mut toggle,
            &rows[2],
        )
        .await?,
    ];
    let rss_end = server.rss_mib();
    drop(server);

    let mut lines = vec![
        format!(
            "Data set `{}` ({} users, {} groups, {} membership edges; generated through the store in {generated:.0} s). Signed in as the owner with `POST /ui/login` (email and API key); every request sends the session cookie, so each is also a session lookup in SQLite. Server RSS {rss_start:.0} MiB at the start, {rss_warm:.0} MiB after the warm rows, {rss_end:.0} MiB at the end.",
            info["size"].as_str().unwrap_or(""),
            info["users"],
            info["groups"],
            info["edges"],
        ),
        String::new(),
        "Warm: the page asked for N times in turn on one keep-alive connection (`cohort-bench sequential`, pinned to the client CPU), in rounds; in each round the floor first answers as many requests with the page's exact bytes. Latencies over all requests; the ratio is cohort's p99 over the floor's, per round, median [min–max].".into(),
        String::new(),
        "| request | requests | body | p50 ms | p99 ms | max ms | floor p50 / p99 / max ms | ratio to floor | target | verdict |".into(),
        "|---|---|---|---|---|---|---|---|---|---|".into(),
    ];
    lines.extend(rows.iter().map(Latency::row));
    lines.push(String::new());
    lines.push(format!(
        "Cold: the first request after a write (one member of `group-*` group {group} added or removed through the Zulip API, so the realm's version moves and the page's per-version index is built again), then the same page once more on that connection (warm again). {} writes per page.",
        colds[0].first.len()
    ));
    lines.push(String::new());
    lines.push("| request | samples | cold p50 / p90 / max ms | the next request p50 / max ms | warm p99 ms (above) | cold p50 over the next request's p50 |".into());
    lines.push("|---|---|---|---|---|---|".into());
    lines.extend(colds.iter().map(cold_row));
    lines.push(String::new());
    if plan.smoke {
        lines.push("(smoke run: tiny data, times not comparable)".into());
        lines.push(String::new());
    }
    Ok(lines)
}

#[cfg(test)]
mod tests {
    use super::next_link;

    #[test]
    fn finds_the_next_page_link() {
        let html = r#"<nav class="pager" aria-label="Member pages"><a href="/ui/groups/7#members">First page</a><a href="/ui/groups/7?mq=a&amp;after=12%7Euser+3#members" rel="next">Next page</a></nav>"#;
        assert_eq!(
            next_link(html).as_deref(),
            Some("/ui/groups/7?mq=a&after=12%7Euser+3")
        );
        assert_eq!(next_link("<p>no pager</p>"), None);
    }
}
