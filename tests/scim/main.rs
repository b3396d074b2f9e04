//! The SCIM 2.0 face (`/scim/v2`), black-box, against a live `cohort serve`.
//!
//! Contract: RFC 7643 (resources), RFC 7644 (protocol), what Okta and
//! Microsoft Entra actually send (Okta's SCIM 2.0 guide and spec test, Entra's
//! provisioning guide and SCIM compliance notes, linked from
//! `docs/ARCHITECTURE.md`) and cohort's documented choices (the module docs of
//! `crates/server/src/scim/`: `mod.rs`, `resource.rs`, `input.rs`,
//! `patch/mod.rs`, `filter/mod.rs`, `compile.rs`, `search.rs`).
//! Every refused request is followed by a check that nothing changed: the
//! realm's version (`cohort realm list`), SCIM's lists and Zulip's users and
//! groups.

#[path = "../common/mod.rs"]
mod common;

mod auth;
mod discovery;
mod entra;
mod etag;
mod faces;
mod okta;
mod patch;
mod queries;

use common::*;
use serde_json::{json as j, Value};
use std::time::Duration;

pub const ERROR_URN: &str = "urn:ietf:params:scim:api:messages:2.0:Error";
pub const LIST_URN: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
pub const USER_URN: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
pub const GROUP_URN: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
pub const PATCH_URN: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

/// One SCIM answer: status, headers, body (JSON, or the text as a string).
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Assert `status` and return the body.
    #[track_caller]
    pub fn ok(&self, status: u16) -> &Value {
        assert_eq!(self.status, status, "status; body {}", self.body);
        &self.body
    }

    /// The `id`s of a ListResponse's resources, in order.
    #[track_caller]
    pub fn ids(&self) -> Vec<String> {
        let body = self.ok(200);
        body["Resources"]
            .as_array()
            .unwrap_or_else(|| panic!("no Resources: {body}"))
            .iter()
            .map(|r| r["id"].as_str().unwrap().to_string())
            .collect()
    }
}

/// Assert a SCIM error (RFC 7644 §3.12): the status, the Error schema,
/// `status` as a string, a non-empty `detail`, `scimType` when given (and
/// none when `None`), served as `application/scim+json`.
#[track_caller]
pub fn assert_scim_error(reply: &Reply, status: u16, scim_type: Option<&str>) {
    let body = &reply.body;
    assert_eq!(reply.status, status, "status; body {body}");
    assert_eq!(body["schemas"], j!([ERROR_URN]), "{body}");
    assert_eq!(body["status"], j!(status.to_string()), "{body}");
    assert!(
        body["detail"].as_str().is_some_and(|d| !d.is_empty()),
        "detail: {body}"
    );
    match scim_type {
        Some(kind) => assert_eq!(body["scimType"], kind, "{body}"),
        None => assert!(body.get("scimType").is_none(), "{body}"),
    }
    assert!(
        reply
            .header("content-type")
            .is_some_and(|t| t.starts_with("application/scim+json")),
        "content type {:?}",
        reply.header("content-type")
    );
}

/// A SCIM client with a bearer token (or any `Authorization` value).
#[derive(Clone)]
pub struct Scim {
    pub base: String,
    pub authorization: Option<String>,
    pub http: reqwest::Client,
}

impl Scim {
    pub fn new(realm: &Realm) -> Scim {
        Scim::with_token(&realm.cohort.base, &realm.scim_token)
    }

    pub fn with_token(base: &str, token: &str) -> Scim {
        Scim::with_authorization(base, Some(format!("Bearer {token}")))
    }

    pub fn with_authorization(base: &str, authorization: Option<String>) -> Scim {
        Scim {
            base: base.to_string(),
            authorization,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(60))
                .build()
                .unwrap(),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}/scim/v2{}", self.base, path)
    }

    pub fn request(&self, method: &str, path: &str) -> reqwest::RequestBuilder {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let request = self
            .http
            .request(method, self.url(path))
            .header("accept", "application/scim+json");
        match &self.authorization {
            Some(auth) => request.header("authorization", auth),
            None => request,
        }
    }

    pub async fn send(&self, request: reqwest::RequestBuilder) -> Reply {
        let response = request.send().await.expect("request failed");
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

    pub async fn get(&self, path: &str, query: &[(&str, &str)]) -> Reply {
        self.send(self.request("GET", path).query(query)).await
    }

    /// A JSON body sent as `application/scim+json`.
    pub async fn call(&self, method: &str, path: &str, body: Value) -> Reply {
        self.send(
            self.request(method, path)
                .header("content-type", "application/scim+json")
                .body(body.to_string()),
        )
        .await
    }

    pub async fn post(&self, path: &str, body: Value) -> Reply {
        self.call("POST", path, body).await
    }

    pub async fn put(&self, path: &str, body: Value) -> Reply {
        self.call("PUT", path, body).await
    }

    pub async fn delete(&self, path: &str) -> Reply {
        self.send(self.request("DELETE", path)).await
    }

    /// PATCH with these operations.
    pub async fn patch(&self, path: &str, ops: Value) -> Reply {
        self.call(
            "PATCH",
            path,
            j!({"schemas": [PATCH_URN], "Operations": ops}),
        )
        .await
    }

    /// Search with a filter; panics unless 200.
    pub async fn filter(&self, endpoint: &str, filter: &str) -> Reply {
        let reply = self.get(endpoint, &[("filter", filter)]).await;
        assert_eq!(reply.status, 200, "{filter}: {}", reply.body);
        reply
    }

    // Conveniences for setting up.

    /// Create a user named `name` (userName `name@idp.example`); its id.
    pub async fn user(&self, name: &str) -> String {
        let reply = self
            .post(
                "/Users",
                j!({
                    "schemas": [USER_URN],
                    "userName": format!("{name}@idp.example"),
                    "name": {"givenName": name, "familyName": "Tester"},
                    "displayName": format!("{name} Tester"),
                    "emails": [{"value": format!("{name}@idp.example"), "type": "work", "primary": true}],
                    "externalId": format!("ext-{name}"),
                }),
            )
            .await;
        reply.ok(201)["id"].as_str().unwrap().to_string()
    }

    /// Create a group with these member ids; its id.
    pub async fn group(&self, name: &str, members: &[&str]) -> String {
        let members: Vec<Value> = members.iter().map(|m| j!({"value": m})).collect();
        let reply = self
            .post(
                "/Groups",
                j!({"schemas": [GROUP_URN], "displayName": name, "members": members}),
            )
            .await;
        reply.ok(201)["id"].as_str().unwrap().to_string()
    }

    /// `GET /Users/{id}` or `/Groups/{id}`, which must answer 200.
    pub async fn read(&self, path: &str) -> Value {
        self.get(path, &[]).await.ok(200).clone()
    }

    /// The member ids of a group, sorted.
    pub async fn members(&self, group: &str) -> Vec<String> {
        let body = self.read(&format!("/Groups/{group}")).await;
        let mut ids: Vec<String> = body["members"]
            .as_array()
            .map(|m| {
                m.iter()
                    .map(|m| m["value"].as_str().unwrap().to_string())
                    .collect()
            })
            .unwrap_or_default();
        ids.sort();
        ids
    }
}

/// Everything a refused request must leave alone: every realm's version,
/// SCIM's users and groups, Zulip's users and groups.
pub async fn world(realm: &Realm) -> Value {
    let scim = Scim::new(realm);
    let users = scim.get("/Users", &[("count", "1000")]).await;
    let groups = scim.get("/Groups", &[("count", "1000")]).await;
    let zulip = realm.api(&realm.owner);
    let (status, zulip_users) = zulip.get("/users", &[]).await;
    assert_eq!(status, 200, "{zulip_users}");
    j!({
        "realms": realm.cohort.realms(),
        "scim_users": users.ok(200),
        "scim_groups": groups.ok(200),
        "zulip_users": zulip_users,
        "zulip_groups": realm.all_groups().await,
    })
}

/// The realm's version (from `cohort realm list`; the test database holds one
/// realm unless a test adds another).
pub fn version(realm: &Realm) -> i64 {
    realm.cohort.realms()[0]["version"].as_i64().unwrap()
}

/// A user's Zulip record from `GET /api/v1/users` (including deactivated).
pub async fn zulip_user(realm: &Realm, id: &str) -> Value {
    let (status, body) = realm.api(&realm.owner).get("/users", &[]).await;
    assert_eq!(status, 200, "{body}");
    body["members"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["user_id"].as_i64().map(|n| n.to_string()).as_deref() == Some(id))
        .cloned()
        .unwrap_or(Value::Null)
}
