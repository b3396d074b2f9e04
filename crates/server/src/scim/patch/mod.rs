//! SCIM PATCH (RFC 7644 §3.5.2) applied to a resource's JSON representation.
//!
//! This module owns two pure steps: [`parse`] turns a PatchOp body into
//! [`Op`]s, and [`apply`] runs them, in order, against the resource's full
//! current representation (a JSON object whose keys are the schema table's
//! canonical attribute names). It never touches the directory: the face reads
//! the patched document back like a PUT body and diffs it, which is what makes
//! the request all-or-nothing (on error the caller discards the document).
//!
//! Layout: this file parses and resolves names against the table; `edit.rs`
//! changes the document; `eval.rs` evaluates value-path filters on elements.
//!
//! Decisions worth knowing:
//! - Names are resolved against [`schema`]'s table, any case, to their
//!   canonical spelling; a name prefixed with the resource's core URN is the
//!   plain attribute. Attributes the table does not list, other schemas' URNs
//!   (the enterprise extension, bare or qualified) and unknown sub-attributes
//!   of a complex attribute (`name.formatted`) are **accepted and ignored**:
//!   IdPs send them by default and a refusal would stop provisioning. `apply`
//!   returns their names so the face can log them. Unknown sub-attributes
//!   inside a complex *value* (Okta's `members[].display`, Entra's
//!   `"$ref": null`) are dropped silently: they are noise on every request.
//! - readOnly attributes (`id`, `meta`, `schemas`, `groups`) as a path are
//!   400 mutability. In a path-less value object `schemas` and `meta` are
//!   skipped and an `id` equal to the document's own is skipped (Okta's
//!   rename sends it); another `id` is 400 mutability.
//! - Entra's non-RFC forms are accepted: capitalised ops, booleans as strings
//!   (`"False"`), dotted and URN-qualified keys in a path-less value, a remove
//!   of `members` carrying a value array (removes **only** those values — the
//!   RFC reading, "remove all", empties the group), and
//!   `emails[type eq "work"].value` when no element matches (a new element is
//!   built from the filter's `eq` terms plus the sub-attribute, for replace
//!   as for add).
//! - A removal of something already absent succeeds (conformance testers
//!   remove an extension and then its already-gone sub-attributes).
//! - Multi-valued equality is by the `value` sub-attribute (case-exact only
//!   where the table says so); adding a value already present is a no-op.
//! - `null`, and `[]` for a multi-valued attribute, mean unassigned.
//! - Limits: [`MAX_OPERATIONS`] operations and [`MAX_VALUES`] array values per
//!   request, so one body cannot make the face diff an unbounded member list.

mod edit;
mod eval;
#[cfg(test)]
mod tests;

use super::error::{ScimError, ScimType};
use super::filter::{self, AttrPath, PatchPath};
use super::schema::{self, Attr, Kind, Mutability, Resource};
use serde_json::{Map, Value};

/// Most operations in one PATCH request.
pub const MAX_OPERATIONS: usize = 100;
/// Most array values (member or email objects, in any operation) in one request.
pub const MAX_VALUES: usize = 10_000;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OpKind {
    Add,
    Remove,
    Replace,
}

/// One PATCH operation; `value` is `Some(Value::Null)` for an explicit `null`.
#[derive(Clone, Debug, PartialEq)]
pub struct Op {
    pub kind: OpKind,
    pub path: Option<PatchPath>,
    pub value: Option<Value>,
}

const fn common(name: &'static str, kind: Kind, mutability: Mutability, multi: bool) -> Attr {
    Attr {
        name,
        kind,
        multi,
        required: false,
        case_exact: true,
        mutability,
        unique: false,
        canonical: &[],
        reference_types: &[],
        sub: &[],
        description: "",
    }
}

/// The common attributes of RFC 7643 §3.1, which the table leaves to the
/// face. `meta` is complex but readOnly, so its sub-attributes never matter.
static COMMON: &[Attr] = &[
    common("id", Kind::String, Mutability::ReadOnly, false),
    common("externalId", Kind::String, Mutability::ReadWrite, false),
    common("meta", Kind::Complex, Mutability::ReadOnly, false),
    common("schemas", Kind::Reference, Mutability::ReadOnly, true),
];

fn bad(kind: ScimType, detail: impl Into<String>) -> ScimError {
    ScimError::bad(kind, detail)
}

/// `key` of `map`, any case (PatchOp member names are matched leniently).
fn get_ci<'a>(map: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    map.iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(key))
        .map(|(_, v)| v)
}

/// Parses a PatchOp request body (`{"schemas": [PatchOp URN], "Operations":
/// [...]}`). `schemas` may be missing, but if present must list the PatchOp
/// URN (any case).
pub fn parse(body: &Map<String, Value>) -> Result<Vec<Op>, ScimError> {
    use ScimType::InvalidSyntax;
    if let Some(schemas) = get_ci(body, "schemas") {
        let ok = schemas.as_array().is_some_and(|list| {
            list.iter().any(|s| {
                s.as_str()
                    .is_some_and(|s| s.eq_ignore_ascii_case(schema::PATCH_OP))
            })
        });
        if !ok {
            return Err(bad(
                InvalidSyntax,
                format!("schemas must list {}", schema::PATCH_OP),
            ));
        }
    }
    let raw = match get_ci(body, "Operations") {
        Some(Value::Array(raw)) => raw,
        Some(_) => return Err(bad(InvalidSyntax, "Operations must be an array")),
        None => return Err(bad(InvalidSyntax, "the body has no Operations")),
    };
    if raw.is_empty() {
        // RFC 7644 §3.5.2: "an array of one or more PATCH operations".
        return Err(bad(InvalidSyntax, "Operations is empty"));
    }
    // Checked before parsing, so a huge list is not parsed first.
    if raw.len() > MAX_OPERATIONS {
        return Err(too_many_ops(raw.len()));
    }
    let ops = raw
        .iter()
        .enumerate()
        .map(|(i, op)| parse_op(op).map_err(|e| in_op(i, e)))
        .collect::<Result<Vec<_>, _>>()?;
    check_limits(&ops)?;
    Ok(ops)
}

fn parse_op(raw: &Value) -> Result<Op, ScimError> {
    let Some(obj) = raw.as_object() else {
        return Err(bad(
            ScimType::InvalidSyntax,
            "an operation must be an object",
        ));
    };
    let kind = match get_ci(obj, "op") {
        Some(Value::String(op)) if op.eq_ignore_ascii_case("add") => OpKind::Add,
        Some(Value::String(op)) if op.eq_ignore_ascii_case("remove") => OpKind::Remove,
        Some(Value::String(op)) if op.eq_ignore_ascii_case("replace") => OpKind::Replace,
        Some(other) => {
            return Err(bad(
                ScimType::InvalidSyntax,
                format!("unknown op {other}: expected add, remove or replace"),
            ))
        }
        None => return Err(bad(ScimType::InvalidSyntax, "the operation has no op")),
    };
    let path = match get_ci(obj, "path") {
        None | Some(Value::Null) => None,
        // Some clients send "" for "no path".
        Some(Value::String(p)) if p.trim().is_empty() => None,
        Some(Value::String(p)) => Some(filter::parse_path(p).map_err(|e| {
            // RFC 7644 Table 9: a bad value filter in a path is invalidFilter.
            let kind = if p.contains('[') {
                ScimType::InvalidFilter
            } else {
                ScimType::InvalidPath
            };
            bad(kind, e.message)
        })?),
        Some(_) => return Err(bad(ScimType::InvalidPath, "path must be a string")),
    };
    let value = get_ci(obj, "value").cloned();
    if kind != OpKind::Remove && value.is_none() {
        return Err(bad(ScimType::InvalidValue, "add and replace need a value"));
    }
    Ok(Op { kind, path, value })
}

fn too_many_ops(n: usize) -> ScimError {
    bad(
        ScimType::TooMany,
        format!("{n} operations: at most {MAX_OPERATIONS} per request"),
    )
}

fn check_limits(ops: &[Op]) -> Result<(), ScimError> {
    if ops.len() > MAX_OPERATIONS {
        return Err(too_many_ops(ops.len()));
    }
    let total: usize = ops
        .iter()
        .filter_map(|op| op.value.as_ref())
        .map(count_values)
        .sum();
    if total > MAX_VALUES {
        return Err(bad(
            ScimType::TooMany,
            format!("{total} values: at most {MAX_VALUES} per request"),
        ));
    }
    Ok(())
}

/// Array elements anywhere in `v` (a path-less value nests its arrays).
/// Parsed JSON is at most 128 levels deep, so the recursion is bounded.
fn count_values(v: &Value) -> usize {
    match v {
        Value::Array(items) => items.len() + items.iter().map(count_values).sum::<usize>(),
        Value::Object(map) => map.values().map(count_values).sum(),
        _ => 0,
    }
}

/// Prefixes an error with the (1-based) operation it came from.
fn in_op(i: usize, mut err: ScimError) -> ScimError {
    err.detail = format!("operation {}: {}", i + 1, err.detail);
    err
}

/// Applies `ops` to `doc`, in order. Returns the names of the attributes that
/// were ignored (unknown to cohort, or of another schema), for logging. On
/// error `doc` is in an unspecified state and must be discarded.
pub fn apply(
    doc: &mut Map<String, Value>,
    resource: Resource,
    ops: &[Op],
) -> Result<Vec<String>, ScimError> {
    check_limits(ops)?;
    let mut cx = Cx {
        resource,
        ignored: Vec::new(),
    };
    for (i, op) in ops.iter().enumerate() {
        cx.op(doc, op.kind, op.path.as_ref(), op.value.as_ref())
            .map_err(|e| in_op(i, e))?;
    }
    Ok(cx.ignored)
}

struct Cx {
    resource: Resource,
    ignored: Vec<String>,
}

impl Cx {
    fn op(
        &mut self,
        doc: &mut Map<String, Value>,
        kind: OpKind,
        path: Option<&PatchPath>,
        value: Option<&Value>,
    ) -> Result<(), ScimError> {
        // The bare core URN as a path addresses the whole resource.
        match path.filter(|p| !self.is_core_urn(p)) {
            Some(path) => self.path_op(doc, kind, path, value, false),
            None if kind == OpKind::Remove => Err(bad(ScimType::NoTarget, "remove needs a path")),
            None => self.pathless(doc, kind, edit::need_value(value)?),
        }
    }

    fn is_core_urn(&self, p: &PatchPath) -> bool {
        p.filter.is_none()
            && p.sub.is_none()
            && p.attr.sub.is_none()
            && p.attr.urn.as_deref().is_some_and(|urn| {
                let urn_len = urn.len();
                let full = self.resource.urn();
                full.len() == urn_len + 1 + p.attr.attr.len()
                    && full
                        .get(..urn_len)
                        .is_some_and(|u| u.eq_ignore_ascii_case(urn))
                    && full
                        .get(urn_len + 1..)
                        .is_some_and(|a| a.eq_ignore_ascii_case(&p.attr.attr))
            })
    }

    /// A path-less add/replace: each key of the object is a path.
    fn pathless(
        &mut self,
        doc: &mut Map<String, Value>,
        kind: OpKind,
        value: &Value,
    ) -> Result<(), ScimError> {
        let Value::Object(map) = value else {
            return Err(bad(
                ScimType::InvalidValue,
                "without a path, the value must be an object of attributes",
            ));
        };
        for (key, v) in map {
            // `{"urn:…:core:2.0:User": {...}}` nests the core attributes.
            if key.eq_ignore_ascii_case(self.resource.urn()) {
                self.pathless(doc, kind, v)?;
                continue;
            }
            let path = filter::parse_path(key).map_err(|e| {
                bad(
                    ScimType::InvalidPath,
                    format!("value key {}: {}", short(key), e.message),
                )
            })?;
            if self.is_core_urn(&path) {
                self.pathless(doc, kind, v)?;
                continue;
            }
            self.path_op(doc, kind, &path, Some(v), true)?;
        }
        Ok(())
    }

    /// The attribute `path` names, or `None` if cohort does not keep it.
    fn resolve(&self, path: &AttrPath) -> Option<&'static Attr> {
        if let Some(urn) = &path.urn {
            if !urn.eq_ignore_ascii_case(self.resource.urn()) {
                return None;
            }
        }
        schema::find(self.resource.attrs(), &path.attr).or_else(|| schema::find(COMMON, &path.attr))
    }

    fn ignore(&mut self, path: &PatchPath) {
        let mut name = path.attr.to_string();
        if let Some(sub) = &path.sub {
            name = format!("{name}[...].{sub}");
        }
        if !self.ignored.contains(&name) {
            self.ignored.push(name);
        }
    }

    fn path_op(
        &mut self,
        doc: &mut Map<String, Value>,
        kind: OpKind,
        path: &PatchPath,
        value: Option<&Value>,
        in_value: bool,
    ) -> Result<(), ScimError> {
        let Some(attr) = self.resolve(&path.attr) else {
            self.ignore(path);
            return Ok(());
        };
        if attr.mutability == Mutability::ReadOnly {
            if in_value {
                match attr.name {
                    // Clients echo these back from a GET.
                    "schemas" | "meta" => return Ok(()),
                    "id" if value.is_some_and(|v| v.is_string() && doc.get("id") == Some(v)) => {
                        return Ok(())
                    }
                    _ => {}
                }
            }
            return Err(bad(
                ScimType::Mutability,
                format!("{} is readOnly", attr.name),
            ));
        }
        if let Some(f) = &path.filter {
            if !attr.multi {
                return Err(bad(
                    ScimType::InvalidPath,
                    format!(
                        "{} is not multi-valued: a value filter needs a multi-valued attribute",
                        attr.name
                    ),
                ));
            }
            eval::check(f, attr)?;
        }
        let sub = match path.attr.sub.as_deref().or(path.sub.as_deref()) {
            None => None,
            Some(_) if attr.sub.is_empty() => {
                return Err(bad(
                    ScimType::InvalidPath,
                    format!("{} has no sub-attributes", attr.name),
                ))
            }
            Some(name) => match schema::find(attr.sub, name) {
                Some(sub) => Some(sub),
                None => {
                    self.ignore(path);
                    return Ok(());
                }
            },
        };
        match (&path.filter, sub) {
            (None, None) => edit::whole(doc, kind, attr, value),
            (None, Some(sub)) if !attr.multi => edit::single_sub(doc, kind, attr, sub, value),
            (filter, sub) => edit::elements(doc, kind, attr, filter.as_ref(), sub, value),
        }
    }
}

fn short(text: &str) -> String {
    match text.char_indices().nth(40) {
        Some((cut, _)) => format!("{:?}…", &text[..cut]),
        None => format!("{text:?}"),
    }
}
