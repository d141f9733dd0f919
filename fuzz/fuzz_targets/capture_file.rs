//! See `wirelab::fuzz_targets::capture_file` for the input format and what it checks.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| wirelab::fuzz_targets::capture_file(data));
