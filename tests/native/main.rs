//! The native admin API (`/cohort/v1`), black-box, against a live `cohort
//! serve`.
//!
//! Contract: the module docs of `crates/server/src/native/` (`mod.rs`,
//! `auth.rs`, `error.rs`) and its OpenAPI document, which must pass the
//! pinned `openapi-spec-validator`. Errors are `{"code", "message",
//! "param"?}` with a stable `code`.

#[path = "../common/mod.rs"]
mod common;

mod auth;
mod history;
mod openapi;
mod protocol;
mod stream;
mod webhooks;

use common::*;
use serde_json::Value;
use std::time::{Duration, Instant};

/// One answer: status, headers, body (JSON, or the text as a string).
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl Reply {
    /// An answer, read whole.
    pub async fn read(response: reqwest::Response) -> Reply {
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response.text().await.expect("body");
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        Reply {
            status,
            headers,
            body,
        }
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Assert `status` and return the body.
    #[track_caller]
    pub fn ok(&self, status: u16) -> &Value {
        assert_eq!(self.status, status, "status; body {}", self.body);
        &self.body
    }
}

/// Assert an error answer: the status, JSON, a `code` and a non-empty
/// `message`; `param` only when given.
#[track_caller]
pub fn assert_error(reply: &Reply, status: u16, code: &str, param: Option<&str>) {
    let body = &reply.body;
    assert_eq!(reply.status, status, "status; body {body}");
    assert_eq!(body["code"], code, "{body}");
    assert!(
        body["message"].as_str().is_some_and(|m| !m.is_empty()),
        "message: {body}"
    );
    match param {
        Some(param) => assert_eq!(body["param"], param, "{body}"),
        None => assert!(body.get("param").is_none(), "{body}"),
    }
    assert!(
        reply
            .header("content-type")
            .is_some_and(|t| t.starts_with("application/json")),
        "content type {:?}",
        reply.header("content-type")
    );
}

/// A client of the native API with one `Authorization` value (or none).
#[derive(Clone)]
pub struct Native {
    pub base: String,
    pub authorization: Option<String>,
    pub http: reqwest::Client,
}

impl Native {
    pub fn anonymous(base: &str) -> Native {
        Native::with_authorization(base, None)
    }

    pub fn basic(base: &str, account: &Account) -> Native {
        let pair = format!("{}:{}", account.email, account.key);
        Native::with_authorization(base, Some(format!("Basic {}", base64_encode(&pair))))
    }

    pub fn bearer(base: &str, token: &str) -> Native {
        Native::with_authorization(base, Some(format!("Bearer {token}")))
    }

    pub fn with_authorization(base: &str, authorization: Option<String>) -> Native {
        Native {
            base: base.to_string(),
            authorization,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(60))
                .build()
                .unwrap(),
        }
    }

    pub async fn request(&self, method: &str, path: &str) -> Reply {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut request = self
            .http
            .request(method, format!("{}/cohort/v1{path}", self.base));
        if let Some(auth) = &self.authorization {
            request = request.header("authorization", auth);
        }
        Reply::read(request.send().await.expect("request failed")).await
    }

    /// `GET /cohort/v1{path}` (the path may carry a query string).
    pub async fn get(&self, path: &str) -> Reply {
        self.request("GET", path).await
    }
}

/// Create a token with `scopes` through the CLI and wait until the server
/// (which learns of CLI writes by polling the store) accepts it somewhere:
/// until `GET /realm` stops answering 401. Returns the secret.
pub async fn token(realm: &Realm, name: &str, scopes: &str) -> String {
    let made = realm.cohort.cli_json(&[
        "token", "create", "--scope", scopes, "--name", name, "--json",
    ]);
    let secret = made["token"].as_str().unwrap().to_string();
    let client = Native::bearer(&realm.cohort.base, &secret);
    let deadline = Instant::now() + Duration::from_secs(5);
    while client.get("/realm").await.status == 401 {
        assert!(Instant::now() < deadline, "token {name} never became known");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    secret
}

/// Standard base64 (the tests need it for one header only).
pub fn base64_encode(text: &str) -> String {
    const TABLE: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let bytes = text.as_bytes();
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().fold(0u32, |n, b| (n << 8) | u32::from(*b)) << (8 * (3 - chunk.len()));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(TABLE[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}
