//! Changes flowing out as they happen, all fed from the change log so they
//! agree with each other and with the audit trail (one change, one id
//! everywhere): `feed.rs`, each realm's audit events rendered once for every
//! follower, which `GET /cohort/v1/stream` (`native/stream.rs`) serves as
//! Server-Sent Events.

pub mod feed;
