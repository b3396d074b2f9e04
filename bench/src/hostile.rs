//! `cohort-bench hostile`: a bounded flood of malformed, oversized,
//! truncated, slow, pipelined and mixed-up requests against every face of a
//! real `cohort serve` on loopback, with valid writes in between; then the
//! checks that nothing broke. Exits non-zero when one fails:
//!
//! - no answer had a 5xx status, and the server's log holds no panic;
//! - the directory is exactly the valid writes' result: the realm's version
//!   moved by one per acknowledged write, every acknowledged group holds
//!   exactly the members it was given, no other group appeared, and
//!   `cohort check` replays the log to the stored state;
//! - the server's resident memory after the flood is within
//!   `--rss-tolerance` of what it was before, and the sockets it held
//!   stayed under `--max-connections` (when given).
//!
//! Requests go over raw TCP (the point is bytes no client library would
//! send); answers are read with `httparse`, bodies skipped by their length
//! or their chunks.

use anyhow::{bail, Context, Result};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

#[derive(clap::Args, Debug)]
pub struct HostileArgs {
    /// The `cohort` binary to attack.
    #[arg(long)]
    cohort: PathBuf,
    /// A scratch directory (emptied first).
    #[arg(long)]
    work: PathBuf,
    /// Hostile requests to send.
    #[arg(long, default_value_t = 1_000_000)]
    requests: u64,
    /// Connections sending them at once.
    #[arg(long, default_value_t = 32)]
    connections: usize,
    /// Slow (slowloris) connections held open during the flood.
    #[arg(long, default_value_t = 64)]
    slow: usize,
    /// Idle connections opened at once near the end, to test the server's
    /// connection bound.
    #[arg(long, default_value_t = 2000)]
    idle: usize,
    /// Fail if the server ever holds more sockets than this.
    #[arg(long)]
    max_connections: Option<usize>,
    /// Largest growth of resident memory accepted, as a fraction.
    #[arg(long, default_value_t = 0.10)]
    rss_tolerance: f64,
    /// Extra `serve` arguments (repeat the flag).
    #[arg(long = "serve-arg", allow_hyphen_values = true)]
    serve_args: Vec<String>,
    /// Valid writes made during the flood (spread over it).
    #[arg(long, default_value_t = 600)]
    valid_writes: u64,
    /// Where to write the JSON report (also printed).
    #[arg(long)]
    out: Option<PathBuf>,
}

/// What the flood's answers were.
#[derive(Default)]
struct Tally {
    sent: AtomicU64,
    answers: AtomicU64,
    by_class: [AtomicU64; 6],
    closed_without_answer: AtomicU64,
    connect_failures: AtomicU64,
}

impl Tally {
    fn status(&self, status: u16) {
        self.answers.fetch_add(1, Ordering::Relaxed);
        let class = usize::from(status / 100).min(5);
        self.by_class[class].fetch_add(1, Ordering::Relaxed);
    }
}

/// The credentials of the attacked realm.
#[derive(Clone)]
struct Keys {
    basic: String,
    platform: String,
    token: String,
    owner: i64,
    member: i64,
}

pub async fn hostile(args: HostileArgs) -> Result<()> {
    let _ = std::fs::remove_dir_all(&args.work);
    std::fs::create_dir_all(&args.work)?;
    let db = format!("sqlite://{}", args.work.join("cohort.db").display());
    let keys = init(&args.cohort, &db, &args.work)?;
    let log_path = args.work.join("serve.log");
    let log = std::fs::File::create(&log_path)?;
    let mut serve = Command::new(&args.cohort);
    serve
        .args(["--db", &db, "serve", "--listen", "127.0.0.1:0"])
        // The flood is also a parser test: limits off, so every request is
        // parsed rather than refused at the door (rate limits have their own
        // tests).
        .args(["--rate-limit", "off", "--rate-limit-anonymous", "off"])
        .args(&args.serve_args)
        .env("COHORT_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(log);
    let mut server = serve.spawn()?;
    let addr = listening_on(&mut server)?;
    let pid = server.id();
    let http = reqwest::Client::new();
    let base = format!("http://{addr}");

    // Warm up with valid reads so that the memory measured before is the
    // server at work, not at rest.
    for _ in 0..500 {
        http.get(format!("{base}/api/v1/user_groups"))
            .header("authorization", &keys.basic)
            .send()
            .await?
            .bytes()
            .await?;
    }
    let version_before = realm_version(&args.cohort, &db)?;
    let groups_before = group_names(&http, &base, &keys).await?;
    // A first tenth of the flood, so that the memory measured before is the
    // server's working size under this load (allocator arenas, buffers),
    // and what grows after it is what the flood left behind.
    let warm_up = Arc::new(Tally::default());
    let warm_requests = (args.requests / 10).max(2000);
    flood(
        &addr,
        &keys,
        &warm_up,
        &Arc::new(AtomicU64::new(0)),
        warm_requests,
        args.connections,
    )
    .await?;
    if warm_up.by_class[5].load(Ordering::Relaxed) > 0 {
        bail!("5xx answers during the warm-up");
    }
    // The idle burst too: its connections' buffers set the allocator's high
    // water mark, which the process keeps (freed, not returned to the
    // system); a leak is what grows past it.
    drop(idle_burst(&addr, args.idle, &warm_up).await);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rss_before = rss_kib(pid)?;

    let tally = Arc::new(Tally::default());
    let started = Instant::now();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let peak_sockets = Arc::new(AtomicU64::new(0));
    let watcher = {
        let (stop, peak) = (stop.clone(), peak_sockets.clone());
        tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                if let Ok(n) = sockets(pid) {
                    peak.fetch_max(n as u64, Ordering::Relaxed);
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
    };
    let slow = (0..args.slow)
        .map(|i| tokio::spawn(slowloris(addr.clone(), i, stop.clone())))
        .collect::<Vec<_>>();
    let next = Arc::new(AtomicU64::new(0));
    let valid = tokio::spawn(valid_writes(
        http.clone(),
        base.clone(),
        keys.clone(),
        (next.clone(), next_share(args.requests, args.valid_writes)),
        stop.clone(),
    ));
    flood(&addr, &keys, &tally, &next, args.requests, args.connections).await?;
    let flood_time = started.elapsed();

    // Many idle connections at once: the server's bound must hold, and
    // normal requests must still be served meanwhile.
    let idle = idle_burst(&addr, args.idle, &tally).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let served_with_idle = http
        .get(format!("{base}/api/v1/users/me"))
        .header("authorization", &keys.basic)
        .timeout(Duration::from_secs(30))
        .send()
        .await
        .map(|r| r.status().as_u16())
        .unwrap_or(0);
    let sockets_with_idle = sockets(pid).unwrap_or(0);
    drop(idle);

    stop.store(true, Ordering::Relaxed);
    let acknowledged = valid.await??;
    let mut slow_closed_by_server = 0;
    for task in slow {
        if task.await? {
            slow_closed_by_server += 1;
        }
    }
    watcher.await?;
    // Let the server drop what the flood left and settle.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let sockets_after = sockets(pid)?;
    let rss_after = rss_kib(pid)?;

    // The directory: exactly the valid writes.
    let mut failures = Vec::new();
    let version_after = realm_version(&args.cohort, &db)?;
    let commits = acknowledged.commits;
    if version_after != version_before + commits {
        failures.push(format!(
            "the realm moved from version {version_before} to {version_after}, but {commits} writes were acknowledged"
        ));
    }
    let groups = groups_with_members(&http, &base, &keys).await?;
    for (name, members) in &acknowledged.groups {
        match groups.get(name) {
            Some(found) if found == members => {}
            found => failures.push(format!(
                "group {name}: expected {members:?}, found {found:?}"
            )),
        }
    }
    for name in groups.keys() {
        if !groups_before.contains(name) && !acknowledged.groups.contains_key(name) {
            failures.push(format!("a group no valid write made: {name:?}"));
        }
    }
    let five = tally.by_class[5].load(Ordering::Relaxed);
    if five > 0 {
        failures.push(format!("{five} answers were 5xx"));
    }
    if served_with_idle != 200 {
        failures.push(format!(
            "with {} idle connections open, a valid request got {served_with_idle}",
            args.idle
        ));
    }
    let peak = peak_sockets
        .load(Ordering::Relaxed)
        .max(sockets_with_idle as u64);
    if let Some(max) = args.max_connections {
        if peak > max as u64 {
            failures.push(format!("the server held {peak} sockets (bound {max})"));
        }
    }
    let growth = (rss_after as f64 - rss_before as f64) / rss_before as f64;
    if growth > args.rss_tolerance {
        failures.push(format!(
            "resident memory grew {:.1}% ({rss_before} → {rss_after} KiB)",
            growth * 100.0
        ));
    }
    // Stop the server gracefully, then the log and the check.
    terminate(pid);
    let exited = tokio::task::spawn_blocking(move || server.wait()).await??;
    let log_text = std::fs::read_to_string(&log_path)?;
    let panics = log_text.matches("panicked").count();
    if panics > 0 {
        failures.push(format!("{panics} panics in the server's log"));
    }
    if !exited.success() {
        failures.push(format!("the server exited with {exited}"));
    }
    let check = Command::new(&args.cohort)
        .args(["--db", &db, "check", "--json"])
        .output()?;
    let check_ok =
        serde_json::from_slice::<Value>(&check.stdout).is_ok_and(|report| report["ok"] == true);
    if !check.status.success() || !check_ok {
        failures.push(format!(
            "cohort check: {}",
            String::from_utf8_lossy(&check.stdout)
        ));
    }

    let count = |i: usize| tally.by_class[i].load(Ordering::Relaxed);
    let report = json!({
        "hostile_requests": tally.sent.load(Ordering::Relaxed),
        "warm_up_requests": warm_up.sent.load(Ordering::Relaxed),
        "seconds": (flood_time.as_secs_f64() * 10.0).round() / 10.0,
        "requests_per_second": (tally.sent.load(Ordering::Relaxed) as f64 / flood_time.as_secs_f64()).round(),
        "answers": tally.answers.load(Ordering::Relaxed),
        "answers_by_class": {"1xx": count(1), "2xx": count(2), "3xx": count(3), "4xx": count(4), "5xx": count(5)},
        "connections_closed_without_an_answer": tally.closed_without_answer.load(Ordering::Relaxed),
        "connect_failures": tally.connect_failures.load(Ordering::Relaxed),
        "valid_writes_acknowledged": commits,
        "valid_writes_refused_or_lost": acknowledged.refused,
        "slowloris_connections": args.slow,
        "slowloris_closed_by_server": slow_closed_by_server,
        "idle_connections_opened": args.idle,
        "peak_server_sockets": peak,
        "server_sockets_with_idle": sockets_with_idle,
        "server_sockets_after": sockets_after,
        "rss_kib_before": rss_before,
        "rss_kib_after": rss_after,
        "rss_growth_percent": (growth * 1000.0).round() / 10.0,
        "panics_in_log": panics,
        "realm_version_before": version_before,
        "realm_version_after": version_after,
        "check_clean": check_ok,
        "failures": failures,
    });
    let text = serde_json::to_string_pretty(&report)?;
    println!("{text}");
    if let Some(out) = &args.out {
        std::fs::write(out, &text)?;
    }
    if !failures.is_empty() {
        bail!("the hostile load broke cohort: {failures:#?}");
    }
    Ok(())
}

/// The address `serve` prints once it listens.
fn listening_on(server: &mut std::process::Child) -> Result<String> {
    use std::io::BufRead;
    let stdout = server.stdout.take().context("stdout")?;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            if let Some(rest) = line.strip_prefix("cohort listening on ") {
                let url = rest.split_whitespace().next().unwrap_or("").to_string();
                let _ = tx.send(url);
            }
        }
    });
    let url = rx
        .recv_timeout(Duration::from_secs(30))
        .context("cohort serve did not start listening")?;
    Ok(url
        .trim_start_matches("http://")
        .trim_start_matches("https://")
        .trim_end_matches('/')
        .to_string())
}

/// Open `count` connections that send nothing, and keep them.
async fn idle_burst(addr: &str, count: usize, tally: &Tally) -> Vec<TcpStream> {
    let mut idle = Vec::with_capacity(count);
    for _ in 0..count {
        match TcpStream::connect(addr).await {
            Ok(stream) => idle.push(stream),
            Err(_) => {
                tally.connect_failures.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
    // Long enough for the server to have accepted them all.
    tokio::time::sleep(Duration::from_millis(500)).await;
    idle
}

/// Send attacks `next..total` over `connections` connections at a time.
async fn flood(
    addr: &str,
    keys: &Keys,
    tally: &Arc<Tally>,
    next: &Arc<AtomicU64>,
    total: u64,
    connections: usize,
) -> Result<()> {
    let workers = (0..connections)
        .map(|_| {
            let (addr, keys, tally, next) =
                (addr.to_string(), keys.clone(), tally.clone(), next.clone());
            tokio::spawn(async move {
                loop {
                    let n = next.fetch_add(1, Ordering::Relaxed);
                    if n >= total {
                        break;
                    }
                    let attack = attack(n, &keys);
                    tally.sent.fetch_add(attack.requests, Ordering::Relaxed);
                    // Pipelined payloads count each request they hold.
                    if attack.requests > 1 {
                        next.fetch_add(attack.requests - 1, Ordering::Relaxed);
                    }
                    send(&addr, &attack, &tally).await;
                }
            })
        })
        .collect::<Vec<_>>();
    for worker in workers {
        worker.await?;
    }
    Ok(())
}

fn terminate(pid: u32) {
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(pid.to_string())
        .status();
}

/// `cohort init` and a second user, through the CLI.
fn init(cohort: &Path, db: &str, work: &Path) -> Result<Keys> {
    let cli = |args: &[&str]| -> Result<Value> {
        let out = Command::new(cohort)
            .arg("--db")
            .arg(db)
            .args(args)
            .current_dir(work)
            .output()?;
        if !out.status.success() {
            bail!("cohort {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        }
        Ok(serde_json::from_slice(&out.stdout)?)
    };
    let made = cli(&[
        "init",
        "--json",
        "--realm-name",
        "Hostile",
        "--owner-email",
        "owner@hostile.example",
        "--zuliprc",
        "zuliprc",
    ])?;
    let member = cli(&[
        "user",
        "add",
        "--json",
        "--email",
        "member@hostile.example",
        "--name",
        "Member",
    ])?;
    let users = cli(&["user", "list", "--json"])?;
    let text = |v: &Value, what: &str| -> Result<String> {
        v[what]
            .as_str()
            .map(str::to_string)
            .with_context(|| format!("init printed no {what}: {v}"))
    };
    use base64::Engine as _;
    let basic = base64::engine::general_purpose::STANDARD.encode(format!(
        "{}:{}",
        text(&made, "email")?,
        text(&made, "api_key")?
    ));
    Ok(Keys {
        basic: format!("Basic {basic}"),
        platform: text(&made, "platform_key")?,
        token: text(&made, "scim_token")?,
        owner: users[0]["user_id"].as_i64().context("an owner id")?,
        member: member["user_id"].as_i64().context("a member id")?,
    })
}

fn realm_version(cohort: &Path, db: &str) -> Result<u64> {
    let out = Command::new(cohort)
        .args(["--db", db, "realm", "list", "--json"])
        .output()?;
    let realms: Value = serde_json::from_slice(&out.stdout)?;
    realms[0]["version"].as_u64().context("a realm version")
}

async fn group_names(http: &reqwest::Client, base: &str, keys: &Keys) -> Result<BTreeSet<String>> {
    Ok(groups_with_members(http, base, keys)
        .await?
        .into_keys()
        .collect())
}

async fn groups_with_members(
    http: &reqwest::Client,
    base: &str,
    keys: &Keys,
) -> Result<BTreeMap<String, BTreeSet<i64>>> {
    let body: Value = http
        .get(format!("{base}/api/v1/user_groups"))
        .header("authorization", &keys.basic)
        .send()
        .await?
        .json()
        .await?;
    let groups = body["user_groups"].as_array().context("user_groups")?;
    Ok(groups
        .iter()
        .filter_map(|g| {
            let name = g["name"].as_str()?.to_string();
            let members = g["members"]
                .as_array()?
                .iter()
                .filter_map(Value::as_i64)
                .collect();
            Some((name, members))
        })
        .collect())
}

/// What the valid writes did, as acknowledged.
struct Acknowledged {
    commits: u64,
    refused: u64,
    groups: BTreeMap<String, BTreeSet<i64>>,
}

/// Hostile requests between two valid writes.
fn next_share(requests: u64, writes: u64) -> u64 {
    (requests / writes.max(1)).max(1)
}

/// Valid Zulip writes, one group every `every` hostile requests until told
/// to stop: create a group with the owner, then add the member to it, then
/// (every third) remove them again. Bounded, so that the directory the
/// memory is measured on stays about the size it was.
async fn valid_writes(
    http: reqwest::Client,
    base: String,
    keys: Keys,
    (progress, every): (Arc<AtomicU64>, u64),
    stop: Arc<std::sync::atomic::AtomicBool>,
) -> Result<Acknowledged> {
    let mut done = Acknowledged {
        commits: 0,
        refused: 0,
        groups: BTreeMap::new(),
    };
    let mut n = 0u64;
    while !stop.load(Ordering::Relaxed) {
        if progress.load(Ordering::Relaxed) < n * every {
            tokio::time::sleep(Duration::from_millis(5)).await;
            continue;
        }
        let name = format!("valid-{n}");
        let created = http
            .post(format!("{base}/api/v1/user_groups/create"))
            .header("authorization", &keys.basic)
            .form(&[
                ("name", name.as_str()),
                ("description", "made by a valid write"),
                ("members", &format!("[{}]", keys.owner)),
            ])
            .send()
            .await;
        let Some(body) = ok_json(created).await else {
            done.refused += 1;
            n += 1;
            continue;
        };
        done.commits += 1;
        let id = body["group_id"].as_i64().context("group_id")?;
        let mut members = BTreeSet::from([keys.owner]);
        let change = |field: &'static str| {
            http.post(format!("{base}/api/v1/user_groups/{id}/members"))
                .header("authorization", &keys.basic)
                .form(&[(field, format!("[{}]", keys.member))])
                .send()
        };
        if ok_json(change("add").await).await.is_some() {
            done.commits += 1;
            members.insert(keys.member);
            if n.is_multiple_of(3) && ok_json(change("delete").await).await.is_some() {
                done.commits += 1;
                members.remove(&keys.member);
            }
        }
        done.groups.insert(name, members);
        n += 1;
    }
    Ok(done)
}

async fn ok_json(response: reqwest::Result<reqwest::Response>) -> Option<Value> {
    let response = response.ok()?;
    if response.status() != 200 {
        return None;
    }
    response.json().await.ok()
}

/// Headers sent byte by byte, one a second, never finished. Returns whether
/// the server closed the connection before the flood ended.
async fn slowloris(addr: String, i: usize, stop: Arc<std::sync::atomic::AtomicBool>) -> bool {
    let Ok(mut stream) = TcpStream::connect(&addr).await else {
        return false;
    };
    let head = format!("GET /api/v1/users/me?slow={i} HTTP/1.1\r\nHost: x\r\nX-Slow: ");
    for byte in head.bytes().chain(std::iter::repeat(b'a')) {
        if stop.load(Ordering::Relaxed) {
            return false;
        }
        if stream.write_all(&[byte]).await.is_err() {
            return true;
        }
        // Anything read (an answer such as 408, or the end) means the
        // server gave up on us.
        let mut buf = [0u8; 512];
        if tokio::time::timeout(Duration::from_secs(1), stream.read(&mut buf))
            .await
            .is_ok()
        {
            return true;
        }
    }
    false
}

/// One hostile payload: its bytes, how many requests they hold, and how it
/// is delivered.
struct Attack {
    bytes: Vec<u8>,
    requests: u64,
    /// Close our side after sending (a truncated body, an unfinished head).
    half_close: bool,
}

/// A small deterministic generator: the same `n` is the same attack.
fn mix(mut x: u64) -> u64 {
    x ^= x >> 33;
    x = x.wrapping_mul(0xff51afd7ed558ccd);
    x ^= x >> 33;
    x = x.wrapping_mul(0xc4ceb9fe1a85ec53);
    x ^ (x >> 33)
}

fn garbage(seed: u64, len: usize) -> Vec<u8> {
    (0..len as u64).map(|i| mix(seed ^ i) as u8).collect()
}

fn request(method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Vec<u8> {
    let mut out = format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n");
    for (name, value) in headers {
        out.push_str(&format!("{name}: {value}\r\n"));
    }
    out.push_str(&format!(
        "Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    ));
    let mut bytes = out.into_bytes();
    bytes.extend_from_slice(body);
    bytes
}

/// The catalogue, one kind per `n` in turn.
fn attack(n: u64, keys: &Keys) -> Attack {
    let seed = mix(n);
    let single = |bytes| Attack {
        bytes,
        requests: 1,
        half_close: false,
    };
    let basic = ("Authorization", keys.basic.as_str());
    let form = ("Content-Type", "application/x-www-form-urlencoded");
    let json_type = ("Content-Type", "application/json");
    let platform = ("IM-API-KEY", keys.platform.as_str());
    let bearer = format!("Bearer {}", keys.token);
    let token = ("Authorization", bearer.as_str());
    // Meaningless to every parser, yet a valid URI (so a pipeline goes on
    // past it): bytes in hex, a broken escape, quotes and brackets escaped.
    let junk = format!(
        "{}%ZZ%27%22%3C%5B%00{}",
        garbage(seed, 12)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>(),
        seed % 1000
    );
    match n % 24 {
        // Bytes that are not HTTP at all.
        0 => single(garbage(seed, 1 + (seed % 2000) as usize)),
        // Broken request lines.
        1 => single(b"GET\r\n\r\n".to_vec()),
        2 => single(b"FETCH /api/v1/users/me HTTP/1.1\r\nHost: x\r\n\r\n".to_vec()),
        3 => single(b"GET /api/v1/users/me HTTP/9.9\r\nHost: x\r\n\r\n".to_vec()),
        // A header far past any bound; a thousand headers.
        4 => single(request("GET", "/api/v1/users/me", &[("X-Big", &"a".repeat(200_000))], b"")),
        5 => {
            let mut head = String::from("GET /api/v1/user_groups HTTP/1.1\r\nHost: x\r\n");
            for i in 0..1000 {
                head.push_str(&format!("X-H{i}: v\r\n"));
            }
            head.push_str("\r\n");
            single(head.into_bytes())
        }
        // A body announced but cut short; a length no one could send.
        6 => {
            let mut bytes = request("POST", "/api/v1/user_groups/create", &[basic, form], b"");
            let cut = bytes.len() - 4;
            bytes.truncate(cut);
            bytes.extend_from_slice(b"Content-Length: 5000\r\n\r\nname=truncated&members=%5B");
            Attack {
                bytes,
                requests: 1,
                half_close: true,
            }
        }
        7 => single(
            b"POST /admin/groups HTTP/1.1\r\nHost: x\r\nContent-Length: 999999999999\r\n\r\n{\"_id\":"
                .to_vec(),
        ),
        // Bodies that lie about what they are.
        8 => single(request("POST", "/api/v1/user_groups/create", &[basic, json_type], b"{\"name\": [}")),
        9 => single(request("POST", "/admin/groups", &[platform, form], b"_id=x&members=%ZZ")),
        10 => single(request(
            "POST",
            "/api/v1/user_groups/create",
            &[basic, form],
            &[b"name=".as_slice(), &garbage(seed, 64), b"&members=[1e999]"].concat(),
        )),
        11 => single(request(
            "POST",
            "/admin/groups",
            &[platform, json_type],
            &[b"{\"_id\":\"deep\",\"members\":".as_slice(), &b"[".repeat(100_000)].concat(),
        )),
        // Every face's parameters, mangled.
        12 => single(request("GET", &format!("/admin/groups?q={junk}&limit=-1&skip=1e9"), &[platform], b"")),
        13 => single(request(
            "GET",
            &format!("/scim/v2/Users?filter=userName%20eq%20{junk}%20or%20(((&startIndex=0&count=-5"),
            &[token],
            b"",
        )),
        14 => single(request(
            "PATCH",
            "/scim/v2/Groups/1",
            &[token, ("Content-Type", "application/scim+json")],
            format!(
                "{{\"schemas\":[\"urn:ietf:params:scim:api:messages:2.0:PatchOp\"],\"Operations\":[{{\"op\":\"remove\",\"path\":\"members[value eq {junk}\"}}]}}"
            )
            .as_bytes(),
        )),
        15 => single(request("GET", &format!("/cohort/v1/audit?cursor={junk}&limit=abc"), &[basic], b"")),
        16 => single(request(
            "GET",
            &format!("/api/v1/events?queue_id={junk}&last_event_id=zz&dont_block=maybe"),
            &[basic],
            b"",
        )),
        17 => single(request(
            "POST",
            "/cohort/v1/webhooks",
            &[basic, json_type],
            format!("{{\"url\":\"http://[::1]:0/{junk}\",\"events\":[7]}}").as_bytes(),
        )),
        18 => single(request(
            "POST",
            "/ui/login",
            &[form, ("Origin", "http://evil.example")],
            &[b"email=".as_slice(), &garbage(seed, 40), b"&api_key=%"].concat(),
        )),
        19 => single(request(
            "POST",
            "/ui/groups",
            &[form, ("Cookie", "cohort_session=forged")],
            b"name=x&csrf=nope",
        )),
        // Authorization that does not parse.
        20 => single(request("GET", "/api/v1/users/me", &[("Authorization", "Basic ###")], b"")),
        21 => single(request("GET", "/cohort/v1/realm", &[("Authorization", &format!("Bearer {junk}"))], b"")),
        // Twenty requests in one write, good and bad, read back in order.
        22 => {
            let mut bytes = Vec::new();
            for i in 0..20 {
                let path = match i % 4 {
                    0 => "/api/v1/user_groups".to_string(),
                    1 => format!("/api/v1/user_groups/{}/members", mix(seed ^ i) % 100),
                    2 => "/api/v1/users/me".to_string(),
                    _ => format!("/api/v1/{junk}"),
                };
                let mut one = request("GET", &path, &[basic], b"");
                if i < 19 {
                    // Only the last one closes the connection.
                    let text = String::from_utf8_lossy(&one).replace("Connection: close\r\n", "");
                    one = text.into_bytes();
                }
                bytes.extend(one);
            }
            Attack {
                bytes,
                requests: 20,
                half_close: false,
            }
        }
        // A head that never ends, closed by us.
        _ => Attack {
            bytes: b"GET /api/v1/users/me HTTP/1.1\r\nHost: x\r\nX-Unfinished: ".to_vec(),
            requests: 1,
            half_close: true,
        },
    }
}

/// Send one attack on a fresh connection and read every answer to it.
async fn send(addr: &str, attack: &Attack, tally: &Tally) {
    let Ok(mut stream) = TcpStream::connect(addr).await else {
        tally.connect_failures.fetch_add(1, Ordering::Relaxed);
        return;
    };
    // The server may close before taking everything (an oversized head):
    // a failed write is an expected answer, not our error.
    let _ = stream.write_all(&attack.bytes).await;
    if attack.half_close {
        let _ = stream.shutdown().await;
    }
    let mut buf = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(30), stream.read_to_end(&mut buf)).await;
    if read.is_err() {
        // Still open after 30 s: count it and move on.
        tally.closed_without_answer.fetch_add(1, Ordering::Relaxed);
        return;
    }
    let answered = parse_answers(&buf, tally);
    if answered == 0 {
        tally.closed_without_answer.fetch_add(1, Ordering::Relaxed);
    }
}

/// Count the HTTP/1 responses in `buf`; returns how many.
fn parse_answers(mut buf: &[u8], tally: &Tally) -> u64 {
    let mut count = 0;
    while !buf.is_empty() {
        let mut headers = [httparse::EMPTY_HEADER; 64];
        let mut response = httparse::Response::new(&mut headers);
        let Ok(httparse::Status::Complete(head)) = response.parse(buf) else {
            break;
        };
        let status = response.code.unwrap_or(0);
        tally.status(status);
        count += 1;
        let header = |name: &str| {
            response
                .headers
                .iter()
                .find(|h| h.name.eq_ignore_ascii_case(name))
                .map(|h| String::from_utf8_lossy(h.value).to_ascii_lowercase())
        };
        let rest = &buf[head..];
        let skipped = if header("transfer-encoding").is_some_and(|t| t.contains("chunked")) {
            chunked_len(rest)
        } else {
            header("content-length")
                .and_then(|l| l.trim().parse::<usize>().ok())
                .map(|l| l.min(rest.len()))
                .or(Some(rest.len()))
        };
        match skipped {
            Some(len) => buf = &rest[len..],
            None => break,
        }
    }
    count
}

/// The length of a chunked body at the start of `buf`, if whole.
fn chunked_len(buf: &[u8]) -> Option<usize> {
    let mut at = 0;
    loop {
        let line_end = buf[at..].windows(2).position(|w| w == b"\r\n")? + at;
        let size_text = std::str::from_utf8(&buf[at..line_end]).ok()?;
        let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
        at = line_end + 2 + size + 2;
        if size == 0 {
            return Some(at.min(buf.len()));
        }
        if at > buf.len() {
            return None;
        }
    }
}

/// Resident memory of `pid`, in KiB.
fn rss_kib(pid: u32) -> Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .context("no VmRSS")
}

/// Sockets `pid` holds open (listening one included).
fn sockets(pid: u32) -> Result<usize> {
    let mut n = 0;
    for entry in std::fs::read_dir(format!("/proc/{pid}/fd"))? {
        let link = std::fs::read_link(entry?.path()).unwrap_or_default();
        if link.to_string_lossy().starts_with("socket:") {
            n += 1;
        }
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_counted_through_lengths_and_chunks() {
        let tally = Tally::default();
        let two = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\nHTTP/1.1 503 X\r\nContent-Length: 0\r\n\r\n";
        assert_eq!(parse_answers(two, &tally), 3);
        assert_eq!(tally.by_class[2].load(Ordering::Relaxed), 1);
        assert_eq!(tally.by_class[4].load(Ordering::Relaxed), 1);
        assert_eq!(tally.by_class[5].load(Ordering::Relaxed), 1);
        assert_eq!(parse_answers(b"", &tally), 0);
        assert_eq!(parse_answers(b"garbage", &tally), 0);
    }

    #[test]
    fn every_kind_of_attack_is_made() {
        let keys = Keys {
            basic: "Basic x".into(),
            platform: "p".into(),
            token: "t".into(),
            owner: 1,
            member: 2,
        };
        let kinds: BTreeSet<Vec<u8>> = (0..48).map(|n| attack(n, &keys).bytes).collect();
        assert!(kinds.len() >= 24, "{} distinct attacks", kinds.len());
        assert_eq!(attack(22, &keys).requests, 20);
    }
}
