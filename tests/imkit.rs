//! IMKIT's admin API (`/admin/groups`, `/admin/clients`), black-box, against a
//! live `cohort serve`.
//!
//! Contract: `imkit-admin.md` (envelope `{RC, RM, result}` / `{RC, RM, error}`
//! with the HTTP status equal to `RC`, ISO-8601 ms timestamps, `{totalCount,
//! data}` pages, the `q` subset) plus cohort's documented choices (see
//! `crates/server/src/imkit/mod.rs`, `error.rs` and `core/src/command/keyed.rs`).
//! Every refused request is followed by a check that nothing changed, on
//! both faces: IMKIT's group and client lists and Zulip's groups and users.

mod common;

use common::*;
use serde_json::{json as j, Value};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

type Reply = (u16, Value);

// ---------------------------------------------------------------------------
// The IMKIT client
// ---------------------------------------------------------------------------

/// An IMKIT admin client: sends `IM-API-KEY` (when it has one) on every request.
struct Imkit {
    base: String,
    key: Option<String>,
    http: reqwest::Client,
}

impl Imkit {
    fn new(realm: &Realm) -> Imkit {
        Imkit::with_key(&realm.cohort.base, Some(&realm.platform_key))
    }

    fn with_key(base: &str, key: Option<&str>) -> Imkit {
        Imkit {
            base: base.to_string(),
            key: key.map(str::to_string),
            http: reqwest::Client::builder()
                // Generous: nothing here should take more than a few ms.
                .timeout(Duration::from_secs(5))
                .build()
                .unwrap(),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    async fn send_full(&self, request: reqwest::RequestBuilder) -> (u16, String, Value) {
        let request = match &self.key {
            Some(key) => request.header("IM-API-KEY", key),
            None => request,
        };
        let response = request.send().await.expect("request failed");
        let status = response.status().as_u16();
        let allow = response
            .headers()
            .get("allow")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        let text = response.text().await.expect("body");
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (status, allow, body)
    }

    async fn send(&self, request: reqwest::RequestBuilder) -> Reply {
        let (status, _, body) = self.send_full(request).await;
        (status, body)
    }

    async fn get(&self, path: &str, query: &[(&str, &str)]) -> Reply {
        self.send(self.http.get(self.url(path)).query(query)).await
    }

    async fn post_json(&self, path: &str, body: Value) -> Reply {
        self.send(self.http.post(self.url(path)).json(&body)).await
    }

    async fn delete(&self, path: &str) -> Reply {
        self.send(self.http.delete(self.url(path))).await
    }

    fn raw_request(
        &self,
        method: &str,
        path: &str,
        content_type: &str,
        body: Vec<u8>,
    ) -> reqwest::RequestBuilder {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let request = self.http.request(method, self.url(path)).body(body);
        if content_type.is_empty() {
            request
        } else {
            request.header("content-type", content_type)
        }
    }

    /// Any method, any body, the content type given ("" sends none).
    async fn raw(&self, method: &str, path: &str, content_type: &str, body: Vec<u8>) -> Reply {
        self.send(self.raw_request(method, path, content_type, body))
            .await
    }

    /// Like `raw`, also returning the `Allow` header.
    async fn raw_allow(&self, method: &str, path: &str) -> (u16, String, Value) {
        self.send_full(self.raw_request(method, path, "", Vec::new()))
            .await
    }

    // Conveniences for setting up.

    async fn client(&self, body: Value) -> Value {
        ok(&self.post_json("/admin/clients", body).await)
    }

    async fn group(&self, body: Value) -> Value {
        ok(&self.post_json("/admin/groups", body).await)
    }

    /// `GET /admin/clients?q=…` (plus paging), the page's `_id`s and `totalCount`.
    async fn search(&self, q: &str, paging: &[(&str, &str)]) -> (Vec<String>, u64) {
        let mut query = vec![("q", q)];
        query.extend_from_slice(paging);
        let got = self.get("/admin/clients", &query).await;
        let result = ok(&got);
        let page = data(&result);
        page.iter().for_each(check_client);
        (ids(page), result["totalCount"].as_u64().unwrap())
    }
}

/// A raw HTTP/1.1 exchange over TCP (header spelling exactly as written).
async fn raw_http(base: &str, request: &[u8]) -> Reply {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = base.trim_start_matches("http://").trim_end_matches('/');
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.write_all(request).await.unwrap();
    let mut buf = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut buf))
        .await
        .expect("raw request timed out")
        .unwrap();
    let text = String::from_utf8_lossy(&buf).to_string();
    let (head, body) = text.split_once("\r\n\r\n").expect("an HTTP response");
    let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        let mut out = String::new();
        let mut rest = body;
        while let Some((size, after)) = rest.split_once("\r\n") {
            let size = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
            if size == 0 {
                break;
            }
            out.push_str(&after[..size]);
            rest = &after[size + 2..];
        }
        out
    } else {
        body.to_string()
    };
    (
        status,
        serde_json::from_str(&body).unwrap_or(Value::String(body)),
    )
}

// ---------------------------------------------------------------------------
// Assertions
// ---------------------------------------------------------------------------

fn keys(value: &Value) -> Vec<String> {
    let mut keys: Vec<String> = value
        .as_object()
        .unwrap_or_else(|| panic!("not an object: {value}"))
        .keys()
        .cloned()
        .collect();
    keys.sort();
    keys
}

/// A success envelope: exactly `{"RC":0,"RM":"OK","result":…}`; returns `result`.
#[track_caller]
fn ok(got: &Reply) -> Value {
    assert_eq!(got.0, 200, "{}", got.1);
    assert_eq!(keys(&got.1), ["RC", "RM", "result"], "{}", got.1);
    assert_eq!(got.1["RC"], 0, "{}", got.1);
    assert_eq!(got.1["RM"], "OK", "{}", got.1);
    got.1["result"].clone()
}

/// An error envelope: HTTP status = `RC`, the `RM` and `error.code` given, and
/// an `error.message` containing `message`.
#[track_caller]
fn assert_err(got: &Reply, status: u16, rm: &str, code: &str, message: &str) {
    let (got_status, body) = got;
    assert_eq!(*got_status, status, "status; body {body}");
    assert_eq!(keys(body), ["RC", "RM", "error"], "{body}");
    assert_eq!(body["RC"], status, "RC must equal the HTTP status: {body}");
    assert_eq!(body["RM"], rm, "{body}");
    assert_eq!(keys(&body["error"]), ["code", "message"], "{body}");
    assert_eq!(body["error"]["code"], code, "{body}");
    let text = body["error"]["message"].as_str().expect("message string");
    assert!(
        text.contains(message),
        "message {text:?} should contain {message:?}"
    );
}

/// Assert an IMKIT error, then that both faces look exactly as in `$before`.
macro_rules! refused {
    ($realm:expr, $ik:expr, $before:expr, $got:expr, $status:expr, $rm:expr, $code:expr, $msg:expr) => {{
        let got: Reply = $got;
        assert_err(&got, $status, $rm, $code, $msg);
        assert_eq!(
            state($realm, $ik).await,
            *$before,
            "the refused request ({} {}) left a trace",
            $code,
            $msg
        );
        got
    }};
}

/// Retry `$cond` (which may `.await`) for up to 5 s.
macro_rules! eventually {
    ($what:expr, $cond:expr) => {{
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            if $cond {
                break;
            }
            assert!(Instant::now() < deadline, "timed out waiting for {}", $what);
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }};
}

/// Everything a refused request could have touched, on both faces.
async fn state(realm: &Realm, ik: &Imkit) -> Value {
    let groups = ik.get("/admin/groups", &[("limit", "100")]).await;
    let clients = ik.get("/admin/clients", &[("limit", "100")]).await;
    assert_eq!(groups.0, 200, "{}", groups.1);
    assert_eq!(clients.0, 200, "{}", clients.1);
    let users = realm.api(&realm.owner).get("/users", &[]).await;
    assert_eq!(users.0, 200, "{}", users.1);
    j!({
        "imkit_groups": groups.1,
        "imkit_clients": clients.1,
        "zulip_groups": realm.all_groups().await,
        "zulip_users": users.1,
    })
}

/// `YYYY-MM-DDTHH:MM:SS.mmmZ`.
fn is_iso_ms(text: &str) -> bool {
    let b = text.as_bytes();
    b.len() == 24
        && b.iter().enumerate().all(|(i, c)| match i {
            4 | 7 => *c == b'-',
            10 => *c == b'T',
            13 | 16 => *c == b':',
            19 => *c == b'.',
            23 => *c == b'Z',
            _ => c.is_ascii_digit(),
        })
        && parse_iso(text).map(iso).as_deref() == Some(text)
}

#[track_caller]
fn check_times(item: &Value) {
    for field in ["createdAt", "updatedAt"] {
        let text = item[field].as_str().unwrap_or_else(|| panic!("{item}"));
        assert!(is_iso_ms(text), "{field} {text:?} is not ISO-8601 ms UTC");
    }
    assert!(
        item["createdAt"].as_str() <= item["updatedAt"].as_str(),
        "updatedAt before createdAt: {item}"
    );
}

/// An IMKIT group object: exactly these fields, `id` = `_id`, members are strings.
#[track_caller]
fn check_group(group: &Value) {
    assert_eq!(
        keys(group),
        [
            "_id",
            "avatarUrl",
            "createdAt",
            "id",
            "members",
            "nickname",
            "updatedAt"
        ],
        "{group}"
    );
    assert!(group["_id"].is_string(), "{group}");
    assert_eq!(group["id"], group["_id"], "{group}");
    assert!(group["nickname"].is_string(), "{group}");
    assert!(group["avatarUrl"].is_string(), "{group}");
    let members = group["members"].as_array().expect("members array");
    assert!(members.iter().all(Value::is_string), "{group}");
    check_times(group);
}

/// An IMKIT client object: these fields (`email` only when it has one).
#[track_caller]
fn check_client(client: &Value) {
    let mut expected = vec![
        "_id",
        "avatarUrl",
        "createdAt",
        "id",
        "isRobot",
        "lastLoginTimeMS",
        "nickname",
        "updatedAt",
    ];
    if client.get("email").is_some() {
        assert!(client["email"].is_string(), "{client}");
        expected.insert(3, "email");
    }
    assert_eq!(keys(client), expected, "{client}");
    assert!(client["_id"].is_string(), "{client}");
    assert_eq!(client["id"], client["_id"], "{client}");
    assert!(client["nickname"].is_string(), "{client}");
    assert!(client["avatarUrl"].is_string(), "{client}");
    assert!(client["isRobot"].is_boolean(), "{client}");
    assert_eq!(client["lastLoginTimeMS"], 0, "{client}");
    check_times(client);
}

/// The object without its timestamps, for exact comparisons.
fn untimed(item: &Value) -> Value {
    let mut item = item.clone();
    if let Value::Object(map) = &mut item {
        map.remove("createdAt");
        map.remove("updatedAt");
    }
    item
}

/// A `{totalCount, data}` page: exactly those keys; returns `data`.
#[track_caller]
fn data(result: &Value) -> &Vec<Value> {
    assert_eq!(keys(result), ["data", "totalCount"], "{result}");
    assert!(result["totalCount"].is_u64(), "{result}");
    result["data"].as_array().unwrap()
}

fn ids(items: &[Value]) -> Vec<String> {
    items
        .iter()
        .map(|i| i["_id"].as_str().unwrap().to_string())
        .collect()
}

fn strs(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

/// `GET /admin/groups` page: `(data, totalCount)`, every item checked.
async fn group_page(ik: &Imkit, query: &[(&str, &str)]) -> (Vec<Value>, u64) {
    let result = ok(&ik.get("/admin/groups", query).await);
    let page = data(&result).clone();
    page.iter().for_each(check_group);
    (page, result["totalCount"].as_u64().unwrap())
}

async fn client_page(ik: &Imkit, query: &[(&str, &str)]) -> (Vec<Value>, u64) {
    let result = ok(&ik.get("/admin/clients", query).await);
    let page = data(&result).clone();
    page.iter().for_each(check_client);
    (page, result["totalCount"].as_u64().unwrap())
}

// ---------------------------------------------------------------------------
// Time
// ---------------------------------------------------------------------------

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// Epoch ms as `YYYY-MM-DDTHH:MM:SS.mmmZ` (proleptic Gregorian, UTC).
fn iso(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let (days, sod) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        sod / 3600,
        sod % 3600 / 60,
        sod % 60,
        ms.rem_euclid(1000)
    )
}

/// The inverse of `iso`.
fn parse_iso(text: &str) -> Option<i64> {
    let n = |range: std::ops::Range<usize>| text.get(range)?.parse::<i64>().ok();
    let (y, m, d) = (n(0..4)?, n(5..7)?, n(8..10)?);
    let (hh, mm, ss, ms) = (n(11..13)?, n(14..16)?, n(17..19)?, n(20..23)?);
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(((days * 86_400 + hh * 3600 + mm * 60 + ss) * 1000) + ms)
}

#[track_caller]
fn assert_between(stamp: &Value, before: i64, after: i64) {
    let text = stamp.as_str().unwrap();
    let at = parse_iso(text).unwrap();
    assert!(
        before <= at && at <= after,
        "{text} is not between {} and {}",
        iso(before),
        iso(after)
    );
}

async fn tick() {
    // Timestamps are in ms: make sure the next write gets a later one.
    tokio::time::sleep(Duration::from_millis(5)).await;
}

// ---------------------------------------------------------------------------
// Zulip-side helpers
// ---------------------------------------------------------------------------

/// Zulip's user object for the user with this full name.
async fn zulip_user(realm: &Realm, full_name: &str) -> Value {
    let (status, body) = realm
        .api(&realm.owner)
        .get("/users", &[("client_gravatar", "false".into())])
        .await;
    assert_eq!(status, 200, "{body}");
    body["members"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["full_name"] == full_name)
        .cloned()
        .unwrap_or_else(|| panic!("Zulip shows no user named {full_name}: {body}"))
}

/// Zulip's group object with this name (deactivated ones included), or null.
async fn zulip_group(realm: &Realm, name: &str) -> Value {
    realm.all_groups().await["user_groups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["name"] == name)
        .cloned()
        .unwrap_or(Value::Null)
}

fn sorted_ints(value: &Value) -> Vec<i64> {
    let mut ints: Vec<i64> = value
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_i64().unwrap())
        .collect();
    ints.sort_unstable();
    ints
}

fn sorted_strs(value: &Value) -> Vec<String> {
    let mut all: Vec<String> = value
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    all.sort();
    all
}

fn cli_ok(realm: &Realm, args: &[&str]) {
    let out = realm.cohort.cli(args);
    assert!(
        out.status.success(),
        "cohort {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

const UNAUTHORIZED: (u16, &str, &str, &str) = (
    401,
    "Unauthorized",
    "INVALID_API_KEY",
    "Invalid or missing API key",
);

// ---------------------------------------------------------------------------
// Authentication
// ---------------------------------------------------------------------------

#[tokio::test]
async fn api_key_is_required_checked_per_realm_and_rotatable() {
    let realm = Realm::new();
    let ik = Imkit::new(&realm);
    let base = realm.cohort.base.clone();

    // A fresh realm: Zulip's system groups only, which IMKIT does not see.
    let result = ok(&ik.get("/admin/groups", &[]).await);
    assert_eq!(result, j!({"totalCount": 0, "data": []}));
    let group = ik.group(j!({"_id": "ops", "nickname": "Ops"})).await;
    let before = state(&realm, &ik).await;

    // Missing, empty, wrong and Zulip-style credentials, on every endpoint;
    // authentication comes before the body is even looked at.
    let wrong = format!("{}x", realm.platform_key);
    let callers = [
        ("missing", Imkit::with_key(&base, None)),
        ("empty", Imkit::with_key(&base, Some(""))),
        ("blank", Imkit::with_key(&base, Some("   "))),
        ("wrong", Imkit::with_key(&base, Some(&wrong))),
        (
            "a user's api key",
            Imkit::with_key(&base, Some(&realm.owner.key)),
        ),
    ];
    for (what, caller) in &callers {
        let requests = [
            caller.get("/admin/groups", &[]).await,
            caller.get("/admin/groups/ops", &[]).await,
            caller
                .post_json("/admin/groups", j!({"_id": "x", "nickname": "X"}))
                .await,
            caller.delete("/admin/groups/ops").await,
            caller.get("/admin/clients", &[]).await,
            caller.get("/admin/clients", &[("q", "not json")]).await,
            caller
                .get(&format!("/admin/clients/{}", realm.owner.id), &[])
                .await,
            caller.post_json("/admin/clients", j!({"_id": "x"})).await,
            caller
                .post_json("/admin/clients/list", j!({"data": [{"_id": "x"}]}))
                .await,
            caller
                .raw("POST", "/admin/groups", "application/json", b"{".to_vec())
                .await,
        ];
        for got in requests {
            let (status, rm, code, message) = UNAUTHORIZED;
            assert_err(&got, status, rm, code, message);
            assert_eq!(got.1["error"]["message"], message, "{what}");
        }
    }
    // Zulip's Basic auth does not open IMKIT.
    let got = ik
        .send(
            reqwest::Client::new()
                .get(format!("{base}/admin/groups"))
                .basic_auth(&realm.owner.email, Some(&realm.owner.key)),
        )
        .await;
    assert_eq!(got.0, 200, "sent with the right IM-API-KEY too: {}", got.1);
    let got = Imkit::with_key(&base, None)
        .send(
            reqwest::Client::new()
                .get(format!("{base}/admin/groups"))
                .basic_auth(&realm.owner.email, Some(&realm.owner.key)),
        )
        .await;
    assert_err(&got, 401, "Unauthorized", "INVALID_API_KEY", "API key");
    assert_eq!(
        state(&realm, &ik).await,
        before,
        "refused requests left a trace"
    );

    // Header names are case-insensitive (spelled exactly as written here).
    for header in ["IM-API-KEY", "im-api-key", "Im-Api-Key", "iM-aPi-KeY"] {
        let request = format!(
            "GET /admin/groups/ops HTTP/1.1\r\nHost: x\r\n{header}: {}\r\nConnection: close\r\n\r\n",
            realm.platform_key
        );
        let got = raw_http(&base, request.as_bytes()).await;
        assert_eq!(ok(&got), group, "{header}");
    }

    // Another realm's key opens that realm only.
    let other = realm.cohort.cli_json(&[
        "realm",
        "add",
        "--name",
        "Other",
        "--owner-email",
        "o@other.example",
        "--json",
    ]);
    let other_key = other["platform_key"].as_str().unwrap().to_string();
    let oik = Imkit::with_key(&base, Some(&other_key));
    eventually!(
        "the server to learn the new realm's key",
        oik.get("/admin/clients", &[]).await.0 == 200
    );
    let (clients, total) = client_page(&oik, &[]).await;
    assert_eq!(total, 1);
    assert_eq!(clients[0]["email"], "o@other.example");
    assert_eq!(clients[0]["nickname"], "Owner");
    assert_eq!(group_page(&oik, &[]).await, (vec![], 0));
    assert_err(
        &oik.get("/admin/groups/ops", &[]).await,
        404,
        "Not Found",
        "GROUP_NOT_FOUND",
        "ops",
    );
    assert_err(
        &oik.get(&format!("/admin/clients/{}", realm.bot.id), &[])
            .await,
        404,
        "Client not found",
        "CLIENT_NOT_FOUND",
        "",
    );
    assert_err(
        &oik.delete("/admin/groups/ops").await,
        404,
        "Not Found",
        "GROUP_NOT_FOUND",
        "ops",
    );
    // Its own namespace: the same _id and nickname are free there...
    let theirs = oik.group(j!({"_id": "ops", "nickname": "Ops"})).await;
    assert_eq!(theirs["members"], j!([]));
    // ... and a member of this realm is unknown there.
    assert_err(
        &oik.post_json(
            "/admin/groups",
            j!({"nickname": "Mixed", "members": [realm.bot.id.to_string()]}),
        )
        .await,
        400,
        "Bad Request",
        "INVALID_PARAMETER",
        "no client with _id",
    );
    assert_eq!(
        state(&realm, &ik).await,
        before,
        "writes through another realm's key changed this realm"
    );

    // Rotating the key: the old one stops working, the new one works.
    let rotated = realm
        .cohort
        .cli_json(&["realm", "key", "rotate", "--realm", "Test", "--json"]);
    let new_key = rotated["platform_key"].as_str().unwrap().to_string();
    assert_ne!(new_key, realm.platform_key);
    eventually!(
        "the old key to stop working",
        ik.get("/admin/groups", &[]).await.0 == 401
    );
    let (status, rm, code, message) = UNAUTHORIZED;
    assert_err(
        &ik.get("/admin/groups", &[]).await,
        status,
        rm,
        code,
        message,
    );
    assert_err(
        &ik.post_json("/admin/groups", j!({"nickname": "Late"}))
            .await,
        status,
        rm,
        code,
        message,
    );
    let nik = Imkit::with_key(&base, Some(&new_key));
    assert_eq!(group_page(&nik, &[]).await, (vec![group.clone()], 1));
    assert_eq!(state(&realm, &nik).await, before);
    // The other realm is unaffected.
    assert_eq!(group_page(&oik, &[]).await, (vec![theirs], 1));
}

// ---------------------------------------------------------------------------
// GET /admin/groups
// ---------------------------------------------------------------------------

#[tokio::test]
async fn group_list_pages_in_creation_order() {
    let realm = Realm::new();
    let ik = Imkit::new(&realm);

    // 120 groups whose _id and nickname orders both differ from creation order.
    let mut created = Vec::new();
    for i in 0..120 {
        let got = ik
            .group(j!({
                "_id": format!("g{}", (i * 37) % 120),
                "nickname": format!("Team {:03}", (i * 53) % 120),
            }))
            .await;
        check_group(&got);
        created.push(got);
    }
    let all_ids = ids(&created);

    // Default page: the first 50.
    let (page, total) = group_page(&ik, &[]).await;
    assert_eq!(total, 120);
    assert_eq!(page, created[..50]);

    // limit/skip paging covers everything once, in creation order.
    let mut walked = Vec::new();
    for skip in (0..140).step_by(20) {
        let skip = skip.to_string();
        let (page, total) = group_page(&ik, &[("limit", "20"), ("skip", &skip)]).await;
        assert_eq!(total, 120);
        walked.extend(page);
    }
    assert_eq!(walked, created);
    for (query, expected) in [
        (vec![("limit", "100")], &created[..100]),
        (vec![("skip", "100")], &created[100..]),
        (vec![("skip", "110"), ("limit", "50")], &created[110..]),
        (vec![("skip", "7"), ("limit", "3")], &created[7..10]),
        (vec![("skip", "120")], &created[..0]),
        (vec![("skip", "100000")], &created[..0]),
        (vec![("skip", "18446744073709551615")], &created[..0]),
        (vec![("limit", "0")], &created[..0]),
        (vec![("limit", "0"), ("skip", "5")], &created[..0]),
        (vec![("limit", "1"), ("skip", "119")], &created[119..]),
        (vec![("limit", "007")], &created[..7]),
    ] {
        let (page, total) = group_page(&ik, &query).await;
        assert_eq!(total, 120, "{query:?}");
        assert_eq!(ids(&page), ids(expected), "{query:?}");
    }
    // Zulip sees the same 120 (besides its system groups).
    let zulip = realm.all_groups().await;
    let mine: Vec<&Value> = zulip["user_groups"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|g| g["is_system_group"] == false)
        .collect();
    assert_eq!(mine.len(), 120);
    assert_eq!(
        mine.iter().map(|g| g["name"].clone()).collect::<Vec<_>>(),
        created
            .iter()
            .map(|g| g["nickname"].clone())
            .collect::<Vec<_>>()
    );
    assert_eq!(all_ids.len(), 120);

    // Bad paging parameters, on both lists.
    let before = state(&realm, &ik).await;
    for path in ["/admin/groups", "/admin/clients"] {
        for name in ["limit", "skip"] {
            for bad in [
                "-1",
                "abc",
                "1.5",
                "99999999999999999999999",
                "",
                "1e2",
                "+5",
                "0x10",
                "5 6",
            ] {
                let got = ik.get(path, &[(name, bad)]).await;
                let got = refused!(
                    &realm,
                    &ik,
                    &before,
                    got,
                    400,
                    "Bad Request",
                    "INVALID_PARAMETER",
                    name
                );
                assert!(got.1.get("result").is_none());
            }
        }
        for too_many in ["101", "1000", "18446744073709551615"] {
            refused!(
                &realm,
                &ik,
                &before,
                ik.get(path, &[("limit", too_many)]).await,
                413,
                "Query result too large",
                "RESULT_TOO_LARGE",
                "Please use more specific query or smaller limit"
            );
        }
        // 100 is the largest page.
        ok(&ik.get(path, &[("limit", "100")]).await);
    }
}

// ---------------------------------------------------------------------------
// POST /admin/groups, GET /admin/groups/{id}
// ---------------------------------------------------------------------------

#[tokio::test]
async fn group_create_shapes_and_reads() {
    let realm = Realm::new();
    let ik = Imkit::new(&realm);
    ik.client(j!({"_id": "c1", "nickname": "Cee One"})).await;
    ik.client(j!({"_id": "c2", "nickname": "Cee Two"})).await;
    let member_key = realm.member.id.to_string();

    // With _id, avatarUrl and members (IMKIT clients and a Zulip user).
    let t0 = now_ms();
    let got = ik
        .group(j!({
            "_id": "eng",
            "nickname": "Engineering",
            "avatarUrl": "https://img.example/eng.png",
            "members": ["c1", member_key, "c2"],
        }))
        .await;
    let t1 = now_ms();
    check_group(&got);
    // Members are client ids; cohort keeps them in id (creation) order.
    assert_eq!(
        untimed(&got),
        j!({
            "_id": "eng",
            "id": "eng",
            "nickname": "Engineering",
            "avatarUrl": "https://img.example/eng.png",
            "members": [member_key, "c1", "c2"],
        })
    );
    assert_between(&got["createdAt"], t0, t1);
    assert_eq!(got["createdAt"], got["updatedAt"]);
    assert_eq!(ok(&ik.get("/admin/groups/eng", &[]).await), got);
    assert_eq!(group_page(&ik, &[]).await, (vec![got.clone()], 1));

    // Zulip's view of it: integer members, no creator.
    let zg = zulip_group(&realm, "Engineering").await;
    let mut zulip_members = vec![
        realm.member.id,
        zulip_user(&realm, "Cee One").await["user_id"]
            .as_i64()
            .unwrap(),
        zulip_user(&realm, "Cee Two").await["user_id"]
            .as_i64()
            .unwrap(),
    ];
    zulip_members.sort_unstable();
    assert_eq!(sorted_ints(&zg["members"]), zulip_members);
    assert_eq!(zg["creator_id"], Value::Null);
    assert_eq!(zg["description"], "");
    assert_eq!(zg["is_system_group"], false);
    assert_eq!(zg["deactivated"], false);
    assert_eq!(zg["direct_subgroup_ids"], j!([]));

    // Without _id: one is generated (the group's integer id, as for Zulip's).
    let bare = ik.group(j!({"nickname": "Bare"})).await;
    check_group(&bare);
    let zid = zulip_group(&realm, "Bare").await["id"].as_i64().unwrap();
    assert_eq!(
        untimed(&bare),
        j!({"_id": zid.to_string(), "id": zid.to_string(), "nickname": "Bare",
            "avatarUrl": "", "members": []})
    );
    assert_eq!(
        ok(&ik.get(&format!("/admin/groups/{zid}"), &[]).await),
        bare
    );
    // Null is the same as absent.
    let nulls = ik
        .group(j!({"_id": null, "nickname": "Nulls", "avatarUrl": null, "members": null}))
        .await;
    assert_eq!(nulls["avatarUrl"], "");
    assert_eq!(nulls["members"], j!([]));
    assert_ne!(nulls["_id"], bare["_id"]);
    // Empty members; a bot is a client too.
    let bots = ik
        .group(j!({"_id": "bots", "nickname": "Bots", "members": [realm.bot.id.to_string()]}))
        .await;
    assert_eq!(bots["members"], j!([realm.bot.id.to_string()]));

    // Any printable _id up to 128 characters, addressed percent-encoded.
    let long = "k".repeat(128);
    let wide = "é".repeat(128);
    let odd = "Team A/β?#%";
    for key in [long.as_str(), wide.as_str(), odd] {
        let got = ik
            .group(j!({"_id": key, "nickname": format!("n-{}", key.len()), "members": ["c2"]}))
            .await;
        assert_eq!(got["_id"], key);
        let path = format!("/admin/groups/{}", percent(key));
        assert_eq!(ok(&ik.get(&path, &[]).await), got, "{key}");
    }

    // Content types: with a charset, bare, none at all.
    for (i, content_type) in ["application/json; charset=utf-8", "application/json", ""]
        .into_iter()
        .enumerate()
    {
        let body = j!({"_id": format!("ct{i}"), "nickname": format!("CT {i}")});
        let got = ik
            .raw(
                "POST",
                "/admin/groups",
                content_type,
                body.to_string().into_bytes(),
            )
            .await;
        assert_eq!(ok(&got)["_id"], format!("ct{i}"), "{content_type:?}");
    }

    // The list holds them all, in creation order.
    let (page, total) = group_page(&ik, &[]).await;
    assert_eq!(total, 10);
    assert_eq!(
        ids(&page)[..4],
        strs(&[
            "eng",
            &zid.to_string(),
            nulls["_id"].as_str().unwrap(),
            "bots"
        ])
    );
}

/// Percent-encode a path segment.
fn percent(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

#[tokio::test]
async fn group_create_refusals_change_nothing() {
    let realm = Realm::new();
    let ik = Imkit::new(&realm);
    ik.client(j!({"_id": "c1", "nickname": "Cee One"})).await;
    ik.group(j!({"_id": "alpha", "nickname": "Alpha", "members": ["c1"]}))
        .await;
    // A group deactivated through Zulip keeps its _id and name.
    ik.group(j!({"_id": "gone", "nickname": "Gone"})).await;
    let gone_id = zulip_group(&realm, "Gone").await["id"].as_i64().unwrap();
    assert_success(
        &realm
            .api(&realm.owner)
            .post(&format!("/user_groups/{gone_id}/deactivate"), &[])
            .await,
    );
    let before = state(&realm, &ik).await;
    let owner_key = realm.owner.id.to_string();
    let too_many: Vec<String> = (0..10_001).map(|i| format!("m{i}")).collect();

    let (bad, mp, pi) = ("Bad Request", "MISSING_PARAMETER", "INVALID_PARAMETER");
    #[rustfmt::skip]
    let cases: Vec<(Value, u16, &str, &str, &str)> = vec![
        // nickname is required and must be text.
        (j!({}), 400, bad, mp, "nickname is required"),
        (j!({"nickname": ""}), 400, bad, mp, "nickname is required"),
        (j!({"nickname": "   "}), 400, bad, mp, "nickname is required"),
        (j!({"nickname": null}), 400, bad, mp, "nickname is required"),
        (j!({"_id": "x", "members": ["c1"]}), 400, bad, mp, "nickname is required"),
        (j!({"nickname": 5}), 400, bad, pi, "nickname must be a string"),
        (j!({"nickname": ["N"]}), 400, bad, pi, "nickname must be a string"),
        // members: an array of existing, distinct client ids.
        (j!({"nickname": "N", "members": "c1"}), 400, bad, pi, "members must be an array"),
        (j!({"nickname": "N", "members": {"c1": true}}), 400, bad, pi, "members must be an array"),
        (j!({"nickname": "N", "members": 1}), 400, bad, pi, "members must be an array"),
        (j!({"nickname": "N", "members": ["c1", 5]}), 400, bad, pi, "members[1] must be a string"),
        (j!({"nickname": "N", "members": [null]}), 400, bad, pi, "members[0] must be a string"),
        (j!({"nickname": "N", "members": [["c1"]]}), 400, bad, pi, "members[0] must be a string"),
        (j!({"nickname": "N", "members": ["c1", "nobody"]}), 400, bad, pi, "no client with _id 'nobody'"),
        (j!({"nickname": "N", "members": ["c1", "c1"]}), 400, bad, pi, "'c1' is listed more than once"),
        (j!({"nickname": "N", "members": ["alpha"]}), 400, bad, pi, "'alpha' is a group, not a client"),
        (j!({"nickname": "N", "members": ["role:members"]}), 400, bad, pi, "is a group, not a client"),
        (j!({"nickname": "N", "members": too_many}), 400, bad, pi, "members lists more than 10000 ids"),
        // _id: a printable string of 1..=128 characters, not in use.
        (j!({"_id": "", "nickname": "N"}), 400, bad, pi, "_id is invalid: empty"),
        (j!({"_id": "k".repeat(129), "nickname": "N"}), 400, bad, pi, "_id is invalid: longer than 128"),
        (j!({"_id": "é".repeat(129), "nickname": "N"}), 400, bad, pi, "_id is invalid: longer than 128"),
        (j!({"_id": "a\u{7}b", "nickname": "N"}), 400, bad, pi, "_id is invalid: contains control characters"),
        (j!({"_id": "a\nb", "nickname": "N"}), 400, bad, pi, "_id is invalid: contains control characters"),
        (j!({"_id": "a\u{0}b", "nickname": "N"}), 400, bad, pi, "_id is invalid"),
        (j!({"_id": " padded", "nickname": "N"}), 400, bad, pi, "_id is invalid: has leading or trailing whitespace"),
        (j!({"_id": 5, "nickname": "N"}), 400, bad, pi, "_id must be a string"),
        (j!({"_id": {"a": 1}, "nickname": "N"}), 400, bad, pi, "_id must be a string"),
        (j!({"_id": "c1", "nickname": "N"}), 409, "Conflict", "ID_ALREADY_IN_USE", "'c1' is already the _id"),
        (j!({"_id": owner_key, "nickname": "N"}), 409, "Conflict", "ID_ALREADY_IN_USE", "already the _id"),
        (j!({"_id": "role:members", "nickname": "N"}), 409, "Conflict", "ID_ALREADY_IN_USE", "already the _id"),
        (j!({"_id": "gone", "nickname": "N"}), 409, "Conflict", "ID_ALREADY_IN_USE", "already the _id"),
        (j!({"_id": "alpha", "nickname": "N"}), 409, "Conflict", "GROUP_ALREADY_EXISTS", "A group with this ID already exists"),
        (j!({"_id": "alpha", "nickname": "Alpha"}), 409, "Conflict", "GROUP_ALREADY_EXISTS", "A group with this ID already exists"),
        // nickname: unique, Zulip's group-name rules.
        (j!({"nickname": "Alpha"}), 409, "Conflict", "NICKNAME_TAKEN", "Another group is already named 'Alpha'"),
        (j!({"_id": "beta", "nickname": "Alpha", "members": ["c1"]}), 409, "Conflict", "NICKNAME_TAKEN", "'Alpha'"),
        (j!({"nickname": "Gone"}), 409, "Conflict", "NICKNAME_TAKEN", "'Gone'"),
        (j!({"nickname": "role:x"}), 400, bad, pi, "nickname cannot start with 'role:'"),
        (j!({"nickname": "role:members"}), 400, bad, pi, "nickname cannot start with 'role:'"),
        (j!({"nickname": "@x"}), 400, bad, pi, "nickname cannot start with '@'"),
        (j!({"nickname": "user:x"}), 400, bad, pi, "nickname cannot start with 'user:'"),
        (j!({"nickname": "channel:x"}), 400, bad, pi, "nickname cannot start with 'channel:'"),
        (j!({"nickname": "n".repeat(101)}), 400, bad, pi, "nickname must be at most 100 characters"),
        (j!({"nickname": "a\u{0}b"}), 400, bad, pi, "NUL"),
        // avatarUrl: a bounded string.
        (j!({"nickname": "N", "avatarUrl": 5}), 400, bad, pi, "avatarUrl must be a string"),
        (j!({"nickname": "N", "avatarUrl": "https://x/\n.png"}), 400, bad, pi, "avatarUrl"),
        (j!({"nickname": "N", "avatarUrl": format!("https://x/{}", "a".repeat(2048))}), 400, bad, pi, "avatarUrl must be at most 2048"),
    ];
    for (body, status, rm, code, message) in cases {
        let got = ik.post_json("/admin/groups", body.clone()).await;
        assert_err(&got, status, rm, code, message);
        assert_eq!(
            state(&realm, &ik).await,
            before,
            "POST /admin/groups {body} left a trace"
        );
    }
    // A 128-character _id and a 100-character nickname are fine (boundaries).
    let fine = ik
        .group(j!({"_id": "k".repeat(128), "nickname": "n".repeat(100)}))
        .await;
    assert_eq!(fine["nickname"], "n".repeat(100));
    assert_success(
        &realm
            .api(&realm.owner)
            .delete(&format!("/users/{}", realm.member2.id), &[])
            .await,
    );
    ok(&ik
        .delete(&format!("/admin/groups/{}", "k".repeat(128)))
        .await);
    let before = state(&realm, &ik).await;

    // A deactivated user is no longer a valid member.
    refused!(
        &realm,
        &ik,
        &before,
        ik.post_json(
            "/admin/groups",
            j!({"nickname": "N", "members": [realm.member2.id.to_string()]})
        )
        .await,
        409,
        "Conflict",
        "CLIENT_DEACTIVATED",
        "deactivated"
    );

    // Bodies that are not one JSON object.
    for (body, message) in [
        (&b"{"[..], "not valid JSON"),
        (b"", "not valid JSON"),
        (b"nickname=N", "not valid JSON"),
        (b"{\"nickname\": \"N\"} trailing", "not valid JSON"),
        (b"\xff\xfe{}", "not valid JSON"),
        (b"[{\"nickname\": \"N\"}]", "must be a JSON object"),
        (b"\"N\"", "must be a JSON object"),
        (b"null", "must be a JSON object"),
        (b"42", "must be a JSON object"),
    ] {
        refused!(
            &realm,
            &ik,
            &before,
            ik.raw("POST", "/admin/groups", "application/json", body.to_vec())
                .await,
            400,
            "Bad Request",
            "INVALID_REQUEST",
            message
        );
    }
}

#[tokio::test]
async fn group_upsert_mode_updates_existing_ids() {
    let realm = Realm::new();
    let ik = Imkit::new(&realm);
    for key in ["c1", "c2", "c3"] {
        ik.client(j!({"_id": key, "nickname": format!("Client {key}")}))
            .await;
    }
    let created = ik
        .group(
            j!({"_id": "up", "nickname": "Up", "avatarUrl": "https://a/1.png",
                   "members": ["c1", "c2"]}),
        )
        .await;
    ik.group(j!({"_id": "other", "nickname": "Other"})).await;
    let before = state(&realm, &ik).await;

    // Default (current IMKIT docs): an existing _id is a conflict.
    refused!(
        &realm,
        &ik,
        &before,
        ik.post_json(
            "/admin/groups",
            j!({"_id": "up", "nickname": "Up 2", "members": ["c3"]})
        )
        .await,
        409,
        "Conflict",
        "GROUP_ALREADY_EXISTS",
        "A group with this ID already exists"
    );

    // Legacy docs: create or update.
    cli_ok(&realm, &["realm", "set", "--group-upsert", "update"]);
    tick().await;
    let update = j!({"_id": "up", "nickname": "Up 2", "members": ["c3", "c1"]});
    let mut got = ik.post_json("/admin/groups", update.clone()).await;
    eventually!("the server to pick up --group-upsert update", {
        if got.0 == 409 {
            got = ik.post_json("/admin/groups", update.clone()).await;
        }
        got.0 != 409
    });
    let updated = ok(&got);
    check_group(&updated);
    assert_eq!(
        untimed(&updated),
        j!({"_id": "up", "id": "up", "nickname": "Up 2",
            "avatarUrl": "https://a/1.png", "members": ["c1", "c3"]})
    );
    assert_eq!(
        updated["createdAt"], created["createdAt"],
        "createdAt is kept"
    );
    assert!(
        updated["updatedAt"].as_str() > created["updatedAt"].as_str(),
        "updatedAt moves: {created} -> {updated}"
    );
    assert_eq!(ok(&ik.get("/admin/groups/up", &[]).await), updated);
    let (page, total) = group_page(&ik, &[]).await;
    assert_eq!(total, 2);
    assert_eq!(page[0], updated, "an update keeps the group's place");
    // Zulip sees the new name and members.
    assert_eq!(zulip_group(&realm, "Up").await, Value::Null);
    let zg = zulip_group(&realm, "Up 2").await;
    let mut expected = vec![
        zulip_user(&realm, "Client c1").await["user_id"]
            .as_i64()
            .unwrap(),
        zulip_user(&realm, "Client c3").await["user_id"]
            .as_i64()
            .unwrap(),
    ];
    expected.sort_unstable();
    assert_eq!(sorted_ints(&zg["members"]), expected);

    // Its own nickname again is not "taken"; members left out are kept;
    // avatarUrl is replaced when sent; an empty list empties the group.
    tick().await;
    let same = ok(&ik
        .post_json(
            "/admin/groups",
            j!({"_id": "up", "nickname": "Up 2", "avatarUrl": "https://a/2.png"}),
        )
        .await);
    assert_eq!(same["members"], j!(["c1", "c3"]));
    assert_eq!(same["avatarUrl"], "https://a/2.png");
    let emptied = ok(&ik
        .post_json(
            "/admin/groups",
            j!({"_id": "up", "nickname": "Up 2", "members": []}),
        )
        .await);
    assert_eq!(emptied["members"], j!([]));
    assert_eq!(zulip_group(&realm, "Up 2").await["members"], j!([]));
    assert_eq!(emptied["createdAt"], created["createdAt"]);

    // Refusals in update mode change nothing (all or nothing).
    let before = state(&realm, &ik).await;
    #[rustfmt::skip]
    let cases: Vec<(Value, u16, &str, &str, &str)> = vec![
        (j!({"_id": "up", "nickname": "Other"}), 409, "Conflict", "NICKNAME_TAKEN", "'Other'"),
        (j!({"_id": "up", "nickname": "Up 3", "members": ["c1", "nobody"]}), 400, "Bad Request", "INVALID_PARAMETER", "nobody"),
        (j!({"_id": "up", "nickname": "Up 3", "members": ["c1", "c1"]}), 400, "Bad Request", "INVALID_PARAMETER", "more than once"),
        (j!({"_id": "up", "nickname": "Up 3", "members": ["other"]}), 400, "Bad Request", "INVALID_PARAMETER", "is a group"),
        (j!({"_id": "up"}), 400, "Bad Request", "MISSING_PARAMETER", "nickname is required"),
        (j!({"_id": "up", "nickname": "role:up"}), 400, "Bad Request", "INVALID_PARAMETER", "role:"),
        (j!({"_id": "c1", "nickname": "C"}), 409, "Conflict", "ID_ALREADY_IN_USE", "'c1'"),
        (j!({"_id": "role:members", "nickname": "C"}), 409, "Conflict", "ID_ALREADY_IN_USE", "role:members"),
    ];
    for (body, status, rm, code, message) in cases {
        let got = ik.post_json("/admin/groups", body.clone()).await;
        assert_err(&got, status, rm, code, message);
        assert_eq!(state(&realm, &ik).await, before, "{body} left a trace");
    }
    // A new _id still creates.
    let fresh = ik
        .group(j!({"_id": "fresh", "nickname": "Fresh", "members": ["c2"]}))
        .await;
    assert_eq!(fresh["members"], j!(["c2"]));
    assert_eq!(fresh["createdAt"], fresh["updatedAt"]);

    // Back to the default.
    cli_ok(&realm, &["realm", "set", "--group-upsert", "reject"]);
    let again = j!({"_id": "fresh", "nickname": "Fresh 2"});
    eventually!(
        "the server to pick up --group-upsert reject",
        ik.post_json("/admin/groups", again.clone()).await.0 == 409
    );
    assert_err(
        &ik.post_json("/admin/groups", again).await,
        409,
        "Conflict",
        "GROUP_ALREADY_EXISTS",
        "already exists",
    );
}

#[tokio::test]
async fn bodies_over_the_size_limit_are_413() {
    let realm = Realm::with_server_args(&["--max-body-bytes", "4096"]);
    let ik = Imkit::new(&realm);
    let before = state(&realm, &ik).await;
    let big = "x".repeat(5000);
    for (path, body) in [
        ("/admin/groups", j!({"nickname": "Big", "avatarUrl": big})),
        ("/admin/clients", j!({"_id": "big", "avatarUrl": big})),
        (
            "/admin/clients/list",
            j!({"data": (0..300).map(|i| j!({"_id": format!("b{i}")})).collect::<Vec<_>>()}),
        ),
    ] {
        refused!(
            &realm,
            &ik,
            &before,
            ik.post_json(path, body).await,
            413,
            "Payload Too Large",
            "PAYLOAD_TOO_LARGE",
            "too large"
        );
    }
    // Without a Content-Length (chunked), too.
    let body = j!({"nickname": "Big", "avatarUrl": big}).to_string();
    let request = format!(
        "POST /admin/groups HTTP/1.1\r\nHost: x\r\nIM-API-KEY: {}\r\n\
         Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\
         Connection: close\r\n\r\n{:x}\r\n{body}\r\n0\r\n\r\n",
        realm.platform_key,
        body.len()
    );
    let got = raw_http(&realm.cohort.base, request.as_bytes()).await;
    refused!(
        &realm,
        &ik,
        &before,
        got,
        413,
        "Payload Too Large",
        "PAYLOAD_TOO_LARGE",
        "too large"
    );
    // Just under the limit is fine.
    let under = "y".repeat(2000);
    let got = ik
        .group(j!({"nickname": "Under", "avatarUrl": under}))
        .await;
    assert_eq!(got["avatarUrl"], under);
    let got = ik.client(j!({"_id": "under", "avatarUrl": under})).await;
    assert_eq!(got["avatarUrl"], under);
}

// ---------------------------------------------------------------------------
// GET and DELETE /admin/groups/{id}
// ---------------------------------------------------------------------------

#[tokio::test]
async fn group_get_and_delete() {
    let realm = Realm::new();
    let ik = Imkit::new(&realm);
    let owner = realm.api(&realm.owner);
    ik.client(j!({"_id": "c1", "nickname": "Cee One"})).await;
    let doomed = ik
        .group(j!({"_id": "doomed", "nickname": "Doomed", "members": ["c1"]}))
        .await;
    let keep = ik.group(j!({"_id": "keep", "nickname": "Keep"})).await;
    let before = state(&realm, &ik).await;
    let members_id = realm.system_group("role:members").await;

    // Unknown ids and Zulip's system groups are not IMKIT groups.
    for key in [
        "nope".to_string(),
        "role:members".to_string(),
        "role:everyone".to_string(),
        members_id.to_string(),
        "c1".to_string(),
        realm.owner.id.to_string(),
    ] {
        let path = format!("/admin/groups/{}", percent(&key));
        for got in [ik.get(&path, &[]).await, ik.delete(&path).await] {
            refused!(
                &realm,
                &ik,
                &before,
                got,
                404,
                "Not Found",
                "GROUP_NOT_FOUND",
                &key
            );
        }
    }

    // DELETE answers with the group as it was, and it is gone from both faces.
    let zid = zulip_group(&realm, "Doomed").await["id"].as_i64().unwrap();
    let got = ok(&ik.delete("/admin/groups/doomed").await);
    assert_eq!(got, doomed);
    assert_eq!(group_page(&ik, &[]).await, (vec![keep.clone()], 1));
    assert_eq!(zulip_group(&realm, "Doomed").await, Value::Null);
    assert!(realm.group(zid).await.is_null());
    for got in [
        ik.get("/admin/groups/doomed", &[]).await,
        ik.delete("/admin/groups/doomed").await,
    ] {
        assert_err(&got, 404, "Not Found", "GROUP_NOT_FOUND", "doomed");
    }
    // Its members are untouched, and its _id and nickname are free again.
    assert_eq!(ok(&ik.get("/admin/clients/c1", &[]).await)["_id"], "c1");
    tick().await;
    let reborn = ik.group(j!({"_id": "doomed", "nickname": "Doomed"})).await;
    assert!(reborn["createdAt"].as_str() > doomed["createdAt"].as_str());
    ok(&ik.delete("/admin/groups/doomed").await);

    // A Zulip-created group is addressed by its integer id.
    let zulip_made = realm
        .create_group(&realm.owner, "Zulip made", &[realm.member.id])
        .await;
    let got = ok(&ik.get(&format!("/admin/groups/{zulip_made}"), &[]).await);
    check_group(&got);
    assert_eq!(
        untimed(&got),
        j!({"_id": zulip_made.to_string(), "id": zulip_made.to_string(),
            "nickname": "Zulip made", "avatarUrl": "",
            "members": [realm.member.id.to_string()]})
    );

    // In use as a Zulip subgroup: 409 GROUP_IN_USE, nothing changes.
    let sub = ik.group(j!({"_id": "sub", "nickname": "Sub"})).await;
    let sub_zid = zulip_group(&realm, "Sub").await["id"].as_i64().unwrap();
    assert_success(
        &owner
            .post(
                &format!("/user_groups/{zulip_made}/subgroups"),
                &[("add", json([sub_zid]))],
            )
            .await,
    );
    let before = state(&realm, &ik).await;
    for _ in 0..2 {
        refused!(
            &realm,
            &ik,
            &before,
            ik.delete("/admin/groups/sub").await,
            409,
            "Conflict",
            "GROUP_IN_USE",
            "subgroup"
        );
    }
    assert_eq!(ok(&ik.get("/admin/groups/sub", &[]).await), sub);
    // The supergroup itself can go; then the subgroup is free.
    ok(&ik.delete(&format!("/admin/groups/{zulip_made}")).await);
    assert!(realm.group(zulip_made).await.is_null());
    ok(&ik.delete("/admin/groups/sub").await);

    // Named by another group's permission setting.
    let named = ik.group(j!({"_id": "named", "nickname": "Named"})).await;
    let named_zid = zulip_group(&realm, "Named").await["id"].as_i64().unwrap();
    let keep_zid = zulip_group(&realm, "Keep").await["id"].as_i64().unwrap();
    assert_success(
        &owner
            .patch(
                &format!("/user_groups/{keep_zid}"),
                &[("can_mention_group", json(j!({"new": named_zid})))],
            )
            .await,
    );
    let before = state(&realm, &ik).await;
    let got = refused!(
        &realm,
        &ik,
        &before,
        ik.delete("/admin/groups/named").await,
        409,
        "Conflict",
        "GROUP_IN_USE",
        "can_mention_group"
    );
    assert!(
        got.1["error"]["message"]
            .as_str()
            .unwrap()
            .contains(&keep_zid.to_string()),
        "{}",
        got.1
    );
    assert_eq!(ok(&ik.get("/admin/groups/named", &[]).await), named);

    // Named inside an anonymous setting value, and by a deactivated group's setting.
    let anon = ik.group(j!({"_id": "anon", "nickname": "Anon"})).await;
    let anon_zid = zulip_group(&realm, "Anon").await["id"].as_i64().unwrap();
    let holder = realm.create_group(&realm.owner, "Holder", &[]).await;
    assert_success(
        &owner
            .patch(
                &format!("/user_groups/{holder}"),
                &[(
                    "can_join_group",
                    json(j!({"new": {"direct_members": [realm.member.id],
                                     "direct_subgroups": [anon_zid]}})),
                )],
            )
            .await,
    );
    assert_success(
        &owner
            .post(&format!("/user_groups/{holder}/deactivate"), &[])
            .await,
    );
    let before = state(&realm, &ik).await;
    refused!(
        &realm,
        &ik,
        &before,
        ik.delete("/admin/groups/anon").await,
        409,
        "Conflict",
        "GROUP_IN_USE",
        "can_join_group"
    );
    assert_eq!(ok(&ik.get("/admin/groups/anon", &[]).await), anon);

    // Named by a realm setting (changed through the CLI; a canary client,
    // added after it, shows when the server has caught up).
    let realm_named = ik
        .group(j!({"_id": "realm-named", "nickname": "Realm named"}))
        .await;
    let realm_named_zid = zulip_group(&realm, "Realm named").await["id"]
        .as_i64()
        .unwrap();
    cli_ok(
        &realm,
        &[
            "realm",
            "set",
            "--can-create-groups",
            &realm_named_zid.to_string(),
        ],
    );
    realm
        .cohort
        .add_user("canary@test.example", "Canary Bird", "member", false);
    eventually!(
        "the server to catch up with the CLI",
        ik.search(r#"{"nickname": "Canary Bird"}"#, &[]).await.1 == 1
    );
    let before = state(&realm, &ik).await;
    refused!(
        &realm,
        &ik,
        &before,
        ik.delete("/admin/groups/realm-named").await,
        409,
        "Conflict",
        "GROUP_IN_USE",
        "realm"
    );
    assert_eq!(
        ok(&ik.get("/admin/groups/realm-named", &[]).await),
        realm_named
    );

    // A group deactivated through Zulip is invisible to IMKIT.
    let deact = ik.group(j!({"_id": "deact", "nickname": "Deact"})).await;
    let deact_zid = zulip_group(&realm, "Deact").await["id"].as_i64().unwrap();
    assert!(ids(&group_page(&ik, &[]).await.0).contains(&"deact".to_string()));
    assert_success(
        &owner
            .post(&format!("/user_groups/{deact_zid}/deactivate"), &[])
            .await,
    );
    let before = state(&realm, &ik).await;
    assert!(!ids(&group_page(&ik, &[]).await.0).contains(&"deact".to_string()));
    for got in [
        ik.get("/admin/groups/deact", &[]).await,
        ik.delete("/admin/groups/deact").await,
    ] {
        refused!(
            &realm,
            &ik,
            &before,
            got,
            404,
            "Not Found",
            "GROUP_NOT_FOUND",
            "deact"
        );
    }
    assert_eq!(realm.group(deact_zid).await["deactivated"], true);
    let _ = deact;
}

// ---------------------------------------------------------------------------
// POST /admin/clients
// ---------------------------------------------------------------------------

#[tokio::test]
async fn client_create_and_partial_update() {
    let realm = Realm::new();
    let ik = Imkit::new(&realm);

    let t0 = now_ms();
    let alice = ik
        .client(
            j!({"_id": "alice", "nickname": "Alice", "email": "alice@example.com",
                    "avatarUrl": "https://img.example/a.png"}),
        )
        .await;
    let t1 = now_ms();
    check_client(&alice);
    assert_eq!(
        untimed(&alice),
        j!({"_id": "alice", "id": "alice", "nickname": "Alice", "email": "alice@example.com",
            "avatarUrl": "https://img.example/a.png", "isRobot": false, "lastLoginTimeMS": 0})
    );
    assert_between(&alice["createdAt"], t0, t1);
    assert_eq!(alice["createdAt"], alice["updatedAt"]);
    assert_eq!(ok(&ik.get("/admin/clients/alice", &[]).await), alice);

    // Only the fields sent change.
    tick().await;
    let v2 = ik
        .client(j!({"_id": "alice", "avatarUrl": "https://img.example/b.png"}))
        .await;
    check_client(&v2);
    assert_eq!(
        untimed(&v2),
        j!({"_id": "alice", "id": "alice", "nickname": "Alice", "email": "alice@example.com",
            "avatarUrl": "https://img.example/b.png", "isRobot": false, "lastLoginTimeMS": 0})
    );
    assert_eq!(v2["createdAt"], alice["createdAt"]);
    assert!(v2["updatedAt"].as_str() > alice["updatedAt"].as_str());
    tick().await;
    let v3 = ik
        .client(j!({"_id": "alice", "nickname": "Alice Liddell"}))
        .await;
    assert_eq!(v3["nickname"], "Alice Liddell");
    assert_eq!(v3["email"], "alice@example.com");
    assert_eq!(v3["avatarUrl"], "https://img.example/b.png");
    assert!(v3["updatedAt"].as_str() > v2["updatedAt"].as_str());
    // Null fields and a false issueAccessToken are "not sent".
    let v4 = ik
        .client(
            j!({"_id": "alice", "nickname": null, "email": null, "avatarUrl": null,
                    "issueAccessToken": false, "token": null}),
        )
        .await;
    assert_eq!(untimed(&v4), untimed(&v3));
    // Its own email again (in any case) is not "taken".
    let v5 = ik
        .client(j!({"_id": "alice", "email": "alice@example.com"}))
        .await;
    assert_eq!(v5["email"], "alice@example.com");
    let v6 = ik
        .client(j!({"_id": "alice", "email": "Alice@Example.com"}))
        .await;
    assert_eq!(v6["email"], "Alice@Example.com");
    assert_eq!(ok(&ik.get("/admin/clients/alice", &[]).await), v6);

    // Zulip's view follows.
    let za = zulip_user(&realm, "Alice Liddell").await;
    assert_eq!(za["delivery_email"], "Alice@Example.com");
    assert_eq!(za["email"], "Alice@Example.com");
    assert_eq!(za["avatar_url"], "https://img.example/b.png");
    assert_eq!(za["is_bot"], false);
    assert_eq!(za["role"], 400);
    assert_eq!(za["is_active"], true);

    // No nickname: it defaults from _id (Zulip's name rules applied).
    for (key, nickname) in [
        ("bob", "bob"),
        ("x", "Client x"),
        ("a@b", "a_b"),
        ("dept/ann", "dept/ann"),
    ] {
        let got = ik.client(j!({"_id": key})).await;
        check_client(&got);
        assert_eq!(
            untimed(&got),
            j!({"_id": key, "id": key, "nickname": nickname, "avatarUrl": "",
                "isRobot": false, "lastLoginTimeMS": 0}),
            "{key}"
        );
        let path = format!("/admin/clients/{}", percent(key));
        assert_eq!(ok(&ik.get(&path, &[]).await), got, "{key}");
    }
    // Custom fields (legacy docs) are accepted.
    let got = ik
        .client(j!({"_id": "carol", "nickname": "Carol", "description": "custom", "appID": "x"}))
        .await;
    assert_eq!(got["nickname"], "Carol");

    // An IMKIT client without email: Zulip shows a placeholder.
    let zb = zulip_user(&realm, "bob").await;
    let bob_id = zb["user_id"].as_i64().unwrap();
    assert_eq!(zb["email"], format!("user{bob_id}@cohort.invalid"));
    assert_eq!(zb["delivery_email"], Value::Null);
    let (status, body) = realm
        .api(&realm.member)
        .get(&format!("/users/{bob_id}"), &[])
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["user"]["email"],
        format!("user{bob_id}@cohort.invalid")
    );
    assert_eq!(body["user"]["delivery_email"], Value::Null);
    // Giving it an email later shows through.
    let got = ik
        .client(j!({"_id": "bob", "email": "bob@example.com"}))
        .await;
    assert_eq!(got["email"], "bob@example.com");
    assert_eq!(got["nickname"], "bob");
    let zb = zulip_user(&realm, "bob").await;
    assert_eq!(zb["email"], "bob@example.com");
    assert_eq!(zb["delivery_email"], "bob@example.com");

    // Zulip-created users are clients under their integer id, and can be updated.
    let member_key = realm.member.id.to_string();
    let got = ok(&ik.get(&format!("/admin/clients/{member_key}"), &[]).await);
    check_client(&got);
    assert_eq!(
        untimed(&got),
        j!({"_id": member_key, "id": member_key, "nickname": "Mia Member",
            "email": "member@test.example", "avatarUrl": "", "isRobot": false,
            "lastLoginTimeMS": 0})
    );
    let bot_key = realm.bot.id.to_string();
    let got = ok(&ik.get(&format!("/admin/clients/{bot_key}"), &[]).await);
    assert_eq!(got["isRobot"], true);
    assert_eq!(got["nickname"], "Bob Bot");
    let got = ik
        .client(j!({"_id": member_key, "nickname": "Mia Renamed"}))
        .await;
    assert_eq!(got["email"], "member@test.example");
    let zm = zulip_user(&realm, "Mia Renamed").await;
    assert_eq!(zm["user_id"], realm.member.id);
    assert_eq!(zm["role"], 400, "an IMKIT update keeps the Zulip role");
}

#[tokio::test]
async fn client_refusals_change_nothing() {
    let realm = Realm::new();
    let ik = Imkit::new(&realm);
    ik.client(j!({"_id": "alice", "nickname": "Alice", "email": "alice@example.com"}))
        .await;
    ik.client(j!({"_id": "gone", "nickname": "Gone Client"}))
        .await;
    ik.group(j!({"_id": "team", "nickname": "Team"})).await;
    let gone_id = zulip_user(&realm, "Gone Client").await["user_id"]
        .as_i64()
        .unwrap();
    assert_success(
        &realm
            .api(&realm.owner)
            .delete(&format!("/users/{gone_id}"), &[])
            .await,
    );
    let before = state(&realm, &ik).await;

    let (bad, pi) = ("Bad Request", "INVALID_PARAMETER");
    let tokens = "TOKENS_NOT_SUPPORTED";
    #[rustfmt::skip]
    let cases: Vec<(Value, u16, &str, &str, &str)> = vec![
        (j!({}), 400, bad, "MISSING_PARAMETER", "_id is required"),
        (j!({"_id": null, "nickname": "X"}), 400, bad, "MISSING_PARAMETER", "_id is required"),
        (j!({"nickname": "Alice"}), 400, bad, "MISSING_PARAMETER", "_id is required"),
        (j!({"_id": 5}), 400, bad, pi, "_id must be a string"),
        (j!({"_id": ["alice"]}), 400, bad, pi, "_id must be a string"),
        (j!({"_id": true}), 400, bad, pi, "_id must be a string"),
        (j!({"_id": "t1", "issueAccessToken": true}), 400, bad, tokens, "token"),
        (j!({"_id": "t1", "token": "abc"}), 400, bad, tokens, "token"),
        (j!({"_id": "t1", "token": "abc", "expirationDate": "2030-01-01T00:00:00.000Z"}), 400, bad, tokens, "token"),
        (j!({"_id": "alice", "nickname": "Changed", "issueAccessToken": true}), 400, bad, tokens, "token"),
        (j!({"_id": ""}), 400, bad, pi, "_id is invalid: empty"),
        (j!({"_id": "k".repeat(129)}), 400, bad, pi, "_id is invalid: longer than 128"),
        (j!({"_id": "a\tb"}), 400, bad, pi, "_id is invalid: contains control characters"),
        (j!({"_id": "trailing "}), 400, bad, pi, "_id is invalid: has leading or trailing whitespace"),
        (j!({"_id": "team"}), 409, "Conflict", "ID_ALREADY_IN_USE", "'team' is already the _id"),
        (j!({"_id": "team", "nickname": "Team Client"}), 409, "Conflict", "ID_ALREADY_IN_USE", "'team'"),
        (j!({"_id": "role:members"}), 409, "Conflict", "ID_ALREADY_IN_USE", "role:members"),
        (j!({"_id": "n1", "email": "not-an-email"}), 400, bad, pi, "email is not a valid address"),
        (j!({"_id": "n1", "email": "a@b"}), 400, bad, pi, "email is not a valid address"),
        (j!({"_id": "n1", "email": "a b@c.example"}), 400, bad, pi, "email is not a valid address"),
        (j!({"_id": "n1", "email": ""}), 400, bad, pi, "email is not a valid address"),
        (j!({"_id": "alice", "email": "bad@"}), 400, bad, pi, "email is not a valid address"),
        (j!({"_id": "n1", "email": 5}), 400, bad, pi, "email must be a string"),
        (j!({"_id": "n1", "email": "member@test.example"}), 409, "Conflict", "EMAIL_ALREADY_IN_USE", "email"),
        (j!({"_id": "n1", "email": "MEMBER@Test.Example"}), 409, "Conflict", "EMAIL_ALREADY_IN_USE", "email"),
        (j!({"_id": "alice", "email": "member@test.example"}), 409, "Conflict", "EMAIL_ALREADY_IN_USE", "email"),
        (j!({"_id": "n1", "nickname": "a@b"}), 400, bad, pi, "nickname contains characters that are not allowed"),
        (j!({"_id": "n1", "nickname": "a*b"}), 400, bad, pi, "nickname contains characters"),
        (j!({"_id": "alice", "nickname": "Alice @ home"}), 400, bad, pi, "nickname contains characters"),
        (j!({"_id": "n1", "nickname": "x"}), 400, bad, pi, "nickname is too short"),
        (j!({"_id": "n1", "nickname": "n".repeat(101)}), 400, bad, pi, "nickname is too long"),
        (j!({"_id": "n1", "nickname": 5}), 400, bad, pi, "nickname must be a string"),
        (j!({"_id": "n1", "avatarUrl": 5}), 400, bad, pi, "avatarUrl must be a string"),
        (j!({"_id": "n1", "avatarUrl": "a".repeat(2049)}), 400, bad, pi, "avatarUrl must be at most 2048"),
        (j!({"_id": "gone"}), 409, "Conflict", "CLIENT_DEACTIVATED", "deactivated"),
        (j!({"_id": "gone", "nickname": "Back"}), 409, "Conflict", "CLIENT_DEACTIVATED", "'gone'"),
    ];
    for (body, status, rm, code, message) in cases {
        let got = ik.post_json("/admin/clients", body.clone()).await;
        assert_err(&got, status, rm, code, message);
        assert_eq!(
            state(&realm, &ik).await,
            before,
            "POST /admin/clients {body} left a trace"
        );
    }
    for (body, message) in [
        (&b"{"[..], "not valid JSON"),
        (b"", "not valid JSON"),
        (b"[{\"_id\": \"arr\"}]", "must be a JSON object"),
        (b"\"arr\"", "must be a JSON object"),
    ] {
        refused!(
            &realm,
            &ik,
            &before,
            ik.raw("POST", "/admin/clients", "application/json", body.to_vec())
                .await,
            400,
            "Bad Request",
            "INVALID_REQUEST",
            message
        );
    }
}

// ---------------------------------------------------------------------------
// POST /admin/clients/list
// ---------------------------------------------------------------------------

#[tokio::test]
async fn client_batch_is_all_or_nothing() {
    let realm = Realm::new();
    let ik = Imkit::new(&realm);
    let alice = ik
        .client(j!({"_id": "alice", "nickname": "Alice", "email": "alice@example.com"}))
        .await;
    ik.group(j!({"_id": "team", "nickname": "Team"})).await;

    // Create two, update one (only the fields sent).
    tick().await;
    let got = ik
        .post_json(
            "/admin/clients/list",
            j!({"data": [
                {"_id": "b1", "nickname": "Bee One", "avatarUrl": "https://x/b1.png"},
                {"_id": "b2", "email": "b2@example.com"},
                {"_id": "alice", "nickname": "Alice Two"},
            ]}),
        )
        .await;
    assert_eq!(got.0, 200, "{}", got.1);
    assert_eq!(got.1, j!({"RC": 0, "RM": "OK", "result": {"count": 3}}));
    let b1 = ok(&ik.get("/admin/clients/b1", &[]).await);
    check_client(&b1);
    assert_eq!(
        untimed(&b1),
        j!({"_id": "b1", "id": "b1", "nickname": "Bee One", "avatarUrl": "https://x/b1.png",
            "isRobot": false, "lastLoginTimeMS": 0})
    );
    let b2 = ok(&ik.get("/admin/clients/b2", &[]).await);
    assert_eq!(b2["nickname"], "b2");
    assert_eq!(b2["email"], "b2@example.com");
    let a2 = ok(&ik.get("/admin/clients/alice", &[]).await);
    assert_eq!(a2["nickname"], "Alice Two");
    assert_eq!(a2["email"], "alice@example.com");
    assert_eq!(a2["createdAt"], alice["createdAt"]);
    assert!(a2["updatedAt"].as_str() > alice["updatedAt"].as_str());
    // In order of the batch, after the earlier clients.
    let (page, total) = client_page(&ik, &[]).await;
    assert_eq!(total, 10);
    assert_eq!(ids(&page)[7..], strs(&["alice", "b1", "b2"]));
    // Idempotent: the same batch again counts the same and changes nothing visible.
    let again = j!({"data": [{"_id": "b1", "nickname": "Bee One"}]});
    assert_eq!(
        ok(&ik.post_json("/admin/clients/list", again).await),
        j!({"count": 1})
    );
    assert_eq!(
        ok(&ik.post_json("/admin/clients/list", j!({"data": []})).await),
        j!({"count": 0})
    );
    assert_eq!(
        zulip_user(&realm, "Bee One").await["delivery_email"],
        Value::Null
    );

    let before = state(&realm, &ik).await;
    let (bad, pi) = ("Bad Request", "INVALID_PARAMETER");
    let many: Vec<Value> = (0..1001).map(|i| j!({"_id": format!("m{i}")})).collect();
    #[rustfmt::skip]
    let cases: Vec<(Value, u16, &str, &str, &str)> = vec![
        (j!({"data": [{"_id": "n1"}, {"_id": "n2"}, {"nickname": "No Id"}]}), 400, bad, "MISSING_PARAMETER", "data[2]: _id is required"),
        (j!({"data": [{"_id": "n1"}, {"_id": "n2"}, {"_id": "n3", "issueAccessToken": true}]}), 400, bad, "TOKENS_NOT_SUPPORTED", "data[2]:"),
        (j!({"data": [{"_id": "n1"}, {"_id": 7}]}), 400, bad, pi, "data[1]: _id must be a string"),
        (j!({"data": [{"_id": "n1"}, "n2"]}), 400, bad, pi, "data[1] must be an object"),
        (j!({"data": [{"_id": "n1"}, {"_id": "n2"}, {"_id": "n1"}]}), 400, bad, pi, "'n1' is listed more than once"),
        (j!({"data": [{"_id": "alice", "nickname": "X1"}, {"_id": "alice", "nickname": "X2"}]}), 400, bad, pi, "'alice' is listed more than once"),
        (j!({"data": [{"_id": "n1"}, {"_id": "n2"}, {"_id": "n3", "email": "nope"}]}), 400, bad, pi, "email is not a valid address"),
        (j!({"data": [{"_id": "n1"}, {"_id": "n2", "email": "member@test.example"}]}), 409, "Conflict", "EMAIL_ALREADY_IN_USE", "email"),
        (j!({"data": [{"_id": "n1", "email": "same@example.com"}, {"_id": "n2", "email": "same@example.com"}]}), 409, "Conflict", "EMAIL_ALREADY_IN_USE", "email"),
        (j!({"data": [{"_id": "n1"}, {"_id": "team"}]}), 409, "Conflict", "ID_ALREADY_IN_USE", "'team'"),
        (j!({"data": [{"_id": "alice", "nickname": "Changed"}, {"_id": ""}]}), 400, bad, pi, "_id is invalid"),
        (j!({"data": [{"_id": "n1"}, {"_id": "n2", "nickname": "@"}]}), 400, bad, pi, "nickname"),
        (j!({}), 400, bad, pi, "data must be an array"),
        (j!({"data": null}), 400, bad, pi, "data must be an array"),
        (j!({"data": {"_id": "n1"}}), 400, bad, pi, "data must be an array"),
        (j!({"data": "n1"}), 400, bad, pi, "data must be an array"),
        (j!({"clients": [{"_id": "n1"}]}), 400, bad, pi, "data must be an array"),
        (j!({"data": many}), 400, bad, pi, "at most 1000 items"),
    ];
    for (body, status, rm, code, message) in cases {
        let got = ik.post_json("/admin/clients/list", body.clone()).await;
        assert_err(&got, status, rm, code, message);
        assert_eq!(
            state(&realm, &ik).await,
            before,
            "POST /admin/clients/list {} left a trace",
            body.to_string().chars().take(200).collect::<String>()
        );
    }
    for body in [&b"{"[..], b"[{\"_id\": \"n1\"}]"] {
        let got = ik
            .raw(
                "POST",
                "/admin/clients/list",
                "application/json",
                body.to_vec(),
            )
            .await;
        refused!(
            &realm,
            &ik,
            &before,
            got,
            400,
            "Bad Request",
            "INVALID_REQUEST",
            "JSON"
        );
    }

    // 1000 is the largest batch.
    let thousand: Vec<Value> = (0..1000).map(|i| j!({"_id": format!("m{i:04}")})).collect();
    let got = ik
        .post_json("/admin/clients/list", j!({"data": thousand}))
        .await;
    assert_eq!(ok(&got), j!({"count": 1000}));
    let (page, total) = client_page(&ik, &[("skip", "1009"), ("limit", "5")]).await;
    assert_eq!(total, 1010);
    assert_eq!(ids(&page), strs(&["m0999"]));
}

// ---------------------------------------------------------------------------
// GET /admin/clients (paging and q)
// ---------------------------------------------------------------------------

#[tokio::test]
async fn client_list_and_queries() {
    let realm = Realm::new();
    let ik = Imkit::new(&realm);
    let zulip_ids: Vec<String> = [
        &realm.owner,
        &realm.admin,
        &realm.moderator,
        &realm.member,
        &realm.member2,
        &realm.guest,
        &realm.bot,
    ]
    .iter()
    .map(|a| a.id.to_string())
    .collect();
    let mut made = Vec::new();
    for body in [
        j!({"_id": "ann", "nickname": "Ann Admin-ish", "email": "ann@corp.example"}),
        j!({"_id": "bo", "nickname": "Bo", "avatarUrl": "https://x/bo.png"}),
        j!({"_id": "cy", "nickname": "cy the sysadmin"}),
        j!({"_id": "zed", "nickname": "Zed", "email": "zed@home.example"}),
    ] {
        tick().await;
        made.push(ik.client(body).await);
    }
    let all: Vec<String> = zulip_ids
        .iter()
        .cloned()
        .chain(strs(&["ann", "bo", "cy", "zed"]))
        .collect();
    let with = |keys: &[&str]| -> Vec<String> { strs(keys) };

    // The list: Zulip's users (by id), then IMKIT's clients, in creation order.
    let (page, total) = client_page(&ik, &[]).await;
    assert_eq!(total, 11);
    assert_eq!(ids(&page), all);
    assert_eq!(page[7..], made[..]);
    assert_eq!(
        untimed(&page[0]),
        j!({"_id": zulip_ids[0], "id": zulip_ids[0], "nickname": "Olivia Owner",
            "email": "owner@test.example", "avatarUrl": "", "isRobot": false,
            "lastLoginTimeMS": 0})
    );
    assert_eq!(page[6]["isRobot"], true);
    assert_eq!(page[5]["nickname"], "Gus Guest");
    // Paging.
    let mut walked = Vec::new();
    for skip in ["0", "3", "6", "9", "12"] {
        let (page, total) = client_page(&ik, &[("limit", "3"), ("skip", skip)]).await;
        assert_eq!(total, 11);
        walked.extend(ids(&page));
    }
    assert_eq!(walked, all);
    assert_eq!(client_page(&ik, &[("limit", "0")]).await, (vec![], 11));
    assert_eq!(client_page(&ik, &[("skip", "11")]).await, (vec![], 11));
    assert_eq!(ik.search("", &[]).await, (all.clone(), 11));
    assert_eq!(ik.search("  ", &[]).await, (all.clone(), 11));
    assert_eq!(ik.search("{}", &[]).await, (all.clone(), 11));

    let t_ann = made[0]["createdAt"].as_str().unwrap().to_string();
    let t_bo = made[1]["createdAt"].as_str().unwrap().to_string();
    let t_cy = made[2]["createdAt"].as_str().unwrap().to_string();
    let bo_ms = parse_iso(&t_bo).unwrap();
    let yesterday = &iso(now_ms() - 86_400_000)[..10];
    let tomorrow = &iso(now_ms() + 86_400_000)[..10];
    let first_ten: Vec<&str> = zulip_ids.iter().map(String::as_str).collect();
    let zulip_plus =
        |extra: &[&str]| -> Vec<String> { zulip_ids.iter().cloned().chain(strs(extra)).collect() };

    #[rustfmt::skip]
    let cases: Vec<(String, Vec<String>)> = vec![
        // Implicit equality.
        (r#"{"email": "ann@corp.example"}"#.into(), with(&["ann"])),
        (r#"{"nickname": "Bo"}"#.into(), with(&["bo"])),
        (r#"{"_id": "cy"}"#.into(), with(&["cy"])),
        (r#"{"id": "cy"}"#.into(), with(&["cy"])),
        (r#"{"_id": "nobody"}"#.into(), vec![]),
        (r#"{"avatarUrl": "https://x/bo.png"}"#.into(), with(&["bo"])),
        (r#"{"isRobot": true}"#.into(), vec![zulip_ids[6].clone()]),
        (format!(r#"{{"_id": "{}"}}"#, zulip_ids[3]), vec![zulip_ids[3].clone()]),
        (r#"{"email": null}"#.into(), with(&["bo", "cy"])),
        // $eq, $ne.
        (r#"{"nickname": {"$eq": "Zed"}}"#.into(), with(&["zed"])),
        (r#"{"_id": {"$ne": "ann"}}"#.into(), all.iter().filter(|k| *k != "ann").cloned().collect()),
        (r#"{"email": {"$ne": "ann@corp.example"}}"#.into(), all.iter().filter(|k| *k != "ann").cloned().collect()),
        (r#"{"isRobot": {"$ne": true}}"#.into(), all.iter() .filter(|k| **k != zulip_ids[6]) .cloned() .collect()),
        // $exists.
        (r#"{"email": {"$exists": true}}"#.into(), zulip_plus(&["ann", "zed"])),
        (r#"{"email": {"$exists": false}}"#.into(), with(&["bo", "cy"])),
        // $in, $nin.
        (r#"{"_id": {"$in": ["zed", "ann", "nope"]}}"#.into(), with(&["ann", "zed"])),
        (r#"{"_id": {"$in": []}}"#.into(), vec![]),
        (r#"{"email": {"$in": ["zed@home.example", null]}}"#.into(), with(&["bo", "cy", "zed"])),
        (format!(r#"{{"_id": {{"$nin": {}}}}}"#, json(&first_ten)), with(&["ann", "bo", "cy", "zed"])),
        (r#"{"_id": {"$nin": []}}"#.into(), all.clone()),
        // $regex, case-sensitive unless $options is "i".
        (r#"{"nickname": {"$regex": ".*admin.*"}}"#.into(), with(&["cy"])),
        (r#"{"nickname": {"$regex": ".*admin.*", "$options": ""}}"#.into(), with(&["cy"])),
        (r#"{"nickname": {"$regex": ".*admin.*", "$options": "i"}}"#.into(), vec![zulip_ids[1].clone(), "ann".into(), "cy".into()]),
        (r#"{"nickname": {"$regex": "^Z"}}"#.into(), with(&["zed"])),
        (r#"{"email": {"$regex": "@corp\\.example$"}}"#.into(), with(&["ann"])),
        (r#"{"email": {"$regex": "@TEST\\.EXAMPLE$", "$options": "i"}}"#.into(), zulip_ids.clone()),
        (r#"{"_id": {"$regex": "^[a-z]+$"}}"#.into(), with(&["ann", "bo", "cy", "zed"])),
        // Several keys: AND.
        (r#"{"nickname": {"$regex": "admin", "$options": "i"}, "email": {"$exists": true}}"# .into(), vec![zulip_ids[1].clone(), "ann".into()]),
        (r#"{"nickname": {"$regex": "admin", "$options": "i"}, "_id": {"$ne": "ann"}}"#.into(), vec![zulip_ids[1].clone(), "cy".into()]),
        // Dates compare as instants: date-only and full ISO strings, epoch ms.
        (format!(r#"{{"createdAt": {{"$gte": "{yesterday}"}}}}"#), all.clone()),
        (format!(r#"{{"createdAt": {{"$lt": "{tomorrow}"}}}}"#), all.clone()),
        (r#"{"createdAt": {"$gte": "2000-01-01"}}"#.into(), all.clone()),
        (r#"{"createdAt": {"$lt": "2000-01-01"}}"#.into(), vec![]),
        (r#"{"createdAt": {"$gt": "2999-12-31T00:00:00Z"}}"#.into(), vec![]),
        (format!(r#"{{"createdAt": {{"$gte": "{t_bo}"}}}}"#), with(&["bo", "cy", "zed"])),
        (format!(r#"{{"createdAt": {{"$gt": "{t_bo}"}}}}"#), with(&["cy", "zed"])),
        (format!(r#"{{"createdAt": {{"$lt": "{t_bo}"}}}}"#), zulip_plus(&["ann"])),
        (format!(r#"{{"createdAt": {{"$lte": "{t_bo}"}}}}"#), zulip_plus(&["ann", "bo"])),
        (format!(r#"{{"createdAt": {{"$gte": "{t_ann}", "$lt": "{t_cy}"}}}}"#), with(&["ann", "bo"])),
        (format!(r#"{{"createdAt": "{t_bo}"}}"#), with(&["bo"])),
        (format!(r#"{{"createdAt": {{"$eq": "{}"}}}}"#, t_bo.replace('Z', "+00:00")), with(&["bo"])),
        (format!(r#"{{"createdAt": {{"$gte": {bo_ms}}}}}"#), with(&["bo", "cy", "zed"])),
        (format!(r#"{{"updatedAt": {{"$gt": "{t_cy}"}}}}"#), with(&["zed"])),
        // Strings compare lexically (byte order).
        (r#"{"_id": {"$gt": "b", "$lt": "d"}}"#.into(), with(&["bo", "cy"])),
        (r#"{"nickname": {"$gte": "Zed"}}"#.into(), with(&["cy", "zed"])),
        (r#"{"nickname": {"$lte": "B"}}"#.into(), vec![zulip_ids[1].clone(), "ann".into()]),
        (r#"{"nickname": {"$lt": "Ann Admin-ish"}}"#.into(), vec![zulip_ids[1].clone()]),
        // lastLoginTimeMS is always 0 here.
        (r#"{"lastLoginTimeMS": {"$gte": 0}}"#.into(), all.clone()),
        (r#"{"lastLoginTimeMS": {"$gt": 0}}"#.into(), vec![]),
        (r#"{"lastLoginTimeMS": 0}"#.into(), all.clone()),
    ];
    for (q, expected) in &cases {
        let (found, total) = ik.search(q, &[("limit", "100")]).await;
        assert_eq!(&found, expected, "q={q}");
        assert_eq!(total as usize, expected.len(), "q={q}");
    }
    // totalCount counts every match; data is the page.
    let q = r#"{"email": {"$exists": true}}"#;
    let (found, total) = ik.search(q, &[("limit", "2"), ("skip", "1")]).await;
    assert_eq!(total, 9);
    assert_eq!(found, zulip_ids[1..3]);
    let (found, total) = ik.search(q, &[("skip", "8")]).await;
    assert_eq!((found, total), (with(&["zed"]), 9));
    let (found, total) = ik.search(q, &[("limit", "0")]).await;
    assert_eq!((found, total), (vec![], 9));

    // A pathological pattern for backtracking engines answers at once.
    ik.client(j!({"_id": "path", "nickname": format!("{}!", "a".repeat(99))}))
        .await;
    for pattern in ["(a+)+$", "(a|aa)+$", "^(a+)+b", "(a|a)*c$"] {
        let q = j!({"nickname": {"$regex": pattern}}).to_string();
        let started = Instant::now();
        let (found, total) = ik.search(&q, &[]).await;
        assert_eq!((found, total), (vec![], 0), "{pattern}");
        assert!(started.elapsed() < Duration::from_secs(5));
    }
    let (found, _) = ik
        .search(r#"{"nickname": {"$regex": "^a{99}!$"}}"#, &[])
        .await;
    assert_eq!(found, with(&["path"]));
}

#[tokio::test]
async fn bad_queries_are_invalid_query() {
    let realm = Realm::new();
    let ik = Imkit::new(&realm);
    ik.client(j!({"_id": "ann", "nickname": "Ann", "email": "ann@corp.example"}))
        .await;
    let before = state(&realm, &ik).await;
    let long_regex = j!({"nickname": {"$regex": "a".repeat(513)}}).to_string();
    let long_q = j!({"nickname": {"$in": vec!["x".repeat(100); 90]}}).to_string();
    let many_in =
        j!({"_id": {"$in": (0..1001).map(|i| i.to_string()).collect::<Vec<_>>()}}).to_string();
    #[rustfmt::skip]
    let bad: Vec<(String, &str)> = vec![
        ("not json".into(), "not valid JSON"),
        ("{\"nickname\": ".into(), "not valid JSON"),
        ("{'nickname': 'Ann'}".into(), "not valid JSON"),
        ("[1]".into(), "must be a JSON object"),
        (r#"[{"nickname": "Ann"}]"#.into(), "must be a JSON object"),
        (r#""Ann""#.into(), "must be a JSON object"),
        ("42".into(), "must be a JSON object"),
        ("null".into(), "must be a JSON object"),
        (r#"{"$or": [{"nickname": "Ann"}, {"nickname": "Bo"}]}"#.into(), "$or"),
        (r#"{"$and": [{"nickname": "Ann"}]}"#.into(), "$and"),
        (r#"{"$where": "this.nickname == 'Ann'"}"#.into(), "$where"),
        (r#"{"nickname": {"$where": "1"}}"#.into(), "$where"),
        (r#"{"nickname": {"$not": {"$eq": "Ann"}}}"#.into(), "$not"),
        (r#"{"nickname": {"$type": "string"}}"#.into(), "$type"),
        (r#"{"nickname": {"$elemMatch": {"$eq": "Ann"}}}"#.into(), "$elemMatch"),
        (r#"{"password": "x"}"#.into(), "unknown field password"),
        (r#"{"token": {"$exists": true}}"#.into(), "unknown field token"),
        (r#"{"address.port": 1}"#.into(), "unknown field"),
        (r#"{"a": {"b": {"c": {"d": {"e": 1}}}}}"#.into(), "nests too deeply"),
        (r#"{"nickname": {"$in": [[[[["x"]]]]]}}"#.into(), "nests too deeply"),
        (r#"{"nickname": {}}"#.into(), "operator object or a plain value"),
        (r#"{"nickname": {"first": "Ann"}}"#.into(), "operator object or a plain value"),
        (r#"{"nickname": {"$eq": "Ann", "plain": 1}}"#.into(), "operator object or a plain value"),
        (r#"{"nickname": ["Ann"]}"#.into(), "operator object or a plain value"),
        (r#"{"nickname": {"$regex": "("}}"#.into(), "invalid regular expression"),
        (r#"{"nickname": {"$regex": "[a-"}}"#.into(), "invalid regular expression"),
        (r#"{"nickname": {"$regex": "a{1000}{1000}"}}"#.into(), "too large"),
        (r#"{"nickname": {"$regex": "Ann", "$options": "x"}}"#.into(), "$options"),
        (r#"{"nickname": {"$regex": "Ann", "$options": "im"}}"#.into(), "$options"),
        (r#"{"nickname": {"$regex": "Ann", "$options": 1}}"#.into(), "$options"),
        (r#"{"nickname": {"$options": "i"}}"#.into(), "$options needs $regex"),
        (r#"{"nickname": {"$regex": 5}}"#.into(), "$regex needs a string"),
        (r#"{"createdAt": {"$regex": "2025"}}"#.into(), "text fields only"),
        (long_regex, "limited to 512 characters"),
        (r#"{"_id": {"$in": "ann"}}"#.into(), "$in needs an array"),
        (r#"{"_id": {"$nin": {"a": 1}}}"#.into(), "$nin needs an array"),
        (many_in, "limited to 1000 values"),
        (r#"{"email": {"$exists": "yes"}}"#.into(), "$exists needs true or false"),
        (r#"{"createdAt": {"$gte": "yesterday"}}"#.into(), "is not a date"),
        (r#"{"createdAt": {"$gte": "2025-13-01"}}"#.into(), "is not a date"),
        (r#"{"createdAt": "2025-01-01T00:00:00"}"#.into(), "is not a date"),
        (r#"{"nickname": {"$eq": {"a": 1}}}"#.into(), "comparison values"),
        (r#"{"nickname": {"$in": [["Ann"]]}}"#.into(), "comparison values"),
        (long_q.clone(), "limited to 8192 bytes"),
    ];
    assert!(long_q.len() > 8192);
    for (q, message) in &bad {
        let got = ik.get("/admin/clients", &[("q", q.as_str())]).await;
        assert_err(&got, 400, "Invalid query syntax", "INVALID_QUERY", message);
        assert!(
            got.1["error"]["message"]
                .as_str()
                .unwrap()
                .starts_with("MongoDB query syntax error"),
            "{}",
            got.1
        );
        // Paging does not rescue a bad q.
        let got = ik
            .get("/admin/clients", &[("q", q.as_str()), ("limit", "1")])
            .await;
        assert_err(&got, 400, "Invalid query syntax", "INVALID_QUERY", message);
    }
    assert_eq!(state(&realm, &ik).await, before);
}

// ---------------------------------------------------------------------------
// GET /admin/clients/{id}
// ---------------------------------------------------------------------------

#[tokio::test]
async fn client_get_by_id() {
    let realm = Realm::new();
    let ik = Imkit::new(&realm);
    ik.group(j!({"_id": "team", "nickname": "Team"})).await;
    ik.client(j!({"_id": "gone", "nickname": "Gone Client"}))
        .await;
    let gone_id = zulip_user(&realm, "Gone Client").await["user_id"]
        .as_i64()
        .unwrap();
    assert_success(
        &realm
            .api(&realm.owner)
            .delete(&format!("/users/{gone_id}"), &[])
            .await,
    );
    let before = state(&realm, &ik).await;

    // Unknown ids, group ids and deactivated clients are not found.
    for key in [
        "nope",
        "team",
        "role:members",
        "gone",
        &gone_id.to_string(),
        "999999999",
        " ",
    ] {
        let got = ik
            .get(&format!("/admin/clients/{}", percent(key)), &[])
            .await;
        assert_eq!(got.1["RC"], 404, "{key}: {}", got.1);
        assert_eq!(got.1["error"]["code"], "CLIENT_NOT_FOUND");
        assert_eq!(got.0, 404);
        assert!(got.1["error"]["message"].as_str().unwrap().contains(key));
    }
    assert_eq!(state(&realm, &ik).await, before);

    // Every Zulip-created user under its integer id, as a string.
    for (account, name) in [
        (&realm.owner, "Olivia Owner"),
        (&realm.admin, "Ada Admin"),
        (&realm.guest, "Gus Guest"),
        (&realm.bot, "Bob Bot"),
    ] {
        let key = account.id.to_string();
        let got = ok(&ik.get(&format!("/admin/clients/{key}"), &[]).await);
        check_client(&got);
        assert_eq!(
            untimed(&got),
            j!({"_id": key, "id": key, "nickname": name, "email": account.email,
                "avatarUrl": "", "isRobot": account.id == realm.bot.id,
                "lastLoginTimeMS": 0})
        );
        let (found, _) = ik.search(&j!({"_id": key}).to_string(), &[]).await;
        assert_eq!(found, vec![key]);
    }
}

/// The reference's error table (§8) gives `CLIENT_NOT_FOUND` the RM
/// `"Client not found"`.
#[tokio::test]
async fn client_not_found_uses_the_documented_rm() {
    let realm = Realm::new();
    let ik = Imkit::new(&realm);
    assert_err(
        &ik.get("/admin/clients/nope", &[]).await,
        404,
        "Client not found",
        "CLIENT_NOT_FOUND",
        "nope",
    );
}

// ---------------------------------------------------------------------------
// Routing
// ---------------------------------------------------------------------------

#[tokio::test]
async fn unknown_paths_and_methods() {
    let realm = Realm::new();
    let ik = Imkit::new(&realm);
    ik.group(j!({"_id": "team", "nickname": "Team"})).await;
    ik.client(j!({"_id": "ann", "nickname": "Ann"})).await;
    let before = state(&realm, &ik).await;

    for (method, path) in [
        ("GET", "/admin/nope"),
        ("POST", "/admin/nope"),
        ("GET", "/admin/groups/team/members"),
        ("GET", "/admin/clients/ann/extra"),
        ("PUT", "/admin/clients/ann/token"),
        ("DELETE", "/admin/clients/ann/token"),
        ("POST", "/admin/clients/ann/mute/room1"),
        ("GET", "/admin/rooms"),
        ("GET", "/admin"),
        ("GET", "/admin/groups/"),
        ("DELETE", "/admin/groups/"),
        ("GET", "/admin/clients/"),
        ("GET", "/admin/groups//team"),
    ] {
        let got = ik
            .raw(method, path, "application/json", b"{}".to_vec())
            .await;
        assert_err(&got, 404, "Not Found", "NOT_FOUND", "No such endpoint");
        assert_eq!(state(&realm, &ik).await, before, "{method} {path}");
    }

    for (method, path, allow) in [
        ("PUT", "/admin/groups", "GET, POST"),
        ("PATCH", "/admin/groups", "GET, POST"),
        ("DELETE", "/admin/groups", "GET, POST"),
        ("POST", "/admin/groups/team", "DELETE, GET"),
        ("PUT", "/admin/groups/team", "DELETE, GET"),
        ("PATCH", "/admin/groups/team", "DELETE, GET"),
        ("DELETE", "/admin/clients", "GET, POST"),
        ("PUT", "/admin/clients", "GET, POST"),
        ("GET", "/admin/clients/list", "POST"),
        ("DELETE", "/admin/clients/list", "POST"),
        ("DELETE", "/admin/clients/ann", "GET"),
        ("POST", "/admin/clients/ann", "GET"),
        ("PUT", "/admin/clients/ann", "GET"),
    ] {
        let (status, got_allow, body) = ik.raw_allow(method, path).await;
        assert_err(
            &(status, body),
            405,
            "Method Not Allowed",
            "METHOD_NOT_ALLOWED",
            allow.split(", ").next().unwrap(),
        );
        assert_eq!(got_allow, allow, "{method} {path}");
        assert_eq!(state(&realm, &ik).await, before, "{method} {path}");
    }
    // OPTIONS lists the methods; HEAD is GET without a body.
    for (path, allow) in [
        ("/admin/groups", "GET, POST"),
        ("/admin/groups/team", "DELETE, GET"),
        ("/admin/clients/list", "POST"),
    ] {
        let (status, got_allow, _) = ik.raw_allow("OPTIONS", path).await;
        assert_eq!((status, got_allow.as_str()), (204, allow), "OPTIONS {path}");
    }
    let (status, _, body) = ik.raw_allow("HEAD", "/admin/groups").await;
    assert_eq!((status, body), (200, Value::String(String::new())));
    assert_eq!(state(&realm, &ik).await, before);
    assert_eq!(ok(&ik.get("/admin/groups/team", &[]).await)["_id"], "team");
    assert_eq!(ok(&ik.get("/admin/clients/ann", &[]).await)["_id"], "ann");
}

// ---------------------------------------------------------------------------
// Both faces
// ---------------------------------------------------------------------------

#[tokio::test]
async fn both_faces_see_one_directory() {
    let realm = Realm::new();
    let ik = Imkit::new(&realm);
    let owner = realm.api(&realm.owner);
    let alice = ik.client(j!({"_id": "alice", "nickname": "Alice"})).await;
    let alice_id = zulip_user(&realm, "Alice").await["user_id"]
        .as_i64()
        .unwrap();
    let member_key = realm.member.id.to_string();
    let member2_key = realm.member2.id.to_string();

    // IMKIT → Zulip: same members (integer ids), no creator.
    let imkit_made = ik
        .group(j!({"_id": "squad", "nickname": "Squad", "members": ["alice", member_key]}))
        .await;
    let zg = zulip_group(&realm, "Squad").await;
    let squad_id = zg["id"].as_i64().unwrap();
    let mut expected = vec![alice_id, realm.member.id];
    expected.sort_unstable();
    assert_eq!(sorted_ints(&zg["members"]), expected);
    assert_eq!(zg["creator_id"], Value::Null);
    let (status, body) = realm
        .api(&realm.member)
        .get(&format!("/user_groups/{squad_id}/members/{alice_id}"), &[])
        .await;
    assert_eq!(
        (status, &body["is_user_group_member"]),
        (200, &j!(true)),
        "{body}"
    );

    // Zulip → IMKIT: `_id` is the integer id, members are the users' `_id`s.
    let guild = realm
        .create_group(&realm.owner, "Guild", &[realm.member.id, realm.member2.id])
        .await;
    let got = ok(&ik.get(&format!("/admin/groups/{guild}"), &[]).await);
    check_group(&got);
    assert_eq!(
        untimed(&got),
        j!({"_id": guild.to_string(), "id": guild.to_string(), "nickname": "Guild",
            "avatarUrl": "", "members": [member_key, member2_key]})
    );
    let (page, total) = group_page(&ik, &[]).await;
    assert_eq!(total, 2);
    assert_eq!(page, [imkit_made.clone(), got.clone()]);

    // A member added through Zulip shows in IMKIT (and updatedAt moves).
    tick().await;
    assert_success(
        &owner
            .post(
                &format!("/user_groups/{guild}/members"),
                &[
                    ("add", json([alice_id])),
                    ("delete", json([realm.member.id])),
                ],
            )
            .await,
    );
    let after = ok(&ik.get(&format!("/admin/groups/{guild}"), &[]).await);
    assert_eq!(
        sorted_strs(&after["members"]),
        sorted_strs(&j!([member2_key, "alice"]))
    );
    assert_eq!(after["createdAt"], got["createdAt"]);
    assert!(after["updatedAt"].as_str() > got["updatedAt"].as_str());
    // A rename through Zulip, too.
    assert_success(
        &owner
            .patch(
                &format!("/user_groups/{guild}"),
                &[("name", "Guild 2".into())],
            )
            .await,
    );
    let renamed = ok(&ik.get(&format!("/admin/groups/{guild}"), &[]).await);
    assert_eq!(renamed["nickname"], "Guild 2");
    assert_eq!(group_page(&ik, &[]).await.0[1], renamed);

    // A member set through IMKIT (legacy upsert) shows in Zulip.
    cli_ok(&realm, &["realm", "set", "--group-upsert", "update"]);
    let update = j!({"_id": "squad", "nickname": "Squad", "members": ["alice", member2_key]});
    eventually!(
        "the server to pick up --group-upsert update",
        ik.post_json("/admin/groups", update.clone()).await.0 == 200
    );
    let mut expected = vec![alice_id, realm.member2.id];
    expected.sort_unstable();
    assert_eq!(
        sorted_ints(&zulip_group(&realm, "Squad").await["members"]),
        expected
    );

    // A user deactivated through Zulip leaves IMKIT's lists and groups...
    let (_, clients_before) = client_page(&ik, &[]).await;
    assert_success(&owner.delete(&format!("/users/{alice_id}"), &[]).await);
    let (clients, total) = client_page(&ik, &[("limit", "100")]).await;
    assert_eq!(total, clients_before - 1);
    assert!(!ids(&clients).contains(&"alice".to_string()));
    assert_err(
        &ik.get("/admin/clients/alice", &[]).await,
        404,
        "Client not found",
        "CLIENT_NOT_FOUND",
        "alice",
    );
    assert_eq!(ik.search(r#"{"_id": "alice"}"#, &[]).await, (vec![], 0));
    assert_eq!(
        ik.search(r#"{"nickname": {"$regex": "^Ali"}}"#, &[]).await,
        (vec![], 0)
    );
    let squad = ok(&ik.get("/admin/groups/squad", &[]).await);
    assert_eq!(squad["members"], j!([member2_key]));
    let guild_now = ok(&ik.get(&format!("/admin/groups/{guild}"), &[]).await);
    assert_eq!(guild_now["members"], j!([member2_key]));
    let (page, _) = group_page(&ik, &[]).await;
    assert_eq!(page, [squad.clone(), guild_now.clone()]);
    // ... can't be named as a member or updated while deactivated ...
    let before = state(&realm, &ik).await;
    refused!(
        &realm,
        &ik,
        &before,
        ik.post_json(
            "/admin/groups",
            j!({"nickname": "New", "members": ["alice"]})
        )
        .await,
        409,
        "Conflict",
        "CLIENT_DEACTIVATED",
        "alice"
    );
    refused!(
        &realm,
        &ik,
        &before,
        ik.post_json(
            "/admin/clients",
            j!({"_id": "alice", "nickname": "Alice Back"})
        )
        .await,
        409,
        "Conflict",
        "CLIENT_DEACTIVATED",
        "alice"
    );
    // ... and comes back with its memberships when reactivated.
    assert_success(
        &owner
            .post(&format!("/users/{alice_id}/reactivate"), &[])
            .await,
    );
    let back = ok(&ik.get("/admin/clients/alice", &[]).await);
    assert_eq!(untimed(&back), untimed(&alice));
    assert_eq!(
        sorted_strs(&ok(&ik.get("/admin/groups/squad", &[]).await)["members"]),
        sorted_strs(&j!(["alice", member2_key]))
    );
    let (page, _) = group_page(&ik, &[]).await;
    assert_eq!(
        sorted_strs(&page[1]["members"]),
        sorted_strs(&j!(["alice", member2_key]))
    );

    // An IMKIT client has no email; Zulip shows a placeholder.
    let za = zulip_user(&realm, "Alice").await;
    assert_eq!(za["email"], format!("user{alice_id}@cohort.invalid"));
    assert_eq!(za["delivery_email"], Value::Null);
    assert!(back.get("email").is_none());

    // A Zulip-created user renamed in Zulip shows in IMKIT.
    assert_success(
        &owner
            .patch(
                &format!("/users/{}", realm.member2.id),
                &[("full_name", "Max Renamed".into())],
            )
            .await,
    );
    let m2 = ok(&ik.get(&format!("/admin/clients/{member2_key}"), &[]).await);
    assert_eq!(m2["nickname"], "Max Renamed");

    // Deleting through IMKIT removes it from Zulip.
    ok(&ik.delete("/admin/groups/squad").await);
    assert!(realm.group(squad_id).await.is_null());
    assert_eq!(zulip_group(&realm, "Squad").await, Value::Null);
}

/// Undecodable path segments are still answered in IMKIT's envelope.
#[tokio::test]
async fn undecodable_ids_get_the_imkit_envelope() {
    let realm = Realm::new();
    let ik = Imkit::new(&realm);
    let before = state(&realm, &ik).await;
    for (method, path, not_found) in [
        ("GET", "/admin/groups/%FF", "GROUP_NOT_FOUND"),
        ("DELETE", "/admin/groups/%FF", "GROUP_NOT_FOUND"),
        ("GET", "/admin/clients/%FF", "CLIENT_NOT_FOUND"),
        ("GET", "/admin/clients/a%C3", "CLIENT_NOT_FOUND"),
    ] {
        let (status, body) = ik.raw(method, path, "", Vec::new()).await;
        assert!(
            body.is_object(),
            "{method} {path}: not IMKIT's envelope: {status} {body}"
        );
        assert_eq!(keys(&body), ["RC", "RM", "error"], "{body}");
        assert_eq!(body["RC"], status, "{body}");
        let code = body["error"]["code"].as_str().unwrap_or("");
        assert!(
            (status == 400 && code == "INVALID_PARAMETER") || (status == 404 && code == not_found),
            "{method} {path}: {status} {body}"
        );
    }
    assert_eq!(state(&realm, &ik).await, before);
}

/// `/admin/` is an IMKIT path: its 404 is IMKIT's, not Zulip's.
#[tokio::test]
async fn admin_root_with_slash_gets_the_imkit_envelope() {
    let realm = Realm::new();
    let ik = Imkit::new(&realm);
    for method in ["GET", "POST"] {
        let got = ik.raw(method, "/admin/", "", Vec::new()).await;
        assert_err(&got, 404, "Not Found", "NOT_FOUND", "No such endpoint");
    }
}

// ---------------------------------------------------------------------------
// Concurrency
// ---------------------------------------------------------------------------

/// Send `count` requests at once; returns the replies in order.
async fn at_once(
    realm: &Realm,
    count: usize,
    make: impl Fn(usize) -> (&'static str, Value),
) -> Vec<Reply> {
    let mut tasks = Vec::new();
    for i in 0..count {
        let ik = Imkit::new(realm);
        let (path, body) = make(i);
        tasks.push(tokio::spawn(async move { ik.post_json(path, body).await }));
    }
    let mut replies = Vec::new();
    for task in tasks {
        replies.push(task.await.unwrap());
    }
    replies
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_writes_do_not_race() {
    let realm = Realm::new();
    let ik = Imkit::new(&realm);

    // One _id, many creators: exactly one wins, the others get 409.
    let replies = at_once(&realm, 16, |i| {
        (
            "/admin/groups",
            j!({"_id": "race", "nickname": format!("Race {i}")}),
        )
    })
    .await;
    let winners: Vec<&Reply> = replies.iter().filter(|r| r.0 == 200).collect();
    assert_eq!(winners.len(), 1, "{replies:?}");
    for got in replies.iter().filter(|r| r.0 != 200) {
        assert_err(
            got,
            409,
            "Conflict",
            "GROUP_ALREADY_EXISTS",
            "already exists",
        );
    }
    assert_eq!(group_page(&ik, &[]).await, (vec![ok(winners[0])], 1));

    // One nickname, many _ids: one wins.
    let replies = at_once(&realm, 16, |i| {
        (
            "/admin/groups",
            j!({"_id": format!("same{i}"), "nickname": "Same"}),
        )
    })
    .await;
    assert_eq!(
        replies.iter().filter(|r| r.0 == 200).count(),
        1,
        "{replies:?}"
    );
    for got in replies.iter().filter(|r| r.0 != 200) {
        assert_err(got, 409, "Conflict", "NICKNAME_TAKEN", "'Same'");
    }
    assert_eq!(group_page(&ik, &[]).await.1, 2);

    // One client _id, many upserts: all succeed, one client results.
    let replies = at_once(&realm, 16, |i| {
        (
            "/admin/clients",
            j!({"_id": "cl", "email": format!("e{i}@example.com")}),
        )
    })
    .await;
    assert!(replies.iter().all(|r| r.0 == 200), "{replies:?}");
    let (found, total) = ik.search(r#"{"_id": "cl"}"#, &[]).await;
    assert_eq!((found, total), (strs(&["cl"]), 1));
    // Distinct batches: every item lands once.
    let replies = at_once(&realm, 8, |i| {
        let data: Vec<Value> = (0..10).map(|k| j!({"_id": format!("b{i}-{k}")})).collect();
        ("/admin/clients/list", j!({"data": data}))
    })
    .await;
    for got in &replies {
        assert_eq!(ok(got), j!({"count": 10}));
    }
    let (_, total) = ik
        .search(r#"{"_id": {"$regex": "^b[0-9]-[0-9]$"}}"#, &[])
        .await;
    assert_eq!(total, 80);
}

/// Epoch milliseconds are numbers; JSON may write them as `1.7e12` or with a
/// fraction, and they still compare as instants.
#[tokio::test]
async fn epoch_ms_written_as_json_floats_compare_as_instants() {
    let realm = Realm::new();
    let ik = Imkit::new(&realm);
    let (all, total) = client_page(&ik, &[]).await;
    assert_eq!(total, 7);
    let all = ids(&all);
    // Every client here was created after 2023-11-14 (1.7e12 ms).
    for (q, expected) in [
        (r#"{"createdAt": {"$gte": 1700000000000}}"#, all.clone()),
        (r#"{"createdAt": {"$lt": 1700000000000}}"#, vec![]),
        (r#"{"createdAt": {"$gte": 1.7e12}}"#, all.clone()),
        (r#"{"createdAt": {"$lt": 1.7e12}}"#, vec![]),
        (r#"{"createdAt": {"$gte": 1700000000000.0}}"#, all.clone()),
        (r#"{"createdAt": {"$lt": 1700000000000.5}}"#, vec![]),
        (r#"{"updatedAt": {"$gt": -1.5}}"#, all.clone()),
    ] {
        assert_eq!(
            ik.search(q, &[]).await,
            (expected.clone(), expected.len() as u64),
            "q={q}"
        );
    }
}

/// `q` filters the objects as served: every client is served with an
/// `avatarUrl` (`""` when it has none), so that field exists and equals `""`.
#[tokio::test]
async fn avatar_url_queries_match_the_served_objects() {
    let realm = Realm::new();
    let ik = Imkit::new(&realm);
    ik.client(j!({"_id": "pic", "nickname": "Pic", "avatarUrl": "https://x/p.png"}))
        .await;
    let (page, total) = client_page(&ik, &[]).await;
    assert_eq!(total, 8);
    let all = ids(&page);
    let bare: Vec<String> = page
        .iter()
        .filter(|c| c["avatarUrl"] == "")
        .map(|c| c["_id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(bare.len(), 7);
    for (q, expected) in [
        (r#"{"avatarUrl": "https://x/p.png"}"#, strs(&["pic"])),
        (r#"{"avatarUrl": ""}"#, bare.clone()),
        (r#"{"avatarUrl": {"$exists": true}}"#, all.clone()),
        (r#"{"avatarUrl": {"$exists": false}}"#, vec![]),
        (r#"{"avatarUrl": {"$ne": ""}}"#, strs(&["pic"])),
    ] {
        assert_eq!(
            ik.search(q, &[]).await,
            (expected.clone(), expected.len() as u64),
            "q={q}"
        );
    }
}
