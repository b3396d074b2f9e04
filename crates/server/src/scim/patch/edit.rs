//! The edits PATCH makes to the document once a path is resolved to the
//! table's attribute: values normalised to what is stored (canonical
//! sub-attribute names, JSON booleans, lists), then set, merged, appended or
//! removed. Empty lists and emptied complex values are removed, because the
//! face reads an absent key as unassigned.

use super::{bad, eval, OpKind};
use crate::scim::error::{ScimError, ScimType};
use crate::scim::filter::Expr;
use crate::scim::schema::{self, Attr, Kind, Mutability};
use serde_json::{Map, Value};
use std::collections::HashSet;

pub(super) fn need_value(value: Option<&Value>) -> Result<&Value, ScimError> {
    value.ok_or_else(|| bad(ScimType::InvalidValue, "add and replace need a value"))
}

/// An op on a whole attribute (no filter, no sub-attribute).
pub(super) fn whole(
    doc: &mut Map<String, Value>,
    kind: OpKind,
    attr: &'static Attr,
    value: Option<&Value>,
) -> Result<(), ScimError> {
    if kind == OpKind::Remove {
        // Entra removes members by sending them: only those go.
        if let Some(v) = value.filter(|v| attr.multi && !v.is_null()) {
            return remove_values(doc, attr, v);
        }
        return unset(doc, attr);
    }
    let Some(norm) = normalize(attr, attr.name, need_value(value)?)? else {
        return unset(doc, attr);
    };
    match norm {
        Value::Array(items) => {
            if kind == OpKind::Replace {
                doc.remove(attr.name);
            }
            append(doc, attr, items);
        }
        Value::Object(subs) => merge(doc, attr, subs),
        other => {
            doc.insert(attr.name.to_string(), other);
        }
    }
    Ok(())
}

fn unset(doc: &mut Map<String, Value>, attr: &Attr) -> Result<(), ScimError> {
    if attr.required {
        return Err(bad(
            ScimType::Mutability,
            format!("{} is required and cannot be removed", attr.name),
        ));
    }
    doc.remove(attr.name);
    Ok(())
}

/// The value as stored: canonical sub-attribute names, booleans as JSON
/// booleans, a single value of a multi-valued attribute as a one-element
/// list. `None` means unassigned (`null`, `[]`). In a single complex value an
/// explicit `null` sub-attribute stays, to unset it when merged.
fn normalize(attr: &Attr, label: &str, v: &Value) -> Result<Option<Value>, ScimError> {
    if !attr.multi {
        return normalize_one(attr, label, v, false);
    }
    let items = match v {
        Value::Array(items) => items.iter().collect(),
        other => vec![other],
    };
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        if let Some(item) = normalize_one(attr, label, item, true)? {
            out.push(item);
        }
    }
    Ok((!out.is_empty()).then_some(Value::Array(out)))
}

fn normalize_one(
    attr: &Attr,
    label: &str,
    v: &Value,
    element: bool,
) -> Result<Option<Value>, ScimError> {
    let wrong = |what: &str| {
        bad(
            ScimType::InvalidValue,
            format!("{label} must be {what}, not {}", kind_of(v)),
        )
    };
    Ok(match (attr.kind, v) {
        (_, Value::Null) => None,
        (Kind::String | Kind::Reference, Value::String(_)) => Some(v.clone()),
        (Kind::String | Kind::Reference, _) => return Err(wrong("a string")),
        (Kind::Boolean, Value::Bool(_)) => Some(v.clone()),
        // Entra sends "True" / "False".
        (Kind::Boolean, Value::String(s)) if s.eq_ignore_ascii_case("true") => {
            Some(Value::Bool(true))
        }
        (Kind::Boolean, Value::String(s)) if s.eq_ignore_ascii_case("false") => {
            Some(Value::Bool(false))
        }
        (Kind::Boolean, _) => return Err(wrong("a boolean")),
        (Kind::Complex, Value::Object(map)) => {
            let mut out = Map::new();
            for (key, sv) in map {
                // Unknown sub-attributes (Okta's `display`) are dropped.
                let Some(sub) = schema::find(attr.sub, key) else {
                    continue;
                };
                let sub_label = format!("{label}.{}", sub.name);
                match normalize_one(sub, &sub_label, sv, false)? {
                    Some(x) => {
                        out.insert(sub.name.to_string(), x);
                    }
                    None if !element => {
                        out.insert(sub.name.to_string(), Value::Null);
                    }
                    None => {}
                }
            }
            // An element with nothing cohort keeps is no element.
            (!(element && out.is_empty())).then_some(Value::Object(out))
        }
        (Kind::Complex, _) => return Err(wrong("an object")),
    })
}

fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Merges sub-attributes into a single complex attribute (add and replace
/// alike, RFC 7644 §3.5.2.3: the others are kept); `null` unsets.
fn merge(doc: &mut Map<String, Value>, attr: &Attr, subs: Map<String, Value>) {
    let entry = doc
        .entry(attr.name)
        .or_insert_with(|| Value::Object(Map::new()));
    if !entry.is_object() {
        *entry = Value::Object(Map::new());
    }
    let mut empty = false;
    if let Value::Object(cur) = entry {
        for (k, v) in subs {
            if v.is_null() {
                cur.remove(&k);
            } else {
                cur.insert(k, v);
            }
        }
        empty = cur.is_empty();
    }
    if empty {
        doc.remove(attr.name);
    }
}

/// The identity of a multi-valued element: its `value`, lowercased unless
/// the table says it is case-exact. `None` for an element without one.
fn key(attr: &Attr, elem: &Value) -> Option<String> {
    let (s, exact) = match elem {
        Value::String(s) => (s.as_str(), attr.case_exact),
        Value::Object(map) => {
            let sub = schema::find(attr.sub, "value")?;
            (map.get(sub.name)?.as_str()?, sub.case_exact)
        }
        _ => return None,
    };
    Some(if exact {
        s.to_string()
    } else {
        s.to_lowercase()
    })
}

/// Appends the values not already present (RFC 7644 §3.5.2.1).
fn append(doc: &mut Map<String, Value>, attr: &Attr, items: Vec<Value>) {
    let mut list = take_list(doc, attr);
    // A set, not a scan: 10 000 members added to a large group stay linear.
    let mut seen: HashSet<String> = list.iter().filter_map(|e| key(attr, e)).collect();
    for item in items {
        let fresh = match key(attr, &item) {
            Some(k) => seen.insert(k),
            None => !list.contains(&item),
        };
        if fresh {
            list.push(item);
        }
    }
    put_list(doc, attr, list);
}

/// Removes the elements equal (by `value`) to one of `v`'s.
fn remove_values(doc: &mut Map<String, Value>, attr: &Attr, v: &Value) -> Result<(), ScimError> {
    let Some(Value::Array(gone)) = normalize(attr, attr.name, v)? else {
        return Ok(());
    };
    let keys: HashSet<String> = gone.iter().filter_map(|e| key(attr, e)).collect();
    let unkeyed: Vec<&Value> = gone.iter().filter(|e| key(attr, e).is_none()).collect();
    let mut list = take_list(doc, attr);
    list.retain(|e| {
        let hit = match key(attr, e) {
            Some(k) => keys.contains(&k),
            None => false,
        };
        !hit && !unkeyed.contains(&e)
    });
    put_list(doc, attr, list);
    Ok(())
}

fn take_list(doc: &mut Map<String, Value>, attr: &Attr) -> Vec<Value> {
    match doc.remove(attr.name) {
        Some(Value::Array(list)) => list,
        _ => Vec::new(),
    }
}

/// Stores a multi-valued attribute; an empty list is unassigned.
fn put_list(doc: &mut Map<String, Value>, attr: &Attr, list: Vec<Value>) {
    if !list.is_empty() {
        doc.insert(attr.name.to_string(), Value::Array(list));
    }
}

/// An op on a sub-attribute of a single complex attribute (`name.givenName`).
pub(super) fn single_sub(
    doc: &mut Map<String, Value>,
    kind: OpKind,
    attr: &Attr,
    sub: &Attr,
    value: Option<&Value>,
) -> Result<(), ScimError> {
    let set = match kind {
        OpKind::Remove => Value::Null,
        _ => {
            let label = format!("{}.{}", attr.name, sub.name);
            normalize_one(sub, &label, need_value(value)?, false)?.unwrap_or(Value::Null)
        }
    };
    let mut subs = Map::new();
    subs.insert(sub.name.to_string(), set);
    if doc.contains_key(attr.name) || !subs.values().all(Value::is_null) {
        merge(doc, attr, subs);
    }
    Ok(())
}

/// An op on the elements of a multi-valued attribute selected by `filter`
/// (all of them without one), or on `sub` of those elements.
pub(super) fn elements(
    doc: &mut Map<String, Value>,
    kind: OpKind,
    attr: &'static Attr,
    filter: Option<&Expr>,
    sub: Option<&'static Attr>,
    value: Option<&Value>,
) -> Result<(), ScimError> {
    let selected = |e: &Value| match (filter, e) {
        (None, _) => true,
        (Some(f), Value::Object(map)) => eval::matches(f, attr, map),
        _ => false,
    };
    let mut list = take_list(doc, attr);
    let hits: Vec<usize> = (0..list.len()).filter(|&i| selected(&list[i])).collect();
    match (kind, sub) {
        (OpKind::Remove, None) => {
            let mut i = 0;
            list.retain(|_| {
                i += 1;
                hits.binary_search(&(i - 1)).is_err()
            });
        }
        (_, Some(sub)) => {
            let set = match kind {
                OpKind::Remove => None,
                _ => {
                    let label = format!("{}.{}", attr.name, sub.name);
                    normalize_one(sub, &label, need_value(value)?, false)?
                }
            };
            if set.is_some() && !hits.is_empty() && sub.mutability == Mutability::Immutable {
                return Err(bad(
                    ScimType::Mutability,
                    format!("{}.{} is immutable", attr.name, sub.name),
                ));
            }
            match set {
                // Entra: `emails[type eq "work"].value` with no work email
                // yet adds one.
                Some(v) if hits.is_empty() => {
                    let mut elem = filter.map(|f| eval::eq_terms(f, attr)).unwrap_or_default();
                    elem.insert(sub.name.to_string(), v);
                    list.push(Value::Object(elem));
                }
                set => {
                    for &i in &hits {
                        if let Some(Value::Object(elem)) = list.get_mut(i) {
                            match &set {
                                Some(v) => elem.insert(sub.name.to_string(), v.clone()),
                                None => elem.remove(sub.name),
                            };
                        }
                    }
                    // An element left with nothing is no element.
                    list.retain(|e| e.as_object().is_none_or(|m| !m.is_empty()));
                }
            }
        }
        (OpKind::Replace, None) => {
            if hits.is_empty() {
                return Err(bad(
                    ScimType::NoTarget,
                    format!("no {} value matches the filter", attr.name),
                ));
            }
            match normalize_one(attr, attr.name, need_value(value)?, true)? {
                Some(new) => {
                    for &i in &hits {
                        if let Some(slot) = list.get_mut(i) {
                            *slot = new.clone();
                        }
                    }
                }
                None => {
                    let mut i = 0;
                    list.retain(|_| {
                        i += 1;
                        hits.binary_search(&(i - 1)).is_err()
                    });
                }
            }
            // Several matches replaced by one value leave duplicates.
            let items = std::mem::take(&mut list);
            doc.remove(attr.name);
            append(doc, attr, items);
            return Ok(());
        }
        (OpKind::Add, None) => {
            let Some(Value::Object(new)) =
                normalize_one(attr, attr.name, need_value(value)?, true)?
            else {
                put_list(doc, attr, list);
                return Ok(());
            };
            if hits.is_empty() {
                let mut elem = filter.map(|f| eval::eq_terms(f, attr)).unwrap_or_default();
                elem.extend(new);
                put_list(doc, attr, list);
                append(doc, attr, vec![Value::Object(elem)]);
                return Ok(());
            }
            for &i in &hits {
                if let Some(Value::Object(elem)) = list.get_mut(i) {
                    elem.extend(new.clone());
                }
            }
        }
    }
    put_list(doc, attr, list);
    Ok(())
}
