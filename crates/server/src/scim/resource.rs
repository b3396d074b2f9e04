//! Directory records as SCIM resources: what a user or group looks like on
//! the wire (RFC 7643 §3, §4.1, §4.2), which of them SCIM sees at all, their
//! locations and versions, and attribute selection (`attributes`,
//! `excludedAttributes`, RFC 7644 §3.9).
//!
//! Mapping (the README documents it for operators):
//! - Users: `userName` is the login name a provider set, else the email, else
//!   the key; `displayName`, `name`, `emails` are what the provider sent (for a
//!   user no provider touched: the full name, split at its first space for
//!   `name`, and the one email, `work`);
//!   `active` is the directory's; `groups` the direct, active groups. Users a
//!   provider deleted are not shown.
//! - Groups: `displayName` is the name; `members` the direct members (`type`
//!   User; deactivated users included, as SCIM shows them) and direct
//!   subgroups (`type` Group). Deactivated groups are
//!   not shown; role groups (`role:*`) are shown and cannot be changed.

use super::filter::{self, AttrPath};
use super::schema::{self, Resource};
use super::ScimError;
use axum::body::Bytes;
use cohort_core::{Group, Millis, Snapshot, User};
use serde_json::{json, Map, Value};
use std::sync::Arc;

/// Whether SCIM shows this user (a provider's DELETE hides it).
pub fn visible_user(user: &User) -> bool {
    !user.profile.deleted
}

/// Whether SCIM shows this group.
pub fn visible_group(group: &Group) -> bool {
    !group.deactivated
}

pub fn location(base: &str, resource: Resource, id: i64) -> String {
    format!("{base}/{}/{id}", resource.endpoint())
}

/// `meta.version` and the `ETag` header: a weak tag over the record's own
/// attributes (the same on every node and across restarts).
pub fn etag_of(tag: &str) -> String {
    format!("W/\"{tag}\"")
}

pub fn user_etag(user: &User) -> String {
    etag_of(&user.version_tag())
}

pub fn group_etag(group: &Group) -> String {
    etag_of(&group.version_tag())
}

/// An `If-Match` value as the core's version tag: `W/"abc"`, `"abc"` or `abc`.
pub fn tag_from_header(value: &str) -> String {
    let v = value.trim();
    let v = v.strip_prefix("W/").unwrap_or(v);
    v.trim_matches('"').to_string()
}

fn time(millis: Millis) -> String {
    use time::format_description::well_known::Rfc3339;
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(millis) * 1_000_000)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_default()
}

fn meta(
    resource: Resource,
    location: String,
    created: Millis,
    modified: Millis,
    tag: String,
) -> Value {
    json!({
        "resourceType": resource.name(),
        "created": time(created),
        "lastModified": time(modified),
        "location": location,
        "version": tag,
    })
}

/// Which attributes a response carries (RFC 7644 §3.9). Names are compared
/// lower-cased; `id`, `schemas` and `meta` are always returned.
#[derive(Clone, Debug, Default)]
pub struct Select {
    only: Option<Vec<(String, Option<String>)>>,
    excluded: Vec<(String, Option<String>)>,
}

fn names(paths: Vec<AttrPath>, resource: Resource) -> Vec<(String, Option<String>)> {
    paths
        .into_iter()
        // Another schema's attributes name nothing cohort returns.
        .filter(|p| {
            p.urn
                .as_deref()
                .is_none_or(|u| u.eq_ignore_ascii_case(resource.urn()))
        })
        .map(|p| (p.attr_lower(), p.sub_lower()))
        .collect()
}

impl Select {
    pub fn parse(
        resource: Resource,
        attributes: Option<&str>,
        excluded: Option<&str>,
    ) -> Result<Select, ScimError> {
        let only = match attributes.map(str::trim).filter(|a| !a.is_empty()) {
            Some(text) => Some(names(filter::parse_attribute_list(text)?, resource)),
            None => None,
        };
        let excluded = match excluded.map(str::trim).filter(|a| !a.is_empty()) {
            Some(text) => names(filter::parse_attribute_list(text)?, resource),
            None => Vec::new(),
        };
        Ok(Select { only, excluded })
    }

    /// From a request's `attributes` and `excludedAttributes` parameters.
    pub fn from_params(
        resource: Resource,
        params: &std::collections::HashMap<String, String>,
    ) -> Result<Select, ScimError> {
        use super::search::param;
        Select::parse(
            resource,
            param(params, "attributes"),
            param(params, "excludedAttributes"),
        )
    }

    /// From a `/.search` body's `attributes` / `excludedAttributes` (arrays
    /// of names, or comma-separated strings).
    pub fn from_body(resource: Resource, body: &Map<String, Value>) -> Result<Select, ScimError> {
        let list = |key: &str| -> Result<Option<String>, ScimError> {
            match super::search::get_ci(body, key) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.clone())),
                Some(Value::Array(items)) => items
                    .iter()
                    .map(|v| v.as_str().map(str::to_string))
                    .collect::<Option<Vec<_>>>()
                    .map(|v| Some(v.join(",")))
                    .ok_or_else(|| {
                        ScimError::bad(
                            super::error::ScimType::InvalidSyntax,
                            format!("{key} must be a list of attribute names"),
                        )
                    }),
                Some(_) => Err(ScimError::bad(
                    super::error::ScimType::InvalidSyntax,
                    format!("{key} must be a list of attribute names"),
                )),
            }
        };
        Select::parse(
            resource,
            list("attributes")?.as_deref(),
            list("excludedAttributes")?.as_deref(),
        )
    }

    /// For the two selections whose group renderings are cached: everything
    /// (`Some(true)`), or everything but members (`Some(false)`, Entra's
    /// `excludedAttributes=members`).
    pub fn cached_group_form(&self) -> Option<bool> {
        match (&self.only, self.excluded.as_slice()) {
            (None, []) => Some(true),
            (None, [(attr, None)]) if attr == "members" => Some(false),
            _ => None,
        }
    }

    /// Whether top-level attribute `name` (canonical spelling) is returned.
    pub fn wants(&self, name: &str) -> bool {
        let name = name.to_ascii_lowercase();
        if matches!(name.as_str(), "id" | "schemas" | "meta") {
            return true;
        }
        if self
            .excluded
            .iter()
            .any(|(a, sub)| *a == name && sub.is_none())
        {
            return false;
        }
        match &self.only {
            Some(only) => only.iter().any(|(a, _)| *a == name),
            None => true,
        }
    }

    /// Whether sub-attribute `sub` of `name` is returned (given `wants(name)`).
    fn wants_sub(&self, name: &str, sub: &str) -> bool {
        let (name, sub) = (name.to_ascii_lowercase(), sub.to_ascii_lowercase());
        if self
            .excluded
            .iter()
            .any(|(a, s)| *a == name && s.as_deref() == Some(&sub))
        {
            return false;
        }
        // `meta` is always returned whole (as `id` and `schemas` are).
        if name == "meta" {
            return true;
        }
        match &self.only {
            Some(only) => only
                .iter()
                .any(|(a, s)| *a == name && s.as_deref().is_none_or(|s| s == sub)),
            None => true,
        }
    }

    /// Drop what is not wanted from a rendered resource.
    fn apply(&self, mut doc: Map<String, Value>) -> Map<String, Value> {
        doc.retain(|k, _| self.wants(k));
        for (name, value) in doc.iter_mut() {
            match value {
                Value::Object(inner) => inner.retain(|k, _| self.wants_sub(name, k)),
                Value::Array(items) => {
                    for item in items {
                        if let Value::Object(inner) = item {
                            inner.retain(|k, _| self.wants_sub(name, k));
                        }
                    }
                }
                _ => {}
            }
        }
        doc
    }
}

/// The user as SCIM shows it, every attribute (before selection).
pub fn user_doc(user: &User, snap: &Snapshot, base: &str, with_groups: bool) -> Map<String, Value> {
    let p = &user.profile;
    let mut doc = Map::new();
    doc.insert("schemas".into(), json!([schema::USER]));
    doc.insert("id".into(), json!(user.id.to_string()));
    if let Some(external) = &p.external_id {
        doc.insert("externalId".into(), json!(external));
    }
    doc.insert("userName".into(), json!(user.login_name()));
    let mut name = Map::new();
    let (given, family) = user.name_parts();
    if let Some(family) = family {
        name.insert("familyName".into(), json!(family));
    }
    if let Some(given) = given {
        name.insert("givenName".into(), json!(given));
    }
    if !name.is_empty() {
        doc.insert("name".into(), Value::Object(name));
    }
    let provisioned = p.user_name.is_some();
    if provisioned {
        if let Some(display) = &p.display_name {
            doc.insert("displayName".into(), json!(display));
        }
        if !p.emails.is_empty() {
            doc.insert("emails".into(), json!(p.emails));
        }
    } else {
        doc.insert("displayName".into(), json!(user.full_name));
        if let Some(email) = &user.email {
            doc.insert(
                "emails".into(),
                json!([{"value": email.to_string(), "type": "work", "primary": true}]),
            );
        }
    }
    doc.insert("active".into(), json!(user.active));
    if with_groups {
        let groups: Vec<Value> = snap
            .groups_of(user.id)
            .into_iter()
            .filter_map(|id| snap.group(id))
            .filter(|g| visible_group(g))
            .map(|g| {
                json!({
                    "value": g.id.to_string(),
                    "$ref": location(base, Resource::Group, g.id.0),
                    "display": g.name.to_string(),
                    "type": "direct",
                })
            })
            .collect();
        if !groups.is_empty() {
            doc.insert("groups".into(), Value::Array(groups));
        }
    }
    doc.insert(
        "meta".into(),
        meta(
            Resource::User,
            location(base, Resource::User, user.id.0),
            user.date_joined,
            user.updated_at,
            user_etag(user),
        ),
    );
    doc
}

/// The group as SCIM shows it; members only when asked for (a large group's
/// list is never built for a response that leaves it out).
pub fn group_doc(
    group: &Group,
    snap: &Snapshot,
    base: &str,
    with_members: bool,
) -> Map<String, Value> {
    let mut doc = Map::new();
    doc.insert("schemas".into(), json!([schema::GROUP]));
    doc.insert("id".into(), json!(group.id.to_string()));
    if let Some(external) = &group.external_id {
        doc.insert("externalId".into(), json!(external));
    }
    doc.insert("displayName".into(), json!(group.name.to_string()));
    if with_members {
        // Deactivated users included: SCIM shows them (`active: false`).
        let mut members: Vec<Value> = group
            .members
            .iter()
            .filter(|u| snap.user(**u).is_some_and(|u| visible_user(u)))
            .map(|u| {
                json!({
                    "value": u.to_string(),
                    "$ref": location(base, Resource::User, u.0),
                    "type": "User",
                })
            })
            .collect();
        members.extend(
            group
                .subgroups
                .iter()
                .filter(|g| snap.group(**g).is_some_and(|g| visible_group(g)))
                .map(|g| {
                    json!({
                        "value": g.to_string(),
                        "$ref": location(base, Resource::Group, g.0),
                        "type": "Group",
                    })
                }),
        );
        if !members.is_empty() {
            doc.insert("members".into(), Value::Array(members));
        }
    }
    doc.insert(
        "meta".into(),
        meta(
            Resource::Group,
            location(base, Resource::Group, group.id.0),
            group.created_at,
            group.updated_at,
            group_etag(group),
        ),
    );
    doc
}

pub fn user_json(user: &User, snap: &Snapshot, base: &str, select: &Select) -> Value {
    Value::Object(select.apply(user_doc(user, snap, base, select.wants("groups"))))
}

pub fn group_json(group: &Group, snap: &Snapshot, base: &str, select: &Select) -> Value {
    Value::Object(select.apply(group_doc(group, snap, base, select.wants("members"))))
}

/// Groups rendered as JSON bytes, in order: from the fragment cache for the
/// cached selections (each group rendered once per change), else directly.
pub fn groups_bytes(
    cache: &crate::cache::FragmentCache<super::GroupKey>,
    snap: &Snapshot,
    base: &Arc<str>,
    groups: &[Arc<Group>],
    select: &Select,
) -> Vec<Bytes> {
    let render = |g: &Group, with_members: bool| -> Bytes {
        let doc = group_doc(g, snap, base, with_members);
        Bytes::from(serde_json::to_vec(&Value::Object(doc)).unwrap_or_default())
    };
    match select.cached_group_form() {
        Some(with_members) => {
            let items: Vec<_> = groups
                .iter()
                .map(|g| ((g.id, with_members, base.clone()), snap.group_rev(g.id), g))
                .collect();
            cache.get_many(&items, |g| render(g, with_members))
        }
        None => groups
            .iter()
            .map(|g| {
                let value = group_json(g, snap, base, select);
                Bytes::from(serde_json::to_vec(&value).unwrap_or_default())
            })
            .collect(),
    }
}

/// A user or group by its SCIM id, if SCIM shows it.
pub fn find_user(snap: &Snapshot, id: &str) -> Option<Arc<User>> {
    let id = parse_id(id)?;
    snap.user(cohort_core::UserId(id))
        .filter(|u| visible_user(u))
        .cloned()
}

pub fn find_group(snap: &Snapshot, id: &str) -> Option<Arc<Group>> {
    let id = parse_id(id)?;
    snap.group(cohort_core::GroupId(id))
        .filter(|g| visible_group(g))
        .cloned()
}

/// Ids are decimal; anything else names nothing (404, not 400).
pub fn parse_id(id: &str) -> Option<i64> {
    if id.is_empty() || id.len() > 18 || !id.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    id.parse().ok()
}
