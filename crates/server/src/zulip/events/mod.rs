//! Zulip's real-time events API: `POST /register`, `GET /events` (long
//! poll), `DELETE /events`. `queue.rs` keeps the queues and, per realm, one
//! shared event log fed from the change log; `translate.rs` turns a commit
//! into Zulip's events; `handlers.rs` speaks the endpoints.

pub(crate) mod handlers;
pub mod queue;
pub mod translate;

pub use handlers::{delete_queue, get_events, register};
