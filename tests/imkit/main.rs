//! IMKIT's admin API (`/admin/groups`, `/admin/clients`), black-box, against a
//! live `cohort serve`.
//!
//! Contract: IMKIT's documentation, https://github.com/imkit/api-doc (envelope `{RC, RM, result}` / `{RC, RM, error}`
//! with the HTTP status equal to `RC`, ISO-8601 ms timestamps, `{totalCount,
//! data}` pages, the `q` subset) plus cohort's documented choices (see
//! `crates/server/src/imkit/mod.rs`, `error.rs` and `core/src/command/keyed.rs`).
//! Every refused request is followed by a check that nothing changed, on
//! both faces: IMKIT's group and client lists and Zulip's groups and users.

#[path = "../common/mod.rs"]
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

/// Retry `$cond` (which may `.await`) for up to 30 s (a liveness bound).
macro_rules! eventually {
    ($what:expr, $cond:expr) => {{
        let deadline = Instant::now() + Duration::from_secs(30);
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

mod auth;
mod clients;
mod concurrency;
mod faces;
mod groups;
mod routing;
