#![no_main]
//! Thin wrapper: the body is `filo_sim::fuzz::header_validation`.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    filo_sim::fuzz::header_validation(data);
});
