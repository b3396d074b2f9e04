//! Posted forms: the body (`application/x-www-form-urlencoded`, repeated
//! names kept in order) and the checks every write makes before it reads
//! a field: the session's CSRF token, and that the request comes from this
//! site's own pages (`Sec-Fetch-Site`, `Origin`).

use super::error::UiError;
use super::session::Viewer;
use axum::extract::{FromRequest, Request};
use axum::http::{header, HeaderMap};
use bytes::Bytes;
use sha2::{Digest, Sha256};

/// A posted form's fields, in order.
pub struct Posted(Vec<(String, String)>);

impl Posted {
    pub fn parse(body: &[u8]) -> Posted {
        Posted(url::form_urlencoded::parse(body).into_owned().collect())
    }

    /// The first value of `name`, trimmed; `None` when absent.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.trim())
    }

    /// Every value of `name`, in order.
    pub fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.0
            .iter()
            .filter(move |(k, _)| k == name)
            .map(|(_, v)| v.trim())
    }

    /// Every value of `name` as ids; a value that is not one is refused.
    pub fn ids(&self, name: &str) -> Result<Vec<i64>, UiError> {
        self.all(name)
            .filter(|v| !v.is_empty())
            .map(|v| {
                v.parse::<i64>().map_err(|_| {
                    UiError::bad_request(format!("{name} must list ids; {v:?} is not one"))
                })
            })
            .collect()
    }
}

impl<S: Send + Sync> FromRequest<S> for Posted {
    type Rejection = UiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, UiError> {
        let form = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
        if !form {
            return Err(UiError::bad_request(
                "Forms are sent as application/x-www-form-urlencoded.",
            ));
        }
        let body = Bytes::from_request(req, state)
            .await
            .map_err(|_| UiError::bad_request("The form is too large or was cut off."))?;
        Ok(Posted::parse(&body))
    }
}

/// Whether the request was made by this site's own pages (or typed in):
/// browsers say where a request comes from in `Sec-Fetch-Site` and
/// `Origin`; another site's form is refused even before its token is read.
///
/// Under `Referrer-Policy: no-referrer` (a proxy may set it) a browser's
/// form posts carry `Origin: null` (the Fetch standard's rule for requests
/// that are not GET or HEAD): `null` is accepted only when `Sec-Fetch-Site`,
/// which no page can set, says `same-origin`.
pub fn same_origin(headers: &HeaderMap) -> Result<(), UiError> {
    let refuse =
        || UiError::forbidden("This form was sent from another site; nothing was changed.");
    let site = headers.get("sec-fetch-site").map(|s| s.as_bytes());
    if let Some(site) = site {
        if !matches!(site, b"same-origin" | b"none") {
            return Err(refuse());
        }
    }
    if let Some(origin) = headers.get(header::ORIGIN) {
        if origin.as_bytes() == b"null" && site == Some(b"same-origin".as_slice()) {
            return Ok(());
        }
        let origin = origin.to_str().map_err(|_| refuse())?;
        let host = headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .ok_or_else(refuse)?;
        let origin_host = origin
            .strip_prefix("http://")
            .or_else(|| origin.strip_prefix("https://"))
            .ok_or_else(refuse)?;
        if !origin_host.eq_ignore_ascii_case(host) {
            return Err(refuse());
        }
    }
    Ok(())
}

/// A write from a signed-in page: from this site, with the session's token.
pub fn check(viewer: &Viewer, headers: &HeaderMap, posted: &Posted) -> Result<(), UiError> {
    same_origin(headers)?;
    let sent = posted.get("csrf").unwrap_or("");
    // Compared as digests, so the time taken says nothing about the token.
    let same = Sha256::digest(sent.as_bytes()) == Sha256::digest(viewer.session.csrf.as_bytes());
    if sent.is_empty() || !same {
        return Err(UiError::forbidden(
            "This form is out of date or did not come from this page (its security token does not match). Reload the page and try again; nothing was changed.",
        ));
    }
    Ok(())
}
