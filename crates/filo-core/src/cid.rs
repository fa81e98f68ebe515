//! Connection IDs: the generator trait, the routing key and the table that
//! maps every CID filo issued to its connection.

use crate::hash::{Map, map_with_capacity};
use crate::packet::MAX_CID_LEN;

/// Makes the source connection IDs filo issues.
///
/// Every CID from one generator has the same length, [`cid_len`], so that
/// short-header packets (which do not carry the DCID length) can be routed.
/// Implement it to encode routing information (e.g. a worker or server id)
/// into CIDs; the default is [`RandomConnectionIdGenerator`].
///
/// [`cid_len`]: ConnectionIdGenerator::cid_len
pub trait ConnectionIdGenerator: Send + std::fmt::Debug {
    /// The length of every CID this generator makes, 4 to 20 bytes.
    fn cid_len(&self) -> usize;
    /// Writes a fresh CID into `out` (exactly `cid_len()` bytes long).
    fn generate(&mut self, out: &mut [u8]);
}

/// Random CIDs of a fixed length from BoringSSL's generator.
#[derive(Clone, Copy, Debug)]
pub struct RandomConnectionIdGenerator {
    len: usize,
}

impl RandomConnectionIdGenerator {
    /// A generator of `len`-byte CIDs; `len` is clamped to 4..=20.
    pub fn new(len: usize) -> Self {
        Self {
            len: len.clamp(4, MAX_CID_LEN),
        }
    }
}

impl Default for RandomConnectionIdGenerator {
    /// 16-byte CIDs.
    fn default() -> Self {
        Self::new(16)
    }
}

impl ConnectionIdGenerator for RandomConnectionIdGenerator {
    fn cid_len(&self) -> usize {
        self.len
    }

    fn generate(&mut self, out: &mut [u8]) {
        crate::rand::fill(out);
    }
}

/// A connection ID stored inline (no allocation), usable as a map key.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct CidKey {
    len: u8,
    bytes: [u8; MAX_CID_LEN],
}

impl CidKey {
    /// Copies `cid`; `None` if it is longer than 20 bytes.
    pub(crate) fn new(cid: &[u8]) -> Option<Self> {
        if cid.len() > MAX_CID_LEN {
            return None;
        }
        let mut bytes = [0; MAX_CID_LEN];
        bytes[..cid.len()].copy_from_slice(cid);
        Some(Self {
            len: cid.len() as u8,
            bytes,
        })
    }

    pub(crate) fn as_slice(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }
}

impl std::fmt::Debug for CidKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for b in self.as_slice() {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

/// CID -> connection slot. Hashed with SipHash under a per-process random
/// key (see `hash`), so peers cannot aim collisions at it.
#[derive(Debug)]
pub(crate) struct CidTable {
    map: Map<CidKey, u32>,
}

impl CidTable {
    pub(crate) fn with_capacity(n: usize) -> Self {
        Self {
            map: map_with_capacity(n),
        }
    }

    pub(crate) fn get(&self, cid: &[u8]) -> Option<u32> {
        self.map.get(&CidKey::new(cid)?).copied()
    }

    /// Routes `cid` to `slot`; returns false (and leaves the table alone)
    /// if the CID is already routed to another connection.
    pub(crate) fn insert(&mut self, cid: CidKey, slot: u32) -> bool {
        match self.map.entry(cid) {
            std::collections::hash_map::Entry::Occupied(e) => *e.get() == slot,
            std::collections::hash_map::Entry::Vacant(e) => {
                e.insert(slot);
                true
            }
        }
    }

    /// Unroutes `cid` if it belongs to `slot`.
    pub(crate) fn remove(&mut self, cid: &CidKey, slot: u32) {
        if self.map.get(cid) == Some(&slot) {
            self.map.remove(cid);
        }
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_routes_and_refuses_collisions() {
        let mut t = CidTable::with_capacity(4);
        let a = CidKey::new(&[1, 2, 3, 4]).unwrap();
        assert!(t.insert(a, 7));
        assert!(t.insert(a, 7));
        assert!(!t.insert(a, 8));
        assert_eq!(t.get(&[1, 2, 3, 4]), Some(7));
        assert_eq!(t.get(&[1, 2, 3]), None);
        t.remove(&a, 8);
        assert_eq!(t.len(), 1);
        t.remove(&a, 7);
        assert_eq!(t.get(&[1, 2, 3, 4]), None);
        assert!(CidKey::new(&[0; 21]).is_none());
    }

    #[test]
    fn generator_len_is_fixed() {
        let mut g = RandomConnectionIdGenerator::new(40);
        assert_eq!(g.cid_len(), 20);
        let mut a = [0; 20];
        let mut b = [0; 20];
        g.generate(&mut a);
        g.generate(&mut b);
        assert_ne!(a, b);
    }
}
