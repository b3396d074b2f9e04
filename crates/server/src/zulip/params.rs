//! Zulip's request parameters.
//!
//! Zulip reads each parameter by name from the body first, then the query
//! string, whatever the method. Bodies may be form-encoded, multipart (zulip-js)
//! or JSON. Strings are taken raw; every other type is a JSON document inside
//! the value (`members=[1,2]`). Reading a parameter marks it used, so the
//! success envelope can list the unused ones in `ignored_parameters_unsupported`.

use super::error::ZulipError;
use axum::body::Bytes;
use axum::extract::{FromRequest, Multipart, Request};
use axum::http::header::CONTENT_TYPE;
use cohort_core::{GroupId, SettingValue, UserId};
use serde_json::Value;
use std::collections::BTreeSet;
use std::sync::Mutex;

/// The raw parameters of one request, body entries before query entries.
pub struct Params {
    entries: Vec<(String, String)>,
    used: Mutex<BTreeSet<String>>,
}

impl<S: Send + Sync> FromRequest<S> for Params {
    type Rejection = ZulipError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ZulipError> {
        let mut entries = Vec::new();
        let query = req.uri().query().unwrap_or("").to_string();
        let content_type = req
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_ascii_lowercase();
        let reads_body = !matches!(
            *req.method(),
            axum::http::Method::GET | axum::http::Method::HEAD
        );
        if reads_body && content_type.starts_with("multipart/form-data") {
            let mut multipart = Multipart::from_request(req, state)
                .await
                .map_err(|e| body_error(e.status(), "Malformed multipart body"))?;
            while let Some(field) = multipart
                .next_field()
                .await
                .map_err(|e| body_error(e.status(), "Malformed multipart body"))?
            {
                let name = field.name().unwrap_or("").to_string();
                let bytes = field
                    .bytes()
                    .await
                    .map_err(|e| body_error(e.status(), "Malformed multipart body"))?;
                let value = String::from_utf8(bytes.to_vec()).map_err(|_| invalid_utf8())?;
                entries.push((name, value));
            }
        } else {
            let body = if reads_body {
                Bytes::from_request(req, state)
                    .await
                    .map_err(|e| body_error(e.status(), "Could not read the request body"))?
            } else {
                Bytes::new()
            };
            return Params::from_bytes(&content_type, &body, query.as_bytes());
        }
        entries.extend(decode_form(query.as_bytes())?);
        Ok(Params {
            entries,
            used: Mutex::new(BTreeSet::new()),
        })
    }
}

impl Params {
    /// The parameters of a body that is not multipart (JSON when
    /// `content_type`, lowercased, says so; a form otherwise) followed by
    /// those of the query string.
    pub fn from_bytes(content_type: &str, body: &[u8], query: &[u8]) -> Result<Params, ZulipError> {
        let mut entries = Vec::new();
        if content_type.starts_with("application/json") {
            entries.extend(json_body(body)?);
        } else if !body.is_empty() {
            entries.extend(decode_form(body)?);
        }
        entries.extend(decode_form(query)?);
        Ok(Params {
            entries,
            used: Mutex::new(BTreeSet::new()),
        })
    }

    /// Every name sent, once each, in order.
    #[cfg(any(test, feature = "fuzzing"))]
    pub fn names(&self) -> Vec<String> {
        let mut seen = BTreeSet::new();
        self.entries
            .iter()
            .filter(|(n, _)| seen.insert(n.as_str()))
            .map(|(n, _)| n.clone())
            .collect()
    }
}

fn body_error(status: axum::http::StatusCode, msg: &str) -> ZulipError {
    if status == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
        ZulipError::too_large()
    } else {
        ZulipError::bad_request(msg)
    }
}

fn invalid_utf8() -> ZulipError {
    ZulipError::bad_request("Request parameters are not valid UTF-8")
}

fn decode_form(raw: &[u8]) -> Result<Vec<(String, String)>, ZulipError> {
    crate::form::decode(raw).map_err(|_| invalid_utf8())
}

/// A JSON object body: strings stay raw, other values are re-encoded as JSON so
/// they read exactly like their form-encoded equivalents.
fn json_body(body: &[u8]) -> Result<Vec<(String, String)>, ZulipError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Vec::new());
    }
    let value: Value =
        serde_json::from_slice(body).map_err(|_| ZulipError::bad_request("Malformed JSON"))?;
    let Value::Object(map) = value else {
        return Err(ZulipError::bad_request("Malformed JSON"));
    };
    Ok(map
        .into_iter()
        .map(|(name, value)| {
            let text = match value {
                Value::String(s) => s,
                other => other.to_string(),
            };
            (name, text)
        })
        .collect())
}

impl Params {
    /// The raw value of `name`, marking it used.
    pub fn raw(&self, name: &str) -> Option<&str> {
        // Nothing to report as unused when nothing was sent.
        if self.entries.is_empty() {
            return None;
        }
        self.used
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(name.to_string());
        self.entries
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Names sent but never read (Zulip's `ignored_parameters_unsupported`).
    pub fn ignored(&self) -> Vec<String> {
        if self.entries.is_empty() {
            return Vec::new();
        }
        let used = self.used.lock().unwrap_or_else(|e| e.into_inner());
        let mut names: BTreeSet<String> = BTreeSet::new();
        for (name, _) in &self.entries {
            // `client` is consumed globally by Zulip and never reported.
            if !used.contains(name) && name != "client" {
                names.insert(name.clone());
            }
        }
        names.into_iter().collect()
    }

    pub fn string(&self, name: &str) -> Option<String> {
        self.raw(name).map(str::to_string)
    }

    pub fn required_string(&self, name: &str) -> Result<String, ZulipError> {
        self.string(name).ok_or_else(|| ZulipError::missing(name))
    }

    pub fn json(&self, name: &str) -> Result<Option<Value>, ZulipError> {
        match self.raw(name) {
            None => Ok(None),
            Some(text) => serde_json::from_str(text)
                .map(Some)
                .map_err(|_| ZulipError::bad_request(format!("{name} is not valid JSON"))),
        }
    }

    pub fn bool(&self, name: &str) -> Result<Option<bool>, ZulipError> {
        match self.json(name)? {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(b)),
            Some(_) => Err(ZulipError::bad_request(format!("{name} is not a boolean"))),
        }
    }

    pub fn int(&self, name: &str) -> Result<Option<i64>, ZulipError> {
        match self.json(name)? {
            None => Ok(None),
            Some(value) => as_int(&value)
                .map(Some)
                .ok_or_else(|| ZulipError::bad_request(format!("{name} is not an integer"))),
        }
    }

    pub fn int_list(&self, name: &str) -> Result<Option<Vec<i64>>, ZulipError> {
        match self.json(name)? {
            None => Ok(None),
            Some(value) => int_list(name, &value).map(Some),
        }
    }

    pub fn user_ids(&self, name: &str) -> Result<Option<Vec<UserId>>, ZulipError> {
        Ok(self
            .int_list(name)?
            .map(|ids| ids.into_iter().map(UserId).collect()))
    }

    pub fn group_ids(&self, name: &str) -> Result<Option<Vec<GroupId>>, ZulipError> {
        Ok(self
            .int_list(name)?
            .map(|ids| ids.into_iter().map(GroupId).collect()))
    }

    /// A group-setting value: a group id, or `{direct_members, direct_subgroups}`.
    pub fn setting_value(&self, name: &str) -> Result<Option<SettingValue>, ZulipError> {
        match self.json(name)? {
            None => Ok(None),
            Some(value) => setting_value(name, &value).map(Some),
        }
    }

    /// A group-setting update: `{new, old?}`.
    pub fn setting_update(
        &self,
        name: &str,
    ) -> Result<Option<cohort_core::command::SettingUpdate>, ZulipError> {
        let Some(value) = self.json(name)? else {
            return Ok(None);
        };
        let Value::Object(map) = &value else {
            return Err(ZulipError::bad_request(format!("{name} is not a dict")));
        };
        if let Some(key) = map.keys().find(|k| *k != "new" && *k != "old") {
            return Err(ZulipError::bad_request(format!(
                "Argument \"{key}\" at {name} is unexpected"
            )));
        }
        let new = map
            .get("new")
            .ok_or_else(|| ZulipError::bad_request(format!("{name}[\"new\"] is missing")))?;
        let new = setting_value(&format!("{name}[\"new\"]"), new)?;
        let old = match map.get("old") {
            None | Some(Value::Null) => None,
            Some(old) => Some(setting_value(&format!("{name}[\"old\"]"), old)?),
        };
        Ok(Some(cohort_core::command::SettingUpdate { new, old }))
    }
}

fn as_int(value: &Value) -> Option<i64> {
    match value {
        Value::Number(n) => n.as_i64(),
        _ => None,
    }
}

fn int_list(name: &str, value: &Value) -> Result<Vec<i64>, ZulipError> {
    let Value::Array(items) = value else {
        return Err(ZulipError::bad_request(format!("{name} is not a list")));
    };
    items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            as_int(item)
                .ok_or_else(|| ZulipError::bad_request(format!("{name}[{i}] is not an integer")))
        })
        .collect()
}

fn setting_value(name: &str, value: &Value) -> Result<SettingValue, ZulipError> {
    match value {
        Value::Number(_) => as_int(value)
            .map(|id| SettingValue::Group(GroupId(id)))
            .ok_or_else(|| ZulipError::bad_request(format!("{name} is not an integer"))),
        Value::Object(map) => {
            if let Some(key) = map
                .keys()
                .find(|k| *k != "direct_members" && *k != "direct_subgroups")
            {
                return Err(ZulipError::bad_request(format!(
                    "Argument \"{key}\" at {name} is unexpected"
                )));
            }
            let field = |key: &str| -> Result<Vec<i64>, ZulipError> {
                let list = map.get(key).ok_or_else(|| {
                    ZulipError::bad_request(format!("{name}[\"{key}\"] is missing"))
                })?;
                int_list(&format!("{name}[\"{key}\"]"), list)
            };
            Ok(SettingValue::Anonymous {
                members: field("direct_members")?.into_iter().map(UserId).collect(),
                subgroups: field("direct_subgroups")?
                    .into_iter()
                    .map(GroupId)
                    .collect(),
            })
        }
        _ => Err(ZulipError::bad_request(format!(
            "{name} is not an integer or a dict"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> Params {
        Params {
            entries: pairs
                .iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect(),
            used: Mutex::new(BTreeSet::new()),
        }
    }

    #[test]
    fn typed_values_follow_zulip_messages() {
        let p = params(&[
            ("members", "[1,2"),
            ("ids", "[1,\"a\"]"),
            ("flag", "1"),
            ("list", "true"),
        ]);
        assert_eq!(
            p.int_list("members").unwrap_err().msg,
            "members is not valid JSON"
        );
        assert_eq!(
            p.int_list("ids").unwrap_err().msg,
            "ids[1] is not an integer"
        );
        assert_eq!(p.bool("flag").unwrap_err().msg, "flag is not a boolean");
        assert_eq!(p.int_list("list").unwrap_err().msg, "list is not a list");
        assert_eq!(p.ignored(), Vec::<String>::new());
    }

    #[test]
    fn unread_parameters_are_reported() {
        let p = params(&[("a", "1"), ("client", "x"), ("b", "2"), ("a", "3")]);
        assert_eq!(p.raw("a"), Some("1"));
        assert_eq!(p.ignored(), vec!["b".to_string()]);
    }
}
