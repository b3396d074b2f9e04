#![no_main]
//! `cohort_server::fuzzing::ui_form`: see crates/server/src/fuzzing.rs.
libfuzzer_sys::fuzz_target!(|data: &[u8]| cohort_server::fuzzing::ui_form(data));
