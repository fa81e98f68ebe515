#![no_main]
//! Thin wrapper: the body is `filo_sim::fuzz::server_post_handshake`.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    filo_sim::fuzz::init();
    filo_fuzz::reset_rng();
    filo_sim::fuzz::server_post_handshake(data);
});
