//! The admin page's sign-in state: one-time login links and server-side
//! sessions. Bookkeeping outside the change log, like webhook deliveries:
//! only SHA-256 hashes of the secrets are kept (the link and the cookie are
//! shown once), so a copy of the database opens nothing.
//!
//! A link is made by `cohort login-link` (another process) and redeemed by
//! the server, so both live in the database; redeeming is one conditional
//! update, so two nodes (or two clicks) can never both open a session with
//! the same link.

use cohort_core::{KeyHash, Millis, RealmId, UserId};

/// A one-time link, as issued.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoginLink {
    pub hash: KeyHash,
    pub realm: RealmId,
    pub user: UserId,
    pub created_at: Millis,
    pub expires_at: Millis,
}

/// What redeeming a link found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Redeemed {
    /// The link was good; it is now used.
    Opened { realm: RealmId, user: UserId },
    /// It was used before (at that moment); nothing changed.
    AlreadyUsed { at: Millis },
    /// It expired (at that moment) unused; nothing changed.
    Expired { at: Millis },
    /// No such link.
    Unknown,
}

/// A signed-in browser. `csrf` is the session's anti-forgery token, sent in
/// every form and compared on every write.
#[derive(Clone, PartialEq, Eq)]
pub struct Session {
    pub hash: KeyHash,
    pub realm: RealmId,
    pub user: UserId,
    pub csrf: String,
    pub created_at: Millis,
    pub expires_at: Millis,
}

/// The CSRF token is a secret of the browser's: `Debug` (logs, panics)
/// shows that there is one, never its value.
impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("hash", &self.hash)
            .field("realm", &self.realm)
            .field("user", &self.user)
            .field("csrf", &"…")
            .field("created_at", &self.created_at)
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

// ---- what both engines share (the dialects are `sqlite/sessions.rs` and
// `postgres/sessions.rs`) ----

/// A stored hash column as the domain's `KeyHash` (anything but 32 bytes is
/// corrupt: the schema's check should have refused it).
pub(crate) fn key_hash(bytes: &[u8]) -> crate::Result<KeyHash> {
    <[u8; 32]>::try_from(bytes)
        .map(KeyHash)
        .map_err(|_| crate::columns::corrupt(format!("a stored hash of {} bytes", bytes.len())))
}

/// What a link's row says, read after the conditional update took nothing.
pub(crate) struct LinkRow {
    pub used_at: Option<Millis>,
    pub expires_at: Millis,
}

/// Why a link the conditional update did not take was not opened. Used
/// wins over expired (it says more: someone opened it); a live, unused row
/// can only be one created after the update looked, so at that moment there
/// was no such link.
pub(crate) fn refusal(row: Option<LinkRow>, now: Millis) -> Redeemed {
    match row {
        Some(LinkRow {
            used_at: Some(at), ..
        }) => Redeemed::AlreadyUsed { at },
        Some(LinkRow { expires_at, .. }) if expires_at <= now => {
            Redeemed::Expired { at: expires_at }
        }
        Some(_) | None => Redeemed::Unknown,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals() {
        let row = |used_at, expires_at| {
            Some(LinkRow {
                used_at,
                expires_at,
            })
        };
        assert_eq!(refusal(None, 5), Redeemed::Unknown);
        assert_eq!(
            refusal(row(Some(3), 10), 5),
            Redeemed::AlreadyUsed { at: 3 }
        );
        assert_eq!(refusal(row(Some(3), 4), 5), Redeemed::AlreadyUsed { at: 3 });
        assert_eq!(refusal(row(None, 5), 5), Redeemed::Expired { at: 5 });
        assert_eq!(refusal(row(None, 4), 5), Redeemed::Expired { at: 4 });
        assert_eq!(refusal(row(None, 6), 5), Redeemed::Unknown);
    }

    #[test]
    fn debug_hides_the_csrf_token() {
        let session = Session {
            hash: KeyHash([7; 32]),
            realm: RealmId(1),
            user: UserId(2),
            csrf: "csrf-Xy71QpLm0".into(),
            created_at: 1,
            expires_at: 2,
        };
        let shown = format!("{session:?} {session:#?}");
        assert!(!shown.contains("csrf-Xy71QpLm0"), "{shown}");
        assert!(shown.contains("realm"), "{shown}");
    }

    #[test]
    fn hashes_are_32_bytes() {
        assert_eq!(key_hash(&[7; 32]).ok(), Some(KeyHash([7; 32])));
        assert!(key_hash(&[7; 31]).is_err());
    }
}
