//! One filter algebra over directory users. Each dialect compiles its own
//! syntax into it (IMKIT's MongoDB-style `q` today, SCIM's `filter` next) and
//! the core evaluates it against a snapshot.
//!
//! Evaluation is bounded: patterns use the `regex` crate (linear time in the
//! input, no backtracking) and are refused above a compiled-size limit.

use crate::ids::{GroupId, Millis};
use crate::model::User;
use crate::snapshot::Snapshot;
use std::cmp::Ordering;

/// The user attributes a filter may name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UserField {
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

#[derive(Clone, Debug)]
pub enum Filter {
    All,
    And(Vec<Filter>),
    Or(Vec<Filter>),
    Not(Box<Filter>),
    Compare {
        field: UserField,
        op: Comparison,
        value: Operand,
    },
    In {
        field: UserField,
        values: Vec<Operand>,
    },
    Exists {
        field: UserField,
        present: bool,
    },
    Matches {
        field: UserField,
        pattern: Pattern,
    },
    MemberOf {
        group: GroupId,
        transitive: bool,
    },
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

fn value_of(user: &User, field: UserField) -> Operand {
    match field {
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

impl Filter {
    pub fn matches(&self, snap: &Snapshot, user: &User) -> bool {
        match self {
            Filter::All => true,
            Filter::And(parts) => parts.iter().all(|f| f.matches(snap, user)),
            Filter::Or(parts) => parts.iter().any(|f| f.matches(snap, user)),
            Filter::Not(inner) => !inner.matches(snap, user),
            Filter::Compare { field, op, value } => {
                let ordering = order(&value_of(user, *field), value);
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
                let actual = value_of(user, *field);
                values
                    .iter()
                    .any(|v| order(&actual, v) == Some(Ordering::Equal))
            }
            Filter::Exists { field, present } => {
                (value_of(user, *field) != Operand::Null) == *present
            }
            Filter::Matches { field, pattern } => match value_of(user, *field) {
                Operand::Text(text) => pattern.is_match(&text),
                _ => false,
            },
            Filter::MemberOf { group, transitive } => snap.is_member(*group, user.id, !transitive),
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
