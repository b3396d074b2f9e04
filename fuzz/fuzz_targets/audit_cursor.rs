#![no_main]
//! `cohort_server::fuzzing::audit_cursor`: see crates/server/src/fuzzing.rs.
libfuzzer_sys::fuzz_target!(|data: &[u8]| cohort_server::fuzzing::audit_cursor(data));
