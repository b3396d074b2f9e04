//! One filter algebra over directory records (users and groups). Each
//! dialect compiles its own syntax into it (IMKIT's MongoDB-style `q`, SCIM's
//! `filter`) and the core evaluates it against a snapshot. `Filter<F>` is
//! generic over the record's field set (`UserField`, `GroupField`); what a
//! field's value is lives once, in `Record::value`.
//!
//! Evaluation is bounded: patterns use the `regex` crate (linear time in the
//! input, no backtracking) and are refused above a compiled-size limit.

use crate::ids::{GroupId, Millis};
use crate::model::{Group, Principal, User};
use crate::snapshot::Snapshot;
use std::cmp::Ordering;

/// The user attributes a filter may name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UserField {
    /// The id, as text (SCIM's `id`).
    Id,
    /// The IMKIT `_id`.
    Key,
    Name,
    Email,
    AvatarUrl,
    CreatedAt,
    UpdatedAt,
    /// Milliseconds of the last login; cohort records none, so always 0.
    LastLogin,
    IsBot,
    Active,
    /// `User::login_name` (SCIM's `userName`).
    LoginName,
    ExternalId,
    GivenName,
    FamilyName,
    /// The `type` of the user's email as SCIM shows it (the primary profile
    /// email's, `work` for a user no provider touched).
    EmailType,
}

/// The group attributes a filter may name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GroupField {
    /// The id, as text (SCIM's `id`).
    Id,
    Key,
    Name,
    Description,
    ExternalId,
    CreatedAt,
    UpdatedAt,
}

/// A record a filter can be evaluated on.
pub trait Record {
    type Field: Copy;
    fn value(&self, field: Self::Field) -> Operand;
    /// `Filter::MemberOf`: the record is a user in that group.
    fn member_of(&self, _snap: &Snapshot, _group: GroupId, _transitive: bool) -> bool {
        false
    }
    /// `Filter::HasMember`: the record is a group with that direct member.
    fn has_member(&self, _snap: &Snapshot, _member: Principal) -> bool {
        false
    }
}

/// A literal in a filter.
#[derive(Clone, Debug, PartialEq)]
pub enum Operand {
    Text(String),
    Number(f64),
    Bool(bool),
    Time(Millis),
    Null,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Comparison {
    Eq,
    Ne,
    Gt,
    Gte,
    Lt,
    Lte,
}

/// String comparisons (SCIM's `eq co sw ew gt ge lt le` on text).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TextOp {
    Equals,
    Contains,
    StartsWith,
    EndsWith,
    Greater,
    GreaterOrEqual,
    Less,
    LessOrEqual,
}

#[derive(Clone, Debug)]
pub enum Filter<F = UserField> {
    All,
    And(Vec<Filter<F>>),
    Or(Vec<Filter<F>>),
    Not(Box<Filter<F>>),
    Compare {
        field: F,
        op: Comparison,
        value: Operand,
    },
    In {
        field: F,
        values: Vec<Operand>,
    },
    Exists {
        field: F,
        present: bool,
    },
    Matches {
        field: F,
        pattern: Pattern,
    },
    /// A text field against a string; `ignore_case` folds both sides (SCIM's
    /// case-insensitive attributes). A missing value never matches.
    Text {
        field: F,
        op: TextOp,
        value: String,
        ignore_case: bool,
    },
    MemberOf {
        group: GroupId,
        transitive: bool,
    },
    HasMember(Principal),
}

/// A compiled, size-bounded regular expression.
#[derive(Clone, Debug)]
pub struct Pattern(regex::Regex);

pub use crate::validate::MAX_PATTERN_LEN;
/// Largest compiled pattern accepted (bytes of the regex program).
const MAX_PATTERN_PROGRAM: usize = 256 * 1024;

impl Pattern {
    pub fn new(source: &str, case_insensitive: bool) -> Result<Pattern, String> {
        if source.chars().count() > MAX_PATTERN_LEN {
            return Err(format!(
                "regular expressions are limited to {MAX_PATTERN_LEN} characters"
            ));
        }
        regex::RegexBuilder::new(source)
            .case_insensitive(case_insensitive)
            .size_limit(MAX_PATTERN_PROGRAM)
            .dfa_size_limit(MAX_PATTERN_PROGRAM)
            .nest_limit(32)
            .build()
            .map(Pattern)
            .map_err(|e| match e {
                regex::Error::CompiledTooBig(_) => "regular expression is too large".to_string(),
                other => format!("invalid regular expression: {other}"),
            })
    }

    pub fn is_match(&self, text: &str) -> bool {
        self.0.is_match(text)
    }
}

fn text(value: Option<&str>) -> Operand {
    value
        .map(|v| Operand::Text(v.to_string()))
        .unwrap_or(Operand::Null)
}

impl Record for User {
    type Field = UserField;

    fn value(&self, field: UserField) -> Operand {
        value_of(self, field)
    }

    fn member_of(&self, snap: &Snapshot, group: GroupId, transitive: bool) -> bool {
        snap.is_member(group, self.id, !transitive)
    }
}

impl Record for Group {
    type Field = GroupField;

    fn value(&self, field: GroupField) -> Operand {
        match field {
            GroupField::Id => Operand::Text(self.id.to_string()),
            GroupField::Key => Operand::Text(self.key.to_string()),
            GroupField::Name => Operand::Text(self.name.to_string()),
            GroupField::Description => Operand::Text(self.description.clone()),
            GroupField::ExternalId => text(self.external_id.as_deref()),
            GroupField::CreatedAt => Operand::Time(self.created_at),
            GroupField::UpdatedAt => Operand::Time(self.updated_at),
        }
    }

    fn has_member(&self, _snap: &Snapshot, member: Principal) -> bool {
        match member {
            Principal::User(id) => self.has_member(id),
            Principal::Group(id) => self.has_subgroup(id),
        }
    }
}

fn value_of(user: &User, field: UserField) -> Operand {
    match field {
        UserField::Id => Operand::Text(user.id.to_string()),
        UserField::Active => Operand::Bool(user.active),
        UserField::LoginName => Operand::Text(user.login_name().to_string()),
        UserField::ExternalId => text(user.profile.external_id.as_deref()),
        UserField::GivenName => text(user.profile.given_name.as_deref()),
        UserField::FamilyName => text(user.profile.family_name.as_deref()),
        UserField::EmailType => match (&user.email, user.profile.user_name.is_some()) {
            (None, _) => Operand::Null,
            (Some(_), false) => Operand::Text("work".into()),
            (Some(_), true) => text(user.profile.primary_email().and_then(|e| e.kind.as_deref())),
        },
        UserField::Key => Operand::Text(user.key.to_string()),
        UserField::Name => Operand::Text(user.full_name.clone()),
        UserField::Email => user
            .email
            .as_deref()
            .map(|e| Operand::Text(e.to_string()))
            .unwrap_or(Operand::Null),
        // No avatar is an empty URL, as the faces show it.
        UserField::AvatarUrl => Operand::Text(user.avatar_url.clone().unwrap_or_default()),
        UserField::CreatedAt => Operand::Time(user.date_joined),
        UserField::UpdatedAt => Operand::Time(user.updated_at),
        UserField::LastLogin => Operand::Number(0.0),
        UserField::IsBot => Operand::Bool(user.is_bot),
    }
}

/// Order two operands of the same kind; `None` across kinds (never matches).
fn order(a: &Operand, b: &Operand) -> Option<Ordering> {
    match (a, b) {
        (Operand::Text(x), Operand::Text(y)) => Some(x.cmp(y)),
        (Operand::Number(x), Operand::Number(y)) => x.partial_cmp(y),
        (Operand::Bool(x), Operand::Bool(y)) => Some(x.cmp(y)),
        (Operand::Time(x), Operand::Time(y)) => Some(x.cmp(y)),
        // Instants against fractional milliseconds.
        (Operand::Time(x), Operand::Number(y)) => (*x as f64).partial_cmp(y),
        (Operand::Null, Operand::Null) => Some(Ordering::Equal),
        _ => None,
    }
}

fn text_matches(actual: &str, op: TextOp, wanted: &str) -> bool {
    match op {
        TextOp::Equals => actual == wanted,
        TextOp::Contains => actual.contains(wanted),
        TextOp::StartsWith => actual.starts_with(wanted),
        TextOp::EndsWith => actual.ends_with(wanted),
        TextOp::Greater => actual > wanted,
        TextOp::GreaterOrEqual => actual >= wanted,
        TextOp::Less => actual < wanted,
        TextOp::LessOrEqual => actual <= wanted,
    }
}

impl<F: Copy> Filter<F> {
    pub fn matches<R: Record<Field = F>>(&self, snap: &Snapshot, record: &R) -> bool {
        match self {
            Filter::All => true,
            Filter::And(parts) => parts.iter().all(|f| f.matches(snap, record)),
            Filter::Or(parts) => parts.iter().any(|f| f.matches(snap, record)),
            Filter::Not(inner) => !inner.matches(snap, record),
            Filter::Compare { field, op, value } => {
                let ordering = order(&record.value(*field), value);
                match op {
                    Comparison::Eq => ordering == Some(Ordering::Equal),
                    Comparison::Ne => ordering != Some(Ordering::Equal),
                    Comparison::Gt => ordering == Some(Ordering::Greater),
                    Comparison::Gte => {
                        matches!(ordering, Some(Ordering::Greater | Ordering::Equal))
                    }
                    Comparison::Lt => ordering == Some(Ordering::Less),
                    Comparison::Lte => matches!(ordering, Some(Ordering::Less | Ordering::Equal)),
                }
            }
            Filter::In { field, values } => {
                let actual = record.value(*field);
                values
                    .iter()
                    .any(|v| order(&actual, v) == Some(Ordering::Equal))
            }
            Filter::Exists { field, present } => {
                (record.value(*field) != Operand::Null) == *present
            }
            Filter::Matches { field, pattern } => match record.value(*field) {
                Operand::Text(text) => pattern.is_match(&text),
                _ => false,
            },
            Filter::Text {
                field,
                op,
                value,
                ignore_case,
            } => match record.value(*field) {
                Operand::Text(actual) if *ignore_case => {
                    text_matches(&actual.to_lowercase(), *op, &value.to_lowercase())
                }
                Operand::Text(actual) => text_matches(&actual, *op, value),
                _ => false,
            },
            Filter::MemberOf { group, transitive } => record.member_of(snap, *group, *transitive),
            Filter::HasMember(member) => record.has_member(snap, *member),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pathological_patterns_are_linear_or_refused() {
        let p = Pattern::new("(a+)+$", false).unwrap();
        // Exponential for a backtracking engine; instant here.
        assert!(!p.is_match(&format!("{}!", "a".repeat(50_000))));
        assert!(Pattern::new(&"a".repeat(513), false).is_err());
        assert!(Pattern::new("a{1000}{1000}", false).is_err());
        assert!(Pattern::new("(", false).is_err());
        assert!(Pattern::new("ADMIN", true).unwrap().is_match("an admin"));
    }
}
