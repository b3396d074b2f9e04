#![no_main]
//! `cohort_server::fuzzing::webhook_url`: see crates/server/src/fuzzing.rs.
libfuzzer_sys::fuzz_target!(|data: &[u8]| cohort_server::fuzzing::webhook_url(data));
