//! SCIM 2.0 face (RFC 7643/7644) — under construction.

pub(crate) mod filter;
