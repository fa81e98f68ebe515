//! Shared by the fuzz target wrappers.

unsafe extern "C" {
    /// BoringSSL's deterministic-mode RNG reset. It exists only when
    /// BoringSSL is built with `-DBORINGSSL_UNSAFE_DETERMINISTIC_MODE`
    /// (the fuzz build's CFLAGS), so only this workspace declares it.
    fn RAND_reset_for_fuzzing();
}

/// Makes the next input start from the same RNG state (CIDs, keys,
/// nonces), so a crash replays.
pub fn reset_rng() {
    // SAFETY: a plain C call with no arguments; BoringSSL's fuzzer-mode RNG
    // state is process-global and this only rewinds it.
    unsafe { RAND_reset_for_fuzzing() }
}
