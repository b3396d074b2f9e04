//! PostgreSQL's dialect of the webhook bookkeeping (`crate::webhooks`), the
//! twin of `sqlite/webhooks.rs`. Several nodes share the database: the
//! enqueue cursor moves by compare-and-set, and a lease is taken with
//! `FOR UPDATE SKIP LOCKED`, so two nodes claiming at once never both hold an
//! endpoint. Multi-row work goes in a few statements over `unnest`ed arrays
//! rather than one per row.

use super::pg_error;
use crate::columns::corrupt;
use crate::webhooks::{Attempt, AttemptOutcome, Delivery, DeliveryLog, DeliveryState, EventKey};
use crate::{Result, StoreError};
use cohort_core::{Millis, RealmId, Version, WebhookId};
use deadpool_postgres::Client;
use std::collections::HashMap;
use tokio_postgres::types::ToSql;
use tokio_postgres::Row;

const DELIVERY_COLUMNS: &str = "webhook_id, version, idx, realm_id, type, lane, payload, state, \
                                attempts, retries, next_at, created_at, done_at";

/// `INSERT INTO webhook_deliveries` of the arrays bound by `DeliveryArrays`.
const INSERT_DELIVERIES: &str = "INSERT INTO webhook_deliveries (webhook_id, version, idx, \
     realm_id, type, lane, payload, state, attempts, retries, next_at, created_at, done_at)
     SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::integer[], $4::bigint[], $5::text[],
                          $6::bigint[], $7::text[], $8::text[], $9::integer[], $10::integer[],
                          $11::bigint[], $12::bigint[], $13::bigint[])
     ON CONFLICT DO NOTHING";

/// A `u32` of the domain as an `INTEGER` column (a value past `i32::MAX`
/// is refused, not wrapped).
fn int(value: u32, what: &str) -> Result<i32> {
    i32::try_from(value)
        .map_err(|_| StoreError::Other(format!("{what} {value} is too large to store")))
}

/// An `INTEGER` column as the domain's `u32`.
fn uint(row: &Row, column: usize, what: &str) -> Result<u32> {
    let value: i32 = row.get(column);
    u32::try_from(value).map_err(|_| corrupt(format!("stored {what} {value} is negative")))
}

fn version(row: &Row, column: usize) -> Result<Version> {
    let value: i64 = row.get(column);
    Version::try_from(value).map_err(|_| corrupt(format!("stored version {value} is negative")))
}

fn delivery(row: &Row) -> Result<Delivery> {
    let state: String = row.get(7);
    Ok(Delivery {
        webhook: WebhookId(row.get(0)),
        event: (version(row, 1)?, uint(row, 2, "event index")?),
        realm: RealmId(row.get(3)),
        kind: row.get(4),
        lane: row.get(5),
        payload: row.get(6),
        state: DeliveryState::parse(&state)
            .ok_or_else(|| corrupt(format!("unknown delivery state {state:?}")))?,
        attempts: uint(row, 8, "attempt count")?,
        retries: uint(row, 9, "retry count")?,
        next_at: row.get(10),
        created_at: row.get(11),
        done_at: row.get(12),
    })
}

/// Deliveries as one array per column, for `INSERT_DELIVERIES`.
#[derive(Default)]
struct DeliveryArrays {
    webhooks: Vec<i64>,
    versions: Vec<i64>,
    idxs: Vec<i32>,
    realms: Vec<i64>,
    kinds: Vec<String>,
    lanes: Vec<i64>,
    payloads: Vec<String>,
    states: Vec<&'static str>,
    attempts: Vec<i32>,
    retries: Vec<i32>,
    next_ats: Vec<i64>,
    created_ats: Vec<i64>,
    done_ats: Vec<Option<i64>>,
}

impl DeliveryArrays {
    fn of<'d>(deliveries: impl IntoIterator<Item = &'d Delivery>) -> Result<DeliveryArrays> {
        let mut a = DeliveryArrays::default();
        for d in deliveries {
            a.webhooks.push(d.webhook.0);
            a.versions.push(d.event.0 as i64);
            a.idxs.push(int(d.event.1, "event index")?);
            a.realms.push(d.realm.0);
            a.kinds.push(d.kind.clone());
            a.lanes.push(d.lane);
            a.payloads.push(d.payload.clone());
            a.states.push(d.state.as_str());
            a.attempts.push(int(d.attempts, "attempt count")?);
            a.retries.push(int(d.retries, "retry count")?);
            a.next_ats.push(d.next_at);
            a.created_ats.push(d.created_at);
            a.done_ats.push(d.done_at);
        }
        Ok(a)
    }

    fn params(&self) -> [&(dyn ToSql + Sync); 13] {
        [
            &self.webhooks,
            &self.versions,
            &self.idxs,
            &self.realms,
            &self.kinds,
            &self.lanes,
            &self.payloads,
            &self.states,
            &self.attempts,
            &self.retries,
            &self.next_ats,
            &self.created_ats,
            &self.done_ats,
        ]
    }
}

pub async fn cursor(client: &Client, webhook: WebhookId) -> Result<Option<Version>> {
    let statement = client
        .prepare_cached("SELECT enqueued_through FROM webhook_state WHERE webhook_id = $1")
        .await
        .map_err(pg_error)?;
    let row = client
        .query_opt(&statement, &[&webhook.0])
        .await
        .map_err(pg_error)?;
    row.map(|r| version(&r, 0)).transpose()
}

pub async fn enqueue(
    client: &mut Client,
    webhook: WebhookId,
    from: Version,
    to: Version,
    deliveries: &[Delivery],
) -> Result<bool> {
    let rows = DeliveryArrays::of(deliveries)?;
    let tx = client.transaction().await.map_err(pg_error)?;
    let statement = tx
        .prepare_cached(
            "UPDATE webhook_state SET enqueued_through = $1
             WHERE webhook_id = $2 AND enqueued_through = $3",
        )
        .await
        .map_err(pg_error)?;
    let moved = tx
        .execute(&statement, &[&(to as i64), &webhook.0, &(from as i64)])
        .await
        .map_err(pg_error)?;
    if moved == 0 {
        // Dropping the transaction rolls it back.
        return Ok(false);
    }
    if !deliveries.is_empty() {
        let statement = tx
            .prepare_cached(INSERT_DELIVERIES)
            .await
            .map_err(pg_error)?;
        tx.execute(&statement, &rows.params())
            .await
            .map_err(pg_error)?;
    }
    tx.commit().await.map_err(pg_error)?;
    Ok(true)
}

pub async fn claim(
    client: &Client,
    node: &str,
    webhooks: &[WebhookId],
    now: Millis,
    until: Millis,
) -> Result<Vec<WebhookId>> {
    let ids: Vec<i64> = webhooks.iter().map(|w| w.0).collect();
    // Rows another node is claiming right now are locked: skip them rather
    // than wait (they are that node's, or free again on the next round).
    let statement = client
        .prepare_cached(
            "UPDATE webhook_state SET lease_owner = $1, lease_until = $2
             WHERE webhook_id IN (
                 SELECT webhook_id FROM webhook_state
                 WHERE webhook_id = ANY($3::bigint[])
                   AND (lease_owner = $1 OR lease_owner IS NULL OR lease_until < $4)
                 FOR UPDATE SKIP LOCKED)
             RETURNING webhook_id",
        )
        .await
        .map_err(pg_error)?;
    let mut held: Vec<WebhookId> = client
        .query(&statement, &[&node, &until, &ids, &now])
        .await
        .map_err(pg_error)?
        .iter()
        .map(|r| WebhookId(r.get(0)))
        .collect();
    held.sort();
    Ok(held)
}

pub async fn release(client: &Client, node: &str) -> Result<()> {
    let statement = client
        .prepare_cached(
            "UPDATE webhook_state SET lease_owner = NULL, lease_until = 0 WHERE lease_owner = $1",
        )
        .await
        .map_err(pg_error)?;
    client
        .execute(&statement, &[&node])
        .await
        .map(|_| ())
        .map_err(pg_error)
}

/// A `LIMIT` bound: PostgreSQL refuses a negative one.
fn limit_of(limit: usize) -> i64 {
    i64::try_from(limit).unwrap_or(i64::MAX)
}

pub async fn pending(client: &Client, webhook: WebhookId, limit: usize) -> Result<Vec<Delivery>> {
    let statement = client
        .prepare_cached(&format!(
            "SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries
             WHERE webhook_id = $1 AND state = 'pending' ORDER BY version, idx LIMIT $2"
        ))
        .await
        .map_err(pg_error)?;
    client
        .query(&statement, &[&webhook.0, &limit_of(limit)])
        .await
        .map_err(pg_error)?
        .iter()
        .map(delivery)
        .collect()
}

pub async fn record(client: &mut Client, outcomes: &[AttemptOutcome]) -> Result<()> {
    if outcomes.is_empty() {
        return Ok(());
    }
    // One statement per table. An attempt given twice keeps its last
    // version; a delivery given several outcomes ends as the last says,
    // with the highest attempt number: as if they were applied in order.
    type Key = (i64, i64, i32);
    let mut attempts: Vec<((Key, i32), &Attempt)> = Vec::new();
    let mut seen: HashMap<(Key, i32), usize> = HashMap::new();
    let mut deliveries: Vec<(Key, &AttemptOutcome, i32)> = Vec::new();
    let mut places: HashMap<Key, usize> = HashMap::new();
    for o in outcomes {
        let a = &o.attempt;
        let key = (
            a.webhook.0,
            a.event.0 as i64,
            int(a.event.1, "event index")?,
        );
        let number = int(a.number, "attempt number")?;
        match seen.get(&(key, number)) {
            Some(&at) => attempts[at].1 = a,
            None => {
                seen.insert((key, number), attempts.len());
                attempts.push(((key, number), a));
            }
        }
        match places.get(&key) {
            Some(&at) => {
                let (_, last, highest) = &mut deliveries[at];
                *last = o;
                *highest = (*highest).max(number);
            }
            None => {
                places.insert(key, deliveries.len());
                deliveries.push((key, o, number));
            }
        }
    }

    let mut webhooks = Vec::new();
    let mut versions = Vec::new();
    let mut idxs = Vec::new();
    let mut numbers = Vec::new();
    let mut ats = Vec::new();
    let mut durations = Vec::new();
    let mut statuses: Vec<Option<i32>> = Vec::new();
    let mut errors = Vec::new();
    let mut responses = Vec::new();
    for (((webhook, version, idx), number), a) in &attempts {
        webhooks.push(*webhook);
        versions.push(*version);
        idxs.push(*idx);
        numbers.push(*number);
        ats.push(a.at);
        durations.push(int(a.duration_ms, "attempt duration")?);
        statuses.push(a.status.map(i32::from));
        errors.push(a.error.clone());
        responses.push(a.response.clone());
    }

    let mut d_webhooks = Vec::new();
    let mut d_versions = Vec::new();
    let mut d_idxs = Vec::new();
    let mut d_states = Vec::new();
    let mut d_numbers = Vec::new();
    let mut d_retries = Vec::new();
    let mut d_next_ats = Vec::new();
    let mut d_done_ats: Vec<Option<i64>> = Vec::new();
    for ((webhook, version, idx), o, highest) in &deliveries {
        d_webhooks.push(*webhook);
        d_versions.push(*version);
        d_idxs.push(*idx);
        d_states.push(o.state.as_str());
        d_numbers.push(*highest);
        d_retries.push(int(o.retries, "retry count")?);
        d_next_ats.push(o.next_at);
        d_done_ats.push((o.state != DeliveryState::Pending).then_some(o.attempt.at));
    }

    let tx = client.transaction().await.map_err(pg_error)?;
    let insert = tx
        .prepare_cached(
            "INSERT INTO webhook_attempts
             (webhook_id, version, idx, attempt, at, duration_ms, status, error, response)
             SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::integer[], $4::integer[],
                                  $5::bigint[], $6::integer[], $7::integer[], $8::text[],
                                  $9::text[])
             ON CONFLICT (webhook_id, version, idx, attempt) DO UPDATE
             SET at = EXCLUDED.at, duration_ms = EXCLUDED.duration_ms, status = EXCLUDED.status,
                 error = EXCLUDED.error, response = EXCLUDED.response",
        )
        .await
        .map_err(pg_error)?;
    tx.execute(
        &insert,
        &[
            &webhooks, &versions, &idxs, &numbers, &ats, &durations, &statuses, &errors, &responses,
        ],
    )
    .await
    .map_err(pg_error)?;
    let update = tx
        .prepare_cached(
            "UPDATE webhook_deliveries d
             SET state = o.state, attempts = GREATEST(d.attempts, o.number), retries = o.retries,
                 next_at = o.next_at, done_at = o.done_at
             FROM unnest($1::bigint[], $2::bigint[], $3::integer[], $4::text[], $5::integer[],
                         $6::integer[], $7::bigint[], $8::bigint[])
                  AS o(webhook_id, version, idx, state, number, retries, next_at, done_at)
             WHERE d.webhook_id = o.webhook_id AND d.version = o.version AND d.idx = o.idx",
        )
        .await
        .map_err(pg_error)?;
    tx.execute(
        &update,
        &[
            &d_webhooks,
            &d_versions,
            &d_idxs,
            &d_states,
            &d_numbers,
            &d_retries,
            &d_next_ats,
            &d_done_ats,
        ],
    )
    .await
    .map_err(pg_error)?;
    tx.commit().await.map_err(pg_error)
}

pub async fn log(
    client: &mut Client,
    webhook: WebhookId,
    before: Option<EventKey>,
    limit: usize,
    state: Option<DeliveryState>,
) -> Result<DeliveryLog> {
    let (v, i) = before.map_or((i64::MAX, i64::from(u32::MAX)), |(v, i)| {
        (v as i64, i64::from(i))
    });
    // The page and its attempts from one view of the tables.
    let tx = client
        .build_transaction()
        .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
        .read_only(true)
        .start()
        .await
        .map_err(pg_error)?;
    let page = tx
        .prepare_cached(&format!(
            "SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries
             WHERE webhook_id = $1 AND (version < $2::bigint OR (version = $2 AND idx < $3::bigint))
               AND ($4::text IS NULL OR state = $4)
             ORDER BY version DESC, idx DESC LIMIT $5"
        ))
        .await
        .map_err(pg_error)?;
    let deliveries: Vec<Delivery> = tx
        .query(
            &page,
            &[
                &webhook.0,
                &v,
                &i,
                &state.map(|s| s.as_str()),
                &limit_of(limit),
            ],
        )
        .await
        .map_err(pg_error)?
        .iter()
        .map(delivery)
        .collect::<Result<_>>()?;
    let mut attempts: HashMap<EventKey, Vec<Attempt>> = HashMap::new();
    if !deliveries.is_empty() {
        let versions: Vec<i64> = deliveries.iter().map(|d| d.event.0 as i64).collect();
        let idxs: Vec<i32> = deliveries
            .iter()
            .map(|d| int(d.event.1, "event index"))
            .collect::<Result<_>>()?;
        let statement = tx
            .prepare_cached(
                "SELECT a.version, a.idx, a.attempt, a.at, a.duration_ms, a.status, a.error,
                        a.response
                 FROM webhook_attempts a
                 JOIN unnest($2::bigint[], $3::integer[]) AS k(version, idx)
                   ON a.version = k.version AND a.idx = k.idx
                 WHERE a.webhook_id = $1
                 ORDER BY a.version, a.idx, a.attempt",
            )
            .await
            .map_err(pg_error)?;
        for row in tx
            .query(&statement, &[&webhook.0, &versions, &idxs])
            .await
            .map_err(pg_error)?
        {
            let event = (version(&row, 0)?, uint(&row, 1, "event index")?);
            let status = row
                .get::<_, Option<i32>>(5)
                .map(|s| u16::try_from(s).map_err(|_| corrupt(format!("stored status {s}"))))
                .transpose()?;
            attempts.entry(event).or_default().push(Attempt {
                webhook,
                event,
                number: uint(&row, 2, "attempt number")?,
                at: row.get(3),
                duration_ms: uint(&row, 4, "attempt duration")?,
                status,
                error: row.get(6),
                response: row.get(7),
            });
        }
    }
    tx.commit().await.map_err(pg_error)?;
    Ok(deliveries
        .into_iter()
        .map(|d| {
            let tried = attempts.remove(&d.event).unwrap_or_default();
            (d, tried)
        })
        .collect())
}

pub async fn requeue(
    client: &mut Client,
    deliveries: &[Delivery],
    resend: bool,
    now: Millis,
) -> Result<u64> {
    if deliveries.is_empty() {
        return Ok(0);
    }
    let fresh: Vec<Delivery> = deliveries
        .iter()
        .map(|d| Delivery {
            state: DeliveryState::Pending,
            retries: 0,
            next_at: now,
            done_at: None,
            ..d.clone()
        })
        .collect();
    let rows = DeliveryArrays::of(&fresh)?;
    let tx = client.transaction().await.map_err(pg_error)?;
    // Missing ones go in as pending; the others (and repeats of one just
    // added, which is pending now) are queued again where their state allows:
    // pending rows are left alone, so nothing is counted twice.
    let insert = tx
        .prepare_cached(INSERT_DELIVERIES)
        .await
        .map_err(pg_error)?;
    let added = tx
        .execute(&insert, &rows.params())
        .await
        .map_err(pg_error)?;
    let update = tx
        .prepare_cached(
            "UPDATE webhook_deliveries d
             SET state = 'pending', retries = 0, next_at = $1, done_at = NULL
             FROM unnest($2::bigint[], $3::bigint[], $4::integer[]) AS k(webhook_id, version, idx)
             WHERE d.webhook_id = k.webhook_id AND d.version = k.version AND d.idx = k.idx
               AND (d.state = 'failed' OR ($5 AND d.state = 'delivered'))",
        )
        .await
        .map_err(pg_error)?;
    let queued = tx
        .execute(
            &update,
            &[&now, &rows.webhooks, &rows.versions, &rows.idxs, &resend],
        )
        .await
        .map_err(pg_error)?;
    tx.commit().await.map_err(pg_error)?;
    Ok(added + queued)
}

pub async fn prune(client: &Client, before: Millis) -> Result<u64> {
    // One statement: the deliveries and their attempts go together.
    let statement = client
        .prepare_cached(
            "WITH gone AS (
                 DELETE FROM webhook_deliveries WHERE done_at IS NOT NULL AND done_at < $1
                 RETURNING webhook_id, version, idx
             ), tried AS (
                 DELETE FROM webhook_attempts a USING gone g
                 WHERE a.webhook_id = g.webhook_id AND a.version = g.version AND a.idx = g.idx
             )
             SELECT COUNT(*) FROM gone",
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
