//! See `wirelab::fuzz_targets::tcp_flow` for the input format and what it checks.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| wirelab::fuzz_targets::tcp_flow(data));
