//! IMKIT's admin API driven by `axios` from npm, as IMKIT's documentation
//! examples call it. `COHORT_NODE_PATH` names a node_modules directory holding
//! axios (the test script installs one); without it this test installs axios
//! under the target directory. If neither works the test fails: never skipped.

mod common;

use common::*;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The axios version the checks were written against (scripts/test.sh pins
/// the same one).
const AXIOS_VERSION: &str = "1.21.1";
const AXIOS: &str = "axios@1.21.1";

/// The axios version installed in `modules`, if any.
fn axios_version(modules: &Path) -> Option<String> {
    let text = std::fs::read_to_string(modules.join("axios/package.json")).ok()?;
    let package: serde_json::Value = serde_json::from_str(&text).ok()?;
    package["version"].as_str().map(str::to_string)
}

fn node_modules() -> PathBuf {
    if let Ok(path) = std::env::var("COHORT_NODE_PATH") {
        let modules = PathBuf::from(path);
        assert_eq!(
            axios_version(&modules).as_deref(),
            Some(AXIOS_VERSION),
            "COHORT_NODE_PATH ({}) must hold axios {AXIOS_VERSION}",
            modules.display()
        );
        return modules;
    }
    let prefix = Path::new(env!("CARGO_TARGET_TMPDIR")).join("imkit-node");
    let modules = prefix.join("node_modules");
    // A cached install of another version (the pin moved) is replaced.
    if axios_version(&modules).as_deref() != Some(AXIOS_VERSION) {
        let _ = std::fs::remove_dir_all(&prefix);
        std::fs::create_dir_all(&prefix).unwrap();
        let installed = Command::new("npm")
            .args([
                "install",
                "--no-save",
                "--no-audit",
                "--no-fund",
                "--prefix",
            ])
            .arg(&prefix)
            .arg(AXIOS)
            .status();
        assert!(
            installed.is_ok_and(|s| s.success()),
            "npm install {AXIOS} failed; set COHORT_NODE_PATH to a node_modules with axios"
        );
    }
    modules
}

#[test]
fn axios_drives_the_imkit_face_as_documented() {
    let modules = node_modules();
    let realm = Realm::new();
    let script =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/node/imkit_axios_check.cjs");
    let out = Command::new("node")
        .arg(&script)
        .arg(&realm.cohort.base)
        .arg(&realm.platform_key)
        .env("NODE_PATH", &modules)
        .output()
        .expect("run node");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "the axios checks failed:\n{stdout}\n{stderr}"
    );
    assert!(stdout.contains("imkit axios checks passed"), "{stdout}");
}
