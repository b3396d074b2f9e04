//! PostgreSQL's dialect of the admin page's sign-in state
//! (`crate::sessions`), the twin of `sqlite/sessions.rs`. Redeeming is one
//! conditional `UPDATE … RETURNING`: a second node redeeming the same link
//! at once waits for the first one's row lock, then finds `used_at` set and
//! updates nothing, so exactly one opens. Only then (a new statement, so it
//! sees what the winner committed) is the row read to say why not.

use super::pg_error;
use crate::sessions::{key_hash, refusal, LinkRow, LoginLink, Redeemed, Session};
use crate::Result;
use cohort_core::{KeyHash, Millis, RealmId, UserId};
use deadpool_postgres::Client;

pub async fn create_link(client: &Client, link: &LoginLink) -> Result<()> {
    let statement = client
        .prepare_cached(
            "INSERT INTO ui_login_links (hash, realm_id, user_id, created_at, expires_at)
             VALUES ($1, $2, $3, $4, $5)",
        )
        .await
        .map_err(pg_error)?;
    client
        .execute(
            &statement,
            &[
                &&link.hash.0[..],
                &link.realm.0,
                &link.user.0,
                &link.created_at,
                &link.expires_at,
            ],
        )
        .await
        .map(|_| ())
        .map_err(pg_error)
}

pub async fn redeem(client: &Client, hash: KeyHash, now: Millis) -> Result<Redeemed> {
    let take = client
        .prepare_cached(
            "UPDATE ui_login_links SET used_at = $2
             WHERE hash = $1 AND used_at IS NULL AND expires_at > $2
             RETURNING realm_id, user_id",
        )
        .await
        .map_err(pg_error)?;
    if let Some(row) = client
        .query_opt(&take, &[&&hash.0[..], &now])
        .await
        .map_err(pg_error)?
    {
        return Ok(Redeemed::Opened {
            realm: RealmId(row.get(0)),
            user: UserId(row.get(1)),
        });
    }
    let read = client
        .prepare_cached("SELECT used_at, expires_at FROM ui_login_links WHERE hash = $1")
        .await
        .map_err(pg_error)?;
    let row = client
        .query_opt(&read, &[&&hash.0[..]])
        .await
        .map_err(pg_error)?
        .map(|row| LinkRow {
            used_at: row.get(0),
            expires_at: row.get(1),
        });
    Ok(refusal(row, now))
}

pub async fn create_session(client: &Client, session: &Session) -> Result<()> {
    let statement = client
        .prepare_cached(
            "INSERT INTO ui_sessions (hash, realm_id, user_id, csrf, created_at, expires_at)
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .await
        .map_err(pg_error)?;
    client
        .execute(
            &statement,
            &[
                &&session.hash.0[..],
                &session.realm.0,
                &session.user.0,
                &session.csrf,
                &session.created_at,
                &session.expires_at,
            ],
        )
        .await
        .map(|_| ())
        .map_err(pg_error)
}

pub async fn session(client: &Client, hash: KeyHash, now: Millis) -> Result<Option<Session>> {
    let statement = client
        .prepare_cached(
            "SELECT hash, realm_id, user_id, csrf, created_at, expires_at FROM ui_sessions
             WHERE hash = $1 AND expires_at > $2",
        )
        .await
        .map_err(pg_error)?;
    let Some(row) = client
        .query_opt(&statement, &[&&hash.0[..], &now])
        .await
        .map_err(pg_error)?
    else {
        return Ok(None);
    };
    Ok(Some(Session {
        hash: key_hash(row.get::<_, &[u8]>(0))?,
        realm: RealmId(row.get(1)),
        user: UserId(row.get(2)),
        csrf: row.get(3),
        created_at: row.get(4),
        expires_at: row.get(5),
    }))
}

pub async fn end_session(client: &Client, hash: KeyHash) -> Result<()> {
    let statement = client
        .prepare_cached("DELETE FROM ui_sessions WHERE hash = $1")
        .await
        .map_err(pg_error)?;
    client
        .execute(&statement, &[&&hash.0[..]])
        .await
        .map(|_| ())
        .map_err(pg_error)
}

pub async fn prune(client: &Client, before: Millis) -> Result<u64> {
    // One statement, so both tables go in one transaction.
    let statement = client
        .prepare_cached(
            "WITH links AS (
                 DELETE FROM ui_login_links WHERE expires_at < $1 RETURNING 1
             ), sessions AS (
                 DELETE FROM ui_sessions WHERE expires_at < $1 RETURNING 1
             )
             SELECT (SELECT COUNT(*) FROM links) + (SELECT COUNT(*) FROM sessions)",
        )
        .await
        .map_err(pg_error)?;
    let deleted: i64 = client
        .query_one(&statement, &[&before])
        .await
        .map_err(pg_error)?
        .get(0);
    Ok(deleted as u64)
}
