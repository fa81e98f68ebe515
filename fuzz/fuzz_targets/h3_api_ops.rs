#![no_main]
//! Thin wrapper: the body is `filo_sim::fuzz::h3_api_ops`.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|ops: Vec<filo_sim::api_model::Op>| {
    filo_sim::fuzz::init();
    filo_fuzz::reset_rng();
    filo_sim::fuzz::h3_api_ops(&ops);
});
