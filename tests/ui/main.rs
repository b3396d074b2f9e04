//! The admin page (`/ui/`), black-box over HTTP against a live `cohort
//! serve`: signing in (links and keys), sessions and CSRF, what each role
//! sees and may do, escaping, paging, bad input. The real-browser tests
//! (Chromium) are `tests/ui_browser.rs`.
//!
//! Contract: the module docs of `crates/server/src/ui/`.

#[path = "../common/mod.rs"]
mod common;

mod history;
mod pages;
mod refusals;
mod signing_in;

use common::*;
use reqwest::header::{HeaderMap, COOKIE, LOCATION, ORIGIN, SET_COOKIE};

/// What a page answered.
pub struct Page {
    pub status: u16,
    pub headers: HeaderMap,
    pub html: String,
}

impl Page {
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    pub fn location(&self) -> &str {
        self.header(LOCATION.as_str())
    }

    /// The CSRF token of the first form on the page.
    pub fn csrf(&self) -> String {
        let at = self
            .html
            .find(r#"name="csrf" value=""#)
            .unwrap_or_else(|| panic!("no CSRF field on the page: {}", self.html));
        let rest = &self.html[at + r#"name="csrf" value=""#.len()..];
        rest[..rest.find('"').expect("end of value")].to_string()
    }

    #[track_caller]
    pub fn ok(&self) -> &str {
        assert_eq!(self.status, 200, "page: {}", self.html);
        &self.html
    }
}

/// A browser session: one cookie, no redirects followed (so tests see them).
pub struct Browser {
    pub base: String,
    client: reqwest::Client,
    pub cookie: Option<String>,
}

impl Browser {
    pub fn new(base: &str) -> Browser {
        Browser {
            base: base.trim_end_matches('/').to_string(),
            // No pooled connections: a test may restart the server between
            // two requests.
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .pool_max_idle_per_host(0)
                .build()
                .expect("client"),
            cookie: None,
        }
    }

    async fn read(response: reqwest::Response) -> Page {
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let html = response.text().await.expect("body");
        Page {
            status,
            headers,
            html,
        }
    }

    fn with_cookie(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.cookie {
            Some(c) => request.header(COOKIE, format!("cohort_session={c}")),
            None => request,
        }
    }

    pub async fn get(&self, path: &str) -> Page {
        let request = self.client.get(format!("{}{path}", self.base));
        Browser::read(self.with_cookie(request).send().await.expect("GET")).await
    }

    /// A form post as a browser sends it from one of the site's pages.
    pub async fn post(&self, path: &str, fields: &[(&str, &str)]) -> Page {
        let request = self
            .client
            .post(format!("{}{path}", self.base))
            .header(ORIGIN, &self.base)
            .form(fields);
        Browser::read(self.with_cookie(request).send().await.expect("POST")).await
    }

    /// A post with headers of the test's choosing, no Origin added.
    pub async fn post_raw(&self, path: &str, headers: &[(&str, &str)], body: String) -> Page {
        let mut request = self
            .client
            .post(format!("{}{path}", self.base))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        Browser::read(self.with_cookie(request).send().await.expect("POST")).await
    }

    /// Keep the session cookie a response set.
    pub fn keep_cookie(&mut self, page: &Page) {
        let set = page.header(SET_COOKIE.as_str());
        let value = set
            .strip_prefix("cohort_session=")
            .and_then(|rest| rest.split(';').next())
            .unwrap_or_else(|| panic!("no session cookie in {set:?}"));
        self.cookie = Some(value.to_string());
    }

    /// Post on a page's form with that page's CSRF token.
    pub async fn submit(&self, from: &str, action: &str, fields: &[(&str, &str)]) -> Page {
        let csrf = self.get(from).await.csrf();
        let mut all: Vec<(&str, &str)> = vec![("csrf", &csrf)];
        all.extend_from_slice(fields);
        self.post(action, &all).await
    }
}

/// A one-time sign-in link for `email`, from the CLI; its key.
pub fn login_key(cohort: &Cohort, email: &str) -> String {
    let out = cohort.cli(&["login-link", "--realm", "Test", "--email", email]);
    assert!(
        out.status.success(),
        "login-link failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let link = String::from_utf8(out.stdout).expect("utf-8");
    let key = link
        .trim()
        .rsplit('/')
        .next()
        .expect("a key at the end of the link");
    key.to_string()
}

/// A browser signed in as `account` through a login link.
pub async fn signed_in(realm: &Realm, account: &Account) -> Browser {
    let mut browser = Browser::new(&realm.cohort.url(""));
    let key = login_key(&realm.cohort, &account.email);
    let page = browser.post(&format!("/ui/login/{key}"), &[]).await;
    assert_eq!(page.status, 303, "signing in: {}", page.html);
    browser.keep_cookie(&page);
    browser
}

/// The realm's version, to show a refused request committed nothing.
pub fn version(realm: &Realm) -> i64 {
    realm.cohort.realms()[0]["version"]
        .as_i64()
        .expect("a version")
}

/// A page of the native API's audit trail, read as the owner.
pub async fn audit(realm: &Realm, query: &str) -> serde_json::Value {
    reqwest::Client::new()
        .get(realm.cohort.url(&format!("/cohort/v1/audit?{query}")))
        .basic_auth(&realm.owner.email, Some(&realm.owner.key))
        .send()
        .await
        .expect("audit request")
        .json()
        .await
        .expect("audit JSON")
}
