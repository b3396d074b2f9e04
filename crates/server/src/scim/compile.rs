//! SCIM filters compiled into the core's filter algebra (the one IMKIT's `q`
//! also compiles into), and `sortBy` keys. Every attribute a filter may name
//! is listed here; anything else is refused with `invalidFilter` rather than
//! matching nothing or everything.
//!
//! Case: `userName`, `displayName`, names and emails compare without regard
//! to case (RFC 7643 `caseExact: false`); `id`, `externalId` and member
//! values exactly. `emails` filters test the user's email (the primary one);
//! `members eq "x"`, `members.value eq "x"` and `members[value eq "x"]` all
//! ask whether `x` is a direct member (Entra uses the first).

use super::error::{ScimError, ScimType};
use super::filter::{AttrPath, CompareOp, Expr, Literal, SubTest, Test};
use super::resource::parse_id;
use super::schema::Resource;
use cohort_core::filter::{Comparison, Filter, GroupField, Operand, TextOp, UserField};
use cohort_core::{GroupId, Principal, Snapshot, UserId};

fn invalid(detail: impl Into<String>) -> ScimError {
    ScimError::bad(ScimType::InvalidFilter, detail)
}

/// What kind of value a field holds, for checking operators and literals.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Shape {
    /// Text; `true` when compared without regard to case.
    Text(bool),
    Bool,
    Time,
}

/// A compiled attribute reference: a field, or a membership test.
enum Target<F> {
    Field(F, Shape),
    /// `groups.value` on users, `members.value` on groups.
    Membership,
}

fn urn_ok(path: &AttrPath, resource: Resource) -> Result<(), ScimError> {
    match &path.urn {
        Some(urn) if !urn.eq_ignore_ascii_case(resource.urn()) => {
            Err(invalid(format!("cohort serves no attribute {path}")))
        }
        _ => Ok(()),
    }
}

fn user_target(attr: &str, sub: Option<&str>) -> Option<Target<UserField>> {
    use Shape::*;
    use UserField as U;
    Some(match (attr, sub) {
        ("id", None) => Target::Field(U::Id, Text(false)),
        ("externalid", None) => Target::Field(U::ExternalId, Text(false)),
        ("username", None) => Target::Field(U::LoginName, Text(true)),
        ("displayname", None) => Target::Field(U::Name, Text(true)),
        ("name", Some("givenname")) => Target::Field(U::GivenName, Text(true)),
        ("name", Some("familyname")) => Target::Field(U::FamilyName, Text(true)),
        ("active", None) => Target::Field(U::Active, Bool),
        ("emails", None | Some("value")) => Target::Field(U::Email, Text(true)),
        ("emails", Some("type")) => Target::Field(U::EmailType, Text(true)),
        ("groups", None | Some("value")) => Target::Membership,
        ("meta", Some("created")) => Target::Field(U::CreatedAt, Time),
        ("meta", Some("lastmodified")) => Target::Field(U::UpdatedAt, Time),
        _ => return None,
    })
}

fn group_target(attr: &str, sub: Option<&str>) -> Option<Target<GroupField>> {
    use GroupField as G;
    use Shape::*;
    Some(match (attr, sub) {
        ("id", None) => Target::Field(G::Id, Text(false)),
        ("externalid", None) => Target::Field(G::ExternalId, Text(false)),
        ("displayname", None) => Target::Field(G::Name, Text(true)),
        ("members", None | Some("value")) => Target::Membership,
        ("meta", Some("created")) => Target::Field(G::CreatedAt, Time),
        ("meta", Some("lastmodified")) => Target::Field(G::UpdatedAt, Time),
        _ => return None,
    })
}

/// The per-resource parts of compilation.
trait Dialect {
    type Field: Copy;
    const RESOURCE: Resource;
    fn target(attr: &str, sub: Option<&str>) -> Option<Target<Self::Field>>;
    /// `membership eq id`.
    fn membership(snap: &Snapshot, id: &str) -> Filter<Self::Field>;
}

struct Users;
struct Groups;

fn nothing<F>() -> Filter<F> {
    Filter::Not(Box::new(Filter::All))
}

impl Dialect for Users {
    type Field = UserField;
    const RESOURCE: Resource = Resource::User;
    fn target(attr: &str, sub: Option<&str>) -> Option<Target<UserField>> {
        user_target(attr, sub)
    }
    fn membership(snap: &Snapshot, id: &str) -> Filter<UserField> {
        match parse_id(id).map(GroupId) {
            Some(group) if snap.group(group).is_some() => Filter::MemberOf {
                group,
                transitive: false,
            },
            _ => nothing(),
        }
    }
}

impl Dialect for Groups {
    type Field = GroupField;
    const RESOURCE: Resource = Resource::Group;
    fn target(attr: &str, sub: Option<&str>) -> Option<Target<GroupField>> {
        group_target(attr, sub)
    }
    fn membership(snap: &Snapshot, id: &str) -> Filter<GroupField> {
        let Some(id) = parse_id(id) else {
            return nothing();
        };
        if snap.user(UserId(id)).is_some() {
            Filter::HasMember(Principal::User(UserId(id)))
        } else if snap.group(GroupId(id)).is_some() {
            Filter::HasMember(Principal::Group(GroupId(id)))
        } else {
            nothing()
        }
    }
}

fn instant(text: &str) -> Option<i64> {
    use time::format_description::well_known::Rfc3339;
    time::OffsetDateTime::parse(text, &Rfc3339)
        .ok()
        .map(|t| (t.unix_timestamp_nanos() / 1_000_000) as i64)
}

fn test<D: Dialect>(
    snap: &Snapshot,
    path: &str,
    target: Target<D::Field>,
    test: &Test,
) -> Result<Filter<D::Field>, ScimError> {
    let (op, literal) = match test {
        Test::Present => {
            return Ok(match target {
                Target::Field(field, _) => Filter::Exists {
                    field,
                    present: true,
                },
                Target::Membership => return Err(invalid(format!("{path} pr is not supported"))),
            })
        }
        Test::Compare(op, literal) => (*op, literal),
    };
    let negate = |f: Filter<D::Field>| Filter::Not(Box::new(f));
    match target {
        Target::Membership => match (op, literal) {
            (CompareOp::Eq, Literal::Str(id)) => Ok(D::membership(snap, id)),
            (CompareOp::Ne, Literal::Str(id)) => Ok(negate(D::membership(snap, id))),
            _ => Err(invalid(format!(
                "{path} supports only eq and ne with a string id"
            ))),
        },
        Target::Field(field, Shape::Text(ignore_case)) => {
            let Literal::Str(value) = literal else {
                if matches!(literal, Literal::Null) && matches!(op, CompareOp::Eq | CompareOp::Ne) {
                    let absent = Filter::Exists {
                        field,
                        present: false,
                    };
                    return Ok(if op == CompareOp::Eq {
                        absent
                    } else {
                        negate(absent)
                    });
                }
                return Err(invalid(format!("{path} is compared with strings")));
            };
            let text = |op| Filter::Text {
                field,
                op,
                value: value.clone(),
                ignore_case,
            };
            Ok(match op {
                CompareOp::Eq => text(TextOp::Equals),
                CompareOp::Ne => negate(text(TextOp::Equals)),
                CompareOp::Co => text(TextOp::Contains),
                CompareOp::Sw => text(TextOp::StartsWith),
                CompareOp::Ew => text(TextOp::EndsWith),
                CompareOp::Gt => text(TextOp::Greater),
                CompareOp::Ge => text(TextOp::GreaterOrEqual),
                CompareOp::Lt => text(TextOp::Less),
                CompareOp::Le => text(TextOp::LessOrEqual),
            })
        }
        Target::Field(field, Shape::Bool) => match (op, literal) {
            (CompareOp::Eq | CompareOp::Ne, Literal::Bool(b)) => {
                let eq = Filter::Compare {
                    field,
                    op: Comparison::Eq,
                    value: Operand::Bool(*b),
                };
                Ok(if op == CompareOp::Eq { eq } else { negate(eq) })
            }
            _ => Err(invalid(format!(
                "{path} is a boolean: only eq and ne with true or false"
            ))),
        },
        Target::Field(field, Shape::Time) => {
            let Literal::Str(text) = literal else {
                return Err(invalid(format!(
                    "{path} is compared with a dateTime string"
                )));
            };
            let at = instant(text)
                .ok_or_else(|| invalid(format!("{text:?} is not an RFC 3339 dateTime")))?;
            let cmp = |op| Filter::Compare {
                field,
                op,
                value: Operand::Time(at),
            };
            Ok(match op {
                CompareOp::Eq => cmp(Comparison::Eq),
                CompareOp::Ne => cmp(Comparison::Ne),
                CompareOp::Gt => cmp(Comparison::Gt),
                CompareOp::Ge => cmp(Comparison::Gte),
                CompareOp::Lt => cmp(Comparison::Lt),
                CompareOp::Le => cmp(Comparison::Lte),
                CompareOp::Co | CompareOp::Sw | CompareOp::Ew => {
                    return Err(invalid(format!(
                        "{path} is a dateTime: co, sw, ew do not apply"
                    )))
                }
            })
        }
    }
}

fn resolve<D: Dialect>(
    attr: &str,
    sub: Option<&str>,
    shown: &str,
) -> Result<Target<D::Field>, ScimError> {
    D::target(attr, sub).ok_or_else(|| {
        invalid(format!(
            "cohort cannot filter {} on {shown}",
            D::RESOURCE.endpoint()
        ))
    })
}

fn compile_expr<D: Dialect>(snap: &Snapshot, expr: &Expr) -> Result<Filter<D::Field>, ScimError> {
    Ok(match expr {
        Expr::And(a, b) => Filter::And(vec![
            compile_expr::<D>(snap, a)?,
            compile_expr::<D>(snap, b)?,
        ]),
        Expr::Or(a, b) => Filter::Or(vec![
            compile_expr::<D>(snap, a)?,
            compile_expr::<D>(snap, b)?,
        ]),
        Expr::Not(inner) => Filter::Not(Box::new(compile_expr::<D>(snap, inner)?)),
        Expr::Present(path) => {
            urn_ok(path, D::RESOURCE)?;
            let target = resolve::<D>(
                &path.attr_lower(),
                path.sub_lower().as_deref(),
                &path.to_string(),
            )?;
            test::<D>(snap, &path.to_string(), target, &Test::Present)?
        }
        Expr::Compare(path, op, literal) => {
            urn_ok(path, D::RESOURCE)?;
            let target = resolve::<D>(
                &path.attr_lower(),
                path.sub_lower().as_deref(),
                &path.to_string(),
            )?;
            test::<D>(
                snap,
                &path.to_string(),
                target,
                &Test::Compare(*op, literal.clone()),
            )?
        }
        Expr::ValuePath { attr, filter, then } => {
            urn_ok(attr, D::RESOURCE)?;
            let outer = attr.attr_lower();
            let mut parts = vec![compile_inner::<D>(snap, &outer, filter)?];
            if let Some(SubTest { sub, test: t }) = then {
                let target = resolve::<D>(
                    &outer,
                    Some(&sub.to_ascii_lowercase()),
                    &format!("{attr}.{sub}"),
                )?;
                parts.push(test::<D>(snap, &format!("{attr}.{sub}"), target, t)?);
            }
            Filter::And(parts)
        }
    })
}

/// A filter inside `attr[...]`: its names are sub-attributes of `attr`. The
/// user's email is one value, so `emails[type eq "work"]` tests that one.
fn compile_inner<D: Dialect>(
    snap: &Snapshot,
    outer: &str,
    expr: &Expr,
) -> Result<Filter<D::Field>, ScimError> {
    Ok(match expr {
        Expr::And(a, b) => Filter::And(vec![
            compile_inner::<D>(snap, outer, a)?,
            compile_inner::<D>(snap, outer, b)?,
        ]),
        Expr::Or(a, b) => Filter::Or(vec![
            compile_inner::<D>(snap, outer, a)?,
            compile_inner::<D>(snap, outer, b)?,
        ]),
        Expr::Not(inner) => Filter::Not(Box::new(compile_inner::<D>(snap, outer, inner)?)),
        Expr::Present(path) => {
            let sub = path.attr_lower();
            if outer == "emails" && sub == "primary" {
                return Ok(Filter::All);
            }
            let target = resolve::<D>(outer, Some(&sub), &format!("{outer}.{sub}"))?;
            test::<D>(snap, &format!("{outer}.{sub}"), target, &Test::Present)?
        }
        Expr::Compare(path, op, literal) => {
            let sub = path.attr_lower();
            // The email SCIM tests is the primary one.
            if outer == "emails" && sub == "primary" {
                return match (op, literal) {
                    (CompareOp::Eq, Literal::Bool(b)) | (CompareOp::Ne, Literal::Bool(b)) => {
                        let holds = *b == (*op == CompareOp::Eq);
                        Ok(if holds { Filter::All } else { nothing() })
                    }
                    _ => Err(invalid("emails.primary is a boolean")),
                };
            }
            let target = resolve::<D>(outer, Some(&sub), &format!("{outer}.{sub}"))?;
            test::<D>(
                snap,
                &format!("{outer}.{sub}"),
                target,
                &Test::Compare(*op, literal.clone()),
            )?
        }
        Expr::ValuePath { .. } => return Err(invalid("value filters cannot be nested")),
    })
}

pub fn users(snap: &Snapshot, expr: &Expr) -> Result<Filter<UserField>, ScimError> {
    compile_expr::<Users>(snap, expr)
}

pub fn groups(snap: &Snapshot, expr: &Expr) -> Result<Filter<GroupField>, ScimError> {
    compile_expr::<Groups>(snap, expr)
}

/// A `sortBy` key: the field to order by, and whether case is ignored.
pub fn user_sort(path: &AttrPath) -> Result<(UserField, bool), ScimError> {
    urn_ok(path, Resource::User)?;
    match user_target(&path.attr_lower(), path.sub_lower().as_deref()) {
        Some(Target::Field(field, Shape::Text(fold))) => Ok((field, fold)),
        Some(Target::Field(field, _)) => Ok((field, false)),
        _ => Err(invalid(format!("cannot sort Users by {path}"))),
    }
}

pub fn group_sort(path: &AttrPath) -> Result<(GroupField, bool), ScimError> {
    urn_ok(path, Resource::Group)?;
    match group_target(&path.attr_lower(), path.sub_lower().as_deref()) {
        Some(Target::Field(field, Shape::Text(fold))) => Ok((field, fold)),
        Some(Target::Field(field, _)) => Ok((field, false)),
        _ => Err(invalid(format!("cannot sort Groups by {path}"))),
    }
}
