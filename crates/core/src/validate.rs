//! Validation of free-form inputs: names, texts, keys, emails, list sizes.
//! Every limit cohort documents is here (and in the README). Names, keys and
//! emails are checked through their types in `values`.

use crate::error::{Error, Result};
use crate::model::RateLimit;

/// Zulip's group-name limit, in Unicode code points.
pub const MAX_GROUP_NAME: usize = 100;
/// Prefixes Zulip reserves for system and mention syntax (case-sensitive).
pub const RESERVED_GROUP_PREFIXES: [&str; 5] = ["@", "role:", "user:", "stream:", "channel:"];
/// cohort's limit on a group description (Zulip sets none; an unbounded text
/// field is a memory hazard for an in-memory directory).
pub const MAX_DESCRIPTION: usize = 10_000;
/// cohort's limit on the ids in one list of one request.
pub const MAX_IDS_PER_LIST: usize = 10_000;
/// Longest IMKIT `_id` cohort accepts.
pub const MAX_KEY: usize = 128;
/// Longest avatar URL.
pub const MAX_URL: usize = 2_048;
/// Webhook endpoints per realm.
pub const MAX_WEBHOOKS: usize = 20;
/// Event types (or families) one endpoint filters on.
pub const MAX_WEBHOOK_TYPES: usize = 64;
pub const MAX_WEBHOOK_DESCRIPTION: usize = 500;
/// Longest email address (RFC 5321 path limit).
pub const MAX_EMAIL: usize = 254;
/// Most items one batch request may carry (IMKIT's batch upsert).
pub const MAX_BATCH: usize = 1_000;
/// Zulip's user full-name limits and forbidden characters.
pub const MAX_FULL_NAME: usize = 100;
pub const MIN_FULL_NAME: usize = 2;
/// Page size of a paged list (IMKIT's `limit`) when none is asked for, and the
/// largest page served.
pub const DEFAULT_PAGE: u64 = 50;
pub const MAX_PAGE: u64 = 100;
/// Limits on a query document (IMKIT's `q`): its size in bytes, how deeply
/// objects and arrays nest, the values of one `$in`/`$nin`, and the length of
/// a pattern (`$regex`), in characters.
pub const MAX_QUERY_BYTES: usize = 8 * 1024;
pub const MAX_QUERY_DEPTH: usize = 4;
pub const MAX_QUERY_IN: usize = 1_000;
pub const MAX_PATTERN_LEN: usize = 512;
/// Zulip's organization-name limit, in characters.
pub const MAX_REALM_NAME: usize = 40;
/// SCIM `userName`, `externalId`, `name.givenName`/`familyName`.
pub const MAX_USER_NAME: usize = 254;
pub const MAX_PROFILE_TEXT: usize = 256;
/// Emails one provisioned user may carry.
pub const MAX_PROFILE_EMAILS: usize = 10;
/// Realm API token names (`cohort token create --name`).
pub const MAX_TOKEN_NAME: usize = 64;
const FULL_NAME_FORBIDDEN: [char; 6] = ['*', '`', '\\', '>', '"', '@'];

fn chars(text: &str) -> usize {
    text.chars().count()
}

fn no_nul(field: &'static str, text: &str) -> Result<()> {
    if text.contains('\0') {
        return Err(Error::NulCharacter { field });
    }
    Ok(())
}

/// Python's `str.isspace` (Zulip trims with `str.strip`): Unicode white space
/// plus the information separators U+001C–U+001F.
fn is_python_space(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

/// Zulip's group-name rules. The name is stored as given (not trimmed).
pub(crate) fn group_name(name: &str) -> Result<()> {
    if name.chars().all(is_python_space) {
        return Err(Error::NameEmpty);
    }
    if chars(name) > MAX_GROUP_NAME {
        return Err(Error::NameTooLong {
            max: MAX_GROUP_NAME,
        });
    }
    if let Some(prefix) = RESERVED_GROUP_PREFIXES
        .iter()
        .find(|p| name.starts_with(**p))
    {
        return Err(Error::NameReservedPrefix(prefix));
    }
    no_nul("name", name)
}

pub fn description(text: &str) -> Result<()> {
    if chars(text) > MAX_DESCRIPTION {
        return Err(Error::TooLong {
            field: "description",
            max: MAX_DESCRIPTION,
        });
    }
    no_nul("description", text)
}

pub fn id_list<T>(field: &'static str, ids: &[T]) -> Result<()> {
    if ids.len() > MAX_IDS_PER_LIST {
        return Err(Error::TooManyIds {
            field,
            max: MAX_IDS_PER_LIST,
        });
    }
    Ok(())
}

/// A caller-chosen IMKIT `_id`: non-empty, bounded, printable.
pub(crate) fn key(key: &str) -> Result<()> {
    if key.is_empty() {
        return Err(Error::KeyInvalid { reason: "empty" });
    }
    if chars(key) > MAX_KEY {
        return Err(Error::KeyInvalid {
            reason: "longer than 128 characters",
        });
    }
    if key.chars().any(char::is_control) {
        return Err(Error::KeyInvalid {
            reason: "contains control characters",
        });
    }
    if key.trim() != key {
        return Err(Error::KeyInvalid {
            reason: "has leading or trailing whitespace",
        });
    }
    Ok(())
}

/// A SCIM `userName`: non-empty after trimming, bounded, printable.
pub(crate) fn user_name(raw: &str) -> Result<String> {
    let name = raw.trim();
    if name.is_empty() {
        return Err(Error::Invalid {
            field: "userName",
            reason: "must not be empty".into(),
        });
    }
    profile_text("userName", name, MAX_USER_NAME)?;
    Ok(name.to_string())
}

/// An identity provider's free text (`externalId`, name parts): bounded and
/// without control characters; stored as given.
pub fn profile_text(field: &'static str, text: &str, max: usize) -> Result<()> {
    if chars(text) > max {
        return Err(Error::TooLong { field, max });
    }
    if text.chars().any(char::is_control) {
        return Err(Error::Invalid {
            field,
            reason: "contains control characters".into(),
        });
    }
    Ok(())
}

/// A token name: 1–64 letters, digits, `-`, `_` or `.`, so it is safe to
/// print and to type.
pub fn token_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && chars(name) <= MAX_TOKEN_NAME
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if !ok {
        return Err(Error::Invalid {
            field: "name",
            reason: format!(
                "a token name is 1 to {MAX_TOKEN_NAME} letters, digits, '-', '_' or '.'"
            ),
        });
    }
    Ok(())
}

pub fn avatar_url(url: &str) -> Result<()> {
    if chars(url) > MAX_URL {
        return Err(Error::TooLong {
            field: "avatarUrl",
            max: MAX_URL,
        });
    }
    if url.chars().any(char::is_control) {
        return Err(Error::Invalid {
            field: "avatarUrl",
            reason: "contains control characters".into(),
        });
    }
    Ok(())
}

/// A realm's own rate limit: at least one request, in a period of one
/// second to one day.
pub fn rate_limit(limit: RateLimit) -> Result<()> {
    if limit.requests == 0 {
        return Err(Error::Invalid {
            field: "rate_limit",
            reason: "must allow at least one request".into(),
        });
    }
    if limit.per_seconds == 0 || limit.per_seconds > RateLimit::MAX_PERIOD_SECONDS {
        return Err(Error::Invalid {
            field: "rate_limit",
            reason: format!(
                "the period must be 1 to {} seconds",
                RateLimit::MAX_PERIOD_SECONDS
            ),
        });
    }
    Ok(())
}

/// An organization name: trimmed, non-empty, bounded, without NUL; returns
/// the trimmed name that is stored.
pub fn realm_name(raw: &str) -> Result<String> {
    let name = raw.trim();
    if name.is_empty() {
        return Err(Error::Invalid {
            field: "name",
            reason: "must not be empty".into(),
        });
    }
    if chars(name) > MAX_REALM_NAME || name.contains('\0') {
        return Err(Error::Invalid {
            field: "name",
            reason: format!("must be at most {MAX_REALM_NAME} characters, without NUL"),
        });
    }
    Ok(name.to_string())
}

/// Zulip's full-name check; returns the trimmed name that is stored.
pub fn full_name(raw: &str) -> Result<String> {
    let name = raw.trim();
    if chars(name) > MAX_FULL_NAME {
        return Err(Error::FullNameTooLong);
    }
    if chars(name) < MIN_FULL_NAME {
        return Err(Error::FullNameTooShort);
    }
    if name.contains(FULL_NAME_FORBIDDEN) || name.chars().any(char::is_control) {
        return Err(Error::FullNameInvalid);
    }
    Ok(name.to_string())
}

/// A full name for a user created with only a key (an IMKIT client without a
/// nickname): the key, with characters Zulip forbids in names replaced.
pub fn name_from_key(key: &str) -> String {
    let name: String = key
        .trim()
        .chars()
        .map(|c| {
            if FULL_NAME_FORBIDDEN.contains(&c) || c.is_control() {
                '_'
            } else {
                c
            }
        })
        .take(MAX_FULL_NAME)
        .collect();
    if name.chars().count() < MIN_FULL_NAME {
        format!("Client {name}")
    } else {
        name
    }
}

/// A plausible address: one `@`, a non-empty local part, a dotted domain, no
/// spaces or control characters. Deliverability is not cohort's business.
pub(crate) fn email(raw: &str) -> Result<String> {
    let email = raw.trim();
    let bad = || Error::EmailInvalid(raw.to_string());
    if email.len() > MAX_EMAIL || email.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(bad());
    }
    let (local, domain) = email.split_once('@').ok_or_else(bad)?;
    if local.is_empty()
        || domain.contains('@')
        || !domain.contains('.')
        || domain.starts_with('.')
        || domain.ends_with('.')
        || domain.contains("..")
    {
        return Err(bad());
    }
    Ok(email.to_string())
}

/// A webhook endpoint's address: an absolute `http` or `https` URL with a
/// host and no user name or password (they would be shown to every admin
/// who lists the endpoints). Where it may point is the sender's policy
/// (`--webhook-allow-private`), checked when the request is made.
pub fn webhook_url(url: &str) -> Result<()> {
    let invalid = |reason: &str| Error::Invalid {
        field: "url",
        reason: reason.into(),
    };
    if url.len() > MAX_URL {
        return Err(Error::TooLong {
            field: "url",
            max: MAX_URL,
        });
    }
    let lower = url.to_ascii_lowercase();
    let Some(rest) = lower
        .strip_prefix("https://")
        .or_else(|| lower.strip_prefix("http://"))
    else {
        return Err(invalid("a webhook URL starts with https:// or http://"));
    };
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(invalid("a webhook URL has no spaces or control characters"));
    }
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    if authority.contains('@') {
        return Err(invalid("a webhook URL carries no user name or password"));
    }
    if authority.is_empty() || authority.starts_with(':') {
        return Err(invalid("a webhook URL names a host"));
    }
    if rest.contains('#') {
        return Err(invalid("a webhook URL has no fragment"));
    }
    Ok(())
}

/// A webhook's event-type filter: each entry an event type or a family
/// (`group.*`) that names at least one type.
pub fn webhook_types(types: &[String]) -> Result<()> {
    if types.len() > MAX_WEBHOOK_TYPES {
        return Err(Error::TooManyItems {
            max: MAX_WEBHOOK_TYPES,
        });
    }
    for pattern in types {
        let known = crate::audit::EventKind::ALL
            .iter()
            .any(|k| crate::model::type_matches(pattern, k.as_str()));
        let shaped =
            !pattern.contains('*') || pattern.ends_with(".*") && pattern.matches('*').count() == 1;
        if !known || !shaped {
            return Err(Error::Invalid {
                field: "types",
                reason: format!(
                    "{pattern:?} is not an event type or a family of them (such as group.*)"
                ),
            });
        }
    }
    Ok(())
}

pub fn webhook_description(text: &str) -> Result<()> {
    if chars(text) > MAX_WEBHOOK_DESCRIPTION {
        return Err(Error::TooLong {
            field: "description",
            max: MAX_WEBHOOK_DESCRIPTION,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn group_names_follow_zulip() {
        assert_eq!(group_name("   "), Err(Error::NameEmpty));
        assert_eq!(group_name(""), Err(Error::NameEmpty));
        assert_eq!(group_name("\u{1c}\u{a0}\u{2003}"), Err(Error::NameEmpty));
        assert!(group_name(&"é".repeat(100)).is_ok());
        assert_eq!(
            group_name(&"é".repeat(101)),
            Err(Error::NameTooLong { max: 100 })
        );
        assert_eq!(
            group_name("role:x"),
            Err(Error::NameReservedPrefix("role:"))
        );
        assert_eq!(group_name("@x"), Err(Error::NameReservedPrefix("@")));
        assert!(group_name("Role:x").is_ok(), "prefixes are case-sensitive");
        assert_eq!(
            group_name("a\0b"),
            Err(Error::NulCharacter { field: "name" })
        );
        assert!(group_name(" padded ").is_ok());
    }

    #[test]
    fn emails_and_full_names() {
        assert_eq!(email(" a@b.co ").unwrap(), "a@b.co");
        for bad in [
            "", "a", "a@b", "@b.co", "a b@c.co", "a@b..co", "a@@b.co", "a@.b.co",
        ] {
            assert!(email(bad).is_err(), "{bad}");
        }
        assert_eq!(full_name("  Ann  ").unwrap(), "Ann");
        assert_eq!(full_name("A"), Err(Error::FullNameTooShort));
        assert_eq!(full_name("a@b"), Err(Error::FullNameInvalid));
    }

    #[test]
    fn keys() {
        assert!(key("client-1").is_ok());
        assert!(key("").is_err());
        assert!(key("a\nb").is_err());
        assert!(key(&"k".repeat(129)).is_err());
        assert!(key(" k").is_err());
    }
}
