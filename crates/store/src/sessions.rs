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
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Session {
    pub hash: KeyHash,
    pub realm: RealmId,
    pub user: UserId,
    pub csrf: String,
    pub created_at: Millis,
    pub expires_at: Millis,
}
