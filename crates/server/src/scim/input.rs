//! SCIM JSON documents read into what the core's commands take: the bodies
//! of POST and PUT, and the document a PATCH produced. Attribute names are
//! case-insensitive; attributes cohort does not keep (other schemas,
//! `title`, `phoneNumbers`, …, `password`) are accepted and ignored;
//! read-only ones (`id`, `meta`, `groups`) are ignored as the RFC asks;
//! `null` means "not set".

use super::error::{ScimError, ScimType};
use super::resource::parse_id;
use super::schema::Resource;
use super::search::get_ci;
use cohort_core::{GroupId, Principal, ProfileEmail, Snapshot, UserId};
use serde_json::{Map, Value};

fn invalid(detail: impl Into<String>) -> ScimError {
    ScimError::bad(ScimType::InvalidValue, detail)
}

/// The attributes of a User document that cohort keeps.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct UserInput {
    pub user_name: String,
    pub display_name: Option<String>,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    pub emails: Vec<ProfileEmail>,
    pub external_id: Option<String>,
    /// Absent: left as it is (created active).
    pub active: Option<bool>,
}

/// The attributes of a Group document that cohort keeps.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct GroupInput {
    pub display_name: String,
    pub external_id: Option<String>,
    /// Members that name a user or group of this realm, each once, in order.
    pub members: Vec<Principal>,
}

/// `schemas`, if sent, must name the resource's core schema.
fn check_schemas(doc: &Map<String, Value>, resource: Resource) -> Result<(), ScimError> {
    match get_ci(doc, "schemas") {
        None | Some(Value::Null) => Ok(()),
        Some(Value::Array(items)) => {
            let names = items.iter().any(|v| {
                v.as_str()
                    .is_some_and(|s| s.eq_ignore_ascii_case(resource.urn()))
            });
            if names {
                Ok(())
            } else {
                Err(ScimError::bad(
                    ScimType::InvalidSyntax,
                    format!("schemas must include {}", resource.urn()),
                ))
            }
        }
        Some(_) => Err(ScimError::bad(
            ScimType::InvalidSyntax,
            "schemas must be a list of schema URNs",
        )),
    }
}

fn text(doc: &Map<String, Value>, key: &str) -> Result<Option<String>, ScimError> {
    match get_ci(doc, key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(invalid(format!("{key} must be a string"))),
    }
}

/// Booleans; Entra sends `"True"`/`"False"`.
pub fn boolean(value: &Value, key: &str) -> Result<Option<bool>, ScimError> {
    match value {
        Value::Null => Ok(None),
        Value::Bool(b) => Ok(Some(*b)),
        Value::String(s) if s.eq_ignore_ascii_case("true") => Ok(Some(true)),
        Value::String(s) if s.eq_ignore_ascii_case("false") => Ok(Some(false)),
        _ => Err(invalid(format!("{key} must be true or false"))),
    }
}

/// A multi-valued attribute: a list (a lone object counts as one value).
fn list<'a>(
    doc: &'a Map<String, Value>,
    key: &str,
) -> Result<Vec<&'a Map<String, Value>>, ScimError> {
    let items: Vec<&Value> = match get_ci(doc, key) {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(items)) => items.iter().collect(),
        Some(value @ Value::Object(_)) => vec![value],
        Some(_) => return Err(invalid(format!("{key} must be a list"))),
    };
    items
        .into_iter()
        .map(|v| {
            v.as_object()
                .ok_or_else(|| invalid(format!("each of {key} must be an object")))
        })
        .collect()
}

pub fn user(doc: &Map<String, Value>) -> Result<UserInput, ScimError> {
    check_schemas(doc, Resource::User)?;
    let user_name = text(doc, "userName")?.ok_or_else(|| invalid("userName is required"))?;
    let (given_name, family_name) = match get_ci(doc, "name") {
        None | Some(Value::Null) => (None, None),
        Some(Value::Object(name)) => (text(name, "givenName")?, text(name, "familyName")?),
        Some(_) => return Err(invalid("name must be an object")),
    };
    let mut emails = Vec::new();
    for item in list(doc, "emails")? {
        let Some(value) = text(item, "value")? else {
            return Err(invalid("each email needs a value"));
        };
        let primary = match get_ci(item, "primary") {
            None => None,
            Some(v) => boolean(v, "emails.primary")?,
        };
        emails.push(ProfileEmail {
            value,
            kind: text(item, "type")?,
            primary,
        });
    }
    let active = match get_ci(doc, "active") {
        None => None,
        Some(v) => boolean(v, "active")?,
    };
    Ok(UserInput {
        user_name,
        display_name: text(doc, "displayName")?,
        given_name,
        family_name,
        emails,
        external_id: text(doc, "externalId")?,
        active,
    })
}

/// A member `value`: a user or group of this realm. Ids naming nothing are
/// dropped (a provider may push a member it failed to provision; the
/// conformance probes expect that to succeed), and logged.
fn principal(snap: &Snapshot, value: &str) -> Option<Principal> {
    let id = parse_id(value)?;
    if snap.user(UserId(id)).is_some_and(|u| !u.profile.deleted) {
        return Some(Principal::User(UserId(id)));
    }
    if snap.group(GroupId(id)).is_some_and(|g| !g.deactivated) {
        return Some(Principal::Group(GroupId(id)));
    }
    None
}

pub fn members(
    snap: &Snapshot,
    items: &[&Map<String, Value>],
) -> Result<Vec<Principal>, ScimError> {
    let mut out = Vec::with_capacity(items.len());
    let mut seen = std::collections::HashSet::new();
    for item in items {
        let value = match get_ci(item, "value") {
            Some(Value::String(s)) => s.as_str(),
            _ => return Err(invalid("each member needs a string value (an id)")),
        };
        match principal(snap, value) {
            Some(p) if seen.insert(p) => out.push(p),
            Some(_) => {}
            None => tracing::info!(member = value, "member id names nothing here; ignored"),
        }
    }
    Ok(out)
}

pub fn group(snap: &Snapshot, doc: &Map<String, Value>) -> Result<GroupInput, ScimError> {
    check_schemas(doc, Resource::Group)?;
    let display_name =
        text(doc, "displayName")?.ok_or_else(|| invalid("displayName is required"))?;
    let items = list(doc, "members")?;
    if items.len() > cohort_core::validate::MAX_IDS_PER_LIST {
        return Err(ScimError::bad(
            ScimType::TooMany,
            format!(
                "at most {} members per request",
                cohort_core::validate::MAX_IDS_PER_LIST
            ),
        ));
    }
    Ok(GroupInput {
        display_name,
        external_id: text(doc, "externalId")?,
        members: members(snap, &items)?,
    })
}

/// The `id` a body carries, if any (it may only repeat the resource's own).
pub fn id_of(doc: &Map<String, Value>) -> Option<String> {
    match get_ci(doc, "id") {
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    }
}
