//! Value-path filters (`emails[type eq "work"]`) evaluated on one element of
//! a multi-valued attribute: [`check`] validates the filter against the
//! attribute's sub-attributes once, then [`matches`] cannot fail.
//!
//! Strings compare case-insensitively unless the sub-attribute is case-exact
//! in the table (`members.value`); comparisons between unlike types are false
//! (`ne`: true), so a missing sub-attribute never matches `eq`.

use super::bad;
use crate::scim::error::{ScimError, ScimType};
use crate::scim::filter::{AttrPath, CompareOp, Expr, Literal};
use crate::scim::schema::{self, Attr, Kind};
use serde_json::{Map, Value};

/// Refuses a filter naming a sub-attribute `attr` does not have, or an
/// ordering on a boolean or null.
pub(super) fn check(expr: &Expr, attr: &Attr) -> Result<(), ScimError> {
    match expr {
        Expr::Present(path) => sub_of(attr, path).map(|_| ()),
        Expr::Compare(path, op, lit) => {
            let sub = sub_of(attr, path)?;
            let ordering = !matches!(op, CompareOp::Eq | CompareOp::Ne);
            if ordering
                && (sub.kind == Kind::Boolean || matches!(lit, Literal::Bool(_) | Literal::Null))
            {
                return Err(bad(
                    ScimType::InvalidFilter,
                    format!(
                        "{} cannot be used on booleans or null ({path})",
                        op.as_str()
                    ),
                ));
            }
            Ok(())
        }
        Expr::And(a, b) | Expr::Or(a, b) => {
            check(a, attr)?;
            check(b, attr)
        }
        Expr::Not(inner) => check(inner, attr),
        Expr::ValuePath { .. } => Err(bad(
            ScimType::InvalidFilter,
            format!("a value filter on {} cannot nest another", attr.name),
        )),
    }
}

fn sub_of<'a>(attr: &'a Attr, path: &AttrPath) -> Result<&'a Attr, ScimError> {
    let found = match (&path.urn, &path.sub) {
        (None, None) => schema::find(attr.sub, &path.attr),
        _ => None,
    };
    found.ok_or_else(|| {
        bad(
            ScimType::InvalidFilter,
            format!("{} has no sub-attribute {path}", attr.name),
        )
    })
}

/// Whether `elem` (an element of `attr`) satisfies `expr`, which [`check`]
/// accepted.
pub(super) fn matches(expr: &Expr, attr: &Attr, elem: &Map<String, Value>) -> bool {
    match expr {
        Expr::Present(path) => match lookup(attr, path, elem) {
            (_, Some(Value::String(s))) => !s.is_empty(),
            (_, Some(Value::Null) | None) => false,
            (_, Some(_)) => true,
        },
        Expr::Compare(path, op, lit) => {
            let (sub, v) = lookup(attr, path, elem);
            compare(sub, v, *op, lit)
        }
        Expr::And(a, b) => matches(a, attr, elem) && matches(b, attr, elem),
        Expr::Or(a, b) => matches(a, attr, elem) || matches(b, attr, elem),
        Expr::Not(inner) => !matches(inner, attr, elem),
        Expr::ValuePath { .. } => false,
    }
}

/// The sub-attribute `path` names and its value in `elem` (any key case).
fn lookup<'a, 'e>(
    attr: &'a Attr,
    path: &AttrPath,
    elem: &'e Map<String, Value>,
) -> (Option<&'a Attr>, Option<&'e Value>) {
    let sub = schema::find(attr.sub, &path.attr);
    let v = elem
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(&path.attr))
        .map(|(_, v)| v);
    (sub, v)
}

fn parse_bool(s: &str) -> Option<bool> {
    if s.eq_ignore_ascii_case("true") {
        Some(true)
    } else if s.eq_ignore_ascii_case("false") {
        Some(false)
    } else {
        None
    }
}

fn compare(sub: Option<&Attr>, v: Option<&Value>, op: CompareOp, lit: &Literal) -> bool {
    if let (Some(Value::String(s)), Literal::Str(l)) = (v, lit) {
        return if sub.is_some_and(|s| s.case_exact) {
            compare_text(s, l, op)
        } else {
            compare_text(&s.to_lowercase(), &l.to_lowercase(), op)
        };
    }
    let boolean = sub.is_some_and(|s| s.kind == Kind::Boolean);
    // `None`: unlike types, never equal.
    let equal = match (v, lit) {
        (None | Some(Value::Null), Literal::Null) => Some(true),
        (Some(Value::Bool(b)), Literal::Bool(l)) => Some(b == l),
        // Entra writes `primary eq "True"`.
        (Some(Value::Bool(b)), Literal::Str(l)) if boolean => parse_bool(l).map(|l| *b == l),
        _ => None,
    };
    match op {
        CompareOp::Eq => equal == Some(true),
        CompareOp::Ne => equal != Some(true),
        _ => false,
    }
}

fn compare_text(v: &str, l: &str, op: CompareOp) -> bool {
    match op {
        CompareOp::Eq => v == l,
        CompareOp::Ne => v != l,
        CompareOp::Co => v.contains(l),
        CompareOp::Sw => v.starts_with(l),
        CompareOp::Ew => v.ends_with(l),
        CompareOp::Gt => v > l,
        CompareOp::Ge => v >= l,
        CompareOp::Lt => v < l,
        CompareOp::Le => v <= l,
    }
}

/// The `sub eq value` terms of `expr`'s top-level `and` chain, as the
/// element they describe: what a value-path add creates when nothing matched
/// (`emails[type eq "work"].value` → `{"type": "work", "value": …}`).
pub(super) fn eq_terms(expr: &Expr, attr: &Attr) -> Map<String, Value> {
    let mut out = Map::new();
    collect(expr, attr, &mut out);
    out
}

fn collect(expr: &Expr, attr: &Attr, out: &mut Map<String, Value>) {
    match expr {
        Expr::And(a, b) => {
            collect(a, attr, out);
            collect(b, attr, out);
        }
        Expr::Compare(path, CompareOp::Eq, lit) => {
            let Some(sub) = schema::find(attr.sub, &path.attr) else {
                return;
            };
            let v = match (sub.kind, lit) {
                (Kind::Boolean, Literal::Bool(b)) => Value::Bool(*b),
                (Kind::Boolean, Literal::Str(s)) => match parse_bool(s) {
                    Some(b) => Value::Bool(b),
                    None => return,
                },
                (Kind::String | Kind::Reference, Literal::Str(s)) => Value::String(s.clone()),
                _ => return,
            };
            out.insert(sub.name.to_string(), v);
        }
        _ => {}
    }
}
