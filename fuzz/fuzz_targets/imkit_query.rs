#![no_main]
//! `cohort_server::fuzzing::imkit_query`: see crates/server/src/fuzzing.rs.
libfuzzer_sys::fuzz_target!(|data: &[u8]| cohort_server::fuzzing::imkit_query(data));
