//! SCIM 2.0 face (RFC 7643/7644) — under construction. (Minimal module list
//! for developing patch.rs; the full face's mod.rs replaces this on merge.)

mod error;
pub(crate) mod filter;
mod patch;
mod schema;

#[allow(unused_imports)]
pub use error::ScimError;

use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

pub const MEDIA_TYPE: &str = "application/scim+json";

/// A JSON body served as `application/scim+json`.
pub struct ScimJson(pub Value);

impl IntoResponse for ScimJson {
    fn into_response(self) -> Response {
        let body = serde_json::to_vec(&self.0).unwrap_or_default();
        (
            [(header::CONTENT_TYPE, HeaderValue::from_static(MEDIA_TYPE))],
            body,
        )
            .into_response()
    }
}
