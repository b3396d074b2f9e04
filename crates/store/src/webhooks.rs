//! Webhook deliveries: bookkeeping outside the change log. The endpoints
//! themselves are directory state (the realm record, changed by commands);
//! what was sent where, when, and what came back is kept here, so a restart
//! resumes every delivery and an operator can read the log per endpoint.
//!
//! Per endpoint the store keeps how far the log has been turned into
//! deliveries (`enqueued_through`, advanced only by compare-and-set, so two
//! nodes never enqueue twice) and which node sends for it (a lease, so one
//! node at a time sends an endpoint's deliveries, in order).

use cohort_core::{Millis, RealmId, Version, WebhookId};

/// A delivery's place: the event it carries.
pub type EventKey = (Version, u32);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeliveryState {
    /// Waiting for its next attempt (`next_at`).
    Pending,
    /// A 2xx came back.
    Delivered,
    /// Every attempt of the schedule failed; a resend queues it again.
    Failed,
}

impl DeliveryState {
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryState::Pending => "pending",
            DeliveryState::Delivered => "delivered",
            DeliveryState::Failed => "failed",
        }
    }

    pub fn parse(text: &str) -> Option<DeliveryState> {
        [
            DeliveryState::Pending,
            DeliveryState::Delivered,
            DeliveryState::Failed,
        ]
        .into_iter()
        .find(|s| s.as_str() == text)
    }
}

/// One event for one endpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Delivery {
    pub webhook: WebhookId,
    pub realm: RealmId,
    pub event: EventKey,
    /// The event's type (`group.member_added`).
    pub kind: String,
    /// Deliveries of one lane (the group, or the user, an event is about)
    /// are sent one after another, in event order.
    pub lane: i64,
    /// The request body, fixed when the delivery is made so every attempt
    /// sends (and signs) the same bytes.
    pub payload: String,
    pub state: DeliveryState,
    /// Attempts made, in all.
    pub attempts: u32,
    /// Failed attempts since it was last queued: its place in the schedule.
    pub retries: u32,
    pub next_at: Millis,
    pub created_at: Millis,
    /// When it was delivered or given up.
    pub done_at: Option<Millis>,
}

/// One request made for a delivery.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attempt {
    pub webhook: WebhookId,
    pub event: EventKey,
    /// 1 for the first attempt.
    pub number: u32,
    pub at: Millis,
    pub duration_ms: u32,
    /// The receiver's status, when it answered.
    pub status: Option<u16>,
    /// Why there was no usable answer (timeout, refused, …).
    pub error: Option<String>,
    /// The start of the response body.
    pub response: String,
}

/// An attempt and what it leaves the delivery as.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AttemptOutcome {
    pub attempt: Attempt,
    pub state: DeliveryState,
    pub retries: u32,
    pub next_at: Millis,
}

/// Longest response excerpt kept per attempt, in bytes.
pub const MAX_RESPONSE_EXCERPT: usize = 1024;

/// A page of the delivery log: deliveries and their attempts.
pub type DeliveryLog = Vec<(Delivery, Vec<Attempt>)>;
