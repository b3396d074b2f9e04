//! Connection limits over real sockets: a slow request head is closed after
//! the header timeout while other clients are served; oversized heads and
//! too many headers get 431; a slow body is cut off; the connection cap
//! holds (counted from the server's own open sockets) and clients waiting
//! behind it are served once idle connections are dropped; an idle
//! kept-alive connection is closed after the idle timeout, while a
//! long-lived event stream outlives every timeout.

mod common;

use common::*;
use std::collections::HashSet;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

fn address(realm: &Realm) -> String {
    realm.cohort.base.trim_start_matches("http://").to_string()
}

fn port(realm: &Realm) -> u16 {
    address(realm)
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .expect("a port")
}

/// Connections the server process has accepted on its port: its socket
/// file descriptors that are established TCP connections with that local
/// port (the kernel's backlog holds connections not yet accepted; those
/// are not the process's).
fn accepted(pid: u32, port: u16) -> usize {
    let inodes: HashSet<String> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .expect("/proc/PID/fd")
        .filter_map(|entry| std::fs::read_link(entry.ok()?.path()).ok())
        .filter_map(|link| {
            let link = link.to_string_lossy().to_string();
            Some(
                link.strip_prefix("socket:[")?
                    .strip_suffix(']')?
                    .to_string(),
            )
        })
        .collect();
    let mut count = 0;
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let Ok(text) = std::fs::read_to_string(table) else {
            continue;
        };
        for line in text.lines().skip(1) {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let local_port = fields
                .get(1)
                .and_then(|a| a.rsplit(':').next())
                .and_then(|p| u16::from_str_radix(p, 16).ok());
            let established = fields.get(3) == Some(&"01");
            if local_port == Some(port)
                && established
                && fields.get(9).is_some_and(|i| inodes.contains(*i))
            {
                count += 1;
            }
        }
    }
    count
}

/// Read until the server closes the connection (or `within` passes: then
/// `None`). Returns what was read.
async fn until_closed(stream: &mut TcpStream, within: Duration) -> Option<Vec<u8>> {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + within;
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Err(_) => return None,
            Ok(Ok(0)) | Ok(Err(_)) => return Some(got),
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
        }
    }
}

async fn healthz(realm: &Realm) -> u16 {
    reqwest::Client::new()
        .get(realm.cohort.url("/healthz"))
        .timeout(Duration::from_secs(30))
        .send()
        .await
        .expect("healthz")
        .status()
        .as_u16()
}

#[tokio::test]
async fn a_slow_request_head_is_closed_while_others_are_served() {
    let realm = Realm::with_server_args(&["--header-timeout-secs", "2"]);
    let mut slow = TcpStream::connect(address(&realm)).await.expect("connect");
    let head =
        b"GET /healthz HTTP/1.1\r\nhost: 127.0.0.1\r\nx-padding: slowly-slowly-slowly\r\n\r\n";
    let started = Instant::now();
    let mut sent = 0;
    let mut closed = false;
    // A byte a second: the whole head would take over a minute.
    for byte in head.iter() {
        if slow.write_all(&[*byte]).await.is_err() {
            closed = true;
            break;
        }
        sent += 1;
        // Meanwhile other clients are served.
        assert_eq!(healthz(&realm).await, 200);
        let mut probe = [0u8; 1];
        if let Ok(read) = tokio::time::timeout(Duration::from_secs(1), slow.read(&mut probe)).await
        {
            // The server closed it (perhaps after a 408).
            assert!(matches!(read, Ok(0) | Ok(1) | Err(_)));
            closed = true;
            break;
        }
    }
    assert!(closed, "a head sent a byte a second was never cut off");
    assert!(sent < head.len(), "the whole head went through");
    assert!(sent >= 1, "closed before anything was sent");
    assert!(started.elapsed() < Duration::from_secs(30));
    assert_eq!(healthz(&realm).await, 200);
}

#[tokio::test]
async fn oversized_heads_and_too_many_headers_get_431() {
    let realm = Realm::with_server_args(&["--max-header-bytes", "8192", "--max-headers", "20"]);
    let http = reqwest::Client::new();
    let big = "x".repeat(10_000);
    let response = http
        .get(realm.cohort.url("/healthz"))
        .header("x-big", &big)
        .send()
        .await
        .expect("an answer");
    assert_eq!(response.status(), 431);
    let mut many = http.get(realm.cohort.url("/healthz"));
    for n in 0..30 {
        many = many.header(format!("x-header-{n}"), "v");
    }
    assert_eq!(many.send().await.expect("an answer").status(), 431);
    // Within the bounds: served.
    let mut fine = http
        .get(realm.cohort.url("/healthz"))
        .header("x-big", "x".repeat(4000));
    for n in 0..10 {
        fine = fine.header(format!("x-header-{n}"), "v");
    }
    assert_eq!(fine.send().await.expect("an answer").status(), 200);
}

#[tokio::test]
async fn a_slow_request_body_is_cut_off() {
    let realm = Realm::with_server_args(&["--body-timeout-secs", "2"]);
    let mut stream = TcpStream::connect(address(&realm)).await.expect("connect");
    let auth = {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD
            .encode(format!("{}:{}", realm.owner.email, realm.owner.key))
    };
    let body = "name=slow&description=d&members=%5B%5D";
    let head = format!(
        "POST /api/v1/user_groups/create HTTP/1.1\r\nhost: 127.0.0.1\r\nauthorization: Basic {auth}\r\ncontent-type: application/x-www-form-urlencoded\r\ncontent-length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.expect("write head");
    // Two bytes, then nothing: the body never completes.
    stream
        .write_all(&body.as_bytes()[..2])
        .await
        .expect("write");
    let answer = until_closed(&mut stream, Duration::from_secs(20))
        .await
        .expect("the connection was never closed");
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    // In the Zulip face's own format.
    assert!(answer.contains("\"result\":\"error\""), "{answer}");
    // Nothing was written.
    let groups = realm.all_groups().await;
    assert!(
        !groups.to_string().contains("\"slow\""),
        "a group from a cut-off body: {groups}"
    );
}

#[tokio::test]
async fn the_connection_cap_holds_and_waiting_clients_are_served_later() {
    let realm = Realm::with_server_args(&["--max-connections", "4", "--header-timeout-secs", "5"]);
    let pid = realm.cohort.pid().expect("running");
    let port = port(&realm);
    // Six connections that send nothing.
    let mut idle = Vec::new();
    for _ in 0..6 {
        idle.push(TcpStream::connect(address(&realm)).await.expect("connect"));
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while accepted(pid, port) < 4 {
        assert!(
            Instant::now() < deadline,
            "the server never accepted 4 connections"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(accepted(pid, port), 4, "the cap did not hold");
    // A real client behind the cap waits (it is not answered while the
    // idle ones hold every slot)...
    let waiting = tokio::spawn({
        let url = realm.cohort.url("/healthz");
        async move {
            // Well under the 60 s idle timeout: only the header timeout can
            // free the slots in time.
            reqwest::Client::new()
                .get(url)
                .timeout(Duration::from_secs(30))
                .send()
                .await
                .map(|r| r.status().as_u16())
        }
    });
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert!(!waiting.is_finished(), "answered past the connection cap");
    assert!(accepted(pid, port) <= 4);
    // ...and is served once the header timeout drops the idle ones.
    let status = waiting
        .await
        .expect("task")
        .expect("answered after the idle ones went");
    assert_eq!(status, 200);
    // The idle connections were closed by the server.
    for mut stream in idle.drain(..4) {
        assert!(until_closed(&mut stream, Duration::from_secs(20))
            .await
            .is_some());
    }
    assert_eq!(healthz(&realm).await, 200);
}

#[tokio::test]
async fn idle_keep_alive_connections_are_closed_but_event_streams_live_on() {
    // The header timeout is long: only the idle timeout can close it.
    let realm =
        Realm::with_server_args(&["--idle-timeout-secs", "1", "--header-timeout-secs", "60"]);
    let mut stream = TcpStream::connect(address(&realm)).await.expect("connect");
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n")
        .await
        .expect("write");
    let mut buf = [0u8; 4096];
    let n = stream.read(&mut buf).await.expect("read");
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
    let closed = until_closed(&mut stream, Duration::from_secs(20)).await;
    assert!(
        closed.is_some(),
        "an idle kept-alive connection stayed open"
    );

    // An event stream is a response in flight: it outlives the idle (and
    // header) timeouts and still delivers.
    let realm =
        Realm::with_server_args(&["--idle-timeout-secs", "1", "--header-timeout-secs", "1"]);
    let mut events = reqwest::Client::new()
        .get(realm.cohort.url("/cohort/v1/stream"))
        .basic_auth(&realm.owner.email, Some(&realm.owner.key))
        .send()
        .await
        .expect("stream");
    assert_eq!(events.status(), 200);
    tokio::time::sleep(Duration::from_secs(4)).await;
    realm
        .create_group(&realm.owner, "after the timeouts", &[])
        .await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let mut seen = String::new();
    while !seen.contains("after the timeouts") {
        let chunk = tokio::time::timeout_at(deadline, events.chunk())
            .await
            .expect("the event in time")
            .expect("the stream")
            .expect("the stream ended");
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
}
