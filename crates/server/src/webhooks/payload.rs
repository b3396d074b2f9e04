//! What a webhook request carries: `{"type", "timestamp", "data"}`, where
//! `data` is the event exactly as the audit API shows it, and where its
//! delivery stands (the lane it is ordered in).

use crate::native::views::{event_view, EventView};
use cohort_core::history::History;
use cohort_core::Webhook;
use cohort_engine::AuditRecord;
use cohort_store::{Delivery, DeliveryState};
use serde::Serialize;

#[derive(Serialize)]
struct Payload<'a> {
    #[serde(rename = "type")]
    kind: &'a str,
    timestamp: &'a str,
    data: &'a EventView,
}

/// The `webhook-id` of an event: its audit id (`{realm}-{version}-{index}`).
pub fn webhook_id(delivery: &Delivery) -> String {
    format!(
        "{}-{}-{}",
        delivery.realm.0, delivery.event.0, delivery.event.1
    )
}

/// The deliveries to `webhook` of the events it wants among `records`,
/// due at `now`.
pub fn deliveries(
    history: &History,
    webhook: &Webhook,
    records: &[AuditRecord],
    now: i64,
) -> Vec<Delivery> {
    records
        .iter()
        .filter(|r| webhook.wants(r.event.kind.as_str()))
        .map(|record| {
            let view = event_view(history, record);
            let body = serde_json::to_string(&Payload {
                kind: view.kind,
                timestamp: &view.time,
                data: &view,
            })
            .unwrap_or_else(|_| "{}".into());
            let event = &record.event;
            // Ordered per group; events about no group, per user.
            let lane = event
                .group
                .map(|g| g.0)
                .or_else(|| event.users.first().map(|u| u.0))
                .unwrap_or(0);
            Delivery {
                webhook: webhook.id,
                realm: history.realm_id(),
                event: (event.id.version, event.id.index),
                kind: view.kind.to_string(),
                lane,
                payload: body,
                state: DeliveryState::Pending,
                attempts: 0,
                retries: 0,
                next_at: now,
                created_at: now,
                done_at: None,
            }
        })
        .collect()
}
