//! The benchmark plan: every scenario, its floor measured in the same run, the
//! ratio computed per round (floor and cohort back to back) and reported as a
//! median with its min and max, and the report written to `BENCHMARKS.md`.
//!
//! Placement: with two or more cores, servers run on CPU 1 and load
//! generators on CPU 0 (`taskset`), so the client never steals the server's
//! core. The machine is shared and noisy in bursts, hence many short rounds.

use crate::fsync;
use crate::generate::{self, Size};
use crate::load::{self, Measured, Tool};
use anyhow::{bail, Context as _, Result};
use base64::Engine as _;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

mod audit;
mod auth;
mod huge;
mod imkit;
mod lag;
mod mixed;
mod pair;
mod pg;
mod queues;
mod read;
mod report;
pub(crate) mod scim;
pub(crate) mod sequential;
mod stream;
mod ui;
mod webhooks;
mod writes;

use auth::auth_cost;
use huge::huge_scenario;
use imkit::imkit_scenario;
use lag::lag_scenario;
use mixed::mixed_scenario;
use pair::pair_scenario;
use pg::pg_writes;
use read::read_scenario;
use report::Report;
use writes::write_load;

#[derive(clap::Args)]
pub struct RunArgs {
    /// Smoke mode: tiny data, one short round per scenario (what CI runs so the
    /// harness never rots; it asserts nothing about timings).
    #[arg(long)]
    smoke: bool,
    /// The `cohort` binary to measure (build it with `--release` for verdicts).
    #[arg(long)]
    cohort: PathBuf,
    /// Scratch directory for databases and bodies.
    #[arg(long, default_value = "target/bench")]
    work: PathBuf,
    /// Where to write the report.
    #[arg(long, default_value = "BENCHMARKS.md")]
    out: PathBuf,
    /// PostgreSQL server for the PostgreSQL write scenario (no database part).
    #[arg(
        long,
        env = "COHORT_BENCH_PG",
        default_value = "postgres://postgres@127.0.0.1:5432"
    )]
    pg: String,
    /// Rounds per read scenario (default 15; 1 in smoke mode).
    #[arg(long)]
    rounds: Option<usize>,
    /// Seconds per load run (default 3; 0.5 in smoke mode).
    #[arg(long)]
    secs: Option<f64>,
    /// Leave out the huge data set (memory and start-up).
    #[arg(long)]
    skip_huge: bool,
    /// Run only these scenarios: list, imkit, transitive, pair, mixed, writes,
    /// pg, lag, huge, auth, scim, audit, stream, queues, webhooks, ui (all
    /// when empty).
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
    /// The peer SCIM server for the `scim` scenario (`scim2-server` from PyPI;
    /// `bench/run.sh` installs it pinned). Measured without it when absent.
    #[arg(long, env = "COHORT_BENCH_SCIM_PEER", default_value = "scim2-server")]
    scim_peer: PathBuf,
    /// A second `cohort` binary for the `audit` scenario's write-cost row
    /// (one built from a commit before commit origins were recorded, e.g.
    /// 6745af6); without it that row is this build against itself.
    #[arg(long, env = "COHORT_BENCH_BASELINE")]
    cohort_baseline: Option<PathBuf>,
    /// Only make the cached data sets (the `audit` scenario's) and stop, so
    /// that a later timed run finds them ready.
    #[arg(long)]
    prepare: bool,
}

struct Plan {
    smoke: bool,
    only: Vec<String>,
    cohort: PathBuf,
    work: PathBuf,
    rounds: usize,
    run: Duration,
    server_cpu: Option<usize>,
    client_cpu: Option<usize>,
    small_tool: Tool,
    large_tool: Tool,
    nginx: bool,
    notes: Vec<String>,
}

/// A child process killed when dropped.
struct Proc {
    child: Child,
    url: String,
    started: Duration,
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Proc {
    fn rss_mib(&self) -> f64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next()?.parse::<f64>().ok())
            .map(|kb| kb / 1024.0)
            .unwrap_or(0.0)
    }
}

fn pinned(cpu: Option<usize>, program: &Path) -> Command {
    match cpu {
        Some(cpu) => {
            let mut command = Command::new("taskset");
            command.args(["-c", &cpu.to_string()]).arg(program);
            command
        }
        None => Command::new(program),
    }
}

/// Start a process and wait for the stdout line starting with `marker`; the
/// rest of that line (up to a space) is its URL.
fn spawn_until(mut command: Command, marker: &str) -> Result<Proc> {
    let started = Instant::now();
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()?;
    let stdout = child.stdout.take().context("stdout")?;
    let (tx, rx) = std::sync::mpsc::channel();
    let marker = marker.to_string();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(rest) = line.strip_prefix(&marker) {
                let _ = tx.send(rest.split_whitespace().next().unwrap_or("").to_string());
            }
        }
    });
    let url = rx
        .recv_timeout(Duration::from_secs(300))
        .context("the process did not start")?;
    Ok(Proc {
        child,
        url,
        started: started.elapsed(),
    })
}

impl Plan {
    fn wants(&self, scenario: &str) -> bool {
        self.only.is_empty() || self.only.iter().any(|s| s == scenario)
    }

    fn cohort(&self, db: &str, log: &str) -> Result<Proc> {
        self.cohort_with(db, log, &[])
    }

    /// `cohort serve` with extra `serve` arguments.
    fn cohort_with(&self, db: &str, log: &str, serve: &[&str]) -> Result<Proc> {
        let mut command = pinned(self.server_cpu, &self.cohort);
        command
            .args(["--db", db, "serve", "--listen", "127.0.0.1:0"])
            .args(serve)
            .env("COHORT_LOG", log);
        unlimited(&mut command);
        spawn_until(command, "cohort listening on ")
    }

    fn floor(&self, body: &Path) -> Result<Proc> {
        let exe = std::env::current_exe()?;
        let mut command = pinned(self.server_cpu, &exe);
        command.arg("floor").arg("--body").arg(body);
        let mut proc = spawn_until(command, "floor listening on ")?;
        proc.url = format!("http://{}", proc.url);
        Ok(proc)
    }

    /// The long-poll floor (`cohort-bench poll-floor`), on the server's CPU.
    fn poll_floor(&self, body: &Path) -> Result<Proc> {
        let exe = std::env::current_exe()?;
        let mut command = pinned(self.server_cpu, &exe);
        command.arg("poll-floor").arg("--body").arg(body);
        let mut proc = spawn_until(command, "poll floor listening on ")?;
        proc.url = format!("http://{}", proc.url);
        Ok(proc)
    }

    fn nginx(&self, body: &Path, name: &str) -> Result<Option<Proc>> {
        if !self.nginx {
            return Ok(None);
        }
        let root = self.work.join(format!("nginx-{name}"));
        std::fs::create_dir_all(root.join("html"))?;
        std::fs::copy(body, root.join("html/body.json"))?;
        let port = free_port()?;
        let conf = format!(
            "worker_processes 1; daemon off; user root; pid {root}/nginx.pid; error_log {root}/error.log;
             events {{ worker_connections 1024; }}
             http {{ access_log off; keepalive_requests 1000000; keepalive_timeout 60;
               client_body_temp_path {root}/tmp; proxy_temp_path {root}/tmp; fastcgi_temp_path {root}/tmp;
               uwsgi_temp_path {root}/tmp; scgi_temp_path {root}/tmp;
               server {{ listen 127.0.0.1:{port}; location / {{ default_type application/json;
                 root {root}/html; try_files /body.json =404; }} }} }}",
            root = root.display()
        );
        std::fs::create_dir_all(root.join("tmp"))?;
        std::fs::write(root.join("nginx.conf"), conf)?;
        let mut command = pinned(self.server_cpu, Path::new("nginx"));
        command.arg("-c").arg(root.join("nginx.conf"));
        let child = command
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        let url = format!("http://127.0.0.1:{port}/");
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if started.elapsed() > Duration::from_secs(5) {
                return Ok(None);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(Some(Proc {
            child,
            url,
            started: started.elapsed(),
        }))
    }

    fn load(&self, tool: Tool, url: &str, auth: Option<&str>) -> Result<Measured> {
        self.load_with(tool, url, auth, 32)
    }

    fn load_with(
        &self,
        tool: Tool,
        url: &str,
        auth: Option<&str>,
        connections: usize,
    ) -> Result<Measured> {
        let header = auth.map(|a| ("Authorization", a));
        let measured = load::run(tool, url, header, connections, self.run, self.client_cpu)?;
        if measured.errors > 0 {
            bail!("{url}: {} failed requests under load", measured.errors);
        }
        Ok(measured)
    }

    fn tool_for(&self, body_len: usize) -> Tool {
        if body_len >= 400 * 1024 {
            self.large_tool
        } else {
            self.small_tool
        }
    }
}

fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// A fresh SQLite database `file` in the work directory, filled with the
/// `size` data set: its URL and the generator's info.
async fn fresh_data_set(
    plan: &Plan,
    file: &str,
    size: Size,
) -> Result<(String, serde_json::Value)> {
    let path = plan.work.join(file);
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
    let db = format!("sqlite://{}", path.display());
    let store = cohort_store::open(
        &cohort_store::DbUrl::parse(&db).map_err(anyhow::Error::msg)?,
        true,
    )
    .await?;
    let info = generate::generate(store.as_ref(), size).await?;
    Ok((db, info))
}

fn basic(email: &str, key: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{email}:{key}"))
    )
}

async fn fetch(url: &str, auth: Option<&str>) -> Result<bytes::Bytes> {
    fetch_with(url, auth.map(|a| format!("Authorization: {a}")).as_deref()).await
}

/// [`fetch`] with one request header, `Name: value`.
async fn fetch_with(url: &str, header: Option<&str>) -> Result<bytes::Bytes> {
    let mut request = reqwest::Client::new().get(url);
    if let Some((name, value)) = header.and_then(|h| h.split_once(':')) {
        request = request.header(name.trim(), value.trim());
    }
    let response = request.send().await?;
    if !response.status().is_success() {
        bail!("GET {url}: {}", response.status());
    }
    Ok(response.bytes().await?)
}

fn stats(values: &[f64]) -> (f64, f64, f64) {
    let mut sorted = values.to_vec();
    sorted.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
    if sorted.is_empty() {
        return (0.0, 0.0, 0.0);
    }
    (
        sorted[sorted.len() / 2],
        sorted[0],
        sorted[sorted.len() - 1],
    )
}

fn human_bytes(n: f64) -> String {
    if n >= 1024.0 * 1024.0 {
        format!("{:.1} MiB", n / 1024.0 / 1024.0)
    } else if n >= 1024.0 {
        format!("{:.1} KiB", n / 1024.0)
    } else {
        format!("{n:.0} B")
    }
}

fn machine() -> Vec<String> {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines().find_map(|l| {
                l.strip_prefix("model name")
                    .map(|m| m.trim_start_matches([' ', '\t', ':']).to_string())
            })
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let memory = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .next()
                .map(|l| l.split_whitespace().nth(1).unwrap_or("0").to_string())
        })
        .and_then(|kb| kb.parse::<f64>().ok())
        .map(|kb| format!("{:.0} GiB", kb / 1024.0 / 1024.0))
        .unwrap_or_default();
    let output = |program: &str, args: &[&str]| {
        Command::new(program)
            .args(args)
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .unwrap_or_default()
    };
    vec![
        format!(
            "- Machine: {cpu}, {cores} cores, {memory} memory; kernel {}",
            output("uname", &["-r"])
        ),
        format!("- Date: {}", output("date", &["-u", "+%Y-%m-%d %H:%M UTC"])),
        format!(
            "- Commit: {}",
            output("git", &["rev-parse", "--short", "HEAD"])
        ),
        format!("- Toolchain: {}", output("rustc", &["--version"])),
    ]
}

pub async fn run(args: RunArgs) -> Result<()> {
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let (server_cpu, client_cpu) = if cores >= 2 && load::installed("taskset") {
        (Some(1), Some(0))
    } else {
        (None, None)
    };
    let has_oha = load::installed("oha");
    let has_wrk = load::installed("wrk");
    let mut notes = Vec::new();
    let small_tool = if has_wrk {
        Tool::Wrk
    } else if has_oha {
        Tool::Oha
    } else {
        Tool::Builtin
    };
    let large_tool = if has_oha {
        Tool::Oha
    } else {
        notes.push("oha is not installed: bodies of 400 KB and more were loaded with the fallback client, which is client-bound; the ratios for them understate cohort.".to_string());
        small_tool
    };
    let nginx = load::installed("nginx") || Path::new("/usr/sbin/nginx").exists();
    if !nginx {
        notes.push("nginx is not installed (apt-get install nginx-light): the static-server floor was not measured.".into());
    }
    std::fs::create_dir_all(&args.work)?;
    let plan = Plan {
        smoke: args.smoke,
        only: args.only.clone(),
        cohort: args.cohort.clone(),
        work: args.work.clone(),
        rounds: args.rounds.unwrap_or(if args.smoke { 1 } else { 15 }),
        run: Duration::from_secs_f64(args.secs.unwrap_or(if args.smoke { 0.5 } else { 3.0 })),
        server_cpu,
        client_cpu,
        small_tool,
        large_tool,
        nginx,
        notes,
    };
    if args.prepare {
        if plan.wants("audit") {
            audit::prepare(&plan).await?;
        }
        return Ok(());
    }
    let mut report = Report { lines: Vec::new() };
    report.push("# cohort benchmarks");
    report.push("");
    if plan.smoke {
        report.push("**Smoke run** (tiny data, one short round per scenario): it proves the harness works; its numbers mean nothing.");
        report.push("");
    }
    for line in machine() {
        report.push(line);
    }
    report.push(format!(
        "- Method: {} rounds × {:.1} s per read scenario; in each round the floor and cohort run back to back with 32 keep-alive connections and the ratio is taken for that round; reported as median [min–max]. Servers pinned to CPU {}, load generators to CPU {}. cohort runs its {} build with request logs off (`COHORT_LOG=warn`) unless a row says otherwise.",
        plan.rounds,
        plan.run.as_secs_f64(),
        server_cpu.map(|c| c.to_string()).unwrap_or_else(|| "any".into()),
        client_cpu.map(|c| c.to_string()).unwrap_or_else(|| "any".into()),
        if plan.smoke { "debug" } else { "release" },
    ));
    report.push(format!(
        "- Load tools: {} for bodies under 400 KB, {} for larger ones.",
        plan.small_tool.name(),
        plan.large_tool.name()
    ));
    report.push("");

    // ---- fsync floors
    let floor_secs = if plan.smoke {
        Duration::from_millis(500)
    } else {
        Duration::from_secs(3)
    };
    let sqlite_floor = fsync::sqlite(&plan.work, floor_secs)?;
    let pg_up = fsync::postgres(&format!("{}/postgres", args.pg), Duration::from_millis(50))
        .await
        .is_ok();
    let pg_floor = if pg_up {
        Some(fsync::postgres(&format!("{}/postgres", args.pg), floor_secs).await?)
    } else {
        None
    };

    let read_sizes: Vec<Size> = if plan.smoke {
        vec![Size::Tiny]
    } else {
        vec![Size::Small, Size::Medium, Size::Large]
    };
    let reach_size = if plan.smoke { Size::Tiny } else { Size::Large };
    let write_size = if plan.smoke { Size::Tiny } else { Size::Medium };
    let mut list_rows = Vec::new();
    let mut extra_rows: Vec<String> = Vec::new();
    let mut writes_sqlite = None;
    let mut small_rps = 0.0;
    let mut auth_rows = Vec::new();
    let mut mixed_rows = Vec::new();

    let mut sizes = std::collections::BTreeSet::new();
    if plan.wants("list") {
        sizes.extend(read_sizes.iter().copied());
    }
    if plan.wants("imkit") || plan.wants("transitive") || plan.wants("pair") || plan.wants("mixed")
    {
        sizes.insert(reach_size);
    }
    if plan.wants("writes") {
        sizes.insert(write_size);
    }
    if plan.wants("auth") {
        sizes.insert(read_sizes[0]);
    }
    for size in sizes {
        let name = format!("{size:?}").to_lowercase();
        let path = plan.work.join(format!("{name}.db"));
        let _ = std::fs::remove_file(&path);
        let _ = std::fs::remove_file(plan.work.join(format!("{name}.db-wal")));
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
        eprintln!(
            "generated {name} in {:.1}s",
            started.elapsed().as_secs_f64()
        );
        let auth = basic(
            info["email"].as_str().unwrap_or(""),
            info["api_key"].as_str().unwrap_or(""),
        );
        let server = plan.cohort(&db, "warn")?;
        if read_sizes.contains(&size) && plan.wants("list") {
            let r = read_scenario(
                &plan,
                &format!("groups-{name}"),
                &server,
                "/api/v1/user_groups",
                Some(&auth),
                size == Size::Small || plan.smoke,
                size == Size::Medium || plan.smoke,
            )
            .await?;
            if size == Size::Small || plan.smoke {
                small_rps = r.median(|m| m.requests_per_sec);
            }
            list_rows.push((name.clone(), r, size == Size::Medium));
        }
        if size == reach_size && plan.wants("imkit") {
            let platform = info["platform_key"].as_str().unwrap_or("");
            let skip = if plan.smoke { 10 } else { 5_000 };
            let imkit_url = format!("{}/admin/groups?limit=50&skip={skip}", server.url);
            let body = {
                let response = reqwest::Client::new()
                    .get(&imkit_url)
                    .header("IM-API-KEY", platform)
                    .send()
                    .await?;
                response.bytes().await?
            };
            let file = plan.work.join("body-imkit.json");
            std::fs::write(&file, &body)?;
            let r = imkit_scenario(&plan, &server, &imkit_url, platform, &file).await?;
            extra_rows.push(r);
        }
        if size == reach_size && plan.wants("transitive") {
            if let Some(top) = info["reach_top"].as_i64() {
                let r = read_scenario(
                    &plan,
                    "transitive",
                    &server,
                    &format!("/api/v1/user_groups/{top}/members"),
                    Some(&auth),
                    false,
                    true,
                )
                .await?;
                let mut row = Report { lines: Vec::new() };
                row.read_row(
                    &format!("GET /api/v1/user_groups/{{id}}/members, 10-deep chain reaching {} users ({name})", if plan.smoke { 300 } else { 100_000 }),
                    &r,
                    0.0,
                    Some(2.0),
                    "p99 ≤ 2 ms",
                );
                extra_rows.extend(row.lines);
            }
        }
        if size == reach_size && plan.wants("pair") {
            extra_rows.push(pair_scenario(&plan, &name, &server, &auth, &info)?);
        }
        if size == reach_size && plan.wants("mixed") {
            mixed_rows.extend(mixed_scenario(&plan, &name, &server, &auth, &info).await?);
        }
        if size == write_size && plan.wants("writes") {
            writes_sqlite = Some(write_load(&plan, &server, &auth, &info)?);
        }
        if (size == Size::Small || (plan.smoke && size == Size::Tiny)) && plan.wants("auth") {
            auth_rows = auth_cost(&plan, &server, &info, &auth, small_rps)?;
            // The cost of request logs at info level.
            drop(server);
            let logged = plan.cohort(&db, "info")?;
            let r = read_scenario(
                &plan,
                "groups-logged",
                &logged,
                "/api/v1/user_groups",
                Some(&auth),
                false,
                false,
            )
            .await?;
            list_rows.push((
                format!("{name}, request logs on (`COHORT_LOG=info`)"),
                r,
                false,
            ));
        }
    }

    // ---- PostgreSQL writes
    let writes_pg = if pg_up && plan.wants("pg") {
        Some(pg_writes(&plan, &args.pg, write_size).await?)
    } else {
        None
    };

    // ---- replication lag between two PostgreSQL nodes
    let lag = if pg_up && plan.wants("lag") {
        Some(lag_scenario(&plan, &args.pg, write_size).await?)
    } else {
        None
    };

    // ---- huge: memory and cold start
    let mut huge_rows = Vec::new();
    if !args.skip_huge && plan.wants("huge") {
        huge_rows.push(huge_scenario(&plan).await?);
    }

    // ---- SCIM: against the peer and the floor
    let scim_lines = if plan.wants("scim") {
        scim::scim_scenario(&plan, &args.scim_peer).await?
    } else {
        Vec::new()
    };

    // ---- the native API's history questions, and the richer log's cost
    let audit_lines = if plan.wants("audit") {
        audit::audit_scenario(&plan, args.cohort_baseline.as_deref()).await?
    } else {
        Vec::new()
    };

    // ---- the event stream with many clients
    let stream_lines = if plan.wants("stream") {
        stream::stream_scenario(&plan).await?
    } else {
        Vec::new()
    };

    // ---- Zulip's event queues at scale
    let queue_lines = if plan.wants("queues") {
        queues::queues_scenario(&plan).await?
    } else {
        Vec::new()
    };

    // ---- webhooks to a local receiver
    let webhook_lines = if plan.wants("webhooks") {
        webhooks::webhooks_scenario(&plan).await?
    } else {
        Vec::new()
    };

    // ---- the admin web page
    let ui_lines = if plan.wants("ui") {
        ui::ui_scenario(&plan).await?
    } else {
        Vec::new()
    };

    // ---- the report
    report.push("## Reads");
    report.push("");
    report.push("`ratio` is cohort's requests/s over the same-bytes floor's (a minimal hyper server serving the identical body from memory). `A/A` is the floor against itself: the spread that is noise. `nginx` is cohort over nginx serving the body as a static file. Latencies are the median over rounds of each round's p50/p99.");
    report.push("");
    report.push("| scenario | body | tool | cohort req/s | ratio to floor | A/A | ratio to nginx | p50 ms | p99 ms | floor p99 ms | p99 ms, 1 connection (cohort / floor) | cohort bytes/s | RSS | target | verdict |");
    report.push("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    for (name, r, medium) in &list_rows {
        let target = "≥ 0.85× floor".to_string() + if *medium { "; p99 ≤ 2 ms" } else { "" };
        report.read_row(
            &format!("GET /api/v1/user_groups ({name})"),
            r,
            0.85,
            medium.then_some(2.0),
            &target,
        );
    }
    for row in &extra_rows {
        report.push(row.clone());
    }
    report.push("");
    report.push("## Reads under writes");
    report.push("");
    report.push("The same list read alone, then while 64 writers change members (every write is a new realm version). Medians over rounds.");
    report.push("");
    report.push("| scenario | body | tool | alone: req/s / p99 ms | with writers: req/s / p99 ms | req/s ratio | p99 ratio | writer ops/s |");
    report.push("|---|---|---|---|---|---|---|---|");
    for row in &mixed_rows {
        report.push(row.clone());
    }
    report.push("");
    report.push("## Writes");
    report.push("");
    report.push("| scenario | acknowledged ops/s | p50 / p99 ms | fsync floor (one-row commits/s) | ratio | target | verdict |");
    report.push("|---|---|---|---|---|---|---|");
    if let Some(w) = &writes_sqlite {
        let ratio = w.0 / sqlite_floor;
        report.push(format!(
            "| member add/remove, 64 clients, SQLite ({}) | {:.0} | {:.2} / {:.2} | {sqlite_floor:.0} | {ratio:.1}× | ≥ 10× | {} |",
            format!("{write_size:?}").to_lowercase(), w.0, w.1, w.2, if ratio >= 10.0 { "met" } else { "**not met**" }
        ));
    }
    match (&writes_pg, pg_floor) {
        (Some(w), Some(floor)) => {
            let ratio = w.0 / floor;
            report.push(format!(
                "| member add/remove, 64 clients, PostgreSQL ({}) | {:.0} | {:.2} / {:.2} | {floor:.0} | {ratio:.1}× | ≥ 5× | {} |",
                format!("{write_size:?}").to_lowercase(), w.0, w.1, w.2, if ratio >= 5.0 { "met" } else { "**not met**" }
            ));
        }
        _ => report.push(format!(
            "| member add/remove, 64 clients, PostgreSQL | not measured: {} | | | | ≥ 5× | – |",
            if plan.wants("pg") {
                "PostgreSQL unreachable"
            } else {
                "not selected"
            }
        )),
    }
    report.push("");
    if plan.wants("lag") {
        report.push("## Replication lag (PostgreSQL)");
        report.push("");
        report.push("Two nodes on one database, both with `--poll-ms 600000` so only LISTEN/NOTIFY moves node B. Each write on node A (add or remove one member, alternately) is followed by reading node B back to back; the lag is from A's acknowledgement to B's first answer showing the change (one read's round trip included).");
        report.push("");
        report.push("| scenario | writes | median ms | p99 ms | max ms |");
        report.push("|---|---|---|---|---|");
        match &lag {
            Some(l) => report.push(format!(
                "| member add/remove on node A, read on node B ({}) | {} | {:.2} | {:.2} | {:.2} |",
                format!("{write_size:?}").to_lowercase(),
                l.writes,
                l.median_ms,
                l.p99_ms,
                l.max_ms
            )),
            None => report.push(
                "| member add/remove on node A, read on node B | not measured: PostgreSQL unreachable | | | |",
            ),
        }
        report.push("");
    }
    if plan.wants("scim") {
        report.push("## SCIM");
        report.push("");
        for line in scim_lines {
            report.push(line);
        }
        report.push("");
    }
    if plan.wants("audit") {
        report.push("## History and audit (native API)");
        report.push("");
        for line in audit_lines {
            report.push(line);
        }
        report.push("");
    }
    if plan.wants("queues") {
        report.push("## Zulip event queues");
        report.push("");
        for line in queue_lines {
            report.push(line);
        }
    }
    if plan.wants("stream") {
        report.push("## Event stream (Server-Sent Events)");
        report.push("");
        for line in stream_lines {
            report.push(line);
        }
    }
    if plan.wants("webhooks") {
        report.push("## Webhooks");
        report.push("");
        for line in webhook_lines {
            report.push(line);
        }
    }
    if plan.wants("ui") {
        report.push("## Admin page (`/ui/`)");
        report.push("");
        for line in ui_lines {
            report.push(line);
        }
    }
    report.push("## Memory and start-up");
    report.push("");
    report.push("| data set | measured | target | verdict |");
    report.push("|---|---|---|---|");
    for row in huge_rows {
        report.push(row);
    }
    report.push("");
    report.push("## Authentication cost");
    report.push("");
    for row in auth_rows {
        report.push(row);
    }
    report.push("");
    if !plan.notes.is_empty() {
        report.push("## Notes");
        report.push("");
        for note in &plan.notes {
            report.push(format!("- {note}"));
        }
        report.push("");
    }
    std::fs::write(&args.out, report.lines.join("\n") + "\n")?;
    println!("wrote {}", args.out.display());
    Ok(())
}

/// The load comes from a few credentials at rates far past any sane limit:
/// the limiter stays in the path (it is part of what a request costs) but
/// never refuses. Set through the environment, which older builds (a
/// baseline) ignore.
pub(crate) fn unlimited(command: &mut std::process::Command) {
    command
        .env("COHORT_RATE_LIMIT", "1000000000/1s")
        .env("COHORT_RATE_LIMIT_ANONYMOUS", "1000000000/1s");
}
