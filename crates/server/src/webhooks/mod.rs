//! Webhooks: every change a realm's endpoints ask for, sent as a signed
//! HTTP request (Standard Webhooks), at least once, in order per group.
//!
//! The endpoints are directory state (commands in the core, so the audit
//! trail names who added what). Delivery is this module's: `worker.rs` turns
//! the change log into deliveries kept in the database (`enqueue`), and
//! sends each endpoint's deliveries from the one node holding its lease
//! (`send`), recording every attempt; `payload.rs` is the body (the audit
//! event, so the `webhook-id` is the event's id everywhere); `sign.rs` the
//! signatures; `schedule.rs` when to try again; `guard.rs` where requests
//! may go. The API over it is `native/webhooks.rs` and `cohort webhook`.

pub mod guard;
pub mod payload;
pub mod schedule;
pub mod sign;
mod worker;

pub use worker::spawn;

use std::time::Duration;

#[derive(Clone, Debug)]
pub struct WebhookConfig {
    /// Let requests reach loopback and private addresses (tests, receivers
    /// on the same network).
    pub allow_private: bool,
    /// Waits after successive failures (`schedule::DEFAULT`).
    pub schedule: Vec<Duration>,
    /// Whole-request limit: connect, send, and the answer's start.
    pub timeout: Duration,
    /// Finished deliveries are kept this long in the delivery log.
    pub retention: Duration,
    /// This node's name in the delivery leases. A node restarted under the
    /// same name takes its leases back at once instead of waiting for them
    /// to lapse; `cohort serve` uses the host's name and the listening
    /// address, which no other live process can share.
    pub node: Option<String>,
}

impl Default for WebhookConfig {
    fn default() -> Self {
        WebhookConfig {
            allow_private: false,
            schedule: schedule::parse(schedule::DEFAULT).unwrap_or_default(),
            timeout: Duration::from_secs(15),
            retention: Duration::from_secs(7 * 24 * 3600),
            node: None,
        }
    }
}
