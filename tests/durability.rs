//! Acknowledged means durable: writers hammer a server, the server is killed
//! (SIGKILL, and separately SIGTERM), and after a restart every acknowledged
//! write is there and the change log replays to exactly the stored state.
//! Requests in flight when SIGTERM arrives are answered and durable.

mod common;

use base64::Engine as _;
use common::*;
use serde_json::Value;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

#[derive(Default)]
struct Acknowledged {
    groups: Vec<(i64, String)>,
    members: Vec<(i64, i64)>,
}

/// Writers that create groups and add members until the server goes away.
fn start_writers(
    realm: &Realm,
    writers: usize,
) -> (Arc<Mutex<Acknowledged>>, Vec<tokio::task::JoinHandle<()>>) {
    let acked = Arc::new(Mutex::new(Acknowledged::default()));
    let mut handles = Vec::new();
    for writer in 0..writers {
        let api = realm.api(&realm.owner);
        let acked = acked.clone();
        let (member, other) = (realm.member.id, realm.member2.id);
        handles.push(tokio::spawn(async move {
            for i in 0.. {
                let name = format!("w{writer}-{i}");
                let response = api
                    .http
                    .post(format!("{}/api/v1/user_groups/create", api.base))
                    .basic_auth(&api.email, Some(&api.key))
                    .form(&[
                        ("name", name.as_str()),
                        ("description", "durable"),
                        ("members", &format!("[{member}]")),
                    ])
                    .send()
                    .await;
                let Ok(response) = response else { return };
                if response.status() != 200 {
                    return;
                }
                let Ok(body) = response.json::<Value>().await else {
                    return;
                };
                let id = body["group_id"].as_i64().expect("group_id");
                acked.lock().unwrap().groups.push((id, name));
                let response = api
                    .http
                    .post(format!("{}/api/v1/user_groups/{id}/members", api.base))
                    .basic_auth(&api.email, Some(&api.key))
                    .form(&[("add", format!("[{other}]"))])
                    .send()
                    .await;
                match response {
                    Ok(r) if r.status() == 200 => acked.lock().unwrap().members.push((id, other)),
                    _ => return,
                }
            }
        }));
    }
    (acked, handles)
}

async fn assert_all_present(realm: &Realm, acked: &Acknowledged) {
    let body = realm.all_groups().await;
    let groups = body["user_groups"].as_array().expect("groups");
    for (id, name) in &acked.groups {
        let group = groups
            .iter()
            .find(|g| g["id"] == *id)
            .unwrap_or_else(|| panic!("acknowledged group {id} ({name}) is missing after restart"));
        assert_eq!(group["name"], name.as_str());
        assert!(group["members"]
            .as_array()
            .unwrap()
            .contains(&realm.member.id.into()));
    }
    for (id, user) in &acked.members {
        let group = groups.iter().find(|g| g["id"] == *id).unwrap();
        assert!(
            group["members"]
                .as_array()
                .unwrap()
                .contains(&(*user).into()),
            "acknowledged member {user} of group {id} is missing after restart"
        );
    }
}

fn assert_log_consistent(cohort: &Cohort) {
    let report = cohort.cli_json(&["check", "--json"]);
    assert_eq!(
        report["ok"], true,
        "change log and tables disagree: {report}"
    );
}

/// Wait until the writers have `count` acknowledged groups (a liveness bound,
/// not a write rate).
async fn await_acknowledged(acked: &Mutex<Acknowledged>, count: usize) {
    let started = Instant::now();
    while acked.lock().unwrap().groups.len() < count {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the writers never got {count} writes acknowledged"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_writes_survive_sigkill() {
    let mut realm = Realm::new();
    let (acked, writers) = start_writers(&realm, 8);
    await_acknowledged(&acked, 20).await;
    realm.cohort.kill();
    for writer in writers {
        writer.await.unwrap();
    }
    let acked = std::mem::take(&mut *acked.lock().unwrap());

    realm.cohort.start();
    assert_all_present(&realm, &acked).await;
    assert_log_consistent(&realm.cohort);
    // The restarted server takes writes again.
    realm.create_group(&realm.owner, "after-restart", &[]).await;
}

/// A create request whose headers are sent, with `Expect: 100-continue`,
/// and held until the server answers `100 Continue` (its handler is then
/// reading the body: the request is in flight); the body is sent by
/// `finish`.
struct HeldRequest {
    stream: TcpStream,
    rest: String,
    name: String,
}

impl HeldRequest {
    async fn start(addr: &str, account: &Account, name: &str, member: i64) -> HeldRequest {
        let body = format!("name={name}&description=in+flight&members=%5B{member}%5D");
        let auth = base64::engine::general_purpose::STANDARD
            .encode(format!("{}:{}", account.email, account.key));
        let mut stream = TcpStream::connect(addr).await.expect("connect");
        let head = format!(
            "POST /api/v1/user_groups/create HTTP/1.1\r\nHost: {addr}\r\n\
             Authorization: Basic {auth}\r\n\
             Content-Type: application/x-www-form-urlencoded\r\n\
             Content-Length: {}\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n",
            body.len()
        );
        stream.write_all(head.as_bytes()).await.expect("send");
        let mut interim = Vec::new();
        while !interim.ends_with(b"\r\n\r\n") {
            let mut byte = [0u8; 1];
            let read = stream.read(&mut byte).await.expect("an interim answer");
            assert_eq!(read, 1, "the server closed a held request");
            interim.push(byte[0]);
        }
        assert!(
            interim.starts_with(b"HTTP/1.1 100"),
            "{}",
            String::from_utf8_lossy(&interim)
        );
        HeldRequest {
            stream,
            rest: body,
            name: name.to_string(),
        }
    }

    /// Send the body; returns the status line and the body.
    async fn finish(mut self) -> (String, String, String) {
        self.stream
            .write_all(self.rest.as_bytes())
            .await
            .expect("the server dropped a request in flight");
        let mut reply = String::new();
        self.stream
            .read_to_string(&mut reply)
            .await
            .expect("no reply to a request in flight");
        let status = reply.lines().next().unwrap_or("").to_string();
        let body = reply.split("\r\n\r\n").nth(1).unwrap_or("").to_string();
        (self.name, status, body)
    }
}

/// Whether the server still takes new connections and answers on them.
async fn serves_new_connections(addr: &str) -> bool {
    let probe = async {
        let mut stream = TcpStream::connect(addr).await.ok()?;
        stream
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .await
            .ok()?;
        let mut reply = String::new();
        stream.read_to_string(&mut reply).await.ok()?;
        reply.starts_with("HTTP/1.1 200").then_some(())
    };
    matches!(
        tokio::time::timeout(Duration::from_secs(1), probe).await,
        Ok(Some(()))
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_shutdown_finishes_in_flight_writes() {
    let mut realm = Realm::new();
    let (acked, writers) = start_writers(&realm, 8);
    await_acknowledged(&acked, 10).await;
    let addr = realm
        .cohort
        .base
        .strip_prefix("http://")
        .expect("http base")
        .to_string();
    // Requests the server is reading when SIGTERM arrives (each has been
    // answered `100 Continue`: its handler waits for the body).
    let mut held = Vec::new();
    for i in 0..4 {
        let name = format!("held-{i}");
        held.push(HeldRequest::start(&addr, &realm.owner, &name, realm.member.id).await);
    }
    assert!(serves_new_connections(&addr).await);
    realm.cohort.terminate();
    // Shutdown has begun once new connections are no longer served.
    let started = Instant::now();
    while serves_new_connections(&addr).await {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "cohort kept taking connections after SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // Every request in flight at SIGTERM is answered, and succeeds.
    let mut held_groups = Vec::new();
    for request in held {
        let (name, status, body) = request.finish().await;
        assert!(
            status.starts_with("HTTP/1.1 200"),
            "{name} in flight at SIGTERM: {status} {body}"
        );
        let body: Value = serde_json::from_str(&body).expect("JSON reply");
        held_groups.push((body["group_id"].as_i64().expect("group_id"), name));
    }
    assert!(
        realm.cohort.stop(),
        "cohort did not exit cleanly on SIGTERM"
    );
    for writer in writers {
        writer.await.unwrap();
    }
    let mut acked = std::mem::take(&mut *acked.lock().unwrap());
    // ... and durable.
    acked.groups.extend(held_groups);
    realm.cohort.start();
    assert_all_present(&realm, &acked).await;
    assert_log_consistent(&realm.cohort);
}
