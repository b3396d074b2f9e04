//! The stylesheet and the script, compiled into the binary. Their URLs
//! carry a digest of their contents, so they are cached for a year and a
//! new build's are fetched at once.

use crate::limits::ByAddress;
use axum::extract::Path;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use std::sync::OnceLock;

const CSS: &str = include_str!("assets/app.css");
const JS: &str = include_str!("assets/app.js");

fn body(name: &str) -> Option<(&'static str, &'static str)> {
    match name {
        "app.css" => Some((CSS, "text/css; charset=utf-8")),
        "app.js" => Some((JS, "text/javascript; charset=utf-8")),
        _ => None,
    }
}

fn digest(text: &str) -> String {
    Sha256::digest(text.as_bytes())[..6]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// `/ui/assets/{name}?v={digest}`.
pub fn url(name: &str) -> &'static str {
    static URLS: OnceLock<(String, String)> = OnceLock::new();
    let (css, js) = URLS.get_or_init(|| {
        (
            format!("/ui/assets/app.css?v={}", digest(CSS)),
            format!("/ui/assets/app.js?v={}", digest(JS)),
        )
    });
    if name == "app.css" {
        css
    } else {
        js
    }
}

/// `GET /ui/assets/{name}`.
pub async fn get(_: ByAddress, Path(name): Path<String>) -> Response {
    let Some((text, kind)) = body(&name) else {
        return (StatusCode::NOT_FOUND, "no such asset").into_response();
    };
    let mut response = text.into_response();
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(kind));
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=31536000, immutable"),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}
