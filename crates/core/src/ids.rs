//! Identifiers and the small value types every layer shares.
//!
//! Users and groups take their integer ids from one id space per database (the
//! store hands them out), so an id from another realm is simply unknown here.

use serde::{Deserialize, Serialize};
use std::fmt;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub i64);

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

id_type!(
    /// A tenant: a Zulip organization, an IMKIT application.
    RealmId
);
id_type!(
    /// A user (Zulip `user_id`).
    UserId
);
id_type!(
    /// A named group (Zulip `user_group_id`).
    GroupId
);
id_type!(
    /// A realm API token (`cohort token create`); from the same id space.
    TokenId
);
id_type!(
    /// A webhook endpoint (`cohort webhook add`); from the same id space.
    WebhookId
);

/// Position of a realm in its change log; every commit bumps it by one.
pub type Version = u64;

/// Wall-clock time in milliseconds since the Unix epoch.
pub type Millis = i64;

/// SHA-256 of a secret (API key, platform key). Secrets themselves are never kept.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyHash(pub [u8; 32]);

impl KeyHash {
    pub fn to_hex(&self) -> String {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut out = String::with_capacity(64);
        for byte in self.0 {
            out.push(HEX[(byte >> 4) as usize] as char);
            out.push(HEX[(byte & 15) as usize] as char);
        }
        out
    }

    pub fn from_hex(text: &str) -> Option<KeyHash> {
        let bytes = text.as_bytes();
        if bytes.len() != 64 {
            return None;
        }
        let nibble = |c: u8| -> Option<u8> {
            match c {
                b'0'..=b'9' => Some(c - b'0'),
                b'a'..=b'f' => Some(c - b'a' + 10),
                _ => None,
            }
        };
        let mut out = [0u8; 32];
        for (i, pair) in bytes.chunks(2).enumerate() {
            out[i] = nibble(pair[0])? << 4 | nibble(pair[1])?;
        }
        Some(KeyHash(out))
    }
}

impl fmt::Debug for KeyHash {
    // Never print a whole hash into logs; a prefix is enough to tell two apart.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyHash({}…)", &self.to_hex()[..8])
    }
}

impl Serialize for KeyHash {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_hex())
    }
}

impl<'de> Deserialize<'de> for KeyHash {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        KeyHash::from_hex(&text).ok_or_else(|| serde::de::Error::custom("bad key hash"))
    }
}

/// Who asked for a change; recorded with every commit in the change log.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "id", rename_all = "snake_case")]
pub enum Actor {
    /// A user of the realm, through the Zulip face; every permission rule applies.
    User(UserId),
    /// The realm's platform key (IMKIT): administrative rights over the directory.
    Platform,
    /// A realm API token: an integration (an identity provider over SCIM, …)
    /// acting within its token's scopes, with administrative rights over its
    /// realm's directory and nothing outside it.
    Token(TokenId),
    /// An operator at the command line.
    Operator,
    /// cohort itself (role bookkeeping, scheduled jobs).
    System,
}

/// The interface a commit came through, recorded in the change log.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Face {
    Zulip,
    Imkit,
    Scim,
    /// The native admin API (`/cohort/v1`).
    Native,
    /// The admin web page.
    Ui,
    /// The command line.
    Cli,
    /// cohort itself (role bookkeeping, scheduled jobs).
    #[default]
    System,
}

impl Face {
    pub const ALL: [Face; 7] = [
        Face::Zulip,
        Face::Imkit,
        Face::Scim,
        Face::Native,
        Face::Ui,
        Face::Cli,
        Face::System,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Face::Zulip => "zulip",
            Face::Imkit => "imkit",
            Face::Scim => "scim",
            Face::Native => "native",
            Face::Ui => "ui",
            Face::Cli => "cli",
            Face::System => "system",
        }
    }

    pub fn parse(text: &str) -> Option<Face> {
        Face::ALL.into_iter().find(|f| f.as_str() == text)
    }

    /// The face a commit logged before faces were recorded came through:
    /// until then each kind of actor had exactly one way in.
    pub fn implied_by(actor: Actor) -> Face {
        match actor {
            Actor::User(_) => Face::Zulip,
            Actor::Platform => Face::Imkit,
            Actor::Token(_) => Face::Scim,
            Actor::Operator => Face::Cli,
            Actor::System => Face::System,
        }
    }
}

/// Where a commit came from, besides who asked: the face, the request id
/// (the `x-request-id` the caller saw) and the client's address.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Origin {
    pub face: Face,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client: Option<String>,
}

impl Origin {
    /// A commit with no request behind it (the CLI, role bookkeeping).
    pub fn local(face: Face) -> Origin {
        Origin {
            face,
            request_id: None,
            client: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_hash_hex_round_trips() {
        let mut bytes = [0u8; 32];
        for (i, b) in bytes.iter_mut().enumerate() {
            *b = (i * 37 % 256) as u8;
        }
        let hash = KeyHash(bytes);
        assert_eq!(KeyHash::from_hex(&hash.to_hex()), Some(hash));
        assert_eq!(KeyHash::from_hex("zz"), None);
        assert_eq!(KeyHash::from_hex(&"g".repeat(64)), None);
    }
}
