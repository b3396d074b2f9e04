//! SQLite's dialect of the admin page's sign-in state (`crate::sessions`).
//! Redeeming is one conditional `UPDATE … RETURNING` in a transaction on
//! the writer connection; SQLite's write lock serialises it against every
//! other process on the file, so of two redeemers one opens.

use super::db_error;
use crate::sessions::{key_hash, refusal, LinkRow, LoginLink, Redeemed, Session};
use crate::Result;
use cohort_core::{KeyHash, Millis, RealmId, UserId};
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};

pub fn create_link(conn: &Connection, link: &LoginLink) -> Result<()> {
    conn.execute(
        "INSERT INTO ui_login_links (hash, realm_id, user_id, created_at, expires_at)
         VALUES (?1, ?2, ?3, ?4, ?5)",
        params![
            &link.hash.0[..],
            link.realm.0,
            link.user.0,
            link.created_at,
            link.expires_at
        ],
    )
    .map(|_| ())
    .map_err(db_error)
}

pub fn redeem(conn: &mut Connection, hash: KeyHash, now: Millis) -> Result<Redeemed> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(db_error)?;
    let opened: Option<(i64, i64)> = tx
        .query_row(
            "UPDATE ui_login_links SET used_at = ?2
             WHERE hash = ?1 AND used_at IS NULL AND expires_at > ?2
             RETURNING realm_id, user_id",
            params![&hash.0[..], now],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()
        .map_err(db_error)?;
    let answer = match opened {
        Some((realm, user)) => Redeemed::Opened {
            realm: RealmId(realm),
            user: UserId(user),
        },
        None => {
            let row = tx
                .query_row(
                    "SELECT used_at, expires_at FROM ui_login_links WHERE hash = ?1",
                    [&hash.0[..]],
                    |r| {
                        Ok(LinkRow {
                            used_at: r.get(0)?,
                            expires_at: r.get(1)?,
                        })
                    },
                )
                .optional()
                .map_err(db_error)?;
            refusal(row, now)
        }
    };
    tx.commit().map_err(db_error)?;
    Ok(answer)
}

pub fn create_session(conn: &Connection, session: &Session) -> Result<()> {
    conn.execute(
        "INSERT INTO ui_sessions (hash, realm_id, user_id, csrf, created_at, expires_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![
            &session.hash.0[..],
            session.realm.0,
            session.user.0,
            session.csrf,
            session.created_at,
            session.expires_at
        ],
    )
    .map(|_| ())
    .map_err(db_error)
}

pub fn session(conn: &Connection, hash: KeyHash, now: Millis) -> Result<Option<Session>> {
    let row: Option<(Vec<u8>, i64, i64, String, Millis, Millis)> = conn
        .prepare_cached(
            "SELECT hash, realm_id, user_id, csrf, created_at, expires_at FROM ui_sessions
             WHERE hash = ?1 AND expires_at > ?2",
        )
        .and_then(|mut s| {
            s.query_row(params![&hash.0[..], now], |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                ))
            })
            .optional()
        })
        .map_err(db_error)?;
    row.map(|(hash, realm, user, csrf, created_at, expires_at)| {
        Ok(Session {
            hash: key_hash(&hash)?,
            realm: RealmId(realm),
            user: UserId(user),
            csrf,
            created_at,
            expires_at,
        })
    })
    .transpose()
}

pub fn end_session(conn: &Connection, hash: KeyHash) -> Result<()> {
    conn.execute("DELETE FROM ui_sessions WHERE hash = ?1", [&hash.0[..]])
        .map(|_| ())
        .map_err(db_error)
}

pub fn prune(conn: &mut Connection, before: Millis) -> Result<u64> {
    let tx = conn.transaction().map_err(db_error)?;
    let links = tx
        .execute("DELETE FROM ui_login_links WHERE expires_at < ?1", [before])
        .map_err(db_error)?;
    let sessions = tx
        .execute("DELETE FROM ui_sessions WHERE expires_at < ?1", [before])
        .map_err(db_error)?;
    tx.commit().map_err(db_error)?;
    Ok((links + sessions) as u64)
}
