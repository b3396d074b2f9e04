//! Load generation: `oha` or `wrk` when installed (they are the verdict tools),
//! or a built-in keep-alive client for smoke runs. Every run is bounded in time
//! and aims at 127.0.0.1 only.

use anyhow::{bail, Context as _, Result};
use serde_json::Value;
use std::process::Command;
use std::time::{Duration, Instant};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tool {
    Oha,
    Wrk,
    Builtin,
}

impl Tool {
    pub fn name(self) -> &'static str {
        match self {
            Tool::Oha => "oha",
            Tool::Wrk => "wrk",
            Tool::Builtin => "built-in client",
        }
    }
}

pub fn installed(program: &str) -> bool {
    Command::new(program)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success() || !o.stdout.is_empty() || !o.stderr.is_empty())
}

#[derive(Clone, Debug, Default)]
pub struct Measured {
    pub requests_per_sec: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub bytes_per_sec: f64,
    pub errors: u64,
}

/// One bounded load run against `url` with `connections` keep-alive
/// connections, the client pinned to `cpu` when `taskset` exists.
pub fn run(
    tool: Tool,
    url: &str,
    header: Option<(&str, &str)>,
    connections: usize,
    duration: Duration,
    cpu: Option<usize>,
) -> Result<Measured> {
    let secs = duration.as_secs_f64().max(0.5);
    let mut command = match cpu.filter(|_| installed_taskset()) {
        Some(cpu) => {
            let mut c = Command::new("taskset");
            c.args(["-c", &cpu.to_string()]);
            c
        }
        None => Command::new("env"),
    };
    match tool {
        Tool::Oha => {
            command.args([
                "oha",
                "--no-tui",
                "--output-format",
                "json",
                "-c",
                &connections.to_string(),
            ]);
            command.args(["-z", &format!("{secs}s")]);
            if let Some((name, value)) = header {
                command.args(["-H", &format!("{name}: {value}")]);
            }
            command.arg(url);
            let out = command.output().context("running oha")?;
            if !out.status.success() {
                bail!("oha failed: {}", String::from_utf8_lossy(&out.stderr));
            }
            let json: Value = serde_json::from_slice(&out.stdout).context("oha's JSON")?;
            let summary = &json["summary"];
            let statuses = json["statusCodeDistribution"]
                .as_object()
                .cloned()
                .unwrap_or_default();
            let errors: u64 = statuses
                .iter()
                .filter(|(code, _)| !code.starts_with('2'))
                .map(|(_, n)| n.as_u64().unwrap_or(0))
                .sum::<u64>()
                + json["errorDistribution"]
                    .as_object()
                    .map(|e| {
                        // Requests still in flight when the time is up are not failures.
                        e.iter()
                            .filter(|(kind, _)| !kind.contains("deadline"))
                            .map(|(_, n)| n.as_u64().unwrap_or(0))
                            .sum()
                    })
                    .unwrap_or(0);
            Ok(Measured {
                requests_per_sec: summary["requestsPerSec"].as_f64().unwrap_or(0.0),
                p50_ms: json["latencyPercentiles"]["p50"].as_f64().unwrap_or(0.0) * 1000.0,
                p99_ms: json["latencyPercentiles"]["p99"].as_f64().unwrap_or(0.0) * 1000.0,
                bytes_per_sec: summary["sizePerSec"].as_f64().unwrap_or(0.0),
                errors,
            })
        }
        Tool::Wrk => {
            // A 10 s timeout, not wrk's 2 s: a slow peer (the SCIM scenario's)
            // must be measured, not abandoned mid-request.
            command.args(["wrk", "-t1", "--latency", "--timeout", "10s"]);
            command.args(["-c", &connections.to_string()]);
            command.args(["-d", &format!("{}s", secs.ceil() as u64)]);
            if let Some((name, value)) = header {
                command.args(["-H", &format!("{name}: {value}")]);
            }
            command.arg(url);
            let out = command.output().context("running wrk")?;
            let text = String::from_utf8_lossy(&out.stdout);
            if !out.status.success() {
                bail!("wrk failed: {text}");
            }
            parse_wrk(&text)
        }
        Tool::Builtin => {
            let exe = std::env::current_exe()?;
            command.arg(exe).args([
                "load",
                "--url",
                url,
                "--connections",
                &connections.to_string(),
            ]);
            command.args(["--millis", &((secs * 1000.0) as u64).to_string()]);
            if let Some((name, value)) = header {
                command.args(["--header", &format!("{name}: {value}")]);
            }
            let out = command.output().context("running the built-in client")?;
            if !out.status.success() {
                bail!(
                    "built-in client failed: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
            }
            let json: Value = serde_json::from_slice(&out.stdout)?;
            Ok(Measured {
                requests_per_sec: json["requests_per_sec"].as_f64().unwrap_or(0.0),
                p50_ms: json["p50_ms"].as_f64().unwrap_or(0.0),
                p99_ms: json["p99_ms"].as_f64().unwrap_or(0.0),
                bytes_per_sec: json["bytes_per_sec"].as_f64().unwrap_or(0.0),
                errors: json["errors"].as_u64().unwrap_or(0),
            })
        }
    }
}

fn installed_taskset() -> bool {
    Command::new("taskset")
        .arg("-V")
        .output()
        .is_ok_and(|o| o.status.success())
}

fn wrk_duration_ms(text: &str) -> Option<f64> {
    let text = text.trim();
    let (number, unit) = text
        .find(|c: char| c.is_ascii_alphabetic())
        .map(|i| text.split_at(i))?;
    let value: f64 = number.parse().ok()?;
    Some(match unit {
        "us" => value / 1000.0,
        "ms" => value,
        "s" => value * 1000.0,
        "m" => value * 60_000.0,
        _ => return None,
    })
}

fn wrk_bytes(text: &str) -> Option<f64> {
    let text = text.trim();
    let i = text.find(|c: char| c.is_ascii_alphabetic())?;
    let value: f64 = text[..i].parse().ok()?;
    let scale = match &text[i..] {
        "B" => 1.0,
        "KB" => 1024.0,
        "MB" => 1024.0 * 1024.0,
        "GB" => 1024.0 * 1024.0 * 1024.0,
        _ => return None,
    };
    Some(value * scale)
}

fn parse_wrk(text: &str) -> Result<Measured> {
    let mut measured = Measured::default();
    for line in text.lines().map(str::trim) {
        let fields: Vec<&str> = line.split_whitespace().collect();
        match fields.as_slice() {
            ["Requests/sec:", value] => measured.requests_per_sec = value.parse().unwrap_or(0.0),
            ["Transfer/sec:", value] => measured.bytes_per_sec = wrk_bytes(value).unwrap_or(0.0),
            ["50%", value] => measured.p50_ms = wrk_duration_ms(value).unwrap_or(0.0),
            ["99%", value] => measured.p99_ms = wrk_duration_ms(value).unwrap_or(0.0),
            ["Non-2xx", "or", "3xx", "responses:", value] => {
                measured.errors += value.parse().unwrap_or(0)
            }
            _ if line.starts_with("Socket errors") => measured.errors += 1,
            _ => {}
        }
    }
    if measured.requests_per_sec == 0.0 {
        bail!("could not read wrk's output:\n{text}");
    }
    Ok(measured)
}

/// The built-in client (`cohort-bench load`): `connections` tasks each looping
/// keep-alive GETs until the deadline.
pub async fn builtin(
    url: String,
    header: Option<String>,
    connections: usize,
    duration: Duration,
) -> Result<Value> {
    let header: Option<(String, String)> = header
        .as_deref()
        .and_then(|h| h.split_once(':'))
        .map(|(n, v)| (n.trim().to_string(), v.trim().to_string()));
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(connections)
        .build()?;
    let deadline = Instant::now() + duration;
    let mut tasks = Vec::new();
    for _ in 0..connections {
        let (client, url, header) = (client.clone(), url.clone(), header.clone());
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let (mut bytes, mut errors) = (0u64, 0u64);
            while Instant::now() < deadline {
                let started = Instant::now();
                let mut request = client.get(&url);
                if let Some((name, value)) = &header {
                    request = request.header(name.as_str(), value.as_str());
                }
                match request.send().await {
                    Ok(response) => {
                        let ok = response.status().is_success();
                        let body = response.bytes().await.map(|b| b.len()).unwrap_or(0);
                        bytes += body as u64;
                        if !ok {
                            errors += 1;
                        }
                    }
                    Err(_) => errors += 1,
                }
                latencies.push(started.elapsed());
            }
            (latencies, bytes, errors)
        }));
    }
    let started = Instant::now();
    let (mut latencies, mut bytes, mut errors) = (Vec::new(), 0u64, 0u64);
    for task in tasks {
        let (l, b, e) = task.await?;
        latencies.extend(l);
        bytes += b;
        errors += e;
    }
    let elapsed = started.elapsed().as_secs_f64().max(duration.as_secs_f64());
    latencies.sort();
    let pct = |p: f64| {
        latencies
            .get(((latencies.len().saturating_sub(1)) as f64 * p) as usize)
            .map(|d| d.as_secs_f64() * 1000.0)
            .unwrap_or(0.0)
    };
    Ok(serde_json::json!({
        "requests_per_sec": latencies.len() as f64 / elapsed,
        "p50_ms": pct(0.5),
        "p99_ms": pct(0.99),
        "bytes_per_sec": bytes as f64 / elapsed,
        "errors": errors,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_wrk_output() {
        let text = "Running 3s test @ http://127.0.0.1:1/\n  1 threads and 32 connections\n  Latency Distribution\n     50%  250.00us\n     75%  1.00ms\n     90%  2.00ms\n     99%    1.20ms\n  1000 requests in 3.00s, 2.00MB read\nRequests/sec:  33333.33\nTransfer/sec:      1.50MB\n";
        let m = parse_wrk(text).unwrap();
        assert_eq!(m.requests_per_sec, 33333.33);
        assert_eq!(m.p50_ms, 0.25);
        assert_eq!(m.p99_ms, 1.2);
        assert_eq!(m.bytes_per_sec, 1.5 * 1024.0 * 1024.0);
    }
}
