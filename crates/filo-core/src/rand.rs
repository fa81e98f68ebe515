//! Randomness, from BoringSSL's generator (deterministic only in fuzz builds
//! of BoringSSL, which `fuzz/` compiles with its own flags).

/// Fills `buf` with unpredictable bytes.
pub(crate) fn fill(buf: &mut [u8]) {
    // BoringSSL's RAND_bytes aborts the process rather than fail, so the
    // error path is unreachable in practice; the result is still checked so a
    // future change cannot leave `buf` silently predictable.
    if boring::rand::rand_bytes(buf).is_err() {
        std::process::abort();
    }
}
