//! Allocation-free parsing of the QUIC invariant header (RFC 8999) and the
//! few packets filo writes itself (stateless reset).
//!
//! quiche's `Header::from_slice` copies the connection IDs and token into
//! `Vec`s; routing every datagram through it would allocate on the hot path.
//! This parser borrows from the datagram instead.

/// QUIC version 1 (RFC 9000).
pub(crate) const VERSION_1: u32 = 0x0000_0001;
/// Largest connection ID allowed by QUIC version 1.
pub(crate) const MAX_CID_LEN: usize = 20;
/// Smallest UDP payload a client may carry an Initial in (RFC 9000 §14.1).
pub(crate) const MIN_INITIAL_DATAGRAM: usize = 1200;
/// Smallest stateless reset filo sends (RFC 9000 §10.3: at least 21 bytes
/// so it is hard to tell apart from a short-header packet).
pub(crate) const MIN_RESET_LEN: usize = 21;
/// Length of a stateless reset token.
pub(crate) const RESET_TOKEN_LEN: usize = 16;

/// The long-header packet types of QUIC version 1.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum LongType {
    Initial,
    ZeroRtt,
    Handshake,
    Retry,
}

/// The parts of a packet header routing needs, borrowed from the datagram.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Header<'a> {
    /// A long-header packet. `ty` and `token` are only meaningful for
    /// version 1; `token` is `Some` only for Initial packets.
    Long {
        version: u32,
        ty: LongType,
        dcid: &'a [u8],
        scid: &'a [u8],
        token: Option<&'a [u8]>,
    },
    /// A short-header (1-RTT) packet. The DCID length is not on the wire:
    /// it is the fixed length of every CID this endpoint issues.
    Short { dcid: &'a [u8] },
}

/// Why a datagram's first packet could not be parsed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ParseError {
    /// The datagram ends inside the header.
    Truncated,
    /// A version 1 connection ID is longer than 20 bytes.
    CidTooLong,
}

impl<'a> Header<'a> {
    /// Parses the invariant header of the first packet in `buf`.
    ///
    /// `short_dcid_len` is the length of the CIDs this endpoint issues.
    pub(crate) fn parse(buf: &'a [u8], short_dcid_len: usize) -> Result<Self, ParseError> {
        let first = *buf.first().ok_or(ParseError::Truncated)?;
        if first & 0x80 == 0 {
            let dcid = buf
                .get(1..1 + short_dcid_len)
                .ok_or(ParseError::Truncated)?;
            return Ok(Header::Short { dcid });
        }
        let mut r = Reader { buf, pos: 1 };
        let version = u32::from_be_bytes(r.array()?);
        let dcid_len = usize::from(r.byte()?);
        let dcid = r.bytes(dcid_len)?;
        let scid_len = usize::from(r.byte()?);
        let scid = r.bytes(scid_len)?;
        if version != VERSION_1 {
            // Other versions (and Version Negotiation, version 0) may carry
            // CIDs up to 255 bytes; only the invariant fields are known.
            return Ok(Header::Long {
                version,
                ty: LongType::Initial,
                dcid,
                scid,
                token: None,
            });
        }
        if dcid_len > MAX_CID_LEN || scid_len > MAX_CID_LEN {
            return Err(ParseError::CidTooLong);
        }
        let ty = match (first & 0x30) >> 4 {
            0 => LongType::Initial,
            1 => LongType::ZeroRtt,
            2 => LongType::Handshake,
            _ => LongType::Retry,
        };
        let token = if ty == LongType::Initial {
            let len = r.varint()?;
            let len = usize::try_from(len).map_err(|_| ParseError::Truncated)?;
            Some(r.bytes(len)?)
        } else {
            None
        };
        Ok(Header::Long {
            version,
            ty,
            dcid,
            scid,
            token,
        })
    }

    /// The destination connection ID.
    pub(crate) fn dcid(&self) -> &'a [u8] {
        match *self {
            Header::Long { dcid, .. } | Header::Short { dcid } => dcid,
        }
    }
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn bytes(&mut self, n: usize) -> Result<&'a [u8], ParseError> {
        let end = self.pos.checked_add(n).ok_or(ParseError::Truncated)?;
        let out = self.buf.get(self.pos..end).ok_or(ParseError::Truncated)?;
        self.pos = end;
        Ok(out)
    }

    fn byte(&mut self) -> Result<u8, ParseError> {
        Ok(self.bytes(1)?[0])
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], ParseError> {
        let mut out = [0; N];
        out.copy_from_slice(self.bytes(N)?);
        Ok(out)
    }

    fn varint(&mut self) -> Result<u64, ParseError> {
        let first = self.byte()?;
        let extra = (1usize << (first >> 6)) - 1;
        let mut v = u64::from(first & 0x3f);
        for &b in self.bytes(extra)? {
            v = (v << 8) | u64::from(b);
        }
        Ok(v)
    }
}

/// Writes a stateless reset of `len` bytes (RFC 9000 §10.3) into `out`:
/// a short-header first byte, unpredictable bytes, then the 16-byte token.
/// `len` must be at least [`MIN_RESET_LEN`] and at most `out.len()`.
pub(crate) fn write_stateless_reset(
    out: &mut [u8],
    len: usize,
    token: &[u8; RESET_TOKEN_LEN],
) -> usize {
    let len = len.clamp(MIN_RESET_LEN, out.len());
    let out = &mut out[..len];
    crate::rand::fill(out);
    out[0] = 0x40 | (out[0] & 0x3f);
    out[len - RESET_TOKEN_LEN..].copy_from_slice(token);
    len
}

#[cfg(test)]
mod tests {
    use super::*;

    fn initial(dcid: &[u8], scid: &[u8], token: &[u8]) -> Vec<u8> {
        let mut v = vec![0xc0, 0, 0, 0, 1, dcid.len() as u8];
        v.extend_from_slice(dcid);
        v.push(scid.len() as u8);
        v.extend_from_slice(scid);
        // two-byte varint token length
        v.push(0x40 | (token.len() >> 8) as u8);
        v.push(token.len() as u8);
        v.extend_from_slice(token);
        v.resize(1200, 0);
        v
    }

    #[test]
    fn parses_initial_with_token() {
        let buf = initial(&[1; 8], &[2; 5], b"tok");
        let h = Header::parse(&buf, 16).unwrap();
        assert_eq!(
            h,
            Header::Long {
                version: 1,
                ty: LongType::Initial,
                dcid: &[1; 8],
                scid: &[2; 5],
                token: Some(b"tok"),
            }
        );
    }

    #[test]
    fn short_header_uses_fixed_len() {
        let mut buf = vec![0x40];
        buf.extend_from_slice(&[9; 16]);
        buf.extend_from_slice(&[0; 30]);
        assert_eq!(Header::parse(&buf, 16).unwrap().dcid(), &[9; 16]);
        assert_eq!(Header::parse(&buf[..10], 16), Err(ParseError::Truncated));
    }

    #[test]
    fn rejects_truncated_and_long_cids() {
        assert_eq!(Header::parse(&[], 8), Err(ParseError::Truncated));
        assert_eq!(
            Header::parse(&[0xc0, 0, 0, 0, 1, 30], 8),
            Err(ParseError::Truncated)
        );
        let mut buf = vec![0xc0, 0, 0, 0, 1, 21];
        buf.extend_from_slice(&[0; 21]);
        buf.push(0);
        buf.push(0);
        assert_eq!(Header::parse(&buf, 8), Err(ParseError::CidTooLong));
        // Token length claims more than the datagram holds.
        let mut buf = initial(&[1; 8], &[], b"");
        buf.truncate(16);
        buf[15] = 0x7f;
        assert_eq!(Header::parse(&buf, 8), Err(ParseError::Truncated));
    }

    #[test]
    fn unknown_version_keeps_invariant_fields() {
        let mut buf = vec![0xc0, 0xba, 0xba, 0xba, 0xba, 40];
        buf.extend_from_slice(&[7; 40]);
        buf.push(1);
        buf.push(3);
        let h = Header::parse(&buf, 8).unwrap();
        assert!(matches!(
            h,
            Header::Long {
                version: 0xbaba_baba,
                scid: &[3],
                ..
            }
        ));
        assert_eq!(h.dcid().len(), 40);
    }

    #[test]
    fn reset_layout() {
        let mut out = [0u8; 64];
        let token = [0xab; 16];
        let n = write_stateless_reset(&mut out, 30, &token);
        assert_eq!(n, 30);
        assert_eq!(out[0] & 0xc0, 0x40);
        assert_eq!(&out[14..30], &token);
        assert_eq!(write_stateless_reset(&mut out, 5, &token), MIN_RESET_LEN);
    }
}
