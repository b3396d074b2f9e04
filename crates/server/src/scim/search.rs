//! Queries (RFC 7644 §3.4.2, §3.4.3): `filter`, `startIndex`/`count`,
//! `sortBy`/`sortOrder` and attribute selection, from a query string or a
//! `/.search` body, answered as a `ListResponse`. Without `sortBy` results
//! come in id order (creation order), the same on every request, as Okta's
//! paging needs. `userName eq` and `id eq` are answered from the snapshot's
//! indexes; other filters scan the realm's users or groups.

use super::error::{ScimError, ScimType};
use super::filter::{self, AttrPath};
use super::resource::{self, Select};
use super::schema::{self, Resource};
use super::{compile, ScimBody, ScimBytes, ScimClient, ScimJson};
use crate::AppState;
use axum::body::Bytes;
use cohort_core::filter::{Operand, Record};
use cohort_core::{Group, Snapshot, User};
use serde_json::{json, Map, Value};
use std::collections::HashMap;
use std::sync::Arc;

/// Results per page when `count` is not given, and the most per page.
pub const DEFAULT_COUNT: usize = 100;
pub const MAX_COUNT: usize = 1000;

/// A query parameter by name, without regard to case.
pub fn param<'a>(params: &'a HashMap<String, String>, key: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(key))
        .map(|(_, v)| v.as_str())
}

/// `map[key]` with the key compared without regard to case (SCIM attribute
/// and parameter names are case-insensitive).
pub fn get_ci<'a>(map: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    map.get(key).or_else(|| {
        map.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v)
    })
}

#[derive(Debug, Default)]
pub struct ListQuery {
    filter: Option<String>,
    start_index: usize,
    count: usize,
    sort_by: Option<AttrPath>,
    descending: bool,
    select: Select,
}

fn number(text: &str, name: &str) -> Result<i64, ScimError> {
    text.trim()
        .parse::<i64>()
        .map_err(|_| ScimError::bad(ScimType::InvalidValue, format!("{name} must be an integer")))
}

impl ListQuery {
    fn build(get: impl Fn(&str) -> Option<String>, select: Select) -> Result<ListQuery, ScimError> {
        // Below 1 counts as 1, a negative count as 0 (RFC 7644 §3.4.2.4).
        let start_index = match get("startIndex") {
            Some(s) => number(&s, "startIndex")?.max(1) as usize,
            None => 1,
        };
        let count = match get("count") {
            Some(s) => (number(&s, "count")?.max(0) as usize).min(MAX_COUNT),
            None => DEFAULT_COUNT,
        };
        let sort_by = match get("sortBy").filter(|s| !s.trim().is_empty()) {
            Some(s) => {
                let mut paths = filter::parse_attribute_list(&s)?;
                if paths.len() != 1 {
                    return Err(ScimError::bad(
                        ScimType::InvalidValue,
                        "sortBy names one attribute",
                    ));
                }
                paths.pop()
            }
            None => None,
        };
        let descending = match get("sortOrder").as_deref().map(str::to_ascii_lowercase) {
            None => false,
            Some(o) if o == "ascending" => false,
            Some(o) if o == "descending" => true,
            Some(_) => {
                return Err(ScimError::bad(
                    ScimType::InvalidValue,
                    "sortOrder is ascending or descending",
                ))
            }
        };
        Ok(ListQuery {
            filter: get("filter").filter(|f| !f.trim().is_empty()),
            start_index,
            count,
            sort_by,
            descending,
            select,
        })
    }

    pub fn from_params(
        resource: Resource,
        params: &HashMap<String, String>,
    ) -> Result<ListQuery, ScimError> {
        let get = |key: &str| param(params, key).map(str::to_string);
        ListQuery::build(get, Select::from_params(resource, params)?)
    }

    pub fn from_body(
        resource: Resource,
        body: &Map<String, Value>,
    ) -> Result<ListQuery, ScimError> {
        if let Some(schemas) = get_ci(body, "schemas") {
            let ok = schemas.as_array().is_some_and(|items| {
                items.iter().any(|v| {
                    v.as_str()
                        .is_some_and(|s| s.eq_ignore_ascii_case(schema::SEARCH))
                })
            });
            if !ok {
                return Err(ScimError::bad(
                    ScimType::InvalidSyntax,
                    format!("schemas must include {}", schema::SEARCH),
                ));
            }
        }
        let get = |key: &str| match get_ci(body, key) {
            Some(Value::String(s)) => Some(s.clone()),
            Some(Value::Number(n)) => Some(n.to_string()),
            _ => None,
        };
        ListQuery::build(get, Select::from_body(resource, body)?)
    }
}

fn list_response(total: usize, start: usize, resources: Vec<Value>) -> Value {
    json!({
        "schemas": [schema::LIST],
        "totalResults": total,
        "startIndex": start,
        "itemsPerPage": resources.len(),
        "Resources": resources,
    })
}

/// Order `records` by `key` (text folded when asked), ties by id.
fn sort_by_key<R: Record>(
    records: &mut [Arc<R>],
    field: R::Field,
    fold: bool,
    descending: bool,
    id: impl Fn(&R) -> i64,
) {
    let key = |r: &R| match r.value(field) {
        Operand::Text(t) if fold => (1, t.to_lowercase(), 0),
        Operand::Text(t) => (1, t, 0),
        Operand::Time(t) => (1, String::new(), t),
        Operand::Bool(b) => (1, String::new(), i64::from(b)),
        Operand::Number(n) => (1, String::new(), n as i64),
        // Unassigned values sort last (RFC 7644 §3.4.2.3).
        Operand::Null => (2, String::new(), 0),
    };
    records.sort_by_cached_key(|r| (key(r), id(r)));
    if descending {
        // Unassigned stay last.
        let split = records.partition_point(|r| key(r).0 == 1);
        records[..split].reverse();
    }
}

fn page<T>(items: Vec<T>, query: &ListQuery) -> (usize, Vec<T>) {
    let total = items.len();
    let page = items
        .into_iter()
        .skip(query.start_index - 1)
        .take(query.count)
        .collect();
    (total, page)
}

pub fn users(snap: &Snapshot, base: &str, query: &ListQuery) -> Result<Value, ScimError> {
    let mut found: Vec<Arc<User>> = match &query.filter {
        None => snap
            .users()
            .filter(|u| resource::visible_user(u))
            .cloned()
            .collect(),
        Some(text) => {
            let expr = filter::parse_filter(text)?;
            if let Some(hits) = indexed_user(snap, &expr) {
                hits
            } else {
                let compiled = compile::users(snap, &expr)?;
                snap.users()
                    .filter(|u| resource::visible_user(u) && compiled.matches(snap, &***u))
                    .cloned()
                    .collect()
            }
        }
    };
    if let Some(path) = &query.sort_by {
        let (field, fold) = compile::user_sort(path)?;
        sort_by_key(&mut found, field, fold, query.descending, |u| u.id.0);
    }
    let (total, page) = page(found, query);
    let resources = page
        .iter()
        .map(|u| resource::user_json(u, snap, base, &query.select))
        .collect();
    Ok(list_response(total, query.start_index, resources))
}

/// `userName eq "x"` and `id eq "x"` (what IdPs look users up by) from the
/// snapshot's indexes.
fn indexed_user(snap: &Snapshot, expr: &filter::Expr) -> Option<Vec<Arc<User>>> {
    let filter::Expr::Compare(path, filter::CompareOp::Eq, filter::Literal::Str(value)) = expr
    else {
        return None;
    };
    if path.sub.is_some()
        || path
            .urn
            .as_deref()
            .is_some_and(|u| !u.eq_ignore_ascii_case(schema::USER))
    {
        return None;
    }
    let hit = match path.attr_lower().as_str() {
        "username" => snap.user_by_user_name(value).cloned(),
        "id" => resource::find_user(snap, value),
        _ => return None,
    };
    Some(
        hit.filter(|u| resource::visible_user(u))
            .into_iter()
            .collect(),
    )
}

pub fn groups(
    state: &AppState,
    snap: &Snapshot,
    base: &Arc<str>,
    query: &ListQuery,
) -> Result<Bytes, ScimError> {
    let compiled = match &query.filter {
        Some(text) => Some(compile::groups(snap, &filter::parse_filter(text)?)?),
        None => None,
    };
    let sort = query
        .sort_by
        .as_ref()
        .map(compile::group_sort)
        .transpose()?;
    let render = || {
        let mut found: Vec<Arc<Group>> = snap
            .groups()
            .filter(|g| resource::visible_group(g))
            .filter(|g| compiled.as_ref().is_none_or(|f| f.matches(snap, &***g)))
            .cloned()
            .collect();
        if let Some((field, fold)) = sort {
            sort_by_key(&mut found, field, fold, query.descending, |g| g.id.0);
        }
        let (total, page) = page(found, query);
        let parts = resource::groups_bytes(&state.scim_groups, snap, base, &page, &query.select);
        list_bytes(total, query.start_index, &parts)
    };
    // Whole pages are kept per realm version too (each group inside is
    // rendered once per change), so a repeated list is served as bytes.
    Ok(match query.select.cached_group_form() {
        Some(with_members) => {
            let key = PageKey {
                base: base.clone(),
                filter: query.filter.clone(),
                start_index: query.start_index,
                count: query.count,
                sort_by: query
                    .sort_by
                    .as_ref()
                    .map(|p| p.to_string().to_ascii_lowercase()),
                descending: query.descending,
                with_members,
            };
            state.scim_pages.get_or_render(snap, key, render)
        }
        None => render(),
    })
}

/// A cached page of `GET /Groups` (or `/Groups/.search`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct PageKey {
    base: Arc<str>,
    filter: Option<String>,
    start_index: usize,
    count: usize,
    sort_by: Option<String>,
    descending: bool,
    with_members: bool,
}

/// A `ListResponse` from resources already rendered.
fn list_bytes(total: usize, start: usize, resources: &[Bytes]) -> Bytes {
    let head = format!(
        "{{\"schemas\":[\"{}\"],\"totalResults\":{total},\"startIndex\":{start},\"itemsPerPage\":{},\"Resources\":[",
        schema::LIST,
        resources.len()
    );
    let size = head.len() + resources.iter().map(|r| r.len() + 1).sum::<usize>() + 2;
    let mut out = Vec::with_capacity(size);
    out.extend_from_slice(head.as_bytes());
    for (i, r) in resources.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(r);
    }
    out.extend_from_slice(b"]}");
    Bytes::from(out)
}

/// `POST /scim/v2/.search`: users and groups matching the filter, users
/// first, paged together (RFC 7644 §3.4.3). A filter naming an attribute only
/// one resource has matches nothing of the other.
pub async fn root(client: ScimClient, ScimBody(body): ScimBody) -> Result<ScimJson, ScimError> {
    let snap = &client.snapshot;
    let users_query = ListQuery::from_body(Resource::User, &body)?;
    let groups_query = ListQuery::from_body(Resource::Group, &body)?;
    if users_query.sort_by.is_some() {
        return Err(ScimError::bad(
            ScimType::InvalidValue,
            "sortBy is not supported across resource types",
        ));
    }
    let expr = match &users_query.filter {
        Some(text) => Some(filter::parse_filter(text)?),
        None => None,
    };
    let user_filter = expr.as_ref().map(|e| compile::users(snap, e));
    let group_filter = expr.as_ref().map(|e| compile::groups(snap, e));
    if let (Some(Err(e)), Some(Err(_))) = (&user_filter, &group_filter) {
        return Err(ScimError::bad(ScimType::InvalidFilter, e.detail.clone()));
    }
    let mut all: Vec<Value> = Vec::new();
    let mut total = 0;
    let (start, count) = (users_query.start_index, users_query.count);
    let mut push = |value: Value| {
        total += 1;
        if total >= start && all.len() < count {
            all.push(value);
        }
    };
    match &user_filter {
        None | Some(Ok(_)) => {
            for u in snap.users().filter(|u| resource::visible_user(u)) {
                if let Some(Ok(f)) = &user_filter {
                    if !f.matches(snap, &**u) {
                        continue;
                    }
                }
                push(resource::user_json(
                    u,
                    snap,
                    &client.base,
                    &users_query.select,
                ));
            }
        }
        Some(Err(_)) => {}
    }
    match &group_filter {
        None | Some(Ok(_)) => {
            for g in snap.groups().filter(|g| resource::visible_group(g)) {
                if let Some(Ok(f)) = &group_filter {
                    if !f.matches(snap, &**g) {
                        continue;
                    }
                }
                push(resource::group_json(
                    g,
                    snap,
                    &client.base,
                    &groups_query.select,
                ));
            }
        }
        Some(Err(_)) => {}
    }
    Ok(ScimJson(list_response(total, start, all)))
}

/// GET `/Users` and `/Groups`.
pub async fn list(
    state: &AppState,
    resource: Resource,
    client: ScimClient,
    params: HashMap<String, String>,
) -> Result<ScimBytes, ScimError> {
    let query = ListQuery::from_params(resource, &params)?;
    search(state, resource, client, query)
}

pub fn search(
    state: &AppState,
    resource: Resource,
    client: ScimClient,
    query: ListQuery,
) -> Result<ScimBytes, ScimError> {
    let body = match resource {
        Resource::User => {
            let value = users(&client.snapshot, &client.base, &query)?;
            Bytes::from(serde_json::to_vec(&value).unwrap_or_default())
        }
        Resource::Group => groups(state, &client.snapshot, &client.base, &query)?,
    };
    Ok(ScimBytes(body))
}
