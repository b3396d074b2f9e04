//! The official Zulip Python client (`zulip` from PyPI) against a live server.
//!
//! The client runs from a virtualenv: `COHORT_PYTHON` names its interpreter
//! (the test script sets it up); without it, this test builds one under the
//! target directory with `pip install zulip`. If neither works the test fails:
//! this check is never skipped.

mod common;

use common::*;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The client version the checks were written against (scripts/test.sh pins
/// the same one).
const ZULIP_VERSION: &str = "0.9.1";
const ZULIP_CLIENT: &str = concat!("zulip==", "0.9.1");

/// The `zulip` version `python` has, if any.
fn client_version(python: &Path) -> Option<String> {
    let out = Command::new(python)
        .args([
            "-c",
            "import importlib.metadata as m; print(m.version('zulip'))",
        ])
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// Tests in this binary run in parallel; the first one builds the virtualenv
/// and the others wait for it, rather than racing to create the same one.
static VENV: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn python_with_zulip() -> PathBuf {
    if let Ok(python) = std::env::var("COHORT_PYTHON") {
        let python = PathBuf::from(python);
        assert_eq!(
            client_version(&python).as_deref(),
            Some(ZULIP_VERSION),
            "COHORT_PYTHON ({}) must have zulip {ZULIP_VERSION}",
            python.display()
        );
        return python;
    }
    let _building = VENV.lock().unwrap_or_else(|e| e.into_inner());
    let venv = Path::new(env!("CARGO_TARGET_TMPDIR")).join("zulip-venv");
    let python = venv.join("bin/python");
    // A cached venv with another version (the pin moved) is rebuilt.
    if client_version(&python).as_deref() != Some(ZULIP_VERSION) {
        let _ = std::fs::remove_dir_all(&venv);
        let made = Command::new("python3")
            .args(["-m", "venv"])
            .arg(&venv)
            .status();
        assert!(
            made.is_ok_and(|s| s.success()),
            "cannot create a virtualenv at {}",
            venv.display()
        );
        let installed = Command::new(&python)
            .args(["-m", "pip", "install", "--quiet", ZULIP_CLIENT])
            .status();
        assert!(
            installed.is_ok_and(|s| s.success()),
            "pip install {ZULIP_CLIENT} failed; set COHORT_PYTHON to an interpreter that has it"
        );
    }
    assert_eq!(
        client_version(&python).as_deref(),
        Some(ZULIP_VERSION),
        "{} lacks zulip {ZULIP_VERSION}",
        python.display()
    );
    python
}

fn zuliprc(realm: &Realm, name: &str, account: &Account) -> PathBuf {
    let path = realm.cohort.path(name);
    std::fs::write(
        &path,
        format!(
            "[api]\nemail={}\nkey={}\nsite={}\n",
            account.email, account.key, realm.cohort.base
        ),
    )
    .unwrap();
    path
}

/// Run `tests/python/{script}` with `args`; it must exit 0 and print `passed`.
fn run_check(python: &Path, script: &str, args: &[&std::ffi::OsStr], passed: &str) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/python")
        .join(script);
    let out = Command::new(python)
        .arg(&script)
        .args(args)
        .output()
        .expect("run python");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "{} failed:\n{stdout}\n{stderr}",
        script.display()
    );
    assert!(stdout.contains(passed), "{stdout}");
}

#[test]
fn official_python_client_drives_cohort() {
    let python = python_with_zulip();
    let realm = Realm::new();
    let owner_rc = zuliprc(&realm, "owner.zuliprc", &realm.owner);
    let member_rc = zuliprc(&realm, "member.zuliprc", &realm.member);
    run_check(
        &python,
        "zulip_client_check.py",
        &[
            owner_rc.as_os_str(),
            member_rc.as_os_str(),
            realm.member.id.to_string().as_ref(),
            realm.member2.id.to_string().as_ref(),
        ],
        "zulip client checks passed",
    );
}

/// Under a tight limit the client gets Zulip's `RATE_LIMIT_HIT` with
/// `retry-after`; waiting that long gets every write through, each once.
#[test]
fn the_client_gets_through_a_rate_limit_by_waiting_as_told() {
    let python = python_with_zulip();
    // Four at once, then one every 250 ms.
    let realm = Realm::with_server_args(&["--rate-limit", "4/1s"]);
    let owner_rc = zuliprc(&realm, "owner.zuliprc", &realm.owner);
    let script =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/python/rate_limit_check.py");
    let out = Command::new(&python)
        .arg(&script)
        .arg(&owner_rc)
        .arg("12")
        .arg(realm.member.id.to_string())
        .output()
        .expect("run python");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("rate limit checks passed"),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value =
        serde_json::from_str(stdout.lines().next().unwrap_or("")).expect("a JSON report");
    assert_eq!(report["created"], 12, "{report}");
    // The limit did bite (else this proves nothing).
    assert!(
        report["limited"].as_u64().is_some_and(|n| n >= 1),
        "{report}"
    );
}

/// `cohort init` writes a zuliprc that the client reads as it is.
#[test]
fn init_zuliprc_works_with_the_client() {
    let python = python_with_zulip();
    let (mut cohort, owner, _) = Cohort::init();
    cohort.start();
    // Point the zuliprc that init wrote at the test server's port.
    let written = std::fs::read_to_string(cohort.path("zuliprc")).unwrap();
    assert!(
        written.contains(&format!("email={}", owner.email)),
        "{written}"
    );
    assert!(written.contains(&format!("key={}", owner.key)), "{written}");
    let rc = written.replace("http://127.0.0.1:9991", &cohort.base);
    std::fs::write(cohort.path("zuliprc"), rc).unwrap();
    let out = Command::new(&python)
        .arg("-c")
        .arg("import zulip,sys; r=zulip.Client(config_file=sys.argv[1]).get_user_groups(); assert r['result']=='success', r; print(len(r['user_groups']))")
        .arg(cohort.path("zuliprc"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "8");
}

/// `register`, `get_events`, `deregister` and `call_on_each_event` from the
/// official client: exact event shapes for every group change, the system
/// groups following a role change, the deactivated-groups capability, bad
/// queue ids and `last_event_id`s, and an IMKIT write reaching a listener.
#[test]
fn official_python_client_follows_events() {
    let python = python_with_zulip();
    let realm = Realm::new();
    let upsert = realm
        .cohort
        .cli(&["realm", "set", "--group-upsert", "update"]);
    assert!(upsert.status.success(), "{upsert:?}");
    let owner_rc = zuliprc(&realm, "owner.zuliprc", &realm.owner);
    let member_rc = zuliprc(&realm, "member.zuliprc", &realm.member);
    run_check(
        &python,
        "zulip_events_check.py",
        &[
            owner_rc.as_os_str(),
            member_rc.as_os_str(),
            realm.cohort.base.as_ref(),
            realm.platform_key.as_ref(),
        ],
        "zulip events checks passed",
    );
}
