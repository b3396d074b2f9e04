//! Webhooks end to end (`native/webhooks.rs`, `server/src/webhooks/`): a
//! real `cohort serve` sends to a real HTTP receiver run by the test on
//! 127.0.0.1, which records every request (headers and raw body) and answers
//! as each test scripts it. Signatures are checked here independently of
//! cohort's code (HMAC-SHA256 with the `hmac` crate, compared in constant
//! time), bodies against the audit API, and the delivery log against what
//! the receiver saw: exact delivery, type filters, retries (5xx,
//! `Retry-After`, redirects, time-outs, 410), order per group across an
//! outage, at-least-once across a SIGKILL, schedule exhaustion with resend
//! and recover, secret rotation, every bad input, and `cohort webhook`.

use super::*;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use hmac::{Hmac, KeyInit, Mac};
use serde_json::{json as j, Value};
use sha2::Sha256;
use std::collections::{HashMap, HashSet, VecDeque};
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Server flags for quick tests: requests may reach the receiver on
/// loopback, retries come fast, a hung receiver is given up after 1 s.
const FAST: &[&str] = &[
    "--webhook-allow-private",
    "--webhook-retry-schedule",
    "50ms,100ms,200ms,400ms,800ms",
    "--webhook-timeout-secs",
    "1",
];

/// How long a test waits for something the sender does. A new endpoint is
/// taken up when the sender renews its leases (every 5 s).
const PATIENCE: Duration = Duration::from_secs(20);

// ---------------------------------------------------------------------------
// Signatures, verified without cohort's code.

/// The key a `whsec_` secret stands for.
fn key_of(secret: &str) -> Vec<u8> {
    let encoded = secret.strip_prefix("whsec_").expect("a whsec_ secret");
    STANDARD.decode(encoded).expect("base64 after whsec_")
}

/// Whether one `v1,<base64>` signature is the HMAC-SHA256 of
/// `{id}.{timestamp}.{body}` under `secret` (compared in constant time;
/// anything else, an empty signature included, is refused).
fn signature_valid(secret: &str, id: &str, timestamp: &str, body: &[u8], signature: &str) -> bool {
    let Some(encoded) = signature.strip_prefix("v1,") else {
        return false;
    };
    let Ok(tag) = STANDARD.decode(encoded) else {
        return false;
    };
    if tag.is_empty() {
        return false;
    }
    let mut mac = Hmac::<Sha256>::new_from_slice(&key_of(secret)).expect("any key length");
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    mac.verify_slice(&tag).is_ok()
}

/// How many of the space-separated signatures of `header` verify under
/// `secret`.
fn verifying(secret: &str, hit: &Hit) -> usize {
    hit.signatures()
        .iter()
        .filter(|s| signature_valid(secret, &hit.id, &hit.timestamp, &hit.body, s))
        .count()
}

#[test]
fn the_test_verifier_accepts_the_reference_vector_and_nothing_else() {
    // The Standard Webhooks specification's example.
    let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    let (id, ts) = ("msg_p5jXN8AQM9LWM0D4loKWxJek", "1614265330");
    let body = br#"{"test": 2432232314}"#;
    let good = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";
    assert!(signature_valid(secret, id, ts, body, good));
    let tag = good.strip_prefix("v1,").unwrap();
    let truncated = format!(
        "v1,{}",
        STANDARD.encode(&STANDARD.decode(tag).unwrap()[..16])
    );
    let other = format!("whsec_{}", STANDARD.encode([7u8; 24]));
    for bad in [
        "v1,",
        "v1",
        "",
        "v1,garbage!!",
        "v1,AAAA",
        "v2,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
        "g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
        &truncated,
    ] {
        assert!(!signature_valid(secret, id, ts, body, bad), "{bad:?}");
    }
    assert!(!signature_valid(&other, id, ts, body, good));
    assert!(!signature_valid(secret, id, "1614265331", body, good));
    assert!(!signature_valid(secret, "msg_other", ts, body, good));
    assert!(!signature_valid(
        secret,
        id,
        ts,
        br#"{"test": 2432232315}"#,
        good
    ));
}

// ---------------------------------------------------------------------------
// The receiver.

/// How the receiver answers one request.
#[derive(Clone, Debug)]
enum Answer {
    Status(u16),
    /// Status, extra headers, body.
    Full(u16, Vec<(&'static str, String)>, &'static str),
    /// Answer 200 only after this long (longer than the sender waits).
    Hang(Duration),
    /// Answer this status after this long.
    Slow(Duration, u16),
}

/// One request as received.
#[derive(Clone, Debug)]
struct Hit {
    path: String,
    id: String,
    timestamp: String,
    signature: String,
    content_type: String,
    body: Bytes,
    at: Instant,
    /// The status the receiver answered; `None` when it hung.
    answered: Option<u16>,
}

impl Hit {
    fn accepted(&self) -> bool {
        matches!(self.answered, Some(200..=299))
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("a JSON body")
    }

    fn signatures(&self) -> Vec<&str> {
        self.signature.split(' ').collect()
    }
}

struct Script {
    queue: VecDeque<Answer>,
    default: Answer,
    hits: Vec<Hit>,
}

#[derive(Clone)]
struct Receiver {
    base: String,
    script: Arc<Mutex<Script>>,
}

async fn receive(
    State(script): State<Arc<Mutex<Script>>>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string()
    };
    let answer = {
        let mut script = script.lock().unwrap();
        let answer = script
            .queue
            .pop_front()
            .unwrap_or_else(|| script.default.clone());
        let answered = match &answer {
            Answer::Status(s) | Answer::Full(s, ..) | Answer::Slow(_, s) => Some(*s),
            Answer::Hang(_) => None,
        };
        script.hits.push(Hit {
            path: uri.path().to_string(),
            id: header("webhook-id"),
            timestamp: header("webhook-timestamp"),
            signature: header("webhook-signature"),
            content_type: header("content-type"),
            body,
            at: Instant::now(),
            answered,
        });
        answer
    };
    let status = |s: u16| StatusCode::from_u16(s).unwrap();
    match answer {
        Answer::Status(s) => (status(s), "ok").into_response(),
        Answer::Full(s, extra, text) => {
            let mut response = (status(s), text).into_response();
            for (name, value) in extra {
                response
                    .headers_mut()
                    .insert(name, value.parse().expect("header value"));
            }
            response
        }
        Answer::Hang(wait) => {
            tokio::time::sleep(wait).await;
            (StatusCode::OK, "late").into_response()
        }
        Answer::Slow(wait, s) => {
            tokio::time::sleep(wait).await;
            (status(s), "slow").into_response()
        }
    }
}

impl Receiver {
    async fn start() -> Receiver {
        Receiver::start_on(0).await
    }

    /// Listen on `port` of 127.0.0.1 (0: any free one).
    async fn start_on(port: u16) -> Receiver {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .expect("bind the receiver");
        let port = listener.local_addr().unwrap().port();
        let script = Arc::new(Mutex::new(Script {
            queue: VecDeque::new(),
            default: Answer::Status(200),
            hits: Vec::new(),
        }));
        let app = axum::Router::new()
            .fallback(receive)
            .with_state(script.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Receiver {
            base: format!("http://127.0.0.1:{port}"),
            script,
        }
    }

    /// The URL of `path` on this receiver.
    fn at(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Answer the next requests so, in order (then as `always` says).
    fn then(&self, answers: impl IntoIterator<Item = Answer>) {
        self.script.lock().unwrap().queue.extend(answers);
    }

    /// Answer every request not scripted by `then` so.
    fn always(&self, answer: Answer) {
        self.script.lock().unwrap().default = answer;
    }

    fn hits(&self) -> Vec<Hit> {
        self.script.lock().unwrap().hits.clone()
    }

    fn hits_on(&self, path: &str) -> Vec<Hit> {
        self.hits().into_iter().filter(|h| h.path == path).collect()
    }

    fn hits_of(&self, id: &str) -> Vec<Hit> {
        self.hits().into_iter().filter(|h| h.id == id).collect()
    }

    /// Wait until every id has been accepted (2xx) on `path`; the first
    /// accepted request of each, in the order of `ids`.
    async fn accepted(&self, path: &str, ids: &[String]) -> Vec<Hit> {
        eventually(
            &format!("{} deliveries on {path}", ids.len()),
            PATIENCE * 2,
            || async {
                let hits = self.hits_on(path);
                ids.iter()
                    .map(|id| hits.iter().find(|h| h.id == *id && h.accepted()).cloned())
                    .collect::<Option<Vec<Hit>>>()
            },
        )
        .await
    }
}

/// A local port nothing listens on (for a receiver that is down).
fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// Poll `probe` until it yields, failing the test after `within`.
async fn eventually<T, F, Fut>(what: &str, within: Duration, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + within;
    loop {
        if let Some(found) = probe().await {
            return found;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

// ---------------------------------------------------------------------------
// The native API with bodies, the audit trail and the delivery log.

/// The endpoint's log once it holds `count` deliveries, all delivered: it
/// may trail the receiver by a moment (a round is recorded once all its
/// requests are answered).
async fn all_logged_delivered(admin: &Native, webhook: i64, count: usize) -> Vec<Value> {
    eventually("every delivery logged as delivered", PATIENCE, || async {
        let logged = log(admin, webhook, "").await;
        (logged.len() == count && logged.iter().all(|d| d["state"] == "delivered"))
            .then_some(logged)
    })
    .await
}

async fn send(n: &Native, method: &str, path: &str, body: Option<String>) -> Reply {
    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let mut request = n
        .http
        .request(method, format!("{}/cohort/v1{path}", n.base));
    if let Some(auth) = &n.authorization {
        request = request.header("authorization", auth);
    }
    if let Some(body) = body {
        request = request
            .header("content-type", "application/json")
            .body(body);
    }
    Reply::read(request.send().await.expect("request failed")).await
}

async fn post(n: &Native, path: &str, body: Value) -> Reply {
    send(n, "POST", path, Some(body.to_string())).await
}

async fn patch(n: &Native, path: &str, body: Value) -> Reply {
    send(n, "PATCH", path, Some(body.to_string())).await
}

/// An endpoint as made: its id, the secret shown once, the view.
struct Endpoint {
    id: i64,
    secret: String,
    view: Value,
}

async fn add_endpoint(n: &Native, url: &str, types: &[&str]) -> Endpoint {
    let reply = post(n, "/webhooks", j!({"url": url, "types": types})).await;
    let body = reply.ok(201);
    Endpoint {
        id: body["webhook"]["id"].as_i64().expect("id"),
        secret: body["secret"].as_str().expect("secret").to_string(),
        view: body["webhook"].clone(),
    }
}

/// Every audit event matching `query` (`type=…&group=…`), oldest first.
async fn audit(n: &Native, query: &str) -> Vec<Value> {
    let mut path = format!("/audit?limit=1000&{query}");
    let mut events = Vec::new();
    loop {
        let page = n.get(&path).await.ok(200).clone();
        events.extend(page["events"].as_array().unwrap().iter().cloned());
        match page["next"].as_str() {
            Some(next) => path = next.trim_start_matches("/cohort/v1").to_string(),
            None => return events,
        }
    }
}

/// The audit events after version `after` (oldest first).
async fn events_after(n: &Native, after: u64) -> Vec<Value> {
    audit(n, "")
        .await
        .into_iter()
        .filter(|e| e["version"].as_u64().unwrap() > after)
        .collect()
}

fn ids_of(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .map(|e| e["id"].as_str().unwrap().to_string())
        .collect()
}

async fn realm_version(n: &Native) -> u64 {
    n.get("/realm").await.ok(200)["version"].as_u64().unwrap()
}

/// The endpoint's delivery log (one page of up to 1000), newest first.
async fn log(n: &Native, hook: i64, query: &str) -> Vec<Value> {
    let reply = n
        .get(&format!("/webhooks/{hook}/deliveries?limit=1000&{query}"))
        .await;
    reply.ok(200)["deliveries"].as_array().unwrap().clone()
}

/// Wait until the delivery of `event` to `hook` is in `state`; returns it.
async fn delivery_in(n: &Native, hook: i64, event: &str, state: &str) -> Value {
    eventually(&format!("{event} {state}"), PATIENCE, || async {
        log(n, hook, "")
            .await
            .into_iter()
            .find(|d| d["id"] == event && d["state"] == state)
    })
    .await
}

fn statuses(delivery: &Value) -> Vec<Value> {
    delivery["attempts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["status"].clone())
        .collect()
}

/// Membership changes through the Zulip face (as the owner), one event
/// each. Holds no borrow of the realm, so it lives across a restart.
struct Changes {
    zulip: Api,
    native: Native,
    joined: HashSet<(i64, i64)>,
}

impl Changes {
    fn new(realm: &Realm) -> Changes {
        Changes {
            zulip: realm.api(&realm.owner),
            native: Native::basic(&realm.cohort.base, &realm.owner),
            joined: HashSet::new(),
        }
    }

    /// `user` joins `group`, or leaves it if in it; the event it made.
    async fn toggle(&mut self, group: i64, user: i64) -> Value {
        let leave = !self.joined.insert((group, user));
        if leave {
            self.joined.remove(&(group, user));
        }
        let key = if leave { "delete" } else { "add" };
        let got = self
            .zulip
            .post(
                &format!("/user_groups/{group}/members"),
                &[(key, format!("[{user}]"))],
            )
            .await;
        assert_success(&got);
        let newest = self
            .native
            .get(&format!("/audit?order=newest&limit=1&group={group}"))
            .await;
        let event = newest.ok(200)["events"][0].clone();
        let kind = if leave {
            "group.member_removed"
        } else {
            "group.member_added"
        };
        assert_eq!(event["type"], kind, "{event}");
        event
    }

    /// `toggle`, the event's id only.
    async fn one(&mut self, group: i64, user: i64) -> String {
        self.toggle(group, user).await["id"]
            .as_str()
            .unwrap()
            .to_string()
    }
}

/// Check one request against the audit event it carries and the secret.
#[track_caller]
fn assert_carries(hit: &Hit, event: &Value, secret: &str) {
    assert_eq!(hit.id, event["id"].as_str().unwrap(), "webhook-id");
    assert_eq!(hit.content_type, "application/json");
    let sent: i64 = hit.timestamp.parse().expect("webhook-timestamp is seconds");
    assert!(
        (sent - unix_now()).abs() <= 5,
        "webhook-timestamp {sent} is not now ({})",
        unix_now()
    );
    assert_eq!(hit.signatures().len(), 1, "{}", hit.signature);
    assert_eq!(verifying(secret, hit), 1, "signature {}", hit.signature);
    let body = hit.json();
    let keys: HashSet<&str> = body
        .as_object()
        .unwrap()
        .keys()
        .map(|k| k.as_str())
        .collect();
    assert_eq!(keys, HashSet::from(["type", "timestamp", "data"]), "{body}");
    assert_eq!(body["type"], event["type"], "{body}");
    assert_eq!(body["timestamp"], event["time"], "{body}");
    assert_eq!(body["data"], *event, "the body's data is the audit event");
}

// ---------------------------------------------------------------------------
// 1. Lifecycle and exact delivery.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endpoint_receives_every_change_signed_with_its_audit_id() {
    let realm = Realm::with_server_args(FAST);
    let receiver = Receiver::start().await;
    let admin = Native::basic(&realm.cohort.base, &realm.admin);
    let group = realm.create_group(&realm.owner, "hooked", &[]).await;
    // A second endpoint, to show the sender goes on after the first is
    // removed.
    let control = add_endpoint(&admin, &receiver.at("/control"), &["group.*"]).await;

    let url = receiver.at("/all");
    let made = post(
        &admin,
        "/webhooks",
        j!({"url": url, "description": "every change"}),
    )
    .await;
    let body = made.ok(201).clone();
    let secret = body["secret"].as_str().unwrap().to_string();
    assert!(key_of(&secret).len() >= 24, "{secret}");
    let view = &body["webhook"];
    let id = view["id"].as_i64().unwrap();
    assert_eq!(view["url"], url);
    assert_eq!(view["description"], "every change");
    assert_eq!(view["types"], j!([]));
    assert_eq!(view["enabled"], true);
    assert_eq!(view["disabled_reason"], Value::Null);
    assert_eq!(view["secrets"].as_array().unwrap().len(), 1, "{view}");
    assert_eq!(view["secrets"][0]["expires_at"], Value::Null);
    // The secret is never shown again.
    let one = admin.get(&format!("/webhooks/{id}")).await;
    assert_eq!(one.ok(200), view);
    let list = admin.get("/webhooks").await;
    assert_eq!(list.ok(200)["webhooks"], j!([control.view, view]));
    let tail = &secret["whsec_".len()..];
    for text in [one.body.to_string(), list.body.to_string()] {
        assert!(!text.contains("whsec_") && !text.contains(tail), "{text}");
    }
    // The audit trail names who pointed the realm where, never the secret.
    let created = audit(&admin, "type=webhook.created").await;
    assert_eq!(created.len(), 2, "{created:?}");
    assert_eq!(created[1]["webhook"], j!({"id": id, "url": url}));
    let created = &created[1..];
    assert_eq!(created[0]["actor"]["kind"], "user");
    assert_eq!(created[0]["actor"]["id"], realm.admin.id);
    assert_eq!(created[0]["actor"]["face"], "native");
    assert!(!j!(created).to_string().contains(tail));
    let after = created[0]["version"].as_u64().unwrap();

    // Writes through the Zulip, IMKIT and SCIM faces.
    let mut changes = Changes::new(&realm);
    changes.one(group, realm.member.id).await;
    changes.one(group, realm.member2.id).await;
    let imkit = reqwest::Client::new()
        .post(realm.cohort.url("/admin/groups"))
        .header("IM-API-KEY", &realm.platform_key)
        .json(&j!({"_id": "from-imkit", "nickname": "from imkit"}))
        .send()
        .await
        .unwrap();
    assert!(imkit.status().is_success(), "{:?}", imkit.text().await);
    let scim = reqwest::Client::new()
        .post(realm.cohort.url("/scim/v2/Groups"))
        .bearer_auth(&realm.scim_token)
        .header("content-type", "application/scim+json")
        .body(
            j!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "from scim"})
                .to_string(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(scim.status(), 201);

    let events = events_after(&admin, after).await;
    let faces: HashSet<&str> = events
        .iter()
        .map(|e| e["actor"]["face"].as_str().unwrap())
        .collect();
    assert!(
        faces.is_superset(&HashSet::from(["zulip", "imkit", "scim"])),
        "{faces:?}"
    );
    let ids = ids_of(&events);
    let hits = receiver.accepted("/all", &ids).await;
    for (hit, event) in hits.iter().zip(&events) {
        assert_carries(hit, event, &secret);
    }
    // Each once, nothing else; the log says so too.
    let all = receiver.hits_on("/all");
    assert_eq!(
        all.len(),
        ids.len(),
        "{:?}",
        all.iter().map(|h| &h.id).collect::<Vec<_>>()
    );
    let logged = all_logged_delivered(&admin, id, ids.len()).await;
    let mut newest_first = ids.clone();
    newest_first.reverse();
    assert_eq!(ids_of(&logged), newest_first);
    for (d, event) in logged.iter().zip(events.iter().rev()) {
        assert_eq!(d["state"], "delivered", "{d}");
        assert_eq!(d["type"], event["type"]);
        assert_eq!(statuses(d), [j!(200)], "{d}");
        assert_eq!(d["attempts"][0]["number"], 1);
        assert_eq!(d["attempts"][0]["error"], Value::Null);
        assert_eq!(d["attempts"][0]["response"], "ok");
        assert!(
            d["done_at"].is_string() && d["next_attempt_at"].is_null(),
            "{d}"
        );
    }

    // Removed: 404 from then on, nothing more sent.
    let reply = send(&admin, "DELETE", &format!("/webhooks/{id}"), None).await;
    assert_eq!(reply.status, 204, "{}", reply.body);
    let gone = admin.get(&format!("/webhooks/{id}")).await;
    assert_error(&gone, 404, "not_found", None);
    assert_eq!(
        admin.get("/webhooks").await.ok(200)["webhooks"],
        j!([control.view])
    );
    let removed = audit(&admin, "type=webhook.removed").await;
    assert_eq!(removed.len(), 1);
    assert_eq!(removed[0]["webhook"]["id"], id);
    let late = changes.one(group, realm.member.id).await;
    receiver
        .accepted("/control", std::slice::from_ref(&late))
        .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(receiver.hits_on("/all").iter().all(|h| h.id != late));
    assert_eq!(receiver.hits_on("/all").len(), ids.len());
}

// ---------------------------------------------------------------------------
// 2. Event-type filters.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endpoints_receive_only_the_types_they_ask_for() {
    let realm = Realm::with_server_args(FAST);
    let receiver = Receiver::start().await;
    let admin = Native::basic(&realm.cohort.base, &realm.admin);

    // Not event types, or families naming none.
    for bad in [
        j!(["nope"]),
        j!(["group.nope"]),
        j!(["*"]),
        j!(["group*"]),
        j!(["grou.*"]),
        j!(["group.*.*"]),
        j!([""]),
        j!(["group.member_added", "user.bogus"]),
    ] {
        let reply = post(
            &admin,
            "/webhooks",
            j!({"url": receiver.at("/x"), "types": bad}),
        )
        .await;
        assert_error(&reply, 400, "invalid_parameter", Some("types"));
    }
    let reply = post(
        &admin,
        "/webhooks",
        j!({"url": receiver.at("/x"), "types": "group.*"}),
    )
    .await;
    assert_eq!(reply.status, 400, "{}", reply.body);
    assert_eq!(reply.body["code"], "invalid_parameter");
    assert!(admin.get("/webhooks").await.ok(200)["webhooks"]
        .as_array()
        .unwrap()
        .is_empty());

    let added = add_endpoint(&admin, &receiver.at("/added"), &["group.member_added"]).await;
    let family = add_endpoint(&admin, &receiver.at("/family"), &["group.*"]).await;
    let pair = add_endpoint(
        &admin,
        &receiver.at("/pair"),
        &["user.created", "group.member_removed", "user.created"],
    )
    .await;
    // Stored sorted, without repeats.
    assert_eq!(
        pair.view["types"],
        j!(["group.member_removed", "user.created"])
    );
    assert_eq!(added.view["types"], j!(["group.member_added"]));
    let reply = patch(
        &admin,
        &format!("/webhooks/{}", pair.id),
        j!({"types": ["bogus"]}),
    )
    .await;
    assert_error(&reply, 400, "invalid_parameter", Some("types"));
    let start = realm_version(&admin).await;

    let mut changes = Changes::new(&realm);
    let group = realm
        .create_group(&realm.owner, "filtered", &[realm.member.id])
        .await;
    changes.joined.insert((group, realm.member.id));
    changes.one(group, realm.member2.id).await;
    changes.one(group, realm.member.id).await;
    realm
        .cohort
        .add_user("new@test.example", "Nia New", "member", false);
    // The server learns of the CLI's write by polling.
    eventually("the CLI's user", PATIENCE, || async {
        let e = audit(&admin, "type=user.created").await;
        e.iter()
            .any(|e| e["version"].as_u64().unwrap() > start)
            .then_some(())
    })
    .await;
    changes.one(group, realm.member.id).await;

    let events = events_after(&admin, start).await;
    let kinds: HashSet<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert!(kinds.is_superset(&HashSet::from([
        "group.created",
        "group.member_added",
        "group.member_removed",
        "user.created",
    ])));
    let wanted = |pred: &dyn Fn(&str) -> bool| {
        ids_of(
            &events
                .iter()
                .filter(|e| pred(e["type"].as_str().unwrap()))
                .cloned()
                .collect::<Vec<_>>(),
        )
    };
    let expected: [(&str, i64, &str, Vec<String>); 3] = [
        (
            "/added",
            added.id,
            &added.secret,
            wanted(&|t| t == "group.member_added"),
        ),
        (
            "/family",
            family.id,
            &family.secret,
            wanted(&|t| t.starts_with("group.")),
        ),
        (
            "/pair",
            pair.id,
            &pair.secret,
            wanted(&|t| t == "user.created" || t == "group.member_removed"),
        ),
    ];
    for (path, _, secret, ids) in &expected {
        assert!(ids.len() >= 2, "{path}: {ids:?}");
        for hit in receiver.accepted(path, ids).await {
            assert_eq!(verifying(secret, &hit), 1);
        }
    }
    // Three sender ticks more: nothing else comes, nothing else is logged.
    // (Order is kept per group only; the CLI's user joins system groups.)
    tokio::time::sleep(Duration::from_millis(600)).await;
    for (path, hook, _, ids) in &expected {
        let mut ids = ids.clone();
        ids.sort();
        let mut got: Vec<String> = receiver
            .hits_on(path)
            .iter()
            .map(|h| h.id.clone())
            .collect();
        got.sort();
        assert_eq!(got, ids, "{path}: each wanted event once, nothing else");
        let mut logged = ids_of(&log(&admin, *hook, "").await);
        logged.sort();
        assert_eq!(logged, ids, "{path}");
    }
}

// ---------------------------------------------------------------------------
// 3. Failures and retries.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_are_retried_as_the_receiver_asks_and_410_disables() {
    let realm = Realm::with_server_args(FAST);
    let receiver = Receiver::start().await;
    let admin = Native::basic(&realm.cohort.base, &realm.admin);
    let group = realm.create_group(&realm.owner, "retried", &[]).await;
    let hook = add_endpoint(&admin, &receiver.at("/hook"), &["group.*"]).await;
    let mut changes = Changes::new(&realm);
    let user = realm.member.id;

    // 500 twice, then 200: delivered once, after three attempts.
    receiver.then([
        Answer::Full(500, vec![], "boom 1"),
        Answer::Full(500, vec![], "boom 2"),
        Answer::Full(200, vec![], "fine"),
    ]);
    let first = changes.one(group, user).await;
    let d = delivery_in(&admin, hook.id, &first, "delivered").await;
    assert_eq!(statuses(&d), [j!(500), j!(500), j!(200)], "{d}");
    let attempts = d["attempts"].as_array().unwrap();
    for (n, (a, text)) in attempts
        .iter()
        .zip(["boom 1", "boom 2", "fine"])
        .enumerate()
    {
        assert_eq!(a["number"], n + 1, "{d}");
        assert_eq!(a["response"], text, "{d}");
        assert_eq!(a["error"], Value::Null, "{d}");
        assert!(
            a["duration_ms"].as_u64().is_some() && a["at"].is_string(),
            "{d}"
        );
    }
    let hits = receiver.hits_of(&first);
    assert_eq!(hits.len(), 3);
    assert!(hits
        .iter()
        .all(|h| h.body == hits[0].body && verifying(&hook.secret, h) == 1));
    // The schedule's waits (50 ms, 100 ms, each ±10 %).
    assert!(hits[1].at - hits[0].at >= Duration::from_millis(40));
    assert!(hits[2].at - hits[1].at >= Duration::from_millis(80));

    // Retry-After: 1 replaces the schedule's 50 ms.
    receiver.then([
        Answer::Full(503, vec![("retry-after", "1".into())], "later"),
        Answer::Status(200),
    ]);
    let second = changes.one(group, user).await;
    let d = delivery_in(&admin, hook.id, &second, "delivered").await;
    assert_eq!(statuses(&d), [j!(503), j!(200)], "{d}");
    let hits = receiver.hits_of(&second);
    assert_eq!(hits.len(), 2);
    let waited = hits[1].at - hits[0].at;
    assert!(
        waited >= Duration::from_millis(950),
        "retried after {waited:?}"
    );

    // A redirect is a failure, and is not followed.
    receiver.then([
        Answer::Full(302, vec![("location", receiver.at("/elsewhere"))], ""),
        Answer::Status(200),
    ]);
    let third = changes.one(group, user).await;
    let d = delivery_in(&admin, hook.id, &third, "delivered").await;
    assert_eq!(statuses(&d), [j!(302), j!(200)], "{d}");
    let error = d["attempts"][0]["error"].as_str().unwrap_or("");
    assert!(error.contains("redirect"), "{d}");
    assert!(receiver.hits_on("/elsewhere").is_empty());

    // No answer within the time-out (1 s): an error, then a retry.
    receiver.then([Answer::Hang(Duration::from_secs(3)), Answer::Status(200)]);
    let fourth = changes.one(group, user).await;
    let d = delivery_in(&admin, hook.id, &fourth, "delivered").await;
    assert_eq!(statuses(&d), [Value::Null, j!(200)], "{d}");
    assert_eq!(d["attempts"][0]["error"], "no answer within 1 s", "{d}");
    assert!(
        d["attempts"][0]["duration_ms"].as_u64().unwrap() >= 990,
        "{d}"
    );

    // 410 Gone: the endpoint is disabled and nothing more is sent...
    receiver.then([Answer::Status(410)]);
    let fifth = changes.one(group, user).await;
    let disabled = eventually("the endpoint disabled", PATIENCE, || async {
        let view = admin
            .get(&format!("/webhooks/{}", hook.id))
            .await
            .ok(200)
            .clone();
        (view["enabled"] == false).then_some(view)
    })
    .await;
    let reason = disabled["disabled_reason"].as_str().unwrap();
    assert!(reason.contains("410"), "{disabled}");
    assert!(disabled["disabled_at"].is_string(), "{disabled}");
    let d = log(&admin, hook.id, "").await;
    assert_eq!(d[0]["id"], fifth.as_str());
    assert_eq!(d[0]["state"], "pending");
    assert_eq!(statuses(&d[0]), [j!(410)]);
    let by_system = audit(&admin, "type=webhook.updated").await;
    let last = by_system.last().unwrap();
    assert_eq!(last["actor"]["kind"], "system", "{last}");
    assert_eq!(last["field"], "disabled", "{last}");
    let sent = receiver.hits().len();
    let sixth = changes.one(group, user).await;
    let seventh = changes.one(group, user).await;
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert_eq!(receiver.hits().len(), sent, "sent to a disabled endpoint");

    // ...until it is enabled again: then what waited arrives, in order.
    let enabled = patch(
        &admin,
        &format!("/webhooks/{}", hook.id),
        j!({"enabled": true}),
    )
    .await;
    let view = enabled.ok(200);
    assert_eq!(view["enabled"], true, "{view}");
    assert_eq!(view["disabled_reason"], Value::Null, "{view}");
    let waited = [fifth.clone(), sixth, seventh];
    let hits = receiver.accepted("/hook", &waited).await;
    assert!(hits[0].at < hits[1].at && hits[1].at < hits[2].at);
    let d = delivery_in(&admin, hook.id, &fifth, "delivered").await;
    assert_eq!(statuses(&d), [j!(410), j!(200)], "{d}");
    // The audit trail has both: disabled by the sender, enabled by the
    // administrator (and so has the change log `cohort check` replays when
    // the realm is dropped).
    let updates = audit(&admin, "type=webhook.updated").await;
    let toggles: Vec<(Value, Value, Value)> = updates
        .iter()
        .filter(|e| e["field"] == "disabled")
        .map(|e| {
            (
                e["actor"]["kind"].clone(),
                e["before"].clone(),
                e["after"].clone(),
            )
        })
        .collect();
    assert_eq!(
        toggles,
        [
            (j!("system"), Value::Null, j!(reason)),
            (j!("user"), j!(reason), Value::Null)
        ],
        "{updates:?}"
    );
}

// ---------------------------------------------------------------------------
// 4. Order per group across an outage.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_an_outage_every_change_arrives_once_in_order_per_group() {
    let realm = Realm::with_server_args(&[
        "--webhook-allow-private",
        "--webhook-retry-schedule",
        "100ms,200ms,300ms,500ms,500ms,1s,1s,1s,1s,1s,1s,1s,1s,1s",
        "--webhook-timeout-secs",
        "1",
    ]);
    let admin = Native::basic(&realm.cohort.base, &realm.admin);
    let mut groups = Vec::new();
    for name in ["one", "two", "three"] {
        groups.push(realm.create_group(&realm.owner, name, &[]).await);
    }
    // Nothing listens there yet: connections are refused.
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}/down");
    let hook = add_endpoint(
        &admin,
        &url,
        &["group.member_added", "group.member_removed"],
    )
    .await;
    let start = realm_version(&admin).await;
    let users = [
        realm.member.id,
        realm.member2.id,
        realm.moderator.id,
        realm.guest.id,
    ];
    let mut changes = Changes::new(&realm);
    for i in 0..50 {
        changes.one(groups[i % 3], users[(i / 3) % 4]).await;
    }
    let events = events_after(&admin, start).await;
    assert_eq!(events.len(), 50);
    // The sender has tried and failed for a while.
    eventually("refused attempts", PATIENCE, || async {
        let tried: usize = log(&admin, hook.id, "")
            .await
            .iter()
            .map(|d| d["attempts"].as_array().unwrap().len())
            .sum();
        (tried >= 6).then_some(())
    })
    .await;
    let d = log(&admin, hook.id, "").await;
    let attempt = d
        .iter()
        .flat_map(|d| d["attempts"].as_array().unwrap().iter())
        .next()
        .unwrap();
    assert_eq!(attempt["status"], Value::Null, "{attempt}");
    assert!(
        attempt["error"].as_str().unwrap().contains("connect"),
        "{attempt}"
    );
    assert!(
        !attempt["error"].as_str().unwrap().contains(&url),
        "{attempt}"
    );
    // Up again, answering 503 for a moment, then 200.
    let receiver = Receiver::start_on(port).await;
    receiver.then(vec![Answer::Status(503); 4]);
    let ids = ids_of(&events);
    receiver.accepted("/down", &ids).await;

    let accepted: Vec<Hit> = receiver.hits().into_iter().filter(Hit::accepted).collect();
    let mut seen = HashMap::new();
    for hit in &accepted {
        *seen.entry(hit.id.clone()).or_insert(0) += 1;
    }
    let duplicates: usize = seen.values().map(|n| n - 1).sum();
    assert_eq!(duplicates, 0, "{seen:?}");
    assert_eq!(accepted.len(), 50);
    for group in &groups {
        let wanted: Vec<&str> = events
            .iter()
            .filter(|e| e["group"]["id"] == *group)
            .map(|e| e["id"].as_str().unwrap())
            .collect();
        let got: Vec<&str> = accepted
            .iter()
            .filter(|h| h.json()["data"]["group"]["id"] == *group)
            .map(|h| h.id.as_str())
            .collect();
        assert_eq!(got, wanted, "group {group} out of order");
    }
    for hit in &accepted {
        assert_eq!(verifying(&hook.secret, hit), 1);
    }
    all_logged_delivered(&admin, hook.id, 50).await;
}

// ---------------------------------------------------------------------------
// 5. At least once, across a SIGKILL.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_server_resends_what_was_pending_with_the_same_ids_and_bytes() {
    let mut realm = Realm::with_server_args(FAST);
    let receiver = Receiver::start().await;
    receiver.always(Answer::Slow(Duration::from_millis(150), 200));
    let admin = Native::basic(&realm.cohort.base, &realm.admin);
    let mut groups = Vec::new();
    for name in ["a", "b", "c"] {
        groups.push(realm.create_group(&realm.owner, name, &[]).await);
    }
    let hook = add_endpoint(
        &admin,
        &receiver.at("/hook"),
        &["group.member_added", "group.member_removed"],
    )
    .await;
    let start = realm_version(&admin).await;
    let users = [realm.member.id, realm.member2.id, realm.guest.id];
    let mut changes = Changes::new(&realm);
    for i in 0..30 {
        changes.one(groups[i % 3], users[(i / 3) % 3]).await;
    }
    let before = events_after(&admin, start).await;
    assert_eq!(before.len(), 30);
    eventually("some deliveries", PATIENCE, || async {
        (receiver.hits().iter().filter(|h| h.accepted()).count() >= 3).then_some(())
    })
    .await;
    realm.cohort.kill();
    // Whatever arrives before the restart was sent by the killed process.
    let restarting = Instant::now();
    let delivered_before = receiver.hits().iter().filter(|h| h.accepted()).count();
    assert!(delivered_before < 30, "everything arrived before the kill");
    receiver.always(Answer::Status(200));
    realm.cohort.restart_in_place();
    // And changes made after the restart (it listens where it did).
    for i in 0..3 {
        changes.one(groups[i], users[i]).await;
    }
    let events = events_after(&admin, start).await;
    assert_eq!(events.len(), 33);
    let ids = ids_of(&events);
    // The restarted server waits for the dead one's lease (30 s) to lapse.
    eventually(
        "every delivery after the restart",
        Duration::from_secs(60),
        || async {
            let hits = receiver.hits();
            ids.iter()
                .all(|id| hits.iter().any(|h| h.id == *id && h.accepted()))
                .then_some(())
        },
    )
    .await;
    let hits = receiver.hits();
    for event in &events {
        let id = event["id"].as_str().unwrap();
        let of: Vec<&Hit> = hits.iter().filter(|h| h.id == id).collect();
        // Byte-identical every time, each signed.
        assert!(of.iter().all(|h| h.body == of[0].body), "{id}");
        assert!(of.iter().all(|h| verifying(&hook.secret, h) == 1), "{id}");
        assert_eq!(of[0].json()["data"], *event);
        // Twice only for what the receiver had before the kill (answered,
        // or in its hands when the sender died).
        let accepted: Vec<&&Hit> = of.iter().filter(|h| h.accepted()).collect();
        if accepted.len() > 1 {
            assert!(
                accepted[0].at < restarting,
                "{id} delivered twice after the restart"
            );
        }
    }
    for group in &groups {
        let wanted: Vec<&str> = events
            .iter()
            .filter(|e| e["group"]["id"] == *group)
            .map(|e| e["id"].as_str().unwrap())
            .collect();
        let mut got: Vec<&str> = Vec::new();
        for h in hits.iter().filter(|h| h.accepted()) {
            if h.json()["data"]["group"]["id"] == *group && !got.contains(&h.id.as_str()) {
                got.push(&h.id);
            }
        }
        assert_eq!(got, wanted, "group {group} out of order");
    }
    all_logged_delivered(&admin, hook.id, 33).await;
}

// ---------------------------------------------------------------------------
// 6. A spent schedule, resend and recover.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_deliveries_are_resent_and_recovered() {
    let realm = Realm::with_server_args(&[
        "--webhook-allow-private",
        "--webhook-retry-schedule",
        "50ms,50ms",
    ]);
    let receiver = Receiver::start().await;
    receiver.always(Answer::Status(500));
    let admin = Native::basic(&realm.cohort.base, &realm.admin);
    let group = realm.create_group(&realm.owner, "failing", &[]).await;
    let hook = add_endpoint(&admin, &receiver.at("/hook"), &["group.*"]).await;
    let since = super::history::moment().await;
    let mut changes = Changes::new(&realm);
    let user = realm.member.id;

    let first = changes.one(group, user).await;
    let d = delivery_in(&admin, hook.id, &first, "failed").await;
    assert_eq!(statuses(&d), [j!(500), j!(500), j!(500)], "{d}");
    assert!(
        d["done_at"].is_string() && d["next_attempt_at"].is_null(),
        "{d}"
    );
    assert_eq!(
        ids_of(&log(&admin, hook.id, "state=failed").await),
        std::slice::from_ref(&first)
    );
    assert!(log(&admin, hook.id, "state=delivered").await.is_empty());
    assert!(log(&admin, hook.id, "state=pending").await.is_empty());

    // Resent by hand once the receiver is fixed: the same id and bytes.
    receiver.always(Answer::Status(200));
    let path = format!("/webhooks/{}/deliveries/{first}/resend", hook.id);
    let reply = send(&admin, "POST", &path, None).await;
    assert_eq!(reply.ok(202), &j!({"queued": 1}));
    let hit = &receiver
        .accepted("/hook", std::slice::from_ref(&first))
        .await[0];
    let failed = receiver.hits_of(&first);
    assert!(failed.iter().all(|h| h.body == hit.body));
    let d = delivery_in(&admin, hook.id, &first, "delivered").await;
    assert_eq!(statuses(&d), [j!(500), j!(500), j!(500), j!(200)], "{d}");
    // No such delivery: another realm's id, an unknown event, junk.
    let realm_id = first.split('-').next().unwrap();
    for event in [
        format!("{realm_id}-999999-0"),
        format!(
            "{}-{}",
            realm_id.parse::<i64>().unwrap() + 1,
            &first[realm_id.len() + 1..]
        ),
        "junk".to_string(),
        format!("{first}-0"),
    ] {
        let path = format!("/webhooks/{}/deliveries/{event}/resend", hook.id);
        assert_error(
            &send(&admin, "POST", &path, None).await,
            404,
            "not_found",
            None,
        );
    }

    // Two more fail; one after them is delivered.
    receiver.always(Answer::Status(500));
    let second = changes.one(group, user).await;
    let third = changes.one(group, user).await;
    delivery_in(&admin, hook.id, &second, "failed").await;
    delivery_in(&admin, hook.id, &third, "failed").await;
    receiver.always(Answer::Status(200));
    let fourth = changes.one(group, user).await;
    delivery_in(&admin, hook.id, &fourth, "delivered").await;

    // Recover since before all of it: the failed ones only.
    let recover = format!("/webhooks/{}/recover", hook.id);
    let reply = post(&admin, &recover, j!({"since": since})).await;
    assert_eq!(reply.ok(202), &j!({"queued": 2}));
    receiver
        .accepted("/hook", &[second.clone(), third.clone()])
        .await;
    for id in [&first, &second, &third, &fourth] {
        delivery_in(&admin, hook.id, id, "delivered").await;
        let accepted = receiver.hits_of(id).iter().filter(|h| h.accepted()).count();
        assert_eq!(accepted, 1, "{id}");
    }
    let reply = post(&admin, &recover, j!({"since": since})).await;
    assert_eq!(reply.ok(202), &j!({"queued": 0}));
    // A resend of a delivered one sends it again.
    let path = format!("/webhooks/{}/deliveries/{fourth}/resend", hook.id);
    assert_eq!(
        send(&admin, "POST", &path, None).await.ok(202),
        &j!({"queued": 1})
    );
    eventually("the resent delivery", PATIENCE, || async {
        (receiver.hits_of(&fourth).len() == 2).then_some(())
    })
    .await;
    let twice = receiver.hits_of(&fourth);
    assert_eq!(twice[0].body, twice[1].body);

    // Bad windows.
    for (body, param) in [
        (j!({"since": "yesterday"}), "since"),
        (j!({}), "since"),
        (
            j!({"since": since, "until": "2000-01-01T00:00:00Z"}),
            "until",
        ),
        (j!({"since": since, "until": "soon"}), "until"),
        (j!({"since": since, "bogus": 1}), "bogus"),
    ] {
        let reply = post(&admin, &recover, body.clone()).await;
        assert_eq!(reply.status, 400, "{body}: {}", reply.body);
        assert_eq!(
            reply.body["code"], "invalid_parameter",
            "{body}: {}",
            reply.body
        );
        assert_eq!(reply.body["param"], param, "{body}: {}", reply.body);
    }
}

// ---------------------------------------------------------------------------
// 7. Secret rotation.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotation_signs_with_both_secrets_until_the_old_one_expires() {
    let realm = Realm::with_server_args(FAST);
    let receiver = Receiver::start().await;
    let admin = Native::basic(&realm.cohort.base, &realm.admin);
    let group = realm.create_group(&realm.owner, "rotated", &[]).await;
    let hook = add_endpoint(&admin, &receiver.at("/hook"), &["group.*"]).await;
    let mut changes = Changes::new(&realm);
    let user = realm.member.id;
    let first = changes.one(group, user).await;
    let hit = receiver.accepted("/hook", &[first]).await.remove(0);
    assert_eq!(hit.signatures().len(), 1);
    assert_eq!(verifying(&hook.secret, &hit), 1);

    let rotate = format!("/webhooks/{}/rotate-secret", hook.id);
    for (keep, param) in [
        (j!({"keep_old_for_seconds": -1}), "keep_old_for_seconds"),
        (
            j!({"keep_old_for_seconds": 7 * 24 * 3600 + 1}),
            "keep_old_for_seconds",
        ),
        (j!({"keep_old_for_seconds": 60, "extra": true}), "extra"),
    ] {
        let reply = post(&admin, &rotate, keep).await;
        assert_error(&reply, 400, "invalid_parameter", Some(param));
    }
    let reply = post(&admin, &rotate, j!({"keep_old_for_seconds": 60})).await;
    let body = reply.ok(200).clone();
    let second_secret = body["secret"].as_str().unwrap().to_string();
    assert_ne!(second_secret, hook.secret);
    let secrets = body["webhook"]["secrets"].as_array().unwrap();
    assert_eq!(secrets.len(), 2, "{body}");
    assert_eq!(secrets[0]["expires_at"], Value::Null, "{body}");
    assert!(secrets[1]["expires_at"].is_string(), "{body}");
    let shown = admin.get(&format!("/webhooks/{}", hook.id)).await;
    assert!(!shown.body.to_string().contains("whsec_"));
    let rotated = audit(&admin, "type=webhook.secret_rotated").await;
    assert_eq!(rotated.len(), 1);
    assert!(!j!(rotated)
        .to_string()
        .contains(&second_secret["whsec_".len()..]));

    let second = changes.one(group, user).await;
    let hit = receiver.accepted("/hook", &[second]).await.remove(0);
    assert_eq!(hit.signatures().len(), 2, "{}", hit.signature);
    assert_eq!(verifying(&second_secret, &hit), 1, "{}", hit.signature);
    assert_eq!(verifying(&hook.secret, &hit), 1, "{}", hit.signature);
    let new_one = hit
        .signatures()
        .into_iter()
        .position(|s| signature_valid(&second_secret, &hit.id, &hit.timestamp, &hit.body, s));
    let old_one = hit
        .signatures()
        .into_iter()
        .position(|s| signature_valid(&hook.secret, &hit.id, &hit.timestamp, &hit.body, s));
    assert_ne!(new_one, old_one);

    // Keeping nothing: only the newest signs, at once.
    let reply = post(&admin, &rotate, j!({"keep_old_for_seconds": 0})).await;
    let body = reply.ok(200).clone();
    let third_secret = body["secret"].as_str().unwrap().to_string();
    assert_eq!(
        body["webhook"]["secrets"].as_array().unwrap().len(),
        1,
        "{body}"
    );
    let third = changes.one(group, user).await;
    let hit = receiver.accepted("/hook", &[third]).await.remove(0);
    assert_eq!(hit.signatures().len(), 1, "{}", hit.signature);
    assert_eq!(verifying(&third_secret, &hit), 1);
    assert_eq!(verifying(&second_secret, &hit), 0);
    assert_eq!(verifying(&hook.secret, &hit), 0);
}

// ---------------------------------------------------------------------------
// 8. Bad input and who may.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn internal_urls_are_refused_without_allow_private() {
    let realm = Realm::new();
    let admin = Native::basic(&realm.cohort.base, &realm.admin);
    let version = realm.cohort.realms()[0]["version"].clone();
    for url in [
        "http://127.0.0.1:8080/hook",
        "http://127.1.2.3/hook",
        "http://10.0.0.1/hook",
        "http://192.168.1.1/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]/hook",
        "http://[::ffff:127.0.0.1]/hook",
        "http://localhost/hook",
        "https://LOCALHOST./hook",
        "http://api.localhost/hook",
        "http://0.0.0.0/hook",
        "http://2130706433/hook",
    ] {
        let reply = post(&admin, "/webhooks", j!({"url": url})).await;
        assert_error(&reply, 400, "invalid_parameter", Some("url"));
    }
    assert_eq!(
        realm.cohort.realms()[0]["version"],
        version,
        "nothing committed"
    );
    // A public one is fine (it wants nothing that happens here); moving it
    // inside is refused too.
    let hook = add_endpoint(&admin, "https://hooks.example.com/cohort", &["log.pruned"]).await;
    let reply = patch(
        &admin,
        &format!("/webhooks/{}", hook.id),
        j!({"url": "http://10.1.2.3/"}),
    )
    .await;
    assert_error(&reply, 400, "invalid_parameter", Some("url"));
    let view = admin.get(&format!("/webhooks/{}", hook.id)).await;
    assert_eq!(view.ok(200)["url"], "https://hooks.example.com/cohort");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_bodies_are_refused_naming_the_field() {
    let realm = Realm::with_server_args(FAST);
    let admin = Native::basic(&realm.cohort.base, &realm.admin);
    let version = realm.cohort.realms()[0]["version"].clone();
    for (body, param) in [
        (j!({"url": "ftp://example.com/hook"}).to_string(), "url"),
        (j!({"url": "javascript:alert(1)"}).to_string(), "url"),
        (
            j!({"url": "http://user:pass@127.0.0.1:9/hook"}).to_string(),
            "url",
        ),
        (
            j!({"url": "https://token@example.com/hook"}).to_string(),
            "url",
        ),
        (j!({"url": "http:///nohost"}).to_string(), "url"),
        (j!({"url": "http://127.0.0.1:9/a b"}).to_string(), "url"),
        (j!({"url": "http://127.0.0.1:9/#frag"}).to_string(), "url"),
        (j!({"url": ""}).to_string(), "url"),
        (j!({"description": "no url"}).to_string(), "url"),
        (String::new(), "url"),
        (
            j!({"url": "http://127.0.0.1:9/", "bogus": 1}).to_string(),
            "bogus",
        ),
        (
            j!({"url": "http://127.0.0.1:9/", "description": "x".repeat(501)}).to_string(),
            "description",
        ),
        ("not json".to_string(), "body"),
        ("[1, 2]".to_string(), "body"),
        (j!({"url": 7}).to_string(), "body"),
    ] {
        let reply = send(&admin, "POST", "/webhooks", Some(body.clone())).await;
        assert_eq!(reply.status, 400, "{body}: {}", reply.body);
        assert_error(&reply, 400, "invalid_parameter", Some(param));
    }
    assert_eq!(
        realm.cohort.realms()[0]["version"],
        version,
        "nothing committed"
    );
    assert!(admin.get("/webhooks").await.ok(200)["webhooks"]
        .as_array()
        .unwrap()
        .is_empty());
    let hook = add_endpoint(&admin, "http://127.0.0.1:9/hook", &["log.pruned"]).await;
    let path = format!("/webhooks/{}", hook.id);
    for (body, param) in [
        (j!({"url": "ftp://example.com/"}), "url"),
        (j!({"enabled": "yes"}), "body"),
        (j!({"secret": "whsec_AAAA"}), "secret"),
    ] {
        let reply = patch(&admin, &path, body).await;
        assert_error(&reply, 400, "invalid_parameter", Some(param));
    }
    // An empty patch changes nothing.
    let reply = patch(&admin, &path, j!({})).await;
    assert_eq!(reply.ok(200), &hook.view);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_and_foreign_endpoints_are_404() {
    let realm = Realm::with_server_args(FAST);
    let admin = Native::basic(&realm.cohort.base, &realm.admin);
    realm.cohort.cli_json(&[
        "realm",
        "add",
        "--name",
        "Other",
        "--owner-email",
        "other-owner@other.example",
        "--json",
    ]);
    let made = realm.cohort.cli_json(&[
        "token", "create", "--realm", "Other", "--scope", "webhooks", "--name", "hooks", "--json",
    ]);
    let theirs = Native::bearer(&realm.cohort.base, made["token"].as_str().unwrap());
    eventually("the other realm's token", PATIENCE, || async {
        (theirs.get("/webhooks").await.status == 200).then_some(())
    })
    .await;
    let foreign = add_endpoint(&theirs, "http://127.0.0.1:9/other", &["log.pruned"]).await;
    let mine = add_endpoint(&admin, "http://127.0.0.1:9/mine", &["log.pruned"]).await;
    assert_ne!(foreign.id, mine.id);
    for id in [
        foreign.id.to_string(),
        "999999".into(),
        "0".into(),
        "-1".into(),
        "abc".into(),
    ] {
        let base = format!("/webhooks/{id}");
        let event = "1-1-0";
        for reply in [
            admin.get(&base).await,
            patch(&admin, &base, j!({"description": "mine now"})).await,
            send(&admin, "DELETE", &base, None).await,
            post(&admin, &format!("{base}/rotate-secret"), j!({})).await,
            admin.get(&format!("{base}/deliveries")).await,
            send(
                &admin,
                "POST",
                &format!("{base}/deliveries/{event}/resend"),
                None,
            )
            .await,
            post(
                &admin,
                &format!("{base}/recover"),
                j!({"since": "2020-01-01T00:00:00Z"}),
            )
            .await,
        ] {
            assert_error(&reply, 404, "not_found", None);
        }
    }
    // Theirs is untouched and they see only theirs.
    let list = theirs.get("/webhooks").await;
    assert_eq!(list.ok(200)["webhooks"], j!([foreign.view]));
    assert_eq!(
        admin.get("/webhooks").await.ok(200)["webhooks"],
        j!([mine.view])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_owners_administrators_and_webhooks_tokens_manage_endpoints() {
    let realm = Realm::with_server_args(FAST);
    let base = realm.cohort.base.clone();
    let admin = Native::basic(&base, &realm.admin);
    let hook = add_endpoint(&admin, "http://127.0.0.1:9/hook", &["log.pruned"]).await;
    let auditor = token(&realm, "auditor", "audit:read").await;
    let events = token(&realm, "events", "events").await;
    let version = realm.cohort.realms()[0]["version"].clone();
    let refused = [
        Native::basic(&base, &realm.moderator),
        Native::basic(&base, &realm.member),
        Native::basic(&base, &realm.guest),
        Native::basic(&base, &realm.bot),
        Native::bearer(&base, &auditor),
        Native::bearer(&base, &events),
        Native::bearer(&base, &realm.scim_token),
    ];
    let one = format!("/webhooks/{}", hook.id);
    let event = "1-1-0";
    for caller in &refused {
        for reply in [
            caller.get("/webhooks").await,
            post(
                caller,
                "/webhooks",
                j!({"url": "http://127.0.0.1:9/theirs"}),
            )
            .await,
            caller.get(&one).await,
            patch(caller, &one, j!({"url": "http://127.0.0.1:9/theirs"})).await,
            patch(caller, &one, j!({"enabled": false})).await,
            send(caller, "DELETE", &one, None).await,
            post(caller, &format!("{one}/rotate-secret"), j!({})).await,
            caller.get(&format!("{one}/deliveries")).await,
            send(
                caller,
                "POST",
                &format!("{one}/deliveries/{event}/resend"),
                None,
            )
            .await,
            post(
                caller,
                &format!("{one}/recover"),
                j!({"since": "2020-01-01T00:00:00Z"}),
            )
            .await,
        ] {
            assert_error(&reply, 403, "forbidden", None);
        }
    }
    assert_eq!(
        realm.cohort.realms()[0]["version"],
        version,
        "nothing committed"
    );
    assert_eq!(
        admin.get("/webhooks").await.ok(200)["webhooks"],
        j!([hook.view])
    );
    // Owners and tokens with `webhooks` may.
    let owner = Native::basic(&base, &realm.owner);
    assert_eq!(owner.get(&one).await.ok(200), &hook.view);
    let hooks = token(&realm, "hooks", "webhooks").await;
    let by_token = add_endpoint(&Native::bearer(&base, &hooks), "http://127.0.0.1:9/t", &[]).await;
    let created = audit(&admin, "type=webhook.created").await;
    let last = created.last().unwrap();
    assert_eq!(last["webhook"]["id"], by_token.id);
    assert_eq!(last["actor"]["kind"], "token", "{last}");
    assert_eq!(last["actor"]["name"], "hooks", "{last}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_realm_has_at_most_twenty_endpoints() {
    let realm = Realm::with_server_args(FAST);
    let admin = Native::basic(&realm.cohort.base, &realm.admin);
    let mut made = Vec::new();
    for i in 0..20 {
        let url = format!("http://127.0.0.1:9/hook/{i}");
        made.push(add_endpoint(&admin, &url, &["log.pruned"]).await.id);
    }
    let reply = post(&admin, "/webhooks", j!({"url": "http://127.0.0.1:9/21"})).await;
    assert_error(&reply, 409, "conflict", None);
    assert_eq!(
        admin.get("/webhooks").await.ok(200)["webhooks"]
            .as_array()
            .unwrap()
            .len(),
        20
    );
    // A removed one makes room.
    let reply = send(&admin, "DELETE", &format!("/webhooks/{}", made[0]), None).await;
    assert_eq!(reply.status, 204);
    add_endpoint(&admin, "http://127.0.0.1:9/21", &["log.pruned"]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_delivery_log_pages_and_refuses_bad_parameters() {
    let realm = Realm::with_server_args(FAST);
    let receiver = Receiver::start().await;
    let admin = Native::basic(&realm.cohort.base, &realm.admin);
    let group = realm.create_group(&realm.owner, "paged", &[]).await;
    let hook = add_endpoint(&admin, &receiver.at("/hook"), &["group.*"]).await;
    let other = add_endpoint(&admin, &receiver.at("/other"), &["log.pruned"]).await;
    let mut changes = Changes::new(&realm);
    let mut ids = Vec::new();
    for _ in 0..7 {
        ids.push(changes.one(group, realm.member.id).await);
    }
    receiver.accepted("/hook", &ids).await;
    let all = eventually("all delivered", PATIENCE, || async {
        let all = log(&admin, hook.id, "").await;
        (all.len() == 7 && all.iter().all(|d| d["state"] == "delivered")).then_some(all)
    })
    .await;
    let path = format!("/webhooks/{}/deliveries", hook.id);
    for query in ["", "&state=delivered"] {
        let mut pages = Vec::new();
        let mut reply = admin.get(&format!("{path}?limit=2{query}")).await;
        loop {
            let body = reply.ok(200).clone();
            let page = body["deliveries"].as_array().unwrap().clone();
            assert!(page.len() <= 2);
            pages.extend(page);
            match body["next"].as_str() {
                Some(next) => {
                    assert_eq!(
                        reply.header("link"),
                        Some(format!("<{next}>; rel=\"next\"").as_str()),
                    );
                    reply = admin.get(next.trim_start_matches("/cohort/v1")).await;
                }
                None => {
                    assert_eq!(body["next_cursor"], Value::Null);
                    break;
                }
            }
        }
        assert_eq!(pages, all, "pages of 2 are the one big page ({query})");
    }
    let first = admin.get(&format!("{path}?limit=2")).await;
    let cursor = first.body["next_cursor"].as_str().unwrap().to_string();
    let mut tampered = cursor.clone().into_bytes();
    let last = tampered.len() - 2;
    tampered[last] = if tampered[last] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered).unwrap();
    for (query, code, param) in [
        ("state=bogus", "invalid_parameter", "state"),
        ("state=", "invalid_parameter", "state"),
        ("limit=0", "invalid_parameter", "limit"),
        ("limit=1001", "invalid_parameter", "limit"),
        ("bogus=1", "invalid_parameter", "bogus"),
        (&format!("cursor={tampered}"), "invalid_cursor", "cursor"),
        ("cursor=garbage", "invalid_cursor", "cursor"),
        (
            &format!("cursor={cursor}&state=failed"),
            "invalid_cursor",
            "cursor",
        ),
    ] {
        let reply = admin.get(&format!("{path}?{query}")).await;
        assert_error(&reply, 400, code, Some(param));
    }
    // A cursor is good for its endpoint only.
    let reply = admin
        .get(&format!(
            "/webhooks/{}/deliveries?cursor={cursor}",
            other.id
        ))
        .await;
    assert_error(&reply, 400, "invalid_cursor", Some("cursor"));
}

// ---------------------------------------------------------------------------
// 9. `cohort webhook`.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_adds_lists_rotates_and_removes_endpoints() {
    let realm = Realm::with_server_args(FAST);
    let receiver = Receiver::start().await;
    let admin = Native::basic(&realm.cohort.base, &realm.admin);
    let cli = &realm.cohort;
    let group = realm.create_group(&realm.owner, "from the cli", &[]).await;
    let url = receiver.at("/cli");
    let added = cli.cli_json(&[
        "webhook",
        "add",
        "--url",
        &url,
        "--types",
        "group.member_added,group.member_removed",
        "--description",
        "made by hand",
        "--json",
    ]);
    let id = added["id"].as_i64().unwrap();
    let secret = added["secret"].as_str().unwrap().to_string();
    assert!(key_of(&secret).len() >= 24);
    assert_eq!(added["url"], url);
    assert_eq!(
        added["types"],
        j!(["group.member_added", "group.member_removed"])
    );
    assert_eq!(added["description"], "made by hand");
    let listed = cli.cli_json(&["webhook", "list", "--json"]);
    assert_eq!(listed.as_array().unwrap().len(), 1, "{listed}");
    assert_eq!(listed[0]["id"], id);
    assert_eq!(listed[0]["enabled"], true);
    assert!(!listed.to_string().contains("whsec_"), "{listed}");
    let text = cli.cli(&["webhook", "list"]);
    assert!(text.status.success());
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.contains(&url) && !text.contains("whsec_"), "{text}");

    // The server picks it up from the database and sends with its secret.
    let view = eventually("the CLI's endpoint on the server", PATIENCE, || async {
        let reply = admin.get(&format!("/webhooks/{id}")).await;
        (reply.status == 200).then(|| reply.body.clone())
    })
    .await;
    assert_eq!(view["description"], "made by hand");
    let created = audit(&admin, "type=webhook.created").await;
    assert_eq!(created[0]["actor"]["kind"], "operator", "{}", created[0]);
    assert_eq!(created[0]["actor"]["face"], "cli", "{}", created[0]);
    let mut changes = Changes::new(&realm);
    let first = changes.toggle(group, realm.member.id).await;
    let hit = receiver
        .accepted("/cli", &[first["id"].as_str().unwrap().to_string()])
        .await
        .remove(0);
    assert_carries(&hit, &first, &secret);

    // Rotated with nothing kept: only the new secret signs.
    let id_text = id.to_string();
    let rotated = cli.cli_json(&[
        "webhook",
        "rotate-secret",
        &id_text,
        "--keep-old-for-secs",
        "0",
        "--json",
    ]);
    let new_secret = rotated["secret"].as_str().unwrap().to_string();
    assert_ne!(new_secret, secret);
    eventually("the rotation on the server", PATIENCE, || async {
        let e = audit(&admin, "type=webhook.secret_rotated").await;
        (!e.is_empty()).then_some(())
    })
    .await;
    let second = changes.one(group, realm.member.id).await;
    let hit = receiver.accepted("/cli", &[second]).await.remove(0);
    assert_eq!(hit.signatures().len(), 1, "{}", hit.signature);
    assert_eq!(verifying(&new_secret, &hit), 1);
    assert_eq!(verifying(&secret, &hit), 0);

    // Refused input fails the command and commits nothing.
    let version = cli.realms()[0]["version"].clone();
    for args in [
        vec!["webhook", "add", "--url", "ftp://example.com/x"],
        vec!["webhook", "add", "--url", "http://u:p@127.0.0.1:9/x"],
        vec!["webhook", "add", "--url", &url, "--types", "nope"],
        vec!["webhook", "remove", "999999"],
        vec!["webhook", "rotate-secret", "999999"],
        vec![
            "webhook",
            "rotate-secret",
            &id_text,
            "--keep-old-for-secs",
            "-5",
        ],
    ] {
        let out = cli.cli(&args);
        assert!(!out.status.success(), "{args:?} succeeded");
        assert!(!out.stderr.is_empty(), "{args:?} said nothing");
    }
    assert_eq!(cli.realms()[0]["version"], version);

    let out = cli.cli(&["webhook", "remove", &id_text]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(cli.cli_json(&["webhook", "list", "--json"]), j!([]));
    eventually("the removal on the server", PATIENCE, || async {
        (admin.get(&format!("/webhooks/{id}")).await.status == 404).then_some(())
    })
    .await;
}

/// The sender checks where a request goes on every request: an endpoint
/// the CLI saved pointing inside (the CLI does not know the server's
/// policy) is never reached by a server without `--webhook-allow-private`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sender_refuses_internal_addresses_it_was_given_behind_its_back() {
    let realm = Realm::with_server_args(&["--webhook-retry-schedule", "50ms"]);
    let receiver = Receiver::start().await;
    let admin = Native::basic(&realm.cohort.base, &realm.admin);
    let group = realm.create_group(&realm.owner, "inside", &[]).await;
    let out = realm.cohort.cli(&[
        "webhook",
        "add",
        "--url",
        &receiver.at("/inside"),
        "--types",
        "group.*",
        "--json",
    ]);
    if !out.status.success() {
        // Refused when saved: just as good.
        assert!(!out.stderr.is_empty());
        return;
    }
    let id = serde_json::from_slice::<Value>(&out.stdout).unwrap()["id"]
        .as_i64()
        .unwrap();
    eventually("the CLI's endpoint on the server", PATIENCE, || async {
        (admin.get(&format!("/webhooks/{id}")).await.status == 200).then_some(())
    })
    .await;
    let mut changes = Changes::new(&realm);
    let event = changes.one(group, realm.member.id).await;
    let d = delivery_in(&admin, id, &event, "failed").await;
    for attempt in d["attempts"].as_array().unwrap() {
        assert_eq!(attempt["status"], Value::Null, "{d}");
        let error = attempt["error"].as_str().unwrap();
        assert!(error.contains("internal address"), "{d}");
    }
    assert!(receiver.hits().is_empty(), "the sender reached inside");
}
