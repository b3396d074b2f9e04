//! IMKIT's admin API driven by `axios` from npm, as IMKIT's documentation
//! examples call it (`common::node_package` finds or installs it; if neither
//! works the test fails: never skipped).

mod common;

use common::*;
use std::path::Path;
use std::process::Command;

/// The axios version the checks were written against (scripts/test.sh pins
/// the same one).
const AXIOS_VERSION: &str = "1.21.1";

#[test]
fn axios_drives_the_imkit_face_as_documented() {
    let modules = node_package("axios", AXIOS_VERSION);
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
