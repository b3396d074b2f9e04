//! zulip-js, Zulip's JavaScript client from npm, registering an event queue
//! and reading a `user_group` event from it (`common::node_package` finds
//! or installs it; if neither works the test fails: never skipped).

mod common;

use common::*;
use std::path::Path;
use std::process::Command;

/// The zulip-js version the check was written against (scripts/test.sh pins
/// the same one).
const ZULIP_JS_VERSION: &str = "2.1.0";

#[tokio::test]
async fn zulip_js_registers_and_reads_events() {
    let modules = node_package("zulip-js", ZULIP_JS_VERSION);
    let realm = Realm::new();
    let group = realm.create_group(&realm.owner, "for zulip-js", &[]).await;
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/node/zulip_js_events.cjs");
    let out = Command::new("node")
        .arg(&script)
        .arg(&realm.cohort.base)
        .arg(&realm.owner.email)
        .arg(&realm.owner.key)
        .arg(group.to_string())
        .arg(realm.member.id.to_string())
        .env("NODE_PATH", &modules)
        .output()
        .expect("run node");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "zulip-js failed:\n{stdout}\n{stderr}");
    assert!(stdout.contains("zulip-js events checks passed"), "{stdout}");
}
