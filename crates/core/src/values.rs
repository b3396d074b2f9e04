//! Values that carry a rule: `Email`, `GroupName`, `Key` and `UserName` can only be built
//! through a constructor that checks the rule (the limits are in `validate`),
//! and each carries its one normalisation.
//!
//! Commands hold them as `Checked<T>`, the result of the face's parse: the core
//! reports a refusal when its checks reach that value, so an earlier rule (a
//! permission, an unknown member) still wins, in Zulip's order.

use crate::error::{Error, Result};
use crate::validate;
use std::fmt;
use std::sync::Arc;

/// A value as a face parsed it: the value, or why it was refused. Built from
/// text (`"x".into()`) through the type's `parse`, or from a parsed value.
#[derive(Clone, Debug, PartialEq)]
pub struct Checked<T>(Result<T, Error>);

impl<T> Checked<T> {
    /// The value, or the refusal to report now.
    pub fn value(&self) -> Result<&T> {
        self.0.as_ref().map_err(Clone::clone)
    }

    /// The value when it passed its check.
    pub fn ok(&self) -> Option<&T> {
        self.0.as_ref().ok()
    }
}

impl<T> From<T> for Checked<T> {
    fn from(value: T) -> Self {
        Checked(Ok(value))
    }
}

/// An email address: trimmed, plausible (see `validate::email`), compared
/// without regard to case.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Email(Arc<str>);

impl Email {
    pub fn parse(raw: &str) -> Result<Email> {
        Ok(Email(Arc::from(validate::email(raw)?)))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The one case rule for emails, everywhere (the snapshot's index, sign-in,
    /// the stores' unique index): trimmed and lower-cased by Unicode's rules,
    /// as Zulip's `email.lower()`.
    pub fn fold(raw: &str) -> String {
        raw.trim().to_lowercase()
    }

    /// Whether `given` names the stored address `stored` under that rule
    /// (without allocating when both are ASCII).
    pub fn same(stored: &str, given: &str) -> bool {
        let (stored, given) = (stored.trim(), given.trim());
        if stored.is_ascii() && given.is_ascii() {
            stored.eq_ignore_ascii_case(given)
        } else {
            Email::fold(stored) == Email::fold(given)
        }
    }

    pub fn into_arc(self) -> Arc<str> {
        self.0
    }
}

/// A user-defined group's name under Zulip's rules, stored as given (not
/// trimmed). Names compare exactly: Zulip's uniqueness is case-sensitive.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct GroupName(Arc<str>);

impl GroupName {
    pub fn parse(raw: &str) -> Result<GroupName> {
        validate::group_name(raw)?;
        Ok(GroupName(Arc::from(raw)))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_arc(self) -> Arc<str> {
        self.0
    }
}

/// A caller-chosen string key (IMKIT's `_id`): non-empty, bounded, printable,
/// no surrounding space. Keys compare exactly.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Key(Arc<str>);

impl Key {
    pub fn parse(raw: &str) -> Result<Key> {
        validate::key(raw)?;
        Ok(Key(Arc::from(raw)))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_arc(self) -> Arc<str> {
        self.0
    }
}

/// A SCIM `userName`: trimmed, non-empty, bounded; compared under the email
/// case rule (`Email::fold`), as identity providers treat it as case-insensitive.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct UserName(Arc<str>);

impl UserName {
    pub fn parse(raw: &str) -> Result<UserName> {
        Ok(UserName(Arc::from(validate::user_name(raw)?)))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_arc(self) -> Arc<str> {
        self.0
    }
}

macro_rules! text_value {
    ($($t:ty),*) => {$(
        impl From<&str> for Checked<$t> {
            fn from(raw: &str) -> Self {
                Checked(<$t>::parse(raw))
            }
        }
        impl From<String> for Checked<$t> {
            fn from(raw: String) -> Self {
                Checked(<$t>::parse(&raw))
            }
        }
        impl From<&String> for Checked<$t> {
            fn from(raw: &String) -> Self {
                Checked(<$t>::parse(raw))
            }
        }
        impl fmt::Debug for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Debug::fmt(&*self.0, f)
            }
        }
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    )*};
}
text_value!(Email, GroupName, Key, UserName);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_fold_by_unicode_rules_in_one_place() {
        let email = Email::parse("  Ärger@Example.COM ").unwrap();
        assert_eq!(email.as_str(), "Ärger@Example.COM");
        assert_eq!(Email::fold(email.as_str()), "ärger@example.com");
        assert!(Email::same("Ärger@Example.COM", "äRGER@example.com"));
        assert!(Email::same("ann@b.co", " ANN@B.CO"));
        assert!(!Email::same("ann@b.co", "anne@b.co"));
        assert!(Email::parse("not-an-email").is_err());
        let checked: Checked<Email> = "not-an-email".into();
        assert_eq!(
            checked.value(),
            Err(Error::EmailInvalid("not-an-email".into()))
        );
    }

    #[test]
    fn names_and_keys_keep_what_was_given() {
        assert_eq!(GroupName::parse(" padded ").unwrap().as_str(), " padded ");
        assert_eq!(GroupName::parse("  "), Err(Error::NameEmpty));
        assert_eq!(Key::parse("client-1").unwrap().as_str(), "client-1");
        assert!(Key::parse(" k").is_err());
    }
}
