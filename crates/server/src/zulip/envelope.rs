//! Zulip's success envelope: `{"result": "success", "msg": "", ...}`, built
//! from JSON values or spliced onto pre-rendered bodies.

use super::params::Params;
use axum::body::Bytes;
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Map, Value};
use std::sync::Arc;

/// `{"result": "success", "msg": "", ...fields}` plus `ignored_parameters_unsupported`.
pub fn success(params: &Params, fields: Value) -> Response {
    let mut body = Map::new();
    body.insert("result".into(), json!("success"));
    body.insert("msg".into(), json!(""));
    if let Value::Object(fields) = fields {
        body.extend(fields);
    }
    let ignored = params.ignored();
    if !ignored.is_empty() {
        body.insert("ignored_parameters_unsupported".into(), json!(ignored));
    }
    axum::Json(Value::Object(body)).into_response()
}

/// A pre-rendered success body in parts (its last part closes the object),
/// with `ignored_parameters_unsupported` spliced in when needed.
pub fn success_parts(params: &Params, parts: Arc<Vec<Bytes>>) -> Response {
    let ignored = params.ignored();
    let parts = if ignored.is_empty() {
        parts
    } else {
        let mut spliced = (*parts).clone();
        if let Some(last) = spliced.last_mut() {
            *last = splice_ignored(last, &ignored);
        }
        Arc::new(spliced)
    };
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        axum::body::Body::new(crate::body::Chunks::new(parts)),
    )
        .into_response()
}

/// A pre-rendered success body, with `ignored_parameters_unsupported` spliced in
/// when needed.
pub fn success_bytes(params: &Params, body: Bytes) -> Response {
    let ignored = params.ignored();
    let body = if ignored.is_empty() {
        body
    } else {
        splice_ignored(&body, &ignored)
    };
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        body,
    )
        .into_response()
}

/// `tail` (which closes the body's object) with `ignored_parameters_unsupported`
/// added as the object's last field.
fn splice_ignored(tail: &[u8], ignored: &[String]) -> Bytes {
    let mut spliced = tail[..tail.len().saturating_sub(1)].to_vec();
    spliced.extend_from_slice(b",\"ignored_parameters_unsupported\":");
    spliced.extend_from_slice(json!(ignored).to_string().as_bytes());
    spliced.push(b'}');
    Bytes::from(spliced)
}

/// `{"result":"success","msg":"","<field>":[ids…]}`, written directly (lists
/// can hold 100,000 ids).
pub fn id_list_body(field: &str, ids: impl Iterator<Item = i64>) -> Bytes {
    use std::io::Write;
    let mut body = Vec::with_capacity(64);
    let _ = write!(body, "{{\"result\":\"success\",\"msg\":\"\",\"{field}\":[");
    for (i, id) in ids.enumerate() {
        if i > 0 {
            body.push(b',');
        }
        let _ = write!(body, "{id}");
    }
    body.extend_from_slice(b"]}");
    Bytes::from(body)
}
