//! SQLite's dialect of the webhook bookkeeping (`crate::webhooks`). One
//! process writes the file at a time, so a lease is a compare-and-set on
//! its row.

use super::db_error;
use crate::webhooks::{Attempt, AttemptOutcome, Delivery, DeliveryLog, DeliveryState, EventKey};
use crate::Result;
use cohort_core::{Millis, RealmId, Version, WebhookId};
use rusqlite::{params, Connection, OptionalExtension, Row, Transaction};

const DELIVERY_COLUMNS: &str = "webhook_id, version, idx, realm_id, type, lane, payload, state, \
                                attempts, retries, next_at, created_at, done_at";

fn delivery(row: &Row<'_>) -> rusqlite::Result<Delivery> {
    let state: String = row.get(7)?;
    Ok(Delivery {
        webhook: WebhookId(row.get(0)?),
        event: (row.get::<_, i64>(1)? as Version, row.get(2)?),
        realm: RealmId(row.get(3)?),
        kind: row.get(4)?,
        lane: row.get(5)?,
        payload: row.get(6)?,
        state: DeliveryState::parse(&state).ok_or_else(|| {
            rusqlite::Error::FromSqlConversionFailure(
                7,
                rusqlite::types::Type::Text,
                format!("unknown delivery state {state:?}").into(),
            )
        })?,
        attempts: row.get(8)?,
        retries: row.get(9)?,
        next_at: row.get(10)?,
        created_at: row.get(11)?,
        done_at: row.get(12)?,
    })
}

fn insert_delivery(tx: &Transaction<'_>, d: &Delivery, conflict: &str) -> Result<usize> {
    tx.prepare_cached(&format!(
        "INSERT INTO webhook_deliveries ({DELIVERY_COLUMNS})
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13) {conflict}"
    ))
    .and_then(|mut s| {
        s.execute(params![
            d.webhook.0,
            d.event.0 as i64,
            d.event.1,
            d.realm.0,
            d.kind,
            d.lane,
            d.payload,
            d.state.as_str(),
            d.attempts,
            d.retries,
            d.next_at,
            d.created_at,
            d.done_at,
        ])
    })
    .map_err(db_error)
}

pub fn cursor(conn: &Connection, webhook: WebhookId) -> Result<Option<Version>> {
    conn.query_row(
        "SELECT enqueued_through FROM webhook_state WHERE webhook_id = ?1",
        [webhook.0],
        |r| r.get::<_, i64>(0),
    )
    .optional()
    .map(|v| v.map(|v| v as Version))
    .map_err(db_error)
}

pub fn enqueue(
    conn: &mut Connection,
    webhook: WebhookId,
    from: Version,
    to: Version,
    deliveries: &[Delivery],
) -> Result<bool> {
    let tx = conn.transaction().map_err(db_error)?;
    let moved = tx
        .execute(
            "UPDATE webhook_state SET enqueued_through = ?1
             WHERE webhook_id = ?2 AND enqueued_through = ?3",
            params![to as i64, webhook.0, from as i64],
        )
        .map_err(db_error)?;
    if moved == 0 {
        return Ok(false);
    }
    for d in deliveries {
        insert_delivery(&tx, d, "ON CONFLICT DO NOTHING")?;
    }
    tx.commit().map_err(db_error)?;
    Ok(true)
}

pub fn claim(
    conn: &mut Connection,
    node: &str,
    webhooks: &[WebhookId],
    now: Millis,
    until: Millis,
) -> Result<Vec<WebhookId>> {
    let tx = conn.transaction().map_err(db_error)?;
    let mut held = Vec::new();
    for webhook in webhooks {
        let taken = tx
            .prepare_cached(
                "UPDATE webhook_state SET lease_owner = ?1, lease_until = ?2
                 WHERE webhook_id = ?3 AND (lease_owner = ?1 OR lease_owner IS NULL OR lease_until < ?4)",
            )
            .and_then(|mut s| s.execute(params![node, until, webhook.0, now]))
            .map_err(db_error)?;
        if taken > 0 {
            held.push(*webhook);
        }
    }
    tx.commit().map_err(db_error)?;
    held.sort_unstable();
    held.dedup();
    Ok(held)
}

pub fn release(conn: &Connection, node: &str) -> Result<()> {
    conn.execute(
        "UPDATE webhook_state SET lease_owner = NULL, lease_until = 0 WHERE lease_owner = ?1",
        [node],
    )
    .map(|_| ())
    .map_err(db_error)
}

pub fn pending(conn: &Connection, webhook: WebhookId, limit: usize) -> Result<Vec<Delivery>> {
    let mut stmt = conn
        .prepare_cached(&format!(
            "SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries
             WHERE webhook_id = ?1 AND state = 'pending' ORDER BY version, idx LIMIT ?2"
        ))
        .map_err(db_error)?;
    let rows = stmt
        .query_map(params![webhook.0, limit as i64], delivery)
        .map_err(db_error)?;
    rows.collect::<rusqlite::Result<Vec<_>>>().map_err(db_error)
}

pub fn record(conn: &mut Connection, outcomes: &[AttemptOutcome]) -> Result<()> {
    let tx = conn.transaction().map_err(db_error)?;
    for o in outcomes {
        let a = &o.attempt;
        tx.prepare_cached(
            "INSERT OR REPLACE INTO webhook_attempts
             (webhook_id, version, idx, attempt, at, duration_ms, status, error, response)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        )
        .and_then(|mut s| {
            s.execute(params![
                a.webhook.0,
                a.event.0 as i64,
                a.event.1,
                a.number,
                a.at,
                a.duration_ms,
                a.status,
                a.error,
                a.response,
            ])
        })
        .map_err(db_error)?;
        let done_at = (o.state != DeliveryState::Pending).then_some(a.at);
        tx.prepare_cached(
            "UPDATE webhook_deliveries
             SET state = ?1, attempts = max(attempts, ?2), retries = ?3, next_at = ?4, done_at = ?5
             WHERE webhook_id = ?6 AND version = ?7 AND idx = ?8",
        )
        .and_then(|mut s| {
            s.execute(params![
                o.state.as_str(),
                a.number,
                o.retries,
                o.next_at,
                done_at,
                a.webhook.0,
                a.event.0 as i64,
                a.event.1,
            ])
        })
        .map_err(db_error)?;
    }
    tx.commit().map_err(db_error)
}

pub fn log(
    conn: &mut Connection,
    webhook: WebhookId,
    before: Option<EventKey>,
    limit: usize,
    state: Option<DeliveryState>,
) -> Result<DeliveryLog> {
    let tx = conn.transaction().map_err(db_error)?;
    let (v, i) = before.map_or((i64::MAX, u32::MAX), |(v, i)| (v as i64, i));
    let deliveries: Vec<Delivery> = {
        let mut stmt = tx
            .prepare_cached(&format!(
                "SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries
                 WHERE webhook_id = ?1 AND (version < ?2 OR (version = ?2 AND idx < ?3))
                   AND (?4 IS NULL OR state = ?4)
                 ORDER BY version DESC, idx DESC LIMIT ?5"
            ))
            .map_err(db_error)?;
        let rows = stmt
            .query_map(
                params![webhook.0, v, i, state.map(|s| s.as_str()), limit as i64],
                delivery,
            )
            .map_err(db_error)?;
        rows.collect::<rusqlite::Result<Vec<_>>>()
            .map_err(db_error)?
    };
    let mut out = Vec::with_capacity(deliveries.len());
    for d in deliveries {
        let mut stmt = tx
            .prepare_cached(
                "SELECT attempt, at, duration_ms, status, error, response FROM webhook_attempts
                 WHERE webhook_id = ?1 AND version = ?2 AND idx = ?3 ORDER BY attempt",
            )
            .map_err(db_error)?;
        let attempts = stmt
            .query_map(params![webhook.0, d.event.0 as i64, d.event.1], |r| {
                Ok(Attempt {
                    webhook,
                    event: d.event,
                    number: r.get(0)?,
                    at: r.get(1)?,
                    duration_ms: r.get(2)?,
                    status: r.get(3)?,
                    error: r.get(4)?,
                    response: r.get(5)?,
                })
            })
            .map_err(db_error)?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(db_error)?;
        out.push((d, attempts));
    }
    tx.commit().map_err(db_error)?;
    Ok(out)
}

pub fn requeue(
    conn: &mut Connection,
    deliveries: &[Delivery],
    resend: bool,
    now: Millis,
) -> Result<u64> {
    let tx = conn.transaction().map_err(db_error)?;
    let mut queued = 0;
    for d in deliveries {
        let fresh = Delivery {
            state: DeliveryState::Pending,
            retries: 0,
            next_at: now,
            done_at: None,
            ..d.clone()
        };
        if insert_delivery(&tx, &fresh, "ON CONFLICT DO NOTHING")? > 0 {
            queued += 1;
            continue;
        }
        queued += tx
            .prepare_cached(
                "UPDATE webhook_deliveries SET state = 'pending', retries = 0, next_at = ?1, done_at = NULL
                 WHERE webhook_id = ?2 AND version = ?3 AND idx = ?4
                   AND (state = 'failed' OR (?5 AND state = 'delivered'))",
            )
            .and_then(|mut s| {
                s.execute(params![now, d.webhook.0, d.event.0 as i64, d.event.1, resend])
            })
            .map_err(db_error)? as u64;
    }
    tx.commit().map_err(db_error)?;
    Ok(queued)
}

pub fn prune(conn: &mut Connection, before: Millis) -> Result<u64> {
    let tx = conn.transaction().map_err(db_error)?;
    tx.execute(
        "DELETE FROM webhook_attempts WHERE (webhook_id, version, idx) IN
         (SELECT webhook_id, version, idx FROM webhook_deliveries
          WHERE done_at IS NOT NULL AND done_at < ?1)",
        [before],
    )
    .map_err(db_error)?;
    let deleted = tx
        .execute(
            "DELETE FROM webhook_deliveries WHERE done_at IS NOT NULL AND done_at < ?1",
            [before],
        )
        .map_err(db_error)?;
    tx.commit().map_err(db_error)?;
    Ok(deleted as u64)
}
