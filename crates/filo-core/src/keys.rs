//! Endpoint secrets: the stateless-reset key and the Retry token key.

use crate::packet::RESET_TOKEN_LEN;

/// Secrets an endpoint derives tokens from. Give servers the same
/// `reset_key` across restarts so peers' resets keep matching the CIDs the
/// previous process issued.
#[derive(Clone)]
pub struct EndpointKeys {
    pub(crate) reset: [u8; 32],
    pub(crate) retry: [u8; 32],
}

impl EndpointKeys {
    /// Fresh random keys.
    pub fn random() -> Self {
        let mut k = Self {
            reset: [0; 32],
            retry: [0; 32],
        };
        crate::rand::fill(&mut k.reset);
        crate::rand::fill(&mut k.retry);
        k
    }

    /// Keys from caller-held secrets (e.g. loaded from a file).
    pub fn new(reset_key: [u8; 32], retry_key: [u8; 32]) -> Self {
        Self {
            reset: reset_key,
            retry: retry_key,
        }
    }

    /// The stateless reset token for `cid`: HMAC-SHA256(reset key, cid),
    /// truncated to 16 bytes.
    pub(crate) fn reset_token(&self, cid: &[u8]) -> [u8; RESET_TOKEN_LEN] {
        let mut out = [0; RESET_TOKEN_LEN];
        out.copy_from_slice(&hmac(&self.reset, &[b"filo reset", cid])[..RESET_TOKEN_LEN]);
        out
    }
}

impl std::fmt::Debug for EndpointKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EndpointKeys(..)")
    }
}

/// HMAC-SHA256 over the concatenation of `parts`, without allocating.
pub(crate) fn hmac(key: &[u8; 32], parts: &[&[u8]]) -> [u8; 32] {
    // Concatenate into a stack buffer: every caller's input is small.
    let mut buf = [0u8; 256];
    let mut n = 0;
    for p in parts {
        let end = (n + p.len()).min(buf.len());
        buf[n..end].copy_from_slice(&p[..end - n]);
        n = end;
    }
    match boring::hash::hmac_sha256(key, &buf[..n]) {
        Ok(v) => v,
        // HMAC over in-memory buffers cannot fail short of memory exhaustion,
        // where BoringSSL aborts anyway.
        Err(_) => std::process::abort(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reset_token_depends_on_key_and_cid() {
        let k = EndpointKeys::new([1; 32], [2; 32]);
        assert_eq!(k.reset_token(b"abcd"), k.reset_token(b"abcd"));
        assert_ne!(k.reset_token(b"abcd"), k.reset_token(b"abce"));
        let k2 = EndpointKeys::new([3; 32], [2; 32]);
        assert_ne!(k.reset_token(b"abcd"), k2.reset_token(b"abcd"));
    }
}
