//! Internals the fuzz targets drive directly (`fuzz` feature only; not a
//! stable API).

use std::net::SocketAddr;

use crate::packet::Header;
use crate::retry::{MAX_TOKEN_LEN, RetryTokens, TokenError};

/// What the invariant-header parser made of a datagram.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ParsedHeader {
    /// A long header.
    Long {
        /// Version field.
        version: u32,
        /// DCID.
        dcid: Vec<u8>,
        /// SCID.
        scid: Vec<u8>,
        /// Token (version 1 Initials).
        token: Option<Vec<u8>>,
    },
    /// A short header with a DCID of the given length.
    Short {
        /// DCID.
        dcid: Vec<u8>,
    },
}

/// Runs filo's allocation-free invariant-header parser.
pub fn parse_header(buf: &[u8], short_dcid_len: usize) -> Option<ParsedHeader> {
    Some(match Header::parse(buf, short_dcid_len).ok()? {
        Header::Long {
            version,
            dcid,
            scid,
            token,
            ..
        } => ParsedHeader::Long {
            version,
            dcid: dcid.to_vec(),
            scid: scid.to_vec(),
            token: token.map(<[u8]>::to_vec),
        },
        Header::Short { dcid } => ParsedHeader::Short {
            dcid: dcid.to_vec(),
        },
    })
}

/// Why a token was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenRefusal {
    /// Not shaped like a filo token.
    Foreign,
    /// Shaped like one but failing its check.
    Invalid,
    /// Past its expiry.
    Expired,
}

/// Filo's Retry token minting and checking, as the endpoint uses them.
#[derive(Debug)]
pub struct RetryTokenCheck(RetryTokens);

impl RetryTokenCheck {
    /// Tokens under `key`, valid for `lifetime_ms`.
    pub fn new(key: [u8; 32], lifetime_ms: u64) -> Self {
        Self(RetryTokens::new(key, lifetime_ms))
    }

    /// Mints a token at `now_ms` for `peer`, whose Initial to `odcid` is
    /// answered with a Retry from `retry_scid`.
    pub fn mint(&self, now_ms: u64, odcid: &[u8], retry_scid: &[u8], peer: SocketAddr) -> Vec<u8> {
        let mut out = [0u8; MAX_TOKEN_LEN];
        let n = self.0.mint(now_ms, odcid, retry_scid, peer, &mut out);
        out[..n].to_vec()
    }

    /// Checks `token` the way the endpoint does; returns the original DCID.
    pub fn validate(
        &self,
        now_ms: u64,
        token: &[u8],
        retry_scid: &[u8],
        peer: SocketAddr,
    ) -> Result<Vec<u8>, TokenRefusal> {
        if !RetryTokens::is_filo_shaped(token) {
            return Err(TokenRefusal::Foreign);
        }
        match self.0.validate(now_ms, token, retry_scid, peer) {
            Ok(odcid) => Ok(odcid.as_slice().to_vec()),
            Err(TokenError::Foreign) => Err(TokenRefusal::Foreign),
            Err(TokenError::Invalid) => Err(TokenRefusal::Invalid),
            Err(TokenError::Expired) => Err(TokenRefusal::Expired),
        }
    }
}
