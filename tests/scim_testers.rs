//! The two public SCIM 2.0 conformance testers against a live server:
//! scim2-tester (through `scim2 … test`, from scim2-cli) and `scim-sanity
//! probe` in strict mode, both from PyPI at pinned versions.
//!
//! They run from the virtualenv named by `COHORT_SCIM_VENV`, which
//! scripts/test.sh builds under the target directory. Without it the tests
//! fail: these checks are never skipped.
//!
//! Each test starts `cohort serve` on a fresh realm (SQLite, or PostgreSQL
//! with `COHORT_TEST_STORE=postgres`); the harness runs `cohort check` when
//! it ends, so the thousands of writes the testers make must leave a change
//! log that replays to the stored tables.

mod common;

use common::*;
use serde_json::Value;
use std::io::Read;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Result lines a full scim2-tester 0.5.2 run prints against cohort's
/// published schemas: 67, counted on a passing run (User and Group CRUD,
/// attributes, search, and 6/6/9 PATCH add/remove/replace lines). A run that prints fewer lost
/// checks (a discovery failure stops the run early and can still exit 0; a
/// schema attribute that stopped being published drops its checks), so it
/// fails here. If the published schemas grow, raise this to the new count.
const SCIM2_TESTER_MIN_RESULTS: usize = 67;

/// `passed` in scim-sanity 0.7.4's strict probe: 28 of 31, counted on a
/// passing run (the other 3 are the Agent phases, skipped because cohort does
/// not advertise those resource types); a probe that passes fewer ran fewer
/// checks.
const SCIM_SANITY_MIN_PASSED: u64 = 28;

/// How long one tester may run before the test gives up on it.
const TESTER_TIMEOUT: Duration = Duration::from_secs(300);

fn scim_venv() -> PathBuf {
    let venv = std::env::var("COHORT_SCIM_VENV").unwrap_or_else(|_| {
        panic!(
            "COHORT_SCIM_VENV is not set: run scripts/test.sh, which installs the pinned SCIM \
             testers (scim2-tester, scim2-cli, scim-sanity) into a virtualenv under the target \
             directory and sets it (or point COHORT_SCIM_VENV at such a virtualenv yourself)"
        )
    });
    let venv = PathBuf::from(venv);
    for tool in ["scim2", "scim-sanity"] {
        assert!(
            venv.join("bin").join(tool).exists(),
            "COHORT_SCIM_VENV ({}) has no bin/{tool}: run scripts/test.sh to (re)build it",
            venv.display()
        );
    }
    venv
}

/// A fresh realm with its server running; returns it with its SCIM base URL
/// and token.
fn serve() -> (Cohort, String, String) {
    let (mut cohort, _owner, _platform) = Cohort::init();
    let token = cohort
        .scim_token
        .clone()
        .expect("`cohort init --json` printed no scim_token");
    cohort.start();
    let base = cohort.url("/scim/v2");
    (cohort, base, token)
}

/// Run `command` to completion (or kill it after `TESTER_TIMEOUT`); returns
/// its exit code (None if killed by a signal), stdout and stderr.
fn run(mut command: Command, what: &str) -> (Option<i32>, String, String, Duration) {
    let started = Instant::now();
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {what}: {e}"));
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let out = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stdout.read_to_string(&mut s);
        s
    });
    let err = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if started.elapsed() > TESTER_TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "{what} ran longer than {TESTER_TIMEOUT:?}; output so far:\n{}",
                out.join().unwrap()
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let elapsed = started.elapsed();
    (
        status.code(),
        out.join().unwrap(),
        err.join().unwrap(),
        elapsed,
    )
}

/// A scim2-tester result line: `<STATUS> <check_name>` at column 0.
fn result_line(line: &str) -> Option<(&str, &str)> {
    let (status, check) = line.split_once(' ')?;
    let is_status = !status.is_empty() && status.bytes().all(|b| b.is_ascii_uppercase());
    let is_check = !check.is_empty() && check.bytes().all(|b| b.is_ascii_lowercase() || b == b'_');
    (is_status && is_check).then_some((status, check))
}

#[test]
fn scim2_tester_passes_every_check() {
    let venv = scim_venv();
    let (_cohort, base, token) = serve();
    let mut command = Command::new(venv.join("bin/scim2"));
    // The token goes through the environment (not argv, where `ps` shows it).
    command
        .args(["--url", &base, "test"])
        .env("SCIM_CLI_HEADERS", format!("Authorization: Bearer {token}"))
        .env("NO_COLOR", "1");
    let (code, stdout, stderr, elapsed) = run(command, "scim2 test");
    eprintln!("scim2-tester ran in {elapsed:.1?}");

    let results: Vec<(&str, &str)> = stdout.lines().filter_map(result_line).collect();
    let successes = results.iter().filter(|(s, _)| *s == "SUCCESS").count();
    // Every line that is not SUCCESS, with the indented reason lines under it.
    let mut failures = String::new();
    let mut showing = false;
    for line in stdout.lines() {
        if let Some((status, _)) = result_line(line) {
            showing = status != "SUCCESS";
        }
        if showing {
            failures.push_str(line);
            failures.push('\n');
        }
    }
    eprintln!(
        "scim2-tester: exit {code:?}, {successes}/{} SUCCESS",
        results.len()
    );
    assert!(
        failures.is_empty() && code == Some(0),
        "scim2-tester: exit {code:?}, {successes}/{} SUCCESS; the other checks:\n{failures}\nstderr:\n{stderr}",
        results.len()
    );
    assert!(
        results.len() >= SCIM2_TESTER_MIN_RESULTS,
        "scim2-tester printed {} results, fewer than the {SCIM2_TESTER_MIN_RESULTS} of a full run \
         (checks went missing):\n{stdout}\nstderr:\n{stderr}",
        results.len()
    );
}

#[test]
fn scim_sanity_strict_probe_passes() {
    let venv = scim_venv();
    let (_cohort, base, token) = serve();
    let mut command = Command::new(venv.join("bin/scim-sanity"));
    command.args([
        "probe",
        &base,
        "--token",
        &token,
        "--strict",
        "--i-accept-side-effects",
        "--json-output",
    ]);
    let (code, stdout, stderr, elapsed) = run(command, "scim-sanity probe");
    eprintln!("scim-sanity ran in {elapsed:.1?}");

    let report: Value = serde_json::from_str(&stdout).unwrap_or_else(|e| {
        panic!("scim-sanity printed no JSON report ({e}), exit {code:?}:\n{stdout}\n{stderr}")
    });
    let summary = &report["summary"];
    let count = |key: &str| {
        summary[key]
            .as_u64()
            .unwrap_or_else(|| panic!("summary.{key} missing: {summary}"))
    };
    let (passed, failed, errors, warnings) = (
        count("passed"),
        count("failed"),
        count("errors"),
        count("warnings"),
    );
    let results = report["results"].as_array().cloned().unwrap_or_default();
    let with_status = |wanted: &[&str]| -> String {
        results
            .iter()
            .filter(|r| {
                let status = r["status"].as_str().unwrap_or("").to_ascii_lowercase();
                wanted.contains(&status.as_str())
            })
            .map(|r| {
                format!(
                    "  [{}] {} | {} | {}\n",
                    r["status"].as_str().unwrap_or("?"),
                    r["phase"].as_str().unwrap_or(""),
                    r["name"].as_str().unwrap_or(""),
                    r["message"].as_str().unwrap_or("")
                )
            })
            .collect()
    };
    eprintln!(
        "scim-sanity: exit {code:?}, passed {passed}, failed {failed}, errors {errors}, warnings {warnings}, skipped {}",
        summary["skipped"]
    );
    if warnings > 0 {
        eprintln!("scim-sanity warnings:\n{}", with_status(&["warn"]));
    }
    assert!(
        failed == 0 && errors == 0 && code == Some(0),
        "scim-sanity (strict): exit {code:?}, {failed} failed, {errors} errors:\n{}\nissues: {}\nstderr:\n{stderr}",
        with_status(&["fail", "error"]),
        report["issues"]
    );
    assert!(
        passed >= SCIM_SANITY_MIN_PASSED,
        "scim-sanity passed {passed} checks, fewer than the {SCIM_SANITY_MIN_PASSED} of a full \
         run (checks went missing):\n{stdout}"
    );
}
