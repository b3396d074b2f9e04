//! The SCIM 2.0 face (`/scim/v2`): cohort against a peer SCIM server, and the
//! large group lists against the same-bytes floor.
//!
//! **Against the peer.** The peer is `scim2-server` (PyPI, pinned by
//! `bench/run.sh`): the reference server of the Python `scim2` libraries,
//! in-memory storage with an equality index, one process (wsgiref threads,
//! HTTP/1.0, so one core in practice). It cannot load a file, so it is loaded
//! over HTTP, and with *cohort's own SCIM export*: after the generator has
//! written the data set into cohort's store (the same import path as every
//! other scenario; userName is the email, cohort's fallback), every user and
//! every group (system groups included, with their members) is read back from
//! cohort's `/scim/v2` and POSTed to the peer. Both servers then hold the same
//! users, the same groups and the same memberships, and answer the same four
//! requests: a `userName eq` filter, the group list without members, one
//! group, and a PATCH that adds a member (alternating with the PATCH that
//! removes it again, so groups do not grow; each client toggles its own
//! (group, user) pair). GETs are loaded with wrk, PATCHes with the built-in
//! PATCH client (`cohort-bench scim-patch`), the same tool, connection count
//! and CPU pinning for both servers; the ratio is taken per round.
//!
//! **Against the floor.** `GET /Groups?count=100&startIndex=k` (members
//! included, the last full page) and the whole list, like the
//! `GET /api/v1/user_groups` rows. The whole list is one page of
//! `count=1000` (the server's maximum): the data set has fewer than 1,000
//! groups, so that page is the whole list, byte for byte.

use super::read::read_scenario;
use super::report::Report;
use super::{pinned, Plan, Proc};
use crate::generate::Size;
use crate::load::{self, Tool};
use anyhow::{bail, Context as _, Result};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Connections (and PATCH clients) for both servers.
const CONNECTIONS: usize = 32;
/// Connections for the group list without members, for both servers: the
/// peer takes about a second per answer there (it renders the members it
/// then leaves out), so with 32 connections every answer would wait half a
/// minute and the queue left at the end of a run would keep its core busy
/// well into the next measurement.
const LIST_CONNECTIONS: usize = 4;

/// Wait until a process has used no CPU for 200 ms (the peer finishing the
/// requests still queued when a load run ends), at most 30 s.
fn wait_idle(pid: u32) {
    let cpu = || {
        std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .ok()
            .and_then(|s| {
                let rest = s.rsplit_once(')')?.1.to_string();
                let fields: Vec<u64> = rest
                    .split_whitespace()
                    .skip(11)
                    .take(2)
                    .filter_map(|f| f.parse().ok())
                    .collect();
                Some(fields.iter().sum::<u64>())
            })
            .unwrap_or(0)
    };
    let started = Instant::now();
    let mut last = cpu();
    while started.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(200));
        let now = cpu();
        if now == last {
            return;
        }
        last = now;
    }
}
const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

/// One request loaded against both servers, round by round.
pub(super) struct Versus {
    pub(super) label: String,
    pub(super) tool: &'static str,
    pub(super) bodies: (usize, Option<usize>),
    pub(super) cohort: Vec<f64>,
    pub(super) peer: Vec<f64>,
    pub(super) ratios: Vec<f64>,
    pub(super) peer_errors: u64,
}

/// A SCIM server under test: its `/v2` base URL and its bearer header.
struct Server {
    base: String,
    auth: String,
}

impl Server {
    async fn send(&self, request: reqwest::RequestBuilder) -> Result<Value> {
        let response = request
            .header("authorization", &self.auth)
            .header("content-type", "application/scim+json")
            .send()
            .await?;
        let status = response.status();
        let text = response.text().await?;
        if !status.is_success() {
            bail!("{}: {status}: {}", self.base, &text[..text.len().min(300)]);
        }
        Ok(serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    async fn get(&self, path: &str) -> Result<Value> {
        self.send(reqwest::Client::new().get(format!("{}{path}", self.base)))
            .await
    }

    async fn post(&self, path: &str, body: &Value) -> Result<Value> {
        self.send(
            reqwest::Client::new()
                .post(format!("{}{path}", self.base))
                .body(body.to_string()),
        )
        .await
    }

    async fn body_len(&self, path: &str) -> Result<usize> {
        let bytes = super::fetch(&format!("{}{path}", self.base), Some(&self.auth)).await?;
        Ok(bytes.len())
    }

    /// Every resource of a type, page by page.
    async fn all(&self, resource: &str) -> Result<Vec<Value>> {
        let mut out = Vec::new();
        loop {
            let page = self
                .get(&format!(
                    "/{resource}?count=1000&startIndex={}",
                    out.len() + 1
                ))
                .await?;
            let resources = page["Resources"].as_array().cloned().unwrap_or_default();
            let total = page["totalResults"].as_u64().unwrap_or(0) as usize;
            if resources.is_empty() {
                break;
            }
            out.extend(resources);
            if out.len() >= total {
                break;
            }
        }
        Ok(out)
    }
}

/// Start the peer on a free port, pinned like cohort; `None` when it cannot
/// run here.
fn start_peer(plan: &Plan, program: &Path, token: &str) -> Result<Option<Proc>> {
    let port = super::free_port()?;
    let mut command = pinned(plan.server_cpu, program);
    command
        .args(["--port", &port.to_string(), "--bearer-token", token])
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let Ok(child) = command.spawn() else {
        return Ok(None);
    };
    let started = Instant::now();
    let mut proc = Proc {
        child,
        url: format!("http://127.0.0.1:{port}/v2"),
        started: Duration::ZERO,
    };
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if started.elapsed() > Duration::from_secs(30) || proc.child.try_wait()?.is_some() {
            return Ok(None);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    proc.started = started.elapsed();
    Ok(Some(proc))
}

/// The peer loaded with cohort's export; returns cohort id → peer id for
/// users and groups.
async fn load_peer(
    peer: &Server,
    users: &[Value],
    groups: &[Value],
) -> Result<HashMap<String, String>> {
    let mut ids = HashMap::new();
    for user in users {
        let mut body = user.clone();
        if let Some(object) = body.as_object_mut() {
            for readonly in ["id", "meta", "groups"] {
                object.remove(readonly);
            }
        }
        let made = peer.post("/Users", &body).await?;
        ids.insert(
            user["id"].as_str().unwrap_or("").to_string(),
            made["id"].as_str().context("peer user id")?.to_string(),
        );
    }
    // Groups whose members are groups wait for them (the data set has none
    // but the system groups may).
    let mut pending: Vec<&Value> = groups.iter().collect();
    while !pending.is_empty() {
        let before = pending.len();
        let mut later = Vec::new();
        for group in pending {
            let members: Option<Vec<Value>> = group["members"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|m| {
                    let id = ids.get(m["value"].as_str().unwrap_or(""))?;
                    Some(json!({"value": id, "type": m["type"]}))
                })
                .collect();
            let Some(members) = members else {
                later.push(group);
                continue;
            };
            let body = json!({
                "schemas": group["schemas"],
                "displayName": group["displayName"],
                "members": members,
            });
            let made = peer.post("/Groups", &body).await?;
            ids.insert(
                group["id"].as_str().unwrap_or("").to_string(),
                made["id"].as_str().context("peer group id")?.to_string(),
            );
        }
        if later.len() == before {
            bail!("groups with members the peer cannot resolve");
        }
        pending = later;
    }
    Ok(ids)
}

/// `cohort-bench scim-patch`: `clients` tasks, each adding its own user to its
/// own group and removing them again, until the deadline. Pairs are
/// `group=user`; `base` ends in `/Groups`.
pub async fn patch_load(
    base: String,
    auth: String,
    pairs: Vec<String>,
    clients: usize,
    duration: Duration,
) -> Result<Value> {
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(clients)
        .build()?;
    let deadline = Instant::now() + duration;
    let started = Instant::now();
    let mut tasks = Vec::new();
    for i in 0..clients {
        let (http, base, auth) = (http.clone(), base.clone(), auth.clone());
        let (group, user) = pairs[i % pairs.len()]
            .split_once('=')
            .map(|(g, u)| (g.to_string(), u.to_string()))
            .context("a pair is group=user")?;
        tasks.push(tokio::spawn(async move {
            let add = json!({"schemas": [PATCH_OP], "Operations": [
                {"op": "add", "path": "members", "value": [{"value": user}]}]})
            .to_string();
            let remove = json!({"schemas": [PATCH_OP], "Operations": [
                {"op": "remove", "path": format!("members[value eq \"{user}\"]")}]})
            .to_string();
            let (mut errors, mut latencies, mut adding) = (0u64, Vec::new(), true);
            while Instant::now() < deadline {
                let t = Instant::now();
                let response = http
                    .patch(format!("{base}/{group}"))
                    .header("authorization", &auth)
                    .header("content-type", "application/scim+json")
                    .body(if adding { add.clone() } else { remove.clone() })
                    .send()
                    .await;
                match response {
                    Ok(r) if r.status().is_success() => {
                        let _ = r.bytes().await;
                        adding = !adding;
                        latencies.push(t.elapsed());
                    }
                    _ => errors += 1,
                }
            }
            (latencies, errors)
        }));
    }
    let (mut latencies, mut errors) = (Vec::new(), 0u64);
    for task in tasks {
        let (l, e) = task.await?;
        latencies.extend(l);
        errors += e;
    }
    let elapsed = started.elapsed().as_secs_f64();
    latencies.sort();
    let pct = |p: f64| {
        latencies
            .get(((latencies.len().saturating_sub(1)) as f64 * p) as usize)
            .map(|d| d.as_secs_f64() * 1000.0)
            .unwrap_or(0.0)
    };
    Ok(json!({
        "requests_per_sec": latencies.len() as f64 / elapsed,
        "p50_ms": pct(0.5),
        "p99_ms": pct(0.99),
        "errors": errors,
    }))
}

/// One pinned run of the PATCH client: (acknowledged PATCHes/s, errors).
fn patch_run(plan: &Plan, server: &Server, pairs: &[String]) -> Result<(f64, u64)> {
    let mut command: Command = pinned(plan.client_cpu, &std::env::current_exe()?);
    command.args(["scim-patch", "--base", &format!("{}/Groups", server.base)]);
    command.args(["--auth", &server.auth, "--pairs", &pairs.join(",")]);
    command.args(["--clients", &pairs.len().to_string()]);
    command.args(["--millis", &plan.run.as_millis().to_string()]);
    let out = command.output().context("running scim-patch")?;
    if !out.status.success() {
        bail!(
            "scim-patch failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let json: Value = serde_json::from_slice(&out.stdout)?;
    Ok((
        json["requests_per_sec"].as_f64().unwrap_or(0.0),
        json["errors"].as_u64().unwrap_or(0),
    ))
}

/// The SCIM section's lines (tables and notes).
pub(super) async fn scim_scenario(plan: &Plan, peer_program: &Path) -> Result<Vec<String>> {
    let size = if plan.smoke { Size::Small } else { Size::Scim };
    let (db, info) = super::fresh_data_set(plan, "scim.db", size).await?;
    let out = Command::new(&plan.cohort)
        .args(["--db", &db, "token", "create", "--scope", "scim", "--json"])
        .output()?;
    if !out.status.success() {
        bail!("token create: {}", String::from_utf8_lossy(&out.stderr));
    }
    let token: Value = serde_json::from_slice(&out.stdout)?;
    let token = token["token"].as_str().context("no token")?.to_string();
    let server = plan.cohort(&db, "warn")?;
    let cohort = Server {
        base: format!("{}/scim/v2", server.url),
        auth: format!("Bearer {token}"),
    };
    let users = cohort.all("Users").await?;
    let groups = cohort.all("Groups").await?;
    let mut lines = Vec::new();
    let mut notes = Vec::new();

    // The peer, loaded with cohort's export.
    let peer_token = "bench-peer-token";
    let peer_proc = start_peer(plan, peer_program, peer_token)?;
    let mut peer = None;
    let mut ids = HashMap::new();
    if let Some(proc) = &peer_proc {
        let server = Server {
            base: proc.url.clone(),
            auth: format!("Bearer {peer_token}"),
        };
        let started = Instant::now();
        ids = load_peer(&server, &users, &groups).await?;
        notes.push(format!(
            "The peer, `{}` (started in {:.1} s), was loaded over HTTP with cohort's SCIM export: {} users and {} groups ({} membership edges) in {:.1} s.",
            peer_program.display(),
            proc.started.as_secs_f64(),
            users.len(),
            groups.len(),
            groups.iter().map(|g| g["members"].as_array().map_or(0, Vec::len)).sum::<usize>(),
            started.elapsed().as_secs_f64()
        ));
        peer = Some(server);
    } else {
        notes.push(format!(
            "The peer (`{}`) could not be started here: cohort alone was measured (install it with `bash bench/run.sh`, which pins scim2-server in a venv).",
            peer_program.display()
        ));
    }

    // The four requests. The user filtered on and the group read are in the
    // middle of the data set; PATCH pairs are (generated group, a non-member).
    let user_ids: Vec<String> = info["user_ids"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|v| v.to_string())
        .collect();
    let group_ids: Vec<String> = info["group_ids"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|v| v.to_string())
        .collect();
    let user_name = users
        .iter()
        .map(|u| u["userName"].as_str().unwrap_or(""))
        .filter(|n| n.starts_with("user"))
        .nth(users.len() / 2)
        .or_else(|| users.first().and_then(|u| u["userName"].as_str()))
        .context("no users")?
        .to_string();
    let group = group_ids
        .get(group_ids.len() / 2)
        .context("no groups")?
        .clone();
    let members_of = |id: &str| -> Vec<String> {
        groups
            .iter()
            .find(|g| g["id"].as_str() == Some(id))
            .and_then(|g| g["members"].as_array())
            .into_iter()
            .flatten()
            .filter_map(|m| m["value"].as_str().map(str::to_string))
            .collect()
    };
    let mut taken: HashMap<String, usize> = HashMap::new();
    let mut pairs = Vec::new();
    for i in 0..CONNECTIONS {
        let g = &group_ids[i % group_ids.len()];
        let members = members_of(g);
        let skip = taken.entry(g.clone()).or_default();
        if let Some(u) = user_ids.iter().filter(|u| !members.contains(u)).nth(*skip) {
            pairs.push((g.clone(), u.clone()));
            *skip += 1;
        }
    }
    let peer_pairs: Vec<String> = pairs
        .iter()
        .filter_map(|(g, u)| Some(format!("{}={}", ids.get(g)?, ids.get(u)?)))
        .collect();
    let cohort_pairs: Vec<String> = pairs.iter().map(|(g, u)| format!("{g}={u}")).collect();
    let filter = format!(
        "/Users?filter=userName%20eq%20%22{}%22",
        user_name.replace('@', "%40")
    );
    let gets = [
        (
            format!("GET /Users?filter=userName eq \"{user_name}\""),
            filter.clone(),
            filter,
            CONNECTIONS,
        ),
        (
            format!("GET /Groups?excludedAttributes=members ({LIST_CONNECTIONS} connections)"),
            "/Groups?excludedAttributes=members".to_string(),
            "/Groups?excludedAttributes=members".to_string(),
            LIST_CONNECTIONS,
        ),
        (
            "GET /Groups/{id}".to_string(),
            format!("/Groups/{group}"),
            format!("/Groups/{}", ids.get(&group).cloned().unwrap_or_default()),
            CONNECTIONS,
        ),
    ];
    let mut versus = Vec::new();
    for (label, ours, theirs, connections) in &gets {
        let tool = plan.small_tool;
        let mut row = Versus {
            label: label.clone(),
            tool: tool.name(),
            bodies: (cohort.body_len(ours).await?, None),
            cohort: Vec::new(),
            peer: Vec::new(),
            ratios: Vec::new(),
            peer_errors: 0,
        };
        if let Some(peer) = &peer {
            row.bodies.1 = Some(peer.body_len(theirs).await?);
        }
        for _ in 0..plan.rounds {
            let header = |s: &Server| ("Authorization", s.auth.clone());
            let mine = {
                let (name, value) = header(&cohort);
                load::run(
                    tool,
                    &format!("{}{ours}", cohort.base),
                    Some((name, &value)),
                    *connections,
                    plan.run,
                    plan.client_cpu,
                )?
            };
            anyhow::ensure!(mine.errors == 0, "cohort: {label}: failed requests");
            if let Some(peer) = &peer {
                let (name, value) = header(peer);
                let theirs = load::run(
                    tool,
                    &format!("{}{theirs}", peer.base),
                    Some((name, &value)),
                    *connections,
                    plan.run,
                    plan.client_cpu,
                )?;
                if let Some(proc) = &peer_proc {
                    wait_idle(proc.child.id());
                }
                row.peer_errors += theirs.errors;
                row.peer.push(theirs.requests_per_sec);
                row.ratios
                    .push(mine.requests_per_sec / theirs.requests_per_sec.max(1e-9));
            }
            row.cohort.push(mine.requests_per_sec);
        }
        versus.push(row);
    }
    {
        let mut row = Versus {
            label: "PATCH /Groups/{id} add a member (alternating with its removal)".into(),
            tool: Tool::Builtin.name(),
            bodies: (0, None),
            cohort: Vec::new(),
            peer: Vec::new(),
            ratios: Vec::new(),
            peer_errors: 0,
        };
        for _ in 0..plan.rounds {
            let (mine, errors) = patch_run(plan, &cohort, &cohort_pairs)?;
            anyhow::ensure!(errors == 0, "cohort: PATCH: {errors} failed requests");
            if let Some(peer) = &peer {
                let (theirs, errors) = patch_run(plan, peer, &peer_pairs)?;
                if let Some(proc) = &peer_proc {
                    wait_idle(proc.child.id());
                }
                row.peer_errors += errors;
                row.peer.push(theirs);
                row.ratios.push(mine / theirs.max(1e-9));
            }
            row.cohort.push(mine);
        }
        versus.push(row);
    }
    drop(peer_proc);

    lines.push(format!("cohort's requests/s over the peer's (`scim2-server` 0.8.3, in-memory, one process) for the same request on the same data ({} users, {} groups including cohort's system groups), ratio per round (cohort, then the peer, which is then left to finish its queue before the next run), median [min–max]; {CONNECTIONS} connections for both unless the row says otherwise (PATCH: {} clients, each toggling its own user in its own group). cohort answers a PATCH with the group (200), the peer with 204.", users.len(), groups.len(), cohort_pairs.len()));
    lines.push(String::new());
    lines.push("| request | body (cohort / peer) | tool | cohort req/s | peer req/s | ratio to peer | peer errors | target | verdict |".into());
    lines.push("|---|---|---|---|---|---|---|---|---|".into());
    let mut report = Report { lines: Vec::new() };
    for row in &versus {
        report.versus_row(row, 20.0);
    }
    lines.append(&mut report.lines);
    lines.push(String::new());

    // The large lists against the floor.
    let page_start = groups.len().saturating_sub(99).max(1);
    let page = format!("/scim/v2/Groups?count=100&startIndex={page_start}");
    let whole = "/scim/v2/Groups?count=1000".to_string();
    let auth = cohort.auth.clone();
    let mut report = Report { lines: Vec::new() };
    for (name, path, label) in [
        (
            "scim-page",
            &page,
            format!("GET /scim/v2/Groups?count=100&startIndex={page_start} (members included)"),
        ),
        (
            "scim-whole",
            &whole,
            format!(
                "GET /scim/v2/Groups?count=1000, the whole list ({} groups)",
                groups.len()
            ),
        ),
    ] {
        let r = read_scenario(plan, name, &server, path, Some(&auth), true, false).await?;
        report.read_row(&label, &r, 0.85, None, "≥ 0.85× floor");
    }
    lines.push("The group lists against the same-bytes floor (cohort's exact body served from memory), as in Reads.".into());
    lines.push(String::new());
    lines.push("| scenario | body | tool | cohort req/s | ratio to floor | A/A | ratio to nginx | p50 ms | p99 ms | floor p99 ms | p99 ms, 1 connection (cohort / floor) | cohort bytes/s | RSS | target | verdict |".into());
    lines.push("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|".into());
    lines.append(&mut report.lines);
    lines.push(String::new());
    for note in notes {
        lines.push(format!("- {note}"));
    }
    Ok(lines)
}
