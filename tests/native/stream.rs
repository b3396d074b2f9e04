//! `GET /cohort/v1/stream` over real sockets: live events from every face
//! with the audit trail's ids, resuming with `Last-Event-ID` (the union of
//! the pieces is exactly the log), a client that stops reading and catches
//! up from the log, the `reset` after a prune, who may follow, and every bad
//! `Last-Event-ID`. The browser-grade client (`eventsource` from npm, which
//! reconnects by itself) is driven in `stream_eventsource`.

use super::*;
use serde_json::Value;
use std::time::Duration;

/// One Server-Sent Event as received.
#[derive(Clone, Debug, PartialEq)]
pub struct Sse {
    pub id: Option<String>,
    pub event: String,
    pub data: String,
}

/// A streaming response read event by event.
pub struct SseReader {
    response: reqwest::Response,
    buffer: String,
}

impl SseReader {
    pub async fn open(native: &Native, last_event_id: Option<&str>) -> SseReader {
        let mut request = native
            .http
            .get(format!("{}/cohort/v1/stream", native.base))
            .timeout(Duration::from_secs(600));
        if let Some(auth) = &native.authorization {
            request = request.header("authorization", auth);
        }
        if let Some(id) = last_event_id {
            request = request.header("last-event-id", id);
        }
        let response = request.send().await.expect("stream request");
        assert_eq!(response.status(), 200);
        assert_eq!(
            response.headers()["content-type"].to_str().unwrap(),
            "text/event-stream"
        );
        SseReader {
            response,
            buffer: String::new(),
        }
    }

    /// The next event (comments and `retry:` skipped), or `None` when the
    /// stream ends or nothing comes within `wait`.
    pub async fn next(&mut self, wait: Duration) -> Option<Sse> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            while let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let (mut id, mut event, mut data) = (None, "message".to_string(), Vec::new());
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("id: ") {
                        id = Some(v.to_string());
                    } else if let Some(v) = line.strip_prefix("event: ") {
                        event = v.to_string();
                    } else if let Some(v) = line.strip_prefix("data: ") {
                        data.push(v);
                    }
                }
                if !data.is_empty() {
                    return Some(Sse {
                        id,
                        event,
                        data: data.join("\n"),
                    });
                }
            }
            let chunk = tokio::time::timeout_at(deadline, self.response.chunk())
                .await
                .ok()?
                .ok()??;
            self.buffer.push_str(&String::from_utf8_lossy(&chunk));
        }
    }
}

/// The ids of every audit event after version `after` (oldest first).
async fn log_ids(native: &Native, after_version: u64) -> Vec<String> {
    let mut ids = Vec::new();
    let mut path = "/audit?limit=1000".to_string();
    loop {
        let page = native.get(&path).await.ok(200).clone();
        for e in page["events"].as_array().unwrap() {
            if e["version"].as_u64().unwrap() > after_version {
                ids.push(e["id"].as_str().unwrap().to_string());
            }
        }
        match page["next"].as_str() {
            Some(next) => path = next.trim_start_matches("/cohort/v1").to_string(),
            None => return ids,
        }
    }
}

async fn realm_version(native: &Native) -> u64 {
    native.get("/realm").await.ok(200)["version"]
        .as_u64()
        .unwrap()
}

/// Wait until the stream has sent its `retry:` line, so it is following.
async fn following(reader: &mut SseReader) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !reader.buffer.contains("retry: ") {
        let chunk = tokio::time::timeout_at(deadline, reader.response.chunk())
            .await
            .expect("the stream starts")
            .expect("a chunk")
            .expect("not ended");
        reader.buffer.push_str(&String::from_utf8_lossy(&chunk));
    }
}

#[tokio::test]
async fn live_events_from_every_face_carry_the_audit_ids() {
    let realm = Realm::new();
    let native = Native::basic(&realm.cohort.base, &realm.owner);
    let start = realm_version(&native).await;
    let mut stream = SseReader::open(&native, None).await;
    following(&mut stream).await;
    // Zulip, IMKIT and SCIM each make a change.
    let zulip_group = realm
        .create_group(&realm.owner, "from zulip", &[realm.member.id])
        .await;
    let imkit = reqwest::Client::new()
        .post(realm.cohort.url("/admin/groups"))
        .header("IM-API-KEY", &realm.platform_key)
        .json(&serde_json::json!({"_id": "from-imkit", "nickname": "from imkit"}))
        .send()
        .await
        .unwrap();
    assert!(imkit.status().is_success(), "{:?}", imkit.text().await);
    let scim = reqwest::Client::new()
        .post(realm.cohort.url("/scim/v2/Groups"))
        .bearer_auth(&realm.scim_token)
        .json(&serde_json::json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
            "displayName": "from scim"
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(scim.status(), 201, "{:?}", scim.text().await);
    let end = realm_version(&native).await;
    let expected = log_ids(&native, start).await;
    let mut got = Vec::new();
    let mut faces = Vec::new();
    while got.len() < expected.len() {
        let event = stream
            .next(Duration::from_secs(10))
            .await
            .unwrap_or_else(|| panic!("only {got:?} of {expected:?}"));
        let data: Value = serde_json::from_str(&event.data).unwrap();
        assert_eq!(event.id.as_deref(), data["id"].as_str());
        assert_eq!(event.event, data["type"].as_str().unwrap());
        if data["type"] == "group.created" {
            faces.push((
                data["group"]["name"].as_str().unwrap().to_string(),
                data["actor"]["face"].as_str().unwrap().to_string(),
            ));
        }
        got.push(event.id.unwrap());
    }
    assert_eq!(got, expected, "versions {start}..{end}");
    assert_eq!(
        faces,
        [
            ("from zulip".to_string(), "zulip".to_string()),
            ("from imkit".to_string(), "imkit".to_string()),
            ("from scim".to_string(), "scim".to_string()),
        ]
    );
    let _ = zulip_group;
}

#[tokio::test]
async fn resuming_with_last_event_id_gives_exactly_the_log() {
    let realm = Realm::new();
    let native = Native::basic(&realm.cohort.base, &realm.owner);
    let start = realm_version(&native).await;
    let first = format!("1-{start}-{}", u32::MAX);
    let mut got = Vec::new();
    // Read three events at a time, disconnecting after each three, while
    // changes keep coming; every reconnect says where it stopped.
    let writer = {
        let realm_api = realm.api(&realm.owner);
        tokio::spawn(async move {
            for i in 0..12 {
                assert_success(
                    &realm_api
                        .post(
                            "/user_groups/create",
                            &[
                                ("name", format!("g{i}")),
                                ("description", String::new()),
                                ("members", "[]".into()),
                            ],
                        )
                        .await,
                );
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
    };
    let realm_id = native.get("/realm").await.ok(200)["id"].as_i64().unwrap();
    let first = first.replacen("1-", &format!("{realm_id}-"), 1);
    let mut last = first.clone();
    for _ in 0..40 {
        let mut stream = SseReader::open(&native, Some(&last)).await;
        for _ in 0..3 {
            match stream.next(Duration::from_millis(500)).await {
                Some(event) => {
                    last = event.id.clone().unwrap();
                    got.push(last.clone());
                }
                None => break,
            }
        }
        if writer.is_finished() && got.len() >= 12 {
            break;
        }
    }
    writer.await.unwrap();
    // Whatever is left, in one last piece.
    let mut stream = SseReader::open(&native, Some(&last)).await;
    while let Some(event) = stream.next(Duration::from_millis(500)).await {
        got.push(event.id.unwrap());
    }
    assert_eq!(got, log_ids(&native, start).await);
}

#[tokio::test]
async fn a_client_that_stops_reading_catches_up_from_the_log() {
    let realm = Realm::new();
    let native = Native::basic(&realm.cohort.base, &realm.owner);
    let start = realm_version(&native).await;
    let mut stream = SseReader::open(&native, None).await;
    following(&mut stream).await;
    // 1,200 description changes of ~10,000 characters while the client reads
    // nothing: each event carries the text before and after (~20 KB), so
    // together they are more than the socket buffers, the client's buffer
    // and the realm feed's hold, and the server must fall back to reading
    // the log for this client.
    let api = realm.api(&realm.owner);
    let group = realm.create_group(&realm.owner, "busy", &[]).await;
    for i in 0..1200 {
        let text = format!("{i:05}").repeat(1_999);
        assert_success(
            &api.patch(&format!("/user_groups/{group}"), &[("description", text)])
                .await,
        );
    }
    let expected = log_ids(&native, start).await;
    assert!(expected.len() > 1200);
    let mut got = Vec::new();
    while got.len() < expected.len() {
        match stream.next(Duration::from_secs(10)).await {
            Some(event) => got.push(event.id.unwrap()),
            None => break,
        }
    }
    assert_eq!(got, expected);
    let metrics = reqwest::get(realm.cohort.url("/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let caught_up = metrics
        .lines()
        .find_map(|l| l.strip_prefix("cohort_stream_caught_up_from_log_total "))
        .and_then(|n| n.trim().parse::<f64>().ok())
        .unwrap_or(0.0);
    assert!(
        caught_up >= 1.0,
        "the client never fell behind the feed: {caught_up}"
    );
}

#[tokio::test]
async fn who_may_follow_and_bad_last_event_ids() {
    let realm = Realm::new();
    let owner = Native::basic(&realm.cohort.base, &realm.owner);
    let version = realm_version(&owner).await;
    let realm_id = owner.get("/realm").await.ok(200)["id"].as_i64().unwrap();
    let events = token(&realm, "dashboard", "events").await;
    let auditor = token(&realm, "auditor", "audit:read").await;
    let mut ok = SseReader::open(&Native::bearer(&realm.cohort.base, &events), None).await;
    following(&mut ok).await;
    for (native, status, code) in [
        (
            Native::bearer(&realm.cohort.base, &auditor),
            403,
            "forbidden",
        ),
        (
            Native::basic(&realm.cohort.base, &realm.member),
            403,
            "forbidden",
        ),
        (
            Native::basic(&realm.cohort.base, &realm.bot),
            403,
            "forbidden",
        ),
        (Native::anonymous(&realm.cohort.base), 401, "unauthorized"),
    ] {
        assert_error(&native.get("/stream").await, status, code, None);
    }
    let bad = |id: &str| format!("/stream?last_event_id={id}");
    for id in [
        "garbage".to_string(),
        format!("{realm_id}-x-0"),
        format!("{realm_id}--1-0"),
        format!("{realm_id}-1"),
        format!("{realm_id}-1-0-0"),
        // Another realm's id reads as garbage.
        format!("{}-1-0", realm_id + 1),
        // Ahead of the log.
        format!("{realm_id}-{}-0", version + 1000),
    ] {
        assert_error(
            &owner.get(&bad(&id)).await,
            400,
            "invalid_parameter",
            Some("last_event_id"),
        );
    }
    // The header is read the same way.
    let reply = owner
        .http
        .get(format!("{}/cohort/v1/stream", owner.base))
        .header("authorization", owner.authorization.clone().unwrap())
        .header("last-event-id", "nope")
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), 400);
    // Revoking the token ends its stream at the next change.
    let revoked = realm.cohort.cli(&["token", "revoke", "dashboard"]);
    assert!(revoked.status.success(), "{revoked:?}");
    realm.create_group(&realm.owner, "after revoke", &[]).await;
    let mut ended = false;
    for _ in 0..50 {
        match ok.next(Duration::from_millis(200)).await {
            None if ok.response.chunk().await.ok().flatten().is_none() => {
                ended = true;
                break;
            }
            _ => {}
        }
    }
    assert!(ended, "the revoked token's stream went on");
}

#[tokio::test]
async fn an_id_older_than_the_log_gets_a_reset() {
    let realm = Realm::new();
    let native = Native::basic(&realm.cohort.base, &realm.owner);
    let realm_id = native.get("/realm").await.ok(200)["id"].as_i64().unwrap();
    realm.create_group(&realm.owner, "old", &[]).await;
    tokio::time::sleep(Duration::from_millis(30)).await;
    let cut = super::history::moment().await;
    tokio::time::sleep(Duration::from_millis(30)).await;
    let pruned = realm
        .cohort
        .cli_json(&["log", "prune", "--before", &cut, "--json"]);
    let kept_from = pruned["checkpoint_version"].as_u64().unwrap();
    // The server learns of the prune from the log.
    let deadline = Instant::now() + Duration::from_secs(10);
    while realm_version(&native).await <= kept_from {
        assert!(Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut stream = SseReader::open(&native, Some(&format!("{realm_id}-2-0"))).await;
    let reset = stream.next(Duration::from_secs(5)).await.expect("a reset");
    assert_eq!(reset.event, "reset");
    assert_eq!(reset.id, None);
    let data: Value = serde_json::from_str(&reset.data).unwrap();
    assert_eq!(data["reason"], "pruned");
    // Then the log from the oldest version kept: the prune's own record.
    let next = stream.next(Duration::from_secs(5)).await.expect("the rest");
    assert_eq!(next.event, "log.pruned");
    assert_eq!(next.id.unwrap(), log_ids(&native, kept_from).await[0]);
}

/// The `eventsource` version the check was written against (scripts/test.sh
/// pins the same one).
const EVENTSOURCE_VERSION: &str = "4.1.1";

/// A real EventSource client follows the stream while cohort is killed and
/// started again on the same address: it reconnects by itself with
/// `Last-Event-ID`, and what it received is exactly the log, in order, each
/// event once.
#[tokio::test]
async fn eventsource_resumes_across_a_server_restart() {
    use std::io::{BufRead, BufReader};
    let modules = node_package("eventsource", EVENTSOURCE_VERSION);
    let mut realm = Realm::new();
    let native = Native::basic(&realm.cohort.base, &realm.owner);
    let secret = token(&realm, "dashboard", "events").await;
    let start = realm_version(&native).await;
    let types: Vec<String> = native.get("/openapi.json").await.ok(200)["paths"]["/cohort/v1/audit"]
        ["get"]["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "type")
        .and_then(|p| p["description"].as_str())
        .map(|d| {
            d.split('`')
                .filter(|t| t.contains('.') && !t.contains(' ') && !t.contains(','))
                .map(str::to_string)
                .collect()
        })
        .unwrap();
    assert!(types.iter().any(|t| t == "group.member_added"), "{types:?}");
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/node/stream_eventsource.cjs");
    let mut child = std::process::Command::new("node")
        .arg(&script)
        .arg(realm.cohort.url("/cohort/v1/stream"))
        .arg(&secret)
        .arg(types.join(","))
        .arg("the end")
        .env("NODE_PATH", &modules)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("run node");
    let (lines_tx, lines) = std::sync::mpsc::channel::<Value>();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = lines_tx.send(serde_json::from_str(&line).unwrap_or(Value::String(line)));
        }
    });
    let wait_for = |what: &str| loop {
        let line = lines
            .recv_timeout(Duration::from_secs(20))
            .unwrap_or_else(|_| panic!("no {what} from the client"));
        if line.get(what).is_some() {
            return line;
        }
    };
    wait_for("open");
    for i in 0..5 {
        realm
            .create_group(&realm.owner, &format!("before {i}"), &[])
            .await;
    }
    // Killed while the client is connected; changes made while it is down
    // (through the CLI, straight into the database) must reach it too.
    realm.cohort.kill();
    realm
        .cohort
        .add_user("down@test.example", "Made While Down", "member", false);
    realm.cohort.restart_in_place();
    for i in 0..5 {
        realm
            .create_group(&realm.owner, &format!("after {i}"), &[])
            .await;
    }
    realm.create_group(&realm.owner, "the end", &[]).await;
    let status = tokio::task::spawn_blocking(move || child.wait())
        .await
        .unwrap()
        .unwrap();
    let mut received = Vec::new();
    // The first open was waited for above; any other is a reconnect.
    let mut reopened = 0;
    while let Ok(line) = lines.try_recv() {
        if line.get("open").is_some() {
            reopened += 1;
        }
        if let Some(id) = line.get("id").and_then(Value::as_str) {
            assert_eq!(line["same_id"], true, "{line}");
            received.push(id.to_string());
        }
        assert!(line.get("timeout").is_none(), "the client timed out");
    }
    assert!(status.success(), "the client failed: {status:?}");
    assert!(reopened >= 1, "the client never reconnected");
    let native = Native::basic(&realm.cohort.base, &realm.owner);
    assert_eq!(received, log_ids(&native, start).await);
}

/// A graceful stop does not wait for open streams: they end, and the server
/// exits cleanly.
#[tokio::test]
async fn open_streams_end_when_the_server_stops() {
    let mut realm = Realm::new();
    let native = Native::basic(&realm.cohort.base, &realm.owner);
    let mut stream = SseReader::open(&native, None).await;
    following(&mut stream).await;
    let started = Instant::now();
    let stopped = tokio::task::spawn_blocking(move || {
        let clean = realm.cohort.stop();
        (clean, realm)
    });
    assert_eq!(stream.next(Duration::from_secs(20)).await, None);
    let (clean, _realm) = stopped.await.unwrap();
    assert!(clean, "cohort did not exit cleanly");
    assert!(started.elapsed() < Duration::from_secs(15));
}
