//! Stateless Retry tokens (RFC 9000 §8.1.2).
//!
//! Layout: `0x1f | expiry (u64 ms, big endian) | odcid len | odcid | mac[16]`,
//! where `mac = HMAC-SHA256(retry key, instance nonce | expiry | odcid |
//! retry SCID | client IP | client port)`. Binding the client address and the
//! Retry's SCID (the DCID of the client's second Initial) means a token is
//! useless from any other address or for any other connection attempt.
//!
//! Times are milliseconds since the endpoint's first input, so tokens are
//! valid only at the endpoint instance that minted them (the instance nonce
//! makes that explicit): a restarted server drops old tokens and the client
//! times out, which is rare and harmless for a 10-second token.

use std::net::{IpAddr, SocketAddr};

use crate::cid::CidKey;
use crate::keys::hmac;
use crate::packet::MAX_CID_LEN;

const MAGIC: u8 = 0x1f;
const MAC_LEN: usize = 16;
/// Largest token filo mints.
pub(crate) const MAX_TOKEN_LEN: usize = 1 + 8 + 1 + MAX_CID_LEN + MAC_LEN;

/// Why a Retry token was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TokenError {
    /// Not shaped like a filo token at all (another server's NEW_TOKEN):
    /// the Initial is treated as carrying none (RFC 9000 §8.1.3).
    Foreign,
    /// Shaped like a filo token but failing its check: forged, or minted
    /// for another address, CID or endpoint instance.
    Invalid,
    /// Genuine but past its expiry.
    Expired,
}

/// Mints and checks Retry tokens for one endpoint instance.
#[derive(Clone)]
pub(crate) struct RetryTokens {
    key: [u8; 32],
    nonce: [u8; 8],
    lifetime_ms: u64,
}

impl std::fmt::Debug for RetryTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RetryTokens")
            .field("lifetime_ms", &self.lifetime_ms)
            .finish_non_exhaustive()
    }
}

impl RetryTokens {
    pub(crate) fn new(key: [u8; 32], lifetime_ms: u64) -> Self {
        let mut nonce = [0; 8];
        crate::rand::fill(&mut nonce);
        Self {
            key,
            nonce,
            lifetime_ms,
        }
    }

    fn mac(&self, expiry: u64, odcid: &[u8], retry_scid: &[u8], peer: SocketAddr) -> [u8; 32] {
        let ip = match peer.ip() {
            IpAddr::V4(v4) => v4.to_ipv6_mapped().octets(),
            IpAddr::V6(v6) => v6.octets(),
        };
        hmac(
            &self.key,
            &[
                b"filo retry",
                &self.nonce,
                &expiry.to_be_bytes(),
                &[odcid.len() as u8],
                odcid,
                &[retry_scid.len() as u8],
                retry_scid,
                &ip,
                &peer.port().to_be_bytes(),
            ],
        )
    }

    /// Writes a token into `out` (at least [`MAX_TOKEN_LEN`] bytes) and
    /// returns its length.
    pub(crate) fn mint(
        &self,
        now_ms: u64,
        odcid: &[u8],
        retry_scid: &[u8],
        peer: SocketAddr,
        out: &mut [u8; MAX_TOKEN_LEN],
    ) -> usize {
        let odcid = &odcid[..odcid.len().min(MAX_CID_LEN)];
        let expiry = now_ms.saturating_add(self.lifetime_ms);
        let mac = self.mac(expiry, odcid, retry_scid, peer);
        out[0] = MAGIC;
        out[1..9].copy_from_slice(&expiry.to_be_bytes());
        out[9] = odcid.len() as u8;
        let end = 10 + odcid.len();
        out[10..end].copy_from_slice(odcid);
        out[end..end + MAC_LEN].copy_from_slice(&mac[..MAC_LEN]);
        end + MAC_LEN
    }

    /// Whether `token` has the shape of a filo token (magic byte and a
    /// consistent length); says nothing about its validity.
    pub(crate) fn is_filo_shaped(token: &[u8]) -> bool {
        token.len() >= 10 + MAC_LEN
            && token.len() <= MAX_TOKEN_LEN
            && token[0] == MAGIC
            && token.len() == 10 + usize::from(token[9]) + MAC_LEN
    }

    /// Checks `token` from `peer`, whose Initial was sent to `retry_scid`;
    /// on success returns the original DCID the token carries.
    pub(crate) fn validate(
        &self,
        now_ms: u64,
        token: &[u8],
        retry_scid: &[u8],
        peer: SocketAddr,
    ) -> Result<CidKey, TokenError> {
        if token.len() < 10 + MAC_LEN || token.len() > MAX_TOKEN_LEN || token[0] != MAGIC {
            return Err(TokenError::Foreign);
        }
        let mut exp = [0; 8];
        exp.copy_from_slice(&token[1..9]);
        let expiry = u64::from_be_bytes(exp);
        let odcid_len = usize::from(token[9]);
        if odcid_len > MAX_CID_LEN || token.len() != 10 + odcid_len + MAC_LEN {
            return Err(TokenError::Foreign);
        }
        let odcid = &token[10..10 + odcid_len];
        let mac = self.mac(expiry, odcid, retry_scid, peer);
        if !boring::memcmp::eq(&mac[..MAC_LEN], &token[10 + odcid_len..]) {
            return Err(TokenError::Invalid);
        }
        if now_ms > expiry {
            return Err(TokenError::Expired);
        }
        CidKey::new(odcid).ok_or(TokenError::Invalid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn roundtrip_and_rejections() {
        let t = RetryTokens::new([5; 32], 10_000);
        let peer = addr("10.0.0.1:4433");
        let mut buf = [0; MAX_TOKEN_LEN];
        let n = t.mint(1_000, b"original", b"retryscid", peer, &mut buf);
        let tok = &buf[..n];
        let odcid = t.validate(2_000, tok, b"retryscid", peer).unwrap();
        assert_eq!(odcid.as_slice(), b"original");
        // Expired.
        assert_eq!(
            t.validate(11_001, tok, b"retryscid", peer),
            Err(TokenError::Expired)
        );
        // Wrong address: other port, other IP.
        assert_eq!(
            t.validate(2_000, tok, b"retryscid", addr("10.0.0.1:4434")),
            Err(TokenError::Invalid)
        );
        assert_eq!(
            t.validate(2_000, tok, b"retryscid", addr("10.0.0.2:4433")),
            Err(TokenError::Invalid)
        );
        // Other connection attempt.
        assert_eq!(
            t.validate(2_000, tok, b"otherscid", peer),
            Err(TokenError::Invalid)
        );
        // Forged: every single-bit flip is refused.
        for i in 0..n {
            let mut f = tok.to_vec();
            f[i] ^= 1;
            assert!(
                t.validate(2_000, &f, b"retryscid", peer).is_err(),
                "bit flip at {i}"
            );
        }
        // Another endpoint instance with the same key refuses it too.
        let other = RetryTokens::new([5; 32], 10_000);
        assert!(other.validate(2_000, tok, b"retryscid", peer).is_err());
        assert_eq!(
            t.validate(0, b"", b"retryscid", peer),
            Err(TokenError::Foreign)
        );
        assert_eq!(
            t.validate(0, &[0xaa; 40], b"retryscid", peer),
            Err(TokenError::Foreign)
        );
    }
}
